//! Parse one streamed `data:` payload of an OpenAI-compatible server into what we measure.
//!
//! Only the fields we need are deserialised (borrowed where the JSON has no escapes), so the
//! per-chunk cost stays small. Covers chat (`delta.content`, `delta.reasoning_content`,
//! `delta.reasoning`) and completions (`text`), usage-only chunks with empty `choices`, and error
//! objects sent on HTTP 200 (`{"error":...}` or `{"object":"error",...}`).

use serde::Deserialize;
use std::borrow::Cow;

/// Token usage reported by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens`: prompt tokens the server took from its prefix
    /// cache (llama.cpp always, vLLM with `--enable-prompt-tokens-details`). `None` when not
    /// sent; 0 when sent as 0.
    #[serde(
        default,
        rename = "prompt_tokens_details",
        deserialize_with = "cached_tokens"
    )]
    pub cached_tokens: Option<u64>,
}

/// The server's own clock for one request: llama.cpp's `timings` object, on the last chunk
/// (every chunk with `timings_per_token`). Fields it lacks, or sends as something other than
/// a finite number (llama.cpp's JSON writes an infinite rate as `null`), are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct ServerTimings {
    /// Prompt tokens it processed (the cached ones excluded) and how long that took.
    pub prompt_n: Option<u64>,
    pub prompt_ms: Option<f64>,
    pub prompt_per_second: Option<f64>,
    /// Tokens it generated and how long that took.
    pub predicted_n: Option<u64>,
    pub predicted_ms: Option<f64>,
    pub predicted_per_second: Option<f64>,
}

impl ServerTimings {
    /// Prefill speed by the server's clock: its own figure, else `prompt_n / prompt_ms`.
    pub fn prefill_tok_s(&self) -> Option<f64> {
        rate(self.prompt_per_second, self.prompt_n, self.prompt_ms)
    }

    /// Decode speed by the server's clock.
    pub fn decode_tok_s(&self) -> Option<f64> {
        rate(
            self.predicted_per_second,
            self.predicted_n,
            self.predicted_ms,
        )
    }

    fn from_value(v: &serde_json::Value) -> Option<ServerTimings> {
        let num = |k: &str| v.get(k)?.as_f64().filter(|x| x.is_finite() && *x >= 0.0);
        let count = |k: &str| v.get(k)?.as_u64();
        let t = ServerTimings {
            prompt_n: count("prompt_n"),
            prompt_ms: num("prompt_ms"),
            prompt_per_second: num("prompt_per_second"),
            predicted_n: count("predicted_n"),
            predicted_ms: num("predicted_ms"),
            predicted_per_second: num("predicted_per_second"),
        };
        (t != ServerTimings::default()).then_some(t)
    }
}

fn rate(given: Option<f64>, n: Option<u64>, ms: Option<f64>) -> Option<f64> {
    given.filter(|r| *r > 0.0).or_else(|| {
        let (n, ms) = (n?, ms?);
        (n > 0 && ms > 0.0).then(|| n as f64 * 1000.0 / ms)
    })
}

/// `prompt_tokens_details` of any shape: its `cached_tokens` when that is a count, else
/// nothing (a detail we cannot read never makes the chunk malformed).
fn cached_tokens<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.get("cached_tokens").and_then(serde_json::Value::as_u64))
}

/// `timings` of any shape; see [`ServerTimings`]. Parsed into a `Value` first: it comes once
/// per request, and an odd field must never cost the chunk.
fn timings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ServerTimings>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(ServerTimings::from_value(&v))
}

/// What one payload carried.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chunk<'a> {
    /// Answer text (`delta.content` or completions `text`); may be empty.
    pub content: Option<Cow<'a, str>>,
    /// Reasoning text (`delta.reasoning_content` or `delta.reasoning`).
    pub reasoning: Option<Cow<'a, str>>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<Cow<'a, str>>,
    /// An error object: (message, HTTP-like status code if given).
    pub error: Option<(String, Option<u16>)>,
    /// The server's own timings of the request (llama.cpp).
    pub timings: Option<ServerTimings>,
}

/// A payload that is not a chunk we understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

#[derive(Deserialize)]
struct RawChunk<'a> {
    #[serde(borrow, default)]
    choices: Option<FirstChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default, deserialize_with = "timings")]
    timings: Option<ServerTimings>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(borrow, default)]
    object: Option<Cow<'a, str>>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<RawDelta<'a>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
}

/// The first element of `choices`, the rest skipped: streaming sends one choice per chunk, and
/// not collecting a `Vec` saves an allocation on every chunk (the profile's largest item after
/// the JSON scan itself).
struct FirstChoice<'a>(Option<RawChoice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<RawChoice<'a>>()?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// Parse a `data:` payload (not `[DONE]`, which the caller checks first).
pub fn parse(payload: &[u8]) -> Result<Chunk<'_>, Malformed> {
    let raw: RawChunk<'_> = serde_json::from_slice(payload).map_err(|e| {
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(120)]).into_owned();
        Malformed(format!("invalid JSON in stream chunk ({e}): '{shown}'"))
    })?;
    let mut out = Chunk {
        usage: raw.usage,
        timings: raw.timings,
        ..Chunk::default()
    };
    if let Some(err) = raw.error {
        out.error = Some(error_details(&err));
        return Ok(out);
    }
    if raw.object.as_deref() == Some("error") {
        let code = raw.code.as_ref().and_then(status_of);
        out.error = Some((raw.message.unwrap_or_else(|| "error object".into()), code));
        return Ok(out);
    }
    if let Some(choice) = raw.choices.and_then(|c| c.0) {
        out.finish_reason = choice.finish_reason.filter(|f| !f.is_empty());
        match choice.delta {
            Some(d) => {
                out.content = d.content;
                out.reasoning = d.reasoning_content.or(d.reasoning);
            }
            None => out.content = choice.text,
        }
    }
    Ok(out)
}

/// The message and status of an `error` value, whatever its shape (object or string).
fn error_details(err: &serde_json::Value) -> (String, Option<u16>) {
    match err {
        serde_json::Value::String(s) => (s.clone(), None),
        serde_json::Value::Object(map) => {
            let message = map
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            let code = map
                .get("code")
                .or_else(|| map.get("http_status_code"))
                .and_then(status_of);
            (message, code)
        }
        other => (other.to_string(), None),
    }
}

fn status_of(v: &serde_json::Value) -> Option<u16> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// TGI and some others send reasoning inline as `<think>...</think>` in `content`. This tracks
/// that state across chunks and splits each content piece into (reasoning, answer) lengths.
#[derive(Debug, Default, Clone)]
pub struct InlineThink {
    inside: bool,
    seen_content: bool,
}

impl InlineThink {
    /// Returns (has reasoning text, has answer text) for this content piece.
    pub fn split(&mut self, content: &str) -> (bool, bool) {
        let mut rest = content;
        let mut reasoning = false;
        let mut closed_here = false;
        if !self.seen_content {
            let trimmed = rest.trim_start();
            if trimmed.is_empty() {
                return (false, false);
            }
            self.seen_content = true;
            if let Some(after) = trimmed.strip_prefix("<think>") {
                // The tag itself is generated output: a chunk holding only it is a token.
                self.inside = true;
                reasoning = true;
                rest = after;
            }
        }
        if self.inside {
            match rest.find("</think>") {
                Some(i) => {
                    reasoning = true;
                    self.inside = false;
                    closed_here = true;
                    rest = &rest[i + "</think>".len()..];
                }
                None => return (reasoning || !rest.is_empty(), false),
            }
        }
        // Whitespace right after `</think>` is formatting, not the answer's first token.
        let answer = if closed_here {
            !rest.trim().is_empty()
        } else {
            !rest.is_empty()
        };
        (reasoning, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn text(c: &Chunk<'_>) -> (Option<String>, Option<String>) {
        (
            c.content.as_ref().map(|s| s.to_string()),
            c.reasoning.as_ref().map(|s| s.to_string()),
        )
    }

    #[rstest]
    #[case::vllm_role_only(r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#, Some(""), None)]
    #[case::vllm_token(r#"{"choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#, Some("Hello"), None)]
    #[case::vllm_reasoning_new(
        r#"{"choices":[{"delta":{"reasoning":"Okay"}}]}"#,
        None,
        Some("Okay")
    )]
    #[case::sglang_reasoning(r#"{"choices":[{"index":0,"delta":{"role":null,"content":null,"reasoning_content":"Let me think","tool_calls":null},"finish_reason":null,"matched_stop":null}],"usage":null}"#, None, Some("Let me think"))]
    #[case::llama_cpp_role_null(r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}"#, None, None)]
    #[case::completions_text(r#"{"choices":[{"index":0,"text":" world","logprobs":null,"finish_reason":null}],"usage":null}"#, Some(" world"), None)]
    #[case::escaped_text(
        r#"{"choices":[{"delta":{"content":"a\"b\n\u4f60"}}]}"#,
        Some("a\"b\n你"),
        None
    )]
    #[case::several_choices_first_wins(
        r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
        Some("a"),
        None
    )]
    #[case::null_choices(r#"{"choices":null,"usage":null}"#, None, None)]
    #[case::empty_delta(
        r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}]}"#,
        None,
        None
    )]
    fn content_and_reasoning(
        #[case] payload: &str,
        #[case] content: Option<&str>,
        #[case] reasoning: Option<&str>,
    ) {
        let c = parse(payload.as_bytes()).unwrap();
        assert_eq!(
            text(&c),
            (content.map(String::from), reasoning.map(String::from))
        );
        assert!(c.error.is_none());
    }

    #[test]
    fn usage_only_chunk_with_empty_choices() {
        let c = parse(br#"{"id":"","choices":[],"usage":{"prompt_tokens":12,"total_tokens":112,"completion_tokens":100}}"#).unwrap();
        assert_eq!(
            c.usage,
            Some(Usage {
                prompt_tokens: Some(12),
                completion_tokens: Some(100),
                cached_tokens: None,
            })
        );
        assert_eq!(text(&c), (None, None));
    }

    /// llama-server's (llama-cpp-python 0.3.36) last chunk with `include_usage`, in the
    /// shape `to_json_oaicompat_chat_stream` and `server_slot_stats::to_json` write it.
    const LLAMA_CPP_USAGE: &str = r#"{"choices":[],"created":1764000000,"id":"chatcmpl-Qx3","model":"tiny.gguf","system_fingerprint":"b7000-0123abcd","object":"chat.completion.chunk","usage":{"completion_tokens":64,"prompt_tokens":139,"total_tokens":203,"prompt_tokens_details":{"cached_tokens":11}},"timings":{"cache_n":11,"prompt_n":128,"prompt_ms":42.317,"prompt_per_token_ms":0.3306015625,"prompt_per_second":3024.7890,"predicted_n":64,"predicted_ms":301.2,"predicted_per_token_ms":4.70625,"predicted_per_second":212.4834}}"#;

    #[test]
    fn llama_cpp_usage_carries_cached_tokens_and_the_servers_timings() {
        let c = parse(LLAMA_CPP_USAGE.as_bytes()).unwrap();
        assert_eq!(
            c.usage,
            Some(Usage {
                prompt_tokens: Some(139),
                completion_tokens: Some(64),
                cached_tokens: Some(11),
            })
        );
        let t = c.timings.unwrap();
        assert_eq!((t.prompt_n, t.predicted_n), (Some(128), Some(64)));
        assert_eq!(t.prefill_tok_s(), Some(3024.789));
        assert_eq!(t.decode_tok_s(), Some(212.4834));
        assert_eq!(text(&c), (None, None));
    }

    #[test]
    fn odd_cache_and_timing_details_never_cost_the_chunk() {
        // vLLM without --enable-prompt-tokens-details: null, so unknown (not 0).
        let c = parse(br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":null}}"#).unwrap();
        assert_eq!(c.usage.and_then(|u| u.cached_tokens), None);
        let c = parse(br#"{"choices":[],"usage":{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":0}}}"#).unwrap();
        assert_eq!(c.usage.and_then(|u| u.cached_tokens), Some(0));
        for odd in [
            r#"{"choices":[],"usage":{"prompt_tokens_details":"x"},"timings":5}"#,
            r#"{"choices":[],"timings":{"prompt_n":"many","prompt_ms":[]}}"#,
            r#"{"choices":[],"timings":null,"usage":{"prompt_tokens_details":{"cached_tokens":-3}}}"#,
        ] {
            let c = parse(odd.as_bytes()).unwrap_or_else(|e| panic!("{odd}: {}", e.0));
            assert_eq!(c.timings, None, "{odd}");
            assert_eq!(c.usage.and_then(|u| u.cached_tokens), None, "{odd}");
        }
        // An infinite rate (a 0 ms prefill) is written as null: the rate comes from n / ms,
        // or is unknown when that cannot be computed either.
        let c = parse(br#"{"choices":[],"timings":{"prompt_n":3,"prompt_ms":0.0,"prompt_per_second":null,"predicted_n":10,"predicted_ms":50.0,"predicted_per_second":null}}"#).unwrap();
        let t = c.timings.unwrap();
        assert_eq!((t.prefill_tok_s(), t.decode_tok_s()), (None, Some(200.0)));
    }

    #[test]
    fn finish_reason_kept_and_empty_string_dropped() {
        let c = parse(br#"{"choices":[{"delta":{"content":""},"finish_reason":"stop"}]}"#).unwrap();
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
        let c = parse(br#"{"choices":[{"text":"x","finish_reason":""}]}"#).unwrap();
        assert_eq!(c.finish_reason, None);
    }

    #[rstest]
    #[case::vllm(
        r#"{"error":{"message":"bad","type":"BadRequestError","param":null,"code":400}}"#,
        "bad",
        Some(400)
    )]
    #[case::tgi(
        r#"{"error":{"message":"too long","http_status_code":422}}"#,
        "too long",
        Some(422)
    )]
    #[case::string(r#"{"error":"overloaded"}"#, "overloaded", None)]
    #[case::flat_object(
        r#"{"object":"error","message":"old style","code":500}"#,
        "old style",
        Some(500)
    )]
    fn error_objects(#[case] payload: &str, #[case] msg: &str, #[case] code: Option<u16>) {
        let c = parse(payload.as_bytes()).unwrap();
        assert_eq!(c.error, Some((msg.to_string(), code)));
    }

    #[test]
    fn malformed_names_the_payload() {
        let e = parse(b"{\"choices\":[{\"delta\":").unwrap_err();
        assert!(e.0.starts_with("invalid JSON in stream chunk"), "{}", e.0);
        assert!(e.0.contains("'{\"choices\":[{\"delta\":'"), "{}", e.0);
        assert!(parse(b"\xff\xfe").is_err());
    }

    #[test]
    fn inline_think_splits_reasoning_from_answer() {
        let mut t = InlineThink::default();
        assert_eq!(t.split("<think>"), (true, false));
        assert_eq!(t.split("hmm"), (true, false));
        assert_eq!(t.split("</think>"), (true, false));
        assert_eq!(t.split("\n\nAnswer"), (false, true));
        let mut t = InlineThink::default();
        assert_eq!(t.split("Plain"), (false, true));
        assert_eq!(t.split(" <think> is text here"), (false, true));
        let mut t = InlineThink::default();
        assert_eq!(t.split("<think>a</think>b"), (true, true));
    }
}
