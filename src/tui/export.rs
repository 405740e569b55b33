//! A drawn screen as plain text and as an SVG picture with its colours, for `s` (paste the
//! picture into a report) and for tests.

use super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use std::fmt::Write as _;

/// Characters that take two columns (East Asian wide, most emoji). The cell after one is a
/// filler the terminal never prints.
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF | 0x20000..=0x3FFFD)
}

fn symbol_is_wide(s: &str) -> bool {
    s.chars().next().is_some_and(is_wide)
}

/// The screen as text, one line per row, trailing spaces trimmed.
pub fn to_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::with_capacity((area.width as usize + 1) * area.height as usize);
    for y in area.top()..area.bottom() {
        let mut line = String::with_capacity(area.width as usize);
        let mut skip = false;
        for x in area.left()..area.right() {
            if skip {
                skip = false;
                continue;
            }
            let sym = buf.cell((x, y)).map_or(" ", |c| c.symbol());
            line.push_str(sym);
            skip = symbol_is_wide(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// An xterm-like RGB for any colour (`None`: the terminal default).
pub fn rgb(c: Color) -> Option<(u8, u8, u8)> {
    const ANSI: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 49, 49),
        (13, 188, 121),
        (229, 229, 16),
        (36, 114, 200),
        (188, 63, 188),
        (17, 168, 205),
        (204, 204, 204),
        (118, 118, 118),
        (241, 76, 76),
        (35, 209, 139),
        (245, 245, 67),
        (59, 142, 234),
        (214, 112, 214),
        (41, 184, 219),
        (242, 242, 242),
    ];
    let idx = |i: u8| -> (u8, u8, u8) {
        match i {
            0..=15 => ANSI[i as usize],
            16..=231 => {
                let i = i - 16;
                let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
                (level(i / 36), level(i / 6 % 6), level(i % 6))
            }
            _ => {
                let g = 8 + 10 * (i - 232);
                (g, g, g)
            }
        }
    };
    Some(match c {
        Color::Reset => return None,
        Color::Black => idx(0),
        Color::Red => idx(1),
        Color::Green => idx(2),
        Color::Yellow => idx(3),
        Color::Blue => idx(4),
        Color::Magenta => idx(5),
        Color::Cyan => idx(6),
        Color::Gray => idx(7),
        Color::DarkGray => idx(8),
        Color::LightRed => idx(9),
        Color::LightGreen => idx(10),
        Color::LightYellow => idx(11),
        Color::LightBlue => idx(12),
        Color::LightMagenta => idx(13),
        Color::LightCyan => idx(14),
        Color::White => idx(15),
        Color::Indexed(i) => idx(i),
        Color::Rgb(r, g, b) => (r, g, b),
    })
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// Cells of one row that share a style.
struct Run {
    col: u16,
    cells: u16,
    fg: (u8, u8, u8),
    bg: Option<(u8, u8, u8)>,
    modifier: Modifier,
    text: String,
}

/// Font size and the pixel size of one cell. A monospace font (DejaVu Sans Mono and its kin)
/// advances 0.602 em and its box-drawing glyphs span 1.164 em, so a line of 1.164 em makes the
/// borders join up.
const FONT_PX: f64 = 15.0;
const CELL_W: f64 = FONT_PX * 0.602;
const CELL_H: f64 = FONT_PX * 1.164;
/// The baseline sits at the font's ascent (0.928 em) below the top of the line.
const BASELINE: f64 = FONT_PX * 0.928;

/// The screen as an SVG picture: one rectangle per run of background colour and one `<text>`
/// per run of same-styled characters, each stretched to its cells so columns line up whatever
/// monospace font the viewer has.
pub fn to_svg(buf: &Buffer, theme: &Theme) -> String {
    let area = buf.area;
    // The theme's own background, else a dark canvas like most terminals.
    let canvas = theme.background().bg.and_then(rgb).unwrap_or((24, 26, 31));
    let default_fg = theme
        .background()
        .fg
        .and_then(rgb)
        .unwrap_or((204, 204, 204));
    let (w, h) = (area.width as f64 * CELL_W, area.height as f64 * CELL_H);
    let mut out = String::with_capacity(64 * 1024);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}" font-family="'DejaVu Sans Mono','Menlo','Consolas',monospace" font-size="{FONT_PX}px">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="{}"/>"#,
        hex(canvas)
    );
    for y in area.top()..area.bottom() {
        let row = (y - area.top()) as f64;
        let mut runs: Vec<Run> = Vec::new();
        let mut x = area.left();
        while x < area.right() {
            let Some(cell) = buf.cell((x, y)) else { break };
            let sym = cell.symbol();
            let cells = if symbol_is_wide(sym) { 2 } else { 1 };
            let mut fg = rgb(cell.fg).unwrap_or(default_fg);
            let mut bg = rgb(cell.bg);
            if cell.modifier.contains(Modifier::REVERSED) {
                let old_fg = fg;
                fg = bg.unwrap_or(canvas);
                bg = Some(old_fg);
            }
            let m = cell.modifier
                & (Modifier::BOLD | Modifier::DIM | Modifier::ITALIC | Modifier::UNDERLINED);
            match runs.last_mut() {
                Some(r) if r.fg == fg && r.bg == bg && r.modifier == m => {
                    r.cells += cells;
                    r.text.push_str(sym);
                }
                _ => runs.push(Run {
                    col: x - area.left(),
                    cells,
                    fg,
                    bg,
                    modifier: m,
                    text: sym.to_string(),
                }),
            }
            x += cells;
        }
        for Run { col, cells, bg, .. } in &runs {
            if let Some(bg) = bg {
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{CELL_H:.2}" fill="{}"/>"#,
                    *col as f64 * CELL_W,
                    row * CELL_H,
                    *cells as f64 * CELL_W,
                    hex(*bg)
                );
            }
        }
        for Run {
            col,
            cells,
            fg,
            modifier: m,
            text,
            ..
        } in &runs
        {
            let trimmed = text.trim_end();
            if trimmed.trim_start().is_empty() {
                continue;
            }
            let lead = text.len() - text.trim_start().len();
            let lead_cells = text[..lead].chars().count() as u16;
            let body = &text[lead..text.trim_end().len()];
            let body_cells = (*cells)
                .saturating_sub(lead_cells)
                .saturating_sub((text.len() - text.trim_end().len()) as u16);
            let mut attrs = String::new();
            if m.contains(Modifier::BOLD) {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if m.contains(Modifier::DIM) {
                attrs.push_str(r#" opacity="0.6""#);
            }
            if m.contains(Modifier::ITALIC) {
                attrs.push_str(r#" font-style="italic""#);
            }
            if m.contains(Modifier::UNDERLINED) {
                attrs.push_str(r#" text-decoration="underline""#);
            }
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" fill="{}" textLength="{:.1}" lengthAdjust="spacingAndGlyphs" xml:space="preserve"{attrs}>"#,
                (col + lead_cells) as f64 * CELL_W,
                row * CELL_H + BASELINE,
                hex(*fg),
                body_cells.max(1) as f64 * CELL_W,
            );
            escape(body, &mut out);
            out.push_str("</text>\n");
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn text_keeps_rows_and_skips_wide_fillers() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 8, 2));
        buf.set_string(0, 0, "ab<c>", Style::new());
        buf.set_string(0, 1, "模型 x", Style::new());
        assert_eq!(to_text(&buf), "ab<c>\n模型 x\n");
    }

    #[test]
    fn svg_has_colours_and_escapes_text() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 1));
        buf.set_string(
            0,
            0,
            "a<b",
            Style::new()
                .fg(Color::Rgb(255, 0, 0))
                .bg(Color::Indexed(21)),
        );
        let svg = to_svg(&buf, &Theme::dark());
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains(r##"fill="#ff0000""##), "{svg}");
        assert!(svg.contains(r##"fill="#0000ff""##), "{svg}");
        assert!(svg.contains("a&lt;b</text>"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn palette_colours_convert() {
        assert_eq!(rgb(Color::Indexed(196)), Some((255, 0, 0)));
        assert_eq!(rgb(Color::Indexed(244)), Some((128, 128, 128)));
        assert_eq!(rgb(Color::Reset), None);
    }
}
