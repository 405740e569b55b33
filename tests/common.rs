//! Helpers for end-to-end tests: start `tokscope mock` on a free port, run the binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tokscope")
}

/// A running `tokscope mock`; killed on drop.
pub struct Mock {
    pub child: Child,
    pub url: String,
}

impl Mock {
    /// Start the simulator with `args` on 127.0.0.1 and a free port.
    pub fn start(args: &[&str]) -> Mock {
        let mut child = Command::new(bin())
            .arg("mock")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tokscope mock");
        let stdout = child.stdout.take().expect("mock stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read mock banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in mock banner: {line:?}"))
            .to_string();
        Mock { child, url }
    }

    /// A metric value from the mock's /metrics page (summed over matching lines).
    pub fn metric(&self, name_with_labels: &str) -> f64 {
        let text = http_get(&format!("{}/metrics", self.url));
        text.lines()
            .filter(|l| l.starts_with(name_with_labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny blocking HTTP GET on 127.0.0.1 (no client crate needed in tests).
pub fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Output of one `tokscope` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn run(args: &[&str]) -> Run {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("run tokscope");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Wait until `f` holds, up to `limit`.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// True when running under CI (`CI` set to anything but empty, `0` or `false`), where every tool
/// a test needs must be installed: a missing one fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Where skip markers go: `$TOKSCOPE_SKIP_DIR` (.ci/run sets it and counts the files), else
/// `target/tmp/skipped`.
pub fn skip_dir() -> std::path::PathBuf {
    std::env::var_os("TOKSCOPE_SKIP_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped"))
}

/// A test cannot run here because `reason` (a tool or file is missing). Under CI that is a
/// failure (CI must install it). Elsewhere the skip is printed (seen with `--nocapture`) and
/// left as a marker file in [`skip_dir`], so it is counted rather than passing in silence.
/// Call it and return.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed test");
    assert!(
        !in_ci(),
        "{test}: {reason}; CI must provide it (see .ci/run)"
    );
    println!("SKIP: {test}: {reason}");
    eprintln!("SKIP: {test}: {reason}");
    let dir = skip_dir();
    let _ = std::fs::create_dir_all(&dir);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let _ = std::fs::write(
        dir.join(format!("{file}.{}.{n}", std::process::id())),
        format!("{test}: {reason}\n"),
    );
}

/// Build the fake NVML library (tests/fakes/fake_nvml.c) into `dir`; needs `cc`.
pub fn fake_nvml(dir: &std::path::Path) -> std::path::PathBuf {
    let lib = dir.join("libnvidia-ml.so.1");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/fake_nvml.c");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O0", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .expect("cc is needed for the fake NVML library (apt-get install gcc)");
    assert!(built.success(), "cc failed on {}", src.display());
    lib
}
