//! Capacity search as a pure state machine over probes: start at a load, double it while the
//! SLOs hold, then bisect between the highest load that passed and the lowest that failed until
//! they are one resolution apart. Nothing here runs a request; the sweep driver asks
//! [`Search::next_load`], runs a step there, and tells [`Search::record`] whether it passed.

use super::plan::{Axis, SearchSpec};

/// Where a search stands, and finally its answer.
#[derive(Debug, Clone)]
pub struct Search {
    spec: SearchSpec,
    /// Highest load that passed.
    passed: Option<f64>,
    /// Lowest load that failed.
    failed: Option<f64>,
    next: Option<f64>,
    /// Every probe in order: (load, passed).
    pub probes: Vec<(f64, bool)>,
}

/// What a finished search found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    /// The highest load that met the SLOs; `None` when even the first load failed.
    pub capacity: Option<f64>,
    /// The lowest load that failed; `None` when every load up to `--search-max` passed.
    pub first_failing: Option<f64>,
}

impl Search {
    pub fn new(spec: SearchSpec) -> Search {
        let start = if spec.axis == Axis::Concurrency {
            spec.start.round().max(1.0)
        } else {
            spec.start
        };
        Search {
            spec,
            passed: None,
            failed: None,
            next: Some(start),
            probes: Vec::new(),
        }
    }

    /// The load to probe next; `None` when the search is over.
    pub fn next_load(&self) -> Option<f64> {
        self.next
    }

    fn whole(&self) -> bool {
        self.spec.axis == Axis::Concurrency
    }

    /// How close the bounds must come: the flag, or 1 user, or 5% of the failing rate.
    fn resolution(&self, failing: f64) -> f64 {
        match (self.spec.resolution, self.whole()) {
            (Some(r), true) => r.max(1.0),
            (Some(r), false) => r,
            (None, true) => 1.0,
            (None, false) => failing * 0.05,
        }
    }

    /// The result of probing `load`; picks the next load.
    pub fn record(&mut self, load: f64, passed: bool) {
        self.probes.push((load, passed));
        if passed {
            self.passed = Some(self.passed.map_or(load, |p| p.max(load)));
        } else {
            self.failed = Some(self.failed.map_or(load, |f| f.min(load)));
        }
        self.next = match (self.passed, self.failed) {
            // Nothing passed yet: a rate halves until one does; one user is the floor.
            (None, Some(f)) => {
                let lower = f / 2.0;
                (!self.whole() && lower >= crate::runner::bounds::MIN_RATE).then_some(lower)
            }
            // Still growing.
            (Some(p), None) => {
                if p >= self.spec.max {
                    None
                } else {
                    let grown = if self.whole() {
                        (p * 2.0).floor().max(p + 1.0)
                    } else {
                        p * 2.0
                    };
                    Some(grown.min(self.spec.max))
                }
            }
            (Some(p), Some(f)) => {
                if f - p <= self.resolution(f) {
                    None
                } else {
                    let mid = if self.whole() {
                        ((p + f) / 2.0).floor()
                    } else {
                        (p + f) / 2.0
                    };
                    (mid > p && mid < f).then_some(mid)
                }
            }
            (None, None) => self.next,
        };
    }

    pub fn answer(&self) -> Answer {
        Answer {
            capacity: self.passed,
            first_failing: self.failed,
        }
    }
}

/// Run a whole search against a probe (for tests and anything synchronous).
pub fn run(spec: SearchSpec, mut probe: impl FnMut(f64) -> bool) -> Search {
    let mut s = Search::new(spec);
    while let Some(load) = s.next_load() {
        let ok = probe(load);
        s.record(load, ok);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(axis: Axis, max: f64, resolution: Option<f64>) -> SearchSpec {
        SearchSpec {
            axis,
            attainment_pct: 95.0,
            start: 1.0,
            max,
            resolution,
        }
    }

    #[test]
    fn concurrency_lands_on_the_exact_threshold() {
        for t in 1..=300u32 {
            let s = run(spec(Axis::Concurrency, 4096.0, None), |c| c <= f64::from(t));
            assert_eq!(s.answer().capacity, Some(f64::from(t)), "threshold {t}");
            assert_eq!(
                s.answer().first_failing,
                Some(f64::from(t + 1)),
                "threshold {t}"
            );
            // Doubling then bisecting: about two probes per doubling.
            let bound = 2 * (32 - t.leading_zeros()) as usize + 2;
            assert!(s.probes.len() <= bound, "{t}: {} probes", s.probes.len());
            // Never the same load twice.
            let mut loads: Vec<u64> = s.probes.iter().map(|p| p.0 as u64).collect();
            loads.sort_unstable();
            loads.dedup();
            assert_eq!(loads.len(), s.probes.len(), "{t}");
        }
    }

    #[test]
    fn the_first_probes_double() {
        let s = run(spec(Axis::Concurrency, 4096.0, None), |c| c <= 10.0);
        let loads: Vec<f64> = s.probes.iter().map(|p| p.0).collect();
        assert_eq!(loads, vec![1.0, 2.0, 4.0, 8.0, 16.0, 12.0, 10.0, 11.0]);
    }

    #[test]
    fn rate_lands_within_one_resolution() {
        for t in [0.7, 3.3, 7.9, 41.0, 250.5] {
            let s = run(spec(Axis::Rate, 10_000.0, Some(0.25)), |r| r <= t);
            let (p, f) = (
                s.answer().capacity.unwrap(),
                s.answer().first_failing.unwrap(),
            );
            assert!(p <= t && t < f && f - p <= 0.25, "{t}: {p}..{f}");
        }
        // Default resolution: 5% of the failing load.
        let s = run(spec(Axis::Rate, 10_000.0, None), |r| r <= 41.0);
        let (p, f) = (
            s.answer().capacity.unwrap(),
            s.answer().first_failing.unwrap(),
        );
        assert!(p <= 41.0 && 41.0 < f && f - p <= 0.05 * f, "{p}..{f}");
    }

    #[test]
    fn a_rate_below_the_start_is_found_by_halving() {
        let s = run(spec(Axis::Rate, 10_000.0, None), |r| r <= 0.3);
        let loads: Vec<f64> = s.probes.iter().take(3).map(|p| p.0).collect();
        assert_eq!(loads, vec![1.0, 0.5, 0.25]);
        let (p, f) = (
            s.answer().capacity.unwrap(),
            s.answer().first_failing.unwrap(),
        );
        assert!(p <= 0.3 && 0.3 < f && f - p <= 0.05 * f, "{p}..{f}");
    }

    #[test]
    fn failing_at_the_start_or_passing_at_the_top() {
        let s = run(spec(Axis::Concurrency, 4096.0, None), |_| false);
        assert_eq!(s.answer().capacity, None);
        assert_eq!(s.probes.len(), 1);
        let s = run(spec(Axis::Concurrency, 100.0, None), |_| true);
        assert_eq!(s.answer().capacity, Some(100.0));
        assert_eq!(s.answer().first_failing, None);
        assert_eq!(s.probes.last().map(|p| p.0), Some(100.0));
    }

    #[test]
    fn a_coarser_resolution_stops_sooner() {
        let s = run(spec(Axis::Concurrency, 4096.0, Some(8.0)), |c| c <= 37.0);
        let (p, f) = (
            s.answer().capacity.unwrap(),
            s.answer().first_failing.unwrap(),
        );
        assert!(p <= 37.0 && 37.0 < f && f - p <= 8.0, "{p}..{f}");
        assert!(
            s.probes.len()
                < run(spec(Axis::Concurrency, 4096.0, None), |c| c <= 37.0)
                    .probes
                    .len()
        );
    }
}
