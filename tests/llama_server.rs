//! End to end: `bench` and `check` against a server that handles connections, streams and
//! `/metrics` the way llama.cpp's `llama-server` does (see tests/llama_like).

mod common;
mod llama_like;

use common::run;
use llama_like::{LlamaLike, Opts};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

fn bench(url: &str, prompts: &str, concurrency: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bench",
        url,
        "--num-prompts",
        prompts,
        "--max-concurrency",
        concurrency,
        "--random-input-len",
        "32",
        "--random-output-len",
        "8",
        "--ignore-eos",
        "--json",
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    r.json()
}

#[test]
fn a_server_that_closes_after_every_stream_loses_no_request() {
    // The FIN comes 20 ms after each stream: the client reuses the connection first, every
    // time, and the server swallows that request (as llama-server does when it loses the race).
    let server = LlamaLike::start(Opts {
        fin_delay: Duration::from_millis(20),
        ..Opts::default()
    });
    // No probe: the probe and its calibration requests (this server has no vLLM-style
    // /tokenize) would add requests of their own to the server's counts.
    let v = bench(&server.url, "48", "8", &["--no-probe"]);
    let swallowed = server.stats.swallowed.load(Relaxed);
    assert!(swallowed > 0, "the race never happened: no evidence");
    assert_eq!(v["failed"], 0, "errors: {}", v["tokscope"]["errors"]);
    assert_eq!(v["completed"], 48);
    // Each swallowed request was sent once more on a fresh connection, and counted once.
    assert_eq!(v["tokscope"]["retried"], swallowed);
    // The server answered each request exactly once.
    assert_eq!(server.stats.streams.load(Relaxed), 48);
    assert_eq!(v["total_output_tokens"], 48 * 8);
}

#[test]
fn at_llama_server_timing_no_request_fails_at_any_concurrency() {
    let server = LlamaLike::start(Opts::default());
    for c in ["1", "4", "16"] {
        let v = bench(&server.url, "40", c, &[]);
        assert_eq!(
            v["failed"], 0,
            "concurrency {c}: {}",
            v["tokscope"]["errors"]
        );
        assert_eq!(v["completed"], 40, "concurrency {c}");
    }
}

#[test]
fn a_server_closing_idle_connections_is_left_before_it_closes_them() {
    // A server that keeps connections after a stream but closes them after 0.2 s idle, its
    // FIN 0.3 s late: a request every 1/3 s would land on each connection it is closing. The
    // probe's `Keep-Alive: timeout=0.2` makes our pool let idle connections go after 0.1 s.
    let server = LlamaLike::start(Opts {
        close_after_stream: false,
        keep_alive_timeout: Duration::from_millis(200),
        fin_delay: Duration::from_millis(300),
        ..Opts::default()
    });
    let v = bench(
        &server.url,
        "6",
        "1",
        &["--request-rate", "3", "--burstiness", "1000"],
    );
    assert_eq!(v["failed"], 0, "errors: {}", v["tokscope"]["errors"]);
    assert_eq!(v["tokscope"]["retried"], 0);
    assert_eq!(server.stats.swallowed.load(Relaxed), 0);
}

#[test]
fn a_fresh_connection_closed_unanswered_is_a_failure_not_a_retry() {
    // Accepts, reads the request, closes: a server turning requests away. Nothing was reused,
    // so nothing is retried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut &conn, &mut buf);
        }
    });
    let r = run(&[
        "bench",
        &url,
        "--no-probe",
        "--model",
        "m",
        "--num-prompts",
        "4",
        "--max-concurrency",
        "2",
        "--json",
    ]);
    let v = r.json();
    assert_eq!(v["failed"], 4, "stderr: {}", r.stderr);
    assert_eq!(v["tokscope"]["retried"], 0);
    assert!(
        v["tokscope"]["errors"].to_string().contains("SendRequest"),
        "{}",
        v["tokscope"]["errors"]
    );
}

#[test]
fn what_llama_server_says_about_each_request_is_shown_and_saved() {
    let server = LlamaLike::start(Opts::default());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let r = run(&[
        "bench",
        &server.url,
        "--num-prompts",
        "6",
        "--max-concurrency",
        "3",
        "--random-input-len",
        "40",
        "--random-output-len",
        "5",
        "--save-result",
        "--result-dir",
        d,
        "--result-filename",
        "r.json",
    ]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let cached = v["tokscope"]["cached_prompt_tokens"].as_u64().unwrap();
    assert!(cached > 0, "{}", v["tokscope"]);
    let prompt = v["total_input_tokens"].as_u64().unwrap();
    let t = &v["tokscope"]["server_timings"];
    assert_eq!(t["requests"], 6);
    assert_eq!(t["mean_prefill_tok_s"], 2000.0);
    assert_eq!(t["mean_decode_tok_s"], 500.0);
    let table_line = |label: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no '{label}' in\n{}", r.stdout))
            .to_string()
    };
    assert!(table_line("Cached prompt tokens:").contains(&format!("{cached} of {prompt} (")));
    assert!(table_line("Server-timed prefill / decode (tok/s):").ends_with("2000.00 / 500.00"));
    // Its /metrics has no KV-cache gauge: said so, never shown as 0 %.
    assert_eq!(v["tokscope"]["server"]["server"], "llama.cpp");
    assert_eq!(
        v["tokscope"]["server"]["peak_kv_usage"],
        serde_json::Value::Null
    );
    assert!(table_line("Mean / peak KV cache use:").ends_with("n/a / n/a"));
    // Per request: the server reused a quarter of each prompt (the test server's rule).
    let lines = std::fs::read_to_string(dir.path().join("r.requests.jsonl")).unwrap();
    let (mut sum, mut retries) = (0, 0);
    for l in lines.lines().filter(|l| l.contains("\"warmup\":false")) {
        let j: serde_json::Value = serde_json::from_str(l).unwrap();
        let c = j["cached_prompt_tokens"].as_u64().unwrap();
        assert_eq!(c, j["prompt_tokens"].as_u64().unwrap() / 4, "{l}");
        sum += c;
        assert_eq!(j["server_timings"]["predicted_per_second"], 500.0, "{l}");
        // At llama-server's timing a reused connection is lost now and then: once at most.
        let r = j["retries"].as_u64().unwrap();
        assert!(r <= 1, "{l}");
        retries += r;
    }
    assert_eq!(sum, cached);
    assert_eq!(v["tokscope"]["retried"], retries);
}

#[test]
fn check_shows_what_llama_server_has_and_says_kv_cache_is_unknown() {
    let server = LlamaLike::start(Opts::default());
    let r = run(&["check", &server.url, "--max-tokens", "4"]);
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.stdout, r.stderr);
    let line = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no {name} in {}", r.stdout))
            .to_string()
    };
    let stream = line("stream");
    assert!(stream.contains("4 tokens, TTFT"), "{stream}");
    assert!(stream.contains("prompt tokens cached"), "{stream}");
    assert!(
        stream.contains("server-timed prefill 2000.0 / decode 500.0 tok/s"),
        "{stream}"
    );
    let metrics = line("metrics");
    assert!(
        metrics.contains("llama.cpp: running 0, waiting 0, KV cache n/a"),
        "{metrics}"
    );
}
