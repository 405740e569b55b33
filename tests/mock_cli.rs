//! The simulator as users start it: `tokscope mock` from the command line.

mod common;
use common::{http_get, run, Mock};

#[test]
fn mock_serves_models_health_and_vllm_metrics() {
    let mock = Mock::start(&["--model", "demo-model"]);
    assert!(http_get(&format!("{}/v1/models", mock.url)).contains("\"demo-model\""));
    assert!(http_get(&format!("{}/metrics", mock.url)).contains("vllm:num_requests_running"));
}

#[test]
fn bad_mock_flags_are_refused_with_the_value_named() {
    let r = run(&["mock", "--fail-500", "1.5"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("1.5"), "{}", r.stderr);
    let r = run(&["mock", "--listen", "not-an-address"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not-an-address"), "{}", r.stderr);
}
