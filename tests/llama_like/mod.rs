//! A test server that treats connections the way llama.cpp's `llama-server` does (its HTTP layer
//! is cpp-httplib), with the stream and `/metrics` shapes of that server. Read from the sources
//! vendored in llama-cpp-python 0.3.36:
//!
//! - Every response head advertises `Keep-Alive: timeout=5, max=100` (httplib.cpp,
//!   `Server::write_response_core`), but a *streamed* response always ends its connection:
//!   llama's chunk provider (tools/server/server-http.cpp, `process_handler_response`) calls
//!   `sink.done()` and returns `false`, which `write_content_chunked` reports as an error, so
//!   `process_server_socket_core` leaves its keep-alive loop and `drain_and_close_socket`
//!   half-closes the socket, reads and discards whatever arrives for up to 100 ms, and closes.
//!   A client that reuses the connection before it sees the FIN has its request swallowed and
//!   gets EOF without a byte of answer.
//! - An idle connection is closed after the keep-alive timeout (5 s), and after `max` (100)
//!   requests with `Connection: close` on the last.
//! - One thread per connection (llama-server's pool grows to 1024 extra threads).
//!
//! `fin_delay` holds the FIN back after the stream's last byte: 0 is llama-server on an idle
//! machine (the client still loses the race now and then); a few milliseconds stand for its
//! thread being descheduled on a busy one, which makes the race certain for a test.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Gap between token chunks.
    pub itl: Duration,
    /// Wait between the end of a stream and the FIN (see the module docs).
    pub fin_delay: Duration,
    pub keep_alive_timeout: Duration,
    pub keep_alive_max: u32,
    pub model: String,
    /// End the connection after every stream, as llama-server does; false keeps it (then only
    /// the keep-alive timeout and `max` end it, as uvicorn does).
    pub close_after_stream: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            itl: Duration::from_millis(2),
            fin_delay: Duration::ZERO,
            keep_alive_timeout: Duration::from_secs(5),
            keep_alive_max: 100,
            model: "tiny-llama.gguf".into(),
            close_after_stream: true,
        }
    }
}

/// Counters the tests read back.
#[derive(Debug, Default)]
pub struct Stats {
    /// Generation requests answered (a stream started).
    pub streams: AtomicU64,
    /// Requests read by the post-stream drain and dropped without an answer.
    pub swallowed: AtomicU64,
    pub connections: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub predicted: AtomicU64,
    pub processing: AtomicU64,
}

/// A running server; stops accepting when dropped.
pub struct LlamaLike {
    pub url: String,
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

impl Drop for LlamaLike {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

impl LlamaLike {
    pub fn start(opts: Opts) -> LlamaLike {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, o) = (stats.clone(), stop.clone(), Arc::new(opts));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (s, o) = (s.clone(), o.clone());
                s.connections.fetch_add(1, Relaxed);
                std::thread::spawn(move || serve_connection(conn, &o, &s));
            }
        });
        LlamaLike {
            url: format!("http://{addr}"),
            stats,
            stop,
        }
    }
}

struct Request {
    method: String,
    path: String,
    close: bool,
    body: Vec<u8>,
}

/// Read one request; `None` at EOF, on a timeout or on garbage.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut len, mut close) = (0usize, false);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().ok()?,
            "connection" => close = v.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        close,
        body,
    })
}

/// cpp-httplib's `process_server_socket_core` and `drain_and_close_socket`.
fn serve_connection(conn: TcpStream, o: &Opts, s: &Stats) {
    let _ = conn.set_nodelay(true);
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut w = write_half;
    let mut r = BufReader::new(conn);
    let mut count = o.keep_alive_max;
    while count > 0 {
        // keep_alive(): the connection may idle this long between requests.
        let _ = r.get_ref().set_read_timeout(Some(o.keep_alive_timeout));
        let Some(req) = read_request(&mut r) else {
            break;
        };
        let last = count == 1 || req.close;
        let keep = respond(&mut w, &req, last, o, s);
        if !keep || last {
            break;
        }
        count -= 1;
    }
    std::thread::sleep(o.fin_delay);
    let _ = w.shutdown(Shutdown::Write);
    // Read and discard for up to 100 ms: a request written meanwhile is swallowed.
    let deadline = Instant::now() + Duration::from_millis(100);
    let mut buf = [0u8; 4096];
    let mut swallowed = !r.buffer().is_empty();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = r.get_ref().set_read_timeout(Some(left));
        match r.get_mut().read(&mut buf) {
            Ok(n) if n > 0 => swallowed = true,
            _ => break,
        }
    }
    if swallowed {
        s.swallowed.fetch_add(1, Relaxed);
    }
    let _ = r.get_ref().shutdown(Shutdown::Both);
}

fn head(o: &Opts, status: &str, content_type: &str, last: bool, extra: &str) -> String {
    let conn = if last {
        "Connection: close\r\n".to_string()
    } else {
        format!(
            "Keep-Alive: timeout={}, max={}\r\n",
            o.keep_alive_timeout.as_secs_f64(),
            o.keep_alive_max
        )
    };
    format!(
        "HTTP/1.1 {status}\r\nServer: llama.cpp\r\n{conn}Content-Type: {content_type}\r\n{extra}"
    )
}

fn whole(
    w: &mut TcpStream,
    o: &Opts,
    status: &str,
    content_type: &str,
    body: &str,
    last: bool,
) -> bool {
    let h = head(o, status, content_type, last, "");
    let text = format!("{h}Content-Length: {}\r\n\r\n{body}", body.len());
    w.write_all(text.as_bytes()).is_ok()
}

/// Answer one request; false when the connection must end (every stream, as llama-server).
fn respond(w: &mut TcpStream, req: &Request, last: bool, o: &Opts, s: &Stats) -> bool {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/health") => whole(
            w,
            o,
            "200 OK",
            "application/json",
            r#"{"status":"ok"}"#,
            last,
        ),
        ("GET", "/v1/models") | ("GET", "/models") => {
            let body = json!({"object": "list", "data": [{
                "id": o.model, "object": "model", "created": 1, "owned_by": "llamacpp",
                "meta": {"n_ctx_train": 2048, "n_params": 1000}}]});
            whole(w, o, "200 OK", "application/json", &body.to_string(), last)
        }
        ("GET", "/metrics") => {
            let m = |name: &str, kind: &str, v: f64| {
                format!("# HELP llamacpp:{name} x\n# TYPE llamacpp:{name} {kind}\nllamacpp:{name} {v}\n")
            };
            let body = [
                m(
                    "prompt_tokens_total",
                    "counter",
                    s.prompt_tokens.load(Relaxed) as f64,
                ),
                m(
                    "prompt_tokens_cached_total",
                    "counter",
                    s.cached_tokens.load(Relaxed) as f64,
                ),
                m(
                    "tokens_predicted_total",
                    "counter",
                    s.predicted.load(Relaxed) as f64,
                ),
                m(
                    "requests_processing",
                    "gauge",
                    s.processing.load(Relaxed) as f64,
                ),
                m("requests_deferred", "gauge", 0.0),
                m("n_busy_slots_per_decode", "gauge", 1.5),
            ]
            .concat();
            whole(w, o, "200 OK", "text/plain; version=0.0.4", &body, last)
        }
        ("POST", "/v1/chat/completions") => stream(w, req, true, o, s),
        ("POST", "/v1/completions") | ("POST", "/completion") => stream(w, req, false, o, s),
        _ => {
            let body =
                r#"{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}"#;
            whole(w, o, "404 Not Found", "application/json", body, true);
            false
        }
    }
}

fn chunk(event: &Value) -> String {
    let data = format!("data: {event}\n\n");
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// A streamed answer in llama-server's shapes, then (as it does) the end of the connection.
fn stream(w: &mut TcpStream, req: &Request, chat: bool, o: &Opts, s: &Stats) -> bool {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        let body = r#"{"error":{"code":400,"message":"bad json"}}"#;
        whole(w, o, "400 Bad Request", "application/json", body, true);
        return false;
    };
    let n = body["max_tokens"].as_u64().unwrap_or(16).max(1);
    let prompt = if chat {
        body["messages"][0]["content"].as_str().unwrap_or("")
    } else {
        body["prompt"].as_str().unwrap_or("")
    };
    let prompt_tokens = prompt.split_whitespace().count() as u64 + 1;
    // A stand-in for the prefix cache: a quarter of the prompt is reused.
    let cached = prompt_tokens / 4;
    let usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    s.streams.fetch_add(1, Relaxed);
    s.processing.fetch_add(1, Relaxed);
    let base = |choices: Value| {
        json!({"choices": choices, "created": 1, "id": "chatcmpl-x", "model": o.model,
               "system_fingerprint": "b7000-abcdef", "object": if chat { "chat.completion.chunk" } else { "text_completion" }})
    };
    let token = |text: &str, finish: Value| {
        if chat {
            base(json!([{"finish_reason": finish, "index": 0, "delta": {"content": text}}]))
        } else {
            base(json!([{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]))
        }
    };
    let h = head(
        o,
        "200 OK",
        "text/event-stream",
        false,
        "Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n\r\n",
    );
    let mut first = h;
    if chat {
        // The role chunk, `content: null`, in the same write as the first token.
        first.push_str(&chunk(&base(json!([{"finish_reason": null, "index": 0,
            "delta": {"role": "assistant", "content": null}}]))));
    }
    first.push_str(&chunk(&token("tok", Value::Null)));
    if w.write_all(first.as_bytes()).is_err() {
        s.processing.fetch_sub(1, Relaxed);
        return false;
    }
    for _ in 1..n {
        std::thread::sleep(o.itl);
        if w.write_all(chunk(&token(" tok", Value::Null)).as_bytes())
            .is_err()
        {
            s.processing.fetch_sub(1, Relaxed);
            return false;
        }
    }
    let mut finish = if chat {
        base(json!([{"finish_reason": "length", "index": 0, "delta": {}}]))
    } else {
        token("", json!("length"))
    };
    // The server's own timings: prefill at 2000 tok/s, decode at 500 tok/s.
    let prompt_n = prompt_tokens - cached;
    let timings = json!({"cache_n": cached, "prompt_n": prompt_n,
        "prompt_ms": prompt_n as f64 * 0.5, "prompt_per_token_ms": 0.5,
        "prompt_per_second": 2000.0, "predicted_n": n, "predicted_ms": n as f64 * 2.0,
        "predicted_per_token_ms": 2.0, "predicted_per_second": 500.0});
    // The timings ride on the last chunk: the usage chunk when asked for, else the finish one.
    let mut tail = if usage {
        let mut u = base(json!([]));
        u["usage"] = json!({"completion_tokens": n, "prompt_tokens": prompt_tokens,
            "total_tokens": n + prompt_tokens, "prompt_tokens_details": {"cached_tokens": cached}});
        u["timings"] = timings;
        chunk(&finish) + &chunk(&u)
    } else {
        finish["timings"] = timings;
        chunk(&finish)
    };
    s.prompt_tokens.fetch_add(prompt_n, Relaxed);
    s.cached_tokens.fetch_add(cached, Relaxed);
    s.predicted.fetch_add(n, Relaxed);
    s.processing.fetch_sub(1, Relaxed);
    // `[DONE]` and the chunked terminator in one write: the client has the whole answer (and
    // its connection back in its pool) before the FIN.
    tail.push_str(&chunk_raw("data: [DONE]\n\n"));
    tail.push_str("0\r\n\r\n");
    w.write_all(tail.as_bytes()).is_ok() && !o.close_after_stream
}

fn chunk_raw(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}
