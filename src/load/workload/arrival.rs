//! When each request is due: absolute offsets from the run's start, as `vllm bench serve` makes
//! them, plus a rate that can change while the run goes on.
//!
//! - Rate `inf`: every arrival is due at once (at 0, or at the moment the rate became inf).
//! - Otherwise gaps are Gamma(shape = burstiness, scale = 1 / (rate * burstiness)): mean 1/rate,
//!   coefficient of variation 1/sqrt(burstiness); burstiness 1 is Poisson, `inf` is a metronome.
//! - With a known count N the first N offsets are rescaled so that the N-th lands exactly at
//!   N / rate (vLLM does this to take seed noise out of the achieved rate). The rescale needs
//!   the sum of all N gaps before the first is handed out: we draw them once to sum them and a
//!   second time, from a clone of the generator, to hand them out, so memory stays O(1).
//! - `set_rate` drops any rescale and continues from `now` at the new rate. An arrival already
//!   handed out is not taken back: the engine should drop the one it is waiting for and ask again.
//! - Offsets past the known count continue unscaled, so the engine alone decides when to stop.

use crate::plan::RampUp;
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Gamma};
use std::time::Duration;

/// Above this count the rescale (two passes over the gaps) is skipped: at ~20 ns a draw it
/// would cost seconds before the first request, and over that many arrivals the seed noise it
/// removes is far below a percent anyway.
const MAX_RESCALED: u64 = 20_000_000;

/// Mixed into `--seed` so arrivals and prompts draw from different streams: changing the rate
/// does not change the prompts.
const SEED_SALT: u64 = 0x5eed_a771_7a15_0001;

/// The gap distribution at one rate.
#[derive(Debug, Clone)]
enum Gaps {
    /// Rate inf: no gap.
    None,
    /// Burstiness inf: always 1/rate.
    Constant(f64),
    Gamma(Gamma<f64>),
}

impl Gaps {
    fn new(rate: Option<f64>, burstiness: f64) -> Result<Self, String> {
        // Checked even at rate inf: the rate may become finite later through `set_rate`.
        if !(burstiness == f64::INFINITY || (burstiness.is_finite() && burstiness > 0.0)) {
            return Err(format!(
                "--burstiness '{burstiness}' must be a positive number: 1 for Poisson arrivals, \
                 larger for more regular ones, 'inf' for a fixed interval"
            ));
        }
        let Some(rate) = rate else {
            return Ok(Gaps::None);
        };
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!(
                "--request-rate '{rate}' must be a positive number of requests per second, or 'inf'"
            ));
        }
        if burstiness == f64::INFINITY {
            return Ok(Gaps::Constant(1.0 / rate));
        }
        Gamma::new(burstiness, 1.0 / (rate * burstiness))
            .map(Gaps::Gamma)
            .map_err(|e| format!("--burstiness '{burstiness}' with rate '{rate}': {e}"))
    }

    fn draw(&self, rng: &mut StdRng) -> f64 {
        match self {
            Gaps::None => 0.0,
            Gaps::Constant(g) => *g,
            Gaps::Gamma(d) => d.sample(rng),
        }
    }
}

/// The arrival schedule of one run. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    rate: Option<f64>,
    burstiness: f64,
    gaps: Gaps,
    rng: StdRng,
    /// Seconds from the start of the last arrival handed out (or of the rate change).
    last: f64,
    /// Multiplier of the next `rescaled_left` gaps.
    scale: f64,
    rescaled_left: u64,
    issued: u64,
    /// A ramp and the count it spreads over; each gap is drawn at the ramp's rate for the
    /// arrival (no rescale, as vLLM). `set_rate` ends it.
    ramp: Option<(RampUp, u64)>,
}

impl ArrivalSchedule {
    /// A schedule at `rate` requests per second (`None`: infinite). `count`: how many requests
    /// the run will send when known (`--num-prompts` without `--duration`), for the rescale.
    pub fn new(
        rate: Option<f64>,
        burstiness: f64,
        seed: u64,
        count: Option<u64>,
    ) -> Result<Self, String> {
        let gaps = Gaps::new(rate, burstiness)?;
        let rng = StdRng::seed_from_u64(seed ^ SEED_SALT);
        let mut s = ArrivalSchedule {
            rate,
            burstiness,
            gaps,
            rng,
            last: 0.0,
            scale: 1.0,
            rescaled_left: 0,
            issued: 0,
            ramp: None,
        };
        if let (Some(rate), Some(n)) = (rate, count) {
            if n > 0 && n <= MAX_RESCALED {
                let mut probe = s.rng.clone();
                let total: f64 = (0..n).map(|_| s.gaps.draw(&mut probe)).sum();
                if total > 0.0 {
                    s.scale = (n as f64 / rate) / total;
                    s.rescaled_left = n;
                }
            }
        }
        Ok(s)
    }

    /// A schedule whose rate climbs along `ramp` over `count` arrivals (vLLM's ramp-up): the
    /// gap before arrival `i` is drawn at `ramp.rate_at(i, count)`.
    pub fn ramped(ramp: RampUp, burstiness: f64, seed: u64, count: u64) -> Result<Self, String> {
        let mut s = ArrivalSchedule::new(Some(ramp.start_rps), burstiness, seed, None)?;
        Gaps::new(Some(ramp.end_rps), burstiness)?;
        s.ramp = Some((ramp, count));
        Ok(s)
    }

    /// The current rate (`None`: infinite); on a ramp, the rate of the next arrival.
    pub fn rate(&self) -> Option<f64> {
        match self.ramp {
            Some((r, n)) => Some(r.rate_at(self.issued, n)),
            None => self.rate,
        }
    }

    /// Arrivals handed out so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// When the next request is due, as an offset from the run's start.
    pub fn next_offset(&mut self) -> Duration {
        if let Some((ramp, n)) = self.ramp {
            // Checked at both ends by `ramped`, so every rate between is valid too.
            if let Ok(g) = Gaps::new(Some(ramp.rate_at(self.issued, n)), self.burstiness) {
                self.gaps = g;
            }
        }
        let mut gap = self.gaps.draw(&mut self.rng);
        if self.rescaled_left > 0 {
            gap *= self.scale;
            self.rescaled_left -= 1;
        }
        self.last += gap;
        self.issued += 1;
        // A gamma draw can be huge at tiny rates: past the cap an arrival is simply never due
        // in this run, rather than a value the clock arithmetic cannot hold.
        Duration::try_from_secs_f64(self.last)
            .unwrap_or(FAR_FUTURE)
            .min(FAR_FUTURE)
    }

    /// From `now` (offset from the run's start) on, arrivals follow `rate`. Burstiness stays.
    /// An invalid rate is refused with the same message as the flag's.
    pub fn set_rate(&mut self, rate: Option<f64>, now: Duration) -> Result<(), String> {
        self.gaps = Gaps::new(rate, self.burstiness)?;
        self.rate = rate;
        self.last = now.as_secs_f64();
        self.rescaled_left = 0;
        self.scale = 1.0;
        self.ramp = None;
        Ok(())
    }
}

/// Arrivals later than this (about 30 years) are never due in a run.
const FAR_FUTURE: Duration = Duration::from_secs(1_000_000_000);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn offsets(s: &mut ArrivalSchedule, n: usize) -> Vec<f64> {
        (0..n).map(|_| s.next_offset().as_secs_f64()).collect()
    }

    fn gaps(o: &[f64]) -> Vec<f64> {
        let mut prev = 0.0;
        o.iter()
            .map(|&t| {
                let g = t - prev;
                prev = t;
                g
            })
            .collect()
    }

    fn mean_cv(g: &[f64]) -> (f64, f64) {
        let n = g.len() as f64;
        let mean = g.iter().sum::<f64>() / n;
        let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn infinite_rate_is_all_at_zero() {
        let mut s = ArrivalSchedule::new(None, 1.0, 0, Some(100)).unwrap();
        assert!(offsets(&mut s, 100).iter().all(|&t| t == 0.0));
        assert_eq!(s.issued(), 100);
    }

    #[rstest]
    #[case(1.0, 1.0)]
    #[case(4.0, 0.5)]
    #[case(0.25, 2.0)]
    #[case(100.0, 0.1)]
    fn unbounded_rate_and_dispersion(#[case] burstiness: f64, #[case] want_cv: f64) {
        let rate = 20.0;
        let mut s = ArrivalSchedule::new(Some(rate), burstiness, 9, None).unwrap();
        let o = offsets(&mut s, 200_000);
        let (mean, cv) = mean_cv(&gaps(&o));
        assert!(
            (1.0 / mean / rate - 1.0).abs() < 0.02,
            "rate {}",
            1.0 / mean
        );
        assert!((cv / want_cv - 1.0).abs() < 0.05, "cv {cv}, want {want_cv}");
        assert!(o.windows(2).all(|w| w[0] <= w[1]), "offsets never go back");
    }

    #[rstest]
    #[case(1, 5.0)]
    #[case(10, 2.0)]
    #[case(1000, 50.0)]
    #[case(5000, 0.5)]
    fn known_count_lands_last_at_n_over_rate(#[case] n: u64, #[case] rate: f64) {
        let mut s = ArrivalSchedule::new(Some(rate), 1.0, 1, Some(n)).unwrap();
        let o = offsets(&mut s, n as usize);
        let want = n as f64 / rate;
        assert!(
            (o[n as usize - 1] - want).abs() < 1e-6 * want.max(1.0),
            "{o:?}"
        );
        // Past the count the schedule goes on, unscaled, at the same rate.
        let more = offsets(&mut s, 20_000);
        assert!(more[0] > want);
        let (mean, _) = mean_cv(&gaps(&more)[1..]);
        assert!((mean * rate - 1.0).abs() < 0.05, "{mean}");
    }

    #[test]
    fn infinite_burstiness_is_a_metronome() {
        let mut s = ArrivalSchedule::new(Some(4.0), f64::INFINITY, 0, None).unwrap();
        let g = gaps(&offsets(&mut s, 50));
        assert!(g.iter().all(|&x| (x - 0.25).abs() < 1e-9), "{g:?}");
    }

    #[test]
    fn same_seed_same_schedule() {
        let a = offsets(
            &mut ArrivalSchedule::new(Some(3.0), 1.5, 77, Some(500)).unwrap(),
            500,
        );
        let b = offsets(
            &mut ArrivalSchedule::new(Some(3.0), 1.5, 77, Some(500)).unwrap(),
            500,
        );
        let c = offsets(
            &mut ArrivalSchedule::new(Some(3.0), 1.5, 78, Some(500)).unwrap(),
            500,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn set_rate_continues_from_now_at_the_new_rate() {
        let mut s = ArrivalSchedule::new(Some(1.0), 1.0, 3, Some(100)).unwrap();
        offsets(&mut s, 10);
        let now = Duration::from_secs(42);
        s.set_rate(Some(100.0), now).unwrap();
        assert_eq!(s.rate(), Some(100.0));
        let o = offsets(&mut s, 50_000);
        assert!(o[0] > 42.0);
        let (mean, cv) = mean_cv(&gaps(&o)[1..]);
        assert!((mean * 100.0 - 1.0).abs() < 0.03, "{mean}");
        assert!((cv - 1.0).abs() < 0.05, "{cv}");
        // To inf: everything due at the moment of the change.
        s.set_rate(None, Duration::from_secs(600)).unwrap();
        assert!(offsets(&mut s, 5).iter().all(|&t| t == 600.0));
        // And back from inf.
        s.set_rate(Some(2.0), Duration::from_secs(700)).unwrap();
        assert!(s.next_offset() > Duration::from_secs(700));
    }

    /// A linear ramp from 2 to 20 req/s over 400 arrivals with a fixed interval: each gap is
    /// 1 / the ramp's rate for its arrival, and the whole ramp lasts the sum of those.
    #[test]
    fn a_ramp_draws_each_gap_at_its_arrivals_rate() {
        use crate::plan::RampStrategy;
        let ramp = RampUp {
            strategy: RampStrategy::Linear,
            start_rps: 2.0,
            end_rps: 20.0,
        };
        let mut s = ArrivalSchedule::ramped(ramp, f64::INFINITY, 0, 400).unwrap();
        assert_eq!(s.rate(), Some(2.0));
        let g = gaps(&offsets(&mut s, 400));
        for (i, got) in g.iter().enumerate() {
            let want = 1.0 / ramp.rate_at(i as u64, 400);
            assert!((got - want).abs() < 1e-9, "gap {i}: {got} want {want}");
        }
        assert_eq!(s.rate(), Some(20.0));
        // Poisson gaps on an exponential ramp: the first quarter is slow, the last fast.
        let exp = RampUp {
            strategy: RampStrategy::Exponential,
            start_rps: 1.0,
            end_rps: 100.0,
        };
        let mut s = ArrivalSchedule::ramped(exp, 1.0, 5, 4000).unwrap();
        let g = gaps(&offsets(&mut s, 4000));
        let (first, _) = mean_cv(&g[..1000]);
        let (last, _) = mean_cv(&g[3000..]);
        assert!(
            first > 10.0 * last,
            "first-quarter gap {first}, last {last}"
        );
    }

    #[rstest]
    #[case(Some(0.0), 1.0, "--request-rate '0' must be a positive number")]
    #[case(Some(-2.0), 1.0, "--request-rate '-2' must be a positive number")]
    #[case(Some(f64::NAN), 1.0, "--request-rate 'NaN' must be a positive number")]
    #[case(Some(1.0), 0.0, "--burstiness '0' must be a positive number")]
    #[case(Some(1.0), -1.0, "--burstiness '-1' must be a positive number")]
    #[case(Some(1.0), f64::NAN, "--burstiness 'NaN' must be a positive number")]
    fn invalid_settings_are_refused(#[case] rate: Option<f64>, #[case] b: f64, #[case] want: &str) {
        let err = ArrivalSchedule::new(rate, b, 0, None).unwrap_err();
        assert!(err.starts_with(want), "{err}");
        let mut ok = ArrivalSchedule::new(Some(1.0), 1.0, 0, None).unwrap();
        if b == 1.0 {
            let err = ok.set_rate(rate, Duration::ZERO).unwrap_err();
            assert!(err.starts_with(want), "{err}");
            assert_eq!(ok.rate(), Some(1.0), "a refused change keeps the old rate");
        }
    }
}
