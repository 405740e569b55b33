//! Which metric names mean what, per server, as their source code defines them (the fixture
//! pages in `tests/fixtures/server_metrics/` cite file and version). For each concept the first
//! name with samples on a page wins, so newer names come before the ones they replaced.

/// Requests in the running batch (gauge).
pub const RUNNING: &[&str] = &[
    "vllm:num_requests_running",
    "sglang:num_running_reqs",
    "tgi_batch_current_size",
    "llamacpp:requests_processing",
];
/// Requests waiting for a slot (gauge).
pub const WAITING: &[&str] = &[
    "vllm:num_requests_waiting",
    "sglang:num_queue_reqs",
    "tgi_queue_size",
    "llamacpp:requests_deferred",
];
/// KV-cache use, 0..1 (gauge). vLLM renamed `gpu_cache_usage_perc` in 0.9 and emitted both
/// until 0.10; llama.cpp removed its gauge (PR #13660) and TGI never had one.
pub const KV: &[&str] = &[
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "sglang:token_usage",
    "llamacpp:kv_cache_usage_ratio",
];
/// Prompt tokens processed (counter; TGI: the sum of its input-length histogram, on finish).
pub const PROMPT: &[&str] = &[
    "vllm:prompt_tokens_total",
    "sglang:prompt_tokens_total",
    "llamacpp:prompt_tokens_total",
    "tgi_request_input_length_sum",
];
/// Generated tokens (counter). vLLM counts per engine step (live); SGLang, TGI and llama.cpp
/// when a request finishes.
pub const GENERATION: &[&str] = &[
    "vllm:generation_tokens_total",
    "sglang:generation_tokens_total",
    "llamacpp:tokens_predicted_total",
    "tgi_request_generated_tokens_sum",
];
/// Requests finished (counter; vLLM's has one series per finish reason, summed).
pub const REQUESTS: &[&str] = &[
    "vllm:request_success_total",
    "sglang:num_requests_total",
    "tgi_request_success",
];
pub const PREEMPT: &[&str] = &[
    "vllm:num_preemptions_total",
    "sglang:num_retracted_requests_total",
];
/// vLLM's prefix-cache counters, in tokens (0.9 on; `gpu_` names are the older ones, in
/// blocks in 0.8).
pub const PREFIX_HITS: &[&str] = &[
    "vllm:prefix_cache_hits_total",
    "vllm:gpu_prefix_cache_hits_total",
];
pub const PREFIX_QUERIES: &[&str] = &[
    "vllm:prefix_cache_queries_total",
    "vllm:gpu_prefix_cache_queries_total",
];
/// SGLang: prompt tokens taken from its radix cache (a part of `sglang:prompt_tokens_total`).
pub const SGLANG_CACHED: &[&str] = &["sglang:cached_tokens_total"];
/// llama.cpp: prompt tokens reused from the cache (apart from `llamacpp:prompt_tokens_total`).
pub const LLAMA_CACHED: &[&str] = &["llamacpp:prompt_tokens_cached_total"];
/// Hit-rate gauges, where no counters exist: vLLM v0 and SGLang (per batch, instantaneous).
pub const PREFIX_HIT_RATE_GAUGE: &[&str] =
    &["vllm:gpu_prefix_cache_hit_rate", "sglang:cache_hit_rate"];
pub const BUSY_SLOTS: &[&str] = &["llamacpp:n_busy_slots_per_decode"];
/// Speculative decoding counters (vLLM `vllm/v1/spec_decode/metrics.py`, llama.cpp).
pub const SPEC_DRAFT_TOKENS: &[&str] = &[
    "vllm:spec_decode_num_draft_tokens_total",
    "llamacpp:spec_decode_num_draft_tokens_total",
];
pub const SPEC_ACCEPTED_TOKENS: &[&str] = &[
    "vllm:spec_decode_num_accepted_tokens_total",
    "llamacpp:spec_decode_num_accepted_tokens_total",
];
/// SGLang's acceptance gauge (accepted / drafted in the last batch).
pub const SPEC_ACCEPT_RATE_GAUGE: &[&str] = &["sglang:spec_accept_rate"];

/// Histograms (base names, without `_bucket`). TGI has no TTFT histogram; llama.cpp none.
pub const TTFT: &[&str] = &[
    "vllm:time_to_first_token_seconds",
    "sglang:time_to_first_token_seconds",
];
/// Inter-token latency: vLLM renamed `time_per_output_token_seconds` in 0.11 (same meaning).
pub const ITL: &[&str] = &[
    "vllm:inter_token_latency_seconds",
    "vllm:time_per_output_token_seconds",
    "sglang:inter_token_latency_seconds",
];
/// Per-request time per output token (TGI's is the only per-token figure it has).
pub const TPOT: &[&str] = &[
    "vllm:request_time_per_output_token_seconds",
    "tgi_request_mean_time_per_token_duration",
];
pub const E2E: &[&str] = &[
    "vllm:e2e_request_latency_seconds",
    "sglang:e2e_request_latency_seconds",
    "tgi_request_duration",
];
pub const QUEUE: &[&str] = &[
    "vllm:request_queue_time_seconds",
    "sglang:queue_time_seconds",
    "tgi_request_queue_duration",
];

#[cfg(test)]
mod tests {
    //! Each server's page, written from its source's metric definitions (the fixture cites file
    //! and version), read into the same figures.
    use super::super::ServerMetrics;

    fn page(name: &str) -> ServerMetrics {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/server_metrics/"
        );
        let text = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
        let parsed = crate::telemetry::prom::parse(&text);
        assert!(parsed.errors.is_empty(), "{name}: {:?}", parsed.errors);
        ServerMetrics::from_text(&text)
    }

    #[test]
    fn vllm_two_engines_summed_and_averaged() {
        let m = page("vllm_0.10.txt");
        assert_eq!(m.server, "vllm");
        assert_eq!((m.running, m.waiting), (Some(11.0), Some(2.0)));
        assert_eq!(m.kv_usage, Some(0.2), "the mean of 30% and 10%");
        assert_eq!(m.generation_tokens_total, Some(5500.0));
        assert_eq!(m.requests_total, Some(40.0), "every finish reason");
        assert_eq!(m.preemptions_total, Some(3.0));
        // The new names win over their deprecated twins (same values here).
        assert_eq!(
            (m.prefix_hits_total, m.prefix_queries_total),
            (Some(10840.0), Some(20000.0))
        );
        let ttft = m.latency.ttft.as_ref().unwrap();
        assert_eq!(ttft.count(), 40.0);
        // Rank 20 of 40: 18 at or below 0.1 s, 36 at or below 0.25 s.
        assert!((ttft.quantile(0.5).unwrap() - (0.1 + 0.15 * 2.0 / 18.0)).abs() < 1e-9);
        // vLLM 0.10 still names ITL time_per_output_token_seconds.
        assert_eq!(m.latency.itl.as_ref().map(|b| b.count()), Some(3000.0));
        assert!(m.latency.e2e.is_some() && m.latency.queue.is_some());
        assert_eq!(
            m.spec_draft_tokens_total, None,
            "no speculative decoding configured"
        );
    }

    #[test]
    fn sglang_counters_gauges_and_histograms() {
        let m = page("sglang.txt");
        assert_eq!(m.server, "sglang");
        assert_eq!(
            (m.running, m.waiting, m.kv_usage),
            (Some(7.0), Some(1.0), Some(0.42))
        );
        assert_eq!(m.prompt_tokens_total, Some(4000.0));
        assert_eq!(m.generation_tokens_total, Some(1200.0));
        assert_eq!(
            (m.prefix_hits_total, m.prefix_queries_total),
            (Some(2168.0), Some(4000.0))
        );
        assert_eq!(m.prefix_hit_rate_gauge, Some(0.61));
        assert_eq!(m.spec_accept_rate_gauge, Some(0.7));
        assert_eq!(m.preemptions_total, Some(2.0));
        assert_eq!(m.requests_total, Some(10.0));
        let p50 = m
            .latency
            .ttft
            .as_ref()
            .and_then(|b| b.quantile(0.5))
            .unwrap();
        assert!((p50 - 0.15).abs() < 1e-12, "{p50}");
        assert_eq!(m.latency.itl.as_ref().map(|b| b.count()), Some(1190.0));
        assert!(m.latency.queue.is_none(), "not on this page");
    }

    #[test]
    fn tgi_has_no_ttft_kv_or_prefix_cache() {
        let m = page("tgi.txt");
        assert_eq!(m.server, "tgi");
        assert_eq!(
            (m.running, m.waiting, m.kv_usage),
            (Some(12.0), Some(3.0), None)
        );
        assert_eq!(m.prompt_tokens_total, Some(14000.0));
        assert_eq!(m.generation_tokens_total, Some(3584.0));
        assert_eq!(m.requests_total, Some(28.0));
        assert_eq!((m.prefix_hits_total, m.prefix_queries_total), (None, None));
        assert!(m.latency.ttft.is_none() && m.latency.itl.is_none());
        assert_eq!(m.latency.tpot.as_ref().map(|b| b.count()), Some(28.0));
        assert_eq!(
            m.latency.e2e.as_ref().and_then(|b| b.quantile(0.5)),
            Some(1.0 + 1.5 * 14.0 / 20.0)
        );
        assert_eq!(m.latency.queue.as_ref().map(|b| b.count()), Some(28.0));
    }

    #[test]
    fn llama_cpp_cached_of_all_prompt_tokens_and_spec_decode() {
        let m = page("llama_cpp.txt");
        assert_eq!(m.server, "llama.cpp");
        assert_eq!(
            (m.running, m.waiting, m.kv_usage),
            (Some(4.0), Some(1.0), None)
        );
        assert_eq!(m.prompt_tokens_total, Some(3_214_570.0));
        assert_eq!(m.prefix_hits_total, Some(1_071_520.0));
        assert_eq!(m.prefix_queries_total, Some(4_286_090.0));
        assert_eq!(m.generation_tokens_total, Some(204_800.0));
        assert_eq!(
            (m.spec_draft_tokens_total, m.spec_accepted_tokens_total),
            (Some(1000.0), Some(640.0))
        );
        assert_eq!(m.busy_slots_per_decode, Some(3.2));
        assert!(m.latency.ttft.is_none());
    }
}
