//! The dashboard loop end to end with fakes: a TestBackend for the terminal, scripted keys,
//! a watch channel standing in for the engine. Checks what reaches the engine and the screen.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokscope::cli::UiArgs;
use tokscope::load::engine::Command;
use tokscope::metrics::snapshot::Snapshot;
use tokscope::tui::app::QuitReason;
use tokscope::tui::theme::Theme;
use tokscope::tui::{event_loop, export, fixtures, DashboardCtx, EventSource, SidePanel};

#[allow(clippy::large_enum_variant)] // a test script of a few steps: boxing buys nothing
enum Step {
    Key(char),
    /// Let frames pass.
    Wait(Duration),
    Publish(Snapshot),
    /// The engine goes away.
    DropEngine,
}

struct Script {
    steps: VecDeque<Step>,
    tx: Option<watch::Sender<Arc<Snapshot>>>,
}

impl EventSource for Script {
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<Event>> {
        match self.steps.pop_front() {
            Some(Step::Key(c)) => Ok(Some(Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )))),
            Some(Step::Wait(d)) => {
                std::thread::sleep(d);
                Ok(None)
            }
            Some(Step::Publish(s)) => {
                if let Some(tx) = &self.tx {
                    let _ = tx.send(Arc::new(s));
                }
                Ok(None)
            }
            Some(Step::DropEngine) => {
                self.tx = None;
                Ok(None)
            }
            None if timeout.is_zero() => Ok(None),
            // The script ran out without quitting: end the test rather than hang.
            None => Ok(Some(Event::Key(KeyEvent::new(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL,
            )))),
        }
    }
}

struct Outcome {
    reason: QuitReason,
    commands: Vec<Command>,
    screen: String,
}

fn run_script(
    first: Snapshot,
    steps: Vec<Step>,
    on_save: tokscope::tui::SaveFn,
    stop_signal: bool,
) -> Outcome {
    let (tx, rx) = watch::channel(Arc::new(first));
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    let ctx = DashboardCtx {
        snapshots: rx,
        commands: cmd_tx,
        ui: UiArgs {
            theme: None,
            fps: 50.0,
        },
        on_save,
        side: SidePanel::default(),
        server: None,
        screen: Default::default(),
        sweep: None,
    };
    let mut script = Script {
        steps: steps.into(),
        tx: Some(tx),
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("backend");
    let stop = AtomicBool::new(stop_signal);
    let exit = event_loop(
        &mut terminal,
        &mut script,
        ctx,
        &[Theme::dark()],
        Duration::from_millis(20),
        &stop,
    )
    .expect("loop");
    let mut commands = Vec::new();
    while let Ok(c) = cmd_rx.try_recv() {
        commands.push(c);
    }
    Outcome {
        reason: exit.reason,
        commands,
        screen: export::to_text(terminal.backend().buffer()),
    }
}

fn no_save() -> tokscope::tui::SaveFn {
    Box::new(|_| Ok(Vec::new()))
}

const FRAME: Duration = Duration::from_millis(60);

#[test]
fn keys_reach_the_engine_and_q_stops_it() {
    let steps = vec![
        Step::Key('+'),
        Step::Key(' '),
        Step::Key(']'),
        Step::Key('q'),
    ];
    let out = run_script(fixtures::running(), steps, no_save(), false);
    assert_eq!(out.reason, QuitReason::Key);
    assert_eq!(
        out.commands,
        [
            Command::AdjustConcurrency(1),
            Command::TogglePause,
            Command::ScaleRate(1.25),
            Command::Stop
        ]
    );
}

#[test]
fn newest_snapshot_is_drawn_and_done_stays_until_q() {
    let mut late = fixtures::running();
    late.elapsed = Duration::from_secs(3 * 60 + 7);
    let mut done = fixtures::done();
    done.elapsed = Duration::from_secs(4 * 60 + 2);
    let steps = vec![
        Step::Publish(late),
        Step::Publish(done),
        Step::Wait(FRAME),
        Step::Wait(FRAME),
        Step::Wait(FRAME),
        Step::Key('q'),
    ];
    let out = run_script(fixtures::idle(), steps, no_save(), false);
    assert_eq!(out.reason, QuitReason::Key, "the loop waited for q");
    assert!(out.screen.contains("● DONE │ 4:02"), "{}", out.screen);
    assert!(out.screen.contains("the run is over"), "{}", out.screen);
}

#[test]
fn a_termination_signal_ends_the_loop_and_stops_the_engine() {
    let out = run_script(
        fixtures::running(),
        vec![Step::Wait(FRAME)],
        no_save(),
        true,
    );
    assert_eq!(out.reason, QuitReason::Signal);
    assert_eq!(out.commands, [Command::Stop]);
}

#[test]
fn a_vanished_engine_is_said_on_screen() {
    let steps = vec![
        Step::DropEngine,
        Step::Wait(FRAME),
        Step::Wait(FRAME),
        Step::Key('q'),
    ];
    let out = run_script(fixtures::running(), steps, no_save(), false);
    assert!(out.screen.contains("engine stopped"), "{}", out.screen);
}

#[test]
fn save_writes_the_result_and_pictures_of_the_screen_next_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let result: PathBuf = dir.path().join("run-1.json");
    let target = result.clone();
    let on_save: tokscope::tui::SaveFn = Box::new(move |snap: &Snapshot| {
        std::fs::write(&target, format!("{{\"ok\": {}}}", snap.counts.ok))?;
        Ok(vec![target.clone()])
    });
    let steps = vec![Step::Key('s'), Step::Wait(FRAME), Step::Key('q')];
    let snap = fixtures::running();
    let want = format!("{{\"ok\": {}}}", snap.counts.ok);
    let out = run_script(snap, steps, on_save, false);
    let txt = dir.path().join("run-1.screen.txt");
    let svg = dir.path().join("run-1.screen.svg");
    assert_eq!(
        std::fs::read_to_string(&result).ok().as_deref(),
        Some(want.as_str())
    );
    let text = std::fs::read_to_string(&txt).expect("screen text written");
    assert!(text.contains("Qwen/Qwen3-8B"), "{text}");
    assert_eq!(text.lines().count(), 40);
    let picture = std::fs::read_to_string(&svg).expect("screen picture written");
    assert!(picture.starts_with("<svg") && picture.contains("Qwen/Qwen3-8B"));
    // The footer says where, ending with the last file's name.
    assert!(out.screen.contains("run-1.screen.svg"), "{}", out.screen);
    assert!(out.screen.contains("saved "), "{}", out.screen);
}

#[test]
fn a_failed_save_is_reported_and_the_screen_still_saved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = std::env::current_dir().expect("cwd");
    let on_save: tokscope::tui::SaveFn = Box::new(|_| anyhow::bail!("disk full"));
    // The fallback picture goes to the current directory: run there in a temp dir.
    std::env::set_current_dir(dir.path()).expect("chdir");
    let out = run_script(
        fixtures::running(),
        vec![Step::Key('s'), Step::Wait(FRAME), Step::Key('q')],
        on_save,
        false,
    );
    std::env::set_current_dir(cwd).expect("chdir back");
    assert!(
        out.screen.contains("result not saved: disk full"),
        "{}",
        out.screen
    );
    let pictures = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("tokscope-"))
        .count();
    assert_eq!(pictures, 2);
}
