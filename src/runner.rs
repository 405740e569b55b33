//! Turning command-line flags into a running benchmark, shared by `bench` and the dashboard:
//! validate every flag (before anything is sent), resolve the model, probe the server once,
//! then start the recorder and the engine.

use crate::load::engine::{self, Command, EngineConfig, EngineOutcome};
use crate::load::record::{ErrorKind, RequestEvent, TokenSource};
use crate::metrics::recorder::{self, RecorderConfig, RecorderOutcome};
use crate::metrics::snapshot::{Control, RunInfo, Snapshot};
use crate::plan::RunPlan;
use crate::protocol::client::{run_collecting, Client, ClientConfig, RequestSpec};
use crate::report::result::{ResultPaths, RunMeta};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub mod bounds;

/// A problem with the flags or the server found before the run starts (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

fn bad(msg: impl Into<String>) -> anyhow::Error {
    SetupError(msg.into()).into()
}

/// `host:port`, a full URL, or a pasted endpoint URL -> `scheme://host:port[/prefix]`.
pub fn normalize_url(raw: &str) -> anyhow::Result<String> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
        bad(format!(
            "'{raw}' is not a valid URL ({e}); expected e.g. http://127.0.0.1:8000"
        ))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad(format!(
            "'{raw}': only http:// and https:// servers are supported"
        )));
    }
    // People paste the full endpoint; keep the server part only.
    let mut base = with_scheme.trim_end_matches('/').to_string();
    for suffix in ["/v1/chat/completions", "/v1/completions", "/v1"] {
        if let Some(b) = base.strip_suffix(suffix) {
            base = b.to_string();
            break;
        }
    }
    Ok(base)
}

/// Find out before the run, not after it, that the result cannot be written.
pub fn check_writable(paths: &ResultPaths) -> anyhow::Result<()> {
    if let Some(dir) = paths.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            bad(format!(
                "--result-dir: cannot create '{}': {e}",
                dir.display()
            ))
        })?;
    }
    let probe = paths.json.with_extension("json.partial");
    std::fs::write(&probe, b"")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| {
            bad(format!(
                "cannot write the result file '{}': {e}",
                paths.json.display()
            ))
        })
}

/// Everything validated, ready to start.
pub struct Prepared {
    pub client: Arc<Client>,
    pub info: RunInfo,
    pub meta: RunMeta,
    pub engine: EngineConfig,
    pub recorder: RecorderConfig,
    pub workload: WorkloadHandle,
    pub arrivals: Box<dyn engine::Arrivals>,
    pub paths: ResultPaths,
    pub save_result: bool,
    /// Things the user should know before the run (e.g. too few open files for the load).
    pub warnings: Vec<String>,
}

/// Resolve the model, probe the server, and build what the run needs from a checked plan.
/// `base_url` is where the load goes (the plan's, or the simulator the dashboard started).
pub async fn prepare(base_url: &str, plan: &RunPlan, simulated: bool) -> anyhow::Result<Prepared> {
    let (req, load) = (&plan.request, &plan.load);
    let (rate, max_concurrency, num_prompts, duration) = (
        load.request_rate,
        load.max_concurrency,
        load.num_prompts,
        load.duration,
    );
    let timeout = req.timeout;
    let endpoint = req.endpoint.clone();
    // Prompts and arrivals before any network: their file errors need no server.
    let mut workload =
        crate::load::workload::build(&plan.workload).map_err(|e| bad(format!("{e:#}")))?;
    let count = if duration.is_none() {
        num_prompts
    } else {
        None
    };
    let arrivals = match (load.ramp_up, count) {
        (Some(ramp), Some(n)) => crate::load::workload::arrival::ArrivalSchedule::ramped(
            ramp,
            load.burstiness,
            load.seed,
            n,
        ),
        _ => crate::load::workload::arrival::ArrivalSchedule::new(
            rate,
            load.burstiness,
            load.seed,
            count,
        ),
    }
    .map_err(bad)?;
    // On a ramp the engine runs open loop from the ramp's first rate (the result keeps
    // vLLM's request_rate 'inf' for a ramped run).
    let engine_rate = load.ramp_up.map(|r| r.start_rps).or(rate);
    let mut warnings = Vec::new();
    let files = bounds::raise_open_files_limit();
    let at_once = match (max_concurrency, rate) {
        (Some(c), _) => Some(u64::from(c)),
        (None, None) => num_prompts,
        (None, Some(_)) => None,
    };
    if let Some(w) = at_once.and_then(|n| bounds::open_files_warning(n, files)) {
        warnings.push(w);
    }
    let shown_base = crate::protocol::client::redact_userinfo(base_url);

    // The model: --model, or the server's first.
    let http = crate::protocol::client::http_client(&req.headers, req.api_key.as_deref())
        .map_err(|e| bad(format!("{e:#}")))?;
    let model = match &req.model {
        Some(m) => m.clone(),
        None => {
            let ids = crate::protocol::client::list_models(&http, base_url)
                .await
                .map_err(|e| bad(models_failure(&e)))?;
            ids.into_iter().next().ok_or_else(|| {
                bad(format!(
                    "'{shown_base}/v1/models' lists no model; pass --model NAME"
                ))
            })?
        }
    };
    let sent_model = req
        .served_model_name
        .clone()
        .unwrap_or_else(|| model.clone());
    let mut ccfg = ClientConfig::new(base_url, &endpoint, &sent_model);
    ccfg.headers = req.headers.clone();
    ccfg.api_key = req.api_key.clone();
    ccfg.extra_body = req.extra_body.clone();
    ccfg.chat_template_kwargs = req.chat_template_kwargs.clone().map(Value::Object);
    ccfg.ignore_eos = req.ignore_eos;
    ccfg.temperature = req.temperature;
    ccfg.top_p = req.top_p;
    ccfg.include_usage = req.include_usage;
    ccfg.max_completion_tokens = req.max_completion_tokens;
    ccfg.timeout = timeout;
    let mut client = Client::new(ccfg).map_err(|e| bad(format!("{e:#}")))?;

    // One probe request: endpoint, model and credentials, as `vllm bench serve` does. A
    // transient failure (5xx, 429, a cut stream) is retried twice; a 4xx or a refused
    // connection is final.
    if req.probe {
        let job = job_of(workload.next_prompt());
        let spec = RequestSpec {
            id: u64::MAX,
            warmup: true,
            scheduled_at: Duration::ZERO,
            prompt: &job.prompt,
            max_tokens: job.max_tokens.min(16),
            prompt_tokens: job.prompt_tokens,
            prompt_source: job.prompt_source,
        };
        let mut attempt = 0;
        let probe = loop {
            attempt += 1;
            let probe = probe_once(&client, &spec, timeout).await;
            match &probe.error {
                None => break probe,
                Some(err) if attempt < 3 && is_transient(err) => continue,
                Some(err) => {
                    let mut msg = probe_failure(&shown_base, &endpoint, &sent_model, err, timeout);
                    if let Some(advice) = client.advice_for(&err.message) {
                        msg = format!("{msg}; {advice}");
                    }
                    return Err(bad(msg));
                }
            }
        };
        if job.prompt_source == TokenSource::Estimate {
            calibrate(
                &mut workload,
                &client,
                &http,
                base_url,
                &sent_model,
                (&job.prompt, &probe),
            )
            .await;
        }
        // The probe's answer said how long the server keeps an idle connection: ours are let
        // go sooner, so the run never sends onto one it is closing.
        client
            .fit_pool_to_server()
            .map_err(|e| bad(format!("{e:#}")))?;
    }
    let client = Arc::new(client);

    let info = RunInfo {
        base_url: shown_base.clone(),
        model: model.clone(),
        endpoint: endpoint.clone(),
        simulated,
        dataset: plan.workload.dataset.name().into(),
        input_len: plan.workload.input_len(),
        output_len: plan.workload.output_len(),
        num_prompts,
        duration_limit: duration,
    };
    let control = Control {
        max_concurrency,
        request_rate: engine_rate,
        paused: false,
    };
    // The flags as given, with the server this run really used (the simulator's, say).
    let mut config = plan.flags_echo.clone();
    if let Some(o) = config.as_object_mut() {
        o.insert("base_url".into(), Value::from(shown_base.as_str()));
    }
    let meta = RunMeta {
        date: chrono::Local::now().format("%Y%m%d-%H%M%S").to_string(),
        endpoint_type: req.kind.result_word().into(),
        label: plan.output.label.clone(),
        model_id: model,
        tokenizer_id: plan
            .workload
            .tokenizer
            .as_ref()
            .map(|p| p.display().to_string()),
        load: load.clone(),
        metadata: plan.output.metadata.clone(),
        config,
    };
    let paths = ResultPaths::new(
        plan.output.result_dir.as_deref(),
        plan.output.result_filename.as_deref(),
        &meta,
    );
    let mut rcfg = RecorderConfig::new(info.clone());
    rcfg.percentiles = plan.stats.percentiles.clone();
    rcfg.goodput = plan.stats.goodput.clone();
    rcfg.detailed = plan.stats.detailed;
    rcfg.control = control;
    Ok(Prepared {
        client,
        info,
        meta,
        engine: EngineConfig {
            num_prompts,
            duration,
            drain_timeout: Some(load.drain_timeout),
            num_warmups: load.num_warmups,
            control,
            stop_when_unreachable: load.stop_when_unreachable,
        },
        recorder: rcfg,
        workload: WorkloadHandle(Arc::new(std::sync::Mutex::new(workload))),
        arrivals: Box::new(Schedule(arrivals)),
        paths,
        save_result: plan.output.save_result,
        warnings,
    })
}

/// Teach the workload's length estimate how this server counts tokens, for both corpus
/// languages. The server's `/tokenize` (vLLM, SGLang, the simulator) counts the bare text, as
/// `vllm bench serve` does; without it the probe's `usage.prompt_tokens` is used, which also
/// counts the chat template's few tokens.
async fn calibrate(
    workload: &mut crate::load::workload::Workload,
    client: &Client,
    http: &reqwest::Client,
    base_url: &str,
    model: &str,
    probe: (&str, &crate::load::record::RequestRecord),
) {
    let url = format!("{base_url}/tokenize");
    let mut used_tokenize = false;
    // Random prompts alternate English and Chinese: a few of each, then the real run.
    for _ in 0..4 {
        let p = workload.next_prompt();
        let body = serde_json::json!({"model": model, "prompt": p.text});
        let resp = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let Ok(r) = resp else { break };
        if !r.status().is_success() {
            break;
        }
        let Ok(text) = crate::protocol::limits::read_whole(
            r,
            crate::protocol::limits::MAX_TOKENIZE_BODY,
            "/tokenize",
        )
        .await
        else {
            break;
        };
        let count = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("count")?.as_u64());
        match count {
            Some(n) if n > 0 => {
                workload.calibrate(&p.text, n.min(u32::MAX as u64) as u32);
                used_tokenize = true;
            }
            _ => break,
        }
    }
    let (text, rec) = probe;
    if used_tokenize || rec.prompt_source != TokenSource::Usage {
        return;
    }
    workload.calibrate(text, rec.prompt_tokens.min(u32::MAX as u64) as u32);
    // Without /tokenize the probe calibrates only its own language; random prompts alternate
    // English and Chinese (several times apart in tokens per character), so two more short
    // requests (one output token each) calibrate both from the server's usage.
    for _ in 0..2 {
        let p = workload.next_prompt();
        let spec = RequestSpec {
            id: u64::MAX,
            warmup: true,
            scheduled_at: Duration::ZERO,
            prompt: &p.text,
            max_tokens: 1,
            prompt_tokens: u64::from(p.prompt_tokens.unwrap_or(p.est_tokens)),
            prompt_source: TokenSource::Estimate,
        };
        let (rec, _) = run_collecting(client, &spec).await;
        if rec.error.is_none() && rec.prompt_source == TokenSource::Usage {
            workload.calibrate(&p.text, rec.prompt_tokens.min(u32::MAX as u64) as u32);
        }
    }
}

/// A workload prompt as the engine's job.
fn job_of(p: crate::load::workload::Prompt) -> engine::Job {
    engine::Job {
        max_tokens: p.output_len,
        prompt_tokens: p.prompt_tokens.unwrap_or(p.est_tokens) as u64,
        prompt_source: if p.prompt_tokens.is_some() {
            TokenSource::Tokenizer
        } else {
            TokenSource::Estimate
        },
        prompt: p.text,
    }
}

/// The workload, shared by the engine (which draws prompts) and the faces (which report what
/// it did, on `s` and at the end). The lock is taken once per request, never contended long.
#[derive(Clone)]
pub struct WorkloadHandle(Arc<std::sync::Mutex<crate::load::workload::Workload>>);

impl WorkloadHandle {
    /// What the workload used and did so far.
    pub fn info(&self) -> crate::load::workload::WorkloadInfo {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).info()
    }
}

/// The workload's datasets feed the engine through this.
struct Prompts(WorkloadHandle);

impl engine::PromptSource for Prompts {
    fn next_job(&mut self) -> engine::Job {
        job_of(
            self.0
                 .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next_prompt(),
        )
    }
}

/// The workload's arrival schedule, as the engine sees it.
struct Schedule(crate::load::workload::arrival::ArrivalSchedule);

impl engine::Arrivals for Schedule {
    fn next_offset(&mut self) -> Option<Duration> {
        Some(self.0.next_offset())
    }
    fn set_rate(&mut self, rate: f64, now: Duration) {
        // The engine only passes finite positive rates, which the schedule accepts.
        let _ = self.0.set_rate(Some(rate), now);
    }
}

/// After this long without the probe's answer, say what is being waited for.
const PROBE_NOTICE_AFTER: Duration = Duration::from_secs(10);

/// One probe request; after `PROBE_NOTICE_AFTER` a line on stderr says what it waits for, so
/// a hung server is not a silent screen for the whole `--timeout`.
async fn probe_once(
    client: &Client,
    spec: &RequestSpec<'_>,
    timeout: Duration,
) -> crate::load::record::RequestRecord {
    let probe = run_collecting(client, spec);
    tokio::pin!(probe);
    tokio::select! {
        (rec, _) = &mut probe => return rec,
        _ = tokio::time::sleep(PROBE_NOTICE_AFTER) => {}
    }
    crate::console::err_line(&format!(
        "waiting for the probe request's answer (up to --timeout {} s; --no-probe skips it)",
        timeout.as_secs_f64()
    ));
    probe.await.0
}

/// A timeout is not retried: another would wait the whole `--timeout` again.
fn is_transient(err: &crate::load::record::RequestError) -> bool {
    match err.kind {
        ErrorKind::HttpStatus => matches!(err.status, Some(429) | Some(500..=599)),
        ErrorKind::Connect | ErrorKind::NoTokens | ErrorKind::Timeout => false,
        _ => true,
    }
}

/// Why the model could not be found out, and what fixes it.
fn models_failure(e: &anyhow::Error) -> String {
    match e.downcast_ref::<crate::protocol::client::ModelsStatusError>() {
        Some(s) if matches!(s.status, 401 | 403) => format!(
            "the server refused the credentials on '{}' (HTTP {}: {}); set --api-key or \
             OPENAI_API_KEY (or --header for another scheme)",
            s.url, s.status, s.message
        ),
        _ => format!("cannot find out the model: {e:#}. Pass --model NAME."),
    }
}

/// The one-line reason a probe failed, saying what to fix.
fn probe_failure(
    base: &str,
    endpoint: &str,
    model: &str,
    err: &crate::load::record::RequestError,
    timeout: Duration,
) -> String {
    let msg = &err.message;
    match (err.kind, err.status) {
        (ErrorKind::Timeout, _) => format!(
            "the probe request to {base}{endpoint} got no complete answer within --timeout {} s; \
             is the server stuck? (--no-probe skips the probe)",
            timeout.as_secs_f64()
        ),
        (ErrorKind::HttpStatus, Some(404)) if msg.to_ascii_lowercase().contains("model") => {
            format!("the server does not know the model '{model}' ({msg}); check --model against {base}/v1/models")
        }
        (ErrorKind::HttpStatus, Some(404)) => {
            format!("endpoint '{endpoint}' not found on {base} (HTTP 404); try --endpoint /v1/chat/completions or /v1/completions")
        }
        (ErrorKind::HttpStatus, Some(401 | 403)) => {
            format!("the server refused the credentials ({msg}); set --api-key or OPENAI_API_KEY")
        }
        (ErrorKind::Connect, _) => format!("cannot reach the server: {msg}"),
        _ => format!("the probe request to {base}{endpoint} failed: {msg}"),
    }
}

/// A started run: faces read `snapshots`, send `commands`, and await `done`.
pub struct Running {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub commands: mpsc::UnboundedSender<Command>,
    pub done: JoinHandle<(EngineOutcome, RecorderOutcome)>,
    pub workload: WorkloadHandle,
}

/// Start the recorder and the engine on the current runtime. `jsonl` asks for the per-request log.
pub fn start(p: Prepared, jsonl: bool) -> Running {
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot {
        info: Arc::new(p.info.clone()),
        control: p.engine.control,
        ..Snapshot::default()
    }));
    let (ev_tx, ev_rx) = mpsc::unbounded_channel::<RequestEvent>();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let mut rcfg = p.recorder;
    if jsonl {
        rcfg.jsonl = Some(p.paths.jsonl.clone());
    }
    // The recorder gets a thread of its own: its work (folding events, building snapshots)
    // then never holds up a runtime worker that a request task is waiting for, and the kernel
    // can preempt it when a socket wakes a worker.
    let (rec_tx, rec_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("tokscope-recorder".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build();
            if let Ok(rt) = rt {
                let _ = rec_tx.send(rt.block_on(recorder::run(rcfg, ev_rx, snap_tx)));
            }
        });
    let recorder = tokio::spawn(async move {
        match spawned {
            Ok(_) => rec_rx
                .await
                .map_err(|_| "the recorder thread ended without a result"),
            Err(_) => Err("cannot start the recorder thread"),
        }
    });
    let workload = p.workload.clone();
    let engine = tokio::spawn(engine::run(
        p.engine,
        p.client,
        Box::new(Prompts(p.workload)),
        p.arrivals,
        ev_tx,
        cmd_rx,
    ));
    let at_end = workload.clone();
    let done = tokio::spawn(async move {
        let e = engine.await.unwrap_or(EngineOutcome {
            sent: 0,
            interrupted: true,
        });
        let r = match recorder.await {
            Ok(Ok(r)) => RecorderOutcome {
                workload: Some(at_end.info()),
                ..r
            },
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("the recorder task failed: {e}"),
        };
        (e, r)
    });
    Running {
        snapshots: snap_rx,
        commands: cmd_tx,
        done,
        workload,
    }
}

/// Open the GPU run window when the timed run starts (the first snapshot past the warm-ups,
/// within one publish, 100 ms), or at once if the run ended before that.
pub async fn gpu_run_from_timed_start(
    gpu: Option<&crate::telemetry::gpu::GpuMonitor>,
    mut snapshots: tokio::sync::watch::Receiver<std::sync::Arc<crate::metrics::snapshot::Snapshot>>,
) -> Option<crate::telemetry::gpu::RunId> {
    let gpu = gpu?;
    let _ = snapshots
        .wait_for(|s| s.state != crate::metrics::snapshot::RunState::Starting)
        .await;
    Some(gpu.begin_run())
}

/// Start GPU sampling for a run (local backends and `--gpu-endpoint`s). No GPU is not an
/// error: the monitor then simply has nothing to report.
pub fn start_gpu(
    cfg: &crate::telemetry::gpu::MonitorConfig,
) -> Option<crate::telemetry::gpu::GpuMonitor> {
    if cfg.local.is_none() && cfg.endpoints.is_empty() {
        return None;
    }
    crate::telemetry::gpu::GpuMonitor::start(cfg.clone()).ok()
}
