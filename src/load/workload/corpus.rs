//! The embedded prompt corpus: original English and Chinese prose, split into sentences once.
//!
//! Random prompts are built by drawing sentences at random (not one contiguous slice): two prompts
//! then share at most their first sentence, so a server's prefix cache cannot turn the benchmark
//! into a cache test even over tens of thousands of prompts.

use rand::Rng;
use std::sync::OnceLock;

static EN_TEXT: &str = include_str!("../../../assets/corpus/en.txt");
static ZH_TEXT: &str = include_str!("../../../assets/corpus/zh.txt");

/// The language of a corpus (and of a random prompt's body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// Written between two sentences of this language.
    pub fn joiner(self) -> &'static str {
        match self {
            Lang::En => " ",
            Lang::Zh => "",
        }
    }
}

/// One language's sentences, each a slice of the embedded text.
#[derive(Debug)]
pub struct Corpus {
    pub lang: Lang,
    sentences: Vec<&'static str>,
    /// Characters (not bytes) of each sentence, so filling to a char budget needs no rescan.
    chars: Vec<usize>,
}

impl Corpus {
    /// The shared, lazily split corpus of `lang`.
    pub fn get(lang: Lang) -> &'static Corpus {
        static EN: OnceLock<Corpus> = OnceLock::new();
        static ZH: OnceLock<Corpus> = OnceLock::new();
        match lang {
            Lang::En => EN.get_or_init(|| Corpus::split(Lang::En, EN_TEXT)),
            Lang::Zh => ZH.get_or_init(|| Corpus::split(Lang::Zh, ZH_TEXT)),
        }
    }

    fn split(lang: Lang, text: &'static str) -> Corpus {
        let ends: &[char] = match lang {
            Lang::En => &['.', '?', '!'],
            Lang::Zh => &['。', '！', '？'],
        };
        let mut sentences = Vec::new();
        let mut start = 0;
        let mut iter = text.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            let next = iter.peek().map(|&(_, n)| n);
            // English needs whitespace after the mark ("3.5" or "e.g." inside a word is no end).
            let is_end = c == '\n'
                || (ends.contains(&c)
                    && (lang == Lang::Zh || next.is_none_or(char::is_whitespace)));
            if is_end {
                let end = i + c.len_utf8();
                let s = text[start..end].trim();
                if !s.is_empty() {
                    sentences.push(s);
                }
                start = end;
            }
        }
        let rest = text[start..].trim();
        if !rest.is_empty() {
            sentences.push(rest);
        }
        let chars = sentences.iter().map(|s| s.chars().count()).collect();
        Corpus {
            lang,
            sentences,
            chars,
        }
    }

    /// All sentences, in corpus order.
    pub fn sentences(&self) -> &[&'static str] {
        &self.sentences
    }

    /// A sentence index drawn uniformly.
    pub fn pick(&self, rng: &mut impl Rng) -> usize {
        rng.random_range(0..self.sentences.len())
    }

    /// Append random sentences to `out` until exactly `budget` more characters were written
    /// (the last sentence is cut). A joiner goes before each sentence when `out` is not empty.
    pub fn fill(&self, rng: &mut impl Rng, budget: usize, out: &mut String) {
        let joiner = self.lang.joiner();
        let mut left = budget;
        while left > 0 {
            if !out.is_empty() && !joiner.is_empty() {
                out.push_str(joiner);
                left -= 1; // the joiner is one ASCII char
                if left == 0 {
                    break;
                }
            }
            let i = self.pick(rng);
            let (s, n) = (self.sentences[i], self.chars[i]);
            if n <= left {
                out.push_str(s);
                left -= n;
            } else {
                let cut = s.char_indices().nth(left).map_or(s.len(), |(b, _)| b);
                out.push_str(&s[..cut]);
                left = 0;
            }
        }
    }
}

/// True for characters that tokenizers treat like Chinese: CJK ideographs and punctuation, kana,
/// Hangul, full-width forms. Used to estimate tokens of text whose language is not known.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{2E80}'..='\u{9FFF}'
        | '\u{AC00}'..='\u{D7AF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FE30}'..='\u{FE4F}'
        | '\u{FF00}'..='\u{FFEF}'
        | '\u{20000}'..='\u{3134F}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use rstest::rstest;

    #[rstest]
    #[case(Lang::En, 25_000, 40_000)]
    #[case(Lang::Zh, 25_000, 40_000)]
    fn corpus_is_sized_as_promised(#[case] lang: Lang, #[case] min: usize, #[case] max: usize) {
        let bytes = match lang {
            Lang::En => EN_TEXT.len(),
            Lang::Zh => ZH_TEXT.len(),
        };
        assert!((min..=max).contains(&bytes), "{lang:?}: {bytes} bytes");
        // Enough sentences that random draws rarely repeat a prompt's opening.
        let n = Corpus::get(lang).sentences().len();
        assert!(n > 200, "{n}");
    }

    #[test]
    fn english_sentences_end_with_a_mark_and_have_no_padding() {
        let c = Corpus::get(Lang::En);
        for s in c.sentences() {
            assert_eq!(s.trim(), *s);
            assert!(s.ends_with(['.', '?', '!']), "'{s}'");
        }
    }

    #[test]
    fn chinese_sentences_are_chinese() {
        let c = Corpus::get(Lang::Zh);
        for s in c.sentences() {
            let cjk = s.chars().filter(|&ch| is_cjk(ch)).count();
            assert!(cjk * 10 >= s.chars().count() * 9, "'{s}'");
        }
    }

    #[rstest]
    #[case(Lang::En, 1)]
    #[case(Lang::En, 7)]
    #[case(Lang::En, 5_000)]
    #[case(Lang::En, 100_000)] // more than the whole corpus: sentences repeat
    #[case(Lang::Zh, 1)]
    #[case(Lang::Zh, 333)]
    #[case(Lang::Zh, 60_000)]
    fn fill_writes_exactly_the_budget(#[case] lang: Lang, #[case] budget: usize) {
        let mut rng = StdRng::seed_from_u64(7);
        let mut out = String::new();
        Corpus::get(lang).fill(&mut rng, budget, &mut out);
        assert_eq!(out.chars().count(), budget);
        // Appending to existing text adds exactly the budget too (joiner included).
        let before = out.chars().count();
        Corpus::get(lang).fill(&mut rng, 50, &mut out);
        assert_eq!(out.chars().count(), before + 50);
    }

    #[test]
    fn fill_differs_between_draws() {
        let mut rng = StdRng::seed_from_u64(1);
        let c = Corpus::get(Lang::En);
        let texts: Vec<String> = (0..50)
            .map(|_| {
                let mut s = String::new();
                c.fill(&mut rng, 400, &mut s);
                s
            })
            .collect();
        let mut uniq = texts.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), texts.len());
    }

    #[rstest]
    #[case('a', false)]
    #[case(' ', false)]
    #[case('é', false)]
    #[case('中', true)]
    #[case('。', true)]
    #[case('，', true)]
    #[case('カ', true)]
    #[case('한', true)]
    fn cjk_classification(#[case] c: char, #[case] want: bool) {
        assert_eq!(is_cjk(c), want);
    }
}
