//! A server's cumulative Prometheus histograms (`_bucket{le}`, `_sum`, `_count`), their change
//! between two scrapes, and percentiles from bucket counts.
//!
//! A server's histograms only ever grow, so what happened in a window is the difference of two
//! readings; a percentile of that difference is interpolated linearly inside the bucket that
//! holds the rank, as PromQL's `histogram_quantile` does, so our figures read like a Grafana
//! panel over the same window. Written here rather than taken from a crate: no maintained crate
//! reads histograms out of the text format with `:` in names (see `prom`), and the delta and
//! reset rules are the heart of this view.

use crate::telemetry::prom::Exposition;
use serde::Serialize;

/// One histogram, summed over every series of its name (engines, ranks), counts cumulative.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Buckets {
    /// Upper bounds, ascending; the last is `+Inf`.
    pub bounds: Vec<f64>,
    /// Observations at or below each bound (cumulative, as on the wire).
    pub counts: Vec<f64>,
    pub sum: f64,
}

impl Buckets {
    /// The histogram `name` (without `_bucket`) from a page, or `None` when the page has no
    /// bucket lines for it. Series with the same `le` are added together.
    pub fn from_page(page: &Exposition, name: &str) -> Option<Buckets> {
        let bucket = format!("{name}_bucket");
        let mut by_le: Vec<(f64, f64)> = Vec::new();
        for s in page.samples_named(&bucket) {
            let Some(le) = s.label("le").and_then(parse_le) else {
                continue;
            };
            if !s.value.is_finite() {
                continue;
            }
            match by_le.iter_mut().find(|(b, _)| *b == le) {
                Some((_, c)) => *c += s.value,
                None => by_le.push((le, s.value)),
            }
        }
        if by_le.is_empty() {
            return None;
        }
        by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
        if by_le.last().is_some_and(|(b, _)| b.is_finite()) {
            // A page without the +Inf bucket: its count line says how many there were.
            let count: f64 = page
                .samples_named(&format!("{name}_count"))
                .map(|s| s.value)
                .filter(|v| v.is_finite())
                .sum();
            let top = by_le.last().map_or(0.0, |(_, c)| *c);
            by_le.push((f64::INFINITY, count.max(top)));
        }
        let sum = page
            .samples_named(&format!("{name}_sum"))
            .map(|s| s.value)
            .filter(|v| v.is_finite())
            .sum();
        let (bounds, counts) = by_le.into_iter().unzip();
        Some(Buckets {
            bounds,
            counts,
            sum,
        })
    }

    /// Observations in all (the `+Inf` bucket).
    pub fn count(&self) -> f64 {
        self.counts.last().copied().unwrap_or(0.0)
    }

    /// What was observed after `earlier`: `None` when the two cannot be compared (other
    /// bucket bounds) or a count went down (the server restarted: its histogram began again).
    pub fn since(&self, earlier: &Buckets) -> Option<Buckets> {
        if self.bounds != earlier.bounds {
            return None;
        }
        let mut counts = Vec::with_capacity(self.counts.len());
        for (now, then) in self.counts.iter().zip(&earlier.counts) {
            if now < then {
                return None;
            }
            counts.push(now - then);
        }
        Some(Buckets {
            bounds: self.bounds.clone(),
            counts,
            sum: (self.sum - earlier.sum).max(0.0),
        })
    }

    /// Add `other`'s observations (same bounds); false, and nothing added, when the bounds
    /// differ.
    pub fn add(&mut self, other: &Buckets) -> bool {
        if self.bounds != other.bounds {
            return false;
        }
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.sum += other.sum;
        true
    }

    /// The `q` quantile (0..1) in the histogram's unit, `None` with no observations. Ranks in
    /// the `+Inf` bucket answer the highest finite bound (all that is known about them).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total.is_nan() || total <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total;
        let i = self.counts.iter().position(|&c| c >= rank)?;
        let upper = self.bounds[i];
        if !upper.is_finite() {
            return self.bounds.iter().rev().find(|b| b.is_finite()).copied();
        }
        let (lower, below) = match i {
            0 => (0.0_f64.min(upper), 0.0),
            _ => (self.bounds[i - 1], self.counts[i - 1]),
        };
        let inside = self.counts[i] - below;
        if inside <= 0.0 {
            return Some(upper);
        }
        Some(lower + (upper - lower) * (rank - below) / inside)
    }

    /// The bucket the `q` quantile falls in, `(lower, upper)` in the histogram's unit (`upper`
    /// infinite in the `+Inf` bucket): the server's figure is known only to lie in it.
    pub fn quantile_bucket(&self, q: f64) -> Option<(f64, f64)> {
        let total = self.count();
        if total.is_nan() || total <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total;
        let i = self.counts.iter().position(|&c| c >= rank)?;
        let lower = if i == 0 { 0.0 } else { self.bounds[i - 1] };
        Some((lower, self.bounds[i]))
    }

    /// The `q` quantile for people, milliseconds: "<300 ms" when the rank falls in the lowest
    /// bucket (vLLM's request-latency buckets start at 0.3 s: all that is known is "below"),
    /// ">N" in the `+Inf` bucket, else the interpolated value.
    pub fn quantile_text(&self, q: f64) -> Option<String> {
        let v = self.quantile(q)?;
        let rank = q * self.count();
        let i = self.counts.iter().position(|&c| c >= rank)?;
        let ms = |s: f64| {
            if s >= 1.0 {
                format!("{s:.2}s")
            } else {
                format!("{:.0}ms", s * 1000.0)
            }
        };
        Some(if i == 0 && self.bounds.len() > 1 {
            format!("<{}", ms(self.bounds[0]))
        } else if !self.bounds[i].is_finite() {
            format!(">{}", ms(v))
        } else if v < 1.0 {
            format!("{:.1}ms", v * 1000.0)
        } else {
            ms(v)
        })
    }

    /// Mean observation (`_sum / _count`), `None` with no observations.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0.0).then(|| self.sum / n)
    }
}

fn parse_le(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        other => other.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::prom;

    const PAGE: &str = "\
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.1\",model_name=\"m\"} 2.0
vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.25\",model_name=\"m\"} 6.0
vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 8.0
vllm:time_to_first_token_seconds_sum{engine=\"0\",model_name=\"m\"} 1.5
vllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"m\"} 8.0
vllm:time_to_first_token_seconds_bucket{engine=\"1\",le=\"0.1\",model_name=\"m\"} 2.0
vllm:time_to_first_token_seconds_bucket{engine=\"1\",le=\"0.25\",model_name=\"m\"} 2.0
vllm:time_to_first_token_seconds_bucket{engine=\"1\",le=\"+Inf\",model_name=\"m\"} 2.0
vllm:time_to_first_token_seconds_sum{engine=\"1\",model_name=\"m\"} 0.1
vllm:time_to_first_token_seconds_count{engine=\"1\",model_name=\"m\"} 2.0
";

    fn ttft(page: &str) -> Buckets {
        Buckets::from_page(&prom::parse(page), "vllm:time_to_first_token_seconds").unwrap()
    }

    #[test]
    fn engines_are_added_bucket_by_bucket() {
        let b = ttft(PAGE);
        assert_eq!(b.bounds, vec![0.1, 0.25, f64::INFINITY]);
        assert_eq!(b.counts, vec![4.0, 8.0, 10.0]);
        assert!((b.sum - 1.6).abs() < 1e-12);
        assert_eq!(b.count(), 10.0);
        assert!((b.mean().unwrap() - 0.16).abs() < 1e-12);
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket_like_promql() {
        let b = ttft(PAGE);
        // rank 5 of 10: one of the four in (0.1, 0.25] -> 0.1 + 0.15 * 1/4.
        assert!((b.quantile(0.5).unwrap() - 0.1375).abs() < 1e-12);
        // rank 2 of 10: inside the first bucket, from 0.
        assert!((b.quantile(0.2).unwrap() - 0.05).abs() < 1e-12);
        // rank 9.9: in +Inf, answered with the highest finite bound.
        assert_eq!(b.quantile(0.99), Some(0.25));
        assert_eq!(Buckets::default().quantile(0.5), None);
        assert_eq!(b.quantile(1.5), None);
    }

    #[test]
    fn a_window_is_the_difference_and_a_restart_is_not_one() {
        let before = ttft(PAGE);
        let after = ttft(&PAGE.replace("} 8.0", "} 12.0"));
        let d = after.since(&before).unwrap();
        assert_eq!(d.counts, vec![0.0, 0.0, 4.0]);
        assert_eq!(d.quantile(0.5), Some(0.25));
        // A restart: counts fell.
        let restarted = ttft(&PAGE.replace("} 6.0", "} 1.0"));
        assert_eq!(restarted.since(&before), None);
        let mut total = before.clone();
        assert!(total.add(&d));
        assert_eq!(total.count(), 14.0);
        let other = Buckets {
            bounds: vec![1.0, f64::INFINITY],
            counts: vec![1.0, 1.0],
            sum: 0.5,
        };
        assert!(!total.add(&other));
        assert_eq!(other.since(&before), None);
    }

    #[test]
    fn a_page_without_the_inf_bucket_takes_its_count() {
        let page = "h_bucket{le=\"1\"} 3\nh_count 5\nh_sum 9\n";
        let b = Buckets::from_page(&prom::parse(page), "h").unwrap();
        assert_eq!(b.counts, vec![3.0, 5.0]);
        assert_eq!(b.quantile(0.9), Some(1.0));
        assert!(Buckets::from_page(&prom::parse(page), "other").is_none());
    }
}
