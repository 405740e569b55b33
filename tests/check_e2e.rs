//! End to end: `tokscope check` against the simulator, healthy and broken.

mod common;
use common::{run, Mock};

#[test]
fn healthy_server_reports_every_step_and_exits_0() {
    let mock = Mock::start(&["--ttft-ms", "50", "--itl-ms", "5", "--slowdown", "0"]);
    let r = run(&["check", &mock.url]);
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ok    health   HTTP 200"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].starts_with("ok    models   1 model(s): tokscope-sim"),
        "{}",
        r.stdout
    );
    assert!(
        lines[2].starts_with("ok    stream   16 tokens, TTFT "),
        "{}",
        r.stdout
    );
    assert!(lines[2].contains("usage reported"), "{}", r.stdout);
    // The figures match the simulator's settings: TTFT 50 ms (its timers may fire 1 ms early;
    // a first connection and a busy machine add a little), and 15 gaps of 5 ms after the first
    // of 16 tokens, 200 tok/s, within 10%.
    let number_before = |unit: &str| -> f64 {
        let at = lines[2]
            .find(unit)
            .unwrap_or_else(|| panic!("no '{unit}': {}", lines[2]));
        lines[2][..at]
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number before '{unit}': {}", lines[2]))
    };
    let ttft = number_before(" ms,");
    assert!((49.0..75.0).contains(&ttft), "TTFT {ttft}: {}", lines[2]);
    let tps = number_before(" tok/s");
    assert!((180.0..=220.0).contains(&tps), "{tps} tok/s: {}", lines[2]);
    assert!(
        lines[3].starts_with("ok    metrics  vllm: running "),
        "{}",
        r.stdout
    );
    assert_eq!(lines.last().copied(), Some("all good"));
}

#[test]
fn json_output_names_each_step() {
    let mock = Mock::start(&["--ttft-ms", "5", "--itl-ms", "1"]);
    let r = run(&["check", &mock.url, "--json", "--max-tokens", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], true);
    let names: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["health", "models", "stream", "metrics"]);
    assert!(v["steps"][2]["detail"]
        .as_str()
        .unwrap()
        .starts_with("4 tokens"));
}

#[test]
fn a_closed_port_fails_at_once_with_the_reason() {
    let r = run(&["check", "http://127.0.0.1:1", "--timeout", "5"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("fail  health   cannot connect to http://127.0.0.1:1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.trim_end().ends_with("NOT OK"));
}

#[test]
fn an_unknown_model_and_a_failing_stream_are_failures() {
    let mock = Mock::start(&["--ttft-ms", "5", "--itl-ms", "1"]);
    let r = run(&["check", &mock.url, "--model", "other"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("fail  models   'other' is not served; the server has: tokscope-sim"),
        "{}",
        r.stdout
    );

    let broken = Mock::start(&["--ttft-ms", "5", "--itl-ms", "1", "--fail-500", "1"]);
    let r = run(&["check", &broken.url]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("fail  stream   http_status: HTTP 500"),
        "{}",
        r.stdout
    );
}

#[test]
fn credentials_are_used_and_a_refusal_is_reported() {
    let mock = Mock::start(&["--ttft-ms", "5", "--itl-ms", "1", "--api-key", "s3cret"]);
    let ok = run(&["check", &mock.url, "--api-key", "s3cret"]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let bad = run(&["check", &mock.url, "--api-key", "wrong"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stdout.contains("HTTP 401"), "{}", bad.stdout);
    assert!(
        !bad.stdout.contains("wrong"),
        "the key must never be printed: {}",
        bad.stdout
    );
}
