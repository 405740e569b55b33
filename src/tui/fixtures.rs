//! Dashboard states with fixed numbers, in each state the dashboard shows, for the screen tests
//! and the drawing benchmark. Each comes from a small simulated run (`sim`), folded the way the
//! recorder folds real requests, so its numbers add up; `check` states what "add up" means and
//! a test runs it over every fixture. `side` holds the server and GPU views of the side panel.
//! The same call always gives the same screen.

mod check;
mod side;
mod sim;
mod sweep;

pub use check::check;
pub use side::{gpu_view, no_gpu_view, server_view};
pub use sim::{Sim, SimConfig, PERCENTILES};
pub use sweep::sweep_view;

use crate::metrics::snapshot::{Control, RunInfo, RunState, Snapshot, TimelineEvent};
use std::sync::Arc;
use std::time::Duration;

fn info() -> RunInfo {
    RunInfo {
        base_url: "http://127.0.0.1:8000".into(),
        model: "Qwen/Qwen3-8B".into(),
        endpoint: "/v1/chat/completions".into(),
        simulated: true,
        dataset: "random".into(),
        input_len: Some(1024),
        output_len: Some(128),
        num_prompts: None,
        duration_limit: None,
    }
}

/// A closed-loop run: 24 streams, raised to 32 with `+` at 12 s, TTFT ~180 ms, TPOT ~21 ms.
fn steady(stop_sending: f64) -> SimConfig {
    SimConfig {
        info: info(),
        cap: 24,
        cap_changes: vec![(12.0, 32)],
        rate: None,
        num_prompts: None,
        ttft: 0.18,
        tpot: 0.0214,
        reasoning: 0,
        overloaded: 0.0,
        cut: 0.0,
        timeout: 0.0,
        stop_sending,
        dies_at: None,
    }
}

fn event(at: f64, what: &str) -> TimelineEvent {
    TimelineEvent {
        at: Duration::from_secs_f64(at),
        what: what.into(),
    }
}

fn steady_timeline() -> Vec<TimelineEvent> {
    vec![event(12.0, "concurrency 24 → 32 (key +)")]
}

/// Starting: the server is being probed, nothing measured yet.
pub fn idle() -> Snapshot {
    let mut info = info();
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

/// A steady run 75.4 s in: 32 in flight, about 1,400 output tok/s.
pub fn running() -> Snapshot {
    running_at(Duration::from_millis(75_400))
}

/// The steady run at `elapsed` (up to an hour).
pub fn running_at(elapsed: Duration) -> Snapshot {
    steady_sim(elapsed.as_secs_f64() + 1.0).snapshot_at(
        elapsed.as_secs_f64(),
        RunState::Running,
        &steady_timeline(),
    )
}

/// The steady run simulated up to `until` seconds (the benchmark takes many snapshots of one).
pub fn steady_sim(until: f64) -> Sim {
    Sim::run(steady(until))
}

/// The steady run, paused with space at 74.6 s: nothing sent since, the last requests finishing.
pub fn paused() -> Snapshot {
    let mut timeline = steady_timeline();
    timeline.push(event(74.6, "paused (key space)"));
    Sim::run(steady(74.6)).snapshot_at(75.4, RunState::Paused, &timeline)
}

/// A reasoning model on a remote server that fails some requests (503s, cut streams,
/// timeouts), asked for 16 requests/s it cannot serve: the client says it sends slower than
/// the target and arrivals queue.
pub fn with_errors() -> Snapshot {
    with_errors_at(Duration::from_millis(75_400))
}

/// The failing run at `elapsed`.
pub fn with_errors_at(elapsed: Duration) -> Snapshot {
    let t = elapsed.as_secs_f64();
    let cfg = SimConfig {
        info: RunInfo {
            model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B".into(),
            simulated: false,
            base_url: "http://gpu-node-2.lab.internal:8000".into(),
            ..info()
        },
        cap: 32,
        cap_changes: Vec::new(),
        rate: Some(16.0),
        ttft: 0.24,
        tpot: 0.0262,
        reasoning: 24,
        overloaded: 0.03,
        cut: 0.004,
        timeout: 0.003,
        ..steady(t + 1.0)
    };
    let timeline = vec![event(20.0, "request rate 12.8 → 16.0/s (key ])")];
    Sim::run(cfg).snapshot_at(t, RunState::Running, &timeline)
}

/// Done: 600 prompts sent and answered; the screen stays until `q`.
pub fn done() -> Snapshot {
    let cfg = SimConfig {
        info: RunInfo {
            num_prompts: Some(600),
            ..info()
        },
        num_prompts: Some(600),
        ..steady(f64::INFINITY)
    };
    let sim = Sim::run(cfg);
    let mut timeline = steady_timeline();
    timeline.push(event(sim.end(), "all 600 requests finished"));
    sim.snapshot_at(sim.end(), RunState::Done, &timeline)
}

/// The server died 41.3 s in: streams broke, connections were refused, and the run stopped.
pub fn fatal() -> Snapshot {
    let cfg = SimConfig {
        dies_at: Some(41.3),
        ..steady(42.8)
    };
    let sim = Sim::run(cfg);
    let mut timeline = steady_timeline();
    timeline.push(event(42.8, "stopped: the server stopped answering"));
    let mut s = sim.snapshot_at(sim.end(), RunState::Done, &timeline);
    s.fatal = Some(
        "the server at 'http://127.0.0.1:8000' stopped answering: connection refused (is it still running?)"
            .into(),
    );
    s
}

/// Every fixture by name (the invariant test runs `check` over all of them).
pub fn all() -> Vec<(&'static str, Snapshot)> {
    vec![
        ("idle", idle()),
        ("running", running()),
        ("paused", paused()),
        ("errors", with_errors()),
        ("done", done()),
        ("fatal", fatal()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::latency::LatencyMetric;

    #[test]
    fn every_fixture_adds_up() {
        for (name, snap) in all() {
            if let Err(e) = check(&snap) {
                panic!("fixture '{name}' does not add up:\n{e}");
            }
        }
    }

    #[test]
    fn the_fixtures_show_what_their_names_say() {
        let r = running();
        assert_eq!(
            (r.counts.in_flight, r.control.max_concurrency),
            (32, Some(32))
        );
        assert!(
            (1_200.0..1_600.0).contains(&r.peak_output_tps),
            "{}",
            r.peak_output_tps
        );
        let p = paused();
        assert!(p.counts.in_flight > 0, "the last requests still finishing");
        let e = with_errors();
        assert!(e.errors.len() == 3 && e.counts.queued > 0 && e.counts.reasoning_chunks > 0);
        assert!(
            crate::tui::load::rate_short(&e),
            "the client cannot keep the rate"
        );
        let d = done();
        assert_eq!((d.counts.ok, d.counts.in_flight), (600, 0));
        let f = fatal();
        assert!(f.fatal.is_some() && f.counts.failed > 32, "{:?}", f.counts);
    }

    /// The checker itself: each invariant broken once is caught.
    #[test]
    fn check_catches_numbers_that_do_not_add_up() {
        type Break = (&'static str, fn(&mut Snapshot));
        let breaks: Vec<Break> = vec![
            ("sent", |s| s.counts.sent += 1),
            ("ok per second", |s| s.series.bucket_mut(3).ok += 1),
            ("errors", |s| s.counts.failed += 1),
            ("done in flight", |s| {
                s.state = RunState::Done;
            }),
            ("peak", |s| s.peak_output_tps += 1.0),
            ("rate", |s| s.achieved_rate += 0.5),
            ("latency count", |s| s.whole[LatencyMetric::E2el].count += 1),
        ];
        for (what, f) in breaks {
            let mut s = running();
            f(&mut s);
            assert!(check(&s).is_err(), "not caught: {what}");
        }
    }
}
