//! `stderr_hold::hold` takes what a call writes to file descriptor 2, also inside the
//! dashboard's own capture. (Its own test binary: it redirects the whole process's stderr.)

#[cfg(unix)]
#[test]
fn a_held_call_keeps_its_stderr_and_the_dashboard_replays_only_the_rest() {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    use tokscope::stderr_hold::hold;
    use tokscope::tui::stderr_capture;
    // Write straight to descriptor 2, as a C library does (bypassing the test harness).
    let write_fd2 = |bytes: &[u8]| {
        // SAFETY: descriptor 2 stays open; ManuallyDrop keeps this File from closing it.
        let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(2) });
        f.write_all(bytes).expect("write to fd 2");
    };
    let (v, said) = hold(|| {
        write_fd2(b"Exception caught: rsmi_init.\n");
        7
    });
    assert_eq!((v, said.as_str()), (7, "Exception caught: rsmi_init.\n"));
    stderr_capture::start();
    let ((), inner) = hold(|| write_fd2(b"inner\n"));
    write_fd2(b"outer\n");
    assert_eq!(inner, "inner\n");
    assert_eq!(
        stderr_capture::stop(),
        6,
        "only 'outer' was the dashboard's"
    );
}
