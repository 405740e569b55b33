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

/// The longest line we accept without a newline, and the most data one event may carry.
///
/// Why 4 MiB: a streamed chunk is normally under 1 KiB; the largest real ones we know (a whole
/// long answer sent as one chunk, or top-20 logprobs) stay in the hundreds of KiB. 4 MiB leaves
/// ten times that, while a server that never sends a newline costs each stream at most this
/// much memory (it used to cost the whole line, and quadratic time).
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// One dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEvent<'a> {
    /// The `data` field (multi-line data joined with `\n`).
    Data(&'a [u8]),
    /// A non-standard `error:` line (llama.cpp before PR #16109).
    Error(&'a [u8]),
}

/// The stream broke a limit; the splitter refuses further input after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseOverflow {
    /// A line grew past [`MAX_LINE_BYTES`] without a newline.
    Line,
    /// One event's `data:` (or `error:`) lines together passed [`MAX_LINE_BYTES`].
    Event,
}

impl std::fmt::Display for SseOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = MAX_LINE_BYTES >> 20;
        match self {
            SseOverflow::Line => write!(
                f,
                "the server sent a line longer than {mib} MiB without a newline; \
                 the request is counted as malformed"
            ),
            SseOverflow::Event => write!(
                f,
                "the server sent one event with more than {mib} MiB of data; \
                 the request is counted as malformed"
            ),
        }
    }
}

/// Incremental SSE parser. Feed it bytes as they arrive; it calls back once per complete event.
#[derive(Debug, Default)]
pub struct SseSplitter {
    /// The start of the line not yet complete. Invariant between calls: no `\n` in it, so a
    /// new read is searched only from its own first byte (never a rescan of what was buffered).
    buf: Vec<u8>,
    /// The data of the event being assembled.
    data: Vec<u8>,
    has_data: bool,
    error: Vec<u8>,
    has_error: bool,
    /// Set once a limit was passed; every later call fails the same way.
    overflow: Option<SseOverflow>,
    /// Comment lines seen (keep-alives), for diagnostics.
    pub comments: u64,
}

impl SseSplitter {
    /// A splitter with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consume `bytes`; call `on_event` for every event completed by them. Fails (and keeps
    /// failing) once a line or an event passes [`MAX_LINE_BYTES`]. Linear in `bytes`: only the
    /// new bytes are searched for a newline.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(SseEvent<'_>),
    ) -> Result<(), SseOverflow> {
        if let Some(o) = self.overflow {
            return Err(o);
        }
        let mut rest = bytes;
        if !self.buf.is_empty() {
            // Complete the buffered line with this read's first line, if it has one.
            let Some(nl) = memchr(b'\n', rest) else {
                return self.keep(rest);
            };
            if self.buf.len() + nl > MAX_LINE_BYTES {
                return self.fail(SseOverflow::Line);
            }
            // Borrow the buffer out (keeping its allocation) so `line` can take `&mut self`.
            let mut line = std::mem::take(&mut self.buf);
            line.extend_from_slice(&rest[..nl]);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line, &mut on_event);
            if let Some(o) = self.overflow {
                return Err(o);
            }
            line.clear();
            self.buf = line;
            rest = &rest[nl + 1..];
        }
        let n = self.process_lines(rest, &mut on_event);
        match self.overflow {
            Some(o) => Err(o),
            None => self.keep(&rest[n..]),
        }
    }

    /// Buffer the start of an incomplete line, within the cap.
    fn keep(&mut self, tail: &[u8]) -> Result<(), SseOverflow> {
        if self.buf.len() + tail.len() > MAX_LINE_BYTES {
            return self.fail(SseOverflow::Line);
        }
        self.buf.extend_from_slice(tail);
        Ok(())
    }

    /// Remember the overflow and free what was buffered: the stream is dead.
    fn fail(&mut self, o: SseOverflow) -> Result<(), SseOverflow> {
        self.overflow = Some(o);
        self.buf = Vec::new();
        self.data = Vec::new();
        self.error = Vec::new();
        Err(o)
    }

    /// Bytes held for an incomplete line (for tests of the bound).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The stream ended: dispatch a last event that had no blank line after it.
    pub fn finish(&mut self, mut on_event: impl FnMut(SseEvent<'_>)) {
        if self.overflow.is_some() {
            return;
        }
        if !self.buf.is_empty() {
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line, &mut on_event);
        }
        self.dispatch(&mut on_event);
    }

    /// Process every complete line in `bytes`; returns how many bytes were consumed (all of
    /// them up to the last newline, or up to a line that broke a limit).
    fn process_lines(&mut self, bytes: &[u8], on_event: &mut impl FnMut(SseEvent<'_>)) -> usize {
        let mut start = 0;
        while let Some(off) = memchr(b'\n', &bytes[start..]) {
            if off > MAX_LINE_BYTES {
                let _ = self.fail(SseOverflow::Line);
                return start;
            }
            let mut line = &bytes[start..start + off];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            self.line(line, on_event);
            if self.overflow.is_some() {
                return start;
            }
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
                if self.data.len() + value.len() + 1 > MAX_LINE_BYTES {
                    let _ = self.fail(SseOverflow::Event);
                    return;
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"error" => {
                if self.error.len() + value.len() > MAX_LINE_BYTES {
                    let _ = self.fail(SseOverflow::Event);
                    return;
                }
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
            s.feed(p, &mut push).unwrap();
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
        s.feed(b": keep-alive\n\n:\n\ndata: x\n\n", |_| n += 1)
            .unwrap();
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

    /// 64 MiB of one line in 16 KiB reads: refused once past the cap, never buffering more.
    #[test]
    fn a_line_without_newline_is_capped() {
        let mut s = SseSplitter::new();
        let block = vec![b'a'; 16 * 1024];
        let mut fed = 0;
        let mut result = s.feed(b"data: {\"x\":\"", |_| panic!("no event"));
        while result.is_ok() && fed < 64 << 20 {
            result = s.feed(&block, |_| panic!("no event"));
            fed += block.len();
            assert!(s.buffered() <= MAX_LINE_BYTES);
        }
        assert_eq!(result, Err(SseOverflow::Line));
        assert!(
            fed <= MAX_LINE_BYTES + block.len(),
            "refused only after {fed} bytes"
        );
        assert_eq!(s.buffered(), 0, "the buffer is freed");
        // Dead from now on, and `finish` dispatches nothing.
        assert_eq!(
            s.feed(b"\n\n", |_| panic!("no event")),
            Err(SseOverflow::Line)
        );
        s.finish(|_| panic!("no event"));
        assert!(SseOverflow::Line.to_string().contains("longer than 4 MiB"));
    }

    /// A long line inside one read, and many short `data:` lines that never end the event.
    #[test]
    fn long_line_in_one_read_and_endless_event_are_capped() {
        let mut big = b"data: ".to_vec();
        big.resize(MAX_LINE_BYTES + 10, b'a');
        big.extend_from_slice(b"\n\n");
        let mut s = SseSplitter::new();
        assert_eq!(s.feed(&big, |_| panic!("no event")), Err(SseOverflow::Line));
        let mut s = SseSplitter::new();
        let lines = b"data: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
            .repeat(1000);
        let mut result = Ok(());
        for _ in 0..200 {
            result = s.feed(&lines, |_| panic!("no event"));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseOverflow::Event));
        // Just under the cap is fine.
        let mut ok = b"data: ".to_vec();
        ok.resize(MAX_LINE_BYTES - 10, b'a');
        ok.extend_from_slice(b"\n\n");
        let mut n = 0;
        SseSplitter::new()
            .feed(&ok, |e| {
                assert!(matches!(e, SseEvent::Data(d) if d.len() == MAX_LINE_BYTES - 16));
                n += 1;
            })
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Linear cost: a 3 MiB line (under the cap) fed in 64-byte reads. Rescanning the buffer
    /// on every read took ~70 G byte comparisons here (minutes in a debug build); searching
    /// only the new bytes takes milliseconds. The bound is two orders of magnitude wide.
    #[test]
    fn a_long_line_in_small_reads_costs_linear_time() {
        let t = std::time::Instant::now();
        let mut s = SseSplitter::new();
        let mut events = 0;
        s.feed(b"data: ", |_| events += 1).unwrap();
        let block = [b'a'; 64];
        for i in 0..(3 << 20) / 64 {
            s.feed(&block, |_| events += 1).unwrap();
            if i % 1024 == 0 {
                // Fail as soon as the bound is passed, not minutes later.
                assert!(t.elapsed() < std::time::Duration::from_secs(10), "read {i}");
            }
        }
        s.feed(b"\n\n", |_| events += 1).unwrap();
        assert_eq!(events, 1);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn garbage_bytes_pass_through_as_data() {
        let got = run(&[b"data: \xff\xfe\x00garbage\n\n"]);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("D:"));
    }
}
