//! Datasets read from a file: ShareGPT JSON and custom JSONL, cycled when a run wants more.
//!
//! ShareGPT (a JSON list of `{"conversations": [{"from": "human", "value": ...}, ...]}`): the
//! first human turn is the prompt and the assistant turn after it sizes the output, unless
//! `--sharegpt-output-len` is given. Entries are shuffled with `--seed` and, as vLLM does, those
//! whose prompt has fewer than 4 or more than 1024 tokens, whose reply has fewer than 4 (when it
//! sizes the output), or whose prompt + output exceed 2048 are passed over. The file is streamed
//! one conversation at a time, so a 600 MB ShareGPT file costs only what is kept.
//!
//! Custom JSONL: one object per line with `"prompt"` and optionally `"output_len"` or
//! `"max_tokens"`; kept in file order. Output length: `--sharegpt-output-len`, else the line's,
//! else `--random-output-len`.
//!
//! Token counts are taken lazily, the first time an entry is served, and cached.

use super::tokens::TokenCounter;
use super::Prompt;
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// vLLM's ShareGPT filter (`is_valid_sequence`).
const MIN_TOKENS: u32 = 4;
const MAX_PROMPT_TOKENS: u32 = 1024;
const MAX_TOTAL_TOKENS: u32 = 2048;

#[derive(Debug)]
enum OutputSpec {
    Tokens(u32),
    /// The reply's text, counted (and dropped) the first time the entry is served.
    Reply(String),
}

#[derive(Debug, Clone, Copy)]
struct Counted {
    exact: Option<u32>,
    output_len: u32,
    usable: bool,
}

#[derive(Debug)]
struct Entry {
    prompt: String,
    output: OutputSpec,
    counted: Option<Counted>,
}

/// A dataset of prompts read from a file.
#[derive(Debug)]
pub struct FileDataset {
    kind: &'static str,
    entries: Vec<Entry>,
    skipped: u64,
    filter: bool,
    cursor: usize,
    filtered: u64,
}

impl FileDataset {
    /// `"sharegpt"` or `"custom"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Entries read (before the length filter).
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// Malformed entries skipped while reading.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Entries passed over by the length filter so far.
    pub fn filtered(&self) -> u64 {
        self.filtered
    }

    /// Times the run went back to the start of the dataset.
    pub fn cycles(&self) -> u64 {
        (self.cursor / self.entries.len().max(1)) as u64
    }

    /// Read a ShareGPT file. `output_len`: `--sharegpt-output-len`.
    pub fn sharegpt(
        path: &Path,
        output_len: Option<u32>,
        seed: u64,
        counter: &TokenCounter,
    ) -> Result<Self, String> {
        let shown = path.display();
        let file = std::fs::File::open(path)
            .map_err(|e| format!("--dataset-path '{shown}' cannot be read: {e}"))?;
        let mut de = serde_json::Deserializer::from_reader(BufReader::new(file));
        let mut sink = ShareGptSink {
            output_len,
            entries: Vec::new(),
            skipped: 0,
            first_problem: None,
        };
        de.deserialize_seq(&mut sink)
            .and_then(|()| de.end())
            .map_err(|e| {
                format!(
                    "--dataset-path '{shown}' is not ShareGPT JSON ({e}): expected a list of \
                     {{\"conversations\": [{{\"from\": \"human\", \"value\": ...}}, ...]}}"
                )
            })?;
        let mut entries = sink.entries;
        entries.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut ds = FileDataset {
            kind: "sharegpt",
            entries,
            skipped: sink.skipped,
            filter: true,
            cursor: 0,
            filtered: 0,
        };
        let total = ds.entries.len() as u64 + ds.skipped;
        let why = match sink.first_problem {
            Some(p) => format!(" (first skipped: {p})"),
            None => String::new(),
        };
        if ds.entries.is_empty() {
            return Err(format!(
                "--dataset-path '{shown}' holds no usable conversation: {total} entries, {} \
                 malformed{why}",
                ds.skipped
            ));
        }
        // Make sure the cycle in `next_prompt` always finds one; usually the first entry does.
        if !(0..ds.entries.len()).any(|i| ds.count(i, counter).usable) {
            return Err(format!(
                "--dataset-path '{shown}' holds no usable conversation: all {} readable ones fall \
                 outside vLLM's ShareGPT lengths (prompt {MIN_TOKENS}..={MAX_PROMPT_TOKENS} \
                 tokens, reply at least {MIN_TOKENS}, prompt + output at most \
                 {MAX_TOTAL_TOKENS}); {} entries were malformed{why}",
                ds.entries.len(),
                ds.skipped
            ));
        }
        Ok(ds)
    }

    /// Read a custom JSONL file. `output_len` overrides each line's; `default_output_len`
    /// serves lines that give none.
    pub fn custom(
        path: &Path,
        output_len: Option<u32>,
        default_output_len: u32,
    ) -> Result<Self, String> {
        let shown = path.display();
        let file = std::fs::File::open(path)
            .map_err(|e| format!("--dataset-path '{shown}' cannot be read: {e}"))?;
        let mut entries = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let at = |msg: String| format!("--dataset-path '{shown}' line {}: {msg}", i + 1);
            let line = line.map_err(|e| at(format!("cannot be read ({e})")))?;
            if line.trim().is_empty() {
                continue;
            }
            let (prompt, own) = parse_custom_line(&line).map_err(at)?;
            let n = output_len.or(own).unwrap_or(default_output_len);
            entries.push(Entry {
                prompt,
                output: OutputSpec::Tokens(n),
                counted: None,
            });
        }
        if entries.is_empty() {
            return Err(format!(
                "--dataset-path '{shown}' holds no prompts: write one JSON object per line, \
                 e.g. {{\"prompt\": \"Hello\", \"output_len\": 128}}"
            ));
        }
        Ok(FileDataset {
            kind: "custom",
            entries,
            skipped: 0,
            filter: false,
            cursor: 0,
            filtered: 0,
        })
    }

    /// Count entry `i` (once) and decide whether the length filter lets it through.
    fn count(&mut self, i: usize, counter: &TokenCounter) -> Counted {
        let e = &mut self.entries[i];
        if let Some(c) = e.counted {
            return c;
        }
        let (prompt_tokens, exact) = counter.count(&e.prompt);
        let (output_len, from_reply) = match &e.output {
            OutputSpec::Tokens(n) => (*n, false),
            OutputSpec::Reply(text) => (counter.count(text).0, true),
        };
        let usable = !self.filter
            || (prompt_tokens >= MIN_TOKENS
                && (!from_reply || output_len >= MIN_TOKENS)
                && prompt_tokens <= MAX_PROMPT_TOKENS
                && prompt_tokens + output_len <= MAX_TOTAL_TOKENS);
        let c = Counted {
            exact,
            output_len: output_len.max(1),
            usable,
        };
        e.counted = Some(c);
        e.output = OutputSpec::Tokens(c.output_len);
        c
    }

    /// The next usable entry, cycling through the dataset.
    pub fn next_prompt(&mut self, counter: &TokenCounter) -> Prompt {
        // Terminates: construction proved that at least one entry is usable.
        loop {
            let i = self.cursor % self.entries.len();
            self.cursor += 1;
            let c = self.count(i, counter);
            if !c.usable {
                if self.cursor <= self.entries.len() {
                    self.filtered += 1;
                }
                continue;
            }
            let text = self.entries[i].prompt.clone();
            let est_tokens = c.exact.unwrap_or_else(|| counter.estimator.estimate(&text));
            return Prompt {
                text,
                prompt_tokens: c.exact,
                est_tokens,
                output_len: c.output_len,
            };
        }
    }
}

/// One custom line: its prompt and its own output length, if any.
fn parse_custom_line(line: &str) -> Result<(String, Option<u32>), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(obj) = v else {
        return Err("expected a JSON object like {\"prompt\": \"...\"}".into());
    };
    let prompt = match obj.get("prompt") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err("\"prompt\" is empty".into()),
        Some(other) => return Err(format!("\"prompt\" must be a string, got '{other}'")),
        None => return Err("no \"prompt\" field".into()),
    };
    let mut own = None;
    for key in ["output_len", "max_tokens"] {
        if let Some(v) = obj.get(key) {
            match v.as_u64().filter(|&n| n > 0 && n <= u64::from(u32::MAX)) {
                Some(n) => {
                    own = Some(n as u32);
                    break;
                }
                None => return Err(format!("\"{key}\" must be a positive integer, got '{v}'")),
            }
        }
    }
    Ok((prompt, own))
}

/// Streams a ShareGPT list, keeping only what each conversation needs.
struct ShareGptSink {
    output_len: Option<u32>,
    entries: Vec<Entry>,
    skipped: u64,
    first_problem: Option<String>,
}

impl ShareGptSink {
    fn take(&mut self, index: usize, v: Value) {
        match sharegpt_entry(v, self.output_len) {
            Ok(e) => self.entries.push(e),
            Err(why) => {
                self.skipped += 1;
                if self.first_problem.is_none() {
                    self.first_problem = Some(format!("entry {index} {why}"));
                }
            }
        }
    }
}

impl<'de> Visitor<'de> for &mut ShareGptSink {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of conversations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        // One conversation in memory at a time.
        while let Some(v) = seq.next_element::<Value>()? {
            self.take(index, v);
            index += 1;
        }
        Ok(())
    }
}

fn role_of(turn: &Value) -> Option<&str> {
    turn.get("from")
        .or_else(|| turn.get("role"))
        .and_then(Value::as_str)
}

fn text_of(turn: &Value) -> Option<&str> {
    turn.get("value")
        .or_else(|| turn.get("content"))
        .and_then(Value::as_str)
}

/// The first human turn and the assistant turn after it, or why the entry is unusable.
fn sharegpt_entry(v: Value, output_len: Option<u32>) -> Result<Entry, &'static str> {
    let turns = v
        .get("conversations")
        .or_else(|| v.get("conversation"))
        .and_then(Value::as_array)
        .ok_or("has no \"conversations\" list")?;
    let h = turns
        .iter()
        .position(|t| matches!(role_of(t), Some("human" | "user")))
        .ok_or("has no human turn")?;
    let prompt = text_of(&turns[h]).ok_or("has a human turn without text")?;
    if prompt.trim().is_empty() {
        return Err("has an empty human turn");
    }
    let output = match output_len {
        Some(n) => OutputSpec::Tokens(n),
        None => {
            let reply = turns
                .get(h + 1)
                .filter(|t| matches!(role_of(t), Some("gpt" | "assistant" | "chatgpt" | "bard")))
                .and_then(text_of)
                .ok_or("has no assistant reply after the human turn")?;
            OutputSpec::Reply(reply.to_string())
        }
    };
    Ok(Entry {
        prompt: prompt.to_string(),
        output,
        counted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn conv(human: &str, gpt: &str) -> String {
        format!(
            r#"{{"id":"x","conversations":[{{"from":"human","value":"{human}"}},{{"from":"gpt","value":"{gpt}"}}]}}"#
        )
    }

    #[test]
    fn sharegpt_reads_skips_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let long = "word ".repeat(20); // 100 chars: 25 estimated tokens
        let reply = "y".repeat(400); // 100 tokens
        let body = format!(
            "[{}, {}, 17, {{\"conversations\": \"no\"}}, {}, {}]",
            conv(&long, &reply),
            // system turn first, role/content keys: still fine
            r#"{"conversations":[{"role":"system","content":"be brief"},{"role":"user","content":"tell me about trains please now"},{"role":"assistant","content":"trains run on rails, mostly"}]}"#,
            conv("   ", "empty prompt"),
            r#"{"conversations":[{"from":"human","value":"no reply here at all"}]}"#,
        );
        let p = write(dir.path(), "sg.json", &body);
        let counter = TokenCounter::default();
        let mut ds = FileDataset::sharegpt(&p, None, 0, &counter).unwrap();
        assert_eq!((ds.kind(), ds.entries(), ds.skipped()), ("sharegpt", 2, 4));
        let mut seen: Vec<(u32, u32)> = (0..4)
            .map(|_| {
                let p = ds.next_prompt(&counter);
                (p.est_tokens, p.output_len)
            })
            .collect();
        assert_eq!(ds.cycles(), 2);
        seen.sort();
        seen.dedup();
        assert_eq!(seen, vec![(8, 7), (25, 100)]);
    }

    #[test]
    fn sharegpt_output_len_overrides_and_allows_reply_less_entries() {
        let dir = tempfile::tempdir().unwrap();
        let body =
            r#"[{"conversations":[{"from":"human","value":"a question that is long enough"}]}]"#;
        let p = write(dir.path(), "sg.json", body);
        let counter = TokenCounter::default();
        let mut ds = FileDataset::sharegpt(&p, Some(77), 0, &counter).unwrap();
        assert_eq!(ds.next_prompt(&counter).output_len, 77);
        assert_eq!(ds.skipped(), 0);
    }

    #[test]
    fn sharegpt_length_filter_passes_over_entries() {
        let dir = tempfile::tempdir().unwrap();
        let ok = conv(&"ab ".repeat(20), &"z".repeat(40));
        let tiny = conv("hi", &"z".repeat(40)); // 1 token prompt
        let huge = conv(&"q".repeat(5000), "fine reply text"); // 1250 tokens
        let p = write(dir.path(), "sg.json", &format!("[{tiny},{ok},{huge}]"));
        let counter = TokenCounter::default();
        let mut ds = FileDataset::sharegpt(&p, None, 1, &counter).unwrap();
        for _ in 0..5 {
            assert_eq!(ds.next_prompt(&counter).output_len, 10);
        }
        assert_eq!(ds.filtered(), 2);
    }

    #[test]
    fn sharegpt_shuffle_follows_seed() {
        let dir = tempfile::tempdir().unwrap();
        let items: Vec<String> = (0..30)
            .map(|i| {
                conv(
                    &format!("prompt number {i} asks something"),
                    "a reply of some length",
                )
            })
            .collect();
        let p = write(dir.path(), "sg.json", &format!("[{}]", items.join(",")));
        let counter = TokenCounter::default();
        let order = |seed| {
            let mut ds = FileDataset::sharegpt(&p, None, seed, &counter).unwrap();
            (0..30)
                .map(|_| ds.next_prompt(&counter).text)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(5), order(5));
        assert_ne!(order(5), order(6));
    }

    #[rstest]
    #[case::not_json("{oops", "is not ShareGPT JSON")]
    #[case::not_a_list("{\"conversations\": []}", "is not ShareGPT JSON")]
    #[case::empty_list("[]", "holds no usable conversation: 0 entries, 0 malformed")]
    #[case::all_bad(
        "[1, {\"conversations\": 2}]",
        "holds no usable conversation: 2 entries, 2 malformed (first skipped: entry 0 has no \"conversations\" list)"
    )]
    #[case::all_too_short(
        r#"[{"conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"hello there friend"}]}]"#,
        "all 1 readable ones fall outside vLLM's ShareGPT lengths"
    )]
    fn sharegpt_errors(#[case] body: &str, #[case] want: &str) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "sg.json", body);
        let err = FileDataset::sharegpt(&p, None, 0, &TokenCounter::default()).unwrap_err();
        assert!(
            err.starts_with(&format!("--dataset-path '{}'", p.display())),
            "{err}"
        );
        assert!(err.contains(want), "{err}");
    }

    #[test]
    fn custom_reads_lines_in_order_with_output_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let body = "{\"prompt\": \"first\", \"output_len\": 5}\n\n\
                    {\"prompt\": \"second\", \"max_tokens\": 9, \"extra\": true}\n\
                    {\"prompt\": \"third\"}\n";
        let p = write(dir.path(), "c.jsonl", body);
        let counter = TokenCounter::default();
        let mut ds = FileDataset::custom(&p, None, 128).unwrap();
        let got: Vec<(String, u32)> = (0..4)
            .map(|_| {
                let p = ds.next_prompt(&counter);
                (p.text, p.output_len)
            })
            .collect();
        let want = [("first", 5), ("second", 9), ("third", 128), ("first", 5)];
        let want: Vec<(String, u32)> = want.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        assert_eq!(got, want);
        let mut ds = FileDataset::custom(&p, Some(3), 128).unwrap();
        assert_eq!(ds.next_prompt(&counter).output_len, 3);
    }

    #[rstest]
    #[case::bad_json("{\"prompt\": \"a\"}\n{nope}\n", 2, "not valid JSON")]
    #[case::not_object("[1,2]\n", 1, "expected a JSON object like {\"prompt\": \"...\"}")]
    #[case::no_prompt("{\"text\": \"a\"}\n", 1, "no \"prompt\" field")]
    #[case::empty_prompt("\n\n{\"prompt\": \" \"}\n", 3, "\"prompt\" is empty")]
    #[case::number_prompt("{\"prompt\": 5}\n", 1, "\"prompt\" must be a string, got '5'")]
    #[case::zero_len(
        "{\"prompt\": \"a\", \"output_len\": 0}\n",
        1,
        "\"output_len\" must be a positive integer, got '0'"
    )]
    #[case::text_len(
        "{\"prompt\": \"a\", \"max_tokens\": \"ten\"}\n",
        1,
        "\"max_tokens\" must be a positive integer, got '\"ten\"'"
    )]
    fn custom_errors_name_file_and_line(
        #[case] body: &str,
        #[case] line: usize,
        #[case] want: &str,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "c.jsonl", body);
        let err = FileDataset::custom(&p, None, 128).unwrap_err();
        let head = format!("--dataset-path '{}' line {line}: ", p.display());
        assert!(err.starts_with(&head), "{err}");
        assert!(err[head.len()..].starts_with(want), "{err}");
    }

    #[test]
    fn custom_empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "c.jsonl", "\n \n");
        let err = FileDataset::custom(&p, None, 128).unwrap_err();
        assert!(err.contains("holds no prompts"), "{err}");
    }
}
