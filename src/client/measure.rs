//! Per-request measurement: the state one streaming request updates once per SSE event, and
//! the `RequestRecord` it becomes.

use super::{short, RequestSpec};
use crate::chunk::{self, InlineThink};
use crate::record::{ErrorKind, RequestError, RequestEvent, RequestRecord, TokenSource};
use crate::sse::SseEvent;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

/// Per-request measurement state, updated once per SSE event.
pub(super) struct Measure {
    origin: Instant,
    pub(super) t0: Instant,
    pub(super) sent_at: Duration,
    id: u64,
    warmup: bool,
    first: Option<Instant>,
    first_answer: Option<Instant>,
    last: Option<Instant>,
    itl_us: Vec<u32>,
    chunk_times_us: Vec<(u32, u32)>,
    pub(super) text_chunks: u64,
    reasoning_chunks: u64,
    /// Latest cumulative usage seen (continuous usage stats or the final chunk).
    usage_completion: Option<u64>,
    usage_prompt: Option<u64>,
    finish_reason: Option<String>,
    think: InlineThink,
    pub(super) done: bool,
    pub(super) error: Option<RequestError>,
    /// Chunks of the current network read not yet reported: (arrival, tokens, chunks, any
    /// answer text).
    pending: Option<(Instant, u32, u32, bool)>,
    /// Text received, for `check` (collected only when asked).
    pub(super) text: Option<String>,
    /// Sends after the first (a pooled connection died before answering).
    pub(super) retries: u32,
}

impl Measure {
    pub(super) fn new(spec: &RequestSpec<'_>, origin: Instant) -> Self {
        let t0 = Instant::now();
        Measure {
            origin,
            t0,
            sent_at: t0.saturating_duration_since(origin),
            id: spec.id,
            warmup: spec.warmup,
            first: None,
            first_answer: None,
            last: None,
            itl_us: Vec::with_capacity(spec.max_tokens.min(4096) as usize),
            chunk_times_us: Vec::with_capacity(spec.max_tokens.min(4096) as usize),
            text_chunks: 0,
            reasoning_chunks: 0,
            usage_completion: None,
            usage_prompt: None,
            finish_reason: None,
            think: InlineThink::default(),
            done: false,
            error: None,
            pending: None,
            text: None,
            retries: 0,
        }
    }

    /// Record the request's failure (the first one wins). The message may quote the server
    /// (error bodies, error events, chunks), so it is made safe to print here, once, for every
    /// face that shows it.
    pub(super) fn fail(&mut self, kind: ErrorKind, status: Option<u16>, message: String) {
        if self.error.is_none() {
            self.error = Some(RequestError {
                kind,
                status,
                message: crate::sanitize::line_owned(message),
            });
        }
    }

    pub(super) fn on_event(
        &mut self,
        ev: SseEvent<'_>,
        at: Instant,
        events: Option<&UnboundedSender<RequestEvent>>,
    ) {
        if self.done || self.error.is_some() {
            return;
        }
        let payload = match ev {
            SseEvent::Error(raw) => {
                let c = chunk::parse(raw).ok().and_then(|c| c.error);
                let (msg, code) =
                    c.unwrap_or_else(|| (String::from_utf8_lossy(raw).into_owned(), None));
                self.fail(
                    ErrorKind::ErrorEvent,
                    code,
                    format!("error event: {}", short(&msg, 300)),
                );
                return;
            }
            SseEvent::Data(d) => d,
        };
        let trimmed = payload.trim_ascii();
        if trimmed == b"[DONE]" {
            self.done = true;
            return;
        }
        if trimmed.is_empty() {
            return;
        }
        let c = match chunk::parse(trimmed) {
            Ok(c) => c,
            Err(e) => {
                self.fail(ErrorKind::Malformed, None, e.0);
                return;
            }
        };
        if let Some((msg, code)) = c.error {
            self.fail(
                ErrorKind::ErrorEvent,
                code,
                format!("error event: {}", short(&msg, 300)),
            );
            return;
        }
        let prev_usage = self.usage_completion;
        if let Some(u) = c.usage {
            if u.completion_tokens.is_some() {
                self.usage_completion = u.completion_tokens;
            }
            if u.prompt_tokens.is_some() {
                self.usage_prompt = u.prompt_tokens;
            }
        }
        if let Some(f) = c.finish_reason {
            // Once per request at most; the server chose it, and check prints it.
            self.finish_reason = Some(crate::sanitize::line(&f).into_owned());
        }
        let mut reasoning = c.reasoning.as_deref().is_some_and(|r| !r.is_empty());
        let mut answer = false;
        if let Some(content) = c.content.as_deref() {
            if !content.is_empty() {
                let (r, a) = self.think.split(content);
                reasoning |= r;
                answer = a;
            }
            if let Some(t) = self.text.as_mut() {
                t.push_str(content);
            }
        }
        if !(reasoning || answer) {
            return;
        }
        // A text-carrying chunk: this is a token event.
        self.text_chunks += 1;
        if reasoning && !answer {
            self.reasoning_chunks += 1;
        }
        if self.first.is_none() {
            self.first = Some(at);
        }
        if answer && self.first_answer.is_none() {
            self.first_answer = Some(at);
        }
        if let Some(prev) = self.last {
            self.itl_us.push(micros(at.saturating_duration_since(prev)));
        }
        self.last = Some(at);
        // Live token estimate: the usage delta when the server streams usage, else one.
        let tokens = match (prev_usage, self.usage_completion) {
            (Some(p), Some(n)) if n > p => (n - p).min(u32::MAX as u64) as u32,
            (None, Some(n)) if n > 0 => n.min(u32::MAX as u64) as u32,
            _ => 1,
        };
        self.chunk_times_us
            .push((micros(at.saturating_duration_since(self.t0)), tokens));
        if events.is_some() {
            self.pending = Some(match self.pending {
                Some((_, t, c, a)) => (at, t.saturating_add(tokens), c + 1, a || answer),
                None => (at, tokens, 1, answer),
            });
        }
    }

    /// Send what the last network read carried as one event.
    pub(super) fn flush(&mut self, events: Option<&UnboundedSender<RequestEvent>>) {
        if let (Some((at, tokens, chunks, answer)), Some(tx)) = (self.pending.take(), events) {
            let _ = tx.send(RequestEvent::Chunk {
                id: self.id,
                at: at.saturating_duration_since(self.origin),
                tokens,
                chunks,
                answer,
            });
        }
    }

    pub(super) fn into_record(mut self, spec: &RequestSpec<'_>) -> RequestRecord {
        let t0 = self.t0;
        let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(t0));
        let (output_tokens, output_source) = match self.usage_completion {
            Some(n) if n > 0 => (n, TokenSource::Usage),
            _ => (self.text_chunks, TokenSource::Chunks),
        };
        let (prompt_tokens, prompt_source) = match self.usage_prompt {
            Some(n) if n > 0 => (n, TokenSource::Usage),
            _ => (spec.prompt_tokens, spec.prompt_source),
        };
        if self.error.is_none() && self.text_chunks == 0 {
            self.fail(
                ErrorKind::NoTokens,
                None,
                "the stream completed without any generated text".into(),
            );
        }
        let e2e = match self.last {
            Some(l) if self.error.is_none() => l.saturating_duration_since(self.t0),
            // A failed request's latency runs to the moment it failed.
            _ => Instant::now().saturating_duration_since(self.t0),
        };
        RequestRecord {
            id: self.id,
            warmup: self.warmup,
            scheduled_at: spec.scheduled_at,
            sent_at: self.sent_at,
            ttft: since(self.first),
            ttfo: since(self.first_answer),
            e2e,
            itl_us: self.itl_us,
            chunk_times_us: self.chunk_times_us,
            prompt_tokens,
            prompt_source,
            output_tokens,
            output_source,
            text_chunks: self.text_chunks,
            reasoning_chunks: self.reasoning_chunks,
            finish_reason: self.finish_reason,
            error: self.error,
            retries: self.retries,
        }
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}
