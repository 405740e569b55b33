//! The screen layout: which pane goes where at which terminal size. Pure: it reads the app,
//! the snapshot, the theme and `now`, and only writes cells.
//!
//! ```text
//! wide (>= 100 columns)                                  narrow (80x24)
//! +-header------------------------------------------+   +-header----------------------+
//! |+-Load-----++-1 Throughput---------++-4 Client--+|   |+-Load---++-1 Throughput----+|
//! ||          ||                      ||  (GPU     ||   ||        ||                 ||
//! |+----------++----------------------+|   view    ||   |+--------++-----------------+|
//! |+-2 Latency------------------------+|   goes    ||   |+-2 Latency----------------+|
//! |+----------------------------------+|   here)   ||   |+--------------------------+|
//! |+-3 Errors----++-Requests and events+|           ||   |+-3 Errors or Requests-----+|
//! |+-------------++-------------------++-----------+|   | client / GPU: one line each |
//! +-footer------------------------------------------+   +-footer----------------------+
//! ```

use super::app::Screen;
use super::app::{App, Pane};
use super::pane::centred;
use super::theme::Theme;
use super::{
    errors, footer, header, latency, load, log, server_charts, side, sweep_pane, throughput,
    SideView,
};
use crate::metrics::snapshot::Snapshot;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;
use std::time::Instant;

/// Below this the screen only says it is too small.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;
pub use super::pane::WIDE;
/// The fewest rows the sweep pane gets in a sweep: its borders, a header and two steps.
const SWEEP_MIN_H: u16 = 5;

/// Draw the whole dashboard.
pub fn draw(
    frame: &mut Frame,
    app: &App,
    snap: &Snapshot,
    theme: &Theme,
    now: Instant,
    gpu: Option<&dyn SideView>,
) {
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.background()), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal {}x{} is too small: tokscope needs {MIN_WIDTH}x{MIN_HEIGHT} (80x24 or more is best)",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(msg)
                .style(theme.warn())
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    if app.screen == Screen::Watch {
        super::watch_screen::draw(frame, area, app, theme, now, gpu);
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    match &app.sweep {
        Some(view) => {
            // "step 3 of 6, 1:20 left" at the right of the header; the header fits the rest.
            let status = format!(" Sweep {} ", sweep_pane::status(view));
            let w = (status.chars().count() as u16).min(head.width / 2);
            let [h, s] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Length(w)]).areas(head);
            header::render(frame, h, snap, theme);
            frame.render_widget(Paragraph::new(Span::styled(status, theme.accent())), s);
        }
        None => header::render(frame, head, snap, theme),
    }
    footer::render(frame, foot, app, snap, theme, now);

    match app.zoom {
        Some(Pane::Telemetry) => side::render(frame, body, app, theme, gpu, false, now),
        Some(Pane::Sweep) => match &app.sweep {
            Some(view) => sweep_pane::render(frame, body, view, theme),
            None => draw_panes(frame, body, app, snap, theme, gpu, now),
        },
        Some(Pane::Throughput) => throughput::render(frame, body, app, snap, theme),
        Some(Pane::Latency) => latency::render(frame, body, snap, theme),
        Some(Pane::Server) => server_charts::render(frame, body, &app.server, Some(snap), theme),
        Some(Pane::Requests) if snap.errors.is_empty() => {
            log::render(frame, body, snap, theme, true)
        }
        Some(Pane::Requests) => {
            let [e, l] =
                Layout::vertical([Constraint::Percentage(35), Constraint::Fill(1)]).areas(body);
            errors::render(frame, e, snap, theme);
            log::render(frame, l, snap, theme, false);
        }
        None => draw_panes(frame, body, app, snap, theme, gpu, now),
    }

    if let Some(fatal) = &snap.fatal {
        fatal_overlay(frame, body, fatal, theme);
    }
    if app.help {
        footer::help_overlay(frame, body, theme, app.sweep.is_some());
    }
}

fn draw_panes(
    frame: &mut Frame,
    body: Rect,
    app: &App,
    snap: &Snapshot,
    theme: &Theme,
    gpu: Option<&dyn SideView>,
    now: Instant,
) {
    let (left, side_area, wide) = side::split(body, gpu);
    side::render(frame, side_area, app, theme, gpu, !wide, now);

    let lat_rows = latency::rows(snap) as u16;
    let lat_h = lat_rows + 3;
    let top_h = (left.height * 2 / 5).clamp(8, 18);
    let bottom_h = left.height.saturating_sub(top_h + lat_h);
    let sweep_squeezed = app.sweep.is_some() && bottom_h < SWEEP_MIN_H;
    let [top, lat, bottom] = if bottom_h >= 4 && !sweep_squeezed {
        Layout::vertical([
            Constraint::Length(top_h),
            Constraint::Length(lat_h),
            Constraint::Fill(1),
        ])
        .areas(left)
    } else if app.sweep.is_some() && left.height >= 8 + 4 + SWEEP_MIN_H {
        // A sweep on a short screen (80x24): its pane keeps a header and the newest steps,
        // the latency pane gives up its last rows.
        let lat = (left.height - 8 - SWEEP_MIN_H).min(lat_h);
        let [t, l, b] = Layout::vertical([
            Constraint::Length(8),
            Constraint::Length(lat),
            Constraint::Fill(1),
        ])
        .areas(left);
        [t, l, b]
    } else if !snap.errors.is_empty() && left.height >= 7 + 5 + 4 {
        // Short, and requests fail: why they fail matters more than the lower latency rows
        // (the pane keeps its header and the first metrics) and the load pane's last lines.
        let errors_h = (2 + snap.errors.len() as u16).min(5);
        let spare = left.height - errors_h;
        let top = if spare >= 8 + 5 { 8 } else { 7 };
        let lat = (spare - top).min(lat_h);
        let [t, l, b] = Layout::vertical([
            Constraint::Length(top),
            Constraint::Length(lat),
            Constraint::Fill(1),
        ])
        .areas(left);
        [t, l, b]
    } else if left.height >= 8 + 3 {
        // Too short for the request panes: fold them away, keep load, chart and latency.
        let [t, l] = Layout::vertical([Constraint::Length(8), Constraint::Fill(1)]).areas(left);
        [t, l, Rect::default()]
    } else {
        // Tiny: the latency pane keeps one line of medians (a box with nothing in it would
        // only take room) and the rest goes to load and throughput figures.
        let lat = if left.height >= 3 + 4 { 3 } else { 0 };
        let [t, l] = Layout::vertical([Constraint::Fill(1), Constraint::Length(lat)]).areas(left);
        [t, l, Rect::default()]
    };

    if left.width >= 68 {
        let load_w = if left.width >= 110 { 36 } else { 32 };
        let [load_area, chart] =
            Layout::horizontal([Constraint::Length(load_w), Constraint::Fill(1)]).areas(top);
        load::render(frame, load_area, snap, theme);
        throughput::render(frame, chart, app, snap, theme);
    } else {
        // Very narrow: the load pane becomes one line above the chart.
        let [line, chart] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(top);
        load::render_line(frame, line, snap, theme);
        throughput::render(frame, chart, app, snap, theme);
    }
    if lat.height > 0 {
        latency::render(frame, lat, snap, theme);
    }

    if bottom.height > 0 {
        if let Some(view) = &app.sweep {
            // A sweep: its pane takes the row (beside the errors or the log when wide; they
            // stay a `3` away when narrow).
            let sweep_area = if bottom.width >= 110 {
                let [other, sw] =
                    Layout::horizontal([Constraint::Percentage(38), Constraint::Fill(1)])
                        .areas(bottom);
                if snap.errors.is_empty() {
                    log::render(frame, other, snap, theme, true);
                } else {
                    errors::render(frame, other, snap, theme);
                }
                sw
            } else {
                bottom
            };
            sweep_pane::render(frame, sweep_area, view, theme);
        } else if snap.errors.is_empty() {
            // No errors: the request log takes the row, its title says so (an empty errors
            // box would only take half the row).
            log::render(frame, bottom, snap, theme, true);
        } else if bottom.width >= 90 {
            let [e, l] =
                Layout::horizontal([Constraint::Percentage(40), Constraint::Fill(1)]).areas(bottom);
            errors::render(frame, e, snap, theme);
            log::render(frame, l, snap, theme, false);
        } else {
            // One pane fits: the errors.
            errors::render(frame, bottom, snap, theme);
        }
    }
}

fn fatal_overlay(frame: &mut Frame, body: Rect, fatal: &str, theme: &Theme) {
    let r = centred(body, 72, 9);
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.error())
        .title(Span::styled(" The run cannot go on ", theme.error()))
        .style(theme.background());
    let text = vec![
        Line::styled(fatal.to_string(), theme.text()),
        Line::raw(""),
        Line::styled("s saves what was measured; q quits.", theme.dim()),
    ];
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: true }),
        r,
    );
}
