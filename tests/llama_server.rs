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
    let v = bench(&server.url, "48", "8", &[]);
    let swallowed = server.stats.swallowed.load(Relaxed);
    assert!(swallowed > 0, "the race never happened: no evidence");
    assert_eq!(v["failed"], 0, "errors: {}", v["tokscope"]["errors"]);
    assert_eq!(v["completed"], 48);
    // Each swallowed request was sent once more on a fresh connection, and counted once.
    assert_eq!(v["tokscope"]["retried"], swallowed);
    // The server answered each request exactly once (48 and the probe).
    assert_eq!(server.stats.streams.load(Relaxed), 48 + 1);
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
