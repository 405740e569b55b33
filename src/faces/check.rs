//! `tokscope check URL`: is it up, which model, does one streamed request work, what does the
//! server's /metrics say. Each step is one line with its timing; exit 0 only when all is well.

use crate::cli::CheckArgs;
use crate::load::record::TokenSource;
use crate::protocol::client::{
    list_models, parse_headers, run_collecting, Client, ClientConfig, RequestSpec,
};
use crate::runner::{normalize_url, SetupError};
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but worth knowing.
    Warn,
    Fail,
}

impl Status {
    /// The word printed in the first column.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub ms: f64,
}

pub fn run(args: CheckArgs) -> ExitCode {
    let Some(rt) = crate::runtime() else {
        return std::process::ExitCode::FAILURE;
    };
    match rt.block_on(check(&args)) {
        Ok(steps) => {
            let failed = steps.iter().any(|s| s.status == Status::Fail);
            if args.json {
                let v = json!({"url": args.url, "ok": !failed, "steps": steps});
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                for s in &steps {
                    println!(
                        "{:<5} {:<8} {} ({:.1} ms)",
                        s.status.word(),
                        s.name,
                        s.detail,
                        s.ms
                    );
                }
                println!("{}", if failed { "NOT OK" } else { "all good" });
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => crate::faces::headless::report_error(&e),
    }
}

/// What the server said about the request itself (llama.cpp): its prefix cache and its own
/// prefill and decode speeds; empty when it said nothing.
fn server_said(rec: &crate::load::record::RequestRecord) -> String {
    let mut out = String::new();
    if let Some(c) = rec.cached_prompt_tokens {
        out.push_str(&format!(
            ", {c} of {} prompt tokens cached",
            rec.prompt_tokens
        ));
    }
    let t = rec.server_timings.unwrap_or_default();
    let f = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |v| format!("{v:.1}"));
    if t.prefill_tok_s().is_some() || t.decode_tok_s().is_some() {
        out.push_str(&format!(
            ", server-timed prefill {} / decode {} tok/s",
            f(t.prefill_tok_s()),
            f(t.decode_tok_s())
        ));
    }
    out
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Run every step; a failing step does not stop the ones after it that can still run.
pub async fn check(args: &CheckArgs) -> anyhow::Result<Vec<Step>> {
    let base = normalize_url(&args.url)?;
    let headers = parse_headers(&args.headers).map_err(SetupError)?;
    // At most a day: a check is meant to answer in seconds, and larger values would not fit
    // the clock arithmetic.
    if !(args.timeout > 0.0 && args.timeout <= 86_400.0) {
        return Err(SetupError(format!(
            "--timeout: '{}' is out of range: use a number of seconds above 0 and at most 86400",
            crate::console::number(args.timeout)
        ))
        .into());
    }
    if args.max_tokens == 0 {
        return Err(SetupError("--max-tokens: '0' asks for nothing; use 1 or more".into()).into());
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let http = crate::protocol::client::http_client(&headers, args.api_key.as_deref())?;
    let mut steps = Vec::new();

    // 1. Health.
    let t = Instant::now();
    let health = http
        .get(format!("{base}/health"))
        .timeout(timeout)
        .send()
        .await;
    steps.push(match health {
        Ok(r) if r.status().is_success() => Step {
            name: "health",
            status: Status::Ok,
            detail: format!("HTTP {}", r.status().as_u16()),
            ms: ms(t),
        },
        Ok(r) if r.status().as_u16() == 404 => Step {
            name: "health",
            status: Status::Warn,
            detail: "no /health endpoint (HTTP 404)".into(),
            ms: ms(t),
        },
        Ok(r) => Step {
            name: "health",
            status: Status::Fail,
            detail: format!("HTTP {}", r.status().as_u16()),
            ms: ms(t),
        },
        Err(e) => {
            let detail = if e.is_connect() {
                format!("cannot connect to {base}")
            } else {
                format!("{e}")
            };
            steps.push(Step {
                name: "health",
                status: Status::Fail,
                detail,
                ms: ms(t),
            });
            return Ok(steps); // nothing else can work
        }
    });

    // 2. Models.
    let t = Instant::now();
    let model = match list_models(&http, &base).await {
        Ok(ids) if !ids.is_empty() => {
            let chosen = args.model.clone().unwrap_or_else(|| ids[0].clone());
            let known = ids.contains(&chosen);
            steps.push(Step {
                name: "models",
                status: if known { Status::Ok } else { Status::Fail },
                detail: if known {
                    format!("{} model(s): {}", ids.len(), ids.join(", "))
                } else {
                    format!(
                        "'{chosen}' is not served; the server has: {}",
                        ids.join(", ")
                    )
                },
                ms: ms(t),
            });
            known.then_some(chosen)
        }
        Ok(_) => {
            steps.push(Step {
                name: "models",
                status: Status::Fail,
                detail: "/v1/models lists no model".into(),
                ms: ms(t),
            });
            args.model.clone()
        }
        Err(e) => {
            steps.push(Step {
                name: "models",
                status: Status::Fail,
                detail: format!("{e:#}"),
                ms: ms(t),
            });
            args.model.clone()
        }
    };

    // 3. One streamed request.
    if let Some(model) = model {
        let mut cfg = ClientConfig::new(&base, &args.endpoint, &model);
        cfg.headers = headers.clone();
        cfg.api_key = args.api_key.clone();
        cfg.timeout = timeout;
        cfg.include_usage = !args.no_stream_usage;
        cfg.max_completion_tokens = !args.no_max_completion_tokens;
        let client = Client::new(cfg)?;
        let spec = RequestSpec {
            id: 0,
            warmup: false,
            scheduled_at: Duration::ZERO,
            prompt: "Reply with a short greeting.",
            max_tokens: args.max_tokens,
            prompt_tokens: 6,
            prompt_source: TokenSource::Estimate,
        };
        let t = Instant::now();
        let (rec, text) = run_collecting(&client, &spec).await;
        let step = match &rec.error {
            Some(e) => Step {
                name: "stream",
                status: Status::Fail,
                detail: match client.advice_for(&e.message) {
                    Some(a) => format!("{}: {}; {a}", e.kind.label(), e.message),
                    None => format!("{}: {}", e.kind.label(), e.message),
                },
                ms: ms(t),
            },
            None => {
                let ttft = rec.ttft.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0);
                let tps = rec.tpot().map(|d| 1.0 / d.as_secs_f64().max(1e-9));
                let preview: String = text.chars().take(40).collect();
                let preview = crate::protocol::sanitize::line(&preview);
                Step {
                    name: "stream",
                    status: if rec.output_source == TokenSource::Usage {
                        Status::Ok
                    } else {
                        Status::Warn
                    },
                    detail: format!(
                        "{} tokens, TTFT {ttft:.1} ms{}, finish '{}', {}{} | '{preview}'",
                        rec.output_tokens,
                        tps.map(|t| format!(", {t:.1} tok/s")).unwrap_or_default(),
                        rec.finish_reason.as_deref().unwrap_or("none"),
                        if rec.output_source == TokenSource::Usage {
                            "usage reported"
                        } else {
                            "no usage: tokens counted from chunks"
                        },
                        server_said(&rec),
                    ),
                    ms: ms(t),
                }
            }
        };
        steps.push(step);
    }

    // 4. The server's own metrics, when it has them.
    let t = Instant::now();
    match http
        .get(format!("{base}/metrics"))
        .timeout(timeout)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {
            let read = crate::protocol::limits::read_whole(
                r,
                crate::protocol::limits::MAX_METRICS_BODY,
                "/metrics",
            );
            steps.push(match read.await {
                Ok(text) => Step {
                    name: "metrics",
                    status: Status::Ok,
                    detail: crate::telemetry::server_metrics::ServerMetrics::from_text(&text)
                        .describe(),
                    ms: ms(t),
                },
                Err(why) => Step {
                    name: "metrics",
                    status: Status::Warn,
                    detail: why,
                    ms: ms(t),
                },
            });
        }
        Ok(r) => steps.push(Step {
            name: "metrics",
            status: Status::Warn,
            detail: format!("no /metrics (HTTP {})", r.status().as_u16()),
            ms: ms(t),
        }),
        Err(e) => steps.push(Step {
            name: "metrics",
            status: Status::Warn,
            detail: format!("/metrics unreachable: {e}"),
            ms: ms(t),
        }),
    }
    // 5. This machine's GPUs, when it has any: "did the GPU memory come back?"
    let t = Instant::now();
    let report = tokio::task::spawn_blocking(|| {
        crate::telemetry::gpu::command::collect(&crate::telemetry::gpu::LocalConfig::from_env())
    })
    .await
    .ok();
    if let Some(r) = report.filter(|r| !r.gpus.is_empty()) {
        let parts: Vec<String> = r
            .gpus
            .iter()
            .map(|g| {
                let mem = match (g.memory_in_use(), g.memory_capacity()) {
                    (Some(u), Some(c)) => format!(
                        "{} of {} in use",
                        crate::telemetry::gpu::fmt_gib(u),
                        crate::telemetry::gpu::fmt_gib(c)
                    ),
                    (Some(u), None) => format!("{} in use", crate::telemetry::gpu::fmt_gib(u)),
                    _ => "memory n/a".into(),
                };
                format!("{} {}: {mem}", g.index, g.name)
            })
            .collect();
        steps.push(Step {
            name: "gpu",
            status: Status::Ok,
            detail: parts.join("; "),
            ms: ms(t),
        });
    }
    // Details quote the server (model ids, error bodies, its answer): safe to print, and one
    // line each, whatever it sent. Already-clean text is not copied.
    for s in &mut steps {
        s.detail = crate::protocol::sanitize::line_owned(std::mem::take(&mut s.detail));
    }
    Ok(steps)
}
