//! Remote nodes: scrape a Prometheus page (`tokscope agent` or NVIDIA dcgm-exporter) and turn
//! its `DCGM_FI_DEV_*` and `tokscope_*` series back into [`GpuSample`]s.

use super::{
    unix_now, Backend, DeviceKind, GpuProcess, GpuSample, GpuSource, Metric, UnifiedMemory, Vendor,
};
use crate::protocol::sanitize;
use crate::telemetry::prom::{self, Exposition, Sample};
use std::collections::BTreeMap;
use std::time::Duration;

const MIB: f64 = 1024.0 * 1024.0;

/// Split `[NAME=]URL`; add `http://` and `/metrics` when missing. The default name is the host.
pub fn parse_endpoint(spec: &str) -> Result<(String, String), String> {
    let spec = spec.trim();
    let (name, url) = match spec.split_once('=') {
        Some((n, u)) if !n.contains('/') && !n.contains(':') => (Some(n.trim()), u.trim()),
        _ => (None, spec),
    };
    if url.is_empty() {
        return Err(format!(
            "--gpu-endpoint '{spec}' has no URL; use [NAME=]http://HOST:9400/metrics"
        ));
    }
    let mut url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let parsed = reqwest::Url::parse(&url).map_err(|e| {
        format!("--gpu-endpoint '{spec}': bad URL ({e}); use [NAME=]http://HOST:9400/metrics")
    })?;
    if parsed.path() == "/" || parsed.path().is_empty() {
        url = format!("{}/metrics", url.trim_end_matches('/'));
    }
    let host = parsed.host_str().unwrap_or("remote").to_string();
    let name = name
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or(host);
    Ok((name, url))
}

/// Scrapes one URL with a blocking call on its own small runtime (it runs on a sampler thread).
pub struct RemoteSource {
    node: String,
    url: String,
    timeout: Duration,
    client: reqwest::Client,
    rt: Option<tokio::runtime::Runtime>,
}

impl RemoteSource {
    /// A source for `url`, shown under `node`.
    pub fn new(node: String, url: String, timeout: Duration) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .unwrap_or_default();
        RemoteSource {
            node,
            url,
            timeout,
            client,
            rt,
        }
    }
}

impl GpuSource for RemoteSource {
    fn backend(&self) -> Backend {
        Backend::Remote
    }

    fn origin(&self) -> String {
        self.url.clone()
    }

    fn sample(&mut self) -> Result<Vec<GpuSample>, String> {
        let rt = self
            .rt
            .as_ref()
            .ok_or("cannot start a runtime for remote scraping")?;
        let fetch = async {
            let resp = self
                .client
                .get(&self.url)
                .send()
                .await
                .map_err(|e| format!("'{}': {e}", self.url))?;
            if !resp.status().is_success() {
                return Err(format!("'{}' answered {}", self.url, resp.status()));
            }
            let what = format!("'{}'", self.url);
            crate::protocol::limits::read_whole(
                resp,
                crate::protocol::limits::MAX_METRICS_BODY,
                &what,
            )
            .await
        };
        let text = rt.block_on(async {
            tokio::time::timeout(self.timeout + Duration::from_millis(100), fetch)
                .await
                .unwrap_or_else(|_| Err(format!("'{}' timed out", self.url)))
        })?;
        Ok(from_exposition(&prom::parse(&text), &self.node))
    }
}

/// DCGM marks blank values with numbers near i64::MAX.
fn usable(v: f64) -> bool {
    v.is_finite() && v.abs() < 9.0e18
}

/// Identity of a device on a page: (UUID or gpu index, GPU instance id).
fn device_id(s: &Sample) -> Option<(String, Option<String>)> {
    let uuid = s.label("UUID").or_else(|| s.label("uuid"));
    // Both end up in row keys that are printed.
    let id = sanitize::line(uuid.or_else(|| s.label("gpu"))?).into_owned();
    let gi = s
        .label("GPU_I_ID")
        .filter(|v| !v.is_empty())
        .map(|v| sanitize::line(v).into_owned());
    Some((id, gi))
}

/// Turn a page into samples, one per device (MIG instances after their parent).
pub fn from_exposition(page: &Exposition, node: &str) -> Vec<GpuSample> {
    let mut rows: BTreeMap<(String, Option<String>), GpuSample> = BTreeMap::new();
    let mut order: Vec<(String, Option<String>)> = Vec::new();
    let mut row =
        |s: &Sample, rows: &mut BTreeMap<_, GpuSample>| -> Option<(String, Option<String>)> {
            let id = device_id(s)?;
            if !rows.contains_key(&id) {
                let index = s.label("gpu").and_then(|g| g.parse().ok()).unwrap_or(0);
                // The page's author chose these strings, and the dashboard prints them.
                let name = sanitize::line(
                    s.label("modelName")
                        .or_else(|| s.label("model_name"))
                        .unwrap_or("GPU"),
                )
                .into_owned();
                let key = match &id.1 {
                    Some(gi) => format!("{node}/{}/gi{gi}", id.0),
                    None => format!("{node}/{}", id.0),
                };
                let mut g = GpuSample::blank(key, index, name, Vendor::Nvidia, Backend::Remote);
                g.uuid = s
                    .label("UUID")
                    .or_else(|| s.label("uuid"))
                    .map(|u| sanitize::line(u).into_owned());
                if let Some(gi) = &id.1 {
                    g.kind = DeviceKind::MigInstance {
                        parent: format!("{node}/{}", id.0),
                        gpu_instance_id: gi.parse().ok(),
                        compute_instance_id: s.label("GPU_I_CI").and_then(|c| c.parse().ok()),
                        profile: s
                            .label("GPU_I_PROFILE")
                            .or_else(|| s.label("gpu_i_profile"))
                            .map(|p| sanitize::line(p).into_owned()),
                    };
                    g.utilization_pct = Metric::NotApplicable("MIG".into());
                }
                rows.insert(id.clone(), g);
                order.push(id.clone());
            }
            Some(id)
        };
    let mut fb: BTreeMap<(String, Option<String>), [Option<f64>; 3]> = BTreeMap::new();
    let mut unified: BTreeMap<(String, Option<String>), [Option<f64>; 5]> = BTreeMap::new();
    for s in page.samples() {
        if !usable(s.value) {
            continue;
        }
        let relevant = s.name.starts_with("DCGM_FI_") || s.name.starts_with("tokscope_");
        if !relevant {
            continue;
        }
        let Some(id) = row(s, &mut rows) else {
            continue;
        };
        let Some(g) = rows.get_mut(&id) else { continue };
        let v = s.value;
        match s.name.as_str() {
            "DCGM_FI_DEV_FB_USED" => fb.entry(id).or_default()[0] = Some(v),
            "DCGM_FI_DEV_FB_FREE" => fb.entry(id).or_default()[1] = Some(v),
            "DCGM_FI_DEV_FB_RESERVED" => fb.entry(id).or_default()[2] = Some(v),
            "DCGM_FI_DEV_GPU_UTIL" => g.utilization_pct = Metric::Value(v),
            "DCGM_FI_DEV_POWER_USAGE" => g.power_w = Metric::Value(v),
            "DCGM_FI_DEV_POWER_MGMT_LIMIT" | "DCGM_FI_DEV_ENFORCED_POWER_LIMIT" => {
                g.power_limit_w = Metric::Value(v)
            }
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" => g.energy_mj = Metric::Value(v as u64),
            "DCGM_FI_DEV_GPU_TEMP" => g.temperature_c = Metric::Value(v),
            "DCGM_FI_DEV_SM_CLOCK" => g.sm_clock_mhz = Metric::Value(v),
            "tokscope_unified_memory_total_bytes" => unified.entry(id).or_default()[0] = Some(v),
            "tokscope_unified_memory_used_bytes" => unified.entry(id).or_default()[1] = Some(v),
            "tokscope_unified_memory_available_bytes" => {
                unified.entry(id).or_default()[2] = Some(v)
            }
            "tokscope_unified_swap_free_bytes" => unified.entry(id).or_default()[3] = Some(v),
            "tokscope_gpu_process_memory_used_bytes" => unified.entry(id).or_default()[4] = Some(v),
            "tokscope_process_gpu_memory_bytes" => {
                let p = GpuProcess {
                    pid: s.label("pid").and_then(|p| p.parse().ok()).unwrap_or(0),
                    name: s.label("comm").map(|c| sanitize::line(c).into_owned()),
                    used_bytes: Some(v as u64),
                    gpu_instance_id: s.label("gpu_i_id").and_then(|x| x.parse().ok()),
                };
                match &mut g.processes {
                    Metric::Value(ps) => ps.push(p),
                    other => *other = Metric::Value(vec![p]),
                }
            }
            "tokscope_device_info" => {
                g.vendor = match s.label("vendor") {
                    Some("amd") => Vendor::Amd,
                    Some("hygon") => Vendor::Hygon,
                    Some("nvidia") => Vendor::Nvidia,
                    _ => g.vendor,
                };
                if let Some(b) = s.label("backend") {
                    g.sources
                        .insert("remote backend".into(), sanitize::line(b).into_owned());
                }
                if s.label("memory_type") == Some("unified") {
                    g.kind = DeviceKind::Unified;
                }
            }
            _ => {}
        }
    }
    for (id, [used, free, reserved]) in fb {
        let Some(g) = rows.get_mut(&id) else { continue };
        if let Some(u) = used {
            g.memory_used_bytes = Metric::Value((u * MIB) as u64);
            if let Some(f) = free {
                g.memory_total_bytes =
                    Metric::Value(((u + f + reserved.unwrap_or(0.0)) * MIB) as u64);
            }
        }
    }
    for (id, [total, used, avail, swap, held]) in unified {
        let Some(g) = rows.get_mut(&id) else { continue };
        let m = |v: Option<f64>| {
            v.map(|x| Metric::Value(x as u64))
                .unwrap_or(Metric::NotSupported)
        };
        // Host-memory series exist only for unified-memory GPUs; `held` alone is a discrete GPU.
        if total.is_some() {
            g.kind = DeviceKind::Unified;
            g.unified = Some(UnifiedMemory {
                gpu_held_bytes: m(held),
                host_total_bytes: m(total),
                host_used_bytes: m(used),
                host_available_bytes: m(avail),
                swap_free_bytes: m(swap),
            });
        }
    }
    // MIG parents: count their instances; put instances right after their parent.
    let mut out: Vec<GpuSample> = Vec::new();
    let parents: Vec<&(String, Option<String>)> =
        order.iter().filter(|id| id.1.is_none()).collect();
    for pid in &parents {
        let instances: Vec<&(String, Option<String>)> = order
            .iter()
            .filter(|id| id.0 == pid.0 && id.1.is_some())
            .collect();
        if let Some(mut p) = rows.get(*pid).cloned() {
            if !instances.is_empty() {
                p.kind = DeviceKind::MigParent {
                    instances: instances.len() as u32,
                };
                if p.utilization_pct == Metric::NotSupported {
                    p.utilization_pct = Metric::NotApplicable("MIG".into());
                }
            }
            out.push(p);
        }
        out.extend(instances.iter().filter_map(|id| rows.get(*id).cloned()));
    }
    // Instances whose parent has no series of its own.
    for id in order.iter().filter(|id| id.1.is_some()) {
        if !parents.iter().any(|p| p.0 == id.0) {
            if let Some(r) = rows.get(id) {
                out.push(r.clone());
            }
        }
    }
    let now = unix_now();
    for g in &mut out {
        g.unix_time = now;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_specs() {
        let cases = [
            (
                "spark-b=http://10.0.0.2:9400",
                ("spark-b", "http://10.0.0.2:9400/metrics"),
            ),
            (
                "http://10.0.0.2:9400/metrics",
                ("10.0.0.2", "http://10.0.0.2:9400/metrics"),
            ),
            ("gpu-box:9400", ("gpu-box", "http://gpu-box:9400/metrics")),
            (
                "b=https://h/x/metrics?a=b",
                ("b", "https://h/x/metrics?a=b"),
            ),
        ];
        for (spec, (name, url)) in cases {
            let got = parse_endpoint(spec).unwrap();
            assert_eq!((got.0.as_str(), got.1.as_str()), (name, url), "{spec}");
        }
        assert!(parse_endpoint("x=").unwrap_err().contains("has no URL"));
    }

    #[test]
    fn sentinel_values_are_missing_not_numbers() {
        let page = prom::parse(
            "DCGM_FI_DEV_MEMORY_TEMP{gpu=\"0\",UUID=\"GPU-1\"} 9223372036854775794\n\
             DCGM_FI_DEV_GPU_TEMP{gpu=\"0\",UUID=\"GPU-1\"} 9223372036854775794\n\
             DCGM_FI_DEV_POWER_USAGE{gpu=\"0\",UUID=\"GPU-1\"} 55.5\n",
        );
        let rows = from_exposition(&page, "n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].temperature_c, Metric::NotSupported);
        assert_eq!(rows[0].power_w, Metric::Value(55.5));
    }

    #[test]
    fn strings_from_the_page_are_safe_to_print() {
        let page = prom::parse(
            "DCGM_FI_DEV_GPU_TEMP{gpu=\"0\",UUID=\"GPU-\u{1b}[2J\",modelName=\"\u{1b}]0;pwned\u{7}H100\"} 40\n\
             tokscope_process_gpu_memory_bytes{gpu=\"0\",UUID=\"GPU-\u{1b}[2J\",pid=\"1\",comm=\"x\u{1b}[31m\"} 1\n",
        );
        let rows = from_exposition(&page, "n");
        assert_eq!(rows[0].name, "^[]0;pwned^GH100");
        assert_eq!(rows[0].key, "n/GPU-^[[2J");
        let Metric::Value(ps) = &rows[0].processes else {
            panic!("no processes: {:?}", rows[0].processes)
        };
        assert_eq!(ps[0].name.as_deref(), Some("x^[[31m"));
    }
}
