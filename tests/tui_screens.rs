//! Whole-screen snapshots of the dashboard (ratatui TestBackend) at 80x24 and 160x48 in each
//! state, plus a few cells' styles per theme (the snapshots themselves hold no colours).

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use std::time::Instant;
use tokscope::snapshot::Snapshot;
use tokscope::sysstat::ClientStat;
use tokscope::tui::app::{App, Pane};
use tokscope::tui::theme::Theme;
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

#[test]
fn help_overlay() {
    let mut app = app();
    app.help = true;
    insta::assert_snapshot!("help_80x24", screen(&app, &fixtures::running(), 80, 24));
}

#[test]
fn zoomed_panes() {
    let mut app = app();
    for pane in Pane::ALL {
        app.zoom = Some(pane);
        let name = format!("zoom_{}_80x24", pane.key());
        insta::assert_snapshot!(name, screen(&app, &fixtures::with_errors(), 80, 24));
    }
}

#[test]
fn a_fatal_error_gets_its_own_pane() {
    let mut snap = fixtures::running();
    snap.fatal = Some("the server at 'http://127.0.0.1:8000' stopped answering: connection refused (is it still running?)".into());
    insta::assert_snapshot!("fatal_80x24", screen(&app(), &snap, 80, 24));
}

#[test]
fn a_tiny_terminal_is_told_so() {
    let text = screen(&app(), &fixtures::running(), 30, 8);
    assert!(text.starts_with("terminal 30x8 is too small"), "{text}");
}

#[test]
fn a_saturated_client_says_so_at_both_sizes() {
    let mut app = app();
    app.client.cpu_percent = Some(190.0);
    for (w, h) in [(80, 24), (160, 48)] {
        let text = screen(&app, &fixtures::running(), w, h);
        assert!(text.contains("CPU-BOUND"), "{w}x{h}:\n{text}");
    }
}

#[test]
fn folding_keeps_the_essentials_at_every_size() {
    // From the smallest usable size up: the header, the throughput and the keys are always there.
    for (w, h) in [
        (40, 12),
        (60, 16),
        (80, 24),
        (100, 30),
        (120, 40),
        (200, 60),
    ] {
        let text = screen(&app(), &fixtures::running(), w, h);
        assert!(text.contains("RUNNING"), "{w}x{h}:\n{text}");
        assert!(text.contains("Throughput"), "{w}x{h}:\n{text}");
        assert!(
            text.lines().last().is_some_and(|l| l.contains("quit")),
            "{w}x{h}:\n{text}"
        );
    }
}

#[test]
fn narrow_screens() {
    insta::assert_snapshot!(
        "running_60x16",
        screen(&app(), &fixtures::running(), 60, 16)
    );
    insta::assert_snapshot!(
        "running_40x12",
        screen(&app(), &fixtures::running(), 40, 12)
    );
}

/// A stand-in for the GPU view: frames itself, one line per device.
struct FakeGpus(u16);

impl tokscope::tui::SideView for FakeGpus {
    fn render(
        &self,
        frame: &mut ratatui::Frame,
        area: ratatui::layout::Rect,
        _theme: &Theme,
        _now: Instant,
    ) {
        use ratatui::widgets::{Block, Paragraph};
        let lines: Vec<String> = (0..self.0)
            .map(|i| format!("GPU{i} H100 71% 612/700W 64C"))
            .collect();
        frame.render_widget(
            Paragraph::new(lines.join("\n")).block(Block::bordered().title(" GPU ")),
            area,
        );
    }
    fn compact_lines(&self) -> u16 {
        self.0
    }
}

#[test]
fn the_gpu_view_gets_the_side_column_or_one_line_per_device() {
    let gpus = FakeGpus(2);
    let snap = fixtures::running();
    let shot = |w: u16, h: u16| {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("backend");
        t.draw(|f| {
            draw(
                f,
                &app(),
                &snap,
                &Theme::dark(),
                Instant::now(),
                Some(&gpus),
            )
        })
        .expect("draw");
        export::to_text(t.backend().buffer())
    };
    insta::assert_snapshot!("gpu_side_80x24", shot(80, 24));
    let wide = shot(160, 48);
    assert!(wide.contains("╭ 4 Client"), "{wide}");
    assert!(
        wide.contains("┌ GPU ┐") || wide.contains("┌ GPU ─"),
        "{wide}"
    );
    let narrow = shot(80, 24);
    let rows: Vec<&str> = narrow.lines().collect();
    // Two device lines then the client line, right above the footer, with no border around.
    assert!(rows[20].starts_with("GPU0 H100"), "{narrow}");
    assert!(rows[21].starts_with("GPU1 H100"), "{narrow}");
    assert!(rows[22].starts_with("client CPU"), "{narrow}");
}
