//! The result file of a fixed run, key by key: the typed report must write exactly what the
//! result file held before it existed (tests/fixtures/report/golden_result.json was written by
//! the hand-built JSON of tokscope 0.1 from the same inputs), and scripts written for
//! `vllm bench serve` results must read it.

mod common;

use common::{run, Mock};
use serde_json::{json, Value};
use std::sync::Arc;
use tokscope::metrics::recorder::{Detailed, RecorderOutcome};
use tokscope::report::result::RunMeta;
use tokscope::report::run_report::RunReport;
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
        load: tokscope::plan::LoadPlan {
            num_prompts: Some(600),
            request_rate: Some(16.0),
            burstiness: 1.0,
            max_concurrency: Some(32),
            ..Default::default()
        },
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
        workload: None,
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
        power_per_second_w: vec![Some(400.0), Some(412.5), None, Some(690.0)],
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
    let t0 = std::time::Instant::now();
    let mut l = tokscope::telemetry::server_metrics::series::Ledger::new(1, t0);
    l.tick(t0, &[Some(ServerMetrics::from_text(&page(30.0, 1000.0)))]);
    l.tick(
        t0 + std::time::Duration::from_secs(60),
        &[Some(ServerMetrics::from_text(&page(32.0, 90_000.0)))],
    );
    l.run().clone()
}

/// The result as the run's end writes it.
fn result() -> Value {
    let out = outcome();
    let summary = Summary::from_snapshot(&out.snapshot, Some(out.good_requests));
    let report = RunReport::build(&meta(), &summary, &out, Some(&gpu()), Some(&server()));
    serde_json::to_value(&report).expect("serialises")
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

#[test]
fn the_golden_file_loads_back_with_the_same_type() {
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(GOLDEN).expect("golden file")).expect("json");
    let loaded = RunReport::load(std::path::Path::new(GOLDEN)).expect("loads");
    let back = serde_json::to_value(&loaded).expect("serialises");
    let mut diffs = Vec::new();
    differences("", &golden, &back, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{} keys differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert_eq!(
        loaded.tokscope.and_then(|t| t.gpu).map(|g| g.gpus.len()),
        Some(1)
    );
}

/// What scripts written for `vllm bench serve --save-result` files do: `json.load` and read
/// the keys (those of vLLM's own benchmark plotting and comparison scripts).
const VLLM_READER: &str = r#"
import json, sys
d = json.load(open(sys.argv[1]))
rate = d["request_rate"]
assert rate == "inf" or isinstance(rate, (int, float)), rate
for k in ["completed", "total_input_tokens", "total_output_tokens", "duration",
          "request_throughput", "output_throughput", "total_token_throughput",
          "max_concurrency", "burstiness", "num_prompts", "max_output_tokens_per_s",
          "max_concurrent_requests"]:
    assert k in d, k
for m in ["ttft", "tpot", "itl", "e2el"]:
    for s in ["mean", "median", "std", "p99"]:
        assert isinstance(d[f"{s}_{m}_ms"], float), (s, m)
print("read", d["completed"], d["output_throughput"] > 0, d["p99_ttft_ms"] >= d["median_ttft_ms"])
"#;

#[test]
fn scripts_written_for_vllm_results_read_a_real_run_and_the_golden_file() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(!common::in_ci(), "python3 is required in CI");
        common::skip("python3 not installed");
        return;
    }
    let mock = Mock::start(&["--ttft-ms", "5", "--itl-ms", "2", "--slowdown", "0"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let r = run(&[
        "bench",
        &mock.url,
        "--num-prompts",
        "8",
        "--max-concurrency",
        "2",
        "--random-output-len",
        "6",
        "--save-result",
        "--result-dir",
        d,
        "--result-filename",
        "r.json",
    ]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let real = dir.path().join("r.json");
    for file in [real.as_path(), std::path::Path::new(GOLDEN)] {
        let out = std::process::Command::new("python3")
            .args(["-c", VLLM_READER])
            .arg(file)
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(" True True"), "{stdout}");
    }
    // And our own reader reads the real run with the same type.
    let loaded = RunReport::load(&real).expect("loads");
    assert_eq!(loaded.completed, Some(8));
    assert_eq!(loaded.backend.as_deref(), Some("tokscope"));
    // What the prompts' source did: random prompts, lengths calibrated by the mock's
    // /tokenize, every timed prompt served (plus the probe's and calibration's).
    let w = loaded
        .tokscope
        .and_then(|t| t.workload)
        .expect("workload block");
    assert_eq!(w.dataset, "random");
    assert!(w.prompts_served >= 8, "{w:?}");
    assert_eq!(
        w.token_source,
        tokscope::load::workload::PromptLengths::Calibrated
    );
    assert!(w.calibrations > 0, "{w:?}");
}
