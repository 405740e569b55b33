//! The `tokscope watch` screen: the dashboard's frame without load. A header naming the server
//! and how fresh its figures are, the server's own view (`server_charts`) where the load panes
//! would be, the same side panel (server box, GPUs, this process), and a footer of the keys
//! that mean something here.
//!
//! ```text
//! +-tokscope watch · vllm · http://host:8000/metrics · every 1.0 s · read 0.3 s ago-----+
//! |+-1 Server tokens---------------------------++-Server--------+|
//! ||                                           ||               ||
//! |+-2 Server latency, last 30 s---------------+|  GPUs         ||
//! |+-3 Queue and cache-------------------------++-Client--------+|
//! +-q quit · s save · t theme · 4 telemetry-------------------------+
//! ```

use super::app::{App, Pane};
use super::theme::Theme;
use super::{fmt, server_charts, side, SideView};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::time::Instant;

/// Draw the watch screen into `area` (already checked to be large enough).
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    now: Instant,
    gpu: Option<&dyn SideView>,
) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let w = head.width as usize;
    let mut spans = vec![Span::styled(" tokscope watch ", theme.title())];
    spans.extend(server_charts::status_spans(&app.server, theme));
    frame.render_widget(Paragraph::new(Line::from(spans)), head);

    let keys = "q quit · s save the series · t theme · 4 telemetry";
    let footer = match app.flash_at(now) {
        Some(f) => Line::styled(
            fmt::truncate(&f.text, w),
            if f.error { theme.error() } else { theme.ok() },
        ),
        None => Line::styled(fmt::truncate(keys, w), theme.dim()),
    };
    frame.render_widget(Paragraph::new(footer), foot);

    if app.zoom == Some(Pane::Telemetry) {
        side::render(frame, body, app, theme, gpu, false, now);
        return;
    }
    let (main, side_area, wide) = side::split(body, gpu);
    side::render(frame, side_area, app, theme, gpu, !wide, now);
    server_charts::render(frame, main, &app.server, None, theme);
}
