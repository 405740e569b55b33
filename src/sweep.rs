//! A series of runs: concurrency or rate lists, repeats, a capacity search. The driver runs one
//! step after another through the single-run entry points, writes each run's result as it
//! finishes and rewrites the summary files after every run, so a Ctrl-C or a dead server
//! leaves valid files with every finished step and the partial one.
//!
//! - [`plan`]: the steps from the flags, each step's own load flags and seed.
//! - [`search`]: the capacity search as a pure state machine over probes.
//! - [`summary`]: the files (vLLM sweep layout) and the per-step figures, best step and knee.
//! - [`step`]: one run, and the clean-up between steps.
//!
//! Faces watch a [`SweepView`] on a `watch` channel; `bench` prints a line per step, the
//! dashboard draws the sweep pane.

pub mod plan;
pub mod search;
pub mod step;
pub mod summary;

use plan::{Axis, Step, SweepPlan};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;
use step::{CacheReset, CurrentRun, Shared};
use summary::StepSummary;
use tokio::sync::watch;

/// What a face sees of a sweep, published after every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepView {
    pub axis: Option<Axis>,
    /// Finished steps, in the order they ran.
    pub steps: Vec<StepSummary>,
    /// The step running now: (index from 0, total steps if known, name).
    pub current: Option<(usize, Option<usize>, String)>,
    /// Time left, from the mean time of the runs so far (fixed steps only).
    pub eta: Option<Duration>,
    pub best: Option<usize>,
    pub knee: Option<usize>,
    /// The capacity search's answer, once found.
    pub answer: Option<String>,
    pub finished: bool,
}

/// Keys and signals reach the driver through this.
#[derive(Default)]
pub struct SweepControl {
    pub current: CurrentRun,
    /// Finish the step in progress, then stop.
    pub stop_after_step: AtomicBool,
    /// Ctrl-C: stop the run in progress and the sweep; keep what finished.
    pub interrupted: AtomicBool,
    /// Skip: end the step in progress now and go to the next one.
    skip: AtomicBool,
}

impl SweepControl {
    pub fn interrupt(&self) {
        self.interrupted.store(true, SeqCst);
        self.current.stop();
    }

    pub fn skip_step(&self) {
        self.skip.store(true, SeqCst);
        self.current.stop();
    }
}

/// How a sweep ended.
pub struct SweepOutcome {
    pub steps: Vec<StepSummary>,
    pub interrupted: bool,
    /// A step failed as a whole and `--continue-on-error` was not given.
    pub stopped_on_error: bool,
    pub failures: usize,
    pub answer: Option<String>,
}

/// The sweep's folder: `--sweep-dir`, or `sweep-DATE` under `--result-dir` (or here).
pub fn sweep_dir(plan: &SweepPlan) -> PathBuf {
    plan.dir.clone().unwrap_or_else(|| {
        let name = format!("sweep-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"));
        match &plan.base.output.result_dir {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        }
    })
}

struct Driver<'a> {
    base: &'a str,
    plan: &'a SweepPlan,
    dir: &'a Path,
    ctl: &'a SweepControl,
    view: &'a watch::Sender<SweepView>,
    http: reqwest::Client,
    records: Vec<Value>,
    failures: Vec<Value>,
    steps: Vec<StepSummary>,
    runs_started: u64,
    started: tokio::time::Instant,
    reset_said: bool,
    stopped_on_error: bool,
    answer: Option<String>,
    search_json: Value,
    /// The last entry of `steps` is the step in progress.
    partial: bool,
}

/// Run the sweep to its end, a Ctrl-C, or a failed step.
pub async fn run(
    sh: &Shared<'_>,
    plan: &SweepPlan,
    dir: &Path,
    ctl: &SweepControl,
    view: &watch::Sender<SweepView>,
) -> anyhow::Result<SweepOutcome> {
    let req = &plan.base.request;
    let http = crate::protocol::client::http_client(&req.headers, req.api_key.as_deref())?;
    let mut d = Driver {
        base: sh.base_url,
        plan,
        dir,
        ctl,
        view,
        http,
        records: Vec::new(),
        failures: Vec::new(),
        steps: Vec::new(),
        runs_started: 0,
        started: tokio::time::Instant::now(),
        reset_said: false,
        stopped_on_error: false,
        answer: None,
        search_json: Value::Null,
        partial: false,
    };
    view.send_modify(|v| v.axis = Some(plan.axis));
    match plan.search {
        None => {
            let total = plan.steps.len();
            for (i, s) in plan.steps.iter().enumerate() {
                if d.should_stop() {
                    break;
                }
                d.run_step(sh, i, Some(total), s).await?;
            }
        }
        Some(spec) => {
            let mut search = search::Search::new(spec);
            while let Some(load_value) = search.next_load() {
                if d.should_stop() {
                    break;
                }
                let step = plan.search_base.with_load(spec.axis, load_value);
                let i = d.steps.len();
                let passed = d.run_step(sh, i, None, &step).await?;
                if d.ctl.interrupted.load(SeqCst) {
                    break;
                }
                search.record(load_value, passed);
                if let Some(s) = d.steps.last_mut() {
                    s.passed = Some(passed);
                }
            }
            d.answer = Some(capacity_sentence(plan, &spec, &search, &d.steps));
            d.search_json = json!({
                "axis": spec.axis.key(),
                "slo_attainment_pct": spec.attainment_pct,
                "goodput": slo_texts(plan),
                "capacity": search.answer().capacity,
                "first_failing": search.answer().first_failing,
                "probes": search.probes.iter().map(|(l, p)| json!({"load": l, "passed": p})).collect::<Vec<_>>(),
                "answer": d.answer,
            });
        }
    }
    d.write_files()?;
    view.send_modify(|v| {
        v.current = None;
        v.eta = None;
        v.answer = d.answer.clone();
        v.finished = true;
    });
    Ok(SweepOutcome {
        steps: d.steps,
        interrupted: ctl.interrupted.load(SeqCst),
        stopped_on_error: d.stopped_on_error,
        failures: d.failures.len(),
        answer: d.answer,
    })
}

impl Driver<'_> {
    fn should_stop(&self) -> bool {
        self.ctl.interrupted.load(SeqCst)
            || self.ctl.stop_after_step.load(SeqCst)
            || self.stopped_on_error
    }

    /// Between runs: cool down, drain the server's queue, drop its prefix cache if asked.
    async fn before_run(&mut self) {
        if self.runs_started > 0 && !self.plan.cooldown.is_zero() {
            tokio::time::sleep(self.plan.cooldown).await;
        }
        if let Some(note) = step::wait_until_idle(self.base).await {
            crate::console::err_line(&format!("warning: {note}"));
        }
        if self.plan.reset_cache {
            match step::reset_prefix_cache(&self.http, self.base).await {
                CacheReset::Done(_) => {}
                CacheReset::Unsupported(msg) if !self.reset_said => {
                    crate::console::err_line(&format!("warning: {msg}"));
                    self.reset_said = true;
                }
                CacheReset::Unsupported(_) => {}
            }
        }
    }

    /// Run every repeat of one step; returns whether it met the SLOs (for a search).
    async fn run_step(
        &mut self,
        sh: &Shared<'_>,
        index: usize,
        total: Option<usize>,
        s: &Step,
    ) -> anyhow::Result<bool> {
        let name = s.name(self.plan.axis, self.plan.paired_prompts);
        let step_dir = self.dir.join(format!("BENCH--{name}"));
        let params = self.params(s);
        self.publish_current(index, total, &name);
        // A skip pressed between steps (cooling down, draining) ends no step.
        self.ctl.skip.store(false, SeqCst);
        let mut runs: Vec<Value> = Vec::new();
        let mut failed = 0;
        let mut attainments = Vec::new();
        for run in 0..self.plan.num_runs {
            if self.ctl.interrupted.load(SeqCst) || self.ctl.skip.load(SeqCst) {
                break;
            }
            self.before_run().await;
            let mut run_plan = self.plan.run_plan(s, self.runs_started);
            self.runs_started += 1;
            run_plan.output.result_dir = Some(step_dir.clone());
            run_plan.output.result_filename = Some(format!("run={run}.json"));
            match step::run_once(sh, &run_plan).await {
                Ok(done) => {
                    let path = step_dir.join(format!("run={run}.json"));
                    crate::report::result::write_json(&path, &done.result)?;
                    if let Some(a) = done.attainment_pct {
                        attainments.push(a);
                    }
                    if done.all_failed {
                        // Its result file stays for the record; its figures would be zeros.
                        failed += 1;
                        self.failure(&step_dir, &name, run, "every request of the run failed");
                    } else {
                        let record = summary::run_record(&done.result, run, &params);
                        self.records.push(record.clone());
                        runs.push(record);
                    }
                }
                Err(e) => {
                    failed += 1;
                    self.failure(&step_dir, &name, run, &format!("{e:#}"));
                }
            }
            let partial =
                StepSummary::from_runs(name.clone(), s.load_on(self.plan.axis), &runs, failed);
            self.write_partial(partial)?;
            if failed > 0 && !self.plan.continue_on_error {
                self.stopped_on_error = true;
                break;
            }
        }
        self.ctl.skip.store(false, SeqCst);
        let summary =
            StepSummary::from_runs(name.clone(), s.load_on(self.plan.axis), &runs, failed);
        let passed = self.plan.search.is_some_and(|spec| {
            !attainments.is_empty()
                && failed == 0
                && attainments.iter().sum::<f64>() / attainments.len() as f64 >= spec.attainment_pct
        });
        self.print_step(index, total, &summary);
        // The partial entry becomes the finished one.
        if self.partial {
            self.steps.pop();
        }
        self.partial = false;
        self.steps.push(summary);
        self.write_files()?;
        Ok(passed)
    }

    /// The sweep's keys in each run's record: the swept parameter (as vLLM's bench_params).
    fn params(&self, s: &Step) -> Vec<(&'static str, Value)> {
        let mut p = vec![match self.plan.axis {
            Axis::Concurrency => ("max_concurrency", json!(s.max_concurrency)),
            Axis::Rate => (
                "request_rate",
                s.request_rate
                    .map(Value::from)
                    .unwrap_or_else(|| json!("inf")),
            ),
        }];
        if self.plan.paired_prompts {
            p.push(("num_prompts", json!(s.num_prompts)));
        }
        p
    }

    fn failure(&mut self, step_dir: &Path, name: &str, run: u32, error: &str) {
        crate::console::err_line(&format!("step {name} run {run} failed: {error}"));
        let v = json!({"step": name, "run_number": run, "error": error});
        // vLLM's failure file name beside the run's.
        let _ = crate::report::result::write_json(
            &step_dir.join(format!("run={run}.failure.json")),
            &v,
        );
        self.failures.push(v);
    }

    /// Replace the step in progress in the view and the files (a Ctrl-C keeps it).
    fn write_partial(&mut self, partial: StepSummary) -> anyhow::Result<()> {
        if self.partial {
            self.steps.pop();
        }
        self.steps.push(partial);
        self.partial = true;
        self.write_files()
    }

    fn publish_current(&self, index: usize, total: Option<usize>, name: &str) {
        let eta = total.and_then(|t| {
            let done = self.runs_started;
            (done > 0).then(|| {
                let per_run = self.started.elapsed() / done as u32;
                let left = (t as u64 * u64::from(self.plan.num_runs)).saturating_sub(done);
                per_run * left as u32
            })
        });
        self.view.send_modify(|v| {
            v.current = Some((index, total, name.to_string()));
            v.eta = eta;
        });
    }

    fn print_step(&self, index: usize, total: Option<usize>, s: &StepSummary) {
        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
        let fig = |k: &str, unit: &str| {
            s.figures.get(k).map(|f| {
                let flag = if f.unstable { " (spread!)" } else { "" };
                if f.runs > 1 {
                    format!("{:.1}±{:.1}{unit}{flag}", f.mean, f.std)
                } else {
                    format!("{:.1}{unit}", f.mean)
                }
            })
        };
        let parts: Vec<String> = [
            fig("output_throughput", " tok/s"),
            fig("median_ttft_ms", " ms p50 TTFT"),
            fig("median_tpot_ms", " ms p50 TPOT"),
            fig("slo_attainment_pct", "% met SLOs"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let verdict = match s.passed {
            Some(true) => " - pass",
            Some(false) => " - fail",
            None => "",
        };
        crate::console::err_line(&format!(
            "step {}{of} {}: {}{verdict}",
            index + 1,
            s.name,
            if parts.is_empty() {
                "no result".into()
            } else {
                parts.join(", ")
            }
        ));
    }

    fn write_files(&mut self) -> anyhow::Result<()> {
        let best = summary::best_step(&self.steps);
        let knee = summary::knee(&self.steps);
        let sweep = json!({
            "tokscope_version": env!("CARGO_PKG_VERSION"),
            "layout": "vllm bench sweep serve: summary.json (one record per run) at the root, BENCH--<step>/run=<n>.json",
            "axis": self.plan.axis.key(),
            "num_runs": self.plan.num_runs,
            "steps": self.steps,
            "best_step": best.and_then(|i| self.steps.get(i)).map(|s| &s.name),
            "knee_step": knee.and_then(|i| self.steps.get(i)).map(|s| &s.name),
            "failures": self.failures,
            "interrupted": self.ctl.interrupted.load(SeqCst),
            "search": self.search_json,
        });
        summary::write_all(self.dir, &self.records, &sweep)?;
        let steps = self.steps.clone();
        self.view.send_modify(|v| {
            v.steps = steps;
            v.best = best;
            v.knee = knee;
        });
        Ok(())
    }
}

/// "12 concurrent users / 4.1 req/s at p95 TTFT <= 500 ms ..." from the search.
fn capacity_sentence(
    plan: &SweepPlan,
    spec: &plan::SearchSpec,
    s: &search::Search,
    steps: &[StepSummary],
) -> String {
    let slos = plan
        .base
        .stats
        .goodput
        .iter()
        .map(|g| {
            format!(
                "{} <= {} ms",
                g.metric.key(),
                crate::console::number(g.limit_ms)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let pct = crate::console::number(spec.attainment_pct);
    let a = s.answer();
    let Some(cap) = a.capacity else {
        return format!(
            "no capacity: even {} missed {slos} for more than {}% of requests",
            show_load(spec.axis, spec.start),
            crate::console::number(100.0 - spec.attainment_pct)
        );
    };
    let at = steps
        .iter()
        .rev()
        .find(|st| st.load == Some(cap) && st.passed == Some(true));
    let rps = at
        .and_then(|st| st.figure("request_throughput"))
        .map(|r| format!(" / {r:.2} req/s"))
        .unwrap_or_default();
    let tok = at
        .and_then(|st| st.figure("output_throughput"))
        .map(|t| format!(", {t:.0} output tok/s"))
        .unwrap_or_default();
    let next = match a.first_failing {
        Some(f) => format!("; {} did not", show_load(spec.axis, f)),
        None => " (the search's top; --search-max goes higher)".into(),
    };
    format!(
        "capacity: {}{rps} with {slos} for {pct}% of requests{tok}{next}",
        show_load(spec.axis, cap)
    )
}

/// The SLOs as `--goodput` takes them: `ttft:500`.
fn slo_texts(plan: &SweepPlan) -> Vec<String> {
    plan.base
        .stats
        .goodput
        .iter()
        .map(|g| format!("{}:{}", g.metric.key(), crate::console::number(g.limit_ms)))
        .collect()
}

fn show_load(axis: Axis, v: f64) -> String {
    match axis {
        Axis::Concurrency => format!("{} concurrent users", v.round()),
        Axis::Rate => format!(
            "{} req/s",
            crate::console::number((v * 100.0).round() / 100.0)
        ),
    }
}
