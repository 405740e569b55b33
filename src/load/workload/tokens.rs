//! Prompt token counts: exact through a local tokenizer.json, or estimated from characters and
//! calibrated against what the server reports.
//!
//! The estimate counts CJK characters and other characters apart, at 1.5 and 4.0 characters per
//! token to start with (typical of the BPE vocabularies of Llama 3 and Qwen: English prose runs
//! 3.5-4.5 chars/token, Chinese 1.2-1.8). Each language then gets a correction factor learnt
//! from `calibrate`: the server's prompt token count divided by our raw estimate, summed over
//! every calibration so far. A text mixing both languages shares the server's count between them
//! in proportion to their raw estimates.

use super::corpus::{is_cjk, Lang};
use std::path::{Path, PathBuf};

/// Starting characters per token of non-CJK text.
pub const EN_CHARS_PER_TOKEN: f64 = 4.0;
/// Starting characters per token of CJK text.
pub const ZH_CHARS_PER_TOKEN: f64 = 1.5;

/// Correction factors are kept in this band, so one absurd server answer cannot make prompts
/// ten times too long or empty.
const FACTOR_RANGE: (f64, f64) = (0.2, 5.0);

#[derive(Debug, Clone, Copy)]
struct LangCalibration {
    base_chars_per_token: f64,
    sum_raw: f64,
    sum_server: f64,
}

impl LangCalibration {
    fn new(base_chars_per_token: f64) -> Self {
        LangCalibration {
            base_chars_per_token,
            sum_raw: 0.0,
            sum_server: 0.0,
        }
    }

    fn factor(&self) -> f64 {
        if self.sum_raw > 0.0 {
            (self.sum_server / self.sum_raw).clamp(FACTOR_RANGE.0, FACTOR_RANGE.1)
        } else {
            1.0
        }
    }
}

/// Characters-per-token estimator with per-language calibration.
#[derive(Debug, Clone)]
pub struct Estimator {
    en: LangCalibration,
    zh: LangCalibration,
    calibrations: u64,
}

impl Default for Estimator {
    fn default() -> Self {
        Estimator {
            en: LangCalibration::new(EN_CHARS_PER_TOKEN),
            zh: LangCalibration::new(ZH_CHARS_PER_TOKEN),
            calibrations: 0,
        }
    }
}

impl Estimator {
    fn lang(&self, lang: Lang) -> &LangCalibration {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }

    /// Uncalibrated token estimates of the non-CJK and CJK parts of `text`.
    fn raw(&self, text: &str) -> (f64, f64) {
        let (mut other, mut cjk) = (0usize, 0usize);
        for c in text.chars() {
            if is_cjk(c) {
                cjk += 1;
            } else {
                other += 1;
            }
        }
        (
            other as f64 / self.en.base_chars_per_token,
            cjk as f64 / self.zh.base_chars_per_token,
        )
    }

    /// Estimated tokens of `text` (at least 1 for non-empty text).
    pub fn estimate(&self, text: &str) -> u32 {
        let (en, zh) = self.raw(text);
        let t = en * self.en.factor() + zh * self.zh.factor();
        if text.is_empty() {
            0
        } else {
            (t.round() as u32).max(1)
        }
    }

    /// Characters of `lang` text expected to make `tokens` tokens.
    pub fn chars_for(&self, lang: Lang, tokens: u32) -> usize {
        let l = self.lang(lang);
        (f64::from(tokens) * l.base_chars_per_token / l.factor()).round() as usize
    }

    /// Learn from the server: `text` was sent and the server counted `server_tokens` for it.
    /// A zero count (a server that reports none) is ignored.
    pub fn calibrate(&mut self, text: &str, server_tokens: u32) {
        let (en, zh) = self.raw(text);
        let total = en + zh;
        if server_tokens == 0 || total <= 0.0 {
            return;
        }
        let server = f64::from(server_tokens);
        self.en.sum_raw += en;
        self.en.sum_server += server * en / total;
        self.zh.sum_raw += zh;
        self.zh.sum_server += server * zh / total;
        self.calibrations += 1;
    }

    /// How many calibrations were fed in.
    pub fn calibrations(&self) -> u64 {
        self.calibrations
    }

    /// Current characters per token of `lang`, after calibration.
    pub fn chars_per_token(&self, lang: Lang) -> f64 {
        let l = self.lang(lang);
        l.base_chars_per_token / l.factor()
    }
}

/// A Hugging Face tokenizer.json, loaded from a file or a model directory.
pub struct ExactTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for ExactTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactTokenizer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ExactTokenizer {
    /// Load `path`: a tokenizer.json, or a directory that holds one. Errors name `--tokenizer`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let file = if path.is_dir() {
            let f = path.join("tokenizer.json");
            if !f.is_file() {
                return Err(format!(
                    "--tokenizer '{shown}' is a directory without a tokenizer.json: \
                     name the file itself or a model directory that has one"
                ));
            }
            f
        } else if path.is_file() {
            path.to_path_buf()
        } else {
            return Err(format!("--tokenizer '{shown}' does not exist"));
        };
        let inner = tokenizers::Tokenizer::from_file(&file).map_err(|e| {
            format!(
                "--tokenizer '{}' is not a tokenizer.json this build can read ({e}): \
                 pass a Hugging Face tokenizer.json, or leave --tokenizer out to estimate lengths",
                file.display()
            )
        })?;
        Ok(ExactTokenizer { inner, path: file })
    }

    /// The tokenizer.json actually read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Token ids of `text`, without special tokens (the chat template adds its own).
    pub fn encode(&self, text: &str) -> Option<Vec<u32>> {
        self.inner
            .encode_fast(text, false)
            .ok()
            .map(|e| e.get_ids().to_vec())
    }

    /// Number of tokens of `text`, without special tokens.
    pub fn count(&self, text: &str) -> Option<u32> {
        self.inner
            .encode_fast(text, false)
            .ok()
            .map(|e| e.len() as u32)
    }

    /// Text of `ids`, special tokens kept (corpus ids hold none).
    pub fn decode(&self, ids: &[u32]) -> Option<String> {
        self.inner.decode(ids, false).ok()
    }
}

/// What counts prompt tokens for a workload: the tokenizer when one was given, else the estimator.
#[derive(Debug, Default)]
pub struct TokenCounter {
    pub exact: Option<ExactTokenizer>,
    pub estimator: Estimator,
}

impl TokenCounter {
    /// `(estimate, exact)` tokens of `text`: with a tokenizer both are the exact count.
    pub fn count(&self, text: &str) -> (u32, Option<u32>) {
        match self.exact.as_ref().and_then(|t| t.count(text)) {
            Some(n) => (n, Some(n)),
            None => (self.estimator.estimate(text), None),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rstest::rstest;
    use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
    use tokenizers::models::TrainerWrapper;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;
    use tokenizers::AddedToken;

    /// A word-level tokenizer (whitespace and punctuation split) trained on `texts`, with
    /// '<unk>' for anything else, saved as tokenizer.json in `dir`. Decoding joins words with
    /// spaces, and re-encoding gives the same words back: exact, small and fast.
    pub(crate) fn word_level_tokenizer(dir: &Path, texts: &[&str]) -> PathBuf {
        let mut tok = tokenizers::Tokenizer::new(WordLevel::default());
        tok.with_pre_tokenizer(Some(Whitespace {}));
        let mut trainer: TrainerWrapper = WordLevelTrainer::builder()
            .vocab_size(1_000_000)
            .special_tokens(vec![AddedToken::from("<unk>", true)])
            .build()
            .expect("word-level trainer")
            .into();
        tok.train(&mut trainer, texts.iter().copied())
            .expect("train word-level tokenizer");
        let path = dir.join("tokenizer.json");
        tok.save(&path, false).expect("save tokenizer");
        path
    }

    #[rstest]
    #[case("", 0)]
    #[case("abcd", 1)]
    #[case("abcdefgh", 2)]
    #[case("a", 1)] // never 0 for non-empty text
    #[case("中文测试", 3)] // 4 / 1.5 = 2.67
    #[case("abcdefgh中文", 3)] // 2 + 1.33
    fn estimate_uncalibrated(#[case] text: &str, #[case] want: u32) {
        assert_eq!(Estimator::default().estimate(text), want);
    }

    #[test]
    fn calibration_scales_each_language_apart() {
        let mut e = Estimator::default();
        let en = "x".repeat(400); // raw 100
        let zh = "中".repeat(150); // raw 100
        e.calibrate(&en, 130);
        e.calibrate(&zh, 80);
        assert_eq!(e.estimate(&en), 130);
        assert_eq!(e.estimate(&zh), 80);
        assert_eq!(e.calibrations(), 2);
        assert_eq!(e.chars_for(Lang::En, 130), 400);
        assert_eq!(e.chars_for(Lang::Zh, 80), 150);
        assert!((e.chars_per_token(Lang::En) - 4.0 / 1.3).abs() < 1e-9);
    }

    #[test]
    fn calibration_averages_and_ignores_zero() {
        let mut e = Estimator::default();
        let en = "x".repeat(400);
        e.calibrate(&en, 120);
        e.calibrate(&en, 0); // ignored
        e.calibrate("", 50); // ignored
        e.calibrate(&en, 80);
        assert_eq!(e.estimate(&en), 100);
        assert_eq!(e.calibrations(), 2);
    }

    #[test]
    fn calibration_factor_is_bounded() {
        let mut e = Estimator::default();
        e.calibrate(&"x".repeat(400), 1_000_000);
        assert_eq!(e.estimate(&"x".repeat(400)), 500);
    }

    #[rstest]
    #[case::missing(
        "no/such/tokenizer.json",
        "--tokenizer 'no/such/tokenizer.json' does not exist"
    )]
    fn load_errors(#[case] path: &str, #[case] want: &str) {
        let err = ExactTokenizer::load(Path::new(path)).unwrap_err();
        assert_eq!(err, want);
    }

    #[test]
    fn load_error_for_directory_without_tokenizer_and_for_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let err = ExactTokenizer::load(dir.path()).unwrap_err();
        assert!(
            err.contains("is a directory without a tokenizer.json"),
            "{err}"
        );
        let bad = dir.path().join("tok.json");
        std::fs::write(&bad, "{\"not\": \"a tokenizer\"}").unwrap();
        let err = ExactTokenizer::load(&bad).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "--tokenizer '{}' is not a tokenizer.json",
                bad.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn loads_a_file_or_its_directory_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let file = word_level_tokenizer(dir.path(), &["hello world."]);
        for p in [file.as_path(), dir.path()] {
            let t = ExactTokenizer::load(p).unwrap();
            assert_eq!(t.path(), file.as_path());
            assert_eq!(t.count("hello world."), Some(3));
            assert_eq!(t.count("hello unknown"), Some(2));
            let ids = t.encode("world hello").unwrap();
            assert_eq!(ids.len(), 2);
            assert_eq!(t.decode(&ids).as_deref(), Some("world hello"));
        }
    }
}
