//! The throughput pane: output tokens per second on a chart of its own scale, and the prompt
//! tokens the server processed (prefill) on a smaller chart below with its own scale, one point
//! per complete second over the chosen window, with current / mean / peak as numbers above.
//!
//! Two charts, not one with two lines: prefill comes in bursts (a wave of requests sent at
//! once) up to a hundred times the output rate, and on a shared axis the output line, the
//! number people watch, would lie flat on the floor (seen on a real server: output ~300 tok/s
//! under a prefill spike of 45,000). btop draws upload and download the same way.

use super::app::App;
use super::fmt::{self, WindowFigures};
use super::pane::pane_block;
use super::theme::Theme;
use crate::metrics::snapshot::{SecondBucket, Snapshot};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

fn output(b: &SecondBucket) -> f64 {
    b.output_tokens as f64
}
fn prefill(b: &SecondBucket) -> f64 {
    b.input_tokens as f64
}

/// The figures above the chart. `live`: the run is going on, so "now" means something (a
/// finished run has no current rate). `width`: what fits; on narrow panes the words shorten
/// and the least needed figures go first (mean, then now), never a number cut in half.
fn figures_line<'a>(
    name: &'a str,
    f: WindowFigures,
    i: usize,
    theme: &Theme,
    live: bool,
    width: usize,
) -> Line<'a> {
    let v = |x: Option<f64>| x.map_or(fmt::NA.to_string(), fmt::rate);
    let wide = Line::from(
        [
            vec![
                Span::styled("■ ", theme.series(i)),
                Span::styled(name, theme.text()),
            ],
            if live {
                vec![
                    Span::styled("  now ", theme.dim()),
                    Span::styled(format!("{:>7}", v(f.current)), theme.series(i)),
                ]
            } else {
                Vec::new()
            },
            vec![
                Span::styled("  mean ", theme.dim()),
                Span::styled(format!("{:>7}", v(f.mean)), theme.text()),
                Span::styled("  peak ", theme.dim()),
                Span::styled(format!("{:>7}", v(f.peak)), theme.text()),
                Span::styled(" tok/s", theme.dim()),
            ],
        ]
        .concat(),
    );
    if wide.width() <= width {
        return wide;
    }
    let now = live.then(|| ("now", v(f.current), theme.series(i)));
    let mean = ("mean", v(f.mean), theme.text());
    let peak = ("peak", v(f.peak), theme.text());
    let choices = [
        vec![now.clone(), Some(mean.clone()), Some(peak.clone())],
        vec![now.clone(), Some(peak.clone())],
        vec![Some(peak)],
    ];
    let mut line = Line::default();
    for figures in choices {
        let mut spans = vec![
            Span::styled("■ ", theme.series(i)),
            Span::styled(name.trim_end(), theme.text()),
        ];
        for (label, value, style) in figures.into_iter().flatten() {
            spans.push(Span::styled(format!(" {label} "), theme.dim()));
            spans.push(Span::styled(value, style));
        }
        line = Line::from(spans);
        if line.width() <= width {
            break;
        }
    }
    line
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, snap: &Snapshot, theme: &Theme) {
    let title = format!("Throughput · {} (w)", app.window.label());
    let block = pane_block(&title, Some('1'), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width < 10 {
        return;
    }
    let range = fmt::window_range(&snap.series, snap.elapsed, app.window.seconds());
    let out_f = fmt::figures(&snap.series, range, output);
    let pre_f = fmt::figures(&snap.series, range, prefill);

    // Tall enough: both figure lines; otherwise output only (what people care about most).
    let legend_h = if inner.height >= 7 { 2 } else { 1 };
    let [legend, plot] =
        Layout::vertical([Constraint::Length(legend_h), Constraint::Fill(1)]).areas(inner);
    let live = snap.state != crate::metrics::snapshot::RunState::Done;
    let w = inner.width as usize;
    let mut legend_lines = vec![figures_line("output ", out_f, 0, theme, live, w)];
    if legend_h == 2 {
        legend_lines.push(figures_line("prefill", pre_f, 1, theme, live, w));
    }
    frame.render_widget(Paragraph::new(legend_lines), legend);
    if plot.height < 3 {
        return;
    }

    let (from, to) = range;
    if to <= from {
        let msg = if snap.counts.sent == 0 {
            "waiting for the first tokens…"
        } else {
            "the first second is still filling…"
        };
        // One line in the middle of the plot, whatever its height.
        let middle = Rect::new(
            plot.x + 1,
            plot.y + plot.height / 2,
            plot.width.saturating_sub(2),
            1,
        );
        frame.render_widget(Paragraph::new(Line::styled(msg, theme.dim())), middle);
        return;
    }
    // A fixed-width window keeps its scale while it fills; the whole run grows with it.
    let x = (
        from as f64,
        match app.window.seconds() {
            Some(w) => (from + w).max(to) as f64,
            None => (to.max(10)) as f64,
        },
    );
    let points = |f: fn(&SecondBucket) -> f64| -> Vec<(f64, f64)> {
        snap.series
            .range(from, to)
            .map(|(i, b)| (i as f64 + 1.0, f(b)))
            .collect()
    };
    // The prefill chart only where its figures are shown too, and there is room for both.
    if legend_h == 2 && plot.height >= 10 {
        let pre_h = (plot.height / 3).max(4);
        // A blank line between the two, so one chart's "0" does not sit on the other's top.
        let gap = u16::from(plot.height >= 12);
        let [top, _, bottom] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(gap),
            Constraint::Length(pre_h),
        ])
        .areas(plot);
        // The same label width on both, so their time axes line up.
        let w = label_width(out_f.peak).max(label_width(pre_f.peak));
        let out_pts = points(output);
        let top_y = (out_f.peak, w);
        chart(frame, top, &out_pts, top_y, x, None, theme.series(0), theme);
        let pre_pts = points(prefill);
        let bottom_y = (pre_f.peak, w);
        chart(
            frame,
            bottom,
            &pre_pts,
            bottom_y,
            x,
            Some(from),
            theme.series(1),
            theme,
        );
    } else {
        let out_pts = points(output);
        let y = (out_f.peak, label_width(out_f.peak));
        chart(
            frame,
            plot,
            &out_pts,
            y,
            x,
            Some(from),
            theme.series(0),
            theme,
        );
    }
}

/// Width of the widest y label of a chart whose window peaks at `peak`.
fn label_width(peak: Option<f64>) -> usize {
    fmt::rate(nice_ceiling(peak.unwrap_or(0.0))).chars().count()
}

/// One line chart on its own y scale (a round number above the window's peak), its labels
/// right-aligned to `label_w`. `x_from`: draw the time labels under it (the lowest chart).
#[allow(clippy::too_many_arguments)] // the pieces of one chart; a struct would only rename them
fn chart(
    frame: &mut Frame,
    area: Rect,
    pts: &[(f64, f64)],
    (peak, label_w): (Option<f64>, usize),
    (x_min, x_max): (f64, f64),
    x_from: Option<usize>,
    style: ratatui::style::Style,
    theme: &Theme,
) {
    let y_max = nice_ceiling(peak.unwrap_or(0.0));
    let x_labels = match x_from {
        Some(from) => vec![
            Span::styled(
                fmt::clock(std::time::Duration::from_secs(from as u64)),
                theme.dim(),
            ),
            Span::styled(
                fmt::clock(std::time::Duration::from_secs(x_max as u64)),
                theme.dim(),
            ),
        ],
        None => Vec::new(),
    };
    let label = |v: f64| {
        let text = if v == 0.0 {
            "0".to_string()
        } else {
            fmt::rate(v)
        };
        Span::styled(format!("{text:>label_w$}"), theme.dim())
    };
    let y_labels = if area.height >= 6 {
        vec![label(0.0), label(y_max / 2.0), label(y_max)]
    } else {
        vec![label(0.0), label(y_max)]
    };
    let data = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(style)
        .data(pts);
    let chart = Chart::new(vec![data])
        .style(theme.text())
        .hidden_legend_constraints((Constraint::Length(0), Constraint::Length(0)))
        .x_axis(
            Axis::default()
                .style(theme.border(false))
                .bounds([x_min, x_max])
                .labels(x_labels),
        )
        .y_axis(
            Axis::default()
                .style(theme.border(false))
                .bounds([0.0, y_max])
                .labels(y_labels),
        );
    frame.render_widget(chart, area);
}

/// A round number at or above `v` (1, 2, 2.5, 5 times a power of ten), so axis labels read well.
pub fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

#[cfg(test)]
mod tests {
    use super::nice_ceiling;

    #[test]
    fn axis_ceilings_are_round() {
        let cases = [
            (0.0, 1.0),
            (7.0, 10.0),
            (1234.0, 2000.0),
            (2100.0, 2500.0),
            (40.0, 50.0),
        ];
        for (v, want) in cases {
            assert_eq!(nice_ceiling(v), want, "{v}");
        }
    }
}
