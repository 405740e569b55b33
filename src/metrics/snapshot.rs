//! `Snapshot`: what every face (dashboard, headless progress, result writer) reads.
//!
//! The recorder is the only writer; it publishes an `Arc<Snapshot>` on a `watch` channel a few
//! times a second. Faces never lock anything: they hold the `Arc` they were given.

pub use crate::load::control::{Control, RunState};
use crate::load::record::ErrorKind;
pub use crate::metrics::latency::{LatencyMetric, PerMetric};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Static facts about the run, for headers and result files.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RunInfo {
    pub base_url: String,
    pub model: String,
    /// Path such as `/v1/chat/completions`.
    pub endpoint: String,
    /// True when the target is the built-in simulator.
    pub simulated: bool,
    pub dataset: String,
    /// Requested input/output lengths (the random dataset), when they apply.
    pub input_len: Option<u32>,
    pub output_len: Option<u32>,
    pub num_prompts: Option<u64>,
    pub duration_limit: Option<Duration>,
}

/// Request counters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Counts {
    /// Sent (excluding warm-ups).
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub in_flight: u64,
    /// Due by the schedule but waiting for a concurrency slot.
    pub queued: u64,
    pub warmups: u64,
    /// Prompt and output tokens of completed requests (what `vllm bench serve` counts).
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Every output token that arrived, live (completed, failed and cut requests alike).
    pub received_output_tokens: u64,
    /// Prompt tokens of every request whose prefill is done (it got its first token).
    pub received_input_tokens: u64,
    /// Requests cut before they finished (a stop, the drain timeout), and what they received.
    pub incomplete: u64,
    pub incomplete_output_tokens: u64,
    /// Successful requests that met every `--goodput` SLO.
    pub good: u64,
    /// Successful requests whose output count came from usage / from counting chunks.
    pub output_from_usage: u64,
    pub output_from_chunks: u64,
    pub reasoning_chunks: u64,
    /// Requests sent once more on a new connection because their pooled connection died
    /// before answering (each is still one request in every other count).
    pub retried: u64,
    /// What the server said about each successful request itself.
    pub server_said: ServerSaid,
    /// Arrivals that were due but never sent when the run ended (no slot came free in time).
    pub never_sent: u64,
}

/// What a run cut short with arrivals still waiting says about them (timeline and summary).
pub fn never_sent_note(n: u64) -> String {
    format!("{n} arrivals were due but never sent: no concurrency slot came free in time")
}

/// Per-request figures the server reports about itself (llama.cpp's `timings` and
/// `prompt_tokens_details`), over successful requests. Counts of 0 mean it never said.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct ServerSaid {
    /// Requests whose usage gave `cached_tokens`, their cached tokens and all their prompt
    /// tokens (cached ones included).
    pub cached_requests: u64,
    pub cached_tokens: u64,
    pub cached_of_prompt_tokens: u64,
    /// Requests with the server's prefill (decode) speed, and the sum of those speeds (tok/s).
    pub prefill_requests: u64,
    pub prefill_tok_s_sum: f64,
    pub decode_requests: u64,
    pub decode_tok_s_sum: f64,
}

impl ServerSaid {
    /// Fold one successful request in.
    pub fn add(&mut self, rec: &crate::load::record::RequestRecord) {
        if let Some(c) = rec.cached_prompt_tokens {
            self.cached_requests += 1;
            self.cached_tokens += c;
            self.cached_of_prompt_tokens += rec.prompt_tokens;
        }
        let t = rec.server_timings.unwrap_or_default();
        if let Some(r) = t.prefill_tok_s() {
            self.prefill_requests += 1;
            self.prefill_tok_s_sum += r;
        }
        if let Some(r) = t.decode_tok_s() {
            self.decode_requests += 1;
            self.decode_tok_s_sum += r;
        }
    }

    /// Cached prompt tokens, when any request said.
    pub fn cached(&self) -> Option<u64> {
        (self.cached_requests > 0).then_some(self.cached_tokens)
    }

    /// Mean per-request prefill speed by the server's clock (tok/s).
    pub fn mean_prefill_tok_s(&self) -> Option<f64> {
        (self.prefill_requests > 0).then(|| self.prefill_tok_s_sum / self.prefill_requests as f64)
    }

    /// Mean per-request decode speed by the server's clock (tok/s).
    pub fn mean_decode_tok_s(&self) -> Option<f64> {
        (self.decode_requests > 0).then(|| self.decode_tok_s_sum / self.decode_requests as f64)
    }
}

/// One second of the run (bucket `i` covers `[i, i+1)` seconds since start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct SecondBucket {
    /// Output tokens that arrived in this second (live estimate, exact once requests finish).
    pub output_tokens: u64,
    /// Prompt tokens processed in this second: a request's prompt is spread over the seconds
    /// from sending to its first token (the prefill), corrected by the server's usage.
    pub input_tokens: u64,
    pub chunks: u64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    /// Sums and counts for per-second latency means (microseconds): TTFT, TTFO and ITL in the
    /// second the token arrived, TPOT and E2E in the second the request completed.
    pub latency_sum_us: PerMetric<u64>,
    pub latency_n: PerMetric<u32>,
    /// Highest number of requests in flight during this second.
    pub peak_in_flight: u32,
}

impl SecondBucket {
    /// Mean of a latency in milliseconds, `None` when nothing finished in this second.
    pub fn mean_ms(sum_us: u64, n: u32) -> Option<f64> {
        (n > 0).then(|| sum_us as f64 / n as f64 / 1000.0)
    }
    /// This second's mean of metric `m` (milliseconds), `None` when it had no sample.
    pub fn mean_latency_ms(&self, m: LatencyMetric) -> Option<f64> {
        Self::mean_ms(self.latency_sum_us[m], self.latency_n[m])
    }
    /// Add one sample of metric `m` (microseconds).
    pub fn add_latency(&mut self, m: LatencyMetric, us: u64) {
        self.latency_sum_us[m] = self.latency_sum_us[m].saturating_add(us);
        self.latency_n[m] = self.latency_n[m].saturating_add(1);
    }
    pub fn total_tokens(&self) -> u64 {
        self.output_tokens + self.input_tokens
    }
}

/// Summary of one latency distribution, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Dist {
    pub count: u64,
    pub mean: f64,
    pub std: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// (percentile, value) for each of `--metric-percentiles`.
    pub percentiles: Vec<(f64, f64)>,
}

impl Dist {
    /// Value at percentile `p` if it was computed.
    pub fn p(&self, p: f64) -> Option<f64> {
        self.percentiles
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-9)
            .map(|(_, v)| *v)
    }
}

/// The latency distributions, indexed by metric (`set[LatencyMetric::Ttft]`).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LatencySet {
    pub by_metric: PerMetric<Dist>,
    /// Client-side queue time (when a rate is capped by concurrency).
    pub queue: Dist,
}

impl LatencySet {
    /// (metric, distribution) in display order.
    pub fn named(&self) -> impl Iterator<Item = (LatencyMetric, &Dist)> {
        self.by_metric.iter()
    }
}

impl std::ops::Index<LatencyMetric> for LatencySet {
    type Output = Dist;
    fn index(&self, m: LatencyMetric) -> &Dist {
        &self.by_metric[m]
    }
}

impl std::ops::IndexMut<LatencyMetric> for LatencySet {
    fn index_mut(&mut self, m: LatencyMetric) -> &mut Dist {
        &mut self.by_metric[m]
    }
}

/// Failures of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorCount {
    pub kind: ErrorKind,
    pub count: u64,
    /// The most recent message of this kind.
    pub last_message: String,
    /// Up to a few distinct sample messages.
    pub samples: Vec<String>,
}

/// One line of the dashboard's request log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub at: Duration,
    pub id: u64,
    pub output_tokens: u64,
    pub ttft_ms: Option<f64>,
    pub e2e_ms: f64,
    /// "ok", or the error kind's label with its message.
    pub status: String,
}

/// Something that happened to the run as a whole (a key press, a pause, an interruption).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    pub at: Duration,
    pub what: String,
}

/// The whole published state. Cheap to clone where it matters: series blocks are shared.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub info: Arc<RunInfo>,
    /// Time since the run started (the first timed request's schedule origin).
    pub elapsed: Duration,
    pub state: RunState,
    pub control: Control,
    pub counts: Counts,
    /// Per-second buckets of the whole run (see `Series`).
    pub series: Series,
    /// Whole-run distributions over successful requests (what the summary prints).
    pub whole: LatencySet,
    /// Distributions over requests that finished in the recent window.
    pub recent: LatencySet,
    /// The recent window's length.
    pub recent_window: Duration,
    pub errors: Vec<ErrorCount>,
    /// Most recent requests, newest last.
    pub log: Arc<Vec<LogLine>>,
    pub timeline: Arc<Vec<TimelineEvent>>,
    /// Highest output tokens in any complete 1-second bucket.
    pub peak_output_tps: f64,
    pub peak_concurrency: u64,
    /// Requests per second actually sent over the last few seconds (against the target rate).
    pub achieved_rate: f64,
    /// The run was stopped early (Ctrl-C, `q`, SIGTERM).
    pub interrupted: bool,
    /// Why the run cannot go on, if it cannot (shown as a full pane, written to the result).
    pub fatal: Option<String>,
    /// The requests in flight, oldest first (at most `STREAMS_SHOWN`): for long, slow requests
    /// the only thing that moves between completions.
    pub streams: Arc<Vec<StreamView>>,
}

/// Streams in flight kept in a snapshot, oldest first.
pub const STREAMS_SHOWN: usize = 64;

/// One request in flight, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct StreamView {
    pub id: u64,
    /// Since it was sent.
    pub age: Duration,
    /// Its time to first token, once it has one.
    pub ttft: Option<Duration>,
    /// Output tokens received so far.
    pub tokens: u64,
    /// Its decode speed so far (tokens per second after the first token).
    pub tokens_per_s: Option<f64>,
}

/// Per-second buckets stored as blocks of 60 seconds. Full blocks are shared between snapshots
/// (`Arc`), so publishing ten times a second copies at most one block however long the run.
#[derive(Debug, Clone, Default)]
pub struct Series {
    blocks: Vec<Arc<Vec<SecondBucket>>>,
}

/// Seconds per shared block of `Series`.
pub const SERIES_BLOCK: usize = 60;

impl Series {
    pub fn len(&self) -> usize {
        match self.blocks.last() {
            Some(last) => (self.blocks.len() - 1) * SERIES_BLOCK + last.len(),
            None => 0,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, second: usize) -> Option<&SecondBucket> {
        self.blocks
            .get(second / SERIES_BLOCK)
            .and_then(|b| b.get(second % SERIES_BLOCK))
    }
    /// Mutable access to a second's bucket, growing the series as needed.
    pub fn bucket_mut(&mut self, second: usize) -> &mut SecondBucket {
        while self.len() <= second {
            match self.blocks.last_mut() {
                Some(b) if b.len() < SERIES_BLOCK => Arc::make_mut(b).push(SecondBucket::default()),
                _ => self.blocks.push(Arc::new(Vec::with_capacity(SERIES_BLOCK))),
            }
        }
        let b = &mut self.blocks[second / SERIES_BLOCK];
        &mut Arc::make_mut(b)[second % SERIES_BLOCK]
    }
    /// Iterate over buckets `[from, to)` (clamped to what exists).
    pub fn range(&self, from: usize, to: usize) -> impl Iterator<Item = (usize, &SecondBucket)> {
        let to = to.min(self.len());
        (from.min(to)..to).filter_map(move |i| self.get(i).map(|b| (i, b)))
    }
    pub fn iter(&self) -> impl Iterator<Item = (usize, &SecondBucket)> {
        self.range(0, self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_grows_in_shared_blocks() {
        let mut s = Series::default();
        s.bucket_mut(130).output_tokens = 7;
        assert_eq!(s.len(), 131);
        assert_eq!(s.get(130).map(|b| b.output_tokens), Some(7));
        assert_eq!(s.get(5).map(|b| b.output_tokens), Some(0));
        let copy = s.clone();
        s.bucket_mut(3).output_tokens = 1;
        // The copy keeps its own view: a write after a clone does not leak into it.
        assert_eq!(copy.get(3).map(|b| b.output_tokens), Some(0));
        assert_eq!(s.get(3).map(|b| b.output_tokens), Some(1));
        assert_eq!(s.range(129, 500).count(), 2);
    }
}
