//! One simulated generation: queueing under `--max-num-seqs`, prefill, decode on absolute
//! deadlines, and mid-stream faults. What the events look like on the wire is the sink's business.
//!
//! Timing model:
//! - A request waits for a slot while `--max-num-seqs` requests are running (FIFO).
//! - Once admitted, its first token chunk is due at
//!   `admitted + ttft + prefill_per_token * prompt_tokens`.
//! - Each later chunk is due one gap after the previous chunk's deadline, with
//!   `gap = itl * (1 + slowdown * (running - 1))`, `running` read when the gap starts. This is the
//!   GPU batching effect: every decode step gets slower as the batch grows.
//! - Deadlines are absolute (`sleep_until`), so a late wake-up never delays later chunks.

use super::faults::{Draw, FaultKind};
use super::metrics::{Finish, Metrics};
use super::MockConfig;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The simulator's shared state: its configuration, its metrics and its batch slots.
pub(crate) struct Sim {
    pub cfg: MockConfig,
    pub metrics: Metrics,
    /// `None` when `--max-num-seqs` is 0 (unlimited).
    pub slots: Option<Semaphore>,
    /// The model name as a JSON string literal, quotes included, for the chunk prefix.
    pub model_json: String,
    pub prefix_cache: super::prefix_cache::PrefixCache,
}

impl Sim {
    pub fn new(cfg: MockConfig) -> Self {
        let slots = (cfg.max_num_seqs > 0).then(|| Semaphore::new(cfg.max_num_seqs));
        // Serialising a plain string cannot fail; fall back to a placeholder all the same.
        let model_json = serde_json::to_string(&cfg.model).unwrap_or_else(|_| "\"\"".into());
        Sim {
            prefix_cache: super::prefix_cache::PrefixCache::new(cfg.kv_cache_tokens),
            cfg,
            metrics: Metrics::default(),
            slots,
            model_json,
        }
    }
}

/// What one request asks for, after parsing and validation.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// When the request arrived; TTFT is measured from here.
    pub arrival: Instant,
    pub prompt_tokens: u32,
    /// Of the prompt tokens, those the prefix cache held.
    pub cached_tokens: u32,
    pub output_tokens: u32,
    /// The first this-many output tokens are reasoning.
    pub reasoning_tokens: u32,
    pub tokens_per_chunk: u32,
    pub finish: Finish,
    pub draw: Draw,
}

impl Plan {
    /// Number of token chunks in the stream.
    pub fn chunks(&self) -> u32 {
        self.output_tokens.div_ceil(self.tokens_per_chunk.max(1))
    }
}

/// The gap between two token chunks when `running` requests share the batch.
pub fn chunk_gap(itl: Duration, slowdown: f64, running: u64) -> Duration {
    let factor = 1.0 + slowdown.max(0.0) * running.saturating_sub(1) as f64;
    itl.mul_f64(factor)
}

/// The receiver went away (client disconnected); stop generating.
#[derive(Debug)]
pub(crate) struct Gone;

/// Something that happens in a stream, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The role-only chunk; sent just before the first token chunk.
    Role,
    /// Output tokens `start..start + len`; `last` marks the chunk carrying `finish_reason`.
    Tokens { start: u32, len: u32, last: bool },
    /// A line of invalid JSON (fault).
    Malformed,
    /// An error event; the generation ends after it (fault).
    Error,
    /// The connection drops here (fault).
    Cut,
    /// The usage-only chunk (the sink decides whether it is wanted).
    Usage,
    /// The `[DONE]` terminator (the sink decides whether it is wanted).
    Done,
}

/// Where a generation's events go: an SSE stream, or a whole response being assembled.
pub(crate) trait Sink {
    /// Delivers one event now.
    async fn send(&mut self, event: Event) -> Result<(), Gone>;
    /// Waits until `deadline` (an SSE sink sends keep-alive comments meanwhile).
    async fn wait_until(&mut self, deadline: Instant) -> Result<(), Gone>;
    /// Waits one keep-alive period (sending a comment), or forever when there is nothing to do;
    /// errs when the receiver is gone. Must be cancel-safe: it races the queue.
    async fn idle(&mut self) -> Result<(), Gone>;
}

/// Counts a request as waiting until dropped.
struct Waiting<'a>(&'a Metrics);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Relaxed);
    }
}

/// Counts a request as running, and its tokens as held in the KV cache, until dropped.
struct Running<'a> {
    metrics: &'a Metrics,
    kv: u64,
    _slot: Option<SemaphorePermit<'a>>,
}

impl Running<'_> {
    fn hold(&mut self, tokens: u64) {
        self.kv += tokens;
        self.metrics.kv_tokens.fetch_add(tokens, Relaxed);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.metrics.running.fetch_sub(1, Relaxed);
        self.metrics.kv_tokens.fetch_sub(self.kv, Relaxed);
    }
}

/// Waits for a batch slot, keeping the sink alive meanwhile.
async fn admit<'a, S: Sink>(
    sim: &'a Sim,
    sink: &mut S,
) -> Result<Option<SemaphorePermit<'a>>, Gone> {
    let Some(slots) = &sim.slots else {
        return Ok(None);
    };
    // Fast path: a free slot, no waiting to count.
    if let Ok(p) = slots.try_acquire() {
        return Ok(Some(p));
    }
    sim.metrics.waiting.fetch_add(1, Relaxed);
    let _waiting = Waiting(&sim.metrics);
    let acquire = slots.acquire();
    tokio::pin!(acquire);
    loop {
        tokio::select! {
            permit = &mut acquire => {
                // The semaphore is never closed, so Err cannot happen; treat it as unlimited.
                return Ok(permit.ok());
            }
            r = sink.idle() => r?,
        }
    }
}

/// Runs one generation to its end (or its fault), sending events to `sink`.
pub(crate) async fn generate<S: Sink>(sim: &Sim, plan: &Plan, sink: &mut S) -> Result<(), Gone> {
    let cfg = &sim.cfg;
    let m = &sim.metrics;
    let slot = admit(sim, sink).await?;
    let admitted = Instant::now();
    m.queue.observe(admitted - plan.arrival);
    // Looked up when scheduled, as vLLM's scheduler counts them.
    m.prefix_queries
        .fetch_add(u64::from(plan.prompt_tokens), Relaxed);
    m.prefix_hits
        .fetch_add(u64::from(plan.cached_tokens), Relaxed);
    m.running.fetch_add(1, Relaxed);
    let mut run = Running {
        metrics: m,
        kv: 0,
        _slot: slot,
    };
    run.hold(u64::from(plan.prompt_tokens));
    m.prompt_tokens
        .fetch_add(u64::from(plan.prompt_tokens), Relaxed);

    let prefill = cfg.prefill_per_token.saturating_mul(plan.prompt_tokens);
    let mut deadline = admitted + cfg.ttft + prefill;
    let chunks = plan.chunks();
    let per_chunk = plan.tokens_per_chunk.max(1);
    let fault = plan.draw.fault.filter(|k| !k.is_before_response());
    let mut last_chunk: Option<Instant> = None;
    for i in 0..=chunks {
        if i > 0 && i < chunks {
            deadline += chunk_gap(cfg.itl, cfg.slowdown, m.running.load(Relaxed));
        }
        if let Some(kind) = fault.filter(|_| i == plan.draw.at_chunk) {
            m.fault(kind);
            match kind {
                FaultKind::Stall => deadline += cfg.stall,
                FaultKind::Malformed => {
                    sink.wait_until(deadline).await?;
                    sink.send(Event::Malformed).await?;
                }
                FaultKind::ErrorEvent => {
                    sink.wait_until(deadline).await?;
                    sink.send(Event::Error).await?;
                    return sink.send(Event::Done).await;
                }
                FaultKind::CutStream => {
                    sink.wait_until(deadline).await?;
                    return sink.send(Event::Cut).await;
                }
                FaultKind::Fail500 | FaultKind::Fail429 => {}
            }
        }
        if i == chunks {
            break;
        }
        sink.wait_until(deadline).await?;
        let sent_at = Instant::now();
        if let Some(prev) = last_chunk.replace(sent_at) {
            m.observe_itl(sent_at - prev);
        }
        if i == 0 {
            m.observe_ttft(Instant::now() - plan.arrival);
            sink.send(Event::Role).await?;
        }
        let start = i * per_chunk;
        let len = per_chunk.min(plan.output_tokens - start);
        sink.send(Event::Tokens {
            start,
            len,
            last: i + 1 == chunks,
        })
        .await?;
        m.generation_tokens.fetch_add(u64::from(len), Relaxed);
        run.hold(u64::from(len));
    }
    if fault == Some(FaultKind::Stall) && plan.draw.at_chunk >= chunks {
        // A stall after the last chunk delays the end of the stream.
        sink.wait_until(deadline).await?;
    }
    m.success(plan.finish);
    m.observe_e2e(Instant::now() - plan.arrival);
    m.finished(
        u64::from(plan.prompt_tokens),
        u64::from(plan.output_tokens),
        u64::from(plan.cached_tokens),
    );
    sink.send(Event::Usage).await?;
    sink.send(Event::Done).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::faults::FaultRates;

    #[test]
    fn gap_grows_with_the_batch() {
        let itl = Duration::from_millis(10);
        let cases: &[(f64, u64, u64)] = &[
            (0.0, 1, 10_000),
            (0.0, 50, 10_000),
            (0.02, 0, 10_000),
            (0.02, 1, 10_000),
            (0.02, 2, 10_200),
            (0.02, 51, 20_000),
            (0.5, 3, 20_000),
        ];
        for &(slowdown, running, want_us) in cases {
            let got = chunk_gap(itl, slowdown, running).as_micros() as u64;
            assert_eq!(got, want_us, "slowdown {slowdown}, running {running}");
        }
    }

    /// Records when each event arrived, relative to a start instant.
    struct Recorder {
        start: Instant,
        log: Vec<(u128, Event)>,
    }

    impl Sink for Recorder {
        async fn send(&mut self, event: Event) -> Result<(), Gone> {
            self.log.push((self.start.elapsed().as_millis(), event));
            Ok(())
        }
        async fn wait_until(&mut self, deadline: Instant) -> Result<(), Gone> {
            tokio::time::sleep_until(deadline).await;
            Ok(())
        }
        async fn idle(&mut self) -> Result<(), Gone> {
            std::future::pending().await
        }
    }

    fn config() -> MockConfig {
        MockConfig {
            ttft: Duration::from_millis(100),
            itl: Duration::from_millis(10),
            slowdown: 0.0,
            ..MockConfig::default()
        }
    }

    fn plan(output: u32, per_chunk: u32, draw: Draw) -> Plan {
        Plan {
            arrival: Instant::now(),
            prompt_tokens: 7,
            cached_tokens: 0,
            output_tokens: output,
            reasoning_tokens: 0,
            tokens_per_chunk: per_chunk,
            finish: Finish::Length,
            draw,
        }
    }

    const NO_FAULT: Draw = Draw {
        fault: None,
        at_chunk: 1,
    };

    async fn run(sim: &Sim, plan: &Plan) -> Vec<(u128, Event)> {
        let mut rec = Recorder {
            start: Instant::now(),
            log: Vec::new(),
        };
        let r = generate(sim, plan, &mut rec).await;
        assert!(r.is_ok());
        rec.log
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_is_ttft_then_one_gap_per_chunk() {
        let sim = Sim::new(config());
        let log = run(&sim, &plan(4, 1, NO_FAULT)).await;
        let tok = |start, last| Event::Tokens {
            start,
            len: 1,
            last,
        };
        assert_eq!(
            log,
            vec![
                (100, Event::Role),
                (100, tok(0, false)),
                (110, tok(1, false)),
                (120, tok(2, false)),
                (130, tok(3, true)),
                (130, Event::Usage),
                (130, Event::Done),
            ]
        );
        let m = &sim.metrics;
        assert_eq!(m.generation_tokens.load(Relaxed), 4);
        assert_eq!(m.prompt_tokens.load(Relaxed), 7);
        assert_eq!(m.running.load(Relaxed), 0);
        assert_eq!(m.kv_tokens.load(Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn several_tokens_per_chunk_and_prefill_cost() {
        let mut cfg = config();
        cfg.prefill_per_token = Duration::from_millis(2);
        let sim = Sim::new(cfg);
        let log = run(&sim, &plan(5, 2, NO_FAULT)).await;
        let times: Vec<_> = log.iter().map(|(t, _)| *t).collect();
        // ttft 100 + 7 prompt tokens * 2 ms = 114.
        assert_eq!(times, vec![114, 114, 124, 134, 134, 134]);
        assert_eq!(
            log[3].1,
            Event::Tokens {
                start: 4,
                len: 1,
                last: true
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stall_shifts_every_later_chunk() {
        let mut cfg = config();
        cfg.stall = Duration::from_millis(1000);
        cfg.faults = FaultRates {
            stall: 1.0,
            ..FaultRates::default()
        };
        let sim = Sim::new(cfg);
        let draw = Draw {
            fault: Some(FaultKind::Stall),
            at_chunk: 2,
        };
        let log = run(&sim, &plan(4, 1, draw)).await;
        let times: Vec<_> = log.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, vec![100, 100, 110, 1120, 1130, 1130, 1130]);
        assert_eq!(sim.metrics.faults(FaultKind::Stall), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn mid_stream_faults_end_or_mark_the_stream() {
        let sim = Sim::new(config());
        let draw = |kind| Draw {
            fault: Some(kind),
            at_chunk: 1,
        };
        let events = |log: Vec<(u128, Event)>| log.into_iter().map(|(_, e)| e).collect::<Vec<_>>();
        let t0 = Event::Tokens {
            start: 0,
            len: 1,
            last: false,
        };
        let t1 = Event::Tokens {
            start: 1,
            len: 1,
            last: true,
        };
        let cut = events(run(&sim, &plan(2, 1, draw(FaultKind::CutStream))).await);
        assert_eq!(cut, vec![Event::Role, t0, Event::Cut]);
        let err = events(run(&sim, &plan(2, 1, draw(FaultKind::ErrorEvent))).await);
        assert_eq!(err, vec![Event::Role, t0, Event::Error, Event::Done]);
        let bad = events(run(&sim, &plan(2, 1, draw(FaultKind::Malformed))).await);
        assert_eq!(
            bad,
            vec![
                Event::Role,
                t0,
                Event::Malformed,
                t1,
                Event::Usage,
                Event::Done
            ]
        );
        for kind in [
            FaultKind::CutStream,
            FaultKind::ErrorEvent,
            FaultKind::Malformed,
        ] {
            assert_eq!(sim.metrics.faults(kind), 1, "{kind:?}");
        }
        assert_eq!(sim.metrics.running.load(Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn queued_requests_wait_for_a_slot_and_slow_the_batch() {
        let mut cfg = config();
        cfg.max_num_seqs = 1;
        let sim = Sim::new(cfg);
        let p = plan(3, 1, NO_FAULT);
        let (a, b) = tokio::join!(run(&sim, &p), run(&sim, &p));
        // The first runs 100..120; the second is admitted at 120, so its first token is at 220.
        assert_eq!(a.first().map(|e| e.0), Some(100));
        assert_eq!(a.last().map(|e| e.0), Some(120));
        assert_eq!(b.first().map(|e| e.0), Some(220));
        assert_eq!(sim.metrics.waiting.load(Relaxed), 0);

        let mut cfg = config();
        cfg.slowdown = 0.5;
        let sim = Sim::new(cfg);
        let (a, _) = tokio::join!(run(&sim, &p), run(&sim, &p));
        // Two running: each gap is 10 * (1 + 0.5) = 15 ms.
        let times: Vec<_> = a.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, vec![100, 100, 115, 130, 130, 130]);
    }
}
