//! The `random` dataset: prompts of a target token length drawn from the embedded corpus.
//!
//! Rules, as `vllm bench serve --dataset-name random` where it has one:
//! - input and output lengths are uniform integers in [L(1-r), L(1+r)] (at least 1);
//! - `--random-prefix-len` tokens of one shared prefix precede every prompt, so a prompt holds
//!   prefix + sampled input tokens;
//! - prompt `i` (counting from 0) is English when `i` is even and Chinese when odd; the prefix is
//!   English. With a tokenizer each prompt is exact; without one, the estimate decides.
//! - with a tokenizer: take N corpus token ids, decode, re-encode the whole prompt, and trim or
//!   extend the ids until the count is exact (at most a few rounds; a prompt that still misses
//!   is sent with its true count and counted in `mismatched`).

use super::corpus::{Corpus, Lang};
use super::tokens::{ExactTokenizer, TokenCounter};
use super::Prompt;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Rounds of decode / re-encode / adjust before a prompt is accepted as it is.
const MAX_ADJUST_ROUNDS: usize = 6;

/// Settings of the random dataset (validated by `workload::build`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomConfig {
    pub input_len: u32,
    pub output_len: u32,
    pub range_ratio: f64,
    pub prefix_len: u32,
    pub seed: u64,
}

/// Each corpus sentence as token ids, English ones with their leading joiner, so that ids of
/// consecutive sentences decode to joined text.
#[derive(Debug)]
struct SentenceIds {
    en: Vec<Vec<u32>>,
    zh: Vec<Vec<u32>>,
}

impl SentenceIds {
    fn new(tok: &ExactTokenizer) -> Self {
        let encode = |lang: Lang| -> Vec<Vec<u32>> {
            let j = lang.joiner();
            Corpus::get(lang)
                .sentences()
                .iter()
                .filter_map(|s| tok.encode(&format!("{j}{s}")))
                .filter(|ids| !ids.is_empty())
                .collect()
        };
        SentenceIds {
            en: encode(Lang::En),
            zh: encode(Lang::Zh),
        }
    }

    fn get(&self, lang: Lang) -> &[Vec<u32>] {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }
}

/// The random dataset's state: its generator, shared prefix and counters.
#[derive(Debug)]
pub struct RandomDataset {
    cfg: RandomConfig,
    rng: StdRng,
    produced: u64,
    prefix: String,
    /// Exact with a tokenizer; otherwise the estimate when the prefix was made.
    prefix_tokens: u32,
    ids: Option<SentenceIds>,
    mismatched: u64,
}

impl RandomDataset {
    /// Build the shared prefix now (and the tokenized corpus when `counter` has a tokenizer).
    pub fn new(cfg: RandomConfig, counter: &TokenCounter) -> Self {
        let mut ds = RandomDataset {
            cfg,
            rng: StdRng::seed_from_u64(cfg.seed),
            produced: 0,
            prefix: String::new(),
            prefix_tokens: 0,
            ids: counter.exact.as_ref().map(SentenceIds::new),
            mismatched: 0,
        };
        if cfg.prefix_len > 0 {
            let (text, tokens) = ds.body(counter, Lang::En, cfg.prefix_len);
            ds.prefix = text;
            ds.prefix_tokens = tokens;
            // A prefix that missed its length is not a per-prompt mismatch.
            ds.mismatched = 0;
        }
        ds
    }

    /// The shared prefix (empty without `--random-prefix-len`).
    #[cfg(test)]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Prompts whose exact token count still missed the target after adjusting.
    pub fn mismatched(&self) -> u64 {
        self.mismatched
    }

    /// The next prompt.
    pub fn next_prompt(&mut self, counter: &TokenCounter) -> Prompt {
        let lang = if self.produced % 2 == 0 {
            Lang::En
        } else {
            Lang::Zh
        };
        self.produced += 1;
        let input = sample_len(&mut self.rng, self.cfg.input_len, self.cfg.range_ratio);
        let output_len = sample_len(&mut self.rng, self.cfg.output_len, self.cfg.range_ratio);
        let (text, tokens) = self.body(counter, lang, input);
        let exact = self.ids.is_some() && counter.exact.is_some();
        Prompt {
            text,
            prompt_tokens: exact.then_some(tokens),
            est_tokens: tokens,
            output_len,
        }
    }

    /// The shared prefix followed by `n` tokens of `lang`: the text and its token count (exact
    /// with a tokenizer, estimated otherwise).
    fn body(&mut self, counter: &TokenCounter, lang: Lang, n: u32) -> (String, u32) {
        if let (Some(tok), Some(_)) = (counter.exact.as_ref(), self.ids.as_ref()) {
            if let Some(done) = self.exact_body(tok, lang, n) {
                return done;
            }
        }
        let chars = counter.estimator.chars_for(lang, n).max(1);
        let mut text = String::with_capacity(self.prefix.len() + chars * 3);
        text.push_str(&self.prefix);
        Corpus::get(lang).fill(&mut self.rng, chars, &mut text);
        let tokens = counter.estimator.estimate(&text);
        (text, tokens)
    }

    /// Exactly `prefix_tokens + n` tokens, or the closest found in a few rounds. `None` when the
    /// tokenizer fails to decode or encode (the caller falls back to the estimate).
    fn exact_body(&mut self, tok: &ExactTokenizer, lang: Lang, n: u32) -> Option<(String, u32)> {
        let target = self.prefix_tokens + n;
        let mut ids = Vec::with_capacity(n as usize + 8);
        self.push_ids(lang, n as usize, &mut ids);
        let mut best: Option<(String, u32)> = None;
        for _ in 0..MAX_ADJUST_ROUNDS {
            let mut text = self.prefix.clone();
            text.push_str(&tok.decode(&ids)?);
            let got = tok.count(&text)?;
            if got == target {
                return Some((text, got));
            }
            let len = ids.len();
            best = Some((text, got));
            if got > target {
                let keep = len.saturating_sub((got - target) as usize).max(1);
                if keep == len {
                    break; // one id already holds more than the target: nothing to trim
                }
                ids.truncate(keep);
            } else {
                self.push_ids(lang, (target - got) as usize, &mut ids);
            }
        }
        self.mismatched += 1;
        best
    }

    /// Append `k` ids taken from randomly drawn sentences of `lang`.
    fn push_ids(&mut self, lang: Lang, k: usize, ids: &mut Vec<u32>) {
        let Some(all) = self.ids.as_ref() else {
            return;
        };
        let sentences = all.get(lang);
        if sentences.is_empty() {
            return;
        }
        let want = ids.len() + k;
        while ids.len() < want {
            let s = &sentences[self.rng.random_range(0..sentences.len())];
            let take = s.len().min(want - ids.len());
            ids.extend_from_slice(&s[..take]);
        }
    }
}

/// A length uniform in [L(1-r), L(1+r)], never below 1 (vLLM's rule, both ends included).
pub fn sample_len(rng: &mut impl Rng, len: u32, ratio: f64) -> u32 {
    if ratio <= 0.0 {
        return len.max(1);
    }
    let lo = (f64::from(len) * (1.0 - ratio)).floor().max(1.0) as u32;
    let hi = ((f64::from(len) * (1.0 + ratio)).floor() as u32).max(lo);
    rng.random_range(lo..=hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::workload::tokens::{Estimator, ExactTokenizer};
    use rstest::rstest;
    use std::path::{Path, PathBuf};
    use tokenizers::models::bpe::{BpeTrainer, BPE};
    use tokenizers::models::TrainerWrapper;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;

    fn cfg(input_len: u32, output_len: u32, range_ratio: f64, prefix_len: u32) -> RandomConfig {
        RandomConfig {
            input_len,
            output_len,
            range_ratio,
            prefix_len,
            seed: 42,
        }
    }

    /// A byte-level BPE trained on the corpus itself, saved as tokenizer.json: its merges cut
    /// words and characters, so decode / re-encode really does change counts.
    pub(crate) fn trained_bpe(dir: &Path) -> PathBuf {
        let mut tok = tokenizers::Tokenizer::new(BPE::default());
        tok.with_pre_tokenizer(Some(ByteLevel::default()));
        tok.with_decoder(Some(ByteLevel::default()));
        let mut trainer: TrainerWrapper = BpeTrainer::builder()
            .vocab_size(1500)
            .show_progress(false)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        let text: Vec<&str> = [Lang::En, Lang::Zh]
            .iter()
            .flat_map(|&l| Corpus::get(l).sentences().iter().copied())
            .collect();
        tok.train(&mut trainer, text.into_iter()).unwrap();
        let path = dir.join("tokenizer.json");
        tok.save(&path, false).unwrap();
        path
    }

    fn exact_counter(dir: &Path) -> TokenCounter {
        TokenCounter {
            exact: Some(ExactTokenizer::load(&trained_bpe(dir)).unwrap()),
            estimator: Estimator::default(),
        }
    }

    #[rstest]
    #[case(100, 0.0, 100, 100)]
    #[case(100, 0.5, 50, 150)]
    #[case(10, 0.99, 1, 19)]
    #[case(1, 0.5, 1, 1)]
    fn sample_len_stays_in_range(
        #[case] len: u32,
        #[case] r: f64,
        #[case] lo: u32,
        #[case] hi: u32,
    ) {
        let mut rng = StdRng::seed_from_u64(3);
        let draws: Vec<u32> = (0..2000).map(|_| sample_len(&mut rng, len, r)).collect();
        assert!(draws.iter().all(|d| (lo..=hi).contains(d)), "{draws:?}");
        // Both ends are reached: the range is really used.
        assert_eq!(draws.iter().min(), Some(&lo));
        assert_eq!(draws.iter().max(), Some(&hi));
    }

    #[test]
    fn estimated_prompts_alternate_languages_and_hit_the_estimate() {
        let counter = TokenCounter::default();
        let mut ds = RandomDataset::new(cfg(500, 64, 0.0, 0), &counter);
        let p: Vec<Prompt> = (0..4).map(|_| ds.next_prompt(&counter)).collect();
        for (i, p) in p.iter().enumerate() {
            assert_eq!(p.prompt_tokens, None);
            assert_eq!(p.output_len, 64);
            assert!(p.est_tokens.abs_diff(500) <= 1, "{}", p.est_tokens);
            let cjk = p.text.chars().filter(|&c| super::super::corpus::is_cjk(c));
            assert_eq!(cjk.count() > 0, i % 2 == 1, "prompt {i}");
        }
        assert_eq!(p[0].text.chars().count(), 2000);
        assert_eq!(p[1].text.chars().count(), 750);
    }

    #[test]
    fn same_seed_same_prompts_and_all_distinct() {
        let counter = TokenCounter::default();
        let mut a = RandomDataset::new(cfg(200, 10, 0.3, 0), &counter);
        let mut b = RandomDataset::new(cfg(200, 10, 0.3, 0), &counter);
        let pa: Vec<Prompt> = (0..200).map(|_| a.next_prompt(&counter)).collect();
        let pb: Vec<Prompt> = (0..200).map(|_| b.next_prompt(&counter)).collect();
        assert_eq!(pa, pb);
        let mut texts: Vec<&str> = pa.iter().map(|p| p.text.as_str()).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), 200);
        // Openings differ too, so a prefix cache shares at most a sentence.
        let mut heads: Vec<String> = pa
            .iter()
            .map(|p| p.text.chars().take(60).collect())
            .collect();
        heads.sort();
        heads.dedup();
        assert!(heads.len() > 150, "{}", heads.len());
    }

    #[test]
    fn prefix_is_shared_and_counted() {
        let counter = TokenCounter::default();
        let mut ds = RandomDataset::new(cfg(100, 10, 0.0, 50), &counter);
        let prefix = ds.prefix().to_string();
        assert_eq!(prefix.chars().count(), 200);
        for _ in 0..6 {
            let p = ds.next_prompt(&counter);
            assert!(p.text.starts_with(&prefix));
            assert!(p.est_tokens.abs_diff(150) <= 1, "{}", p.est_tokens);
        }
    }

    #[test]
    fn calibration_changes_later_prompt_sizes() {
        let mut counter = TokenCounter::default();
        let mut ds = RandomDataset::new(cfg(1000, 10, 0.0, 0), &counter);
        let first = ds.next_prompt(&counter);
        // The server says our English text is 25% longer in tokens than estimated.
        counter.estimator.calibrate(&first.text, 1250);
        ds.produced = 0; // English again
        let second = ds.next_prompt(&counter);
        assert_eq!(second.text.chars().count(), 3200);
        assert!(second.est_tokens.abs_diff(1000) <= 1);
    }

    #[rstest]
    #[case(1, 0)]
    #[case(7, 0)]
    #[case(128, 0)]
    #[case(1024, 0)]
    #[case(300, 37)]
    fn tokenizer_gives_exact_lengths(#[case] input: u32, #[case] prefix: u32) {
        let dir = tempfile::tempdir().unwrap();
        let counter = exact_counter(dir.path());
        let tok = counter.exact.as_ref().unwrap();
        let mut ds = RandomDataset::new(cfg(input, 16, 0.0, prefix), &counter);
        if prefix > 0 {
            assert_eq!(tok.count(ds.prefix()), Some(prefix));
        }
        for _ in 0..20 {
            let p = ds.next_prompt(&counter);
            let real = tok.count(&p.text).unwrap();
            assert_eq!(
                p.prompt_tokens,
                Some(real),
                "reported count is the true one"
            );
            assert_eq!(p.est_tokens, real);
            if ds.mismatched() == 0 {
                assert_eq!(real, input + prefix);
            }
        }
        // A trained BPE may, rarely, fail to hit a length: never more than a few in 20.
        assert!(ds.mismatched() <= 2, "{}", ds.mismatched());
    }
}
