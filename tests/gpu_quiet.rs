//! A GPU library's own stderr stays out of `bench`, `check` and `gpu`: ROCm SMI's complaints
//! at init (Debian's librocm_smi64 without an AMD GPU) become one line of `tokscope gpu`'s
//! reasons, and nothing in the others' output.

mod common;
use common::{bin, Mock};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fake librocm_smi64 built into `dir`; `None` (with a message) without a C compiler.
fn fake_rocm(dir: &Path) -> Option<PathBuf> {
    let out = dir.join("librocm_smi64.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/fake_rocm.c");
    match Command::new("cc")
        .args(["-shared", "-fPIC", "-O0", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
    {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("cc failed on '{}': {s}", src.display()),
        Err(e) => {
            eprintln!("SKIP: no C compiler 'cc' ({e})");
            None
        }
    }
}

/// `tokscope ARGS` with only the given ROCm SMI library to find (no NVML, sysfs, hy-smi);
/// `rsmi`: `None` leaves the library search as it is. Returns (stdout, stderr).
fn tokscope(dir: &Path, rsmi: Option<&Path>, args: &[&str]) -> (String, String) {
    let mut c = Command::new(bin());
    c.args(args)
        .env("TOKSCOPE_NVML_LIB", dir.join("absent-libnvidia-ml.so.1"))
        .env("TOKSCOPE_SYSFS_ROOT", dir.join("sys"))
        .env("TOKSCOPE_HY_SMI", dir.join("absent-hy-smi"))
        .env("FAKE_RSMI_INIT_FAILS", "1");
    if let Some(lib) = rsmi {
        c.env("TOKSCOPE_RSMI_LIB", lib);
    }
    let out = c.output().expect("run tokscope");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_quiet(what: &str, (stdout, stderr): &(String, String)) {
    for noise in ["rsmi_init", "drm root directory"] {
        assert!(
            !stdout.contains(noise) && !stderr.contains(noise),
            "{what} printed ROCm SMI's '{noise}':\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
}

#[test]
fn rocm_smi_complaints_become_one_line_of_gpu_and_nothing_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = fake_rocm(dir.path()) else {
        return;
    };
    let (stdout, stderr) = tokscope(dir.path(), Some(&lib), &["gpu"]);
    assert_eq!(stderr, "", "stdout:\n{stdout}");
    let rsmi: Vec<&str> = stdout.lines().filter(|l| l.contains("rsmi")).collect();
    assert_eq!(
        rsmi,
        vec![
            "backend rsmi    absent: rsmi_init returned status 8; it said: Failed to open drm \
             root directory /sys/class/drm.: No such file or directory; Exception caught: \
             rsmi_init."
        ],
        "{stdout}"
    );
    let mock = Mock::start(&["--ttft-ms", "50", "--itl-ms", "5", "--slowdown", "0"]);
    let bench = tokscope(
        dir.path(),
        Some(&lib),
        &[
            "bench",
            &mock.url,
            "--num-prompts",
            "4",
            "--random-output-len",
            "4",
        ],
    );
    assert!(bench.0.contains("Successful requests:"), "{}", bench.1);
    assert_quiet("bench", &bench);
    let check = tokscope(dir.path(), Some(&lib), &["check", &mock.url]);
    assert!(check.0.contains("all good"), "{}", check.0);
    assert_quiet("check", &check);
}

#[test]
fn debians_librocm_smi64_says_nothing_into_bench_output() {
    if !Path::new("/usr/lib/librocm_smi64.so.1").exists() {
        eprintln!("SKIP: '/usr/lib/librocm_smi64.so.1' absent (apt-get install librocm-smi64-1)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(&["--ttft-ms", "50", "--itl-ms", "5", "--slowdown", "0"]);
    // The library is found by the usual search, as on a user's machine.
    let bench = tokscope(
        dir.path(),
        None,
        &[
            "bench",
            &mock.url,
            "--num-prompts",
            "4",
            "--random-output-len",
            "4",
        ],
    );
    assert!(bench.0.contains("Successful requests:"), "{}", bench.1);
    assert_quiet("bench", &bench);
    // Whatever it says on this machine, `gpu` says it on its rsmi line only.
    let (stdout, stderr) = tokscope(dir.path(), None, &["gpu"]);
    assert_eq!(stderr, "", "stdout:\n{stdout}");
    for l in stdout
        .lines()
        .filter(|l| l.contains("rsmi_init") || l.contains("drm"))
    {
        assert!(l.starts_with("backend rsmi    absent: "), "{stdout}");
    }
}
