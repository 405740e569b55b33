//! The simulator's HTTP routes: generation endpoints, models, health, metrics and tokenize.

use super::faults::{self, FaultKind};
use super::generate::{generate, Plan, Sim};
use super::metrics::Finish;
use super::tokens;
use super::wire::{self, ApiError, Chunks, GenRequest, Shape, SseSink, WholeSink};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Builds the router over one simulator.
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/admin/reset-metrics", post(reset_metrics))
        .route("/reset_prefix_cache", post(reset_prefix_cache))
        .route("/tokenize", post(tokenize))
        .route("/v1/tokenize", post(tokenize))
        .with_state(sim)
}

/// `POST /reset_prefix_cache`, as vLLM serves it: forget every cached block.
async fn reset_prefix_cache(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&sim, &headers) {
        return e.into_response();
    }
    sim.prefix_cache.reset();
    StatusCode::OK.into_response()
}

/// Seconds since the Unix epoch, for `created`.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks the bearer token when `--api-key` is set.
fn authorize(sim: &Sim, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &sim.cfg.api_key else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(key.as_str()) {
        return Ok(());
    }
    let message = if given.is_some() {
        "Invalid API key; pass the key the simulator was started with as 'Authorization: Bearer <key>'"
    } else {
        "Missing API key; pass 'Authorization: Bearer <key>' (the simulator was started with --api-key)"
    };
    Err(wire::error(
        StatusCode::UNAUTHORIZED,
        "AuthenticationError",
        message,
    ))
}

/// `--reject-field`: a strict server's 422 for fields it does not know.
fn reject_fields(sim: &Sim, body: &[u8]) -> Result<(), ApiError> {
    if sim.cfg.reject_fields.is_empty() {
        return Ok(());
    }
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return Ok(()); // parse_json reports it
    };
    let bad: Vec<String> = sim
        .cfg
        .reject_fields
        .iter()
        .filter(|f| m.contains_key(f.as_str()))
        .map(|f| format!("'{f}'"))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(wire::error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "UnprocessableEntity",
        format!("Unexpected fields in the request: {{{}}}", bad.join(", ")),
    ))
}

/// Checks the requested model (absent means the served one).
fn check_model(sim: &Sim, model: Option<&str>) -> Result<(), ApiError> {
    match model {
        Some(m) if m != sim.cfg.model => Err(wire::error(
            StatusCode::NOT_FOUND,
            "NotFoundError",
            format!("The model '{m}' does not exist."),
        )),
        _ => Ok(()),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| wire::bad_request(format!("Invalid JSON request body: {e}")))
}

async fn chat(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    serve_generation(sim, headers, body, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn completions(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    serve_generation(sim, headers, body, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Validates a generation request and answers it, streamed or whole.
async fn serve_generation(
    sim: Arc<Sim>,
    headers: HeaderMap,
    body: Bytes,
    chat: bool,
) -> Result<Response, ApiError> {
    let arrival = Instant::now();
    authorize(&sim, &headers)?;
    reject_fields(&sim, &body)?;
    let req: GenRequest = parse_json(&body)?;
    check_model(&sim, req.model.as_deref())?;
    let cfg = &sim.cfg;
    let prompt_tokens = if chat {
        let messages = req
            .messages
            .as_deref()
            .ok_or_else(|| wire::bad_request("'messages' is required for /v1/chat/completions"))?;
        wire::count_messages(messages).map_err(wire::bad_request)?
    } else {
        let prompt = req
            .prompt
            .as_ref()
            .ok_or_else(|| wire::bad_request("'prompt' is required for /v1/completions"))?;
        wire::count_prompt(prompt).map_err(wire::bad_request)?
    };
    let asked = req.max_completion_tokens.or(req.max_tokens);
    let output_tokens = match asked {
        None => cfg.output_len.max(1),
        Some(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
        Some(n) => {
            return Err(wire::bad_request(format!(
                "max_tokens must be at least 1, got {n}"
            )))
        }
    };
    let total = u64::from(prompt_tokens) + u64::from(output_tokens);
    if total > u64::from(cfg.max_model_len) {
        return Err(wire::bad_request(format!(
            "This model's maximum context length is {} tokens. However, you requested {total} tokens ({prompt_tokens} in the messages, {output_tokens} in the completion). Please reduce the length of the messages or completion.",
            cfg.max_model_len
        )));
    }

    let index = sim.metrics.requests.fetch_add(1, Relaxed);
    let per_chunk = cfg.tokens_per_chunk.max(1);
    let chunks = output_tokens.div_ceil(per_chunk);
    let draw = faults::draw(&cfg.faults, cfg.seed, index, chunks);
    match draw.fault {
        Some(FaultKind::Fail500) => {
            sim.metrics.fault(FaultKind::Fail500);
            return Err(wire::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Simulated server error (tokscope mock --fail-500)",
            ));
        }
        Some(FaultKind::Fail429) => {
            sim.metrics.fault(FaultKind::Fail429);
            return Err(ApiError {
                retry_after: Some(1),
                ..wire::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RateLimitError",
                    "Simulated rate limit (tokscope mock --fail-429)",
                )
            });
        }
        _ => {}
    }
    let cached_tokens = {
        let mut ids = Vec::with_capacity(prompt_tokens as usize);
        if chat {
            for m in req.messages.as_deref().unwrap_or_default() {
                wire::message_ids(m, &mut ids);
            }
        } else if let Some(p) = &req.prompt {
            wire::prompt_ids(p, &mut ids);
        }
        let hits = sim.prefix_cache.lookup(&ids);
        u32::try_from(hits).unwrap_or(u32::MAX).min(prompt_tokens)
    };
    let plan = Plan {
        arrival,
        prompt_tokens,
        cached_tokens,
        output_tokens,
        reasoning_tokens: if chat {
            cfg.reasoning_tokens.min(output_tokens)
        } else {
            0
        },
        tokens_per_chunk: per_chunk,
        finish: if asked.is_some() {
            Finish::Length
        } else {
            Finish::Stop
        },
        draw,
    };
    let id = format!(
        "{}{:016x}",
        if chat { "chatcmpl-" } else { "cmpl-" },
        faults::splitmix64(&mut (cfg.seed ^ index))
    );
    let created = unix_now();
    if req.stream.unwrap_or(false) {
        let opts = req.stream_options.unwrap_or_default();
        let shape = Shape {
            chat,
            include_usage: !cfg.no_usage && opts.include_usage.unwrap_or(false),
            continuous_usage: !cfg.no_usage
                && opts.include_usage.unwrap_or(false)
                && opts.continuous_usage_stats.unwrap_or(false),
            done: !cfg.no_done,
            reasoning_field: cfg.reasoning_field,
            think_inline: cfg.think_inline,
        };
        Ok(stream(sim.clone(), plan, shape, &id, created))
    } else {
        whole(&sim, plan, chat, &id, created).await
    }
}

/// Starts a generation task feeding an SSE body.
fn stream(sim: Arc<Sim>, plan: Plan, shape: Shape, id: &str, created: u64) -> Response {
    let (tx, mut rx) = mpsc::channel::<wire::BodyItem>(8);
    let chunks = Chunks::new(shape, &plan, id, created, &sim.model_json);
    let mut sink = SseSink {
        tx,
        chunks,
        keepalive: sim.cfg.keepalive,
        next_ping: Instant::now() + sim.cfg.keepalive.unwrap_or_default(),
        pending_role: None,
    };
    tokio::spawn(async move {
        // Gone only means the client left; the guards inside have already settled the gauges.
        let _ = generate(&sim, &plan, &mut sink).await;
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Runs a generation to its end and answers with one JSON body.
async fn whole(
    sim: &Sim,
    plan: Plan,
    chat: bool,
    id: &str,
    created: u64,
) -> Result<Response, ApiError> {
    let mut sink = WholeSink::default();
    // A whole-response sink never reports Gone; a vanished client drops this future instead.
    let _ = generate(sim, &plan, &mut sink).await;
    if sink.cut {
        let cut = std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "tokscope mock --cut-stream",
        );
        let body = Body::from_stream(futures_util::stream::iter([Err::<Bytes, _>(cut)]));
        return Ok((StatusCode::OK, body).into_response());
    }
    if sink.error {
        return Err(wire::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Simulated engine failure (tokscope mock --error-event)",
        ));
    }
    if sink.malformed {
        let body = format!("{{\"id\":\"{id}\",\"object\":\"chat.completion\",\"choices\":[{{");
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    let cfg = &sim.cfg;
    let r = plan.reasoning_tokens;
    let usage = json!({
        "prompt_tokens": plan.prompt_tokens,
        "total_tokens": u64::from(plan.prompt_tokens) + u64::from(sink.tokens),
        "completion_tokens": sink.tokens,
    });
    let finish = plan.finish.as_str();
    let body = if chat {
        let mut message = serde_json::Map::new();
        message.insert("role".into(), json!("assistant"));
        if cfg.think_inline || r == 0 {
            let all = wire::text(0, sink.tokens, r, cfg.think_inline);
            message.insert("content".into(), json!(all));
        } else {
            let field = match cfg.reasoning_field {
                super::ReasoningField::ReasoningContent => "reasoning_content",
                super::ReasoningField::Reasoning => "reasoning",
            };
            message.insert(field.into(), json!(wire::text(0, r, r, false)));
            message.insert(
                "content".into(),
                json!(wire::text(r, sink.tokens.saturating_sub(r), r, false)),
            );
        }
        json!({
            "id": id, "object": "chat.completion", "created": created, "model": cfg.model,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": finish, "stop_reason": null}],
            "usage": usage,
        })
    } else {
        json!({
            "id": id, "object": "text_completion", "created": created, "model": cfg.model,
            "choices": [{"index": 0, "text": wire::text(0, sink.tokens, 0, false),
                         "logprobs": null, "finish_reason": finish, "stop_reason": null}],
            "usage": usage,
        })
    };
    Ok(axum::Json(body).into_response())
}

async fn models(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&sim, &headers) {
        return e.into_response();
    }
    let m = &sim.cfg.model;
    axum::Json(json!({"object": "list", "data": [{
        "id": m, "object": "model", "created": unix_now(), "owned_by": "tokscope-mock",
        "root": m, "parent": null, "max_model_len": sim.cfg.max_model_len, "permission": [],
    }]}))
    .into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

/// `POST /admin/reset-metrics` (only with `--admin-routes`): counters and histograms back to
/// zero, as a restarted server's, so tests can check what a reset does to the figures.
async fn reset_metrics(State(sim): State<Arc<Sim>>) -> StatusCode {
    if !sim.cfg.admin_routes {
        return StatusCode::NOT_FOUND;
    }
    sim.metrics.reset_counters();
    StatusCode::NO_CONTENT
}

async fn metrics(State(sim): State<Arc<Sim>>) -> Response {
    let text = sim.metrics.render_as(
        sim.cfg.metric_names,
        &sim.cfg.model,
        sim.cfg.kv_cache_tokens,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// vLLM's `/tokenize` body: a prompt, or chat messages.
#[derive(Debug, Deserialize)]
struct TokenizeRequest {
    model: Option<String>,
    prompt: Option<String>,
    messages: Option<Vec<wire::Message>>,
}

async fn tokenize(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    if sim.cfg.no_tokenize {
        return StatusCode::NOT_FOUND.into_response();
    }
    let answer = || -> Result<Response, ApiError> {
        authorize(&sim, &headers)?;
        let req: TokenizeRequest = parse_json(&body)?;
        check_model(&sim, req.model.as_deref())?;
        let mut ids = Vec::new();
        match (&req.prompt, &req.messages) {
            (Some(p), None) => tokens::ids(p, &mut ids),
            (None, Some(messages)) => {
                // Validate the contents the same way a chat request does.
                wire::count_messages(messages).map_err(wire::bad_request)?;
                for m in messages {
                    match &m.content {
                        Some(Value::String(s)) => tokens::ids(s, &mut ids),
                        Some(Value::Array(parts)) => {
                            for t in parts.iter().filter_map(|p| p.get("text")?.as_str()) {
                                tokens::ids(t, &mut ids);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                return Err(wire::bad_request(
                    "give either 'prompt' or 'messages' to /tokenize",
                ))
            }
        }
        Ok(axum::Json(json!({
            "count": ids.len(),
            "max_model_len": sim.cfg.max_model_len,
            "tokens": ids,
            "token_strs": null,
        }))
        .into_response())
    };
    answer().unwrap_or_else(IntoResponse::into_response)
}
