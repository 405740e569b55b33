//! NVIDIA GPUs through NVML (nvml-wrapper, which dlopens libnvidia-ml at run time): discrete
//! GPUs, GB10 unified memory and MIG instances under their parent.

use super::{
    meminfo, process_name, unix_now, Backend, CallError, DeviceKind, GpuProcess, GpuSample,
    GpuSource, LocalConfig, Metric, Probe, Unsupported, Vendor,
};
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{Device, Nvml};
use std::ffi::OsStr;
use std::path::PathBuf;

const DEFAULT_LIB: &str = "libnvidia-ml.so.1";

/// The NVML source: one initialised library kept for the life of the sampler.
pub struct NvmlSource {
    nvml: Nvml,
    lib: String,
    meminfo: PathBuf,
    unsupported: Unsupported,
}

fn call_err(e: NvmlError) -> CallError {
    match e {
        // A symbol an old driver lacks is as permanent as "not supported".
        NvmlError::NotSupported
        | NvmlError::FunctionNotFound
        | NvmlError::FailedToLoadSymbol(_) => CallError::NotSupported,
        other => CallError::Failed(other.to_string()),
    }
}

impl NvmlSource {
    /// Load and initialise NVML; `Err` says why there is no NVIDIA source.
    pub fn open(cfg: &LocalConfig) -> Result<Box<dyn GpuSource>, Probe> {
        let lib = cfg
            .nvml_lib
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| DEFAULT_LIB.to_string());
        let absent = |why: String| Probe {
            backend: Backend::Nvml,
            origin: lib.clone(),
            absent: Some(why),
            devices: 0,
        };
        let nvml = Nvml::builder()
            .lib_path(OsStr::new(&lib))
            .init()
            .map_err(|e| match e {
                NvmlError::LibloadingError(le) => absent(format!("'{lib}' not loadable: {le}")),
                NvmlError::DriverNotLoaded => absent("NVIDIA driver not loaded".into()),
                other => absent(format!("nvmlInit failed: {other}")),
            })?;
        match nvml.device_count() {
            Ok(0) => return Err(absent("NVML sees no GPU".into())),
            Ok(_) => {}
            Err(e) => return Err(absent(format!("nvmlDeviceGetCount failed: {e}"))),
        }
        Ok(Box::new(NvmlSource {
            nvml,
            lib,
            meminfo: cfg.meminfo.clone(),
            unsupported: Unsupported::default(),
        }))
    }
}

impl GpuSource for NvmlSource {
    fn backend(&self) -> Backend {
        Backend::Nvml
    }

    fn origin(&self) -> String {
        match self.nvml.sys_driver_version() {
            Ok(v) => format!("{} (driver {v})", self.lib),
            Err(_) => self.lib.clone(),
        }
    }

    fn sample(&mut self) -> Result<Vec<GpuSample>, String> {
        let count = self
            .nvml
            .device_count()
            .map_err(|e| format!("nvmlDeviceGetCount failed: {e}"))?;
        let mut out = Vec::new();
        for i in 0..count {
            let dev = match self.nvml.device_by_index(i) {
                Ok(d) => d,
                Err(e) => {
                    let mut s = GpuSample::blank(
                        format!("nvml:{i}"),
                        i,
                        "unknown".into(),
                        Vendor::Nvidia,
                        Backend::Nvml,
                    );
                    s.memory_used_bytes = Metric::Error(e.to_string());
                    out.push(s);
                    continue;
                }
            };
            let rows = read_device(&dev, i, &self.meminfo, &mut self.unsupported);
            out.extend(rows);
        }
        Ok(out)
    }
}

/// Read one physical GPU; returns its row and, in MIG mode, one row per instance after it.
fn read_device(
    dev: &Device<'_>,
    index: u32,
    meminfo_path: &std::path::Path,
    cache: &mut Unsupported,
) -> Vec<GpuSample> {
    let uuid = dev.uuid().ok();
    let key = uuid.clone().unwrap_or_else(|| format!("nvml:{index}"));
    let name = dev.name().unwrap_or_else(|_| "NVIDIA GPU".into());
    let mut s = GpuSample::blank(key.clone(), index, name, Vendor::Nvidia, Backend::Nvml);
    s.uuid = uuid;

    let mig_on = matches!(
        cache.read(&key, "mig_mode", || dev.mig_mode().map_err(call_err)),
        Metric::Value(m) if m.current == 1
    );
    let mem = cache.read(&key, "memory", || dev.memory_info().map_err(call_err));
    let processes = read_processes(dev, &key, cache);

    s.power_w = cache.read(&key, "power", || {
        dev.power_usage()
            .map(|mw| mw as f64 / 1000.0)
            .map_err(call_err)
    });
    s.power_limit_w = cache.read(&key, "power_limit", || {
        dev.enforced_power_limit()
            .map(|mw| mw as f64 / 1000.0)
            .map_err(call_err)
    });
    s.energy_mj = cache.read(&key, "energy", || {
        dev.total_energy_consumption().map_err(call_err)
    });
    s.temperature_c = cache.read(&key, "temperature", || {
        dev.temperature(TemperatureSensor::Gpu)
            .map(f64::from)
            .map_err(call_err)
    });
    s.sm_clock_mhz = cache.read(&key, "sm_clock", || {
        dev.clock_info(Clock::SM).map(f64::from).map_err(call_err)
    });

    // GB10 answers "not supported" for framebuffer memory; some drivers answer with 0 or with the
    // host's RAM as total. All three mean unified memory.
    let host_total =
        meminfo::parse(&std::fs::read_to_string(meminfo_path).unwrap_or_default()).total;
    let unified = match &mem {
        Metric::NotSupported => true,
        Metric::Value(m) if m.total == 0 => true,
        Metric::Value(m) => {
            s.name.contains("GB10") && host_total.is_some_and(|t| m.total as f64 >= 0.9 * t as f64)
        }
        _ => false,
    };
    if unified {
        let held = match &processes {
            Metric::Value(ps) => Metric::Value(ps.iter().filter_map(|p| p.used_bytes).sum()),
            Metric::NotSupported => Metric::NotSupported,
            Metric::NotApplicable(r) => Metric::NotApplicable(r.clone()),
            Metric::Error(e) => Metric::Error(e.clone()),
        };
        s.kind = DeviceKind::Unified;
        s.unified = Some(meminfo::unified(meminfo_path, held));
        s.sources.insert(
            "memory".into(),
            format!("{} + nvml processes", meminfo_path.display()),
        );
    } else {
        s.memory_used_bytes = mem.clone().map(|m| m.used);
        s.memory_total_bytes = mem.map(|m| m.total);
    }
    s.processes = processes;

    let mut rows = Vec::new();
    if mig_on {
        s.utilization_pct = Metric::NotApplicable("MIG".into());
        let instances = read_mig_instances(dev, &key, index, cache);
        s.kind = DeviceKind::MigParent {
            instances: instances.len() as u32,
        };
        rows.push(s);
        rows.extend(instances);
    } else {
        s.utilization_pct = cache.read(&key, "utilization", || {
            dev.utilization_rates()
                .map(|u| f64::from(u.gpu))
                .map_err(call_err)
        });
        rows.push(s);
    }
    rows
}

fn read_processes(dev: &Device<'_>, key: &str, cache: &mut Unsupported) -> Metric<Vec<GpuProcess>> {
    cache.read(key, "processes", || {
        dev.running_compute_processes()
            .map(|ps| {
                ps.into_iter()
                    .map(|p| GpuProcess {
                        pid: p.pid,
                        name: process_name(p.pid),
                        used_bytes: match p.used_gpu_memory {
                            UsedGpuMemory::Used(b) => Some(b),
                            UsedGpuMemory::Unavailable => None,
                        },
                        gpu_instance_id: p.gpu_instance_id,
                    })
                    .collect()
            })
            .map_err(call_err)
    })
}

/// Enumerate MIG instances; an empty slot is skipped, not the end of the list.
fn read_mig_instances(
    parent: &Device<'_>,
    parent_key: &str,
    parent_index: u32,
    cache: &mut Unsupported,
) -> Vec<GpuSample> {
    let max = parent.mig_device_count().unwrap_or(0);
    let mut rows = Vec::new();
    for slot in 0..max {
        let Ok(mig) = parent.mig_device_by_index(slot) else {
            continue;
        };
        let uuid = mig.uuid().ok();
        let key = uuid
            .clone()
            .unwrap_or_else(|| format!("{parent_key}/mig{slot}"));
        let name = mig.name().unwrap_or_else(|_| "MIG instance".into());
        let profile = name
            .split_once("MIG ")
            .map(|(_, p)| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let (gi, ci) = instance_ids(&mig);
        let mut s = GpuSample::blank(
            key.clone(),
            parent_index,
            name,
            Vendor::Nvidia,
            Backend::Nvml,
        );
        s.uuid = uuid;
        s.kind = DeviceKind::MigInstance {
            parent: parent_key.to_string(),
            gpu_instance_id: gi,
            compute_instance_id: ci,
            profile,
        };
        let mem = cache.read(&key, "memory", || mig.memory_info().map_err(call_err));
        s.memory_used_bytes = mem.clone().map(|m| m.used);
        s.memory_total_bytes = mem.map(|m| m.total);
        s.processes = read_processes(&mig, &key, cache);
        // Power, temperature and clocks live on the parent; utilisation has no per-instance
        // NVML counter.
        let parent_only = || Metric::NotApplicable("on parent".into());
        s.power_w = parent_only();
        s.power_limit_w = parent_only();
        s.energy_mj = Metric::NotApplicable("on parent".into());
        s.temperature_c = parent_only();
        s.sm_clock_mhz = parent_only();
        s.utilization_pct = Metric::NotApplicable("MIG".into());
        s.unix_time = unix_now();
        rows.push(s);
    }
    rows
}

/// GPU and compute instance ids through the raw symbols nvml-wrapper 0.13 does not wrap.
fn instance_ids(mig: &Device<'_>) -> (Option<u32>, Option<u32>) {
    let lib = mig.nvml().lib();
    // SAFETY: the handle is valid for the borrow of `mig`; each symbol takes (handle, *mut u32)
    // per nvml.h, and a missing symbol is an Err we skip.
    unsafe {
        let handle = mig.handle();
        let mut gi = 0u32;
        let mut ci = 0u32;
        let gi = match &lib.nvmlDeviceGetGpuInstanceId {
            Ok(f) if f(handle, &mut gi) == 0 => Some(gi),
            _ => None,
        };
        let ci = match &lib.nvmlDeviceGetComputeInstanceId {
            Ok(f) if f(handle, &mut ci) == 0 => Some(ci),
            _ => None,
        };
        (gi, ci)
    }
}
