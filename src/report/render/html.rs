//! A report as one self-contained HTML page: tables, and every chart's SVG inline, with no
//! script, stylesheet or font fetched from anywhere (users send it to people whose machines
//! cannot reach hosted dashboards). Written with `format!` and one escaping function: the page
//! is a fixed, small shape, and a template engine would add a dependency for a dozen tags.

use crate::report::render::charts::FONT_FAMILY;
use crate::report::render::{Align, Block, Document, Table};

/// Text made safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn table(out: &mut String, t: &Table) {
    out.push_str("<table>\n<thead><tr>");
    for h in &t.header {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = match t.align.get(i) {
                Some(Align::Right) => " class=\"num\"",
                _ => "",
            };
            out.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The page. `lang` is the HTML language tag ("en" or "zh-CN").
pub fn write(doc: &Document, lang: &str) -> String {
    let title = doc
        .blocks
        .iter()
        .find_map(|b| match b {
            Block::Heading(1, t) => Some(t.as_str()),
            _ => None,
        })
        .unwrap_or("tokscope report");
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"tokscope {}\">\n<title>{}</title>\n<style>\n\
         body {{ font-family: {FONT_FAMILY}; margin: 2em auto; max-width: 980px; color: #222; \
         line-height: 1.45; padding: 0 1em; }}\n\
         table {{ border-collapse: collapse; margin: 0.6em 0 1.2em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 0.25em 0.7em; }}\n\
         th {{ background: #f3f3f3; text-align: left; }}\n\
         td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         figure.chart {{ margin: 1em 0 1.6em; }}\n\
         figure.chart svg {{ max-width: 100%; height: auto; border: 1px solid #e5e5e5; }}\n\
         </style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title)
    );
    for block in &doc.blocks {
        match block {
            Block::Heading(level, text) => {
                let n = (*level).clamp(1, 6);
                out.push_str(&format!("<h{n}>{}</h{n}>\n", escape(text)));
            }
            Block::Paragraph(text) => out.push_str(&format!("<p>{}</p>\n", escape(text))),
            Block::Bullets(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    out.push_str(&format!("<li>{}</li>\n", escape(i)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(t) => table(&mut out, t),
            Block::Chart(c) => {
                // plotters escapes the text it writes, so the SVG goes in as it is.
                out.push_str(&format!(
                    "<figure class=\"chart\" data-file=\"{}\" title=\"{}\">\n{}\n</figure>\n",
                    escape(&c.file),
                    escape(&c.title),
                    c.svg.trim()
                ));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::Chart;

    #[test]
    fn text_is_escaped_and_charts_are_inline() {
        let doc = Document {
            blocks: vec![
                Block::Heading(1, "a <b> & 'c'".into()),
                Block::Chart(Chart {
                    file: "t.svg".into(),
                    title: "吞吐".into(),
                    svg: "<svg><rect/></svg>".into(),
                }),
            ],
        };
        let page = write(&doc, "zh-CN");
        assert!(page.contains("<h1>a &lt;b&gt; &amp; &#39;c&#39;</h1>"));
        assert!(page.contains(
            "<figure class=\"chart\" data-file=\"t.svg\" title=\"吞吐\">\n<svg><rect/></svg>"
        ));
        assert!(!page.contains("<script"), "no script in a report");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing fetched"
        );
    }
}
