//! Semantic colours. Pane code asks the theme for a role (`ok`, `warn`, `series(i)` ...) and
//! never names a colour itself.

use ratatui::style::{Color, Modifier, Style};

/// A theme: one style per semantic role.
#[derive(Debug, Clone)]
pub struct Theme {
    pub name: String,
    pub text: Style,
    pub dim: Style,
    pub accent: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub border: Style,
    pub border_focused: Style,
    pub title: Style,
    pub series: Vec<Style>,
}

impl Theme {
    pub fn text(&self) -> Style {
        self.text
    }
    pub fn dim(&self) -> Style {
        self.dim
    }
    pub fn accent(&self) -> Style {
        self.accent
    }
    pub fn ok(&self) -> Style {
        self.ok
    }
    pub fn warn(&self) -> Style {
        self.warn
    }
    pub fn error(&self) -> Style {
        self.error
    }
    pub fn title(&self) -> Style {
        self.title
    }
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.border_focused
        } else {
            self.border
        }
    }
    /// Colour of the i-th data series (wraps around).
    pub fn series(&self, i: usize) -> Style {
        if self.series.is_empty() {
            return self.text;
        }
        self.series[i % self.series.len()]
    }

    /// The built-in dark theme.
    pub fn dark() -> Theme {
        Theme {
            name: "dark".into(),
            text: Style::new().fg(Color::Gray),
            dim: Style::new().fg(Color::DarkGray),
            accent: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ok: Style::new().fg(Color::Green),
            warn: Style::new().fg(Color::Yellow),
            error: Style::new().fg(Color::Red),
            border: Style::new().fg(Color::DarkGray),
            border_focused: Style::new().fg(Color::Cyan),
            title: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
            series: vec![
                Style::new().fg(Color::Cyan),
                Style::new().fg(Color::Magenta),
                Style::new().fg(Color::Yellow),
                Style::new().fg(Color::Green),
            ],
        }
    }
}
