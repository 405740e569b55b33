//! The result file of a fixed run, key by key: the typed report must write exactly what the
//! result file held before it existed (tests/fixtures/report/golden_result.json was written by
//! the hand-built JSON of tokscope 0.1 from the same inputs), and scripts written for
//! `vllm bench serve` results must read it.

use serde_json::{json, Value};
use std::sync::Arc;
use tokscope::metrics::recorder::{Detailed, RecorderOutcome};
use tokscope::report::result::RunMeta;
use tokscope::report::summary::Summary;
use tokscope::telemetry::gpu::stats::EnergySource;
use tokscope::telemetry::gpu::{GpuRunStats, GpuRunSummary};
use tokscope::telemetry::server_metrics::{ServerMetrics, ServerRunStats};

const GOLDEN: &str = "tests/fixtures/report/golden_result.json";

fn meta() -> RunMeta {
    RunMeta {
        date: "20261126-060000".into(),
        endpoint_type: "openai-chat".into(),
        label: Some("golden".into()),
        model_id: "tokscope-sim".into(),
        tokenizer_id: None,
        num_prompts: Some(600),
        request_rate: Some(16.0),
        burstiness: 1.0,
        max_concurrency: Some(32),
        metadata: vec![("gpu".into(), "H100".into())],
        config: json!({"base_url": "http://127.0.0.1:8000", "seed": 7}),
    }
}

fn outcome() -> RecorderOutcome {
    RecorderOutcome {
        snapshot: Arc::new(tokscope::tui::fixtures::done()),
        good_requests: 512,
        detailed: Some(Detailed {
            input_lens: vec![100, 120],
            output_lens: vec![64, 70],
            ttfts: vec![0.15, 0.2],
            itls: vec![vec![0.02, 0.021], vec![0.019]],
            start_times: vec![0.0, 0.5],
            errors: vec![String::new(), String::new()],
        }),
        jsonl: Some("/tmp/golden.jsonl".into()),
        jsonl_error: None,
    }
}

fn gpu() -> GpuRunSummary {
    GpuRunSummary {
        gpus: vec![GpuRunStats {
            node: "local".into(),
            key: "GPU-0".into(),
            name: "NVIDIA H100 80GB HBM3".into(),
            samples: 120,
            window_s: 59.5,
            avg_power_w: Some(412.5),
            peak_power_w: Some(690.0),
            peak_memory_bytes: Some(70_000_000_000),
            peak_temperature_c: Some(71.0),
            energy_j: Some(24_543.75),
            energy_source: Some(EnergySource::Counter),
        }],
        total_energy_j: Some(24_543.75),
    }
}

fn server() -> ServerRunStats {
    let page = |running: f64, gen: f64| {
        format!(
            "vllm:num_requests_running{{engine=\"0\"}} {running}\n\
             vllm:num_requests_waiting{{engine=\"0\"}} 2\n\
             vllm:kv_cache_usage_perc{{engine=\"0\"}} 0.25\n\
             vllm:generation_tokens_total{{engine=\"0\"}} {gen}\n\
             vllm:num_preemptions_total{{engine=\"0\"}} 0\n"
        )
    };
    let mut s = ServerRunStats::default();
    s.observe(&ServerMetrics::from_text(&page(30.0, 1000.0)));
    s.observe(&ServerMetrics::from_text(&page(32.0, 90_000.0)));
    s
}

/// The result as the run's end writes it.
fn result() -> Value {
    let out = outcome();
    let summary = Summary::from_snapshot(&out.snapshot, Some(out.good_requests));
    let tokens = summary.received_output_tokens;
    let g = gpu();
    let mut v = tokscope::report::result::build(
        &meta(),
        &summary,
        &out,
        Some(tokscope::faces::headless::gpu_json(&g, tokens)),
    );
    tokscope::faces::headless::add_server_json(&mut v, &server());
    v
}

/// Every key path where `a` and `b` differ.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => differences(&format!("{path}.{k}"), va, vb, out),
                    None => out.push(format!("{path}.{k}: only in the golden file")),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{path}.{k}: not in the golden file"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        // serde_json reads floats to within one unit in the last place, not exactly.
        (Value::Number(x), Value::Number(y))
            if x.as_f64()
                .zip(y.as_f64())
                .is_some_and(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs())) => {}
        _ if a != b => out.push(format!("{path}: golden {a} != now {b}")),
        _ => {}
    }
}

#[test]
fn the_result_matches_the_golden_file_key_by_key() {
    let now = result();
    if std::env::var_os("TOKSCOPE_WRITE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&now).expect("serialises");
        std::fs::write(GOLDEN, text + "\n").expect("golden written");
    }
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(GOLDEN).expect("golden file")).expect("json");
    let mut diffs = Vec::new();
    differences("", &golden, &now, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{} keys differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
