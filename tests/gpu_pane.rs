//! The GPU side panel against ratatui's TestBackend: full blocks, MIG indentation, the UNIFIED
//! tag, stale remote nodes, and the one-line-per-GPU fold at 80x24 sizes.

use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokscope::telemetry::gpu::{
    Backend, DeviceKind, GpuNodeView, GpuSample, GpuView, Metric, NodeStatus, UnifiedMemory, Vendor,
};
use tokscope::tui::{gpu_pane, theme::Theme};

const GIB: u64 = 1 << 30;

fn h100(power: f64) -> GpuSample {
    let mut g = GpuSample::blank(
        "GPU-h100".into(),
        0,
        "NVIDIA H100 80GB HBM3".into(),
        Vendor::Nvidia,
        Backend::Nvml,
    );
    g.memory_used_bytes = Metric::Value(60 * GIB);
    g.memory_total_bytes = Metric::Value(80 * GIB);
    g.power_w = Metric::Value(power);
    g.power_limit_w = Metric::Value(700.0);
    g.temperature_c = Metric::Value(61.0);
    g.utilization_pct = Metric::Value(87.0);
    g
}

fn gb10() -> GpuSample {
    let mut g = GpuSample::blank(
        "spark-b/GPU-gb10".into(),
        0,
        "NVIDIA GB10".into(),
        Vendor::Nvidia,
        Backend::Remote,
    );
    g.kind = DeviceKind::Unified;
    g.unified = Some(UnifiedMemory {
        gpu_held_bytes: Metric::Value(37 * GIB),
        host_total_bytes: Metric::Value(121 * GIB),
        host_used_bytes: Metric::Value(47 * GIB),
        host_available_bytes: Metric::Value(74 * GIB),
        swap_free_bytes: Metric::Value(0),
    });
    g.power_w = Metric::Value(12.0);
    g.temperature_c = Metric::Value(41.0);
    g.utilization_pct = Metric::Value(37.0);
    g
}

fn mig_rows() -> Vec<GpuSample> {
    let mut p = h100(250.0);
    p.key = "GPU-mig".into();
    p.index = 1;
    p.name = "NVIDIA RTX PRO 6000".into();
    p.kind = DeviceKind::MigParent { instances: 1 };
    p.utilization_pct = Metric::NotApplicable("MIG".into());
    let mut i = GpuSample::blank(
        "MIG-a".into(),
        1,
        "MIG 2g.48gb".into(),
        Vendor::Nvidia,
        Backend::Nvml,
    );
    i.kind = DeviceKind::MigInstance {
        parent: "GPU-mig".into(),
        gpu_instance_id: Some(1),
        compute_instance_id: Some(0),
        profile: Some("2g.48gb".into()),
    };
    i.memory_used_bytes = Metric::Value(40 * GIB);
    i.memory_total_bytes = Metric::Value(47 * GIB);
    vec![p, i]
}

fn node(name: &str, remote: bool, at: Instant, readings: Vec<Vec<GpuSample>>) -> Arc<GpuNodeView> {
    let mut n = GpuNodeView {
        name: name.into(),
        remote,
        origin: "test".into(),
        status: NodeStatus::Starting,
        probes: vec![],
        updated: None,
        interval: Duration::from_secs(1),
        gpus: vec![],
        history: vec![],
    };
    for r in readings {
        n.record(r, at);
    }
    Arc::new(n)
}

fn draw(view: &GpuView, w: u16, h: u16, now: Instant) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::dark();
    term.draw(|f| gpu_pane::render(f, Rect::new(0, 0, w, h), view, &theme, now))
        .unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

#[test]
fn full_blocks_with_mig_unified_and_sparklines() {
    let t = Instant::now();
    let mut local = vec![h100(100.0)];
    local.extend(mig_rows());
    let mut rising = local.clone();
    rising[0] = h100(700.0);
    let view = GpuView {
        nodes: vec![
            node("h100-box", false, t, vec![local, rising]),
            node("spark-b", true, t, vec![vec![gb10()]]),
        ],
    };
    let lines = draw(&view, 48, 20, t);
    let text = lines.join("\n");
    insta::assert_snapshot!(text);
    assert!(lines[2].contains("0 H100 80GB HBM3"), "{text}");
    assert!(lines[3].contains(" 60.0G/80.0G"), "{text}");
    // Power sparkline: 100 then 700 of a 700 W limit.
    assert!(
        lines[4].contains("pwr 700/700W") && lines[4].ends_with("▂█│"),
        "{text}"
    );
    assert!(text.contains("MIG×1"), "{text}");
    assert!(text.contains("  └ 2g.48gb GI1"), "{text}");
    assert!(text.contains("n/a (MIG)"), "{text}");
    assert!(
        text.contains("NVIDIA GB10 UNIFIED") || text.contains("GB10 UNIFIED"),
        "{text}"
    );
    assert!(text.contains("held 37.0G host 47.0G/121.0G"), "{text}");
}

#[test]
fn folds_to_one_line_per_gpu_when_short() {
    let t = Instant::now();
    let mut local = vec![h100(350.0)];
    local.extend(mig_rows());
    let view = GpuView {
        nodes: vec![
            node("h100-box", false, t, vec![local]),
            node("spark-b", true, t, vec![vec![gb10()]]),
        ],
    };
    let lines = draw(&view, 40, 8, t);
    let text = lines.join("\n");
    insta::assert_snapshot!(text);
    assert!(
        lines[2].contains("75%") && lines[2].contains("350W"),
        "{text}"
    );
    assert!(lines[4].contains("└"), "{text}");
    assert!(lines[6].contains("U 39%"), "{text}");
}

#[test]
fn stale_remote_shows_its_age_dimmed() {
    let t = Instant::now();
    let view = GpuView {
        nodes: vec![node("spark-b", true, t, vec![vec![gb10()]])],
    };
    let later = t + Duration::from_secs(12);
    let lines = draw(&view, 48, 8, later);
    assert!(lines[1].contains("spark-b stale 12s"), "{lines:#?}");
    let mut term = Terminal::new(TestBackend::new(48, 8)).unwrap();
    let theme = Theme::dark();
    term.draw(|f| gpu_pane::render(f, Rect::new(0, 0, 48, 8), &view, &theme, later))
        .unwrap();
    let buf = term.backend().buffer();
    // The GPU title row is drawn in the theme's dim style.
    assert_eq!(buf[(1, 2)].fg, theme.dim().fg.unwrap());
    assert_eq!(buf[(9, 1)].fg, theme.warn().fg.unwrap());
}

#[test]
fn sparkline_scales_and_pads() {
    type Case<'a> = (&'a [Option<f64>], usize, Option<f64>, &'a str);
    let cases: &[Case] = &[
        (&[Some(0.0), Some(50.0), Some(100.0)], 3, Some(100.0), "▁▅█"),
        (&[Some(10.0), None, Some(20.0)], 5, None, "  ▅ █"),
        (&[Some(1.0), Some(2.0), Some(3.0)], 2, Some(3.0), "▆█"),
        (&[], 2, None, "  "),
    ];
    for (vals, w, max, want) in cases {
        assert_eq!(gpu_pane::sparkline(vals, *w, *max), *want, "{vals:?}");
    }
}

#[test]
fn a_one_line_strip_shows_the_gpu_not_a_border() {
    // The 80x24 fold gives the panel a strip of one line per GPU: no room for a box.
    let now = Instant::now();
    let view = GpuView {
        nodes: vec![node("local", false, now, vec![vec![h100(300.0)]])],
    };
    let lines = draw(&view, 80, 1, now);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("H100"), "{lines:?}");
    assert!(
        !lines[0].contains('┌') && !lines[0].contains('─'),
        "{lines:?}"
    );

    let mut none = (*node("vm", false, now, vec![])).clone();
    none.status = NodeStatus::NoGpu;
    let view = GpuView {
        nodes: vec![Arc::new(none)],
    };
    let lines = draw(&view, 80, 1, now);
    assert!(lines[0].starts_with("vm no GPU"), "{lines:?}");
}
