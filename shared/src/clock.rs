//! Time as a dependency, so tests can pin it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Deadlines below this (2001-09-09 in Unix milliseconds) cannot be a Unix time.
const UNIX_MS_FLOOR: u64 = 1_000_000_000_000;

/// How long an invocation has left, from the Runtime API's `Lambda-Runtime-Deadline-Ms`.
///
/// Lambda sends a Unix time in milliseconds. `cargo lambda watch` (1.9) sends its timeout
/// (600000) instead, which read as a Unix time is long past and would make every handler think
/// its time is up (sync jobs handing over at once, forever). A value too small to be a Unix time
/// is therefore read as the time left.
pub fn time_left(deadline_ms: u64, now_ms: u64) -> std::time::Duration {
    if deadline_ms < UNIX_MS_FLOOR {
        std::time::Duration::from_millis(deadline_ms)
    } else {
        std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    }
}

/// The invocation's deadline as an `Instant` (see [`time_left`]).
pub fn invocation_deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    std::time::Instant::now() + time_left(deadline_ms, now_ms)
}

/// Where handlers read the current time from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that says what it is told: for tests and for `--now` in the CLI.
#[derive(Debug, Default, Clone)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    pub fn at(unix: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix)))
    }
    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::SeqCst)
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The shared clock handle handlers take.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod deadline_tests {
    use super::time_left;
    use std::time::Duration;

    const NOW_MS: u64 = 1_795_328_000_000;

    #[test]
    fn a_unix_deadline_leaves_the_difference() {
        assert_eq!(time_left(NOW_MS + 900_000, NOW_MS), Duration::from_secs(900));
        assert_eq!(time_left(NOW_MS - 5, NOW_MS), Duration::ZERO);
    }

    #[test]
    fn cargo_lambda_watch_sends_its_timeout_which_is_read_as_the_time_left() {
        assert_eq!(time_left(600_000, NOW_MS), Duration::from_secs(600));
    }
}
