//! The end of a run, the same for `bench`, the dashboard's quit and its `s` key: the summary,
//! the typed report (with the GPU and server blocks) and the table.

use super::result::RunMeta;
use super::run_report::RunReport;
use super::summary::{render_table, Summary};
use crate::metrics::recorder::RecorderOutcome;
use crate::report::client_vs_server::Comparison;
use crate::telemetry::gpu::GpuRunSummary;
use crate::telemetry::server_metrics::{ServerRunStats, ServerScraper};

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
        server: &ServerScraper,
        goodput: bool,
    ) -> FinishedRun {
        let snap = &outcome.snapshot;
        let summary = Summary::from_snapshot(snap, goodput.then_some(outcome.good_requests));
        let view = server.final_view().await;
        let server_run = view.run.clone();
        let compared = Comparison::for_run(snap, &server_run);
        let mut report = RunReport::build(meta, &summary, outcome, gpu, Some(&server_run));
        attach_server(&mut report, &view.series(), compared.as_ref());
        // J/token over every token received in the GPU window (see `GpuReport::new`).
        let mut extra = gpu_sections(gpu, summary.received_output_tokens);
        extra.extend(server_sections(&server_run, compared.as_ref()));
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

/// The server's per-second series and the client-vs-server comparison, under "tokscope" (left
/// out when the server was never scraped).
pub fn attach_server(
    report: &mut RunReport,
    series: &[crate::telemetry::server_metrics::ServerPoint],
    compared: Option<&Comparison>,
) {
    if let Some(t) = report.tokscope.as_mut().filter(|t| t.server.is_some()) {
        t.server_series = Some(series.to_vec());
        t.client_vs_server = compared.cloned();
    }
}

/// The server's own view of the run (queue, KV cache, its token count, its latency), and ours
/// beside it, for the table.
pub fn server_sections(
    r: &ServerRunStats,
    compared: Option<&Comparison>,
) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let lines = r.lines();
    if !lines.is_empty() {
        out.push(("Server".to_string(), lines));
    }
    if let Some(c) = compared {
        out.push(("Client vs server".to_string(), c.lines()));
    }
    out
}
