//! The report's numbers as JSON, for scripts: every run's figures by stable key (null where
//! the file lacks one), the keys each file lacked, ratios against the baseline, and each
//! sweep's knee and steps.

use crate::report::compare;
use crate::report::figure::Figure;
use crate::report::runs::{Inputs, Run};
use crate::report::sweep;
use serde_json::{json, Map, Value};

fn figures(r: &Run) -> Value {
    let mut m = Map::new();
    for f in Figure::ALL {
        m.insert(f.key().to_string(), json!(r.get(f)));
    }
    Value::Object(m)
}

fn run(r: &Run) -> Value {
    json!({
        "label": r.label,
        "file": r.path.display().to_string(),
        "origin": r.origin,
        "workload": r.workload,
        "completed": r.completed,
        "failed": r.failed,
        "figures": figures(r),
        "missing_keys": r.missing_keys,
    })
}

/// The JSON value of a report; `baseline` indexes `inputs.groups`.
pub fn write(inputs: &Inputs, baseline: usize) -> Value {
    let base = inputs.groups.get(baseline);
    let groups: Vec<Value> = inputs
        .groups
        .iter()
        .map(|g| {
            let mut stats = Map::new();
            let mut ratios = Map::new();
            for f in Figure::ALL {
                stats.insert(f.key().into(), json!(g.stat(f)));
                if let Some(b) = base.filter(|b| b.label != g.label) {
                    ratios.insert(f.key().into(), json!(compare::ratio(g, b, f)));
                }
            }
            json!({
                "label": g.label,
                "runs": g.runs.iter().map(run).collect::<Vec<_>>(),
                "stats": stats,
                "ratio_to_baseline": if ratios.is_empty() { Value::Null } else { Value::Object(ratios) },
            })
        })
        .collect();
    let sweeps: Vec<Value> = inputs
        .sweeps
        .iter()
        .map(|s| {
            json!({
                "label": s.label,
                "folder": s.path.display().to_string(),
                "axis": s.axis,
                "knee_step": sweep::knee(s),
                "capacity_step": sweep::capacity(s).ok(),
                "capacity_note": s.capacity_note,
                "steps": s.steps.iter().map(run).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "baseline": base.map(|b| b.label.clone()),
        "groups": groups,
        "sweeps": sweeps,
    })
}
