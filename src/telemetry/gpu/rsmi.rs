//! AMD and Hygon DCU GPUs through ROCm SMI, loaded at run time with libloading.
//!
//! Only scalar `rsmi_*` calls are declared, each looked up on its own: DTK's
//! `librocm_smi64.so.2` lacks the newer power calls, and a missing symbol disables one field,
//! not the backend. Struct-returning calls (clocks, gpu_metrics) change layout between versions
//! and are not used. docs/gpu.md says why this is not the rocm_smi_lib crate.

use super::{
    unix_now, Backend, CallError, GpuSample, GpuSource, LocalConfig, Probe, Unsupported, Vendor,
};
use libloading::Library;
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};

type Status = u32;
const RSMI_STATUS_SUCCESS: Status = 0;
const RSMI_STATUS_NOT_SUPPORTED: Status = 2;
const RSMI_MEM_TYPE_VRAM: u32 = 0;
const RSMI_TEMP_TYPE_EDGE: u32 = 0;
const RSMI_TEMP_TYPE_JUNCTION: u32 = 1;
const RSMI_TEMP_CURRENT: u32 = 0;

type FnInit = unsafe extern "C" fn(u64) -> Status;
type FnVoid = unsafe extern "C" fn() -> Status;
type FnCount = unsafe extern "C" fn(*mut u32) -> Status;
type FnName = unsafe extern "C" fn(u32, *mut c_char, usize) -> Status;
type FnMem = unsafe extern "C" fn(u32, u32, *mut u64) -> Status;
type FnU32 = unsafe extern "C" fn(u32, *mut u32) -> Status;
type FnU64 = unsafe extern "C" fn(u32, *mut u64) -> Status;
type FnTemp = unsafe extern "C" fn(u32, u32, u32, *mut i64) -> Status;
type FnSensorU64 = unsafe extern "C" fn(u32, u32, *mut u64) -> Status;
type FnPowerGet = unsafe extern "C" fn(u32, *mut u64, *mut u32) -> Status;
type FnEnergy = unsafe extern "C" fn(u32, *mut u64, *mut f32, *mut u64) -> Status;
type FnStatusString = unsafe extern "C" fn(Status, *mut *const c_char) -> Status;

/// The library and the symbols found in it; `None` means this library lacks the call.
struct Symbols {
    init: FnInit,
    num_devices: FnCount,
    shut_down: Option<FnVoid>,
    name: Option<FnName>,
    mem_total: Option<FnMem>,
    mem_usage: Option<FnMem>,
    busy: Option<FnU32>,
    temp: Option<FnTemp>,
    power_get: Option<FnPowerGet>,
    socket_power: Option<FnU64>,
    power_ave: Option<FnSensorU64>,
    power_cap: Option<FnSensorU64>,
    energy: Option<FnEnergy>,
    unique_id: Option<FnU64>,
    status_string: Option<FnStatusString>,
}

/// What `rsmi_init` gave: the devices the library sees, and what it printed meanwhile (one
/// line, empty when it was quiet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    pub devices: u32,
    pub said: String,
}

/// `why`, followed by what the library printed (one line), if anything.
fn with_said(why: String, said: &str) -> String {
    if said.is_empty() {
        why
    } else {
        format!("{why}; it said: {said}")
    }
}

/// A loaded ROCm SMI library.
pub struct RsmiLib {
    sym: Symbols,
    path: String,
    // Kept last so the symbols above never outlive it.
    _lib: Library,
}

/// Where to look for librocm_smi64, first that loads wins: the override, `$ROCM_PATH/lib`, DTK's
/// `/opt/dtk*/rocm_smi/lib`, `/opt/hyhal/lib`, `/opt/rocm/lib`, then bare sonames for the
/// dynamic loader's own search (ROCm 6.1+ is .so.7, DTK .so.2, Debian .so.1).
pub fn candidates(override_path: Option<&Path>, rocm_path: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = override_path {
        return vec![p.to_path_buf()];
    }
    let mut out = Vec::new();
    if let Some(root) = rocm_path {
        out.push(root.join("lib/librocm_smi64.so"));
    }
    let mut globbed = |dir_prefix: &str, parent: &str, sub: &str| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(parent)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(dir_prefix))
            })
            .collect();
        // `/opt/dtk` (the usual symlink) before versioned `/opt/dtk-24.04...`.
        found.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
        for d in found {
            let lib = d.join(sub);
            for name in ["librocm_smi64.so.2", "librocm_smi64.so"] {
                out.push(lib.join(name));
            }
        }
    };
    globbed("dtk", "/opt", "rocm_smi/lib");
    globbed("hyhal", "/opt", "lib");
    out.push(PathBuf::from("/opt/rocm/lib/librocm_smi64.so"));
    for soname in [".so.7", ".so.6", ".so.5", ".so.2", ".so.1", ".so"] {
        out.push(PathBuf::from(format!("librocm_smi64{soname}")));
    }
    out
}

impl RsmiLib {
    /// Load `path` and look up each symbol on its own.
    pub fn load(path: &Path) -> Result<RsmiLib, String> {
        // SAFETY: loading runs the library's initialisers; ROCm SMI's are benign. The symbol
        // types match rocm_smi.h for every version we target (the scalar calls did not change).
        unsafe {
            let lib = Library::new(path).map_err(|e| format!("'{}': {e}", path.display()))?;
            macro_rules! opt {
                ($name:literal) => {
                    lib.get::<_>($name).ok().map(|s| *s)
                };
            }
            let init = *lib
                .get::<FnInit>(b"rsmi_init\0")
                .map_err(|e| format!("'{}' has no rsmi_init: {e}", path.display()))?;
            let num_devices = *lib
                .get::<FnCount>(b"rsmi_num_monitor_devices\0")
                .map_err(|e| {
                    format!("'{}' has no rsmi_num_monitor_devices: {e}", path.display())
                })?;
            let sym = Symbols {
                init,
                num_devices,
                shut_down: opt!(b"rsmi_shut_down\0"),
                name: opt!(b"rsmi_dev_name_get\0"),
                mem_total: opt!(b"rsmi_dev_memory_total_get\0"),
                mem_usage: opt!(b"rsmi_dev_memory_usage_get\0"),
                busy: opt!(b"rsmi_dev_busy_percent_get\0"),
                temp: opt!(b"rsmi_dev_temp_metric_get\0"),
                power_get: opt!(b"rsmi_dev_power_get\0"),
                socket_power: opt!(b"rsmi_dev_current_socket_power_get\0"),
                power_ave: opt!(b"rsmi_dev_power_ave_get\0"),
                power_cap: opt!(b"rsmi_dev_power_cap_get\0"),
                energy: opt!(b"rsmi_dev_energy_count_get\0"),
                unique_id: opt!(b"rsmi_dev_unique_id_get\0"),
                status_string: opt!(b"rsmi_status_string\0"),
            };
            Ok(RsmiLib {
                sym,
                path: path.display().to_string(),
                _lib: lib,
            })
        }
    }

    /// `rsmi_init(0)` then the device count. The library prints its own complaints to
    /// stderr while it initialises (Debian's, on a machine without an AMD GPU: "Failed to open
    /// drm root directory /sys/class/drm.: No such file or directory" and "Exception caught:
    /// rsmi_init."): they are held back and returned in `said`, or end the error's one line.
    pub fn init(&self) -> Result<Init, String> {
        // SAFETY: symbol from `load`, no arguments but flags.
        let (st, said) = crate::stderr_hold::hold(|| unsafe { (self.sym.init)(0) });
        let said = crate::stderr_hold::one_line(&said, 240);
        if st != RSMI_STATUS_SUCCESS {
            return Err(with_said(
                format!("rsmi_init returned status {st}{}", self.status_text(st)),
                &said,
            ));
        }
        let mut n = 0u32;
        // SAFETY: symbol from `load`, valid out-pointer.
        let st = unsafe { (self.sym.num_devices)(&mut n) };
        if st != RSMI_STATUS_SUCCESS {
            return Err(with_said(
                format!(
                    "rsmi_num_monitor_devices returned status {st}{}",
                    self.status_text(st)
                ),
                &said,
            ));
        }
        Ok(Init { devices: n, said })
    }

    /// " (what the library calls `st`)", when it has `rsmi_status_string`.
    fn status_text(&self, st: Status) -> String {
        let Some(f) = self.sym.status_string else {
            return String::new();
        };
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: symbol from `load`; it points `p` at a static string or leaves it null.
        let ok = unsafe { f(st, &mut p) } == RSMI_STATUS_SUCCESS && !p.is_null();
        if !ok {
            return String::new();
        }
        // SAFETY: a NUL-terminated static string owned by the library, which stays loaded.
        let text = unsafe { CStr::from_ptr(p) }.to_string_lossy();
        format!(" ({})", crate::stderr_hold::one_line(&text, 120))
    }

    /// The path it was loaded from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Which optional calls this library lacks (for `tokscope gpu` and tests).
    pub fn missing_calls(&self) -> Vec<&'static str> {
        let s = &self.sym;
        let table: [(&'static str, bool); 12] = [
            ("rsmi_shut_down", s.shut_down.is_some()),
            ("rsmi_dev_name_get", s.name.is_some()),
            ("rsmi_dev_memory_total_get", s.mem_total.is_some()),
            ("rsmi_dev_memory_usage_get", s.mem_usage.is_some()),
            ("rsmi_dev_busy_percent_get", s.busy.is_some()),
            ("rsmi_dev_temp_metric_get", s.temp.is_some()),
            ("rsmi_dev_power_get", s.power_get.is_some()),
            (
                "rsmi_dev_current_socket_power_get",
                s.socket_power.is_some(),
            ),
            ("rsmi_dev_power_ave_get", s.power_ave.is_some()),
            ("rsmi_dev_power_cap_get", s.power_cap.is_some()),
            ("rsmi_dev_energy_count_get", s.energy.is_some()),
            ("rsmi_dev_unique_id_get", s.unique_id.is_some()),
        ];
        table
            .iter()
            .filter(|(_, has)| !has)
            .map(|(n, _)| *n)
            .collect()
    }
}

impl Drop for RsmiLib {
    fn drop(&mut self) {
        if let Some(f) = self.sym.shut_down {
            // SAFETY: symbol from `load`; the library is still loaded (`_lib` drops after this).
            unsafe {
                f();
            }
        }
    }
}

fn status(st: Status, call: &str) -> Result<(), CallError> {
    match st {
        RSMI_STATUS_SUCCESS => Ok(()),
        RSMI_STATUS_NOT_SUPPORTED => Err(CallError::NotSupported),
        other => Err(CallError::Failed(format!("{call} returned status {other}"))),
    }
}

/// The ROCm SMI source.
pub struct RsmiSource {
    lib: RsmiLib,
    unsupported: Unsupported,
}

impl RsmiSource {
    /// Load the first candidate library that loads, init it, and keep it if it sees a device.
    pub fn open(cfg: &LocalConfig) -> Result<Box<dyn GpuSource>, Probe> {
        let rocm = std::env::var_os("ROCM_PATH").map(PathBuf::from);
        let list = candidates(cfg.rsmi_lib.as_deref(), rocm.as_deref());
        let absent = |origin: String, why: String| Probe {
            backend: Backend::Rsmi,
            origin,
            absent: Some(why),
            devices: 0,
        };
        let mut last_err = String::from("no candidate path");
        for path in &list {
            // Absolute paths that do not exist are skipped quietly; bare sonames go to dlopen.
            if path.is_absolute() && !path.exists() {
                continue;
            }
            let lib = match RsmiLib::load(path) {
                Ok(l) => l,
                Err(e) => {
                    last_err = e;
                    continue;
                }
            };
            let origin = lib.path().to_string();
            return match lib.init() {
                Ok(Init { devices: 0, said }) => Err(absent(
                    origin,
                    with_said("ROCm SMI loaded, sees no device".into(), &said),
                )),
                Ok(Init { said, .. }) => {
                    // A working library's warnings are the user's to see (and whatever
                    // another thread wrote meanwhile is theirs too): put them back.
                    if !said.is_empty() {
                        crate::console::err_line(&format!("ROCm SMI: {said}"));
                    }
                    Ok(Box::new(RsmiSource {
                        lib,
                        unsupported: Unsupported::default(),
                    }))
                }
                Err(e) => Err(absent(origin, e)),
            };
        }
        Err(absent(
            "librocm_smi64".into(),
            format!("not found (last tried: {last_err}); set TOKSCOPE_RSMI_LIB to its path"),
        ))
    }
}

impl GpuSource for RsmiSource {
    fn backend(&self) -> Backend {
        Backend::Rsmi
    }

    fn origin(&self) -> String {
        self.lib.path().to_string()
    }

    fn sample(&mut self) -> Result<Vec<GpuSample>, String> {
        let s = &self.lib.sym;
        let mut n = 0u32;
        // SAFETY: valid out-pointer.
        let st = unsafe { (s.num_devices)(&mut n) };
        if st != RSMI_STATUS_SUCCESS {
            return Err(format!("rsmi_num_monitor_devices returned status {st}"));
        }
        let hygon_lib = self.lib.path.contains("dtk") || self.lib.path.contains("hyhal");
        let mut out = Vec::with_capacity(n as usize);
        for dv in 0..n {
            out.push(read_device(s, dv, hygon_lib, &mut self.unsupported));
        }
        Ok(out)
    }
}

/// Call an optional symbol; a missing symbol reads as "not supported".
macro_rules! call {
    ($opt:expr, $name:literal, |$f:ident| $body:expr) => {
        match $opt {
            // SAFETY: symbol from `load`, called with valid out-pointers per rocm_smi.h.
            Some($f) => unsafe { $body }.and_then(|(st, v)| status(st, $name).map(|_| v)),
            None => Err(CallError::NotSupported),
        }
    };
}

fn read_device(s: &Symbols, dv: u32, hygon_lib: bool, cache: &mut Unsupported) -> GpuSample {
    let mut buf = [0 as c_char; 256];
    let name: Result<String, CallError> = call!(s.name, "rsmi_dev_name_get", |f| {
        let st = f(dv, buf.as_mut_ptr(), buf.len());
        Ok((
            st,
            CStr::from_ptr(buf.as_ptr())
                .to_string_lossy()
                .trim()
                .to_string(),
        ))
    });
    let name = name.unwrap_or_else(|_| format!("GPU {dv}"));
    let unique: Result<u64, CallError> = call!(s.unique_id, "rsmi_dev_unique_id_get", |f| {
        let mut v = 0u64;
        Ok((f(dv, &mut v), v))
    });
    let key = match unique {
        Ok(id) => format!("rsmi:{id:016x}"),
        Err(_) => format!("rsmi:{dv}"),
    };
    let hygon = hygon_lib
        || ["DCU", "Hygon", "K100", "Z100"]
            .iter()
            .any(|w| name.contains(w));
    let vendor = if hygon { Vendor::Hygon } else { Vendor::Amd };
    let mut g = GpuSample::blank(key.clone(), dv, name, vendor, Backend::Rsmi);

    g.memory_total_bytes = cache.read(&key, "mem_total", || {
        call!(s.mem_total, "rsmi_dev_memory_total_get", |f| {
            let mut v = 0u64;
            Ok((f(dv, RSMI_MEM_TYPE_VRAM, &mut v), v))
        })
    });
    g.memory_used_bytes = cache.read(&key, "mem_used", || {
        call!(s.mem_usage, "rsmi_dev_memory_usage_get", |f| {
            let mut v = 0u64;
            Ok((f(dv, RSMI_MEM_TYPE_VRAM, &mut v), v))
        })
    });
    g.utilization_pct = cache.read(&key, "busy", || {
        call!(s.busy, "rsmi_dev_busy_percent_get", |f| {
            let mut v = 0u32;
            Ok((f(dv, &mut v), f64::from(v)))
        })
    });
    g.temperature_c = cache.read(&key, "temp", || {
        let read = |sensor| {
            call!(s.temp, "rsmi_dev_temp_metric_get", |f| {
                let mut v = 0i64;
                Ok((f(dv, sensor, RSMI_TEMP_CURRENT, &mut v), v as f64 / 1000.0))
            })
        };
        read(RSMI_TEMP_TYPE_EDGE).or_else(|_| read(RSMI_TEMP_TYPE_JUNCTION))
    });
    // Newest call first (ROCm >= 6), then the average that DTK and older ROCm have. µW -> W.
    g.power_w = cache.read(&key, "power", || {
        let get: Result<u64, CallError> = call!(s.power_get, "rsmi_dev_power_get", |f| {
            let mut v = 0u64;
            let mut kind = 0u32;
            Ok((f(dv, &mut v, &mut kind), v))
        });
        let socket = || -> Result<u64, CallError> {
            call!(s.socket_power, "rsmi_dev_current_socket_power_get", |f| {
                let mut v = 0u64;
                Ok((f(dv, &mut v), v))
            })
        };
        let ave = || -> Result<u64, CallError> {
            call!(s.power_ave, "rsmi_dev_power_ave_get", |f| {
                let mut v = 0u64;
                Ok((f(dv, 0, &mut v), v))
            })
        };
        get.or_else(|_| socket())
            .or_else(|_| ave())
            .map(|uw| uw as f64 / 1e6)
    });
    g.power_limit_w = cache.read(&key, "power_cap", || {
        call!(s.power_cap, "rsmi_dev_power_cap_get", |f| {
            let mut v = 0u64;
            Ok((f(dv, 0, &mut v), v as f64 / 1e6))
        })
    });
    g.energy_mj = cache.read(&key, "energy", || {
        call!(s.energy, "rsmi_dev_energy_count_get", |f| {
            let mut count = 0u64;
            let mut res_uj = 0f32;
            let mut ts = 0u64;
            let st = f(dv, &mut count, &mut res_uj, &mut ts);
            // counter x resolution = µJ; we keep mJ like NVML.
            Ok((st, (count as f64 * f64::from(res_uj) / 1000.0) as u64))
        })
    });
    g.unix_time = unix_now();
    g
}
