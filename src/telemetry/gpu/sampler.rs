//! Sampling threads: each source (all local backends together, and each remote node) runs on its
//! own std thread at the configured interval and publishes its latest readings plus a short
//! history into one `watch` channel of `Arc<GpuView>`. Readers never wait on NVML or the
//! network; a dead remote node only makes its own rows age.

use super::remote::RemoteSource;
use super::stats::{GpuRunAccumulator, GpuRunSummary};
use super::{discover_local, hostname, GpuSample, GpuSource, LocalConfig, Probe};
use std::collections::VecDeque;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How many readings of each GPU the history keeps (2 minutes at 1 s).
pub const HISTORY_LEN: usize = 120;

/// What the monitor samples.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub interval: Duration,
    /// Local backends; `None` = do not sample local GPUs (`--no-gpu`).
    pub local: Option<LocalConfig>,
    /// `[NAME=]URL` of remote Prometheus pages.
    pub endpoints: Vec<String>,
    /// Per-scrape timeout of a remote page.
    pub remote_timeout: Duration,
}

impl MonitorConfig {
    /// From `--gpu-interval` (seconds), `--gpu-endpoint`s and `--no-gpu`; a bad value is one
    /// line naming it.
    pub fn new(interval_s: f64, endpoints: &[String], no_gpu: bool) -> Result<Self, String> {
        for e in endpoints {
            super::remote::parse_endpoint(e)?;
        }
        let interval = super::check_interval(interval_s)?;
        Ok(MonitorConfig {
            interval,
            local: (!no_gpu).then(LocalConfig::from_env),
            endpoints: endpoints.to_vec(),
            remote_timeout: interval
                .mul_f64(1.5)
                .clamp(Duration::from_millis(500), Duration::from_secs(3)),
        })
    }
}

/// State of one node's telemetry.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeStatus {
    /// Discovery or the first scrape has not finished yet.
    Starting,
    Ok,
    /// No local GPU: each backend tried and why it is absent.
    NoGpu,
    /// The last attempt failed; `gpus` keeps the previous readings, which age.
    Error(String),
}

/// One reading of a GPU reduced to what sparklines need.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HistoryPoint {
    pub power_w: Option<f64>,
    pub util_pct: Option<f64>,
    pub mem_used_bytes: Option<u64>,
    pub temp_c: Option<f64>,
}

/// The recent readings of one GPU, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GpuHistory {
    pub key: String,
    pub points: VecDeque<HistoryPoint>,
}

/// The latest telemetry of one node.
#[derive(Debug, Clone)]
pub struct GpuNodeView {
    /// Host name for the local node, the endpoint's name for a remote one.
    pub name: String,
    pub remote: bool,
    /// Backends with their libraries, or the URL.
    pub origin: String,
    pub status: NodeStatus,
    /// What local discovery tried (empty for remote nodes).
    pub probes: Vec<Probe>,
    /// When `gpus` was last refreshed.
    pub updated: Option<Instant>,
    pub interval: Duration,
    pub gpus: Vec<GpuSample>,
    /// One history per key in `gpus`.
    pub history: Vec<GpuHistory>,
}

impl GpuNodeView {
    fn new(name: String, remote: bool, origin: String, interval: Duration) -> Self {
        GpuNodeView {
            name,
            remote,
            origin,
            status: NodeStatus::Starting,
            probes: Vec::new(),
            updated: None,
            interval,
            gpus: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Time since the last fresh reading.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.updated.map(|u| now.saturating_duration_since(u))
    }

    /// True when no fresh reading came for more than two intervals.
    pub fn is_stale(&self, now: Instant) -> bool {
        self.age(now)
            .is_some_and(|a| a > self.interval * 2 + Duration::from_millis(250))
    }

    /// The history of GPU `key`.
    pub fn history_of(&self, key: &str) -> Option<&GpuHistory> {
        self.history.iter().find(|h| h.key == key)
    }

    /// Store a fresh reading and extend the histories.
    pub fn record(&mut self, gpus: Vec<GpuSample>, at: Instant) {
        let mut history = Vec::with_capacity(gpus.len());
        for g in &gpus {
            let mut h = self
                .history
                .iter()
                .find(|h| h.key == g.key)
                .cloned()
                .unwrap_or_else(|| GpuHistory {
                    key: g.key.clone(),
                    points: VecDeque::with_capacity(HISTORY_LEN),
                });
            if h.points.len() == HISTORY_LEN {
                h.points.pop_front();
            }
            h.points.push_back(HistoryPoint {
                power_w: g.power_w.value(),
                util_pct: g.utilization_pct.value(),
                mem_used_bytes: g.memory_in_use(),
                temp_c: g.temperature_c.value(),
            });
            history.push(h);
        }
        self.gpus = gpus;
        self.history = history;
        self.updated = Some(at);
        self.status = NodeStatus::Ok;
    }
}

/// Everything the UI reads: local node(s) first, then remotes in flag order.
#[derive(Debug, Clone, Default)]
pub struct GpuView {
    pub nodes: Vec<Arc<GpuNodeView>>,
}

#[derive(Default)]
struct Runs {
    next: u64,
    active: Vec<(u64, GpuRunAccumulator)>,
}

/// A handle on a run window opened with [`GpuMonitor::begin_run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunId(u64);

/// The running samplers. Dropping it stops them (threads exit at their next wake-up).
pub struct GpuMonitor {
    rx: watch::Receiver<Arc<GpuView>>,
    runs: Arc<Mutex<Runs>>,
    _stop: Vec<mpsc::Sender<()>>,
}

impl GpuMonitor {
    /// Start one thread for the local backends (unless disabled) and one per endpoint.
    pub fn start(cfg: MonitorConfig) -> Result<GpuMonitor, String> {
        let mut nodes = Vec::new();
        let mut makers: Vec<Box<dyn FnOnce() -> SourceSet + Send>> = Vec::new();
        if let Some(local) = cfg.local.clone() {
            nodes.push(Arc::new(GpuNodeView::new(
                hostname(),
                false,
                "discovering".into(),
                cfg.interval,
            )));
            makers.push(Box::new(move || {
                let d = discover_local(&local);
                SourceSet {
                    sources: d.sources,
                    probes: d.probes,
                }
            }));
        }
        for e in &cfg.endpoints {
            let (name, url) = super::remote::parse_endpoint(e)?;
            nodes.push(Arc::new(GpuNodeView::new(
                name.clone(),
                true,
                url.clone(),
                cfg.interval,
            )));
            let timeout = cfg.remote_timeout;
            makers.push(Box::new(move || SourceSet {
                sources: vec![Box::new(RemoteSource::new(name, url, timeout))],
                probes: Vec::new(),
            }));
        }
        let (tx, rx) = watch::channel(Arc::new(GpuView { nodes }));
        let tx = Arc::new(tx);
        let runs = Arc::new(Mutex::new(Runs::default()));
        let epoch = Instant::now();
        let mut stops = Vec::new();
        for (slot, make) in makers.into_iter().enumerate() {
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            stops.push(stop_tx);
            let ctx = ThreadCtx {
                slot,
                tx: tx.clone(),
                runs: runs.clone(),
                interval: cfg.interval,
                epoch,
            };
            std::thread::Builder::new()
                .name(format!("gpu-sampler-{slot}"))
                .spawn(move || sample_loop(ctx, make, stop_rx))
                .map_err(|e| format!("cannot start a GPU sampling thread: {e}"))?;
        }
        Ok(GpuMonitor {
            rx,
            runs,
            _stop: stops,
        })
    }

    /// A receiver that sees every published view.
    pub fn subscribe(&self) -> watch::Receiver<Arc<GpuView>> {
        self.rx.clone()
    }

    /// The latest view (cheap: one Arc clone).
    pub fn latest(&self) -> Arc<GpuView> {
        self.rx.borrow().clone()
    }

    /// Start collecting run statistics from the next readings on.
    pub fn begin_run(&self) -> RunId {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.next += 1;
        let id = runs.next;
        runs.active.push((id, GpuRunAccumulator::new()));
        RunId(id)
    }

    /// The figures of a window still open, so far (for a result saved mid-run).
    pub fn run_so_far(&self, id: RunId) -> GpuRunSummary {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.active
            .iter()
            .find(|(i, _)| *i == id.0)
            .map(|(_, acc)| acc.finish())
            .unwrap_or_default()
    }

    /// Stop collecting and return the figures of the window.
    pub fn end_run(&self, id: RunId) -> GpuRunSummary {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        match runs.active.iter().position(|(i, _)| *i == id.0) {
            Some(pos) => runs.active.remove(pos).1.finish(),
            None => GpuRunSummary::default(),
        }
    }
}

struct SourceSet {
    sources: Vec<Box<dyn GpuSource>>,
    probes: Vec<Probe>,
}

struct ThreadCtx {
    slot: usize,
    tx: Arc<watch::Sender<Arc<GpuView>>>,
    runs: Arc<Mutex<Runs>>,
    interval: Duration,
    epoch: Instant,
}

impl ThreadCtx {
    fn update(&self, f: impl FnOnce(&mut GpuNodeView)) {
        self.tx.send_modify(|view| {
            let mut nodes = view.nodes.clone();
            if let Some(node) = nodes.get_mut(self.slot) {
                f(Arc::make_mut(node));
            }
            *view = Arc::new(GpuView { nodes });
        });
    }
}

fn sample_loop(
    ctx: ThreadCtx,
    make: Box<dyn FnOnce() -> SourceSet + Send>,
    stop: mpsc::Receiver<()>,
) {
    let SourceSet {
        mut sources,
        probes,
    } = make();
    let origin = sources
        .iter()
        .map(|s| format!("{} {}", s.backend().as_str(), s.origin()))
        .collect::<Vec<_>>()
        .join(", ");
    let no_gpu = sources.is_empty();
    ctx.update(|n| {
        n.probes = probes;
        if !n.remote {
            n.origin = origin;
        }
        if no_gpu {
            n.status = NodeStatus::NoGpu;
        }
    });
    if no_gpu {
        return;
    }
    loop {
        let t0 = Instant::now();
        let mut gpus = Vec::new();
        let mut error = None;
        for s in sources.iter_mut() {
            match s.sample() {
                Ok(rows) => gpus.extend(rows),
                Err(e) => error = Some(e),
            }
        }
        let at = Instant::now();
        match error {
            Some(e) if gpus.is_empty() => ctx.update(|n| n.status = NodeStatus::Error(e)),
            _ => {
                let node_name = ctx.tx.borrow().nodes.get(ctx.slot).map(|n| n.name.clone());
                if let Some(name) = node_name {
                    let t = at.duration_since(ctx.epoch).as_secs_f64();
                    let mut runs = ctx.runs.lock().unwrap_or_else(|p| p.into_inner());
                    for (_, acc) in runs.active.iter_mut() {
                        acc.push(&name, t, &gpus);
                    }
                }
                ctx.update(|n| n.record(gpus, at));
            }
        }
        let wait = ctx.interval.saturating_sub(t0.elapsed());
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
