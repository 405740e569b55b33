//! Exit codes of the measuring commands, and how a setup error is shown.

use crate::runner::SetupError;
use std::process::ExitCode;

/// Exit code for bad flags or an unusable server (nothing was measured).
pub const EXIT_SETUP: u8 = 2;
/// Exit code when every timed request failed, or the server went away mid-run.
pub const EXIT_ALL_FAILED: u8 = 1;
/// Exit code when Ctrl-C interrupted the run (the partial result was still written).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code when SIGTERM ended the run (128 + 15, as shells report it).
pub const EXIT_TERMINATED: u8 = 143;

/// Print a setup error as one line and pick its exit code.
pub fn report_error(e: &anyhow::Error) -> ExitCode {
    crate::console::err_line(&format!("error: {e:#}"));
    if e.downcast_ref::<SetupError>().is_some() {
        ExitCode::from(EXIT_SETUP)
    } else {
        ExitCode::FAILURE
    }
}
