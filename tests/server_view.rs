//! The server's own view, end to end against `tokscope mock`, whose counters are the truth:
//! the prefix-cache hit rate of a workload with a known shared prefix, the server's token
//! counts and rates, a counter reset mid-run, SGLang's names, and `watch`'s bad inputs.

mod common;
use common::{run, Mock};
use serde_json::Value;
use std::time::Duration;

/// A tokenizer.json that splits on whitespace, as the simulator counts English tokens, with
/// every word of the built-in corpora in its vocabulary (so decoded prompts keep their words):
/// the shared prefix is then exactly `--random-prefix-len` of the simulator's tokens.
fn whitespace_tokenizer(dir: &std::path::Path) -> std::path::PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    for f in ["en.txt", "zh.txt"] {
        let text = std::fs::read_to_string(format!("{root}/assets/corpus/{f}")).unwrap();
        for w in text.split_whitespace() {
            let next = vocab.len();
            vocab.entry(w.to_string()).or_insert(next.into());
        }
    }
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    });
    let p = dir.join("tokenizer.json");
    std::fs::write(&p, tok.to_string()).unwrap();
    p
}

fn bench_json(url: &str, extra: &[&str]) -> Value {
    let mut args = vec!["bench", url, "--json", "--no-gpu", "--max-concurrency", "8"];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "bench failed:\n{}", r.stderr);
    r.json()
}

#[test]
fn prefix_cache_hit_rate_of_a_known_shared_prefix_within_one_point() {
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let tok = whitespace_tokenizer(dir.path());
    let n = 80u64;
    let v = bench_json(
        &mock.url,
        &[
            "--num-prompts",
            &n.to_string(),
            "--random-prefix-len",
            "256",
            "--random-input-len",
            "256",
            "--random-output-len",
            "16",
            "--tokenizer",
            tok.to_str().unwrap(),
            "--no-probe",
        ],
    );
    // The truth: the simulator's own lookups over its life, which (no probe, an exact
    // tokenizer: no calibration requests) is this run.
    let truth = mock.metric("vllm:prefix_cache_hits_total")
        / mock.metric("vllm:prefix_cache_queries_total");
    let reported = v["tokscope"]["server"]["prefix_hit_rate"].as_f64().unwrap();
    assert!(
        (reported - truth).abs() <= 0.01,
        "reported {reported:.4}, the mock's {truth:.4}"
    );
    // And the workload's design: every prompt after the first finds the 256 shared tokens
    // (16 whole blocks) in the cache (random parts may share more: corpus slices repeat).
    let input = v["total_input_tokens"].as_f64().unwrap();
    let floor = 256.0 * (n - 1) as f64 / input;
    assert!(
        reported >= floor - 0.01,
        "reported {reported:.4} under the shared prefix's {floor:.4}"
    );
}

#[test]
fn server_token_counts_and_rates_match_the_mocks() {
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "5"]);
    let v = bench_json(
        &mock.url,
        &[
            "--duration",
            "4",
            "--random-input-len",
            "64",
            "--random-output-len",
            "64",
        ],
    );
    let ts = &v["tokscope"];
    let ours = ts["received"]["output_tokens"].as_f64().unwrap();
    let server = &ts["server"];
    // The mock counts what it streamed; we count what arrived: the same tokens.
    assert_eq!(server["generation_tokens"].as_f64(), Some(ours), "{server}");
    assert!(
        ts["client_vs_server"]["warning"].is_null(),
        "{}",
        ts["client_vs_server"]
    );
    // The per-second series adds up to the same tokens.
    let series = ts["server_series"].as_array().unwrap();
    let mut prev_t = None;
    let mut sum = 0.0;
    for p in series {
        let t = p["t"].as_f64().unwrap();
        if let (Some(t0), Some(r)) = (prev_t, p["generation_tok_s"].as_f64()) {
            sum += r * (t - t0);
        }
        prev_t = Some(t);
    }
    assert!(
        (sum - ours).abs() <= 0.01 * ours + 1.0,
        "series sum {sum} vs {ours}"
    );
    let server_ttft = server["ttft"]["p50_ms"].as_f64().unwrap();
    assert!(
        (15.0..=100.0).contains(&server_ttft),
        "server TTFT p50 {server_ttft}"
    );
}

#[test]
fn a_counter_reset_mid_run_gives_no_spike() {
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "5", "--admin-routes"]);
    let url = mock.url.clone();
    let reset = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(3_500));
        post(&format!("{url}/admin/reset-metrics"))
    });
    let v = bench_json(
        &mock.url,
        &[
            "--duration",
            "7",
            "--random-input-len",
            "64",
            "--random-output-len",
            "64",
        ],
    );
    assert!(
        reset.join().unwrap().starts_with("HTTP/1.1 204"),
        "the reset happened"
    );
    let ts = &v["tokscope"];
    let rates: Vec<f64> = ts["server_series"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["generation_tok_s"].as_f64())
        .collect();
    assert!(rates.len() >= 5, "{rates:?}");
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    for r in &rates {
        assert!(*r >= 0.0, "a negative rate: {rates:?}");
        assert!(
            *r <= 1.5 * median,
            "a spike: {r} against median {median} in {rates:?}"
        );
    }
    // At most the tokens of the interval the reset fell in are unknown to the server's view.
    let ours = ts["received"]["output_tokens"].as_f64().unwrap();
    let server = ts["server"]["generation_tokens"].as_f64().unwrap();
    assert!(
        server <= ours && server >= 0.75 * ours,
        "server {server}, ours {ours}"
    );
}

#[test]
fn sglang_names_give_the_same_tokens_and_its_hit_rate() {
    let mock = Mock::start(&[
        "--ttft-ms",
        "20",
        "--itl-ms",
        "2",
        "--metric-names",
        "sglang",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let tok = whitespace_tokenizer(dir.path());
    let n = 40u64;
    let v = bench_json(
        &mock.url,
        &[
            "--num-prompts",
            &n.to_string(),
            "--random-prefix-len",
            "128",
            "--random-input-len",
            "128",
            "--random-output-len",
            "16",
            "--tokenizer",
            tok.to_str().unwrap(),
            "--no-probe",
        ],
    );
    let server = &v["tokscope"]["server"];
    assert_eq!(server["server"], "sglang");
    assert_eq!(
        server["generation_tokens"].as_f64(),
        v["total_output_tokens"].as_f64(),
        "SGLang counts on finish; after the run they agree"
    );
    let truth =
        mock.metric("sglang:cached_tokens_total") / mock.metric("sglang:prompt_tokens_total");
    let reported = server["prefix_hit_rate"].as_f64().unwrap();
    assert!(
        (reported - truth).abs() <= 0.01,
        "{reported} vs the mock's {truth}"
    );
    let floor = 128.0 * (n - 1) as f64 / v["total_input_tokens"].as_f64().unwrap();
    assert!(reported >= floor - 0.01, "{reported} under {floor}");
}

#[test]
fn watch_rejects_bad_input_in_one_line_with_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["watch"], "error: no server given: pass its URL"),
        (
            &["watch", "localhost:8000"],
            "error: 'localhost:8000' is not an http:// or https:// URL",
        ),
        (
            &["watch", "--metrics", "ftp://x/metrics"],
            "error: --metrics 'ftp://x/metrics' is not an http:// or https:// URL",
        ),
        (
            &["watch", "http://127.0.0.1:9", "--interval", "0"],
            "error: --interval '0' is out of range: use 0.1 to 3600 seconds (default 1)",
        ),
        (
            &["watch", "http://127.0.0.1:9", "--interval", "nan"],
            "error: --interval 'NaN' is out of range",
        ),
    ];
    for (args, want) in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with(want), "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// A bare POST on 127.0.0.1; returns the status line and the rest.
fn post(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
