//! The end of a run, the same for `bench`, the dashboard's quit and its `s` key: the summary,
//! the typed report (with the GPU and server blocks) and the table.

use super::result::RunMeta;
use super::run_report::RunReport;
use super::summary::{render_table, Summary};
use crate::metrics::recorder::RecorderOutcome;
use crate::telemetry::gpu::GpuRunSummary;
use crate::telemetry::server_metrics::{ServerRunStats, ServerView};
use std::sync::Arc;
use tokio::sync::watch;

/// What a finished run reports.
pub struct FinishedRun {
    pub summary: Summary,
    pub report: RunReport,
    pub table: String,
}

impl FinishedRun {
    /// `server` is the scraper's channel; one last reading is taken now so the server's
    /// counters cover the whole run. `goodput`: whether `--goodput` SLOs were given.
    pub async fn new(
        meta: &RunMeta,
        outcome: &RecorderOutcome,
        gpu: Option<&GpuRunSummary>,
        server: &watch::Receiver<Arc<ServerView>>,
        base_url: &str,
        goodput: bool,
    ) -> FinishedRun {
        let snap = &outcome.snapshot;
        let summary = Summary::from_snapshot(snap, goodput.then_some(outcome.good_requests));
        let mut server_run = server.borrow().run.clone();
        if server_run.scrapes > 0 {
            if let Some(m) = crate::telemetry::server_metrics::scrape(base_url).await {
                server_run.observe(&m);
            }
        }
        let report = RunReport::build(meta, &summary, outcome, gpu, Some(&server_run));
        // J/token over every token received in the GPU window (see `GpuReport::new`).
        let mut extra = gpu_sections(gpu, summary.received_output_tokens);
        extra.extend(server_sections(&server_run));
        let table = render_table(&summary, snap, &extra);
        FinishedRun {
            summary,
            report,
            table,
        }
    }
}

/// The GPU block of the summary table.
pub fn gpu_sections(g: Option<&GpuRunSummary>, output_tokens: u64) -> Vec<(String, Vec<String>)> {
    match g.map(|g| g.summary_lines(output_tokens)) {
        Some(lines) if !lines.is_empty() => vec![("GPU (over the run)".to_string(), lines)],
        _ => Vec::new(),
    }
}

/// The server's own view of the run (queue, KV cache, its token count), for the table.
pub fn server_sections(r: &ServerRunStats) -> Vec<(String, Vec<String>)> {
    let lines = r.lines();
    if lines.is_empty() {
        Vec::new()
    } else {
        vec![("Server".to_string(), lines)]
    }
}
