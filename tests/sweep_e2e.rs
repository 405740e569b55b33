//! Sweeps end to end: the real binary against `tokscope mock`, whose timing model (see
//! src/mock/generate.rs) says what each step must measure:
//! a request admitted to the batch waits `ttft`, then `L - 1` gaps of
//! `itl * (1 + slowdown * (running - 1))`; at most `--max-num-seqs` run, the rest queue.

mod common;
use common::{bin, run, Mock};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

/// Small, fast requests: 8 prompt words, `out` output tokens, no warm-up.
fn quick(input: &str, out: &str) -> Vec<String> {
    [
        "--random-input-len",
        input,
        "--random-output-len",
        out,
        "--no-gpu",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn bench(url: &str, dir: &Path, extra: &[&str]) -> common::Run {
    bench_sized(url, dir, "8", extra)
}

fn bench_sized(url: &str, dir: &Path, input: &str, extra: &[&str]) -> common::Run {
    let mut args: Vec<String> = vec!["bench".into(), url.into()];
    args.extend(quick(input, "8"));
    args.extend(["--sweep-dir".into(), dir.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&refs)
}

/// The mock's output throughput at concurrency `c` (tokens/s), from its timing model.
fn model_throughput(c: f64, ttft: f64, itl: f64, slowdown: f64, seqs: f64, len: f64) -> f64 {
    let running = c.min(seqs);
    let per_request_ms = ttft + (len - 1.0) * itl * (1.0 + slowdown * (running - 1.0));
    running * len / (per_request_ms / 1000.0)
}

#[test]
fn throughput_rises_then_flattens_at_max_num_seqs() {
    let (ttft, itl, slowdown, seqs, len) = (20.0, 5.0, 0.05, 4.0, 8.0);
    let mock = Mock::start(&[
        "--ttft-ms",
        "20",
        "--itl-ms",
        "5",
        "--slowdown",
        "0.05",
        "--max-num-seqs",
        "4",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let r = bench(
        &mock.url,
        dir.path(),
        &["--max-concurrency", "1,2,4,8,16", "--num-prompts", "16"],
    );
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let records = read_json(&dir.path().join("summary.json"));
    let records = records.as_array().expect("summary.json is a list");
    assert_eq!(records.len(), 5);
    let tput = |c: u64| -> f64 {
        records
            .iter()
            .find(|r| r["max_concurrency"] == c)
            .and_then(|r| r["output_throughput"].as_f64())
            .unwrap_or_else(|| panic!("no step at {c}"))
    };
    let m = |c: f64| model_throughput(c, ttft, itl, slowdown, seqs, len);
    // Rises up to --max-num-seqs about as the model says...
    let rise = tput(4) / tput(1);
    let want = m(4.0) / m(1.0);
    assert!(
        (rise / want - 1.0).abs() < 0.25,
        "1 -> 4: measured x{rise:.2}, model x{want:.2}"
    );
    // ...then stays flat: the extra requests only queue.
    for c in [8, 16] {
        let flat = tput(c) / tput(4);
        assert!((0.8..1.2).contains(&flat), "4 -> {c}: x{flat:.2}");
    }
    let sweep = read_json(&dir.path().join("sweep.json"));
    assert_eq!(sweep["knee_step"], "max_concurrency=4", "{sweep}");
    // vLLM's per-run layout, and a CSV row per run.
    assert!(dir
        .path()
        .join("BENCH--max_concurrency=4/run=0.json")
        .is_file());
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.lines().next().unwrap().contains(",max_concurrency,"));
    // The table on stdout has a row per step, the best and the knee marked.
    assert!(r.stdout.contains("knee"), "{}", r.stdout);
}

#[test]
fn each_step_sends_its_own_prompts_and_reset_cache_empties_the_cache() {
    let mock = Mock::start(&["--ttft-ms", "1", "--itl-ms", "1", "--slowdown", "0"]);
    // The mock caches 16-token blocks as vLLM does: two different prompts may share their
    // first block by chance (the same opening sentence), so "no prompt seen twice" is a small
    // share of hits, and a repeated prompt is nearly all hits.
    let counters = || {
        (
            mock.metric("vllm:prefix_cache_hits_total"),
            mock.metric("vllm:prefix_cache_queries_total"),
        )
    };
    let share_since = |(h0, q0): (f64, f64)| {
        let (h, q) = counters();
        assert!(q > q0, "no prefix-cache queries");
        (h - h0) / (q - q0)
    };
    let dir = tempfile::tempdir().unwrap();
    let start = counters();
    // Prompts of several corpus sentences: two different draws never match by chance (an
    // 8-token prompt is one sentence, and a few dozen draws repeat one).
    // Three steps of two runs: six runs, no prompt seen twice.
    let r = bench_sized(
        &mock.url,
        &dir.path().join("a"),
        "96",
        &[
            "--max-concurrency",
            "1,2,4",
            "--num-runs",
            "2",
            "--num-prompts",
            "6",
            "--seed",
            "5",
        ],
    );
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let fresh = share_since(start);
    assert!(
        fresh < 0.1,
        "{:.0}% of prompt tokens were cached: a step found an earlier step's prompts",
        fresh * 100.0
    );
    let before_b = counters();
    // The same sweep again finds its prompts cached: the check above can fail.
    let r = bench_sized(
        &mock.url,
        &dir.path().join("b"),
        "96",
        &[
            "--max-concurrency",
            "1,2",
            "--num-prompts",
            "6",
            "--seed",
            "5",
        ],
    );
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let warm = share_since(before_b);
    assert!(
        warm > 0.5,
        "repeated prompts were not cached ({:.0}%)",
        warm * 100.0
    );
    let before_c = counters();
    // With --reset-cache each step starts on an empty cache.
    let r = bench_sized(
        &mock.url,
        &dir.path().join("c"),
        "96",
        &[
            "--max-concurrency",
            "1,2",
            "--num-prompts",
            "6",
            "--seed",
            "5",
            "--reset-cache",
        ],
    );
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let reset = share_since(before_c);
    assert!(
        reset < 0.1,
        "--reset-cache left prompts in the cache ({:.0}% cached)",
        reset * 100.0
    );
}

#[test]
fn capacity_search_lands_within_one_step_of_the_mock_model() {
    let (itl, slowdown, slo_tpot): (f64, f64, f64) = (10.0, 0.5, 22.5);
    // TPOT at concurrency c is itl * (1 + slowdown * (c - 1)); the most users under the SLO:
    let want = ((slo_tpot / itl - 1.0) / slowdown).floor() + 1.0;
    let mock = Mock::start(&[
        "--ttft-ms",
        "5",
        "--itl-ms",
        "10",
        "--slowdown",
        "0.5",
        "--max-num-seqs",
        "64",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let r = bench(
        &mock.url,
        dir.path(),
        &[
            "--search",
            "concurrency",
            "--goodput",
            "tpot:22.5",
            "--num-prompts",
            "8",
        ],
    );
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let sweep = read_json(&dir.path().join("sweep.json"));
    let got = sweep["search"]["capacity"].as_f64().expect("a capacity");
    assert!(
        (got - want).abs() <= 1.0,
        "found {got}, the mock implies {want}"
    );
    assert!(
        r.stderr
            .contains(&format!("capacity: {got} concurrent users")),
        "{}",
        r.stderr
    );
    // Every probed load is kept, as a step and as a record.
    let probes = sweep["search"]["probes"].as_array().unwrap().len();
    assert!(probes >= 3);
    let records = read_json(&dir.path().join("summary.json"));
    assert_eq!(records.as_array().unwrap().len(), probes);
    // `tokscope report` reads the sweep folder as it is: its steps, and the search's answer.
    let out = dir.path().join("report");
    let rep = run(&[
        "report",
        dir.path().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert_eq!(rep.code, 0, "stderr: {}", rep.stderr);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains(&format!("capacity: {got} concurrent users")),
        "{md}"
    );
}

#[test]
fn ctrl_c_mid_sweep_keeps_finished_steps_and_the_partial_one() {
    let mock = Mock::start(&["--ttft-ms", "5", "--itl-ms", "20", "--slowdown", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let mut args: Vec<String> = vec!["bench".into(), mock.url.clone()];
    args.extend(quick("8", "16"));
    args.extend(
        [
            "--max-concurrency",
            "1,2,4",
            "--num-prompts",
            "12",
            "--sweep-dir",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.push(d.display().to_string());
    let child = Command::new(bin())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Step 1 (12 requests of ~0.3 s one at a time) finishes, then step 2 is under way.
    assert!(common::wait_for(Duration::from_secs(30), || d
        .join("BENCH--max_concurrency=1/run=0.json")
        .is_file()));
    std::thread::sleep(Duration::from_millis(600));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = read_json(&d.join("summary.json"));
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 2, "the finished step and the partial one");
    assert_eq!(records[1]["tokscope"]["interrupted"], true);
    let sweep = read_json(&d.join("sweep.json"));
    assert_eq!(sweep["interrupted"], true);
    assert!(
        !d.join("BENCH--max_concurrency=4").exists(),
        "step 3 never started"
    );
    // Every file left is whole.
    for step in ["BENCH--max_concurrency=1", "BENCH--max_concurrency=2"] {
        read_json(&d.join(step).join("run=0.json"));
    }
    let csv = std::fs::read_to_string(d.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
}

#[test]
fn a_dead_server_step_is_recorded_and_stops_unless_told_to_continue() {
    // Nothing listens on port 9: every request of every step fails to connect.
    let dir = tempfile::tempdir().unwrap();
    let common = [
        "--model",
        "m",
        "--no-probe",
        "--max-concurrency",
        "1,2",
        "--num-prompts",
        "2",
    ];
    let stop = dir.path().join("stop");
    let r = bench("http://127.0.0.1:9", &stop, &common);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(stop
        .join("BENCH--max_concurrency=1/run=0.failure.json")
        .is_file());
    assert!(
        !stop.join("BENCH--max_concurrency=2").exists(),
        "went on after a failed step"
    );
    let go_on = dir.path().join("go_on");
    let mut flags = common.to_vec();
    flags.push("--continue-on-error");
    let r = bench("http://127.0.0.1:9", &go_on, &flags);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let sweep = read_json(&go_on.join("sweep.json"));
    assert_eq!(sweep["failures"].as_array().unwrap().len(), 2, "{sweep}");
}

#[test]
fn a_bad_list_is_one_line_and_exit_2() {
    for (flags, want) in [
        (
            &["--max-concurrency", "1,x"][..],
            "error: --max-concurrency: 'x' is not a whole number",
        ),
        (
            &["--request-rate", "2,-1"][..],
            "error: --request-rate: '-1' is not a positive number or 'inf'",
        ),
        (
            &["--concurrency-list", "4", "0"][..],
            "error: --concurrency-list: '0' would never send anything; use 1 or more",
        ),
    ] {
        let mut args = vec!["bench", "http://127.0.0.1:9", "--model", "m"];
        args.extend_from_slice(flags);
        let r = run(&args);
        assert_eq!(r.code, 2, "{flags:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim_end(), want, "{flags:?}");
    }
}

/// vLLM's ramp-up flags: with nearly regular gaps (`--burstiness 1000`: 3% spread) the
/// scheduled send times in the per-request log follow the ramp: request `i` of `n` waits about
/// 1 / rate(i), the rate climbing linearly from 10 to 100 req/s (gaps from 100 ms to 10 ms).
#[test]
fn ramp_up_schedules_each_request_at_the_ramps_rate() {
    let mock = Mock::start(&["--ttft-ms", "2", "--itl-ms", "1", "--slowdown", "0"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(&[
        "bench",
        &mock.url,
        "--random-input-len",
        "8",
        "--random-output-len",
        "4",
        "--no-gpu",
        "--num-prompts",
        "10",
        "--burstiness",
        "1000",
        "--ramp-up-strategy",
        "linear",
        "--ramp-up-start-rps",
        "10",
        "--ramp-up-end-rps",
        "100",
        "--save-result",
        "--result-dir",
        &dir.path().display().to_string(),
        "--result-filename",
        "ramp.json",
    ]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let log = std::fs::read_to_string(dir.path().join("ramp.requests.jsonl")).expect("log");
    let mut scheduled: Vec<(u64, f64)> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|v| v["warmup"] == false)
        .map(|v| {
            let id = v["id"].as_u64().expect("id");
            (id, v["scheduled_at_s"].as_f64().expect("scheduled_at_s"))
        })
        .collect();
    scheduled.sort_by_key(|(id, _)| *id);
    assert_eq!(scheduled.len(), 10, "{log}");
    let mut prev = 0.0;
    for (i, (_, at)) in scheduled.iter().enumerate() {
        let (gap, want) = (at - prev, 1.0 / (10.0 + 90.0 * i as f64 / 9.0));
        assert!(
            (gap / want - 1.0).abs() < 0.15,
            "request {i}: gap {gap} s, the ramp says {want} s"
        );
        prev = *at;
    }
    let result = read_json(&dir.path().join("ramp.json"));
    assert_eq!(result["tokscope"]["config"]["ramp_up_strategy"], "linear");
    // vLLM's keys for a ramped run: the rate is "inf", the ramp beside it.
    assert_eq!(result["request_rate"], "inf");
    assert_eq!(result["ramp_up_strategy"], "linear");
    assert_eq!(result["ramp_up_start_rps"], 10.0);
    assert_eq!(result["ramp_up_end_rps"], 100.0);
}
