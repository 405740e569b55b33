//! What one request produced, and the small events request tasks send to the recorder.
//!
//! These are the only types that cross from the hot path (request tasks) to the single owner of
//! the statistics (`recorder`). They are deliberately small: a chunk event is a timestamp and a
//! token count.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Kinds of failure, counted separately. A failure never stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// TCP connect or TLS failed, or the connection was refused.
    Connect,
    /// `--timeout` passed before the request finished.
    Timeout,
    /// The server answered with a non-2xx status.
    HttpStatus,
    /// A `data:` payload carried an `error` object (on HTTP 200).
    ErrorEvent,
    /// A `data:` payload that is not the JSON we expect.
    Malformed,
    /// The body ended or broke before the stream was complete.
    StreamCut,
    /// The stream completed but carried no generated text.
    NoTokens,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::HttpStatus,
        ErrorKind::ErrorEvent,
        ErrorKind::Malformed,
        ErrorKind::StreamCut,
        ErrorKind::NoTokens,
    ];

    /// Short label used in tables, the dashboard and result files.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::ErrorEvent => "error_event",
            ErrorKind::Malformed => "malformed_chunk",
            ErrorKind::StreamCut => "stream_cut",
            ErrorKind::NoTokens => "no_tokens",
        }
    }
}

/// Where a request's token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's `usage` object (`stream_options.include_usage`).
    #[default]
    Usage,
    /// Counted text-carrying chunks (the server sent no usage).
    Chunks,
    /// A local tokenizer counted them (prompts built with `--tokenizer`).
    Tokenizer,
    /// Estimated from the text's length (no usage, no tokenizer).
    Estimate,
}

/// A request's failure: its kind and a short message (a sample is kept per kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestError {
    pub kind: ErrorKind,
    /// HTTP status, when the failure is `HttpStatus` (or the error event named one).
    pub status: Option<u16>,
    pub message: String,
}

/// Everything measured about one finished request (successful or not).
///
/// All times are offsets on the monotonic clock; `sent_at` is relative to the run's start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestRecord {
    pub id: u64,
    /// Warm-up requests are written to the log but kept out of every statistic.
    pub warmup: bool,
    /// When the request was due by the arrival schedule (since run start).
    pub scheduled_at: Duration,
    /// When the POST was sent (since run start). `sent_at - scheduled_at` is the client queue time.
    pub sent_at: Duration,
    /// To the first chunk that carried generated text (content or reasoning).
    pub ttft: Option<Duration>,
    /// To the first chunk that carried answer (non-reasoning) text.
    pub ttfo: Option<Duration>,
    /// To the last text-carrying chunk (the trailing usage chunk and `[DONE]` excluded, as vLLM).
    pub e2e: Duration,
    /// Gaps between consecutive text-carrying chunks, in microseconds.
    pub itl_us: Vec<u32>,
    /// Arrival offsets (since `sent_at`, microseconds) and token counts of text-carrying chunks,
    /// used to place tokens into per-second buckets exactly once the final count is known.
    pub chunk_times_us: Vec<(u32, u32)>,
    /// Prompt tokens: from usage when the server reported them, else the workload's estimate.
    pub prompt_tokens: u64,
    pub prompt_source: TokenSource,
    /// Output tokens: usage.completion_tokens when reported, else counted chunks.
    pub output_tokens: u64,
    pub output_source: TokenSource,
    /// Chunks that carried text (content or reasoning).
    pub text_chunks: u64,
    /// Chunks that carried reasoning text.
    pub reasoning_chunks: u64,
    pub finish_reason: Option<String>,
    pub error: Option<RequestError>,
    /// Times it was sent again on a new connection because its pooled connection died before
    /// answering (0 or 1). It is still one request, counted once.
    pub retries: u32,
    /// `usage.prompt_tokens_details.cached_tokens`: prompt tokens the server's prefix cache
    /// supplied (part of `prompt_tokens`). `None`: the server did not say.
    pub cached_prompt_tokens: Option<u64>,
    /// The server's own timing of its prefill and decode (llama.cpp's `timings`).
    pub server_timings: Option<crate::protocol::chunk::ServerTimings>,
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// TPOT as vLLM defines it: (E2E - TTFT) / (output tokens - 1), for requests with > 1 token.
    pub fn tpot(&self) -> Option<Duration> {
        let ttft = self.ttft?;
        if self.output_tokens <= 1 || self.e2e < ttft {
            return None;
        }
        Some((self.e2e - ttft) / (self.output_tokens as u32 - 1).max(1))
    }

    /// Client-side queue time (the wait for a concurrency slot after the scheduled arrival).
    pub fn queue_time(&self) -> Duration {
        self.sent_at.saturating_sub(self.scheduled_at)
    }
}

/// Events sent from request tasks and the engine to the recorder, in arrival order.
#[derive(Debug)]
pub enum RequestEvent {
    /// A request was sent (it holds a concurrency slot from now on). `prompt_tokens` is the
    /// workload's count (or estimate) until the server's usage corrects it.
    Sent {
        id: u64,
        warmup: bool,
        at: Duration,
        prompt_tokens: u64,
    },
    /// Text-carrying chunks arrived in one network read: `chunks` of them, `tokens` the live
    /// estimate (usage deltas, else one per chunk). One event per read, not per chunk: every
    /// chunk of a read has the same arrival time, and a fast server packs dozens in one read.
    Chunk {
        id: u64,
        at: Duration,
        tokens: u32,
        chunks: u32,
        /// At least one of the chunks carried answer (non-reasoning) text.
        answer: bool,
    },
    /// A request finished, successfully or not.
    Finished(Box<RequestRecord>),
    /// Requests waiting for a concurrency slot changed.
    Queued { waiting: u64 },
    /// Something the timeline should show (a key press that changed the load, a pause, ...).
    Timeline { at: Duration, what: String },
    /// The engine has stopped sending; `interrupted` when the user or a signal stopped it early.
    SendingDone { interrupted: bool },
    /// The load the engine applies changed (a key, a command).
    Control(crate::load::control::Control),
    /// The engine's state changed.
    State(crate::load::control::RunState),
    /// The timed run starts now: `at` is time zero of every later event's offset.
    Origin(tokio::time::Instant),
    /// In-flight requests were cut before they finished (a stop, the drain timeout): they count
    /// as incomplete, and what they received stays in the totals.
    Cancelled { ids: Vec<u64> },
    /// Something went wrong that ends the run (shown as a pane, written to the result).
    Fatal(String),
    /// Arrivals due but never sent when sending stopped (the client could not keep the rate).
    NeverSent { at: Duration, count: u64 },
}
