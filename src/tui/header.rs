//! The top line: target, model, endpoint, run state, elapsed time and the SIMULATED mark.

use super::fmt;
use super::theme::Theme;
use crate::metrics::snapshot::{RunState, Snapshot};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// The state as a word and the style it is shown in.
pub fn state_badge(snap: &Snapshot, theme: &Theme) -> (String, Style) {
    if snap.fatal.is_some() {
        return ("FAILED".into(), theme.error());
    }
    let style = match snap.state {
        RunState::Starting => theme.dim(),
        RunState::Running => theme.ok(),
        RunState::Paused | RunState::Draining => theme.warn(),
        RunState::Done => theme.accent(),
    };
    let mut word = snap.state.label().to_uppercase();
    if snap.interrupted && matches!(snap.state, RunState::Draining | RunState::Done) {
        word.push_str(" (stopped)");
    }
    (word, style.add_modifier(Modifier::BOLD))
}

/// Draw the header into a one-line `area`.
pub fn render(frame: &mut Frame, area: Rect, snap: &Snapshot, theme: &Theme) {
    let info = &snap.info;
    let (state, state_style) = state_badge(snap, theme);
    let sep = || Span::styled(" │ ", theme.dim());
    let elapsed = fmt::clock(snap.elapsed);
    let model = if info.model.is_empty() {
        "(model not known yet)".to_string()
    } else {
        info.model.clone()
    };
    // Fixed parts first, then fit the URL and model into what is left.
    let sim = if info.simulated { " SIMULATED " } else { "" };
    // The program's name goes first when space is short; the target matters more.
    let show_name = area.width >= 100;
    let name_w = if show_name { " tokscope".len() + 3 } else { 1 };
    let fixed = name_w + 3 * 3 + state.chars().count() + 2 + elapsed.len() + sim.len() + 1;
    let room = (area.width as usize).saturating_sub(fixed);
    let show_endpoint = room >= 60;
    let room = if show_endpoint {
        room - info.endpoint.chars().count() - 3
    } else {
        room
    };
    let model_w = model
        .chars()
        .count()
        .min(room / 2)
        .max(room.saturating_sub(info.base_url.chars().count()));
    let url_w = room.saturating_sub(model_w.min(model.chars().count()));

    let mut spans = if show_name {
        vec![Span::styled(" tokscope", theme.accent()), sep()]
    } else {
        vec![Span::raw(" ")]
    };
    spans.extend([
        Span::styled(fmt::truncate(&info.base_url, url_w), theme.text()),
        sep(),
        Span::styled(fmt::truncate(&model, model_w), theme.title()),
    ]);
    if show_endpoint {
        spans.push(sep());
        spans.push(Span::styled(info.endpoint.clone(), theme.dim()));
    }
    spans.extend([
        sep(),
        Span::styled(format!("● {state}"), state_style),
        sep(),
        Span::styled(elapsed, theme.text()),
    ]);
    if info.simulated {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            sim,
            theme.warn().add_modifier(Modifier::REVERSED),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
