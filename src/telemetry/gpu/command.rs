//! `tokscope gpu`: one sample of every local backend as a table (like nvidia-smi / rocm-smi,
//! naming the backend and library behind each row) or JSON. With no GPU it lists what it tried.

use super::{
    discover_local, fmt_gib, DeviceKind, Discovery, GpuCommand, GpuSample, LocalConfig, Probe,
};
use serde::Serialize;
use std::fmt::Write;

/// One `tokscope gpu` answer (also its JSON shape).
#[derive(Debug, Serialize)]
pub struct GpuReport {
    pub host: String,
    /// Each backend tried: in use (with its library) or why it is absent.
    pub backends: Vec<Probe>,
    pub gpus: Vec<GpuSample>,
    /// Errors of sources that failed this time.
    pub errors: Vec<String>,
}

/// Discover and sample once.
pub fn collect(cfg: &LocalConfig) -> GpuReport {
    sample_all(&mut discover_local(cfg))
}

/// Sample every discovered source (kept between calls so "not supported" stays remembered).
pub fn sample_all(d: &mut Discovery) -> GpuReport {
    let mut gpus = Vec::new();
    let mut errors = Vec::new();
    for s in d.sources.iter_mut() {
        match s.sample() {
            Ok(rows) => gpus.extend(rows),
            Err(e) => errors.push(format!("{}: {e}", s.backend().as_str())),
        }
    }
    GpuReport {
        host: super::hostname(),
        backends: d.probes.clone(),
        gpus,
        errors,
    }
}

fn pct(v: f64) -> String {
    format!("{v:.0}%")
}

/// The table text of a report.
pub fn render_table(r: &GpuReport) -> String {
    let mut out = String::new();
    for p in &r.backends {
        match &p.absent {
            None => {
                let _ = writeln!(
                    out,
                    "backend {:<7} {} ({} device{})",
                    p.backend.as_str(),
                    p.origin,
                    p.devices,
                    if p.devices == 1 { "" } else { "s" }
                );
            }
            Some(why) => {
                let _ = writeln!(out, "backend {:<7} absent: {why}", p.backend.as_str());
            }
        }
    }
    if r.gpus.is_empty() {
        let _ = writeln!(out, "no GPU found on '{}'", r.host);
        for e in &r.errors {
            let _ = writeln!(out, "error: {e}");
        }
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:<4} {:<34} {:>19} {:>9} {:>16} {:>6} {:>8}  source",
        "#", "name", "memory used/total", "util", "power/limit", "temp", "SM MHz"
    );
    for g in &r.gpus {
        let (idx, name) = match &g.kind {
            DeviceKind::MigInstance {
                gpu_instance_id, ..
            } => (
                format!(
                    " └{}",
                    gpu_instance_id.map(|i| i.to_string()).unwrap_or("?".into())
                ),
                g.name.clone(),
            ),
            DeviceKind::Unified => (g.index.to_string(), format!("{} [UNIFIED]", g.name)),
            _ => (g.index.to_string(), g.name.clone()),
        };
        let memory = match &g.unified {
            Some(u) => format!(
                "held {} host {}/{}",
                u.gpu_held_bytes.display(|b| fmt_gib(*b)),
                u.host_used_bytes.display(|b| fmt_gib(*b)),
                u.host_total_bytes.display(|b| fmt_gib(*b)),
            ),
            None => format!(
                "{}/{}",
                g.memory_used_bytes.display(|b| fmt_gib(*b)),
                g.memory_total_bytes.display(|b| fmt_gib(*b))
            ),
        };
        let power = format!(
            "{}/{}",
            g.power_w.display(|w| format!("{w:.1}W")),
            g.power_limit_w.display(|w| format!("{w:.0}W"))
        );
        let mut source = g.backend.as_str().to_string();
        for (what, from) in &g.sources {
            let _ = write!(source, "; {what}: {from}");
        }
        let name: String = name.chars().take(34).collect();
        let _ = writeln!(
            out,
            "{:<4} {:<34} {:>19} {:>9} {:>16} {:>6} {:>8}  {}",
            idx,
            name,
            memory,
            g.utilization_pct.display(|v| pct(*v)),
            power,
            g.temperature_c.display(|c| format!("{c:.0}C")),
            g.sm_clock_mhz.display(|m| format!("{m:.0}")),
            source
        );
        if let Some(ps) = g.processes.as_ref().filter(|ps| !ps.is_empty()) {
            for p in ps {
                let _ = writeln!(
                    out,
                    "       pid {:<8} {:<20} {}",
                    p.pid,
                    p.name.as_deref().unwrap_or("(host pid)"),
                    p.used_bytes.map(fmt_gib).unwrap_or("n/a".into())
                );
            }
        }
    }
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

/// Run `tokscope gpu`. Exits 0 with no GPU (that is an answer, not a failure).
pub fn run_gpu(args: GpuCommand) -> anyhow::Result<()> {
    let interval = super::check_interval(args.interval_s).map_err(crate::runner::SetupError)?;
    let mut discovery = discover_local(&LocalConfig::from_env());
    loop {
        let report = sample_all(&mut discovery);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", render_table(&report));
        }
        if !args.watch {
            return Ok(());
        }
        println!();
        std::thread::sleep(interval);
    }
}
