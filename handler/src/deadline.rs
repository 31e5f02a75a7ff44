//! The time an operation must be done by, on tokio's clock (so tests can pause it).
//!
//! Every retry and wait in the adapters is budgeted against one of these: no attempt
//! outlives it, and the protocol layer answers `FAILED` a little after it passes (for a
//! hang), so work after it is wasted.

use std::time::Duration;

use tokio::time::Instant;

/// The least time an attempt after a wait must have: a request and its answer.
const ATTEMPT_ROOM: Duration = Duration::from_millis(100);

/// When the work must be done by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline at `instant`.
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// The instant.
    pub fn instant(self) -> Instant {
        self.0
    }

    /// Time left (zero once passed).
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether a wait of `pause` still leaves time for an attempt after it: a retry that
    /// would wake at the deadline could only report that no time was left, instead of
    /// the failure it waited out.
    pub fn allows(self, pause: Duration) -> bool {
        Instant::now() + pause + ATTEMPT_ROOM < self.0
    }
}
