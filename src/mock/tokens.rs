//! The simulator's deterministic token model: how many tokens a prompt has, and their ids.
//!
//! Rule: every maximal run of non-whitespace characters that are not CJK is one token, and every
//! CJK character (ideographs, kana, Hangul syllables, CJK and full-width punctuation) is one token
//! on its own. So `"hello world"` is 2 tokens, `"你好 world"` is 3 and `"abc你好def"` is 4.
//! `/tokenize` and `usage.prompt_tokens` both use [`count`], so they always agree.

/// Whether `c` counts as one token on its own (see the module doc).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F   // CJK symbols and punctuation
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0xFF00..=0xFFEF // half-width and full-width forms
        | 0x20000..=0x2FA1F // extensions B..F and compatibility supplement
    )
}

/// Calls `f` with each token of `text`, in order.
fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let cjk = is_cjk(c);
        if c.is_whitespace() || cjk {
            if let Some(s) = start.take() {
                f(&text[s..i]);
            }
            if cjk {
                f(&text[i..i + c.len_utf8()]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        f(&text[s..]);
    }
}

/// Number of tokens in `text` under the module's rule.
pub fn count(text: &str) -> u32 {
    let mut n = 0u32;
    for_each_token(text, |_| n = n.saturating_add(1));
    n
}

/// Vocabulary size the fake ids are reduced into (Qwen's, for realistic-looking numbers).
const VOCAB: u64 = 151_936;

/// Token ids of `text`: a stable FNV-1a hash of each token's text, so equal words get equal ids.
pub fn ids(text: &str, out: &mut Vec<u32>) {
    for_each_token(text, |tok| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in tok.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // The remainder is below VOCAB, which fits in u32.
        out.push((h % VOCAB) as u32);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_documented_rule() {
        let cases: &[(&str, u32)] = &[
            ("", 0),
            ("   \n\t ", 0),
            ("hello", 1),
            ("hello world", 2),
            ("  hello   world  ", 2),
            ("a,b c.", 2),
            ("你好", 2),
            ("你好 world", 3),
            ("abc你好def", 4),
            ("こんにちは", 5),
            ("안녕", 2),
            ("你好，世界。", 6),
            ("tok tok tok ", 3),
            ("émigré café", 2),
        ];
        for (text, want) in cases {
            assert_eq!(count(text), *want, "count({text:?})");
        }
    }

    #[test]
    fn ids_match_count_and_are_stable() {
        let mut a = Vec::new();
        ids("the cat 你 the", &mut a);
        assert_eq!(a.len() as u32, count("the cat 你 the"));
        assert_eq!(a[0], a[3], "equal words get equal ids");
        assert_ne!(a[0], a[1]);
        assert!(a.iter().all(|&id| u64::from(id) < VOCAB));
    }
}
