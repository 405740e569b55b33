//! `tokscope gpu` and `tokscope agent` flags, and the commands they describe.

use crate::telemetry::gpu::{AgentConfig, GpuCommand};
use clap::Args;

/// `tokscope gpu` flags.
#[derive(Debug, Args, Clone, Default)]
pub struct GpuArgs {
    /// Print the sample as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Keep printing a fresh sample every --gpu-interval seconds (Ctrl-C to stop).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between samples with --watch.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub gpu_interval: f64,
}

/// `tokscope agent` flags.
#[derive(Debug, Args, Clone)]
pub struct AgentArgs {
    /// Address to serve /metrics on; use 0.0.0.0:9400 to let other nodes scrape it.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub listen: String,
    /// Seconds between samples.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub gpu_interval: f64,
    /// Host name put in the `Hostname` label (default: this machine's name).
    #[arg(long)]
    pub hostname: Option<String>,
}

impl From<GpuArgs> for GpuCommand {
    fn from(a: GpuArgs) -> GpuCommand {
        GpuCommand {
            json: a.json,
            watch: a.watch,
            interval_s: a.gpu_interval,
        }
    }
}

impl From<AgentArgs> for AgentConfig {
    fn from(a: AgentArgs) -> AgentConfig {
        AgentConfig {
            listen: a.listen,
            interval_s: a.gpu_interval,
            hostname: a.hostname,
        }
    }
}
