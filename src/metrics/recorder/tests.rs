//! Recorder tests: hand-built event sequences and the numbers they must give.

use super::*;
use crate::load::record::RequestError;
use crate::metrics::latency::LatencyMetric;

fn rec(
    id: u64,
    sent_s: f64,
    ttft_ms: u64,
    itls_ms: &[u64],
    out_tokens: u64,
    source: TokenSource,
) -> RequestRecord {
    let ttft = Duration::from_millis(ttft_ms);
    let mut t = ttft;
    let mut chunks = vec![(ttft.as_micros() as u32, 1)];
    for &i in itls_ms {
        t += Duration::from_millis(i);
        chunks.push((t.as_micros() as u32, 1));
    }
    RequestRecord {
        id,
        sent_at: Duration::from_secs_f64(sent_s),
        scheduled_at: Duration::from_secs_f64(sent_s),
        ttft: Some(ttft),
        ttfo: Some(ttft),
        e2e: t,
        itl_us: itls_ms.iter().map(|&i| (i * 1000) as u32).collect(),
        chunk_times_us: chunks,
        prompt_tokens: 10,
        prompt_source: TokenSource::Usage,
        output_tokens: out_tokens,
        output_source: source,
        text_chunks: itls_ms.len() as u64 + 1,
        ..RequestRecord::default()
    }
}

/// Feed a finished request the way the client would: Sent, one Chunk per chunk, Finished.
fn feed(r: &mut Recorder, record: RequestRecord) {
    r.ingest(RequestEvent::Sent {
        id: record.id,
        warmup: false,
        at: record.sent_at,
        prompt_tokens: record.prompt_tokens,
    });
    for &(off, n) in &record.chunk_times_us {
        let at = record.sent_at + Duration::from_micros(off as u64);
        r.ingest(RequestEvent::Chunk {
            id: record.id,
            at,
            tokens: n,
            chunks: 1,
            answer: true,
        });
    }
    r.ingest(RequestEvent::Finished(Box::new(record)));
}

fn recorder() -> Recorder {
    let mut cfg = RecorderConfig::new(RunInfo::default());
    cfg.percentiles = vec![50.0, 99.0];
    cfg.goodput = parse_goodput(&["ttft:150".into(), "tpot:60".into()]).unwrap();
    Recorder::new(cfg)
}

#[tokio::test(start_paused = true)]
async fn counts_latencies_and_goodput() {
    let mut r = recorder();
    r.ingest(RequestEvent::Origin(Instant::now()));
    // Request 1: TTFT 100 ms, 3 gaps of 50 ms, 4 tokens -> TPOT (250-100)/3 = 50 ms.
    feed(
        &mut r,
        rec(1, 0.0, 100, &[50, 50, 50], 4, TokenSource::Usage),
    );
    // Request 2: TTFT 200 ms, 1 gap of 100 ms, 2 tokens -> TPOT 100 ms (misses both SLOs).
    feed(&mut r, rec(2, 0.5, 200, &[100], 2, TokenSource::Chunks));
    tokio::time::advance(Duration::from_secs(3)).await;
    let out = r.finish_run();
    let s = &out.snapshot;
    assert_eq!(
        (
            s.counts.sent,
            s.counts.ok,
            s.counts.failed,
            s.counts.in_flight
        ),
        (2, 2, 0, 0)
    );
    assert_eq!(s.counts.output_tokens, 6);
    assert_eq!(s.counts.input_tokens, 20);
    assert_eq!(
        (s.counts.output_from_usage, s.counts.output_from_chunks),
        (1, 1)
    );
    assert!((s.whole[LatencyMetric::Ttft].mean - 150.0).abs() < 1e-6);
    assert!((s.whole[LatencyMetric::Ttft].median - 150.0).abs() < 1e-6);
    assert!((s.whole[LatencyMetric::Tpot].mean - 75.0).abs() < 1e-6);
    // ITL concatenates every gap: 50, 50, 50, 100 -> mean 62.5, median 50.
    assert_eq!(s.whole[LatencyMetric::Itl].count, 4);
    assert!((s.whole[LatencyMetric::Itl].mean - 62.5).abs() < 1e-6);
    assert!((s.whole[LatencyMetric::Itl].median - 50.0).abs() < 1e-6);
    assert_eq!(out.good_requests, 1);
    assert_eq!(s.state, RunState::Done);
    // All six tokens landed in second 0.
    assert_eq!(s.series.get(0).map(|b| b.output_tokens), Some(6));
    assert_eq!(s.peak_output_tps, 6.0);
    // The requests were fed one after the other: never two in flight.
    assert_eq!(s.peak_concurrency, 1);
}

#[tokio::test(start_paused = true)]
async fn usage_count_replaces_chunk_estimate_in_the_series() {
    let mut r = recorder();
    r.ingest(RequestEvent::Origin(Instant::now()));
    // Two chunks, one in second 0 and one in second 1, but the server says 10 tokens.
    let mut x = rec(1, 0.9, 50, &[200], 10, TokenSource::Usage);
    x.text_chunks = 2;
    feed(&mut r, x);
    tokio::time::advance(Duration::from_secs(5)).await;
    let s = r.finish_run().snapshot;
    let b0 = s.series.get(0).map(|b| b.output_tokens).unwrap_or(0);
    let b1 = s.series.get(1).map(|b| b.output_tokens).unwrap_or(0);
    assert_eq!((b0, b1), (5, 5));
    assert_eq!(s.peak_output_tps, 5.0);
}

#[tokio::test(start_paused = true)]
async fn failures_are_counted_by_kind_and_what_they_received_stays() {
    let mut r = recorder();
    r.ingest(RequestEvent::Origin(Instant::now()));
    let mut bad = rec(7, 0.0, 100, &[10, 10], 3, TokenSource::Chunks);
    bad.error = Some(RequestError {
        kind: ErrorKind::StreamCut,
        status: None,
        message: "cut".into(),
    });
    feed(&mut r, bad);
    let mut bad2 = rec(8, 0.0, 100, &[], 1, TokenSource::Chunks);
    bad2.error = Some(RequestError {
        kind: ErrorKind::HttpStatus,
        status: Some(500),
        message: "HTTP 500: boom".into(),
    });
    feed(&mut r, bad2);
    let s = r.finish_run().snapshot;
    assert_eq!((s.counts.ok, s.counts.failed), (0, 2));
    // The four tokens arrived: they are in the series and the received total, not in the
    // completed requests' total (vLLM's figure).
    assert_eq!(s.series.get(0).map(|b| b.output_tokens), Some(4));
    assert_eq!(s.counts.received_output_tokens, 4);
    assert_eq!(s.counts.output_tokens, 0);
    let kinds: Vec<_> = s
        .errors
        .iter()
        .map(|e| (e.kind, e.count, e.last_message.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ErrorKind::HttpStatus, 1, "HTTP 500: boom"),
            (ErrorKind::StreamCut, 1, "cut")
        ]
    );
    // Both got a first token: TTFT counts them; TPOT and E2E only completed requests.
    assert_eq!(s.whole[LatencyMetric::Ttft].count, 2);
    assert_eq!(
        (
            s.whole[LatencyMetric::Tpot].count,
            s.whole[LatencyMetric::E2el].count
        ),
        (0, 0)
    );
}

/// Per-second buckets hold the same requests as the totals, and a finished run has no current
/// send rate.
#[tokio::test(start_paused = true)]
async fn successes_are_counted_in_their_second_and_done_has_no_rate() {
    let mut r = recorder();
    r.ingest(RequestEvent::Origin(Instant::now()));
    tokio::time::advance(Duration::from_secs(3)).await;
    for id in 0..6 {
        feed(
            &mut r,
            rec(id, id as f64 * 0.4, 100, &[50, 50], 3, TokenSource::Usage),
        );
    }
    let live = r.snapshot(false);
    let per_second: u64 = live.series.iter().map(|(_, b)| b.ok).sum();
    assert_eq!((live.counts.ok, per_second), (6, 6));
    assert!(live.achieved_rate > 0.0);
    let done = r.finish_run().snapshot;
    assert_eq!(
        done.achieved_rate, 0.0,
        "nothing is sent once the run is over"
    );
}

/// The relations the dashboard fixtures are held to are the recorder's own: its live and final
/// snapshots of a run with successes, failures and requests in flight satisfy every one.
#[tokio::test(start_paused = true)]
async fn live_and_final_snapshots_add_up() {
    let mut cfg = RecorderConfig::new(RunInfo {
        output_len: Some(4),
        ..RunInfo::default()
    });
    cfg.percentiles = vec![50.0, 90.0, 99.0];
    let mut r = Recorder::new(cfg);
    r.ingest(RequestEvent::Origin(Instant::now()));
    tokio::time::advance(Duration::from_secs(3)).await;
    for id in 0..6 {
        let mut x = rec(
            id,
            id as f64 * 0.4,
            100,
            &[50, 50, 50],
            4,
            TokenSource::Usage,
        );
        if id == 4 {
            x.error = Some(RequestError {
                kind: ErrorKind::StreamCut,
                status: None,
                message: "cut".into(),
            });
        }
        feed(&mut r, x);
    }
    // One request still streaming.
    r.ingest(RequestEvent::Sent {
        id: 99,
        warmup: false,
        at: Duration::from_millis(2_500),
        prompt_tokens: 10,
    });
    r.ingest(RequestEvent::Chunk {
        id: 99,
        at: Duration::from_millis(2_700),
        tokens: 1,
        chunks: 1,
        answer: true,
    });
    let live = r.snapshot(false);
    crate::tui::fixtures::check(&live).unwrap();
    assert_eq!((live.counts.ok, live.counts.in_flight), (5, 1));
    let x = rec(99, 2.5, 200, &[50, 50, 50], 4, TokenSource::Usage);
    r.ingest(RequestEvent::Finished(Box::new(x)));
    let done = r.finish_run().snapshot;
    crate::tui::fixtures::check(&done).unwrap();
    assert_eq!(
        done.achieved_rate, 0.0,
        "nothing is sent once the run is over"
    );
}

#[tokio::test(start_paused = true)]
async fn warmups_stay_out_and_cut_requests_are_incomplete() {
    let mut r = recorder();
    r.ingest(RequestEvent::Sent {
        id: 100,
        warmup: true,
        at: Duration::ZERO,
        prompt_tokens: 10,
    });
    let mut w = rec(100, 0.0, 10, &[], 1, TokenSource::Usage);
    w.warmup = true;
    r.ingest(RequestEvent::Finished(Box::new(w)));
    r.ingest(RequestEvent::Origin(Instant::now()));
    r.ingest(RequestEvent::Sent {
        id: 1,
        warmup: false,
        at: Duration::ZERO,
        prompt_tokens: 10,
    });
    r.ingest(RequestEvent::Chunk {
        id: 1,
        at: Duration::from_millis(10),
        tokens: 3,
        chunks: 3,
        answer: true,
    });
    r.ingest(RequestEvent::Cancelled { ids: vec![1] });
    let s = r.finish_run().snapshot;
    assert_eq!(s.counts.warmups, 1);
    assert_eq!(
        (
            s.counts.sent,
            s.counts.ok,
            s.counts.in_flight,
            s.counts.incomplete
        ),
        (1, 0, 0, 1)
    );
    assert_eq!(s.counts.incomplete_output_tokens, 3);
    assert_eq!(s.counts.received_output_tokens, 3);
    assert_eq!(s.series.get(0).map(|b| b.output_tokens), Some(3));
    // It got its first token: its TTFT counts, and its two same-read gaps are ITL zeros.
    assert_eq!(s.whole[LatencyMetric::Ttft].count, 1);
    assert_eq!(s.whole[LatencyMetric::Itl].count, 2);
}

/// A slow stream shows its TTFT and ITL long before it finishes, and its prompt tokens are
/// placed over the seconds of its prefill, not when the server's usage arrives at the end.
#[tokio::test(start_paused = true)]
async fn a_slow_stream_is_live_before_it_finishes() {
    let mut r = recorder();
    r.ingest(RequestEvent::Origin(Instant::now()));
    r.ingest(RequestEvent::Sent {
        id: 1,
        warmup: false,
        at: Duration::ZERO,
        prompt_tokens: 3000,
    });
    // First token after 2.5 s (a long prefill), then one token a second.
    for (i, ms) in [2500u64, 3500, 4500].iter().enumerate() {
        r.ingest(RequestEvent::Chunk {
            id: 1,
            at: Duration::from_millis(*ms),
            tokens: 1,
            chunks: 1,
            answer: i > 0,
        });
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    let s = r.snapshot(false);
    assert_eq!(s.whole[LatencyMetric::Ttft].count, 1);
    assert!((s.whole[LatencyMetric::Ttft].mean - 2500.0).abs() < 1e-6);
    assert!((s.whole[LatencyMetric::Ttfo].mean - 3500.0).abs() < 1e-6);
    assert_eq!(s.whole[LatencyMetric::Itl].count, 2);
    assert_eq!(s.recent[LatencyMetric::Ttft].count, 1);
    assert_eq!(s.counts.received_output_tokens, 3);
    assert_eq!(s.counts.output_tokens, 0, "nothing completed yet");
    // The prompt spread over seconds 0, 1 and 2 (sent at 0, first token in second 2).
    let input: Vec<u64> = (0..5)
        .map(|i| s.series.get(i).map_or(0, |b| b.input_tokens))
        .collect();
    assert_eq!(input, vec![1000, 1000, 1000, 0, 0]);
    // The per-second latency means have a value in the second of the first token.
    assert_eq!(
        s.series.get(2).map(|b| b.latency_n[LatencyMetric::Ttft]),
        Some(1)
    );
    assert_eq!(s.streams.len(), 1);
    assert_eq!(s.streams[0].tokens, 3);
    assert_eq!(s.streams[0].tokens_per_s, Some(1.0));
    // The server's usage then says 3,200 prompt tokens: the difference goes to second 2.
    let mut done = rec(1, 0.0, 2500, &[1000, 1000], 3, TokenSource::Usage);
    done.prompt_tokens = 3200;
    r.ingest(RequestEvent::Finished(Box::new(done)));
    let s = r.finish_run().snapshot;
    let input: Vec<u64> = (0..3)
        .map(|i| s.series.get(i).map_or(0, |b| b.input_tokens))
        .collect();
    assert_eq!(input, vec![1000, 1000, 1200]);
    assert_eq!(s.counts.input_tokens, 3200);
    assert_eq!(s.counts.received_input_tokens, 3200);
    // Live samples are not counted twice when the request completes.
    assert_eq!(
        (
            s.whole[LatencyMetric::Ttft].count,
            s.whole[LatencyMetric::Itl].count,
            s.whole[LatencyMetric::Tpot].count
        ),
        (1, 2, 1)
    );
}

#[test]
fn goodput_flag_errors_name_the_value() {
    assert_eq!(
        parse_goodput(&["ttft".into()]),
        Err("--goodput: 'ttft' is not METRIC:MS (e.g. ttft:500)".into())
    );
    assert_eq!(
        parse_goodput(&["itl:5".into()]),
        Err("--goodput: unknown metric 'itl' (use ttft, tpot or e2el)".into())
    );
    assert_eq!(
        parse_goodput(&["e2el:-1".into()]),
        Err("--goodput: '-1' is not a positive number of milliseconds".into())
    );
    assert_eq!(
        parse_goodput(&["ttft:500 tpot:50".into()]).map(|v| v.len()),
        Ok(2)
    );
}

#[tokio::test(start_paused = true)]
async fn jsonl_gets_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let mut cfg = RecorderConfig::new(RunInfo::default());
    cfg.jsonl = Some(path.clone());
    let mut r = Recorder::new(cfg);
    r.ingest(RequestEvent::Origin(Instant::now()));
    feed(&mut r, rec(1, 0.0, 100, &[50], 2, TokenSource::Usage));
    feed(&mut r, rec(2, 0.0, 100, &[50], 2, TokenSource::Usage));
    let out = r.finish_run();
    assert!(out.jsonl_error.is_none());
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ttft_ms"], 100.0);
    assert_eq!(lines[1]["output_tokens_source"], "usage");
}

#[tokio::test(start_paused = true)]
async fn a_retried_request_is_one_request_and_what_the_server_said_is_summed() {
    let mut r = recorder();
    r.ingest(RequestEvent::Origin(Instant::now()));
    let timings = |prefill: f64, decode: f64| crate::protocol::chunk::ServerTimings {
        prompt_per_second: Some(prefill),
        predicted_per_second: Some(decode),
        ..Default::default()
    };
    let mut a = rec(1, 0.0, 100, &[10], 2, TokenSource::Usage);
    a.retries = 1;
    a.cached_prompt_tokens = Some(4);
    a.server_timings = Some(timings(1000.0, 50.0));
    feed(&mut r, a);
    let mut b = rec(2, 0.0, 100, &[10], 2, TokenSource::Usage);
    b.cached_prompt_tokens = Some(0);
    b.server_timings = Some(timings(3000.0, 70.0));
    feed(&mut r, b);
    // A failure's figures stay out of the server's per-request means; its retry still counts.
    let mut bad = rec(3, 0.0, 100, &[], 1, TokenSource::Usage);
    bad.retries = 1;
    bad.cached_prompt_tokens = Some(100);
    bad.error = Some(RequestError {
        kind: ErrorKind::Connect,
        status: None,
        message: "closed".into(),
    });
    feed(&mut r, bad);
    tokio::time::advance(Duration::from_secs(2)).await;
    let s = r.finish_run().snapshot;
    assert_eq!((s.counts.sent, s.counts.ok, s.counts.failed), (3, 2, 1));
    assert_eq!(s.counts.retried, 2);
    let said = s.counts.server_said;
    assert_eq!(said.cached(), Some(4));
    assert_eq!(said.cached_of_prompt_tokens, 20);
    assert_eq!(said.mean_prefill_tok_s(), Some(2000.0));
    assert_eq!(said.mean_decode_tok_s(), Some(60.0));
}
