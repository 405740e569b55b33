//! A sweep's files and figures. At the folder's root, laid out as `vllm bench sweep serve`
//! writes them (checked against vLLM's `vllm/benchmarks/sweep/{serve,plot,plot_pareto}.py`):
//! - `summary.json`: a list with one record per run: the run's result (vLLM keys at top level)
//!   plus `run_number` and the swept parameter (`max_concurrency` or `request_rate`). vLLM's
//!   `plot` and `plot_pareto` read every `summary.json` under the folder, so this is the only
//!   one (vLLM also keeps one per step; two would count each run twice).
//! - `summary.csv`: the same records as pandas' `DataFrame.to_csv` writes them (an unnamed index
//!   column first); nested objects stay in the JSON.
//! - `sweep.json`: tokscope's own: mean and std per step, the best step, the knee, the search.
//!
//! Each run's whole result is `BENCH--<step>/run=<n>.json`, vLLM's per-run path.

use serde::Serialize;
use serde_json::{Map, Value};
use std::path::Path;

/// The figures kept per step: (name, where in a run record).
pub const FIGURES: &[(&str, &str)] = &[
    ("output_throughput", "/output_throughput"),
    ("request_throughput", "/request_throughput"),
    ("median_ttft_ms", "/median_ttft_ms"),
    ("p99_ttft_ms", "/p99_ttft_ms"),
    ("median_tpot_ms", "/median_tpot_ms"),
    ("p99_tpot_ms", "/p99_tpot_ms"),
    ("median_e2el_ms", "/median_e2el_ms"),
    ("p99_e2el_ms", "/p99_e2el_ms"),
    ("gpu_power_w", "/tokscope/gpu/power_w"),
    (
        "joules_per_output_token",
        "/tokscope/gpu/joules_per_output_token",
    ),
    ("slo_attainment_pct", "/tokscope/slo_attainment_pct"),
];

/// Repeats whose standard deviation is above this share of their mean are flagged.
pub const SPREAD_FLAG: f64 = 0.10;
/// The knee: the first step within this share of the best output throughput.
pub const KNEE_SHARE: f64 = 0.90;

/// Mean and spread of one figure over a step's runs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Figure {
    pub mean: f64,
    /// Sample standard deviation (0 with one run).
    pub std: f64,
    pub runs: usize,
    /// The spread is large: std above 10% of the mean.
    pub unstable: bool,
}

impl Figure {
    pub fn of(values: &[f64]) -> Option<Figure> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Some(Figure {
            mean,
            std,
            runs: values.len(),
            unstable: values.len() > 1 && mean.abs() > 0.0 && std / mean.abs() > SPREAD_FLAG,
        })
    }
}

/// One step of a sweep as the summary and the dashboard see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepSummary {
    /// `max_concurrency=4` (the folder is `BENCH--` and this).
    pub name: String,
    /// The swept value (inf rate as null).
    pub load: Option<f64>,
    pub runs_ok: usize,
    pub runs_failed: usize,
    /// A run of this step was cut short (Ctrl-C or a stop key).
    pub interrupted: bool,
    /// Figures by name (see [`FIGURES`]); absent when no run had it.
    pub figures: std::collections::BTreeMap<String, Figure>,
    /// For a capacity search: whether this load met the SLOs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
}

impl StepSummary {
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.figures.get(name).map(|f| f.mean)
    }

    /// Fold a step's run records into its figures.
    pub fn from_runs(name: String, load: Option<f64>, runs: &[Value], failed: usize) -> Self {
        let mut figures = std::collections::BTreeMap::new();
        for (key, pointer) in FIGURES {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.pointer(pointer)?.as_f64())
                .filter(|v| v.is_finite())
                .collect();
            if let Some(f) = Figure::of(&vals) {
                figures.insert((*key).to_string(), f);
            }
        }
        StepSummary {
            name,
            load: load.filter(|l| l.is_finite()),
            runs_ok: runs.len(),
            runs_failed: failed,
            interrupted: runs
                .iter()
                .any(|r| r.pointer("/tokscope/interrupted") == Some(&Value::Bool(true))),
            figures,
            passed: None,
        }
    }
}

/// The step with the highest mean output throughput.
pub fn best_step(steps: &[StepSummary]) -> Option<usize> {
    steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.figure("output_throughput")?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// Where throughput stops growing: the first step (in load order) within 10% of the best
/// throughput, when a later step exists past it. `None` while throughput still grows.
pub fn knee(steps: &[StepSummary]) -> Option<usize> {
    let best = steps.get(best_step(steps)?)?.figure("output_throughput")?;
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by(|&a, &b| {
        let la = steps[a].load.unwrap_or(f64::INFINITY);
        let lb = steps[b].load.unwrap_or(f64::INFINITY);
        la.total_cmp(&lb)
    });
    let pos = order.iter().position(|&i| {
        steps[i]
            .figure("output_throughput")
            .is_some_and(|t| t >= KNEE_SHARE * best)
    })?;
    (pos + 1 < order.len()).then(|| order[pos])
}

/// A run's record in `summary.json`: its result plus the sweep's keys, as vLLM adds them.
pub fn run_record(result: &Value, run_number: u32, params: &[(&str, Value)]) -> Value {
    let mut m = match result {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    m.insert("run_number".into(), Value::from(run_number));
    for (k, v) in params {
        m.insert((*k).to_string(), v.clone());
    }
    Value::Object(m)
}

/// pandas' `DataFrame.from_records(records).to_csv(path)`: an unnamed index column, columns in
/// order of first appearance, empty cells for missing values. Nested values are left out.
pub fn to_csv(records: &[Value]) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for r in records {
        if let Value::Object(m) = r {
            for (k, v) in m {
                if !matches!(v, Value::Object(_) | Value::Array(_))
                    && !columns.contains(&k.as_str())
                {
                    columns.push(k);
                }
            }
        }
    }
    let mut out = String::new();
    out.push_str(
        &std::iter::once(String::new())
            .chain(columns.iter().map(|c| csv_cell(c)))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for (i, r) in records.iter().enumerate() {
        let cells = columns.iter().map(|c| match r.get(*c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
            Some(Value::String(s)) => csv_cell(s),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => String::new(),
        });
        out.push_str(
            &std::iter::once(i.to_string())
                .chain(cells)
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

/// A CSV cell, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Write `summary.json`, `summary.csv` and `sweep.json` into `dir`, each atomically.
pub fn write_all(dir: &Path, records: &[Value], sweep: &Value) -> anyhow::Result<()> {
    use anyhow::Context as _;
    crate::report::result::write_json(&dir.join("summary.json"), &Value::from(records.to_vec()))?;
    let csv = dir.join("summary.csv");
    let tmp = dir.join("summary.csv.partial");
    std::fs::write(&tmp, to_csv(records))
        .with_context(|| format!("cannot write '{}'", tmp.display()))?;
    std::fs::rename(&tmp, &csv).with_context(|| format!("cannot write '{}'", csv.display()))?;
    crate::report::result::write_json(&dir.join("sweep.json"), sweep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(load: f64, tput: f64) -> StepSummary {
        StepSummary::from_runs(
            format!("max_concurrency={load}"),
            Some(load),
            &[json!({"output_throughput": tput})],
            0,
        )
    }

    #[test]
    fn mean_std_and_the_spread_flag() {
        let f = Figure::of(&[10.0, 12.0, 14.0]).unwrap();
        assert_eq!((f.mean, f.std, f.runs), (12.0, 2.0, 3));
        assert!(f.unstable, "std 2 is 16.7% of 12");
        let f = Figure::of(&[100.0, 101.0, 99.0]).unwrap();
        assert!(!f.unstable);
        assert!(!Figure::of(&[5.0]).unwrap().unstable);
        assert_eq!(Figure::of(&[]), None);
    }

    #[test]
    fn figures_come_from_the_run_records() {
        let runs = [
            json!({"output_throughput": 100.0, "p99_ttft_ms": 20.0,
                   "tokscope": {"gpu": {"joules_per_output_token": 0.5}, "interrupted": false}}),
            json!({"output_throughput": 140.0, "p99_ttft_ms": 30.0,
                   "tokscope": {"gpu": {"joules_per_output_token": 0.7}, "interrupted": true}}),
        ];
        let s = StepSummary::from_runs("max_concurrency=4".into(), Some(4.0), &runs, 1);
        assert_eq!(s.figure("output_throughput"), Some(120.0));
        assert_eq!(s.figure("p99_ttft_ms"), Some(25.0));
        assert!((s.figure("joules_per_output_token").unwrap() - 0.6).abs() < 1e-12);
        assert_eq!(s.figure("median_tpot_ms"), None);
        assert!(s.interrupted);
        assert_eq!((s.runs_ok, s.runs_failed), (2, 1));
    }

    #[test]
    fn best_and_knee() {
        // Rises, then flattens from 8 on.
        let steps: Vec<_> = [
            (1.0, 100.0),
            (2.0, 190.0),
            (4.0, 350.0),
            (8.0, 480.0),
            (16.0, 500.0),
            (32.0, 495.0),
        ]
        .iter()
        .map(|&(l, t)| step(l, t))
        .collect();
        assert_eq!(best_step(&steps), Some(4));
        assert_eq!(knee(&steps), Some(3), "8 is the first within 10% of 500");
        // Still growing at the last step: no knee yet.
        assert_eq!(knee(&steps[..3]), None);
        assert_eq!(best_step(&[]), None);
    }

    #[test]
    fn records_and_csv_as_vllm_and_pandas_write_them() {
        let r = run_record(
            &json!({"output_throughput": 12.5, "request_rate": "inf", "label": null,
                    "tokscope": {"x": 1}, "model_id": "a,b"}),
            1,
            &[("max_concurrency", json!(4))],
        );
        assert_eq!(r["run_number"], 1);
        assert_eq!(r["max_concurrency"], 4);
        let csv = to_csv(&[r.clone(), r]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            ",label,max_concurrency,model_id,output_throughput,request_rate,run_number"
        );
        assert_eq!(lines[1], "0,,4,\"a,b\",12.5,inf,1");
        assert!(lines[2].starts_with("1,"));
    }
}
