//! The inference server's own `/metrics`: queue, running requests and KV-cache use, read with
//! the names vLLM, SGLang, TGI and llama.cpp use (see shared/reference/servers.md §1). Values
//! are summed over every series of a name (vLLM has one per engine, SGLang per rank).

use crate::telemetry::prom;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One scrape, normalised across servers. `None`: the server does not publish that concept.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerMetrics {
    /// "vllm", "sglang", "tgi", "llama.cpp" or "unknown".
    pub server: &'static str,
    pub running: Option<f64>,
    pub waiting: Option<f64>,
    /// KV-cache use, 0..1.
    pub kv_usage: Option<f64>,
    pub prompt_tokens_total: Option<f64>,
    pub generation_tokens_total: Option<f64>,
    pub preemptions_total: Option<f64>,
    /// Prompt tokens taken from the prefix cache (llama.cpp counts them apart from
    /// `prompt_tokens_total`, which excludes them).
    pub prompt_tokens_cached_total: Option<f64>,
    /// llama.cpp: busy slots per `llama_decode()` call, averaged since it started (how full
    /// its batches run; it publishes no KV-cache gauge).
    pub busy_slots_per_decode: Option<f64>,
}

const RUNNING: &[&str] = &[
    "vllm:num_requests_running",
    "sglang:num_running_reqs",
    "tgi_batch_current_size",
    "llamacpp:requests_processing",
];
const WAITING: &[&str] = &[
    "vllm:num_requests_waiting",
    "sglang:num_queue_reqs",
    "tgi_queue_size",
    "llamacpp:requests_deferred",
];
const KV: &[&str] = &[
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "sglang:token_usage",
    "llamacpp:kv_cache_usage_ratio",
];
const PROMPT: &[&str] = &[
    "vllm:prompt_tokens_total",
    "sglang:prompt_tokens_total",
    "llamacpp:prompt_tokens_total",
    "tgi_request_input_length_sum",
];
const GENERATION: &[&str] = &[
    "vllm:generation_tokens_total",
    "sglang:generation_tokens_total",
    "llamacpp:tokens_predicted_total",
    "tgi_request_generated_tokens_sum",
];
const PREEMPT: &[&str] = &[
    "vllm:num_preemptions_total",
    "sglang:num_retracted_requests_total",
];
const PROMPT_CACHED: &[&str] = &["llamacpp:prompt_tokens_cached_total"];
const BUSY_SLOTS: &[&str] = &["llamacpp:n_busy_slots_per_decode"];

impl ServerMetrics {
    /// Read a Prometheus text page. Unknown or malformed lines are skipped.
    pub fn from_text(text: &str) -> ServerMetrics {
        let page = prom::parse(text);
        // The first name of a concept that has samples wins; its series are summed.
        let first = |names: &[&str]| {
            names.iter().find_map(|n| {
                let mut it = page.samples_named(n).peekable();
                it.peek()?;
                Some(it.map(|s| s.value).filter(|v| v.is_finite()).sum::<f64>())
            })
        };
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
        ServerMetrics {
            server,
            running: first(RUNNING),
            waiting: first(WAITING),
            kv_usage: first(KV),
            prompt_tokens_total: first(PROMPT),
            generation_tokens_total: first(GENERATION),
            preemptions_total: first(PREEMPT),
            prompt_tokens_cached_total: first(PROMPT_CACHED),
            busy_slots_per_decode: first(BUSY_SLOTS),
        }
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

/// The latest scrape and when it was taken, for the dashboard.
#[derive(Debug, Clone, Default)]
pub struct ServerView {
    pub latest: Option<ServerMetrics>,
    pub age: Option<Duration>,
    pub error: Option<String>,
    /// KV-cache use and queue length over time (one point per scrape).
    pub kv_history: Vec<f64>,
    pub waiting_history: Vec<f64>,
    /// Aggregates over every scrape since the scraper started (the run's server-side view).
    pub run: ServerRunStats,
}

/// What the server itself reported over a run: its queue, its KV cache, and its own count of
/// generated tokens (a cross-check of ours).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerRunStats {
    pub server: String,
    pub scrapes: u64,
    pub peak_running: Option<f64>,
    pub peak_waiting: Option<f64>,
    pub mean_kv_usage: Option<f64>,
    pub peak_kv_usage: Option<f64>,
    #[serde(skip)]
    kv_sum: f64,
    #[serde(skip)]
    kv_n: u64,
    #[serde(skip)]
    first_generation: Option<f64>,
    #[serde(skip)]
    last_generation: Option<f64>,
    #[serde(skip)]
    first_preemptions: Option<f64>,
    #[serde(skip)]
    last_preemptions: Option<f64>,
    #[serde(skip)]
    first_cached: Option<f64>,
    #[serde(skip)]
    last_cached: Option<f64>,
    /// Tokens the server says it generated between the first and the last scrape.
    pub generation_tokens: Option<f64>,
    pub preemptions: Option<f64>,
    /// Prompt tokens the server took from its prefix cache over the same span (llama.cpp).
    pub cached_prompt_tokens: Option<f64>,
}

impl ServerRunStats {
    /// Fold one scrape in.
    pub fn observe(&mut self, m: &ServerMetrics) {
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.server = m.server.to_string();
        self.scrapes += 1;
        self.peak_running = max(self.peak_running, m.running);
        self.peak_waiting = max(self.peak_waiting, m.waiting);
        self.peak_kv_usage = max(self.peak_kv_usage, m.kv_usage);
        if let Some(k) = m.kv_usage {
            self.kv_sum += k;
            self.kv_n += 1;
            self.mean_kv_usage = Some(self.kv_sum / self.kv_n as f64);
        }
        if let Some(g) = m.generation_tokens_total {
            self.first_generation.get_or_insert(g);
            self.last_generation = Some(g);
        }
        if let Some(p) = m.preemptions_total {
            self.first_preemptions.get_or_insert(p);
            self.last_preemptions = Some(p);
        }
        if let Some(c) = m.prompt_tokens_cached_total {
            self.first_cached.get_or_insert(c);
            self.last_cached = Some(c);
        }
        let delta = |a: Option<f64>, b: Option<f64>| Some(b? - a?).filter(|d| *d >= 0.0);
        self.generation_tokens = delta(self.first_generation, self.last_generation);
        self.preemptions = delta(self.first_preemptions, self.last_preemptions);
        self.cached_prompt_tokens = delta(self.first_cached, self.last_cached);
    }

    /// Lines for the summary table (empty when the server published nothing).
    pub fn lines(&self) -> Vec<String> {
        if self.scrapes == 0 {
            return Vec::new();
        }
        let n = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "n/a".into());
        let pct = |v: Option<f64>| {
            v.map(|v| format!("{:.1}%", v * 100.0))
                .unwrap_or_else(|| "n/a".into())
        };
        let row = |k: &str, v: String| format!("{k:<40} {v}");
        let mut lines = vec![
            row(
                "Server (its own /metrics):",
                format!("{} ({} scrapes)", self.server, self.scrapes),
            ),
            row("Peak running requests:", n(self.peak_running)),
            row("Peak waiting requests:", n(self.peak_waiting)),
            row(
                "Mean / peak KV cache use:",
                format!("{} / {}", pct(self.mean_kv_usage), pct(self.peak_kv_usage)),
            ),
            row(
                "Server-counted generated tokens:",
                n(self.generation_tokens),
            ),
            row("Preemptions:", n(self.preemptions)),
        ];
        if self.cached_prompt_tokens.is_some() {
            lines.push(row(
                "Server-counted cached prompt tokens:",
                n(self.cached_prompt_tokens),
            ));
        }
        lines
    }
}

/// One scrape of `{base}/metrics` (None when the server has none or does not answer in time).
pub async fn scrape(base_url: &str) -> Option<ServerMetrics> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    let r = http.get(format!("{base_url}/metrics")).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    let text = crate::protocol::limits::read_whole(
        r,
        crate::protocol::limits::MAX_METRICS_BODY,
        "/metrics",
    )
    .await
    .ok()?;
    Some(ServerMetrics::from_text(&text))
}

/// Scrape `{base}/metrics` every `every` on the current runtime until the receiver is dropped.
/// A server without /metrics is simply reported as such; nothing ever blocks on it.
pub fn spawn_scraper(base_url: String, every: Duration) -> watch::Receiver<Arc<ServerView>> {
    let (tx, rx) = watch::channel(Arc::new(ServerView::default()));
    tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .timeout(every.max(Duration::from_secs(2)))
            .build()
        {
            Ok(h) => h,
            Err(_) => return,
        };
        let url = format!("{base_url}/metrics");
        let mut view = ServerView::default();
        let mut last_ok: Option<Instant> = None;
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if tx.is_closed() {
                return;
            }
            let page = match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    crate::protocol::limits::read_whole(
                        r,
                        crate::protocol::limits::MAX_METRICS_BODY,
                        "/metrics",
                    )
                    .await
                }
                Ok(r) => Err(format!("/metrics answered HTTP {}", r.status().as_u16())),
                Err(e) => Err(format!("/metrics unreachable: {e}")),
            };
            match page {
                Ok(text) => {
                    let m = ServerMetrics::from_text(&text);
                    if let Some(kv) = m.kv_usage {
                        view.kv_history.push(kv);
                    }
                    if let Some(w) = m.waiting {
                        view.waiting_history.push(w);
                    }
                    for h in [&mut view.kv_history, &mut view.waiting_history] {
                        if h.len() > 600 {
                            h.drain(..h.len() - 600);
                        }
                    }
                    view.run.observe(&m);
                    view.latest = Some(m);
                    view.error = None;
                    last_ok = Some(Instant::now());
                }
                Err(why) => view.error = Some(why),
            }
            view.age = last_ok.map(|t| t.elapsed());
            tx.send_replace(Arc::new(view.clone()));
        }
    });
    rx
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
        let mut r = ServerRunStats::default();
        assert!(r.lines().is_empty());
        let page = |run: f64, wait: f64, kv: f64, gen: f64| {
            ServerMetrics::from_text(&format!(
                "vllm:num_requests_running {run}\nvllm:num_requests_waiting {wait}\n\
                 vllm:kv_cache_usage_perc {kv}\nvllm:generation_tokens_total {gen}\n"
            ))
        };
        r.observe(&page(2.0, 0.0, 0.1, 1000.0));
        r.observe(&page(8.0, 5.0, 0.5, 1600.0));
        r.observe(&page(4.0, 1.0, 0.3, 2200.0));
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
        let mut r = ServerRunStats::default();
        r.observe(&m);
        r.observe(&ServerMetrics::from_text(
            &LLAMA_CPP.replace(" 352", " 400"),
        ));
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
