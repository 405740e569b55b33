//! `tokscope mock`'s flags and how they become a `MockConfig` (the simulator never sees clap).

use crate::mock::{FaultRates, MetricNames, MockConfig, ReasoningField};
use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use std::time::Duration;

/// `tokscope mock` flags.
#[derive(Debug, Args, Clone)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free port (the first stdout line names it).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// Model name served by /v1/models; requests naming another model get 404.
    #[arg(long, default_value = "tokscope-sim")]
    pub model: String,
    /// Time to first token, from getting a batch slot to the first token chunk (ms).
    #[arg(long, default_value_t = 150.0, value_parser = parse_ms)]
    pub ttft_ms: f64,
    /// Gap between token chunks with one request running (ms).
    #[arg(long, default_value_t = 20.0, value_parser = parse_ms)]
    pub itl_ms: f64,
    /// Output tokens when the request sets neither max_tokens nor max_completion_tokens.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub output_len: u32,
    /// Batching slowdown: each chunk gap is itl * (1 + slowdown * (running - 1)).
    #[arg(long, default_value_t = 0.02, value_parser = parse_non_negative)]
    pub slowdown: f64,
    /// Most requests running at once; later ones wait in a queue (0 = no limit).
    #[arg(long, default_value_t = 256)]
    pub max_num_seqs: usize,
    /// Extra prefill time per prompt token, added to the TTFT (µs).
    #[arg(long, default_value_t = 0.0, value_parser = parse_non_negative)]
    pub prefill_us_per_token: f64,
    /// Context length: prompt plus output tokens above it get 400.
    #[arg(long, default_value_t = 32768)]
    pub max_model_len: u32,
    /// KV-cache capacity in tokens, for vllm:kv_cache_usage_perc.
    #[arg(long, default_value_t = 262_144)]
    pub kv_cache_tokens: u64,
    /// The first N output tokens of chat requests are reasoning.
    #[arg(long, default_value_t = 0)]
    pub reasoning_tokens: u32,
    /// Delta key for reasoning tokens.
    #[arg(long, value_enum, default_value_t = ReasoningField::ReasoningContent)]
    pub reasoning_field: ReasoningField,
    /// Put reasoning inline in content between <think> and </think> (TGI style).
    #[arg(long)]
    pub think_inline: bool,
    /// Tokens per chunk, as with speculative decoding.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub tokens_per_chunk: u32,
    /// Never send usage, even when the request asks for it.
    #[arg(long)]
    pub no_usage: bool,
    /// End streams without `data: [DONE]`.
    #[arg(long)]
    pub no_done: bool,
    /// Send `: ping` comments when nothing was written for this long (ms; 0 = off).
    #[arg(long, default_value_t = 0)]
    pub keepalive_ms: u64,
    /// Share of requests answered with HTTP 500 (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_500: f64,
    /// Share of requests answered with HTTP 429 (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_429: f64,
    /// Share of streams whose connection drops mid-stream (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub cut_stream: f64,
    /// Share of streams with one line of invalid JSON mid-stream (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub malformed: f64,
    /// Share of streams that end with an error event mid-stream (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub error_event: f64,
    /// Share of streams with a long pause mid-stream (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub stall: f64,
    /// Length of a --stall pause (ms).
    #[arg(long, default_value_t = 2000)]
    pub stall_ms: u64,
    /// Seed for fault draws; the same seed gives the same faults to the same request numbers.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Require `Authorization: Bearer KEY` on /v1/* and /tokenize.
    #[arg(long, env = "TOKSCOPE_MOCK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Answer HTTP 422 to a request body with this field, as strict servers do (transformers
    /// serve: "Unexpected fields in the request"). Repeatable.
    #[arg(long = "reject-field", value_name = "NAME")]
    pub reject_fields: Vec<String>,
    /// Whose names /metrics uses: vllm (default) or sglang.
    #[arg(long, value_enum, default_value_t = MetricNames::Vllm)]
    pub metric_names: MetricNames,
    /// Serve `POST /admin/reset-metrics`, which zeroes counters and histograms as a restart
    /// would (for tests of counter resets).
    #[arg(long)]
    pub admin_routes: bool,
    /// Answer 404 on /tokenize, as servers without one do (transformers serve, TGI).
    #[arg(long)]
    pub no_tokenize: bool,
}

fn parse_non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("'{s}' must be a number of 0 or more"))
    }
}

fn parse_ms(s: &str) -> Result<f64, String> {
    let v = parse_non_negative(s)?;
    if v > 86_400_000.0 {
        return Err(format!("'{s}' ms is more than a day; give a shorter time"));
    }
    Ok(v)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v = parse_non_negative(s)?;
    if v > 1.0 {
        return Err(format!(
            "'{s}' is a probability; give a value between 0 and 1"
        ));
    }
    Ok(v)
}

impl From<&MockArgs> for MockConfig {
    fn from(a: &MockArgs) -> Self {
        let seed = a.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        MockConfig {
            listen: a.listen.clone(),
            model: a.model.clone(),
            ttft: ms(a.ttft_ms),
            itl: ms(a.itl_ms),
            output_len: a.output_len,
            slowdown: a.slowdown,
            max_num_seqs: a.max_num_seqs,
            prefill_per_token: ms(a.prefill_us_per_token / 1000.0),
            max_model_len: a.max_model_len,
            kv_cache_tokens: a.kv_cache_tokens,
            reasoning_tokens: a.reasoning_tokens,
            reasoning_field: a.reasoning_field,
            think_inline: a.think_inline,
            tokens_per_chunk: a.tokens_per_chunk,
            no_usage: a.no_usage,
            no_done: a.no_done,
            keepalive: (a.keepalive_ms > 0).then(|| Duration::from_millis(a.keepalive_ms)),
            faults: FaultRates {
                fail_500: a.fail_500,
                fail_429: a.fail_429,
                cut_stream: a.cut_stream,
                malformed: a.malformed,
                error_event: a.error_event,
                stall: a.stall,
            },
            stall: Duration::from_millis(a.stall_ms),
            seed,
            api_key: a.api_key.clone(),
            reject_fields: a.reject_fields.clone(),
            metric_names: a.metric_names,
            admin_routes: a.admin_routes,
            no_tokenize: a.no_tokenize,
        }
    }
}

fn ms(v: f64) -> Duration {
    // The parsers bound the value; try_from guards against anything odd all the same.
    Duration::try_from_secs_f64(v / 1000.0).unwrap_or(Duration::ZERO)
}

impl ValueEnum for ReasoningField {
    fn value_variants<'a>() -> &'a [Self] {
        &[ReasoningField::ReasoningContent, ReasoningField::Reasoning]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            ReasoningField::ReasoningContent => PossibleValue::new("reasoning-content")
                .help("`delta.reasoning_content` (vLLM up to 0.11, SGLang, llama.cpp)"),
            ReasoningField::Reasoning => {
                PossibleValue::new("reasoning").help("`delta.reasoning` (vLLM from late 2025)")
            }
        })
    }
}

impl ValueEnum for MetricNames {
    fn value_variants<'a>() -> &'a [Self] {
        &[MetricNames::Vllm, MetricNames::Sglang]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            MetricNames::Vllm => PossibleValue::new("vllm").help("vLLM V1 names"),
            MetricNames::Sglang => PossibleValue::new("sglang")
                .help("SGLang names; token counters move when a request finishes"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::ReasoningField;
    use std::time::Duration;

    /// Parses `tokscope mock` flags the way the binary does.
    fn parse_args(args: &[&str]) -> Result<MockArgs, String> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            mock: MockArgs,
        }
        let argv = std::iter::once("mock").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.mock)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flags_become_a_config() {
        let args = parse_args(&[
            "--ttft-ms",
            "12.5",
            "--itl-ms",
            "3",
            "--prefill-us-per-token",
            "250",
            "--seed",
            "4",
            "--cut-stream",
            "0.25",
            "--keepalive-ms",
            "15",
            "--reasoning-field",
            "reasoning",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let cfg = MockConfig::from(&args);
        assert_eq!(cfg.ttft, Duration::from_micros(12_500));
        assert_eq!(cfg.itl, Duration::from_millis(3));
        assert_eq!(cfg.prefill_per_token, Duration::from_micros(250));
        assert_eq!(cfg.seed, 4);
        assert_eq!(cfg.faults.cut_stream, 0.25);
        assert_eq!(cfg.keepalive, Some(Duration::from_millis(15)));
        assert_eq!(cfg.reasoning_field, ReasoningField::Reasoning);
        assert_eq!(cfg.listen, "127.0.0.1:8000");
        assert_eq!(cfg.model, "tokscope-sim");
        assert!(cfg.validate().is_ok());
        assert_eq!(
            MockConfig::from(&parse_args(&[]).unwrap_or_else(|e| panic!("{e}"))).keepalive,
            None
        );
    }

    #[test]
    fn bad_flags_are_refused_with_a_reason() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--fail-500", "1.5"],
                "'1.5' is a probability; give a value between 0 and 1",
            ),
            (&["--itl-ms=-1"], "'-1' must be a number of 0 or more"),
            (&["--ttft-ms", "soon"], "'soon' is not a number"),
            (&["--tokens-per-chunk", "0"], "0 is not in 1.."),
        ];
        for (args, want) in cases {
            let err = parse_args(args).err().unwrap_or_default();
            assert!(err.contains(want), "{args:?}: {err}");
        }
        let args =
            parse_args(&["--fail-500", "0.7", "--stall", "0.7"]).unwrap_or_else(|e| panic!("{e}"));
        let err = MockConfig::from(&args)
            .validate()
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .unwrap_or_default()
                .starts_with("fault rates add up to '1.4"),
            "{err:?}"
        );
    }
}
