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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which delta key carries reasoning tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReasoningField {
    /// `delta.reasoning_content` (vLLM up to 0.11, SGLang, llama.cpp).
    #[default]
    ReasoningContent,
    /// `delta.reasoning` (vLLM from late 2025).
    Reasoning,
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

impl MockConfig {
    /// Checks what the flag parsers cannot: fault rates together, and values set in code.
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
pub async fn run(cfg: MockConfig) -> anyhow::Result<()> {
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
