//! Comparisons between groups of runs: ratios against the baseline, whether a difference is
//! inside the noise of repeats, which group wins each figure, and where workloads differ (so a
//! comparison is flagged, never silently made across different loads).

use crate::report::figure::{Better, Figure};
use crate::report::runs::{Group, Workload};
use serde::Serialize;

/// One figure of one group against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// group / baseline.
    pub ratio: f64,
    /// Both sides had repeats and the difference is smaller than their noise.
    pub within_noise: bool,
}

/// `group`'s figure over `baseline`'s; `None` when either lacks it or the baseline is zero.
pub fn ratio(group: &Group, baseline: &Group, f: Figure) -> Option<Ratio> {
    let (a, b) = (group.stat(f)?, baseline.stat(f)?);
    if b.mean == 0.0 || !a.mean.is_finite() || !b.mean.is_finite() {
        return None;
    }
    Some(Ratio {
        ratio: a.mean / b.mean,
        within_noise: within_noise(a.mean, a.std, a.n, b.mean, b.std, b.n),
    })
}

/// With at least two runs a side, a difference is noise when it is smaller than twice the
/// standard error of the difference (Welch's, about a 95% interval). One run a side has no
/// noise estimate, so nothing is marked.
pub fn within_noise(ma: f64, sa: f64, na: usize, mb: f64, sb: f64, nb: usize) -> bool {
    if na < 2 || nb < 2 {
        return false;
    }
    // Sample variances from the population std the groups report.
    let var = |s: f64, n: usize| s * s * n as f64 / (n as f64 - 1.0);
    let se = (var(sa, na) / na as f64 + var(sb, nb) / nb as f64).sqrt();
    (ma - mb).abs() <= 2.0 * se
}

/// The group that wins a figure and its value; `None` for figures with no better direction or
/// when no group has the figure. Ties go to the earlier group.
pub fn best(groups: &[Group], f: Figure) -> Option<(usize, f64)> {
    let better = f.better()?;
    let mut winner: Option<(usize, f64)> = None;
    for (i, g) in groups.iter().enumerate() {
        let Some(v) = g.mean(f) else { continue };
        let wins = match winner {
            None => true,
            Some((_, w)) => match better {
                Better::Higher => v > w,
                Better::Lower => v < w,
            },
        };
        if wins {
            winner = Some((i, v));
        }
    }
    winner
}

/// One way two workloads differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadDiff {
    /// Which field: input_len, output_len, dataset, max_concurrency, request_rate, model.
    pub field: &'static str,
    pub this: String,
    pub baseline: String,
}

/// Where `w` differs from the baseline's workload. Mean lengths differ when they are more than
/// 5% apart (lengths of sampled prompts vary a little from run to run); unknown values (a vLLM
/// file has no dataset name) are not a difference.
pub fn workload_diffs(w: &Workload, base: &Workload) -> Vec<WorkloadDiff> {
    let mut out = Vec::new();
    let len = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.0}"));
    for (field, a, b) in [
        ("input_len", w.input_len, base.input_len),
        ("output_len", w.output_len, base.output_len),
    ] {
        if let (Some(x), Some(y)) = (a, b) {
            if (x - y).abs() > 0.05 * x.abs().max(y.abs()) {
                out.push(WorkloadDiff {
                    field,
                    this: len(a),
                    baseline: len(b),
                });
            }
        }
    }
    if let (Some(a), Some(b)) = (&w.dataset, &base.dataset) {
        if a != b {
            out.push(WorkloadDiff {
                field: "dataset",
                this: a.clone(),
                baseline: b.clone(),
            });
        }
    }
    if w.max_concurrency != base.max_concurrency {
        let show = |c: Option<u64>| c.map_or("unlimited".to_string(), |c| c.to_string());
        out.push(WorkloadDiff {
            field: "max_concurrency",
            this: show(w.max_concurrency),
            baseline: show(base.max_concurrency),
        });
    }
    if w.request_rate != base.request_rate || w.rate_infinite != base.rate_infinite {
        let show = |w: &Workload| match (w.request_rate, w.rate_infinite) {
            (Some(r), _) => format!("{r}"),
            (None, true) => "inf".to_string(),
            (None, false) => "n/a".to_string(),
        };
        out.push(WorkloadDiff {
            field: "request_rate",
            this: show(w),
            baseline: show(base),
        });
    }
    if let (Some(a), Some(b)) = (&w.model, &base.model) {
        if a != b {
            out.push(WorkloadDiff {
                field: "model",
                this: a.clone(),
                baseline: b.clone(),
            });
        }
    }
    out
}

/// The index of the baseline group: the one named, else the first.
pub fn baseline_index(groups: &[Group], name: Option<&str>) -> Result<usize, String> {
    match name {
        None => Ok(0),
        Some(n) => groups.iter().position(|g| g.label == n).ok_or_else(|| {
            let known: Vec<String> = groups.iter().map(|g| format!("'{}'", g.label)).collect();
            format!(
                "--baseline '{n}' names no run; the runs are {}",
                known.join(", ")
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::runs::{Origin, Run};
    use std::path::PathBuf;

    fn group(label: &str, outs: &[f64]) -> Group {
        Group {
            label: label.into(),
            runs: outs
                .iter()
                .map(|o| {
                    let mut values = vec![None; Figure::ALL.len()];
                    values[Figure::OutputThroughput.index()] = Some(*o);
                    values[Figure::MeanTtft.index()] = Some(1000.0 / o);
                    Run {
                        label: label.into(),
                        path: PathBuf::from("x.json"),
                        origin: Origin::Tokscope,
                        workload: Workload::default(),
                        values,
                        completed: None,
                        failed: None,
                        missing_keys: vec![],
                        per_second: vec![],
                        framework: None,
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn seed_002_ratio_and_winner() {
        let one = group("1GPU", &[260.3688]);
        let two = group("2GPU", &[348.0055]);
        let r = ratio(&two, &one, Figure::OutputThroughput).unwrap();
        assert_eq!(format!("{:.2}", r.ratio), "1.34");
        assert!(!r.within_noise, "single runs carry no noise estimate");
        let groups = [one, two];
        assert_eq!(
            best(&groups, Figure::OutputThroughput).map(|b| b.0),
            Some(1)
        );
        assert_eq!(best(&groups, Figure::MeanTtft).map(|b| b.0), Some(1));
        assert_eq!(best(&groups, Figure::InputLen), None);
        assert_eq!(ratio(&groups[0], &groups[1], Figure::P99Tpot), None);
    }

    #[test]
    fn repeats_mark_small_differences_as_noise() {
        let a = group("a", &[100.0, 104.0, 96.0]);
        let b = group("b", &[101.0, 105.0, 97.0]);
        let c = group("c", &[150.0, 151.0, 149.0]);
        assert!(
            ratio(&b, &a, Figure::OutputThroughput)
                .unwrap()
                .within_noise
        );
        assert!(
            !ratio(&c, &a, Figure::OutputThroughput)
                .unwrap()
                .within_noise
        );
    }

    #[test]
    fn workloads_that_differ_are_named() {
        let base = Workload {
            input_len: Some(512.0),
            output_len: Some(256.0),
            max_concurrency: Some(16),
            model: Some("m".into()),
            ..Workload::default()
        };
        let mut w = base.clone();
        w.input_len = Some(520.0); // within 5%: the same workload
        assert!(workload_diffs(&w, &base).is_empty());
        w.input_len = Some(1024.0);
        w.max_concurrency = None;
        let fields: Vec<&str> = workload_diffs(&w, &base).iter().map(|d| d.field).collect();
        assert_eq!(fields, ["input_len", "max_concurrency"]);
    }

    #[test]
    fn baseline_by_name() {
        let groups = [group("a", &[1.0]), group("b", &[1.0])];
        assert_eq!(baseline_index(&groups, Some("b")), Ok(1));
        assert_eq!(
            baseline_index(&groups, Some("z")).unwrap_err(),
            "--baseline 'z' names no run; the runs are 'a', 'b'"
        );
    }
}
