//! The server's own view over time, from its `/metrics`: its token rates on a chart, its
//! latency percentiles over the last 30 s (from histogram bucket deltas), and its queue, KV
//! cache, prefix-cache hit rate, preemptions and speculative-decoding acceptance as sparklines.
//! `tokscope watch` fills its screen with it; the dashboard shows it when `5` enlarges it,
//! with our own TTFT beside the server's.
//!
//! ```text
//! +-1 Server tokens------------------------------------+
//! | ■ generated now 1,234  mean 1,180 tok/s  ...       |
//! | (chart)                                            |
//! +-2 Server latency, last 30 s-----------------------+
//! |          p50      p90      p99    count            |
//! | TTFT   120 ms   ...                                 |
//! +-3 Queue and cache---------------------------------+
//! | running 12  ▁▂▃▅                                   |
//! +---------------------------------------------------+
//! ```

use super::fmt;
use super::gpu_pane::sparkline;
use super::pane::pane_block;
use super::theme::Theme;
use super::throughput::nice_ceiling;
use crate::metrics::snapshot::Snapshot;
use crate::telemetry::server_metrics::series::{ServerPoint, ServerView};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

/// Lines the latency pane needs (border, header, five rows).
const LATENCY_H: u16 = 8;
/// Lines the queue-and-cache pane needs (border and six rows).
const QUEUE_H: u16 = 8;

/// Draw the three panes into `area`. `ours`: the dashboard's snapshot, for our TTFT beside the
/// server's (`None` in `watch`, which sends no requests).
pub fn render(
    frame: &mut Frame,
    area: Rect,
    v: &ServerView,
    ours: Option<&Snapshot>,
    theme: &Theme,
) {
    // Only the rows there is something to say about take room when room is short.
    let lat_h = LATENCY_H + u16::from(ours.is_some());
    let queue_rows = queue_rows(v) as u16;
    let (lat_h, queue_h_want) = if area.height < 8 + lat_h + QUEUE_H {
        let missing = v.latest.as_ref().map_or(0, |m| {
            m.latency
                .named()
                .iter()
                .filter(|(_, h)| h.is_none())
                .count()
        });
        // Short: no header row, no rows of histograms the server lacks; running and waiting
        // share a row.
        (lat_h - 1 - (missing as u16).min(4), queue_rows.max(2) + 1)
    } else {
        (lat_h, QUEUE_H)
    };
    let (lat_h, queue_h) = if area.height >= 8 + lat_h + queue_h_want {
        (lat_h, queue_h_want)
    } else if area.height >= 6 + lat_h {
        (lat_h, area.height - 6 - lat_h)
    } else {
        (area.height.saturating_sub(6).min(lat_h), 0)
    };
    let short = area.height < 8 + LATENCY_H + QUEUE_H;
    let [top, lat, queue] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(lat_h),
        Constraint::Length(queue_h),
    ])
    .areas(area);
    tokens(frame, top, v, theme);
    if lat.height >= 3 {
        latency(frame, lat, v, ours, theme, short);
    }
    if queue.height >= 3 {
        queue_and_cache(frame, queue, v, theme, short);
    }
}

/// Why there are no figures yet, or `None` when there are.
fn nothing_yet(v: &ServerView) -> Option<String> {
    if v.latest.is_some() {
        return None;
    }
    Some(
        v.error
            .clone()
            .unwrap_or_else(|| "waiting for the first scrape of /metrics".into()),
    )
}

fn tokens(frame: &mut Frame, area: Rect, v: &ServerView, theme: &Theme) {
    let block = pane_block("Server tokens (its own counters)", Some('1'), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(why) = nothing_yet(v) {
        frame.render_widget(Paragraph::new(Line::styled(why, theme.warn())), inner);
        return;
    }
    let gen: Vec<Option<f64>> = v.recent.iter().map(|p| p.generation_tok_s).collect();
    let prompt: Vec<Option<f64>> = v.recent.iter().map(|p| p.prompt_tok_s).collect();
    let now = |s: &[Option<f64>]| s.last().copied().flatten();
    let peak = |s: &[Option<f64>]| {
        s.iter()
            .flatten()
            .copied()
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))))
    };
    let figure = |name: &'static str,
                  i: usize,
                  now_v: Option<f64>,
                  mean: Option<f64>,
                  peak_v: Option<f64>,
                  what: &str| {
        let f = |x: Option<f64>| x.map_or(fmt::NA.to_string(), fmt::rate);
        match now_v.or(mean) {
            None if v.recent.len() > 1 => Line::from(vec![
                Span::styled("■ ", theme.series(i)),
                Span::styled(name, theme.text()),
                Span::styled(
                    format!("  n/a: this server has no {what} counter"),
                    theme.dim(),
                ),
            ]),
            _ => Line::from(vec![
                Span::styled("■ ", theme.series(i)),
                Span::styled(name, theme.text()),
                Span::styled("  now ", theme.dim()),
                Span::styled(format!("{:>7}", f(now_v)), theme.series(i)),
                Span::styled("  30 s ", theme.dim()),
                Span::styled(format!("{:>7}", f(mean)), theme.text()),
                Span::styled("  peak ", theme.dim()),
                Span::styled(format!("{:>7}", f(peak_v)), theme.text()),
                Span::styled(" tok/s", theme.dim()),
            ]),
        }
    };
    let lines = vec![
        figure(
            "generated",
            0,
            now(&gen),
            v.window.generation_tok_s,
            peak(&gen),
            "generated-token",
        ),
        figure(
            "prompt   ",
            1,
            now(&prompt),
            v.window.prompt_tok_s,
            peak(&prompt),
            "prompt-token",
        ),
    ];
    let legend_h = if inner.height >= 6 { 2 } else { 1 };
    let [legend, plot] =
        Layout::vertical([Constraint::Length(legend_h), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), legend);
    if plot.height < 3 {
        return;
    }
    let (t0, t1) = match (v.recent.first(), v.recent.last()) {
        (Some(a), Some(b)) if b.t > a.t => (a.t, b.t),
        _ => return,
    };
    let pts = |f: fn(&ServerPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        v.recent.iter().filter_map(|p| Some((p.t, f(p)?))).collect()
    };
    let g = pts(|p| p.generation_tok_s);
    let y_max = nice_ceiling(peak(&gen).unwrap_or(0.0));
    let label = |x: f64| {
        Span::styled(
            if x == 0.0 {
                "0".to_string()
            } else {
                fmt::rate(x)
            },
            theme.dim(),
        )
    };
    let chart = Chart::new(vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.series(0))
        .data(&g)])
    .style(theme.text())
    .hidden_legend_constraints((Constraint::Length(0), Constraint::Length(0)))
    .x_axis(
        Axis::default()
            .style(theme.border(false))
            .bounds([t0, t1])
            .labels(vec![
                Span::styled(
                    fmt::clock(std::time::Duration::from_secs_f64(t0)),
                    theme.dim(),
                ),
                Span::styled(
                    fmt::clock(std::time::Duration::from_secs_f64(t1)),
                    theme.dim(),
                ),
            ]),
    )
    .y_axis(
        Axis::default()
            .style(theme.border(false))
            .bounds([0.0, y_max])
            .labels(vec![label(0.0), label(y_max / 2.0), label(y_max)]),
    );
    frame.render_widget(chart, plot);
}

fn latency(
    frame: &mut Frame,
    area: Rect,
    v: &ServerView,
    ours: Option<&Snapshot>,
    theme: &Theme,
    short: bool,
) {
    let secs = v.window.span.as_secs().max(1);
    let title = if short {
        format!("Server latency p50 / p90 / p99, last {secs} s")
    } else {
        format!("Server latency, last {secs} s (its histograms)")
    };
    let block = pane_block(&title, Some('2'), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(why) = nothing_yet(v) {
        frame.render_widget(Paragraph::new(Line::styled(why, theme.warn())), inner);
        return;
    }
    let mut lines = Vec::new();
    if !short {
        lines.push(Line::styled(
            format!(
                "{:<7}{:>10}{:>10}{:>10}{:>9}",
                "", "p50", "p90", "p99", "count"
            ),
            theme.dim(),
        ));
    }
    for (name, b) in v.window.latency.named() {
        let present = v.latest.as_ref().is_some_and(|m| {
            m.latency
                .named()
                .iter()
                .any(|(n, h)| *n == name && h.is_some())
        });
        let line = match b {
            Some(b) if b.count() > 0.0 => {
                let q = |p: f64| {
                    format!(
                        "{:>10}",
                        b.quantile_text(p).unwrap_or_else(|| fmt::NA.into())
                    )
                };
                Line::from(vec![
                    Span::styled(format!("{name:<7}"), theme.text()),
                    Span::styled(q(0.5), theme.series(0)),
                    Span::styled(q(0.9), theme.text()),
                    Span::styled(q(0.99), theme.text()),
                    Span::styled(format!("{:>9}", fmt::count(b.count() as u64)), theme.dim()),
                ])
            }
            _ if present || v.recent.len() < 2 => Line::from(vec![
                Span::styled(format!("{name:<7}"), theme.text()),
                Span::styled("  no requests recorded in the window", theme.dim()),
            ]),
            _ if short => continue,
            _ => Line::from(vec![
                Span::styled(format!("{name:<7}"), theme.text()),
                Span::styled(
                    format!("  n/a: this server has no {name} histogram"),
                    theme.dim(),
                ),
            ]),
        };
        lines.push(line);
    }
    if let Some(s) = ours {
        // Ours over the same 30 s: the gap is what happens outside the engine.
        let our = (s.recent.by_metric[crate::metrics::latency::LatencyMetric::Ttft].count > 0)
            .then_some(s.recent.by_metric[crate::metrics::latency::LatencyMetric::Ttft].median);
        let server_buckets = v.window.latency.ttft.as_ref();
        let server = server_buckets
            .and_then(|b| b.quantile(0.5))
            .map(|s| s * 1000.0);
        let bucket = server_buckets.and_then(|b| b.quantile_bucket(0.5));
        let mut spans = vec![
            Span::styled("TTFT p50 ours ", theme.dim()),
            Span::styled(fmt::ms(our), theme.series(1)),
            Span::styled(" · server ", theme.dim()),
            Span::styled(fmt::ms(server), theme.series(0)),
        ];
        if let (Some(a), Some((lo, hi))) = (our, bucket) {
            // The server's median is known only to lie in one bucket: the gap is a range.
            let hi = Some(hi * 1000.0).filter(|h| h.is_finite());
            let (min, max) =
                crate::report::client_vs_server::ttft_gap_in_bucket(a, lo * 1000.0, hi);
            let gap = if max - min < 0.05 {
                fmt::ms(Some(min))
            } else {
                format!("{}–{}", fmt::ms(Some(min)), fmt::ms(Some(max)))
            };
            spans.push(Span::styled(" · gap ", theme.dim()));
            spans.push(Span::styled(gap, theme.text()));
            spans.push(Span::styled(
                " (network, HTTP, queue outside the engine)",
                theme.dim(),
            ));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Rows the queue-and-cache pane will show.
fn queue_rows(v: &ServerView) -> usize {
    let last = |f: fn(&ServerPoint) -> Option<f64>| v.recent.iter().rev().find_map(f);
    // running, waiting, KV cache, prefix hit and preemptions always (a figure or why not).
    5 + usize::from(
        last(|p| p.spec_acceptance)
            .or(v.window.spec_acceptance)
            .is_some(),
    )
}

fn queue_and_cache(frame: &mut Frame, area: Rect, v: &ServerView, theme: &Theme, short: bool) {
    let block = pane_block("Queue and cache", Some('3'), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(why) = nothing_yet(v) {
        frame.render_widget(Paragraph::new(Line::styled(why, theme.warn())), inner);
        return;
    }
    let w = inner.width as usize;
    let label_w = 22;
    let spark_w = w.saturating_sub(label_w + 1);
    type Get = fn(&ServerPoint) -> Option<f64>;
    type Show = fn(f64) -> String;
    // Name, value, how to show it, the scale's top (None: the data's), why it may be missing.
    type Row = (&'static str, Get, Show, Option<f64>, &'static str);
    let rows: [Row; 6] = [
        (
            "running",
            |p| p.running,
            |x| format!("{x:.0}"),
            None,
            "n/a: no running-requests gauge",
        ),
        (
            "waiting",
            |p| p.waiting,
            |x| format!("{x:.0}"),
            None,
            "n/a: no queue gauge",
        ),
        (
            "KV cache",
            |p| p.kv_usage,
            |x| format!("{:.1}%", x * 100.0),
            Some(1.0),
            "n/a: this server has no KV-cache gauge",
        ),
        (
            "prefix hit",
            |p| p.prefix_hit_rate,
            |x| format!("{:.1}%", x * 100.0),
            Some(1.0),
            "n/a: this server has no prefix-cache counter",
        ),
        (
            "preempted/s",
            |p| p.preemptions_per_s,
            |x| format!("{x:.1}"),
            None,
            "n/a: this server has no preemption counter",
        ),
        (
            "spec accept",
            |p| p.spec_acceptance,
            |x| format!("{:.1}%", x * 100.0),
            Some(1.0),
            "n/a: no speculative decoding",
        ),
    ];
    let mut lines = Vec::new();
    if short {
        // Running and waiting as numbers on one row; the sparklines below carry the history.
        let n = |x: Option<f64>| x.map_or(fmt::NA.to_string(), |x| format!("{x:.0}"));
        let m = v.latest.as_ref();
        lines.push(Line::from(vec![
            Span::styled("running ", theme.dim()),
            Span::styled(n(m.and_then(|m| m.running)), theme.text()),
            Span::styled("  waiting ", theme.dim()),
            Span::styled(n(m.and_then(|m| m.waiting)), theme.text()),
        ]));
    }
    for (name, get, show, max, missing) in rows {
        if short && matches!(name, "running" | "waiting") {
            continue;
        }
        let vals: Vec<Option<f64>> = v.recent.iter().map(get).collect();
        let last = vals.iter().rev().flatten().next().copied();
        // The window's figure for the rates that need one (a second may see no prompt).
        let now = match name {
            "prefix hit" => v.window.prefix_hit_rate.or(last),
            "spec accept" => v.window.spec_acceptance.or(last),
            _ => last,
        };
        let Some(now) = now else {
            if name == "spec accept" {
                continue;
            }
            lines.push(Line::from(vec![
                Span::styled(format!("{name:<12}"), theme.dim()),
                Span::styled(missing.to_string(), theme.dim()),
            ]));
            continue;
        };
        let value = format!("{name:<12}{:>9} ", show(now));
        lines.push(Line::from(vec![
            Span::styled(format!("{value:<label_w$}"), theme.text()),
            Span::styled(sparkline(&vals, spark_w, max), theme.series(2)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The one-line state of the watched server for the header: what, where, how fresh.
pub fn status_spans(v: &ServerView, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    if let Some(m) = &v.latest {
        spans.push(Span::styled(format!(" {} ", m.server), theme.accent()));
    }
    let sources = if v.sources > 1 {
        format!("{} /metrics summed · ", v.sources)
    } else {
        String::new()
    };
    spans.push(Span::styled(
        format!("{sources}every {:.1} s", v.interval.as_secs_f64()),
        theme.dim(),
    ));
    match (v.age, &v.error) {
        (Some(age), Some(_)) => spans.push(Span::styled(
            format!(" · STALE {:.0} s", age.as_secs_f64()),
            theme.warn(),
        )),
        (Some(age), None) => spans.push(Span::styled(
            format!(" · read {:.1} s ago", age.as_secs_f64()),
            theme.dim(),
        )),
        (None, Some(e)) => spans.push(Span::styled(format!(" · {e}"), theme.error())),
        (None, None) => {}
    }
    spans
}
