use super::*;

fn page(
    running: f64,
    gen: f64,
    prompt: f64,
    hits: f64,
    queries: f64,
    ttft_fast: f64,
) -> ServerMetrics {
    ServerMetrics::from_text(&format!(
        "vllm:num_requests_running{{engine=\"0\"}} {running}\n\
         vllm:num_requests_waiting{{engine=\"0\"}} 0\n\
         vllm:kv_cache_usage_perc{{engine=\"0\"}} 0.2\n\
         vllm:generation_tokens_total{{engine=\"0\"}} {gen}\n\
         vllm:prompt_tokens_total{{engine=\"0\"}} {prompt}\n\
         vllm:prefix_cache_hits_total{{engine=\"0\"}} {hits}\n\
         vllm:prefix_cache_queries_total{{engine=\"0\"}} {queries}\n\
         vllm:time_to_first_token_seconds_bucket{{engine=\"0\",le=\"0.1\"}} {ttft_fast}\n\
         vllm:time_to_first_token_seconds_bucket{{engine=\"0\",le=\"1.0\"}} {ttft_fast}\n\
         vllm:time_to_first_token_seconds_bucket{{engine=\"0\",le=\"+Inf\"}} {ttft_fast}\n\
         vllm:time_to_first_token_seconds_sum{{engine=\"0\"}} 0\n"
    ))
}

fn at(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

#[test]
fn rates_come_from_counter_increments_and_the_first_scrape_has_none() {
    let t0 = Instant::now();
    let mut l = Ledger::new(1, t0);
    let (_, p) = l
        .tick(at(t0, 0), &[Some(page(2.0, 1000.0, 500.0, 0.0, 0.0, 0.0))])
        .unwrap();
    assert_eq!(p.generation_tok_s, None, "one reading is no rate");
    assert_eq!(p.prefix_hit_rate, None);
    let (_, p) = l
        .tick(
            at(t0, 2),
            &[Some(page(4.0, 1600.0, 900.0, 100.0, 400.0, 10.0))],
        )
        .unwrap();
    assert_eq!(p.generation_tok_s, Some(300.0));
    assert_eq!(p.prompt_tok_s, Some(200.0));
    assert_eq!(p.prefix_hit_rate, Some(0.25));
    assert_eq!(p.running, Some(4.0));
    // Ten requests within 0.1 s: the median lies inside the first bucket.
    assert_eq!(p.ttft_p50_ms, Some(50.0));
    let r = l.run();
    assert_eq!(r.generation_tokens, Some(600.0));
    assert_eq!(r.prefix_hit_rate, Some(0.25));
    assert_eq!(
        (r.running_at_start, r.running_at_end),
        (Some(2.0), Some(4.0))
    );
    assert_eq!(r.ttft.as_ref().map(|f| f.count), Some(10.0));
}

#[test]
fn a_counter_reset_is_no_spike_and_no_negative_rate() {
    let t0 = Instant::now();
    let mut l = Ledger::new(1, t0);
    let mut rates = Vec::new();
    // 100 tok/s, then the server restarts between t=3 and t=4 (counters from 0 again).
    let gens = [10_000.0, 10_100.0, 10_200.0, 10_300.0, 60.0, 160.0, 260.0];
    for (s, g) in gens.iter().enumerate() {
        let (_, p) = l
            .tick(at(t0, s as u64), &[Some(page(1.0, *g, 0.0, 0.0, 0.0, 0.0))])
            .unwrap();
        rates.push(p.generation_tok_s);
    }
    assert_eq!(rates[0], None);
    for r in &rates[1..] {
        let r = r.unwrap();
        assert!((0.0..=100.0).contains(&r), "rate {r} in {rates:?}");
    }
    // Tokens since the restart count (60), the ones lost in between cannot be known.
    assert_eq!(l.run().generation_tokens, Some(300.0 + 60.0 + 200.0));
}

#[test]
fn replicas_are_summed_and_one_restarting_leaves_the_others_alone() {
    let t0 = Instant::now();
    let mut l = Ledger::new(2, t0);
    let a = |g| Some(page(3.0, g, 0.0, 0.0, 0.0, 0.0));
    l.tick(at(t0, 0), &[a(5000.0), a(100.0)]).unwrap();
    let (m, p) = l.tick(at(t0, 1), &[a(5050.0), a(150.0)]).unwrap();
    assert_eq!(p.generation_tok_s, Some(100.0));
    assert_eq!(m.running, Some(6.0), "running is summed");
    assert_eq!(m.kv_usage, Some(0.2), "KV use is averaged");
    // The second replica restarts: its 10 new tokens count, nothing goes negative.
    let (_, p) = l.tick(at(t0, 2), &[a(5100.0), a(10.0)]).unwrap();
    assert_eq!(p.generation_tok_s, Some(60.0));
    // A replica that did not answer this tick: no rate for it (the running figures still
    // come from what answered) ...
    let (m, p) = l.tick(at(t0, 3), &[a(5150.0), None]).unwrap();
    assert_eq!(p.generation_tok_s, None);
    assert_eq!(m.running, Some(6.0));
    // ... and the next full tick measures both over the two seconds since the last full one:
    // no dip, no catch-up spike (replica two made 40 tokens meanwhile).
    let (_, p) = l.tick(at(t0, 4), &[a(5200.0), a(50.0)]).unwrap();
    assert_eq!(p.generation_tok_s, Some(70.0));
    // Every token is counted once over the run.
    assert_eq!(l.run().generation_tokens, Some(200.0 + 50.0 + 10.0 + 40.0));
}

#[test]
fn a_missed_scrape_of_one_source_is_a_gap_not_a_dip_and_a_spike() {
    let t0 = Instant::now();
    let mut l = Ledger::new(1, t0);
    let g = |g| Some(page(1.0, g, 0.0, 0.0, 0.0, 0.0));
    l.tick(at(t0, 0), &[g(0.0)]).unwrap();
    let rates: Vec<Option<f64>> = [(1, g(100.0)), (2, None), (3, g(300.0)), (4, g(400.0))]
        .into_iter()
        .map(|(s, m)| {
            l.tick(at(t0, s), &[m])
                .map(|(_, p)| p.generation_tok_s)
                .unwrap()
        })
        .collect();
    assert_eq!(rates, [Some(100.0), None, Some(100.0), Some(100.0)]);
}

#[test]
fn windows_and_sglang_and_llama_hit_rates() {
    let t0 = Instant::now();
    let mut l = Ledger::new(1, t0);
    for s in 0..=40u64 {
        let g = 100.0 * s as f64;
        let (m, _) = l
            .tick(at(t0, s), &[Some(page(1.0, g, 2.0 * g, g, 2.0 * g, 0.0))])
            .unwrap();
        let w = l.window(&m);
        if s == 40 {
            assert_eq!(w.span, WINDOW);
            assert!((w.generation_tok_s.unwrap() - 100.0).abs() < 1e-9);
            assert_eq!(w.prefix_hit_rate, Some(0.5));
        }
    }
    // SGLang: cached of prompt tokens; the cached series appears only on the first hit.
    let sg = |p: f64, c: Option<f64>| {
        let cached = c.map_or(String::new(), |c| {
            format!("sglang:cached_tokens_total{{tp_rank=\"0\"}} {c}\n")
        });
        ServerMetrics::from_text(&format!(
            "sglang:prompt_tokens_total{{tp_rank=\"0\"}} {p}\n{cached}"
        ))
    };
    let mut l = Ledger::new(1, t0);
    l.tick(at(t0, 0), &[Some(sg(1000.0, None))]).unwrap();
    let (_, p) = l.tick(at(t0, 1), &[Some(sg(2000.0, Some(542.0)))]).unwrap();
    assert_eq!(p.prefix_hit_rate, Some(0.542));
    // llama.cpp: cached of cached + processed.
    let ll = |p: f64, c: f64| {
        ServerMetrics::from_text(&format!(
            "llamacpp:prompt_tokens_total {p}\nllamacpp:prompt_tokens_cached_total {c}\n"
        ))
    };
    let mut l = Ledger::new(1, t0);
    l.tick(at(t0, 0), &[Some(ll(100.0, 0.0))]).unwrap();
    let (_, p) = l.tick(at(t0, 1), &[Some(ll(400.0, 100.0))]).unwrap();
    assert_eq!(p.prefix_hit_rate, Some(0.25));
    // TGI: no prefix cache at all; the summary says so rather than showing 0%.
    let mut l = Ledger::new(1, t0);
    l.tick(
        at(t0, 0),
        &[Some(ServerMetrics::from_text("tgi_queue_size 0\n"))],
    )
    .unwrap();
    let lines = l.run().lines();
    assert!(
        lines
            .iter()
            .any(|x| x.ends_with("n/a: this server has no prefix-cache counter")),
        "{lines:?}"
    );
}

#[test]
fn nobody_answered_is_no_point() {
    let t0 = Instant::now();
    let mut l = Ledger::new(2, t0);
    assert!(l.tick(t0, &[None, None]).is_none());
}
