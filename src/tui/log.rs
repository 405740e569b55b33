//! The log pane: recent requests and run events (key presses, pauses), merged by time,
//! newest at the bottom.

use super::draw::pane_block;
use super::fmt;
use super::theme::Theme;
use crate::snapshot::{LogLine, Snapshot, TimelineEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::time::Duration;

enum Entry<'a> {
    Request(&'a LogLine),
    Event(&'a TimelineEvent),
}

impl Entry<'_> {
    fn at(&self) -> Duration {
        match self {
            Entry::Request(l) => l.at,
            Entry::Event(e) => e.at,
        }
    }
}

/// The newest `n` entries of both lists, oldest first.
fn newest<'a>(snap: &'a Snapshot, n: usize) -> Vec<Entry<'a>> {
    let reqs = snap.log.iter().rev().take(n).map(Entry::Request);
    let evs = snap.timeline.iter().rev().take(n).map(Entry::Event);
    let mut all: Vec<Entry> = reqs.chain(evs).collect();
    // Stable sort keeps the engine's order for equal times.
    all.sort_by_key(|e| e.at());
    let skip = all.len().saturating_sub(n);
    all.into_iter().skip(skip).collect()
}

fn seconds(d: Duration) -> String {
    format!("{:>7.1}s", d.as_secs_f64())
}

pub fn render(frame: &mut Frame, area: Rect, snap: &Snapshot, theme: &Theme) {
    let block = pane_block("Requests and events", Some('3'), theme);
    let inner = block.inner(area);
    let w = inner.width as usize;
    // One line of column heads, then the newest entries.
    let entries = newest(snap, (inner.height as usize).saturating_sub(1));
    let mut lines = Vec::with_capacity(entries.len() + 1);
    if entries.is_empty() {
        lines.push(Line::styled("no requests finished yet", theme.dim()));
    } else {
        lines.push(Line::styled(
            format!(
                "{:>8}  {:<7} {:>5} {:>7} {:>7}  status",
                "at", "id", "out", "ttft", "e2e"
            ),
            theme.dim(),
        ));
    }
    for e in entries {
        let line = match e {
            Entry::Request(l) => {
                let ok = l.status == "ok";
                let status_style = if ok { theme.ok() } else { theme.error() };
                let head = format!(
                    "{}  #{:<6} {:>5} {:>7} {:>7}  ",
                    seconds(l.at),
                    l.id,
                    l.output_tokens,
                    fmt::ms(l.ttft_ms),
                    fmt::ms(Some(l.e2e_ms)),
                );
                let room = w.saturating_sub(head.chars().count());
                Line::from(vec![
                    Span::styled(head, theme.text()),
                    Span::styled(fmt::truncate(&l.status, room), status_style),
                ])
            }
            Entry::Event(ev) => Line::from(vec![
                Span::styled(seconds(ev.at), theme.text()),
                Span::styled(" ▸ ", theme.accent()),
                Span::styled(
                    fmt::truncate(&ev.what, w.saturating_sub(11)),
                    theme.accent(),
                ),
            ]),
        };
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
