//! What a report says, as blocks: per run seed 001's table; across runs seed 002's comparison
//! with ratios against the baseline, every figure side by side, and seed 001's best values;
//! per sweep its steps, knee, capacity and curves.

use crate::report::compare::{self, workload_diffs};
use crate::report::figure::{Better, Figure, Lang};
use crate::report::number;
use crate::report::render::charts::{self, BarSeries, LineSeries, Marker};
use crate::report::render::text::{self, Phrase};
use crate::report::render::{Align, Block, Chart, Document, Options, Table};
use crate::report::runs::{Group, Inputs, Origin, SecondPoint, Sweep, SweepAxis};
use crate::report::sweep::{self, CapacityGap};

/// The whole report.
pub fn build(inputs: &Inputs, opts: &Options) -> Result<Document, String> {
    let lang = opts.lang;
    let mut doc = Document::default();
    doc.blocks
        .push(Block::Heading(1, text::TITLE.get(lang).to_string()));
    let groups = &inputs.groups;
    if groups.len() > 1 {
        doc.blocks
            .push(Block::Heading(2, text::WORKLOADS.get(lang).to_string()));
        doc.blocks.push(Block::Table(workload_table(groups, lang)));
    }
    if !groups.is_empty() {
        doc.blocks
            .push(Block::Heading(2, text::RESULTS.get(lang).to_string()));
    }
    for (i, g) in groups.iter().enumerate() {
        doc.blocks.push(Block::Heading(3, g.label.clone()));
        doc.blocks.push(Block::Table(run_table(g, opts)));
        let notes = missing_notes(g, lang);
        if !notes.is_empty() {
            doc.blocks.push(Block::Bullets(notes));
        }
        let charts = per_second_charts(g, i, lang)?;
        if charts.is_empty() {
            doc.blocks
                .push(Block::Paragraph(text::NO_SERIES.get(lang).to_string()));
        }
        doc.blocks.extend(charts.into_iter().map(Block::Chart));
    }
    if groups.len() > 1 {
        comparison(&mut doc, groups, opts)?;
    }
    for (k, s) in inputs.sweeps.iter().enumerate() {
        sweep_section(&mut doc, s, k, opts)?;
    }
    Ok(doc)
}

fn heading_cells(first: &Phrase, lang: Lang, rest: Vec<String>) -> (Vec<String>, Vec<Align>) {
    let mut header = vec![first.get(lang).to_string()];
    header.extend(rest);
    let mut align = vec![Align::Left];
    align.resize(header.len(), Align::Right);
    (header, align)
}

/// Seed 001's one-run table: every figure, with its unit; repeats as mean ± std.
pub fn run_table(g: &Group, opts: &Options) -> Table {
    let lang = opts.lang;
    let (header, align) = heading_cells(&text::METRIC, lang, vec![text::VALUE.get(lang).into()]);
    let rows = Figure::ALL
        .iter()
        .map(|f| vec![f.row_label(lang).to_string(), cell(g, *f, opts, true)])
        .collect();
    Table {
        header,
        align,
        rows,
    }
}

/// One group's figure as a cell: the value (with its unit when `unit`), mean ± std over
/// repeats, seed 001's `100% (30/30)` for success, `n/a` when missing.
pub fn cell(g: &Group, f: Figure, opts: &Options, unit: bool) -> String {
    if f == Figure::SuccessRate {
        let counts: Option<Vec<(u64, u64)>> = g
            .runs
            .iter()
            .map(|r| Some((r.completed?, r.failed?)))
            .collect();
        return match counts {
            Some(c) => {
                let done: u64 = c.iter().map(|x| x.0).sum();
                let total: u64 = c.iter().map(|x| x.0 + x.1).sum();
                number::success(done, total)
            }
            None => number::MISSING.to_string(),
        };
    }
    let Some(stat) = g.stat(f) else {
        return number::MISSING.to_string();
    };
    let one = |v: f64| {
        if unit {
            number::with_unit(f, Some(v), opts.decimals)
        } else {
            number::bare(f, Some(v), opts.decimals)
        }
    };
    if stat.n > 1 {
        format!(
            "{} ± {}",
            number::bare(f, Some(stat.mean), opts.decimals),
            one(stat.std)
        )
    } else {
        one(stat.mean)
    }
}

fn missing_notes(g: &Group, lang: Lang) -> Vec<String> {
    g.runs
        .iter()
        .filter(|r| !r.missing_keys.is_empty())
        .map(|r| {
            text::missing_note(
                lang,
                &r.path.display().to_string(),
                r.origin == Origin::Vllm,
                &r.missing_keys.join(", "),
            )
        })
        .collect()
}

fn workload_table(groups: &[Group], lang: Lang) -> Table {
    let (header, mut align) = heading_cells(
        &text::CONFIGURATION,
        lang,
        vec![
            text::FILE.get(lang).into(),
            text::MODEL.get(lang).into(),
            Figure::InputLen.row_label(lang).into(),
            Figure::OutputLen.row_label(lang).into(),
            text::CONCURRENCY.get(lang).into(),
            text::RATE.get(lang).into(),
            text::RUNS.get(lang).into(),
            text::ORIGIN.get(lang).into(),
        ],
    );
    align[1] = Align::Left;
    align[2] = Align::Left;
    align[8] = Align::Left;
    let rows = groups
        .iter()
        .map(|g| {
            let w = &g.first().workload;
            let files: Vec<String> = g
                .runs
                .iter()
                .map(|r| r.path.display().to_string())
                .collect();
            vec![
                g.label.clone(),
                files.join(", "),
                w.model.clone().unwrap_or_else(|| number::MISSING.into()),
                number::bare(Figure::InputLen, w.input_len, 0),
                number::bare(Figure::OutputLen, w.output_len, 0),
                w.max_concurrency
                    .map_or_else(|| text::UNLIMITED.get(lang).to_string(), |c| c.to_string()),
                match (w.request_rate, w.rate_infinite) {
                    (Some(r), _) => format!("{r}"),
                    (None, true) => "inf".into(),
                    (None, false) => number::MISSING.into(),
                },
                g.repeats().to_string(),
                match g.first().origin {
                    Origin::Tokscope => "tokscope".into(),
                    Origin::Vllm => "vLLM".into(),
                },
            ]
        })
        .collect();
    Table {
        header,
        align,
        rows,
    }
}

/// A run over time (its first run, for repeats): output tokens per second, input tokens per
/// second, mean TTFT/TPOT per second and GPU power (when sampled), each on a chart of its own: input rates are often
/// ten times the output's, and on one scale the output line would lie flat on the axis.
fn per_second_charts(g: &Group, i: usize, lang: Lang) -> Result<Vec<Chart>, String> {
    let run = g.first();
    if run.per_second.is_empty() {
        return Ok(Vec::new());
    }
    let series = |name: &str, f: &dyn Fn(&SecondPoint) -> Option<f64>| LineSeries {
        name: name.into(),
        points: run
            .per_second
            .iter()
            .filter_map(|p| Some((p.t, f(p)?)))
            .collect(),
    };
    let mut charts = Vec::new();
    let mut chart = |kind: &str, what: &str, unit: &str, lines: Vec<LineSeries>| {
        let lines: Vec<LineSeries> = lines.into_iter().filter(|l| !l.points.is_empty()).collect();
        if lines.is_empty() {
            return Ok::<(), String>(());
        }
        let title = format!("{}: {what}", g.label);
        let svg = charts::lines(&title, text::TIME_S.get(lang), unit, &lines, None)?;
        charts.push(Chart {
            file: format!("run-{}-{kind}.svg", i + 1),
            title,
            svg,
        });
        Ok(())
    };
    let (out, inp) = (text::OUTPUT_TOK_S.get(lang), text::INPUT_TOK_S.get(lang));
    chart(
        "output",
        out,
        "tok/s",
        vec![series(out, &|p| Some(p.output_tokens))],
    )?;
    chart(
        "input",
        inp,
        "tok/s",
        vec![series(inp, &|p| Some(p.input_tokens))],
    )?;
    chart(
        "latency",
        text::LATENCY_PER_SECOND.get(lang),
        "ms",
        vec![
            series(text::MEAN_TTFT.get(lang), &|p| p.ttft_ms),
            series(text::MEAN_TPOT.get(lang), &|p| p.tpot_ms),
        ],
    )?;
    let power = text::GPU_POWER_PER_SECOND.get(lang);
    chart(
        "gpu-power",
        power,
        "W",
        vec![series(power, &|p| p.gpu_power_w)],
    )?;
    Ok(charts)
}

/// The comparison across groups against the baseline.
fn comparison(doc: &mut Document, groups: &[Group], opts: &Options) -> Result<(), String> {
    let lang = opts.lang;
    let base = &groups[opts.baseline];
    doc.blocks
        .push(Block::Heading(2, text::COMPARISON.get(lang).to_string()));
    let flags: Vec<String> = groups
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != opts.baseline)
        .filter_map(|(_, g)| {
            let diffs = workload_diffs(&g.first().workload, &base.first().workload);
            (!diffs.is_empty()).then(|| {
                let d: Vec<String> = diffs
                    .iter()
                    .map(|d| format!("{} {} vs {}", d.field, d.this, d.baseline))
                    .collect();
                text::workload_flag(lang, &g.label, &base.label, &d.join(", "))
            })
        })
        .collect();
    if !flags.is_empty() {
        doc.blocks.push(Block::Bullets(flags));
    }
    // Seed 002's table.
    let (header, align) = heading_cells(
        &text::CONFIGURATION,
        lang,
        Figure::COMPARISON
            .iter()
            .map(|f| f.column_label(lang))
            .collect(),
    );
    let rows = groups
        .iter()
        .map(|g| {
            let mut row = vec![g.label.clone()];
            row.extend(Figure::COMPARISON.iter().map(|f| cell(g, *f, opts, false)));
            row
        })
        .collect();
    doc.blocks.push(Block::Table(Table {
        header,
        align,
        rows,
    }));
    for (i, g) in groups.iter().enumerate() {
        if i == opts.baseline {
            continue;
        }
        doc.blocks.push(Block::Paragraph(text::ratios_intro(
            lang,
            &g.label,
            &base.label,
        )));
        let lines = Figure::COMPARISON
            .iter()
            .map(|f| {
                let name = match lang {
                    Lang::Zh => f.column_label(lang),
                    Lang::En => f.row_label(lang).to_string(),
                };
                ratio_text(g, base, *f, lang, &name)
            })
            .collect();
        doc.blocks.push(Block::Bullets(lines));
    }
    comparison_charts(doc, groups, lang)?;
    doc.blocks
        .push(Block::Heading(3, text::ALL_FIGURES.get(lang).to_string()));
    doc.blocks.push(Block::Table(all_figures(groups, opts)));
    doc.blocks
        .push(Block::Heading(3, text::BEST.get(lang).to_string()));
    doc.blocks.push(Block::Table(best_table(groups, opts)));
    Ok(())
}

/// "decode_tps：约 1.34×", with the change for lower-is-better figures and the noise mark.
fn ratio_text(g: &Group, base: &Group, f: Figure, lang: Lang, name: &str) -> String {
    match compare::ratio(g, base, f) {
        None => format!("{name}: {}", number::MISSING),
        Some(r) => {
            let change = (f.better() == Some(Better::Lower) && r.ratio != 1.0)
                .then(|| ((1.0 - r.ratio).abs() * 100.0, r.ratio < 1.0));
            let mut line = text::ratio_line(
                lang,
                name,
                &number::ratio(r.ratio, text::ratio_sign(lang)),
                change,
            );
            if r.within_noise {
                line.push_str(text::WITHIN_NOISE.get(lang));
            }
            line
        }
    }
}

fn comparison_charts(doc: &mut Document, groups: &[Group], lang: Lang) -> Result<(), String> {
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    let series = |figs: &[Figure]| -> Vec<BarSeries> {
        figs.iter()
            .map(|f| BarSeries {
                name: match lang {
                    Lang::Zh => f.column_label(lang),
                    Lang::En => f.row_label(lang).to_string(),
                },
                values: groups.iter().map(|g| g.mean(*f)).collect(),
            })
            .collect()
    };
    doc.blocks
        .push(Block::Paragraph(text::TOKENS_NOTE.get(lang).to_string()));
    let specs: [(&Phrase, &str, &str, Vec<Figure>); 3] = [
        (
            &text::TOKENS_CHART,
            "tok/s",
            "tokens.svg",
            vec![Figure::InputThroughput, Figure::OutputThroughput],
        ),
        (
            &text::QPS_CHART,
            "req/s",
            "qps.svg",
            vec![Figure::RequestThroughput],
        ),
        (
            &text::LATENCY_CHART,
            "s",
            "latency.svg",
            vec![Figure::MedianE2el, Figure::P95E2el],
        ),
    ];
    for (title, unit, file, figs) in specs {
        let svg = charts::bars(title.get(lang), unit, &labels, &series(&figs))?;
        doc.blocks.push(Block::Chart(Chart {
            file: file.to_string(),
            title: title.get(lang).to_string(),
            svg,
        }));
    }
    Ok(())
}

/// Every figure, one column per group and one ratio column per group against the baseline.
fn all_figures(groups: &[Group], opts: &Options) -> Table {
    let lang = opts.lang;
    let base = &groups[opts.baseline];
    let others: Vec<&Group> = groups
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != opts.baseline)
        .map(|(_, g)| g)
        .collect();
    let mut rest: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    rest.extend(
        others
            .iter()
            .map(|g| text::ratio_header(&g.label, &base.label)),
    );
    let (header, align) = heading_cells(&text::METRIC, lang, rest);
    let rows = Figure::ALL
        .iter()
        .map(|f| {
            let mut row = vec![f.row_label(lang).to_string()];
            row.extend(groups.iter().map(|g| cell(g, *f, opts, true)));
            row.extend(others.iter().map(|g| match compare::ratio(g, base, *f) {
                None => number::MISSING.to_string(),
                Some(r) => {
                    let mut s = number::ratio(r.ratio, text::ratio_sign(lang));
                    if r.within_noise {
                        s.push_str(text::WITHIN_NOISE.get(lang));
                    }
                    s
                }
            }));
            row
        })
        .collect();
    Table {
        header,
        align,
        rows,
    }
}

/// Seed 001's best values: for each figure with a better direction, the best and who has it.
fn best_table(groups: &[Group], opts: &Options) -> Table {
    let lang = opts.lang;
    let (header, mut align) = heading_cells(
        &text::METRIC,
        lang,
        vec![
            text::BEST_VALUE.get(lang).into(),
            text::CONFIGURATION.get(lang).into(),
        ],
    );
    align[2] = Align::Left;
    let rows = Figure::ALL
        .iter()
        .filter(|f| f.better().is_some())
        .map(|f| match compare::best(groups, *f) {
            Some((i, v)) => vec![
                f.row_label(lang).to_string(),
                number::with_unit(*f, Some(v), opts.decimals),
                groups[i].label.clone(),
            ],
            None => vec![
                f.row_label(lang).to_string(),
                number::MISSING.to_string(),
                String::new(),
            ],
        })
        .collect();
    Table {
        header,
        align,
        rows,
    }
}

/// The figures of a sweep's table, after its load column.
const SWEEP_FIGURES: [Figure; 9] = [
    Figure::SuccessRate,
    Figure::RequestThroughput,
    Figure::OutputThroughput,
    Figure::TotalThroughput,
    Figure::MeanTtft,
    Figure::P99Tpot,
    Figure::MedianE2el,
    Figure::GpuPowerMean,
    Figure::JoulesPerToken,
];

fn sweep_section(doc: &mut Document, s: &Sweep, k: usize, opts: &Options) -> Result<(), String> {
    let lang = opts.lang;
    let conc = s.axis == SweepAxis::Concurrency;
    let colon = match lang {
        Lang::En => ": ",
        Lang::Zh => "：",
    };
    doc.blocks.push(Block::Heading(
        2,
        format!("{}{colon}{}", text::SWEEP.get(lang), s.label),
    ));
    let axis_name = if conc {
        text::CONCURRENCY.get(lang)
    } else {
        text::RATE.get(lang)
    };
    let (header, align) = heading_cells(
        &text::CONFIGURATION,
        lang,
        SWEEP_FIGURES.iter().map(|f| f.column_label(lang)).collect(),
    );
    let mut header = header;
    header[0] = axis_name.to_string();
    let step_load = |r: &crate::report::runs::Run| match s.load_of(r) {
        Some(x) => number::plain(x, if conc { 0 } else { opts.decimals }),
        None if conc => text::UNLIMITED.get(lang).to_string(),
        None => "inf".to_string(),
    };
    let rows = s
        .steps
        .iter()
        .map(|r| {
            let g = Group {
                label: r.label.clone(),
                runs: vec![r.clone()],
            };
            let mut row = vec![step_load(r)];
            row.extend(SWEEP_FIGURES.iter().map(|f| cell(&g, *f, opts, false)));
            row
        })
        .collect();
    doc.blocks.push(Block::Table(Table {
        header,
        align,
        rows,
    }));
    let load_text = |i: usize| text::load_name(lang, conc, &step_load(&s.steps[i]));
    let knee = sweep::knee(s);
    let knee_line = match knee {
        Some(i) => {
            let r = &s.steps[i];
            text::knee_line(
                lang,
                &load_text(i),
                &number::with_unit(
                    Figure::OutputThroughput,
                    r.get(Figure::OutputThroughput),
                    opts.decimals,
                ),
                &number::with_unit(Figure::MedianE2el, r.get(Figure::MedianE2el), opts.decimals),
            )
        }
        None => format!("{}: {}", text::KNEE.get(lang), text::NO_KNEE.get(lang)),
    };
    let capacity = match (&s.capacity_note, sweep::capacity(s)) {
        (Some(note), _) => note.clone(),
        (None, Ok(i)) => text::capacity_found(lang, &load_text(i)),
        (None, Err(CapacityGap::NoGoodput)) => text::NO_GOODPUT.get(lang).to_string(),
        (None, Err(CapacityGap::NoStepMeetsSlo)) => text::NO_STEP_MEETS.get(lang).to_string(),
    };
    doc.blocks.push(Block::Bullets(vec![
        knee_line,
        text::capacity_line(lang, &capacity),
    ]));
    sweep_charts(doc, s, k, knee, lang)
}

fn sweep_charts(
    doc: &mut Document,
    s: &Sweep,
    k: usize,
    knee: Option<usize>,
    lang: Lang,
) -> Result<(), String> {
    let x_name = match s.axis {
        SweepAxis::Concurrency => text::CONCURRENCY.get(lang),
        SweepAxis::Rate => text::RATE.get(lang),
    };
    let against_load = |f: Figure| LineSeries {
        name: f.row_label(lang).to_string(),
        points: s
            .steps
            .iter()
            .filter_map(|r| Some((s.load_of(r)?, r.get(f)?)))
            .collect(),
    };
    let knee_marker = |f: Figure| -> Option<Marker> {
        let r = &s.steps[knee?];
        Some(Marker {
            at: (s.load_of(r)?, r.get(f)?),
            text: text::KNEE.get(lang).to_string(),
        })
    };
    let mut out = Vec::new();
    out.push((
        text::THROUGHPUT_VS_LOAD.get(lang),
        x_name.to_string(),
        "tok/s".to_string(),
        vec![
            against_load(Figure::OutputThroughput),
            against_load(Figure::TotalThroughput),
        ],
        knee_marker(Figure::OutputThroughput),
        "throughput",
    ));
    out.push((
        text::LATENCY_VS_LOAD.get(lang),
        x_name.to_string(),
        "ms".to_string(),
        vec![
            against_load(Figure::MeanTtft),
            against_load(Figure::P99Tpot),
        ],
        None,
        "latency",
    ));
    let lat_tput = LineSeries {
        name: Figure::MedianE2el.row_label(lang).to_string(),
        points: s
            .steps
            .iter()
            .filter_map(|r| Some((r.get(Figure::OutputThroughput)?, r.get(Figure::MedianE2el)?)))
            .collect(),
    };
    out.push((
        text::LATENCY_VS_THROUGHPUT.get(lang),
        Figure::OutputThroughput.column_label(lang),
        "s".to_string(),
        vec![lat_tput],
        None,
        "latency-vs-throughput",
    ));
    let energy = against_load(Figure::JoulesPerToken);
    if !energy.points.is_empty() {
        out.push((
            text::ENERGY_VS_LOAD.get(lang),
            x_name.to_string(),
            "J/token".to_string(),
            vec![energy],
            None,
            "energy",
        ));
    }
    for (title, x, y, series, marker, slug) in out {
        if series.iter().all(|l| l.points.is_empty()) {
            continue;
        }
        let full_title = format!("{}: {title}", s.label);
        let svg = charts::lines(&full_title, &x, &y, &series, marker.as_ref())?;
        doc.blocks.push(Block::Chart(Chart {
            file: format!("sweep-{}-{slug}.svg", k + 1),
            title: full_title,
            svg,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::runs::{Run, Sweep, SweepAxis, Workload};
    use std::path::PathBuf;

    fn run(out: f64, completed: u64, failed: u64) -> Run {
        let mut values = vec![None; Figure::ALL.len()];
        values[Figure::OutputThroughput.index()] = Some(out);
        Run {
            label: "a".into(),
            path: PathBuf::from("a.json"),
            origin: Origin::Tokscope,
            workload: Workload::default(),
            values,
            completed: Some(completed),
            failed: Some(failed),
            missing_keys: vec![],
            per_second: vec![],
            framework: None,
        }
    }

    #[test]
    fn repeats_show_mean_and_std_and_success_over_all_runs() {
        let g = Group {
            label: "a".into(),
            runs: vec![run(100.0, 30, 0), run(104.0, 29, 1)],
        };
        let opts = Options {
            lang: Lang::Zh,
            decimals: 2,
            baseline: 0,
        };
        assert_eq!(
            cell(&g, Figure::OutputThroughput, &opts, true),
            "102.00 ± 2.00 tok/s"
        );
        assert_eq!(
            cell(&g, Figure::OutputThroughput, &opts, false),
            "102.00 ± 2.00"
        );
        assert_eq!(cell(&g, Figure::SuccessRate, &opts, true), "98.3% (59/60)");
        assert_eq!(cell(&g, Figure::MeanTtft, &opts, true), "n/a");
    }

    #[test]
    fn a_sweep_with_energy_draws_j_per_token_against_load() {
        let steps = [1u64, 2, 4, 8]
            .iter()
            .map(|c| {
                let mut r = run(100.0 * *c as f64, 10, 0);
                r.workload.max_concurrency = Some(*c);
                r.values[Figure::MedianE2el.index()] = Some(1.0 + *c as f64 / 8.0);
                r.values[Figure::JoulesPerToken.index()] = Some(2.0 / *c as f64);
                r.values[Figure::MeanTtft.index()] = Some(50.0 * *c as f64);
                r
            })
            .collect();
        let inputs = Inputs {
            groups: vec![],
            sweeps: vec![Sweep {
                label: "s".into(),
                path: PathBuf::from("s"),
                axis: SweepAxis::Concurrency,
                steps,
                capacity_note: None,
            }],
        };
        let opts = Options {
            lang: Lang::En,
            decimals: 2,
            baseline: 0,
        };
        let doc = build(&inputs, &opts).unwrap();
        let files: Vec<&str> = doc.charts().map(|c| c.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "sweep-1-throughput.svg",
                "sweep-1-latency.svg",
                "sweep-1-latency-vs-throughput.svg",
                "sweep-1-energy.svg"
            ]
        );
        let md = crate::report::render::markdown::write(&doc);
        assert!(
            md.contains("- Capacity: n/a: the steps carry no goodput"),
            "{md}"
        );
        // A curve with no points is not drawn as an empty chart.
        let mut bare = inputs.clone();
        for r in &mut bare.sweeps[0].steps {
            r.values[Figure::MeanTtft.index()] = None;
        }
        let doc = build(&bare, &opts).unwrap();
        assert!(!doc.charts().any(|c| c.file == "sweep-1-latency.svg"));
    }
}
