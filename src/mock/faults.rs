//! Fault injection: which fault (if any) a request gets, drawn reproducibly from `--seed`.
//!
//! Each request draws one number `u` in [0, 1) from a SplitMix64 generator seeded with the seed and
//! the request's arrival index. The rates are laid end to end on [0, 1) in the order of
//! [`FaultKind::ALL`], and the request gets the fault whose interval holds `u`. So each kind's
//! share of requests is exactly its rate while the rates add up to at most 1 (checked when the
//! server starts), and a request gets at most one fault.

/// One kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 with a JSON error body, before any stream starts.
    Fail500,
    /// HTTP 429 with a JSON error body and `retry-after`, before any stream starts.
    Fail429,
    /// The connection is dropped mid-stream, without `[DONE]`.
    CutStream,
    /// One `data:` line of invalid JSON mid-stream; the stream then goes on normally.
    Malformed,
    /// A vLLM-style `data: {"error":{...}}` event mid-stream, then `data: [DONE]`.
    ErrorEvent,
    /// A long pause (`--stall-ms`) mid-stream; the stream then goes on normally.
    Stall,
}

impl FaultKind {
    /// Every kind, in the order their intervals are laid out.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Fail500,
        FaultKind::Fail429,
        FaultKind::CutStream,
        FaultKind::Malformed,
        FaultKind::ErrorEvent,
        FaultKind::Stall,
    ];

    /// The `kind` label value in `tokscope_mock_faults_total`.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Fail500 => "fail_500",
            FaultKind::Fail429 => "fail_429",
            FaultKind::CutStream => "cut_stream",
            FaultKind::Malformed => "malformed",
            FaultKind::ErrorEvent => "error_event",
            FaultKind::Stall => "stall",
        }
    }

    /// Position in [`FaultKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the fault happens before the response starts (so it applies to non-streaming
    /// requests too) rather than inside an SSE stream.
    pub fn is_before_response(self) -> bool {
        matches!(self, FaultKind::Fail500 | FaultKind::Fail429)
    }
}

/// Probability of each fault kind per request, each in 0..=1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRates {
    pub fail_500: f64,
    pub fail_429: f64,
    pub cut_stream: f64,
    pub malformed: f64,
    pub error_event: f64,
    pub stall: f64,
}

impl FaultRates {
    /// The rate of `kind`.
    pub fn get(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Fail500 => self.fail_500,
            FaultKind::Fail429 => self.fail_429,
            FaultKind::CutStream => self.cut_stream,
            FaultKind::Malformed => self.malformed,
            FaultKind::ErrorEvent => self.error_event,
            FaultKind::Stall => self.stall,
        }
    }

    /// Checks each rate is a probability and that they add up to at most 1.
    pub fn validate(&self) -> Result<(), String> {
        let mut sum = 0.0;
        for kind in FaultKind::ALL {
            let r = self.get(kind);
            if !(0.0..=1.0).contains(&r) {
                return Err(format!(
                    "fault rate --{} is '{r}'; give a probability between 0 and 1",
                    kind.label().replace('_', "-")
                ));
            }
            sum += r;
        }
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "fault rates add up to '{sum}'; a request gets at most one fault, so keep the sum at 1 or below"
            ));
        }
        Ok(())
    }
}

/// What one request draws: its fault, and where in the stream a mid-stream fault strikes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    pub fault: Option<FaultKind>,
    /// Number of token chunks sent before a mid-stream fault strikes: at least 1 (so the stream
    /// has started) and, when there are two chunks or more, fewer than all of them.
    pub at_chunk: u32,
}

/// SplitMix64: a tiny, well-mixed generator, so draws do not depend on any crate's stream.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from the top 53 bits.
fn unit(state: &mut u64) -> f64 {
    (splitmix64(state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Draws the fault of request number `index` whose stream has `chunks` token chunks.
pub fn draw(rates: &FaultRates, seed: u64, index: u64, chunks: u32) -> Draw {
    let mut state = seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let u = unit(&mut state);
    let mut edge = 0.0;
    let mut fault = None;
    for kind in FaultKind::ALL {
        let r = rates.get(kind);
        edge += r;
        // `r > 0` keeps a zero-width interval from catching u == edge.
        if r > 0.0 && u < edge {
            fault = Some(kind);
            break;
        }
    }
    let at_chunk = if chunks > 1 {
        // The remainder is below `chunks - 1`, so it fits in u32.
        1 + (splitmix64(&mut state) % u64::from(chunks - 1)) as u32
    } else {
        1
    };
    Draw { fault, at_chunk }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(kind: FaultKind, rate: f64) -> FaultRates {
        let mut r = FaultRates::default();
        match kind {
            FaultKind::Fail500 => r.fail_500 = rate,
            FaultKind::Fail429 => r.fail_429 = rate,
            FaultKind::CutStream => r.cut_stream = rate,
            FaultKind::Malformed => r.malformed = rate,
            FaultKind::ErrorEvent => r.error_event = rate,
            FaultKind::Stall => r.stall = rate,
        }
        r
    }

    #[test]
    fn rate_one_always_hits_and_rate_zero_never() {
        for kind in FaultKind::ALL {
            for i in 0..500 {
                assert_eq!(draw(&only(kind, 1.0), 7, i, 10).fault, Some(kind));
                assert_eq!(draw(&only(kind, 0.0), 7, i, 10).fault, None);
            }
        }
    }

    #[test]
    fn shares_match_rates() {
        let rates = FaultRates {
            fail_500: 0.1,
            fail_429: 0.05,
            cut_stream: 0.2,
            malformed: 0.0,
            error_event: 0.15,
            stall: 0.3,
        };
        let n = 100_000u64;
        let mut counts = [0u64; 6];
        let mut none = 0u64;
        for i in 0..n {
            match draw(&rates, 42, i, 8).fault {
                Some(k) => counts[k.index()] += 1,
                None => none += 1,
            }
        }
        for kind in FaultKind::ALL {
            let share = counts[kind.index()] as f64 / n as f64;
            assert!((share - rates.get(kind)).abs() < 0.01, "{kind:?}: {share}");
        }
        assert!(((none as f64 / n as f64) - 0.2).abs() < 0.01);
    }

    #[test]
    fn draws_are_reproducible_and_positions_in_range() {
        let rates = only(FaultKind::CutStream, 0.5);
        for i in 0..1000 {
            let a = draw(&rates, 3, i, 5);
            assert_eq!(a, draw(&rates, 3, i, 5));
            assert!((1..5).contains(&a.at_chunk), "{a:?}");
        }
        assert_eq!(draw(&rates, 3, 1, 1).at_chunk, 1);
        assert_eq!(draw(&rates, 3, 1, 2).at_chunk, 1);
        let differs = (0..100).any(|i| draw(&rates, 3, i, 5) != draw(&rates, 4, i, 5));
        assert!(differs, "another seed gives other draws");
    }

    #[test]
    fn validate_rejects_bad_rates() {
        assert!(only(FaultKind::Stall, 1.0).validate().is_ok());
        assert_eq!(
            only(FaultKind::CutStream, 1.5).validate().unwrap_err(),
            "fault rate --cut-stream is '1.5'; give a probability between 0 and 1"
        );
        let mut r = only(FaultKind::Fail500, 0.6);
        r.stall = 0.6;
        assert!(r
            .validate()
            .unwrap_err()
            .starts_with("fault rates add up to '1.2'"));
    }
}
