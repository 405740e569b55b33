//! One run of one step, and what happens between steps: the server's queue drained, its prefix
//! cache dropped on request, the cool-down. A run goes through the same entry points as a
//! single `bench` run (`runner::prepare`, `runner::start`, `FinishedRun`), so its result is the
//! same `RunReport` a single run writes.

use crate::load::engine::Command;
use crate::metrics::snapshot::Snapshot;
use crate::plan::RunPlan;
use crate::report::finish::FinishedRun;
use crate::report::result::{ResultPaths, RunMeta};
use crate::runner::gpu_run_from_timed_start;
use crate::telemetry::gpu::GpuMonitor;
use crate::telemetry::server_metrics::ServerScraper;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The run in progress: its command channel (Ctrl-C and the dashboard's keys go through it)
/// and where its result goes (for the dashboard's `s`).
#[derive(Clone, Default)]
pub struct CurrentRun(Arc<Mutex<Option<RunHandle>>>);

/// What the faces may reach of the run in progress.
#[derive(Clone)]
pub struct RunHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub meta: RunMeta,
    pub paths: ResultPaths,
    /// The prompts' source, for the result's workload block.
    pub workload: crate::runner::WorkloadHandle,
    /// The GPU window of this run, once its timed part has started (for `s` mid-run).
    pub gpu_run: Arc<Mutex<Option<crate::telemetry::gpu::RunId>>>,
}

impl CurrentRun {
    fn set(&self, run: Option<RunHandle>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = run;
    }

    /// The run in progress, if one is.
    pub fn get(&self) -> Option<RunHandle> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Send a command to the run in progress (a dashboard key); dropped between runs.
    pub fn send(&self, cmd: Command) {
        if let Some(run) = &*self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = run.commands.send(cmd);
        }
    }

    /// Stop the run in progress, if any (it ends as interrupted and keeps what finished).
    pub fn stop(&self) {
        self.send(Command::Stop);
    }
}

/// A finished (or cut) run of a step.
pub struct RunDone {
    /// The result, as `bench --save-result` writes it.
    pub result: Value,
    pub interrupted: bool,
    /// Every timed request failed.
    pub all_failed: bool,
    /// Percent of timed requests that met every `--goodput` SLO (with SLOs given).
    pub attainment_pct: Option<f64>,
}

/// What the sweep shares across its runs.
pub struct Shared<'a> {
    pub base_url: &'a str,
    pub gpu: Option<&'a GpuMonitor>,
    pub server: &'a ServerScraper,
    pub current: &'a CurrentRun,
    /// The dashboard's screen: every snapshot of the run in progress is passed on to it.
    pub live: Option<&'a Arc<watch::Sender<Arc<Snapshot>>>>,
}

/// Run `plan` once; the per-request log goes beside its result file.
pub async fn run_once(sh: &Shared<'_>, plan: &RunPlan) -> anyhow::Result<RunDone> {
    let mut prepared = crate::runner::prepare(sh.base_url, plan, false).await?;
    prepared.recorder.recent_percentiles = false;
    let meta = prepared.meta.clone();
    let paths = prepared.paths.clone();
    let running = crate::runner::start(prepared, true);
    let gpu_slot: Arc<Mutex<Option<crate::telemetry::gpu::RunId>>> = Arc::default();
    sh.current.set(Some(RunHandle {
        commands: running.commands.clone(),
        workload: running.workload.clone(),
        meta: meta.clone(),
        paths,
        gpu_run: gpu_slot.clone(),
    }));
    let relay = sh
        .live
        .map(|to| relay_snapshots(running.snapshots.clone(), to.clone()));
    let open_window = async {
        let id = gpu_run_from_timed_start(sh.gpu, running.snapshots.clone()).await;
        *gpu_slot.lock().unwrap_or_else(|p| p.into_inner()) = id;
        id
    };
    let (gpu_run, done) = tokio::join!(open_window, running.done);
    sh.current.set(None);
    if let Some(relay) = relay {
        // The run's last snapshot reaches the screen before the next run starts.
        let _ = tokio::time::timeout(Duration::from_secs(1), relay).await;
    }
    let (engine, outcome) = done.map_err(|e| anyhow::anyhow!("the run failed: {e}"))?;
    let gpu_stats = sh.gpu.zip(gpu_run).map(|(m, id)| m.end_run(id));
    let slos = !plan.stats.goodput.is_empty();
    let report = FinishedRun::new(&meta, &outcome, gpu_stats.as_ref(), sh.server, slos).await;
    let attainment_pct = report
        .report
        .tokscope
        .as_ref()
        .and_then(|t| t.slo_attainment_pct);
    let result = serde_json::to_value(&report.report)?;
    Ok(RunDone {
        result,
        interrupted: engine.interrupted,
        all_failed: report.summary.completed == 0 && report.summary.failed > 0,
        attainment_pct,
    })
}

/// Pass every snapshot of a run on to the screen until the run's channel closes.
fn relay_snapshots(
    mut from: watch::Receiver<Arc<Snapshot>>,
    to: Arc<watch::Sender<Arc<Snapshot>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let snap = from.borrow_and_update().clone();
            to.send_replace(snap);
            if from.changed().await.is_err() {
                break;
            }
        }
    })
}

/// Longest wait for the server's queue to empty before a step.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Wait until the server reports nothing running or waiting (its /metrics), so a step does not
/// start on the previous one's leftovers. Returns a note when it could not tell or gave up.
pub async fn wait_until_idle(base_url: &str) -> Option<String> {
    let start = tokio::time::Instant::now();
    let mut said = false;
    loop {
        let m = crate::telemetry::server_metrics::scrape(base_url).await?;
        let busy = m.running.unwrap_or(0.0) + m.waiting.unwrap_or(0.0);
        if m.running.is_none() && m.waiting.is_none() {
            return None;
        }
        if busy <= 0.0 {
            return None;
        }
        if start.elapsed() > DRAIN_LIMIT {
            return Some(format!(
                "the server still has {busy} requests running or waiting after {} s; starting the step anyway",
                DRAIN_LIMIT.as_secs()
            ));
        }
        if !said {
            crate::console::err_line(&format!(
                "waiting for the server's queue to empty ({busy} requests running or waiting)"
            ));
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How the server's prefix cache was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheReset {
    /// The endpoint that answered (`/reset_prefix_cache` or `/flush_cache`).
    Done(&'static str),
    /// Neither endpoint exists there; the message says so.
    Unsupported(String),
}

/// Ask the server to drop its prefix cache: vLLM's `POST /reset_prefix_cache`, else SGLang's
/// `POST /flush_cache`.
pub async fn reset_prefix_cache(http: &reqwest::Client, base_url: &str) -> CacheReset {
    let mut answers = Vec::new();
    for path in ["/reset_prefix_cache", "/flush_cache"] {
        let r = http
            .post(format!("{base_url}{path}"))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => return CacheReset::Done(path),
            Ok(r) => answers.push(format!("{path}: HTTP {}", r.status().as_u16())),
            Err(e) => answers.push(format!("{path}: {e}")),
        }
    }
    CacheReset::Unsupported(format!(
        "--reset-cache: the server has no prefix-cache reset ({}); vLLM serves POST \
         /reset_prefix_cache only with VLLM_SERVER_DEV_MODE=1, SGLang serves POST /flush_cache. \
         Steps still use their own prompts",
        answers.join(", ")
    ))
}
