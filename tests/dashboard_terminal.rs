//! The dashboard in a real terminal (tmux) when the terminal or a signal ends it: the load
//! must stop, the result must be written and the process must be gone within 2 s, with the
//! exit code a shell expects (129 SIGHUP, 130 SIGINT, 143 SIGTERM). The lost-terminal case is
//! the SSH drop the product is used over: `tmux kill-session` closes the terminal under it.
#![cfg(unix)]

mod common;
use common::{bin, Mock};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "tmux is needed for this test (apt-get install tmux)"
        );
        Tmux {
            socket: format!("tokscope-term-{tag}-{}", std::process::id()),
        }
    }
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }
    fn format(&self, f: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", "t", f]).stdout;
        String::from_utf8_lossy(&out).trim().to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The dashboard's process id (its command line starts with the binary's path; the shell
/// that started it does not).
fn dashboard_pid(result_dir: &Path) -> Option<u32> {
    let want = format!("--result-dir {}", result_dir.display());
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        (args.first()? == bin() && args.join(" ").contains(&want)).then_some(pid)
    })
}

fn alive(pid: u32) -> bool {
    // A zombie has finished: only its parent has not collected it yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

struct Started {
    tmux: Tmux,
    _mock: Mock,
    dir: tempfile::TempDir,
    pid: u32,
}

impl Started {
    fn result(&self) -> PathBuf {
        self.dir.path().join("d.json")
    }
    fn rc(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("rc"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Start the dashboard against the simulator in tmux and wait until requests are streaming.
fn start(tag: &str) -> Started {
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "20", "--slowdown", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::new(tag);
    let line = format!(
        "'{}' {} --max-concurrency 4 --no-gpu --result-dir '{}' --result-filename d.json; \
         echo $? > '{}/rc'; sleep 60",
        bin(),
        mock.url,
        dir.path().display(),
        dir.path().display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "120",
        "-y",
        "40",
        &line,
    ]);
    assert!(out.status.success(), "tmux: {out:?}");
    let mut pid = None;
    let ok = common::wait_for(Duration::from_secs(20), || {
        pid = pid.or_else(|| dashboard_pid(dir.path()));
        pid.is_some() && tmux.screen().contains("in flight  4 of 4")
    });
    assert!(ok, "the dashboard did not start:\n{}", tmux.screen());
    Started {
        tmux,
        _mock: mock,
        dir,
        pid: pid.unwrap(),
    }
}

/// Wait for the process to end; return how long it took.
fn wait_gone(pid: u32) -> Duration {
    let t = Instant::now();
    while alive(pid) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "still running 10 s later");
    t.elapsed()
}

fn assert_result_written(s: &Started) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.result()).expect("result written"))
            .expect("result is JSON");
    assert_eq!(v["tokscope"]["interrupted"], true, "{v}");
}

#[test]
fn a_lost_terminal_stops_the_load_and_writes_the_result() {
    let s = start("lost");
    s.tmux.cmd(&["kill-session", "-t", "t"]);
    let took = wait_gone(s.pid);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_result_written(&s);
}

fn signal_case(signal: &str, code: i32) {
    let s = start(&signal[1..].to_ascii_lowercase());
    let _ = Command::new("kill")
        .args([signal, &s.pid.to_string()])
        .status();
    let took = wait_gone(s.pid);
    assert!(took < Duration::from_secs(2), "{signal}: took {took:?}");
    assert!(common::wait_for(Duration::from_secs(5), || s
        .rc()
        .is_some()));
    assert_eq!(s.rc(), Some(code), "{signal}");
    assert_result_written(&s);
    // The terminal was given back: normal screen, cursor shown, the summary printed on it.
    assert_eq!(
        s.tmux.format("#{alternate_on} #{cursor_flag}"),
        "0 1",
        "{signal}"
    );
    assert!(
        s.tmux.screen().contains("INTERRUPTED"),
        "{}",
        s.tmux.screen()
    );
}

#[test]
fn sigint_from_outside_stops_with_130() {
    signal_case("-INT", 130);
}

#[test]
fn sigterm_stops_with_143() {
    signal_case("-TERM", 143);
}

#[test]
fn sighup_stops_with_129() {
    signal_case("-HUP", 129);
}

/// `s` mid-run writes the result quitting writes: the same keys at the top and under
/// "tokscope", the GPU and server blocks included (it used to leave both out).
#[test]
fn s_writes_the_same_result_as_quitting() {
    let dir = tempfile::tempdir().unwrap();
    let lib = common::fake_nvml(dir.path());
    let mock = Mock::start(&["--ttft-ms", "20", "--itl-ms", "20", "--slowdown", "0"]);
    let tmux = Tmux::new("save");
    let line = format!(
        "TOKSCOPE_NVML_LIB='{}' '{}' {} --max-concurrency 2 --random-output-len 20 --gpu-interval 0.2 \
         --goodput ttft:1000 --result-dir '{}' --result-filename d.json; sleep 60",
        lib.display(),
        bin(),
        mock.url,
        dir.path().display()
    );
    assert!(tmux
        .cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "120",
            "-y",
            "40",
            &line
        ])
        .status
        .success());
    let result = dir.path().join("d.json");
    // A few requests finished and a GPU reading or two, then `s`.
    assert!(common::wait_for(Duration::from_secs(20), || {
        tmux.screen().contains("pwr 250/300W") && mock.metric("vllm:request_success_total") >= 4.0
    }));
    tmux.cmd(&["send-keys", "-t", "t", "s"]);
    assert!(common::wait_for(Duration::from_secs(10), || result.exists()));
    let saved_shown = common::wait_for(Duration::from_secs(10), || tmux.screen().contains("saved"));
    assert!(saved_shown, "{}", tmux.screen());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    tmux.cmd(&["send-keys", "-t", "t", "q"]);
    // The last line the dashboard prints names the result it wrote on quitting.
    assert!(common::wait_for(Duration::from_secs(10), || tmux
        .screen()
        .contains("result: ")));
    let quit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.extend(
            v["tokscope"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| format!("tokscope.{k}")),
        );
        k.sort();
        k
    };
    assert_eq!(keys(&saved), keys(&quit));
    for block in ["gpu", "server"] {
        assert!(
            saved["tokscope"][block].is_object(),
            "no {block} block in {saved}"
        );
    }
    assert!(saved["request_goodput"].as_f64().unwrap() > 0.0, "{saved}");
    let power = saved["tokscope"]["gpu"]["gpus"][0]["avg_power_w"].as_f64();
    assert!(
        power.is_some_and(|w| (w - 250.0).abs() < 1e-6),
        "{}",
        saved["tokscope"]["gpu"]
    );
}
