//! The dashboard's telemetry panel: the server's own queue and KV cache (from its `/metrics`) on
//! top, the GPUs below. The binary builds it from the scraper's and the GPU monitor's `watch`
//! channels; the screen tests build the very same panel from fixed views, so what they snapshot
//! is what users see. Both parts pick up new readings once per frame and never block it.

use super::theme::Theme;
use super::{gpu_pane, server_pane, SideView};
use crate::telemetry::gpu::GpuView;
use crate::telemetry::server_metrics::ServerView;
use ratatui::layout::Rect;
use ratatui::Frame;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Server pane on top, GPU pane below (or nothing below when GPU telemetry is off).
pub struct TelemetrySide {
    server: watch::Receiver<Arc<ServerView>>,
    server_view: Arc<ServerView>,
    gpu: Option<GpuSide>,
}

impl TelemetrySide {
    /// The live panel: the server scraper's channel and, when GPU telemetry is on, the GPU
    /// monitor's.
    pub fn new(
        server: watch::Receiver<Arc<ServerView>>,
        gpu: Option<watch::Receiver<Arc<GpuView>>>,
    ) -> Self {
        TelemetrySide {
            server,
            server_view: Arc::default(),
            gpu: gpu.map(GpuSide::from_rx),
        }
        .primed()
    }

    /// A panel that shows these views and never changes (screen tests, pictures).
    pub fn fixed(server: ServerView, gpu: Option<GpuView>) -> Self {
        let (_, server_rx) = watch::channel(Arc::new(server));
        let gpu_rx = gpu.map(|g| watch::channel(Arc::new(g)).1);
        TelemetrySide::new(server_rx, gpu_rx)
    }

    /// Take what the channels hold already, so the first frame is not blank.
    fn primed(mut self) -> Self {
        self.refresh();
        self
    }
}

impl SideView for TelemetrySide {
    fn render(&self, frame: &mut Frame, area: Rect, theme: &Theme, now: Instant) {
        // Too short for the server's box and a GPU box under it: one line for the server and
        // the GPUs' own compact lines (the narrow layout).
        let compact = area.height < server_pane::HEIGHT + 4;
        let server_h = if compact { 1 } else { server_pane::HEIGHT };
        let top = Rect {
            height: server_h.min(area.height),
            ..area
        };
        server_pane::render(frame, top, &self.server_view, theme);
        let rest = Rect {
            y: area.y + top.height,
            height: area.height.saturating_sub(top.height),
            ..area
        };
        if let (Some(g), true) = (&self.gpu, rest.height > 0) {
            gpu_pane::render(frame, rest, &g.view, theme, now);
        }
    }

    fn compact_lines(&self) -> u16 {
        1 + self.gpu.as_ref().map_or(0, GpuSide::compact_lines)
    }

    fn refresh(&mut self) -> bool {
        let mut changed = self.gpu.as_mut().is_some_and(GpuSide::refresh);
        let latest = self.server.borrow_and_update().clone();
        if !Arc::ptr_eq(&latest, &self.server_view) {
            self.server_view = latest;
            changed = true;
        }
        changed
    }
}

/// The GPU monitor's part of the panel.
struct GpuSide {
    rx: watch::Receiver<Arc<GpuView>>,
    view: Arc<GpuView>,
}

impl GpuSide {
    fn from_rx(mut rx: watch::Receiver<Arc<GpuView>>) -> Self {
        let view = rx.borrow_and_update().clone();
        GpuSide { rx, view }
    }

    /// The lines `gpu_pane` draws when folded: one per GPU, plus a node's own line where it
    /// has one (several nodes or a remote one, or a status to tell).
    fn compact_lines(&self) -> u16 {
        let nodes = &self.view.nodes;
        let headers = nodes.len() > 1 || nodes.iter().any(|n| n.remote);
        let n: usize = nodes
            .iter()
            .map(|n| {
                let header = headers || n.status != crate::telemetry::gpu::NodeStatus::Ok;
                n.gpus.len() + usize::from(header)
            })
            .sum();
        n.clamp(1, 8) as u16
    }

    fn refresh(&mut self) -> bool {
        // Compare by pointer rather than `has_changed`: a sampler with no GPU publishes its
        // final word and ends, and a closed channel reports no change any more.
        let latest = self.rx.borrow_and_update().clone();
        if Arc::ptr_eq(&latest, &self.view) {
            false
        } else {
            self.view = latest;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_panel_takes_the_last_word_of_a_sampler_that_has_ended() {
        let (tx, rx) = watch::channel(Arc::new(GpuView::default()));
        let mut side = GpuSide::from_rx(rx);
        assert!(!side.refresh());
        // A machine without a GPU: the sampler publishes once and its thread ends.
        tx.send_replace(Arc::new(GpuView { nodes: Vec::new() }));
        drop(tx);
        assert!(
            side.refresh(),
            "the final view must be picked up after the sender is gone"
        );
        assert!(!side.refresh());
    }

    #[test]
    fn a_fixed_panel_shows_its_views_from_the_first_frame() {
        let mut side = TelemetrySide::fixed(ServerView::default(), Some(GpuView::default()));
        assert_eq!(
            side.compact_lines(),
            2,
            "the server's line and one for the GPUs"
        );
        assert!(!side.refresh(), "nothing new after the first frame");
    }
}
