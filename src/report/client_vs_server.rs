//! Our measurements beside the server's own over the same span. Our TTFT runs from the moment
//! the request left to its first token; the server's from the moment its engine saw it. The
//! gap is what happens outside the engine: network, HTTP, the server's own front end and any
//! queue before the engine. Token totals should agree; where they differ by more than requests
//! in flight at the edges (and warm-ups, which the server counts and we do not) can explain,
//! something else is loading the server, or one side miscounts: that is shown as a warning.

use crate::metrics::snapshot::Snapshot;
use crate::telemetry::server_metrics::series::LatencyFigures;
use crate::telemetry::server_metrics::ServerRunStats;
use serde::{Deserialize, Serialize};

/// Our figures and the server's, side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Comparison {
    pub our_ttft_p50_ms: Option<f64>,
    pub server_ttft_p50_ms: Option<f64>,
    pub our_ttft_p99_ms: Option<f64>,
    pub server_ttft_p99_ms: Option<f64>,
    /// Our median TTFT minus the server's, as far as the server's histogram can tell: the
    /// server's median lies somewhere in one bucket, so the gap lies in this range.
    pub ttft_gap_p50_ms_min: Option<f64>,
    pub ttft_gap_p50_ms_max: Option<f64>,
    pub our_output_tokens: u64,
    pub server_output_tokens: Option<f64>,
    /// The difference in-flight requests and warm-ups can explain.
    pub explained_tokens: f64,
    pub warning: Option<String>,
}

impl Comparison {
    /// The whole run: our distributions and token count against the server's counters and
    /// histograms between its first and last scrape. `None` when the server published nothing.
    pub fn for_run(snap: &Snapshot, server: &ServerRunStats) -> Option<Comparison> {
        if server.scrapes == 0 {
            return None;
        }
        let ours = &snap.whole.by_metric[crate::metrics::latency::LatencyMetric::Ttft];
        let (our_p50, our_p99) = if ours.count > 0 {
            (Some(ours.median), ours.p(99.0))
        } else {
            (None, None)
        };
        let sttft = server.ttft.as_ref().filter(|f| f.count > 0.0);
        let server_p50 = sttft.and_then(|f| f.p50_ms);
        let gap = our_p50.zip(sttft).and_then(|(a, f)| ttft_gap(a, f));
        let c = &snap.counts;
        let our_tokens = c.received_output_tokens;
        let requests = (c.ok + c.failed + c.incomplete).max(1);
        let per_request = our_tokens as f64 / requests as f64;
        let edges = server.running_at_start.unwrap_or(0.0) + server.running_at_end.unwrap_or(0.0);
        let explained = per_request * (c.warmups as f64 + edges + 1.0) + 0.01 * our_tokens as f64;
        let warning = server.generation_tokens.and_then(|s| {
            let diff = s - our_tokens as f64;
            (diff.abs() > explained).then(|| {
                format!(
                    "the server counted {s:.0} generated tokens and we received {our_tokens} \
                     ({diff:+.0}); requests in flight and warm-ups explain up to {explained:.0}: \
                     is something else using this server?"
                )
            })
        });
        Some(Comparison {
            our_ttft_p50_ms: our_p50,
            server_ttft_p50_ms: server_p50,
            our_ttft_p99_ms: our_p99,
            server_ttft_p99_ms: sttft.and_then(|f| f.p99_ms),
            ttft_gap_p50_ms_min: gap.map(|g| g.0),
            ttft_gap_p50_ms_max: gap.map(|g| g.1),
            our_output_tokens: our_tokens,
            server_output_tokens: server.generation_tokens,
            explained_tokens: explained,
            warning,
        })
    }

    /// Lines for the summary table.
    pub fn lines(&self) -> Vec<String> {
        let v = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{x:.1}"));
        let row = |k: &str, v: String| format!("{k:<40} {v}");
        let mut lines = vec![
            row(
                "TTFT p50 ours / server (ms):",
                match self.server_ttft_p50_ms {
                    Some(_) => format!(
                        "{} / {} (gap {})",
                        v(self.our_ttft_p50_ms),
                        v(self.server_ttft_p50_ms),
                        gap_text(self.ttft_gap_p50_ms_min, self.ttft_gap_p50_ms_max)
                    ),
                    None => format!(
                        "{} / n/a: this server has no TTFT histogram",
                        v(self.our_ttft_p50_ms)
                    ),
                },
            ),
            row(
                "Output tokens ours / server:",
                format!(
                    "{} / {}",
                    self.our_output_tokens,
                    self.server_output_tokens
                        .map_or("n/a".into(), |s| format!("{s:.0}"))
                ),
            ),
        ];
        if let Some(w) = &self.warning {
            lines.push(format!("WARNING: {w}"));
        }
        lines
    }
}

/// The range our median TTFT minus the server's can be in, milliseconds: the server's median
/// is known only to lie in one of its histogram's buckets (vLLM's TTFT buckets jump from 100 to
/// 250 ms), so an interpolated point would invent a gap, even a negative one. The gap is never
/// below 0 (our TTFT contains the server's); `None` without the server's median or ours.
pub fn ttft_gap(ours_ms: f64, server: &LatencyFigures) -> Option<(f64, f64)> {
    let lo = server.p50_bucket_low_ms?;
    Some(ttft_gap_in_bucket(ours_ms, lo, server.p50_bucket_high_ms))
}

/// The gap range when the server's median lies in `[lo_ms, hi_ms]` (`None`: the `+Inf`
/// bucket, only a floor is known).
pub fn ttft_gap_in_bucket(ours_ms: f64, lo_ms: f64, hi_ms: Option<f64>) -> (f64, f64) {
    let max = (ours_ms - lo_ms).max(0.0);
    let min = hi_ms.map_or(0.0, |hi| (ours_ms - hi).max(0.0));
    (min, max)
}

/// "12.0" for a gap known to a tenth of a millisecond, "0.0 to 21.0" for a range.
pub fn gap_text(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) if (b - a).abs() < 0.05 => format!("{a:.1}"),
        (Some(a), Some(b)) => format!("{a:.1} to {b:.1}, within the server's histogram bucket"),
        _ => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(tokens: u64, ok: u64, warmups: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.counts.received_output_tokens = tokens;
        s.counts.ok = ok;
        s.counts.warmups = warmups;
        s.whole.by_metric[crate::metrics::latency::LatencyMetric::Ttft].count = ok;
        s.whole.by_metric[crate::metrics::latency::LatencyMetric::Ttft].median = 120.0;
        s
    }

    fn server(tokens: f64, ttft_p50_ms: Option<f64>) -> ServerRunStats {
        ServerRunStats {
            scrapes: 5,
            generation_tokens: Some(tokens),
            running_at_start: Some(0.0),
            running_at_end: Some(0.0),
            ttft: ttft_p50_ms.map(
                |p| crate::telemetry::server_metrics::series::LatencyFigures {
                    count: 10.0,
                    p50_ms: Some(p),
                    // vLLM's TTFT buckets around 95 ms: 80 to 100.
                    p50_bucket_low_ms: Some(80.0),
                    p50_bucket_high_ms: Some(100.0),
                    ..Default::default()
                },
            ),
            ..ServerRunStats::default()
        }
    }

    #[test]
    fn agreeing_counts_and_the_ttft_gap() {
        let c = Comparison::for_run(&snap(12_800, 100, 0), &server(12_800.0, Some(95.0))).unwrap();
        // The server's median is somewhere in 80..100 ms: ours (120) is 20 to 40 ms above it.
        assert_eq!(
            (c.ttft_gap_p50_ms_min, c.ttft_gap_p50_ms_max),
            (Some(20.0), Some(40.0))
        );
        assert_eq!(c.warning, None);
        assert_eq!(
            c.lines()[0],
            format!(
                "{:<40} 120.0 / 95.0 (gap 20.0 to 40.0, within the server's histogram bucket)",
                "TTFT p50 ours / server (ms):"
            )
        );
    }

    #[test]
    fn a_gap_is_never_invented_from_inside_one_bucket() {
        // Ours 121 ms; the server's median lies in vLLM's 100..250 ms bucket (interpolated to
        // 175): the gap is 0 to 21 ms, not -54.
        let f = LatencyFigures {
            count: 40.0,
            p50_ms: Some(175.0),
            p50_bucket_low_ms: Some(100.0),
            p50_bucket_high_ms: Some(250.0),
            ..Default::default()
        };
        assert_eq!(ttft_gap(121.0, &f), Some((0.0, 21.0)));
        // In the +Inf bucket only a floor of the server's figure is known.
        let inf = LatencyFigures {
            p50_bucket_low_ms: Some(10_000.0),
            p50_bucket_high_ms: None,
            ..f.clone()
        };
        assert_eq!(ttft_gap(12_000.0, &inf), Some((0.0, 2_000.0)));
        assert_eq!(gap_text(Some(3.0), Some(3.0)), "3.0");
    }

    #[test]
    fn warm_ups_explain_a_difference_and_a_second_client_does_not() {
        // Two warm-ups of ~128 tokens: the server counted them, we did not.
        let c = Comparison::for_run(&snap(12_800, 100, 2), &server(13_056.0, None)).unwrap();
        assert_eq!(c.warning, None, "{c:?}");
        assert!(c.lines()[0].ends_with("n/a: this server has no TTFT histogram"));
        // Another client generated 5,000 tokens more.
        let c = Comparison::for_run(&snap(12_800, 100, 0), &server(17_800.0, None)).unwrap();
        let w = c.warning.clone().unwrap();
        assert!(
            w.starts_with(
                "the server counted 17800 generated tokens and we received 12800 (+5000)"
            ),
            "{w}"
        );
        assert!(c.lines().last().unwrap().starts_with("WARNING: "));
        assert!(Comparison::for_run(&snap(1, 1, 0), &ServerRunStats::default()).is_none());
    }
}
