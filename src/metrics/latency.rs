//! The latency metrics by name, once: the distributions, the live buckets, the dashboard's rows,
//! the summary table and the result keys all walk `LatencyMetric::ALL` and take their words
//! from here, so a metric cannot be spelled two ways (vLLM's key is `e2el`; `e2e` is accepted
//! where people type it).

use serde::{Deserialize, Serialize};

/// One per-request latency tokscope measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyMetric {
    /// Time to first token (any text, reasoning included).
    Ttft,
    /// Time to first output token: the first answer text after any reasoning.
    Ttfo,
    /// Time per output token after the first.
    Tpot,
    /// Inter-token latency: each gap between chunks.
    Itl,
    /// End-to-end latency of a request.
    E2el,
}

impl LatencyMetric {
    /// Display and file order (vLLM's, with TTFO after TTFT).
    pub const ALL: [LatencyMetric; 5] = [
        LatencyMetric::Ttft,
        LatencyMetric::Ttfo,
        LatencyMetric::Tpot,
        LatencyMetric::Itl,
        LatencyMetric::E2el,
    ];

    /// The word in result keys (`mean_ttft_ms`) and in `--goodput`.
    pub fn key(self) -> &'static str {
        match self {
            LatencyMetric::Ttft => "ttft",
            LatencyMetric::Ttfo => "ttfo",
            LatencyMetric::Tpot => "tpot",
            LatencyMetric::Itl => "itl",
            LatencyMetric::E2el => "e2el",
        }
    }

    /// The short name in tables ("TTFT").
    pub fn short(self) -> &'static str {
        match self {
            LatencyMetric::Ttft => "TTFT",
            LatencyMetric::Ttfo => "TTFO",
            LatencyMetric::Tpot => "TPOT",
            LatencyMetric::Itl => "ITL",
            LatencyMetric::E2el => "E2EL",
        }
    }

    /// The long name, as `vllm bench serve` heads its sections.
    pub fn title(self) -> &'static str {
        match self {
            LatencyMetric::Ttft => "Time to First Token",
            LatencyMetric::Ttfo => "Time to First Answer Token",
            LatencyMetric::Tpot => "Time per Output Token (excl. 1st token)",
            LatencyMetric::Itl => "Inter-token Latency",
            LatencyMetric::E2el => "End-to-end Latency",
        }
    }

    /// Whether `vllm bench serve`'s own table has it (TTFO is tokscope's).
    pub fn in_vllm_summary(self) -> bool {
        self != LatencyMetric::Ttfo
    }

    /// The word on the dashboard's rows, where columns are narrow.
    pub fn screen_label(self) -> &'static str {
        match self {
            LatencyMetric::E2el => "E2E",
            m => m.short(),
        }
    }

    /// Position in `ALL` (for arrays indexed by metric).
    pub fn index(self) -> usize {
        self as usize
    }

    /// A metric from its key; `e2e` is read as `e2el`.
    pub fn from_key(s: &str) -> Option<LatencyMetric> {
        match s {
            "e2e" => Some(LatencyMetric::E2el),
            _ => Self::ALL.into_iter().find(|m| m.key() == s),
        }
    }
}

/// One value per latency metric, indexed by `LatencyMetric`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PerMetric<T>(pub [T; 5]);

impl<T> PerMetric<T> {
    /// (metric, value) in `LatencyMetric::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = (LatencyMetric, &T)> {
        LatencyMetric::ALL.into_iter().zip(self.0.iter())
    }
}

impl<T> std::ops::Index<LatencyMetric> for PerMetric<T> {
    type Output = T;
    fn index(&self, m: LatencyMetric) -> &T {
        &self.0[m.index()]
    }
}

impl<T> std::ops::IndexMut<LatencyMetric> for PerMetric<T> {
    fn index_mut(&mut self, m: LatencyMetric) -> &mut T {
        &mut self.0[m.index()]
    }
}

/// A goodput service-level objective: a metric and its limit in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// TTFT, TPOT or E2EL (the metrics `vllm bench serve --goodput` takes).
    pub metric: LatencyMetric,
    pub limit_ms: f64,
}

/// Parse `--goodput ttft:500 tpot:50 e2el:10000`.
pub fn parse_goodput(args: &[String]) -> Result<Vec<Slo>, String> {
    let mut out = Vec::new();
    for a in args.iter().flat_map(|a| a.split_whitespace()) {
        let (name, ms) = a
            .split_once(':')
            .ok_or_else(|| format!("--goodput: '{a}' is not METRIC:MS (e.g. ttft:500)"))?;
        let name = name.trim().to_ascii_lowercase();
        let metric = LatencyMetric::from_key(&name)
            .filter(|m| {
                matches!(
                    m,
                    LatencyMetric::Ttft | LatencyMetric::Tpot | LatencyMetric::E2el
                )
            })
            .ok_or_else(|| {
                format!("--goodput: unknown metric '{name}' (use ttft, tpot or e2el)")
            })?;
        let limit_ms: f64 = ms
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && v.is_finite())
            .ok_or_else(|| format!("--goodput: '{ms}' is not a positive number of milliseconds"))?;
        out.push(Slo { metric, limit_ms });
    }
    Ok(out)
}

/// A percentile as vLLM writes it in keys and labels: `99`, `99.9`.
pub fn percentile_word(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_e2e_is_e2el() {
        for m in LatencyMetric::ALL {
            assert_eq!(LatencyMetric::from_key(m.key()), Some(m));
            assert_eq!(LatencyMetric::ALL[m.index()], m);
        }
        assert_eq!(LatencyMetric::from_key("e2e"), Some(LatencyMetric::E2el));
        assert_eq!(LatencyMetric::from_key("latency"), None);
        assert_eq!(percentile_word(99.0), "99");
        assert_eq!(percentile_word(99.9), "99.9");
    }
}
