//! Keeps other code's stderr off the dashboard. While the TUI owns the terminal, file
//! descriptor 2 points at an unlinked temporary file; when the terminal is restored (normally
//! or from the panic hook) the descriptor is put back and whatever was written is replayed, so
//! messages such as a GPU library's init errors are seen after the screen closes instead of
//! smearing it. Unix only; elsewhere these are no-ops.

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Mutex;

    // dup, dup2 and close are in the C library std already links on every Unix.
    extern "C" {
        fn dup(fd: i32) -> i32;
        fn dup2(src: i32, dst: i32) -> i32;
        fn close(fd: i32) -> i32;
    }

    const STDERR: i32 = 2;
    /// Most bytes replayed after the dashboard closes (the end is kept).
    const REPLAY_MAX: u64 = 64 * 1024;
    /// The terminal's stderr while it is redirected; -1 when not.
    static SAVED: AtomicI32 = AtomicI32::new(-1);
    static CAPTURE: Mutex<Option<File>> = Mutex::new(None);

    fn capture_file() -> std::io::Result<File> {
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
        // Unlinked at once: the open descriptor keeps it alive, nothing is left behind.
        let _ = std::fs::remove_file(&path);
        Ok(file)
    }

    pub fn start() {
        if SAVED.load(Ordering::SeqCst) >= 0 {
            return;
        }
        let Ok(file) = capture_file() else { return };
        // SAFETY: plain descriptor calls on descriptors we own or that always exist (2); a
        // failure is reported by a negative return and leaves stderr as it was.
        let saved = unsafe { dup(STDERR) };
        if saved < 0 {
            return;
        }
        if unsafe { dup2(file.as_raw_fd(), STDERR) } < 0 {
            unsafe { close(saved) };
            return;
        }
        if let Ok(mut slot) = CAPTURE.lock() {
            *slot = Some(file);
        }
        SAVED.store(saved, Ordering::SeqCst);
    }

    pub fn stop() -> usize {
        let saved = SAVED.swap(-1, Ordering::SeqCst);
        if saved < 0 {
            return 0;
        }
        // SAFETY: `saved` is the descriptor `start` duplicated; putting it back on 2 and
        // closing our copy is what undoes `start`.
        unsafe {
            dup2(saved, STDERR);
            close(saved);
        }
        // try_lock: this also runs in the panic hook, which must never wait.
        let file = CAPTURE.try_lock().ok().and_then(|mut slot| slot.take());
        if let Some(mut file) = file {
            let len = file.seek(SeekFrom::End(0)).unwrap_or(0);
            let from = len.saturating_sub(REPLAY_MAX);
            let mut text = Vec::new();
            if file.seek(SeekFrom::Start(from)).is_ok() && file.read_to_end(&mut text).is_ok() {
                let _ = std::io::stderr().write_all(&text);
                return text.len();
            }
        }
        0
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn start() {}
    pub fn stop() -> usize {
        0
    }
}

/// Point stderr at a temporary file until `stop`.
pub fn start() {
    imp::start();
}

/// Put stderr back and replay what was written meanwhile; returns the bytes replayed. Safe to
/// call more than once.
pub fn stop() -> usize {
    imp::stop()
}
