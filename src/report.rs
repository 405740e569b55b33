//! What a finished run leaves behind and what is made from it afterwards: the end-of-run
//! numbers and table (`summary`), the typed run report (`run_report`, built in one place by
//! `build`), where its file goes (`result`) and our figures beside the server's own
//! (`client_vs_server`); and `tokscope report`'s tables, comparisons and
//! charts over many results (`runs` reads them, `figure` and `number` say how each figure is
//! named and written, `compare` and `sweep` work out ratios, winners, the knee and capacity,
//! `render` writes Markdown, HTML, CSV and JSON).

mod build;
pub mod client_vs_server;
pub mod compare;
pub mod figure;
pub mod finish;
pub mod number;
pub mod render;
pub mod result;
pub mod run_report;
pub mod runs;
pub mod summary;
pub mod sweep;
