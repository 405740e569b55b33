//! Result files: the JSON `--save-result` writes, readable by scripts written for
//! `vllm bench serve` (same keys, same meaning), with tokscope's extras under `"tokscope"`.

use crate::metrics::recorder::RecorderOutcome;
use crate::metrics::snapshot::{LatencySet, Snapshot};
use crate::report::summary::Summary;
use anyhow::Context;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Facts about the run's configuration for the result header. Never holds the API key.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    /// `YYYYMMDD-HHMMSS`, local time at the start.
    pub date: String,
    pub endpoint_type: String,
    pub label: Option<String>,
    pub model_id: String,
    pub tokenizer_id: Option<String>,
    pub num_prompts: Option<u64>,
    pub request_rate: Option<f64>,
    pub burstiness: f64,
    pub max_concurrency: Option<u32>,
    pub metadata: Vec<(String, String)>,
    /// The flags that shaped the run (sanitised), for the `tokscope.config` block.
    pub config: Value,
}

/// The default file name, in the spirit of vLLM's: `tokscope-{rate}qps-concurrency{N}-{model}-{date}.json`.
pub fn default_filename(meta: &RunMeta) -> String {
    let rate = meta
        .request_rate
        .map(|r| format!("{r}"))
        .unwrap_or_else(|| "inf".into());
    let conc = meta
        .max_concurrency
        .map(|c| format!("-concurrency{c}"))
        .unwrap_or_default();
    let model: String = meta
        .model_id
        .rsplit('/')
        .next()
        .unwrap_or("model")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tokscope-{rate}qps{conc}-{model}-{}.json", meta.date)
}

fn latency_keys(m: &mut Map<String, Value>, set: &LatencySet) {
    let r2 = |v: f64| (v * 1000.0).round() / 1000.0;
    for (name, d) in set.named() {
        m.insert(format!("mean_{name}_ms"), json!(r2(d.mean)));
        m.insert(format!("median_{name}_ms"), json!(r2(d.median)));
        m.insert(format!("std_{name}_ms"), json!(r2(d.std)));
        for (p, v) in &d.percentiles {
            let pw = if p.fract() == 0.0 {
                format!("{}", *p as i64)
            } else {
                format!("{p}")
            };
            m.insert(format!("p{pw}_{name}_ms"), json!(r2(*v)));
        }
    }
}

/// The result object. `gpu` is the GPU block (per-GPU power, energy, J/token), if any.
pub fn build(meta: &RunMeta, sum: &Summary, out: &RecorderOutcome, gpu: Option<Value>) -> Value {
    let s: &Snapshot = &out.snapshot;
    let mut m = Map::new();
    m.insert("date".into(), json!(meta.date));
    m.insert("endpoint_type".into(), json!(meta.endpoint_type));
    m.insert("backend".into(), json!("tokscope"));
    m.insert("label".into(), json!(meta.label));
    m.insert("model_id".into(), json!(meta.model_id));
    m.insert("tokenizer_id".into(), json!(meta.tokenizer_id));
    m.insert(
        "num_prompts".into(),
        json!(meta.num_prompts.unwrap_or(s.counts.sent)),
    );
    for (k, v) in &meta.metadata {
        m.insert(k.clone(), json!(v));
    }
    // The load at the end of the run: keys in the dashboard may have changed it (the timeline
    // below says when); the flags as given stay in `tokscope.config`.
    m.insert(
        "request_rate".into(),
        s.control
            .request_rate
            .map(|r| json!(r))
            .unwrap_or_else(|| json!("inf")),
    );
    m.insert("burstiness".into(), json!(meta.burstiness));
    m.insert("max_concurrency".into(), json!(s.control.max_concurrency));
    m.insert("duration".into(), json!(sum.duration_s));
    m.insert("completed".into(), json!(sum.completed));
    m.insert("failed".into(), json!(sum.failed));
    m.insert("total_input_tokens".into(), json!(sum.total_input_tokens));
    m.insert("total_output_tokens".into(), json!(sum.total_output_tokens));
    m.insert("request_throughput".into(), json!(sum.request_throughput));
    if let Some(g) = sum.request_goodput {
        m.insert("request_goodput".into(), json!(g));
    }
    m.insert("output_throughput".into(), json!(sum.output_throughput));
    m.insert(
        "total_token_throughput".into(),
        json!(sum.total_token_throughput),
    );
    m.insert(
        "max_output_tokens_per_s".into(),
        json!(sum.max_output_tokens_per_s),
    );
    m.insert(
        "max_concurrent_requests".into(),
        json!(sum.max_concurrent_requests),
    );
    latency_keys(&mut m, &s.whole);
    if let Some(d) = &out.detailed {
        m.insert("input_lens".into(), json!(d.input_lens));
        m.insert("output_lens".into(), json!(d.output_lens));
        m.insert("ttfts".into(), json!(d.ttfts));
        m.insert("itls".into(), json!(d.itls));
        m.insert("start_times".into(), json!(d.start_times));
        m.insert("errors".into(), json!(d.errors));
    }

    let series: Vec<Value> = s
        .series
        .iter()
        .map(|(i, b)| {
            json!({"t": i, "output_tokens": b.output_tokens, "input_tokens": b.input_tokens,
                   "sent": b.sent, "ok": b.ok, "failed": b.failed, "peak_in_flight": b.peak_in_flight})
        })
        .collect();
    let errors: Vec<Value> = s
        .errors
        .iter()
        .map(|e| json!({"kind": e.kind.label(), "count": e.count, "samples": e.samples}))
        .collect();
    let mut ts = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "interrupted": s.interrupted,
        "fatal": s.fatal,
        "input_throughput": sum.input_throughput,
        // Every token that arrived, completed requests or not (vLLM's keys above count only
        // completed ones); a run cut short keeps what its unfinished requests received.
        "received": {
            "output_tokens": s.counts.received_output_tokens,
            "input_tokens": s.counts.received_input_tokens,
            "output_throughput": sum.received_output_throughput,
        },
        "incomplete": {
            "requests": s.counts.incomplete,
            "output_tokens": s.counts.incomplete_output_tokens,
        },
        "token_counts": {
            "output_from_usage": s.counts.output_from_usage,
            "output_from_chunks": s.counts.output_from_chunks,
            "reasoning_chunks": s.counts.reasoning_chunks,
        },
        "client_queue": {
            "mean_ms": s.whole.queue.mean, "median_ms": s.whole.queue.median,
            "p99_ms": s.whole.queue.p(99.0),
        },
        "warmups": s.counts.warmups,
        // Sent once more on a new connection after a pooled one died before answering.
        "retried": s.counts.retried,
        // What the server said about each request (llama.cpp): null when it never said.
        "cached_prompt_tokens": s.counts.server_said.cached(),
        "server_timings": server_timings(s),
        "errors": errors,
        "per_second": series,
        "timeline": s.timeline.iter().map(|t| json!({"t": t.at.as_secs_f64(), "what": t.what})).collect::<Vec<_>>(),
        "config": meta.config,
        "requests_log": out.jsonl.as_ref().map(|p| p.display().to_string()),
        "requests_log_error": out.jsonl_error,
    });
    if let (Some(g), Some(obj)) = (gpu, ts.as_object_mut()) {
        obj.insert("gpu".into(), g);
    }
    m.insert("tokscope".into(), ts);
    Value::Object(m)
}

/// The server's own per-request prefill and decode speeds (means over successful requests),
/// or null when it sent none.
fn server_timings(s: &Snapshot) -> Value {
    let t = &s.counts.server_said;
    if t.prefill_requests == 0 && t.decode_requests == 0 {
        return Value::Null;
    }
    json!({
        "requests": t.prefill_requests.max(t.decode_requests),
        "mean_prefill_tok_s": t.mean_prefill_tok_s(),
        "mean_decode_tok_s": t.mean_decode_tok_s(),
    })
}

/// Write `value` to `path` atomically (a temporary file renamed into place), so a crash or a
/// full disk never leaves a half-written result where a valid one was expected.
pub fn write_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the result directory '{}'", dir.display()))?;
    }
    let tmp = path.with_extension("json.partial");
    let text = serde_json::to_vec_pretty(value).context("cannot serialise the result")?;
    std::fs::write(&tmp, text).with_context(|| format!("cannot write '{}'", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        format!(
            "cannot move '{}' into place as '{}'",
            tmp.display(),
            path.display()
        )
    })?;
    Ok(())
}

/// Write the result at the end of a run and say where it went (stderr). Returns false when
/// the file could not be written; the summary already printed is complete either way.
pub fn write_and_report(paths: &ResultPaths, value: &Value) -> bool {
    match write_json(&paths.json, value) {
        Ok(()) => {
            crate::console::err_line(&format!(
                "result: {} (per request: {})",
                paths.json.display(),
                paths.jsonl.display()
            ));
            true
        }
        Err(e) => {
            crate::console::err_line(&format!(
                "error: {e:#}; the summary above is complete, the result file is not"
            ));
            false
        }
    }
}

/// Where this run's files go: the result JSON and the per-request JSONL log beside it.
#[derive(Debug, Clone)]
pub struct ResultPaths {
    pub json: PathBuf,
    pub jsonl: PathBuf,
}

impl ResultPaths {
    pub fn new(dir: Option<&Path>, filename: Option<&str>, meta: &RunMeta) -> ResultPaths {
        let name = filename
            .map(str::to_owned)
            .unwrap_or_else(|| default_filename(meta));
        let json = match dir {
            Some(d) => d.join(&name),
            None => PathBuf::from(&name),
        };
        let stem = json
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "result".into());
        let jsonl = json.with_file_name(format!("{stem}.requests.jsonl"));
        ResultPaths { json, jsonl }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_and_paths() {
        let meta = RunMeta {
            date: "20261123-101500".into(),
            model_id: "Qwen/Qwen2.5-32B-Instruct".into(),
            max_concurrency: Some(16),
            ..RunMeta::default()
        };
        assert_eq!(
            default_filename(&meta),
            "tokscope-infqps-concurrency16-Qwen2.5-32B-Instruct-20261123-101500.json"
        );
        let p = ResultPaths::new(Some(Path::new("out")), Some("a.json"), &meta);
        assert_eq!(p.json, PathBuf::from("out/a.json"));
        assert_eq!(p.jsonl, PathBuf::from("out/a.requests.jsonl"));
    }

    #[test]
    fn write_is_atomic_and_creates_dirs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/y/r.json");
        write_json(&p, &json!({"a": 1})).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["a"], 1);
        assert!(!p.with_extension("json.partial").exists());
    }
}
