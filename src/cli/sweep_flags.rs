//! The sweep's flags to a [`SweepPlan`]: lists where one value was (`--max-concurrency 1,2,4`,
//! `--concurrency-list 1 2 4`, `--request-rate 1,2,inf`), `--num-prompts` as one value or one
//! per step, repeats, cool-down, cache reset and the capacity search. Every step is checked
//! through the same bounds as a single run before anything is sent; a bad value is one line
//! naming it (exit 2).

use super::to_plan::{bad, resolve_step};
use super::{LoadArgs, PlanDefaults};
use crate::plan::parse_rate;
use crate::runner::{bounds, SetupError};
use crate::sweep::plan::{Axis, SearchSpec, Step, SweepPlan};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// What to search for in a capacity search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchAxis {
    /// The most concurrent requests (closed loop) that meet the SLOs.
    Concurrency,
    /// The highest request rate (open loop) that meets the SLOs.
    Rate,
}

/// A series of runs: lists, repeats, capacity search (see `sweep`).
#[derive(Debug, Args, Clone, Default)]
pub struct SweepArgs {
    /// Concurrencies to sweep, space-separated (as in `--concurrency-list 1 2 4 8`); the same as
    /// --max-concurrency 1,2,4,8.
    #[arg(long, num_args = 1.., value_name = "N", allow_hyphen_values = true)]
    pub concurrency_list: Vec<String>,
    /// Repeat every step N times (mean and std per figure in the summary).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub num_runs: u32,
    /// Seconds to wait between steps.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "SECONDS",
        default_value_t = 0.0
    )]
    pub cooldown: f64,
    /// Before each step, ask the server to drop its prefix cache (vLLM POST /reset_prefix_cache,
    /// SGLang POST /flush_cache).
    #[arg(long)]
    pub reset_cache: bool,
    /// Go on with the next step when one fails as a whole (server down); default: stop.
    #[arg(long)]
    pub continue_on_error: bool,
    /// Capacity search: the highest load meeting every --goodput SLO for --slo-attainment % of
    /// requests (grows geometrically until it fails, then bisects).
    #[arg(long, value_enum, value_name = "AXIS")]
    pub search: Option<SearchAxis>,
    /// Share of requests (percent) that must meet every SLO for a load to pass.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "PCT",
        default_value_t = 95.0
    )]
    pub slo_attainment: f64,
    /// Where the search stops bisecting (default: 1 for concurrency, 5% of the load for rate).
    #[arg(allow_negative_numbers = true, long, value_name = "STEP")]
    pub search_resolution: Option<f64>,
    /// The search's first load (default 1).
    #[arg(allow_negative_numbers = true, long, value_name = "LOAD")]
    pub search_start: Option<f64>,
    /// The search's highest load (default: 4096 concurrent requests, 10000 req/s).
    #[arg(allow_negative_numbers = true, long, value_name = "LOAD")]
    pub search_max: Option<f64>,
    /// The sweep's folder (default: sweep-DATE under --result-dir or here).
    #[arg(long, value_name = "DIR")]
    pub sweep_dir: Option<PathBuf>,
}

/// Most steps in one list and most repeats: more is a typo.
const MAX_STEPS: usize = 1000;
const MAX_RUNS: u32 = 1000;

impl LoadArgs {
    /// The runs these flags describe: one step for plain values, one per list item, each
    /// checked as a single run would be.
    pub fn to_sweep_plan(
        &self,
        positional: Option<&str>,
        defaults: PlanDefaults,
    ) -> Result<SweepPlan, SetupError> {
        let conc = concurrencies(self).map_err(bad)?;
        let rate = rates(self).map_err(bad)?;
        let prompts = prompt_counts(self).map_err(bad)?;
        let sw = &self.sweep;
        if conc.len() > 1 && rate.len() > 1 {
            return Err(bad(
                "lists given to both --max-concurrency and --request-rate; sweep one of them",
            ));
        }
        let axis = if rate.len() > 1 || (conc[0].is_none() && rate[0].is_some()) {
            Axis::Rate
        } else {
            Axis::Concurrency
        };
        let paired_prompts = prompts.len() > 1;
        let values: Vec<(Option<u32>, Option<f64>)> = if rate.len() > 1 {
            rate.iter().map(|&r| (conc[0], r)).collect()
        } else {
            conc.iter().map(|&c| (c, rate[0])).collect()
        };
        if paired_prompts && prompts.len() != values.len() {
            return Err(bad(format!(
                "--num-prompts: {} values for {} steps; give one value or one per step",
                prompts.len(),
                values.len()
            )));
        }
        // Every other flag parsed first (their messages come before the load's).
        let first = Step {
            max_concurrency: conc[0],
            request_rate: rate[0],
            num_prompts: prompts[0],
        };
        let base = self.plan_with_load(positional, first)?;
        let has_duration = self.duration.is_some();
        let count_known =
            |n: Option<u64>| n.is_some() || (!has_duration && defaults.prompts.is_some());
        if base.load.ramp_up.is_some() && !prompts.iter().all(|&n| count_known(n)) {
            return Err(bad(
                "--ramp-up-strategy needs --num-prompts: the ramp spreads over the requests",
            ));
        }
        let steps = values
            .iter()
            .enumerate()
            .map(|(i, &(c, r))| {
                let n = prompts[if paired_prompts { i } else { 0 }];
                resolve_step(c, r, n, has_duration, defaults)
            })
            .collect::<Result<Vec<Step>, _>>()?;
        if sw.num_runs == 0 || sw.num_runs > MAX_RUNS {
            return Err(bad(format!(
                "--num-runs: '{}' is out of range: use 1 to {MAX_RUNS}",
                sw.num_runs
            )));
        }
        if !(sw.cooldown.is_finite() && (0.0..=86_400.0).contains(&sw.cooldown)) {
            return Err(bad(format!(
                "--cooldown: '{}' is out of range: use 0 to 86400 seconds",
                crate::console::number(sw.cooldown)
            )));
        }
        let search = sw
            .search
            .map(|a| search_spec(self, a, steps.len()))
            .transpose()
            .map_err(bad)?;
        if base.load.ramp_up.is_some() && search.is_some_and(|s| s.axis == Axis::Rate) {
            return Err(bad(
                "--search rate chooses the rate itself; leave --ramp-up-strategy out",
            ));
        }
        let mut plan = SweepPlan {
            base,
            axis: search.map(|s| s.axis).unwrap_or(axis),
            search_base: steps[0],
            paired_prompts: paired_prompts && search.is_none(),
            steps: Vec::new(),
            num_runs: sw.num_runs,
            cooldown: Duration::from_secs_f64(sw.cooldown),
            reset_cache: sw.reset_cache,
            continue_on_error: sw.continue_on_error,
            search,
            dir: sw.sweep_dir.clone(),
        };
        plan.base = plan.run_plan(&steps[0], 0);
        // Every fixed step through the same bounds as a single run.
        for s in &steps {
            bounds::check(&plan.run_plan(s, 0)).map_err(bad)?;
        }
        crate::load::workload::check_plan(&plan.base.workload).map_err(bad)?;
        if search.is_none() {
            plan.steps = steps;
        }
        Ok(plan)
    }
}

fn items(flag: &str, raw: &str) -> Result<Vec<String>, String> {
    let parts: Vec<String> = raw.split(',').map(|p| p.trim().to_string()).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Err(format!(
            "{flag}: '{raw}' is empty; give a value or a list like 1,2,4"
        ));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "{flag}: '{raw}' has an empty item; write it like 1,2,4"
        ));
    }
    if parts.len() > MAX_STEPS {
        return Err(format!(
            "{flag}: {} values is more than {MAX_STEPS} steps",
            parts.len()
        ));
    }
    Ok(parts)
}

/// A whole number in `T`: 'inf', negatives, fractions and words refused by name; a number too
/// large for `T` is out of range (`top` is the flag's bound).
fn whole<T: std::str::FromStr>(flag: &str, v: &str, inf_hint: &str, top: u64) -> Result<T, String> {
    if v.eq_ignore_ascii_case("inf") || v.eq_ignore_ascii_case("infinity") {
        return Err(format!("{flag}: '{v}' cannot be infinite; {inf_hint}"));
    }
    if v.starts_with('-') {
        return Err(format!("{flag}: '{v}' is negative; use 1 or more"));
    }
    v.parse::<T>().map_err(|_| {
        if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
            format!("{flag}: '{v}' is out of range: use 1 to {top}")
        } else {
            format!("{flag}: '{v}' is not a whole number")
        }
    })
}

/// `--max-concurrency 1,2,4` or `--concurrency-list 1 2 4` (not both); `[None]` when neither.
fn concurrencies(load: &LoadArgs) -> Result<Vec<Option<u32>>, String> {
    let list = &load.sweep.concurrency_list;
    let (flag, raw) = match (&load.max_concurrency, list.is_empty()) {
        (Some(_), false) => {
            return Err(
                "--max-concurrency and --concurrency-list both given; give the list once".into(),
            )
        }
        (Some(r), true) => ("--max-concurrency", r.clone()),
        (None, false) => ("--concurrency-list", list.join(",")),
        (None, true) => return Ok(vec![None]),
    };
    let top = u64::from(bounds::MAX_CONCURRENCY);
    items(flag, &raw)?
        .iter()
        .map(|v| {
            let c: u32 = whole(flag, v, "leave --max-concurrency out for no cap", top)?;
            if c == 0 {
                return Err(format!(
                    "{flag}: '{v}' would never send anything; use 1 or more"
                ));
            }
            Ok(Some(c))
        })
        .collect()
}

/// `--request-rate 1,2,inf` (one parser for the values: `plan::parse_rate`).
fn rates(load: &LoadArgs) -> Result<Vec<Option<f64>>, String> {
    items("--request-rate", &load.request_rate)?
        .iter()
        .map(|v| parse_rate("--request-rate", v))
        .collect()
}

/// `--num-prompts 100` or `--num-prompts 10,20,40`; `[None]` when not given.
fn prompt_counts(load: &LoadArgs) -> Result<Vec<Option<u64>>, String> {
    let Some(raw) = &load.num_prompts else {
        return Ok(vec![None]);
    };
    items("--num-prompts", raw)?
        .iter()
        .map(|v| {
            whole::<u64>(
                "--num-prompts",
                v,
                "give a count, or --duration",
                bounds::MAX_PROMPTS,
            )
            .map(Some)
        })
        .collect()
}

fn search_spec(load: &LoadArgs, a: SearchAxis, steps: usize) -> Result<SearchSpec, String> {
    let sw = &load.sweep;
    if load.goodput.is_empty() {
        return Err("--search needs SLOs to meet: add e.g. --goodput ttft:500 tpot:50".into());
    }
    if steps > 1 {
        return Err("--search chooses the loads itself; give single values, not lists".into());
    }
    if !(sw.slo_attainment > 0.0 && sw.slo_attainment <= 100.0) {
        return Err(format!(
            "--slo-attainment: '{}' is out of range: use a percentage above 0 and at most 100",
            crate::console::number(sw.slo_attainment)
        ));
    }
    let axis = match a {
        SearchAxis::Concurrency => Axis::Concurrency,
        SearchAxis::Rate => Axis::Rate,
    };
    let (default_max, top, floor) = match axis {
        Axis::Concurrency => (4096.0, f64::from(bounds::MAX_CONCURRENCY), 1.0),
        Axis::Rate => (10_000.0, bounds::MAX_RATE, bounds::MIN_RATE),
    };
    let start = sw.search_start.unwrap_or(1.0);
    let max = sw.search_max.unwrap_or(default_max);
    for (flag, v) in [("--search-start", start), ("--search-max", max)] {
        if !(v.is_finite() && v >= floor && v <= top) {
            return Err(format!(
                "{flag}: '{}' is out of range: use {} to {}",
                crate::console::number(v),
                crate::console::number(floor),
                crate::console::number(top)
            ));
        }
    }
    if max < start {
        return Err(format!(
            "--search-max: '{}' is below --search-start '{}'",
            crate::console::number(max),
            crate::console::number(start)
        ));
    }
    if let Some(r) = sw.search_resolution {
        if !(r.is_finite() && r > 0.0 && r <= max) {
            return Err(format!(
                "--search-resolution: '{}' is out of range: use a positive load up to --search-max",
                crate::console::number(r)
            ));
        }
    }
    if axis == Axis::Concurrency && load.max_concurrency.is_some() {
        return Err("--search concurrency chooses --max-concurrency itself; leave it out".into());
    }
    Ok(SearchSpec {
        axis,
        attainment_pct: sw.slo_attainment,
        start,
        max,
        resolution: sw.search_resolution,
    })
}

/// `tokscope bench ARGS...` as a sweep plan (bench's defaults), for unit tests.
#[cfg(test)]
pub(crate) fn test_sweep_plan(args: &[&str]) -> Result<SweepPlan, String> {
    let bench = PlanDefaults {
        concurrency: None,
        prompts: Some(1000),
    };
    super::test_args(args)
        .to_sweep_plan(None, bench)
        .map_err(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(flags: &[&str]) -> Result<SweepPlan, String> {
        test_sweep_plan(flags)
    }

    #[test]
    fn a_concurrency_list_gives_one_step_per_value() {
        for flags in [
            &["--max-concurrency", "1,2, 4"][..],
            &["--concurrency-list", "1", "2", "4"][..],
        ] {
            let p = plan(flags).unwrap();
            assert_eq!(p.axis, Axis::Concurrency);
            let c: Vec<_> = p.steps.iter().map(|s| s.max_concurrency).collect();
            assert_eq!(c, vec![Some(1), Some(2), Some(4)], "{flags:?}");
            assert!(p.is_sweep());
        }
    }

    #[test]
    fn a_rate_list_keeps_inf_and_the_cap() {
        let p = plan(&["--request-rate", "1,2.5,inf", "--max-concurrency", "8"]).unwrap();
        assert_eq!(p.axis, Axis::Rate);
        let r: Vec<_> = p.steps.iter().map(|s| s.request_rate).collect();
        assert_eq!(r, vec![Some(1.0), Some(2.5), None]);
        assert!(p.steps.iter().all(|s| s.max_concurrency == Some(8)));
        assert_eq!(p.steps[2].name(p.axis, false), "request_rate=inf");
    }

    #[test]
    fn num_prompts_pairs_with_the_steps() {
        let p = plan(&["--max-concurrency", "1,2,4", "--num-prompts", "10,20,40"]).unwrap();
        let n: Vec<_> = p.steps.iter().map(|s| s.num_prompts).collect();
        assert_eq!(n, vec![Some(10), Some(20), Some(40)]);
        assert_eq!(
            p.steps[1].name(p.axis, true),
            "max_concurrency=2-num_prompts=20"
        );
        let p = plan(&["--max-concurrency", "1,2", "--num-prompts", "7"]).unwrap();
        assert!(p.steps.iter().all(|s| s.num_prompts == Some(7)));
        // Bench's default count fills every step that gives none.
        let p = plan(&["--max-concurrency", "1,2"]).unwrap();
        assert!(p.steps.iter().all(|s| s.num_prompts == Some(1000)));
    }

    #[test]
    fn one_value_is_a_single_run() {
        let p = plan(&["--max-concurrency", "4", "--num-prompts", "9"]).unwrap();
        assert!(!p.is_sweep());
        let one = p.single();
        assert_eq!(
            (one.load.max_concurrency, one.load.num_prompts),
            (Some(4), Some(9))
        );
    }

    #[test]
    fn the_dashboard_default_concurrency_fills_a_rate_sweeps_inf_step() {
        let dash = PlanDefaults {
            concurrency: Some(8),
            prompts: None,
        };
        let p = crate::cli::test_args(&["--request-rate", "2,inf"])
            .to_sweep_plan(None, dash)
            .unwrap();
        assert_eq!(p.steps[0].max_concurrency, None);
        assert_eq!(p.steps[1].max_concurrency, Some(8));
    }

    /// Every message a bad list gives, word for word.
    #[rstest::rstest]
    #[case(&["--max-concurrency", ""], "--max-concurrency: '' is empty; give a value or a list like 1,2,4")]
    #[case(&["--max-concurrency", "1,,4"], "--max-concurrency: '1,,4' has an empty item; write it like 1,2,4")]
    #[case(&["--max-concurrency", "1,x"], "--max-concurrency: 'x' is not a whole number")]
    #[case(&["--max-concurrency", "2,-1"], "--max-concurrency: '-1' is negative; use 1 or more")]
    #[case(&["--max-concurrency", "1,inf"], "--max-concurrency: 'inf' cannot be infinite; leave --max-concurrency out for no cap")]
    #[case(&["--max-concurrency", "1,0"], "--max-concurrency: '0' would never send anything; use 1 or more")]
    #[case(&["--max-concurrency", "1,9999999999"], "--max-concurrency: '9999999999' is out of range: use 1 to 100000")]
    #[case(&["--max-concurrency", "1,200000"], "--max-concurrency: '200000' is out of range: use 1 to 100000")]
    #[case(&["--concurrency-list", "1", "2.5"], "--concurrency-list: '2.5' is not a whole number")]
    #[case(&["--request-rate", "1,0"], "--request-rate: '0' is not a positive number or 'inf'")]
    #[case(&["--request-rate", "1,fast"], "--request-rate: 'fast' is not a positive number or 'inf'")]
    #[case(&["--max-concurrency", "1,2", "--num-prompts", "10,0"], "--num-prompts: '0' sends nothing; use 1 or more")]
    #[case(&["--num-prompts", "inf"], "--num-prompts: 'inf' cannot be infinite; give a count, or --duration")]
    #[case(&["--max-concurrency", "1,2", "--num-prompts", "1,2,3"], "--num-prompts: 3 values for 2 steps; give one value or one per step")]
    #[case(&["--max-concurrency", "1,2", "--request-rate", "1,2"], "lists given to both --max-concurrency and --request-rate; sweep one of them")]
    #[case(&["--max-concurrency", "1", "--concurrency-list", "2"], "--max-concurrency and --concurrency-list both given; give the list once")]
    #[case(&["--num-runs", "0"], "--num-runs: '0' is out of range: use 1 to 1000")]
    #[case(&["--cooldown", "-1"], "--cooldown: '-1' is out of range: use 0 to 86400 seconds")]
    #[case(&["--search", "rate"], "--search needs SLOs to meet: add e.g. --goodput ttft:500 tpot:50")]
    #[case(&["--search", "rate", "--goodput", "ttft:100", "--slo-attainment", "0"], "--slo-attainment: '0' is out of range: use a percentage above 0 and at most 100")]
    #[case(&["--search", "concurrency", "--goodput", "ttft:100", "--max-concurrency", "1,2"], "--search chooses the loads itself; give single values, not lists")]
    #[case(&["--search", "concurrency", "--goodput", "ttft:100", "--search-max", "0.5"], "--search-max: '0.5' is out of range: use 1 to 100000")]
    #[case(&["--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1"], "--ramp-up-strategy needs both --ramp-up-start-rps and --ramp-up-end-rps")]
    #[case(&["--ramp-up-end-rps", "4"], "--ramp-up-start-rps and --ramp-up-end-rps need --ramp-up-strategy linear or exponential")]
    #[case(&["--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1", "--ramp-up-end-rps", "4", "--request-rate", "2"], "--request-rate: '2' cannot be given with --ramp-up-strategy; the ramp sets the rate")]
    #[case(&["--ramp-up-strategy", "exponential", "--ramp-up-start-rps", "0", "--ramp-up-end-rps", "4"], "--ramp-up-start-rps: '0' is out of range: use 0.0001 to 1000000 requests per second")]
    #[case(&["--ramp-up-strategy", "linear", "--ramp-up-start-rps", "5", "--ramp-up-end-rps", "2"], "--ramp-up-start-rps: '5' is above --ramp-up-end-rps '2'; a ramp climbs")]
    #[case(&["--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1", "--ramp-up-end-rps", "2", "--duration", "5"], "--ramp-up-strategy needs --num-prompts: the ramp spreads over the requests")]
    fn bad_lists_name_the_value(#[case] flags: &[&str], #[case] want: &str) {
        assert_eq!(plan(flags).unwrap_err(), want, "{flags:?}");
    }
}
