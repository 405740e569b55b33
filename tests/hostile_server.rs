//! The real binary against a hostile server (`tests/hostile/`): a line that never ends, a flood
//! that never finishes, escape sequences in every string the server controls. Bounds are wide
//! on purpose (seconds where the correct code takes milliseconds, and the broken code minutes).

mod common;
mod hostile;

use hostile::{Behaviour, Hostile, Stream};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What one finished child left: exit code, outputs, peak RSS and wall time.
struct Finished {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The largest VmHWM read from /proc while it ran (0 if it ended before the first look).
    max_rss_kib: u64,
    wall: Duration,
}

impl Finished {
    fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(common::bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tokscope")
}

/// The child's peak RSS so far, from /proc. Not `wait4`'s ru_maxrss: that one also counts the
/// parent's (this test process's) peak, which the child inherits at spawn.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -TERM failed");
}

/// Wait for `child` at most `limit` (then kill it and fail), reading its outputs and sampling
/// its peak RSS meanwhile.
fn finish(mut child: Child, started: Instant, limit: Duration) -> Finished {
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut out);
            }
            out
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let mut rss = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            rss = rss.max(kib);
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit:?}: the hostile server held the client (stderr: {})",
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        max_rss_kib: rss,
        wall: started.elapsed(),
    }
}

fn bench_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "bench",
        url,
        "--num-prompts",
        "1",
        "--max-concurrency",
        "1",
        "--json",
    ];
    v.extend_from_slice(extra);
    v
}

/// Three seconds of requests one after another, each meeting the hostile answer: long enough
/// to sample the peak RSS of the steady state, and to show it does not grow per request.
fn three_seconds(url: &str) -> Vec<&str> {
    vec![
        "bench",
        url,
        "--model",
        "m",
        "--no-probe",
        "--duration",
        "3",
        "--max-concurrency",
        "1",
        "--json",
    ]
}

const LINE: usize = 64 << 20;

/// A 64 MiB line without a newline used to cost quadratic time (every read rescanned the
/// buffer: over 60 s for this debug binary, 16-24 s and 149 MB for the release one, 400 s for
/// 200 MB) and memory as large as the line. Now the request
/// fails as malformed once the line passes the cap, in linear time and bounded memory.
#[test]
fn a_line_that_never_ends_fails_fast_in_bounded_memory() {
    let server = Hostile::start(Behaviour::new(Stream::LongLine(LINE)));
    let t = Instant::now();
    let child = spawn(&three_seconds(&server.url));
    let done = finish(child, t, Duration::from_secs(60));
    let out = done.text();
    assert_eq!(done.code, 1, "every request failed, so exit 1: {out}");
    assert!(done.wall < Duration::from_secs(20), "took {:?}", done.wall);
    assert!(done.max_rss_kib > 0, "RSS never sampled");
    // The debug binary idles at ~30 MiB; holding the 64 MiB line would put it past 94 MiB.
    // The client may hold at most the cap (4 MiB) of it, plus the allocator's slack.
    assert!(
        done.max_rss_kib < 80 * 1024,
        "peak RSS {} KiB for a capped line: {out}",
        done.max_rss_kib
    );
    let v: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON result");
    assert_eq!(v["completed"], 0, "{out}");
    let errors = v["tokscope"]["errors"].to_string();
    assert!(errors.contains("malformed_chunk"), "{errors}");
    assert!(errors.contains("without a newline"), "{errors}");
    // Each request hung up long before the server had sent it all (sockets buffer a few MiB).
    let sent = server.streamed.load(Ordering::Relaxed);
    let failed = v["failed"].as_u64().unwrap_or(0);
    assert!(failed >= 1, "{out}");
    assert!(
        sent / failed < (LINE as u64) / 2,
        "server streamed {sent} bytes to {failed} requests"
    );
    eprintln!(
        "long line: wall {:?}, peak RSS {} KiB, server sent {} KiB",
        done.wall,
        done.max_rss_kib,
        sent / 1024
    );
}

/// A 64 MiB error body (HTTP 500) is read only as far as its message needs.
#[test]
fn a_huge_error_body_is_not_buffered() {
    let mut body = b"upstream exploded: ".to_vec();
    body.resize(LINE, b'x');
    let server = Hostile::start(Behaviour::new(Stream::Status(500, body)));
    let t = Instant::now();
    let child = spawn(&three_seconds(&server.url));
    let done = finish(child, t, Duration::from_secs(60));
    let out = done.text();
    assert_eq!(done.code, 1, "{out}");
    assert!(done.wall < Duration::from_secs(20), "took {:?}", done.wall);
    assert!(done.max_rss_kib > 0, "RSS never sampled");
    // As above: ~30 MiB idle, past 94 MiB if the body were held whole.
    assert!(
        done.max_rss_kib < 80 * 1024,
        "peak RSS {} KiB for a 64 MiB error body: {out}",
        done.max_rss_kib
    );
    let v: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON result");
    let errors = v["tokscope"]["errors"].to_string();
    assert!(
        errors.contains("HTTP 500: upstream exploded: xxx"),
        "{errors}"
    );
    eprintln!(
        "error body: wall {:?}, peak RSS {} KiB",
        done.wall, done.max_rss_kib
    );
}

/// A stream that never ends but always has bytes ready must not starve `--timeout`. A guard
/// for the per-read yield in the client: this one passed before it too (here the client keeps
/// up with the socket, so the body stream still returns pending now and then).
#[test]
fn timeout_wins_over_an_endless_flood() {
    let server = Hostile::start(Behaviour::new(Stream::HeavyFlood(1 << 20)));
    let t = Instant::now();
    let child = spawn(&bench_args(
        &server.url,
        &["--model", "m", "--no-probe", "--timeout", "2"],
    ));
    let done = finish(child, t, Duration::from_secs(60));
    let out = done.text();
    assert_eq!(done.code, 1, "{out}");
    assert!(done.wall < Duration::from_secs(20), "took {:?}", done.wall);
    let v: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON result");
    assert!(
        v["tokscope"]["errors"].to_string().contains("timeout"),
        "{out}"
    );
}

/// SIGTERM while the server streams endless lines (one request after another for 60 s):
/// exit 143 with the interrupted result within seconds. Before the fix the request task sat in
/// a quadratic rescan without ever yielding, so the signal was honoured only when the line ended.
#[test]
fn sigterm_wins_over_a_line_that_never_ends() {
    let server = Hostile::start(Behaviour::new(Stream::LongLine(LINE)));
    let t = Instant::now();
    let child = spawn(&[
        "bench",
        &server.url,
        "--model",
        "m",
        "--no-probe",
        "--duration",
        "60",
        "--max-concurrency",
        "1",
        "--json",
    ]);
    // Wait until the line is really flowing into the client.
    assert!(common::wait_for(Duration::from_secs(20), || server
        .streamed
        .load(Ordering::Relaxed)
        > 8 << 20));
    let signalled = Instant::now();
    sigterm(&child);
    let done = finish(child, t, Duration::from_secs(60));
    let out = done.text();
    let after = signalled.elapsed();
    assert_eq!(done.code, 143, "{out}");
    assert!(
        after < Duration::from_secs(10),
        "exit {after:?} after SIGTERM"
    );
    let v: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON result");
    assert_eq!(v["tokscope"]["interrupted"], true, "{out}");
}

/// The same for a flood of valid chunks that never ends (a guard, as the timeout one above).
#[test]
fn sigterm_wins_over_an_endless_flood() {
    let server = Hostile::start(Behaviour::new(Stream::HeavyFlood(1 << 20)));
    let t = Instant::now();
    let child = spawn(&bench_args(&server.url, &["--model", "m", "--no-probe"]));
    assert!(common::wait_for(Duration::from_secs(20), || server
        .streamed
        .load(Ordering::Relaxed)
        > 8 << 20));
    let signalled = Instant::now();
    sigterm(&child);
    let done = finish(child, t, Duration::from_secs(60));
    let out = done.text();
    assert_eq!(done.code, 143, "{out}");
    assert!(signalled.elapsed() < Duration::from_secs(10), "{out}");
}

/// A 20 MB Prometheus page of valid vLLM lines (the size that took bench to 465 MB).
fn huge_metrics_page() -> Vec<u8> {
    let line = "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 1\n";
    line.repeat((20 << 20) / line.len()).into_bytes()
}

/// Every reader of a Prometheus page refuses one past the cap, and stops reading it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_metrics_page_is_refused_not_buffered() {
    let mut b = Behaviour::new(Stream::Text("hi".into()));
    b.metrics = Some(huge_metrics_page());
    let server = Hostile::start(b);
    // The server's own /metrics, as bench and the dashboard scrape it.
    assert_eq!(
        tokscope::telemetry::server_metrics::scrape(&server.url).await,
        None
    );
    // The remote GPU page reader (it blocks: its own thread and runtime).
    let url = format!("{}/metrics", server.url);
    let got = tokio::task::spawn_blocking(move || {
        use tokscope::telemetry::gpu::GpuSource;
        let mut src = tokscope::telemetry::gpu::remote::RemoteSource::new(
            "n".into(),
            url,
            Duration::from_secs(10),
        );
        src.sample()
    })
    .await
    .expect("join");
    let err = got.expect_err("a 20 MB page is refused");
    assert!(err.contains("sent more than 4 MiB"), "{err}");
    // Each reader stopped soon after the cap (plus what the sockets buffered), not at 20 MB.
    let sent = server.streamed.load(Ordering::Relaxed);
    assert!(
        sent < 2 * (12 << 20),
        "the server sent {sent} bytes to two readers"
    );
}

/// What a hostile server puts in every string it controls: retitle the terminal, clear it.
const EVIL: &str = "\u{1b}]0;pwned\u{7}evil\u{1b}[2J";
/// How it must look once printed.
const SHOWN: &str = "^[]0;pwned^Gevil^[[2J";

/// No raw ESC byte anywhere in the output, and the sanitized form where `needle` says.
fn assert_clean(r: &common::Run, needle: &str) {
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !all.contains('\u{1b}'),
        "a raw ESC reached the terminal:\n{}",
        all.escape_debug()
    );
    assert!(all.contains(needle), "'{needle}' not shown in:\n{all}");
}

#[test]
fn escape_sequences_in_model_ids_and_answers_are_shown_sanitized() {
    let mut b = Behaviour::new(Stream::Text(format!("hi {EVIL}")));
    b.model_id = EVIL.into();
    let server = Hostile::start(b);
    let r = common::run(&["bench", &server.url, "--num-prompts", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean(&r, &format!("model '{SHOWN}'"));
    let r = common::run(&["check", &server.url]);
    assert_clean(&r, &format!("1 model(s): {SHOWN}"));
    assert!(r.stdout.contains(&format!("'hi {SHOWN}'")), "{}", r.stdout);
    assert!(r.stdout.contains("finish 'stop^[[2J'"), "{}", r.stdout);
}

#[test]
fn escape_sequences_in_http_error_bodies_are_shown_sanitized() {
    let body = format!("<html><body>upstream {EVIL}</body></html>");
    let server = Hostile::start(Behaviour::new(Stream::Status(500, body.into_bytes())));
    // The probe fails: a setup error on stderr.
    let r = common::run(&["bench", &server.url, "--num-prompts", "1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_clean(&r, &format!("HTTP 500: upstream {SHOWN}"));
    // Without the probe: the error table on stdout.
    let r = common::run(&["bench", &server.url, "--num-prompts", "1", "--no-probe"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_clean(&r, &format!("HTTP 500: upstream {SHOWN}"));
    let r = common::run(&["check", &server.url]);
    assert_clean(&r, &format!("HTTP 500: upstream {SHOWN}"));
}

#[test]
fn escape_sequences_in_stream_error_messages_are_shown_sanitized() {
    let server = Hostile::start(Behaviour::new(Stream::ErrorEvent(format!(
        "bad\nrequest {EVIL}"
    ))));
    let r = common::run(&["bench", &server.url, "--num-prompts", "1", "--no-probe"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // One line: the newline became a space.
    assert_clean(&r, &format!("error event: bad request {SHOWN}"));
    let r = common::run(&["check", &server.url]);
    assert_clean(&r, &format!("error event: bad request {SHOWN}"));
}
