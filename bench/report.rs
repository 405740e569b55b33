//! The cost of `tokscope report` over 100 result files (target: under a second each way):
//! 100 files named on the command line (a 100-way comparison: 100 one-run tables, every ratio,
//! three bar charts of 100 bars and 100 per-second charts), and one sweep folder of 100 steps.
//! All formats are written. Run with `cargo bench --bench report`; it prints the figures.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FILES: usize = 100;
const ROUNDS: usize = 5;

/// 100 copies of a result made with the mock, each with its own label and concurrency.
fn make_results(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("tests/fixtures/report/mock/fast.json")
        .expect("run from the repository root: tests/fixtures/report/mock/fast.json");
    let base: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    (0..FILES)
        .map(|i| {
            let mut v = base.clone();
            v["label"] = serde_json::json!(format!("run-{i:03}"));
            v["max_concurrency"] = serde_json::json!(i + 1);
            v["output_throughput"] = serde_json::json!(500.0 + 7.0 * i as f64);
            let p = dir.join(format!("r{i:03}.json"));
            std::fs::write(&p, serde_json::to_vec(&v).expect("serialise")).expect("write");
            p.display().to_string()
        })
        .collect()
}

fn time_report(args: &[String], out: &Path) -> Duration {
    let mut best = Duration::MAX;
    let mut all = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let _ = std::fs::remove_dir_all(out);
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_tokscope"))
            .arg("report")
            .args(args)
            .args(["--format", "md,html,csv,json", "-o"])
            .arg(out)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run tokscope report");
        let took = t.elapsed();
        assert!(status.success(), "report failed");
        best = best.min(took);
        all.push(took);
    }
    all.sort();
    println!(
        "    best {:.0} ms, median {:.0} ms over {ROUNDS} rounds",
        best.as_secs_f64() * 1000.0,
        all[ROUNDS / 2].as_secs_f64() * 1000.0
    );
    all[ROUNDS / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and
    // a benchmark is not a test, so there it only says how to run it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("report benchmark not run (no --bench): cargo bench --bench report");
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let files_dir = work.path().join("files");
    std::fs::create_dir(&files_dir).expect("mkdir");
    let files = make_results(&files_dir);
    println!("tokscope report over {FILES} result files, all formats:");
    println!("  {FILES} files on the command line (a comparison):");
    let a = time_report(&files, &work.path().join("out-a"));
    println!("  one sweep folder of {FILES} steps:");
    let b = time_report(
        &[files_dir.display().to_string()],
        &work.path().join("out-b"),
    );
    let verdict = if a.max(b) < Duration::from_secs(1) {
        "under"
    } else {
        "OVER"
    };
    println!("target: under 1 s each: {verdict}");
}
