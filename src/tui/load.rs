//! The load pane: concurrency and request rate (now against target), lengths and counters.
//!
//! The achieved rate turns to the warning style when it falls short of the target, so a client
//! that cannot keep up is visible rather than hidden.

use super::fmt;
use super::pane::{field, pane_block};
use super::theme::Theme;
use crate::metrics::snapshot::{RunState, Snapshot};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::time::Duration;

/// Achieved below this share of the target rate (while running) shows as a warning.
const RATE_SHORTFALL: f64 = 0.9;

/// True when the engine sends noticeably slower than asked (after a settling time).
pub fn rate_short(snap: &Snapshot) -> bool {
    let Some(target) = snap.control.request_rate else {
        return false;
    };
    snap.state == RunState::Running
        && snap.elapsed >= Duration::from_secs(5)
        && snap.achieved_rate < target * RATE_SHORTFALL
}

pub fn render(frame: &mut Frame, area: Rect, snap: &Snapshot, theme: &Theme) {
    let c = &snap.counts;
    let ctl = &snap.control;
    let info = &snap.info;
    let text = theme.text();

    let cap = match ctl.max_concurrency {
        Some(n) => format!(" of {n} max"),
        None => " (no cap)".to_string(),
    };
    let over = snap.state == RunState::Done;
    let target = match ctl.request_rate {
        _ if over => " over the run".to_string(),
        Some(r) => format!(" of {}/s", fmt::rate(r)),
        None => " (rate ∞)".to_string(),
    };
    let rate_style = if rate_short(snap) {
        theme.warn()
    } else {
        theme.accent()
    };
    let len = |v: Option<u32>| v.map_or(fmt::NA.to_string(), |n| fmt::count(n as u64));
    let failed_style = if c.failed > 0 { theme.error() } else { text };

    let mut lines = vec![
        Line::from(
            [
                field(
                    "in flight  ",
                    c.in_flight.to_string(),
                    theme,
                    theme.accent(),
                ),
                vec![Span::styled(cap, theme.dim())],
            ]
            .concat(),
        ),
        Line::from(
            [
                field(
                    "req/s      ",
                    fmt::rate(shown_rate(snap)),
                    theme,
                    rate_style,
                ),
                vec![Span::styled(target, theme.dim())],
            ]
            .concat(),
        ),
        Line::from(
            [
                field("in / out   ", len(info.input_len), theme, text),
                field(" / ", len(info.output_len), theme, text),
                vec![Span::styled(" tok", theme.dim())],
            ]
            .concat(),
        ),
        Line::from(
            [
                field("sent       ", fmt::count(c.sent), theme, text),
                field("  ok ", fmt::count(c.ok), theme, theme.ok()),
            ]
            .concat(),
        ),
        Line::from(
            [
                field("failed     ", fmt::count(c.failed), theme, failed_style),
                field("  queued ", fmt::count(c.queued), theme, text),
            ]
            .concat(),
        ),
        Line::from(
            [
                field(
                    "peak conc  ",
                    snap.peak_concurrency.to_string(),
                    theme,
                    text,
                ),
                field("  warm-ups ", c.warmups.to_string(), theme, theme.dim()),
            ]
            .concat(),
        ),
        Line::from(
            [
                // Every token so far, streaming requests included (live, not at completion).
                field(
                    "tokens in  ",
                    fmt::compact(c.received_input_tokens),
                    theme,
                    text,
                ),
                field(
                    "  out ",
                    fmt::compact(c.received_output_tokens),
                    theme,
                    text,
                ),
            ]
            .concat(),
        ),
    ];
    // Warnings go right under the rate so a short pane still shows them.
    let mut warnings = Vec::new();
    if ctl.paused {
        warnings.push(Line::styled("paused: space resumes", theme.warn()));
    }
    if rate_short(snap) {
        warnings.push(Line::styled("sending slower than the target", theme.warn()));
    }
    lines.splice(2..2, warnings);
    if c.output_from_chunks > 0 {
        // Without usage from the server, output counts are chunk counts: say so.
        lines.push(Line::styled(
            format!(
                "{} outputs counted by chunk",
                fmt::count(c.output_from_chunks)
            ),
            theme.warn(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(pane_block("Load", None, theme)),
        area,
    );
}

/// Requests per second to show: sent over the last seconds while the run goes on; once it is
/// over there is no current rate, so the run's mean.
fn shown_rate(snap: &Snapshot) -> f64 {
    if snap.state == RunState::Done {
        let secs = snap.elapsed.as_secs_f64();
        if secs > 0.0 {
            snap.counts.sent as f64 / secs
        } else {
            0.0
        }
    } else {
        snap.achieved_rate
    }
}

/// One line for narrow terminals: in flight, rate, ok and failed.
pub fn render_line(frame: &mut Frame, area: Rect, snap: &Snapshot, theme: &Theme) {
    let c = &snap.counts;
    let cap = snap
        .control
        .max_concurrency
        .map_or("∞".to_string(), |n| n.to_string());
    let target = match snap.control.request_rate {
        _ if snap.state == RunState::Done => " mean".to_string(),
        Some(r) => format!("/{}", fmt::rate(r)),
        None => "/∞".to_string(),
    };
    let rate_style = if rate_short(snap) {
        theme.warn()
    } else {
        theme.accent()
    };
    let failed_style = if c.failed > 0 {
        theme.error()
    } else {
        theme.text()
    };
    let line = Line::from(
        [
            field(
                " in flight ",
                format!("{}/{cap}", c.in_flight),
                theme,
                theme.accent(),
            ),
            field(" · req/s ", fmt::rate(shown_rate(snap)), theme, rate_style),
            vec![Span::styled(target, theme.dim())],
            field(" · ok ", fmt::count(c.ok), theme, theme.ok()),
            field(" · failed ", fmt::count(c.failed), theme, failed_style),
        ]
        .concat(),
    );
    frame.render_widget(Paragraph::new(line), area);
}
