//! Helpers every pane draws with: the bordered block with its title and zoom key, a label and
//! value pair, a centred rectangle. A leaf: panes import it, and the layout (`draw`) imports the
//! panes, so nothing points back up.

use super::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

/// A bordered pane with a title; `key` is the digit that enlarges it.
pub fn pane_block<'a>(title: &'a str, key: Option<char>, theme: &Theme) -> Block<'a> {
    let mut spans = vec![Span::raw(" ")];
    if let Some(k) = key {
        spans.push(Span::styled(format!("{k} "), theme.dim()));
    }
    spans.push(Span::styled(title, theme.title()));
    spans.push(Span::raw(" "));
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border(false))
        .title(Line::from(spans))
}

/// A label in the dim style followed by a value in `style`.
pub fn field<'a>(label: &'a str, value: String, theme: &Theme, style: Style) -> Vec<Span<'a>> {
    vec![Span::styled(label, theme.dim()), Span::styled(value, style)]
}

/// A centred rectangle of at most `w` x `h` inside `area`.
pub fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// From this width the side panel is a column; below it, a strip of one line per device.
pub const WIDE: u16 = 100;
