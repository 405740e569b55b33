//! `tokscope report` as a user runs it: golden Markdown and CSV from fixed results made with the
//! mock (tests/fixtures/report/make.sh), the users' own tables (seeds 001 and 002) reproduced
//! row for row, every bad input as one line and exit 2, and a report of fresh runs of the mock.
//! Remake the golden files after a deliberate change with TOKSCOPE_BLESS=1 (never under CI).

mod common;

use std::path::{Path, PathBuf};

const MOCK: &str = "tests/fixtures/report/mock";
const GOLDEN: &str = "tests/fixtures/report/golden";

fn report(args: &[&str], out: &Path) -> common::Run {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out.to_str().unwrap()]);
    common::run(&all)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Compare a written file with its golden copy, line by line so a failure shows where.
fn assert_golden(written: &Path, golden: &str) {
    let got = read(written);
    let golden = PathBuf::from(GOLDEN).join(golden);
    if std::env::var_os("TOKSCOPE_BLESS").is_some() && !common::in_ci() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
        return;
    }
    let want = read(&golden);
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(
            g,
            w,
            "{} line {} differs from {}",
            written.display(),
            i + 1,
            golden.display()
        );
    }
    assert_eq!(
        got,
        want,
        "{} differs in length from {}",
        written.display(),
        golden.display()
    );
}

fn golden_case(lang: &str) {
    let out = tempfile::tempdir().unwrap();
    let r = report(
        &[
            &format!("{MOCK}/fast.json"),
            &format!("{MOCK}/slow.json"),
            &format!("{MOCK}/vllm-like.json"),
            &format!("{MOCK}/sweep"),
            "--lang",
            lang,
            "--format",
            "md,csv",
        ],
        out.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_golden(&out.path().join("report.md"), &format!("{lang}/report.md"));
    assert_golden(
        &out.path().join("report.csv"),
        &format!("{lang}/report.csv"),
    );
    // Every chart the Markdown points at was written beside it.
    let md = read(&out.path().join("report.md"));
    for line in md.lines().filter(|l| l.starts_with("![")) {
        let file = line.rsplit_once('(').unwrap().1.trim_end_matches(')');
        let svg = read(&out.path().join(file));
        assert!(
            svg.starts_with("<svg") && svg.contains("Noto Sans CJK SC"),
            "{file}"
        );
    }
}

#[test]
fn golden_markdown_and_csv_in_english() {
    golden_case("en");
}

#[test]
fn golden_markdown_and_csv_in_chinese() {
    golden_case("zh");
}

/// The table rows (`| a | b |` lines) of a Markdown text, without bold marks or separators.
fn table_rows(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| l.replace("**", ""))
        .collect()
}

#[test]
fn seed_001_tables_row_for_row() {
    let out = tempfile::tempdir().unwrap();
    let r = report(
        &[
            "--label",
            "测试 1=tests/fixtures/report/seed001/test1.json",
            "--label",
            "测试 2=tests/fixtures/report/seed001/test2.json",
            "--label",
            "测试 3=tests/fixtures/report/seed001/test3.json",
            "--lang",
            "zh",
            "--format",
            "md",
        ],
        out.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = read(&out.path().join("report.md"));
    let seed = table_rows(&read(Path::new(
        "tests/fixtures/report/seed001/expected.md",
    )));
    for (t, want) in seed.chunks(10).enumerate() {
        let section = format!("### 测试 {}\n", t + 1);
        let at = md.find(&section).unwrap_or_else(|| panic!("no {section}"));
        let got = table_rows(&md[at..]);
        assert_eq!(&got[..10], want, "测试 {}", t + 1);
        // What the hand-made table lacked follows; a vLLM file has no GPU energy: n/a, not 0.
        assert!(got[10..].contains(&"| 每输出 token 能耗 | n/a |".to_string()));
    }
    // The best-value table names the winner of each figure.
    let best = &md[md.find("### 最佳值").unwrap()..];
    assert!(
        best.contains("| 峰值吞吐量 | 264.00 tok/s | 测试 3 |"),
        "{best}"
    );
    assert!(
        best.contains("| 总吞吐量 | 396.00 tok/s | 测试 3 |"),
        "{best}"
    );
    assert!(
        best.contains("| 平均 TPOT | 394.71 ms | 测试 1 |"),
        "{best}"
    );
    // The three tests ran different workloads: the comparison says so.
    assert!(
        md.contains("⚠ '测试 2' 与基线 '测试 1' 的负载不同（input_len 256 vs 512"),
        "{md}"
    );
}

#[test]
fn seed_002_comparison_row_for_row_with_ratio_lines() {
    let out = tempfile::tempdir().unwrap();
    let r = report(
        &[
            "tests/fixtures/report/seed002/tp1.json",
            "tests/fixtures/report/seed002/tp2.json",
            "--lang",
            "zh",
            "--decimals",
            "4",
            "--format",
            "md",
        ],
        out.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = read(&out.path().join("report.md"));
    let expected = read(Path::new("tests/fixtures/report/seed002/expected.md"));
    let mut lines = expected
        .lines()
        .filter(|l| !l.starts_with("<!--") && !l.is_empty());
    let table: Vec<&str> = lines.by_ref().take(4).collect();
    assert!(
        md.contains(&table.join("\n")),
        "table:\n{}\nin:\n{md}",
        table.join("\n")
    );
    for ratio_line in lines {
        assert!(
            md.contains(&format!("{ratio_line}\n")),
            "{ratio_line} in:\n{md}"
        );
    }
    assert!(
        md.contains("- p50 latency (s)：约 0.75×（降低约 25%）\n"),
        "{md}"
    );
    assert!(
        md.contains("2GPU（TP=2） 相对 1GPU（TP=1） 的提升："),
        "{md}"
    );
    assert!(!md.contains("负载不同"), "same workload, no flag:\n{md}");
}

fn bad(args: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    let r = report(args, out.path());
    assert_eq!(r.code, 2, "exit code for {args:?}; stderr: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(
        !out.path().join("report.md").exists(),
        "no report from bad input"
    );
    r.stderr.trim_end().to_string()
}

#[test]
fn bad_inputs_are_one_line_and_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let other = d.path().join("other.json");
    std::fs::write(&other, r#"{"model": "x", "choices": []}"#).unwrap();
    let full = read(Path::new(&format!("{MOCK}/fast.json")));
    let truncated = d.path().join("cut.json");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (o, t, e) = (
        other.to_str().unwrap(),
        truncated.to_str().unwrap(),
        empty.to_str().unwrap(),
    );
    assert_eq!(
        bad(&[o]),
        format!(
            "error: '{o}': not a result: it has none of completed, output_throughput or tokscope"
        )
    );
    let msg = bad(&[&format!("{MOCK}/fast.json"), t]);
    assert!(
        msg.starts_with(&format!(
            "error: '{t}': truncated JSON: the text ends inside a value (line "
        )),
        "{msg}"
    );
    assert_eq!(
        bad(&[e]),
        format!("error: '{e}': empty folder: no result files (*.json) in it")
    );
    assert_eq!(
        bad(&["--label", "2GPU"]),
        "error: --label '2GPU' has no file: write it as NAME=FILE, e.g. --label 2GPU=run2.json"
    );
    assert_eq!(
        bad(&["--label", "2GPU=/nonexistent/r.json"]),
        "error: '/nonexistent/r.json': no such file"
    );
    assert_eq!(
        bad(&[&format!("{MOCK}/fast.json"), "--baseline", "nope"]),
        "error: --baseline 'nope' names no run; the runs are 'fast'"
    );
}

#[test]
fn a_vllm_file_shows_n_a_for_what_it_lacks_never_zero() {
    let out = tempfile::tempdir().unwrap();
    let r = report(
        &[&format!("{MOCK}/vllm-like.json"), "--format", "md,csv,json"],
        out.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = read(&out.path().join("report.md"));
    assert!(md.contains("| P99 TPOT | n/a |"), "{md}");
    assert!(md.contains("| Mean TTFO | n/a |"), "{md}");
    assert!(
        md.contains("(a vLLM result) lacks p99_tpot_ms, tokscope"),
        "{md}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&read(&out.path().join("report.json"))).unwrap();
    let figures = &v["groups"][0]["runs"][0]["figures"];
    assert!(figures["p99_tpot_ms"].is_null());
    assert!(figures["mean_ttft_ms"].as_f64().unwrap() > 0.0);
    let csv = read(&out.path().join("report.csv"));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "p99_tpot_ms").unwrap();
    assert_eq!(row[col], "n/a");
}

#[test]
fn a_report_of_two_fresh_runs_against_the_mock() {
    let fast = common::Mock::start(&["--ttft-ms", "20", "--itl-ms", "2"]);
    let slow = common::Mock::start(&["--ttft-ms", "20", "--itl-ms", "6"]);
    let d = tempfile::tempdir().unwrap();
    for (mock, name) in [(&fast, "fast.json"), (&slow, "slow.json")] {
        let r = common::run(&[
            "bench",
            &mock.url,
            "--no-gpu",
            "--num-prompts",
            "12",
            "--max-concurrency",
            "4",
            "--random-input-len",
            "64",
            "--random-output-len",
            "24",
            "--save-result",
            "--result-dir",
            d.path().to_str().unwrap(),
            "--result-filename",
            name,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let out = d.path().join("report");
    let a = d.path().join("fast.json");
    let b = d.path().join("slow.json");
    let r = report(
        &[
            "--label",
            &format!("fast={}", a.display()),
            "--label",
            &format!("slow={}", b.display()),
            "--baseline",
            "slow",
        ],
        &out,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("report.md") && r.stdout.contains("report.html"),
        "{}",
        r.stdout
    );
    let md = read(&out.join("report.md"));
    // fast against the baseline slow: a third of the gap between tokens, so faster output.
    let line = md
        .lines()
        .find(|l| l.starts_with("- Output token throughput: "))
        .unwrap_or_else(|| panic!("{md}"));
    let ratio: f64 = line
        .trim_start_matches("- Output token throughput: ")
        .trim_end_matches('x')
        .parse()
        .unwrap();
    assert!(ratio > 1.3, "{line}");
    assert!(md.contains("fast against slow:"), "{md}");
    assert!(read(&out.join("report.html")).contains("<svg"));
    assert!(read(&out.join("report.csv")).lines().count() == 3);
}

/// A copy of a fixture with its output throughput set, for repeats with known spread.
fn variant(dir: &Path, name: &str, output_throughput: f64) -> String {
    let text = read(Path::new(&format!("{MOCK}/fast.json")));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["output_throughput"] = serde_json::json!(output_throughput);
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.display().to_string()
}

#[test]
fn repeats_show_mean_and_std_and_mark_differences_inside_the_noise() {
    let d = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    for (label, values) in [
        ("base", [100.0, 104.0, 96.0]),
        ("close", [101.0, 105.0, 97.0]),
        ("far", [150.0, 151.0, 149.0]),
    ] {
        for (i, v) in values.iter().enumerate() {
            let f = variant(d.path(), &format!("{label}{i}.json"), *v);
            args.push("--label".to_string());
            args.push(format!("{label}={f}"));
        }
    }
    args.extend(["--format".to_string(), "md".to_string()]);
    let out = d.path().join("out");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = report(&argv, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("| Output token throughput | 100.00 ± 3.27 tok/s |"),
        "{md}"
    );
    assert!(
        md.contains("close against base:\n\n- Request throughput: 1.00x (within noise)"),
        "{md}"
    );
    assert!(
        md.contains("- Output token throughput: 1.01x (within noise)\n"),
        "{md}"
    );
    assert!(md.contains("- Output token throughput: 1.50x\n"), "{md}");
    // The workload table counts the repeats.
    assert!(md.contains("| 3 | tokscope |"), "{md}");
}

/// A run that sampled GPUs gets its power over time as a chart of its own (watts), beside the
/// token and latency charts; the table keeps the run's mean and peak.
#[test]
fn gpu_power_over_time_is_drawn_when_the_run_sampled_gpus() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = report(
        &["tests/fixtures/report/golden_result.json", "--format", "md"],
        &out,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = read(&out.join("report.md"));
    assert!(md.contains("(run-1-gpu-power.svg)"), "{md}");
    let svg = read(&out.join("run-1-gpu-power.svg"));
    assert!(
        svg.contains("GPU power") && svg.contains("<polyline"),
        "{svg}"
    );
    // The fixtures without GPU readings draw no such chart.
    let out2 = dir.path().join("out2");
    let r = report(&[&format!("{MOCK}/fast.json"), "--format", "md"], &out2);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!out2.join("run-1-gpu-power.svg").exists());
}
