//! Tests of `workload::build` and the `Workload` face the engine sees.

use super::*;
use rstest::rstest;

/// The workload plan of the load flags as a user would type them (not yet checked: `build`
/// checks it again).
fn load(flags: &[&str]) -> WorkloadPlan {
    crate::cli::test_args(flags).workload_plan()
}

fn build_err(flags: &[&str]) -> String {
    build(&load(flags)).unwrap_err().to_string()
}

#[rstest]
#[case::ratio_one(
    &["--random-range-ratio", "1"],
    "--random-range-ratio '1' is outside [0, 1): e.g. 0.1 draws lengths within ±10%"
)]
#[case::ratio_negative(
    &["--random-range-ratio=-0.1"],
    "--random-range-ratio '-0.1' is outside [0, 1): e.g. 0.1 draws lengths within ±10%"
)]
#[case::zero_input(&["--random-input-len", "0"], "--random-input-len '0' must be at least 1")]
#[case::zero_output(&["--random-output-len", "0"], "--random-output-len '0' must be at least 1")]
#[case::zero_sharegpt_output(
    &["--sharegpt-output-len", "0"],
    "--sharegpt-output-len '0' must be at least 1"
)]
#[case::sharegpt_without_path(
    &["--dataset-name", "sharegpt"],
    "--dataset-name sharegpt needs --dataset-path FILE (a ShareGPT JSON file)"
)]
#[case::custom_without_path(
    &["--dataset-name", "custom"],
    "--dataset-name custom needs --dataset-path FILE (a JSONL file with one {\"prompt\": ...} per line)"
)]
#[case::missing_path(
    &["--dataset-name", "sharegpt", "--dataset-path", "nope/x.json"],
    "--dataset-path 'nope/x.json' does not exist"
)]
#[case::directory_path(
    &["--dataset-name", "custom", "--dataset-path", "src"],
    "--dataset-path 'src' is a directory: name the file itself"
)]
#[case::path_with_random(
    &["--dataset-path", "x.jsonl"],
    "--dataset-path 'x.jsonl' is read only by --dataset-name sharegpt or custom: add one of \
     them, or drop --dataset-path for random prompts"
)]
#[case::missing_tokenizer(
    &["--tokenizer", "no/tokenizer.json"],
    "--tokenizer 'no/tokenizer.json' does not exist"
)]
fn build_errors(#[case] flags: &[&str], #[case] want: &str) {
    assert_eq!(build_err(flags), want);
}

#[test]
fn default_flags_build_a_random_workload_of_estimated_lengths() {
    let mut w = build(&load(&[])).unwrap();
    let p = w.next_prompt();
    assert_eq!(p.output_len, 128);
    assert_eq!(p.prompt_tokens, None);
    assert!(p.est_tokens.abs_diff(1024) <= 1, "{}", p.est_tokens);
    assert_eq!(w.token_source(), PromptLengths::Estimate);
    let info = w.info();
    assert_eq!((info.dataset.as_str(), info.prompts_served), ("random", 1));
    assert_eq!(info.chars_per_token_en, EN_CHARS_PER_TOKEN);
    assert_eq!(info.chars_per_token_zh, ZH_CHARS_PER_TOKEN);
}

#[test]
fn seed_makes_runs_reproducible() {
    let a: Vec<Prompt> = build(&load(&["--seed", "5"])).unwrap().take(6).collect();
    let b: Vec<Prompt> = build(&load(&["--seed", "5"])).unwrap().take(6).collect();
    let c: Vec<Prompt> = build(&load(&["--seed", "6"])).unwrap().take(6).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn range_ratio_and_prefix_from_flags() {
    let w = build(&load(&[
        "--random-input-len",
        "200",
        "--random-output-len",
        "100",
        "--random-range-ratio",
        "0.5",
        "--random-prefix-len",
        "40",
    ]))
    .unwrap();
    let prompts: Vec<Prompt> = w.take(300).collect();
    let head: String = prompts[0].text.chars().take(160).collect();
    for p in &prompts {
        assert!(p.text.starts_with(&head), "shared prefix");
        assert!((50..=150).contains(&p.output_len), "{}", p.output_len);
        // 40 prefix tokens + 100..=300 body tokens, estimated.
        assert!((139..=341).contains(&p.est_tokens), "{}", p.est_tokens);
    }
    let outs: std::collections::BTreeSet<u32> = prompts.iter().map(|p| p.output_len).collect();
    assert!(outs.len() > 50, "lengths vary: {}", outs.len());
}

#[test]
fn calibration_through_the_workload() {
    let mut w = build(&load(&["--random-input-len", "500"])).unwrap();
    let en = w.next_prompt();
    let zh = w.next_prompt();
    // The server counts English 10% longer and Chinese 20% shorter than our estimate.
    w.calibrate(&en.text, 550);
    w.calibrate(&zh.text, 400);
    assert_eq!(w.token_source(), PromptLengths::Calibrated);
    assert_eq!(w.info().calibrations, 2);
    let en2 = w.next_prompt();
    let zh2 = w.next_prompt();
    // Later prompts are resized so the server would count about 500 again.
    let en_ratio = en2.text.chars().count() as f64 / en.text.chars().count() as f64;
    let zh_ratio = zh2.text.chars().count() as f64 / zh.text.chars().count() as f64;
    assert!((en_ratio - 1.0 / 1.1).abs() < 0.01, "{en_ratio}");
    assert!((zh_ratio - 1.0 / 0.8).abs() < 0.01, "{zh_ratio}");
    assert!(en2.est_tokens.abs_diff(500) <= 1 && zh2.est_tokens.abs_diff(500) <= 1);
}

#[test]
fn tokenizer_flag_gives_exact_counts_and_ignores_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<&str> = [Lang::En, Lang::Zh]
        .iter()
        .flat_map(|&l| corpus::Corpus::get(l).sentences().iter().copied())
        .collect();
    tokens::tests::word_level_tokenizer(dir.path(), &texts);
    let dir_s = dir.path().display().to_string();
    let mut w = build(&load(&["--tokenizer", &dir_s, "--random-input-len", "64"])).unwrap();
    assert_eq!(w.token_source(), PromptLengths::Tokenizer);
    for _ in 0..10 {
        let p = w.next_prompt();
        assert_eq!(p.prompt_tokens, Some(64), "{}", p.text);
        assert_eq!(p.est_tokens, 64);
        assert_eq!(w.count_tokens(&p.text), 64);
        w.calibrate(&p.text, 9999);
    }
    let info = w.info();
    assert_eq!(info.calibrations, 0);
    assert_eq!(info.length_mismatches, 0);
    assert!(info.tokenizer.unwrap().ends_with("tokenizer.json"));
}

#[test]
fn file_datasets_through_build_and_info() {
    let dir = tempfile::tempdir().unwrap();
    let sg = dir.path().join("sg.json");
    std::fs::write(
        &sg,
        r#"[{"conversations":[{"from":"human","value":"what is a good soup for winter evenings"},{"from":"gpt","value":"a thick bean soup with thyme and bread"}]}, 5]"#,
    )
    .unwrap();
    let sg_s = sg.display().to_string();
    let mut w = build(&load(&[
        "--dataset-name",
        "sharegpt",
        "--dataset-path",
        &sg_s,
    ]))
    .unwrap();
    let p: Vec<Prompt> = w.by_ref().take(3).collect();
    assert_eq!(p[0], p[2], "one usable entry, cycled");
    assert_eq!(p[0].output_len, 10); // 38 chars / 4
    let info = w.info();
    assert_eq!(info.dataset, "sharegpt");
    assert_eq!(info.dataset_path.as_deref(), Some(sg_s.as_str()));
    assert_eq!((info.entries, info.skipped_malformed), (Some(1), 1));
    assert_eq!((info.cycles, info.prompts_served), (3, 3));

    let c = dir.path().join("c.jsonl");
    std::fs::write(&c, "{\"prompt\": \"hi\"}\n").unwrap();
    let c_s = c.display().to_string();
    let flags = [
        "--dataset-name",
        "custom",
        "--dataset-path",
        &c_s,
        "--random-output-len",
        "33",
    ];
    let p = build(&load(&flags)).unwrap().next_prompt();
    assert_eq!((p.text.as_str(), p.output_len), ("hi", 33));
    let info = build(&load(&flags)).unwrap().info();
    assert_eq!(info.dataset, "custom");
}

#[test]
fn info_serializes_for_the_result_file() {
    let w = build(&load(&[])).unwrap();
    let v = serde_json::to_value(w.info()).unwrap();
    assert_eq!(v["dataset"], "random");
    assert_eq!(v["token_source"], "estimate");
    assert_eq!(v["dataset_path"], serde_json::Value::Null);
}

#[test]
fn arrival_schedule_from_plan_values() {
    let mut s = ArrivalSchedule::new(Some(10.0), 2.0, 3, Some(100)).unwrap();
    let last = (0..100).map(|_| s.next_offset()).last().unwrap();
    assert!((last.as_secs_f64() - 10.0).abs() < 1e-6);
    let err = ArrivalSchedule::new(None, 0.0, 3, None).unwrap_err();
    assert!(
        err.starts_with("--burstiness '0' must be a positive number"),
        "{err}"
    );
}
