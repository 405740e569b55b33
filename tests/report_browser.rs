//! The HTML report in a real browser: Debian's `chromium`, headless, takes a screenshot of the
//! page, and every chart must be there and drawn (series colours inside its box), not blank.
//! The same check run on a copy with one chart blanked and one removed must catch both, so a
//! check that can no longer see a broken chart fails too. Under CI a missing chromium fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const WIDTH: u32 = 1100;
/// Pixels whose channels spread this far apart are series colour; text, axes, grids and table
/// borders are grey.
const SATURATION: i32 = 60;
/// A drawn chart has at least this many series-coloured pixels (one 2 px line across a
/// 760 px chart is about 1,500).
const MIN_INK: usize = 400;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TOKSCOPE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .ok()?;
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
}

fn headless(browser: &Path, args: &[String]) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--no-first-run",
            "--disable-extensions",
        ])
        .args(args)
        .output()
        .expect("run chromium")
}

/// Each chart's box on the page (x, y, w, h in CSS pixels) and the page's height, measured by
/// the browser on a copy of the page with a script added (the report itself has none).
fn chart_boxes(browser: &Path, page: &Path, work: &Path) -> (Vec<[f64; 4]>, u32) {
    let html = std::fs::read_to_string(page).unwrap();
    let probe = html.replace(
        "</body>",
        "<pre id=\"boxes\"></pre><script>\
         const r = [...document.querySelectorAll('figure.chart svg')].map(s => { \
         const b = s.getBoundingClientRect(); \
         return [b.left + scrollX, b.top + scrollY, b.width, b.height].map(Math.round).join(','); }); \
         document.getElementById('boxes').textContent = r.join(';') + '|' + \
         document.documentElement.scrollHeight;</script></body>",
    );
    let probe_path = work.join("probe.html");
    std::fs::write(&probe_path, probe).unwrap();
    let out = headless(
        browser,
        &[
            format!("--window-size={WIDTH},1000"),
            "--dump-dom".into(),
            format!("file://{}", probe_path.display()),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("<pre id=\"boxes\">")
        .unwrap_or_else(|| panic!("no probe output in the DOM: {dom}"));
    let rest = &dom[start + "<pre id=\"boxes\">".len()..];
    let text = &rest[..rest.find("</pre>").unwrap()];
    let (boxes, height) = text.split_once('|').unwrap();
    let boxes = boxes
        .split(';')
        .filter(|b| !b.is_empty())
        .map(|b| {
            let v: Vec<f64> = b.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    (boxes, height.trim().parse().unwrap())
}

/// Series-coloured pixels inside each chart's box in a screenshot of the page.
fn ink_per_chart(browser: &Path, page: &Path, work: &Path) -> Vec<usize> {
    let (boxes, height) = chart_boxes(browser, page, work);
    let shot = work.join("shot.png");
    let _ = std::fs::remove_file(&shot);
    let out = headless(
        browser,
        &[
            format!("--window-size={WIDTH},{height}"),
            format!("--screenshot={}", shot.display()),
            format!("file://{}", page.display()),
        ],
    );
    assert!(
        shot.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    boxes
        .iter()
        .map(|[x, y, bw, bh]| {
            let mut ink = 0;
            for py in (*y as usize)..((*y + *bh) as usize).min(h) {
                for px in (*x as usize)..((*x + *bw) as usize).min(w) {
                    let i = (py * w + px) * channels;
                    let (r, g, b) = (buf[i] as i32, buf[i + 1] as i32, buf[i + 2] as i32);
                    if r.max(g).max(b) - r.min(g).min(b) > SATURATION {
                        ink += 1;
                    }
                }
            }
            ink
        })
        .collect()
}

#[test]
fn every_chart_of_the_html_report_is_drawn_in_a_real_browser() {
    let Some(browser) = chromium() else {
        common::skip("chromium is not installed (apt-get install chromium)");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("report");
    let run = common::run(&[
        "report",
        "tests/fixtures/report/mock/fast.json",
        "tests/fixtures/report/mock/slow.json",
        "tests/fixtures/report/mock/sweep",
        "--lang",
        "zh",
        "--format",
        "md,html",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let svg_files = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    // 2 runs x 3 charts over time (output tok/s, input tok/s, mean TTFT/TPOT), 3 comparison
    // bars, 3 sweep curves (the fixtures carry no energy).
    assert_eq!(svg_files, 12);
    let page = out_dir.join("report.html");
    let ink = ink_per_chart(&browser, &page, work.path());
    assert_eq!(ink.len(), svg_files, "a chart is missing from the page");
    for (i, n) in ink.iter().enumerate() {
        assert!(
            *n >= MIN_INK,
            "chart {} is blank: {n} coloured pixels ({ink:?})",
            i + 1
        );
    }
    // Keep the screenshot where a person can look at it.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser.png");
    let _ = std::fs::copy(work.path().join("shot.png"), keep);

    // The check must see a broken page: chart 1's drawing removed, chart 2 gone.
    let html = std::fs::read_to_string(&page).unwrap();
    let mut figures: Vec<&str> = html.split("<figure class=\"chart\"").collect();
    let blank = "<figure class=\"chart\" data-file=\"blank.svg\">\n\
        <svg width=\"760\" height=\"400\" xmlns=\"http://www.w3.org/2000/svg\">\
        <rect x=\"0\" y=\"0\" width=\"760\" height=\"400\" fill=\"#FFFFFF\"/></svg>\n</figure>";
    let after_first = figures[1].split_once("</figure>").unwrap().1;
    let first_replaced = format!("{blank}{after_first}");
    figures[1] = &first_replaced;
    figures.remove(2);
    let broken = figures[0].to_string()
        + &figures[1..]
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == 0 {
                    f.to_string()
                } else {
                    format!("<figure class=\"chart\"{f}")
                }
            })
            .collect::<String>();
    let broken_page = work.path().join("broken.html");
    std::fs::write(&broken_page, broken).unwrap();
    let ink = ink_per_chart(&browser, &broken_page, work.path());
    assert_eq!(ink.len(), svg_files - 1, "the removed chart was not missed");
    assert!(
        ink[0] < MIN_INK,
        "the blanked chart was not seen as blank: {ink:?}"
    );
    assert!(ink[1..].iter().all(|n| *n >= MIN_INK), "{ink:?}");
}
