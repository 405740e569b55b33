//! The load flags to a run plan, once. Every bad value is refused here with one line naming the
//! flag and the value (exit 2), before anything is sent.

use super::LoadArgs;
use crate::plan::{
    parse_seconds, EndpointKind, LoadPlan, OutputPlan, RampUp, RequestPlan, RunPlan, StatsPlan,
    WorkloadPlan,
};
use crate::runner::{bounds, SetupError};
use crate::sweep::plan::Step;
use serde_json::{json, Map, Value};

/// What a face assumes when the flags leave it open.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanDefaults {
    /// The concurrency when neither a rate nor a concurrency is given (the dashboard's 8).
    pub concurrency: Option<u32>,
    /// The prompts when neither a count nor a duration is given (`bench`: vLLM's 1000).
    pub prompts: Option<u64>,
}

pub(super) fn bad(msg: impl Into<String>) -> SetupError {
    SetupError(msg.into())
}

impl LoadArgs {
    /// The one run these flags describe. `positional` is a URL given before the flags. Lists,
    /// repeats and `--search` are refused here: faces that run sweeps call `to_sweep_plan`.
    pub fn to_plan(
        &self,
        positional: Option<&str>,
        defaults: PlanDefaults,
    ) -> Result<RunPlan, SetupError> {
        let sweep = self.to_sweep_plan(positional, defaults)?;
        if sweep.is_sweep() {
            return Err(bad(
                "lists, --num-runs and --search make a sweep; give one value per flag here",
            ));
        }
        Ok(sweep.single())
    }

    /// The plan of one run with the load values of `step`; every other flag is parsed here.
    /// Its bounds are the caller's to check, per step (`to_sweep_plan`).
    pub(super) fn plan_with_load(
        &self,
        positional: Option<&str>,
        step: Step,
    ) -> Result<RunPlan, SetupError> {
        let base_url = resolve_base_url(positional, self)?;
        let Step {
            max_concurrency,
            request_rate: rate,
            num_prompts,
        } = step;
        let percentiles =
            crate::metrics::stats::parse_percentiles(&self.metric_percentiles).map_err(bad)?;
        let goodput = crate::metrics::recorder::parse_goodput(&self.goodput).map_err(bad)?;
        let headers = crate::protocol::client::parse_headers(&self.headers).map_err(bad)?;
        let extra_body = parse_json_object("--extra-body", &self.extra_body)?;
        let chat_template_kwargs =
            parse_json_object("--chat-template-kwargs", &self.chat_template_kwargs)?;
        let timeout = parse_seconds("--timeout", self.timeout).map_err(bad)?;
        let duration = self
            .duration
            .map(|d| parse_seconds("--duration", d))
            .transpose()
            .map_err(bad)?;
        let drain_timeout = parse_seconds("--drain-timeout", self.drain_timeout).map_err(bad)?;
        let stop_when_unreachable = match self.stop_when_unreachable {
            0.0 => None,
            s => Some(parse_seconds("--stop-when-unreachable", s).map_err(bad)?),
        };
        let gpu = self.gpu.monitor().map_err(bad)?;
        let endpoint = if self.endpoint.starts_with('/') {
            self.endpoint.clone()
        } else {
            format!("/{}", self.endpoint)
        };
        let metadata = self
            .metadata
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| bad(format!("--metadata: '{kv}' is not KEY=VALUE")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plan = RunPlan {
            base_url,
            request: RequestPlan {
                kind: EndpointKind::of_path(&endpoint),
                endpoint,
                model: self.model.clone(),
                served_model_name: self.served_model_name.clone(),
                headers,
                api_key: self.api_key.clone(),
                extra_body,
                chat_template_kwargs,
                ignore_eos: self.ignore_eos,
                temperature: self.temperature,
                top_p: self.top_p,
                timeout,
                probe: !self.no_probe,
                include_usage: !self.no_stream_usage,
                max_completion_tokens: !self.no_max_completion_tokens,
            },
            load: LoadPlan {
                max_concurrency,
                request_rate: rate,
                burstiness: self.burstiness,
                num_prompts,
                duration,
                drain_timeout,
                num_warmups: self.num_warmups,
                stop_when_unreachable,
                seed: self.seed,
                ramp_up: self.ramp_up(rate)?,
            },
            workload: self.workload_plan(),
            stats: StatsPlan {
                percentiles,
                goodput,
                detailed: self.save_detailed,
            },
            gpu,
            output: OutputPlan {
                save_result: self.save_result || self.save_detailed,
                result_dir: self.result_dir.clone(),
                result_filename: self.result_filename.clone(),
                metadata,
                label: self.label.clone(),
            },
            flags_echo: Value::Null,
        };
        let flags_echo = self.echo(plan.base_url.as_deref(), &step);
        Ok(RunPlan { flags_echo, ..plan })
    }

    /// vLLM's ramp-up flags, checked as vLLM checks them (and a start of 0, which vLLM
    /// accepts and then fails on: its first gap would be endless).
    fn ramp_up(&self, rate: Option<f64>) -> Result<Option<RampUp>, SetupError> {
        let (start, end) = (self.ramp_up_start_rps, self.ramp_up_end_rps);
        let Some(strategy) = self.ramp_up_strategy else {
            if start.is_some() || end.is_some() {
                return Err(bad(
                    "--ramp-up-start-rps and --ramp-up-end-rps need --ramp-up-strategy linear or exponential",
                ));
            }
            return Ok(None);
        };
        let (Some(start), Some(end)) = (start, end) else {
            return Err(bad(
                "--ramp-up-strategy needs both --ramp-up-start-rps and --ramp-up-end-rps",
            ));
        };
        if rate.is_some() {
            return Err(bad(format!(
                "--request-rate: '{}' cannot be given with --ramp-up-strategy; the ramp sets the rate",
                self.request_rate
            )));
        }
        for (flag, v) in [("--ramp-up-start-rps", start), ("--ramp-up-end-rps", end)] {
            if !(v.is_finite() && (bounds::MIN_RATE..=bounds::MAX_RATE).contains(&v)) {
                return Err(bad(format!(
                    "{flag}: '{}' is out of range: use {} to {} requests per second",
                    crate::console::number(v),
                    bounds::MIN_RATE,
                    crate::console::number(bounds::MAX_RATE)
                )));
            }
        }
        if start > end {
            return Err(bad(format!(
                "--ramp-up-start-rps: '{}' is above --ramp-up-end-rps '{}'; a ramp climbs",
                crate::console::number(start),
                crate::console::number(end)
            )));
        }
        Ok(Some(RampUp {
            strategy,
            start_rps: start,
            end_rps: end,
        }))
    }

    /// The prompts the flags ask for (checked by `to_plan`).
    pub(crate) fn workload_plan(&self) -> WorkloadPlan {
        WorkloadPlan {
            dataset: self.dataset_name,
            dataset_path: self.dataset_path.clone(),
            random_input_len: self.random_input_len,
            random_output_len: self.random_output_len,
            random_range_ratio: self.random_range_ratio,
            random_prefix_len: self.random_prefix_len,
            sharegpt_output_len: self.sharegpt_output_len,
            tokenizer: self.tokenizer.clone(),
            seed: self.seed,
        }
    }

    /// The flags that shaped the run, for the result file (no secrets, no header values).
    fn echo(&self, base_url: Option<&str>, step: &Step) -> Value {
        let shown = base_url.map(crate::protocol::client::redact_userinfo);
        json!({
            "base_url": shown,
            "endpoint": self.endpoint,
            "model": self.model,
            "headers": self.headers.iter().map(|h| h.split(['=', ':']).next().unwrap_or("").to_string()).collect::<Vec<_>>(),
            "api_key_set": self.api_key.is_some(),
            "extra_body": self.extra_body,
            "chat_template_kwargs": self.chat_template_kwargs,
            "ignore_eos": self.ignore_eos,
            "temperature": self.temperature,
            "stream_usage": !self.no_stream_usage,
            "max_concurrency": step.max_concurrency,
            "request_rate": crate::sweep::plan::rate_text(step.request_rate),
            "burstiness": self.burstiness,
            "ramp_up_strategy": self.ramp_up_strategy.map(|r| r.name()),
            "ramp_up_start_rps": self.ramp_up_start_rps,
            "ramp_up_end_rps": self.ramp_up_end_rps,
            "num_prompts": step.num_prompts,
            "duration": self.duration,
            "drain_timeout": self.drain_timeout,
            "num_warmups": self.num_warmups,
            "seed": self.seed,
            "dataset_name": self.dataset_name.name(),
            "dataset_path": self.dataset_path,
            "random_input_len": self.random_input_len,
            "random_output_len": self.random_output_len,
            "random_range_ratio": self.random_range_ratio,
            "random_prefix_len": self.random_prefix_len,
            "tokenizer": self.tokenizer,
            "metric_percentiles": self.metric_percentiles,
            "goodput": self.goodput,
        })
    }
}

/// One step's load values with the face's defaults filled in: a concurrency when neither a
/// rate nor a concurrency is given, a count when neither a count nor a duration is.
pub(super) fn resolve_step(
    max_concurrency: Option<u32>,
    rate: Option<f64>,
    num_prompts: Option<u64>,
    has_duration: bool,
    defaults: PlanDefaults,
) -> Result<Step, SetupError> {
    let mut max_concurrency = max_concurrency;
    if rate.is_none() && max_concurrency.is_none() {
        max_concurrency = defaults.concurrency;
    }
    let num_prompts = match (num_prompts, has_duration) {
        (Some(0), _) => return Err(bad("--num-prompts: '0' sends nothing; use 1 or more")),
        (Some(n), _) => Some(n),
        (None, true) => None,
        (None, false) => defaults.prompts,
    };
    if rate.is_none() && max_concurrency.is_none() && num_prompts.is_none() {
        return Err(bad(
            "an infinite --request-rate with no --max-concurrency and no --num-prompts would \
             open connections without bound; set one of them",
        ));
    }
    Ok(Step {
        max_concurrency,
        request_rate: rate,
        num_prompts,
    })
}

/// Where the load goes, from a positional URL, `--base-url`, or `--host`/`--port`.
pub fn resolve_base_url(
    positional: Option<&str>,
    load: &LoadArgs,
) -> Result<Option<String>, SetupError> {
    let raw = match (positional, load.base_url.as_deref()) {
        (Some(p), Some(b)) if p.trim_end_matches('/') != b.trim_end_matches('/') => {
            return Err(bad(format!(
                "two different servers given: '{p}' and --base-url '{b}'; give one"
            )))
        }
        (Some(p), _) => Some(p.to_string()),
        (None, Some(b)) => Some(b.to_string()),
        (None, None) => match (&load.host, load.port) {
            (None, None) => None,
            (h, p) => Some(format!(
                "http://{}:{}",
                h.as_deref().unwrap_or("127.0.0.1"),
                p.unwrap_or(8000)
            )),
        },
    };
    raw.map(|r| crate::runner::normalize_url(&r).map_err(|e| bad(format!("{e:#}"))))
        .transpose()
}

fn parse_json_object(
    flag: &str,
    raw: &Option<String>,
) -> Result<Option<Map<String, Value>>, SetupError> {
    let Some(raw) = raw else { return Ok(None) };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(bad(format!(
            "{flag}: '{raw}' is JSON but not an object (expected e.g. '{{\"top_k\": 20}}')"
        ))),
        Err(e) => Err(bad(format!("{flag}: '{raw}' is not valid JSON ({e})"))),
    }
}

/// `tokscope bench ARGS...` as a plan (bench's defaults), for unit tests of what reads plans.
#[cfg(test)]
pub(crate) fn test_plan(args: &[&str]) -> Result<RunPlan, String> {
    let bench = PlanDefaults {
        concurrency: None,
        prompts: Some(1000),
    };
    test_args(args).to_plan(None, bench).map_err(|e| e.0)
}

/// `tokscope bench ARGS...`'s load flags, for unit tests.
#[cfg(test)]
pub(crate) fn test_args(args: &[&str]) -> LoadArgs {
    use clap::Parser;
    let mut v = vec!["tokscope", "bench"];
    v.extend_from_slice(args);
    match super::Cli::try_parse_from(v).map(|c| c.command) {
        Ok(Some(super::Command::Bench(b))) => b.load.clone(),
        other => panic!("not bench flags: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms() {
        let l = test_args(&[]);
        assert_eq!(
            resolve_base_url(Some("127.0.0.1:8000"), &l)
                .unwrap()
                .as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            resolve_base_url(Some("http://h:1/v1/chat/completions"), &l)
                .unwrap()
                .as_deref(),
            Some("http://h:1")
        );
        assert_eq!(resolve_base_url(None, &l).unwrap(), None);
        let l = test_args(&["--port", "9000"]);
        assert_eq!(
            resolve_base_url(None, &l).unwrap().as_deref(),
            Some("http://127.0.0.1:9000")
        );
        let l = test_args(&["--base-url", "http://a:1"]);
        assert_eq!(
            resolve_base_url(Some("http://b:2"), &l).unwrap_err().0,
            "two different servers given: 'http://b:2' and --base-url 'http://a:1'; give one"
        );
        assert!(resolve_base_url(Some("ftp://x"), &test_args(&[])).is_err());
    }

    #[test]
    fn defaults_fill_only_what_the_flags_leave_open() {
        let dash = PlanDefaults {
            concurrency: Some(8),
            prompts: None,
        };
        let p = test_args(&[]).to_plan(None, dash).unwrap();
        assert_eq!(p.load.max_concurrency, Some(8));
        assert_eq!(p.load.num_prompts, None);
        let p = test_args(&["--request-rate", "4"])
            .to_plan(None, dash)
            .unwrap();
        assert_eq!(
            (p.load.max_concurrency, p.load.request_rate),
            (None, Some(4.0))
        );
        let bench = PlanDefaults {
            concurrency: None,
            prompts: Some(1000),
        };
        let p = test_args(&["--max-concurrency", "3"])
            .to_plan(None, bench)
            .unwrap();
        assert_eq!(
            (p.load.max_concurrency, p.load.num_prompts),
            (Some(3), Some(1000))
        );
        let p = test_args(&["--duration", "5", "--max-concurrency", "2"])
            .to_plan(None, bench)
            .unwrap();
        assert_eq!(p.load.num_prompts, None);
        assert_eq!(
            test_args(&[])
                .to_plan(None, PlanDefaults::default())
                .unwrap_err()
                .0,
            "an infinite --request-rate with no --max-concurrency and no --num-prompts would \
             open connections without bound; set one of them"
        );
    }

    #[test]
    fn the_echo_keeps_no_secret() {
        let p = test_plan(&[
            "--num-prompts",
            "3",
            "--api-key",
            "sk-x",
            "--header",
            "X-Token=abc",
            "--base-url",
            "http://user:pw@h:1",
        ])
        .unwrap();
        let text = p.flags_echo.to_string();
        assert!(
            !text.contains("sk-x") && !text.contains("abc") && !text.contains("pw"),
            "{text}"
        );
        assert_eq!(p.flags_echo["api_key_set"], true);
        assert_eq!(p.request.kind, EndpointKind::Chat);
    }
}
