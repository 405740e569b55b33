//! The GPU side panel: one block per GPU (local first, then each remote node under its name)
//! with a memory bar, power against its limit with a sparkline, temperature and a utilisation
//! sparkline; MIG instances indented under their parent; the UNIFIED tag on GB10. When the area
//! is too small (80x24) it folds to one line per GPU. Colours come only from the Theme.

use crate::telemetry::gpu::{
    fmt_gib, DeviceKind, GpuHistory, GpuNodeView, GpuSample, GpuView, Metric, NodeStatus,
};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use std::time::Instant;

const TICKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Draw the panel into `area`. `now` decides which remote rows are stale.
pub fn render(frame: &mut Frame, area: Rect, gpus: &GpuView, theme: &Theme, now: Instant) {
    // A strip too short for a box (the 80x24 fold): one compact line per GPU, no border.
    if area.height < 4 {
        let mut full = lines(gpus, theme, now, area.width as usize, true);
        full.truncate(area.height as usize);
        frame.render_widget(Paragraph::new(full), area);
        return;
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(false))
        .title(Span::styled(" GPU ", theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut full = lines(gpus, theme, now, width, false);
    if full.len() > inner.height as usize {
        full = lines(gpus, theme, now, width, true);
    }
    // GPU lines are fitted to the width already; a node's status ("no GPU (tried nvml, ...)")
    // may be longer, and is wrapped rather than cut.
    frame.render_widget(Paragraph::new(full).wrap(Wrap { trim: false }), inner);
}

fn lines(
    view: &GpuView,
    theme: &Theme,
    now: Instant,
    width: usize,
    compact: bool,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let headers = view.nodes.len() > 1 || view.nodes.iter().any(|n| n.remote);
    if view.nodes.is_empty() {
        out.push(Line::styled("GPU telemetry off", theme.dim()));
    }
    for node in &view.nodes {
        let stale = node.remote && node.is_stale(now);
        if headers || node.status != NodeStatus::Ok {
            out.push(node_header(node, theme, now, stale));
        }
        let dim = stale || matches!(node.status, NodeStatus::Error(_));
        for g in &node.gpus {
            let history = node.history_of(&g.key);
            let mut gl = if compact {
                vec![compact_line(g, theme, width)]
            } else {
                gpu_block(g, history, theme, width)
            };
            if dim {
                for l in &mut gl {
                    for s in &mut l.spans {
                        s.style = theme.dim();
                    }
                }
            }
            out.extend(gl);
        }
    }
    out
}

fn node_header(node: &GpuNodeView, theme: &Theme, now: Instant, stale: bool) -> Line<'static> {
    let mut spans = vec![Span::styled(node.name.clone(), theme.accent())];
    match &node.status {
        NodeStatus::Starting => spans.push(Span::styled(" starting…", theme.dim())),
        NodeStatus::NoGpu => {
            let tried: Vec<&str> = node.probes.iter().map(|p| p.backend.as_str()).collect();
            spans.push(Span::styled(
                format!(" no GPU (tried {})", tried.join(", ")),
                theme.dim(),
            ));
        }
        NodeStatus::Error(e) => spans.push(Span::styled(format!(" {e}"), theme.error())),
        NodeStatus::Ok => {}
    }
    if stale {
        let age = node.age(now).map(|a| a.as_secs()).unwrap_or(0);
        spans.push(Span::styled(format!(" stale {age}s"), theme.warn()));
    }
    Line::from(spans)
}

/// ok below 75 %, warn below 90 %, error above.
pub fn level(theme: &Theme, frac: f64) -> Style {
    if frac >= 0.9 {
        theme.error()
    } else if frac >= 0.75 {
        theme.warn()
    } else {
        theme.ok()
    }
}

pub fn bar(theme: &Theme, frac: Option<f64>, width: usize) -> Vec<Span<'static>> {
    let Some(f) = frac else {
        return vec![Span::styled("·".repeat(width), theme.dim())];
    };
    let f = f.clamp(0.0, 1.0);
    let filled = ((f * width as f64).round() as usize).min(width);
    vec![
        Span::styled("█".repeat(filled), level(theme, f)),
        Span::styled("░".repeat(width - filled), theme.dim()),
    ]
}

/// A text sparkline of the last `width` values, scaled to `max` (or the window's own peak).
pub fn sparkline(values: &[Option<f64>], width: usize, max: Option<f64>) -> String {
    let tail = &values[values.len().saturating_sub(width)..];
    let top = max
        .or_else(|| tail.iter().flatten().copied().reduce(f64::max))
        .filter(|m| *m > 0.0);
    let mut s: String = tail
        .iter()
        .map(|v| match (v, top) {
            (Some(v), Some(top)) => {
                let i = ((v / top).clamp(0.0, 1.0) * 7.0).round() as usize;
                TICKS[i]
            }
            _ => ' ',
        })
        .collect();
    let pad = width.saturating_sub(tail.len());
    s.insert_str(0, &" ".repeat(pad));
    s
}

fn title_of(g: &GpuSample) -> String {
    match &g.kind {
        DeviceKind::MigInstance {
            gpu_instance_id,
            profile,
            ..
        } => format!(
            "  └ {} GI{}",
            profile.as_deref().unwrap_or("MIG"),
            gpu_instance_id.map(|i| i.to_string()).unwrap_or("?".into())
        ),
        _ => format!("{} {}", g.index, g.name.trim_start_matches("NVIDIA ")),
    }
}

fn mem_text(g: &GpuSample) -> String {
    match &g.unified {
        Some(u) => format!(
            "held {} host {}/{}",
            u.gpu_held_bytes.display(|b| fmt_gib(*b)),
            u.host_used_bytes.display(|b| fmt_gib(*b)),
            u.host_total_bytes.display(|b| fmt_gib(*b))
        ),
        None => format!(
            "{}/{}",
            g.memory_used_bytes.display(|b| fmt_gib(*b)),
            g.memory_total_bytes.display(|b| fmt_gib(*b))
        ),
    }
}

/// The fraction for the memory bar; on unified memory the host's pressure, which causes OOMs.
fn mem_frac(g: &GpuSample) -> Option<f64> {
    let (used, total) = match &g.unified {
        Some(u) => (u.host_used_bytes.value(), u.host_total_bytes.value()),
        None => (g.memory_used_bytes.value(), g.memory_total_bytes.value()),
    };
    let (u, t) = (used?, total?);
    (t > 0).then(|| u as f64 / t as f64)
}

fn fit(s: String, width: usize) -> String {
    if s.chars().count() <= width {
        s
    } else {
        s.chars().take(width.saturating_sub(1)).collect::<String>() + "…"
    }
}

fn gpu_block(
    g: &GpuSample,
    h: Option<&GpuHistory>,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut title = vec![Span::styled(
        fit(title_of(g), width.saturating_sub(10)),
        theme.text(),
    )];
    match g.kind {
        DeviceKind::Unified => title.push(Span::styled(" UNIFIED", theme.accent())),
        DeviceKind::MigParent { instances } => {
            title.push(Span::styled(format!(" MIG×{instances}"), theme.accent()))
        }
        _ => {}
    }
    let indent = if g.is_mig_instance() { "    " } else { "" };
    let mem = mem_text(g);
    let bar_w = width
        .saturating_sub(indent.len() + 5 + mem.chars().count())
        .clamp(3, 20);
    let mut mem_line = vec![Span::styled(format!("{indent}mem "), theme.dim())];
    mem_line.extend(bar(theme, mem_frac(g), bar_w));
    mem_line.push(Span::styled(format!(" {mem}"), theme.text()));
    let mut out = vec![Line::from(title), Line::from(mem_line)];
    if g.is_mig_instance() {
        return out;
    }
    let points: Vec<_> = h
        .map(|h| h.points.iter().copied().collect())
        .unwrap_or_default();
    let power: Vec<Option<f64>> = points
        .iter()
        .map(|p: &crate::telemetry::gpu::sampler::HistoryPoint| p.power_w)
        .collect();
    let util: Vec<Option<f64>> = points.iter().map(|p| p.util_pct).collect();
    let ptext = match g.power_limit_w.value() {
        Some(limit) => format!(
            "pwr {}/{limit:.0}W ",
            g.power_w.display(|w| format!("{w:.0}"))
        ),
        None => format!("pwr {} ", g.power_w.display(|w| format!("{w:.0}W"))),
    };
    let pstyle = match (g.power_w.value(), g.power_limit_w.value()) {
        (Some(p), Some(l)) if l > 0.0 => level(theme, p / l),
        _ => theme.text(),
    };
    let spark_w = width.saturating_sub(ptext.chars().count()).min(40);
    out.push(Line::from(vec![
        Span::styled(ptext, pstyle),
        Span::styled(
            sparkline(&power, spark_w, g.power_limit_w.value()),
            theme.series(0),
        ),
    ]));
    let ttext = format!(
        "{} util {} ",
        g.temperature_c.display(|c| format!("{c:.0}°C")),
        g.utilization_pct.display(|u| format!("{u:.0}%"))
    );
    let mut last = vec![Span::styled(ttext.clone(), theme.text())];
    if matches!(g.utilization_pct, Metric::Value(_)) {
        let w = width.saturating_sub(ttext.chars().count()).min(40);
        last.push(Span::styled(
            sparkline(&util, w, Some(100.0)),
            theme.series(1),
        ));
    }
    out.push(Line::from(last));
    out
}

fn compact_line(g: &GpuSample, theme: &Theme, width: usize) -> Line<'static> {
    let mem = match mem_frac(g) {
        Some(f) => format!("{:.0}%", f * 100.0),
        None => "--".into(),
    };
    let mem_style = mem_frac(g).map(|f| level(theme, f)).unwrap_or(theme.dim());
    let tag = match g.kind {
        DeviceKind::Unified => "U ",
        _ => "",
    };
    let rest = if g.is_mig_instance() {
        format!(" {}", mem_text(g))
    } else {
        format!(
            " {} {} {}",
            g.power_w.display(|w| format!("{w:.0}W")),
            g.temperature_c.display(|c| format!("{c:.0}°C")),
            g.utilization_pct.display(|u| format!("{u:.0}%"))
        )
    };
    let name_w = width
        .saturating_sub(rest.chars().count() + mem.len() + tag.len() + 2)
        .max(4);
    Line::from(vec![
        Span::styled(
            format!("{:<name_w$} ", fit(title_of(g), name_w)),
            theme.text(),
        ),
        Span::styled(tag.to_string(), theme.accent()),
        Span::styled(mem, mem_style),
        Span::styled(rest, theme.text()),
    ])
}
