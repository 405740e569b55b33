//! The client's own CPU and memory use, so a load generator that saturates its own CPU says so.
//!
//! Linux only (`/proc/self/stat`, `/proc/self/status`); elsewhere every reading is `None` and
//! the dashboard shows 'n/a'. Sampling is cheap (two small file reads) and rate-limited to once a
//! second; the dashboard's thread calls it, never a request task.

use std::time::{Duration, Instant};

/// Kernel clock ticks per second for `/proc` times. `USER_HZ` is 100 on every Linux ABI we
/// build for (x86_64, aarch64), and the kernel scales to it whatever its internal HZ is.
const USER_HZ: f64 = 100.0;

/// Share of all cores above which the client counts as saturated.
pub const SATURATION: f64 = 0.85;

/// One reading of the client process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClientStat {
    /// CPU used over the last interval, in percent of one core (200 = two cores busy).
    pub cpu_percent: Option<f64>,
    /// Resident memory in bytes.
    pub rss_bytes: Option<u64>,
    /// Cores the process may run on.
    pub cores: usize,
}

impl ClientStat {
    /// CPU as a share of all cores (0..=1), when known.
    pub fn cpu_share(&self) -> Option<f64> {
        let cores = self.cores.max(1) as f64;
        self.cpu_percent.map(|p| p / 100.0 / cores)
    }
    /// True when the client uses nearly all the CPU it has: its own timings are then suspect.
    pub fn saturated(&self) -> bool {
        self.cpu_share().is_some_and(|s| s >= SATURATION)
    }
}

/// Samples `/proc/self` at most once per `interval`; keeps a short history for a sparkline.
#[derive(Debug)]
pub struct Sampler {
    interval: Duration,
    last: Option<(Instant, u64)>,
    latest: ClientStat,
    /// CPU percent of recent samples, oldest first.
    history: Vec<f64>,
}

/// Samples of history kept.
const HISTORY: usize = 120;

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new(Duration::from_secs(1))
    }
}

impl Sampler {
    pub fn new(interval: Duration) -> Sampler {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Sampler {
            interval,
            last: None,
            latest: ClientStat {
                cores,
                ..ClientStat::default()
            },
            history: Vec::new(),
        }
    }

    /// The latest reading.
    pub fn latest(&self) -> ClientStat {
        self.latest
    }

    /// CPU percent of recent samples, oldest first.
    pub fn history(&self) -> &[f64] {
        &self.history
    }

    /// Take a sample if `interval` has passed since the last one; true when the reading changed.
    pub fn poll(&mut self, now: Instant) -> bool {
        if let Some((at, _)) = self.last {
            if now.saturating_duration_since(at) < self.interval {
                return false;
            }
        }
        let ticks = read_cpu_ticks();
        let rss = read_rss_bytes();
        self.ingest(now, ticks, rss);
        true
    }

    /// Fold one raw reading in (separate from the file reads so it can be tested).
    fn ingest(&mut self, now: Instant, ticks: Option<u64>, rss: Option<u64>) {
        self.latest.rss_bytes = rss;
        let Some(ticks) = ticks else {
            self.latest.cpu_percent = None;
            return;
        };
        if let Some((at, prev)) = self.last {
            let wall = now.saturating_duration_since(at).as_secs_f64();
            if wall > 0.0 {
                let busy = ticks.saturating_sub(prev) as f64 / USER_HZ;
                let pct = busy / wall * 100.0;
                self.latest.cpu_percent = Some(pct);
                if self.history.len() == HISTORY {
                    self.history.remove(0);
                }
                self.history.push(pct);
            }
        }
        self.last = Some((now, ticks));
    }
}

/// utime + stime of the whole process (all threads), in clock ticks.
fn read_cpu_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_ticks(&text)
}

/// Fields 14 and 15 of `/proc/PID/stat`. The command name (field 2) may hold spaces and
/// parentheses, so count from the last ')'.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')': field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn read_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_rss_bytes(&text)
}

/// The `VmRSS:   12345 kB` line of `/proc/PID/status`.
fn parse_rss_bytes(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        let stat = "4242 (tok scope (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 \
                    9 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(300));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn parses_rss() {
        let status = "Name:\ttokscope\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t9\n";
        assert_eq!(parse_rss_bytes(status), Some(2048 * 1024));
        assert_eq!(parse_rss_bytes("Name: x\n"), None);
    }

    #[test]
    fn cpu_percent_is_ticks_over_wall_time() {
        let mut s = Sampler::new(Duration::from_secs(1));
        s.latest.cores = 2;
        let t0 = Instant::now();
        s.ingest(t0, Some(1000), Some(1));
        assert_eq!(s.latest().cpu_percent, None, "one reading gives no rate");
        // 180 ticks = 1.8 s of CPU over 1 s of wall time: 180% of one core, 90% of two.
        s.ingest(t0 + Duration::from_secs(1), Some(1180), Some(1));
        let pct = s.latest().cpu_percent.unwrap_or(-1.0);
        assert!((pct - 180.0).abs() < 1e-9, "{pct}");
        assert!(s.latest().saturated());
        s.ingest(t0 + Duration::from_secs(3), Some(1200), Some(1));
        assert!(!s.latest().saturated());
        assert_eq!(s.history().len(), 2);
    }

    #[test]
    fn poll_is_rate_limited() {
        let mut s = Sampler::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert!(s.poll(t0));
        assert!(!s.poll(t0 + Duration::from_millis(300)));
        assert!(s.poll(t0 + Duration::from_millis(1000)));
        if cfg!(target_os = "linux") {
            assert!(s.latest().rss_bytes.is_some_and(|b| b > 0));
            assert!(s.latest().cpu_percent.is_some());
        }
    }
}
