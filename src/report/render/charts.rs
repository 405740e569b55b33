//! Charts as SVG text, drawn with plotters' SVG backend (no system fonts or libraries needed:
//! text is left to the viewer, with a font list that includes CJK fonts so Chinese labels
//! render). Bar charts for configurations, line charts for sweeps and per-second series.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Fonts in the SVG's `font-family`: common CJK fonts on Linux, macOS and Windows first, then
/// the generic family, so a Chinese label never falls back to boxes where any of them exists.
pub const FONT_FAMILY: &str = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, \
    Microsoft YaHei, WenQuanYi Micro Hei, Heiti SC, SimHei, DejaVu Sans, Arial, sans-serif";

const WIDTH: u32 = 760;
const HEIGHT: u32 = 400;

/// Series colours: distinct, saturated, and readable on white.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xe6, 0x7e, 0x22),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One named series of a bar chart: a value per category, `None` where a run lacks it.
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// One named series of a line chart: (x, y) points in increasing x.
pub struct LineSeries {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A mark on a line chart (the knee of a sweep).
pub struct Marker {
    pub at: (f64, f64),
    pub text: String,
}

type DrawResult<T> = Result<T, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("cannot draw a chart: {e}")
}

/// Axis numbers: whole with separators when whole or from 10 up (2,500), else one place (0.5).
/// The series' names in a box at the upper left, the same on every chart.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT_FAMILY, 16))
        .draw()
        .map_err(err)
}

fn axis_number(v: &f64) -> String {
    if v.abs() >= 10.0 || v.fract() == 0.0 {
        crate::report::number::plain(v.round(), 0)
    } else {
        format!("{v:.1}")
    }
}

fn top(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.15
    } else {
        1.0
    }
}

/// Grouped bars: one group per category (a configuration), one bar per series. Missing values
/// draw no bar (and say n/a above the slot), never a zero-height bar.
pub fn bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[BarSeries],
) -> DrawResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let max = series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0f64, |a, b| a.max(*b));
        let n = categories.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT_FAMILY, 24))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            // Room above the tallest bar for its label and the legend.
            .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..top(max) * 1.2)
            .map_err(err)?;
        let cats = categories.to_vec();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(categories.len().max(1))
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    cats.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .label_style((FONT_FAMILY, 16))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .y_label_formatter(&axis_number)
            .axis_desc_style((FONT_FAMILY, 17))
            .draw()
            .map_err(err)?;
        let k = series.len().max(1) as f64;
        let slot = 0.8 / k;
        for (j, s) in series.iter().enumerate() {
            let c = colour(j);
            let rects = s.values.iter().enumerate().filter_map(|(i, v)| {
                let v = (*v)?;
                let x0 = i as f64 - 0.4 + slot * j as f64;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + slot * 0.92, v)],
                    c.filled(),
                ))
            });
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
            let labels = s.values.iter().enumerate().map(|(i, v)| {
                let x = i as f64 - 0.4 + slot * (j as f64 + 0.46);
                let (text, y) = match v {
                    Some(v) => (crate::report::number::plain(*v, 2), *v),
                    None => (crate::report::number::MISSING.to_string(), 0.0),
                };
                Text::new(
                    text,
                    (x, y),
                    (FONT_FAMILY, 15).into_font().color(&BLACK).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Bottom,
                        ),
                    ),
                )
            });
            chart.draw_series(labels).map_err(err)?;
        }
        legend(&mut chart)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Lines over a shared x axis, with an optional marker (drawn as a ring and a note).
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[LineSeries],
    marker: Option<&Marker>,
) -> DrawResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let all = || series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
        if !x0.is_finite() || !x1.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let ymax = all().fold(0.0f64, |a, p| a.max(p.1));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT_FAMILY, 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            // Room above the highest point for the legend.
            .build_cartesian_2d(x0..x1, 0f64..top(ymax) * 1.2)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&axis_number)
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FONT_FAMILY, 16))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .y_label_formatter(&axis_number)
            .axis_desc_style((FONT_FAMILY, 17))
            .draw()
            .map_err(err)?;
        for (j, s) in series.iter().enumerate() {
            let c = colour(j);
            chart
                .draw_series(plotters::series::LineSeries::new(
                    s.points.iter().copied(),
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            chart
                .draw_series(s.points.iter().map(|p| Circle::new(*p, 3, c.filled())))
                .map_err(err)?;
        }
        if let Some(m) = marker {
            chart
                .draw_series([Circle::new(m.at, 9, BLACK.stroke_width(2))])
                .map_err(err)?;
            chart
                .draw_series([Text::new(
                    m.text.clone(),
                    m.at,
                    (FONT_FAMILY, 16).into_font().color(&BLACK).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Left,
                            plotters::style::text_anchor::VPos::Bottom,
                        ),
                    ),
                )])
                .map_err(err)?;
        }
        legend(&mut chart)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_draw_one_rect_per_value_and_carry_the_cjk_font_list() {
        let svg = bars(
            "Token 吞吐对比",
            "tok/s",
            &["1GPU（TP=1）".into(), "2GPU（TP=2）".into()],
            &[
                BarSeries {
                    name: "prompt_tps".into(),
                    values: vec![Some(90.5), Some(121.0)],
                },
                BarSeries {
                    name: "decode_tps".into(),
                    values: vec![Some(260.4), None],
                },
            ],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(svg.contains("Noto Sans CJK SC"));
        assert!(svg.contains("Token 吞吐对比"));
        assert!(svg.contains("2GPU（TP=2）"));
        // Three bars in the two series' colours, plus n/a where a value is missing.
        let bars_drawn =
            svg.matches(r##"fill="#1F77B4""##).count() + svg.matches(r##"fill="#E67E22""##).count();
        assert!(bars_drawn >= 3, "{bars_drawn} filled shapes:\n{svg}");
        assert!(svg.contains(">\nn/a\n<") || svg.contains(">n/a<"), "{svg}");
    }

    #[test]
    fn lines_draw_a_path_per_series_and_the_marker() {
        let svg = lines(
            "Sweep",
            "concurrency",
            "tok/s",
            &[LineSeries {
                name: "output".into(),
                points: vec![(1.0, 10.0), (2.0, 20.0), (4.0, 25.0)],
            }],
            Some(&Marker {
                at: (2.0, 20.0),
                text: "knee".into(),
            }),
        )
        .unwrap();
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(svg.contains("knee"));
    }
}
