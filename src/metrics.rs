//! Turning events into numbers: the `recorder` (sole owner of the statistics), the
//! distributions (`stats`) and the `snapshot` every face reads.

pub mod latency;
pub mod recorder;
pub mod snapshot;
pub mod stats;
