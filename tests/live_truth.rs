//! The live view tells the truth on slow streams and cut runs, against the simulator: TTFT is
//! in the snapshot as soon as the first token arrives (not when the request finishes), a timed
//! run drains or cuts its last requests as told, and every token that arrived is counted, so
//! our total matches the simulator's own counter.

mod common;
use clap::Parser;
use common::{run, Mock};
use std::time::{Duration, Instant};
use tokscope::metrics::latency::LatencyMetric;

fn f(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut x = v;
    for k in path {
        x = &x[*k];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

/// A slow server (PP=2 GB10 pace): the first token after 300 ms, then one every 285 ms, so a
/// request of 40 tokens takes 11 s. TTFT must be on the screen within one publish (100 ms) of
/// the first token, long before any request completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_is_live_within_one_publish_of_the_first_token() {
    let mock = tokscope::mock::start(tokscope::mock::MockConfig {
        listen: "127.0.0.1:0".into(),
        ttft: Duration::from_millis(300),
        itl: Duration::from_millis(285),
        output_len: 40,
        slowdown: 0.0,
        ..tokscope::mock::MockConfig::default()
    })
    .await
    .unwrap();
    let cli = tokscope::cli::Cli::parse_from([
        "tokscope",
        "bench",
        "--max-concurrency",
        "4",
        "--num-prompts",
        "4",
        "--random-output-len",
        "40",
        "--random-input-len",
        "64",
        "--no-probe",
        "--no-gpu",
        "--model",
        "tokscope-sim",
    ]);
    let Some(tokscope::cli::Command::Bench(args)) = cli.command else {
        unreachable!()
    };
    let plan = args
        .load
        .to_plan(None, tokscope::cli::PlanDefaults::default())
        .unwrap();
    let prepared = tokscope::runner::prepare(&mock.base_url(), &plan, true)
        .await
        .unwrap();
    let running = tokscope::runner::start(prepared, false);
    let mut rx = running.snapshots.clone();
    let t0 = Instant::now();
    let seen = loop {
        rx.changed().await.unwrap();
        let s = rx.borrow_and_update().clone();
        if s.whole[LatencyMetric::Ttft].count > 0 {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "no TTFT after 5 s");
    };
    // First token at about 300 ms; published within 100 ms of it (plus scheduling slack).
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "TTFT seen after {:?}",
        t0.elapsed()
    );
    assert_eq!(seen.counts.ok, 0, "no request has finished yet");
    assert!(
        seen.whole[LatencyMetric::Ttft].mean >= 299.0,
        "TTFT {}",
        seen.whole[LatencyMetric::Ttft].mean
    );
    assert!(seen.counts.received_output_tokens > 0);
    // A little later: ITL samples and a decode speed per stream, still nothing finished.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let s = running.snapshots.borrow().clone();
    assert_eq!(s.counts.ok, 0);
    assert!(
        s.whole[LatencyMetric::Itl].count >= 8,
        "ITL samples: {}",
        s.whole[LatencyMetric::Itl].count
    );
    assert!(
        (s.whole[LatencyMetric::Itl].median - 285.0).abs() < 30.0,
        "ITL {}",
        s.whole[LatencyMetric::Itl].median
    );
    assert_eq!(s.streams.len(), 4);
    let rate = s.streams[0].tokens_per_s.unwrap();
    assert!((rate - 1000.0 / 285.0).abs() < 0.5, "stream rate {rate}");
    let _ = running.commands.send(tokscope::load::engine::Command::Stop);
    let (_, out) = running.done.await.unwrap();
    assert_eq!(out.snapshot.counts.incomplete, 4);
}

/// A timed run with the default drain: the requests in flight at the deadline finish.
#[test]
fn a_timed_run_drains_its_last_requests() {
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "20", "--slowdown", "0"]);
    let r = run(&[
        "bench",
        &mock.url,
        "--duration",
        "1",
        "--max-concurrency",
        "4",
        "--random-output-len",
        "50",
        "--random-input-len",
        "32",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(f(&v, &["tokscope", "incomplete", "requests"]), 0.0);
    // Every request sent finished: 1 s of sending then about 1 s of draining.
    let completed = f(&v, &["completed"]);
    assert!(completed >= 4.0, "{completed}");
    assert_eq!(f(&v, &["total_output_tokens"]), completed * 50.0);
}

/// A short drain timeout cuts the last requests: they count as incomplete, what they
/// received stays in the totals, and our total matches the simulator's own counter.
#[test]
fn a_drain_timeout_cuts_and_keeps_every_token() {
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "20", "--slowdown", "0"]);
    // 500 tokens at 20 ms: 10 s a request; the run sends for 1 s and drains for 0.5 s.
    let r = run(&[
        "bench",
        &mock.url,
        "--duration",
        "1",
        "--drain-timeout",
        "0.5",
        "--max-concurrency",
        "8",
        "--random-output-len",
        "500",
        "--random-input-len",
        "32",
        "--no-probe",
        "--model",
        "tokscope-sim",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(f(&v, &["completed"]), 0.0);
    assert_eq!(f(&v, &["tokscope", "incomplete", "requests"]), 8.0);
    let received = f(&v, &["tokscope", "received", "output_tokens"]);
    let cut = f(&v, &["tokscope", "incomplete", "output_tokens"]);
    assert_eq!(received, cut);
    // 8 streams for about 1.5 s at 50 tokens/s each: about 580 tokens.
    assert!((450.0..700.0).contains(&received), "received {received}");
    let server = mock.metric("vllm:generation_tokens_total");
    // At most a token or two per stream was still on the wire when they were cut.
    assert!(
        server >= received && server - received <= 16.0,
        "server {server}, ours {received}"
    );
    // The run's throughput is what streamed: received / duration.
    let duration = f(&v, &["duration"]);
    let tput = f(&v, &["tokscope", "received", "output_throughput"]);
    assert!(
        (tput - received / duration).abs() / tput < 0.02,
        "{tput} vs {}",
        received / duration
    );
    let timeline = v["tokscope"]["timeline"].to_string();
    assert!(
        timeline.contains("drain timeout: 8 requests still in flight were cut"),
        "{timeline}"
    );
}

/// Ctrl-C in the middle of requests: every token that arrived is ours, matching the server.
#[cfg(unix)]
#[test]
fn an_interrupted_run_keeps_what_arrived() {
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "10", "--slowdown", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(common::bin())
        .args([
            "bench",
            &mock.url,
            "--max-concurrency",
            "6",
            "--num-prompts",
            "1000",
        ])
        .args([
            "--random-output-len",
            "300",
            "--random-input-len",
            "32",
            "--save-result",
        ])
        .args([
            "--result-dir",
            dir.path().to_str().unwrap(),
            "--result-filename",
            "i.json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // 300 tokens at 10 ms: 3 s a request. Stop after the first wave is half way.
    assert!(common::wait_for(Duration::from_secs(20), || mock
        .metric("vllm:generation_tokens_total")
        > 16.0 + 6.0 * 150.0));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("i.json")).unwrap()).unwrap();
    let received = f(&v, &["tokscope", "received", "output_tokens"]);
    // The probe's 16 tokens are the server's too, but not part of the run.
    let server = mock.metric("vllm:generation_tokens_total") - 16.0;
    assert!(received >= 900.0, "received {received}");
    assert!(
        server >= received && server - received <= 12.0,
        "server {server}, ours {received}"
    );
    assert_eq!(f(&v, &["tokscope", "incomplete", "requests"]), 6.0);
}
