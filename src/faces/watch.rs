//! `tokscope watch URL`: the dashboard without load, for a benchmark someone else is running
//! (a colleague's `vllm bench serve`, an evaluation script, real users). It reads the server's
//! own `/metrics` (several, summed, with `--metrics`) and the GPUs, draws them with the
//! dashboard's machinery on the `watch` screen, and writes the per-second server series to a
//! result file on `s` and on quit, so a watched run leaves a record too.

use crate::cli::WatchArgs;
use crate::report::run_report::{Extras, GpuReport, RunReport};
use crate::runner::SetupError;
use crate::telemetry::gpu::{GpuMonitor, RunId};
use crate::telemetry::server_metrics::scraper::metrics_url;
use crate::telemetry::server_metrics::{spawn_scraper, ServerScraper, ServerView};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Bounds of `--interval`, seconds.
const INTERVAL_RANGE: (f64, f64) = (0.1, 3600.0);

pub fn run(args: WatchArgs) -> ExitCode {
    let Some(rt) = crate::runtime() else {
        return ExitCode::FAILURE;
    };
    match run_inner(&rt, args) {
        Ok(code) => code,
        Err(e) => crate::faces::headless::report_error(&e),
    }
}

/// The `/metrics` URLs to read, from the flags; one-line errors for anything unusable.
pub fn sources(args: &WatchArgs) -> Result<Vec<String>, SetupError> {
    let is_http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    if !args.metrics.is_empty() {
        for m in &args.metrics {
            if !is_http(m) {
                return Err(SetupError(format!(
                    "--metrics '{m}' is not an http:// or https:// URL (e.g. \
                     http://127.0.0.1:8000/metrics)"
                )));
            }
        }
        return Ok(args.metrics.clone());
    }
    match &args.url {
        Some(u) if is_http(u) => Ok(vec![metrics_url(u)]),
        Some(u) => Err(SetupError(format!(
            "'{u}' is not an http:// or https:// URL: give the server's base URL, e.g. \
             'tokscope watch http://127.0.0.1:8000'"
        ))),
        None => Err(SetupError(
            "no server given: pass its URL (e.g. 'tokscope watch http://127.0.0.1:8000') or one \
             --metrics URL per replica"
                .into(),
        )),
    }
}

fn interval(args: &WatchArgs) -> Result<Duration, SetupError> {
    let (lo, hi) = INTERVAL_RANGE;
    if !(args.interval.is_finite() && (lo..=hi).contains(&args.interval)) {
        return Err(SetupError(format!(
            "--interval '{}' is out of range: use {lo} to {hi} seconds (default 1)",
            args.interval
        )));
    }
    Ok(Duration::from_secs_f64(args.interval))
}

fn run_inner(rt: &tokio::runtime::Runtime, args: WatchArgs) -> anyhow::Result<ExitCode> {
    crate::tui::prepare(&args.ui).map_err(|e| SetupError(format!("{e:#}")))?;
    let sources = sources(&args)?;
    let every = interval(&args)?;
    let gpu_cfg = args.gpu.monitor().map_err(SetupError)?;
    let date = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let name = args
        .result_filename
        .clone()
        .unwrap_or_else(|| format!("tokscope-watch-{date}.json"));
    let path = match &args.result_dir {
        Some(d) => d.join(name),
        None => PathBuf::from(name),
    };
    let _guard = rt.enter();
    let scraper = spawn_scraper(sources.clone(), every);
    let gpu = crate::runner::start_gpu(&gpu_cfg).map(Arc::new);
    let gpu_run = gpu.as_ref().map(|g| g.begin_run());
    let record = Record {
        date,
        sources,
        path: path.clone(),
        gpu: gpu.clone(),
        gpu_run,
    };
    // The dashboard's loop wants a snapshot and a command channel; nothing is sent here, so
    // both stay as they start (their senders live until the screen ends).
    let (_snap_tx, snapshots) = tokio::sync::watch::channel(Arc::default());
    let (commands, _commands_rx) = tokio::sync::mpsc::unbounded_channel();
    let save_view = scraper.view.clone();
    let save_record = record.clone();
    let on_save: crate::tui::SaveFn = Box::new(move |_| {
        let view = save_view.borrow().clone();
        save_record.write(&view)?;
        Ok(vec![save_record.path.clone()])
    });
    let ctx = crate::tui::DashboardCtx {
        sweep: None,
        snapshots,
        commands,
        ui: args.ui.clone(),
        on_save,
        server: Some(scraper.view.clone()),
        screen: crate::tui::app::Screen::Watch,
        side: crate::tui::SidePanel {
            gpu: Some(Box::new(crate::tui::telemetry_side::TelemetrySide::new(
                scraper.view.clone(),
                gpu.as_deref().map(GpuMonitor::subscribe),
            ))),
        },
    };
    let ui = crate::tui::run(ctx);
    let view = final_view(rt, &scraper);
    let mut code = match &ui {
        Ok(exit) => match exit.signal {
            Some(sig) => ExitCode::from(sig.exit_code()),
            None => ExitCode::SUCCESS,
        },
        Err(_) => ExitCode::FAILURE,
    };
    let lines = view.run.lines();
    if !lines.is_empty() {
        crate::console::out(&format!("{}\n", lines.join("\n")));
    }
    match record.write(&view) {
        Ok(()) => crate::console::err_line(&format!("result: {}", path.display())),
        Err(e) => {
            crate::console::err_line(&format!("error: {e:#}"));
            code = ExitCode::FAILURE;
        }
    }
    if let Err(e) = ui {
        crate::console::err_line(&format!("error: the watch screen failed: {e:#}"));
    }
    Ok(code)
}

/// A last reading, unless the server is gone (then what was read stands).
fn final_view(rt: &tokio::runtime::Runtime, scraper: &ServerScraper) -> Arc<ServerView> {
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(3), scraper.final_view())
            .await
            .unwrap_or_else(|_| scraper.view.borrow().clone())
    })
}

/// What a watched run's result file holds and where it goes.
#[derive(Clone)]
struct Record {
    date: String,
    sources: Vec<String>,
    path: PathBuf,
    gpu: Option<Arc<GpuMonitor>>,
    gpu_run: Option<RunId>,
}

impl Record {
    fn write(&self, view: &ServerView) -> anyhow::Result<()> {
        let gpu = self
            .gpu
            .as_ref()
            .zip(self.gpu_run)
            .map(|(m, id)| m.run_so_far(id));
        let value = watch_result(&self.date, &self.sources, view, gpu.as_ref());
        crate::report::result::write_json(&self.path, &value)
    }
}

/// The result of a watched run: vLLM's keys where the server's counters give them (tokens,
/// throughput, duration), the rest under "tokscope" with the per-second server series, as the
/// same typed report `bench` writes, so readers load both alike.
pub fn watch_result(
    date: &str,
    sources: &[String],
    view: &ServerView,
    gpu: Option<&crate::telemetry::gpu::GpuRunSummary>,
) -> RunReport {
    let r = &view.run;
    let per_s = |v: Option<f64>| v.filter(|_| r.duration_s > 0.0).map(|v| v / r.duration_s);
    let whole = |v: Option<f64>| v.map(|v| v.max(0.0).round() as u64);
    let generated = whole(r.generation_tokens);
    RunReport {
        date: Some(date.to_string()),
        backend: Some("tokscope-watch".into()),
        endpoint_type: Some("watch".into()),
        model_id: view.latest.as_ref().map(|m| m.server.to_string()),
        duration: Some(r.duration_s),
        completed: whole(r.requests),
        total_input_tokens: whole(r.prompt_tokens),
        total_output_tokens: generated,
        request_throughput: per_s(r.requests),
        output_throughput: per_s(r.generation_tokens),
        total_token_throughput: per_s(
            r.generation_tokens
                .map(|g| g + r.prompt_tokens.unwrap_or(0.0)),
        ),
        tokscope: Some(Extras {
            version: Some(env!("CARGO_PKG_VERSION").into()),
            mode: Some("watch".into()),
            sources: sources.to_vec(),
            gpu: gpu.map(|g| GpuReport::new(g, generated.unwrap_or(0))),
            server: Some(r.clone()),
            server_series: Some(view.series()),
            ..Extras::default()
        }),
        ..RunReport::default()
    }
}
