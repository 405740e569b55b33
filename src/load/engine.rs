//! The load engine: schedules requests (closed and open loop) and obeys `Command`s.
//!
//! Closed loop (`--max-concurrency N`, infinite rate): a new request starts as soon as a slot
//! frees. Open loop (`--request-rate R`): arrivals follow an absolute schedule from the run's
//! start, so lateness never accumulates; with a concurrency cap as well, arrivals wait for a slot
//! (their wait is the client queue time). Pausing stops new sends and shifts the schedule by the
//! pause, so resuming does not burst.

use crate::load::record::{RequestEvent, TokenSource};
use crate::metrics::snapshot::{Control, RunState};
use crate::protocol::client::{Client, RequestSpec};
use std::collections::HashSet;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What the faces may ask of a running engine. Keys in the dashboard become these.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Set the concurrency cap (`None`: uncapped).
    SetConcurrency(Option<u32>),
    /// Add to (or subtract from) the concurrency cap; never below 1.
    AdjustConcurrency(i32),
    /// Set the request rate (`None`: infinite).
    SetRate(Option<f64>),
    /// Multiply the request rate (an infinite rate becomes finite at the achieved rate first).
    ScaleRate(f64),
    /// Stop sending new requests; in-flight ones finish.
    Pause,
    Resume,
    TogglePause,
    /// Stop sending, cancel in-flight requests, and end the run (marked interrupted).
    Stop,
}

/// One prompt, ready to send.
#[derive(Debug, Clone)]
pub struct Job {
    pub prompt: String,
    pub max_tokens: u32,
    pub prompt_tokens: u64,
    pub prompt_source: TokenSource,
}

/// Where prompts come from (the workload's datasets implement this).
pub trait PromptSource: Send {
    fn next_job(&mut self) -> Job;
}

/// When requests are due (the workload's arrival schedule implements this).
pub trait Arrivals: Send {
    /// The next arrival's offset from the run's start (pauses excluded); `None`: no more.
    fn next_offset(&mut self) -> Option<Duration>;
    /// From `now` on, arrivals follow `rate` requests per second.
    fn set_rate(&mut self, rate: f64, now: Duration);
}

/// How much to send and when to stop.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub num_prompts: Option<u64>,
    pub duration: Option<Duration>,
    /// After a `duration` run stops sending: the longest wait for requests in flight.
    pub drain_timeout: Option<Duration>,
    pub num_warmups: u64,
    /// The starting load (keys may change it).
    pub control: Control,
    /// End the run when every request for this long was refused a connection (the server
    /// is gone): a load test must not go on hammering a dead address. `None`: never.
    pub stop_when_unreachable: Option<Duration>,
}

/// What the engine reports when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineOutcome {
    pub sent: u64,
    pub interrupted: bool,
}

/// A concurrency limit that can change while requests hold slots, and be paused.
#[derive(Debug)]
struct Limiter {
    state: Mutex<LimiterState>,
    notify: Notify,
}

#[derive(Debug)]
struct LimiterState {
    limit: Option<u32>,
    in_flight: u32,
    paused: bool,
}

impl Limiter {
    fn new(limit: Option<u32>) -> Arc<Self> {
        Arc::new(Limiter {
            state: Mutex::new(LimiterState {
                limit,
                in_flight: 0,
                paused: false,
            }),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        // The state is a few integers: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if !s.paused && s.limit.is_none_or(|l| s.in_flight < l) {
                    s.in_flight += 1;
                    return Slot(self.clone());
                }
            }
            notified.await;
        }
    }

    fn update(&self, f: impl FnOnce(&mut LimiterState)) {
        f(&mut self.lock());
        self.notify.notify_waiters();
    }
}

/// A held concurrency slot; released on drop.
struct Slot(Arc<Limiter>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0
            .update(|s| s.in_flight = s.in_flight.saturating_sub(1));
    }
}

/// The engine's shared pieces, cloned into request tasks.
struct Ctx {
    client: Arc<Client>,
    events: mpsc::UnboundedSender<RequestEvent>,
    limiter: Arc<Limiter>,
}

/// Run the load until the prompt count or duration is reached, or a `Stop` arrives.
pub async fn run(
    cfg: EngineConfig,
    client: Arc<Client>,
    mut prompts: Box<dyn PromptSource>,
    mut arrivals: Box<dyn Arrivals>,
    events: mpsc::UnboundedSender<RequestEvent>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> EngineOutcome {
    let mut control = cfg.control;
    let ctx = Ctx {
        client,
        events: events.clone(),
        limiter: Limiter::new(control.max_concurrency),
    };
    let mut next_id = 0u64;
    let mut commands_open = true;
    // Commands that came during the warm-ups, applied first (in order) by the timed run.
    let mut queued: VecDeque<Command> = VecDeque::new();

    // Warm-ups: sent with the same concurrency cap, awaited, kept out of the statistics. A
    // `Stop` ends them (and the run) at once; other commands wait for the timed run.
    if cfg.num_warmups > 0 {
        let _ = events.send(RequestEvent::State(RunState::Starting));
        let origin = Instant::now();
        let mut set = JoinSet::new();
        let mut launched = 0u64;
        let mut stopped = false;
        loop {
            if launched >= cfg.num_warmups && set.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(Command::Stop) => {
                        stopped = true;
                        break;
                    }
                    Some(other) => queued.push_back(other),
                    None => commands_open = false,
                },
                Some(_) = set.join_next(), if !set.is_empty() => {}
                slot = ctx.limiter.acquire(), if launched < cfg.num_warmups => {
                    let job = prompts.next_job();
                    set.spawn(send_one(&ctx, next_id, true, Duration::ZERO, job, origin, slot));
                    next_id += 1;
                    launched += 1;
                }
            }
        }
        if stopped {
            set.abort_all();
            while set.join_next().await.is_some() {}
            let _ = events.send(RequestEvent::Timeline {
                at: Duration::ZERO,
                what: format!(
                    "stopped during the warm-ups ({launched} of {} sent)",
                    cfg.num_warmups
                ),
            });
            let _ = events.send(RequestEvent::SendingDone { interrupted: true });
            return EngineOutcome {
                sent: 0,
                interrupted: true,
            };
        }
    }

    let origin = Instant::now();
    let _ = events.send(RequestEvent::Origin(origin));
    let _ = events.send(RequestEvent::Control(control));
    let deadline = cfg.duration.map(|d| origin + d);
    let mut set: JoinSet<Done> = JoinSet::new();
    let mut in_flight: HashSet<u64> = HashSet::new();
    let mut sent = 0u64;
    let mut interrupted = false;
    let mut unreachable = Unreachable::default();
    // Time spent paused, by which the open-loop schedule is shifted.
    let mut shift = Duration::ZERO;
    let mut paused_at: Option<Instant> = None;
    // The schedule was built with the starting rate (and, for a known count, rescaled so the
    // last arrival lands at N/rate, as vLLM does).
    let mut next_due = match control.request_rate {
        Some(_) => arrivals.next_offset(),
        None => None,
    };
    let at = |now: Instant| now.saturating_duration_since(origin);
    // Open loop: arrivals that are due but wait for a concurrency slot, as their scheduled
    // offsets (16 bytes each; the prompt is built only when the request is sent), oldest first.
    let mut backlog: VecDeque<Duration> = VecDeque::new();
    let mut arrived = 0u64;
    let mut dropped = 0u64;

    loop {
        let open_loop = control.request_rate.is_some();
        // --num-prompts counts arrivals in the open loop (queued ones are still sent), sends
        // in the closed loop.
        let counted = if open_loop { arrived } else { sent };
        let limit_reached =
            cfg.num_prompts.is_some_and(|n| counted >= n) || (open_loop && next_due.is_none());
        if limit_reached && backlog.is_empty() {
            break;
        }
        let due_at = next_due.map(|d| origin + shift + d);
        tokio::select! {
            biased;
            cmd = next_command(&mut queued, &mut commands), if commands_open || !queued.is_empty() => {
                let Some(cmd) = cmd else {
                    commands_open = false;
                    continue;
                };
                let now = Instant::now();
                let before = control;
                match cmd {
                    Command::Stop => {
                        interrupted = true;
                        let _ = events.send(RequestEvent::Timeline { at: at(now), what: "stop requested".into() });
                        break;
                    }
                    Command::Pause | Command::Resume | Command::TogglePause => {
                        let pause = match cmd {
                            Command::Pause => true,
                            Command::Resume => false,
                            _ => !control.paused,
                        };
                        if pause != control.paused {
                            control.paused = pause;
                            if pause {
                                paused_at = Some(now);
                            } else if let Some(p) = paused_at.take() {
                                shift += now - p;
                            }
                            ctx.limiter.update(|s| s.paused = pause);
                        }
                    }
                    Command::SetConcurrency(c) => control.max_concurrency = c.map(|c| c.max(1)),
                    Command::AdjustConcurrency(d) => {
                        let cur = control.max_concurrency.unwrap_or(in_flight.len().max(1) as u32) as i64;
                        control.max_concurrency = Some((cur + d as i64).clamp(1, u32::MAX as i64) as u32);
                    }
                    Command::SetRate(r) => control.request_rate = r.filter(|r| r.is_finite() && *r > 0.0),
                    Command::ScaleRate(f) => {
                        let base = control.request_rate.unwrap_or_else(|| {
                            // From an infinite rate: start from what was actually achieved.
                            let secs = at(now).as_secs_f64().max(1.0);
                            (sent as f64 / secs).max(0.1)
                        });
                        control.request_rate = Some((base * f).max(0.01));
                    }
                }
                if control.max_concurrency != before.max_concurrency {
                    let l = control.max_concurrency;
                    ctx.limiter.update(|s| s.limit = l);
                }
                if control.request_rate != before.request_rate {
                    if let Some(r) = control.request_rate {
                        let now_off = at(now).saturating_sub(shift);
                        arrivals.set_rate(r, now_off);
                        next_due = arrivals.next_offset();
                    }
                }
                if control != before {
                    let _ = events.send(RequestEvent::Control(control));
                    let _ = events.send(RequestEvent::Timeline { at: at(now), what: describe_change(&before, &control) });
                }
            }
            _ = sleep_until_opt(deadline), if deadline.is_some() => break,
            Some(done) = set.join_next(), if !set.is_empty() => {
                if let Ok(done) = done {
                    in_flight.remove(&done.id);
                    if let Some(fatal) = unreachable.finished(&done, cfg.stop_when_unreachable) {
                        let _ = events.send(RequestEvent::Timeline {
                            at: at(Instant::now()),
                            what: "stopped: the server stopped answering".into(),
                        });
                        let _ = events.send(RequestEvent::Fatal(fatal));
                        interrupted = true;
                        break;
                    }
                }
            }
            // Open loop: an arrival is due; it joins the backlog until a slot frees.
            _ = sleep_until_opt(due_at), if open_loop && !limit_reached && !control.paused && due_at.is_some() => {
                if backlog.len() < MAX_BACKLOG {
                    backlog.push_back(next_due.unwrap_or_default() + shift);
                } else {
                    dropped += 1;
                }
                arrived += 1;
                next_due = arrivals.next_offset();
                let _ = events.send(RequestEvent::Queued { waiting: backlog.len() as u64 });
            }
            // A slot is free: the oldest waiting arrival goes (open loop), else a new request
            // (closed loop).
            slot = ctx.limiter.acquire(), if !control.paused && (!backlog.is_empty() || (!open_loop && !limit_reached)) => {
                let scheduled = match backlog.pop_front() {
                    Some(s) => {
                        let _ = events.send(RequestEvent::Queued { waiting: backlog.len() as u64 });
                        s
                    }
                    None => at(Instant::now()),
                };
                let job = prompts.next_job();
                in_flight.insert(next_id);
                set.spawn(send_one(&ctx, next_id, false, scheduled, job, origin, slot));
                next_id += 1;
                sent += 1;
            }
        }
    }

    // No more sends. Arrivals still waiting for a slot when the run was cut short are not sent;
    // say how many, since it means the client (or the server) could not keep the rate.
    let unsent = backlog.len() as u64 + dropped;
    if unsent > 0 {
        let _ = events.send(RequestEvent::Queued { waiting: 0 });
        let _ = events.send(RequestEvent::NeverSent {
            at: at(Instant::now()),
            count: unsent,
        });
    }
    let _ = events.send(RequestEvent::SendingDone { interrupted });
    if interrupted {
        set.abort_all();
    }
    // A timed run waits for its last requests at most this long (a slow server's requests can
    // take minutes); a run of N prompts waits for them all, as vLLM does.
    let mut drain_deadline = match (deadline, cfg.drain_timeout) {
        (Some(_), Some(d)) if !interrupted => Some(Instant::now() + d),
        _ => None,
    };
    loop {
        tokio::select! {
            biased;
            cmd = commands.recv(), if commands_open => match cmd {
                Some(Command::Stop) => {
                    interrupted = true;
                    set.abort_all();
                }
                Some(_) => {}
                None => commands_open = false,
            },
            _ = sleep_until_opt(drain_deadline), if drain_deadline.is_some() && !set.is_empty() => {
                let _ = events.send(RequestEvent::Timeline {
                    at: at(Instant::now()),
                    what: format!(
                        "drain timeout: {} requests still in flight were cut (their tokens are kept)",
                        in_flight.len()
                    ),
                });
                set.abort_all();
                drain_deadline = None;
            }
            done = set.join_next() => match done {
                Some(Ok(done)) => { in_flight.remove(&done.id); }
                Some(Err(_)) => {}
                None => break,
            }
        }
    }
    if !in_flight.is_empty() {
        let _ = events.send(RequestEvent::Cancelled {
            ids: in_flight.into_iter().collect(),
        });
    }
    if interrupted {
        let _ = events.send(RequestEvent::SendingDone { interrupted: true });
    }
    EngineOutcome { sent, interrupted }
}

/// The next command: those kept from the warm-ups first, then the channel's.
async fn next_command(
    queued: &mut VecDeque<Command>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Option<Command> {
    match queued.pop_front() {
        Some(c) => Some(c),
        None => commands.recv().await,
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn describe_change(a: &Control, b: &Control) -> String {
    let conc = |c: Option<u32>| {
        c.map(|c| c.to_string())
            .unwrap_or_else(|| "uncapped".into())
    };
    let rate = |r: Option<f64>| {
        r.map(|r| format!("{r:.2}/s"))
            .unwrap_or_else(|| "inf".into())
    };
    let mut parts = Vec::new();
    if a.paused != b.paused {
        parts.push(if b.paused {
            "paused".to_string()
        } else {
            "resumed".to_string()
        });
    }
    if a.max_concurrency != b.max_concurrency {
        parts.push(format!(
            "concurrency {} -> {}",
            conc(a.max_concurrency),
            conc(b.max_concurrency)
        ));
    }
    if a.request_rate != b.request_rate {
        parts.push(format!(
            "rate {} -> {}",
            rate(a.request_rate),
            rate(b.request_rate)
        ));
    }
    parts.join(", ")
}

/// Arrivals kept waiting for a slot at most; beyond this they are counted, not kept.
const MAX_BACKLOG: usize = 1_000_000;

/// How long a slot stays taken after a refused connection, so a dead server is not hammered
/// in a tight loop (and the log does not fill the disk) while it is down.
const CONNECT_BACKOFF: Duration = Duration::from_millis(250);

/// What a request's task hands back to the engine.
struct Done {
    id: u64,
    /// The connection was refused (the message), for telling a dead server.
    refused: Option<String>,
}

/// Since when every finished request was refused a connection (`None`: one was answered
/// since), to end a run whose server is gone.
#[derive(Debug, Default)]
struct Unreachable {
    since: Option<Instant>,
    refused: u64,
    last: String,
}

impl Unreachable {
    /// Fold one finished request in; the fatal message when the server counts as gone.
    fn finished(&mut self, done: &Done, limit: Option<Duration>) -> Option<String> {
        let Some(msg) = &done.refused else {
            *self = Unreachable::default();
            return None;
        };
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        self.refused += 1;
        self.last.clone_from(msg);
        let limit = limit?;
        (now - since >= limit && self.refused >= 3).then(|| {
            format!(
                "the server stopped answering: every request for {} s was refused a connection \
                 ({} in a row; last: {}); the run stopped, what was measured is kept",
                limit.as_secs_f64().round(),
                self.refused,
                self.last
            )
        })
    }
}

/// One request's task: send, report, release the slot.
fn send_one(
    ctx: &Ctx,
    id: u64,
    warmup: bool,
    scheduled_at: Duration,
    job: Job,
    origin: Instant,
    slot: Slot,
) -> impl std::future::Future<Output = Done> + Send + 'static {
    let client = ctx.client.clone();
    let events = ctx.events.clone();
    async move {
        let _slot = slot;
        let spec = RequestSpec {
            id,
            warmup,
            scheduled_at,
            prompt: &job.prompt,
            max_tokens: job.max_tokens,
            prompt_tokens: job.prompt_tokens,
            prompt_source: job.prompt_source,
        };
        let rec = client.run(&spec, origin, Some(&events)).await;
        let refused = rec
            .error
            .as_ref()
            .filter(|e| e.kind == crate::load::record::ErrorKind::Connect)
            .map(|e| e.message.clone());
        let _ = events.send(RequestEvent::Finished(Box::new(rec)));
        if refused.is_some() {
            tokio::time::sleep(CONNECT_BACKOFF).await;
        }
        Done { id, refused }
    }
}
