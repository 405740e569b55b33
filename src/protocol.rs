//! Talking to an OpenAI-compatible server: one streaming request measured at the wire
//! (`client`), the SSE splitter (`sse`), one `data:` payload parsed (`chunk`), the caps on every
//! body we read (`limits`) and server text made safe to print (`sanitize`).

pub mod chunk;
pub mod client;
pub mod limits;
pub mod sanitize;
pub mod sse;
