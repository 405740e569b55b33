//! Where a run's result goes: its file names, atomic writes. What the file holds is the typed
//! `RunReport` (run_report.rs).

use anyhow::Context;
use serde_json::Value;
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
    /// The load the plan asked for (keys in the dashboard may change it; the snapshot's
    /// `control` says what it was at the end).
    pub load: crate::plan::LoadPlan,
    pub metadata: Vec<(String, String)>,
    /// The flags that shaped the run (sanitised), for the `tokscope.config` block.
    pub config: Value,
}

/// The default file name, in the spirit of vLLM's: `tokscope-{rate}qps-concurrency{N}-{model}-{date}.json`.
pub fn default_filename(meta: &RunMeta) -> String {
    let rate = meta
        .load
        .request_rate
        .map(|r| format!("{r}"))
        .unwrap_or_else(|| "inf".into());
    let conc = meta
        .load
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

/// Write `value` to `path` atomically (a temporary file renamed into place), so a crash or a
/// full disk never leaves a half-written result where a valid one was expected.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
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
pub fn write_and_report(paths: &ResultPaths, value: &impl serde::Serialize) -> bool {
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
            load: crate::plan::LoadPlan {
                max_concurrency: Some(16),
                ..Default::default()
            },
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
        write_json(&p, &serde_json::json!({"a": 1})).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["a"], 1);
        assert!(!p.with_extension("json.partial").exists());
    }
}
