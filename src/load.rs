//! Generating the load: what to send (`workload`), when to send it (`engine`), the events request
//! tasks report (`record`) and the run-control state both sides share (`control`).

pub mod control;
pub mod engine;
pub mod record;
pub mod workload;
