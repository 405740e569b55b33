//! Distributions of latencies: exact where memory allows, HDR histograms always.
//!
//! `vllm bench serve` reports numpy's mean, median, population std and linearly interpolated
//! percentiles over every sample. We keep every sample (as u64 microseconds) up to `EXACT_CAP`
//! per metric so the final summary matches numpy exactly on ordinary runs, and an HDR histogram
//! (3 significant digits) that keeps memory flat however long the run: past the cap, and for the
//! live view ten times a second, percentiles come from the histogram.

use crate::metrics::snapshot::Dist;
use hdrhistogram::Histogram;

/// Samples kept exactly per metric (u64 microseconds: 8 MiB each at the cap).
pub const EXACT_CAP: usize = 1 << 20;

/// One latency distribution, values in microseconds.
#[derive(Debug, Clone)]
pub struct Distribution {
    hist: Histogram<u64>,
    exact: Vec<u64>,
    overflowed: bool,
    n: u64,
    mean: f64,
    m2: f64,
    min: u64,
    max: u64,
}

impl Default for Distribution {
    fn default() -> Self {
        Self::new()
    }
}

impl Distribution {
    pub fn new() -> Self {
        Distribution {
            // 1 us .. ~71 minutes, auto-resizing beyond; 3 significant digits.
            hist: {
                let mut h = Histogram::new_with_bounds(1, 1 << 32, 3)
                    .expect("constant histogram bounds are valid");
                h.auto(true);
                h
            },
            exact: Vec::new(),
            overflowed: false,
            n: 0,
            mean: 0.0,
            m2: 0.0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Record one value in microseconds.
    pub fn record(&mut self, us: u64) {
        let v = us.max(1);
        // `auto(true)` lets the histogram grow, so recording cannot fail for u64 values.
        let _ = self.hist.record(v);
        if !self.overflowed {
            if self.exact.len() < EXACT_CAP {
                self.exact.push(us);
            } else {
                self.overflowed = true;
                self.exact = Vec::new();
            }
        }
        // Welford's running mean and variance: exact mean/std at any length.
        self.n += 1;
        let x = us as f64;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(us);
        self.max = self.max.max(us);
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// Summary in milliseconds. `exact` asks for numpy-style interpolated percentiles over all
    /// samples (sorting them: do it for final results, not at the frame rate).
    pub fn summarize(&self, percentiles: &[f64], exact: bool) -> Dist {
        if self.n == 0 {
            return Dist {
                percentiles: percentiles.iter().map(|&p| (p, 0.0)).collect(),
                ..Dist::default()
            };
        }
        let ms = |us: f64| us / 1000.0;
        let (median, pcts) = if exact && !self.overflowed {
            let mut v = self.exact.clone();
            v.sort_unstable();
            (
                ms(interpolate(&v, 50.0)),
                percentiles
                    .iter()
                    .map(|&p| (p, ms(interpolate(&v, p))))
                    .collect(),
            )
        } else {
            let q = |p: f64| ms(self.hist.value_at_quantile(p / 100.0) as f64);
            (q(50.0), percentiles.iter().map(|&p| (p, q(p))).collect())
        };
        Dist {
            count: self.n,
            mean: ms(self.mean),
            std: ms((self.m2 / self.n as f64).sqrt()),
            median,
            min: ms(self.min as f64),
            max: ms(self.max as f64),
            percentiles: pcts,
        }
    }
}

/// numpy's default percentile ("linear"): rank = p/100 * (n-1), interpolate between neighbours.
pub fn interpolate<T: Sample>(sorted: &[T], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0].to_f64(),
        n => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = rank - lo as f64;
            let (a, b) = (sorted[lo].to_f64(), sorted[hi].to_f64());
            a + (b - a) * frac
        }
    }
}

/// A sample value in microseconds: u64 for whole-run figures, u32 for the recent window.
pub trait Sample: Copy {
    fn to_f64(self) -> f64;
}

impl Sample for u64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Sample for u32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// Summary of a plain slice of microsecond values (the dashboard's recent window).
pub fn summarize_slice(values: &mut [u32], percentiles: &[f64]) -> Dist {
    if values.is_empty() {
        return Dist {
            percentiles: percentiles.iter().map(|&p| (p, 0.0)).collect(),
            ..Dist::default()
        };
    }
    values.sort_unstable();
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let ms = |us: f64| us / 1000.0;
    Dist {
        count: values.len() as u64,
        mean: ms(mean),
        std: ms(var.sqrt()),
        median: ms(interpolate(values, 50.0)),
        min: ms(values[0] as f64),
        max: ms(values[values.len() - 1] as f64),
        percentiles: percentiles
            .iter()
            .map(|&p| (p, ms(interpolate(values, p))))
            .collect(),
    }
}

/// Parse `--metric-percentiles` ("50,90,95,99").
pub fn parse_percentiles(s: &str) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let p: f64 = part.parse().map_err(|_| {
            format!("--metric-percentiles: '{part}' is not a number (expected e.g. '50,90,99')")
        })?;
        if !(0.0..=100.0).contains(&p) || p.is_nan() {
            return Err(format!("--metric-percentiles: '{part}' is outside 0..100"));
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err("--metric-percentiles: no percentile given (expected e.g. '50,90,99')".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(values_ms: &[f64], exact: bool) -> Dist {
        let mut d = Distribution::new();
        for v in values_ms {
            d.record((v * 1000.0) as u64);
        }
        d.summarize(&[50.0, 90.0, 99.0], exact)
    }

    #[test]
    fn hand_worked_numbers_match_numpy() {
        // numpy: mean 25, median 25, std (ddof=0) sqrt(125)=11.1803..., p90 = 37, p99 = 39.7
        let d = dist(&[10.0, 20.0, 30.0, 40.0], true);
        assert_eq!(d.count, 4);
        assert!((d.mean - 25.0).abs() < 1e-9);
        assert!((d.median - 25.0).abs() < 1e-9);
        assert!((d.std - 125f64.sqrt()).abs() < 1e-9);
        assert!((d.p(90.0).unwrap() - 37.0).abs() < 1e-9);
        assert!((d.p(99.0).unwrap() - 39.7).abs() < 1e-9);
        assert_eq!((d.min, d.max), (10.0, 40.0));
    }

    #[test]
    fn hdr_percentiles_are_within_a_tenth_of_a_percent() {
        let values: Vec<f64> = (1..=1000).map(|i| i as f64 * 0.731).collect();
        let exact = dist(&values, true);
        let approx = dist(&values, false);
        for p in [50.0, 90.0, 99.0] {
            let (e, a) = (exact.p(p).unwrap(), approx.p(p).unwrap());
            assert!((a - e).abs() / e < 0.002, "p{p}: {a} vs {e}");
        }
        assert!((exact.mean - approx.mean).abs() < 1e-9);
    }

    #[test]
    fn empty_distribution_reports_zeros_like_vllm() {
        let d = Distribution::new().summarize(&[50.0, 99.0], true);
        assert_eq!(d.count, 0);
        assert_eq!(d.percentiles, vec![(50.0, 0.0), (99.0, 0.0)]);
    }

    #[test]
    fn values_past_71_minutes_are_not_clipped() {
        let mut d = Distribution::new();
        let two_hours_us = 7_200_000_000u64;
        d.record(two_hours_us);
        let s = d.summarize(&[50.0], true);
        assert_eq!(s.median, 7_200_000.0);
        assert_eq!(s.max, 7_200_000.0);
    }

    #[test]
    fn single_value() {
        let d = dist(&[12.5], true);
        assert_eq!((d.median, d.p(99.0).unwrap(), d.std), (12.5, 12.5, 0.0));
    }

    #[test]
    fn slice_summary_matches_distribution() {
        let mut v = vec![40_000u32, 10_000, 30_000, 20_000];
        let d = summarize_slice(&mut v, &[90.0]);
        assert!((d.p(90.0).unwrap() - 37.0).abs() < 1e-9);
        assert!((d.mean - 25.0).abs() < 1e-9);
    }

    #[test]
    fn percentile_flag_parsing() {
        assert_eq!(parse_percentiles("50, 90,99.9"), Ok(vec![50.0, 90.0, 99.9]));
        assert_eq!(
            parse_percentiles("50,abc"),
            Err("--metric-percentiles: 'abc' is not a number (expected e.g. '50,90,99')".into())
        );
        assert_eq!(
            parse_percentiles("120"),
            Err("--metric-percentiles: '120' is outside 0..100".into())
        );
        assert!(parse_percentiles("").is_err());
    }
}
