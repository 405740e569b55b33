//! Server-controlled text made safe to print on a terminal.
//!
//! A server decides model ids, error bodies, stream error messages, finish reasons, GPU names
//! on its `/metrics` page... Printed raw, `ESC ] 0 ; … BEL` retitles the user's terminal and
//! `ESC [ 2 J` clears it. Every such string is cleaned once, where it enters our data (the
//! request's error, the model list, remote GPU rows, `check`'s lines), so every face (bench,
//! check, the dashboard, result files) shows the same safe text.
//!
//! Control characters become caret notation (`ESC` is `^[`, `BEL` is `^G`, `DEL` is `^?`): visible,
//! harmless, and it shows the user what the server tried. C1 controls (U+0080..U+009F, which
//! some terminals read as `ESC` + a letter) and the bidirectional overrides that reorder text on
//! screen become U+FFFD. Line breaks and tabs become one space: these are one-line messages.

use std::borrow::Cow;

/// True for a character that must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character made visible and no line break; borrowed when `s` was
/// already clean (the usual case costs one scan and no allocation).
pub fn line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            c if unsafe_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`line`] for an owned string: returned as it is (no copy) when already clean.
pub fn line_owned(s: String) -> String {
    match line(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(clean) => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(line("\x1b]0;pwned\x07title"), "^[]0;pwned^Gtitle");
        assert_eq!(line("a\x1b[2Jb"), "a^[[2Jb");
        assert_eq!(line("nul\0del\x7f"), "nul^@del^?");
        assert_eq!(line("c1\u{9b}2J"), "c1\u{FFFD}2J");
        assert_eq!(line("bidi\u{202E}txt"), "bidi\u{FFFD}txt");
    }

    #[test]
    fn one_line_and_clean_text_untouched() {
        assert_eq!(line("two\r\nlines\tand tab"), "two  lines and tab");
        assert!(matches!(line("plain 你好 é"), Cow::Borrowed(_)));
        let s = String::from("Qwen/Qwen3-8B");
        let p = s.as_ptr();
        let back = line_owned(s);
        assert_eq!(back.as_ptr(), p, "no copy when clean");
    }

    #[test]
    fn output_never_holds_a_control_character() {
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        assert!(!line(&all).chars().any(unsafe_char));
    }
}
