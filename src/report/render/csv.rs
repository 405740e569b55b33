//! The CSV: seed 003's columns first (scenario, framework, concurrency, throughput in tokens/s,
//! p50 latency in ms, GPU power in W), then every figure by its stable key, one row per run
//! (repeats and sweep steps each get their own row). Numbers are plain (no thousands
//! separators, so spreadsheets read them as numbers); a missing figure is `n/a`.

use crate::report::figure::{Figure, Lang, Unit};
use crate::report::number::MISSING;
use crate::report::runs::{Inputs, Run};

/// Seed 003's header, in its own wording for Chinese.
fn seed_003_header(lang: Lang) -> [&'static str; 6] {
    match lang {
        Lang::Zh => [
            "场景",
            "框架",
            "并发",
            "Throughput (tokens/s)",
            "p50 Latency (ms)",
            "GPU Power (W)",
        ],
        Lang::En => [
            "Scenario",
            "Framework",
            "Concurrency",
            "Throughput (tokens/s)",
            "p50 Latency (ms)",
            "GPU Power (W)",
        ],
    }
}

fn num(v: Option<f64>, decimals: usize) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) => format!("{v:.decimals$}"),
        None => MISSING.to_string(),
    }
}

fn row(scenario: &str, r: &Run, decimals: usize) -> Vec<String> {
    let mut out = vec![
        scenario.to_string(),
        r.framework.clone().unwrap_or_else(|| MISSING.to_string()),
        r.workload
            .max_concurrency
            .map_or_else(|| MISSING.to_string(), |c| c.to_string()),
        num(r.get(Figure::TotalThroughput), decimals),
        num(r.get(Figure::MedianE2el).map(|s| s * 1000.0), decimals),
        num(r.get(Figure::GpuPowerMean), decimals),
    ];
    out.extend(Figure::ALL.iter().map(|f| {
        // A share needs more places than a throughput to say anything.
        let d = match f.unit() {
            Unit::Percent => decimals.max(4),
            Unit::Requests => 0,
            _ => decimals,
        };
        num(r.get(*f), d)
    }));
    out.push(r.path.display().to_string());
    out
}

/// The CSV text.
pub fn write(inputs: &Inputs, lang: Lang, decimals: usize) -> Result<String, String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = seed_003_header(lang)
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(Figure::ALL.iter().map(|f| f.key().to_string()));
    header.push("file".into());
    let err = |e: ::csv::Error| format!("cannot write the CSV: {e}");
    w.write_record(&header).map_err(err)?;
    for g in &inputs.groups {
        for r in &g.runs {
            w.write_record(row(&g.label, r, decimals)).map_err(err)?;
        }
    }
    for s in &inputs.sweeps {
        for r in &s.steps {
            w.write_record(row(&s.label, r, decimals)).map_err(err)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| format!("cannot write the CSV: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("cannot write the CSV: {e}"))
}
