//! `tokscope agent`: this node's GPU telemetry as Prometheus text, with dcgm-exporter's metric
//! names and units (so Grafana dashboards and our own dashboard read it), `tokscope_*` series for
//! what DCGM has no name for, and `tokscope_up`. A series whose value is not supported is left
//! out, never written as 0.

use super::sampler::{GpuMonitor, GpuView, MonitorConfig, NodeStatus};
use super::{AgentConfig, DeviceKind, GpuSample, LocalConfig, Metric, Vendor};
use crate::telemetry::prom::escape_label_value;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Label names in dcgm-exporter's spelling, and in snake_case for our own `tokscope_*` series
/// (which lint clean with `promtool check metrics`).
struct LabelNames {
    uuid: &'static str,
    model: &'static str,
    host: &'static str,
    profile: &'static str,
    gi: &'static str,
}

const DCGM: LabelNames = LabelNames {
    uuid: "UUID",
    model: "modelName",
    host: "Hostname",
    profile: "GPU_I_PROFILE",
    gi: "GPU_I_ID",
};
const SNAKE: LabelNames = LabelNames {
    uuid: "uuid",
    model: "model_name",
    host: "hostname",
    profile: "gpu_i_profile",
    gi: "gpu_i_id",
};

/// The identity labels of a row. MIG instances carry their parent's `gpu`/`UUID` plus the
/// instance profile and GPU-instance id.
fn identity(g: &GpuSample, parent: Option<&GpuSample>, host: &str, n: &LabelNames) -> String {
    let base = parent.unwrap_or(g);
    let prefix = match base.vendor {
        Vendor::Nvidia => "nvidia",
        Vendor::Hygon => "dcu",
        Vendor::Amd | Vendor::Unknown => "amd",
    };
    let uuid = base.uuid.clone().unwrap_or_else(|| base.key.clone());
    let mut s = format!(
        "gpu=\"{}\",{}=\"{}\",device=\"{prefix}{}\",{}=\"{}\"",
        base.index,
        n.uuid,
        escape_label_value(&uuid),
        base.index,
        n.model,
        escape_label_value(&base.name)
    );
    if let DeviceKind::MigInstance {
        gpu_instance_id,
        profile,
        ..
    } = &g.kind
    {
        let _ = write!(
            s,
            ",{}=\"{}\",{}=\"{}\"",
            n.profile,
            escape_label_value(profile.as_deref().unwrap_or("")),
            n.gi,
            gpu_instance_id.map(|i| i.to_string()).unwrap_or_default()
        );
    }
    let _ = write!(s, ",{}=\"{}\"", n.host, escape_label_value(host));
    s
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    lines: Vec<String>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family {
            name,
            kind,
            help,
            lines: Vec::new(),
        }
    }
    fn push(&mut self, labels: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.lines.push(format!("{}{{{labels}}} {v}", self.name));
        }
    }
}

/// Render the page for the readings in `view` (the local node). `host` fills `Hostname`.
pub fn render_page(view: &GpuView, host: &str) -> String {
    let node = view.nodes.iter().find(|n| !n.remote);
    let gpus: &[GpuSample] = node.map(|n| n.gpus.as_slice()).unwrap_or(&[]);
    let up = node.is_some_and(|n| n.status == NodeStatus::Ok);

    let mut fams = vec![
        Family::new(
            "DCGM_FI_DEV_FB_USED",
            "gauge",
            "Framebuffer memory used (in MiB).",
        ),
        Family::new(
            "DCGM_FI_DEV_FB_FREE",
            "gauge",
            "Framebuffer memory free (in MiB).",
        ),
        Family::new("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
        Family::new("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
        Family::new(
            "DCGM_FI_DEV_POWER_MGMT_LIMIT",
            "gauge",
            "Power management limit (in W).",
        ),
        Family::new(
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "counter",
            "Total energy consumption since boot (in mJ).",
        ),
        Family::new("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
        Family::new(
            "DCGM_FI_DEV_SM_CLOCK",
            "gauge",
            "SM clock frequency (in MHz).",
        ),
        Family::new(
            "tokscope_unified_memory_total_bytes",
            "gauge",
            "Host memory total (MemTotal) of a unified-memory GPU's node.",
        ),
        Family::new(
            "tokscope_unified_memory_used_bytes",
            "gauge",
            "Host memory in use (MemTotal - MemAvailable) of a unified-memory GPU's node.",
        ),
        Family::new(
            "tokscope_unified_memory_available_bytes",
            "gauge",
            "Host memory available (MemAvailable) of a unified-memory GPU's node.",
        ),
        Family::new(
            "tokscope_unified_swap_free_bytes",
            "gauge",
            "Free swap (SwapFree) of a unified-memory GPU's node.",
        ),
        Family::new(
            "tokscope_gpu_process_memory_used_bytes",
            "gauge",
            "Sum of the GPU memory held by processes on this GPU.",
        ),
        Family::new(
            "tokscope_process_gpu_memory_bytes",
            "gauge",
            "GPU memory held by one process.",
        ),
        Family::new(
            "tokscope_device_info",
            "gauge",
            "Backend, vendor and memory type of each device (value is always 1).",
        ),
    ];
    let mib = |b: Option<u64>| b.map(|x| x as f64 / (1024.0 * 1024.0));
    let f64_of = |m: &Metric<u64>| m.value().map(|x| x as f64);
    for g in gpus {
        let parent = match &g.kind {
            DeviceKind::MigInstance { parent, .. } => gpus.iter().find(|p| &p.key == parent),
            _ => None,
        };
        let l = identity(g, parent, host, &DCGM);
        let t = identity(g, parent, host, &SNAKE);
        let used = g.memory_used_bytes.value();
        let total = g.memory_total_bytes.value();
        fams[0].push(&l, mib(used));
        fams[1].push(&l, mib(used.zip(total).map(|(u, t)| t.saturating_sub(u))));
        fams[2].push(&l, g.utilization_pct.value());
        fams[3].push(&l, g.power_w.value());
        fams[4].push(&l, g.power_limit_w.value());
        fams[5].push(&l, g.energy_mj.value().map(|e| e as f64));
        fams[6].push(&l, g.temperature_c.value());
        fams[7].push(&l, g.sm_clock_mhz.value());
        if let Some(u) = &g.unified {
            fams[8].push(&t, f64_of(&u.host_total_bytes));
            fams[9].push(&t, f64_of(&u.host_used_bytes));
            fams[10].push(&t, f64_of(&u.host_available_bytes));
            fams[11].push(&t, f64_of(&u.swap_free_bytes));
        }
        if let Metric::Value(ps) = &g.processes {
            let held: u64 = ps.iter().filter_map(|p| p.used_bytes).sum();
            fams[12].push(&t, Some(held as f64));
            for p in ps {
                let pl = format!(
                    "{t},pid=\"{}\",comm=\"{}\"",
                    p.pid,
                    escape_label_value(p.name.as_deref().unwrap_or(""))
                );
                fams[13].push(&pl, p.used_bytes.map(|b| b as f64));
            }
        }
        let memory_type = match g.kind {
            DeviceKind::Unified => "unified",
            DeviceKind::MigInstance { .. } => "mig",
            _ => "discrete",
        };
        let vendor = match g.vendor {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Hygon => "hygon",
            Vendor::Unknown => "unknown",
        };
        let info = format!(
            "{t},backend=\"{}\",vendor=\"{vendor}\",memory_type=\"{memory_type}\"",
            g.backend.as_str()
        );
        fams[14].push(&info, Some(1.0));
    }
    let mut out = String::new();
    for f in &fams {
        if f.lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for line in &f.lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "# HELP tokscope_gpu_devices Devices (GPUs and MIG instances) this agent reports."
    );
    let _ = writeln!(out, "# TYPE tokscope_gpu_devices gauge");
    let _ = writeln!(out, "tokscope_gpu_devices {}", gpus.len());
    let _ = writeln!(
        out,
        "# HELP tokscope_up 1 when the last local sample succeeded."
    );
    let _ = writeln!(out, "# TYPE tokscope_up gauge");
    let _ = writeln!(out, "tokscope_up {}", u8::from(up));
    out
}

/// The HTTP routes: `/metrics` (Prometheus text), `/snapshot` (JSON), `/-/ready`.
pub fn router(view: watch::Receiver<Arc<GpuView>>, host: String) -> axum::Router {
    use axum::routing::get;
    let metrics_view = view.clone();
    let snap_view = view;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let page = render_page(&metrics_view.borrow().clone(), &host);
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        page,
                    )
                }
            }),
        )
        .route(
            "/snapshot",
            get(move || {
                let v = snap_view.borrow().clone();
                let gpus: Vec<GpuSample> = v.nodes.iter().flat_map(|n| n.gpus.clone()).collect();
                async move { axum::Json(gpus) }
            }),
        )
        .route("/-/ready", get(|| async { "ready\n" }))
}

/// How long a client may take to send a request's head. Half-sent requests (slowloris) used to
/// hold their connection, and its file descriptor, forever; at `ulimit -n 64`, 70 of them kept
/// every scrape out. 5 s is ages for a scraper on any network (a head is one packet) and half
/// of Prometheus' default 10 s scrape timeout, so a scrape queued behind them still answers.
/// It also closes keep-alive connections idle that long (a scraper just reconnects).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The most connections served at once. A node has a handful of scrapers; past this, new
/// connections wait in the kernel's accept queue (until a slot frees, at most a header timeout
/// away) instead of each taking a file descriptor. Below the usual 1024 descriptor limit.
pub const MAX_CONNECTIONS: usize = 256;

/// Serve `app` on `listener` until `shutdown` completes, with [`HEADER_READ_TIMEOUT`] and
/// [`MAX_CONNECTIONS`] (`axum::serve` has neither: it sets no timer, so hyper's own header
/// timeout never runs).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = &mut shutdown => return,
        };
        let sock = tokio::select! {
            a = listener.accept() => match a {
                Ok((sock, _)) => sock,
                // Out of file descriptors (or a connection reset before it was accepted): try
                // again soon; the header timeout is what frees descriptors held by slow clients.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _slot = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(sock), service);
            // A connection error (a reset, a timeout) concerns that client only.
            let _ = conn.await;
        });
    }
}

/// Run the agent until Ctrl-C.
pub async fn run_agent(args: AgentConfig) -> anyhow::Result<()> {
    let interval = super::check_interval(args.interval_s).map_err(crate::runner::SetupError)?;
    let monitor = GpuMonitor::start(MonitorConfig {
        interval,
        local: Some(LocalConfig::from_env()),
        endpoints: Vec::new(),
        remote_timeout: interval,
    })
    .map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on '{}': {e}; pick another --listen ADDR:PORT",
                args.listen
            )
        })?;
    let host = args.hostname.clone().unwrap_or_else(super::hostname);
    eprintln!(
        "tokscope agent: serving http://{}/metrics (Ctrl-C to stop)",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(args.listen.clone())
    );
    serve(listener, router(monitor.subscribe(), host), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    drop(monitor);
    Ok(())
}
