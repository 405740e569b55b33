//! The hardening cases of `bench` end to end against the simulator: stopping during warm-ups,
//! a probe against a stuck server, credentials that must never be printed or saved, result
//! files that must be writable before the run and whole after a `kill -9`, and the open-files
//! limit.

mod common;
use common::{bin, run, Mock};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// SIGINT during a long warm-up ends the run at once (it used to wait for every warm-up).
#[cfg(unix)]
#[test]
fn sigint_during_warmups_stops_at_once_with_a_result() {
    let mock = Mock::start(&["--ttft-ms", "50", "--itl-ms", "50", "--slowdown", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(bin())
        .args([
            "bench",
            &mock.url,
            "--num-warmups",
            "100",
            "--max-concurrency",
            "2",
        ])
        .args([
            "--num-prompts",
            "10",
            "--random-output-len",
            "20",
            "--save-result",
        ])
        .args([
            "--result-dir",
            dir.path().to_str().unwrap(),
            "--result-filename",
            "w.json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Each warm-up takes about 1 s (20 tokens at 50 ms): 100 of them at 2 at a time, 50 s.
    // The probe makes 16 tokens; more means the warm-ups are under way.
    assert!(common::wait_for(Duration::from_secs(20), || mock
        .metric("vllm:generation_tokens_total")
        > 17.0));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(out.status.code(), Some(130));
    let v = read_json(&dir.path().join("w.json"));
    assert_eq!(v["tokscope"]["interrupted"], true);
    assert_eq!(v["completed"], 0);
    let timeline = v["tokscope"]["timeline"].to_string();
    assert!(
        timeline.contains("stopped during the warm-ups"),
        "{timeline}"
    );
}

/// A server that never answers the probe costs one --timeout, not three, and says so.
#[test]
fn a_stuck_server_fails_the_probe_after_one_timeout() {
    let mock = Mock::start(&["--stall", "1", "--stall-ms", "60000", "--ttft-ms", "1"]);
    let t = Instant::now();
    let r = run(&[
        "bench",
        &mock.url,
        "--model",
        "tokscope-sim",
        "--timeout",
        "1",
    ]);
    let took = t.elapsed();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(took < Duration::from_secs(3), "took {took:?}: {}", r.stderr);
    assert!(
        r.stderr
            .contains("got no complete answer within --timeout 1 s"),
        "{}",
        r.stderr
    );
}

/// A 401 on /v1/models is about credentials, not about --model.
#[test]
fn refused_credentials_on_the_model_list_say_so() {
    let mock = Mock::start(&["--api-key", "right"]);
    let r = run(&[
        "bench",
        &mock.url,
        "--api-key",
        "wrong",
        "--num-prompts",
        "1",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the server refused the credentials on")
            && r.stderr.contains("HTTP 401")
            && r.stderr.contains("set --api-key or OPENAI_API_KEY"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("Pass --model"), "{}", r.stderr);
}

/// Credentials in the URL reach the server but never the output or the files.
#[test]
fn credentials_in_the_url_are_never_printed_or_saved() {
    let mock = Mock::start(&["--ttft-ms", "1", "--itl-ms", "1"]);
    let port = mock.url.rsplit(':').next().unwrap();
    let url = format!("http://user:sk-url-secret@127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let r = run(&[
        "bench",
        &url,
        "--num-prompts",
        "3",
        "--max-concurrency",
        "1",
        "--random-output-len",
        "4",
        "--save-result",
        "--result-dir",
        dir.path().to_str().unwrap(),
        "--result-filename",
        "c.json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files: String = ["c.json", "c.requests.jsonl"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap())
        .collect();
    for (what, text) in [
        ("stdout", &r.stdout),
        ("stderr", &r.stderr),
        ("files", &files),
    ] {
        assert!(!text.contains("sk-url-secret"), "secret in {what}: {text}");
    }
    let v = read_json(&dir.path().join("c.json"));
    assert_eq!(
        v["tokscope"]["config"]["base_url"],
        format!("http://***@127.0.0.1:{port}")
    );
    assert!(r.stderr.contains("http://***@127.0.0.1"), "{}", r.stderr);
}

#[test]
fn the_mock_help_hides_its_api_key() {
    let out = Command::new(bin())
        .args(["mock", "--help"])
        .env("TOKSCOPE_MOCK_API_KEY", "sk-mock-secret")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--api-key"), "{text}");
    assert!(!text.contains("sk-mock-secret"), "{text}");
}

/// A --result-dir that does not exist yet is created before the run: both files land there.
#[test]
fn a_new_result_dir_gets_both_files() {
    let mock = Mock::start(&["--ttft-ms", "1", "--itl-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("new/deeper");
    let r = run(&[
        "bench",
        &mock.url,
        "--num-prompts",
        "3",
        "--random-output-len",
        "4",
        "--max-concurrency",
        "1",
        "--save-result",
        "--result-dir",
        sub.to_str().unwrap(),
        "--result-filename",
        "r.json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(read_json(&sub.join("r.json"))["completed"], 3);
    let lines = std::fs::read_to_string(sub.join("r.requests.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
}

/// A result path that cannot be written is an error before anything is sent.
#[test]
fn an_unwritable_result_path_fails_before_the_run() {
    let mock = Mock::start(&["--ttft-ms", "1", "--itl-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let r = run(&[
        "bench",
        &mock.url,
        "--num-prompts",
        "3",
        "--save-result",
        "--result-dir",
        blocker.join("sub").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: --result-dir: cannot create"),
        "{}",
        r.stderr
    );
    assert_eq!(
        mock.metric("vllm:generation_tokens_total"),
        16.0,
        "only the probe ran"
    );
}

/// `kill -9` in the middle of a fast run leaves only whole lines in the JSONL log.
#[cfg(unix)]
#[test]
fn kill_9_leaves_no_torn_jsonl_line() {
    let mock = Mock::start(&["--ttft-ms", "0", "--itl-ms", "0", "--slowdown", "0"]);
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("k.requests.jsonl");
        let mut child = Command::new(bin())
            .args([
                "bench",
                &mock.url,
                "--num-prompts",
                "1000000",
                "--max-concurrency",
                "32",
            ])
            .args([
                "--random-output-len",
                "2",
                "--random-input-len",
                "8",
                "--save-result",
            ])
            .args([
                "--result-dir",
                dir.path().to_str().unwrap(),
                "--result-filename",
                "k.json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(common::wait_for(Duration::from_secs(20), || {
            std::fs::metadata(&jsonl)
                .map(|m| m.len() > 200_000)
                .unwrap_or(false)
        }));
        child.kill().unwrap();
        child.wait().unwrap();
        let text = std::fs::read_to_string(&jsonl).unwrap();
        assert!(text.ends_with('\n'), "round {round}: torn tail");
        for (i, line) in text.lines().enumerate() {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "round {round}: line {} is not whole: {line:?}",
                i + 1
            );
        }
    }
}

/// Under a low soft limit the hard limit is taken; under a low hard limit, a warning first.
#[cfg(unix)]
#[test]
fn the_open_files_limit_is_raised_or_warned_about() {
    let mock = Mock::start(&[
        "--ttft-ms",
        "20",
        "--itl-ms",
        "5",
        "--slowdown",
        "0",
        "--max-num-seqs",
        "1000",
    ]);
    let bench = |ulimit: &str| {
        let script = format!(
            "ulimit {ulimit} && exec '{}' bench {} --num-prompts 300 --max-concurrency 300 \
             --random-output-len 4 --random-input-len 8",
            bin(),
            mock.url
        );
        let out = Command::new("bash").args(["-c", &script]).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Soft limit 64, hard limit as it was: raised, no warning, nothing fails.
    let (code, stdout, stderr) = bench("-Sn 64");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("open files"), "{stderr}");
    assert!(
        stdout.contains("Failed requests:                         0"),
        "{stdout}"
    );
    // Hard limit 64: the run goes ahead, but the user was told first.
    let (_, _, stderr) = bench("-n 64");
    assert!(
        stderr.contains("warning: 300 requests in flight need about 364 open files, but this process may open only 64 (ulimit -n)"),
        "{stderr}"
    );
}

/// A strict server that rejects a field we sent: the error says which flag sent it and how to
/// leave it out, in `bench` (before the run) and in `check`.
#[test]
fn a_rejected_field_is_turned_into_advice() {
    let mock = Mock::start(&[
        "--reject-field",
        "ignore_eos",
        "--reject-field",
        "stream_options",
    ]);
    let r = run(&["bench", &mock.url, "--ignore-eos", "--num-prompts", "1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Unexpected fields in the request: {'ignore_eos', 'stream_options'}")
            && r.stderr
                .contains("the server rejects the field 'ignore_eos': leave out --ignore-eos")
            && r.stderr
                .contains("the server rejects the field 'stream_options': add --no-stream-usage"),
        "{}",
        r.stderr
    );
    let ok = run(&[
        "bench",
        &mock.url,
        "--no-stream-usage",
        "--num-prompts",
        "2",
        "--random-output-len",
        "4",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let c = run(&["check", &mock.url]);
    assert_ne!(c.code, 0);
    assert!(c.stdout.contains("add --no-stream-usage"), "{}", c.stdout);
    assert_eq!(run(&["check", &mock.url, "--no-stream-usage"]).code, 0);
}

#[test]
fn a_server_that_goes_away_ends_the_run_with_what_was_measured() {
    let mut mock = Mock::start(&["--ttft-ms", "5", "--itl-ms", "5", "--slowdown", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let child = std::process::Command::new(common::bin())
        .args([
            "bench",
            &mock.url,
            "--duration",
            "120",
            "--max-concurrency",
            "2",
            "--random-output-len",
            "8",
            "--stop-when-unreachable",
            "1",
            "--save-result",
            "--result-dir",
            d,
            "--result-filename",
            "r.json",
            "--no-gpu",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = mock.child.kill();
    let _ = mock.child.wait();
    let t0 = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        took < std::time::Duration::from_secs(30),
        "a 120 s run went on for {took:?} against a dead server"
    );
    assert!(
        stderr.contains(
            "error: the server stopped answering: every request for 1 s was refused a connection"
        ),
        "{stderr}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert!(v["completed"].as_u64().unwrap() > 0, "{v}");
    assert!(v["tokscope"]["fatal"]
        .as_str()
        .unwrap()
        .starts_with("the server stopped answering"));
    assert_eq!(v["tokscope"]["interrupted"], true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Serving Benchmark Result"), "{stdout}");
}
