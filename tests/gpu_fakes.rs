//! GPU backends against test doubles: fake NVML and ROCm SMI libraries compiled from
//! tests/fakes/*.c with `cc` into a temp dir, a fake amdgpu sysfs tree, and Debian's real
//! librocm_smi64 (which finds no device here).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokscope::telemetry::gpu::{
    command, discover_local, rsmi::RsmiLib, Backend, DeviceKind, GpuMonitor, GpuSample,
    LocalConfig, Metric, MonitorConfig, NodeStatus, Vendor,
};

const GIB: u64 = 1 << 30;

/// Compile `tests/fakes/<src>` with `defines` into `dir/<out>`; `None` when there is no C
/// compiler (a counted skip; a failure under CI).
fn build(src: &str, defines: &[&str], dir: &Path, out: &str) -> Option<PathBuf> {
    let out = dir.join(out);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fakes")
        .join(src);
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O0", "-o"])
        .arg(&out)
        .arg(&src)
        .args(defines)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("cc failed on '{}': {s}", src.display()),
        Err(e) => {
            common::skip(&format!(
                "no C compiler 'cc' ({e}); the fake GPU libraries cannot be built (apt-get install gcc)"
            ));
            None
        }
    }
}

/// A config that sees only what the test gives it.
fn isolated(dir: &Path) -> LocalConfig {
    let meminfo = dir.join("meminfo");
    std::fs::write(
        &meminfo,
        "MemTotal:       127601000 kB\nMemAvailable:    78000000 kB\nSwapFree:        1000 kB\n",
    )
    .unwrap();
    LocalConfig {
        nvml_lib: Some(dir.join("absent-libnvidia-ml.so.1")),
        rsmi_lib: Some(dir.join("absent-librocm_smi64.so")),
        sysfs_root: dir.join("sys"),
        meminfo,
        hy_smi: dir.join("absent-hy-smi"),
    }
}

fn nvml_config(scenario: &str) -> Option<(tempfile::TempDir, LocalConfig)> {
    let dir = tempfile::tempdir().unwrap();
    let define = format!("-DFAKE_SCENARIO=\"{scenario}\"");
    let lib = build("fake_nvml.c", &[&define], dir.path(), "libnvidia-ml.so.1")?;
    let mut cfg = isolated(dir.path());
    cfg.nvml_lib = Some(lib);
    Some((dir, cfg))
}

fn sample_once(cfg: &LocalConfig) -> Vec<GpuSample> {
    let r = command::collect(cfg);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.gpus
}

/// How often the fake library saw `call` (the fake counts its calls).
fn fake_calls(lib: &Path, call: &str) -> i64 {
    // SAFETY: the same path is already loaded by the source; this only reads its counter.
    unsafe {
        let l = libloading::Library::new(lib).unwrap();
        let f: libloading::Symbol<unsafe extern "C" fn(*const std::ffi::c_char) -> i64> =
            l.get(b"fake_nvml_calls\0").unwrap();
        let name = std::ffi::CString::new(call).unwrap();
        f(name.as_ptr())
    }
}

#[test]
fn nvml_a100_reads_every_field() {
    let Some((_dir, cfg)) = nvml_config("a100") else {
        return;
    };
    let gpus = sample_once(&cfg);
    assert_eq!(gpus.len(), 1);
    let g = &gpus[0];
    assert_eq!(g.name, "NVIDIA A100 80GB PCIe");
    assert_eq!(g.key, "GPU-a100-0000");
    assert_eq!(g.backend, Backend::Nvml);
    assert_eq!(g.kind, DeviceKind::Discrete);
    assert_eq!(g.memory_used_bytes, Metric::Value(40 * GIB));
    assert_eq!(g.memory_total_bytes, Metric::Value(80 * GIB));
    assert_eq!(g.utilization_pct, Metric::Value(87.0));
    assert_eq!(g.power_w, Metric::Value(250.0));
    assert_eq!(g.power_limit_w, Metric::Value(300.0));
    assert_eq!(g.temperature_c, Metric::Value(61.0));
    assert_eq!(g.sm_clock_mhz, Metric::Value(1410.0));
    assert!(g.energy_mj.value().is_some_and(|e| e > 1_000_000));
    let procs = g.processes.as_ref().unwrap();
    assert_eq!(procs.len(), 1);
    assert_eq!((procs[0].pid, procs[0].used_bytes), (1234, Some(40 * GIB)));
    assert!(g.unified.is_none());
}

#[test]
fn nvml_gb10_is_unified_and_not_supported_is_asked_once() {
    let Some((_dir, cfg)) = nvml_config("gb10") else {
        return;
    };
    let mut d = discover_local(&cfg);
    for _ in 0..3 {
        command::sample_all(&mut d);
    }
    let g = command::sample_all(&mut d).gpus.remove(0);
    assert_eq!(g.kind, DeviceKind::Unified);
    assert_eq!(
        g.memory_used_bytes,
        Metric::NotSupported,
        "never VRAM on GB10"
    );
    let u = g.unified.as_ref().unwrap();
    assert_eq!(u.gpu_held_bytes, Metric::Value(37 * GIB));
    assert_eq!(u.host_total_bytes, Metric::Value(127_601_000 * 1024));
    assert_eq!(
        u.host_used_bytes,
        Metric::Value((127_601_000 - 78_000_000) * 1024)
    );
    assert_eq!(u.host_available_bytes, Metric::Value(78_000_000 * 1024));
    assert_eq!(g.power_limit_w, Metric::NotSupported);
    assert_eq!(g.power_w, Metric::Value(12.1));
    assert!(g.sources["memory"].contains("meminfo"));
    let lib = cfg.nvml_lib.as_ref().unwrap();
    // Five samples (one in discovery), one question each for memory and the power limit.
    assert_eq!(fake_calls(lib, "nvmlDeviceGetMemoryInfo_v2"), 1);
    assert_eq!(fake_calls(lib, "nvmlDeviceGetEnforcedPowerLimit"), 1);
    assert_eq!(fake_calls(lib, "nvmlDeviceGetPowerUsage"), 5);
    let table = command::render_table(&command::sample_all(&mut d));
    assert!(table.contains("NVIDIA GB10 [UNIFIED]"), "{table}");
    assert!(table.contains("held 37.0G host 47.3G/121.7G"), "{table}");
}

#[test]
fn nvml_mig_instances_follow_their_parent_past_empty_slots() {
    let Some((_dir, cfg)) = nvml_config("mig") else {
        return;
    };
    let gpus = sample_once(&cfg);
    assert_eq!(gpus.len(), 3, "{gpus:#?}");
    let parent = &gpus[0];
    assert_eq!(parent.kind, DeviceKind::MigParent { instances: 2 });
    assert_eq!(parent.utilization_pct, Metric::NotApplicable("MIG".into()));
    assert_eq!(parent.power_w, Metric::Value(250.0));
    assert!(matches!(parent.processes, Metric::Error(_)));
    let first = &gpus[1];
    assert_eq!(
        first.kind,
        DeviceKind::MigInstance {
            parent: "GPU-mig-parent".into(),
            gpu_instance_id: Some(1),
            compute_instance_id: Some(0),
            profile: Some("2g.48gb".into()),
        }
    );
    assert_eq!(first.memory_used_bytes, Metric::Value(40 * GIB));
    assert_eq!(first.utilization_pct, Metric::NotApplicable("MIG".into()));
    assert_eq!(first.power_w, Metric::NotApplicable("on parent".into()));
    assert_eq!(first.processes.as_ref().unwrap()[0].pid, 777);
    assert!(matches!(
        &gpus[2].kind,
        DeviceKind::MigInstance { gpu_instance_id: Some(5), profile: Some(p), .. } if p == "1g.24gb"
    ));
    let table = command::render_table(&command::collect(&cfg));
    assert!(table.contains("n/a (MIG)"), "{table}");
}

#[test]
fn rsmi_rocm6_library_uses_the_new_power_call() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = build("fake_rocm.c", &[], dir.path(), "librocm_smi64.so.7") else {
        return;
    };
    let mut cfg = isolated(dir.path());
    cfg.rsmi_lib = Some(lib.clone());
    assert!(RsmiLib::load(&lib).unwrap().missing_calls().is_empty());
    let gpus = sample_once(&cfg);
    assert_eq!(gpus.len(), 2);
    let g = &gpus[1];
    assert_eq!(g.backend, Backend::Rsmi);
    assert_eq!(g.vendor, Vendor::Hygon);
    assert_eq!(g.key, "rsmi:000000000000abc1");
    assert_eq!(g.power_w, Metric::Value(300.0));
    assert_eq!(g.power_limit_w, Metric::Value(350.0));
    assert_eq!(g.utilization_pct, Metric::Value(75.0));
    assert_eq!(
        g.temperature_c,
        Metric::Value(52.0),
        "junction when edge is not supported"
    );
    assert_eq!(g.memory_used_bytes, Metric::Value(11 * GIB));
    assert_eq!(g.memory_total_bytes, Metric::Value(64 * GIB));
    assert_eq!(g.energy_mj, Metric::Value(15_300));
}

#[test]
fn rsmi_dtk_library_without_newer_calls_loses_only_those_fields() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = build(
        "fake_rocm.c",
        &["-DFAKE_DTK"],
        dir.path(),
        "librocm_smi64.so.2",
    ) else {
        return;
    };
    let missing = RsmiLib::load(&lib).unwrap().missing_calls();
    assert_eq!(
        missing,
        vec![
            "rsmi_dev_busy_percent_get",
            "rsmi_dev_power_get",
            "rsmi_dev_current_socket_power_get"
        ]
    );
    let mut cfg = isolated(dir.path());
    cfg.rsmi_lib = Some(lib);
    let g = sample_once(&cfg).remove(0);
    assert_eq!(g.power_w, Metric::Value(181.0), "rsmi_dev_power_ave_get");
    assert_eq!(g.utilization_pct, Metric::NotSupported);
    assert_eq!(g.memory_used_bytes, Metric::Value(10 * GIB));
}

#[test]
fn rsmi_with_no_device_is_absent_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = build(
        "fake_rocm.c",
        &["-DFAKE_NDEV=0"],
        dir.path(),
        "librocm_smi64.so",
    ) else {
        return;
    };
    let mut cfg = isolated(dir.path());
    cfg.rsmi_lib = Some(lib);
    let r = command::collect(&cfg);
    assert!(r.gpus.is_empty());
    let p = r
        .backends
        .iter()
        .find(|p| p.backend == Backend::Rsmi)
        .unwrap();
    assert_eq!(p.absent.as_deref(), Some("ROCm SMI loaded, sees no device"));
}

#[test]
fn debian_librocm_smi64_loads_and_reports_no_device_cleanly() {
    let path = Path::new("/usr/lib/librocm_smi64.so.1");
    if !path.exists() {
        common::skip(&format!(
            "'{}' absent (apt-get install librocm-smi64-1)",
            path.display()
        ));
        return;
    }
    let lib = RsmiLib::load(path).expect("Debian's librocm_smi64 loads");
    match lib.init() {
        Ok(i) => assert_eq!(i.devices, 0, "no AMD GPU on a CI machine"),
        Err(e) => assert!(e.starts_with("rsmi_init returned status"), "{e}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = isolated(dir.path());
    cfg.rsmi_lib = Some(path.to_path_buf());
    let r = command::collect(&cfg);
    let p = r
        .backends
        .iter()
        .find(|p| p.backend == Backend::Rsmi)
        .unwrap();
    assert!(p.absent.is_some(), "{p:?}");
}

#[test]
fn amdgpu_sysfs_tree_is_read_with_hwmon() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = isolated(dir.path());
    let card = cfg.sysfs_root.join("class/drm/card1/device");
    let hwmon = card.join("hwmon/hwmon3");
    std::fs::create_dir_all(&hwmon).unwrap();
    std::fs::create_dir_all(cfg.sysfs_root.join("class/drm/card1-DP-1")).unwrap();
    std::fs::create_dir_all(dir.path().join("drivers/amdgpu")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("drivers/amdgpu"), card.join("driver")).unwrap();
    for (f, v) in [
        ("mem_info_vram_total", "25753026560"),
        ("mem_info_vram_used", "1073741824"),
        ("gpu_busy_percent", "42"),
        ("product_name", "AMD Instinct MI210"),
        ("pp_dpm_sclk", "0: 500Mhz\n1: 1700Mhz *\n"),
    ] {
        std::fs::write(card.join(f), v).unwrap();
    }
    std::fs::write(hwmon.join("power1_average"), "95000000").unwrap();
    std::fs::write(hwmon.join("temp1_input"), "48000").unwrap();
    let gpus = sample_once(&cfg);
    assert_eq!(gpus.len(), 1);
    let g = &gpus[0];
    assert_eq!(
        (g.backend, g.vendor, g.index),
        (Backend::Sysfs, Vendor::Amd, 1)
    );
    assert_eq!(g.name, "AMD Instinct MI210");
    assert_eq!(g.memory_used_bytes, Metric::Value(GIB));
    assert_eq!(g.utilization_pct, Metric::Value(42.0));
    assert_eq!(g.power_w, Metric::Value(95.0));
    assert_eq!(g.power_limit_w, Metric::NotSupported, "no power1_cap file");
    assert_eq!(g.temperature_c, Metric::Value(48.0));
    assert_eq!(g.sm_clock_mhz, Metric::Value(1700.0));
}

#[test]
fn no_gpu_lists_each_backend_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let r = command::collect(&isolated(dir.path()));
    assert!(r.gpus.is_empty());
    let tried: Vec<Backend> = r.backends.iter().map(|p| p.backend).collect();
    assert_eq!(
        tried,
        vec![Backend::Nvml, Backend::Rsmi, Backend::Sysfs, Backend::HySmi]
    );
    assert!(r.backends.iter().all(|p| p.absent.is_some()));
    let table = command::render_table(&r);
    assert!(table.contains("backend nvml    absent: '"), "{table}");
    assert!(
        table.contains("backend sysfs   absent: no amdgpu or hydcu card"),
        "{table}"
    );
    assert!(table.contains("no GPU found on"), "{table}");
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["backends"].as_array().unwrap().len(), 4);
}

fn wait_for(mon: &GpuMonitor, what: &str, ok: impl Fn(&tokscope::telemetry::gpu::GpuView) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rx = mon.subscribe();
    while !ok(&rx.borrow_and_update()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn monitor_publishes_history_and_run_energy_from_the_counter() {
    let Some((_dir, cfg)) = nvml_config("a100") else {
        return;
    };
    let mon = GpuMonitor::start(MonitorConfig {
        interval: Duration::from_millis(50),
        local: Some(cfg),
        endpoints: vec![],
        remote_timeout: Duration::from_millis(500),
    })
    .unwrap();
    let run = mon.begin_run();
    wait_for(&mon, "4 readings", |v| {
        v.nodes[0]
            .history
            .first()
            .is_some_and(|h| h.points.len() >= 4)
    });
    let summary = mon.end_run(run);
    let view = mon.latest();
    let node = &view.nodes[0];
    assert!(!node.remote);
    assert_eq!(node.status, NodeStatus::Ok);
    assert!(node.origin.starts_with("nvml "), "{}", node.origin);
    let h = node.history_of("GPU-a100-0000").unwrap();
    assert_eq!(h.points.back().unwrap().power_w, Some(250.0));
    let g = &summary.gpus[0];
    assert!(g.samples >= 2, "{g:?}");
    // The fake's counter moves 1000 mJ per reading.
    assert_eq!(g.energy_j, Some(f64::from(g.samples - 1)));
    assert_eq!(g.peak_power_w, Some(250.0));
    assert_eq!(g.peak_memory_bytes, Some(40 * GIB));
}
