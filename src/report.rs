//! What a finished run leaves behind: the end-of-run numbers and table (`summary`), the typed run
//! report (`run_report`, built in one place by `build`) and where its file goes (`result`).

mod build;
pub mod client_vs_server;
pub mod finish;
pub mod result;
pub mod run_report;
pub mod summary;
