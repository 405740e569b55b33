//! Number formatting for the panes, and reading windows of the per-second series.
//!
//! The series helpers only pick buckets and read them back (current second, mean and peak over
//! the shown window); every distribution statistic comes from the `Snapshot` itself.

use crate::metrics::snapshot::{SecondBucket, Series};
use std::time::Duration;

/// Shown where a value is not known.
pub const NA: &str = "–";

/// A latency in milliseconds: `850ms`, `12.3ms`, `1.25s`.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => NA.to_string(),
        Some(v) if !v.is_finite() => NA.to_string(),
        Some(v) if v >= 10_000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) if v >= 1000.0 => format!("{:.2}s", v / 1000.0),
        Some(v) if v >= 100.0 => format!("{v:.0}ms"),
        Some(v) if v >= 10.0 => format!("{v:.1}ms"),
        Some(v) => format!("{v:.2}ms"),
    }
}

/// An integer with thousands separators: `12,345`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count that fits a narrow field: exact up to 99,999, then `829.5k`, `12.3M`, `4.1G`.
pub fn compact(n: u64) -> String {
    match n {
        0..=99_999 => count(n),
        100_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// A rate: separators above 100, one decimal below.
pub fn rate(v: f64) -> String {
    if !v.is_finite() {
        NA.to_string()
    } else if v >= 100.0 {
        count(v.round() as u64)
    } else {
        format!("{v:.1}")
    }
}

/// Run time as `m:ss` or `h:mm:ss`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Bytes as `312 MB` style (powers of 1024, short units).
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Cut `s` to at most `width` characters, marking the cut with '…'.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// Keep the end of `s` (for paths): `…/results/run.json`.
pub fn truncate_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

/// Seconds `[from, to)` of the series a window shows: only complete seconds (the current one
/// is still filling), the last `window` of them.
pub fn window_range(series: &Series, elapsed: Duration, window: Option<usize>) -> (usize, usize) {
    let complete = (elapsed.as_secs() as usize).min(series.len());
    let from = window.map_or(0, |w| complete.saturating_sub(w));
    (from, complete)
}

/// Current (last complete second), mean and peak of a per-second quantity over `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowFigures {
    pub current: Option<f64>,
    pub mean: Option<f64>,
    pub peak: Option<f64>,
}

/// Read `value` of each second in `[from, to)` back as current / mean / peak.
pub fn figures(
    series: &Series,
    (from, to): (usize, usize),
    value: impl Fn(&SecondBucket) -> f64,
) -> WindowFigures {
    let mut sum = 0.0;
    let mut n = 0usize;
    let mut peak: Option<f64> = None;
    let mut last = None;
    for (_, b) in series.range(from, to) {
        let v = value(b);
        sum += v;
        n += 1;
        peak = Some(peak.map_or(v, |p: f64| p.max(v)));
        last = Some(v);
    }
    WindowFigures {
        current: last,
        mean: (n > 0).then(|| sum / n as f64),
        peak,
    }
}

#[cfg(test)]
mod compact_tests {
    use super::compact;

    #[test]
    fn counts_shorten_past_five_digits() {
        assert_eq!(compact(99_999), "99,999");
        assert_eq!(compact(829_485), "829.5k");
        assert_eq!(compact(101_440), "101.4k");
        assert_eq!(compact(12_345_678), "12.3M");
        assert_eq!(compact(4_100_000_000), "4.1G");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let cases: [(Option<f64>, &str); 7] = [
            (None, "–"),
            (Some(0.5), "0.50ms"),
            (Some(12.34), "12.3ms"),
            (Some(850.0), "850ms"),
            (Some(1250.0), "1.25s"),
            (Some(61_000.0), "61.0s"),
            (Some(f64::NAN), "–"),
        ];
        for (v, want) in cases {
            assert_eq!(ms(v), want);
        }
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(rate(1234.4), "1,234");
        assert_eq!(rate(4.25), "4.2");
        assert_eq!(clock(Duration::from_secs(83)), "1:23");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(45 * 1024 * 1024 + 300 * 1024), "45.3 MB");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate_left("/a/b/c.json", 7), "…c.json");
    }

    #[test]
    fn window_uses_complete_seconds_only() {
        let mut s = Series::default();
        for i in 0..10 {
            s.bucket_mut(i).output_tokens = (i as u64 + 1) * 10;
        }
        // 9.5 s elapsed: second 9 is still filling.
        let r = window_range(&s, Duration::from_millis(9500), Some(3));
        assert_eq!(r, (6, 9));
        let f = figures(&s, r, |b| b.output_tokens as f64);
        assert_eq!(f.current, Some(90.0));
        assert_eq!(f.mean, Some(80.0));
        assert_eq!(f.peak, Some(90.0));
        let whole = window_range(&s, Duration::from_millis(9500), None);
        assert_eq!(whole, (0, 9));
        let empty = figures(&s, (0, 0), |b| b.output_tokens as f64);
        assert_eq!(empty, WindowFigures::default());
    }
}
