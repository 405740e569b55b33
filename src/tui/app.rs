//! The dashboard's own state (what the user chose to look at) and the key bindings.
//!
//! Nothing here touches a terminal or a clock: `handle_key` turns a key into a change of `App`
//! and maybe an engine `Command`, so every binding is testable as a plain function.

use crate::load::engine::Command;
use crate::telemetry::sysstat::ClientStat;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::time::{Duration, Instant};

/// Factor `]` multiplies the request rate by (`[` divides by it).
pub const RATE_STEP: f64 = 1.25;

/// The throughput chart's time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    #[default]
    OneMinute,
    FiveMinutes,
    WholeRun,
}

impl Window {
    /// Seconds shown (`None`: the whole run).
    pub fn seconds(self) -> Option<usize> {
        match self {
            Window::OneMinute => Some(60),
            Window::FiveMinutes => Some(300),
            Window::WholeRun => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Window::OneMinute => "1 min",
            Window::FiveMinutes => "5 min",
            Window::WholeRun => "whole run",
        }
    }
    fn next(self) -> Window {
        match self {
            Window::OneMinute => Window::FiveMinutes,
            Window::FiveMinutes => Window::WholeRun,
            Window::WholeRun => Window::OneMinute,
        }
    }
}

/// The panes `1`..`5` can enlarge (`6`: the sweep pane, in a sweep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Throughput,
    Latency,
    Requests,
    Telemetry,
    /// The server's own view over time (its `/metrics`).
    Server,
    /// In a sweep: its steps (not in `ALL`: only a sweep has it).
    Sweep,
}

/// Which screen the loop draws: the dashboard (with load), or `watch` (a server someone else
/// is loading: its own view only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    #[default]
    Dashboard,
    Watch,
}

impl Pane {
    pub const ALL: [Pane; 5] = [
        Pane::Throughput,
        Pane::Latency,
        Pane::Requests,
        Pane::Telemetry,
        Pane::Server,
    ];
    /// The key that enlarges it, as shown in its title.
    pub fn key(self) -> char {
        match self {
            Pane::Throughput => '1',
            Pane::Latency => '2',
            Pane::Requests => '3',
            Pane::Telemetry => '4',
            Pane::Server => '5',
            Pane::Sweep => '6',
        }
    }
}

/// The sweep's own keys: `n` ends the step in progress and goes to the next one, `e` ends the
/// sweep once the step in progress is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepKey {
    NextStep,
    StopAfterStep,
}

/// Why the dashboard loop should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitReason {
    /// `q`.
    Key,
    /// Ctrl-C (a key in raw mode).
    CtrlC,
    /// SIGINT, SIGTERM or SIGHUP (which one: `DashboardExit::signal`).
    Signal,
    /// The terminal went away (its other end closed) without a signal being seen first.
    TerminalLost,
}

/// A short message in the footer (e.g. where `s` saved), shown until `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
    pub until: Instant,
}

/// What the user chose to see, plus the client's own readings. `draw` only reads it.
#[derive(Debug, Clone)]
pub struct App {
    pub window: Window,
    /// Index into the dashboard's theme list.
    pub theme_index: usize,
    pub theme_count: usize,
    pub zoom: Option<Pane>,
    pub help: bool,
    /// `s` was pressed: the loop saves before the next frame.
    pub save_requested: bool,
    pub quit: Option<QuitReason>,
    pub flash: Option<Flash>,
    /// The client's own CPU and memory (sampled by the loop, at most once a second).
    pub client: ClientStat,
    /// CPU percent history of the client, oldest first.
    pub client_history: Vec<f64>,
    /// The engine's channel closed: nothing more will change.
    pub engine_gone: bool,
    pub screen: Screen,
    /// The server's own view (its `/metrics`), as the scraper last published it.
    pub server: std::sync::Arc<crate::telemetry::server_metrics::ServerView>,
    /// In a sweep: where it stands (the loop refreshes it); `None` for a single run.
    pub sweep: Option<crate::sweep::SweepView>,
    /// A sweep key was pressed: the loop passes it on before the next frame.
    pub sweep_key: Option<SweepKey>,
}

impl App {
    pub fn new(theme_count: usize) -> App {
        App {
            window: Window::default(),
            theme_index: 0,
            theme_count: theme_count.max(1),
            zoom: None,
            help: false,
            save_requested: false,
            quit: None,
            flash: None,
            client: ClientStat::default(),
            client_history: Vec::new(),
            engine_gone: false,
            screen: Screen::Dashboard,
            server: std::sync::Arc::default(),
            sweep: None,
            sweep_key: None,
        }
    }

    /// Show a footer message for a few seconds from `now`.
    pub fn flash(&mut self, text: impl Into<String>, error: bool, now: Instant) {
        self.flash = Some(Flash {
            text: text.into(),
            error,
            until: now + Duration::from_secs(8),
        });
    }

    /// The flash message if it is still current at `now`.
    pub fn flash_at(&self, now: Instant) -> Option<&Flash> {
        self.flash.as_ref().filter(|f| now < f.until)
    }
}

/// Apply one key to the app; return the command the engine should get, if any.
pub fn handle_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    // Terminals with the kitty protocol also report releases; act on presses only.
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        if matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')) {
            app.quit = Some(QuitReason::CtrlC);
            return Some(Command::Stop);
        }
        return None;
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Char('Q') => {
            app.quit = Some(QuitReason::Key);
            Some(Command::Stop)
        }
        KeyCode::Esc => {
            // Esc closes what is open, innermost first; it never quits.
            if app.help {
                app.help = false;
            } else {
                app.zoom = None;
            }
            None
        }
        KeyCode::Char(' ') => Some(Command::TogglePause),
        KeyCode::Char('+') | KeyCode::Char('=') => Some(Command::AdjustConcurrency(1)),
        KeyCode::Char('-') | KeyCode::Char('_') => Some(Command::AdjustConcurrency(-1)),
        KeyCode::Char(']') => Some(Command::ScaleRate(RATE_STEP)),
        KeyCode::Char('[') => Some(Command::ScaleRate(1.0 / RATE_STEP)),
        KeyCode::Char('w') => {
            app.window = app.window.next();
            None
        }
        KeyCode::Char('t') => {
            app.theme_index = (app.theme_index + 1) % app.theme_count;
            None
        }
        KeyCode::Char('s') => {
            app.save_requested = true;
            None
        }
        KeyCode::Char('?') | KeyCode::Char('h') => {
            app.help = !app.help;
            None
        }
        KeyCode::Char('n') if app.sweep.is_some() => {
            app.sweep_key = Some(SweepKey::NextStep);
            None
        }
        KeyCode::Char('e') if app.sweep.is_some() => {
            app.sweep_key = Some(SweepKey::StopAfterStep);
            None
        }
        KeyCode::Char(c) => {
            let sweep_pane = app.sweep.as_ref().map(|_| Pane::Sweep);
            let zoomable = Pane::ALL.into_iter().chain(sweep_pane);
            if let Some(pane) = zoomable.into_iter().find(|p| p.key() == c) {
                app.zoom = if app.zoom == Some(pane) {
                    None
                } else {
                    Some(pane)
                };
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn load_keys_become_commands() {
        let cases = [
            (' ', Some(Command::TogglePause)),
            ('+', Some(Command::AdjustConcurrency(1))),
            ('=', Some(Command::AdjustConcurrency(1))),
            ('-', Some(Command::AdjustConcurrency(-1))),
            (']', Some(Command::ScaleRate(RATE_STEP))),
            ('[', Some(Command::ScaleRate(1.0 / RATE_STEP))),
            ('w', None),
            ('x', None),
        ];
        for (c, want) in cases {
            let mut app = App::new(4);
            assert_eq!(handle_key(&mut app, key(c)), want, "key '{c}'");
            assert_eq!(app.quit, None);
        }
    }

    #[test]
    fn quit_keys_stop_the_engine() {
        let mut app = App::new(1);
        assert_eq!(handle_key(&mut app, key('q')), Some(Command::Stop));
        assert_eq!(app.quit, Some(QuitReason::Key));
        let mut app = App::new(1);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(handle_key(&mut app, ctrl_c), Some(Command::Stop));
        assert_eq!(app.quit, Some(QuitReason::CtrlC));
    }

    #[test]
    fn sweep_keys_act_only_in_a_sweep() {
        let mut app = App::new(1);
        for c in ['n', 'e', '6'] {
            assert_eq!(handle_key(&mut app, key(c)), None);
        }
        assert_eq!((app.sweep_key, app.zoom), (None, None));
        app.sweep = Some(Default::default());
        handle_key(&mut app, key('n'));
        assert_eq!(app.sweep_key, Some(SweepKey::NextStep));
        handle_key(&mut app, key('e'));
        assert_eq!(app.sweep_key, Some(SweepKey::StopAfterStep));
        handle_key(&mut app, key('6'));
        assert_eq!(app.zoom, Some(Pane::Sweep));
    }

    #[test]
    fn window_cycles_and_wraps() {
        let mut app = App::new(1);
        let mut seen = vec![app.window];
        for _ in 0..3 {
            handle_key(&mut app, key('w'));
            seen.push(app.window);
        }
        use Window::*;
        assert_eq!(seen, [OneMinute, FiveMinutes, WholeRun, OneMinute]);
    }

    #[test]
    fn theme_key_cycles_through_the_list() {
        let mut app = App::new(3);
        let idx: Vec<usize> = (0..4)
            .map(|_| {
                handle_key(&mut app, key('t'));
                app.theme_index
            })
            .collect();
        assert_eq!(idx, [1, 2, 0, 1]);
    }

    #[test]
    fn zoom_toggles_and_escape_restores() {
        let mut app = App::new(1);
        handle_key(&mut app, key('2'));
        assert_eq!(app.zoom, Some(Pane::Latency));
        handle_key(&mut app, key('4'));
        assert_eq!(app.zoom, Some(Pane::Telemetry));
        handle_key(&mut app, key('4'));
        assert_eq!(app.zoom, None);
        handle_key(&mut app, key('1'));
        handle_key(&mut app, key('?'));
        assert!(app.help);
        handle_key(&mut app, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert!(!app.help);
        assert_eq!(app.zoom, Some(Pane::Throughput), "Esc closes help first");
        handle_key(&mut app, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(app.zoom, None);
    }

    #[test]
    fn save_sets_a_request_and_releases_are_ignored() {
        let mut app = App::new(1);
        assert_eq!(handle_key(&mut app, key('s')), None);
        assert!(app.save_requested);
        let mut release = key('q');
        release.kind = KeyEventKind::Release;
        assert_eq!(handle_key(&mut app, release), None);
        assert_eq!(app.quit, None);
    }

    #[test]
    fn flash_expires() {
        let mut app = App::new(1);
        let t0 = Instant::now();
        app.flash("saved", false, t0);
        assert!(app.flash_at(t0 + Duration::from_secs(1)).is_some());
        assert!(app.flash_at(t0 + Duration::from_secs(9)).is_none());
    }
}
