//! Pooled connections that die under a request, and what the server says about keeping them.
//!
//! Why: llama.cpp's `llama-server` (cpp-httplib) answers every response with
//! `Keep-Alive: timeout=5, max=100`, yet ends the connection after every *streamed* response
//! (its chunk provider returns `false` after `sink.done()`, which cpp-httplib treats as the end
//! of the connection: it half-closes, swallows whatever arrives for 100 ms, and closes). hyper
//! puts the connection back in its pool as soon as the body's last chunk is read, so the next
//! request can be written onto it before the FIN is seen: the server reads it, drops it, and the
//! client gets "connection closed before message completed" without a byte of answer. Servers
//! closing idle connections (uvicorn and cpp-httplib after 5 s) race the same way.
//!
//! What we do, as aiohttp (vLLM's client) does for its idempotent requests: a request that dies
//! before any answer **on a connection that had already answered** is sent once more, on a
//! connection of its own. A refused connect, a timeout, an HTTP error status, or a fresh
//! connection closed without an answer (a server turning requests away) stay failures: a fresh
//! connection cannot be stale. hyper does not say whether a connection was reused, so we keep
//! the local addresses of the connections that have answered and look the failed one up.

use hyper_util::client::legacy::connect::HttpInfo;
use std::collections::HashSet;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Connections (by local address) that have answered at least once, and the shortest
/// keep-alive timeout the server announced.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    /// One entry per local address ever used (so at most the ephemeral port range, about
    /// 28k entries, ~1 MB); a closed connection's entry stays, and a new connection that
    /// reuses its port and dies before answering is retried once where it need not be.
    answered: Mutex<HashSet<SocketAddr>>,
    /// `Keep-Alive: timeout=` in milliseconds, the smallest seen; 0 when none was.
    keep_alive_ms: AtomicU64,
}

impl Connections {
    /// A response head arrived on the connection it names: remember that it answered, and
    /// what the server says about keeping it. Once per request, never per chunk.
    pub(crate) fn answered(&self, resp: &reqwest::Response) {
        if let Some(info) = resp.extensions().get::<HttpInfo>() {
            if let Ok(mut set) = self.answered.lock() {
                set.insert(info.local_addr());
            }
        }
        let timeout = resp
            .headers()
            .get("keep-alive")
            .and_then(|v| v.to_str().ok())
            .and_then(keep_alive_timeout);
        if let Some(t) = timeout {
            let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
            let _ = self
                .keep_alive_ms
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                    (old == 0 || ms < old).then_some(ms)
                });
        }
    }

    /// The shortest `Keep-Alive: timeout=` the server has announced.
    pub(crate) fn keep_alive_timeout(&self) -> Option<Duration> {
        match self.keep_alive_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// True when `err` is a request that died before any answer on a connection that had
    /// answered before: worth one more try on a fresh connection. The connection is dead
    /// either way, so it is forgotten.
    pub(crate) fn stale(&self, err: &reqwest::Error) -> bool {
        if !died_before_answer(err) {
            return false;
        }
        let Some(addr) = local_addr_of(err) else {
            return false;
        };
        self.answered
            .lock()
            .map(|mut set| set.remove(&addr))
            .unwrap_or(false)
    }
}

/// The connection closed or reset before a response head: not a refused connect (that never
/// had a connection), not a timeout, not a response the server sent and we could not parse.
pub(crate) fn died_before_answer(err: &reqwest::Error) -> bool {
    if err.is_connect() || err.is_timeout() || err.is_status() || err.is_body() {
        return false;
    }
    let mut src: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = src {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected
            ) {
                return true;
            }
        }
        src = e.source();
    }
    false
}

/// The local address of the connection a request failed on (hyper-util attaches the
/// connection's details to a send error).
fn local_addr_of(err: &reqwest::Error) -> Option<SocketAddr> {
    let mut src: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = src {
        if let Some(legacy) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            let mut ext = http::Extensions::new();
            legacy.connect_info()?.get_extras(&mut ext);
            return ext.get::<HttpInfo>().map(HttpInfo::local_addr);
        }
        src = e.source();
    }
    None
}

/// `timeout=N` of a `Keep-Alive` header value (`timeout=5, max=100`), in seconds.
pub(crate) fn keep_alive_timeout(value: &str) -> Option<Duration> {
    value.split(',').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("timeout") {
            return None;
        }
        let secs: f64 = v.trim().trim_matches('"').parse().ok()?;
        Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
    })
}

/// How long our pool may keep an idle connection to a server that closes idle ones after
/// `server`: a second less (half of it below 2 s), so we drop it before the server does and
/// never race its close. 90 s when the server says nothing.
pub(crate) fn pool_idle_for(server: Option<Duration>) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(90);
    match server {
        Some(t) if t < Duration::from_secs(2) => t / 2,
        Some(t) => (t - Duration::from_secs(1)).min(DEFAULT),
        None => DEFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_header_values() {
        let s = Duration::from_secs;
        assert_eq!(keep_alive_timeout("timeout=5, max=100"), Some(s(5)));
        assert_eq!(keep_alive_timeout("max=100, Timeout = 2"), Some(s(2)));
        assert_eq!(
            keep_alive_timeout("timeout=\"1.5\""),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(keep_alive_timeout("max=100"), None);
        assert_eq!(keep_alive_timeout("timeout=0"), None);
        assert_eq!(keep_alive_timeout("timeout=-1"), None);
        assert_eq!(keep_alive_timeout("timeout=soon"), None);
        assert_eq!(keep_alive_timeout("timeout=1e300"), None);
    }

    #[test]
    fn our_idle_limit_stays_under_the_servers() {
        let s = Duration::from_secs;
        assert_eq!(pool_idle_for(Some(s(5))), s(4));
        assert_eq!(pool_idle_for(Some(s(1))), Duration::from_millis(500));
        assert_eq!(pool_idle_for(Some(s(600))), s(90));
        assert_eq!(pool_idle_for(None), s(90));
    }
}
