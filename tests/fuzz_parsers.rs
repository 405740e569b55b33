//! Bounded fuzzing of the three parsers a server feeds: the SSE splitter (`sse`), the chunk
//! parser (`chunk`) and the Prometheus parser (`prom`). Random and mutated-valid inputs; none may
//! panic, a stream split anywhere must give what it gives whole, and valid inputs must read back
//! exactly what was generated.
//!
//! Why a seeded hand-rolled generator and not `proptest`: the inputs that matter here are
//! structured (SSE streams, JSON chunks, Prometheus pages) and we need our own generators for
//! them either way; `rand` is already a dependency, while proptest would add a dozen crates to
//! build on a 2-core CI machine. What proptest's shrinking gives is replaced by printing the
//! seed and case of a failure: `TOKSCOPE_FUZZ_SEED=S TOKSCOPE_FUZZ_CASES=N` replays it exactly.
//!
//! CI runs `DEFAULT_CASES` per property (a few seconds in a debug build); `bench/fuzz_long.sh`
//! runs many more with fresh seeds.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokscope::protocol::chunk;
use tokscope::protocol::sse::{SseEvent, SseSplitter};
use tokscope::telemetry::prom;

const DEFAULT_CASES: u64 = 1000;
const DEFAULT_SEED: u64 = 0x7015_C09E;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run `property` over `TOKSCOPE_FUZZ_CASES` cases, each with its own RNG derived from the seed,
/// so any failing case replays alone. A panic names the seed and the case.
fn cases(name: &str, mut property: impl FnMut(&mut StdRng)) {
    let n = env_u64("TOKSCOPE_FUZZ_CASES", DEFAULT_CASES);
    let seed = env_u64("TOKSCOPE_FUZZ_SEED", DEFAULT_SEED);
    for case in 0..n {
        let mut rng = StdRng::seed_from_u64(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(&mut rng)));
        if let Err(e) = run {
            panic!(
                "{name}: case {case} of seed {seed} failed (replay: TOKSCOPE_FUZZ_SEED={seed} \
                 TOKSCOPE_FUZZ_CASES={}): {}",
                case + 1,
                e.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("panic")
            );
        }
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Text with the characters parsers trip on: quotes, backslashes, escapes, multi-byte UTF-8,
/// control characters, braces.
fn nasty_text(rng: &mut StdRng, max: usize) -> String {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        " ",
        "\"",
        "\\",
        "\n",
        "\r",
        "\t",
        "\u{1b}[2J",
        "你",
        "é",
        "🦀",
        "{",
        "}",
        "=",
        ",",
        "#",
        ":",
        "data:",
        "</think>",
        "<think>",
        "\0",
        "\u{7f}",
        "0",
        "1e3",
    ];
    let len = rng.random_range(0..=max);
    (0..len).map(|_| *pick(rng, PIECES)).collect()
}

/// Apply a few byte-level mutations: flip, delete a range, duplicate a range, insert a byte
/// that matters to one of the parsers.
fn mutate(rng: &mut StdRng, mut b: Vec<u8>) -> Vec<u8> {
    const SPECIAL: &[u8] = b"\n\r:{}\"\\ ,=#\0\xff";
    for _ in 0..rng.random_range(1..=4) {
        if b.is_empty() {
            b.push(*pick(rng, SPECIAL));
            continue;
        }
        let i = rng.random_range(0..b.len());
        match rng.random_range(0..4) {
            0 => b[i] ^= 1 << rng.random_range(0..8),
            1 => {
                let j = rng.random_range(i..=b.len());
                b.drain(i..j);
            }
            2 => {
                let j = rng.random_range(i..=b.len().min(i + 32));
                let copy = b[i..j].to_vec();
                b.splice(i..i, copy);
            }
            _ => b.insert(i, *pick(rng, SPECIAL)),
        }
    }
    b
}

// ---------------------------------------------------------------- SSE splitter + chunk parser

/// An event as the tests compare them: kind and payload.
type Ev = (char, Vec<u8>);

/// Feed `parts` in order, then finish; the events, or where it overflowed.
fn split(parts: &[&[u8]]) -> Result<Vec<Ev>, String> {
    let mut s = SseSplitter::new();
    let mut out = Vec::new();
    let mut push = |e: SseEvent<'_>| {
        out.push(match e {
            SseEvent::Data(d) => ('D', d.to_vec()),
            SseEvent::Error(d) => ('E', d.to_vec()),
        })
    };
    for p in parts {
        s.feed(p, &mut push).map_err(|o| o.to_string())?;
    }
    s.finish(&mut push);
    Ok(out)
}

/// A JSON chunk as a server would stream it, and what `chunk::parse` must read from it:
/// (content, reasoning, finish reason, error message).
type Expected = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn gen_chunk(rng: &mut StdRng) -> (String, Expected) {
    let text = |rng: &mut StdRng| nasty_text(rng, 12);
    match rng.random_range(0..6) {
        0 => {
            let m = text(rng);
            (
                serde_json::json!({"error": {"message": m, "code": 500}}).to_string(),
                (None, None, None, Some(m)),
            )
        }
        1 => {
            let t = text(rng);
            (
                serde_json::json!({"choices": [{"index": 0, "text": t, "finish_reason": null}]})
                    .to_string(),
                (Some(t), None, None, None),
            )
        }
        2 => (
            serde_json::json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9}})
                .to_string(),
            (None, None, None, None),
        ),
        _ => {
            let content = rng.random_bool(0.8).then(|| text(rng));
            let reasoning = rng.random_bool(0.3).then(|| text(rng));
            let finish = rng
                .random_bool(0.2)
                .then(|| pick(rng, &["stop", "length"]).to_string());
            let mut delta = serde_json::Map::new();
            if let Some(c) = &content {
                delta.insert("content".into(), c.clone().into());
            }
            if let Some(r) = &reasoning {
                delta.insert("reasoning_content".into(), r.clone().into());
            }
            let v = serde_json::json!({"id": "x", "choices": [{"index": 0, "delta": delta,
                "finish_reason": finish}]});
            (v.to_string(), (content, reasoning, finish, None))
        }
    }
}

/// A valid SSE stream of chunks (with the noise servers add: comments, CRLF, `event:` lines,
/// `[DONE]`), and the payloads it carries in order.
fn gen_stream(rng: &mut StdRng) -> (Vec<u8>, Vec<(String, Expected)>) {
    let mut out = String::new();
    let mut payloads = Vec::new();
    let nl = if rng.random_bool(0.3) { "\r\n" } else { "\n" };
    for _ in 0..rng.random_range(0..6) {
        if rng.random_bool(0.2) {
            out.push_str(&format!(": keep-alive{nl}"));
        }
        if rng.random_bool(0.1) {
            out.push_str(&format!("event: message{nl}id: 7{nl}"));
        }
        let (json, want) = gen_chunk(rng);
        let sep = if rng.random_bool(0.8) { " " } else { "" };
        out.push_str(&format!("data:{sep}{json}{nl}{nl}"));
        payloads.push((json, want));
    }
    if rng.random_bool(0.7) {
        out.push_str(&format!("data: [DONE]{nl}{nl}"));
    }
    (out.into_bytes(), payloads)
}

fn parsed(payload: &[u8]) -> Result<Expected, String> {
    let c = chunk::parse(payload).map_err(|e| e.0)?;
    Ok((
        c.content.map(|s| s.into_owned()),
        c.reasoning.map(|s| s.into_owned()),
        c.finish_reason.map(|s| s.into_owned()),
        c.error.map(|e| e.0),
    ))
}

/// Random bytes biased toward what the splitter looks at.
fn sse_noise(rng: &mut StdRng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"data:",
        b"data: ",
        b"error:",
        b":",
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b"x",
        b"{}",
        b"\xff",
        b"event: e",
        b"[DONE]",
    ];
    let len = rng.random_range(0..60);
    (0..len).flat_map(|_| pick(rng, PIECES).to_vec()).collect()
}

/// The whole input, then every two-way split, then a few random many-way splits: all equal.
fn assert_split_invariant(input: &[u8], rng: &mut StdRng) {
    let whole = split(&[input]);
    for cut in 0..=input.len() {
        let two = split(&[&input[..cut], &input[cut..]]);
        assert_eq!(
            two,
            whole,
            "split at {cut} of {:?}",
            input.escape_ascii().to_string()
        );
    }
    for _ in 0..4 {
        let mut cuts: Vec<usize> = (0..rng.random_range(1..8))
            .map(|_| rng.random_range(0..=input.len()))
            .collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut at = 0;
        for c in cuts {
            parts.push(&input[at..c]);
            at = c;
        }
        parts.push(&input[at..]);
        assert_eq!(
            split(&parts),
            whole,
            "cuts of {:?}",
            input.escape_ascii().to_string()
        );
    }
}

#[test]
fn sse_splitter_split_anywhere_equals_whole() {
    cases("sse random", |rng| {
        let input = sse_noise(rng);
        assert_split_invariant(&input, rng);
    });
    cases("sse mutated", |rng| {
        let (stream, _) = gen_stream(rng);
        let input = mutate(rng, stream);
        assert_split_invariant(&input, rng);
        // Whatever the splitter passes on, the chunk parser takes without panicking.
        if let Ok(events) = split(&[&input]) {
            for (_, payload) in events {
                let _ = chunk::parse(&payload);
            }
        }
    });
}

#[test]
fn valid_streams_read_back_exactly_however_split() {
    cases("valid stream", |rng| {
        let (stream, payloads) = gen_stream(rng);
        let cut = rng.random_range(0..=stream.len());
        let events = split(&[&stream[..cut], &stream[cut..]]).expect("a valid stream");
        let data: Vec<&Vec<u8>> = events
            .iter()
            .filter(|(k, d)| *k == 'D' && d.as_slice() != b"[DONE]")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(data.len(), payloads.len(), "{}", stream.escape_ascii());
        for (got, (json, want)) in data.iter().zip(&payloads) {
            assert_eq!(got.as_slice(), json.as_bytes());
            assert_eq!(parsed(got).as_ref(), Ok(want), "{json}");
        }
    });
}

#[test]
fn chunk_parser_never_panics_on_mutated_or_random_payloads() {
    cases("chunk mutated", |rng| {
        let (json, _) = gen_chunk(rng);
        let _ = parsed(&mutate(rng, json.into_bytes()));
    });
    cases("chunk random", |rng| {
        let len = rng.random_range(0..64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = parsed(&bytes);
        let _ = parsed(nasty_text(rng, 20).as_bytes());
    });
}

// ------------------------------------------------------------------------- Prometheus parser

/// A sample in a form that compares NaN equal to itself.
type Key = (String, Vec<(String, String)>, u64, Option<i64>);

fn key(s: &prom::Sample) -> Key {
    (
        s.name.clone(),
        s.labels.clone(),
        s.value.to_bits(),
        s.timestamp_ms,
    )
}

fn gen_name(rng: &mut StdRng) -> String {
    let stem = pick(
        rng,
        &[
            "vllm:num_requests_running",
            "DCGM_FI_DEV_GPU_TEMP",
            "tgi_queue_size",
            "m",
            "_x:y_z",
        ],
    );
    format!(
        "{stem}{}",
        pick(rng, &["", "_total", "_bucket", "_sum", "_count"])
    )
}

/// A valid page and the samples it holds, in page order.
fn gen_page(rng: &mut StdRng) -> (String, Vec<Key>) {
    let mut page = String::new();
    let mut want = Vec::new();
    for _ in 0..rng.random_range(0..8) {
        let name = gen_name(rng);
        if rng.random_bool(0.3) {
            page.push_str(&format!(
                "# HELP {name} {}\n",
                nasty_text(rng, 6).replace(['\n', '\r'], " ")
            ));
        }
        if rng.random_bool(0.3) {
            let kind = pick(
                rng,
                &["gauge", "counter", "histogram", "summary", "untyped"],
            );
            page.push_str(&format!("# TYPE {name} {kind}\n"));
        }
        let labels: Vec<(String, String)> = (0..rng.random_range(0..3))
            .map(|i| (format!("l{i}"), nasty_text(rng, 6)))
            .collect();
        let (text, value) = *pick(
            rng,
            &[
                ("1", 1.0),
                ("-2.5", -2.5),
                ("1e3", 1000.0),
                ("+Inf", f64::INFINITY),
                ("-Inf", f64::NEG_INFINITY),
                ("NaN", f64::NAN),
            ],
        );
        let ts = rng
            .random_bool(0.2)
            .then(|| rng.random_range(0..2_000_000_000_000i64));
        let lbl: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", prom::escape_label_value(v)))
            .collect();
        let braces = if labels.is_empty() && rng.random_bool(0.5) {
            String::new()
        } else {
            format!("{{{}}}", lbl.join(","))
        };
        let ts_text = ts.map(|t| format!(" {t}")).unwrap_or_default();
        page.push_str(&format!("{name}{braces} {text}{ts_text}\n"));
        want.push((name, labels, value.to_bits(), ts));
    }
    (page, want)
}

fn sorted(mut v: Vec<Key>) -> Vec<Key> {
    v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    v
}

#[test]
fn prometheus_valid_pages_read_back_and_split_pages_agree() {
    cases("prom valid", |rng| {
        let (page, want) = gen_page(rng);
        let e = prom::parse(&page);
        assert!(e.errors.is_empty(), "{:?} in\n{page}", e.errors);
        // Families group samples, so compare as multisets.
        let got: Vec<Key> = e.samples().map(key).collect();
        assert_eq!(sorted(got), sorted(want.clone()), "{page}");
        // CRLF pages read the same.
        let crlf: Vec<Key> = prom::parse(&page.replace('\n', "\r\n"))
            .samples()
            .map(key)
            .collect();
        assert_eq!(sorted(crlf), sorted(want.clone()));
        // Split at a line boundary: the halves hold the same samples as the whole.
        let lines: Vec<&str> = page.split_inclusive('\n').collect();
        let cut = rng.random_range(0..=lines.len());
        let (a, b) = (lines[..cut].concat(), lines[cut..].concat());
        let mut halves: Vec<Key> = prom::parse(&a).samples().map(key).collect();
        halves.extend(prom::parse(&b).samples().map(key));
        assert_eq!(sorted(halves), sorted(want));
    });
}

#[test]
fn prometheus_parser_never_panics_and_accounts_for_every_line() {
    cases("prom mutated", |rng| {
        let (page, _) = gen_page(rng);
        let bytes = mutate(rng, page.into_bytes());
        let text = String::from_utf8_lossy(&bytes);
        let e = prom::parse(&text);
        // Every non-blank, non-comment line is either a sample or a recorded error.
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(e.samples().count() + e.errors.len(), lines, "{text:?}");
    });
    cases("prom random", |rng| {
        let text = nasty_text(rng, 80);
        let _ = prom::parse(&text);
        let _ = prom::parse_sample(&text);
    });
}
