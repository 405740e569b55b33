//! The cost of drawing the dashboard: time per frame at 120x40 and 200x60 with a busy
//! snapshot, and bytes written to a terminal per second in a steady run at the default frame
//! rate. Run with `cargo bench --bench render`; it prints the figures (targets: under 2 ms a
//! frame, under 20 KB/s at 4 fps on 120x40).

use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokscope::metrics::snapshot::{RunState, Snapshot};
use tokscope::tui::app::{App, Window};
use tokscope::tui::telemetry_side::TelemetrySide;
use tokscope::tui::theme::Theme;
use tokscope::tui::{draw, fixtures};

/// The default `--fps`.
const FPS: f64 = 4.0;

/// Errors, reasoning (TTFO row) and an hour of series: the most a frame has to draw.
fn busy() -> Snapshot {
    fixtures::with_errors_at(Duration::from_secs(3600))
}

/// The binary's side panel (server over GPUs) for `snap`.
fn side(snap: &Snapshot, now: Instant) -> TelemetrySide {
    TelemetrySide::fixed(
        fixtures::server_view(snap),
        Some(fixtures::gpu_view(snap, now)),
    )
}

fn app(window: Window) -> App {
    let mut app = App::new(4);
    app.window = window;
    app.client.cpu_percent = Some(42.0);
    app.client.rss_bytes = Some(64 << 20);
    app.client.cores = 16;
    app.client_history = (0..120).map(|i| 30.0 + (i % 9) as f64).collect();
    app
}

fn time_per_frame(w: u16, h: u16, window: Window) -> Duration {
    let snap = busy();
    let app = app(window);
    let theme = Theme::dark();
    let mut term = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    let now = Instant::now();
    let side = side(&snap, now);
    let frame = |term: &mut Terminal<TestBackend>| {
        let _ = term.draw(|f| draw(f, &app, &snap, &theme, now, Some(&side)));
    };
    for _ in 0..20 {
        frame(&mut term);
    }
    let n = 300;
    let start = Instant::now();
    for _ in 0..n {
        frame(black_box(&mut term));
    }
    start.elapsed() / n
}

/// Counts what the backend writes, as a terminal would receive it.
struct Counter(Arc<AtomicU64>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes a steady run sends to a 120x40 terminal: `seconds` of frames at `FPS`, the snapshot
/// moving on by one frame's time each frame (new seconds in the chart, new log lines).
/// Returns (first full paint, steady bytes per second).
fn bytes_per_second(w: u16, h: u16, seconds: u32) -> (u64, f64) {
    let app = app(Window::OneMinute);
    let theme = Theme::dark();
    let written = Arc::new(AtomicU64::new(0));
    // A fixed viewport: the counting writer is not a tty to ask for a size.
    let options = TerminalOptions {
        viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
    };
    let backend = CrosstermBackend::new(Counter(written.clone()));
    let mut term = match Terminal::with_options(backend, options) {
        Ok(t) => t,
        Err(e) => panic!("backend: {e}"),
    };
    let now = Instant::now();
    let start = 300.0;
    let step = 1.0 / FPS;
    // One simulated run, read at each frame's time.
    let sim = fixtures::steady_sim(start + seconds as f64 + 1.0);
    let snap_at = |k: u32| sim.snapshot_at(start + step * k as f64, RunState::Running, &[]);
    let first = snap_at(0);
    let side = side(&first, now);
    let _ = term.draw(|f| draw(f, &app, &first, &theme, now, Some(&side)));
    let first_paint = written.load(Ordering::Relaxed);
    let frames = (seconds as f64 * FPS) as u32;
    for k in 1..=frames {
        let snap = snap_at(k);
        let _ = term.draw(|f| draw(f, &app, &snap, &theme, now, Some(&side)));
    }
    let steady = written.load(Ordering::Relaxed) - first_paint;
    (first_paint, steady as f64 / seconds as f64)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it. A
    // benchmark asserts nothing, so under `cargo test` it only says how to run it and does not
    // pose as a passing test.
    if !std::env::args().any(|a| a == "--bench") {
        println!("render benchmark not run (no --bench): cargo bench --bench render");
        return;
    }
    println!("tokscope dashboard drawing cost (release build, TestBackend, busy snapshot)");
    for (w, h) in [(120, 40), (200, 60)] {
        for window in [Window::OneMinute, Window::WholeRun] {
            let t = time_per_frame(w, h, window);
            println!(
                "  {w}x{h} window {:<9}  {:>7.3} ms/frame  (target < 2 ms)",
                window.label(),
                t.as_secs_f64() * 1000.0
            );
        }
    }
    for (w, h) in [(120, 40), (200, 60)] {
        let (first, bps) = bytes_per_second(w, h, 60);
        println!(
            "  {w}x{h} steady run at {FPS} fps: {:>6.1} KB/s to the terminal (first paint {:.1} KB; target < 20 KB/s on 120x40)",
            bps / 1024.0,
            first as f64 / 1024.0
        );
    }
}
