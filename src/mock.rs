//! The built-in simulator: an OpenAI-compatible streaming server with set timings and faults.
//!
//! `tokscope mock` serves it from the command line; the dashboard and the tests start it in
//! process with [`start`]. It speaks like vLLM: `/v1/chat/completions` and `/v1/completions`
//! (streamed or whole), `/v1/models`, `/health`, `/metrics` (vLLM metric names) and `/tokenize`.
//!
//! - Tokens: a prompt's token count is its number of whitespace-separated words plus one per
//!   CJK character ([`tokens`]); `/tokenize` and `usage.prompt_tokens` agree. The output is exactly
//!   `max_completion_tokens` (or `max_tokens`, or `--output-len`) tokens, each the text `"tok "`.
//! - Timing: first token chunk `--ttft-ms` after the request gets a batch slot, then one chunk
//!   every `--itl-ms * (1 + --slowdown * (running - 1))`, on absolute deadlines
//!   (see [`generate`] for the whole model). With `--tokens-per-chunk K` each chunk carries K
//!   tokens, so the time per output token is the chunk gap divided by K.
//! - Faults: each request draws at most one fault from `--seed` ([`faults`]), and every injected
//!   fault is counted in `/metrics` as `tokscope_mock_faults_total{kind=...}`. A non-streaming
//!   request meets the mid-stream kinds too: a cut drops the connection before any body, a
//!   malformed answer is truncated JSON, an error event becomes HTTP 500, a stall answers late.
//! - Streams look like vLLM's: a role-only chunk together with the first token chunk, one chunk
//!   per token chunk, `finish_reason` on the last, a usage-only chunk (`choices:[]`) when asked
//!   for, then `data: [DONE]`. Completions streams have no role chunk; reasoning tokens apply to
//!   chat only.

mod faults;
mod generate;
mod metrics;
mod prefix_cache;
mod server;
pub mod tokens;
mod wire;

pub use faults::{FaultKind, FaultRates};
pub use metrics::MetricNames;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which delta key carries reasoning tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReasoningField {
    /// `delta.reasoning_content` (vLLM up to 0.11, SGLang, llama.cpp).
    #[default]
    ReasoningContent,
    /// `delta.reasoning` (vLLM from late 2025).
    Reasoning,
}

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

/// Everything the simulator needs; `Default` is a fast, fault-free server on a free port.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Address to bind, e.g. "127.0.0.1:0".
    pub listen: String,
    pub model: String,
    pub ttft: Duration,
    pub itl: Duration,
    /// Output tokens when a request does not say.
    pub output_len: u32,
    /// Batching slowdown per extra running request (see [`generate`]).
    pub slowdown: f64,
    /// 0 = no limit.
    pub max_num_seqs: usize,
    pub prefill_per_token: Duration,
    pub max_model_len: u32,
    pub kv_cache_tokens: u64,
    pub reasoning_tokens: u32,
    pub reasoning_field: ReasoningField,
    pub think_inline: bool,
    pub tokens_per_chunk: u32,
    pub no_usage: bool,
    pub no_done: bool,
    /// `None` = no keep-alive comments.
    pub keepalive: Option<Duration>,
    pub faults: FaultRates,
    pub stall: Duration,
    pub seed: u64,
    pub api_key: Option<String>,
    /// Request-body fields answered with HTTP 422.
    pub reject_fields: Vec<String>,
    pub metric_names: MetricNames,
    pub admin_routes: bool,
    pub no_tokenize: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: "127.0.0.1:0".into(),
            model: "tokscope-sim".into(),
            ttft: Duration::from_millis(150),
            itl: Duration::from_millis(20),
            output_len: 256,
            slowdown: 0.02,
            max_num_seqs: 256,
            prefill_per_token: Duration::ZERO,
            max_model_len: 32768,
            kv_cache_tokens: 262_144,
            reasoning_tokens: 0,
            reasoning_field: ReasoningField::ReasoningContent,
            think_inline: false,
            tokens_per_chunk: 1,
            no_usage: false,
            no_done: false,
            keepalive: None,
            faults: FaultRates::default(),
            stall: Duration::from_millis(2000),
            seed: 0,
            api_key: None,
            reject_fields: Vec::new(),
            metric_names: MetricNames::Vllm,
            admin_routes: false,
            no_tokenize: false,
        }
    }
}

fn ms(v: f64) -> Duration {
    // Clap bounds the value; try_from guards against anything odd all the same.
    Duration::try_from_secs_f64(v / 1000.0).unwrap_or(Duration::ZERO)
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

impl MockConfig {
    /// Checks what clap cannot: fault rates together, and values set in code.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.faults.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            self.slowdown.is_finite() && self.slowdown >= 0.0,
            "slowdown is '{}'; give a number of 0 or more",
            self.slowdown
        );
        anyhow::ensure!(
            self.tokens_per_chunk >= 1,
            "tokens per chunk is '0'; give 1 or more"
        );
        anyhow::ensure!(
            !self.model.is_empty(),
            "the model name is empty; give one with --model"
        );
        Ok(())
    }
}

/// A running simulator. Dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    sim: Arc<generate::Sim>,
}

impl MockServer {
    /// The bound address (with the real port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, ready to prefix with `/v1/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many faults of `kind` were injected so far (what `/metrics` reports).
    pub fn faults(&self, kind: FaultKind) -> u64 {
        self.sim.metrics.faults(kind)
    }

    /// Stops accepting connections and waits up to a second for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `cfg.listen` and serves the simulator on the current tokio runtime.
pub async fn start(cfg: MockConfig) -> anyhow::Result<MockServer> {
    cfg.validate()?;
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| {
            format!(
                "could not listen on '{}'; pick another address with --listen (port 0 picks a free one)",
                cfg.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(generate::Sim::new(cfg));
    let app = server::router(sim.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // Each chunk must leave at its scheduled time: without TCP_NODELAY, Nagle's algorithm
        // holds a small write back until the previous one is acknowledged (measured: +14 ms
        // on the first token).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
        if let Err(e) = serve.await {
            eprintln!("tokscope mock: server error: {e}");
        }
    });
    Ok(MockServer {
        addr,
        stop: Some(stop_tx),
        task: Some(task),
        sim,
    })
}

/// `tokscope mock`: serves until Ctrl-C. The first stdout line names the bound address.
pub async fn run(args: MockArgs) -> anyhow::Result<()> {
    let cfg = MockConfig::from(&args);
    let server = start(cfg.clone()).await?;
    println!("tokscope mock listening on {}", server.base_url());
    eprintln!(
        "model '{}', ttft {} ms, itl {} ms, slowdown {}, max-num-seqs {}, seed {}",
        cfg.model,
        cfg.ttft.as_secs_f64() * 1000.0,
        cfg.itl.as_secs_f64() * 1000.0,
        cfg.slowdown,
        cfg.max_num_seqs,
        cfg.seed
    );
    tokio::signal::ctrl_c()
        .await
        .context("could not wait for Ctrl-C")?;
    server.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod flag_tests {
    use super::*;

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
