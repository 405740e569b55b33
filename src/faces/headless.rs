//! `tokscope bench`: the engine without a screen. A progress bar on stderr (only on a
//! terminal), the summary table on stdout, result files on request. Ctrl-C and SIGTERM stop the
//! run and still write the summary and the result, marked interrupted.

use crate::cli::BenchArgs;
use crate::load::engine::Command;
use crate::runner::{self, SetupError};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

pub use super::exit::{
    report_error, EXIT_ALL_FAILED, EXIT_INTERRUPTED, EXIT_SETUP, EXIT_TERMINATED,
};

pub fn run(args: BenchArgs) -> ExitCode {
    let Some(rt) = crate::runtime() else {
        return std::process::ExitCode::FAILURE;
    };
    match rt.block_on(run_async(args)) {
        Ok(code) => code,
        Err(e) => report_error(&e),
    }
}

async fn run_async(args: BenchArgs) -> anyhow::Result<ExitCode> {
    // vLLM's default is 1000 prompts; a --duration run needs no count.
    // Lists, repeats and --search make a sweep; one value each is the single run below.
    let sweep = args.load.to_sweep_plan(
        args.url.as_deref(),
        crate::cli::PlanDefaults {
            concurrency: None,
            prompts: Some(1000),
        },
    )?;
    let base = sweep.base.base_url.clone().ok_or_else(|| {
        SetupError(
            "no server given: pass its URL (e.g. 'tokscope bench http://127.0.0.1:8000'), or start \
             the simulator with 'tokscope mock' and point bench at it"
                .into(),
        )
    })?;
    if sweep.is_sweep() {
        return crate::faces::sweep_bench::run(&args, &base, sweep).await;
    }
    let plan = sweep.single();
    let mut prepared = runner::prepare(&base, &plan, false).await?;
    // Nothing shows the recent window headless: skip its percentiles on every publish.
    prepared.recorder.recent_percentiles = false;
    let meta = prepared.meta.clone();
    let paths = prepared.paths.clone();
    let save = prepared.save_result;
    // A result that cannot be written is found now, not after the run.
    if save {
        runner::check_writable(&paths)?;
    }
    for w in &prepared.warnings {
        crate::console::err_line(w);
    }
    let num_prompts = prepared.engine.num_prompts;
    let duration = prepared.engine.duration;
    eprintln!(
        "tokscope bench: model '{}' at {}{} | {} | concurrency {} | rate {}",
        meta.model_id,
        prepared.info.base_url,
        plan.request.endpoint,
        match (num_prompts, duration) {
            (Some(n), _) => format!("{n} prompts"),
            (None, Some(d)) => format!("{:.0} s", d.as_secs_f64()),
            _ => "unbounded".into(),
        },
        plan.load
            .max_concurrency
            .map(|c| c.to_string())
            .unwrap_or_else(|| "uncapped".into()),
        plan.load
            .request_rate
            .map(|r| format!("{r}/s"))
            .unwrap_or_else(|| "inf".into()),
    );
    let gpu = crate::runner::start_gpu(&plan.gpu);
    let server = crate::telemetry::server_metrics::spawn_scraper(
        vec![crate::telemetry::server_metrics::scraper::metrics_url(
            &base,
        )],
        Duration::from_secs(1),
    );
    let running = runner::start(prepared, save);
    let signal = spawn_signal_stop(running.commands.clone());
    let progress = spawn_progress(running.snapshots.clone(), num_prompts, duration);
    // The GPU window opens with the timed run, after the warm-ups: their energy is not
    // divided by tokens that leave them out.
    let (gpu_run, done) = tokio::join!(
        crate::runner::gpu_run_from_timed_start(gpu.as_ref(), running.snapshots.clone()),
        running.done
    );
    let (engine, outcome) = done.map_err(|e| anyhow::anyhow!("the run failed: {e}"))?;
    progress.abort();
    let gpu_stats = gpu.as_ref().zip(gpu_run).map(|(m, id)| m.end_run(id));
    let finished = crate::report::finish::FinishedRun::new(
        &meta,
        &outcome,
        gpu_stats.as_ref(),
        &server,
        !plan.stats.goodput.is_empty(),
    )
    .await;
    let (summary, report) = (&finished.summary, &finished.report);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print!("{}", finished.table);
    }
    let signalled = signal.load(std::sync::atomic::Ordering::SeqCst);
    let mut code = if let (Some(fatal), 0) = (&outcome.snapshot.fatal, signalled) {
        crate::console::err_line(&format!("error: {fatal}"));
        ExitCode::from(EXIT_ALL_FAILED)
    } else if engine.interrupted {
        match signalled {
            0 => ExitCode::from(EXIT_INTERRUPTED),
            code => ExitCode::from(code),
        }
    } else if summary.completed == 0 && summary.failed > 0 {
        ExitCode::from(EXIT_ALL_FAILED)
    } else {
        ExitCode::SUCCESS
    };
    if save && !crate::report::result::write_and_report(&paths, report) {
        code = ExitCode::FAILURE;
    }
    if let Some(e) = &outcome.jsonl_error {
        eprintln!("warning: {e}");
    }
    Ok(code)
}

/// Wait for a signal that may not have been installed (then never).
#[cfg(unix)]
async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Ctrl-C or SIGTERM: stop sending, cancel in-flight requests, write what finished.
/// Returns the exit code the signal asks for (0 until one arrives).
pub fn spawn_signal_stop(
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
) -> std::sync::Arc<std::sync::atomic::AtomicU8> {
    let code = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let set = code.clone();
    // The handlers are installed here, before the caller goes on: a signal that comes while
    // the task below has not run yet is still caught (not the default action, which kills).
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    tokio::spawn(async move {
        #[cfg(unix)]
        let exit = {
            tokio::select! {
                _ = recv(int.as_mut()) => EXIT_INTERRUPTED,
                _ = recv(term.as_mut()) => EXIT_TERMINATED,
            }
        };
        #[cfg(not(unix))]
        let exit = {
            let _ = tokio::signal::ctrl_c().await;
            EXIT_INTERRUPTED
        };
        set.store(exit, std::sync::atomic::Ordering::SeqCst);
        crate::console::err_line("\ninterrupted: stopping, writing the partial result");
        let _ = commands.send(Command::Stop);
    });
    code
}

fn spawn_progress(
    mut rx: tokio::sync::watch::Receiver<std::sync::Arc<crate::metrics::snapshot::Snapshot>>,
    num_prompts: Option<u64>,
    duration: Option<Duration>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let (len, by_time) = match (num_prompts, duration) {
            (Some(n), _) => (n, false),
            (None, Some(d)) => (d.as_secs().max(1), true),
            _ => (0, false),
        };
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let s = rx.borrow_and_update().clone();
            let done = s.counts.ok + s.counts.failed;
            bar.set_position(if by_time {
                s.elapsed.as_secs().min(len)
            } else {
                done
            });
            let cur = s
                .series
                .get(s.elapsed.as_secs().saturating_sub(1) as usize)
                .map(|b| b.output_tokens)
                .unwrap_or(0);
            bar.set_message(format!(
                "ok {} failed {} in-flight {} | {} tok/s",
                s.counts.ok, s.counts.failed, s.counts.in_flight, cur
            ));
            if s.state == crate::metrics::snapshot::RunState::Done {
                break;
            }
        }
        bar.finish_and_clear();
    })
}
