//! What a sweep's steps say: the knee (where more load stops buying throughput and only adds
//! latency) and the capacity answer (the highest load at which requests still meet their SLOs).

use crate::report::figure::Figure;
use crate::report::runs::Sweep;

/// Share of requests that must meet every SLO for a step to count as within capacity (the
/// default of `--slo-attainment`).
pub const SLO_ATTAINMENT: f64 = 0.95;

/// The knee: the step with the highest power, output tokens per second divided by median
/// end-to-end latency (Kleinrock's "power"): below it throughput grows faster than latency,
/// above it latency grows faster. `None` with fewer than three steps carrying both figures.
pub fn knee(sweep: &Sweep) -> Option<usize> {
    let powers: Vec<(usize, f64)> = sweep
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let tput = r.get(Figure::OutputThroughput)?;
            let lat = r.get(Figure::MedianE2el).filter(|l| *l > 0.0)?;
            Some((i, tput / lat))
        })
        .collect();
    if powers.len() < 3 {
        return None;
    }
    powers
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// The capacity answer: the highest-load step whose goodput (requests meeting every SLO, per
/// second) is at least `SLO_ATTAINMENT` of its request throughput. `Err` says why there is
/// none: no step carries goodput (the runs had no `--goodput` SLOs), or no step meets them.
pub fn capacity(sweep: &Sweep) -> Result<usize, CapacityGap> {
    let mut any_goodput = false;
    let mut answer = None;
    for (i, r) in sweep.steps.iter().enumerate() {
        let (Some(good), Some(all)) = (r.get(Figure::Goodput), r.get(Figure::RequestThroughput))
        else {
            continue;
        };
        any_goodput = true;
        if all > 0.0 && good / all >= SLO_ATTAINMENT {
            answer = Some(i);
        }
    }
    match (answer, any_goodput) {
        (Some(i), _) => Ok(i),
        (None, true) => Err(CapacityGap::NoStepMeetsSlo),
        (None, false) => Err(CapacityGap::NoGoodput),
    }
}

/// Why a sweep has no capacity answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityGap {
    NoGoodput,
    NoStepMeetsSlo,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::runs::{Origin, Run, SweepAxis, Workload};
    use std::path::PathBuf;

    fn step(c: u64, tput: f64, lat_s: f64, goodput: Option<f64>) -> Run {
        let mut values = vec![None; Figure::ALL.len()];
        values[Figure::OutputThroughput.index()] = Some(tput);
        values[Figure::MedianE2el.index()] = Some(lat_s);
        values[Figure::RequestThroughput.index()] = Some(c as f64);
        values[Figure::Goodput.index()] = goodput;
        Run {
            label: "s".into(),
            path: PathBuf::from(format!("c{c}.json")),
            origin: Origin::Tokscope,
            workload: Workload {
                max_concurrency: Some(c),
                ..Workload::default()
            },
            values,
            completed: None,
            failed: None,
            missing_keys: vec![],
            per_second: vec![],
            framework: None,
        }
    }

    fn sweep(steps: Vec<Run>) -> Sweep {
        Sweep {
            label: "s".into(),
            path: PathBuf::from("s"),
            axis: SweepAxis::Concurrency,
            steps,
            capacity_note: None,
        }
    }

    #[test]
    fn knee_is_where_throughput_flattens_and_latency_climbs() {
        // Throughput doubles up to 8, then flattens while latency doubles.
        let s = sweep(vec![
            step(1, 100.0, 1.0, None),
            step(2, 200.0, 1.0, None),
            step(4, 390.0, 1.05, None),
            step(8, 700.0, 1.2, None),
            step(16, 760.0, 2.4, None),
            step(32, 780.0, 4.8, None),
        ]);
        assert_eq!(knee(&s), Some(3));
        assert_eq!(knee(&sweep(vec![step(1, 1.0, 1.0, None)])), None);
    }

    #[test]
    fn capacity_is_the_highest_step_meeting_slos() {
        let s = sweep(vec![
            step(1, 1.0, 1.0, Some(1.0)),
            step(2, 1.0, 1.0, Some(1.96)),
            step(4, 1.0, 1.0, Some(3.0)),
        ]);
        assert_eq!(capacity(&s), Ok(1));
        let none = sweep(vec![step(1, 1.0, 1.0, None)]);
        assert_eq!(capacity(&none), Err(CapacityGap::NoGoodput));
        let fails = sweep(vec![step(1, 1.0, 1.0, Some(0.5))]);
        assert_eq!(capacity(&fails), Err(CapacityGap::NoStepMeetsSlo));
    }
}
