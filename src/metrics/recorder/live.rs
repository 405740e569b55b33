//! Requests in flight, as the recorder follows them chunk by chunk, so every number is live
//! from the moment it exists: TTFT and TTFO when the first (answer) token arrives, ITL samples
//! as they arrive, output tokens as they stream, and the prompt's tokens placed where the
//! prefill happened (between sending and the first token), not in a lump when usage arrives.

use std::time::Duration;

/// One timed request in flight.
#[derive(Debug, Clone, Default)]
pub(super) struct Live {
    pub sent_at: Duration,
    /// The workload's count (or estimate) of the prompt's tokens, until usage corrects it.
    pub prompt_tokens: u64,
    pub first: Option<Duration>,
    pub first_answer: Option<Duration>,
    pub last: Option<Duration>,
    /// Output tokens received so far (usage deltas, else one per text chunk).
    pub tokens: u64,
    /// (second, tokens) placed into the per-second output series so far.
    pub placed: Vec<(u32, u32)>,
    /// The second whose bucket took the last share of the prompt's tokens, once placed.
    pub prompt_sec: Option<u32>,
    /// Prompt tokens placed into the series so far.
    pub prompt_placed: u64,
}

/// What one network read of a stream gives the statistics.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ReadSamples {
    /// Set when this read carried the request's first text token.
    pub ttft: Option<Duration>,
    /// Set when this read carried the first answer (non-reasoning) token.
    pub ttfo: Option<Duration>,
    /// The gap since the previous text chunk (none for the first read).
    pub gap: Option<Duration>,
    /// Further chunks in the same read: their gaps are zero (they arrived together).
    pub zero_gaps: u32,
}

impl Live {
    pub fn new(sent_at: Duration, prompt_tokens: u64) -> Live {
        Live {
            sent_at,
            prompt_tokens,
            ..Live::default()
        }
    }

    /// A read with `chunks` text chunks (`answer`: at least one carried answer text) at `at`.
    pub fn on_read(&mut self, at: Duration, chunks: u32, answer: bool) -> ReadSamples {
        let mut out = ReadSamples {
            zero_gaps: chunks.saturating_sub(1),
            ..ReadSamples::default()
        };
        if self.first.is_none() {
            self.first = Some(at);
            out.ttft = Some(at.saturating_sub(self.sent_at));
        }
        if answer && self.first_answer.is_none() {
            self.first_answer = Some(at);
            out.ttfo = Some(at.saturating_sub(self.sent_at));
        }
        if let Some(prev) = self.last {
            out.gap = Some(at.saturating_sub(prev));
        }
        self.last = Some(at);
        out
    }

    /// Output tokens per second of this stream so far (after its first token).
    pub fn decode_rate(&self) -> Option<f64> {
        let (first, last) = (self.first?, self.last?);
        let span = last.saturating_sub(first).as_secs_f64();
        (span > 0.0 && self.tokens > 1).then(|| (self.tokens - 1) as f64 / span)
    }
}

/// Spread `tokens` evenly over the seconds `from..=to` (the prefill window), remainder first.
pub(crate) fn spread(tokens: u64, from: u32, to: u32) -> impl Iterator<Item = (u32, u64)> {
    let (from, to) = (from.min(to), to.max(from));
    let n = u64::from(to - from) + 1;
    let (each, rest) = (tokens / n, tokens % n);
    (from..=to).enumerate().filter_map(move |(i, s)| {
        let share = each + u64::from((i as u64) < rest);
        (share > 0).then_some((s, share))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn reads_give_ttft_ttfo_and_gaps_as_they_arrive() {
        let mut l = Live::new(ms(1000), 50);
        // First read: two reasoning chunks together.
        assert_eq!(
            l.on_read(ms(1300), 2, false),
            ReadSamples {
                ttft: Some(ms(300)),
                ttfo: None,
                gap: None,
                zero_gaps: 1
            }
        );
        // Second read: the first answer chunk, 50 ms later.
        assert_eq!(
            l.on_read(ms(1350), 1, true),
            ReadSamples {
                ttft: None,
                ttfo: Some(ms(350)),
                gap: Some(ms(50)),
                zero_gaps: 0
            }
        );
        assert_eq!(l.on_read(ms(1400), 1, true).ttfo, None);
    }

    #[test]
    fn decode_rate_needs_two_tokens_over_time() {
        let mut l = Live::new(ms(0), 0);
        l.on_read(ms(100), 1, true);
        l.tokens = 1;
        assert_eq!(l.decode_rate(), None);
        l.on_read(ms(600), 1, true);
        l.tokens = 11;
        assert_eq!(l.decode_rate(), Some(20.0));
    }

    #[test]
    fn prompt_tokens_spread_over_the_prefill_seconds() {
        assert_eq!(spread(10, 3, 3).collect::<Vec<_>>(), vec![(3, 10)]);
        assert_eq!(
            spread(10, 2, 4).collect::<Vec<_>>(),
            vec![(2, 4), (3, 3), (4, 3)]
        );
        assert_eq!(spread(1, 2, 4).collect::<Vec<_>>(), vec![(2, 1)]);
        assert_eq!(spread(0, 2, 4).count(), 0);
    }
}
