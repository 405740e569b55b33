//! Bounds on every numeric load flag, checked before anything is sent, and the open-files
//! limit a load needs. A value outside its bounds is one line naming the flag and the value
//! (exit 2); without these, a typo could panic deep in the clock arithmetic (`--request-rate
//! 1e-20`), hold memory without bound (`--num-warmups 18446744073709551615`) or build prompts of
//! billions of tokens.

use crate::console::number as show;
use crate::plan::RunPlan;

pub use crate::plan::{MAX_RATE, MIN_RATE};
/// Most requests in flight at once. Each is a connection (a file descriptor) and a task.
pub const MAX_CONCURRENCY: u32 = 100_000;
/// Most timed requests in one run.
pub const MAX_PROMPTS: u64 = 1_000_000_000;
/// Most warm-up requests: they are kept out of the statistics, so more is only waiting.
pub const MAX_WARMUPS: u64 = 10_000;
/// Longest prompt, output or shared prefix, in tokens (the longest contexts served today are
/// around a million tokens; a prompt is built in memory, about 4 bytes a token).
pub const MAX_TOKENS: u32 = 1_000_000;
/// The gamma shape's range: below it gaps become zero or infinite in floating point.
pub const BURSTINESS: (f64, f64) = (0.001, 1000.0);

fn out_of_range(flag: &str, value: impl std::fmt::Display, range: &str) -> String {
    format!("{flag}: '{value}' is out of range: {range}")
}

/// Check every numeric value of a plan against its bounds; the message names the flag.
pub fn check(plan: &RunPlan) -> Result<(), String> {
    let (load, work, req) = (&plan.load, &plan.workload, &plan.request);
    let rate = load.request_rate;
    if let Some(c) = load.max_concurrency {
        if c == 0 {
            return Err("--max-concurrency: '0' would never send anything; use 1 or more".into());
        }
        if c > MAX_CONCURRENCY {
            return Err(out_of_range(
                "--max-concurrency",
                c,
                &format!("use 1 to {MAX_CONCURRENCY}"),
            ));
        }
    }
    if let Some(n) = load.num_prompts {
        if n > MAX_PROMPTS {
            return Err(out_of_range(
                "--num-prompts",
                n,
                &format!("use 1 to {MAX_PROMPTS}"),
            ));
        }
        // An infinite rate with no cap sends every prompt at once, each on its own connection.
        if rate.is_none() && load.max_concurrency.is_none() && n > u64::from(MAX_CONCURRENCY) {
            return Err(format!(
                "--num-prompts: '{n}' requests at once (infinite --request-rate, no \
                 --max-concurrency) is more than {MAX_CONCURRENCY} connections; set \
                 --max-concurrency or a --request-rate"
            ));
        }
    }
    if load.num_warmups > MAX_WARMUPS {
        return Err(out_of_range(
            "--num-warmups",
            load.num_warmups,
            &format!("use 0 to {MAX_WARMUPS}"),
        ));
    }
    let (lo, hi) = BURSTINESS;
    if !(lo..=hi).contains(&load.burstiness) {
        return Err(out_of_range(
            "--burstiness",
            show(load.burstiness),
            &format!("use {lo} to {hi} (1 = Poisson arrivals, larger = more regular)"),
        ));
    }
    for (flag, v) in [
        ("--random-input-len", Some(work.random_input_len)),
        ("--random-output-len", Some(work.random_output_len)),
        ("--random-prefix-len", Some(work.random_prefix_len)),
        ("--sharegpt-output-len", work.sharegpt_output_len),
    ] {
        if let Some(v) = v.filter(|v| *v > MAX_TOKENS) {
            return Err(out_of_range(
                flag,
                v,
                &format!("at most {MAX_TOKENS} tokens"),
            ));
        }
    }
    if let Some(t) = req.temperature {
        if !(t.is_finite() && t >= 0.0) {
            return Err(out_of_range(
                "--temperature",
                show(t),
                "use 0 or more (e.g. 0.7)",
            ));
        }
    }
    if let Some(p) = req.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(out_of_range(
                "--top-p",
                p,
                "use a value above 0 and at most 1",
            ));
        }
    }
    Ok(())
}

/// Raise this process's soft limit on open files to its hard limit (as `ulimit -n` would),
/// and return the limit now in force (`None` where it cannot be read).
#[cfg(unix)]
pub fn raise_open_files_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    // rlim_t is u64 on Linux and macOS but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Some(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Option<u64> {
    None
}

/// Descriptors the process needs besides one per request in flight: the terminal, the
/// runtime, the result files, GPU libraries and scrapers.
pub const FD_HEADROOM: u64 = 64;

/// A warning when `in_flight` concurrent requests cannot all have a connection under the
/// open-files limit `limit`.
pub fn open_files_warning(in_flight: u64, limit: Option<u64>) -> Option<String> {
    let limit = limit?;
    let need = in_flight.saturating_add(FD_HEADROOM);
    (need > limit).then(|| {
        format!(
            "warning: {in_flight} requests in flight need about {need} open files, but this \
             process may open only {limit} (ulimit -n); requests beyond that fail with 'Too \
             many open files'. Raise the limit (e.g. 'ulimit -n {}') or lower the concurrency",
            need.next_power_of_two().max(1024)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_plan;

    #[test]
    fn each_bound_names_its_flag_and_value() {
        let cases: &[(&[&str], &str)] = &[
            (&["--max-concurrency", "0"], "--max-concurrency: '0' would never send anything; use 1 or more"),
            (&["--max-concurrency", "100001"], "--max-concurrency: '100001' is out of range: use 1 to 100000"),
            (&["--num-warmups", "18446744073709551615"], "--num-warmups: '18446744073709551615' is out of range: use 0 to 10000"),
            (&["--burstiness", "1e-300"], "--burstiness: '1e-300' is out of range: use 0.001 to 1000 (1 = Poisson arrivals, larger = more regular)"),
            (&["--random-input-len", "4000000000"], "--random-input-len: '4000000000' is out of range: at most 1000000 tokens"),
            (&["--temperature", "NaN"], "--temperature: 'NaN' is out of range: use 0 or more (e.g. 0.7)"),
            (&["--top-p", "0"], "--top-p: '0' is out of range: use a value above 0 and at most 1"),
            (&["--num-prompts", "200000"], "--num-prompts: '200000' requests at once (infinite --request-rate, no --max-concurrency) is more than 100000 connections; set --max-concurrency or a --request-rate"),
        ];
        for (args, want) in cases {
            assert_eq!(test_plan(args).unwrap_err(), *want, "{args:?}");
        }
        assert!(test_plan(&["--num-prompts", "200000", "--max-concurrency", "8"]).is_ok());
        assert!(test_plan(&[]).is_ok());
    }

    #[test]
    fn open_files_warning_only_when_the_load_cannot_fit() {
        assert_eq!(open_files_warning(100, Some(1024)), None);
        assert_eq!(open_files_warning(100, None), None);
        let w = open_files_warning(2000, Some(256)).unwrap();
        assert!(w.starts_with("warning: 2000 requests in flight need about 2064 open files, but this process may open only 256 (ulimit -n)"), "{w}");
        assert!(w.contains("'ulimit -n 4096'"), "{w}");
    }
}
