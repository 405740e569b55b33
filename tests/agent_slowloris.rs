//! `tokscope agent` under a slowloris client: connections that send half a request and wait.
//! With few file descriptors (`ulimit -n 64`), 70 of them used to keep a normal scrape out
//! for as long as they stayed open.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agent with 64 file descriptors; killed on drop.
struct Agent {
    child: Child,
    addr: String,
}

impl Agent {
    fn start() -> Agent {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n 64 && exec '{}' agent --listen 127.0.0.1:0",
                common::bin()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the agent");
        let stderr = child.stderr.take().expect("agent stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the agent printed its address")
                .expect("read");
            if let Some(rest) = line.split("http://").nth(1) {
                break rest
                    .trim_end_matches("/metrics (Ctrl-C to stop)")
                    .to_string();
            }
        };
        // Keep reading its stderr so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Agent { child, addr }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One complete scrape on a fresh connection; the body, or why not, and how long it took.
fn scrape(addr: &str, limit: Duration) -> (Result<String, String>, Duration) {
    let t = Instant::now();
    let result = (|| {
        let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| format!("write: {e}"))?;
        let mut out = String::new();
        s.read_to_string(&mut out)
            .map_err(|e| format!("read: {e}"))?;
        Ok(out)
    })();
    (result, t.elapsed())
}

#[test]
fn half_sent_requests_do_not_starve_a_scrape() {
    let agent = Agent::start();
    let (first, _) = scrape(&agent.addr, Duration::from_secs(20));
    let first = first.expect("the agent answers before the attack");
    assert!(first.contains("tokscope_up"), "{first}");
    // 70 connections that send half a request head and then nothing, held open throughout.
    let mut held = Vec::new();
    for _ in 0..70 {
        let Ok(mut s) = TcpStream::connect(&agent.addr) else {
            break;
        };
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
        held.push(s);
    }
    assert!(held.len() >= 60, "only {} connections opened", held.len());
    std::thread::sleep(Duration::from_millis(200));
    // Prometheus' default scrape timeout is 10 s; the header timeout (5 s) frees the slots.
    let (got, took) = scrape(&agent.addr, Duration::from_secs(20));
    let body = got.unwrap_or_else(|e| panic!("no answer while slowloris held on: {e}"));
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("tokscope_up"), "{body}");
    assert!(took < Duration::from_secs(10), "the scrape took {took:?}");
    drop(held);
}
