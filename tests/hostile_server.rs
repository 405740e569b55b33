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
    max_rss_kib: i64,
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

/// Wait for `child` at most `limit` (then kill it and fail), reading its outputs meanwhile.
/// `wait4` gives the child's own peak RSS (ru_maxrss), which /proc cannot once it has exited.
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
    let pid = child.id() as libc::pid_t;
    let (status, rss) = loop {
        let mut status = 0;
        // SAFETY: plain syscall on our own child; `usage` is a zeroed out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage.ru_maxrss);
        }
        assert!(r == 0, "wait4 failed");
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit:?}: the hostile server held the client (stderr: {})",
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Finished {
        code,
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

const LINE: usize = 64 << 20;

/// A 64 MiB line without a newline used to cost quadratic time (every read rescanned the
/// buffer: ~40 s here, 400 s for 200 MB) and memory as large as the line. Now the request
/// fails as malformed once the line passes the cap, in linear time and bounded memory.
#[test]
fn a_line_that_never_ends_fails_fast_in_bounded_memory() {
    let server = Hostile::start(Behaviour::new(Stream::LongLine(LINE)));
    let t = Instant::now();
    let child = spawn(&bench_args(&server.url, &["--model", "m", "--no-probe"]));
    let done = finish(child, t, Duration::from_secs(60));
    let out = done.text();
    assert_eq!(done.code, 1, "every request failed, so exit 1: {out}");
    assert!(done.wall < Duration::from_secs(20), "took {:?}", done.wall);
    // The line alone is 64 MiB; the client may hold at most the cap (4 MiB) of it.
    assert!(
        done.max_rss_kib < 56 * 1024,
        "peak RSS {} KiB for a capped line: {out}",
        done.max_rss_kib
    );
    let v: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON result");
    assert_eq!(v["failed"], 1, "{out}");
    let errors = v["tokscope"]["errors"].to_string();
    assert!(errors.contains("malformed_chunk"), "{errors}");
    assert!(errors.contains("without a newline"), "{errors}");
    // The client hung up long before the server had sent it all (sockets buffer a few MiB).
    let sent = server.streamed.load(Ordering::Relaxed);
    assert!(sent < (LINE as u64) / 2, "server streamed {sent} bytes");
    eprintln!(
        "long line: wall {:?}, peak RSS {} KiB, server sent {} KiB",
        done.wall,
        done.max_rss_kib,
        sent / 1024
    );
}

/// A stream that never ends but always has bytes ready must not starve `--timeout`.
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
    // SAFETY: plain syscall on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
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

/// The same for a flood of valid chunks that never ends.
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
    // SAFETY: plain syscall on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let done = finish(child, t, Duration::from_secs(60));
    let out = done.text();
    assert_eq!(done.code, 143, "{out}");
    assert!(signalled.elapsed() < Duration::from_secs(10), "{out}");
}
