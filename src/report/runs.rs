//! What a report is made from: runs (one result file each) with their figures and workload,
//! grouped by label (a label given to several files is a set of repeats), and sweeps (a folder
//! of results whose steps differ only in concurrency or rate). `load` reads them from disk.

pub mod load;

use crate::report::figure::Figure;
use serde::Serialize;
use std::path::PathBuf;

/// Which program wrote a result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Tokscope,
    /// `vllm bench serve --save-result` (or another writer of vLLM's keys).
    Vllm,
}

/// The load a run was measured under; two runs compare fairly only when these agree.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Workload {
    pub model: Option<String>,
    pub dataset: Option<String>,
    /// Mean prompt tokens per completed request.
    pub input_len: Option<f64>,
    /// Mean output tokens per completed request.
    pub output_len: Option<f64>,
    pub max_concurrency: Option<u64>,
    /// Requests per second; `None` with `rate_infinite` when all were sent at once.
    pub request_rate: Option<f64>,
    pub rate_infinite: bool,
    pub num_prompts: Option<u64>,
}

/// One per-second bucket of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SecondPoint {
    pub t: f64,
    pub output_tokens: f64,
    pub input_tokens: f64,
    /// Mean TTFT and TPOT of this second (ms), when it had any.
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    /// All GPUs' power in this second (W), when the run sampled GPUs.
    pub gpu_power_w: Option<f64>,
}

/// One result file, read.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub label: String,
    pub path: PathBuf,
    pub origin: Origin,
    pub workload: Workload,
    /// Indexed by `Figure::index`; `None` where the file lacks the figure.
    pub values: Vec<Option<f64>>,
    pub completed: Option<u64>,
    pub failed: Option<u64>,
    /// Keys a complete tokscope result has that this file lacks (vLLM files lack tokscope's
    /// extras; older files lack newer keys), so the report can say why a cell is n/a.
    pub missing_keys: Vec<String>,
    pub per_second: Vec<SecondPoint>,
    /// `metadata` a user stored (vLLM's `--metadata framework=vLLM`), for seed 003's columns.
    pub framework: Option<String>,
}

impl Run {
    pub fn get(&self, f: Figure) -> Option<f64> {
        self.values.get(f.index()).copied().flatten()
    }
}

/// A figure over a group's runs: the mean, the population std and how many runs had it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

/// Runs under one label: one run, or repeats of the same configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub label: String,
    pub runs: Vec<Run>,
}

impl Group {
    /// The figure over the group's runs that carry it; `None` when none does.
    pub fn stat(&self, f: Figure) -> Option<Stat> {
        let xs: Vec<f64> = self.runs.iter().filter_map(|r| r.get(f)).collect();
        if xs.is_empty() {
            return None;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Some(Stat {
            mean,
            std: var.sqrt(),
            n: xs.len(),
        })
    }

    pub fn mean(&self, f: Figure) -> Option<f64> {
        self.stat(f).map(|s| s.mean)
    }

    /// The first run stands for the group's workload (repeats share it).
    pub fn first(&self) -> &Run {
        &self.runs[0]
    }

    pub fn repeats(&self) -> usize {
        self.runs.len()
    }
}

/// A folder of results that differ in load only: the steps of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    pub label: String,
    pub path: PathBuf,
    pub axis: SweepAxis,
    /// Steps in increasing load.
    pub steps: Vec<Run>,
    /// The capacity-search answer when the sweep's `summary.json` carries one.
    pub capacity_note: Option<String>,
}

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepAxis {
    Concurrency,
    Rate,
}

impl Sweep {
    /// A step's load on the sweep's axis (an infinite rate is not a point on a line).
    pub fn load_of(&self, run: &Run) -> Option<f64> {
        match self.axis {
            SweepAxis::Concurrency => run.workload.max_concurrency.map(|c| c as f64),
            SweepAxis::Rate => run.workload.request_rate,
        }
    }
}

/// Everything the command line named, read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inputs {
    /// Single runs and repeats, in the order given; the baseline first after `order`.
    pub groups: Vec<Group>,
    pub sweeps: Vec<Sweep>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: f64) -> Run {
        let mut values = vec![None; Figure::ALL.len()];
        values[Figure::OutputThroughput.index()] = Some(v);
        Run {
            label: "a".into(),
            path: PathBuf::from("a.json"),
            origin: Origin::Tokscope,
            workload: Workload::default(),
            values,
            completed: None,
            failed: None,
            missing_keys: vec![],
            per_second: vec![],
            framework: None,
        }
    }

    #[test]
    fn group_stat_is_mean_and_population_std_of_runs_that_have_it() {
        let mut missing = run(0.0);
        missing.values[Figure::OutputThroughput.index()] = None;
        let g = Group {
            label: "a".into(),
            runs: vec![run(2.0), run(4.0), missing],
        };
        let s = g.stat(Figure::OutputThroughput).unwrap();
        assert_eq!((s.mean, s.std, s.n), (3.0, 1.0, 2));
        assert_eq!(g.stat(Figure::MeanTtft), None);
    }
}
