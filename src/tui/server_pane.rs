//! The inference server's own view of the load, from its `/metrics`: requests running and
//! waiting, and KV-cache use with its recent history (vLLM, SGLang, TGI, llama.cpp names).

use crate::telemetry::server_metrics::ServerView;
use crate::tui::gpu_pane::{bar, sparkline};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

/// Lines the pane needs when boxed (border included).
pub const HEIGHT: u16 = 5;

/// True when the server once answered but its latest scrape failed: the numbers shown are
/// its last known ones, not its state now.
fn stale(v: &ServerView) -> bool {
    v.latest.is_some() && v.error.is_some()
}

/// One line, for the narrow layout.
pub fn compact_line(v: &ServerView, theme: &Theme) -> Line<'static> {
    match &v.latest {
        Some(m) => {
            let n = |x: Option<f64>| x.map(|x| format!("{x:.0}")).unwrap_or_else(|| "n/a".into());
            let kv = m
                .kv_usage
                .map(|k| format!("{:.0}%", k * 100.0))
                .unwrap_or_else(|| "n/a".into());
            let values = format!("run {} wait {} KV {kv}", n(m.running), n(m.waiting));
            let mut spans = vec![Span::styled(format!("{} ", m.server), theme.accent())];
            if stale(v) {
                let age = v
                    .age
                    .map_or(String::new(), |a| format!(" {}s", a.as_secs()));
                spans.push(Span::styled(format!("stale{age}: "), theme.warn()));
                spans.push(Span::styled(values, theme.dim()));
            } else {
                spans.push(Span::styled(values, theme.text()));
            }
            Line::from(spans)
        }
        None => Line::styled(
            v.error
                .clone()
                .unwrap_or_else(|| "server /metrics: waiting for the first scrape".into()),
            theme.dim(),
        ),
    }
}

/// Draw the boxed pane into `area`.
pub fn render(frame: &mut Frame, area: Rect, v: &ServerView, theme: &Theme) {
    if area.height < 3 {
        frame.render_widget(Paragraph::new(compact_line(v, theme)), area);
        return;
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(false))
        .title(Span::styled(" Server ", theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines = vec![compact_line(v, theme)];
    if let Some(m) = &v.latest {
        let label = "KV ";
        let mut spans = vec![Span::styled(label, theme.dim())];
        match m.kv_usage {
            Some(k) => {
                let bar_w = w.saturating_sub(label.len() + 7).max(1);
                spans.extend(bar(theme, Some(k), bar_w));
                spans.push(Span::styled(format!(" {:>4.1}%", k * 100.0), theme.text()));
            }
            // No gauge (llama.cpp): say so, and show how full its batches run instead.
            None => {
                spans.push(Span::styled("n/a", theme.text()));
                if let Some(b) = m.busy_slots_per_decode {
                    spans.push(Span::styled("  busy slots/decode ", theme.dim()));
                    spans.push(Span::styled(format!("{b:.1}"), theme.text()));
                }
            }
        }
        lines.push(Line::from(spans));
        if let (true, Some(e)) = (stale(v), &v.error) {
            // Why the numbers above are old matters more than the queue's history.
            lines.push(Line::styled(e.clone(), theme.warn()));
        } else {
            // The queue now, then its history; an empty queue is a flat line, not a blank.
            let label = format!(
                "queue {} ",
                m.waiting.map_or("n/a".into(), |q| format!("{q:.0}"))
            );
            let spark_w = w.saturating_sub(label.chars().count());
            let flat = v.waiting_history.iter().all(|q| *q <= 0.0);
            let spark = if flat {
                let n = v.waiting_history.len().min(spark_w);
                format!("{}{}", " ".repeat(spark_w - n), "▁".repeat(n))
            } else {
                let waiting: Vec<Option<f64>> =
                    v.waiting_history.iter().map(|x| Some(*x)).collect();
                sparkline(&waiting, spark_w, None)
            };
            lines.push(Line::from(vec![
                Span::styled(label, theme.dim()),
                Span::styled(spark, theme.series(1)),
            ]));
        }
    }
    lines.truncate(inner.height as usize);
    // The bars fit the width; a message ("waiting for the first scrape", an HTTP error) may
    // not, and is wrapped rather than cut.
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::server_metrics::ServerMetrics;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn text(v: &ServerView, w: u16, h: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| render(f, f.area(), v, &Theme::dark())).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect()
    }

    #[test]
    fn shows_queue_and_kv_cache() {
        let v = ServerView {
            latest: Some(ServerMetrics {
                server: "vllm",
                running: Some(12.0),
                waiting: Some(3.0),
                kv_usage: Some(0.5),
                ..ServerMetrics::default()
            }),
            waiting_history: vec![0.0, 1.0, 3.0],
            ..ServerView::default()
        };
        let lines = text(&v, 34, 5);
        assert!(lines[1].contains("vllm run 12 wait 3 KV 50%"), "{lines:?}");
        assert!(
            lines[2].contains("KV ") && lines[2].contains("50.0%"),
            "{lines:?}"
        );
        assert!(
            lines[3].contains("queue 3 ") && lines[3].contains("▁▃█"),
            "{lines:?}"
        );
        // Narrow layout: one line, no box.
        assert_eq!(text(&v, 34, 1)[0].trim_end(), "vllm run 12 wait 3 KV 50%");
    }

    #[test]
    fn llama_cpp_has_no_kv_gauge_and_shows_its_busy_slots() {
        let v = ServerView {
            latest: Some(ServerMetrics {
                server: "llama.cpp",
                running: Some(4.0),
                waiting: Some(3.0),
                busy_slots_per_decode: Some(3.71),
                ..ServerMetrics::default()
            }),
            ..ServerView::default()
        };
        let lines = text(&v, 40, 5);
        assert!(
            lines[1].contains("llama.cpp run 4 wait 3 KV n/a"),
            "{lines:?}"
        );
        assert!(
            lines[2].contains("KV n/a  busy slots/decode 3.7"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_server_that_stopped_answering_is_shown_stale() {
        let v = ServerView {
            latest: Some(ServerMetrics {
                server: "vllm",
                running: Some(12.0),
                waiting: Some(3.0),
                kv_usage: Some(0.5),
                ..ServerMetrics::default()
            }),
            error: Some("/metrics unreachable: connection refused".into()),
            age: Some(std::time::Duration::from_secs(14)),
            ..ServerView::default()
        };
        assert_eq!(
            text(&v, 40, 1)[0].trim_end(),
            "vllm stale 14s: run 12 wait 3 KV 50%"
        );
        let boxed = text(&v, 44, 5);
        assert!(
            boxed[3].contains("/metrics unreachable: connection refused"),
            "{boxed:?}"
        );
    }

    #[test]
    fn says_why_when_there_is_nothing() {
        let v = ServerView {
            error: Some("/metrics answered HTTP 404".into()),
            ..ServerView::default()
        };
        assert_eq!(text(&v, 40, 1)[0].trim_end(), "/metrics answered HTTP 404");
    }
}
