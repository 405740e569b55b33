//! AMD / Hygon GPUs through the amdgpu sysfs files, for machines without a usable ROCm SMI
//! library. The root is injectable (`LocalConfig::sysfs_root`) so tests build a fake tree.

use super::{
    unix_now, Backend, CallError, GpuSample, GpuSource, LocalConfig, Metric, Probe, Unsupported,
    Vendor,
};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// One DRM card directory (`.../class/drm/cardN/device`).
#[derive(Debug, Clone)]
struct Card {
    index: u32,
    dir: PathBuf,
    driver: String,
}

/// The sysfs source.
pub struct SysfsSource {
    root: PathBuf,
    cards: Vec<Card>,
    unsupported: Unsupported,
}

/// Cards driven by amdgpu or hydcu, in card-number order.
fn find_cards(root: &Path) -> Vec<Card> {
    let drm = root.join("class/drm");
    let mut cards: Vec<Card> = std::fs::read_dir(&drm)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let index: u32 = name.strip_prefix("card")?.parse().ok()?;
            let dir = e.path().join("device");
            let driver = std::fs::read_link(dir.join("driver"))
                .ok()
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy().to_string()))
                .unwrap_or_default();
            let looks_amd = driver == "amdgpu"
                || driver == "hydcu"
                || (driver.is_empty() && dir.join("mem_info_vram_total").exists());
            looks_amd.then_some(Card { index, dir, driver })
        })
        .collect();
    cards.sort_by_key(|c| c.index);
    cards
}

fn read_trimmed(path: &Path) -> Result<String, CallError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => CallError::NotSupported,
            _ => CallError::Failed(format!("'{}': {e}", path.display())),
        })
}

fn read_num(path: &Path) -> Result<f64, CallError> {
    let text = read_trimmed(path)?;
    text.parse::<f64>().map_err(|_| {
        CallError::Failed(format!("'{}' holds '{text}', not a number", path.display()))
    })
}

/// The first `hwmon*` directory of a card.
fn hwmon_dir(card: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(card.join("hwmon"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

/// The current level of `pp_dpm_sclk` ("1: 1500Mhz *"), in MHz.
pub fn current_dpm_mhz(text: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.trim_end().ends_with('*'))
        .and_then(|l| {
            let (_, rest) = l.split_once(':')?;
            let num: String = rest
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            num.parse().ok()
        })
}

impl SysfsSource {
    /// Scan `root/class/drm` for amdgpu / hydcu cards.
    pub fn open(cfg: &LocalConfig) -> Result<Box<dyn GpuSource>, Probe> {
        let cards = find_cards(&cfg.sysfs_root);
        if cards.is_empty() {
            return Err(Probe {
                backend: Backend::Sysfs,
                origin: cfg.sysfs_root.join("class/drm").display().to_string(),
                absent: Some("no amdgpu or hydcu card".into()),
                devices: 0,
            });
        }
        Ok(Box::new(SysfsSource {
            root: cfg.sysfs_root.clone(),
            cards,
            unsupported: Unsupported::default(),
        }))
    }
}

impl GpuSource for SysfsSource {
    fn backend(&self) -> Backend {
        Backend::Sysfs
    }

    fn origin(&self) -> String {
        self.root.join("class/drm").display().to_string()
    }

    fn sample(&mut self) -> Result<Vec<GpuSample>, String> {
        let mut out = Vec::new();
        for card in &self.cards {
            out.push(read_card(card, &mut self.unsupported));
        }
        Ok(out)
    }
}

fn read_card(card: &Card, cache: &mut Unsupported) -> GpuSample {
    let d = &card.dir;
    let name = read_trimmed(&d.join("product_name"))
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            read_trimmed(&d.join("device"))
                .ok()
                .map(|id| format!("AMD GPU {id}"))
        })
        .unwrap_or_else(|| format!("card{}", card.index));
    let vendor = if card.driver == "hydcu" {
        Vendor::Hygon
    } else {
        Vendor::Amd
    };
    let key = read_trimmed(&d.join("unique_id"))
        .map(|id| format!("sysfs:{id}"))
        .unwrap_or_else(|_| format!("sysfs:card{}", card.index));
    let mut g = GpuSample::blank(key.clone(), card.index, name, vendor, Backend::Sysfs);
    let num = |cache: &mut Unsupported, field, p: PathBuf| cache.read(&key, field, || read_num(&p));
    g.memory_total_bytes = num(cache, "mem_total", d.join("mem_info_vram_total")).map(|v| v as u64);
    g.memory_used_bytes = num(cache, "mem_used", d.join("mem_info_vram_used")).map(|v| v as u64);
    g.utilization_pct = num(cache, "busy", d.join("gpu_busy_percent"));
    g.sm_clock_mhz = cache.read(&key, "sclk", || {
        let t = read_trimmed(&d.join("pp_dpm_sclk"))?;
        current_dpm_mhz(&t).ok_or(CallError::Failed("no current level in pp_dpm_sclk".into()))
    });
    match hwmon_dir(d) {
        Some(h) => {
            g.power_w = cache.read(&key, "power", || {
                read_num(&h.join("power1_average"))
                    .or_else(|_| read_num(&h.join("power1_input")))
                    .map(|uw| uw / 1e6)
            });
            g.power_limit_w = num(cache, "power_cap", h.join("power1_cap")).map(|uw| uw / 1e6);
            g.temperature_c = num(cache, "temp", h.join("temp1_input")).map(|mc| mc / 1000.0);
            g.sources
                .insert("power, temperature".into(), "sysfs hwmon".into());
        }
        None => {
            let none = Metric::NotSupported;
            g.power_w = none.clone();
            g.temperature_c = none;
        }
    }
    g.unix_time = unix_now();
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpm_current_level() {
        let cases = [
            ("0: 500Mhz\n1: 1500Mhz *\n2: 2100Mhz\n", Some(1500.0)),
            ("0: 500Mhz *\n", Some(500.0)),
            ("0: 500Mhz\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(current_dpm_mhz(text), want, "{text:?}");
        }
    }
}
