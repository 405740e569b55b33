//! Other code's writes to file descriptor 2, kept out of ours.
//!
//! C libraries print to stderr on their own: Debian's librocm_smi64 writes "Failed to open drm
//! root directory /sys/class/drm.: No such file or directory" and "Exception caught: rsmi_init."
//! from `rsmi_init` on every machine without an AMD GPU. [`hold`] points descriptor 2 at an
//! unlinked temporary file for one call and hands back what was written, so the caller can turn
//! it into one line of its own (`tokscope gpu`'s reason a backend is absent) instead of the
//! library's text landing in `bench`'s or `check`'s output.
//!
//! Descriptor 2 is the whole process's: while it is held, other threads' stderr goes to the
//! file too (at most a progress-bar frame; the hold lasts as long as the call, milliseconds).
//! Every redirection of descriptor 2 (this and the dashboard's `tui::stderr_capture`) takes
//! [`lock`], so two of them never interleave and leave it pointing at a closed file. Unix only;
//! elsewhere `hold` just runs the call.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Most bytes of held text kept (the end): enough for any library's complaint.
const KEEP: u64 = 4096;

static LOCK: Mutex<()> = Mutex::new(());

/// Serialises every redirection of descriptor 2.
pub(crate) fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// [`lock`] for a panic hook: tries for 100 ms, then goes on without it (the thread holding
/// it may be the one panicking).
pub(crate) fn lock_briefly() -> Option<MutexGuard<'static, ()>> {
    let until = Instant::now() + Duration::from_millis(100);
    loop {
        match LOCK.try_lock() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

/// Run `f` with descriptor 2 pointed at a temporary file; its result and what was written
/// meanwhile (the last 4 KiB, lossy UTF-8). When the file cannot be made, `f` runs as is.
pub fn hold<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[cfg(unix)]
    {
        use std::io::{Read, Seek, SeekFrom};
        let _g = lock();
        let Some((mut file, saved)) = fd::capture_file()
            .ok()
            .and_then(|file| fd::redirect(&file).map(|saved| (file, saved)))
        else {
            return (f(), String::new());
        };
        let out = f();
        fd::restore(saved);
        let len = file.seek(SeekFrom::End(0)).unwrap_or(0);
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(len.saturating_sub(KEEP))).is_ok() {
            let _ = file.read_to_end(&mut bytes);
        }
        (out, String::from_utf8_lossy(&bytes).into_owned())
    }
    #[cfg(not(unix))]
    {
        (f(), String::new())
    }
}

/// Held text as one line: its non-empty lines joined with "; ", control characters out,
/// at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let clean = crate::protocol::sanitize::line(&joined);
    if clean.chars().count() <= max {
        clean.into_owned()
    } else {
        format!("{}...", clean.chars().take(max).collect::<String>())
    }
}

/// The descriptor calls, shared with the dashboard's capture.
#[cfg(unix)]
pub(crate) mod fd {
    use std::fs::File;
    use std::os::fd::AsRawFd;

    const STDERR: i32 = 2;

    /// A new, already unlinked file in the temp directory (the open descriptor keeps it
    /// alive; nothing is left behind).
    pub(crate) fn capture_file() -> std::io::Result<File> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "tokscope-stderr-{}-{stamp}.log",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let _ = std::fs::remove_file(&path);
        Ok(file)
    }

    /// Point descriptor 2 at `file`; the descriptor it pointed at before, to [`restore`].
    /// `None` (and stderr untouched) when the system refuses.
    pub(crate) fn redirect(file: &File) -> Option<i32> {
        // SAFETY: plain descriptor calls on a descriptor we own and on 2, which always
        // exists; a failure is a negative return and leaves stderr as it was.
        unsafe {
            let saved = libc::dup(STDERR);
            if saved < 0 {
                return None;
            }
            if libc::dup2(file.as_raw_fd(), STDERR) < 0 {
                libc::close(saved);
                return None;
            }
            Some(saved)
        }
    }

    /// Put `saved` (from [`redirect`]) back on descriptor 2 and close the copy.
    pub(crate) fn restore(saved: i32) {
        // SAFETY: `saved` is the descriptor `redirect` duplicated and nobody else closes it.
        unsafe {
            libc::dup2(saved, STDERR);
            libc::close(saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_text_becomes_one_clean_line() {
        let said = "Failed to open drm root directory /sys/class/drm.: No such file or directory\n\
                    Exception caught: rsmi_init.\n\n";
        assert_eq!(
            one_line(said, 200),
            "Failed to open drm root directory /sys/class/drm.: No such file or directory; \
             Exception caught: rsmi_init."
        );
        assert_eq!(one_line("a\x1b[31mb\n", 200), "a^[[31mb");
        assert_eq!(one_line("abcdef", 3), "abc...");
        assert_eq!(one_line("\n \n", 10), "");
    }
}
