//! Reading what `tokscope report` is given: result files (tokscope's or `vllm bench serve
//! --save-result`'s), and folders of them (a sweep, or repeats of one configuration). Every
//! problem is one `InputError` naming the file and what was wrong; a figure a readable file
//! lacks stays `None` (shown as n/a), never zero.

use crate::report::figure::Figure;
use crate::report::runs::{
    Group, Inputs, Origin, Run, SecondPoint, Sweep, SweepAxis, Workload,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One input as the command line named it: a path and, from `--label NAME=FILE`, a label.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub label: Option<String>,
    pub path: PathBuf,
}

/// Why an input cannot be used: the file and one line saying what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("'{}': {what}", path.display())]
pub struct InputError {
    pub path: PathBuf,
    pub what: String,
}

impl InputError {
    pub fn new(path: &Path, what: impl Into<String>) -> InputError {
        InputError {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// The keys a complete result carries; a file lacking some is listed as such in the report.
const EXPECTED_KEYS: [&str; 12] = [
    "completed",
    "failed",
    "duration",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "max_output_tokens_per_s",
    "mean_ttft_ms",
    "mean_tpot_ms",
    "p99_tpot_ms",
];

/// A sweep folder's own summary, written beside the step results (not a step itself).
const SWEEP_SUMMARY: &str = "summary.json";

/// Read every input; labels given to several files make repeats of one group.
pub fn read_all(specs: &[InputSpec]) -> Result<Inputs, InputError> {
    let mut inputs = Inputs::default();
    for spec in specs {
        if spec.path.is_dir() {
            read_folder(spec, &mut inputs)?;
        } else {
            let run = read_result(&spec.path, spec.label.as_deref())?;
            add_to_group(&mut inputs.groups, run);
        }
    }
    Ok(inputs)
}

fn add_to_group(groups: &mut Vec<Group>, run: Run) {
    match groups.iter_mut().find(|g| g.label == run.label) {
        Some(g) => g.runs.push(run),
        None => groups.push(Group {
            label: run.label.clone(),
            runs: vec![run],
        }),
    }
}

/// A folder: its result files (one level of subfolders too, for a sweep's runs per step).
/// Steps that differ in concurrency or rate make a sweep; otherwise they are repeats.
fn read_folder(spec: &InputSpec, inputs: &mut Inputs) -> Result<(), InputError> {
    let dir = &spec.path;
    let label = spec.label.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string())
    });
    let mut files = Vec::new();
    collect_results(dir, 1, &mut files)?;
    if files.is_empty() {
        return Err(InputError::new(
            dir,
            "empty folder: no result files (*.json) in it",
        ));
    }
    files.sort();
    let mut runs = Vec::with_capacity(files.len());
    for f in &files {
        runs.push(read_result(f, Some(&label))?);
    }
    let axis = sweep_axis(&runs);
    match axis {
        Some(axis) if runs.len() > 1 => {
            let mut sweep = Sweep {
                label,
                path: dir.clone(),
                axis,
                steps: runs,
                capacity_note: read_capacity_note(&dir.join(SWEEP_SUMMARY)),
            };
            sweep.steps.sort_by(|a, b| {
                let (x, y) = (sweep_key(axis, a), sweep_key(axis, b));
                x.total_cmp(&y)
            });
            inputs.sweeps.push(sweep);
        }
        _ => {
            for run in runs {
                add_to_group(&mut inputs.groups, run);
            }
        }
    }
    Ok(())
}

fn sweep_key(axis: SweepAxis, run: &Run) -> f64 {
    match axis {
        SweepAxis::Concurrency => run
            .workload
            .max_concurrency
            .map_or(f64::INFINITY, |c| c as f64),
        SweepAxis::Rate => run.workload.request_rate.unwrap_or(f64::INFINITY),
    }
}

/// Concurrency if the runs differ in it, else rate if they differ in that, else not a sweep.
fn sweep_axis(runs: &[Run]) -> Option<SweepAxis> {
    let first = runs.first()?;
    if runs
        .iter()
        .any(|r| r.workload.max_concurrency != first.workload.max_concurrency)
    {
        Some(SweepAxis::Concurrency)
    } else if runs.iter().any(|r| {
        r.workload.request_rate != first.workload.request_rate
            || r.workload.rate_infinite != first.workload.rate_infinite
    }) {
        Some(SweepAxis::Rate)
    } else {
        None
    }
}

fn collect_results(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| InputError::new(dir, format!("cannot read: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| InputError::new(dir, format!("cannot read: {e}")))?;
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 {
                collect_results(&path, depth - 1, out)?;
            }
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && name != SWEEP_SUMMARY && !name.ends_with(".pytorch.json") {
            out.push(path);
        }
    }
    Ok(())
}

/// The capacity-search answer from a sweep's summary, if it has one (lenient: a summary that
/// cannot be read only means no answer is shown).
fn read_capacity_note(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let c = v.get("capacity")?;
    match c {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("answer")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| Some(c.to_string())),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Read one result file.
pub fn read_result(path: &Path, label: Option<&str>) -> Result<Run, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::InvalidData => "not a result: not UTF-8 text".to_string(),
            _ => format!("cannot read: {e}"),
        };
        InputError::new(path, what)
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        let what = if e.is_eof() {
            format!(
                "truncated JSON: the text ends inside a value (line {}, column {})",
                e.line(),
                e.column()
            )
        } else {
            format!("not a result: not JSON ({e})")
        };
        InputError::new(path, what)
    })?;
    run_from_value(path, &value, label)
}

/// The figures of a parsed result. A file with none of the keys every result has is not one.
pub fn run_from_value(path: &Path, v: &Value, label: Option<&str>) -> Result<Run, InputError> {
    let Some(obj) = v.as_object() else {
        return Err(InputError::new(
            path,
            "not a result: the JSON is not an object",
        ));
    };
    if !["completed", "duration", "output_throughput"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return Err(InputError::new(
            path,
            "not a result: none of 'completed', 'duration', 'output_throughput' is in it",
        ));
    }
    let ts = obj.get("tokscope");
    let origin = if ts.is_some() {
        Origin::Tokscope
    } else {
        Origin::Vllm
    };
    let num = |k: &str| obj.get(k).and_then(Value::as_f64);
    let ts_num = |ptr: &str| ts.and_then(|t| t.pointer(ptr)).and_then(Value::as_f64);
    let completed = obj.get("completed").and_then(Value::as_u64);
    let failed = obj.get("failed").and_then(Value::as_u64);
    let per_request = |total: Option<f64>| match (total, completed) {
        (Some(t), Some(c)) if c > 0 => Some(t / c as f64),
        _ => None,
    };
    let ms_to_s = |k: &str| num(k).map(|ms| ms / 1000.0);

    let mut values = vec![None; Figure::ALL.len()];
    let mut set = |f: Figure, x: Option<f64>| values[f.index()] = x.filter(|x| x.is_finite());
    set(Figure::InputLen, per_request(num("total_input_tokens")));
    set(Figure::OutputLen, per_request(num("total_output_tokens")));
    set(
        Figure::SuccessRate,
        match (completed, failed) {
            (Some(c), Some(f)) if c + f > 0 => Some(c as f64 / (c + f) as f64),
            _ => None,
        },
    );
    set(Figure::OutputThroughput, num("output_throughput"));
    set(Figure::PeakOutputThroughput, num("max_output_tokens_per_s"));
    set(Figure::TotalThroughput, num("total_token_throughput"));
    set(Figure::MeanTtft, num("mean_ttft_ms"));
    set(Figure::MeanTpot, num("mean_tpot_ms"));
    set(Figure::P99Tpot, num("p99_tpot_ms"));
    set(Figure::RequestThroughput, num("request_throughput"));
    // vLLM writes no input throughput; its totals give it exactly.
    set(
        Figure::InputThroughput,
        ts_num("/input_throughput").or_else(|| {
            match (num("total_input_tokens"), num("duration")) {
                (Some(t), Some(d)) if d > 0.0 => Some(t / d),
                _ => None,
            }
        }),
    );
    set(Figure::MedianTtft, num("median_ttft_ms"));
    set(Figure::P99Ttft, num("p99_ttft_ms"));
    set(Figure::MeanTtfo, num("mean_ttfo_ms"));
    set(Figure::MedianE2el, ms_to_s("median_e2el_ms"));
    set(Figure::P95E2el, ms_to_s("p95_e2el_ms"));
    set(Figure::P99E2el, ms_to_s("p99_e2el_ms"));
    set(Figure::Goodput, num("request_goodput"));
    set(Figure::MaxConcurrent, num("max_concurrent_requests"));
    let gpus = ts
        .and_then(|t| t.pointer("/gpu/gpus"))
        .and_then(Value::as_array);
    let gpu_sum = |key: &str| {
        let xs: Vec<f64> = gpus?
            .iter()
            .filter_map(|g| g.get(key).and_then(Value::as_f64))
            .collect();
        (!xs.is_empty()).then(|| xs.iter().sum())
    };
    set(Figure::GpuPowerMean, gpu_sum("avg_power_w"));
    set(Figure::GpuPowerPeak, gpu_sum("peak_power_w"));
    set(Figure::Energy, ts_num("/gpu/total_energy_j"));
    set(Figure::JoulesPerToken, ts_num("/gpu/joules_per_output_token"));
    set(
        Figure::KvCachePeak,
        ts_num("/server/peak_kv_usage"),
    );
    set(
        Figure::QueuePeak,
        ts_num("/server/peak_waiting"),
    );

    let mut missing_keys: Vec<String> = EXPECTED_KEYS
        .iter()
        .filter(|k| !obj.contains_key(**k))
        .map(|k| k.to_string())
        .collect();
    if origin == Origin::Vllm {
        missing_keys.push("tokscope (TTFO, GPU power and energy, server KV-cache and queue, per-second series)".into());
    }

    let rate_value = obj.get("request_rate");
    let rate_infinite = matches!(rate_value, Some(Value::String(s)) if s == "inf");
    let config = ts.and_then(|t| t.get("config"));
    let workload = Workload {
        model: obj
            .get("model_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        dataset: config
            .and_then(|c| c.get("dataset_name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        input_len: values[Figure::InputLen.index()],
        output_len: values[Figure::OutputLen.index()],
        max_concurrency: obj.get("max_concurrency").and_then(Value::as_u64),
        request_rate: rate_value.and_then(Value::as_f64),
        rate_infinite,
        num_prompts: obj.get("num_prompts").and_then(Value::as_u64),
    };
    let per_second = ts
        .and_then(|t| t.get("per_second"))
        .and_then(Value::as_array)
        .map(|points| {
            points
                .iter()
                .filter_map(|p| {
                    Some(SecondPoint {
                        t: p.get("t")?.as_f64()?,
                        output_tokens: p.get("output_tokens")?.as_f64()?,
                        input_tokens: p.get("input_tokens").and_then(Value::as_f64).unwrap_or(0.0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let label = label
        .map(str::to_owned)
        .or_else(|| {
            obj.get("label")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string())
        });
    Ok(Run {
        label,
        path: path.to_path_buf(),
        origin,
        workload,
        values,
        completed,
        failed,
        missing_keys,
        per_second,
        // A user's `--metadata framework=...` first, else the server kind tokscope detected.
        framework: obj
            .get("framework")
            .or_else(|| ts.and_then(|t| t.pointer("/server/server")))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_vllm_file_loads_with_missing_figures_as_none_and_says_which_keys() {
        let v = json!({"completed": 30, "failed": 0, "duration": 10.0, "total_input_tokens": 15360,
            "total_output_tokens": 7680, "output_throughput": 66.55, "request_rate": "inf",
            "max_concurrency": null, "mean_ttft_ms": 4970.0});
        let run = run_from_value(Path::new("v.json"), &v, None).unwrap();
        assert_eq!(run.origin, Origin::Vllm);
        assert_eq!(run.label, "v");
        assert_eq!(run.get(Figure::InputLen), Some(512.0));
        assert_eq!(run.get(Figure::InputThroughput), Some(1536.0));
        assert_eq!(run.get(Figure::SuccessRate), Some(1.0));
        assert_eq!(run.get(Figure::MeanTpot), None);
        assert_eq!(run.get(Figure::JoulesPerToken), None);
        assert!(run.workload.rate_infinite);
        assert!(run.missing_keys.contains(&"mean_tpot_ms".to_string()));
        assert!(run.missing_keys.iter().any(|k| k.starts_with("tokscope")));
    }

    #[test]
    fn bad_inputs_are_one_line_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let trunc = write(d.path(), "t.json", r#"{"completed": 3, "dur"#);
        let e = read_result(&trunc, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "'{}': truncated JSON: the text ends inside a value (line 1, column 20)",
                trunc.display()
            )
        );
        let other = write(d.path(), "o.json", r#"{"name": "not a result"}"#);
        assert_eq!(
            read_result(&other, None).unwrap_err().what,
            "not a result: none of 'completed', 'duration', 'output_throughput' is in it"
        );
        let arr = write(d.path(), "a.json", "[1, 2]");
        assert_eq!(
            read_result(&arr, None).unwrap_err().what,
            "not a result: the JSON is not an object"
        );
        let gone = d.path().join("gone.json");
        assert_eq!(read_result(&gone, None).unwrap_err().what, "no such file");
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let e = read_all(&[InputSpec {
            label: None,
            path: empty.clone(),
        }])
        .unwrap_err();
        assert_eq!(e.what, "empty folder: no result files (*.json) in it");
    }

    #[test]
    fn a_folder_that_varies_concurrency_is_a_sweep_in_increasing_load() {
        let d = tempfile::tempdir().unwrap();
        for c in [8, 1, 4] {
            let v = json!({"completed": 10, "failed": 0, "duration": 1.0, "max_concurrency": c,
                "request_rate": "inf", "output_throughput": c as f64 * 10.0});
            write(d.path(), &format!("step-c{c}.json"), &v.to_string());
        }
        write(d.path(), "summary.json", r#"{"capacity": "4 concurrent users"}"#);
        let inputs = read_all(&[InputSpec {
            label: Some("sw".into()),
            path: d.path().to_path_buf(),
        }])
        .unwrap();
        assert!(inputs.groups.is_empty());
        let s = &inputs.sweeps[0];
        assert_eq!(s.axis, SweepAxis::Concurrency);
        let loads: Vec<f64> = s.steps.iter().filter_map(|r| s.load_of(r)).collect();
        assert_eq!(loads, [1.0, 4.0, 8.0]);
        assert_eq!(s.capacity_note.as_deref(), Some("4 concurrent users"));
    }

    #[test]
    fn one_label_on_several_files_makes_repeats() {
        let d = tempfile::tempdir().unwrap();
        let v = json!({"completed": 10, "duration": 1.0, "output_throughput": 5.0}).to_string();
        let a = write(d.path(), "a.json", &v);
        let b = write(d.path(), "b.json", &v);
        let specs = [a, b].map(|path| InputSpec {
            label: Some("fp8".into()),
            path,
        });
        let inputs = read_all(&specs).unwrap();
        assert_eq!(inputs.groups.len(), 1);
        assert_eq!(inputs.groups[0].repeats(), 2);
    }
}
