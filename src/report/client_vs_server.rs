//! Our measurements beside the server's own over the same span. Our TTFT runs from the moment
//! the request left to its first token; the server's from the moment its engine saw it. The
//! gap is what happens outside the engine: network, HTTP, the server's own front end and any
//! queue before the engine. Token totals should agree; where they differ by more than requests
//! in flight at the edges (and warm-ups, which the server counts and we do not) can explain,
//! something else is loading the server, or one side miscounts: that is shown as a warning.

use crate::metrics::snapshot::Snapshot;
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
    /// Our median TTFT minus the server's.
    pub ttft_gap_p50_ms: Option<f64>,
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
            ttft_gap_p50_ms: our_p50.zip(server_p50).map(|(a, b)| a - b),
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
                        v(self.ttft_gap_p50_ms)
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
                    ..Default::default()
                },
            ),
            ..ServerRunStats::default()
        }
    }

    #[test]
    fn agreeing_counts_and_the_ttft_gap() {
        let c = Comparison::for_run(&snap(12_800, 100, 0), &server(12_800.0, Some(95.0))).unwrap();
        assert_eq!(c.ttft_gap_p50_ms, Some(25.0));
        assert_eq!(c.warning, None);
        assert_eq!(
            c.lines()[0],
            format!(
                "{:<40} 120.0 / 95.0 (gap 25.0)",
                "TTFT p50 ours / server (ms):"
            )
        );
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
