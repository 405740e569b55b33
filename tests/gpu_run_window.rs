//! The GPU run window (energy, J/token) covers the timed run only: energy spent on warm-ups is
//! not divided by the timed run's tokens. A fake NVML (tests/fakes/fake_nvml.c) whose energy
//! counter grows 1 J at every reading stands in for the GPU.
#![cfg(unix)]

mod common;
use common::{bin, Mock};
use std::process::Command;

#[test]
fn energy_per_token_leaves_the_warmups_out() {
    let dir = tempfile::tempdir().unwrap();
    let lib = common::fake_nvml(dir.path());
    let mock = Mock::start(&["--ttft-ms", "10", "--itl-ms", "25", "--slowdown", "0"]);
    // Ten warm-ups of 10 tokens one at a time: about 2.5 s; then 2 timed requests, 0.25 s.
    let out = Command::new(bin())
        .args([
            "bench",
            &mock.url,
            "--num-warmups",
            "10",
            "--max-concurrency",
            "1",
        ])
        .args([
            "--num-prompts",
            "2",
            "--random-output-len",
            "10",
            "--random-input-len",
            "8",
        ])
        .args(["--gpu-interval", "0.05", "--json"])
        .env("TOKSCOPE_NVML_LIB", &lib)
        .env("FAKE_NVML_SCENARIO", "a100")
        .env("TOKSCOPE_RSMI_LIB", dir.path().join("absent.so"))
        .env("TOKSCOPE_SYSFS_ROOT", dir.path().join("sys"))
        .env("TOKSCOPE_HY_SMI", dir.path().join("absent-hy-smi"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gpu = &v["tokscope"]["gpu"]["gpus"][0];
    let energy = gpu["energy_j"]
        .as_f64()
        .unwrap_or_else(|| panic!("no energy in {v}"));
    // The counter grows 1 J a reading, a reading every 50 ms: the 0.25 s timed run is worth
    // about 5 J, the warm-ups about 50 J more.
    assert!(
        energy > 0.0 && energy < 20.0,
        "energy {energy} J includes the warm-ups"
    );
    let per_token = v["tokscope"]["gpu"]["joules_per_output_token"]
        .as_f64()
        .unwrap();
    assert!(
        (per_token - energy / 20.0).abs() < 1e-9,
        "{per_token} vs {energy}/20"
    );
}
