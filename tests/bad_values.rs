//! Every numeric flag out of its bounds: exit 2 and one line naming the flag and the value,
//! before anything is sent. The server address is closed on purpose: a value that reached the
//! network would show up as "cannot connect" instead of its own message.

mod common;
use common::run;
use rstest::rstest;

const NOWHERE: &str = "http://127.0.0.1:9";

#[rstest]
#[case(&["--request-rate", "1e-20"], "--request-rate: '1e-20' is less than one request every 10,000 s; use 0.0001 or more")]
#[case(&["--request-rate", "2e6"], "--request-rate: '2e6' requests per second is beyond any server; use 'inf' to send as fast as possible")]
#[case(&["--request-rate", "-1"], "--request-rate: '-1' is not a positive number or 'inf'")]
#[case(&["--request-rate", "NaN"], "--request-rate: 'NaN' is not a positive number or 'inf'")]
#[case(&["--num-warmups", "18446744073709551615"], "--num-warmups: '18446744073709551615' is out of range: use 0 to 10000")]
#[case(&["--max-concurrency", "0"], "--max-concurrency: '0' would never send anything; use 1 or more")]
#[case(&["--max-concurrency", "4000000000"], "--max-concurrency: '4000000000' is out of range: use 1 to 100000")]
#[case(&["--num-prompts", "0"], "--num-prompts: '0' sends nothing; use 1 or more")]
#[case(&["--num-prompts", "18446744073709551615", "--max-concurrency", "1"], "--num-prompts: '18446744073709551615' is out of range: use 1 to 1000000000")]
#[case(&["--num-prompts", "1000000"], "--num-prompts: '1000000' requests at once (infinite --request-rate, no --max-concurrency) is more than 100000 connections; set --max-concurrency or a --request-rate")]
#[case(&["--burstiness", "0"], "--burstiness: '0' is out of range: use 0.001 to 1000 (1 = Poisson arrivals, larger = more regular)")]
#[case(&["--burstiness", "1e300"], "--burstiness: '1e300' is out of range: use 0.001 to 1000 (1 = Poisson arrivals, larger = more regular)")]
#[case(&["--timeout", "1e300"], "--timeout: '1e300' seconds is more than a year; give a smaller value")]
#[case(&["--timeout", "-5"], "--timeout: '-5' must be a positive number of seconds")]
#[case(&["--stop-when-unreachable", "-1"], "--stop-when-unreachable: '-1' must be a positive number of seconds")]
#[case(&["--stop-when-unreachable", "1e9"], "--stop-when-unreachable: '1000000000' seconds is more than a year; give a smaller value")]
#[case(&["--duration", "0"], "--duration: '0' must be a positive number of seconds")]
#[case(&["--duration", "inf"], "--duration: 'inf' seconds is more than a year; give a smaller value")]
#[case(&["--random-input-len", "4000000000"], "--random-input-len: '4000000000' is out of range: at most 1000000 tokens")]
#[case(&["--random-output-len", "0"], "--random-output-len '0' must be at least 1")]
#[case(&["--random-prefix-len", "2000000"], "--random-prefix-len: '2000000' is out of range: at most 1000000 tokens")]
#[case(&["--random-range-ratio", "1.5"], "--random-range-ratio '1.5' is outside [0, 1): e.g. 0.1 draws lengths within ±10%")]
#[case(&["--temperature", "-1"], "--temperature: '-1' is out of range: use 0 or more (e.g. 0.7)")]
#[case(&["--top-p", "1.5"], "--top-p: '1.5' is out of range: use a value above 0 and at most 1")]
#[case(&["--gpu-interval", "1e300"], "--gpu-interval: '1e300' is out of range: use 0.05 to 3600 seconds")]
#[case(&["--gpu-interval", "0"], "--gpu-interval: '0' is out of range: use 0.05 to 3600 seconds")]
#[case(&["--metric-percentiles", "101"], "--metric-percentiles: '101' is outside 0..100")]
fn bench_rejects_out_of_range_values(#[case] flags: &[&str], #[case] want: &str) {
    let mut args = vec!["bench", NOWHERE, "--model", "m"];
    args.extend_from_slice(flags);
    let r = run(&args);
    assert_eq!(r.code, 2, "{flags:?}: stderr {}", r.stderr);
    assert_eq!(r.stderr.trim_end(), format!("error: {want}"), "{flags:?}");
}

#[rstest]
#[case(&["check", NOWHERE, "--timeout", "1e300"], "--timeout: '1e300' is out of range: use a number of seconds above 0 and at most 86400")]
#[case(&["check", NOWHERE, "--max-tokens", "0"], "--max-tokens: '0' asks for nothing; use 1 or more")]
#[case(&["gpu", "--watch", "--gpu-interval", "1e300"], "--gpu-interval: '1e300' is out of range: use 0.05 to 3600 seconds")]
#[case(&["agent", "--gpu-interval", "0.001"], "--gpu-interval: '0.001' is out of range: use 0.05 to 3600 seconds")]
fn other_commands_reject_out_of_range_values(#[case] args: &[&str], #[case] want: &str) {
    let r = run(args);
    assert_eq!(r.code, 2, "{args:?}: stderr {}", r.stderr);
    assert_eq!(r.stderr.trim_end(), format!("error: {want}"), "{args:?}");
}

/// The dashboard checks the same bounds before it touches the terminal.
#[test]
fn the_dashboard_rejects_a_bad_value_before_the_screen_starts() {
    let r = run(&[NOWHERE, "--model", "m", "--request-rate", "1e-20"]);
    assert_eq!(r.code, 2, "stderr {}", r.stderr);
    assert_eq!(
        r.stderr.trim_end(),
        "error: --request-rate: '1e-20' is less than one request every 10,000 s; use 0.0001 or more"
    );
    assert!(
        !r.stdout.contains('\u{1b}'),
        "the terminal was touched: {:?}",
        r.stdout
    );
}
