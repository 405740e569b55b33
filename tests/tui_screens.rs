//! Whole-screen snapshots of the dashboard as users see it: drawn by `tui::screen_picture` (the
//! binary's `tui::draw`, as `s` exports it) with the binary's own side panel (`TelemetrySide`:
//! the server's queue and KV cache over the GPUs), from fixtures whose numbers add up
//! (`fixtures::check`), at 80x24, 120x40 and 200x60. Beside the snapshots, checks that read
//! numbers off the screen and fail when a pane breaks. Snapshots hold no colours (tui_theme.rs).

use ratatui::layout::Size;
use std::time::Instant;
use tokscope::metrics::snapshot::{RunState, Snapshot};
use tokscope::telemetry::server_metrics::ServerView;
use tokscope::telemetry::sysstat::ClientStat;
use tokscope::tui::app::{App, Pane};
use tokscope::tui::fmt;
use tokscope::tui::telemetry_side::TelemetrySide;
use tokscope::tui::theme::Theme;
use tokscope::tui::{export, fixtures, screen_picture, SideView};

/// The sizes every state is snapshotted at: the classic terminal, a laptop, a big screen.
const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

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

/// What the machine has for GPU telemetry.
#[derive(Clone, Copy)]
enum Gpus {
    /// The fixture's GPUs (readings that follow its load).
    Fixture,
    /// GPU telemetry is on, and this machine has none.
    NoneFound,
}

/// Draw `snap` at `w`x`h` exactly as the binary does, with its side panel.
fn screen_with(app: &App, snap: &Snapshot, gpus: Gpus, w: u16, h: u16) -> String {
    let now = Instant::now();
    let gpu = match gpus {
        Gpus::Fixture => fixtures::gpu_view(snap, now),
        Gpus::NoneFound => fixtures::no_gpu_view(),
    };
    let server = fixtures::server_view(snap);
    let side = TelemetrySide::fixed(server.clone(), Some(gpu));
    let size = Size::new(w, h);
    let side: &dyn SideView = &side;
    // The server pane (`5`) reads the same view the side panel shows.
    let mut app = app.clone();
    app.server = std::sync::Arc::new(server);
    let buffer = screen_picture(&app, snap, &Theme::dark(), now, Some(side), size).expect("draw");
    export::to_text(&buffer)
}

fn screen(snap: &Snapshot, w: u16, h: u16) -> String {
    screen_with(&app(), snap, Gpus::Fixture, w, h)
}

macro_rules! screens {
    ($($name:ident: $snap:expr;)*) => {$(
        #[test]
        fn $name() {
            let snap = $snap;
            fixtures::check(&snap).expect("the fixture adds up");
            for (w, h) in SIZES {
                let name = format!("{}_{w}x{h}", stringify!($name));
                insta::assert_snapshot!(name, screen(&snap, w, h));
            }
        }
    )*};
}

screens! {
    idle: fixtures::idle();
    running: fixtures::running();
    paused: fixtures::paused();
    errors: fixtures::with_errors();
    done: fixtures::done();
    fatal: fixtures::fatal();
}

#[test]
fn no_gpu_found() {
    let snap = fixtures::running();
    for (w, h) in [(80, 24), (120, 40)] {
        let text = screen_with(&app(), &snap, Gpus::NoneFound, w, h);
        insta::assert_snapshot!(format!("no_gpu_{w}x{h}"), text);
        // Every backend tried is named in full: wrapped in the column, whole on the strip.
        for backend in ["nvml", "rsmi", "sysfs", "hy-smi"] {
            assert!(
                text.contains(backend),
                "{w}x{h}: '{backend}' missing:\n{text}"
            );
        }
    }
}

#[test]
fn help_overlay() {
    let mut app = app();
    app.help = true;
    insta::assert_snapshot!(
        "help_80x24",
        screen_with(&app, &fixtures::running(), Gpus::Fixture, 80, 24)
    );
}

#[test]
fn zoomed_panes() {
    let mut app = app();
    for pane in Pane::ALL {
        app.zoom = Some(pane);
        let name = format!("zoom_{}_120x40", pane.key());
        let text = screen_with(&app, &fixtures::with_errors(), Gpus::Fixture, 120, 40);
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn narrow_screens() {
    insta::assert_snapshot!("running_60x16", screen(&fixtures::running(), 60, 16));
    insta::assert_snapshot!("running_40x12", screen(&fixtures::running(), 40, 12));
}

/// The side panel is on every screen: boxed in the column from 100 columns, one line per
/// device above the footer below that.
#[test]
fn the_side_panel_shows_the_server_and_the_gpus_at_every_size() {
    let snap = fixtures::running();
    let in_flight = snap.counts.in_flight;
    let server_line = format!("vllm run {in_flight} wait 0 KV");
    for (w, h) in SIZES {
        let text = screen(&snap, w, h);
        assert!(
            text.contains(&server_line),
            "{w}x{h}: no '{server_line}':\n{text}"
        );
        assert!(text.contains("H100 80GB HBM3"), "{w}x{h}: no GPU:\n{text}");
        if w >= 100 {
            for title in ["┌ Server ", "┌ GPU ", "╭ 4 Client (this process) "] {
                assert!(text.contains(title), "{w}x{h}: no '{title}':\n{text}");
            }
        } else {
            let rows: Vec<&str> = text.lines().collect();
            let n = rows.len();
            assert!(rows[n - 4].starts_with(&server_line), "{text}");
            assert!(rows[n - 3].starts_with("0 H100 80GB HBM3"), "{text}");
            assert!(
                rows[n - 2].starts_with("client CPU 37% of 2 cores"),
                "{text}"
            );
        }
    }
}

/// The figures on screen are the snapshot's: in flight, ok, the last complete second's output
/// and the achieved rate.
#[test]
fn the_numbers_on_screen_are_the_snapshots() {
    let snap = fixtures::running();
    let last = snap.elapsed.as_secs() as usize - 1;
    let now_tps = snap
        .series
        .get(last)
        .expect("a complete second")
        .output_tokens;
    for (w, h) in SIZES {
        let text = screen(&snap, w, h);
        let output = text
            .lines()
            .find(|l| l.contains("■ output"))
            .unwrap_or_else(|| panic!("{w}x{h}: no output figures:\n{text}"));
        let figures: Vec<&str> = output.split_whitespace().collect();
        let after = |word: &str| {
            figures
                .iter()
                .position(|f| *f == word)
                .map(|i| figures[i + 1])
                .unwrap_or_else(|| panic!("{w}x{h}: no '{word}' in '{output}'"))
        };
        assert_eq!(after("now"), fmt::count(now_tps), "{w}x{h}: {output}");
        assert_eq!(
            after("peak"),
            fmt::count(snap.peak_output_tps as u64),
            "{output}"
        );
        assert!(text.contains(&format!("in flight  {} of 32 max", snap.counts.in_flight)));
        assert!(
            text.contains(&format!(
                "req/s      {} (rate ∞)",
                fmt::rate(snap.achieved_rate)
            )),
            "{w}x{h}:\n{text}"
        );
        assert!(text.contains(&format!("ok {}", fmt::count(snap.counts.ok))));
    }
}

/// A finished run shows no current rates, only what the run did.
#[test]
fn a_done_screen_has_no_now_rates() {
    let snap = fixtures::done();
    let mean = snap.counts.sent as f64 / snap.elapsed.as_secs_f64();
    for (w, h) in SIZES {
        let text = screen(&snap, w, h);
        assert!(!text.contains(" now "), "{w}x{h}:\n{text}");
        assert!(
            text.contains(&format!("req/s      {} over the run", fmt::rate(mean))),
            "{w}x{h}:\n{text}"
        );
        assert!(text.contains("in flight  0 of 32 max"), "{w}x{h}:\n{text}");
        assert!(text.contains("the run is over"), "{w}x{h}:\n{text}");
    }
}

/// Keys that would do nothing are not offered once the run cannot go on, whether the engine
/// has wound down (done) or the last requests still drain.
#[test]
fn a_fatal_screen_offers_only_save_and_quit() {
    for (state, (w, h)) in [RunState::Done, RunState::Draining]
        .into_iter()
        .flat_map(|s| SIZES.map(|size| (s, size)))
    {
        let mut snap = fixtures::fatal();
        snap.state = state;
        let text = screen(&snap, w, h);
        let footer = text.lines().last().unwrap_or_default();
        assert!(
            footer.contains("FAILED") && footer.contains("q quit"),
            "{footer}"
        );
        for dead in ["pause", "conc", "rate"] {
            assert!(
                !footer.contains(dead),
                "{w}x{h}: '{dead}' offered: {footer}"
            );
        }
        assert!(text.contains("The run cannot go on"), "{w}x{h}:\n{text}");
    }
}

/// Before the first tokens every size says so (not a blank chart).
#[test]
fn an_idle_screen_says_it_waits_at_every_size() {
    for (w, h) in SIZES {
        let text = screen(&fixtures::idle(), w, h);
        assert!(
            text.contains("waiting for the first tokens"),
            "{w}x{h}:\n{text}"
        );
        // The side column wraps the server's message; the strip holds it on one line.
        assert!(
            text.contains("server /metrics: waiting for") && text.contains("first scrape"),
            "{w}x{h}:\n{text}"
        );
    }
}

/// At 80 columns the key labels fold to their short forms; from 120 they are whole words.
#[test]
fn key_labels_fold_on_narrow_terminals() {
    let snap = fixtures::running();
    let footer = |w, h| {
        screen(&snap, w, h)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    let narrow = footer(80, 24);
    assert!(narrow.contains("+/- conc ]/[ rate"), "{narrow}");
    assert!(!narrow.contains("concurrency"), "{narrow}");
    let wide = footer(120, 40);
    assert!(wide.contains("+/- concurrency"), "{wide}");
}

/// The smallest screen cuts no number in half and keeps a line of latency.
#[test]
fn a_tiny_screen_shows_whole_numbers() {
    let snap = fixtures::running();
    let text = screen(&snap, 40, 12);
    let peak = format!("peak {}", fmt::count(snap.peak_output_tps as u64));
    assert!(text.contains(&peak), "no '{peak}':\n{text}");
    assert!(text.contains("│p50 TTFT "), "no latency line:\n{text}");
}

#[test]
fn a_tiny_terminal_is_told_so() {
    let text = screen(&fixtures::running(), 30, 8);
    assert!(text.starts_with("terminal 30x8 is too small"), "{text}");
}

#[test]
fn a_saturated_client_says_so_at_every_size() {
    let mut app = app();
    app.client.cpu_percent = Some(190.0);
    for (w, h) in SIZES {
        let text = screen_with(&app, &fixtures::running(), Gpus::Fixture, w, h);
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
        let text = screen(&fixtures::running(), w, h);
        assert!(text.contains("RUNNING"), "{w}x{h}:\n{text}");
        assert!(text.contains("Throughput"), "{w}x{h}:\n{text}");
        assert!(
            text.lines().last().is_some_and(|l| l.contains("quit")),
            "{w}x{h}:\n{text}"
        );
    }
}

/// A server that answers no `/metrics` says why in its pane rather than showing zeros.
#[test]
fn a_server_without_metrics_says_why() {
    let snap = fixtures::running();
    let now = Instant::now();
    let view = ServerView {
        error: Some("/metrics answered HTTP 404".into()),
        ..ServerView::default()
    };
    let side = TelemetrySide::fixed(view, Some(fixtures::gpu_view(&snap, now)));
    let side: &dyn SideView = &side;
    let buffer = screen_picture(
        &app(),
        &snap,
        &Theme::dark(),
        now,
        Some(side),
        Size::new(120, 40),
    )
    .expect("draw");
    let text = export::to_text(&buffer);
    assert!(text.contains("/metrics answered HTTP 404"), "{text}");
}
