//! The server's own figures over time, from successive scrapes of one or several `/metrics`
//! pages: rates from counter increments, windowed percentiles from histogram bucket deltas,
//! the prefix-cache hit rate, and the per-second series a result file keeps.
//!
//! Counter resets (a server restarted) are handled per source before anything is added up:
//! a counter that went down contributes its new value, as PromQL's `increase` counts it, so a
//! restart is never a negative rate or a spike, and one replica restarting does not disturb the
//! sum of the others.

use super::histogram::Buckets;
use super::{LatencyBuckets, ServerMetrics};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counters added up since the scraper started: they only ever grow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub generation: Option<f64>,
    pub prompt: Option<f64>,
    pub requests: Option<f64>,
    pub preemptions: Option<f64>,
    pub prefix_hits: Option<f64>,
    pub prefix_queries: Option<f64>,
    pub cached_prompt: Option<f64>,
    pub spec_draft: Option<f64>,
    pub spec_accepted: Option<f64>,
    pub latency: LatencyBuckets,
}

/// Reads one counter off a scrape.
type Counter = fn(&ServerMetrics) -> Option<f64>;

/// How much a counter moved between two readings of one source: `None` when it is not there,
/// 0 on its first reading (the baseline), its value when it went down (a restart).
fn counter_step(prev: Option<f64>, now: Option<f64>) -> Option<f64> {
    match (prev, now) {
        (Some(p), Some(n)) if n >= p => Some(n - p),
        (Some(_), Some(n)) => Some(n),
        (None, Some(_)) => Some(0.0),
        _ => None,
    }
}

fn zeroed(b: &Buckets) -> Buckets {
    Buckets {
        bounds: b.bounds.clone(),
        counts: vec![0.0; b.counts.len()],
        sum: 0.0,
    }
}

impl Totals {
    /// Add one source's movement from `prev` (its last good scrape) to `now`.
    fn absorb(&mut self, prev: Option<&ServerMetrics>, now: &ServerMetrics) {
        let fields: [(Counter, &mut Option<f64>); 9] = [
            (|m| m.generation_tokens_total, &mut self.generation),
            (|m| m.prompt_tokens_total, &mut self.prompt),
            (|m| m.requests_total, &mut self.requests),
            (|m| m.preemptions_total, &mut self.preemptions),
            (|m| m.prefix_hits_total, &mut self.prefix_hits),
            (|m| m.prefix_queries_total, &mut self.prefix_queries),
            (|m| m.prompt_tokens_cached_total, &mut self.cached_prompt),
            (|m| m.spec_draft_tokens_total, &mut self.spec_draft),
            (|m| m.spec_accepted_tokens_total, &mut self.spec_accepted),
        ];
        for (get, total) in fields {
            if let Some(step) = counter_step(prev.and_then(get), get(now)) {
                *total.get_or_insert(0.0) += step;
            }
        }
        let before = prev.map(|p| p.latency.clone()).unwrap_or_default();
        let before = [
            before.ttft,
            before.itl,
            before.tpot,
            before.e2e,
            before.queue,
        ];
        for ((mine, then), (_, now)) in self
            .latency
            .named_mut()
            .into_iter()
            .zip(before)
            .zip(now.latency.named())
        {
            let Some(now) = now else { continue };
            let step = match then {
                // A histogram that shrank began again: all of it is new.
                Some(then) => now.since(&then).unwrap_or_else(|| now.clone()),
                None => zeroed(now),
            };
            match mine {
                Some(total) => {
                    total.add(&step);
                }
                None => *mine = Some(step),
            }
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        let d = |a: Option<f64>, b: Option<f64>| Some((a? - b.unwrap_or(0.0)).max(0.0));
        let h = |a: &Option<Buckets>, b: &Option<Buckets>| match (a, b) {
            (Some(a), Some(b)) => a.since(b),
            (Some(a), None) => Some(a.clone()),
            _ => None,
        };
        Totals {
            generation: d(self.generation, earlier.generation),
            prompt: d(self.prompt, earlier.prompt),
            requests: d(self.requests, earlier.requests),
            preemptions: d(self.preemptions, earlier.preemptions),
            prefix_hits: d(self.prefix_hits, earlier.prefix_hits),
            prefix_queries: d(self.prefix_queries, earlier.prefix_queries),
            cached_prompt: d(self.cached_prompt, earlier.cached_prompt),
            spec_draft: d(self.spec_draft, earlier.spec_draft),
            spec_accepted: d(self.spec_accepted, earlier.spec_accepted),
            latency: LatencyBuckets {
                ttft: h(&self.latency.ttft, &earlier.latency.ttft),
                itl: h(&self.latency.itl, &earlier.latency.itl),
                tpot: h(&self.latency.tpot, &earlier.latency.tpot),
                e2e: h(&self.latency.e2e, &earlier.latency.e2e),
                queue: h(&self.latency.queue, &earlier.latency.queue),
            },
        }
    }

    /// Hits over lookups; `None` with no lookups (no prompt came in: no rate, not zero).
    pub fn prefix_hit_rate(&self) -> Option<f64> {
        let q = self.prefix_queries?;
        (q > 0.0).then(|| (self.prefix_hits.unwrap_or(0.0) / q).clamp(0.0, 1.0))
    }

    /// Accepted over drafted tokens; `None` when nothing was drafted.
    pub fn spec_acceptance(&self) -> Option<f64> {
        let d = self.spec_draft?;
        (d > 0.0).then(|| self.spec_accepted.unwrap_or(0.0) / d)
    }
}

fn ms(b: &Option<Buckets>, q: f64) -> Option<f64> {
    b.as_ref()?.quantile(q).map(|s| s * 1000.0)
}

/// One point of the server's series: gauges as read, rates over the interval that ends here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerPoint {
    /// Seconds since the scraper started.
    pub t: f64,
    pub running: Option<f64>,
    pub waiting: Option<f64>,
    pub kv_usage: Option<f64>,
    pub generation_tok_s: Option<f64>,
    pub prompt_tok_s: Option<f64>,
    pub requests_per_s: Option<f64>,
    pub preemptions_per_s: Option<f64>,
    /// 0..1 over the interval (counters), or the server's own gauge.
    pub prefix_hit_rate: Option<f64>,
    pub spec_acceptance: Option<f64>,
    /// Medians over the requests the server recorded in the interval, milliseconds.
    pub ttft_p50_ms: Option<f64>,
    pub itl_p50_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    pub queue_p50_ms: Option<f64>,
}

/// The server's figures over a recent window (what the screens show beside "now").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerWindow {
    /// The window actually covered (shorter at the start).
    pub span: Duration,
    pub generation_tok_s: Option<f64>,
    pub prompt_tok_s: Option<f64>,
    pub prefix_hit_rate: Option<f64>,
    pub spec_acceptance: Option<f64>,
    /// Histogram deltas over the window (seconds).
    pub latency: LatencyBuckets,
}

/// The whole series, shared with whoever writes a result (read on `s` and at the end only).
pub type SeriesHandle = Arc<Mutex<Vec<ServerPoint>>>;

/// Points kept in the view for charts (ten minutes at one a second).
pub const RECENT_POINTS: usize = 600;
/// Points kept for the result file (a day at one a second; older ones are dropped).
pub const MAX_POINTS: usize = 86_400;
/// The window the screens' "last N s" figures cover.
pub const WINDOW: Duration = Duration::from_secs(30);

/// What the scraper publishes: the latest reading, its recent history and the figures derived
/// from them. Faces hold the `Arc` they were given; nothing here is locked while drawing.
#[derive(Debug, Clone, Default)]
pub struct ServerView {
    /// The latest readings of every source, combined.
    pub latest: Option<ServerMetrics>,
    /// Time since the oldest of the sources' last good scrapes.
    pub age: Option<Duration>,
    /// Why the last scrape of some source failed (its URL first when there are several).
    pub error: Option<String>,
    /// How many `/metrics` pages are read and summed.
    pub sources: usize,
    pub interval: Duration,
    /// KV-cache use and queue length over time (one point per scrape).
    pub kv_history: Vec<f64>,
    pub waiting_history: Vec<f64>,
    /// The last `RECENT_POINTS` points.
    pub recent: Vec<ServerPoint>,
    pub window: ServerWindow,
    /// Aggregates since the scraper started (the run's server-side view).
    pub run: ServerRunStats,
    /// Every point since the start, for result files.
    pub history: SeriesHandle,
}

impl ServerView {
    /// Every point so far (a copy; taken on save and at the end).
    pub fn series(&self) -> Vec<ServerPoint> {
        self.history
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

/// A figure's percentiles over some span, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyFigures {
    pub count: f64,
    /// The server's lowest bucket bound: figures under it are interpolations, not readings.
    pub lowest_bucket_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    /// The bucket the median lies in: `p50_ms` is an interpolation inside it.
    pub p50_bucket_low_ms: Option<f64>,
    /// `None` when the median is in the `+Inf` bucket.
    pub p50_bucket_high_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl LatencyFigures {
    pub fn of(b: &Option<Buckets>) -> Option<LatencyFigures> {
        let b = b.as_ref()?;
        Some(LatencyFigures {
            count: b.count(),
            lowest_bucket_ms: b
                .bounds
                .first()
                .filter(|x| x.is_finite())
                .map(|x| x * 1000.0),
            mean_ms: b.mean().map(|s| s * 1000.0),
            p50_ms: ms(&Some(b.clone()), 0.5),
            p50_bucket_low_ms: b.quantile_bucket(0.5).map(|(lo, _)| lo * 1000.0),
            p50_bucket_high_ms: b
                .quantile_bucket(0.5)
                .map(|(_, hi)| hi * 1000.0)
                .filter(|hi| hi.is_finite()),
            p90_ms: ms(&Some(b.clone()), 0.9),
            p99_ms: ms(&Some(b.clone()), 0.99),
        })
    }
}

/// What the server itself reported over a run: its queue, its KV cache, its own token counts
/// (a cross-check of ours), its prefix cache and its latency histograms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerRunStats {
    pub server: String,
    pub scrapes: u64,
    /// Seconds between the first and the last scrape.
    pub duration_s: f64,
    pub peak_running: Option<f64>,
    pub peak_waiting: Option<f64>,
    pub mean_kv_usage: Option<f64>,
    pub peak_kv_usage: Option<f64>,
    /// Tokens the server says it generated between the first and the last scrape.
    pub generation_tokens: Option<f64>,
    pub prompt_tokens: Option<f64>,
    pub requests: Option<f64>,
    pub preemptions: Option<f64>,
    /// Prompt tokens the server took from its prefix cache over the same span (llama.cpp).
    pub cached_prompt_tokens: Option<f64>,
    pub prefix_hit_rate: Option<f64>,
    pub spec_acceptance: Option<f64>,
    /// Requests running at the first and the last scrape (in flight across the edges).
    pub running_at_start: Option<f64>,
    pub running_at_end: Option<f64>,
    pub ttft: Option<LatencyFigures>,
    pub itl: Option<LatencyFigures>,
    pub tpot: Option<LatencyFigures>,
    pub e2e: Option<LatencyFigures>,
    pub queue: Option<LatencyFigures>,
}

/// Folds scrapes of one or several sources into totals, points, windows and run figures.
#[derive(Debug)]
pub struct Ledger {
    started: Instant,
    prev: Vec<Option<ServerMetrics>>,
    totals: Totals,
    /// (when, totals) at each tick within the window.
    ring: VecDeque<(Instant, Totals)>,
    first: Option<(Instant, Totals)>,
    last_tick: Option<Instant>,
    run: ServerRunStats,
    kv_sum: f64,
    kv_n: u64,
    gauge_hits: Option<f64>,
}

impl Ledger {
    pub fn new(sources: usize, started: Instant) -> Ledger {
        Ledger {
            started,
            prev: vec![None; sources.max(1)],
            totals: Totals::default(),
            ring: VecDeque::new(),
            first: None,
            last_tick: None,
            run: ServerRunStats::default(),
            kv_sum: 0.0,
            kv_n: 0,
            gauge_hits: None,
        }
    }

    /// One tick: the fresh readings of the sources that answered (`None` for the others).
    /// Returns the combined latest reading and this tick's point, or `None` when no source has
    /// ever answered.
    pub fn tick(
        &mut self,
        now: Instant,
        fresh: &[Option<ServerMetrics>],
    ) -> Option<(ServerMetrics, ServerPoint)> {
        for (i, m) in fresh.iter().enumerate() {
            if let (Some(m), Some(slot)) = (m, self.prev.get_mut(i)) {
                self.totals.absorb(slot.as_ref(), m);
                *slot = Some(m.clone());
            }
        }
        let known: Vec<ServerMetrics> = self.prev.iter().flatten().cloned().collect();
        let latest = ServerMetrics::combine(&known)?;
        // A tick where a source did not answer has no rates: the tokens it made meanwhile
        // arrive with its next answer, and a rate over this tick would dip now and double
        // then. The next full tick measures over the whole time since the last full one.
        let complete = fresh.iter().all(Option::is_some);
        let prev_tick = self.ring.back().cloned().filter(|_| complete);
        let dt = prev_tick
            .as_ref()
            .map(|(t, _)| now.saturating_duration_since(*t).as_secs_f64())
            .filter(|d| *d > 0.0);
        let step = prev_tick.as_ref().map(|(_, t)| self.totals.since(t));
        let rate = |f: fn(&Totals) -> Option<f64>| Some(f(step.as_ref()?)? / dt?);
        let lat = step.as_ref().map(|s| s.latency.clone()).unwrap_or_default();
        let point = ServerPoint {
            t: now.saturating_duration_since(self.started).as_secs_f64(),
            running: latest.running,
            waiting: latest.waiting,
            kv_usage: latest.kv_usage,
            generation_tok_s: rate(|t| t.generation),
            prompt_tok_s: rate(|t| t.prompt),
            requests_per_s: rate(|t| t.requests),
            preemptions_per_s: rate(|t| t.preemptions),
            prefix_hit_rate: step
                .as_ref()
                .and_then(Totals::prefix_hit_rate)
                .or(latest.prefix_hit_rate_gauge),
            spec_acceptance: step
                .as_ref()
                .and_then(Totals::spec_acceptance)
                .or(latest.spec_accept_rate_gauge),
            ttft_p50_ms: ms(&lat.ttft, 0.5),
            itl_p50_ms: ms(&lat.itl, 0.5),
            e2e_p50_ms: ms(&lat.e2e, 0.5),
            queue_p50_ms: ms(&lat.queue, 0.5),
        };
        if complete {
            self.ring.push_back((now, self.totals.clone()));
        }
        while self
            .ring
            .get(1)
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.ring.pop_front();
        }
        self.first.get_or_insert_with(|| (now, self.totals.clone()));
        self.last_tick = Some(now);
        self.fold_run(&latest, now);
        Some((latest, point))
    }

    fn fold_run(&mut self, m: &ServerMetrics, now: Instant) {
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let r = &mut self.run;
        if r.server != m.server {
            r.server = m.server.to_string();
        }
        r.scrapes += 1;
        r.peak_running = max(r.peak_running, m.running);
        r.peak_waiting = max(r.peak_waiting, m.waiting);
        r.peak_kv_usage = max(r.peak_kv_usage, m.kv_usage);
        if let Some(k) = m.kv_usage {
            self.kv_sum += k;
            self.kv_n += 1;
            r.mean_kv_usage = Some(self.kv_sum / self.kv_n as f64);
        }
        if r.scrapes == 1 {
            r.running_at_start = m.running;
        }
        r.running_at_end = m.running;
        if let Some(g) = m.prefix_hit_rate_gauge {
            self.gauge_hits = Some(g);
        }
        let Some((t0, first)) = &self.first else {
            return;
        };
        let d = self.totals.since(first);
        r.duration_s = now.saturating_duration_since(*t0).as_secs_f64();
        r.generation_tokens = d.generation;
        r.prompt_tokens = d.prompt;
        r.requests = d.requests;
        r.preemptions = d.preemptions;
        r.cached_prompt_tokens = d.cached_prompt;
        r.prefix_hit_rate = d.prefix_hit_rate().or(self.gauge_hits);
        r.spec_acceptance = d.spec_acceptance().or(m.spec_accept_rate_gauge);
        r.ttft = LatencyFigures::of(&d.latency.ttft);
        r.itl = LatencyFigures::of(&d.latency.itl);
        r.tpot = LatencyFigures::of(&d.latency.tpot);
        r.e2e = LatencyFigures::of(&d.latency.e2e);
        r.queue = LatencyFigures::of(&d.latency.queue);
    }

    /// The figures over the last `WINDOW` (or what there is of it).
    pub fn window(&self, latest: &ServerMetrics) -> ServerWindow {
        let (Some((t0, first)), Some((t1, last))) = (self.ring.front(), self.ring.back()) else {
            return ServerWindow::default();
        };
        let span = t1.saturating_duration_since(*t0);
        let d = last.since(first);
        let secs = span.as_secs_f64();
        let rate = |v: Option<f64>| v.filter(|_| secs > 0.0).map(|v| v / secs);
        ServerWindow {
            span,
            generation_tok_s: rate(d.generation),
            prompt_tok_s: rate(d.prompt),
            prefix_hit_rate: d.prefix_hit_rate().or(latest.prefix_hit_rate_gauge),
            spec_acceptance: d.spec_acceptance().or(latest.spec_accept_rate_gauge),
            latency: d.latency,
        }
    }

    /// The run's figures so far.
    pub fn run(&self) -> &ServerRunStats {
        &self.run
    }
}

impl ServerRunStats {
    /// Lines for the summary table (empty when the server published nothing). A figure the
    /// server does not publish says so instead of showing a zero.
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
            row(
                "Prefix cache hit rate:",
                match self.prefix_hit_rate {
                    Some(r) => pct(Some(r)),
                    None => "n/a: this server has no prefix-cache counter".into(),
                },
            ),
        ];
        if let Some(a) = self.spec_acceptance {
            lines.push(row("Spec decode acceptance:", pct(Some(a))));
        }
        for (name, f) in [
            ("Server TTFT p50 / p99 (ms):", &self.ttft),
            ("Server ITL p50 / p99 (ms):", &self.itl),
            ("Server E2E p50 / p99 (ms):", &self.e2e),
            ("Server queue p50 / p99 (ms):", &self.queue),
        ] {
            if let Some(f) = f.as_ref().filter(|f| f.count > 0.0) {
                let v = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{x:.1}"));
                let mut text = format!("{} / {}", v(f.p50_ms), v(f.p99_ms));
                if let Some(b) = f
                    .lowest_bucket_ms
                    .filter(|b| f.p50_ms.is_some_and(|p| p <= *b))
                {
                    // Interpolated inside the first bucket: only "below" is known.
                    text.push_str(&format!(" (below {b:.0} ms: the server's first bucket)"));
                }
                lines.push(row(name, text));
            }
        }
        if self.cached_prompt_tokens.is_some() {
            lines.push(row(
                "Server-counted cached prompt tokens:",
                n(self.cached_prompt_tokens),
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests;
