//! What a finished run leaves behind: the end-of-run numbers and table (`summary`) and the
//! result file (`result`).

pub mod result;
pub mod summary;
