//! Hand-built `Snapshot`s with fixed numbers, in each state the dashboard shows, for the
//! render tests and the drawing benchmark. Every number is a function of its inputs: the same
//! call gives the same screen.

use crate::record::ErrorKind;
use crate::snapshot::{
    Control, Counts, Dist, ErrorCount, LatencySet, LogLine, RunInfo, RunState, SecondBucket,
    Series, Snapshot, TimelineEvent,
};
use std::sync::Arc;
use std::time::Duration;

fn info() -> Arc<RunInfo> {
    Arc::new(RunInfo {
        base_url: "http://127.0.0.1:8000".into(),
        model: "Qwen/Qwen3-8B".into(),
        endpoint: "/v1/chat/completions".into(),
        simulated: true,
        dataset: "random".into(),
        input_len: Some(1024),
        output_len: Some(128),
        num_prompts: Some(1000),
        duration_limit: None,
    })
}

/// A distribution around `median` (ms) with fixed spreads.
fn dist(count: u64, median: f64) -> Dist {
    if count == 0 {
        return Dist::default();
    }
    Dist {
        count,
        mean: median * 1.08,
        std: median * 0.2,
        median,
        min: median * 0.5,
        max: median * 2.4,
        percentiles: vec![
            (50.0, median),
            (90.0, median * 1.45),
            (95.0, median * 1.7),
            (99.0, median * 2.2),
        ],
    }
}

fn latencies(count: u64, scale: f64, reasoning: bool) -> LatencySet {
    LatencySet {
        ttft: dist(count, 182.0 * scale),
        ttfo: if reasoning {
            dist(count, 910.0 * scale)
        } else {
            Dist::default()
        },
        tpot: dist(count, 21.4 * scale),
        itl: dist(count, 20.9 * scale),
        e2el: dist(count, 2900.0 * scale),
        queue: dist(count, 3.0),
    }
}

/// A deterministic wobble in `[0, span)` for second `i` (a triangle wave plus a stride).
fn wobble(i: usize, span: u64) -> u64 {
    let tri = (i % 20) as u64;
    let tri = if tri < 10 { tri } else { 20 - tri };
    (tri * span / 10 + (i as u64 * 37) % (span / 4).max(1)) % span.max(1)
}

/// `seconds` of series for a steady run at about `tps` output tokens per second.
pub fn series(seconds: usize, tps: u64, reasoning: bool) -> Series {
    let mut s = Series::default();
    for i in 0..seconds {
        let ramp = ((i as u64 + 1) * 100 / 5).min(100);
        let b = s.bucket_mut(i);
        *b = SecondBucket {
            output_tokens: (tps + wobble(i, tps / 4)) * ramp / 100,
            input_tokens: (tps * 2 + wobble(i + 7, tps)) * ramp / 100,
            chunks: (tps + wobble(i, tps / 4)) * ramp / 100,
            sent: 4 + (i as u64 % 3),
            ok: 4 + (i as u64 % 3),
            failed: 0,
            ttft_sum_us: 4 * (170_000 + wobble(i, 40_000)),
            ttft_n: 4,
            tpot_sum_us: 4 * (20_000 + wobble(i + 3, 3_000)),
            tpot_n: 4,
            itl_sum_us: 400 * (19_500 + wobble(i + 5, 3_000)),
            itl_n: 400,
            e2e_sum_us: 4 * (2_800_000 + wobble(i + 9, 400_000)),
            e2e_n: 4,
            ttfo_sum_us: if reasoning {
                4 * (900_000 + wobble(i, 100_000))
            } else {
                0
            },
            ttfo_n: if reasoning { 4 } else { 0 },
            peak_in_flight: 8,
        };
    }
    s
}

fn log_lines(upto: Duration, n: usize) -> Arc<Vec<LogLine>> {
    let end = upto.as_millis() as u64;
    let lines = (0..n as u64)
        .map(|k| {
            let at_ms = end.saturating_sub((n as u64 - k) * 230);
            LogLine {
                at: Duration::from_millis(at_ms),
                id: 300 + k,
                output_tokens: 128,
                ttft_ms: Some(160.0 + (k * 13 % 50) as f64),
                e2e_ms: 2800.0 + (k * 71 % 400) as f64,
                status: "ok".into(),
            }
        })
        .collect();
    Arc::new(lines)
}

/// Starting: the server is being probed, nothing measured yet.
pub fn idle() -> Snapshot {
    let mut info = (*info()).clone();
    info.model = String::new();
    Snapshot {
        info: Arc::new(info),
        state: RunState::Starting,
        control: Control {
            max_concurrency: Some(8),
            request_rate: None,
            paused: false,
        },
        recent_window: Duration::from_secs(30),
        ..Snapshot::default()
    }
}

/// A steady run 75.4 s in: 8 in flight, about 1,200 output tok/s.
pub fn running() -> Snapshot {
    running_at(Duration::from_millis(75_400), 1200)
}

/// A steady run at `elapsed` (the benchmark advances it frame by frame).
pub fn running_at(elapsed: Duration, tps: u64) -> Snapshot {
    let secs = elapsed.as_secs() as usize + 1;
    let ok = secs as u64 * 5;
    Snapshot {
        info: info(),
        elapsed,
        state: RunState::Running,
        control: Control {
            max_concurrency: Some(8),
            request_rate: Some(6.0),
            paused: false,
        },
        counts: Counts {
            sent: ok + 8,
            ok,
            failed: 0,
            in_flight: 8,
            queued: 1,
            warmups: 2,
            input_tokens: ok * 1024,
            output_tokens: ok * 128,
            output_from_usage: ok,
            output_from_chunks: 0,
            reasoning_chunks: 0,
            ..Counts::default()
        },
        series: series(secs, tps, false),
        whole: latencies(ok, 1.0, false),
        recent: latencies(150, 1.05, false),
        recent_window: Duration::from_secs(30),
        errors: Vec::new(),
        log: log_lines(elapsed, 40),
        timeline: Arc::new(vec![
            TimelineEvent {
                at: Duration::from_millis(12_000),
                what: "concurrency 7 → 8 (key +)".into(),
            },
            TimelineEvent {
                at: elapsed.saturating_sub(Duration::from_millis(1_100)),
                what: "request rate 4.8 → 6.0/s (key ])".into(),
            },
        ]),
        peak_output_tps: (tps + tps / 4) as f64,
        peak_concurrency: 8,
        achieved_rate: 5.9,
        interrupted: false,
        fatal: None,
        streams: Default::default(),
    }
}

/// The running snapshot, paused by the user.
pub fn paused() -> Snapshot {
    let mut s = running();
    s.state = RunState::Paused;
    s.control.paused = true;
    s.counts.in_flight = 2;
    let mut tl = (*s.timeline).clone();
    tl.push(TimelineEvent {
        at: Duration::from_millis(75_000),
        what: "paused (key space)".into(),
    });
    s.timeline = Arc::new(tl);
    s
}

/// A run with failures of three kinds, a reasoning model (TTFO shown) and a client that cannot
/// reach its target rate.
pub fn with_errors() -> Snapshot {
    let mut s = running();
    s.info = Arc::new(RunInfo {
        model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B".into(),
        simulated: false,
        base_url: "http://gpu-node-2.lab.internal:8000".into(),
        ..(*info()).clone()
    });
    s.counts.failed = 23;
    s.counts.reasoning_chunks = 12_345;
    s.series = series(76, 1200, true);
    s.whole = latencies(s.counts.ok, 1.0, true);
    s.recent = latencies(150, 1.3, true);
    s.control.request_rate = Some(10.0);
    s.achieved_rate = 6.1;
    s.errors = vec![
        ErrorCount {
            kind: ErrorKind::HttpStatus,
            count: 17,
            last_message: "HTTP 503: {\"error\":\"server overloaded, retry later\"}".into(),
            samples: vec![],
        },
        ErrorCount {
            kind: ErrorKind::Timeout,
            count: 5,
            last_message: "no response within 600 s (--timeout)".into(),
            samples: vec![],
        },
        ErrorCount {
            kind: ErrorKind::StreamCut,
            count: 1,
            last_message: "the body ended before [DONE] after 57 chunks".into(),
            samples: vec![],
        },
    ];
    let mut log = (*s.log).clone();
    if let Some(last) = log.last_mut() {
        last.status = "http_status: HTTP 503 server overloaded".into();
        last.ttft_ms = None;
    }
    s.log = Arc::new(log);
    s
}

/// Done: the run finished by itself; the screen stays until `q`.
pub fn done() -> Snapshot {
    let mut s = running();
    s.state = RunState::Done;
    s.counts.in_flight = 0;
    s.counts.queued = 0;
    s
}
