//! The run plan: everything a run needs to know, parsed and validated once (`cli::to_plan`
//! builds it from the flags; nothing below the faces sees clap). `runner` turns a plan into a
//! running benchmark; a sweep is a list of plans.

pub use crate::load::workload::{Dataset, WorkloadPlan};
use crate::metrics::latency::Slo;
pub use crate::protocol::client::EndpointKind;
use crate::telemetry::gpu::MonitorConfig;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// One run, fully described.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// `scheme://host:port[/prefix]`; `None`: the face decides (the dashboard starts its
    /// simulator, `bench` refuses).
    pub base_url: Option<String>,
    pub request: RequestPlan,
    pub load: LoadPlan,
    pub workload: WorkloadPlan,
    pub stats: StatsPlan,
    pub gpu: MonitorConfig,
    pub output: OutputPlan,
    /// The flags as given (no secrets, no header values), kept in the result's
    /// `tokscope.config` so a result says how it was made.
    pub flags_echo: Value,
}

/// What each request looks like and how it is sent.
#[derive(Debug, Clone, Default)]
pub struct RequestPlan {
    /// API path with a leading `/`.
    pub endpoint: String,
    pub kind: EndpointKind,
    /// `--model`; `None`: the server's first model.
    pub model: Option<String>,
    pub served_model_name: Option<String>,
    pub headers: Vec<(String, String)>,
    pub api_key: Option<String>,
    pub extra_body: Option<Map<String, Value>>,
    pub chat_template_kwargs: Option<Map<String, Value>>,
    pub ignore_eos: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub timeout: Duration,
    /// Send one probe request before the run.
    pub probe: bool,
    /// Ask for `stream_options.include_usage`.
    pub include_usage: bool,
    /// Chat API: send `max_completion_tokens` beside `max_tokens`.
    pub max_completion_tokens: bool,
}

/// How much load, and when.
#[derive(Debug, Clone, Default)]
pub struct LoadPlan {
    /// Closed loop: at most this many in flight (`None`: uncapped).
    pub max_concurrency: Option<u32>,
    /// Open loop: requests per second (`None`: as fast as the cap allows).
    pub request_rate: Option<f64>,
    /// Gamma shape of inter-arrival times (1 = Poisson).
    pub burstiness: f64,
    /// Timed requests; `None` with a duration (or unbounded in the dashboard).
    pub num_prompts: Option<u64>,
    pub duration: Option<Duration>,
    /// How long requests in flight may finish once sending stops.
    pub drain_timeout: Duration,
    pub num_warmups: u64,
    /// End the run when every request for this long was refused a connection.
    pub stop_when_unreachable: Option<Duration>,
    /// Seed of the prompts and of the arrival times.
    pub seed: u64,
    /// vLLM's `--ramp-up-strategy`: the rate climbs over the requests (`request_rate` is then
    /// `None` and the ramp alone sets the arrivals).
    pub ramp_up: Option<RampUp>,
}

/// How the request rate climbs over a run, as `vllm bench serve --ramp-up-strategy` does it:
/// request `i` of `n` is sent at the rate of progress `i / (n - 1)` along the ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RampUp {
    pub strategy: RampStrategy,
    pub start_rps: f64,
    pub end_rps: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RampStrategy {
    /// start + (end - start) * progress.
    Linear,
    /// start * (end / start) ^ progress.
    Exponential,
}

impl RampStrategy {
    pub const NAMES: [&'static str; 2] = ["linear", "exponential"];
    pub fn name(self) -> &'static str {
        match self {
            RampStrategy::Linear => "linear",
            RampStrategy::Exponential => "exponential",
        }
    }
    pub fn from_name(s: &str) -> Option<RampStrategy> {
        match s {
            "linear" => Some(RampStrategy::Linear),
            "exponential" => Some(RampStrategy::Exponential),
            _ => None,
        }
    }
}

impl RampUp {
    /// The rate request `index` (from 0) of `total` is sent at; past the last, the end rate.
    pub fn rate_at(&self, index: u64, total: u64) -> f64 {
        let progress = (index as f64 / total.saturating_sub(1).max(1) as f64).min(1.0);
        match self.strategy {
            RampStrategy::Linear => self.start_rps + (self.end_rps - self.start_rps) * progress,
            RampStrategy::Exponential => {
                self.start_rps * (self.end_rps / self.start_rps).powf(progress)
            }
        }
    }
}

/// What the statistics report.
#[derive(Debug, Clone, Default)]
pub struct StatsPlan {
    pub percentiles: Vec<f64>,
    /// `--goodput` SLOs (empty: no goodput).
    pub goodput: Vec<Slo>,
    /// Per-request lists in the result (`--save-detailed`).
    pub detailed: bool,
}

/// Where the result goes and what it is labelled.
#[derive(Debug, Clone, Default)]
pub struct OutputPlan {
    pub save_result: bool,
    pub result_dir: Option<PathBuf>,
    pub result_filename: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub label: Option<String>,
}

/// The lowest request rate: one request every 10,000 s. Slower than that is a typo.
pub const MIN_RATE: f64 = 1e-4;
/// The highest finite request rate; beyond it, 'inf' says what is meant.
pub const MAX_RATE: f64 = 1e6;

/// Parse a request rate: "inf" (or a positive infinity) is `None`, else a positive number in
/// `MIN_RATE..=MAX_RATE`. `flag` names the flag in the message.
pub fn parse_rate(flag: &str, s: &str) -> Result<Option<f64>, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "inf" || t == "infinity" {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(r) if r.is_infinite() && r > 0.0 => Ok(None),
        Ok(r) if r > MAX_RATE && r.is_finite() => Err(format!(
            "{flag}: '{s}' requests per second is beyond any server; use 'inf' to send as fast as possible"
        )),
        Ok(r) if r > 0.0 && r < MIN_RATE => Err(format!(
            "{flag}: '{s}' is less than one request every 10,000 s; use {MIN_RATE} or more"
        )),
        Ok(r) if r > 0.0 && r.is_finite() => Ok(Some(r)),
        _ => Err(format!("{flag}: '{s}' is not a positive number or 'inf'")),
    }
}

/// A positive, finite number of seconds that fits a `Duration` (at most a year).
pub fn parse_seconds(flag: &str, v: f64) -> Result<Duration, String> {
    let v_shown = crate::console::number(v);
    if v.is_nan() || v <= 0.0 {
        return Err(format!(
            "{flag}: '{v_shown}' must be a positive number of seconds"
        ));
    }
    // Anything past a year is a typo, and huge values would overflow the clock arithmetic.
    if v > 366.0 * 86400.0 || !v.is_finite() {
        return Err(format!(
            "{flag}: '{v_shown}' seconds is more than a year; give a smaller value"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("inf", None)]
    #[case("INF", None)]
    #[case(" Infinity ", None)]
    #[case("1e400", None)]
    #[case("2.5", Some(2.5))]
    #[case("0.5", Some(0.5))]
    #[case("1e6", Some(1e6))]
    fn rate_parsing_accepts(#[case] s: &str, #[case] want: Option<f64>) {
        assert_eq!(parse_rate("--request-rate", s).unwrap(), want);
    }

    /// Every message `--request-rate` can give, word for word: this is the only parser of the
    /// flag (the arrival schedule takes its result).
    #[rstest::rstest]
    #[case("-1", "--request-rate: '-1' is not a positive number or 'inf'")]
    #[case("0", "--request-rate: '0' is not a positive number or 'inf'")]
    #[case("", "--request-rate: '' is not a positive number or 'inf'")]
    #[case("fast", "--request-rate: 'fast' is not a positive number or 'inf'")]
    #[case("NaN", "--request-rate: 'NaN' is not a positive number or 'inf'")]
    #[case("-inf", "--request-rate: '-inf' is not a positive number or 'inf'")]
    #[case("4rps", "--request-rate: '4rps' is not a positive number or 'inf'")]
    #[case(
        "2e6",
        "--request-rate: '2e6' requests per second is beyond any server; use 'inf' to send as fast as possible"
    )]
    #[case(
        "1e-20",
        "--request-rate: '1e-20' is less than one request every 10,000 s; use 0.0001 or more"
    )]
    fn rate_parsing_refuses(#[case] s: &str, #[case] want: &str) {
        assert_eq!(parse_rate("--request-rate", s).unwrap_err(), want);
    }

    #[test]
    fn ramps_climb_as_vllm_computes_them() {
        let lin = RampUp {
            strategy: RampStrategy::Linear,
            start_rps: 1.0,
            end_rps: 9.0,
        };
        let rates: Vec<f64> = (0..5).map(|i| lin.rate_at(i, 5)).collect();
        assert_eq!(rates, [1.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(lin.rate_at(7, 5), 9.0, "past the count: the end rate");
        assert_eq!(lin.rate_at(0, 1), 1.0, "one request: the start rate");
        let exp = RampUp {
            strategy: RampStrategy::Exponential,
            start_rps: 1.0,
            end_rps: 16.0,
        };
        let rates: Vec<f64> = (0..5).map(|i| exp.rate_at(i, 5)).collect();
        for (got, want) in rates.iter().zip([1.0, 2.0, 4.0, 8.0, 16.0]) {
            assert!((got - want).abs() < 1e-9, "{rates:?}");
        }
    }

    #[test]
    fn endpoint_kind_of_path() {
        assert_eq!(
            EndpointKind::of_path("/v1/chat/completions"),
            EndpointKind::Chat
        );
        assert_eq!(
            EndpointKind::of_path("/v1/chat/completions/"),
            EndpointKind::Chat
        );
        assert_eq!(
            EndpointKind::of_path("/v1/completions"),
            EndpointKind::Completions
        );
        assert_eq!(EndpointKind::Chat.result_word(), "openai-chat");
    }
}
