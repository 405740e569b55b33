//! tokscope: load-test an OpenAI-compatible LLM server and watch it live.
//!
//! One core, several faces. The core (`engine`, `client`, `recorder`, `stats`, `workload`,
//! `gpu`, `mock`) never imports ratatui; the faces (`tui`, `bench`, `check`) read the
//! `Snapshot` the recorder publishes. See docs/ARCHITECTURE.md.

pub mod cli;
pub mod console;
pub mod faces;
pub mod load;
pub mod metrics;
pub mod mock;
pub mod plan;
pub mod protocol;
pub mod report;
pub mod runner;
pub mod stderr_hold;
pub mod sweep;
pub mod telemetry;
pub mod tui;

/// Entry point of the binary: parse the command line, run, and map the outcome to an exit code.
pub fn run_cli() -> std::process::ExitCode {
    let cli = cli::Cli::from_args();
    match cli.command {
        Some(cli::Command::Bench(args)) => faces::headless::run(*args),
        Some(cli::Command::Check(args)) => faces::check::run(args),
        Some(cli::Command::Mock(args)) => with_runtime(|| mock::run(mock::MockConfig::from(&args))),
        Some(cli::Command::Gpu(args)) => match telemetry::gpu::run_gpu(args.into()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => faces::headless::report_error(&e),
        },
        Some(cli::Command::Agent(args)) => with_runtime(|| telemetry::gpu::run_agent(args.into())),
        Some(cli::Command::Watch(args)) => faces::watch::run(args),
        Some(cli::Command::Report(args)) => faces::report_cmd::run(args),
        None => faces::dashboard::run(cli.dashboard),
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
        Err(e) => faces::headless::report_error(&e),
    }
}
