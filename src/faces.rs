//! The commands a user runs: those that measure a server, `tokscope bench` (`headless`), the
//! dashboard and `tokscope check`, and `tokscope report` (`report_cmd`) over their results. Each turns its flags into a run through `runner` and prints or draws
//! what the core publishes; none of them owns a number.

pub mod check;
pub mod dashboard;
pub mod dashboard_save;
mod dashboard_sweep;
pub mod exit;
pub mod headless;
pub mod report_cmd;
pub mod sweep_bench;
pub mod watch;
