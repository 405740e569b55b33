//! Command-line interface: one binary, several subcommands sharing one set of load flags.
//!
//! Flag names follow `vllm bench serve` so people can paste their command lines.

use crate::plan::{Dataset, RampStrategy};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod gpu_args;
mod mock_args;
mod sweep_flags;
mod to_plan;
pub use gpu_args::{AgentArgs, GpuArgs};
pub use mock_args::MockArgs;
#[cfg(test)]
pub(crate) use sweep_flags::test_sweep_plan;
pub use sweep_flags::{SearchAxis, SweepArgs};
pub use to_plan::{resolve_base_url, PlanDefaults};
#[cfg(test)]
pub(crate) use to_plan::{test_args, test_plan};

#[derive(Debug, Parser)]
#[command(
    name = "tokscope",
    version,
    about = "Load-test an OpenAI-compatible LLM server and watch it live",
    long_about = "Load-test an OpenAI-compatible LLM server and watch it live.\n\n\
        With no subcommand, opens the live dashboard. With no URL, the dashboard runs against the \
        built-in simulator (marked SIMULATED)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub dashboard: DashboardArgs,
}

/// GPU telemetry flags, the same for the load commands and `watch`.
#[derive(Debug, Args, Clone)]
pub struct GpuFlags {
    /// GPU sampling interval in seconds.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "SECONDS",
        default_value_t = 1.0
    )]
    pub gpu_interval: f64,
    /// Remote GPU telemetry: a Prometheus /metrics URL of `tokscope agent` or dcgm-exporter,
    /// optionally NAME=URL (repeatable).
    #[arg(long = "gpu-endpoint", value_name = "[NAME=]URL")]
    pub gpu_endpoints: Vec<String>,
    /// Do not sample local GPUs.
    #[arg(long)]
    pub no_gpu: bool,
}

impl GpuFlags {
    /// The monitor these flags ask for; a bad value is one line naming it.
    pub fn monitor(&self) -> Result<crate::telemetry::gpu::MonitorConfig, String> {
        crate::telemetry::gpu::MonitorConfig::new(
            self.gpu_interval,
            &self.gpu_endpoints,
            self.no_gpu,
        )
    }
}

impl Cli {
    /// The command line of this process (clap prints help or the error and exits on bad flags).
    pub fn from_args() -> Cli {
        <Cli as Parser>::parse()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a benchmark headless: progress bar, summary table, result files.
    Bench(Box<BenchArgs>),
    /// One-shot health check: is it up, which model, one streamed request.
    Check(CheckArgs),
    /// Run the built-in simulator as an OpenAI-compatible server.
    Mock(MockArgs),
    /// One sample of local GPU telemetry (NVML, ROCm SMI, sysfs) as a table or JSON.
    Gpu(GpuArgs),
    /// Serve this node's GPU telemetry as Prometheus text (dcgm-exporter names).
    Agent(AgentArgs),
    /// Watch a server someone else is loading: its own /metrics (tokens/s, queue, KV cache,
    /// prefix cache, latency) and the GPUs, live, sending no requests.
    Watch(WatchArgs),
    /// Tables, comparisons with ratios and charts from result files (Markdown, HTML, CSV, JSON).
    Report(ReportArgs),
}

/// `tokscope watch URL`: the dashboard without load.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    /// Server base URL; its /metrics is read. Optional when --metrics is given.
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// A /metrics URL to read instead (repeatable: data-parallel replicas behind one address
    /// are summed per figure).
    #[arg(long = "metrics", value_name = "URL")]
    pub metrics: Vec<String>,
    /// Seconds between scrapes of /metrics.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "SECONDS",
        default_value_t = 1.0
    )]
    pub interval: f64,
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[arg(long, value_name = "DIR")]
    pub result_dir: Option<PathBuf>,
    /// Where `s` and quitting write the per-second series (default
    /// tokscope-watch-{date}.json).
    #[arg(long, value_name = "FILE")]
    pub result_filename: Option<String>,
    #[command(flatten)]
    pub ui: UiArgs,
}

/// The dashboard: every load flag, plus display options.
#[derive(Debug, Args, Clone)]
pub struct DashboardArgs {
    /// Server base URL (e.g. http://127.0.0.1:8000). Omit to use the built-in simulator.
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub ui: UiArgs,
}

/// Headless benchmark.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Server base URL (same as --base-url).
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Print the result JSON to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `--dataset-name`: the plan's own enum, with clap's list of names for help and errors.
fn dataset_parser() -> impl TypedValueParser<Value = Dataset> {
    PossibleValuesParser::new(Dataset::NAMES).map(|s| Dataset::from_name(&s).unwrap_or_default())
}

/// `--ramp-up-strategy`: the plan's own enum, with clap's list of names.
fn ramp_parser() -> impl TypedValueParser<Value = RampStrategy> {
    PossibleValuesParser::new(RampStrategy::NAMES)
        .map(|s| RampStrategy::from_name(&s).unwrap_or(RampStrategy::Linear))
}

/// Flags shared by `bench` and the dashboard.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Server base URL; a positional URL means the same.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Host and port (vLLM style); used when no URL is given.
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
    /// Model id; default: the first id from /v1/models.
    #[arg(long)]
    pub model: Option<String>,
    /// Served model name to send (defaults to --model).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// API path: /v1/chat/completions (default) or /v1/completions.
    #[arg(long, default_value = "/v1/chat/completions")]
    pub endpoint: String,
    /// Accepted for compatibility with vllm bench serve (openai, openai-chat, vllm ...).
    #[arg(long)]
    pub backend: Option<String>,
    /// Extra HTTP header K=V (repeatable).
    #[arg(long = "header", value_name = "K=V")]
    pub headers: Vec<String>,
    /// Bearer token; never printed, never written to result files.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// JSON object merged into every request body.
    #[arg(long, value_name = "JSON")]
    pub extra_body: Option<String>,
    /// JSON object sent as chat_template_kwargs (e.g. '{"enable_thinking": false}').
    #[arg(long, value_name = "JSON")]
    pub chat_template_kwargs: Option<String>,
    /// Ask the server to ignore EOS so every request generates the full output length.
    #[arg(long)]
    pub ignore_eos: bool,
    #[arg(allow_negative_numbers = true, long)]
    pub temperature: Option<f64>,
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Per-request timeout in seconds.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "SECONDS",
        default_value_t = 600.0
    )]
    pub timeout: f64,
    /// Skip the probe request that checks endpoint, model and credentials before the run.
    #[arg(long)]
    pub no_probe: bool,
    /// Do not send stream_options.include_usage (for servers that reject it).
    #[arg(long)]
    pub no_stream_usage: bool,
    /// Chat API: send only `max_tokens`, not also `max_completion_tokens` (for servers that
    /// reject the newer name).
    #[arg(long)]
    pub no_max_completion_tokens: bool,

    /// Closed loop: at most N requests in flight. A list (1,2,4,8) runs one step per value.
    #[arg(long, value_name = "N[,N...]", allow_hyphen_values = true)]
    pub max_concurrency: Option<String>,
    /// Open loop: requests per second ('inf' = all at once, capped by --max-concurrency). A
    /// list (1,2,4,inf) runs one step per value.
    #[arg(
        long,
        value_name = "R",
        default_value = "inf",
        allow_hyphen_values = true
    )]
    pub request_rate: String,
    /// vLLM's ramp-up: the request rate climbs from --ramp-up-start-rps to --ramp-up-end-rps
    /// over the --num-prompts requests (leave --request-rate out).
    #[arg(long, value_parser = ramp_parser(), value_name = "linear|exponential")]
    pub ramp_up_strategy: Option<RampStrategy>,
    #[arg(allow_negative_numbers = true, long, value_name = "RPS")]
    pub ramp_up_start_rps: Option<f64>,
    #[arg(allow_negative_numbers = true, long, value_name = "RPS")]
    pub ramp_up_end_rps: Option<f64>,
    /// Gamma shape of inter-arrival times: 1 = Poisson, larger = more regular.
    #[arg(allow_negative_numbers = true, long, default_value_t = 1.0)]
    pub burstiness: f64,
    /// Number of timed requests; in a sweep, one value for every step or one per step (10,20,40).
    #[arg(long, value_name = "N[,N...]", allow_hyphen_values = true)]
    pub num_prompts: Option<String>,
    /// Stop sending after this many seconds.
    #[arg(allow_negative_numbers = true, long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// With --duration: how long requests still in flight may take to finish once sending
    /// stops; then they are cut, counted as incomplete, and what they received is kept.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "SECONDS",
        default_value_t = 60.0
    )]
    pub drain_timeout: f64,
    /// End the run when every request for this long was refused a connection (the server is
    /// gone); what was measured is kept. 0 = never.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub stop_when_unreachable: f64,
    /// Requests sent before the timed run and kept out of the statistics.
    #[arg(long, default_value_t = 0)]
    pub num_warmups: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    #[arg(long, value_parser = dataset_parser(), default_value = "random")]
    pub dataset_name: Dataset,
    #[arg(long, value_name = "FILE")]
    pub dataset_path: Option<PathBuf>,
    #[arg(long, default_value_t = 1024)]
    pub random_input_len: u32,
    #[arg(long, default_value_t = 128)]
    pub random_output_len: u32,
    #[arg(allow_negative_numbers = true, long, default_value_t = 0.0)]
    pub random_range_ratio: f64,
    #[arg(long, default_value_t = 0)]
    pub random_prefix_len: u32,
    /// Output length for sharegpt/custom prompts (overrides the dataset's own).
    #[arg(long)]
    pub sharegpt_output_len: Option<u32>,
    /// A local tokenizer.json (or a model directory holding one) for exact prompt lengths.
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,

    /// Percentiles to report, comma-separated.
    #[arg(long, default_value = "50,90,95,99")]
    pub metric_percentiles: String,
    /// Accepted for compatibility; tokscope always reports ttft, ttfo, tpot, itl, e2el.
    #[arg(long)]
    pub percentile_metrics: Option<String>,
    /// SLOs for goodput, e.g. --goodput ttft:500 tpot:50 e2el:10000 (milliseconds).
    #[arg(long, num_args = 1.., value_name = "METRIC:MS")]
    pub goodput: Vec<String>,

    /// Write the result JSON when the run ends.
    #[arg(long)]
    pub save_result: bool,
    /// Add per-request arrays to the result JSON.
    #[arg(long)]
    pub save_detailed: bool,
    #[arg(long, value_name = "DIR")]
    pub result_dir: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub result_filename: Option<String>,
    /// Key=value pairs stored in the result (as vLLM's --metadata).
    #[arg(long, num_args = 1.., value_name = "K=V")]
    pub metadata: Vec<String>,
    /// A label stored in the result.
    #[arg(long)]
    pub label: Option<String>,

    #[command(flatten)]
    pub gpu: GpuFlags,

    #[command(flatten)]
    pub sweep: SweepArgs,
}

/// Display options of the dashboard.
#[derive(Debug, Args, Clone)]
pub struct UiArgs {
    /// Theme name (dark, light, high-contrast, colorblind) or a TOML file.
    #[arg(long)]
    pub theme: Option<String>,
    /// Frames per second.
    #[arg(long, default_value_t = 4.0)]
    pub fps: f64,
}

/// `tokscope check URL`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Server base URL.
    #[arg(value_name = "URL")]
    pub url: String,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, default_value = "/v1/chat/completions")]
    pub endpoint: String,
    #[arg(long = "header", value_name = "K=V")]
    pub headers: Vec<String>,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Seconds allowed for each step.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Output tokens for the test request.
    #[arg(long, default_value_t = 16)]
    pub max_tokens: u32,
    /// Do not send stream_options.include_usage (for servers that reject it).
    #[arg(long)]
    pub no_stream_usage: bool,
    /// Chat API: send only `max_tokens`, not also `max_completion_tokens`.
    #[arg(long)]
    pub no_max_completion_tokens: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `tokscope report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// report.md, with the charts as SVG files beside it.
    Md,
    /// report.html: one page, charts inline, nothing fetched.
    Html,
    /// report.csv: one row per run.
    Csv,
    /// report.json: every figure, ratio and sweep answer.
    Json,
}

/// `tokscope report FILE...`.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Result files (tokscope's, or `vllm bench serve --save-result`'s) and sweep folders.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Folder to write the report into.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "tokscope-report"
    )]
    pub output: PathBuf,
    /// What to write, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "md,html,csv")]
    pub format: Vec<ReportFormat>,
    /// Language of labels and text: en (vLLM's wording) or zh (the wording of Chinese reports).
    #[arg(long, value_enum, default_value_t = crate::report::figure::Lang::En)]
    pub lang: crate::report::figure::Lang,
    /// Name a run: NAME=FILE (repeatable; one name on several files makes repeats).
    #[arg(long = "label", value_name = "NAME=FILE")]
    pub labels: Vec<String>,
    /// The run the others are compared against (default: the first).
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Decimal places below 1,000 (larger values are whole numbers: 4,970).
    #[arg(long, default_value_t = 2)]
    pub decimals: usize,
}

impl clap::ValueEnum for crate::report::figure::Lang {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            crate::report::figure::Lang::En,
            crate::report::figure::Lang::Zh,
        ]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self {
            crate::report::figure::Lang::En => clap::builder::PossibleValue::new("en"),
            crate::report::figure::Lang::Zh => clap::builder::PossibleValue::new("zh"),
        })
    }
}
