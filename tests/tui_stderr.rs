//! While the dashboard holds the terminal, writes to file descriptor 2 are kept and replayed
//! afterwards. (Its own test binary: it redirects the whole process's stderr.)

#[cfg(unix)]
#[test]
fn stderr_is_held_while_the_dashboard_runs_and_replayed_after() {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    use tokscope::tui::stderr_capture;
    // Write straight to descriptor 2, as a C library would (bypassing the test harness).
    let write_fd2 = |bytes: &[u8]| {
        // SAFETY: descriptor 2 stays open; ManuallyDrop keeps this File from closing it.
        let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(2) });
        f.write_all(bytes).expect("write to fd 2");
    };
    stderr_capture::start();
    write_fd2(b"rsmi_init failed\n");
    write_fd2(b"second line\n");
    assert_eq!(stderr_capture::stop(), 29, "both lines replayed");
    assert_eq!(stderr_capture::stop(), 0, "a second stop does nothing");
    // Descriptor 2 is the terminal's again, and a new capture starts empty.
    write_fd2(b"");
    stderr_capture::start();
    assert_eq!(stderr_capture::stop(), 0);
}
