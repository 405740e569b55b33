//! The built-in simulator: an OpenAI-compatible streaming server (being written).

use clap::Args;

/// `tokscope mock` flags.
#[derive(Debug, Args, Clone)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: String,
}
