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
                completion_tokens: Some(100)
            })
        );
        assert_eq!(text(&c), (None, None));
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
