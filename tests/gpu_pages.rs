//! Prometheus pages: dcgm-exporter fixtures read back into GPU rows, our agent's page (golden
//! fixture, round trip, `promtool check metrics`, served over HTTP), remote nodes through the
//! monitor (a dead one never stalls the other), and the release binary's NEEDED list.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokscope::telemetry::gpu::agent::{render_page, router};
use tokscope::telemetry::gpu::remote::from_exposition;
use tokscope::telemetry::gpu::{
    Backend, DeviceKind, GpuMonitor, GpuNodeView, GpuProcess, GpuSample, GpuView, Metric,
    MonitorConfig, NodeStatus, UnifiedMemory, Vendor,
};
use tokscope::telemetry::prom;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gpu")
        .join(name)
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

#[test]
fn dcgm_exporter_page_maps_to_gpus_and_mig_instances() {
    let page = prom::parse(&read_fixture("dcgm_exporter.txt"));
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let rows = from_exposition(&page, "dgx-a");
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "dgx-a/GPU-5fd4c5a1-7c2e-1b0d-9a8e-3c1f2a6b7d10",
            "dgx-a/GPU-9e3b0a22-41c7-6f8d-2b5e-8d0c4f1a2e33",
            "dgx-a/GPU-9e3b0a22-41c7-6f8d-2b5e-8d0c4f1a2e33/gi1",
            "dgx-a/GPU-9e3b0a22-41c7-6f8d-2b5e-8d0c4f1a2e33/gi9",
        ]
    );
    let g0 = &rows[0];
    assert_eq!(g0.name, "NVIDIA H100 80GB HBM3");
    assert_eq!(g0.backend, Backend::Remote);
    assert_eq!(g0.memory_used_bytes, Metric::Value(76217 * MIB));
    assert_eq!(g0.memory_total_bytes, Metric::Value((76217 + 4862) * MIB));
    assert_eq!(g0.power_w, Metric::Value(612.483));
    assert_eq!(g0.energy_mj, Metric::Value(4_812_305_567));
    assert_eq!(g0.utilization_pct, Metric::Value(98.0));
    assert_eq!(g0.temperature_c, Metric::Value(64.0));
    assert_eq!(g0.sm_clock_mhz, Metric::Value(1980.0));
    let parent = &rows[1];
    assert_eq!(parent.kind, DeviceKind::MigParent { instances: 2 });
    assert_eq!(parent.utilization_pct, Metric::NotApplicable("MIG".into()));
    assert_eq!(parent.power_w, Metric::Value(118.206));
    assert!(matches!(
        &rows[2].kind,
        DeviceKind::MigInstance { gpu_instance_id: Some(1), profile: Some(p), .. } if p == "3g.40gb"
    ));
    assert_eq!(rows[2].memory_used_bytes, Metric::Value(21504 * MIB));
    assert_eq!(rows[3].memory_total_bytes, Metric::Value((13 + 9728) * MIB));
}

#[test]
fn dcgm_exporter_on_gb10_has_no_memory_and_lowercase_hostname() {
    let rows = from_exposition(
        &prom::parse(&read_fixture("dcgm_exporter_gb10.txt")),
        "spark-b",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "NVIDIA GB10");
    assert_eq!(rows[0].memory_used_bytes, Metric::NotSupported);
    assert_eq!(rows[0].utilization_pct, Metric::Value(37.0));
    assert_eq!(rows[0].power_w, Metric::Value(12.1));
}

/// A node with an A100, a GB10 and a MIG parent with one instance.
fn agent_view() -> GpuView {
    let mut a100 = GpuSample::blank(
        "GPU-a100".into(),
        0,
        "NVIDIA A100 80GB PCIe".into(),
        Vendor::Nvidia,
        Backend::Nvml,
    );
    a100.uuid = Some("GPU-a100".into());
    a100.memory_used_bytes = Metric::Value(40 * GIB);
    a100.memory_total_bytes = Metric::Value(80 * GIB);
    a100.utilization_pct = Metric::Value(87.0);
    a100.power_w = Metric::Value(250.5);
    a100.power_limit_w = Metric::Value(300.0);
    a100.energy_mj = Metric::Value(1_000_000);
    a100.temperature_c = Metric::Value(61.0);
    a100.sm_clock_mhz = Metric::Value(1410.0);
    a100.processes = Metric::Value(vec![GpuProcess {
        pid: 1234,
        name: Some("python3".into()),
        used_bytes: Some(40 * GIB),
        gpu_instance_id: None,
    }]);
    let mut gb10 = GpuSample::blank(
        "GPU-gb10".into(),
        1,
        "NVIDIA GB10".into(),
        Vendor::Nvidia,
        Backend::Nvml,
    );
    gb10.uuid = Some("GPU-gb10".into());
    gb10.kind = DeviceKind::Unified;
    gb10.unified = Some(UnifiedMemory {
        gpu_held_bytes: Metric::Value(37 * GIB),
        host_total_bytes: Metric::Value(121 * GIB),
        host_used_bytes: Metric::Value(47 * GIB),
        host_available_bytes: Metric::Value(74 * GIB),
        swap_free_bytes: Metric::Value(0),
    });
    gb10.power_w = Metric::Value(12.1);
    gb10.utilization_pct = Metric::Value(37.0);
    gb10.processes = Metric::Value(vec![GpuProcess {
        pid: 4242,
        name: Some("vllm \"serve\"".into()),
        used_bytes: Some(37 * GIB),
        gpu_instance_id: None,
    }]);
    let mut parent = GpuSample::blank(
        "GPU-mig".into(),
        2,
        "NVIDIA RTX PRO 6000".into(),
        Vendor::Nvidia,
        Backend::Nvml,
    );
    parent.uuid = Some("GPU-mig".into());
    parent.kind = DeviceKind::MigParent { instances: 1 };
    parent.utilization_pct = Metric::NotApplicable("MIG".into());
    parent.power_w = Metric::Value(300.0);
    let mut inst = GpuSample::blank(
        "MIG-a".into(),
        2,
        "NVIDIA RTX PRO 6000 MIG 4g.96gb".into(),
        Vendor::Nvidia,
        Backend::Nvml,
    );
    inst.uuid = Some("MIG-a".into());
    inst.kind = DeviceKind::MigInstance {
        parent: "GPU-mig".into(),
        gpu_instance_id: Some(1),
        compute_instance_id: Some(0),
        profile: Some("4g.96gb".into()),
    };
    inst.memory_used_bytes = Metric::Value(40 * GIB);
    inst.memory_total_bytes = Metric::Value(95 * GIB);
    inst.utilization_pct = Metric::NotApplicable("MIG".into());
    inst.power_w = Metric::NotApplicable("on parent".into());
    let mut node = GpuNodeView {
        name: "node-a".into(),
        remote: false,
        origin: "nvml".into(),
        status: NodeStatus::Starting,
        probes: vec![],
        updated: None,
        interval: Duration::from_secs(1),
        gpus: vec![],
        history: vec![],
    };
    node.record(vec![a100, gb10, parent, inst], Instant::now());
    GpuView {
        nodes: vec![Arc::new(node)],
    }
}

#[test]
fn agent_page_matches_its_fixture_and_reads_back() {
    let page = render_page(&agent_view(), "node-a");
    let path = fixture("agent_metrics.txt");
    if std::env::var_os("TOKSCOPE_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        page, want,
        "set TOKSCOPE_UPDATE_FIXTURES=1 to rewrite the fixture, then review it"
    );
    // Nothing unsupported is written as 0: the GB10 has no FB_USED line, the MIG instance no power.
    assert!(!page.contains("DCGM_FI_DEV_FB_USED{gpu=\"1\""));
    assert!(page.contains("tokscope_up 1\n"));

    let parsed = prom::parse(&page);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let rows = from_exposition(&parsed, "node-a");
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert_eq!(rows[0].kind, DeviceKind::Discrete);
    assert!(rows[0].unified.is_none());
    assert_eq!(rows[0].memory_used_bytes, Metric::Value(40 * GIB));
    assert_eq!(rows[0].power_limit_w, Metric::Value(300.0));
    assert_eq!(
        rows[0].processes.as_ref().unwrap()[0].name.as_deref(),
        Some("python3")
    );
    assert_eq!(rows[1].kind, DeviceKind::Unified);
    let u = rows[1].unified.as_ref().unwrap();
    assert_eq!(u.gpu_held_bytes, Metric::Value(37 * GIB));
    assert_eq!(u.host_total_bytes, Metric::Value(121 * GIB));
    assert_eq!(
        rows[1].processes.as_ref().unwrap()[0].name.as_deref(),
        Some("vllm \"serve\"")
    );
    assert_eq!(rows[2].kind, DeviceKind::MigParent { instances: 1 });
    assert!(matches!(
        &rows[3].kind,
        DeviceKind::MigInstance {
            gpu_instance_id: Some(1),
            ..
        }
    ));
    assert_eq!(rows[3].memory_total_bytes, Metric::Value(95 * GIB));
}

#[test]
fn promtool_accepts_the_agent_page_and_our_series_lint_clean() {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        common::skip("promtool not found (apt-get install prometheus)");
        return;
    };
    use std::io::Write;
    let page = std::fs::read_to_string(fixture("agent_metrics.txt")).unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code();
    // 0: clean; 3: lint warnings only (DCGM's camelCase labels and its counter without _total).
    assert!(
        matches!(code, Some(0) | Some(3)),
        "promtool exit {code:?}: {text}"
    );
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tokscope_"))
        .collect();
    assert!(ours.is_empty(), "our series must lint clean: {ours:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_serves_metrics_over_http() {
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(agent_view()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The agent's own accept loop (header timeout, connection cap), as `tokscope agent` runs it.
    tokio::spawn(tokscope::telemetry::gpu::agent::serve(
        listener,
        router(rx, "node-a".into()),
        std::future::pending(),
    ));
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("DCGM_FI_DEV_POWER_USAGE{gpu=\"0\",UUID=\"GPU-a100\""),
        "{body}"
    );
    assert!(body.contains("Hostname=\"node-a\""));
    let snap = reqwest::get(format!("http://{addr}/snapshot"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let snap: serde_json::Value = serde_json::from_str(&snap).unwrap();
    assert_eq!(snap.as_array().unwrap().len(), 4);
    let ready = reqwest::get(format!("http://{addr}/-/ready"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_nodes_update_and_a_dead_one_stalls_nothing() {
    let page = read_fixture("dcgm_exporter.txt");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let p = page.clone();
            async move { p }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    // A port that refuses connections: bind, note the port, close.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mon = GpuMonitor::start(MonitorConfig {
        interval: Duration::from_millis(100),
        local: None,
        endpoints: vec![format!("dgx={addr}"), format!("dead=http://{dead}/metrics")],
        remote_timeout: Duration::from_millis(500),
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = mon.latest();
        let live_ok = v.nodes[0].status == NodeStatus::Ok && v.nodes[0].gpus.len() == 4;
        let dead_err = matches!(v.nodes[1].status, NodeStatus::Error(_));
        if live_ok && dead_err {
            assert_eq!(v.nodes[0].name, "dgx");
            assert!(v.nodes[0].remote);
            assert!(v.nodes[1].gpus.is_empty());
            assert!(v.nodes[1].updated.is_none());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {:?} / {:?}",
            v.nodes[0].status,
            v.nodes[1].status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The release binary, which is what users install: `$TOKSCOPE_RELEASE_BIN`, else
/// `target/release/tokscope` next to the debug binary cargo built for this test. `Err` says why
/// it cannot be used (absent, or older than the sources: `cargo build --release` first).
fn release_binary() -> Result<std::path::PathBuf, String> {
    let path = match std::env::var_os("TOKSCOPE_RELEASE_BIN") {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let debug = std::path::Path::new(env!("CARGO_BIN_EXE_tokscope"));
            let target = debug
                .parent()
                .and_then(|d| d.parent())
                .ok_or("no target directory above the debug binary")?;
            target.join("release/tokscope")
        }
    };
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map_err(|e| {
            format!(
                "no release binary at '{}' ({e}): cargo build --release",
                path.display()
            )
        })?;
    // A stale binary would answer for old code: it must be newer than every source file.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut newest = std::fs::metadata(root.join("Cargo.toml"))
        .and_then(|m| m.modified())
        .map_err(|e| e.to_string())?;
    let mut dirs = vec![root.join("src")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            let meta = entry.metadata().map_err(|e| e.to_string())?;
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if let Ok(t) = meta.modified() {
                newest = newest.max(t);
            }
        }
    }
    if built < newest {
        return Err(format!(
            "the release binary '{}' is older than the sources: cargo build --release",
            path.display()
        ));
    }
    Ok(path)
}

#[test]
fn release_binary_needs_no_gpu_library() {
    let bin = match release_binary() {
        Ok(b) => b,
        Err(why) => {
            common::skip(&why);
            return;
        }
    };
    let out = match Command::new("readelf").arg("-d").arg(&bin).output() {
        Ok(o) => o,
        Err(e) => {
            common::skip(&format!(
                "readelf not available ({e}); apt-get install binutils"
            ));
            return;
        }
    };
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(!needed.is_empty(), "readelf found no NEEDED entry: {text}");
    for bad in [
        "libnvidia-ml",
        "librocm_smi",
        "libcuda",
        "libamdhip",
        "libdrm",
    ] {
        assert!(
            !needed.iter().any(|l| l.contains(bad)),
            "{bad} is NEEDED by '{}': {needed:#?}",
            bin.display()
        );
    }
}
