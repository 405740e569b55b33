//! A report as Markdown: GitHub-style tables (numbers right-aligned, as seed 002's), charts as
//! images that point at the SVG files written beside it.

use crate::report::render::{Align, Block, Document, Table};

/// The whole document as Markdown, ending with one newline.
pub fn write(doc: &Document) -> String {
    let mut out = String::new();
    for block in &doc.blocks {
        match block {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat(usize::from(*level).clamp(1, 6)));
                out.push(' ');
                out.push_str(&inline(text));
                out.push('\n');
            }
            Block::Paragraph(text) => {
                out.push_str(&inline(text));
                out.push('\n');
            }
            Block::Bullets(items) => {
                for item in items {
                    out.push_str("- ");
                    out.push_str(&inline(item));
                    out.push('\n');
                }
            }
            Block::Table(t) => table(&mut out, t),
            Block::Chart(c) => {
                out.push_str(&format!("![{}]({})\n", inline(&c.title), c.file));
            }
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Text that is not Markdown syntax: line breaks become spaces (a table row stays one line).
fn inline(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// A cell: a `|` inside would end it early.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

fn table(out: &mut String, t: &Table) {
    let row = |out: &mut String, cells: &[String]| {
        out.push('|');
        for c in cells {
            out.push(' ');
            out.push_str(&cell(c));
            out.push_str(" |");
        }
        out.push('\n');
    };
    row(out, &t.header);
    out.push('|');
    for i in 0..t.header.len() {
        out.push_str(match t.align.get(i) {
            Some(Align::Right) => "---:|",
            _ => "---|",
        });
    }
    out.push('\n');
    for r in &t.rows {
        row(out, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_numbers_right_and_escape_pipes() {
        let doc = Document {
            blocks: vec![
                Block::Heading(2, "对比汇总".into()),
                Block::Table(Table {
                    header: vec!["配置".into(), "QPS".into()],
                    align: vec![Align::Left, Align::Right],
                    rows: vec![vec!["a|b".into(), "1.0171".into()]],
                }),
                Block::Bullets(vec!["QPS：约 1.34×".into()]),
            ],
        };
        assert_eq!(
            write(&doc),
            "## 对比汇总\n\n| 配置 | QPS |\n|---|---:|\n| a\\|b | 1.0171 |\n\n- QPS：约 1.34×\n"
        );
    }
}
