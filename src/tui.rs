//! The live dashboard (ratatui). Reads `Snapshot`s, sends `engine::Command`s.
//!
//! `run` owns the terminal on the calling thread: it draws at a fixed frame rate (`--fps`),
//! coalescing whatever snapshots arrived in between, and redraws early only for a key or a
//! resize. It never touches the request path: the engine publishes, this side only reads.
//! The terminal is restored on `q`, Ctrl-C, SIGTERM/SIGHUP, a panic, and when the caller's
//! run ends (the last snapshot stays on screen marked DONE until `q`).

pub mod app;
pub mod draw;
pub mod errors;
pub mod export;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod fmt;
pub mod footer;
pub mod gpu_pane;
pub mod header;
pub mod latency;
pub mod load;
pub mod log;
pub mod server_pane;
pub mod side;
pub mod stderr_capture;
pub mod telemetry_side;
pub mod theme;
pub mod throughput;

use crate::engine::Command;
use crate::snapshot::Snapshot;
use anyhow::Context as _;
use app::{handle_key, App, QuitReason};
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::Rect;
use ratatui::{Frame, Terminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use theme::{ColorSupport, Theme};

pub use draw::draw;

/// Something that draws telemetry into the side panel (the GPU view implements it).
///
/// `render` gets the area to fill: in the column layout a tall area (draw your own block), on
/// narrow terminals a strip of exactly `compact_lines()` lines, one line per device. A view that
/// frames itself with a block there is drawn off screen with room for the block and only its
/// inside is kept, so the same `render` serves both.
pub trait SideView: Send {
    /// `now` is the frame's time (what decides, for instance, that a reading is stale).
    fn render(&self, frame: &mut Frame, area: Rect, theme: &Theme, now: Instant);
    /// Lines wanted in the narrow layout: one per device.
    fn compact_lines(&self) -> u16 {
        1
    }
    /// Pick up new readings (called once per frame, on the dashboard's thread); true when
    /// something changed and the screen should be redrawn.
    fn refresh(&mut self) -> bool {
        false
    }
}

/// What the side panel shows besides the client's own CPU and memory.
#[derive(Default)]
pub struct SidePanel {
    /// The GPU view; `None` shows the client's CPU and memory alone.
    pub gpu: Option<Box<dyn SideView>>,
}

/// Callback for `s`: write the result file(s) for this snapshot, return the paths written.
pub type SaveFn = Box<dyn Fn(&Snapshot) -> anyhow::Result<Vec<PathBuf>> + Send>;

/// Everything the dashboard needs from its caller.
pub struct DashboardCtx {
    pub snapshots: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    pub commands: tokio::sync::mpsc::UnboundedSender<Command>,
    pub ui: crate::cli::UiArgs,
    /// Called on `s`.
    pub on_save: SaveFn,
    pub side: SidePanel,
}

/// How the dashboard ended.
#[derive(Debug, Clone)]
pub struct DashboardExit {
    pub reason: QuitReason,
    /// The last snapshot shown.
    pub last: Arc<Snapshot>,
}

/// Check the display options and resolve the theme list, before the terminal is touched, so a
/// bad `--theme` or `--fps` is a plain error message.
pub fn prepare(ui: &crate::cli::UiArgs) -> anyhow::Result<(Vec<Theme>, Duration)> {
    if !(ui.fps.is_finite() && (0.2..=60.0).contains(&ui.fps)) {
        anyhow::bail!(
            "--fps '{}' is out of range: use a value from 0.2 to 60 (default 4)",
            ui.fps
        );
    }
    let support = ColorSupport::detect();
    let chosen = theme::resolve(ui.theme.as_deref(), theme::user_theme_dir().as_deref())?;
    Ok((
        theme::cycle_list(chosen, support),
        Duration::from_secs_f64(1.0 / ui.fps),
    ))
}

/// Run the dashboard on the calling thread until the user quits (`q`, Ctrl-C, SIGTERM/SIGHUP);
/// `Command::Stop` is sent on every quit. When the run ends by itself the screen stays, marked
/// DONE, until `q`. Call it from a plain thread (or `spawn_blocking`): it blocks.
pub fn run(ctx: DashboardCtx) -> anyhow::Result<DashboardExit> {
    let (themes, frame_every) = prepare(&ctx.ui)?;
    let signals = SignalWatch::start();
    let mut term =
        TerminalGuard::enter().context("cannot set up the terminal for the dashboard")?;
    let result = event_loop(
        &mut term.terminal,
        &mut TerminalEvents,
        ctx,
        &themes,
        frame_every,
        &signals.fired,
    );
    drop(term);
    result
}

/// Where terminal events come from: the real terminal, or a script in tests.
pub trait EventSource {
    /// Wait up to `timeout` for the next event.
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<Event>>;
}

/// crossterm's event queue.
struct TerminalEvents;

impl EventSource for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<Event>> {
        if event::poll(timeout)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The dashboard loop on any backend and event source (`run` uses the real terminal; tests a
/// `TestBackend` and scripted keys). `stop_signal` set from elsewhere ends it like SIGTERM.
pub fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    mut ctx: DashboardCtx,
    themes: &[Theme],
    frame_every: Duration,
    stop_signal: &AtomicBool,
) -> anyhow::Result<DashboardExit>
where
    B::Error: Send + Sync + 'static,
{
    anyhow::ensure!(!themes.is_empty(), "no theme to draw with");
    let mut app = App::new(themes.len());
    let mut sampler = crate::sysstat::Sampler::default();
    let mut snap: Arc<Snapshot> = ctx.snapshots.borrow_and_update().clone();
    let mut dirty = true;
    let mut next_frame = Instant::now();
    loop {
        // Wait for input until the next frame is due; keys act (and redraw) at once.
        let wait = next_frame.saturating_duration_since(Instant::now());
        let mut next = events.next(wait)?;
        while let Some(ev) = next {
            match ev {
                Event::Key(key) => {
                    if let Some(cmd) = handle_key(&mut app, key) {
                        // A closed channel means the engine is gone; the key is moot.
                        let _ = ctx.commands.send(cmd);
                    }
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
            if app.quit.is_some() {
                break;
            }
            // Take everything already queued before drawing once.
            next = events.next(Duration::ZERO)?;
        }
        if app.quit.is_none() && stop_signal.load(Ordering::SeqCst) {
            app.quit = Some(QuitReason::Signal);
            let _ = ctx.commands.send(Command::Stop);
        }
        if let Some(reason) = app.quit {
            return Ok(DashboardExit { reason, last: snap });
        }
        let now = Instant::now();
        let theme = &themes[app.theme_index % themes.len()];
        if app.save_requested {
            app.save_requested = false;
            let size = terminal.size().map_err(anyhow::Error::new)?;
            let gpu = ctx.side.gpu.as_deref();
            let (msg, error) = save(&ctx.on_save, &app, &snap, theme, now, gpu, size);
            app.flash(msg, error, now);
            dirty = true;
        }
        if now >= next_frame {
            next_frame = now + frame_every;
            // Coalesce: whatever was published since the last frame, only the newest counts.
            let latest = ctx.snapshots.borrow_and_update().clone();
            if !Arc::ptr_eq(&latest, &snap) {
                snap = latest;
                dirty = true;
            }
            if ctx.snapshots.has_changed().is_err() && !app.engine_gone {
                app.engine_gone = true;
                dirty = true;
            }
            if sampler.poll(now) {
                app.client = sampler.latest();
                app.client_history = sampler.history().to_vec();
                dirty = true;
            }
            if let Some(gpu) = ctx.side.gpu.as_mut() {
                dirty |= gpu.refresh();
            }
            if app.flash.is_some() && app.flash_at(now).is_none() {
                app.flash = None;
                dirty = true;
            }
        }
        if dirty {
            let gpu = ctx.side.gpu.as_deref();
            terminal
                .draw(|f| draw(f, &app, &snap, theme, now, gpu))
                .map_err(anyhow::Error::new)?;
            dirty = false;
        }
    }
}

/// `s`: the caller's result files, then the screen as text and SVG next to the first of them
/// (or in the current directory when no result was written). Returns the footer message.
fn save(
    on_save: &SaveFn,
    app: &App,
    snap: &Snapshot,
    theme: &Theme,
    now: Instant,
    gpu: Option<&dyn SideView>,
    size: ratatui::layout::Size,
) -> (String, bool) {
    let (mut written, mut problems) = (Vec::new(), Vec::new());
    match on_save(snap) {
        Ok(paths) => written.extend(paths),
        Err(e) => problems.push(format!("result not saved: {e:#}")),
    }
    let base = match written.first() {
        Some(p) => p.with_extension(""),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            PathBuf::from(format!("tokscope-{secs}"))
        }
    };
    match screen_picture(app, snap, theme, now, gpu, size) {
        Ok(buffer) => {
            for (ext, body) in [
                ("screen.txt", export::to_text(&buffer)),
                ("screen.svg", export::to_svg(&buffer, theme)),
            ] {
                let path = PathBuf::from(format!("{}.{ext}", base.display()));
                match std::fs::write(&path, body) {
                    Ok(()) => written.push(path),
                    Err(e) => problems.push(format!("cannot write '{}': {e}", path.display())),
                }
            }
        }
        Err(e) => problems.push(format!("screen picture failed: {e}")),
    }
    let names: Vec<String> = written.iter().map(|p| display_path(p)).collect();
    let mut msg = if names.is_empty() {
        String::new()
    } else {
        format!("saved {}", names.join(", "))
    };
    if !problems.is_empty() {
        if !msg.is_empty() {
            msg.push_str("; ");
        }
        msg.push_str(&problems.join("; "));
    }
    (msg, !problems.is_empty())
}

fn display_path(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Draw the current screen into an off-screen buffer of the terminal's size.
pub fn screen_picture(
    app: &App,
    snap: &Snapshot,
    theme: &Theme,
    now: Instant,
    gpu: Option<&dyn SideView>,
    size: ratatui::layout::Size,
) -> anyhow::Result<ratatui::buffer::Buffer> {
    let mut t = Terminal::new(TestBackend::new(size.width, size.height))?;
    let done = t.draw(|f| draw(f, app, snap, theme, now, gpu))?;
    Ok(done.buffer.clone())
}

/// Whether the dashboard holds the terminal (the panic hook restores it only then).
static ACTIVE: AtomicBool = AtomicBool::new(false);

fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        // After leaving the alternate screen, so what others wrote shows on the normal one
        // (and a panic message that follows goes to the terminal again).
        stderr_capture::stop();
    }
}

/// Raw mode + alternate screen for as long as it lives; restores on drop and on panic.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<std::io::Stdout>>,
}

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_terminal();
                previous(info);
            }));
        });
        ACTIVE.store(true, Ordering::SeqCst);
        // Libraries that print to stderr (GPU runtimes do) would smear the screen.
        stderr_capture::start();
        let setup = || -> std::io::Result<Terminal<CrosstermBackend<std::io::Stdout>>> {
            terminal::enable_raw_mode()?;
            execute!(
                std::io::stdout(),
                terminal::EnterAlternateScreen,
                cursor::Hide
            )?;
            Terminal::new(CrosstermBackend::new(std::io::stdout()))
        };
        match setup() {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// SIGTERM and SIGHUP (the SSH link dropped) seen on a small thread of its own, so the loop
/// can end and restore the terminal. Note: once installed, tokio keeps the handler for the
/// process's life; the caller exits soon after the dashboard anyway.
struct SignalWatch {
    fired: Arc<AtomicBool>,
    /// Dropping it ends the thread.
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SignalWatch {
    fn start() -> SignalWatch {
        let fired = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let flag = fired.clone();
        let spawned = std::thread::Builder::new()
            .name("tokscope-signals".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                else {
                    return;
                };
                rt.block_on(wait_for_signal(flag, stop_rx));
            });
        SignalWatch {
            fired,
            _stop: spawned.is_ok().then_some(stop_tx),
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal(flag: Arc<AtomicBool>, stop: tokio::sync::oneshot::Receiver<()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => flag.store(true, Ordering::SeqCst),
        _ = hup.recv() => flag.store(true, Ordering::SeqCst),
        _ = stop => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal(_flag: Arc<AtomicBool>, stop: tokio::sync::oneshot::Receiver<()>) {
    let _ = stop.await;
}
