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
pub mod console;
pub mod control;
pub mod dashboard;
pub mod engine;
pub mod gpu;
pub mod limits;
pub mod mock;
pub mod prom;
pub mod record;
pub mod recorder;
pub mod result;
pub mod runner;
pub mod sanitize;
pub mod server_metrics;
pub mod snapshot;
pub mod sse;
pub mod stats;
pub mod stderr_hold;
pub mod summary;
pub mod sysstat;
pub mod tui;
pub mod workload;

/// Entry point of the binary: parse the command line, run, and map the outcome to an exit code.
pub fn run_cli() -> std::process::ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    match cli.command {
        Some(cli::Command::Bench(args)) => bench::run(*args),
        Some(cli::Command::Check(args)) => check::run(args),
        Some(cli::Command::Mock(args)) => with_runtime(|| mock::run(args)),
        Some(cli::Command::Gpu(args)) => match gpu::run_gpu(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => bench::report_error(&e),
        },
        Some(cli::Command::Agent(args)) => with_runtime(|| gpu::run_agent(args)),
        None => dashboard::run(cli.dashboard),
    }
}

/// The async runtime every command runs on; `None` (after saying why) if it cannot start.
pub(crate) fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}

/// Run an async command on a multi-threaded runtime; errors become a one-line message.
fn with_runtime<F, Fut>(f: F) -> std::process::ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let Some(rt) = crate::runtime() else {
        return std::process::ExitCode::FAILURE;
    };
    match rt.block_on(f()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => bench::report_error(&e),
    }
}
