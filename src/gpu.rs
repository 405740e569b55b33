//! GPU telemetry: NVML, ROCm SMI, sysfs and remote Prometheus sources (being written).

use clap::Args;

/// `tokscope gpu` flags.
#[derive(Debug, Args, Clone)]
pub struct GpuArgs {
    #[arg(long)]
    pub json: bool,
}

/// `tokscope agent` flags.
#[derive(Debug, Args, Clone)]
pub struct AgentArgs {
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub listen: String,
}
