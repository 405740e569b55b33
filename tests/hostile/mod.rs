//! A deliberately hostile OpenAI-compatible server for tests: endless lines, floods, escape
//! sequences in every string it controls. Plain tokio on 127.0.0.1, one task per connection,
//! every answer `Connection: close` (so bodies end at EOF and no framing code is needed).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the server streams on a POST (any path).
#[derive(Clone, Debug)]
pub enum Stream {
    /// `data: {"choices":[{"delta":{"content":"` then this many bytes of `a`, never a newline.
    LongLine(usize),
    /// Valid one-token chunks as fast as the socket takes them, never `[DONE]`.
    Flood,
    /// Valid chunks of this many bytes of content each (under any line cap), as fast as the
    /// socket takes them, never `[DONE]`: the client always has bytes ready and parses slower
    /// than the server writes.
    HeavyFlood(usize),
    /// This HTTP status with this body.
    Status(u16, Vec<u8>),
    /// One chunk carrying an error object with this message, then `[DONE]`.
    ErrorEvent(String),
    /// One ordinary chunk with this content (server-controlled text), then `[DONE]`.
    Text(String),
}

/// The whole behaviour of one server.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// The id `/v1/models` lists.
    pub model_id: String,
    pub stream: Stream,
    /// The `/metrics` page; 404 when `None`.
    pub metrics: Option<Vec<u8>>,
}

impl Behaviour {
    pub fn new(stream: Stream) -> Self {
        Behaviour {
            model_id: "m".into(),
            stream,
            metrics: None,
        }
    }
}

/// A running hostile server; its thread ends with the test process.
pub struct Hostile {
    pub url: String,
    /// Bytes of streamed bodies written so far (all connections).
    pub streamed: Arc<AtomicU64>,
}

impl Hostile {
    pub fn start(b: Behaviour) -> Hostile {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", std_listener.local_addr().expect("addr"));
        let streamed = Arc::new(AtomicU64::new(0));
        let counter = streamed.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                let b = Arc::new(b);
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(serve(sock, b.clone(), counter.clone()));
                }
            });
        });
        Hostile { url, streamed }
    }
}

/// Read one request head (and its body, by Content-Length); returns (method, path).
async fn read_request(sock: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut first = head.lines().next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Some((method, path))
}

async fn respond(sock: &mut TcpStream, status: u16, ctype: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body).await;
    let _ = sock.shutdown().await;
}

/// Write `data` and count it; false once the client has gone.
async fn send(sock: &mut TcpStream, data: &[u8], counter: &AtomicU64) -> bool {
    if sock.write_all(data).await.is_err() {
        return false;
    }
    counter.fetch_add(data.len() as u64, Ordering::Relaxed);
    true
}

async fn serve(mut sock: TcpStream, b: Arc<Behaviour>, counter: Arc<AtomicU64>) {
    let Some((method, path)) = read_request(&mut sock).await else {
        return;
    };
    if method == "GET" {
        match path.as_str() {
            "/v1/models" => {
                let body = serde_json::json!({"object": "list", "data": [{"id": b.model_id}]});
                respond(
                    &mut sock,
                    200,
                    "application/json",
                    body.to_string().as_bytes(),
                )
                .await;
            }
            // No Content-Length: the client can only stop by counting what it read.
            "/metrics" => match &b.metrics {
                Some(page) => {
                    let head =
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n";
                    if sock.write_all(head.as_bytes()).await.is_ok() {
                        for block in page.chunks(64 * 1024) {
                            if !send(&mut sock, block, &counter).await {
                                return;
                            }
                        }
                    }
                    let _ = sock.shutdown().await;
                }
                None => respond(&mut sock, 404, "text/plain", b"no metrics").await,
            },
            "/health" => respond(&mut sock, 200, "text/plain", b"").await,
            _ => respond(&mut sock, 404, "text/plain", b"not found").await,
        }
        return;
    }
    if let Stream::Status(code, body) = &b.stream {
        respond(&mut sock, *code, "text/plain", body).await;
        return;
    }
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    match &b.stream {
        Stream::LongLine(n) => {
            if !send(
                &mut sock,
                br#"data: {"choices":[{"delta":{"content":""#,
                &counter,
            )
            .await
            {
                return;
            }
            let block = vec![b'a'; 64 * 1024];
            let mut left = *n;
            while left > 0 {
                let k = left.min(block.len());
                if !send(&mut sock, &block[..k], &counter).await {
                    return;
                }
                left -= k;
            }
        }
        Stream::Flood => {
            let one = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
            let block: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
            while send(&mut sock, &block, &counter).await {}
        }
        Stream::HeavyFlood(n) => {
            let chunk = format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
                "a".repeat(*n)
            );
            while send(&mut sock, chunk.as_bytes(), &counter).await {}
        }
        Stream::ErrorEvent(msg) => {
            let chunk = serde_json::json!({"error": {"message": msg, "code": 500}});
            let body = format!("data: {chunk}\n\ndata: [DONE]\n\n");
            send(&mut sock, body.as_bytes(), &counter).await;
        }
        Stream::Text(text) => {
            let chunk = serde_json::json!({
                "choices": [{"delta": {"content": text}, "finish_reason": "stop\u{1b}[2J"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1}
            });
            let body = format!("data: {chunk}\n\ndata: [DONE]\n\n");
            send(&mut sock, body.as_bytes(), &counter).await;
        }
        Stream::Status(..) => {}
    }
    let _ = sock.shutdown().await;
}
