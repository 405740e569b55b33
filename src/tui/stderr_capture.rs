//! Keeps other code's stderr off the dashboard. While the TUI owns the terminal, file
//! descriptor 2 points at an unlinked temporary file; when the terminal is restored (normally
//! or from the panic hook) the descriptor is put back and whatever was written is replayed, so
//! messages such as a GPU library's init errors are seen after the screen closes instead of
//! smearing it. Unix only; elsewhere these are no-ops.

#[cfg(unix)]
mod imp {
    use crate::stderr_hold::{fd, lock, lock_briefly};
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Mutex;

    /// Most bytes replayed after the dashboard closes (the end is kept).
    const REPLAY_MAX: u64 = 64 * 1024;
    /// The terminal's stderr while it is redirected; -1 when not.
    static SAVED: AtomicI32 = AtomicI32::new(-1);
    static CAPTURE: Mutex<Option<File>> = Mutex::new(None);

    pub fn start() {
        // Never while another redirection (a GPU library's init) holds descriptor 2.
        let _g = lock();
        if SAVED.load(Ordering::SeqCst) >= 0 {
            return;
        }
        let Ok(file) = fd::capture_file() else { return };
        let Some(saved) = fd::redirect(&file) else {
            return;
        };
        if let Ok(mut slot) = CAPTURE.lock() {
            *slot = Some(file);
        }
        SAVED.store(saved, Ordering::SeqCst);
    }

    pub fn stop() -> usize {
        // Briefly: this also runs in the panic hook.
        let _g = lock_briefly();
        let saved = SAVED.swap(-1, Ordering::SeqCst);
        if saved < 0 {
            return 0;
        }
        fd::restore(saved);
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
