//! A small Server-Sent Events splitter for streamed completions.
//!
//! Why our own instead of a crate: `reqwest-eventsource` re-sends the POST when a stream ends
//! (wrong for a load test) and `eventsource-stream` copies its buffer on every line. This splitter
//! keeps one growing buffer, copies each event's payload once, and lets the caller stamp every
//! event with the arrival time of the read that completed it (the caller takes the timestamp
//! *before* feeding the bytes in, so parsing never delays the measurement).
//!
//! Tolerated: `\n` and `\r\n` line ends, lines split across reads (also inside a UTF-8
//! character: we work on bytes), `:` comments and keep-alives, multi-line `data:`, the
//! non-standard `error:` field old llama.cpp servers send, and a last event with no blank line
//! after it (see `finish`).

/// One dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEvent<'a> {
    /// The `data` field (multi-line data joined with `\n`).
    Data(&'a [u8]),
    /// A non-standard `error:` line (llama.cpp before PR #16109).
    Error(&'a [u8]),
}

/// Incremental SSE parser. Feed it bytes as they arrive; it calls back once per complete event.
#[derive(Debug, Default)]
pub struct SseSplitter {
    /// Bytes not yet consumed (at most one incomplete line after `feed` returns).
    buf: Vec<u8>,
    /// The data of the event being assembled.
    data: Vec<u8>,
    has_data: bool,
    error: Vec<u8>,
    has_error: bool,
    /// Comment lines seen (keep-alives), for diagnostics.
    pub comments: u64,
}

impl SseSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consume `bytes`; call `on_event` for every event completed by them.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(SseEvent<'_>)) {
        // Fast path: nothing buffered, so lines can be read straight from `bytes`.
        let consumed = if self.buf.is_empty() {
            let n = self.process_lines(bytes, &mut on_event);
            self.buf.extend_from_slice(&bytes[n..]);
            return;
        } else {
            self.buf.extend_from_slice(bytes);
            let buf = std::mem::take(&mut self.buf);
            let n = self.process_lines(&buf, &mut on_event);
            self.buf = buf;
            n
        };
        self.buf.drain(..consumed);
    }

    /// The stream ended: dispatch a last event that had no blank line after it.
    pub fn finish(&mut self, mut on_event: impl FnMut(SseEvent<'_>)) {
        if !self.buf.is_empty() {
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line, &mut on_event);
        }
        self.dispatch(&mut on_event);
    }

    /// Process every complete line in `bytes`; returns how many bytes were consumed.
    fn process_lines(&mut self, bytes: &[u8], on_event: &mut impl FnMut(SseEvent<'_>)) -> usize {
        let mut start = 0;
        while let Some(off) = memchr(b'\n', &bytes[start..]) {
            let mut line = &bytes[start..start + off];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            self.line(line, on_event);
            start += off + 1;
        }
        start
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(SseEvent<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"error" => {
                self.error.extend_from_slice(value);
                self.has_error = true;
            }
            // `event`, `id`, `retry` and unknown fields carry nothing we measure.
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent<'_>)) {
        if self.has_error {
            on_event(SseEvent::Error(&self.error));
            self.error.clear();
            self.has_error = false;
        }
        if self.has_data {
            on_event(SseEvent::Data(&self.data));
            self.data.clear();
            self.has_data = false;
        }
    }
}

/// The SIMD line search of the `memchr` crate (the profile showed a byte loop here at 8%).
fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `parts` one after another; collect events as strings ("D:" data, "E:" error).
    fn run(parts: &[&[u8]]) -> Vec<String> {
        let mut s = SseSplitter::new();
        let mut out = Vec::new();
        let mut push = |e: SseEvent<'_>| {
            out.push(match e {
                SseEvent::Data(d) => format!("D:{}", String::from_utf8_lossy(d)),
                SseEvent::Error(d) => format!("E:{}", String::from_utf8_lossy(d)),
            })
        };
        for p in parts {
            s.feed(p, &mut push);
        }
        s.finish(&mut push);
        out
    }

    #[test]
    fn whole_events_in_one_read() {
        assert_eq!(
            run(&[b"data: {\"a\":1}\n\ndata: [DONE]\n\n"]),
            vec!["D:{\"a\":1}", "D:[DONE]"]
        );
    }

    #[test]
    fn line_split_across_reads_at_every_position() {
        let whole = b"data: {\"x\":\"hello\"}\n\ndata: [DONE]\n\n";
        for cut in 1..whole.len() {
            let got = run(&[&whole[..cut], &whole[cut..]]);
            assert_eq!(got, vec!["D:{\"x\":\"hello\"}", "D:[DONE]"], "cut at {cut}");
        }
    }

    #[test]
    fn utf8_character_split_across_reads() {
        let whole = "data: {\"c\":\"你好\"}\n\n".as_bytes();
        // Cut inside the 3-byte encoding of the first character.
        let cut = whole.iter().position(|&b| b >= 0x80).unwrap() + 1;
        assert_eq!(
            run(&[&whole[..cut], &whole[cut..]]),
            vec!["D:{\"c\":\"你好\"}"]
        );
    }

    #[test]
    fn byte_by_byte() {
        let whole = b": ping\r\ndata: a\r\n\r\ndata: b\n\n";
        let parts: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(run(&parts), vec!["D:a", "D:b"]);
    }

    #[test]
    fn comments_and_keepalives_are_skipped_and_counted() {
        let mut s = SseSplitter::new();
        let mut n = 0;
        s.feed(b": keep-alive\n\n:\n\ndata: x\n\n", |_| n += 1);
        assert_eq!(n, 1);
        assert_eq!(s.comments, 2);
    }

    #[test]
    fn crlf_and_multiline_data() {
        assert_eq!(run(&[b"data: a\r\ndata: b\r\n\r\n"]), vec!["D:a\nb"]);
    }

    #[test]
    fn missing_final_blank_line_still_dispatches() {
        assert_eq!(run(&[b"data: {\"z\":1}"]), vec!["D:{\"z\":1}"]);
        assert_eq!(run(&[b"data: {\"z\":1}\n"]), vec!["D:{\"z\":1}"]);
    }

    #[test]
    fn data_without_space_and_other_fields() {
        assert_eq!(
            run(&[b"event: message\nid: 7\nretry: 10\ndata:{\"k\":2}\n\n"]),
            vec!["D:{\"k\":2}"]
        );
    }

    #[test]
    fn legacy_llama_cpp_error_field() {
        assert_eq!(
            run(&[b"error: {\"code\":500,\"message\":\"boom\"}\n\ndata: [DONE]\n\n"]),
            vec!["E:{\"code\":500,\"message\":\"boom\"}", "D:[DONE]"]
        );
    }

    #[test]
    fn garbage_bytes_pass_through_as_data() {
        let got = run(&[b"data: \xff\xfe\x00garbage\n\n"]);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("D:"));
    }
}
