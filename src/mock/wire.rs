//! What the simulator reads and writes: request bodies, vLLM-shaped chunks and error objects.
//!
//! Chunks are built from a per-request prefix that is serialised once; the common chunk (a full
//! run of content or reasoning tokens that is not the last) is built once and then shared by
//! reference count, so a stream without continuous usage allocates nothing per chunk.

use super::generate::{Event, Gone, Plan, Sink};
use super::tokens;
use super::ReasoningField;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The text of one output token.
pub const TOKEN: &str = "tok ";

/// The fields of a chat or completions request the simulator uses; the rest are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct GenRequest {
    pub model: Option<String>,
    pub messages: Option<Vec<Message>>,
    pub prompt: Option<Value>,
    pub max_tokens: Option<i64>,
    pub max_completion_tokens: Option<i64>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
}

/// One chat message; `content` is a string or a list of parts.
#[derive(Debug, Default, Deserialize)]
pub struct Message {
    pub content: Option<Value>,
}

/// `stream_options` as vLLM reads it.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    pub include_usage: Option<bool>,
    pub continuous_usage_stats: Option<bool>,
}

/// An error answered as an OpenAI-style body: `{"error":{"message","type","param","code"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    /// Seconds for a `retry-after` header (429).
    pub retry_after: Option<u32>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": null,
            "code": self.status.as_u16(),
        }});
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        r
    }
}

/// An error with status `status`, OpenAI error type `kind` and `message`.
pub fn error(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        kind,
        message: message.into(),
        retry_after: None,
    }
}

/// A 400 for a request the simulator cannot serve.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, "BadRequestError", message)
}

/// Token count of a chat message list (the sum over every text part).
pub fn count_messages(messages: &[Message]) -> Result<u32, String> {
    let mut n = 0u32;
    for (i, m) in messages.iter().enumerate() {
        match &m.content {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => n = n.saturating_add(tokens::count(s)),
            Some(Value::Array(parts)) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        n = n.saturating_add(tokens::count(t));
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "messages[{i}].content must be a string or a list of parts, got '{other}'"
                ))
            }
        }
    }
    Ok(n)
}

/// Token ids of one chat message's text (for the prefix cache).
pub fn message_ids(m: &Message, out: &mut Vec<u32>) {
    match &m.content {
        Some(Value::String(s)) => tokens::ids(s, out),
        Some(Value::Array(parts)) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    tokens::ids(t, out);
                }
            }
        }
        _ => {}
    }
}

/// Token ids of a completions `prompt` (for the prefix cache).
pub fn prompt_ids(prompt: &Value, out: &mut Vec<u32>) {
    match prompt {
        Value::String(s) => tokens::ids(s, out),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => tokens::ids(s, out),
                    Value::Number(n) => out.push(n.as_u64().map_or(0, |v| v as u32)),
                    Value::Array(ids) => {
                        out.extend(ids.iter().map(|v| v.as_u64().map_or(0, |v| v as u32)))
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Token count of a completions `prompt`: a string, a list of strings, or token ids.
pub fn count_prompt(prompt: &Value) -> Result<u32, String> {
    let too_long = |_| "prompt is too long".to_string();
    match prompt {
        Value::String(s) => Ok(tokens::count(s)),
        Value::Array(items) => {
            let mut n = 0u32;
            for item in items {
                n = n.saturating_add(match item {
                    Value::String(s) => tokens::count(s),
                    Value::Number(_) => 1,
                    Value::Array(ids) => u32::try_from(ids.len()).map_err(too_long)?,
                    other => {
                        return Err(format!(
                            "prompt items must be strings or token ids, got '{other}'"
                        ))
                    }
                });
            }
            Ok(n)
        }
        other => Err(format!(
            "prompt must be a string, a list of strings or token ids, got '{other}'"
        )),
    }
}

/// `{"prompt_tokens":P,"total_tokens":T,"completion_tokens":C}`, in vLLM's key order.
fn put_usage(buf: &mut BytesMut, prompt: u32, completion: u32) {
    use std::fmt::Write as _;
    let total = u64::from(prompt) + u64::from(completion);
    let _ = write!(
        buf,
        "{{\"prompt_tokens\":{prompt},\"total_tokens\":{total},\"completion_tokens\":{completion}}}"
    );
}

/// How a stream is shaped: the request's options and the server's flags, combined.
#[derive(Debug, Clone)]
pub struct Shape {
    pub chat: bool,
    pub include_usage: bool,
    pub continuous_usage: bool,
    pub done: bool,
    pub reasoning_field: ReasoningField,
    pub think_inline: bool,
}

/// Serialises the chunks of one request.
pub struct Chunks {
    shape: Shape,
    prompt_tokens: u32,
    output_tokens: u32,
    reasoning_tokens: u32,
    /// `data: {"id":..,"object":..,"created":..,"model":..,"choices":[` for this request.
    head: Bytes,
    /// The common middle chunk of `tokens_per_chunk` content tokens.
    content_chunk: Bytes,
    /// The common middle chunk of `tokens_per_chunk` reasoning tokens.
    reasoning_chunk: Bytes,
    per_chunk: u32,
    finish: &'static str,
}

impl Chunks {
    /// Pre-serialises the constant parts for a request with id `id`, created at `created`.
    pub fn new(shape: Shape, plan: &Plan, id: &str, created: u64, model_json: &str) -> Self {
        let object = if shape.chat {
            "chat.completion.chunk"
        } else {
            "text_completion"
        };
        let head = format!(
            "data: {{\"id\":\"{id}\",\"object\":\"{object}\",\"created\":{created},\"model\":{model_json},\"choices\":["
        );
        let mut c = Chunks {
            shape,
            prompt_tokens: plan.prompt_tokens,
            output_tokens: plan.output_tokens,
            reasoning_tokens: plan.reasoning_tokens,
            head: Bytes::from(head),
            content_chunk: Bytes::new(),
            reasoning_chunk: Bytes::new(),
            per_chunk: plan.tokens_per_chunk.max(1),
            finish: plan.finish.as_str(),
        };
        let k = c.per_chunk;
        // Token ranges that are all-content / all-reasoning and not last, for the cached chunks.
        c.content_chunk = c.build(c.reasoning_tokens, k, false).freeze();
        c.reasoning_chunk = c.build(0, k, false).freeze();
        c
    }

    fn put_text(&self, buf: &mut BytesMut, start: u32, len: u32) {
        for t in start..start + len {
            if self.shape.think_inline && self.reasoning_tokens > 0 && t == 0 {
                buf.put_slice(b"<think>");
            }
            buf.put_slice(TOKEN.as_bytes());
            if self.shape.think_inline && t + 1 == self.reasoning_tokens {
                buf.put_slice(b"</think>\\n\\n");
            }
        }
    }

    /// Builds the chunk for tokens `start..start + len`.
    fn build(&self, start: u32, len: u32, last: bool) -> BytesMut {
        let mut buf = BytesMut::with_capacity(self.head.len() + 160 + len as usize * 8);
        buf.put_slice(&self.head);
        if self.shape.chat {
            buf.put_slice(b"{\"index\":0,\"delta\":{");
            let end = start + len;
            let split = self.reasoning_tokens.clamp(start, end);
            if self.shape.think_inline {
                buf.put_slice(b"\"content\":\"");
                self.put_text(&mut buf, start, len);
                buf.put_slice(b"\"");
            } else {
                if split > start {
                    buf.put_slice(match self.shape.reasoning_field {
                        ReasoningField::ReasoningContent => b"\"reasoning_content\":\"",
                        ReasoningField::Reasoning => b"\"reasoning\":\"",
                    });
                    self.put_text(&mut buf, start, split - start);
                    buf.put_slice(b"\"");
                }
                if end > split {
                    if split > start {
                        buf.put_slice(b",");
                    }
                    buf.put_slice(b"\"content\":\"");
                    self.put_text(&mut buf, split, end - split);
                    buf.put_slice(b"\"");
                }
            }
            buf.put_slice(b"},\"logprobs\":null,");
        } else {
            buf.put_slice(b"{\"index\":0,\"text\":\"");
            self.put_text(&mut buf, start, len);
            buf.put_slice(b"\",\"logprobs\":null,");
        }
        if last {
            buf.put_slice(b"\"finish_reason\":\"");
            buf.put_slice(self.finish.as_bytes());
            buf.put_slice(b"\",\"stop_reason\":null}]");
        } else if self.shape.chat {
            buf.put_slice(b"\"finish_reason\":null}]");
        } else {
            buf.put_slice(b"\"finish_reason\":null,\"stop_reason\":null}]");
        }
        if self.shape.continuous_usage {
            buf.put_slice(b",\"usage\":");
            put_usage(&mut buf, self.prompt_tokens, start + len);
        }
        buf.put_slice(b"}\n\n");
        buf
    }

    /// The chunk for `Event::Tokens`.
    pub fn tokens(&self, start: u32, len: u32, last: bool) -> Bytes {
        let common = len == self.per_chunk && !last && !self.shape.continuous_usage;
        if common && start >= self.reasoning_tokens {
            self.content_chunk.clone()
        } else if common && !self.shape.think_inline && start + len <= self.reasoning_tokens {
            self.reasoning_chunk.clone()
        } else {
            self.build(start, len, last).freeze()
        }
    }

    /// The role-only chunk (chat only; completions have none).
    pub fn role(&self) -> Option<Bytes> {
        if !self.shape.chat {
            return None;
        }
        let mut buf = BytesMut::with_capacity(self.head.len() + 160);
        buf.put_slice(&self.head);
        buf.put_slice(
            b"{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]",
        );
        if self.shape.continuous_usage {
            buf.put_slice(b",\"usage\":");
            put_usage(&mut buf, self.prompt_tokens, 0);
        }
        buf.put_slice(b"}\n\n");
        Some(buf.freeze())
    }

    /// The usage-only chunk, when the request asked for usage.
    pub fn usage(&self) -> Option<Bytes> {
        if !self.shape.include_usage {
            return None;
        }
        let mut buf = BytesMut::with_capacity(self.head.len() + 100);
        buf.put_slice(&self.head);
        buf.put_slice(b"],\"usage\":");
        put_usage(&mut buf, self.prompt_tokens, self.output_tokens);
        buf.put_slice(b"}\n\n");
        Some(buf.freeze())
    }

    /// A `data:` line of truncated, invalid JSON.
    pub fn malformed(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.head.len() + 40);
        buf.put_slice(&self.head);
        buf.put_slice(b"{\"index\":0,\"delta\":{\"content\":\"tok\n\n");
        buf.freeze()
    }

    /// Whether `[DONE]` ends the stream.
    pub fn done(&self) -> bool {
        self.shape.done
    }
}

/// The vLLM-style error event sent mid-stream by `--error-event`.
pub const ERROR_EVENT: &[u8] = b"data: {\"error\":{\"message\":\"Simulated engine failure mid-stream (tokscope mock --error-event)\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n";
const DONE: &[u8] = b"data: [DONE]\n\n";
const PING: &[u8] = b": ping\n\n";

/// How much earlier than its deadline a chunk's timer is set. tokio rounds a timer up to the next
/// millisecond tick and the poller's timeout rounds up again, so a timer fires 0-2 ms late (about
/// 1 ms on average); waking 1 ms early centres the send time on the deadline. A constant shift, so
/// gaps between chunks are untouched.
pub const TIMER_LEAD: Duration = Duration::from_millis(1);

/// The instant to set a timer for so that it fires closest to `deadline`.
fn wake_for(deadline: Instant) -> Instant {
    deadline.checked_sub(TIMER_LEAD).unwrap_or(deadline)
}

/// One item of an SSE body: bytes, or the error that makes hyper drop the connection.
pub type BodyItem = Result<Bytes, std::io::Error>;

/// Sends a generation as SSE events over a channel that feeds the response body.
pub struct SseSink {
    pub tx: mpsc::Sender<BodyItem>,
    pub chunks: Chunks,
    pub keepalive: Option<Duration>,
    /// When the next keep-alive comment is due.
    pub next_ping: Instant,
    /// The role chunk, held back to go out in the same write as the first token chunk.
    pub pending_role: Option<Bytes>,
}

impl SseSink {
    async fn put(&mut self, bytes: Bytes) -> Result<(), Gone> {
        if let Some(k) = self.keepalive {
            self.next_ping = Instant::now() + k;
        }
        self.tx.send(Ok(bytes)).await.map_err(|_| Gone)
    }
}

impl Sink for SseSink {
    async fn send(&mut self, event: Event) -> Result<(), Gone> {
        let bytes = match event {
            Event::Role => {
                self.pending_role = self.chunks.role();
                return Ok(());
            }
            Event::Tokens { start, len, last } => {
                let chunk = self.chunks.tokens(start, len, last);
                match self.pending_role.take() {
                    Some(role) => {
                        let mut both = BytesMut::with_capacity(role.len() + chunk.len());
                        both.put_slice(&role);
                        both.put_slice(&chunk);
                        both.freeze()
                    }
                    None => chunk,
                }
            }
            Event::Malformed => self.chunks.malformed(),
            Event::Error => Bytes::from_static(ERROR_EVENT),
            Event::Cut => {
                let cut = std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "tokscope mock --cut-stream",
                );
                // Whether the client is still there or not, the stream ends here.
                let _ = self.tx.send(Err(cut)).await;
                return Ok(());
            }
            Event::Usage => match self.chunks.usage() {
                Some(b) => b,
                None => return Ok(()),
            },
            Event::Done => {
                if !self.chunks.done() {
                    return Ok(());
                }
                Bytes::from_static(DONE)
            }
        };
        self.put(bytes).await
    }

    async fn wait_until(&mut self, deadline: Instant) -> Result<(), Gone> {
        loop {
            let ping_first = self.keepalive.is_some() && self.next_ping < deadline;
            let wake = if ping_first {
                self.next_ping
            } else {
                wake_for(deadline)
            };
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = self.tx.closed() => return Err(Gone),
            }
            if !ping_first {
                return Ok(());
            }
            self.put(Bytes::from_static(PING)).await?;
        }
    }

    async fn idle(&mut self) -> Result<(), Gone> {
        if self.keepalive.is_none() {
            self.tx.closed().await;
            return Err(Gone);
        }
        tokio::select! {
            () = tokio::time::sleep_until(self.next_ping) => {}
            () = self.tx.closed() => return Err(Gone),
        }
        self.put(Bytes::from_static(PING)).await
    }
}

/// Assembles a non-streaming response: counts tokens and notes any fault.
#[derive(Debug, Default)]
pub struct WholeSink {
    pub tokens: u32,
    pub malformed: bool,
    pub error: bool,
    pub cut: bool,
}

impl Sink for WholeSink {
    async fn send(&mut self, event: Event) -> Result<(), Gone> {
        match event {
            Event::Tokens { len, .. } => self.tokens += len,
            Event::Malformed => self.malformed = true,
            Event::Error => self.error = true,
            Event::Cut => self.cut = true,
            Event::Role | Event::Usage | Event::Done => {}
        }
        Ok(())
    }
    async fn wait_until(&mut self, deadline: Instant) -> Result<(), Gone> {
        tokio::time::sleep_until(wake_for(deadline)).await;
        Ok(())
    }
    async fn idle(&mut self) -> Result<(), Gone> {
        std::future::pending().await
    }
}

/// The text of output tokens `start..start + len` (for non-streaming bodies).
pub fn text(start: u32, len: u32, reasoning_tokens: u32, think_inline: bool) -> String {
    let mut s = String::with_capacity(len as usize * TOKEN.len() + 20);
    for t in start..start + len {
        if think_inline && reasoning_tokens > 0 && t == 0 {
            s.push_str("<think>");
        }
        s.push_str(TOKEN);
        if think_inline && t + 1 == reasoning_tokens {
            s.push_str("</think>\n\n");
        }
    }
    s
}
