//! Hygon DCUs through `hy-smi --json`, the last resort when neither ROCm SMI nor sysfs works.
//! It forks a process, so it runs at most once every 2 s and reuses the last answer between.

use super::{unix_now, Backend, GpuSample, GpuSource, LocalConfig, Metric, Probe, Vendor};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const MIN_GAP: Duration = Duration::from_secs(2);
const ARGS: [&str; 6] = [
    "--showuse",
    "--showmemuse",
    "--showtemp",
    "--showpower",
    "--showproductname",
    "--json",
];

/// The hy-smi source.
pub struct HySmiSource {
    program: PathBuf,
    last: Option<(Instant, Vec<GpuSample>)>,
}

fn run(program: &PathBuf) -> Result<String, String> {
    let out = Command::new(program)
        .args(ARGS)
        .output()
        .map_err(|e| format!("cannot run '{}': {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "'{}' exited with {}: {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A number from a JSON value that may be a string ("35.0") or a number.
fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    }
}

/// Find the first key of `obj` that contains every word in `words` (hy-smi key names vary
/// between DTK versions).
fn field<'a>(obj: &'a serde_json::Map<String, Value>, words: &[&str]) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| words.iter().all(|w| k.to_lowercase().contains(w)))
        .map(|(_, v)| v)
}

/// Parse `hy-smi --json` output: `{"card0": {...}, "card1": {...}}`.
pub fn parse(text: &str) -> Result<Vec<GpuSample>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("hy-smi JSON: {e}"))?;
    let top = v.as_object().ok_or("hy-smi JSON is not an object")?;
    let mut cards: Vec<(u32, &serde_json::Map<String, Value>)> = top
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("card")?.parse().ok()?, v.as_object()?)))
        .collect();
    cards.sort_by_key(|(i, _)| *i);
    let to_metric = |x: Option<f64>| x.map(Metric::Value).unwrap_or(Metric::NotSupported);
    Ok(cards
        .into_iter()
        .map(|(i, c)| {
            let name = field(c, &["card series"])
                .or_else(|| field(c, &["product"]))
                .and_then(|v| v.as_str())
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| format!("DCU {i}"));
            let mut g = GpuSample::blank(
                format!("hy-smi:card{i}"),
                i,
                name,
                Vendor::Hygon,
                Backend::HySmi,
            );
            g.utilization_pct = to_metric(num(field(c, &["dcu use"])));
            g.temperature_c = to_metric(
                num(field(c, &["temperature", "junction"])).or(num(field(c, &["temperature"]))),
            );
            g.power_w = to_metric(num(field(c, &["power", "(w)"])));
            if let Some(pct) = num(field(c, &["memory use"])) {
                g.sources.insert(
                    "memory".into(),
                    format!("hy-smi reports {pct}% used, no bytes"),
                );
            }
            g.unix_time = unix_now();
            g
        })
        .collect())
}

impl HySmiSource {
    /// Run hy-smi once; absent if it cannot run or lists no card.
    pub fn open(cfg: &LocalConfig) -> Result<Box<dyn GpuSource>, Probe> {
        let absent = |why: String| Probe {
            backend: Backend::HySmi,
            origin: cfg.hy_smi.display().to_string(),
            absent: Some(why),
            devices: 0,
        };
        let text = run(&cfg.hy_smi).map_err(absent)?;
        let rows = parse(&text).map_err(absent)?;
        if rows.is_empty() {
            return Err(absent("hy-smi lists no card".into()));
        }
        Ok(Box::new(HySmiSource {
            program: cfg.hy_smi.clone(),
            last: Some((Instant::now(), rows)),
        }))
    }
}

impl GpuSource for HySmiSource {
    fn backend(&self) -> Backend {
        Backend::HySmi
    }

    fn origin(&self) -> String {
        self.program.display().to_string()
    }

    fn sample(&mut self) -> Result<Vec<GpuSample>, String> {
        if let Some((at, rows)) = &self.last {
            if at.elapsed() < MIN_GAP {
                return Ok(rows.clone());
            }
        }
        let rows = parse(&run(&self.program)?)?;
        self.last = Some((Instant::now(), rows.clone()));
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hy_smi_json_keys() {
        let text = r#"{"card1": {"Card Series": "K100_AI", "DCU use (%)": "37",
            "Temperature (Sensor junction) (C)": "52.0",
            "Average Graphics Package Power (W)": "181.0", "DCU memory use (%)": "64"},
            "card0": {"Card Series": "K100_AI", "DCU use (%)": 0}}"#;
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].index, 0);
        assert_eq!(rows[0].power_w, Metric::NotSupported);
        assert_eq!(rows[1].name, "K100_AI");
        assert_eq!(rows[1].utilization_pct, Metric::Value(37.0));
        assert_eq!(rows[1].temperature_c, Metric::Value(52.0));
        assert_eq!(rows[1].power_w, Metric::Value(181.0));
        assert_eq!(rows[1].memory_used_bytes, Metric::NotSupported);
        assert!(parse("not json").is_err());
    }
}
