//! What the dashboard's `s` key and its end share: writing the result as quitting would, and
//! the exit code of the way it ended.

use crate::tui::app::QuitReason;
use std::process::ExitCode;
use std::sync::Arc;

/// What `s` needs to write the result as quitting would.
pub struct SaveCtx {
    pub meta: crate::report::result::RunMeta,
    pub paths: crate::report::result::ResultPaths,
    pub gpu: Option<Arc<crate::telemetry::gpu::GpuMonitor>>,
    pub gpu_run: Arc<std::sync::Mutex<Option<crate::telemetry::gpu::RunId>>>,
    pub server: crate::telemetry::server_metrics::ServerScraper,
    pub goodput: bool,
    pub workload: crate::runner::WorkloadHandle,
    pub rt: tokio::runtime::Handle,
}

impl SaveCtx {
    pub(super) fn write(
        &self,
        snap: &crate::metrics::snapshot::Snapshot,
    ) -> anyhow::Result<Vec<std::path::PathBuf>> {
        let outcome = crate::metrics::recorder::RecorderOutcome {
            snapshot: Arc::new(snap.clone()),
            good_requests: snap.counts.good,
            detailed: None,
            jsonl: Some(self.paths.jsonl.clone()),
            jsonl_error: None,
            workload: Some(self.workload.info()),
        };
        let run_id = *self.gpu_run.lock().unwrap_or_else(|p| p.into_inner());
        let gpu = self
            .gpu
            .as_ref()
            .zip(run_id)
            .map(|(m, id)| m.run_so_far(id));
        // The drawing thread is not a runtime thread: blocking on the runtime here is allowed.
        let report = self.rt.block_on(crate::report::finish::FinishedRun::new(
            &self.meta,
            &outcome,
            gpu.as_ref(),
            &self.server,
            self.goodput,
        ));
        crate::report::result::write_json(&self.paths.json, &report.report)?;
        Ok(vec![self.paths.json.clone(), self.paths.jsonl.clone()])
    }
}

/// The exit code of a dashboard run that ended as `exit` says: 0 for `q`, 130 for Ctrl-C or
/// SIGINT, 143 for SIGTERM, 129 for SIGHUP or a terminal that went away (as shells report).
pub fn exit_code(exit: &crate::tui::DashboardExit) -> ExitCode {
    match (exit.signal, exit.reason) {
        (Some(sig), _) => ExitCode::from(sig.exit_code()),
        (None, QuitReason::Key) => ExitCode::SUCCESS,
        (None, QuitReason::CtrlC) => ExitCode::from(crate::tui::Signal::Interrupt.exit_code()),
        (None, QuitReason::Signal | QuitReason::TerminalLost) => {
            ExitCode::from(crate::tui::Signal::Hangup.exit_code())
        }
    }
}
