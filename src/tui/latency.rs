//! The latency pane: one row per metric (TTFT, TTFO when the model reasons, TPOT, ITL, E2E)
//! with a sparkline of per-second means and p50/p90/p99 over the recent window and the whole run.

use super::fmt;
use super::pane::pane_block;
use super::theme::Theme;
use crate::metrics::latency::LatencyMetric;
use crate::metrics::snapshot::{Dist, Snapshot};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

/// Percentiles shown, in order.
const PCTS: [f64; 3] = [50.0, 90.0, 99.0];
/// Width of one value column.
const COL: usize = 7;

/// TTFO only means something when the model sent reasoning text: a finished request had
/// reasoning chunks, or a stream has its first token but not yet its first answer token.
fn shown(snap: &Snapshot) -> impl Iterator<Item = LatencyMetric> + '_ {
    let reasoning = snap.counts.reasoning_chunks > 0
        || snap.whole[LatencyMetric::Ttfo].count < snap.whole[LatencyMetric::Ttft].count;
    LatencyMetric::ALL
        .into_iter()
        .filter(move |m| *m != LatencyMetric::Ttfo || reasoning)
}

/// Metric rows this snapshot shows (the layout sizes the pane by it).
pub fn rows(snap: &Snapshot) -> usize {
    shown(snap).count()
}

/// A percentile of a distribution, `p50` falling back to the median when not configured.
fn pct(d: &Dist, p: f64) -> Option<f64> {
    if d.count == 0 {
        return None;
    }
    d.p(p).or_else(|| (p == 50.0).then_some(d.median))
}

fn cols(d: &Dist, theme: &Theme) -> Vec<Span<'static>> {
    PCTS.iter()
        .map(|&p| Span::styled(format!("{:>COL$}", fmt::ms(pct(d, p))), theme.text()))
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, snap: &Snapshot, theme: &Theme) {
    let recent_s = snap.recent_window.as_secs();
    // Whole-run columns need room; on narrow screens the recent window alone is shown.
    let both = area.width >= 2 + 5 + 2 * (PCTS.len() * COL) as u16 + 4 + 12;
    let title = if both {
        format!("Latency · percentiles: last {recent_s}s │ whole run")
    } else {
        format!("Latency · percentiles: last {recent_s}s")
    };
    let block = pane_block(&title, Some('2'), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width < 20 {
        return;
    }
    if inner.height < 2 {
        // Room for one line only (tiny terminals): the recent medians, as many as fit.
        frame.render_widget(Paragraph::new(one_line(snap, theme, inner.width)), inner);
        return;
    }
    let label_w = 5u16;
    let table_w = (PCTS.len() * COL) as u16;
    let values_w = if both { 2 * table_w + 3 } else { table_w };
    let [labels, sparks, values] = Layout::horizontal([
        Constraint::Length(label_w),
        Constraint::Fill(1),
        Constraint::Length(values_w + 1),
    ])
    .areas(inner);

    let head_cols: String = PCTS
        .iter()
        .map(|p| format!("{:>COL$}", format!("p{p:.0}")))
        .collect();
    let mut head = vec![Span::styled(
        format!(" {head_cols:>w$}", w = table_w as usize),
        theme.dim(),
    )];
    if both {
        head.push(Span::styled(" │ ", theme.border(false)));
        head.push(Span::styled(head_cols, theme.dim()));
    }
    // Sparkline: the last `width` complete seconds, one column per second; the title names
    // the span actually drawn (a young run has fewer seconds than columns).
    let (from, to) = fmt::window_range(&snap.series, snap.elapsed, Some(sparks.width as usize));
    let spark_title = format!("per-second mean, last {} s", to.saturating_sub(from));
    let row = |i: u16, r: Rect| Rect::new(r.x, r.y + i, r.width, 1);
    frame.render_widget(
        Paragraph::new(Line::styled(
            fmt::truncate(&spark_title, sparks.width as usize),
            theme.dim(),
        )),
        row(0, sparks),
    );
    frame.render_widget(Paragraph::new(Line::from(head)), row(0, values));
    for (y, (i, m)) in (1u16..).zip(shown(snap).enumerate()) {
        if y >= inner.height {
            break;
        }
        let style = theme.series(i);
        frame.render_widget(
            Paragraph::new(Line::styled(m.screen_label(), style)),
            row(y, labels),
        );
        let data: Vec<Option<u64>> = snap
            .series
            .range(from, to)
            .map(|(_, b)| b.mean_latency_ms(m).map(|v| (v * 1000.0) as u64))
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(&data)
                .style(style)
                .absent_value_symbol(" "),
            row(y, sparks),
        );
        let mut spans = vec![Span::raw(" ")];
        spans.extend(cols(&snap.recent[m], theme));
        if both {
            spans.push(Span::styled(" │ ", theme.border(false)));
            spans.extend(cols(&snap.whole[m], theme));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), row(y, values));
    }
}

/// "p50 TTFT 191ms TPOT 22.5ms ITL 21.9ms E2E 3.04s" over the recent window, cut at a whole
/// metric so no figure is shown in part.
fn one_line(snap: &Snapshot, theme: &Theme, width: u16) -> Line<'static> {
    let mut spans = vec![Span::styled("p50", theme.dim())];
    let mut used = 3;
    for (i, m) in shown(snap).enumerate() {
        let value = fmt::ms(pct(&snap.recent[m], 50.0));
        let len = 1 + m.screen_label().len() + 1 + value.chars().count();
        if used + len > width as usize {
            break;
        }
        used += len;
        spans.push(Span::styled(
            format!(" {}", m.screen_label()),
            theme.series(i),
        ));
        spans.push(Span::styled(format!(" {value}"), theme.text()));
    }
    Line::from(spans)
}
