//! The load engine: schedules requests (closed and open loop), obeys `Command`s.

/// What the faces may ask of a running engine. Keys in the dashboard become these.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Set the concurrency cap (`None`: uncapped).
    SetConcurrency(Option<u32>),
    /// Add to (or subtract from) the concurrency cap; never below 1.
    AdjustConcurrency(i32),
    /// Set the request rate (`None`: infinite).
    SetRate(Option<f64>),
    /// Multiply the request rate (an infinite rate becomes finite at the achieved rate first).
    ScaleRate(f64),
    /// Stop sending new requests; in-flight ones finish.
    Pause,
    Resume,
    TogglePause,
    /// Stop sending, let in-flight requests finish (or be cancelled), then end the run.
    Stop,
}
