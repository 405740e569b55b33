//! Whole-screen snapshots of the dashboard (ratatui TestBackend) at 80x24 and 160x48 in each
//! state, plus a few cells' styles per theme (the snapshots themselves hold no colours).

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use std::time::Instant;
use tokscope::snapshot::Snapshot;
use tokscope::sysstat::ClientStat;
use tokscope::tui::app::{App, Pane};
use tokscope::tui::theme::{ColorSupport, Theme};
use tokscope::tui::{draw, export, fixtures};

/// An app with fixed client readings (the real sampler reads /proc).
fn app() -> App {
    let mut app = App::new(4);
    app.client = ClientStat {
        cpu_percent: Some(37.0),
        rss_bytes: Some(48 * 1024 * 1024),
        cores: 2,
    };
    app.client_history = (0..40).map(|i| 20.0 + (i % 7) as f64 * 5.0).collect();
    app
}

fn render(app: &App, snap: &Snapshot, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let now = Instant::now();
    t.draw(|f| draw(f, app, snap, theme, now, None))
        .expect("draw");
    t.backend().buffer().clone()
}

fn screen(app: &App, snap: &Snapshot, w: u16, h: u16) -> String {
    export::to_text(&render(app, snap, &Theme::dark(), w, h))
}

macro_rules! screens {
    ($($name:ident: $snap:expr;)*) => {$(
        #[test]
        fn $name() {
            let snap = $snap;
            insta::assert_snapshot!(concat!(stringify!($name), "_80x24"), screen(&app(), &snap, 80, 24));
            insta::assert_snapshot!(concat!(stringify!($name), "_160x48"), screen(&app(), &snap, 160, 48));
        }
    )*};
}

screens! {
    idle: fixtures::idle();
    running: fixtures::running();
    paused: fixtures::paused();
    errors: fixtures::with_errors();
    done: fixtures::done();
}
