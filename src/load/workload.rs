//! What to send and when: prompts from a dataset (`random`, `sharegpt`, `custom`) with their
//! token lengths, and the arrival schedule of an open-loop run.
//!
//! The engine's use, in order:
//! 1. `let mut w = workload::build(&load)?;` validates the dataset flags, reads files and the
//!    tokenizer (errors name the flag and value; map them to exit code 2).
//! 2. `ArrivalSchedule::from_load(&load, rate, count)` (rate: `runner::parse_rate` of
//!    `--request-rate`; count: `--num-prompts` when there is no `--duration`) gives the offset
//!    from the run's start at which each request is due.
//! 3. `w.next_prompt()` once per request (also `Iterator`, never ending: datasets cycle). Cost
//!    without a tokenizer: a few µs for a 1k-token prompt. With one, a random prompt is decoded
//!    and re-encoded to be exact (roughly 0.1-1 ms for 1k tokens with a real vocabulary): build
//!    them before the timed run when the rate is high.
//! 4. Without `--tokenizer`, lengths are estimated (see `tokens`). After the probe request, and
//!    optionally after any finished request, feed back what the server counted:
//!    `w.calibrate(&prompt.text, usage.prompt_tokens)`; later prompts then hit the target better.
//!    On `/v1/chat/completions` the server's count includes the chat template (a few to a few
//!    dozen tokens): subtract it when known (e.g. the `prompt_tokens` of a one-word probe), as
//!    it would otherwise be learnt as part of the text.
//! 5. `w.info()` tells the result what was used (dataset, token source, skipped entries, ...).

pub mod arrival;
mod corpus;
mod file;
mod random;
mod tokens;

pub use arrival::ArrivalSchedule;
pub use corpus::Lang;
pub use random::RandomConfig;
pub use tokens::{Estimator, ExactTokenizer, EN_CHARS_PER_TOKEN, ZH_CHARS_PER_TOKEN};

use anyhow::anyhow;
use file::FileDataset;
use random::RandomDataset;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokens::TokenCounter;

/// One request's worth of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The user message (chat) or prompt (completions).
    pub text: String,
    /// Exact prompt tokens, when a tokenizer counted them (chat template not included).
    pub prompt_tokens: Option<u32>,
    /// Best known token count: the exact one with a tokenizer, else the (calibrated) estimate.
    pub est_tokens: u32,
    /// Output tokens to ask for (`max_tokens`).
    pub output_len: u32,
}

/// Which prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dataset {
    /// Random text from the built-in English/Chinese corpus, of set token lengths.
    #[default]
    Random,
    /// A ShareGPT JSON file.
    Sharegpt,
    /// A JSONL file with one `{"prompt": ...}` per line.
    Custom,
}

impl Dataset {
    pub const NAMES: [&'static str; 3] = ["random", "sharegpt", "custom"];
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Random => "random",
            Dataset::Sharegpt => "sharegpt",
            Dataset::Custom => "custom",
        }
    }
    pub fn from_name(s: &str) -> Option<Dataset> {
        match s {
            "random" => Some(Dataset::Random),
            "sharegpt" => Some(Dataset::Sharegpt),
            "custom" => Some(Dataset::Custom),
            _ => None,
        }
    }
}

/// What to send.
#[derive(Debug, Clone, Default)]
pub struct WorkloadPlan {
    pub dataset: Dataset,
    pub dataset_path: Option<PathBuf>,
    pub random_input_len: u32,
    pub random_output_len: u32,
    pub random_range_ratio: f64,
    pub random_prefix_len: u32,
    /// Output length of file prompts (overrides the file's own).
    pub sharegpt_output_len: Option<u32>,
    /// A tokenizer.json for exact prompt lengths.
    pub tokenizer: Option<PathBuf>,
    pub seed: u64,
}

impl WorkloadPlan {
    /// The prompts' input length, when the dataset sets one.
    pub fn input_len(&self) -> Option<u32> {
        (self.dataset == Dataset::Random).then_some(self.random_input_len)
    }
    /// The requests' output length, when the flags set one.
    pub fn output_len(&self) -> Option<u32> {
        match self.dataset {
            Dataset::Random => Some(self.random_output_len),
            _ => self.sharegpt_output_len,
        }
    }
}

/// How the workload knows its prompts' lengths in tokens (a request's own count is
/// `record::PromptLengths`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptLengths {
    /// A local tokenizer.json: exact.
    Tokenizer,
    /// Characters per token, not yet calibrated.
    Estimate,
    /// Characters per token, corrected by the server's counts.
    Calibrated,
}

/// What the workload used and did over a run, for the result file (`tokscope.workload`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadInfo {
    /// "random", "sharegpt" or "custom".
    pub dataset: String,
    pub dataset_path: Option<String>,
    /// Usable entries read from the file (none for random).
    pub entries: Option<usize>,
    /// File entries skipped as malformed.
    pub skipped_malformed: u64,
    /// ShareGPT entries passed over by vLLM's length rules so far.
    pub filtered_by_length: u64,
    /// Times the dataset was started over.
    pub cycles: u64,
    pub prompts_served: u64,
    pub token_source: PromptLengths,
    /// The tokenizer.json read, if any.
    pub tokenizer: Option<String>,
    /// Random prompts whose exact count missed the target after adjusting (sent with their
    /// true count).
    pub length_mismatches: u64,
    pub calibrations: u64,
    /// Current characters per token of English and Chinese (estimate mode).
    pub chars_per_token_en: f64,
    pub chars_per_token_zh: f64,
}

#[derive(Debug)]
enum Source {
    Random(Box<RandomDataset>),
    File { ds: FileDataset, path: String },
}

/// A source of prompts. Build it with [`build`].
#[derive(Debug)]
pub struct Workload {
    source: Source,
    counter: TokenCounter,
    served: u64,
}

impl Workload {
    /// A random-dataset workload without the CLI (tests, the dashboard's defaults).
    pub fn random(cfg: RandomConfig, tokenizer: Option<ExactTokenizer>) -> Self {
        let counter = TokenCounter {
            exact: tokenizer,
            estimator: Estimator::default(),
        };
        Workload {
            source: Source::Random(Box::new(RandomDataset::new(cfg, &counter))),
            counter,
            served: 0,
        }
    }

    /// The next prompt. Never runs out: file datasets cycle.
    pub fn next_prompt(&mut self) -> Prompt {
        self.served += 1;
        match &mut self.source {
            Source::Random(ds) => ds.next_prompt(&self.counter),
            Source::File { ds, .. } => ds.next_prompt(&self.counter),
        }
    }

    /// Tell the estimator that the server counted `server_prompt_tokens` for `sent_text`.
    /// Ignored with a tokenizer (counts are exact) and for a zero count.
    pub fn calibrate(&mut self, sent_text: &str, server_prompt_tokens: u32) {
        if self.counter.exact.is_none() {
            self.counter
                .estimator
                .calibrate(sent_text, server_prompt_tokens);
        }
    }

    /// Tokens of any text, by the same rule as the prompts (exact with a tokenizer).
    pub fn count_tokens(&self, text: &str) -> u32 {
        self.counter.count(text).0
    }

    /// True when a tokenizer gives exact counts.
    pub fn has_tokenizer(&self) -> bool {
        self.counter.exact.is_some()
    }

    /// Where the counts come from now.
    pub fn token_source(&self) -> PromptLengths {
        if self.has_tokenizer() {
            PromptLengths::Tokenizer
        } else if self.counter.estimator.calibrations() > 0 {
            PromptLengths::Calibrated
        } else {
            PromptLengths::Estimate
        }
    }

    /// What was used and done so far.
    pub fn info(&self) -> WorkloadInfo {
        let est = &self.counter.estimator;
        let mut info = WorkloadInfo {
            dataset: "random".into(),
            dataset_path: None,
            entries: None,
            skipped_malformed: 0,
            filtered_by_length: 0,
            cycles: 0,
            prompts_served: self.served,
            token_source: self.token_source(),
            tokenizer: self
                .counter
                .exact
                .as_ref()
                .map(|t| t.path().display().to_string()),
            length_mismatches: 0,
            calibrations: est.calibrations(),
            chars_per_token_en: est.chars_per_token(Lang::En),
            chars_per_token_zh: est.chars_per_token(Lang::Zh),
        };
        match &self.source {
            Source::Random(ds) => info.length_mismatches = ds.mismatched(),
            Source::File { ds, path } => {
                info.dataset = ds.kind().into();
                info.dataset_path = Some(path.clone());
                info.entries = Some(ds.entries());
                info.skipped_malformed = ds.skipped();
                info.filtered_by_length = ds.filtered();
                info.cycles = ds.cycles();
            }
        }
        info
    }
}

impl Iterator for Workload {
    type Item = Prompt;

    /// Always `Some`: see [`Workload::next_prompt`].
    fn next(&mut self) -> Option<Prompt> {
        Some(self.next_prompt())
    }
}

/// Build the workload a plan describes (reading its files). Every error names the flag and
/// its value.
pub fn build(load: &WorkloadPlan) -> anyhow::Result<Workload> {
    check_plan(load).map_err(|e| anyhow!(e))?;
    let tokenizer = match &load.tokenizer {
        Some(p) => Some(ExactTokenizer::load(p).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let counter = TokenCounter {
        exact: tokenizer,
        estimator: Estimator::default(),
    };
    let source = match (load.dataset, &load.dataset_path) {
        (Dataset::Random, _) => Source::Random(Box::new(RandomDataset::new(
            RandomConfig {
                input_len: load.random_input_len,
                output_len: load.random_output_len,
                range_ratio: load.random_range_ratio,
                prefix_len: load.random_prefix_len,
                seed: load.seed,
            },
            &counter,
        ))),
        (Dataset::Sharegpt, Some(path)) => Source::File {
            ds: FileDataset::sharegpt(path, load.sharegpt_output_len, load.seed, &counter)
                .map_err(|e| anyhow!(e))?,
            path: path.display().to_string(),
        },
        (Dataset::Custom, Some(path)) => Source::File {
            ds: FileDataset::custom(path, load.sharegpt_output_len, load.random_output_len)
                .map_err(|e| anyhow!(e))?,
            path: path.display().to_string(),
        },
        (_, None) => {
            return Err(anyhow!(
                "--dataset-name {} needs --dataset-path FILE",
                load.dataset.name()
            ))
        }
    };
    Ok(Workload {
        source,
        counter,
        served: 0,
    })
}

/// The cheap checks of a workload plan, before any file is read (the plan's builder runs them).
pub fn check_plan(load: &WorkloadPlan) -> Result<(), String> {
    let r = load.random_range_ratio;
    if !(0.0..1.0).contains(&r) {
        return Err(format!(
            "--random-range-ratio '{r}' is outside [0, 1): e.g. 0.1 draws lengths within ±10%"
        ));
    }
    if load.random_output_len == 0 {
        return Err("--random-output-len '0' must be at least 1".into());
    }
    if load.sharegpt_output_len == Some(0) {
        return Err("--sharegpt-output-len '0' must be at least 1".into());
    }
    let name = match load.dataset {
        Dataset::Random => {
            if load.random_input_len == 0 {
                return Err("--random-input-len '0' must be at least 1".into());
            }
            if let Some(p) = &load.dataset_path {
                return Err(format!(
                    "--dataset-path '{}' is read only by --dataset-name sharegpt or custom: \
                     add one of them, or drop --dataset-path for random prompts",
                    p.display()
                ));
            }
            return Ok(());
        }
        Dataset::Sharegpt => "sharegpt",
        Dataset::Custom => "custom",
    };
    let Some(path) = &load.dataset_path else {
        let what = if name == "sharegpt" {
            "a ShareGPT JSON file"
        } else {
            "a JSONL file with one {\"prompt\": ...} per line"
        };
        return Err(format!(
            "--dataset-name {name} needs --dataset-path FILE ({what})"
        ));
    };
    check_path(path)
}

fn check_path(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        Err(format!(
            "--dataset-path '{}' is a directory: name the file itself",
            path.display()
        ))
    } else if !path.exists() {
        Err(format!(
            "--dataset-path '{}' does not exist",
            path.display()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
