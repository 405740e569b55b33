//! tokscope: load-test an OpenAI-compatible LLM server and watch it live.
//!
//! One core, several faces. The core (`engine`, `client`, `recorder`, `stats`, `workload`,
//! `gpu`, `mock`) never imports ratatui; the faces (`tui`, `bench`, `check`) read the
//! `Snapshot` the recorder publishes. See docs/ARCHITECTURE.md.

pub mod bench;
pub mod check;
pub mod chunk;
pub mod cli;
pub mod client;
pub mod engine;
pub mod gpu;
pub mod mock;
pub mod prom;
pub mod record;
pub mod recorder;
pub mod result;
pub mod server_metrics;
pub mod snapshot;
pub mod sse;
pub mod stats;
pub mod summary;
pub mod sysstat;
pub mod tui;
pub mod workload;

/// Entry point of the binary: parse the command line, run, and map the outcome to an exit code.
pub fn run_cli() -> std::process::ExitCode {
    use clap::Parser;
    let _cli = cli::Cli::parse();
    std::process::ExitCode::SUCCESS
}
