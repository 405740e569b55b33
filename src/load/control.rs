//! What the engine is doing and the load it is asked to apply: the small types the engine, the
//! recorder's events and the snapshot all speak. A leaf, so events (`record`) and the snapshot
//! need not import each other for them.

use serde::Serialize;

/// Whether the engine is sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Probing the server, warming up.
    #[default]
    Starting,
    Running,
    /// Sending is paused; in-flight requests finish.
    Paused,
    /// No more requests will be sent; waiting for in-flight ones.
    Draining,
    Done,
}

impl RunState {
    pub fn label(self) -> &'static str {
        match self {
            RunState::Starting => "starting",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Draining => "draining",
            RunState::Done => "done",
        }
    }
}

/// The load the engine is asked to apply now (keys may change it during a run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Control {
    /// `None`: no concurrency cap.
    pub max_concurrency: Option<u32>,
    /// Requests per second; `None` is infinite (send as fast as the concurrency allows).
    pub request_rate: Option<f64>,
    pub paused: bool,
}
