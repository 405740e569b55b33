//! A sweep as typed data: the base [`RunPlan`] and the steps that change it. `cli::sweep_flags`
//! builds it from the flags (lists where one value was, `--num-prompts` paired with the steps,
//! repeats, a capacity search) and checks every step before anything is sent; nothing here
//! sees clap. A run of a step is the base plan with the step's load and its own seeds
//! ([`SweepPlan::run_plan`]), so it goes through `runner::prepare` like any single run.

use crate::plan::RunPlan;
use std::path::PathBuf;
use std::time::Duration;

/// One step's load: the values that change from step to step, defaults already filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub max_concurrency: Option<u32>,
    /// Requests per second; `None` is 'inf'.
    pub request_rate: Option<f64>,
    pub num_prompts: Option<u64>,
}

impl Step {
    /// The swept value on `axis` (inf rate as `f64::INFINITY`), for charts and the summary.
    pub fn load_on(&self, axis: Axis) -> Option<f64> {
        match axis {
            Axis::Concurrency => self.max_concurrency.map(f64::from),
            Axis::Rate => Some(self.request_rate.unwrap_or(f64::INFINITY)),
        }
    }

    /// The step's name in vLLM's sweep layout: `max_concurrency=4` (`-`-joined when several).
    pub fn name(&self, axis: Axis, paired_prompts: bool) -> String {
        let mut parts = Vec::new();
        match axis {
            Axis::Concurrency => {
                if let Some(c) = self.max_concurrency {
                    parts.push(format!("max_concurrency={c}"));
                }
            }
            Axis::Rate => parts.push(format!("request_rate={}", rate_text(self.request_rate))),
        }
        if paired_prompts {
            if let Some(n) = self.num_prompts {
                parts.push(format!("num_prompts={n}"));
            }
        }
        parts.join("-")
    }

    /// This step with the searched value in place.
    pub fn with_load(mut self, axis: Axis, v: f64) -> Step {
        match axis {
            Axis::Concurrency => self.max_concurrency = Some(v.round().max(1.0) as u32),
            Axis::Rate => self.request_rate = Some(v),
        }
        self
    }
}

/// A rate as the flags and vLLM's files write it.
pub fn rate_text(rate: Option<f64>) -> String {
    rate.map(crate::console::number)
        .unwrap_or_else(|| "inf".into())
}

/// What the steps vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Concurrency,
    Rate,
}

impl Axis {
    /// The parameter key in vLLM's summary files.
    pub fn key(self) -> &'static str {
        match self {
            Axis::Concurrency => "max_concurrency",
            Axis::Rate => "request_rate",
        }
    }
}

/// A capacity search's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchSpec {
    pub axis: Axis,
    /// Percent of requests that must meet every SLO.
    pub attainment_pct: f64,
    pub start: f64,
    pub max: f64,
    /// `None`: 1 for concurrency, 5% of the load for rate.
    pub resolution: Option<f64>,
}

/// A series of runs: the base plan and what changes per step.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The plan of the first step with its first seeds; every run is a copy of it.
    pub base: RunPlan,
    pub axis: Axis,
    /// Fixed steps; empty for a search (its steps are chosen as it goes).
    pub steps: Vec<Step>,
    /// The step a search starts from (rate, concurrency cap and prompts it keeps).
    pub search_base: Step,
    pub paired_prompts: bool,
    pub num_runs: u32,
    pub cooldown: Duration,
    pub reset_cache: bool,
    pub continue_on_error: bool,
    pub search: Option<SearchSpec>,
    /// `--sweep-dir`; `None`: `sweep-DATE` under `--result-dir` or here.
    pub dir: Option<PathBuf>,
}

impl SweepPlan {
    /// More than one run: lists, repeats or a search.
    pub fn is_sweep(&self) -> bool {
        self.steps.len() > 1 || self.num_runs > 1 || self.search.is_some()
    }

    /// The one run of a plan that is not a sweep (the base plan).
    pub fn single(self) -> RunPlan {
        self.base
    }

    /// The plan of the `k`-th run of the sweep (counting every run of every step) at `step`:
    /// the base plan with the step's load and the run's own seeds (prompts and arrivals), so
    /// no step finds the previous one's prompts in the server's prefix cache.
    pub fn run_plan(&self, step: &Step, k: u64) -> RunPlan {
        let mut p = self.base.clone();
        p.load.max_concurrency = step.max_concurrency;
        p.load.request_rate = step.request_rate;
        p.load.num_prompts = step.num_prompts;
        p.load.seed = run_seed(self.base.load.seed, k);
        p.workload.seed = run_seed(self.base.workload.seed, k);
        if let Some(echo) = p.flags_echo.as_object_mut() {
            echo.insert("max_concurrency".into(), step.max_concurrency.into());
            echo.insert("request_rate".into(), rate_text(step.request_rate).into());
            echo.insert("num_prompts".into(), step.num_prompts.into());
            echo.insert("seed".into(), p.load.seed.into());
        }
        p
    }
}

/// The seed of the `k`-th run of a sweep: the first run keeps the flag's seed.
pub fn run_seed(base: u64, k: u64) -> u64 {
    base.wrapping_add(k.wrapping_mul(1_000_003))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(flags: &[&str]) -> SweepPlan {
        crate::cli::test_sweep_plan(flags).unwrap()
    }

    #[test]
    fn every_run_gets_its_own_seeds_and_the_steps_load() {
        let seeds: std::collections::HashSet<u64> = (0..100).map(|k| run_seed(7, k)).collect();
        assert_eq!(seeds.len(), 100);
        assert_eq!(run_seed(7, 0), 7);
        let p = sweep(&["--max-concurrency", "1,2", "--seed", "7"]);
        let r = p.run_plan(&p.steps[1], 3);
        assert_eq!(r.load.max_concurrency, Some(2));
        assert_eq!(r.load.seed, run_seed(7, 3));
        assert_eq!(r.workload.seed, run_seed(7, 3));
        assert_eq!(r.flags_echo["max_concurrency"], 2);
        assert_eq!(p.base.load.max_concurrency, Some(1));
    }

    #[test]
    fn step_names_as_vllm_writes_them() {
        let s = Step {
            max_concurrency: Some(8),
            request_rate: None,
            num_prompts: Some(20),
        };
        assert_eq!(s.name(Axis::Concurrency, false), "max_concurrency=8");
        assert_eq!(s.name(Axis::Rate, true), "request_rate=inf-num_prompts=20");
        assert_eq!(
            s.with_load(Axis::Rate, 2.5).name(Axis::Rate, false),
            "request_rate=2.5"
        );
        assert_eq!(s.with_load(Axis::Concurrency, 2.6).max_concurrency, Some(3));
    }
}
