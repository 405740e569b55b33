//! GPU telemetry: one reading type ([`GpuSample`]) filled by several sources (NVML, ROCm SMI
//! loaded at run time, amdgpu sysfs, `hy-smi`, remote Prometheus pages), sampled on their own
//! threads ([`sampler`]), summarised over a run ([`stats`]), served as Prometheus text
//! ([`agent`]) and printed by `tokscope gpu` ([`command`]).
//!
//! Every field is a [`Metric`]: a value, "not supported", "not applicable" or an error; never a
//! made-up 0. See docs/gpu.md for the ROCm loading decision.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

pub mod agent;
pub mod command;
mod hysmi;
pub mod meminfo;
mod nvml;
pub mod remote;
pub mod rsmi;
pub mod sampler;
pub mod stats;
pub mod sysfs;

pub use agent::run_agent;
pub use command::run_gpu;
pub use sampler::{GpuHistory, GpuMonitor, GpuNodeView, GpuView, MonitorConfig, NodeStatus, RunId};
pub use stats::{GpuRunAccumulator, GpuRunStats, GpuRunSummary};

/// What `tokscope gpu` was asked for.
#[derive(Debug, Clone, Default)]
pub struct GpuCommand {
    /// Print the sample as JSON instead of a table.
    pub json: bool,
    /// Keep printing a fresh sample every `interval_s` seconds.
    pub watch: bool,
    pub interval_s: f64,
}

/// What `tokscope agent` was asked for.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Address to serve /metrics on.
    pub listen: String,
    pub interval_s: f64,
    /// Host name put in the `Hostname` label (`None`: this machine's name).
    pub hostname: Option<String>,
}

/// One reading of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric<T> {
    Value(T),
    /// The device or library says it cannot report this (asked once, then remembered).
    NotSupported,
    /// The field has no meaning here, e.g. utilisation of a MIG instance ("MIG").
    NotApplicable(String),
    /// The call failed this time; it will be tried again.
    Error(String),
}

impl<T: Copy> Metric<T> {
    /// The value, if there is one.
    pub fn value(&self) -> Option<T> {
        match self {
            Metric::Value(v) => Some(*v),
            _ => None,
        }
    }
}

impl<T> Metric<T> {
    /// Borrow the value, if there is one.
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Metric::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Transform the value, keep the other states.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Metric<U> {
        match self {
            Metric::Value(v) => Metric::Value(f(v)),
            Metric::NotSupported => Metric::NotSupported,
            Metric::NotApplicable(r) => Metric::NotApplicable(r),
            Metric::Error(e) => Metric::Error(e),
        }
    }

    /// Text for a table cell: the formatted value, or why there is none.
    pub fn display(&self, f: impl FnOnce(&T) -> String) -> String {
        match self {
            Metric::Value(v) => f(v),
            Metric::NotSupported => "n/s".to_string(),
            Metric::NotApplicable(why) => format!("n/a ({why})"),
            Metric::Error(_) => "err".to_string(),
        }
    }
}

/// Who made the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    Nvidia,
    Amd,
    Hygon,
    Unknown,
}

/// Which backend produced a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    Nvml,
    Rsmi,
    Sysfs,
    HySmi,
    Remote,
}

impl Backend {
    /// The short name used in tables and the `backend` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nvml => "nvml",
            Backend::Rsmi => "rsmi",
            Backend::Sysfs => "sysfs",
            Backend::HySmi => "hy-smi",
            Backend::Remote => "remote",
        }
    }
}

/// What kind of device a row is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceKind {
    /// A GPU with its own memory.
    Discrete,
    /// A GPU sharing the host's memory (GB10 / DGX Spark): see [`UnifiedMemory`].
    Unified,
    /// A GPU in MIG mode; its instances follow it as separate rows.
    MigParent { instances: u32 },
    /// A MIG instance of the GPU whose key is `parent`.
    MigInstance {
        parent: String,
        gpu_instance_id: Option<u32>,
        compute_instance_id: Option<u32>,
        profile: Option<String>,
    },
}

/// Memory of a unified-memory GPU: what its processes hold, and the host's own figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnifiedMemory {
    /// Sum of the GPU memory of the processes on this GPU.
    pub gpu_held_bytes: Metric<u64>,
    /// MemTotal of the node that owns the GPU.
    pub host_total_bytes: Metric<u64>,
    /// MemTotal - MemAvailable.
    pub host_used_bytes: Metric<u64>,
    /// MemAvailable.
    pub host_available_bytes: Metric<u64>,
    /// SwapFree.
    pub swap_free_bytes: Metric<u64>,
}

/// A process using a GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    /// From /proc/PID/comm where the PID resolves (NVML reports host PIDs in containers).
    pub name: Option<String>,
    pub used_bytes: Option<u64>,
    pub gpu_instance_id: Option<u32>,
}

/// One reading of one device (a GPU, a MIG instance or a DCU).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSample {
    /// Stable identity: the UUID (MIG UUID for instances), or backend:index.
    pub key: String,
    pub index: u32,
    pub name: String,
    pub uuid: Option<String>,
    pub vendor: Vendor,
    pub backend: Backend,
    pub kind: DeviceKind,
    pub memory_used_bytes: Metric<u64>,
    pub memory_total_bytes: Metric<u64>,
    /// Present on unified-memory GPUs, where `memory_*` are not supported.
    pub unified: Option<UnifiedMemory>,
    pub utilization_pct: Metric<f64>,
    pub power_w: Metric<f64>,
    pub power_limit_w: Metric<f64>,
    /// The cumulative energy counter, millijoules.
    pub energy_mj: Metric<u64>,
    pub temperature_c: Metric<f64>,
    pub sm_clock_mhz: Metric<f64>,
    pub processes: Metric<Vec<GpuProcess>>,
    /// Where each group of values came from when not all from `backend` (e.g. "memory" ->
    /// "/proc/meminfo + nvml processes", "power" -> "sysfs hwmon").
    pub sources: BTreeMap<String, String>,
    /// Wall-clock time of the reading, seconds since the epoch.
    pub unix_time: f64,
}

impl GpuSample {
    /// A row with every field "not supported": backends fill in what they can.
    pub fn blank(key: String, index: u32, name: String, vendor: Vendor, backend: Backend) -> Self {
        GpuSample {
            key,
            index,
            name,
            uuid: None,
            vendor,
            backend,
            kind: DeviceKind::Discrete,
            memory_used_bytes: Metric::NotSupported,
            memory_total_bytes: Metric::NotSupported,
            unified: None,
            utilization_pct: Metric::NotSupported,
            power_w: Metric::NotSupported,
            power_limit_w: Metric::NotSupported,
            energy_mj: Metric::NotSupported,
            temperature_c: Metric::NotSupported,
            sm_clock_mhz: Metric::NotSupported,
            processes: Metric::NotSupported,
            sources: BTreeMap::new(),
            unix_time: unix_now(),
        }
    }

    /// Memory in use for bars and peaks: VRAM used, or GPU-held on unified memory.
    pub fn memory_in_use(&self) -> Option<u64> {
        match &self.unified {
            Some(u) => u.gpu_held_bytes.value(),
            None => self.memory_used_bytes.value(),
        }
    }

    /// Total for bars: VRAM total, or the host's MemTotal on unified memory.
    pub fn memory_capacity(&self) -> Option<u64> {
        match &self.unified {
            Some(u) => u.host_total_bytes.value(),
            None => self.memory_total_bytes.value(),
        }
    }

    /// True for a MIG instance row.
    pub fn is_mig_instance(&self) -> bool {
        matches!(self.kind, DeviceKind::MigInstance { .. })
    }
}

/// A telemetry source: one backend over the devices it can see.
pub trait GpuSource: Send {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// Where the values come from: a library path, a sysfs root, a URL.
    fn origin(&self) -> String;
    /// One reading of every device. `Err` means the whole source failed this time.
    fn sample(&mut self) -> Result<Vec<GpuSample>, String>;
}

/// How a backend call failed: "not supported" is remembered, anything else is retried.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    NotSupported,
    Failed(String),
}

/// Remembers (device, field) pairs that answered "not supported", so they are not asked again
/// every tick.
#[derive(Debug, Default)]
pub(crate) struct Unsupported(HashSet<(String, &'static str)>);

impl Unsupported {
    /// Call `f` unless it said "not supported" for this device before.
    pub(crate) fn read<T>(
        &mut self,
        device: &str,
        field: &'static str,
        f: impl FnOnce() -> Result<T, CallError>,
    ) -> Metric<T> {
        let key = (device.to_string(), field);
        if self.0.contains(&key) {
            return Metric::NotSupported;
        }
        match f() {
            Ok(v) => Metric::Value(v),
            Err(CallError::NotSupported) => {
                self.0.insert(key);
                Metric::NotSupported
            }
            Err(CallError::Failed(e)) => Metric::Error(e),
        }
    }
}

/// Where local backends look. Every path can be overridden, so tests point them at fakes.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// NVML library; `None`: `libnvidia-ml.so.1`. Env `TOKSCOPE_NVML_LIB`.
    pub nvml_lib: Option<PathBuf>,
    /// ROCm SMI library; `None`: the search order of [`rsmi::candidates`]. Env `TOKSCOPE_RSMI_LIB`.
    pub rsmi_lib: Option<PathBuf>,
    /// Root of sysfs (`/sys`). Env `TOKSCOPE_SYSFS_ROOT`.
    pub sysfs_root: PathBuf,
    /// `/proc/meminfo` (unified memory). Env `TOKSCOPE_MEMINFO`.
    pub meminfo: PathBuf,
    /// The `hy-smi` program. Env `TOKSCOPE_HY_SMI`.
    pub hy_smi: PathBuf,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            nvml_lib: None,
            rsmi_lib: None,
            sysfs_root: PathBuf::from("/sys"),
            meminfo: PathBuf::from("/proc/meminfo"),
            hy_smi: PathBuf::from("hy-smi"),
        }
    }
}

impl LocalConfig {
    /// Defaults, overridden by the `TOKSCOPE_*` environment variables.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let d = LocalConfig::default();
        LocalConfig {
            nvml_lib: var("TOKSCOPE_NVML_LIB"),
            rsmi_lib: var("TOKSCOPE_RSMI_LIB"),
            sysfs_root: var("TOKSCOPE_SYSFS_ROOT").unwrap_or(d.sysfs_root),
            meminfo: var("TOKSCOPE_MEMINFO").unwrap_or(d.meminfo),
            hy_smi: var("TOKSCOPE_HY_SMI").unwrap_or(d.hy_smi),
        }
    }
}

/// What discovery tried for one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub backend: Backend,
    /// Library path, sysfs root or program.
    pub origin: String,
    /// `None` when the backend is in use; otherwise why it is absent.
    pub absent: Option<String>,
    pub devices: usize,
}

/// The local sources found, and what was tried.
pub struct Discovery {
    pub sources: Vec<Box<dyn GpuSource>>,
    pub probes: Vec<Probe>,
}

/// Find every local backend with at least one device. NVIDIA through NVML; AMD/Hygon through
/// the first of ROCm SMI, amdgpu sysfs and `hy-smi` that sees a device.
pub fn discover_local(cfg: &LocalConfig) -> Discovery {
    let mut out = Discovery {
        sources: Vec::new(),
        probes: Vec::new(),
    };
    let add = |out: &mut Discovery, res: Result<Box<dyn GpuSource>, Probe>, backend| match res {
        Ok(mut src) => {
            let n = src.sample().map(|s| s.len()).unwrap_or(0);
            out.probes.push(Probe {
                backend,
                origin: src.origin(),
                absent: None,
                devices: n,
            });
            out.sources.push(src);
            true
        }
        Err(p) => {
            out.probes.push(p);
            false
        }
    };
    add(&mut out, nvml::NvmlSource::open(cfg), Backend::Nvml);
    if !add(&mut out, rsmi::RsmiSource::open(cfg), Backend::Rsmi)
        && !add(&mut out, sysfs::SysfsSource::open(cfg), Backend::Sysfs)
    {
        add(&mut out, hysmi::HySmiSource::open(cfg), Backend::HySmi);
    }
    out
}

/// This machine's host name (for labels and the panel), or "localhost".
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Seconds since the epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The name of process `pid` from /proc, if it resolves (not across PID namespaces).
pub(crate) fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Bytes as GiB with one decimal, e.g. "79.6G".
pub fn fmt_gib(bytes: u64) -> String {
    format!("{:.1}G", bytes as f64 / (1u64 << 30) as f64)
}

/// `--gpu-interval` as a duration: from 0.05 s (faster only costs CPU) to an hour.
pub fn check_interval(seconds: f64) -> Result<std::time::Duration, String> {
    if !(0.05..=3600.0).contains(&seconds) {
        return Err(format!(
            "--gpu-interval: '{}' is out of range: use 0.05 to 3600 seconds",
            crate::console::number(seconds)
        ));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_is_asked_once_errors_are_retried() {
        let mut cache = Unsupported::default();
        let mut calls = 0;
        for _ in 0..3 {
            let m: Metric<u32> = cache.read("gpu0", "power", || {
                calls += 1;
                Err(CallError::NotSupported)
            });
            assert_eq!(m, Metric::NotSupported);
        }
        assert_eq!(calls, 1);
        let mut calls = 0;
        for _ in 0..3 {
            let m: Metric<u32> = cache.read("gpu0", "temp", || {
                calls += 1;
                Err(CallError::Failed("busy".into()))
            });
            assert_eq!(m, Metric::Error("busy".into()));
        }
        assert_eq!(calls, 3);
        // Another device is asked on its own.
        let m = cache.read("gpu1", "power", || Ok(5u32));
        assert_eq!(m, Metric::Value(5));
    }

    #[test]
    fn metric_serializes_with_its_state() {
        let cases: Vec<(Metric<f64>, &str)> = vec![
            (Metric::Value(1.5), r#"{"value":1.5}"#),
            (Metric::NotSupported, r#""not_supported""#),
            (
                Metric::NotApplicable("MIG".into()),
                r#"{"not_applicable":"MIG"}"#,
            ),
            (Metric::Error("x".into()), r#"{"error":"x"}"#),
        ];
        for (m, want) in cases {
            assert_eq!(serde_json::to_string(&m).unwrap(), want);
        }
        assert_eq!(
            Metric::<f64>::NotApplicable("MIG".into()).display(|v| v.to_string()),
            "n/a (MIG)"
        );
    }
}
