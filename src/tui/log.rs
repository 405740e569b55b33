//! The log pane: recent requests and run events (key presses, pauses), merged by time,
//! newest at the bottom, and below them the requests still streaming (oldest first: tokens
//! so far, TTFT, age, decode speed). On a slow server a request takes minutes, and the
//! streams are the only rows that move between completions.

use super::fmt;
use super::pane::pane_block;
use super::theme::Theme;
use crate::metrics::snapshot::{LogLine, Snapshot, StreamView, TimelineEvent};
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

/// One streaming request in the log's columns: sent at, id, tokens so far, TTFT, age.
fn stream_line(st: &StreamView, now: Duration, w: usize, theme: &Theme) -> Line<'static> {
    let head = format!(
        "{}  #{:<6} {:>5} {:>7} {:>7}  ",
        seconds(now.saturating_sub(st.age)),
        st.id,
        st.tokens,
        fmt::ms(st.ttft.map(|t| t.as_secs_f64() * 1000.0)),
        fmt::ms(Some(st.age.as_secs_f64() * 1000.0)),
    );
    let status = match (st.ttft, st.tokens_per_s) {
        (None, _) => "▸ prefill".to_string(),
        (Some(_), Some(r)) => format!("▸ {}/s", fmt::rate(r)),
        (Some(_), None) => "▸ streaming".to_string(),
    };
    let room = w.saturating_sub(head.chars().count());
    Line::from(vec![
        Span::styled(head, theme.dim()),
        Span::styled(fmt::truncate(&status, room), theme.accent()),
    ])
}

/// `keyed`: the pane carries the zoom key `3` (when the errors pane beside it does not).
pub fn render(frame: &mut Frame, area: Rect, snap: &Snapshot, theme: &Theme, keyed: bool) {
    let title = if snap.errors.is_empty() {
        "Requests and events · no errors"
    } else {
        "Requests and events"
    };
    let block = pane_block(title, keyed.then_some('3'), theme);
    let inner = block.inner(area);
    let w = inner.width as usize;
    let body = (inner.height as usize).saturating_sub(1);
    // Streams below the finished requests: up to half the rows when both are there.
    let finished = newest(snap, body);
    // Finished requests keep a short pane to themselves; streams share from four rows on.
    let want = if finished.is_empty() {
        body
    } else if body >= 4 {
        body / 2
    } else {
        0
    };
    let in_flight = snap.counts.in_flight as usize;
    let mut stream_rows = snap.streams.len().min(want);
    // A last row says how many more are in flight, in place of a stream row if need be.
    let more_row = in_flight > stream_rows && want > 0;
    if more_row && stream_rows == want {
        stream_rows -= 1;
    }
    let more = in_flight.saturating_sub(stream_rows);
    let keep = body.saturating_sub(stream_rows + usize::from(more_row));
    let entries: Vec<Entry> = {
        let skip = finished.len().saturating_sub(keep);
        finished.into_iter().skip(skip).collect()
    };
    let mut lines = Vec::with_capacity(entries.len() + stream_rows + 2);
    if entries.is_empty() && stream_rows == 0 && !more_row {
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
    for st in snap.streams.iter().take(stream_rows) {
        lines.push(stream_line(st, snap.elapsed, w, theme));
    }
    if more_row {
        lines.push(Line::styled(
            format!("{:>8}  … {more} more in flight", ""),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
