//! `tokscope [URL] --max-concurrency 1,2,4` (or any list, `--num-runs`, `--search`): a sweep
//! watched in the dashboard. The sweep driver runs on the runtime as `bench` runs it; the live
//! panes show the step in progress (its snapshots are passed on to the screen), the sweep pane
//! and the header show the finished steps and where the sweep stands. `n` ends the step in
//! progress, `e` ends the sweep after it; `q` stops the step in progress and keeps it as the
//! partial one. The folder's files are kept current after every run; `s` also writes the run
//! in progress and a picture of the screen into it.

use super::dashboard_save::{exit_code, SaveCtx};
use crate::cli::DashboardArgs;
use crate::load::engine::Command;
use crate::metrics::snapshot::Snapshot;
use crate::runner::SetupError;
use crate::sweep::plan::SweepPlan;
use crate::sweep::step::Shared;
use crate::sweep::{SweepControl, SweepView};
use crate::tui::app::SweepKey;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub(super) fn run(
    rt: &tokio::runtime::Runtime,
    args: &DashboardArgs,
    plan: SweepPlan,
    base: String,
    mock: Option<crate::mock::MockServer>,
) -> anyhow::Result<ExitCode> {
    let dir = crate::sweep::sweep_dir(&plan);
    std::fs::create_dir_all(&dir).map_err(|e| {
        SetupError(format!(
            "cannot create the sweep folder '{}': {e}",
            dir.display()
        ))
    })?;
    let _guard = rt.enter();
    let gpu = crate::runner::start_gpu(&plan.base.gpu).map(Arc::new);
    let server = crate::telemetry::server_metrics::spawn_scraper(
        vec![crate::telemetry::server_metrics::scraper::metrics_url(
            &base,
        )],
        Duration::from_secs(2),
    );
    let ctl = Arc::new(SweepControl::default());
    let (view_tx, view_rx) = watch::channel(SweepView::default());
    let (live_tx, live_rx) = watch::channel(Arc::new(Snapshot::default()));
    let live_tx = Arc::new(live_tx);

    // The screen's keys go to the run in progress; its Stop (q, Ctrl-C) ends the sweep.
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Command>();
    let relay_ctl = ctl.clone();
    rt.spawn(async move {
        while let Some(cmd) = cmd_rx.recv().await {
            match cmd {
                Command::Stop => relay_ctl.interrupt(),
                other => relay_ctl.current.send(other),
            }
        }
    });

    let goodput = !plan.base.stats.goodput.is_empty();
    let driver = {
        let (ctl, gpu, server, base, dir) = (
            ctl.clone(),
            gpu.clone(),
            server.clone(),
            base.clone(),
            dir.clone(),
        );
        rt.spawn(async move {
            let sh = Shared {
                base_url: &base,
                gpu: gpu.as_deref(),
                server: &server,
                current: &ctl.current,
                live: Some(&live_tx),
            };
            crate::sweep::run(&sh, &plan, &dir, &ctl, &view_tx).await
        })
    };

    let on_save: crate::tui::SaveFn = {
        let (ctl, gpu, server, dir, rt) = (
            ctl.clone(),
            gpu.clone(),
            server.clone(),
            dir.clone(),
            rt.handle().clone(),
        );
        Box::new(move |snap| {
            let mut written: Vec<PathBuf> = ["sweep.json", "summary.json", "summary.csv"]
                .iter()
                .map(|f| dir.join(f))
                .filter(|p| p.exists())
                .collect();
            // The run in progress, as its result file will be when it ends (it is replaced
            // then), GPU block included.
            if let Some(run) = ctl.current.get() {
                let save = SaveCtx {
                    meta: run.meta,
                    paths: run.paths,
                    gpu: gpu.clone(),
                    gpu_run: run.gpu_run,
                    server: server.clone(),
                    goodput,
                    workload: run.workload,
                    rt: rt.clone(),
                };
                written.extend(save.write(snap)?);
            }
            Ok(written)
        })
    };
    let on_key: Box<dyn Fn(SweepKey) + Send> = {
        let ctl = ctl.clone();
        Box::new(move |k| match k {
            SweepKey::NextStep => ctl.skip_step(),
            SweepKey::StopAfterStep => ctl.stop_after_step.store(true, SeqCst),
        })
    };
    let ctx = crate::tui::DashboardCtx {
        snapshots: live_rx,
        commands: cmd_tx,
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
        sweep: Some(crate::tui::SweepUi {
            view: view_rx.clone(),
            on_key,
        }),
    };
    let ui = crate::tui::run(ctx);
    // However the screen ended, a sweep still going stops now and keeps what it measured.
    if !driver.is_finished() {
        ctl.interrupt();
    }
    let outcome = rt
        .block_on(driver)
        .map_err(|e| anyhow::anyhow!("the sweep failed: {e}"))?;
    if let Some(m) = mock {
        rt.block_on(m.shutdown());
    }
    let mut code = match &ui {
        Ok(exit) => exit_code(exit),
        Err(_) => ExitCode::FAILURE,
    };
    crate::console::out(&crate::faces::sweep_bench::table(&view_rx.borrow()));
    match outcome {
        Ok(out) => {
            if let Some(a) = &out.answer {
                crate::console::err_line(a);
            }
            crate::console::err_line(&format!(
                "sweep: {} (summary.json, summary.csv, sweep.json)",
                dir.display()
            ));
        }
        Err(e) => {
            crate::console::err_line(&format!("error: the sweep stopped: {e:#}"));
            code = ExitCode::FAILURE;
        }
    }
    if let Err(e) = ui {
        crate::console::err_line(&format!("error: the dashboard failed: {e:#}"));
    }
    Ok(code)
}
