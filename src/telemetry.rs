//! Watching the machines beside the load: GPUs (`gpu`), the server's own `/metrics`
//! (`server_metrics`, parsed by `prom`) and the client process itself (`sysstat`).

pub mod gpu;
pub mod prom;
pub mod server_metrics;
pub mod sysstat;
