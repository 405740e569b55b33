//! `tokscope report FILE...`: read results (and sweep folders), then write the Markdown report
//! with its SVG charts, one self-contained HTML page, the CSV and the JSON into one folder.
//! Bad input (not a result, truncated JSON, an empty folder, a label without a file, an
//! unknown baseline) is one line naming what was wrong, exit 2.

use crate::cli::{ReportArgs, ReportFormat};
use crate::report::compare::baseline_index;
use crate::report::figure::Lang;
use crate::report::render::{self, Options};
use crate::report::runs::load::{read_all, InputSpec};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for input that cannot make a report (as for bad flags elsewhere).
const EXIT_BAD_INPUT: u8 = 2;
/// The most places a number may keep below 1,000.
const MAX_DECIMALS: usize = 6;

pub fn run(args: ReportArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(written) => {
            for p in written {
                crate::console::out(&format!("{}\n", p.display()));
            }
            ExitCode::SUCCESS
        }
        Err(Failure::BadInput(msg)) => {
            crate::console::err_line(&format!("error: {msg}"));
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(Failure::Write(msg)) => {
            crate::console::err_line(&format!("error: {msg}"));
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    BadInput(String),
    Write(String),
}

/// The inputs in command-line order: positional files (labelled when a `--label` names the
/// same path), then files named only by `--label`.
pub fn input_specs(files: &[PathBuf], labels: &[String]) -> Result<Vec<InputSpec>, String> {
    let mut labelled = Vec::with_capacity(labels.len());
    for l in labels {
        let Some((name, file)) = l.split_once('=') else {
            return Err(format!(
                "--label '{l}' has no file: write it as NAME=FILE, e.g. --label 2GPU=run2.json"
            ));
        };
        if name.trim().is_empty() {
            return Err(format!("--label '{l}' has no name before '='"));
        }
        if file.trim().is_empty() {
            return Err(format!("--label '{name}' has no file after '='"));
        }
        labelled.push((name.trim().to_string(), PathBuf::from(file)));
    }
    let mut specs: Vec<InputSpec> = files
        .iter()
        .map(|p| InputSpec {
            label: labelled
                .iter()
                .find(|(_, f)| f == p)
                .map(|(n, _)| n.clone()),
            path: p.clone(),
        })
        .collect();
    for (name, file) in labelled {
        if !files.contains(&file) {
            specs.push(InputSpec {
                label: Some(name),
                path: file,
            });
        }
    }
    if specs.is_empty() {
        return Err(
            "no input: name result files or folders, e.g. tokscope report a.json b.json".into(),
        );
    }
    Ok(specs)
}

fn run_inner(args: &ReportArgs) -> Result<Vec<PathBuf>, Failure> {
    if args.decimals > MAX_DECIMALS {
        return Err(Failure::BadInput(format!(
            "--decimals '{}' is more than {MAX_DECIMALS}",
            args.decimals
        )));
    }
    let specs = input_specs(&args.files, &args.labels).map_err(Failure::BadInput)?;
    let inputs = read_all(&specs).map_err(|e| Failure::BadInput(e.to_string()))?;
    let baseline = if inputs.groups.is_empty() {
        if let Some(b) = &args.baseline {
            return Err(Failure::BadInput(format!(
                "--baseline '{b}' names no run: only sweep folders were given"
            )));
        }
        0
    } else {
        baseline_index(&inputs.groups, args.baseline.as_deref()).map_err(Failure::BadInput)?
    };
    let opts = Options {
        lang: args.lang,
        decimals: args.decimals,
        baseline,
    };
    let doc = render::sections::build(&inputs, &opts).map_err(Failure::Write)?;
    let dir = &args.output;
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Write(format!("cannot create '{}': {e}", dir.display())))?;
    let mut written = Vec::new();
    let mut put = |name: &str, text: &str| -> Result<(), Failure> {
        let p = dir.join(name);
        write_atomic(&p, text)?;
        written.push(p);
        Ok(())
    };
    for f in &args.format {
        match f {
            ReportFormat::Md => {
                for c in doc.charts() {
                    put(&c.file, &c.svg)?;
                }
                put("report.md", &render::markdown::write(&doc))?;
            }
            ReportFormat::Html => {
                let tag = match args.lang {
                    Lang::En => "en",
                    Lang::Zh => "zh-CN",
                };
                put("report.html", &render::html::write(&doc, tag))?;
            }
            ReportFormat::Csv => {
                let text = render::csv::write(&inputs, args.lang, args.decimals)
                    .map_err(Failure::Write)?;
                put("report.csv", &text)?;
            }
            ReportFormat::Json => {
                let v = render::json::write(&inputs, baseline);
                let text = serde_json::to_string_pretty(&v)
                    .map_err(|e| Failure::Write(format!("cannot write the JSON: {e}")))?;
                put("report.json", &format!("{text}\n"))?;
            }
        }
    }
    Ok(written)
}

/// A file written whole or not at all (a temporary file renamed into place).
fn write_atomic(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::Write(format!("cannot write '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_attach_to_positional_files_or_add_inputs() {
        let files = [PathBuf::from("a.json"), PathBuf::from("b.json")];
        let specs = input_specs(&files, &["2GPU=b.json".into(), "old=v.json".into()]).unwrap();
        let got: Vec<(Option<&str>, &str)> = specs
            .iter()
            .map(|s| (s.label.as_deref(), s.path.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (None, "a.json"),
                (Some("2GPU"), "b.json"),
                (Some("old"), "v.json")
            ]
        );
    }

    #[test]
    fn a_label_without_a_file_is_refused() {
        assert_eq!(
            input_specs(&[], &["2GPU".into()]).unwrap_err(),
            "--label '2GPU' has no file: write it as NAME=FILE, e.g. --label 2GPU=run2.json"
        );
        assert_eq!(
            input_specs(&[], &["2GPU=".into()]).unwrap_err(),
            "--label '2GPU' has no file after '='"
        );
        assert!(input_specs(&[], &[]).unwrap_err().starts_with("no input"));
    }
}
