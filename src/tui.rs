//! The live dashboard (ratatui). Reads `Snapshot`s, sends `engine::Command`s.

pub mod gpu_pane;
pub mod theme;
