//! `tokscope bench` with a list, repeats or `--search`: a line per step on stderr, a table of
//! the steps on stdout (or the sweep JSON with `--json`), the folder of results.

use crate::cli::BenchArgs;
use crate::faces::exit::{EXIT_ALL_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED};
use crate::runner::SetupError;
use crate::sweep::plan::SweepPlan;
use crate::sweep::step::Shared;
use crate::sweep::{SweepControl, SweepView};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

pub async fn run(args: &BenchArgs, base: &str, plan: SweepPlan) -> anyhow::Result<ExitCode> {
    let dir = crate::sweep::sweep_dir(&plan);
    std::fs::create_dir_all(&dir).map_err(|e| {
        SetupError(format!(
            "cannot create the sweep folder '{}': {e}",
            dir.display()
        ))
    })?;
    let what = match (&plan.search, plan.steps.len()) {
        (Some(s), _) => format!("capacity search over {}", s.axis.key()),
        (None, n) => format!(
            "{n} step{} over {}",
            if n == 1 { "" } else { "s" },
            plan.axis.key()
        ),
    };
    crate::console::err_line(&format!(
        "tokscope sweep: {what}, {} run{} each, into {}",
        plan.num_runs,
        if plan.num_runs == 1 { "" } else { "s" },
        dir.display()
    ));
    let gpu = crate::runner::start_gpu(&plan.base.gpu);
    let server = crate::telemetry::server_metrics::spawn_scraper(
        vec![crate::telemetry::server_metrics::scraper::metrics_url(base)],
        Duration::from_secs(1),
    );
    let ctl = Arc::new(SweepControl::default());
    let signal = spawn_signal(ctl.clone());
    let (view_tx, _view_rx) = tokio::sync::watch::channel(SweepView::default());
    let sh = Shared {
        base_url: base,
        gpu: gpu.as_ref(),
        server: &server,
        current: &ctl.current,
        live: None,
    };
    let out = crate::sweep::run(&sh, &plan, &dir, &ctl, &view_tx).await?;
    if args.json {
        let text = std::fs::read_to_string(dir.join("sweep.json")).unwrap_or_default();
        println!("{text}");
    } else {
        print!("{}", table(&view_tx.borrow()));
    }
    if let Some(a) = &out.answer {
        crate::console::err_line(a);
    }
    crate::console::err_line(&format!(
        "sweep: {} (summary.json, summary.csv, sweep.json)",
        dir.display()
    ));
    Ok(if out.interrupted {
        match signal.load(SeqCst) {
            0 => ExitCode::from(EXIT_INTERRUPTED),
            c => ExitCode::from(c),
        }
    } else if out.stopped_on_error || (out.failures > 0 && out.steps.iter().all(|s| s.runs_ok == 0))
    {
        ExitCode::from(EXIT_ALL_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The steps as a table: load, output tok/s, p50/p99 TTFT and TPOT, GPU W, J/token.
pub fn table(v: &SweepView) -> String {
    let key = v.axis.map(|a| a.key()).unwrap_or("step");
    let mut out = format!(
        "{:<28} {:>12} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}  \n",
        key, "out tok/s", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "GPU W", "J/tok"
    );
    for (i, s) in v.steps.iter().enumerate() {
        let f = |k: &str, prec: usize| {
            s.figures
                .get(k)
                .map(|f| {
                    let mark = if f.unstable { "~" } else { "" };
                    format!("{mark}{:.prec$}", f.mean)
                })
                .unwrap_or_else(|| "-".into())
        };
        let mut marks = Vec::new();
        if v.best == Some(i) {
            marks.push("best");
        }
        if v.knee == Some(i) {
            marks.push("knee");
        }
        match s.passed {
            Some(true) => marks.push("pass"),
            Some(false) => marks.push("fail"),
            None => {}
        }
        if s.runs_failed > 0 {
            marks.push("failed runs");
        }
        if s.interrupted {
            marks.push("interrupted");
        }
        out.push_str(&format!(
            "{:<28} {:>12} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}  {}\n",
            s.name.split('-').next().unwrap_or(&s.name),
            f("output_throughput", 1),
            f("median_ttft_ms", 1),
            f("p99_ttft_ms", 1),
            f("median_tpot_ms", 2),
            f("p99_tpot_ms", 2),
            f("gpu_power_w", 0),
            f("joules_per_output_token", 3),
            marks.join(", ")
        ));
    }
    if v.steps
        .iter()
        .any(|s| s.figures.values().any(|f| f.unstable))
    {
        out.push_str("~ the runs of this step spread more than 10% around the mean\n");
    }
    out
}

/// Ctrl-C and SIGTERM stop the run in progress and the sweep; what finished is kept.
fn spawn_signal(ctl: Arc<SweepControl>) -> Arc<AtomicU8> {
    let code = Arc::new(AtomicU8::new(0));
    let set = code.clone();
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            let exit = tokio::select! {
                _ = recv(int.as_mut()) => EXIT_INTERRUPTED,
                _ = recv(term.as_mut()) => EXIT_TERMINATED,
            };
            #[cfg(not(unix))]
            let exit = {
                let _ = tokio::signal::ctrl_c().await;
                EXIT_INTERRUPTED
            };
            set.store(exit, SeqCst);
            crate::console::err_line(
                "\ninterrupted: stopping the sweep, keeping every finished step and this one",
            );
            ctl.interrupt();
        }
    });
    code
}

#[cfg(unix)]
async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
