//! The recorder: sole owner of the run's statistics.
//!
//! Request tasks and the engine send small `RequestEvent`s on an unbounded channel; the recorder
//! folds them into HDR/exact distributions, per-second buckets and counters, appends each
//! finished request to the JSONL log, and publishes an `Arc<Snapshot>` on a `watch` channel
//! ten times a second. Nothing else writes statistics, so the faces cannot disagree.

use crate::load::record::{ErrorKind, RequestEvent, RequestRecord, TokenSource};
pub use crate::metrics::latency::parse_goodput;
use crate::metrics::latency::{LatencyMetric, PerMetric, Slo};
use crate::metrics::snapshot::{
    Control, Counts, ErrorCount, LatencySet, LogLine, RunInfo, RunState, Series, Snapshot,
    StreamView, TimelineEvent, STREAMS_SHOWN,
};
use crate::metrics::stats::{summarize_slice, Distribution};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How the recorder is set up.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub info: Arc<RunInfo>,
    pub percentiles: Vec<f64>,
    pub goodput: Vec<Slo>,
    /// Length of the dashboard's "recent" window.
    pub recent_window: Duration,
    pub publish_every: Duration,
    /// Append each finished request here as one JSON line.
    pub jsonl: Option<PathBuf>,
    /// Keep per-request arrays for `--save-detailed`.
    pub detailed: bool,
    pub control: Control,
    /// Compute the recent window's percentiles at each publish (the dashboard shows them;
    /// `bench` does not, and they are the publish's main cost: a sort of every recent sample).
    pub recent_percentiles: bool,
}

impl RecorderConfig {
    pub fn new(info: RunInfo) -> Self {
        RecorderConfig {
            info: Arc::new(info),
            percentiles: vec![50.0, 90.0, 95.0, 99.0],
            goodput: Vec::new(),
            recent_window: Duration::from_secs(30),
            publish_every: Duration::from_millis(100),
            jsonl: None,
            detailed: false,
            control: Control::default(),
            recent_percentiles: true,
        }
    }
}

/// Per-request arrays kept for `--save-detailed`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Detailed {
    pub input_lens: Vec<u64>,
    pub output_lens: Vec<u64>,
    pub ttfts: Vec<f64>,
    pub itls: Vec<Vec<f64>>,
    pub start_times: Vec<f64>,
    pub errors: Vec<String>,
}

/// What the recorder hands back when the run is over.
#[derive(Debug, Clone)]
pub struct RecorderOutcome {
    /// The final snapshot (exact percentiles, state Done).
    pub snapshot: Arc<Snapshot>,
    /// Successful requests that met every `--goodput` SLO.
    pub good_requests: u64,
    pub detailed: Option<Detailed>,
    /// The JSONL log, if one was written, and an error if writing it failed.
    pub jsonl: Option<PathBuf>,
    pub jsonl_error: Option<String>,
    /// What the prompts' source used and did (dataset, token counting, calibrations); the
    /// recorder never sees the prompts: `runner` fills it in.
    pub workload: Option<crate::load::workload::WorkloadInfo>,
}

/// Recent samples of one metric: (second of completion, microseconds).
#[derive(Debug, Default)]
struct Recent {
    values: VecDeque<(u32, u32)>,
}

impl Recent {
    /// Cap per metric: the recent window is for display, and sorting must stay cheap.
    const CAP: usize = 20_000;
    fn push(&mut self, sec: u32, us: u32) {
        if self.values.len() == Self::CAP {
            self.values.pop_front();
        }
        self.values.push_back((sec, us));
    }
    fn prune(&mut self, oldest_sec: u32) {
        while self.values.front().is_some_and(|(s, _)| *s < oldest_sec) {
            self.values.pop_front();
        }
    }
    fn dist(&self, percentiles: &[f64], scratch: &mut Vec<u32>) -> crate::metrics::snapshot::Dist {
        scratch.clear();
        scratch.extend(self.values.iter().map(|(_, v)| *v));
        summarize_slice(scratch, percentiles)
    }
}

/// Whole-run distributions: one per latency metric, and the client queue time.
#[derive(Debug, Default)]
struct Dists {
    by_metric: PerMetric<Distribution>,
    queue: Distribution,
}

/// Samples of the recent window, as `Dists`.
#[derive(Debug, Default)]
struct RecentSet {
    by_metric: PerMetric<Recent>,
    queue: Recent,
}

impl std::ops::Index<LatencyMetric> for Dists {
    type Output = Distribution;
    fn index(&self, m: LatencyMetric) -> &Distribution {
        &self.by_metric[m]
    }
}
impl std::ops::IndexMut<LatencyMetric> for Dists {
    fn index_mut(&mut self, m: LatencyMetric) -> &mut Distribution {
        &mut self.by_metric[m]
    }
}
impl std::ops::Index<LatencyMetric> for RecentSet {
    type Output = Recent;
    fn index(&self, m: LatencyMetric) -> &Recent {
        &self.by_metric[m]
    }
}
impl std::ops::IndexMut<LatencyMetric> for RecentSet {
    fn index_mut(&mut self, m: LatencyMetric) -> &mut Recent {
        &mut self.by_metric[m]
    }
}

/// The statistics of one run. Public for tests that drive it event by event.
pub struct Recorder {
    cfg: RecorderConfig,
    origin: Option<Instant>,
    state: RunState,
    control: Control,
    counts: Counts,
    series: Series,
    whole: Dists,
    recent: RecentSet,
    errors: HashMap<ErrorKind, ErrorCount>,
    log: VecDeque<LogLine>,
    timeline: Vec<TimelineEvent>,
    /// Timed requests in flight, followed read by read.
    live: HashMap<u64, live::Live>,
    warmups: HashSet<u64>,
    peak_output: u64,
    good: u64,
    interrupted: bool,
    fatal: Option<String>,
    detailed: Option<Detailed>,
    /// The per-request log. Unbuffered on purpose: each record is one `write` of one whole line,
    /// so a process killed at any moment (even `kill -9`) leaves no torn line behind.
    jsonl: Option<std::fs::File>,
    jsonl_error: Option<String>,
    scratch: Vec<u32>,
    /// Bumped when anything visible changed, so unchanged state is not re-published.
    dirty: bool,
}

/// How often the recorder takes what the request tasks sent.
const DRAIN_EVERY: Duration = Duration::from_millis(10);

/// Lines kept in the request log pane.
const LOG_LINES: usize = 200;

/// Whole-run figures keep full u64 microseconds.
fn us64(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// The recent window (display) saturates at u32 microseconds (71 minutes).
fn us32(d: Duration) -> u32 {
    us64(d).min(u64::from(u32::MAX)) as u32
}

impl Recorder {
    pub fn new(cfg: RecorderConfig) -> Self {
        let mut jsonl_error = None;
        let jsonl = cfg.jsonl.as_ref().and_then(|p| {
            std::fs::File::create(p)
                .map_err(|e| jsonl_error = Some(format!("cannot write '{}': {e}", p.display())))
                .ok()
        });
        Recorder {
            control: cfg.control,
            detailed: cfg.detailed.then(Detailed::default),
            cfg,
            origin: None,
            state: RunState::Starting,
            counts: Counts::default(),
            series: Series::default(),
            whole: Dists::default(),
            recent: RecentSet::default(),
            errors: HashMap::new(),
            log: VecDeque::with_capacity(LOG_LINES),
            timeline: Vec::new(),
            live: HashMap::new(),
            warmups: HashSet::new(),
            peak_output: 0,
            good: 0,
            interrupted: false,
            fatal: None,
            jsonl,
            jsonl_error,
            scratch: Vec::new(),
            dirty: true,
        }
    }

    fn sec(at: Duration) -> u32 {
        at.as_secs().min(u32::MAX as u64) as u32
    }

    /// Fold one event into the statistics.
    pub fn ingest(&mut self, ev: RequestEvent) {
        self.dirty = true;
        match ev {
            RequestEvent::Origin(t) => {
                self.origin = Some(t);
                self.state = RunState::Running;
            }
            RequestEvent::Sent {
                id,
                warmup,
                at,
                prompt_tokens,
            } => {
                if warmup {
                    self.warmups.insert(id);
                    return;
                }
                self.counts.sent += 1;
                self.counts.in_flight += 1;
                self.live.insert(id, live::Live::new(at, prompt_tokens));
                let b = self.series.bucket_mut(Self::sec(at) as usize);
                b.sent += 1;
                b.peak_in_flight = b.peak_in_flight.max(self.counts.in_flight as u32);
            }
            RequestEvent::Chunk {
                id,
                at,
                tokens,
                chunks,
                answer,
            } => self.on_chunk(id, at, tokens, chunks, answer),
            RequestEvent::Finished(rec) => self.finish(*rec),
            RequestEvent::Queued { waiting } => self.counts.queued = waiting,
            RequestEvent::Timeline { at, what } => self.timeline.push(TimelineEvent { at, what }),
            RequestEvent::SendingDone { interrupted } => {
                self.interrupted |= interrupted;
                if interrupted {
                    let at = self.elapsed();
                    self.timeline.push(TimelineEvent {
                        at,
                        what: "interrupted: sending stopped".into(),
                    });
                }
                self.state = RunState::Draining;
            }
            RequestEvent::Control(c) => {
                self.control = c;
                if self.state == RunState::Running && c.paused {
                    self.state = RunState::Paused;
                } else if self.state == RunState::Paused && !c.paused {
                    self.state = RunState::Running;
                }
            }
            RequestEvent::State(s) => self.state = s,
            RequestEvent::Cancelled { ids } => {
                for id in ids {
                    if self.warmups.remove(&id) {
                        continue;
                    }
                    // Cut before it finished (a stop, the drain timeout): what arrived stays
                    // in the totals and the series; the request counts as incomplete.
                    if let Some(l) = self.live.remove(&id) {
                        self.counts.in_flight = self.counts.in_flight.saturating_sub(1);
                        self.counts.incomplete += 1;
                        self.counts.incomplete_output_tokens += l.tokens;
                    }
                }
            }
            RequestEvent::Fatal(msg) => self.fatal = Some(msg),
            RequestEvent::NeverSent { at, count } => {
                self.counts.never_sent = count;
                self.timeline.push(TimelineEvent {
                    at,
                    what: crate::metrics::snapshot::never_sent_note(count),
                });
            }
        }
    }

    /// One network read of a stream: tokens into the series and totals, and the latency
    /// samples it completes (TTFT, TTFO, ITL) into the distributions at once.
    fn on_chunk(&mut self, id: u64, at: Duration, tokens: u32, chunks: u32, answer: bool) {
        let Some(l) = self.live.get_mut(&id) else {
            return; // warm-up or unknown
        };
        let s = Self::sec(at);
        match l.placed.last_mut() {
            Some((ls, n)) if *ls == s => *n += tokens,
            _ => l.placed.push((s, tokens)),
        }
        l.tokens += u64::from(tokens);
        let samples = l.on_read(at, chunks, answer);
        // The prompt was processed between sending and this first token: place it there.
        let prompt = samples
            .ttft
            .map(|_| (l.prompt_tokens, Self::sec(l.sent_at)));
        if prompt.is_some() {
            l.prompt_sec = Some(s);
            l.prompt_placed = l.prompt_tokens;
        }
        self.counts.received_output_tokens += u64::from(tokens);
        let b = self.series.bucket_mut(s as usize);
        b.output_tokens += u64::from(tokens);
        b.chunks += u64::from(chunks);
        let now = b.output_tokens;
        self.peak_candidate(s, now);
        if let Some((n, from)) = prompt {
            self.counts.received_input_tokens += n;
            for (sec, share) in live::spread(n, from, s) {
                self.series.bucket_mut(sec as usize).input_tokens += share;
            }
        }
        self.record_read(s, &samples);
    }

    /// The latency samples of one read, at the second they arrived.
    fn record_read(&mut self, s: u32, r: &live::ReadSamples) {
        let b = self.series.bucket_mut(s as usize);
        if let Some(t) = r.ttft {
            b.latency_sum_us[LatencyMetric::Ttft] += us64(t);
            b.latency_n[LatencyMetric::Ttft] += 1;
        }
        if let Some(t) = r.ttfo {
            b.latency_sum_us[LatencyMetric::Ttfo] += us64(t);
            b.latency_n[LatencyMetric::Ttfo] += 1;
        }
        let gaps = r
            .gap
            .iter()
            .map(|g| us64(*g))
            .chain((0..r.zero_gaps).map(|_| 0));
        for g in gaps {
            b.latency_sum_us[LatencyMetric::Itl] += g;
            b.latency_n[LatencyMetric::Itl] += 1;
            self.whole[LatencyMetric::Itl].record(g);
            self.recent[LatencyMetric::Itl].push(s, g.min(u64::from(u32::MAX)) as u32);
        }
        if let Some(t) = r.ttft {
            self.whole[LatencyMetric::Ttft].record(us64(t));
            self.recent[LatencyMetric::Ttft].push(s, us32(t));
        }
        if let Some(t) = r.ttfo {
            self.whole[LatencyMetric::Ttfo].record(us64(t));
            self.recent[LatencyMetric::Ttfo].push(s, us32(t));
        }
    }

    fn elapsed(&self) -> Duration {
        self.origin.map(|o| o.elapsed()).unwrap_or_default()
    }

    fn finish(&mut self, rec: RequestRecord) {
        self.write_jsonl(&rec);
        if rec.warmup || self.warmups.remove(&rec.id) {
            self.counts.warmups += 1;
            return;
        }
        let mut live = self.live.remove(&rec.id).unwrap_or_else(|| {
            // Only records (no live events, as some tests feed them): take its samples now.
            let mut l = live::Live::new(rec.sent_at, rec.prompt_tokens);
            self.replay(&rec, &mut l);
            l
        });
        self.counts.in_flight = self.counts.in_flight.saturating_sub(1);
        self.counts.retried += u64::from(rec.retries);
        let done_at = rec.sent_at + rec.e2e;
        let done_sec = Self::sec(done_at);
        let line_status;
        if let Some(err) = &rec.error {
            // Its tokens arrived (the server did the work): they stay in the totals and the
            // series; the request itself is a failure.
            self.counts.failed += 1;
            self.series.bucket_mut(done_sec as usize).failed += 1;
            let e = self.errors.entry(err.kind).or_insert_with(|| ErrorCount {
                kind: err.kind,
                count: 0,
                last_message: String::new(),
                samples: Vec::new(),
            });
            e.count += 1;
            e.last_message.clone_from(&err.message);
            if e.samples.len() < 5 && !e.samples.contains(&err.message) {
                e.samples.push(err.message.clone());
            }
            line_status = format!("{}: {}", err.kind.label(), err.message);
        } else {
            self.counts.ok += 1;
            self.series.bucket_mut(done_sec as usize).ok += 1;
            self.counts.input_tokens += rec.prompt_tokens;
            self.counts.output_tokens += rec.output_tokens;
            match rec.output_source {
                TokenSource::Usage => self.counts.output_from_usage += 1,
                _ => self.counts.output_from_chunks += 1,
            }
            self.counts.reasoning_chunks += rec.reasoning_chunks;
            self.counts.server_said.add(&rec);
            // The exact counts replace the live estimates, in the series and the totals.
            self.counts.received_output_tokens = (self.counts.received_output_tokens
                + rec.output_tokens)
                .saturating_sub(live.tokens);
            self.place_exact(&rec, std::mem::take(&mut live.placed));
            self.correct_prompt(&rec, &live);
            self.record_latencies(&rec, done_sec);
            line_status = "ok".into();
        }
        if let Some(d) = self.detailed.as_mut() {
            d.input_lens.push(rec.prompt_tokens);
            d.output_lens
                .push(if rec.ok() { rec.output_tokens } else { 0 });
            d.ttfts
                .push(rec.ttft.map(|t| t.as_secs_f64()).unwrap_or(0.0));
            d.itls
                .push(rec.itl_us.iter().map(|&u| u as f64 / 1e6).collect());
            d.start_times.push(rec.sent_at.as_secs_f64());
            d.errors.push(
                rec.error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
            );
        }
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(LogLine {
            at: done_at,
            id: rec.id,
            output_tokens: if rec.ok() {
                rec.output_tokens
            } else {
                rec.text_chunks
            },
            ttft_ms: rec.ttft.map(|t| t.as_secs_f64() * 1000.0),
            e2e_ms: rec.e2e.as_secs_f64() * 1000.0,
            status: line_status,
        });
    }

    /// Feed a record that came without live events through the live path, read by read.
    fn replay(&mut self, rec: &RequestRecord, l: &mut live::Live) {
        self.live.insert(rec.id, std::mem::take(l));
        for &(off, n) in &rec.chunk_times_us {
            let at = rec.sent_at + Duration::from_micros(u64::from(off));
            let answer = rec.ttfo.is_some_and(|t| rec.sent_at + t <= at);
            self.on_chunk(rec.id, at, n, 1, answer);
        }
        *l = self.live.remove(&rec.id).unwrap_or_default();
    }

    /// The server's `usage.prompt_tokens` replaces the workload's count where the prompt was
    /// placed (the first token's second); a request that never got a token places it now.
    fn correct_prompt(&mut self, rec: &RequestRecord, l: &live::Live) {
        let sec = l.prompt_sec.unwrap_or_else(|| Self::sec(rec.sent_at)) as usize;
        let b = self.series.bucket_mut(sec);
        b.input_tokens = (b.input_tokens + rec.prompt_tokens).saturating_sub(l.prompt_placed);
        self.counts.received_input_tokens =
            (self.counts.received_input_tokens + rec.prompt_tokens).saturating_sub(l.prompt_placed);
    }

    /// Replace a request's live token estimate in the per-second series by its exact count,
    /// spread over its chunks in proportion to the live counts (exact when they agree).
    fn place_exact(&mut self, rec: &RequestRecord, placed: Vec<(u32, u32)>) {
        let live_total: u64 = placed.iter().map(|(_, n)| *n as u64).sum();
        if live_total == rec.output_tokens || rec.chunk_times_us.is_empty() {
            for (s, _) in &placed {
                let v = self.series.bucket_mut(*s as usize).output_tokens;
                self.peak_candidate(*s, v);
            }
            return;
        }
        for (s, n) in placed {
            let b = self.series.bucket_mut(s as usize);
            b.output_tokens = b.output_tokens.saturating_sub(n as u64);
        }
        let weights: u64 = rec
            .chunk_times_us
            .iter()
            .map(|(_, n)| *n as u64)
            .sum::<u64>()
            .max(1);
        let mut cum_w = 0u64;
        let mut given = 0u64;
        for &(off_us, w) in &rec.chunk_times_us {
            cum_w += w as u64;
            let upto = rec.output_tokens * cum_w / weights;
            let n = upto - given;
            given = upto;
            let s = Self::sec(rec.sent_at + Duration::from_micros(off_us as u64));
            let b = self.series.bucket_mut(s as usize);
            b.output_tokens += n;
            let v = b.output_tokens;
            self.peak_candidate(s, v);
        }
    }

    fn peak_candidate(&mut self, sec: u32, value: u64) {
        if (sec as u64) < self.elapsed().as_secs() {
            self.peak_output = self.peak_output.max(value);
        }
    }

    /// What is known only when a request completes: TPOT, E2E and the client queue time, at
    /// the second it completed (TTFT, TTFO and ITL were recorded as they arrived).
    fn record_latencies(&mut self, rec: &RequestRecord, done_sec: u32) {
        let b = self.series.bucket_mut(done_sec as usize);
        let tpot = rec.tpot();
        if let Some(t) = tpot {
            b.latency_sum_us[LatencyMetric::Tpot] += us64(t);
            b.latency_n[LatencyMetric::Tpot] += 1;
        }
        b.latency_sum_us[LatencyMetric::E2el] += us64(rec.e2e);
        b.latency_n[LatencyMetric::E2el] += 1;
        if let Some(t) = tpot {
            self.whole[LatencyMetric::Tpot].record(us64(t));
            self.recent[LatencyMetric::Tpot].push(done_sec, us32(t));
        }
        self.whole[LatencyMetric::E2el].record(us64(rec.e2e));
        self.recent[LatencyMetric::E2el].push(done_sec, us32(rec.e2e));
        let q = rec.queue_time();
        self.whole.queue.record(us64(q));
        self.recent.queue.push(done_sec, us32(q));

        if !self.cfg.goodput.is_empty() {
            let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0);
            let good = self.cfg.goodput.iter().all(|slo| {
                let v = match slo.metric {
                    LatencyMetric::Ttft => ms(rec.ttft),
                    LatencyMetric::Ttfo => ms(rec.ttfo),
                    LatencyMetric::Tpot => ms(tpot),
                    // A request's ITL samples are its gaps; its TPOT is their mean.
                    LatencyMetric::Itl => ms(tpot),
                    LatencyMetric::E2el => ms(Some(rec.e2e)),
                };
                v <= slo.limit_ms
            });
            if good {
                self.good += 1;
                self.counts.good += 1;
            }
        }
    }

    /// Build the snapshot faces read. `exact` computes numpy-exact percentiles (final result).
    pub fn snapshot(&mut self, exact: bool) -> Snapshot {
        let elapsed = self.elapsed();
        let now_sec = Self::sec(elapsed);
        let window = self.cfg.recent_window.as_secs().max(1) as u32;
        let oldest = now_sec.saturating_sub(window);
        let p = self.cfg.percentiles.clone();
        let whole = |d: &Distribution| d.summarize(&p, exact);
        let whole_set = LatencySet {
            by_metric: PerMetric(self.whole.by_metric.0.each_ref().map(whole)),
            queue: whole(&self.whole.queue),
        };
        let r = &mut self.recent;
        for x in r.by_metric.0.iter_mut().chain([&mut r.queue]) {
            x.prune(oldest);
        }
        let scratch = &mut self.scratch;
        let recent = if self.cfg.recent_percentiles {
            LatencySet {
                by_metric: PerMetric(r.by_metric.0.each_ref().map(|x| x.dist(&p, scratch))),
                queue: r.queue.dist(&p, scratch),
            }
        } else {
            LatencySet::default()
        };
        let mut errors: Vec<ErrorCount> = self.errors.values().cloned().collect();
        errors.sort_by_key(|e| e.kind);
        // Achieved request rate over the last five complete seconds.
        let last = now_sec as usize;
        let from = last.saturating_sub(5);
        let sent: u64 = self.series.range(from, last).map(|(_, b)| b.sent).sum();
        let span = (last - from).max(1) as f64;
        let peak_concurrency = self
            .series
            .iter()
            .map(|(_, b)| b.peak_in_flight as u64)
            .max()
            .unwrap_or(0);
        let peak_output_tps = if self.state == RunState::Done {
            // Final: every bucket is complete (vLLM includes the last partial second too).
            self.series
                .iter()
                .map(|(_, b)| b.output_tokens)
                .max()
                .unwrap_or(0)
        } else {
            self.peak_output
        } as f64;
        Snapshot {
            info: self.cfg.info.clone(),
            elapsed,
            state: self.state,
            control: self.control,
            counts: self.counts,
            series: self.series.clone(),
            whole: whole_set,
            recent,
            recent_window: self.cfg.recent_window,
            errors,
            log: Arc::new(self.log.iter().cloned().collect()),
            timeline: Arc::new(self.timeline.clone()),
            peak_output_tps,
            peak_concurrency,
            // Once the run is over nothing is being sent: no "now" rate to show.
            achieved_rate: if last == 0 || self.state == RunState::Done {
                0.0
            } else {
                sent as f64 / span
            },
            interrupted: self.interrupted,
            fatal: self.fatal.clone(),
            streams: Arc::new(self.streams(elapsed)),
        }
    }

    /// The oldest requests in flight, for the dashboard's streams view.
    fn streams(&self, now: Duration) -> Vec<StreamView> {
        let mut v: Vec<StreamView> = self
            .live
            .iter()
            .map(|(id, l)| StreamView {
                id: *id,
                age: now.saturating_sub(l.sent_at),
                ttft: l.first.map(|f| f.saturating_sub(l.sent_at)),
                tokens: l.tokens,
                tokens_per_s: l.decode_rate(),
            })
            .collect();
        v.sort_by(|a, b| b.age.cmp(&a.age).then(a.id.cmp(&b.id)));
        v.truncate(STREAMS_SHOWN);
        v
    }

    /// Close the run: final state, exact numbers.
    pub fn finish_run(mut self) -> RecorderOutcome {
        self.flush_jsonl();
        self.state = RunState::Done;
        let snap = Arc::new(self.snapshot(true));
        RecorderOutcome {
            snapshot: snap,
            good_requests: self.good,
            detailed: self.detailed.take(),
            jsonl: self.cfg.jsonl.clone(),
            jsonl_error: self.jsonl_error.clone(),
            workload: None,
        }
    }
}

/// Run the recorder until every sender is gone; publish snapshots on `tx` as it goes.
pub async fn run(
    cfg: RecorderConfig,
    mut rx: mpsc::UnboundedReceiver<RequestEvent>,
    tx: watch::Sender<Arc<Snapshot>>,
) -> RecorderOutcome {
    let every = cfg.publish_every;
    let mut rec = Recorder::new(cfg);
    // The queue is drained on a short timer rather than on each event: a sender then never
    // has to wake this thread (one futex call per chunk at tens of thousands of chunks a
    // second), and events are folded in batches. Timestamps were taken where the bytes
    // arrived, so the wait changes no measurement, only when the screen sees it (10 ms).
    let mut drain = tokio::time::interval(DRAIN_EVERY);
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_publish = tokio::time::Instant::now() + every;
    'run: loop {
        drain.tick().await;
        loop {
            match rx.try_recv() {
                Ok(ev) => rec.ingest(ev),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => break 'run,
            }
        }
        let now = tokio::time::Instant::now();
        if now >= next_publish {
            next_publish = now + every;
            rec.flush_jsonl();
            if rec.dirty || rec.state == RunState::Running {
                rec.dirty = false;
                let snap = rec.snapshot(false);
                tx.send_replace(Arc::new(snap));
            }
        }
    }
    let outcome = rec.finish_run();
    tx.send_replace(outcome.snapshot.clone());
    outcome
}

mod jsonl;
mod live;
#[cfg(feature = "fixtures")]
pub(crate) use live::spread;

#[cfg(test)]
mod tests;
