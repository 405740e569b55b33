//! The simulator's counters and gauges, and their Prometheus text with vLLM's names.
//!
//! Everything is an atomic, so streams update it without locks; `/metrics` renders a snapshot.
//! Labels are sorted by name the way prometheus_client sorts them (`engine`, `finished_reason`,
//! `le`, `model_name`), and counters end in `_total` as they do on the wire.

use super::faults::FaultKind;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// vLLM's bucket bounds for `vllm:time_to_first_token_seconds`.
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// vLLM's bucket bounds for `vllm:inter_token_latency_seconds`.
const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];

/// SGLang's default bounds (`TokenizerMetricsCollector`) for TTFT, ITL and E2E.
const SGLANG_TTFT_BUCKETS: &[f64] = &[
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
    400.0,
];
const SGLANG_ITL_BUCKETS: &[f64] = &[
    0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1, 0.2,
    0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0,
];
const SGLANG_E2E_BUCKETS: &[f64] = &[
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
    400.0, 600.0, 1200.0, 1800.0, 2400.0,
];

/// Whose metric names the simulator's `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricNames {
    /// vLLM V1 (`vllm/v1/metrics/loggers.py`).
    #[default]
    Vllm,
    /// SGLang (`python/sglang/srt/metrics/collector.py`): token counters move when a
    /// request finishes, as SGLang's do.
    Sglang,
}

/// vLLM's bucket bounds for its request-latency histograms.
const LATENCY_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// A Prometheus histogram with fixed bounds; counts per bucket are stored non-cumulative.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            // One extra slot for +Inf.
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Forgets every observation (a restarted server).
    fn reset(&self) {
        for c in &self.counts {
            c.store(0, Relaxed);
        }
        self.sum_ns.store(0, Relaxed);
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = self.bounds.partition_point(|&b| b < secs);
        self.counts[slot].fetch_add(1, Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        self.render_with(out, name, help, "engine=\"0\",", labels)
    }

    /// `lead` are the labels sorted before `le` (vLLM's `engine`; SGLang's `engine_type`).
    fn render_with(&self, out: &mut String, name: &str, help: &str, lead: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => format!("{b:?}"),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{{lead}le=\"{le}\",{labels}}} {cumulative}.0"
            );
        }
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_count{{{lead}{labels}}} {cumulative}.0");
        let _ = writeln!(out, "{name}_sum{{{lead}{labels}}} {sum:?}");
    }
}

/// Finish reasons counted in `vllm:request_success_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
}

impl Finish {
    /// The wire value of `finish_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// Live state of one simulator, shared by every request.
pub struct Metrics {
    /// Requests admitted and not yet finished (prefill or decode).
    pub running: AtomicU64,
    /// Requests waiting for a slot under `--max-num-seqs`.
    pub waiting: AtomicU64,
    /// Tokens held in the simulated KV cache by running requests.
    pub kv_tokens: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub generation_tokens: AtomicU64,
    success_stop: AtomicU64,
    success_length: AtomicU64,
    /// Requests received, also the index that seeds each request's fault draw.
    pub requests: AtomicU64,
    faults: [AtomicU64; 6],
    /// Prompt tokens looked up in the prefix cache and found there.
    pub prefix_queries: AtomicU64,
    pub prefix_hits: AtomicU64,
    /// SGLang counts tokens when a request finishes: these move only then.
    pub finished_prompt_tokens: AtomicU64,
    pub finished_generation_tokens: AtomicU64,
    pub finished_cached_tokens: AtomicU64,
    pub ttft: Histogram,
    pub itl: Histogram,
    pub e2e: Histogram,
    pub queue: Histogram,
    sglang_ttft: Histogram,
    sglang_itl: Histogram,
    sglang_e2e: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            running: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            kv_tokens: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            success_stop: AtomicU64::new(0),
            success_length: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            faults: Default::default(),
            prefix_queries: AtomicU64::new(0),
            prefix_hits: AtomicU64::new(0),
            finished_prompt_tokens: AtomicU64::new(0),
            finished_generation_tokens: AtomicU64::new(0),
            finished_cached_tokens: AtomicU64::new(0),
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(LATENCY_BUCKETS),
            queue: Histogram::new(LATENCY_BUCKETS),
            sglang_ttft: Histogram::new(SGLANG_TTFT_BUCKETS),
            sglang_itl: Histogram::new(SGLANG_ITL_BUCKETS),
            sglang_e2e: Histogram::new(SGLANG_E2E_BUCKETS),
        }
    }
}

impl Metrics {
    /// Counts one injected fault.
    pub fn fault(&self, kind: FaultKind) {
        self.faults[kind.index()].fetch_add(1, Relaxed);
    }

    /// How many faults of `kind` were injected so far.
    pub fn faults(&self, kind: FaultKind) -> u64 {
        self.faults[kind.index()].load(Relaxed)
    }

    /// Time to first token, under both servers' bucket bounds.
    pub fn observe_ttft(&self, d: Duration) {
        self.ttft.observe(d);
        self.sglang_ttft.observe(d);
    }

    /// One gap between token chunks.
    pub fn observe_itl(&self, d: Duration) {
        self.itl.observe(d);
        self.sglang_itl.observe(d);
    }

    /// A request's whole time.
    pub fn observe_e2e(&self, d: Duration) {
        self.e2e.observe(d);
        self.sglang_e2e.observe(d);
    }

    /// A request finished: the counters SGLang moves only now.
    pub fn finished(&self, prompt: u64, generated: u64, cached: u64) {
        self.finished_prompt_tokens.fetch_add(prompt, Relaxed);
        self.finished_generation_tokens
            .fetch_add(generated, Relaxed);
        self.finished_cached_tokens.fetch_add(cached, Relaxed);
    }

    /// Every counter and histogram back to zero, as after a server restart (gauges describe
    /// requests still running and stay). For the counter-reset tests.
    pub fn reset_counters(&self) {
        for c in [
            &self.prompt_tokens,
            &self.generation_tokens,
            &self.success_stop,
            &self.success_length,
            &self.prefix_queries,
            &self.prefix_hits,
            &self.finished_prompt_tokens,
            &self.finished_generation_tokens,
            &self.finished_cached_tokens,
        ] {
            c.store(0, Relaxed);
        }
        for h in [
            &self.ttft,
            &self.itl,
            &self.e2e,
            &self.queue,
            &self.sglang_ttft,
            &self.sglang_itl,
            &self.sglang_e2e,
        ] {
            h.reset();
        }
    }

    /// Counts one request that finished normally.
    pub fn success(&self, finish: Finish) {
        match finish {
            Finish::Stop => &self.success_stop,
            Finish::Length => &self.success_length,
        }
        .fetch_add(1, Relaxed);
    }

    /// Prometheus text format 0.0.4 for model `model`, KV capacity `kv_capacity` tokens, with
    /// `names`' metric names.
    pub fn render_as(&self, names: MetricNames, model: &str, kv_capacity: u64) -> String {
        match names {
            MetricNames::Vllm => self.render(model, kv_capacity),
            MetricNames::Sglang => self.render_sglang(model, kv_capacity),
        }
    }

    fn kv_usage(&self, kv_capacity: u64) -> f64 {
        if kv_capacity == 0 {
            0.0
        } else {
            (self.kv_tokens.load(Relaxed) as f64 / kv_capacity as f64).min(1.0)
        }
    }

    /// SGLang's names and label set (prometheus_client writes `_total` on counter samples and
    /// the bare name on their HELP and TYPE lines).
    fn render_sglang(&self, model: &str, kv_capacity: u64) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let labels = format!(
            "model_name=\"{}\",pp_rank=\"0\",tp_rank=\"0\"",
            escape_label(model)
        );
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{engine_type=\"unified\",{labels}}} {v:?}"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total{{engine_type=\"unified\",{labels}}} {v}.0"
            );
        };
        gauge(
            &mut out,
            "sglang:num_running_reqs",
            "The number of running requests.",
            self.running.load(Relaxed) as f64,
        );
        gauge(
            &mut out,
            "sglang:num_queue_reqs",
            "The number of requests in the waiting queue.",
            self.waiting.load(Relaxed) as f64,
        );
        gauge(
            &mut out,
            "sglang:token_usage",
            "The token usage.",
            self.kv_usage(kv_capacity),
        );
        counter(
            &mut out,
            "sglang:prompt_tokens",
            "Number of prefill tokens processed.",
            self.finished_prompt_tokens.load(Relaxed),
        );
        counter(
            &mut out,
            "sglang:generation_tokens",
            "Number of generation tokens processed.",
            self.finished_generation_tokens.load(Relaxed),
        );
        // SGLang creates this series on the first hit only.
        let cached = self.finished_cached_tokens.load(Relaxed);
        if cached > 0 {
            counter(
                &mut out,
                "sglang:cached_tokens",
                "Number of cached prompt tokens.",
                cached,
            );
        }
        let finished = self.success_stop.load(Relaxed) + self.success_length.load(Relaxed);
        counter(
            &mut out,
            "sglang:num_requests",
            "Number of requests processed.",
            finished,
        );
        let lead = "engine_type=\"unified\",";
        self.sglang_ttft.render_with(
            &mut out,
            "sglang:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            lead,
            &labels,
        );
        self.sglang_itl.render_with(
            &mut out,
            "sglang:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            lead,
            &labels,
        );
        self.sglang_e2e.render_with(
            &mut out,
            "sglang:e2e_request_latency_seconds",
            "Histogram of End-to-end request latency in seconds",
            lead,
            &labels,
        );
        out
    }

    /// Prometheus text format 0.0.4 for model `model`, KV capacity `kv_capacity` tokens.
    pub fn render(&self, model: &str, kv_capacity: u64) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let labels = format!("model_name=\"{}\"", escape_label(model));
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{engine=\"0\",{labels}}} {v:?}"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total{{engine=\"0\",{labels}}} {v}.0"
            );
        };
        gauge(
            &mut out,
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            self.running.load(Relaxed) as f64,
        );
        gauge(
            &mut out,
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            self.waiting.load(Relaxed) as f64,
        );
        let kv = self.kv_usage(kv_capacity);
        gauge(
            &mut out,
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            kv,
        );
        counter(
            &mut out,
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            self.prefix_queries.load(Relaxed),
        );
        counter(
            &mut out,
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            self.prefix_hits.load(Relaxed),
        );
        counter(
            &mut out,
            "vllm:num_preemptions",
            "Cumulative number of preemption from the engine.",
            0,
        );
        counter(
            &mut out,
            "vllm:prompt_tokens",
            "Number of prefill tokens processed.",
            self.prompt_tokens.load(Relaxed),
        );
        counter(
            &mut out,
            "vllm:generation_tokens",
            "Number of generation tokens processed.",
            self.generation_tokens.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP vllm:request_success Count of successfully processed requests.\n\
             # TYPE vllm:request_success counter"
        );
        for (reason, c) in [
            ("length", &self.success_length),
            ("stop", &self.success_stop),
        ] {
            let _ = writeln!(
                out,
                "vllm:request_success_total{{engine=\"0\",finished_reason=\"{reason}\",{labels}}} {}.0",
                c.load(Relaxed)
            );
        }
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            &labels,
        );
        self.itl.render(
            &mut out,
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            &labels,
        );
        self.e2e.render(
            &mut out,
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            &labels,
        );
        self.queue.render(
            &mut out,
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            &labels,
        );
        let _ = writeln!(
            out,
            "# HELP tokscope_mock_faults Faults injected by the simulator, by kind.\n\
             # TYPE tokscope_mock_faults counter"
        );
        for kind in FaultKind::ALL {
            let _ = writeln!(
                out,
                "tokscope_mock_faults_total{{kind=\"{}\"}} {}.0",
                kind.label(),
                self.faults(kind)
            );
        }
        out
    }
}

/// Escapes a Prometheus label value.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{text}"))
    }

    #[test]
    fn render_uses_vllm_names_and_values() {
        let m = Metrics::default();
        m.running.store(3, Relaxed);
        m.waiting.store(2, Relaxed);
        m.kv_tokens.store(250, Relaxed);
        m.prompt_tokens.store(120, Relaxed);
        m.generation_tokens.store(900, Relaxed);
        m.success(Finish::Length);
        m.success(Finish::Length);
        m.success(Finish::Stop);
        m.fault(FaultKind::CutStream);
        m.ttft.observe(Duration::from_millis(30));
        m.ttft.observe(Duration::from_millis(200));
        let t = m.render("my \"m\"", 1000);
        let l = r#"model_name="my \"m\"""#;
        assert_eq!(
            line(&t, "vllm:num_requests_running{"),
            format!("vllm:num_requests_running{{engine=\"0\",{l}}} 3.0")
        );
        assert!(line(&t, "vllm:num_requests_waiting{").ends_with(" 2.0"));
        assert!(line(&t, "vllm:kv_cache_usage_perc{").ends_with(" 0.25"));
        assert!(line(&t, "vllm:prompt_tokens_total{").ends_with(" 120.0"));
        assert!(line(&t, "vllm:generation_tokens_total{").ends_with(" 900.0"));
        assert!(line(
            &t,
            "vllm:request_success_total{engine=\"0\",finished_reason=\"length\""
        )
        .ends_with(" 2.0"));
        assert!(line(
            &t,
            "vllm:request_success_total{engine=\"0\",finished_reason=\"stop\""
        )
        .ends_with(" 1.0"));
        // 30 ms falls in le=0.04; 200 ms in le=0.25; both are under +Inf.
        assert!(line(
            &t,
            "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.02\""
        )
        .ends_with(" 0.0"));
        assert!(line(
            &t,
            "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.04\""
        )
        .ends_with(" 1.0"));
        assert!(line(
            &t,
            "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.25\""
        )
        .ends_with(" 2.0"));
        assert!(line(
            &t,
            "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\""
        )
        .ends_with(" 2.0"));
        assert!(line(&t, "vllm:time_to_first_token_seconds_count{").ends_with(" 2.0"));
        assert!(line(&t, "vllm:time_to_first_token_seconds_sum{").ends_with(" 0.23"));
        assert_eq!(
            line(&t, "tokscope_mock_faults_total{kind=\"cut_stream\"}"),
            "tokscope_mock_faults_total{kind=\"cut_stream\"} 1.0"
        );
        assert!(line(&t, "tokscope_mock_faults_total{kind=\"stall\"}").ends_with(" 0.0"));
    }

    #[test]
    fn kv_usage_is_capped_at_one() {
        let m = Metrics::default();
        m.kv_tokens.store(5000, Relaxed);
        let t = m.render("m", 1000);
        assert!(line(&t, "vllm:kv_cache_usage_perc{").ends_with(" 1.0"));
    }
}
