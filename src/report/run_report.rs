//! The run report: one typed, serialisable record of a finished run. `bench`, the dashboard's
//! quit and its `s` key write it; `report` reads it back with the same type. The vLLM keys sit
//! at the top level with `vllm bench serve`'s names and meanings (so scripts written for its
//! `--save-result` files read ours), tokscope's extras under `"tokscope"`.
//!
//! Every figure is an `Option` so that what was never measured loads as `None`, not as a made-up
//! zero: older tokscope results and vLLM's own files load with the same type.

use crate::metrics::latency::{percentile_word, LatencyMetric};
use crate::telemetry::gpu::{GpuRunStats, GpuRunSummary};
use crate::telemetry::server_metrics::ServerRunStats;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// A finished run, as its result file holds it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunReport {
    /// `YYYYMMDD-HHMMSS`, local time at the start.
    pub date: Option<String>,
    pub endpoint_type: Option<String>,
    pub backend: Option<String>,
    pub label: Option<String>,
    pub model_id: Option<String>,
    pub tokenizer_id: Option<String>,
    pub num_prompts: Option<u64>,
    /// The request rate at the end of the run (keys may have changed it mid-run).
    pub request_rate: Option<Rate>,
    pub burstiness: Option<f64>,
    pub max_concurrency: Option<u32>,
    /// Seconds of the timed run.
    pub duration: Option<f64>,
    pub completed: Option<u64>,
    pub failed: Option<u64>,
    pub total_input_tokens: Option<u64>,
    pub total_output_tokens: Option<u64>,
    pub request_throughput: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_goodput: Option<f64>,
    pub output_throughput: Option<f64>,
    pub total_token_throughput: Option<f64>,
    pub max_output_tokens_per_s: Option<f64>,
    pub max_concurrent_requests: Option<u64>,
    /// vLLM's ramp-up keys, when the rate climbed over the run (`request_rate` is then "inf").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up_strategy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up_start_rps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up_end_rps: Option<f64>,
    /// `mean_ttft_ms`, `p99_itl_ms`, ...: one entry per metric present.
    #[serde(flatten)]
    pub latency: Latencies,
    /// vLLM's per-request lists (`--save-detailed`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub detailed: Option<DetailedLists>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokscope: Option<Extras>,
    /// `--metadata KEY=VALUE` pairs, and any other scalar top-level key a file carries.
    #[serde(flatten)]
    pub metadata: Metadata,
}

/// A request rate: requests per second, or unlimited (`"inf"` in the file, as vLLM writes it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    Unlimited,
}

impl Rate {
    pub fn from_option(r: Option<f64>) -> Rate {
        r.map_or(Rate::Unlimited, Rate::PerSecond)
    }
    /// Requests per second, `None` when unlimited.
    pub fn per_second(self) -> Option<f64> {
        match self {
            Rate::PerSecond(r) => Some(r),
            Rate::Unlimited => None,
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rate::PerSecond(r) => s.serialize_f64(*r),
            Rate::Unlimited => s.serialize_str("inf"),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_f64()
                .map(Rate::PerSecond)
                .ok_or_else(|| de::Error::custom("request_rate is not a number")),
            Value::String(s) if s.eq_ignore_ascii_case("inf") || s == "Infinity" => {
                Ok(Rate::Unlimited)
            }
            other => Err(de::Error::custom(format!(
                "request_rate must be a number or \"inf\", not {other}"
            ))),
        }
    }
}

/// One latency distribution as the file holds it (milliseconds, rounded to 0.001).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatencyFigures {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub std: Option<f64>,
    /// (percentile, value), in the order of `--metric-percentiles`.
    pub percentiles: Vec<(f64, f64)>,
}

impl LatencyFigures {
    /// The value at percentile `p`, if the file has it.
    pub fn p(&self, p: f64) -> Option<f64> {
        self.percentiles
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-9)
            .map(|(_, v)| *v)
    }
}

/// The latency keys of a result, by metric.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Latencies(pub BTreeMap<LatencyMetric, LatencyFigures>);

impl Latencies {
    pub fn get(&self, m: LatencyMetric) -> Option<&LatencyFigures> {
        self.0.get(&m)
    }
}

/// What a latency key names: `p99_ttft_ms` is (Percentile(99), Ttft).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Statistic {
    Mean,
    Median,
    Std,
    Percentile(f64),
}

fn parse_latency_key(key: &str) -> Option<(Statistic, LatencyMetric)> {
    let rest = key.strip_suffix("_ms")?;
    let (stat, metric) = rest.rsplit_once('_')?;
    let metric = LatencyMetric::ALL.into_iter().find(|m| m.key() == metric)?;
    let stat = match stat {
        "mean" => Statistic::Mean,
        "median" => Statistic::Median,
        "std" => Statistic::Std,
        p => Statistic::Percentile(p.strip_prefix('p')?.parse().ok()?),
    };
    Some((stat, metric))
}

impl Serialize for Latencies {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (m, f) in &self.0 {
            let k = m.key();
            map.serialize_entry(&format!("mean_{k}_ms"), &f.mean)?;
            map.serialize_entry(&format!("median_{k}_ms"), &f.median)?;
            map.serialize_entry(&format!("std_{k}_ms"), &f.std)?;
            for (p, v) in &f.percentiles {
                map.serialize_entry(&format!("p{}_{k}_ms", percentile_word(*p)), v)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Latencies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Latencies, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Latencies;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("latency keys such as mean_ttft_ms")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Latencies, A::Error> {
                let mut out = Latencies::default();
                while let Some(key) = a.next_key::<String>()? {
                    let Some((stat, metric)) = parse_latency_key(&key) else {
                        a.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    let Some(v) = a.next_value::<Option<f64>>().ok().flatten() else {
                        continue;
                    };
                    let f = out.0.entry(metric).or_default();
                    match stat {
                        Statistic::Mean => f.mean = Some(v),
                        Statistic::Median => f.median = Some(v),
                        Statistic::Std => f.std = Some(v),
                        Statistic::Percentile(p) => f.percentiles.push((p, v)),
                    }
                }
                for f in out.0.values_mut() {
                    f.percentiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Other scalar top-level keys: `--metadata` pairs, and keys of files written by other tools.
/// Latency keys and lists (vLLM's `generated_texts`) are not kept here.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Metadata(pub BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Metadata, D::Error> {
        let all = BTreeMap::<String, Value>::deserialize(d)?;
        Ok(Metadata(
            all.into_iter()
                .filter(|(k, v)| {
                    parse_latency_key(k).is_none()
                        && !matches!(v, Value::Array(_) | Value::Object(_))
                })
                .collect(),
        ))
    }
}

/// vLLM's per-request lists.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DetailedLists {
    pub input_lens: Vec<u64>,
    pub output_lens: Vec<u64>,
    pub ttfts: Vec<f64>,
    pub itls: Vec<Vec<f64>>,
    #[serde(default)]
    pub start_times: Vec<f64>,
    #[serde(default)]
    pub errors: Vec<String>,
}

/// What tokscope adds, under `"tokscope"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Extras {
    pub version: Option<String>,
    pub interrupted: bool,
    /// Why the run could not go on, when it could not.
    pub fatal: Option<String>,
    pub input_throughput: Option<f64>,
    /// Every token that arrived, completed requests or not (vLLM's keys count only completed
    /// ones); a run cut short keeps what its unfinished requests received.
    pub received: Option<Received>,
    pub incomplete: Option<Incomplete>,
    pub token_counts: Option<TokenCounts>,
    pub client_queue: Option<ClientQueue>,
    pub warmups: Option<u64>,
    /// Sent once more on a new connection after a pooled one died before answering.
    pub retried: Option<u64>,
    /// What the server said about each request (llama.cpp): null when it never said.
    pub cached_prompt_tokens: Option<u64>,
    pub server_timings: Option<ServerTimings>,
    pub errors: Vec<ErrorEntry>,
    pub per_second: Vec<SecondRow>,
    pub timeline: Vec<TimelineRow>,
    /// The flags that shaped the run (sanitised: never the API key).
    pub config: Value,
    pub requests_log: Option<String>,
    pub requests_log_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerRunStats>,
    /// With `--goodput`: the share of timed requests that met every SLO (percent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo_attainment_pct: Option<f64>,
    /// What the prompts' source used and did: dataset, how lengths were counted, calibrations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<crate::load::workload::WorkloadInfo>,
    /// The server's own figures, one point per scrape (its counters as rates, its gauges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_series: Option<Vec<crate::telemetry::server_metrics::ServerPoint>>,
    /// Our TTFT and token count beside the server's over the same span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_vs_server: Option<crate::report::client_vs_server::Comparison>,
    /// "watch" for a run tokscope only watched (no load of its own); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The `/metrics` pages a watched run read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Received {
    pub output_tokens: u64,
    pub input_tokens: u64,
    pub output_throughput: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Incomplete {
    pub requests: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenCounts {
    pub output_from_usage: u64,
    pub output_from_chunks: u64,
    pub reasoning_chunks: u64,
}

/// Time requests waited in the client for a free slot (milliseconds).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientQueue {
    pub mean_ms: f64,
    pub median_ms: f64,
    pub p99_ms: Option<f64>,
}

/// The server's own per-request prefill and decode speeds (means over successful requests).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerTimings {
    pub requests: u64,
    pub mean_prefill_tok_s: Option<f64>,
    pub mean_decode_tok_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorEntry {
    pub kind: String,
    pub count: u64,
    pub samples: Vec<String>,
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecondRow {
    /// Seconds since the timed run started (the row covers `[t, t+1)`).
    pub t: u64,
    pub output_tokens: u64,
    pub input_tokens: u64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub peak_in_flight: u32,
    /// Mean of each latency in this second (milliseconds): TTFT, TTFO and ITL by when the
    /// token arrived, TPOT and E2EL by when the request completed; only metrics with a sample.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mean_ms: BTreeMap<LatencyMetric, f64>,
    /// All GPUs' power in this second (the GPU window opens with the timed run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_power_w: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TimelineRow {
    pub t: f64,
    pub what: String,
}

/// The GPUs over the timed window, with energy per output token.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuReport {
    pub gpus: Vec<GpuReportEntry>,
    pub total_energy_j: Option<f64>,
    pub joules_per_output_token: Option<f64>,
    /// All GPUs' mean power together over the window (W), when any reported power.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuReportEntry {
    #[serde(flatten)]
    pub stats: GpuRunStats,
    #[serde(default)]
    pub joules_per_output_token: Option<f64>,
}

impl GpuReport {
    /// The GPU block for a run whose GPUs produced `output_tokens` (every token received).
    pub fn new(g: &GpuRunSummary, output_tokens: u64) -> GpuReport {
        let mut report = GpuReport {
            gpus: g
                .gpus
                .iter()
                .map(|stats| GpuReportEntry {
                    stats: stats.clone(),
                    joules_per_output_token: stats.joules_per_output_token(output_tokens),
                })
                .collect(),
            total_energy_j: g.total_energy_j,
            joules_per_output_token: g.joules_per_output_token(output_tokens),
            power_w: None,
        };
        report.power_w = report.total_avg_power_w();
        report
    }

    /// Sum of the GPUs' average power (W), when any reported one.
    pub fn total_avg_power_w(&self) -> Option<f64> {
        let mut it = self
            .gpus
            .iter()
            .filter_map(|g| g.stats.avg_power_w)
            .peekable();
        it.peek()?;
        Some(it.sum())
    }

    /// Sum of the GPUs' peak power (W), when any reported one.
    pub fn total_peak_power_w(&self) -> Option<f64> {
        let mut it = self
            .gpus
            .iter()
            .filter_map(|g| g.stats.peak_power_w)
            .peekable();
        it.peek()?;
        Some(it.sum())
    }
}

/// Why a file could not be read as a result.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("not JSON: {0}")]
    Json(serde_json::Error),
    #[error("not a result file: {0}")]
    NotAResult(String),
}

impl RunReport {
    /// Read a result from text: a tokscope result, an older one, or a `vllm bench serve
    /// --save-result` file. Python's bare `Infinity`/`NaN` (which `json.dump` writes) are read
    /// as "inf" and null.
    pub fn from_json_text(text: &str) -> Result<RunReport, LoadError> {
        let cleaned = python_json_to_json(text);
        let value: Value = serde_json::from_str(&cleaned).map_err(LoadError::Json)?;
        let Value::Object(obj) = &value else {
            return Err(LoadError::NotAResult(
                "the top level is not an object".into(),
            ));
        };
        let has = |k: &str| obj.contains_key(k);
        if !(has("completed") || has("output_throughput") || has("tokscope")) {
            return Err(LoadError::NotAResult(
                "it has none of completed, output_throughput or tokscope".into(),
            ));
        }
        serde_json::from_value(value).map_err(|e| LoadError::NotAResult(e.to_string()))
    }

    /// Read a result file.
    pub fn load(path: &std::path::Path) -> Result<RunReport, LoadError> {
        let text = std::fs::read_to_string(path)?;
        Self::from_json_text(&text)
    }

    /// Whether tokscope wrote it (other files are vLLM's or another tool's).
    pub fn is_tokscope(&self) -> bool {
        self.tokscope.is_some()
    }

    /// Every token that arrived (tokscope) or, for other files, the completed requests' tokens.
    pub fn received_output_tokens(&self) -> Option<u64> {
        self.tokscope
            .as_ref()
            .and_then(|t| t.received.as_ref())
            .map(|r| r.output_tokens)
            .or(self.total_output_tokens)
    }
}

/// Replace Python's non-JSON number words outside strings: `Infinity` and `-Infinity` become
/// the string "inf"/"-inf", `NaN` becomes null.
fn python_json_to_json(text: &str) -> std::borrow::Cow<'_, str> {
    if !(text.contains("Infinity") || text.contains("NaN")) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let swap = [
            ("-Infinity", "\"-inf\""),
            ("Infinity", "\"inf\""),
            ("NaN", "null"),
        ]
        .into_iter()
        .find(|(w, _)| rest.starts_with(w));
        if let Some((word, with)) = swap {
            out.push_str(with);
            rest = &rest[word.len()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_keys_parse() {
        assert_eq!(
            parse_latency_key("p99.9_itl_ms"),
            Some((Statistic::Percentile(99.9), LatencyMetric::Itl))
        );
        assert_eq!(
            parse_latency_key("mean_e2el_ms"),
            Some((Statistic::Mean, LatencyMetric::E2el))
        );
        assert_eq!(parse_latency_key("mean_ttft"), None);
        assert_eq!(parse_latency_key("max_output_tokens_per_s"), None);
        assert_eq!(parse_latency_key("pxx_ttft_ms"), None);
    }

    #[test]
    fn a_vllm_file_loads_with_missing_figures_as_none() {
        let text = r#"{"date": "20250101-120000", "backend": "vllm", "model_id": "m",
            "request_rate": "inf", "burstiness": 1.0, "max_concurrency": 8, "completed": 100,
            "total_input_tokens": 1000, "total_output_tokens": 2000, "request_throughput": 3.5,
            "output_throughput": 700.0, "mean_ttft_ms": 50.0, "median_ttft_ms": 45.0,
            "std_ttft_ms": 5.0, "p99_ttft_ms": 80.0, "p50_ttft_ms": 45.0,
            "generated_texts": ["a", "b"], "gpu": "H100", "extra": NaN, "rate2": Infinity}"#;
        let r = RunReport::from_json_text(text).expect("loads");
        assert_eq!(r.completed, Some(100));
        assert_eq!(r.failed, None);
        assert_eq!(r.request_rate, Some(Rate::Unlimited));
        assert_eq!(r.max_output_tokens_per_s, None);
        assert!(r.tokscope.is_none());
        let ttft = r.latency.get(LatencyMetric::Ttft).expect("ttft");
        assert_eq!(ttft.mean, Some(50.0));
        assert_eq!(ttft.percentiles, vec![(50.0, 45.0), (99.0, 80.0)]);
        assert!(r.latency.get(LatencyMetric::Tpot).is_none());
        assert_eq!(r.metadata.0.get("gpu"), Some(&Value::from("H100")));
        assert!(!r.metadata.0.contains_key("generated_texts"));
        assert!(!r.metadata.0.contains_key("mean_ttft_ms"));
        assert_eq!(r.metadata.0.get("rate2"), Some(&Value::from("inf")));
    }

    #[test]
    fn not_results_are_refused_with_the_reason() {
        let e = |t: &str| {
            RunReport::from_json_text(t)
                .expect_err("refused")
                .to_string()
        };
        assert!(e("[1, 2]").contains("not an object"), "{}", e("[1, 2]"));
        assert!(e(r#"{"a": 1}"#).contains("none of completed"));
        assert!(e(r#"{"completed": 3"#).starts_with("not JSON"));
        assert!(e(r#"{"completed": "three"}"#).starts_with("not a result file"));
    }

    #[test]
    fn infinity_inside_strings_is_kept() {
        assert_eq!(
            python_json_to_json(r#"{"a": "NaN Infinity \"NaN\"", "b": -Infinity}"#),
            r#"{"a": "NaN Infinity \"NaN\"", "b": "-inf"}"#
        );
    }
}
