//! HTTP client for OpenAI-compatible servers: builds request bodies, sends one streaming
//! request and measures it at the wire.
//!
//! The hot path per network read is: take the time, split SSE events, parse each payload,
//! update a few counters, and send a small `Chunk` event to the recorder. Nothing here waits on
//! the UI.

use crate::load::record::{ErrorKind, RequestEvent, RequestRecord, TokenSource};
use crate::protocol::sse::SseSplitter;
use anyhow::Context;
use futures_util::StreamExt;
use measure::Measure;
use serde_json::{json, Map, Value};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

mod measure;
mod reuse;

/// Everything needed to talk to one server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme, host and port, without a trailing slash (e.g. `http://127.0.0.1:8000`).
    pub base_url: String,
    /// API path, e.g. `/v1/chat/completions`.
    pub endpoint: String,
    /// What the path speaks (set from the path by `new`).
    pub kind: EndpointKind,
    pub model: String,
    pub headers: Vec<(String, String)>,
    pub api_key: Option<String>,
    pub extra_body: Option<Map<String, Value>>,
    pub chat_template_kwargs: Option<Value>,
    pub ignore_eos: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Send `stream_options.include_usage` (and read token counts from `usage`).
    pub include_usage: bool,
    /// Chat API: send `max_completion_tokens` beside `max_tokens`.
    pub max_completion_tokens: bool,
    pub timeout: Duration,
}

/// The API a run calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointKind {
    /// `/v1/chat/completions`: messages in, `delta.content` out.
    #[default]
    Chat,
    /// `/v1/completions`: a prompt in, `text` out.
    Completions,
}

impl EndpointKind {
    /// The kind an endpoint path names: anything ending in `chat/completions` is chat.
    pub fn of_path(path: &str) -> EndpointKind {
        if path.trim_end_matches('/').ends_with("chat/completions") {
            EndpointKind::Chat
        } else {
            EndpointKind::Completions
        }
    }
    /// vLLM's `endpoint_type` word for the result file.
    pub fn result_word(self) -> &'static str {
        match self {
            EndpointKind::Chat => "openai-chat",
            EndpointKind::Completions => "openai",
        }
    }
}

impl ClientConfig {
    /// A config with defaults for everything but the target.
    pub fn new(base_url: &str, endpoint: &str, model: &str) -> Self {
        ClientConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            endpoint: endpoint.to_string(),
            kind: EndpointKind::of_path(endpoint),
            model: model.to_string(),
            headers: Vec::new(),
            api_key: None,
            extra_body: None,
            chat_template_kwargs: None,
            ignore_eos: false,
            temperature: None,
            top_p: None,
            include_usage: true,
            max_completion_tokens: true,
            timeout: Duration::from_secs(600),
        }
    }

    /// True for the chat API (`messages`), false for completions (`prompt`).
    pub fn is_chat(&self) -> bool {
        self.kind == EndpointKind::Chat
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct RequestSpec<'a> {
    pub id: u64,
    pub warmup: bool,
    /// When the arrival schedule wanted it sent (since run start).
    pub scheduled_at: Duration,
    pub prompt: &'a str,
    pub max_tokens: u32,
    /// The workload's count of prompt tokens (used when the server reports no usage).
    pub prompt_tokens: u64,
    pub prompt_source: TokenSource,
}

/// A reusable client (connection pool, request template).
#[derive(Debug, Clone)]
pub struct Client {
    pub config: ClientConfig,
    http: reqwest::Client,
    /// Never reuses a connection: the one retry of a request whose pooled connection died
    /// under it goes here, so it cannot meet another stale one.
    fresh: reqwest::Client,
    /// Which pooled connections have answered, and the server's keep-alive timeout.
    connections: std::sync::Arc<reuse::Connections>,
    url: String,
    template: Map<String, Value>,
}

/// Build a reqwest client with our defaults: HTTP/1.1 keep-alive, rustls, no proxy surprises.
pub fn http_client(
    headers: &[(String, String)],
    api_key: Option<&str>,
) -> anyhow::Result<reqwest::Client> {
    build_http(headers, api_key, Some(reuse::pool_idle_for(None)))
}

/// `idle`: how long an idle connection stays pooled; `None` pools nothing (a new connection
/// for every request).
fn build_http(
    headers: &[(String, String)],
    api_key: Option<&str>,
    idle: Option<Duration>,
) -> anyhow::Result<reqwest::Client> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .with_context(|| format!("--header: '{k}' is not a valid header name"))?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .with_context(|| format!("--header: the value of '{k}' is not a valid header value"))?;
        map.insert(name, value);
    }
    if let Some(key) = api_key {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .context("--api-key: the key contains characters not allowed in a header")?;
        value.set_sensitive(true);
        map.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(map)
        .http1_only()
        .pool_idle_timeout(idle)
        .pool_max_idle_per_host(if idle.is_some() { usize::MAX } else { 0 })
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("could not build the HTTP client")
}

/// Parse `--header K=V` values.
pub fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>, String> {
    raw.iter()
        .map(|h| match h.split_once('=').or_else(|| h.split_once(':')) {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(format!(
                "--header: '{h}' is not K=V (e.g. --header X-Team=infra)"
            )),
        })
        .collect()
}

impl Client {
    pub fn new(config: ClientConfig) -> anyhow::Result<Self> {
        let http = http_client(&config.headers, config.api_key.as_deref())?;
        let fresh = build_http(&config.headers, config.api_key.as_deref(), None)?;
        let url = format!("{}{}", config.base_url, config.endpoint);
        let template = Self::template(&config);
        Ok(Client {
            config,
            http,
            fresh,
            connections: Default::default(),
            url,
            template,
        })
    }

    /// Drop idle connections before the server would: when a response has announced
    /// `Keep-Alive: timeout=T` (uvicorn and llama-server say 5 s), the pool is rebuilt to keep
    /// idle connections for less than T. Call it between requests (after the probe): the
    /// connections pooled so far are let go. `max=N` needs nothing: the server marks its N-th
    /// answer `Connection: close`, and hyper does not reuse that connection.
    pub fn fit_pool_to_server(&mut self) -> anyhow::Result<Option<Duration>> {
        let Some(server) = self.connections.keep_alive_timeout() else {
            return Ok(None);
        };
        let idle = reuse::pool_idle_for(Some(server));
        self.http = build_http(
            &self.config.headers,
            self.config.api_key.as_deref(),
            Some(idle),
        )?;
        Ok(Some(idle))
    }

    /// The constant part of every request body; the prompt and the output limit are added per
    /// request, and `--extra-body` is merged last so it can override anything.
    fn template(c: &ClientConfig) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("model".into(), json!(c.model));
        m.insert("stream".into(), json!(true));
        if c.include_usage {
            m.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if c.ignore_eos {
            m.insert("ignore_eos".into(), json!(true));
        }
        if let Some(t) = c.temperature {
            m.insert("temperature".into(), json!(t));
        }
        if let Some(p) = c.top_p {
            m.insert("top_p".into(), json!(p));
        }
        if let Some(k) = &c.chat_template_kwargs {
            m.insert("chat_template_kwargs".into(), k.clone());
        }
        m
    }

    /// The JSON body for one request.
    pub fn body(&self, prompt: &str, max_tokens: u32) -> Vec<u8> {
        let mut m = self.template.clone();
        if self.config.is_chat() {
            m.insert(
                "messages".into(),
                json!([{"role": "user", "content": prompt}]),
            );
            // Some servers read only one of the two names and otherwise generate to the end of
            // the context; the completions API has only `max_tokens`.
            if self.config.max_completion_tokens {
                m.insert("max_completion_tokens".into(), json!(max_tokens));
            }
        } else {
            m.insert("prompt".into(), json!(prompt));
        }
        m.insert("max_tokens".into(), json!(max_tokens));
        if let Some(extra) = &self.config.extra_body {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
            // An output limit set through --extra-body applies under both names, so servers
            // that read only one of them cannot disagree.
            if self.config.is_chat() {
                let limit = extra
                    .get("max_completion_tokens")
                    .or_else(|| extra.get("max_tokens"))
                    .cloned();
                if let Some(l) = limit {
                    m.insert("max_tokens".into(), l.clone());
                    m.insert("max_completion_tokens".into(), l);
                }
            }
        }
        serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
    }

    /// Send one streaming request and measure it. Never fails: errors end up in the record.
    /// `origin` is the run's time zero; `events` (when given) receives live `Sent`/`Chunk` events.
    pub async fn run(
        &self,
        spec: &RequestSpec<'_>,
        origin: Instant,
        events: Option<&UnboundedSender<RequestEvent>>,
    ) -> RequestRecord {
        let body = self.body(spec.prompt, spec.max_tokens);
        let mut m = Measure::new(spec, origin);
        if let Some(tx) = events {
            let _ = tx.send(RequestEvent::Sent {
                id: spec.id,
                warmup: spec.warmup,
                at: m.sent_at,
                prompt_tokens: spec.prompt_tokens,
            });
        }
        let deadline = m.t0 + self.config.timeout;
        match tokio::time::timeout_at(deadline, self.stream(body, &mut m, events)).await {
            Ok(()) => {}
            Err(_) => m.fail(
                ErrorKind::Timeout,
                None,
                format!(
                    "no complete answer within --timeout {} s",
                    self.config.timeout.as_secs_f64()
                ),
            ),
        }
        m.into_record(spec)
    }

    /// POST `body`; the response head, or why none came.
    async fn send(
        &self,
        http: &reqwest::Client,
        body: bytes::Bytes,
    ) -> reqwest::Result<reqwest::Response> {
        let resp = http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .body(body)
            .send()
            .await?;
        self.connections.answered(&resp);
        Ok(resp)
    }

    /// Send, and once more on a new connection when a pooled one died before answering (see
    /// `reuse`). The retry keeps the request's time zero, as aiohttp's transparent retry does
    /// inside vLLM's timed `session.post`: the wait a user would have seen is in the TTFT
    /// (the dead attempt costs a round trip). Nothing was received, so nothing is counted
    /// twice; `retries` says it happened.
    async fn send_once_more_if_stale(
        &self,
        body: Vec<u8>,
        m: &mut Measure,
    ) -> reqwest::Result<reqwest::Response> {
        let body = bytes::Bytes::from(body);
        match self.send(&self.http, body.clone()).await {
            Err(e) if self.connections.stale(&e) => {
                m.retries += 1;
                self.send(&self.fresh, body).await
            }
            other => other,
        }
    }

    async fn stream(
        &self,
        body: Vec<u8>,
        m: &mut Measure,
        events: Option<&UnboundedSender<RequestEvent>>,
    ) {
        let resp = match self.send_once_more_if_stale(body, m).await {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Connect
                };
                m.fail(kind, None, describe_reqwest(&e, &self.url));
                return;
            }
        };
        let status = resp.status();
        if !status.is_success() {
            // Only the start: the message shown is 300 characters at most.
            let text =
                crate::protocol::limits::read_capped(resp, crate::protocol::limits::MAX_ERROR_BODY)
                    .await
                    .map(|c| c.text())
                    .unwrap_or_default();
            m.fail(
                ErrorKind::HttpStatus,
                Some(status.as_u16()),
                format!("HTTP {}: {}", status.as_u16(), error_message(&text)),
            );
            return;
        }
        let mut body = resp.bytes_stream();
        let mut sse = SseSplitter::new();
        while let Some(item) = body.next().await {
            // The arrival time of these bytes: taken before any parsing.
            let at = Instant::now();
            match item {
                Ok(bytes) => {
                    let fed = sse.feed(&bytes, |ev| m.on_event(ev, at, events));
                    m.flush(events);
                    if let Err(overflow) = fed {
                        m.fail(ErrorKind::Malformed, None, overflow.to_string());
                    }
                    if m.done || m.error.is_some() {
                        return;
                    }
                    // hyper's body channel is not a tokio resource, so a body that always has
                    // bytes ready would never give the runtime a turn: `--timeout` (checked
                    // only when this future is pending) and a stop's `abort` would wait for the
                    // stream to end. One budget unit per read (a thread-local decrement) yields
                    // at most every 128 reads, and after this read's timestamp, never before.
                    tokio::task::coop::consume_budget().await;
                }
                Err(e) => {
                    let msg = format!(
                        "stream broke after {} chunks: {}",
                        m.text_chunks,
                        error_chain(&e)
                    );
                    m.fail(ErrorKind::StreamCut, None, msg);
                    return;
                }
            }
        }
        let at = Instant::now();
        sse.finish(|ev| m.on_event(ev, at, events));
        m.flush(events);
        if !m.done && m.error.is_none() && m.text_chunks == 0 {
            m.fail(
                ErrorKind::StreamCut,
                None,
                "the stream ended without [DONE] and without any text".into(),
            );
        }
    }

    /// When a server's error message names an optional field we sent, which flag sent it and
    /// how to leave it out (e.g. transformers serve: "Unexpected fields in the request:
    /// {'ignore_eos'}").
    pub fn advice_for(&self, message: &str) -> Option<String> {
        let c = &self.config;
        let mut fields: Vec<(String, String)> = Vec::new();
        if c.ignore_eos {
            fields.push(("ignore_eos".into(), "leave out --ignore-eos".into()));
        }
        if c.include_usage {
            fields.push(("stream_options".into(), "add --no-stream-usage".into()));
        }
        if c.is_chat() && c.max_completion_tokens {
            fields.push((
                "max_completion_tokens".into(),
                "add --no-max-completion-tokens".into(),
            ));
        }
        if c.chat_template_kwargs.is_some() {
            fields.push((
                "chat_template_kwargs".into(),
                "leave out --chat-template-kwargs".into(),
            ));
        }
        if c.temperature.is_some() {
            fields.push(("temperature".into(), "leave out --temperature".into()));
        }
        if c.top_p.is_some() {
            fields.push(("top_p".into(), "leave out --top-p".into()));
        }
        for k in c.extra_body.iter().flat_map(|m| m.keys()) {
            fields.push((k.clone(), format!("remove '{k}' from --extra-body")));
        }
        let named = |f: &str| {
            message.match_indices(f).any(|(i, _)| {
                let before = message[..i].chars().next_back();
                let after = message[i + f.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        };
        let hits: Vec<String> = fields
            .into_iter()
            .filter(|(f, _)| named(f))
            .map(|(f, fix)| format!("the server rejects the field '{f}': {fix}"))
            .collect();
        (!hits.is_empty()).then(|| hits.join("; "))
    }

    /// Ids from `GET /v1/models`.
    pub async fn models(&self) -> anyhow::Result<Vec<String>> {
        list_models(&self.http, &self.config.base_url).await
    }
}

/// A URL as it may be shown or saved: credentials in it (`http://user:key@host`) become `***`.
/// Requests still use the full URL (reqwest turns its user info into basic auth).
pub fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `GET /v1/models` answered with an HTTP error status.
#[derive(Debug, thiserror::Error)]
#[error("GET '{url}' answered HTTP {status}: {message}")]
pub struct ModelsStatusError {
    pub url: String,
    pub status: u16,
    pub message: String,
}

/// Ids from `GET {base}/v1/models`, in the server's order.
pub async fn list_models(http: &reqwest::Client, base_url: &str) -> anyhow::Result<Vec<String>> {
    let url = format!("{}/v1/models", base_url.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(describe_reqwest(&e, &url)))?;
    let status = resp.status();
    if !status.is_success() {
        let text =
            crate::protocol::limits::read_capped(resp, crate::protocol::limits::MAX_ERROR_BODY)
                .await
                .map(|c| c.text())
                .unwrap_or_default();
        return Err(ModelsStatusError {
            url: redact_userinfo(&url),
            status: status.as_u16(),
            message: crate::protocol::sanitize::line(&error_message(&text)).into_owned(),
        }
        .into());
    }
    let text = crate::protocol::limits::read_whole(
        resp,
        crate::protocol::limits::MAX_MODELS_BODY,
        &format!("'{}'", redact_userinfo(&url)),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let v: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "GET '{}' did not return JSON: '{}'",
            redact_userinfo(&url),
            crate::protocol::sanitize::line(&short(&text, 80))
        )
    })?;
    let ids: Vec<String> = v
        .get("data")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                // Ids are printed (banner, check, dashboard header): made safe here.
                .filter_map(|m| {
                    Some(crate::protocol::sanitize::line(m.get("id")?.as_str()?).into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ids)
}

/// A short, human message from an error body: the JSON error's message, else the first text.
pub fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .or_else(|| v.get("error"));
        if let Some(m) = msg {
            return short(
                m.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| m.to_string())
                    .trim(),
                300,
            );
        }
    }
    // HTML or plain text: drop tags, keep the first meaningful words.
    let mut plain = String::new();
    let mut in_tag = false;
    for ch in body.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                plain.push(' ');
            }
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = plain.split_whitespace().collect();
    if words.is_empty() {
        "(empty body)".into()
    } else {
        short(&words.join(" "), 200)
    }
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// reqwest's error with its causes, which hold the useful part ("Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

fn describe_reqwest(e: &reqwest::Error, url: &str) -> String {
    let url = redact_userinfo(url);
    if e.is_connect() {
        format!("cannot connect to '{url}': {}", error_chain(e))
    } else if e.is_timeout() {
        format!("'{url}' timed out")
    } else {
        format!("request to '{url}' failed: {}", error_chain(e))
    }
}

/// Send one request and also collect its text (for `check` and the probe).
pub async fn run_collecting(client: &Client, spec: &RequestSpec<'_>) -> (RequestRecord, String) {
    // Same as `Client::run` but keeps the answer text; a separate path so the load path never
    // pays for string building.
    let body = client.body(spec.prompt, spec.max_tokens);
    let origin = Instant::now();
    let mut m = Measure::new(spec, origin);
    m.text = Some(String::new());
    let deadline = m.t0 + client.config.timeout;
    if tokio::time::timeout_at(deadline, client.stream(body, &mut m, None))
        .await
        .is_err()
    {
        m.fail(
            ErrorKind::Timeout,
            None,
            format!(
                "no complete answer within {} s",
                client.config.timeout.as_secs_f64()
            ),
        );
    }
    let text = m.text.take().unwrap_or_default();
    (m.into_record(spec), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_field_names_the_flag_that_sent_it() {
        let mut cfg = ClientConfig::new("http://h:1", "/v1/chat/completions", "m");
        cfg.ignore_eos = true;
        cfg.extra_body = serde_json::from_str(r#"{"top_k": 20}"#).ok();
        let c = Client::new(cfg).unwrap();
        // transformers serve, as seen on the GPU machine.
        assert_eq!(
            c.advice_for("HTTP 422: Unexpected fields in the request: {'ignore_eos'}")
                .as_deref(),
            Some("the server rejects the field 'ignore_eos': leave out --ignore-eos")
        );
        assert_eq!(
            c.advice_for("extra fields not permitted: stream_options, top_k")
                .as_deref(),
            Some(
                "the server rejects the field 'stream_options': add --no-stream-usage; \
                 the server rejects the field 'top_k': remove 'top_k' from --extra-body"
            )
        );
        assert_eq!(
            c.advice_for("unknown field max_completion_tokens")
                .as_deref(),
            Some(
                "the server rejects the field 'max_completion_tokens': add \
                 --no-max-completion-tokens"
            )
        );
        // A word that only contains a field's name is not the field.
        assert_eq!(c.advice_for("bad max_tokens_x value"), None);
        assert_eq!(c.advice_for("model not found"), None);
        let body = c.body("hi", 5);
        let mut cfg2 = c.config.clone();
        cfg2.max_completion_tokens = false;
        let body2 = Client::new(cfg2).unwrap().body("hi", 5);
        assert!(String::from_utf8_lossy(&body).contains("max_completion_tokens"));
        assert!(!String::from_utf8_lossy(&body2).contains("max_completion_tokens"));
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact_userinfo("http://user:sk-secret@host:8000/v1"),
            "http://***@host:8000/v1"
        );
        assert_eq!(redact_userinfo("https://sk-only@h"), "https://***@h");
        assert_eq!(redact_userinfo("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact_userinfo("http://h:1"), "http://h:1");
    }

    #[test]
    fn body_for_chat_has_both_limits_and_usage() {
        let mut cfg = ClientConfig::new("http://127.0.0.1:1/", "/v1/chat/completions", "m");
        cfg.ignore_eos = true;
        cfg.chat_template_kwargs = Some(json!({"enable_thinking": false}));
        cfg.extra_body = serde_json::from_str(r#"{"temperature":0.5,"top_k":3}"#).ok();
        let c = Client::new(cfg).unwrap();
        let v: Value = serde_json::from_slice(&c.body("hi", 7)).unwrap();
        assert_eq!(v["max_tokens"], 7);
        assert_eq!(v["max_completion_tokens"], 7);
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(v["messages"][0]["content"], "hi");
        assert_eq!(v["chat_template_kwargs"]["enable_thinking"], false);
        assert_eq!(v["temperature"], 0.5);
        assert_eq!(v["top_k"], 3);
        let mut cfg = ClientConfig::new("http://h", "/v1/chat/completions", "m");
        cfg.extra_body = serde_json::from_str(r#"{"max_tokens":3}"#).ok();
        let c2 = Client::new(cfg).unwrap();
        let v2: Value = serde_json::from_slice(&c2.body("hi", 7)).unwrap();
        assert_eq!(
            (
                v2["max_tokens"].clone(),
                v2["max_completion_tokens"].clone()
            ),
            (json!(3), json!(3))
        );
        assert_eq!(c.url, "http://127.0.0.1:1/v1/chat/completions");
    }

    #[test]
    fn body_for_completions_uses_prompt() {
        let mut cfg = ClientConfig::new("http://h", "/v1/completions", "m");
        cfg.include_usage = false;
        let c = Client::new(cfg).unwrap();
        let v: Value = serde_json::from_slice(&c.body("hi", 3)).unwrap();
        assert_eq!(v["prompt"], "hi");
        assert!(v.get("messages").is_none());
        assert!(v.get("stream_options").is_none());
        assert!(v.get("max_completion_tokens").is_none());
    }

    #[test]
    fn error_messages_from_json_and_html() {
        assert_eq!(
            error_message(r#"{"error":{"message":"The model 'x' does not exist."}}"#),
            "The model 'x' does not exist."
        );
        assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(
            error_message("<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"),
            "502 Bad Gateway 502 Bad Gateway"
        );
        assert_eq!(error_message(""), "(empty body)");
    }

    #[test]
    fn header_parsing() {
        assert_eq!(
            parse_headers(&["A=b".into(), "X-Y: z".into()]),
            Ok(vec![("A".into(), "b".into()), ("X-Y".into(), "z".into())])
        );
        assert_eq!(
            parse_headers(&["nope".into()]),
            Err("--header: 'nope' is not K=V (e.g. --header X-Team=infra)".into())
        );
    }
}
