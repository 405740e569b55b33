//! The sweep pane: each finished step is a point of output tokens/s against the swept load
//! (concurrency or rate, log scale), with a row per step below: p50/p99 TTFT and TPOT, GPU watts,
//! J/token. The best step and the knee (where throughput stops growing) are marked; the title
//! says where the sweep stands ("step 3 of 6, 1:20 left").
//!
//! ```text
//! ╭ Sweep · step 3 of 6, 1:20 left ──────────────────────────╮
//! │ out tok/s   •          ◆ ★                               │  chart (when tall enough)
//! │ load  out tok/s  TTFT p50/p99  TPOT p50/p99  GPU W  J/tok │  one row per finished step
//! ╰──────────────────────────────────────────────────────────╯
//! ```

use crate::sweep::plan::Axis;
use crate::sweep::summary::StepSummary;
use crate::sweep::SweepView;
use crate::tui::pane::pane_block;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis as ChartAxis, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

/// Below this inner height the chart is left out and only the rows are drawn.
const CHART_MIN_HEIGHT: u16 = 12;

/// "step 3 of 6, 1:20 left", "probe 4", or "done".
pub fn status(v: &SweepView) -> String {
    match &v.current {
        Some((i, Some(total), _)) => {
            let left = v
                .eta
                .map(|d| {
                    let s = d.as_secs();
                    format!(", {}:{:02} left", s / 60, s % 60)
                })
                .unwrap_or_default();
            format!("step {} of {total}{left}", i + 1)
        }
        Some((i, None, _)) => format!("probe {}", i + 1),
        None if v.finished => "done".into(),
        None => "starting".into(),
    }
}

fn load_text(axis: Option<Axis>, s: &StepSummary) -> String {
    match (axis, s.load) {
        (Some(Axis::Rate), None) => "inf".into(),
        (_, Some(l)) if l.fract() == 0.0 => format!("{l:.0}"),
        (_, Some(l)) => format!("{l:.2}"),
        (_, None) => "-".into(),
    }
}

fn num(s: &StepSummary, key: &str, prec: usize) -> String {
    s.figures
        .get(key)
        .map(|f| format!("{}{:.prec$}", if f.unstable { "~" } else { "" }, f.mean))
        .unwrap_or_else(|| "-".into())
}

/// Draw the pane into `area`.
pub fn render(frame: &mut Frame, area: Rect, v: &SweepView, theme: &Theme) {
    let title = format!("Sweep · {}", status(v));
    let block = pane_block(&title, None, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows_needed = v.steps.len() as u16 + 2;
    let (chart_area, rows_area) = if inner.height >= CHART_MIN_HEIGHT {
        let [c, r] = Layout::vertical([
            Constraint::Min(6),
            Constraint::Length(rows_needed.min(inner.height / 2)),
        ])
        .areas(inner);
        (Some(c), r)
    } else {
        (None, inner)
    };
    if let Some(c) = chart_area {
        chart(frame, c, v, theme);
    }
    rows(frame, rows_area, v, theme);
}

/// Output tok/s against log2(load), the best step and the knee as their own points.
fn chart(frame: &mut Frame, area: Rect, v: &SweepView, theme: &Theme) {
    let point = |s: &StepSummary| Some((s.load?.log2(), s.figure("output_throughput")?));
    let points: Vec<(f64, f64)> = v.steps.iter().filter_map(point).collect();
    if points.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "each finished step becomes a point here",
                theme.dim(),
            )),
            area,
        );
        return;
    }
    let mark = |i: Option<usize>| -> Vec<(f64, f64)> {
        i.and_then(|i| v.steps.get(i))
            .and_then(point)
            .into_iter()
            .collect()
    };
    let (best, knee) = (mark(v.best), mark(v.knee));
    let x_lo = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_hi = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let y_hi = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1;
    let (x_lo, x_hi) = if x_hi > x_lo {
        (x_lo, x_hi)
    } else {
        (x_lo - 1.0, x_hi + 1.0)
    };
    let label = |x: f64| Span::styled(format!("{:.0}", x.exp2()), theme.dim());
    let axis_name = match v.axis {
        Some(Axis::Rate) => "req/s",
        _ => "concurrency",
    };
    let mut sets = vec![Dataset::default()
        .name("out tok/s")
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.series(0))
        .data(&points)];
    if !knee.is_empty() {
        sets.push(
            Dataset::default()
                .name("knee")
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(theme.warn())
                .data(&knee),
        );
    }
    if !best.is_empty() {
        sets.push(
            Dataset::default()
                .name("best")
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(theme.ok())
                .data(&best),
        );
    }
    // The rows below name the best step and the knee; a legend would cover the curve.
    let chart = Chart::new(sets)
        .legend_position(None)
        .x_axis(
            ChartAxis::default()
                .title(Span::styled(axis_name, theme.dim()))
                .bounds([x_lo, x_hi])
                .labels(vec![label(x_lo), label(x_hi)]),
        )
        .y_axis(
            ChartAxis::default()
                .bounds([0.0, y_hi.max(1.0)])
                .labels(vec![
                    Span::styled("0", theme.dim()),
                    Span::styled(format!("{:.0}", y_hi / 1.1), theme.dim()),
                ]),
        );
    frame.render_widget(chart, area);
}

/// A row per finished step; the widest columns go first when the pane is narrow.
fn rows(frame: &mut Frame, area: Rect, v: &SweepView, theme: &Theme) {
    let wide = area.width >= 64;
    let head = if wide {
        format!(
            "{:>6} {:>10} {:>13} {:>13} {:>7} {:>7}",
            "load", "out tok/s", "TTFT p50/p99", "TPOT p50/p99", "GPU W", "J/tok"
        )
    } else {
        format!(
            "{:>6} {:>9} {:>13} {:>11}",
            "load", "tok/s", "TTFT p50/99", "TPOT p50"
        )
    };
    let mut lines = vec![Line::styled(head, theme.dim())];
    // The newest steps that fit under the header; the last line says what runs now (or the
    // search's answer) when there is room for it.
    let room = area.height.saturating_sub(1) as usize;
    let status_line = v.steps.len() < room;
    let skip = v
        .steps
        .len()
        .saturating_sub(room.saturating_sub(usize::from(status_line)));
    for (i, s) in v.steps.iter().enumerate().skip(skip) {
        let body = if wide {
            format!(
                "{:>6} {:>10} {:>13} {:>13} {:>7} {:>7}",
                load_text(v.axis, s),
                num(s, "output_throughput", 1),
                format!(
                    "{}/{}",
                    num(s, "median_ttft_ms", 0),
                    num(s, "p99_ttft_ms", 0)
                ),
                format!(
                    "{}/{}",
                    num(s, "median_tpot_ms", 1),
                    num(s, "p99_tpot_ms", 1)
                ),
                num(s, "gpu_power_w", 0),
                num(s, "joules_per_output_token", 2),
            )
        } else {
            format!(
                "{:>6} {:>9} {:>13} {:>11}",
                load_text(v.axis, s),
                num(s, "output_throughput", 0),
                format!(
                    "{}/{}",
                    num(s, "median_ttft_ms", 0),
                    num(s, "p99_ttft_ms", 0)
                ),
                num(s, "median_tpot_ms", 1),
            )
        };
        let mut spans = vec![Span::styled(body, theme.text())];
        if v.best == Some(i) {
            spans.push(Span::styled(" best", theme.ok()));
        }
        if v.knee == Some(i) {
            spans.push(Span::styled(" knee", theme.warn()));
        }
        match s.passed {
            Some(true) => spans.push(Span::styled(" pass", theme.ok())),
            Some(false) => spans.push(Span::styled(" fail", theme.error())),
            None => {}
        }
        if s.interrupted || s.runs_failed > 0 {
            spans.push(Span::styled(" partial", theme.warn()));
        }
        lines.push(Line::from(spans));
    }
    let status = match (&v.current, &v.answer) {
        (Some((_, _, name)), _) => Some(Line::styled(format!("running {name}"), theme.dim())),
        (None, Some(a)) => Some(Line::styled(a.clone(), theme.accent())),
        (None, None) => None,
    };
    lines.extend(status.filter(|_| status_line));
    frame.render_widget(Paragraph::new(lines), area);
}
