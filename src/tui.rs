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
pub mod pane;
pub mod server_charts;
pub mod server_pane;
pub mod side;
pub mod stderr_capture;
pub mod sweep_pane;
pub mod telemetry_side;
pub mod theme;
pub mod throughput;
pub mod watch_screen;

use crate::load::engine::Command;
use crate::metrics::snapshot::Snapshot;
use anyhow::Context as _;
use app::{handle_key, App, QuitReason};
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::Rect;
use ratatui::{Frame, Terminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
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
    /// The server scraper's view, for the server pane (`5`) and the `watch` screen.
    pub server:
        Option<tokio::sync::watch::Receiver<Arc<crate::telemetry::server_metrics::ServerView>>>,
    pub screen: app::Screen,
    /// In a sweep: its view and where its keys go.
    pub sweep: Option<SweepUi>,
}

/// A sweep as the dashboard sees it.
pub struct SweepUi {
    pub view: tokio::sync::watch::Receiver<crate::sweep::SweepView>,
    /// Called on `n` and `e`.
    pub on_key: Box<dyn Fn(app::SweepKey) + Send>,
}

/// How the dashboard ended.
#[derive(Debug, Clone)]
pub struct DashboardExit {
    pub reason: QuitReason,
    /// The last snapshot shown.
    pub last: Arc<Snapshot>,
    /// The signal that ended it, if one did.
    pub signal: Option<Signal>,
}

/// A signal that stops the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    /// The exit code a shell reports for it (128 + the signal's number).
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Hangup => 129,
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    fn from_u8(v: u8) -> Option<Signal> {
        match v {
            1 => Some(Signal::Hangup),
            2 => Some(Signal::Interrupt),
            15 => Some(Signal::Terminate),
            _ => None,
        }
    }
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

/// Run the dashboard until the user quits (`q`, Ctrl-C), a signal arrives (SIGINT, SIGTERM,
/// SIGHUP) or the terminal goes away; `Command::Stop` is sent on every way out. When the run
/// ends by itself the screen stays, marked DONE, until `q`. It blocks the calling thread.
///
/// The screen is drawn on a thread of its own while this one supervises it. A terminal that is
/// gone (the SSH link dropped, the tmux session killed) can leave crossterm reading end-of-file
/// forever inside `event::poll` (crossterm 0.29 does not stop on a zero-byte read), so the
/// drawing thread cannot be trusted to notice: the supervisor watches for the hangup and the
/// signals itself, stops the load at once, and returns so the caller can write the result.
pub fn run(ctx: DashboardCtx) -> anyhow::Result<DashboardExit> {
    let (themes, frame_every) = prepare(&ctx.ui)?;
    let commands = ctx.commands.clone();
    let latest = ctx.snapshots.clone();
    let signals = SignalWatch::start(commands.clone());
    let fired = signals.fired.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let ui = std::thread::Builder::new()
        .name("tokscope-ui".into())
        .spawn(move || {
            let result = TerminalGuard::enter()
                .context("cannot set up the terminal for the dashboard")
                .and_then(|mut term| {
                    let stop = SignalFlag(&fired);
                    let r = event_loop(
                        &mut term.terminal,
                        &mut TerminalEvents,
                        ctx,
                        &themes,
                        frame_every,
                        &stop,
                    );
                    drop(term);
                    r
                });
            let _ = done_tx.send(result);
        })
        .context("cannot start the dashboard's thread")?;
    let exit = |reason: QuitReason| DashboardExit {
        reason,
        last: latest.borrow().clone(),
        signal: signals.received(),
    };
    let mut signal_since: Option<Instant> = None;
    loop {
        match done_rx.recv_timeout(SUPERVISE_EVERY) {
            Ok(result) => {
                let _ = ui.join();
                return match result {
                    Ok(mut e) => {
                        e.signal = signals.received();
                        Ok(e)
                    }
                    // Drawing failed because the terminal went away: that is how it ended.
                    Err(_) if terminal_hung_up() => {
                        let _ = commands.send(Command::Stop);
                        Ok(exit(QuitReason::TerminalLost))
                    }
                    Err(e) => Err(e),
                };
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // The drawing thread panicked (the hook restored the terminal and printed why).
                let _ = commands.send(Command::Stop);
                restore_terminal();
                anyhow::bail!(
                    "the dashboard's screen thread stopped unexpectedly (see the message above)"
                );
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if terminal_hung_up() {
            let _ = commands.send(Command::Stop);
            restore_terminal();
            return Ok(exit(QuitReason::TerminalLost));
        }
        if signals.received().is_some() {
            // The drawing thread normally ends within a frame; if it does not, it is stuck.
            let since = *signal_since.get_or_insert_with(Instant::now);
            if since.elapsed() > SIGNAL_GRACE {
                restore_terminal();
                return Ok(exit(QuitReason::Signal));
            }
        }
    }
}

/// How often the supervisor looks at the terminal and the signals.
const SUPERVISE_EVERY: Duration = Duration::from_millis(100);
/// How long the drawing thread gets to end by itself after a signal.
const SIGNAL_GRACE: Duration = Duration::from_secs(1);

/// True when the controlling terminal has hung up (its other end is closed): `poll` reports
/// POLLHUP (or an error) on standard input. False when standard input is not a terminal.
#[cfg(unix)]
pub fn terminal_hung_up() -> bool {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return false;
    }
    let mut fd = libc::pollfd {
        fd: 0,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout; poll only writes `revents`.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

#[cfg(not(unix))]
pub fn terminal_hung_up() -> bool {
    false
}

/// The signal flag as the drawing loop sees it: set once any stopping signal arrived.
struct SignalFlag<'a>(&'a AtomicU8);

impl StopSignal for SignalFlag<'_> {
    fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst) != 0
    }
}

/// Something that tells the drawing loop to end as if a signal had arrived.
pub trait StopSignal {
    fn is_set(&self) -> bool;
}

impl StopSignal for AtomicBool {
    fn is_set(&self) -> bool {
        self.load(Ordering::SeqCst)
    }
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
    stop_signal: &dyn StopSignal,
) -> anyhow::Result<DashboardExit>
where
    B::Error: Send + Sync + 'static,
{
    anyhow::ensure!(!themes.is_empty(), "no theme to draw with");
    let mut app = App::new(themes.len());
    app.screen = ctx.screen;
    if let Some(rx) = ctx.server.as_mut() {
        app.server = rx.borrow_and_update().clone();
    }
    let mut sampler = crate::telemetry::sysstat::Sampler::default();
    let mut snap: Arc<Snapshot> = ctx.snapshots.borrow_and_update().clone();
    if let Some(sweep) = ctx.sweep.as_mut() {
        app.sweep = Some(sweep.view.borrow_and_update().clone());
    }
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
                    if let (Some(k), Some(sweep)) = (app.sweep_key.take(), &ctx.sweep) {
                        (sweep.on_key)(k);
                        let said = match k {
                            app::SweepKey::NextStep => "ending this step; the next one starts",
                            app::SweepKey::StopAfterStep => {
                                "the sweep ends after this step (n: end it now)"
                            }
                        };
                        app.flash(said, false, Instant::now());
                    }
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
            if app.quit.is_some() || stop_signal.is_set() {
                break;
            }
            // Take everything already queued before drawing once.
            next = events.next(Duration::ZERO)?;
        }
        if PANICKED.load(Ordering::SeqCst) {
            // A panic elsewhere restored the terminal and printed its message: draw no more.
            let _ = ctx.commands.send(Command::Stop);
            anyhow::bail!("an internal error stopped the dashboard (see the message above)");
        }
        if app.quit.is_none() && stop_signal.is_set() {
            app.quit = Some(QuitReason::Signal);
            let _ = ctx.commands.send(Command::Stop);
        }
        if let Some(reason) = app.quit {
            return Ok(DashboardExit {
                reason,
                last: snap,
                signal: None,
            });
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
            if let Some(rx) = ctx.server.as_mut() {
                let latest = rx.borrow_and_update().clone();
                if !Arc::ptr_eq(&latest, &app.server) {
                    app.server = latest;
                    dirty = true;
                }
            }
            if let Some(sweep) = ctx.sweep.as_mut() {
                // Compared, not `has_changed`: the sweep's last word comes as its sender goes.
                let view = sweep.view.borrow_and_update().clone();
                if app.sweep.as_ref() != Some(&view) {
                    app.sweep = Some(view);
                    dirty = true;
                }
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
    // The file names first and the folder last, so a narrow footer cuts the folder, not
    // what was saved.
    let absolute: Vec<PathBuf> = written
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let folder = absolute
        .first()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let same_folder = absolute.iter().all(|p| p.parent() == folder.as_deref());
    let mut msg = match (&folder, same_folder) {
        (_, _) if absolute.is_empty() => String::new(),
        (Some(dir), true) => {
            let names: Vec<String> = absolute
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            format!("saved {} in {}", names.join(", "), dir.display())
        }
        _ => {
            let names: Vec<String> = absolute.iter().map(|p| p.display().to_string()).collect();
            format!("saved {}", names.join(", "))
        }
    };
    if !problems.is_empty() {
        if !msg.is_empty() {
            msg.push_str("; ");
        }
        msg.push_str(&problems.join("; "));
    }
    (msg, !problems.is_empty())
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
/// A panic happened on some thread while the dashboard held the terminal: stop drawing.
static PANICKED: AtomicBool = AtomicBool::new(false);

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
                if ACTIVE.load(Ordering::SeqCst) {
                    PANICKED.store(true, Ordering::SeqCst);
                }
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

/// SIGINT, SIGTERM and SIGHUP (the SSH link dropped) seen on a small thread of its own. It
/// stops the load itself, at once, so a screen that cannot end (a lost terminal) never keeps
/// the server loaded; the drawing loop and the supervisor then end the dashboard. Note: once
/// installed, tokio keeps the handlers for the process's life; the caller exits soon after.
struct SignalWatch {
    /// The signal's number once one arrived (0 before).
    fired: Arc<AtomicU8>,
    /// Dropping it ends the thread.
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SignalWatch {
    fn start(commands: tokio::sync::mpsc::UnboundedSender<Command>) -> SignalWatch {
        let fired = Arc::new(AtomicU8::new(0));
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
                if let Some(sig) = rt.block_on(wait_for_signal(stop_rx)) {
                    flag.store(sig, Ordering::SeqCst);
                    let _ = commands.send(Command::Stop);
                }
            });
        SignalWatch {
            fired,
            _stop: spawned.is_ok().then_some(stop_tx),
        }
    }

    fn received(&self) -> Option<Signal> {
        Signal::from_u8(self.fired.load(Ordering::SeqCst))
    }
}

/// The number of the first stopping signal to arrive, or `None` when told to stop watching.
#[cfg(unix)]
async fn wait_for_signal(stop: tokio::sync::oneshot::Receiver<()>) -> Option<u8> {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return None;
    };
    tokio::select! {
        _ = int.recv() => Some(2),
        _ = term.recv() => Some(15),
        _ = hup.recv() => Some(1),
        _ = stop => None,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal(stop: tokio::sync::oneshot::Receiver<()>) -> Option<u8> {
    let _ = stop.await;
    None
}
