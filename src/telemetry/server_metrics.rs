//! The inference server's own `/metrics`: queue, running requests and KV-cache use, read with
//! the names vLLM, SGLang, TGI and llama.cpp use (see shared/reference/servers.md §1). Values
//! are summed over every series of a name (vLLM has one per engine, SGLang per rank).

pub mod histogram;
pub mod names;
pub mod scraper;
pub mod series;

pub use scraper::{scrape, spawn_scraper, ServerScraper};
pub use series::{ServerPoint, ServerRunStats, ServerView, ServerWindow};

use crate::telemetry::prom;
use histogram::Buckets;
use serde::Serialize;

/// One scrape, normalised across servers. `None`: the server does not publish that concept.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerMetrics {
    /// "vllm", "sglang", "tgi", "llama.cpp" or "unknown".
    pub server: &'static str,
    pub running: Option<f64>,
    pub waiting: Option<f64>,
    /// KV-cache use, 0..1 (the mean over engines or ranks).
    pub kv_usage: Option<f64>,
    pub prompt_tokens_total: Option<f64>,
    pub generation_tokens_total: Option<f64>,
    /// Requests finished, whatever the reason.
    pub requests_total: Option<f64>,
    pub preemptions_total: Option<f64>,
    /// Prompt tokens taken from the prefix cache (llama.cpp counts them apart from
    /// `prompt_tokens_total`, which excludes them).
    pub prompt_tokens_cached_total: Option<f64>,
    /// Prefix-cache hits and lookups in tokens, as counters (vLLM's own pair; SGLang: cached
    /// of prompt tokens; llama.cpp: cached of cached + processed).
    pub prefix_hits_total: Option<f64>,
    pub prefix_queries_total: Option<f64>,
    /// A hit-rate gauge, 0..1, where the server has no counters (vLLM v0, SGLang).
    pub prefix_hit_rate_gauge: Option<f64>,
    /// llama.cpp: busy slots per `llama_decode()` call, averaged since it started (how full
    /// its batches run; it publishes no KV-cache gauge).
    pub busy_slots_per_decode: Option<f64>,
    /// Speculative decoding: draft tokens proposed and accepted (counters), or SGLang's gauge.
    pub spec_draft_tokens_total: Option<f64>,
    pub spec_accepted_tokens_total: Option<f64>,
    pub spec_accept_rate_gauge: Option<f64>,
    /// The server's latency histograms (cumulative since it started).
    #[serde(skip)]
    pub latency: LatencyBuckets,
}

/// The server-side latency histograms a page may carry, in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyBuckets {
    pub ttft: Option<Buckets>,
    pub itl: Option<Buckets>,
    pub tpot: Option<Buckets>,
    pub e2e: Option<Buckets>,
    pub queue: Option<Buckets>,
}

impl LatencyBuckets {
    /// Each histogram with its short name, in display order.
    pub fn named(&self) -> [(&'static str, &Option<Buckets>); 5] {
        [
            ("TTFT", &self.ttft),
            ("ITL", &self.itl),
            ("TPOT", &self.tpot),
            ("E2E", &self.e2e),
            ("Queue", &self.queue),
        ]
    }

    fn named_mut(&mut self) -> [&mut Option<Buckets>; 5] {
        [
            &mut self.ttft,
            &mut self.itl,
            &mut self.tpot,
            &mut self.e2e,
            &mut self.queue,
        ]
    }
}

impl ServerMetrics {
    /// Read a Prometheus text page. Unknown or malformed lines are skipped.
    pub fn from_text(text: &str) -> ServerMetrics {
        let page = prom::parse(text);
        let values = |names: &[&str]| {
            names.iter().find_map(|n| {
                let v: Vec<f64> = page
                    .samples_named(n)
                    .map(|s| s.value)
                    .filter(|v| v.is_finite())
                    .collect();
                (!v.is_empty()).then_some(v)
            })
        };
        // Counts are summed over every series (engines, ranks, finish reasons); ratios are
        // averaged (two engines at 30% KV cache are not at 60%).
        let sum = |names: &[&str]| values(names).map(|v| v.iter().sum::<f64>());
        let mean = |names: &[&str]| values(names).map(|v| v.iter().sum::<f64>() / v.len() as f64);
        let hist = |names: &[&str]| names.iter().find_map(|n| Buckets::from_page(&page, n));
        let has_prefix = |p: &str| page.samples().any(|s| s.name.starts_with(p));
        let server = if has_prefix("vllm:") {
            "vllm"
        } else if has_prefix("sglang:") {
            "sglang"
        } else if has_prefix("tgi_") {
            "tgi"
        } else if has_prefix("llamacpp:") {
            "llama.cpp"
        } else {
            "unknown"
        };
        let prompt = sum(names::PROMPT);
        let llama_cached = sum(names::LLAMA_CACHED);
        let (prefix_hits_total, prefix_queries_total) = match server {
            // SGLang creates its cached-tokens series on the first hit: none yet is zero.
            "sglang" => (
                prompt.map(|_| sum(names::SGLANG_CACHED).unwrap_or(0.0)),
                prompt,
            ),
            "llama.cpp" => (llama_cached, llama_cached.zip(prompt).map(|(c, p)| c + p)),
            _ => (sum(names::PREFIX_HITS), sum(names::PREFIX_QUERIES)),
        };
        ServerMetrics {
            server,
            running: sum(names::RUNNING),
            waiting: sum(names::WAITING),
            kv_usage: mean(names::KV),
            prompt_tokens_total: prompt,
            generation_tokens_total: sum(names::GENERATION),
            requests_total: sum(names::REQUESTS),
            preemptions_total: sum(names::PREEMPT),
            prompt_tokens_cached_total: llama_cached,
            prefix_hits_total,
            prefix_queries_total,
            prefix_hit_rate_gauge: mean(names::PREFIX_HIT_RATE_GAUGE),
            busy_slots_per_decode: mean(names::BUSY_SLOTS),
            spec_draft_tokens_total: sum(names::SPEC_DRAFT_TOKENS),
            spec_accepted_tokens_total: sum(names::SPEC_ACCEPTED_TOKENS),
            spec_accept_rate_gauge: mean(names::SPEC_ACCEPT_RATE_GAUGE),
            latency: LatencyBuckets {
                ttft: hist(names::TTFT),
                itl: hist(names::ITL),
                tpot: hist(names::TPOT),
                e2e: hist(names::E2E),
                queue: hist(names::QUEUE),
            },
        }
    }

    /// Several replicas behind one address as one server: counts and queues added, ratios
    /// averaged, histograms added bucket by bucket (where their bounds agree).
    pub fn combine(parts: &[ServerMetrics]) -> Option<ServerMetrics> {
        let first = parts.first()?;
        let sum = |f: fn(&ServerMetrics) -> Option<f64>| {
            let v: Vec<f64> = parts.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>())
        };
        let mean = |f: fn(&ServerMetrics) -> Option<f64>| {
            let v: Vec<f64> = parts.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let mut latency = first.latency.clone();
        for p in &parts[1..] {
            let theirs = p.latency.clone();
            let theirs = [
                theirs.ttft,
                theirs.itl,
                theirs.tpot,
                theirs.e2e,
                theirs.queue,
            ];
            for (mine, other) in latency.named_mut().into_iter().zip(theirs) {
                match (mine.as_mut(), other) {
                    (Some(m), Some(o)) => {
                        m.add(&o);
                    }
                    (None, Some(o)) => *mine = Some(o),
                    _ => {}
                }
            }
        }
        let same_server = parts.iter().all(|p| p.server == first.server);
        Some(ServerMetrics {
            server: if same_server { first.server } else { "mixed" },
            running: sum(|m| m.running),
            waiting: sum(|m| m.waiting),
            kv_usage: mean(|m| m.kv_usage),
            prompt_tokens_total: sum(|m| m.prompt_tokens_total),
            generation_tokens_total: sum(|m| m.generation_tokens_total),
            requests_total: sum(|m| m.requests_total),
            preemptions_total: sum(|m| m.preemptions_total),
            prompt_tokens_cached_total: sum(|m| m.prompt_tokens_cached_total),
            prefix_hits_total: sum(|m| m.prefix_hits_total),
            prefix_queries_total: sum(|m| m.prefix_queries_total),
            prefix_hit_rate_gauge: mean(|m| m.prefix_hit_rate_gauge),
            busy_slots_per_decode: mean(|m| m.busy_slots_per_decode),
            spec_draft_tokens_total: sum(|m| m.spec_draft_tokens_total),
            spec_accepted_tokens_total: sum(|m| m.spec_accepted_tokens_total),
            spec_accept_rate_gauge: mean(|m| m.spec_accept_rate_gauge),
            latency,
        })
    }

    /// One line for `check` and the dashboard.
    pub fn describe(&self) -> String {
        let n = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "n/a".into());
        let mut line = format!(
            "{}: running {}, waiting {}, KV cache {}",
            self.server,
            n(self.running),
            n(self.waiting),
            self.kv_usage
                .map(|v| format!("{:.1}%", v * 100.0))
                .unwrap_or_else(|| "n/a".into()),
        );
        // What llama.cpp has instead of a KV-cache gauge.
        if let Some(b) = self.busy_slots_per_decode {
            line.push_str(&format!(", busy slots per decode {b:.2}"));
        }
        if let Some(c) = self.prompt_tokens_cached_total {
            line.push_str(&format!(", prompt tokens from cache {c:.0}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_page_with_two_engines() {
        let page =
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n\
# TYPE vllm:num_requests_running gauge\n\
vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n\
vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 2.0\n\
vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 7.0\n\
vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.25\n\
vllm:generation_tokens_total{engine=\"0\",model_name=\"m\"} 1.5e+03\n";
        let m = ServerMetrics::from_text(page);
        assert_eq!(m.server, "vllm");
        assert_eq!(
            (m.running, m.waiting, m.kv_usage),
            (Some(5.0), Some(7.0), Some(0.25))
        );
        assert_eq!(m.generation_tokens_total, Some(1500.0));
        assert_eq!(m.preemptions_total, None);
        assert_eq!(m.describe(), "vllm: running 5, waiting 7, KV cache 25.0%");
    }

    #[test]
    fn run_stats_take_peaks_means_and_counter_deltas() {
        assert!(ServerRunStats::default().lines().is_empty());
        let page = |run: f64, wait: f64, kv: f64, gen: f64| {
            ServerMetrics::from_text(&format!(
                "vllm:num_requests_running {run}\nvllm:num_requests_waiting {wait}\n\
                 vllm:kv_cache_usage_perc {kv}\nvllm:generation_tokens_total {gen}\n"
            ))
        };
        let t0 = std::time::Instant::now();
        let mut l = series::Ledger::new(1, t0);
        for (i, p) in [
            page(2.0, 0.0, 0.1, 1000.0),
            page(8.0, 5.0, 0.5, 1600.0),
            page(4.0, 1.0, 0.3, 2200.0),
        ]
        .into_iter()
        .enumerate()
        {
            l.tick(t0 + std::time::Duration::from_secs(i as u64), &[Some(p)]);
        }
        let r = l.run().clone();
        assert_eq!((r.peak_running, r.peak_waiting), (Some(8.0), Some(5.0)));
        assert!((r.mean_kv_usage.unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(r.peak_kv_usage, Some(0.5));
        assert_eq!(r.generation_tokens, Some(1200.0));
        assert_eq!(r.preemptions, None);
        let lines = r.lines();
        assert_eq!(
            lines[0],
            format!("{:<40} vllm (3 scrapes)", "Server (its own /metrics):")
        );
        assert_eq!(
            lines[3],
            format!("{:<40} 30.0% / 50.0%", "Mean / peak KV cache use:")
        );
        assert_eq!(
            lines[4],
            format!("{:<40} 1200", "Server-counted generated tokens:")
        );
    }

    /// llama-server's page (llama-cpp-python 0.3.36, `--metrics`), as `to_metrics` writes it:
    /// no KV-cache gauge.
    const LLAMA_CPP: &str = "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens\n\
# TYPE llamacpp:prompt_tokens_total counter\n\
llamacpp:prompt_tokens_total 4096\n\
# TYPE llamacpp:prompt_tokens_cached_total counter\n\
llamacpp:prompt_tokens_cached_total 352\n\
# TYPE llamacpp:tokens_predicted_total counter\n\
llamacpp:tokens_predicted_total 2048\n\
# TYPE llamacpp:requests_processing gauge\n\
llamacpp:requests_processing 4\n\
# TYPE llamacpp:requests_deferred gauge\n\
llamacpp:requests_deferred 3\n\
# TYPE llamacpp:n_busy_slots_per_decode gauge\n\
llamacpp:n_busy_slots_per_decode 3.71\n";

    #[test]
    fn llama_cpp_page_shows_what_it_has_and_no_kv_cache() {
        let m = ServerMetrics::from_text(LLAMA_CPP);
        assert_eq!(
            (m.server, m.running, m.waiting, m.kv_usage),
            ("llama.cpp", Some(4.0), Some(3.0), None)
        );
        assert_eq!(m.generation_tokens_total, Some(2048.0));
        assert_eq!(
            m.describe(),
            "llama.cpp: running 4, waiting 3, KV cache n/a, busy slots per decode 3.71, \
             prompt tokens from cache 352"
        );
        let t0 = std::time::Instant::now();
        let mut l = series::Ledger::new(1, t0);
        l.tick(t0, &[Some(m.clone())]);
        l.tick(
            t0 + std::time::Duration::from_secs(1),
            &[Some(ServerMetrics::from_text(
                &LLAMA_CPP.replace(" 352", " 400"),
            ))],
        );
        let r = l.run().clone();
        assert_eq!(r.cached_prompt_tokens, Some(48.0));
        let lines = r.lines();
        assert_eq!(
            lines[3],
            format!("{:<40} n/a / n/a", "Mean / peak KV cache use:")
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some(format!("{:<40} 48", "Server-counted cached prompt tokens:").as_str())
        );
        // Of 48 + 0 prompt tokens, all 48 came from the cache.
        assert_eq!(r.prefix_hit_rate, Some(1.0));
    }

    #[test]
    fn older_vllm_and_sglang_and_tgi_names() {
        let m = ServerMetrics::from_text("vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.5\n");
        assert_eq!(m.kv_usage, Some(0.5));
        let m = ServerMetrics::from_text("sglang:num_running_reqs{tp_rank=\"0\"} 4\nsglang:num_queue_reqs{tp_rank=\"0\"} 1\nsglang:token_usage{tp_rank=\"0\"} 0.1\n");
        assert_eq!(
            (m.server, m.running, m.waiting, m.kv_usage),
            ("sglang", Some(4.0), Some(1.0), Some(0.1))
        );
        let m = ServerMetrics::from_text("tgi_queue_size 2\ntgi_batch_current_size 8\n");
        assert_eq!(
            (m.server, m.running, m.waiting, m.kv_usage),
            ("tgi", Some(8.0), Some(2.0), None)
        );
    }
}
