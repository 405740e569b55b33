//! A lenient parser of the Prometheus text exposition format (0.0.4, and the OpenMetrics
//! superset as far as scraping needs it).
//!
//! Used for remote GPU telemetry (`tokscope agent`, dcgm-exporter) and for servers' own
//! `/metrics` (vLLM, SGLang, TGI, llama.cpp). Lenient means: a bad line is recorded in
//! [`Exposition::errors`] and skipped, never a reason to drop the whole page. Names may contain
//! `:` (vLLM's `vllm:num_requests_running`), which some published parsers silently drop.

use std::collections::HashMap;

/// The declared type of a metric family (`# TYPE name kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// OpenMetrics gauge histogram, info and stateset end up here too.
    #[default]
    Untyped,
}

impl MetricType {
    fn parse(s: &str) -> MetricType {
        match s.to_ascii_lowercase().as_str() {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            _ => MetricType::Untyped,
        }
    }
}

/// One sample line: `name{labels} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the epoch, when the line carries one.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A metric family: its HELP, TYPE and every sample that belongs to it (for histograms and
/// summaries that includes the `_bucket`, `_sum` and `_count` lines).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Family {
    pub name: String,
    pub help: Option<String>,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
}

/// A line the parser skipped, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// A parsed page: families in the order they first appeared.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
    pub errors: Vec<LineError>,
    index: HashMap<String, usize>,
}

impl Exposition {
    /// The family called `name` (for a histogram: its base name, without `_bucket`).
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.index.get(name).map(|&i| &self.families[i])
    }

    /// Every sample whose own name is `name`, wherever it was filed.
    pub fn samples_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .iter()
            .flat_map(|f| f.samples.iter())
            .filter(move |s| s.name == name)
    }

    /// All samples of all families.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.families.iter().flat_map(|f| f.samples.iter())
    }

    fn family_mut(&mut self, name: &str) -> &mut Family {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    ..Family::default()
                });
                self.index.insert(name.to_string(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[i]
    }

    /// The family a sample called `name` belongs to: a declared histogram or summary takes its
    /// `_bucket`/`_sum`/`_count` lines, a declared counter its OpenMetrics `_total`/`_created`.
    fn owner_of(&self, name: &str) -> String {
        const SUFFIXES: [(&str, &[MetricType]); 5] = [
            ("_bucket", &[MetricType::Histogram]),
            ("_sum", &[MetricType::Histogram, MetricType::Summary]),
            ("_count", &[MetricType::Histogram, MetricType::Summary]),
            ("_total", &[MetricType::Counter]),
            ("_created", &[MetricType::Counter, MetricType::Histogram]),
        ];
        if self.index.contains_key(name) {
            return name.to_string();
        }
        for (suffix, kinds) in SUFFIXES {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(f) = self.family(base) {
                    if kinds.contains(&f.kind) {
                        return base.to_string();
                    }
                }
            }
        }
        name.to_string()
    }
}

/// Parse a whole page. Never fails: bad lines land in `errors`.
pub fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            parse_comment(&mut out, rest.trim_start());
            continue;
        }
        match parse_sample(line) {
            Ok(sample) => {
                let owner = out.owner_of(&sample.name);
                out.family_mut(&owner).samples.push(sample);
            }
            Err(message) => out.errors.push(LineError {
                line: i + 1,
                message,
            }),
        }
    }
    out
}

fn parse_comment(out: &mut Exposition, rest: &str) {
    let mut parts = rest.splitn(3, [' ', '\t']);
    let keyword = parts.next().unwrap_or("");
    let name = parts.next().unwrap_or("");
    let tail = parts.next().unwrap_or("").trim();
    if name.is_empty() || !is_metric_name(name) {
        return; // a free comment, or `# EOF`
    }
    match keyword {
        "HELP" => out.family_mut(name).help = Some(unescape_help(tail)),
        "TYPE" => out.family_mut(name).kind = MetricType::parse(tail),
        _ => {}
    }
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parse one sample line. Errors are messages for `LineError`.
pub fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name '{name}'"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        let (parsed, after) = parse_labels(&rest[1..])?;
        labels = parsed;
        rest = after;
    }
    // OpenMetrics exemplars follow ` # `; they are not part of the value.
    let rest = rest.split(" # ").next().unwrap_or("");
    let mut fields = rest.split_ascii_whitespace();
    let value_text = fields
        .next()
        .ok_or_else(|| format!("no value after '{name}'"))?;
    let value =
        parse_value(value_text).ok_or_else(|| format!("bad value '{value_text}' for '{name}'"))?;
    let timestamp_ms = match fields.next() {
        Some(t) => Some(
            t.parse::<i64>()
                .or_else(|_| t.parse::<f64>().map(|f| (f * 1000.0) as i64))
                .map_err(|_| format!("bad timestamp '{t}' for '{name}'"))?,
        ),
        None => None,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Parse a sample value: decimals, exponents, `+Inf`, `-Inf`, `NaN` (any case).
pub fn parse_value(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

/// Label pairs in page order.
type Labels = Vec<(String, String)>;

/// Parse `k="v",...}` (the opening brace already consumed); returns the labels and the text
/// after the closing brace.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', '\t', ',']);
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = s
            .find('=')
            .ok_or_else(|| "label without '=' (unclosed '{'?)".to_string())?;
        let key = s[..eq].trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("bad label name '{key}'"));
        }
        s = s[eq + 1..].trim_start();
        let body = s
            .strip_prefix('"')
            .ok_or_else(|| format!("label '{key}' has an unquoted value"))?;
        let mut value = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Err(format!("label '{key}' value ends in a backslash")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("label '{key}' value is not closed")),
            }
        };
        labels.push((key.to_string(), value));
        s = &body[end + 1..];
    }
}

/// Escape a label value for writing (`\`, `"` and newline).
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_table() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("-2.5", Some(-2.5)),
            ("1e3", Some(1000.0)),
            ("1.5E-3", Some(0.0015)),
            ("+Inf", Some(f64::INFINITY)),
            ("-Inf", Some(f64::NEG_INFINITY)),
            ("abc", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_value(text), *want, "value '{text}'");
        }
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
    }

    #[test]
    fn families_labels_colons_and_help() {
        let page = "\
# HELP vllm:num_requests_running Number of requests \\\\ running\\nnow.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name=\"m\",engine=\"0\"} 3
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le=\"0.5\"} 1
vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\"} 4
vllm:e2e_request_latency_seconds_sum 7.5
vllm:e2e_request_latency_seconds_count 4
# TYPE tgi_request_count counter
tgi_request_count_total 12 1700000000000
# EOF
";
        let e = parse(page);
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        let running = e.family("vllm:num_requests_running").unwrap();
        assert_eq!(running.kind, MetricType::Gauge);
        assert_eq!(
            running.help.as_deref(),
            Some("Number of requests \\ running\nnow.")
        );
        assert_eq!(running.samples[0].label("engine"), Some("0"));
        let hist = e.family("vllm:e2e_request_latency_seconds").unwrap();
        assert_eq!(hist.kind, MetricType::Histogram);
        assert_eq!(hist.samples.len(), 4);
        assert_eq!(hist.samples[1].label("le"), Some("+Inf"));
        let counter = e.family("tgi_request_count").unwrap();
        assert_eq!(counter.samples[0].value, 12.0);
        assert_eq!(counter.samples[0].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(
            e.samples_named("vllm:e2e_request_latency_seconds_sum")
                .count(),
            1
        );
    }

    #[test]
    fn label_escapes_and_odd_spacing() {
        let s = parse_sample(r#"m{a="x\"y", b="c\\d",c="l1\nl2",} 5"#).unwrap();
        assert_eq!(s.label("a"), Some("x\"y"));
        assert_eq!(s.label("b"), Some("c\\d"));
        assert_eq!(s.label("c"), Some("l1\nl2"));
        assert_eq!(s.value, 5.0);
        let s = parse_sample("m{} 2 # {trace_id=\"a\"} 1").unwrap();
        assert!(s.labels.is_empty());
        assert_eq!(s.value, 2.0);
        let s = parse_sample(r#"m{a="}{,="} 1"#).unwrap();
        assert_eq!(s.label("a"), Some("}{,="));
    }

    #[test]
    fn bad_lines_are_skipped_with_their_reason() {
        let e = parse("ok 1\n1bad 2\nm{a=\"x} 3\nm{a=x} 3\nnovalue\nm abc\nok2 4\n");
        let lines: Vec<usize> = e.errors.iter().map(|x| x.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        assert_eq!(e.errors[0].message, "bad metric name '1bad'");
        assert_eq!(e.errors[4].message, "bad value 'abc' for 'm'");
        assert_eq!(e.samples().count(), 2);
    }

    #[test]
    fn escape_round_trips() {
        let v = "a\"b\\c\nd";
        let line = format!("m{{k=\"{}\"}} 1", escape_label_value(v));
        assert_eq!(parse_sample(&line).unwrap().label("k"), Some(v));
    }
}
