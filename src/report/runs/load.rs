//! Reading what `tokscope report` is given: result files (tokscope's or `vllm bench serve
//! --save-result`'s), and folders of them (a sweep, or repeats of one configuration). Every
//! problem is one `InputError` naming the file and what was wrong; a figure a readable file
//! lacks stays `None` (shown as n/a), never zero.

use crate::metrics::latency::LatencyMetric;
use crate::report::figure::Figure;
use crate::report::run_report::{LatencyFigures, LoadError, Rate, RunReport};
use crate::report::runs::{Group, Inputs, Origin, Run, SecondPoint, Sweep, SweepAxis, Workload};
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

/// A sweep folder's own summary, written beside the step results (not a step itself).
const SWEEP_SUMMARY: &str = "summary.json";
/// tokscope's sweep file beside it: mean/std per step, best, knee, the capacity search.
const SWEEP_FILE: &str = "sweep.json";

/// Whether a `.json` in a folder is a run's result (not a sweep's own file, not a step that
/// failed as a whole, not a profiler trace).
fn is_result_file(name: &str) -> bool {
    name.ends_with(".json")
        && name != SWEEP_SUMMARY
        && name != SWEEP_FILE
        && !name.ends_with(".failure.json")
        && !name.ends_with(".pytorch.json")
}

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
        // A --result-dir that holds sweep folders (sweep-DATE/...): each is a sweep of its own.
        let sweeps = sweep_folders_in(dir)?;
        if !sweeps.is_empty() {
            for path in sweeps {
                let sub = InputSpec { path, label: None };
                read_folder(&sub, inputs)?;
            }
            return Ok(());
        }
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
                capacity_note: read_search_answer(&dir.join(SWEEP_FILE))
                    .or_else(|| read_capacity_note(&dir.join(SWEEP_SUMMARY))),
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

/// Sub-folders of `dir` that a sweep wrote (they hold its `sweep.json` or `summary.json`).
fn sweep_folders_in(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| InputError::new(dir, format!("cannot read: {e}")))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && (p.join(SWEEP_FILE).is_file() || p.join(SWEEP_SUMMARY).is_file()))
        .collect();
    out.sort();
    Ok(out)
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
        if is_result_file(&name) {
            out.push(path);
        }
    }
    Ok(())
}

/// The capacity-search sentence tokscope's sweep wrote (`sweep.json`: search.answer), if any.
fn read_search_answer(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get("search")?.get("answer")?.as_str().map(str::to_owned)
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

/// Read one result file through the run report type every face writes.
pub fn read_result(path: &Path, label: Option<&str>) -> Result<Run, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::InvalidData => "not a result: not UTF-8 text".to_string(),
            _ => format!("cannot read: {e}"),
        };
        InputError::new(path, what)
    })?;
    let report = RunReport::from_json_text(&text).map_err(|e| {
        let what = match e {
            LoadError::Json(e) if e.is_eof() => format!(
                "truncated JSON: the text ends inside a value (line {}, column {})",
                e.line(),
                e.column()
            ),
            LoadError::Json(e) => format!("not a result: not JSON ({e})"),
            LoadError::NotAResult(why) => format!("not a result: {why}"),
            LoadError::Io(e) => format!("cannot read: {e}"),
        };
        InputError::new(path, what)
    })?;
    Ok(run_from_report(path, &report, label))
}

/// A latency figure of a report, in milliseconds.
fn latency(
    r: &RunReport,
    m: LatencyMetric,
    pick: fn(&LatencyFigures) -> Option<f64>,
) -> Option<f64> {
    r.latency.get(m).and_then(pick)
}

/// The report's figures, workload and series; what it lacks stays `None` and is listed.
pub fn run_from_report(path: &Path, r: &RunReport, label: Option<&str>) -> Run {
    use LatencyMetric::{E2el, Tpot, Ttfo, Ttft};
    let ts = r.tokscope.as_ref();
    let origin = if r.is_tokscope() {
        Origin::Tokscope
    } else {
        Origin::Vllm
    };
    let per_request = |total: Option<u64>| match (total, r.completed) {
        (Some(t), Some(c)) if c > 0 => Some(t as f64 / c as f64),
        _ => None,
    };
    let mean = |f: &LatencyFigures| f.mean;
    let median = |f: &LatencyFigures| f.median;
    let p95 = |f: &LatencyFigures| f.p(95.0);
    let p99 = |f: &LatencyFigures| f.p(99.0);
    let seconds = |ms: Option<f64>| ms.map(|ms| ms / 1000.0);
    let gpu = ts.and_then(|t| t.gpu.as_ref());
    let server = ts.and_then(|t| t.server.as_ref());

    let mut values = vec![None; Figure::ALL.len()];
    let figures: [(Figure, Option<f64>); 25] = [
        (Figure::InputLen, per_request(r.total_input_tokens)),
        (Figure::OutputLen, per_request(r.total_output_tokens)),
        (
            Figure::SuccessRate,
            match (r.completed, r.failed) {
                (Some(c), Some(f)) if c + f > 0 => Some(c as f64 / (c + f) as f64),
                _ => None,
            },
        ),
        (Figure::OutputThroughput, r.output_throughput),
        (Figure::PeakOutputThroughput, r.max_output_tokens_per_s),
        (Figure::TotalThroughput, r.total_token_throughput),
        (Figure::MeanTtft, latency(r, Ttft, mean)),
        (Figure::MeanTpot, latency(r, Tpot, mean)),
        (Figure::P99Tpot, latency(r, Tpot, p99)),
        (Figure::RequestThroughput, r.request_throughput),
        // vLLM writes no input throughput; its totals give it exactly.
        (
            Figure::InputThroughput,
            ts.and_then(|t| t.input_throughput).or_else(|| {
                match (r.total_input_tokens, r.duration) {
                    (Some(t), Some(d)) if d > 0.0 => Some(t as f64 / d),
                    _ => None,
                }
            }),
        ),
        (Figure::MedianTtft, latency(r, Ttft, median)),
        (Figure::P99Ttft, latency(r, Ttft, p99)),
        (Figure::MeanTtfo, latency(r, Ttfo, mean)),
        (Figure::MedianE2el, seconds(latency(r, E2el, median))),
        (Figure::P95E2el, seconds(latency(r, E2el, p95))),
        (Figure::P99E2el, seconds(latency(r, E2el, p99))),
        (Figure::Goodput, r.request_goodput),
        (
            Figure::MaxConcurrent,
            r.max_concurrent_requests.map(|c| c as f64),
        ),
        (
            Figure::GpuPowerMean,
            gpu.and_then(|g| g.total_avg_power_w()),
        ),
        (
            Figure::GpuPowerPeak,
            gpu.and_then(|g| g.total_peak_power_w()),
        ),
        (Figure::Energy, gpu.and_then(|g| g.total_energy_j)),
        (
            Figure::JoulesPerToken,
            gpu.and_then(|g| g.joules_per_output_token),
        ),
        (Figure::KvCachePeak, server.and_then(|s| s.peak_kv_usage)),
        (Figure::QueuePeak, server.and_then(|s| s.peak_waiting)),
    ];
    for (f, v) in figures {
        values[f.index()] = v.filter(|x| x.is_finite());
    }

    // The keys behind the nine rows of seed 001's table, named as the file would name them.
    let mut missing_keys: Vec<String> = [
        ("completed", r.completed.is_none()),
        ("failed", r.failed.is_none()),
        ("total_input_tokens", r.total_input_tokens.is_none()),
        ("total_output_tokens", r.total_output_tokens.is_none()),
        ("output_throughput", r.output_throughput.is_none()),
        (
            "max_output_tokens_per_s",
            r.max_output_tokens_per_s.is_none(),
        ),
        ("total_token_throughput", r.total_token_throughput.is_none()),
        ("mean_ttft_ms", latency(r, Ttft, mean).is_none()),
        ("mean_tpot_ms", latency(r, Tpot, mean).is_none()),
        ("p99_tpot_ms", latency(r, Tpot, p99).is_none()),
    ]
    .iter()
    .filter(|(_, missing)| *missing)
    .map(|(k, _)| k.to_string())
    .collect();
    if origin == Origin::Vllm {
        missing_keys.push(
            "tokscope (TTFO, GPU power and energy, server KV-cache and queue, per-second series)"
                .into(),
        );
    }

    let workload = Workload {
        model: r.model_id.clone(),
        // What the prompts' source said (with its file), else the flag as given.
        dataset: ts
            .and_then(|t| t.workload.as_ref())
            .map(|w| match &w.dataset_path {
                Some(p) => format!("{} ({p})", w.dataset),
                None => w.dataset.clone(),
            })
            .or_else(|| {
                ts.and_then(|t| t.config.get("dataset_name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }),
        input_len: values[Figure::InputLen.index()],
        output_len: values[Figure::OutputLen.index()],
        max_concurrency: r.max_concurrency.map(u64::from),
        request_rate: r.request_rate.and_then(Rate::per_second),
        rate_infinite: r.request_rate == Some(Rate::Unlimited),
        num_prompts: r.num_prompts,
    };
    let per_second = ts
        .map(|t| {
            t.per_second
                .iter()
                .map(|p| SecondPoint {
                    t: p.t as f64,
                    output_tokens: p.output_tokens as f64,
                    input_tokens: p.input_tokens as f64,
                    ttft_ms: p.mean_ms.get(&LatencyMetric::Ttft).copied(),
                    tpot_ms: p.mean_ms.get(&LatencyMetric::Tpot).copied(),
                    gpu_power_w: p.gpu_power_w,
                })
                .collect()
        })
        .unwrap_or_default();
    let label = label
        .map(str::to_owned)
        .or_else(|| r.label.clone().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string())
        });
    Run {
        label,
        path: path.to_path_buf(),
        origin,
        workload,
        values,
        completed: r.completed,
        failed: r.failed,
        missing_keys,
        per_second,
        // A user's `--metadata framework=...` first, else the server kind tokscope detected.
        framework: r
            .metadata
            .0
            .get("framework")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| server.map(|s| s.server.clone())),
    }
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
        let report: RunReport = serde_json::from_value(v).unwrap();
        let run = run_from_report(Path::new("v.json"), &report, None);
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
    fn gpu_and_server_figures_come_from_the_tokscope_block() {
        let gpu = |w: f64, e: f64| {
            json!({"node": "local", "key": "nvml:0", "name": "GB10", "samples": 10, "window_s": 9.0,
                "avg_power_w": w, "peak_power_w": w + 50.0, "peak_memory_bytes": null,
                "peak_temperature_c": null, "energy_j": e, "energy_source": null})
        };
        let v = json!({"completed": 10, "failed": 0, "total_output_tokens": 4000,
            "output_throughput": 400.0, "request_rate": 4.0, "max_concurrency": 16,
            "metadata_note": "x", "framework": "SGLang",
            "tokscope": {"gpu": {"gpus": [gpu(200.0, 1800.0), gpu(100.0, 900.0)],
                "total_energy_j": 2700.0, "joules_per_output_token": 0.675},
                "server": {"server": "sglang", "scrapes": 9, "peak_kv_usage": 0.42,
                    "peak_waiting": 3.0},
                "per_second": [{"t": 0, "output_tokens": 390, "input_tokens": 1000}]}});
        let report: RunReport = serde_json::from_value(v).unwrap();
        let run = run_from_report(Path::new("g.json"), &report, Some("two GPUs"));
        assert_eq!(run.origin, Origin::Tokscope);
        assert_eq!(run.label, "two GPUs");
        assert_eq!(run.get(Figure::GpuPowerMean), Some(300.0));
        assert_eq!(run.get(Figure::GpuPowerPeak), Some(400.0));
        assert_eq!(run.get(Figure::Energy), Some(2700.0));
        assert_eq!(run.get(Figure::JoulesPerToken), Some(0.675));
        assert_eq!(run.get(Figure::KvCachePeak), Some(0.42));
        assert_eq!(run.get(Figure::QueuePeak), Some(3.0));
        assert_eq!(run.framework.as_deref(), Some("SGLang"));
        assert_eq!(run.workload.request_rate, Some(4.0));
        assert_eq!(run.workload.max_concurrency, Some(16));
        assert_eq!(run.per_second.len(), 1);
        // A figure the file never had stays missing: no TTFT here.
        assert_eq!(run.get(Figure::MeanTtft), None);
        assert!(run.missing_keys.contains(&"mean_ttft_ms".to_string()));
    }

    #[test]
    fn bad_inputs_are_one_line_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let trunc = write(d.path(), "t.json", r#"{"completed": 3, "dur"#);
        let e = read_result(&trunc, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "'{}': truncated JSON: the text ends inside a value (line 1, column 21)",
                trunc.display()
            )
        );
        let other = write(d.path(), "o.json", r#"{"name": "not a result"}"#);
        assert_eq!(
            read_result(&other, None).unwrap_err().what,
            "not a result: it has none of completed, output_throughput or tokscope"
        );
        let arr = write(d.path(), "a.json", "[1, 2]");
        assert_eq!(
            read_result(&arr, None).unwrap_err().what,
            "not a result: the top level is not an object"
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
    fn a_folder_holding_sweep_folders_reads_each_with_its_search_answer() {
        let d = tempfile::tempdir().unwrap();
        let sweep = d.path().join("sweep-20261126-070332");
        for c in [1, 2] {
            let step = sweep.join(format!("BENCH--max_concurrency={c}"));
            std::fs::create_dir_all(&step).unwrap();
            let v = json!({"completed": 10, "failed": 0, "duration": 1.0, "max_concurrency": c,
                "request_rate": "inf", "output_throughput": c as f64 * 10.0});
            write(&step, "run=0.json", &v.to_string());
        }
        write(&sweep, "summary.json", "[]");
        write(
            &sweep,
            "sweep.json",
            r#"{"search": {"answer": "capacity: 2 concurrent users"}}"#,
        );
        write(&sweep, "run=1.failure.json", r#"{"error": "server dead"}"#);
        let inputs = read_all(&[InputSpec {
            label: None,
            path: d.path().to_path_buf(),
        }])
        .unwrap();
        assert_eq!(inputs.sweeps.len(), 1);
        let s = &inputs.sweeps[0];
        assert_eq!(s.label, "sweep-20261126-070332");
        assert_eq!(s.steps.len(), 2);
        assert_eq!(
            s.capacity_note.as_deref(),
            Some("capacity: 2 concurrent users")
        );
    }

    #[test]
    fn a_folder_that_varies_concurrency_is_a_sweep_in_increasing_load() {
        let d = tempfile::tempdir().unwrap();
        for c in [8, 1, 4] {
            let v = json!({"completed": 10, "failed": 0, "duration": 1.0, "max_concurrency": c,
                "request_rate": "inf", "output_throughput": c as f64 * 10.0});
            write(d.path(), &format!("step-c{c}.json"), &v.to_string());
        }
        write(
            d.path(),
            "summary.json",
            r#"{"capacity": "4 concurrent users"}"#,
        );
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
