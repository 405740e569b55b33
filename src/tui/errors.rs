//! The errors pane: failures counted by kind, each with its latest message.

use super::fmt;
use super::pane::pane_block;
use super::theme::Theme;
use crate::metrics::snapshot::Snapshot;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, snap: &Snapshot, theme: &Theme) {
    let c = &snap.counts;
    let done = c.ok + c.failed;
    let title = if c.failed == 0 {
        "Errors".to_string()
    } else {
        format!(
            "Errors · {} of {} ({:.1}%)",
            fmt::count(c.failed),
            fmt::count(done),
            c.failed as f64 * 100.0 / done.max(1) as f64
        )
    };
    let block = pane_block(&title, Some('3'), theme);
    let inner = block.inner(area);
    let mut lines = Vec::new();
    if snap.errors.is_empty() {
        lines.push(Line::styled("no errors", theme.ok()));
    }
    // Most frequent first; ties by kind so the order is stable between frames.
    let mut kinds: Vec<_> = snap.errors.iter().collect();
    kinds.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    let w = inner.width as usize;
    let two_lines = inner.height as usize >= kinds.len() * 2;
    for e in kinds {
        let head = format!("{:<15} {:>7}", e.kind.label(), fmt::count(e.count));
        let msg = e.last_message.replace(['\n', '\r'], " ");
        if two_lines {
            lines.push(Line::from(Span::styled(head, theme.error())));
            lines.push(Line::styled(
                fmt::truncate(&format!("  {msg}"), w),
                theme.dim(),
            ));
        } else {
            let room = w.saturating_sub(head.chars().count() + 2);
            lines.push(Line::from(vec![
                Span::styled(head, theme.error()),
                Span::raw("  "),
                Span::styled(fmt::truncate(&msg, room), theme.dim()),
            ]));
        }
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
