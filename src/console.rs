//! Printing that never panics, and numbers shown as typed. `print!` and `eprintln!` panic when the write fails, and at the
//! end of a dashboard run the terminal may be gone (the SSH link dropped, the tmux session was
//! killed): the result must still be written and the process must still exit cleanly.

use std::io::Write as _;

/// Write `text` to standard output as it is; a failed write is ignored.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Write one line to standard error; a failed write is ignored.
pub fn err_line(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.write_all(b"\n");
}

/// A number as the user would have typed it in a flag: `1e-300`, not three hundred zeros.
pub fn number(v: f64) -> String {
    let plain = v.to_string();
    if plain.len() > 20 {
        format!("{v:e}")
    } else {
        plain
    }
}
