//! Caps on every body we read from a server, so a hostile or broken one cannot make us buffer
//! gigabytes (a 20 MB `/metrics` page used to take `bench` to 465 MB of memory). The streamed
//! answer itself is capped per line in `sse` ([`crate::protocol::sse::MAX_LINE_BYTES`]).
//!
//! Each cap is about ten times the largest real body of its kind we know, and is read chunk by
//! chunk: a body that says (`Content-Length`) or turns out to be larger is never held whole.

/// An error body (non-2xx): we show at most 300 characters of its message, and a JSON error or
/// the start of an HTML error page fits in a few KiB. Past the cap, the start is still used.
pub const MAX_ERROR_BODY: usize = 64 << 10;

/// `GET /v1/models`: a gateway listing hundreds of models with their metadata is well under
/// 1 MiB.
pub const MAX_MODELS_BODY: usize = 4 << 20;

/// `POST /tokenize` answers with our prompt's token ids: a 128k-token prompt is ~1 MiB of JSON.
pub const MAX_TOKENIZE_BODY: usize = 8 << 20;

/// A Prometheus page (a server's `/metrics`, `tokscope agent`, dcgm-exporter): vLLM's with all
/// its histograms, or dcgm-exporter's for 8 GPUs with MIG, are a few hundred KiB. Parsing costs
/// ~20 bytes of memory per byte of page, so the cap also bounds that (~80 MB at worst).
pub const MAX_METRICS_BODY: usize = 4 << 20;

/// The start of a body, at most the cap asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    pub bytes: Vec<u8>,
    /// The body was longer than the cap (the rest was not read).
    pub truncated: bool,
}

impl Capped {
    /// The bytes as text (invalid UTF-8 replaced, as servers' pages are meant to be UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Read at most `max` bytes of `resp`'s body, chunk by chunk; the rest is never read.
pub async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Capped, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Capped {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped {
        bytes,
        truncated: false,
    })
}

/// A whole body that must not be cut (a page to parse): its text, or why it was refused.
/// A declared `Content-Length` over the cap is refused before reading anything.
pub async fn read_whole(resp: reqwest::Response, max: usize, what: &str) -> Result<String, String> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large(what, max));
    }
    let c = read_capped(resp, max)
        .await
        .map_err(|e| format!("{what}: the body broke off: {e}"))?;
    if c.truncated {
        return Err(too_large(what, max));
    }
    Ok(c.text())
}

/// "'…' sent more than 4 MiB; …": the message for a refused body.
pub fn too_large(what: &str, max: usize) -> String {
    let size = if max >= 1 << 20 {
        format!("{} MiB", max >> 20)
    } else {
        format!("{} KiB", max >> 10)
    };
    format!("{what} sent more than {size}; a body that large is refused, not read")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_the_message() {
        assert_eq!(
            too_large("'/metrics'", MAX_METRICS_BODY),
            "'/metrics' sent more than 4 MiB; a body that large is refused, not read"
        );
        assert!(too_large("x", MAX_ERROR_BODY).contains("64 KiB"));
    }
}
