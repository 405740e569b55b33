//! The sweep pane against ratatui's TestBackend at 80x24 and 160x48: the title says where the
//! sweep stands, each finished step is a point and a row, the best step and the knee are
//! marked in their theme styles.

use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;
use tokscope::tui::{fixtures, sweep_pane, theme::Theme};

fn draw(w: u16, h: u16) -> (Vec<String>, ratatui::buffer::Buffer) {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::dark();
    let view = fixtures::sweep_view();
    term.draw(|f| sweep_pane::render(f, Rect::new(0, 0, w, h), &view, &theme))
        .unwrap();
    let buf = term.backend().buffer().clone();
    let lines = (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect();
    (lines, buf)
}

#[test]
fn sweep_pane_80x24_and_160x48() {
    for (w, h) in [(80, 24), (160, 48)] {
        let (lines, _) = draw(w, h);
        let text = lines.join("\n");
        assert!(
            lines[0].contains("Sweep · step 6 of 6, 1:20 left"),
            "{text}"
        );
        insta::assert_snapshot!(format!("sweep_pane_{w}x{h}"), text);
    }
}

#[test]
fn best_and_knee_rows_are_marked_in_their_styles() {
    let (lines, buf) = draw(80, 24);
    let theme = Theme::dark();
    let row = |word: &str| {
        lines
            .iter()
            .position(|l| l.contains(word))
            .unwrap_or_else(|| panic!("no '{word}' in\n{}", lines.join("\n")))
    };
    // 32 users is the best throughput; 16 is the first within 10% of it, the knee.
    let best = row(" best");
    let knee = row(" knee");
    assert!(
        lines[best].trim_start().starts_with("│    32"),
        "{}",
        lines[best]
    );
    assert!(
        lines[knee].trim_start().starts_with("│    16"),
        "{}",
        lines[knee]
    );
    let x = lines[best].find(" best").unwrap();
    let col = lines[best][..x].chars().count() as u16 + 1;
    assert_eq!(buf[(col, best as u16)].fg, theme.ok().fg.unwrap());
}
