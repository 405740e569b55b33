//! `tokscope [URL]`: the live dashboard. Starts the built-in simulator when no URL is given,
//! prepares the run exactly as `bench` does, runs the TUI on the main thread while the engine
//! and recorder run on the runtime's workers, and on quit writes the result and prints the
//! same summary `bench` prints.

use super::dashboard_save::{exit_code, SaveCtx};
use crate::cli::DashboardArgs;
use crate::runner;
use crate::tui::app::QuitReason;
use std::process::ExitCode;
use std::sync::Arc;

/// Concurrency used when neither a rate nor a concurrency is given.
pub const DEFAULT_CONCURRENCY: u32 = 8;

/// The simulator the dashboard starts when no server is given: a believable GPU-like server
/// (per-stream speed falls as concurrency rises) with reasoning and a trickle of faults, so a
/// newcomer sees every pane move.
pub fn demo_mock_config() -> crate::mock::MockConfig {
    let mut c = crate::mock::MockConfig {
        listen: "127.0.0.1:0".into(),
        ttft: std::time::Duration::from_millis(120),
        itl: std::time::Duration::from_millis(25),
        output_len: 256,
        slowdown: 0.03,
        max_num_seqs: 64,
        reasoning_tokens: 24,
        ..crate::mock::MockConfig::default()
    };
    // A trickle of realistic failures so the errors pane has something to show.
    c.faults.fail_500 = 0.005;
    c.faults.cut_stream = 0.003;
    c
}

pub fn run(args: DashboardArgs) -> ExitCode {
    let Some(rt) = crate::runtime() else {
        return std::process::ExitCode::FAILURE;
    };
    match run_inner(&rt, args) {
        Ok(code) => code,
        Err(e) => crate::faces::headless::report_error(&e),
    }
}

fn run_inner(rt: &tokio::runtime::Runtime, args: DashboardArgs) -> anyhow::Result<ExitCode> {
    // Bad flags and theme errors are reported before anything starts.
    crate::tui::prepare(&args.ui).map_err(|e| crate::runner::SetupError(format!("{e:#}")))?;
    // Lists, repeats and --search make a sweep, watched on the same screen.
    let sweep = args.load.to_sweep_plan(
        args.url.as_deref(),
        crate::cli::PlanDefaults {
            concurrency: Some(DEFAULT_CONCURRENCY),
            prompts: None,
        },
    )?;
    let (base, mock) = match sweep.base.base_url.clone() {
        Some(b) => (b, None),
        None => {
            let server = rt.block_on(crate::mock::start(demo_mock_config()))?;
            (server.base_url(), Some(server))
        }
    };
    if sweep.is_sweep() {
        return super::dashboard_sweep::run(rt, &args, sweep, base, mock);
    }
    let plan = sweep.single();
    let simulated = mock.is_some();
    let prepared = rt.block_on(runner::prepare(&base, &plan, simulated))?;
    let meta = prepared.meta.clone();
    let paths = prepared.paths.clone();
    // The dashboard always writes its result: find out now, not after the run, if it cannot.
    runner::check_writable(&paths)?;
    for w in &prepared.warnings {
        crate::console::err_line(w);
    }
    let _guard = rt.enter();
    let running = runner::start(prepared, true);
    let gpu = crate::runner::start_gpu(&plan.gpu).map(Arc::new);
    let server = crate::telemetry::server_metrics::spawn_scraper(
        vec![crate::telemetry::server_metrics::scraper::metrics_url(
            &base,
        )],
        std::time::Duration::from_secs(1),
    );
    // The GPU window opens with the timed run, after the warm-ups (as in `bench`).
    let gpu_run: Arc<std::sync::Mutex<Option<crate::telemetry::gpu::RunId>>> = Arc::default();
    if let Some(g) = gpu.clone() {
        let slot = gpu_run.clone();
        let snapshots = running.snapshots.clone();
        rt.spawn(async move {
            let id = crate::runner::gpu_run_from_timed_start(Some(&g), snapshots).await;
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = id;
        });
    }

    // `s` writes the same result as quitting would at this moment: GPU and server blocks,
    // goodput, the summary's numbers.
    let save = SaveCtx {
        meta: meta.clone(),
        paths: paths.clone(),
        gpu: gpu.clone(),
        gpu_run: gpu_run.clone(),
        server: server.clone(),
        goodput: !plan.stats.goodput.is_empty(),
        workload: running.workload.clone(),
        rt: rt.handle().clone(),
    };
    let on_save: crate::tui::SaveFn = Box::new(move |snap| save.write(snap));
    let ctx = crate::tui::DashboardCtx {
        snapshots: running.snapshots.clone(),
        commands: running.commands.clone(),
        ui: args.ui.clone(),
        on_save,
        server: Some(server.view.clone()),
        screen: crate::tui::app::Screen::Dashboard,
        side: crate::tui::SidePanel {
            gpu: Some(Box::new(crate::tui::telemetry_side::TelemetrySide::new(
                server.view.clone(),
                gpu.as_deref().map(|m| m.subscribe()),
            ))),
        },
        sweep: None,
    };
    let ui = crate::tui::run(ctx);
    // Whatever happened to the screen, stop the load and keep what was measured.
    let _ = running.commands.send(crate::load::engine::Command::Stop);
    let (_engine, outcome) = rt
        .block_on(running.done)
        .map_err(|e| anyhow::anyhow!("the run failed: {e}"))?;
    let run_id = *gpu_run.lock().unwrap_or_else(|p| p.into_inner());
    let gpu_stats = gpu.as_ref().zip(run_id).map(|(m, id)| m.end_run(id));
    let mut code = match &ui {
        Ok(exit) => exit_code(exit),
        Err(_) => ExitCode::FAILURE,
    };
    // A dashboard run with no --num-prompts or --duration ends when the user quits with `q`:
    // that is its normal end, not an interruption. A signal or a lost terminal stays one.
    let quit_by_key = matches!(&ui, Ok(e) if e.reason == QuitReason::Key);
    let mut outcome = outcome;
    if quit_by_key
        && plan.load.num_prompts.is_none()
        && plan.load.duration.is_none()
        && outcome.snapshot.interrupted
    {
        let mut s = (*outcome.snapshot).clone();
        s.interrupted = false;
        outcome.snapshot = Arc::new(s);
    }
    let report = rt.block_on(crate::report::finish::FinishedRun::new(
        &meta,
        &outcome,
        gpu_stats.as_ref(),
        &server,
        !plan.stats.goodput.is_empty(),
    ));
    // The simulator goes only now, after the report's last reading of its /metrics.
    if let Some(m) = mock {
        rt.block_on(m.shutdown());
    }
    // The terminal may be gone (a dropped SSH link): these writes never panic.
    crate::console::out(&report.table);
    if !crate::report::result::write_and_report(&paths, &report.report) {
        code = ExitCode::FAILURE;
    }
    if let Err(e) = ui {
        crate::console::err_line(&format!("error: the dashboard failed: {e:#}"));
    }
    Ok(code)
}
