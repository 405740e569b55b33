//! The side panel: telemetry. A GPU view (when the caller provides one) on top, the client's
//! own CPU and memory below, so a load generator short of CPU says so on screen.

use super::app::App;
use super::fmt;
use super::pane::{pane_block, WIDE};
use super::theme::Theme;
use super::SideView;
use crate::telemetry::sysstat::{ClientStat, SATURATION};
use ratatui::backend::TestBackend;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::{Frame, Terminal};
use std::time::Instant;

/// Lines the client section takes in the column layout (border included).
const CLIENT_H: u16 = 6;

fn cpu_text(c: &ClientStat) -> String {
    match c.cpu_percent {
        Some(p) => format!("{p:.0}% of {} cores", c.cores),
        None => "n/a".to_string(),
    }
}

fn rss_text(c: &ClientStat) -> String {
    c.rss_bytes.map_or("n/a".to_string(), fmt::bytes)
}

/// Where the panes and the side panel go: a column on the right from `WIDE` columns on,
/// else one line per device under the panes. Returns (panes, side, wide).
pub fn split(body: Rect, gpu: Option<&dyn SideView>) -> (Rect, Rect, bool) {
    let wide = body.width >= WIDE;
    let (main, side) = if wide {
        let side_w = if body.width >= 150 { 36 } else { 30 };
        let [l, s] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(side_w)]).areas(body);
        (l, s)
    } else {
        let lines = 1 + gpu.map_or(0, |g| g.compact_lines());
        let lines = lines.min(body.height / 4).max(1);
        let [l, s] = Layout::vertical([Constraint::Fill(1), Constraint::Length(lines)]).areas(body);
        (l, s)
    };
    (main, side, wide)
}

/// Draw the panel. `compact`: a strip of one line per device (narrow terminals).
pub fn render(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    gpu: Option<&dyn SideView>,
    compact: bool,
    now: Instant,
) {
    if compact {
        let gpu_h = gpu.map_or(0, |g| g.compact_lines().min(area.height.saturating_sub(1)));
        let [g, c] = Layout::vertical([Constraint::Length(gpu_h), Constraint::Fill(1)]).areas(area);
        if let Some(view) = gpu {
            if gpu_h > 0 {
                render_borderless(view, frame, g, theme, now);
            }
        }
        client_line(frame, c, app, theme);
        return;
    }
    match gpu {
        Some(view) => {
            let [g, c] =
                Layout::vertical([Constraint::Fill(1), Constraint::Length(CLIENT_H)]).areas(area);
            view.render(frame, g, theme, now);
            client_block(frame, c, app, theme);
        }
        None => client_block(frame, area, app, theme),
    }
}

/// Draw a view that frames itself with a block into a strip with no room for one: draw it off
/// screen two cells larger each way and keep the inside. A view that draws no border is drawn
/// in place.
fn render_borderless(
    view: &dyn SideView,
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    now: Instant,
) {
    // TestBackend cannot fail (its error type is `Infallible`).
    let Ok(mut off) = Terminal::new(TestBackend::new(area.width + 2, area.height + 2));
    let Ok(_) = off.draw(|f| view.render(f, f.area(), theme, now));
    let src = off.backend().buffer();
    let framed = src
        .cell((0, 0))
        .is_some_and(|c| matches!(c.symbol(), "┌" | "╭" | "╔" | "┏" | "+"));
    if !framed {
        view.render(frame, area, theme, now);
        return;
    }
    let dst = frame.buffer_mut();
    for y in 0..area.height {
        for x in 0..area.width {
            if let (Some(s), Some(d)) = (
                src.cell((x + 1, y + 1)),
                dst.cell_mut((area.x + x, area.y + y)),
            ) {
                *d = s.clone();
            }
        }
    }
}

fn cpu_style(c: &ClientStat, theme: &Theme) -> ratatui::style::Style {
    match c.cpu_share() {
        Some(s) if s >= SATURATION => theme.error(),
        Some(s) if s >= SATURATION * 0.75 => theme.warn(),
        _ => theme.text(),
    }
}

fn client_line(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let c = &app.client;
    let mut spans = vec![
        Span::styled("client CPU ", theme.dim()),
        Span::styled(cpu_text(c), cpu_style(c, theme)),
        Span::styled(" · RSS ", theme.dim()),
        Span::styled(rss_text(c), theme.text()),
    ];
    if c.saturated() {
        spans.push(Span::styled(
            " · CPU-BOUND: timings inflated",
            theme.error(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn client_block(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = pane_block("Client (this process)", Some('4'), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let c = &app.client;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("CPU  ", theme.dim()),
            Span::styled(cpu_text(c), cpu_style(c, theme)),
        ]),
        Line::from(vec![
            Span::styled("RSS  ", theme.dim()),
            Span::styled(rss_text(c), theme.text()),
        ]),
    ];
    if c.saturated() {
        lines.push(Line::styled("CPU-BOUND: timings inflated", theme.error()));
    } else if c.cpu_percent.is_none() {
        lines.push(Line::styled("(readings need Linux /proc)", theme.dim()));
    }
    let text_h = (lines.len() as u16).min(inner.height);
    let [t, label, spark] = Layout::vertical([
        Constraint::Length(text_h),
        Constraint::Length(1),
        Constraint::Max(4),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines), t);
    if spark.height > 0 && !app.client_history.is_empty() {
        let secs = app.client_history.len().min(spark.width as usize);
        frame.render_widget(
            Paragraph::new(Line::styled(format!("CPU, last {secs} s"), theme.dim())),
            label,
        );
        // Scaled to all cores: a full bar means the client is out of CPU.
        let full = c.cores.max(1) as u64 * 100;
        let n = spark.width as usize;
        let skip = app.client_history.len().saturating_sub(n);
        let data: Vec<u64> = app.client_history[skip..]
            .iter()
            .map(|p| (p.max(0.0) as u64).min(full))
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(&data)
                .max(full)
                .style(cpu_style(c, theme)),
            spark,
        );
    }
}
