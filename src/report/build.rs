//! Building the run report, in one place, from what a run leaves: the plan's facts (`RunMeta`),
//! the summary of the final snapshot, the recorder's outcome, the GPUs' run window and the
//! server's own view.

use super::result::RunMeta;
use super::run_report::{
    ClientQueue, DetailedLists, ErrorEntry, Extras, GpuReport, Incomplete, Latencies,
    LatencyFigures, Metadata, Rate, Received, RunReport, SecondRow, ServerTimings, TimelineRow,
    TokenCounts,
};
use super::summary::Summary;
use crate::metrics::latency::LatencyMetric;
use crate::metrics::recorder::RecorderOutcome;
use crate::metrics::snapshot::{LatencySet, Snapshot};
use crate::telemetry::gpu::GpuRunSummary;
use crate::telemetry::server_metrics::ServerRunStats;
use serde_json::Value;

/// Milliseconds as the file holds them: rounded to a microsecond.
fn round_ms(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn latencies(set: &LatencySet) -> Latencies {
    Latencies(
        set.named()
            .map(|(m, d)| {
                let f = LatencyFigures {
                    mean: Some(round_ms(d.mean)),
                    median: Some(round_ms(d.median)),
                    std: Some(round_ms(d.std)),
                    percentiles: d
                        .percentiles
                        .iter()
                        .map(|(p, v)| (*p, round_ms(*v)))
                        .collect(),
                };
                (m, f)
            })
            .collect(),
    )
}

impl RunReport {
    /// The report of a finished (or interrupted) run. `gpu` is the GPUs' timed window;
    /// `server` the server's own view (left out when it was never scraped).
    pub fn build(
        meta: &RunMeta,
        sum: &Summary,
        out: &RecorderOutcome,
        gpu: Option<&GpuRunSummary>,
        server: Option<&ServerRunStats>,
    ) -> RunReport {
        let s: &Snapshot = &out.snapshot;
        RunReport {
            date: Some(meta.date.clone()),
            endpoint_type: Some(meta.endpoint_type.clone()),
            backend: Some("tokscope".into()),
            label: meta.label.clone(),
            model_id: Some(meta.model_id.clone()),
            tokenizer_id: meta.tokenizer_id.clone(),
            num_prompts: Some(meta.load.num_prompts.unwrap_or(s.counts.sent)),
            // The load at the end of the run: keys in the dashboard may have changed it (the
            // timeline says when); the flags as given stay in `tokscope.config`.
            request_rate: Some(match meta.load.ramp_up {
                // vLLM writes "inf" for a ramped run and the ramp beside it.
                Some(_) => Rate::Unlimited,
                None => Rate::from_option(s.control.request_rate),
            }),
            burstiness: Some(meta.load.burstiness),
            max_concurrency: s.control.max_concurrency,
            duration: Some(sum.duration_s),
            completed: Some(sum.completed),
            failed: Some(sum.failed),
            total_input_tokens: Some(sum.total_input_tokens),
            total_output_tokens: Some(sum.total_output_tokens),
            request_throughput: Some(sum.request_throughput),
            request_goodput: sum.request_goodput,
            output_throughput: Some(sum.output_throughput),
            total_token_throughput: Some(sum.total_token_throughput),
            max_output_tokens_per_s: Some(sum.max_output_tokens_per_s),
            max_concurrent_requests: Some(sum.max_concurrent_requests),
            ramp_up_strategy: meta.load.ramp_up.map(|r| r.strategy.name().into()),
            ramp_up_start_rps: meta.load.ramp_up.map(|r| r.start_rps),
            ramp_up_end_rps: meta.load.ramp_up.map(|r| r.end_rps),
            latency: latencies(&s.whole),
            detailed: out.detailed.as_ref().map(|d| DetailedLists {
                input_lens: d.input_lens.clone(),
                output_lens: d.output_lens.clone(),
                ttfts: d.ttfts.clone(),
                itls: d.itls.clone(),
                start_times: d.start_times.clone(),
                errors: d.errors.clone(),
            }),
            tokscope: Some(extras(meta, sum, out, gpu, server)),
            metadata: Metadata(
                meta.metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect(),
            ),
        }
    }
}

fn extras(
    meta: &RunMeta,
    sum: &Summary,
    out: &RecorderOutcome,
    gpu: Option<&GpuRunSummary>,
    server: Option<&ServerRunStats>,
) -> Extras {
    let s: &Snapshot = &out.snapshot;
    let said = &s.counts.server_said;
    // Energy covers every token the server produced for us in the window, those of requests
    // cut or failed too: J/token divides by all received tokens.
    let tokens = sum.received_output_tokens;
    Extras {
        version: Some(env!("CARGO_PKG_VERSION").into()),
        interrupted: s.interrupted,
        fatal: s.fatal.clone(),
        input_throughput: Some(sum.input_throughput),
        received: Some(Received {
            output_tokens: s.counts.received_output_tokens,
            input_tokens: s.counts.received_input_tokens,
            output_throughput: sum.received_output_throughput,
        }),
        incomplete: Some(Incomplete {
            requests: s.counts.incomplete,
            output_tokens: s.counts.incomplete_output_tokens,
        }),
        token_counts: Some(TokenCounts {
            output_from_usage: s.counts.output_from_usage,
            output_from_chunks: s.counts.output_from_chunks,
            reasoning_chunks: s.counts.reasoning_chunks,
        }),
        client_queue: Some(ClientQueue {
            mean_ms: s.whole.queue.mean,
            median_ms: s.whole.queue.median,
            p99_ms: s.whole.queue.p(99.0),
        }),
        warmups: Some(s.counts.warmups),
        retried: Some(s.counts.retried),
        cached_prompt_tokens: said.cached(),
        server_timings: (said.prefill_requests > 0 || said.decode_requests > 0).then(|| {
            ServerTimings {
                requests: said.prefill_requests.max(said.decode_requests),
                mean_prefill_tok_s: said.mean_prefill_tok_s(),
                mean_decode_tok_s: said.mean_decode_tok_s(),
            }
        }),
        errors: s
            .errors
            .iter()
            .map(|e| ErrorEntry {
                kind: e.kind.label().into(),
                count: e.count,
                samples: e.samples.clone(),
            })
            .collect(),
        per_second: s
            .series
            .iter()
            .map(|(i, b)| SecondRow {
                t: i as u64,
                output_tokens: b.output_tokens,
                input_tokens: b.input_tokens,
                sent: b.sent,
                ok: b.ok,
                failed: b.failed,
                peak_in_flight: b.peak_in_flight,
                mean_ms: LatencyMetric::ALL
                    .into_iter()
                    .filter_map(|m| Some((m, round_ms(b.mean_latency_ms(m)?))))
                    .collect(),
                gpu_power_w: gpu
                    .and_then(|g| g.power_per_second_w.get(i).copied().flatten())
                    .map(|w| (w * 10.0).round() / 10.0),
            })
            .collect(),
        timeline: s
            .timeline
            .iter()
            .map(|t| TimelineRow {
                t: t.at.as_secs_f64(),
                what: t.what.clone(),
            })
            .collect(),
        config: meta.config.clone(),
        requests_log: out.jsonl.as_ref().map(|p| p.display().to_string()),
        requests_log_error: out.jsonl_error.clone(),
        gpu: gpu.map(|g| GpuReport::new(g, tokens)),
        server: server.filter(|r| r.scrapes > 0).cloned(),
        workload: out.workload.clone(),
        slo_attainment_pct: {
            let timed = sum.completed + sum.failed;
            (sum.request_goodput.is_some() && timed > 0)
                .then(|| out.good_requests as f64 * 100.0 / timed as f64)
        },
        server_series: None,
        client_vs_server: None,
        mode: None,
        sources: Vec::new(),
    }
}
