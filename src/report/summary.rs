//! The end-of-run summary: computed once from the final `Snapshot`, printed as the same table
//! `vllm bench serve` prints (same order and wording, so people can compare by eye), followed by
//! what tokscope adds: TTFO, token-count sources, the error breakdown and GPU energy.

use crate::metrics::latency::{percentile_word, LatencyMetric};
use crate::metrics::snapshot::{Dist, Snapshot};
use serde::Serialize;
use std::fmt::Write;

/// Aggregates over successful requests, as `vllm bench serve` defines them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub completed: u64,
    pub failed: u64,
    pub max_concurrency: Option<u32>,
    pub request_rate: Option<f64>,
    pub duration_s: f64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub request_throughput: f64,
    pub request_goodput: Option<f64>,
    pub output_throughput: f64,
    pub input_throughput: f64,
    pub total_token_throughput: f64,
    pub max_output_tokens_per_s: f64,
    pub max_concurrent_requests: u64,
    pub interrupted: bool,
    /// Requests cut before they finished (a stop, the drain timeout) and what they received.
    pub incomplete: u64,
    pub incomplete_output_tokens: u64,
    /// Every output token that arrived (completed, failed and cut requests), and its rate
    /// over the run: what the dashboard showed live.
    pub received_output_tokens: u64,
    pub received_output_throughput: f64,
}

impl Summary {
    /// `good` is the count of requests meeting every `--goodput` SLO (`None`: no SLOs given).
    pub fn from_snapshot(s: &Snapshot, good: Option<u64>) -> Summary {
        let dur = s.elapsed.as_secs_f64();
        let per_s = |x: f64| if dur > 0.0 { x / dur } else { 0.0 };
        let c = &s.counts;
        Summary {
            completed: c.ok,
            failed: c.failed,
            max_concurrency: s.control.max_concurrency,
            request_rate: s.control.request_rate,
            duration_s: dur,
            total_input_tokens: c.input_tokens,
            total_output_tokens: c.output_tokens,
            request_throughput: per_s(c.ok as f64),
            request_goodput: good.map(|g| per_s(g as f64)),
            output_throughput: per_s(c.output_tokens as f64),
            input_throughput: per_s(c.input_tokens as f64),
            total_token_throughput: per_s((c.input_tokens + c.output_tokens) as f64),
            max_output_tokens_per_s: s.peak_output_tps,
            max_concurrent_requests: s.peak_concurrency,
            interrupted: s.interrupted,
            incomplete: c.incomplete,
            incomplete_output_tokens: c.incomplete_output_tokens,
            received_output_tokens: c.received_output_tokens,
            received_output_throughput: per_s(c.received_output_tokens as f64),
        }
    }
}

fn line(out: &mut String, label: &str, value: impl std::fmt::Display) {
    // vLLM: "{:<40} {:<10}"; trailing spaces trimmed so copied tables stay tidy.
    let l = format!("{label:<40} {value:<10}");
    let _ = writeln!(out, "{}", l.trim_end());
}

fn header(out: &mut String, title: &str, fill: char) {
    let t = format!(" {title} ");
    let n = t.chars().count();
    if n >= 50 {
        let _ = writeln!(out, "{t}");
        return;
    }
    let left = (50 - n) / 2;
    let right = 50 - n - left;
    let f = |k| std::iter::repeat_n(fill, k).collect::<String>();
    let _ = writeln!(out, "{}{}{}", f(left), t, f(right));
}

fn header_plain(out: &mut String, title: &str) {
    // vLLM centres the bare metric header in dashes: "{s:{c}^{n}}" with no spaces added.
    let n = title.chars().count();
    if n >= 50 {
        let _ = writeln!(out, "{title}");
        return;
    }
    let left = (50 - n) / 2;
    let right = 50 - n - left;
    let _ = writeln!(out, "{}{}{}", "-".repeat(left), title, "-".repeat(right));
}

fn metric(out: &mut String, d: &Dist, m: LatencyMetric) {
    let name = m.short();
    header_plain(out, m.title());
    line(out, &format!("Mean {name} (ms):"), format!("{:.2}", d.mean));
    line(
        out,
        &format!("Median {name} (ms):"),
        format!("{:.2}", d.median),
    );
    for (p, v) in &d.percentiles {
        line(
            out,
            &format!("P{} {name} (ms):", percentile_word(*p)),
            format!("{v:.2}"),
        );
    }
}

/// What the server said about each request (llama.cpp): its prefix cache beside the prompt
/// tokens, and its own prefill and decode speeds beside ours. Nothing when it never said.
fn server_said(out: &mut String, s: &Snapshot) {
    let t = &s.counts.server_said;
    if let Some(cached) = t.cached() {
        let pct = if t.cached_of_prompt_tokens > 0 {
            cached as f64 * 100.0 / t.cached_of_prompt_tokens as f64
        } else {
            0.0
        };
        let mut v = format!("{cached} of {} ({pct:.1}%)", t.cached_of_prompt_tokens);
        if t.cached_requests < s.counts.ok {
            let _ = write!(
                v,
                ", {} of {} requests said",
                t.cached_requests, s.counts.ok
            );
        }
        line(out, "Cached prompt tokens:", v);
    }
    let (p, d) = (t.mean_prefill_tok_s(), t.mean_decode_tok_s());
    if p.is_some() || d.is_some() {
        let f = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |v| format!("{v:.2}"));
        line(
            out,
            "Server-timed prefill / decode (tok/s):",
            format!("{} / {}", f(p), f(d)),
        );
    }
}

/// The summary table: vLLM's block first, then tokscope's additions.
/// `extra` sections (e.g. GPU energy) are (title, preformatted lines).
pub fn render_table(sum: &Summary, s: &Snapshot, extra: &[(String, Vec<String>)]) -> String {
    let mut out = String::new();
    header(&mut out, "Serving Benchmark Result", '=');
    line(&mut out, "Successful requests:", sum.completed);
    line(&mut out, "Failed requests:", sum.failed);
    if let Some(c) = sum.max_concurrency {
        line(&mut out, "Maximum request concurrency:", c);
    }
    if let Some(r) = sum.request_rate {
        line(
            &mut out,
            "Request rate configured (RPS):",
            format!("{r:.2}"),
        );
    }
    line(
        &mut out,
        "Benchmark duration (s):",
        format!("{:.2}", sum.duration_s),
    );
    line(&mut out, "Total input tokens:", sum.total_input_tokens);
    line(&mut out, "Total generated tokens:", sum.total_output_tokens);
    line(
        &mut out,
        "Request throughput (req/s):",
        format!("{:.2}", sum.request_throughput),
    );
    if let Some(g) = sum.request_goodput {
        line(&mut out, "Request goodput (req/s):", format!("{g:.2}"));
    }
    line(
        &mut out,
        "Output token throughput (tok/s):",
        format!("{:.2}", sum.output_throughput),
    );
    line(
        &mut out,
        "Peak output token throughput (tok/s):",
        format!("{:.2}", sum.max_output_tokens_per_s),
    );
    line(
        &mut out,
        "Peak concurrent requests:",
        format!("{:.2}", sum.max_concurrent_requests as f64),
    );
    line(
        &mut out,
        "Total Token throughput (tok/s):",
        format!("{:.2}", sum.total_token_throughput),
    );
    for m in LatencyMetric::ALL
        .into_iter()
        .filter(|m| m.in_vllm_summary())
    {
        metric(&mut out, &s.whole[m], m);
    }
    let _ = writeln!(out, "{}", "=".repeat(50));

    // tokscope's additions.
    header(&mut out, "tokscope", '=');
    let ttfo = LatencyMetric::Ttfo;
    if s.counts.reasoning_chunks > 0 || s.whole[ttfo].count != s.whole[LatencyMetric::Ttft].count {
        metric(&mut out, &s.whole[ttfo], ttfo);
    }
    header_plain(&mut out, "Tokens");
    line(
        &mut out,
        "Input token throughput (tok/s):",
        format!("{:.2}", sum.input_throughput),
    );
    server_said(&mut out, s);
    if sum.received_output_tokens != sum.total_output_tokens {
        // Unfinished requests streamed tokens too: the rate the server really delivered.
        line(
            &mut out,
            "Tokens received, all requests:",
            sum.received_output_tokens,
        );
        line(
            &mut out,
            "Output throughput, all received (tok/s):",
            format!("{:.2}", sum.received_output_throughput),
        );
    }
    if sum.incomplete > 0 {
        line(
            &mut out,
            "Incomplete requests (cut):",
            format!(
                "{} ({} tokens received)",
                sum.incomplete, sum.incomplete_output_tokens
            ),
        );
    }
    let ms_per_tok = if sum.output_throughput > 0.0 {
        1000.0 / sum.output_throughput
    } else {
        0.0
    };
    line(
        &mut out,
        "Mean TPOT as tok/s per request:",
        if s.whole[LatencyMetric::Tpot].mean > 0.0 {
            format!("{:.2}", 1000.0 / s.whole[LatencyMetric::Tpot].mean)
        } else {
            "-".into()
        },
    );
    line(
        &mut out,
        "ms per output token (whole run):",
        format!("{ms_per_tok:.2}"),
    );
    line(
        &mut out,
        "Output token counts from:",
        format!(
            "usage {} / counted chunks {}",
            s.counts.output_from_usage, s.counts.output_from_chunks
        ),
    );
    if s.counts.reasoning_chunks > 0 {
        line(&mut out, "Reasoning chunks:", s.counts.reasoning_chunks);
    }
    if s.counts.retried > 0 {
        // The server closed a kept-alive connection as the request went out; each was sent
        // once more and is counted once.
        line(&mut out, "Retried on a new connection:", s.counts.retried);
    }
    if sum.request_rate.is_some() && sum.max_concurrency.is_some() && s.whole.queue.count > 0 {
        // The wait for a concurrency slot after the scheduled arrival (vLLM's client queue).
        header_plain(&mut out, "Client queue");
        line(
            &mut out,
            "Mean client queue (ms):",
            format!("{:.2}", s.whole.queue.mean),
        );
        let p99 = s.whole.queue.p(99.0).unwrap_or(s.whole.queue.max);
        line(&mut out, "P99 client queue (ms):", format!("{p99:.2}"));
    }
    if s.counts.never_sent > 0 {
        let note = crate::metrics::snapshot::never_sent_note(s.counts.never_sent);
        let _ = writeln!(out, "NOTE: {note}");
    }
    if !s.errors.is_empty() {
        header_plain(&mut out, "Errors");
        for e in &s.errors {
            line(&mut out, &format!("{}:", e.kind.label()), e.count);
            let _ = writeln!(out, "  last: {}", e.last_message);
        }
    }
    for (title, rows) in extra {
        header_plain(&mut out, title);
        for l in rows {
            let _ = writeln!(out, "{l}");
        }
    }
    if sum.interrupted {
        let _ = writeln!(
            out,
            "INTERRUPTED: partial result; requests cut before they finished count as incomplete."
        );
    }
    let _ = writeln!(out, "{}", "=".repeat(50));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::snapshot::{Control, Counts, LatencySet};
    use std::time::Duration;

    fn dist(mean: f64, median: f64, p99: f64) -> Dist {
        Dist {
            count: 10,
            mean,
            median,
            percentiles: vec![(99.0, p99)],
            ..Dist::default()
        }
    }

    #[test]
    fn table_matches_vllm_layout() {
        let s = Snapshot {
            elapsed: Duration::from_secs(10),
            control: Control {
                max_concurrency: Some(16),
                request_rate: None,
                paused: false,
            },
            counts: Counts {
                ok: 30,
                failed: 0,
                input_tokens: 15360,
                output_tokens: 7680,
                output_from_usage: 30,
                ..Counts::default()
            },
            whole: LatencySet {
                // TTFT, TTFO, TPOT, ITL, E2EL.
                by_metric: crate::metrics::latency::PerMetric([
                    dist(4970.0, 4900.5, 5100.25),
                    dist(4970.0, 4900.5, 5100.25),
                    dist(394.71, 390.0, 432.37),
                    dist(394.0, 390.0, 440.0),
                    dist(105000.0, 104000.0, 110000.0),
                ]),
                ..LatencySet::default()
            },
            peak_output_tps: 90.0,
            peak_concurrency: 16,
            ..Snapshot::default()
        };
        let sum = Summary::from_snapshot(&s, None);
        assert_eq!(sum.output_throughput, 768.0);
        assert_eq!(sum.total_token_throughput, 2304.0);
        let t = render_table(&sum, &s, &[]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "============ Serving Benchmark Result ============"
        );
        assert_eq!(lines[1], "Successful requests:                     30");
        assert_eq!(lines[2], "Failed requests:                         0");
        assert_eq!(lines[3], "Maximum request concurrency:             16");
        assert_eq!(lines[4], "Benchmark duration (s):                  10.00");
        assert_eq!(lines[8], "Output token throughput (tok/s):         768.00");
        assert_eq!(lines[9], "Peak output token throughput (tok/s):    90.00");
        assert_eq!(lines[10], "Peak concurrent requests:                16.00");
        assert_eq!(
            lines[11],
            "Total Token throughput (tok/s):          2304.00"
        );
        assert_eq!(
            lines[12],
            "---------------Time to First Token----------------"
        );
        assert_eq!(
            lines[13],
            "Mean TTFT (ms):                          4970.00"
        );
        assert_eq!(
            lines[15],
            "P99 TTFT (ms):                           5100.25"
        );
        assert_eq!(
            lines[16],
            "-----Time per Output Token (excl. 1st token)------"
        );
        assert!(t.contains("Output token counts from:                usage 30 / counted chunks 0"));
        assert!(!t.contains("INTERRUPTED"));
        // A server that said nothing about its cache, timings or closed connections: no lines.
        for absent in ["Cached prompt", "Server-timed", "Retried"] {
            assert!(!t.contains(absent), "{absent}");
        }
    }

    #[test]
    fn what_the_server_said_and_retries_get_their_lines() {
        let s = Snapshot {
            elapsed: Duration::from_secs(10),
            counts: Counts {
                ok: 4,
                retried: 3,
                server_said: crate::metrics::snapshot::ServerSaid {
                    cached_requests: 3,
                    cached_tokens: 30,
                    cached_of_prompt_tokens: 120,
                    decode_requests: 4,
                    decode_tok_s_sum: 200.0,
                    ..Default::default()
                },
                ..Counts::default()
            },
            ..Snapshot::default()
        };
        let t = render_table(&Summary::from_snapshot(&s, None), &s, &[]);
        let has = |l: &str| assert!(t.lines().any(|x| x == l), "no '{l}' in\n{t}");
        has("Cached prompt tokens:                    30 of 120 (25.0%), 3 of 4 requests said");
        has("Server-timed prefill / decode (tok/s):   n/a / 50.00");
        has("Retried on a new connection:             3");
    }
}
