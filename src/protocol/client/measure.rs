//! Per-request measurement: the state one streaming request updates once per SSE event, and
//! the `RequestRecord` it becomes.

use super::{short, RequestSpec};
use crate::load::record::{ErrorKind, RequestError, RequestEvent, RequestRecord, TokenSource};
use crate::protocol::chunk::{self, InlineThink};
use crate::protocol::sse::SseEvent;
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
    /// What the server reported about the request itself: cached prompt tokens, its timings.
    usage_cached: Option<u64>,
    timings: Option<chunk::ServerTimings>,
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
            usage_cached: None,
            timings: None,
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
                message: crate::protocol::sanitize::line_owned(message),
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
            if u.cached_tokens.is_some() {
                self.usage_cached = u.cached_tokens;
            }
        }
        if c.timings.is_some() {
            self.timings = c.timings;
        }
        if let Some(f) = c.finish_reason {
            // Once per request at most; the server chose it, and check prints it.
            self.finish_reason = Some(crate::protocol::sanitize::line(&f).into_owned());
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
            cached_prompt_tokens: self.usage_cached,
            server_timings: self.timings,
        }
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A llama-server (llama-cpp-python 0.3.36) chat stream, chunk by chunk as
    /// `server_task_result_cmpl_partial::to_json_oaicompat_chat` and the final result write it:
    /// the role with `content: null`, two tokens, the finish chunk, usage with timings.
    const STREAM: [&str; 6] = [
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1764000000,"id":"chatcmpl-Qx3","model":"tiny.gguf","system_fingerprint":"b7000-0123abcd","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hello"}}],"created":1764000000,"id":"chatcmpl-Qx3","model":"tiny.gguf","system_fingerprint":"b7000-0123abcd","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":" there"}}],"created":1764000000,"id":"chatcmpl-Qx3","model":"tiny.gguf","system_fingerprint":"b7000-0123abcd","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1764000000,"id":"chatcmpl-Qx3","model":"tiny.gguf","system_fingerprint":"b7000-0123abcd","object":"chat.completion.chunk"}"#,
        r#"{"choices":[],"created":1764000000,"id":"chatcmpl-Qx3","model":"tiny.gguf","system_fingerprint":"b7000-0123abcd","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":139,"total_tokens":141,"prompt_tokens_details":{"cached_tokens":11}},"timings":{"cache_n":11,"prompt_n":128,"prompt_ms":42.317,"prompt_per_token_ms":0.3306015625,"prompt_per_second":3024.789,"predicted_n":2,"predicted_ms":9.5,"predicted_per_token_ms":4.75,"predicted_per_second":210.5263}}"#,
        "[DONE]",
    ];

    #[tokio::test(start_paused = true)]
    async fn a_llama_cpp_stream_counts_its_tokens_not_its_role_chunk() {
        let spec = RequestSpec {
            id: 1,
            warmup: false,
            scheduled_at: Duration::ZERO,
            prompt: "hi",
            max_tokens: 2,
            prompt_tokens: 1,
            prompt_source: TokenSource::Estimate,
        };
        let mut m = Measure::new(&spec, Instant::now());
        for (i, payload) in STREAM.iter().enumerate() {
            // The role chunk arrives 5 ms in, each later chunk 10 ms after the one before.
            tokio::time::advance(Duration::from_millis(if i == 0 { 5 } else { 10 })).await;
            m.on_event(SseEvent::Data(payload.as_bytes()), Instant::now(), None);
            if i == 0 {
                assert_eq!(
                    (m.text_chunks, m.first),
                    (0, None),
                    "the role chunk is no token"
                );
            }
        }
        assert!(m.done);
        let rec = m.into_record(&spec);
        assert_eq!(rec.error, None);
        assert_eq!((rec.text_chunks, rec.output_tokens), (2, 2));
        // TTFT is the first token's (15 ms), not the role chunk's (5 ms).
        assert_eq!(rec.ttft, Some(Duration::from_millis(15)));
        assert_eq!(rec.itl_us, vec![10_000]);
        assert_eq!(rec.prompt_tokens, 139);
        assert_eq!(rec.cached_prompt_tokens, Some(11));
        let t = rec.server_timings.unwrap_or_default();
        assert_eq!(
            (t.prompt_n, t.prefill_tok_s(), t.decode_tok_s()),
            (Some(128), Some(3024.789), Some(210.5263))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_says_nothing_leaves_cache_and_timings_unknown() {
        let spec = RequestSpec {
            id: 1,
            warmup: false,
            scheduled_at: Duration::ZERO,
            prompt: "hi",
            max_tokens: 2,
            prompt_tokens: 1,
            prompt_source: TokenSource::Estimate,
        };
        let mut m = Measure::new(&spec, Instant::now());
        for payload in [
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        ] {
            m.on_event(SseEvent::Data(payload.as_bytes()), Instant::now(), None);
        }
        let rec = m.into_record(&spec);
        assert_eq!((rec.cached_prompt_tokens, rec.server_timings), (None, None));
    }
}
