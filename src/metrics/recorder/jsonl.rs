//! The per-request log: one JSON line per finished request, written by the recorder itself
//! (only when a result will be written), so a killed run leaves whole lines behind.

use super::Recorder;
use crate::load::record::RequestRecord;
use crate::metrics::snapshot::TimelineEvent;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

impl Recorder {
    pub(super) fn write_jsonl(&mut self, rec: &RequestRecord) {
        let Some(w) = self.jsonl.as_mut() else { return };
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let line = json!({
            "id": rec.id,
            "warmup": rec.warmup,
            "scheduled_at_s": rec.scheduled_at.as_secs_f64(),
            "sent_at_s": rec.sent_at.as_secs_f64(),
            "ok": rec.ok(),
            "ttft_ms": rec.ttft.map(ms),
            "ttfo_ms": rec.ttfo.map(ms),
            "tpot_ms": rec.tpot().map(ms),
            "e2el_ms": ms(rec.e2e),
            "queue_ms": ms(rec.queue_time()),
            "prompt_tokens": rec.prompt_tokens,
            "prompt_tokens_source": rec.prompt_source,
            "output_tokens": rec.output_tokens,
            "output_tokens_source": rec.output_source,
            "text_chunks": rec.text_chunks,
            "reasoning_chunks": rec.reasoning_chunks,
            "finish_reason": rec.finish_reason,
            "retries": rec.retries,
            "cached_prompt_tokens": rec.cached_prompt_tokens,
            "server_timings": rec.server_timings,
            "itl_ms": rec.itl_us.iter().map(|&u| u as f64 / 1000.0).collect::<Vec<_>>(),
            "error": rec.error.as_ref().map(|e| json!({"kind": e.kind, "status": e.status, "message": e.message})),
        });
        let res = serde_json::to_vec(&line)
            .map_err(std::io::Error::from)
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                w.write_all(&bytes)
            });
        if let Err(e) = res {
            self.jsonl_failed(e);
        }
    }

    fn jsonl_failed(&mut self, e: std::io::Error) {
        let path = self
            .cfg
            .jsonl
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let msg = format!(
            "writing the request log '{path}' failed: {e}; results so far are kept in memory"
        );
        let at = self.elapsed();
        self.timeline.push(TimelineEvent {
            at,
            what: msg.clone(),
        });
        self.jsonl_error = Some(msg);
        self.jsonl = None;
    }

    pub(super) fn flush_jsonl(&mut self) {
        if let Some(w) = self.jsonl.as_mut() {
            if let Err(e) = w.flush() {
                self.jsonl_failed(e);
            }
        }
    }
}
