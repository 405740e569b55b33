//! The bottom line (keys, or the latest message such as where `s` saved) and the `?` overlay.

use super::app::App;
use super::fmt;
use super::pane::centred;
use super::theme::Theme;
use crate::metrics::snapshot::{RunState, Snapshot};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;
use std::time::Instant;

/// (key, what it does, short form for narrow screens).
const KEYS: [(&str, &str, &str); 9] = [
    ("space", "pause", "pause"),
    ("+/-", "concurrency", "conc"),
    ("]/[", "rate", "rate"),
    ("w", "window", "win"),
    ("t", "theme", "theme"),
    ("s", "save", "save"),
    ("1-5", "zoom", "zoom"),
    ("?", "help", "help"),
    ("q", "quit", "quit"),
];

/// The sweep's keys, shown first in a sweep.
const SWEEP_KEYS: [(&str, &str, &str); 3] = [
    ("n", "next step", "next"),
    ("e", "end after step", "end"),
    ("6", "sweep", "sweep"),
];

pub fn render(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snap: &Snapshot,
    theme: &Theme,
    now: Instant,
) {
    let w = area.width as usize;
    if let Some(flash) = app.flash_at(now) {
        let style = if flash.error {
            theme.error()
        } else {
            theme.ok()
        };
        frame.render_widget(
            Paragraph::new(Line::styled(fmt::truncate(&flash.text, w), style)),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    // Between the steps of a sweep the last run is done, the sweep is not.
    let sweep_going = app.sweep.as_ref().is_some_and(|v| !v.finished);
    if (snap.state == RunState::Done && !sweep_going) || snap.fatal.is_some() {
        // Nothing left to steer (pause, concurrency and rate would do nothing): say what can
        // still be done.
        let (badge, words, style) = if snap.fatal.is_some() {
            (" FAILED ", " the run cannot go on: ", theme.error())
        } else {
            (" DONE ", " the run is over: ", theme.accent())
        };
        let mut spans = vec![
            Span::styled(badge, style),
            Span::styled(words, theme.text()),
            Span::styled("s", theme.accent()),
            Span::styled(" save result and screen  ", theme.dim()),
            Span::styled("q", theme.accent()),
            Span::styled(" quit  ", theme.dim()),
            Span::styled(
                if app.sweep.is_some() {
                    "w t 1-6 ?"
                } else {
                    "w t 1-5 ?"
                },
                theme.accent(),
            ),
            Span::styled(" look around", theme.dim()),
        ];
        // Narrow: drop the least needed (looking around), then the words; never cut a key.
        let width = |s: &[Span]| s.iter().map(|s| s.content.chars().count()).sum::<usize>();
        if width(&spans) > w {
            spans.truncate(6);
        }
        if width(&spans) > w {
            spans.remove(1);
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    if app.engine_gone {
        spans.push(Span::styled(" engine stopped ", theme.error()));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let sweep_keys: &[(&str, &str, &str)] = if app.sweep.is_some() {
        &SWEEP_KEYS
    } else {
        &[]
    };
    let keys: Vec<(&str, &str, &str)> = sweep_keys.iter().chain(KEYS.iter()).copied().collect();
    let long: usize = keys.iter().map(|(k, l, _)| k.len() + l.len() + 3).sum();
    let short = used + long > w;
    // Two spaces between keys when there is room, one when there is not.
    let gap = if short { " " } else { "  " };
    let item = |(k, long_label, short_label): (&str, &str, &str)| -> (String, String) {
        let mut label = if short { short_label } else { long_label };
        if k == "space" && snap.control.paused {
            label = "resume";
        }
        (format!("{gap}{k}"), format!(" {label}"))
    };
    let width = |(k, l): &(String, String)| k.chars().count() + l.chars().count();
    // Help and quit always show; the others as long as they fit before them.
    let tail: Vec<(String, String)> = keys[keys.len() - 2..].iter().map(|k| item(*k)).collect();
    let mut room = w
        .saturating_sub(used)
        .saturating_sub(tail.iter().map(width).sum());
    let mut items: Vec<(String, String)> = Vec::new();
    for k in &keys[..keys.len() - 2] {
        let it = item(*k);
        if width(&it) > room {
            break;
        }
        room -= width(&it);
        items.push(it);
    }
    items.extend(tail);
    for (k, l) in items {
        spans.push(Span::styled(k, theme.accent()));
        spans.push(Span::styled(l, theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The `?` overlay: every key with a sentence.
pub fn help_overlay(frame: &mut Frame, body: Rect, theme: &Theme, sweep: bool) {
    let sweep_rows: &[(&str, &str)] = if sweep {
        &[
            ("n", "sweep: end this step now, start the next"),
            ("e", "sweep: end the sweep after this step"),
            ("6", "enlarge the sweep pane"),
        ]
    } else {
        &[]
    };
    let keys: [(&str, &str); 13] = [
        (
            "space",
            "pause / resume sending (in-flight requests finish)",
        ),
        ("+  -", "concurrency cap up / down by one"),
        ("]  [", "request rate x1.25 / ÷1.25"),
        ("w", "throughput window: 1 min, 5 min, whole run"),
        ("t", "next theme"),
        ("s", "save the result and a picture of this screen"),
        ("1", "enlarge throughput (again: back)"),
        ("2", "enlarge latency"),
        ("3", "enlarge errors and requests"),
        ("4", "enlarge telemetry"),
        ("5", "enlarge the server's own view (its /metrics)"),
        ("? Esc", "close this help"),
        ("q", "quit: stop, write the result, restore the terminal"),
    ];
    let rows: Vec<(&str, &str)> = keys.iter().chain(sweep_rows).copied().collect();
    let r = centred(body, 64, rows.len() as u16 + 4);
    frame.render_widget(Clear, r);
    let lines: Vec<Line> = rows
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<7}"), theme.accent()),
                Span::styled(*what, theme.text()),
            ])
        })
        .collect();
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border(true))
        .title(Span::styled(" Keys ", theme.title()))
        .style(theme.background());
    frame.render_widget(Paragraph::new(lines).block(block), r);
}
