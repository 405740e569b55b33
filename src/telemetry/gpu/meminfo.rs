//! `/proc/meminfo` of the node that owns a unified-memory GPU (GB10): the host side of the
//! UNIFIED bar.

use super::{Metric, UnifiedMemory};
use std::path::Path;

/// The figures of /proc/meminfo we use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemInfo {
    pub total: Option<u64>,
    pub available: Option<u64>,
    pub swap_free: Option<u64>,
}

/// Parse the text of /proc/meminfo (values in kB).
pub fn parse(text: &str) -> MemInfo {
    let mut m = MemInfo::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(val)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(kb) = val.parse::<u64>() else { continue };
        let bytes = Some(kb.saturating_mul(1024));
        match key {
            "MemTotal:" => m.total = bytes,
            "MemAvailable:" => m.available = bytes,
            "SwapFree:" => m.swap_free = bytes,
            _ => {}
        }
    }
    m
}

/// Read `path` and build the unified-memory block, with `gpu_held` from the process list.
pub fn unified(path: &Path, gpu_held: Metric<u64>) -> UnifiedMemory {
    let text = std::fs::read_to_string(path);
    let err = |what: &str| -> Metric<u64> {
        match &text {
            Err(e) => Metric::Error(format!("cannot read '{}': {e}", path.display())),
            Ok(_) => Metric::Error(format!("no {what} in '{}'", path.display())),
        }
    };
    let m = text.as_deref().map(parse).unwrap_or_default();
    let pick = |v: Option<u64>, what: &str| v.map(Metric::Value).unwrap_or_else(|| err(what));
    let used = match (m.total, m.available) {
        (Some(t), Some(a)) => Metric::Value(t.saturating_sub(a)),
        _ => err("MemTotal/MemAvailable"),
    };
    UnifiedMemory {
        gpu_held_bytes: gpu_held,
        host_total_bytes: pick(m.total, "MemTotal"),
        host_used_bytes: used,
        host_available_bytes: pick(m.available, "MemAvailable"),
        swap_free_bytes: pick(m.swap_free, "SwapFree"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kb_to_bytes_and_computes_used() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meminfo");
        std::fs::write(
            &p,
            "MemTotal:       127601000 kB\nMemFree:  1000 kB\nMemAvailable:   78000000 kB\nSwapFree: 0 kB\n",
        )
        .unwrap();
        let u = unified(&p, Metric::Value(5));
        assert_eq!(u.host_total_bytes, Metric::Value(127_601_000 * 1024));
        assert_eq!(u.host_available_bytes, Metric::Value(78_000_000 * 1024));
        assert_eq!(
            u.host_used_bytes,
            Metric::Value((127_601_000 - 78_000_000) * 1024)
        );
        assert_eq!(u.swap_free_bytes, Metric::Value(0));
        assert_eq!(u.gpu_held_bytes, Metric::Value(5));
    }

    #[test]
    fn missing_file_is_an_error_not_zero() {
        let u = unified(Path::new("/nonexistent/meminfo"), Metric::NotSupported);
        assert!(
            matches!(u.host_total_bytes, Metric::Error(ref e) if e.contains("/nonexistent/meminfo"))
        );
        assert!(matches!(u.host_used_bytes, Metric::Error(_)));
    }
}
