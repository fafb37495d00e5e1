//! Rolling-window rate limits: at most `limit` requests in any `window`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A request budget: `limit` requests per rolling `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in any window.
    pub limit: u32,
    /// Length of the rolling window.
    pub window: Duration,
}

impl RateLimit {
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }
}

/// Whether a request fits the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Admitted; `remaining` more fit in the current window.
    Allowed { remaining: u32 },
    /// Over the budget; the oldest counted request leaves the window after `retry_after`.
    Limited { retry_after: Duration },
}

/// The admitted requests of one budget holder (a token, a channel) inside the window.
#[derive(Debug, Default)]
pub(crate) struct RollingWindow {
    hits: VecDeque<Instant>,
}

impl RollingWindow {
    /// Admits a request at `now` if fewer than `limit.limit` were admitted in the last
    /// `limit.window`. Rejected requests are not counted, so a client that backs off recovers
    /// once the window has rolled past its earlier requests.
    pub(crate) fn admit(&mut self, limit: &RateLimit, now: Instant) -> Admission {
        self.prune(limit.window, now);
        if self.hits.len() >= limit.limit as usize {
            let retry_after = self.hits.front().map_or(limit.window, |oldest| {
                (*oldest + limit.window).saturating_duration_since(now)
            });
            return Admission::Limited { retry_after };
        }
        self.hits.push_back(now);
        Admission::Allowed {
            remaining: limit.limit - self.hits.len() as u32,
        }
    }

    fn prune(&mut self, window: Duration, now: Instant) {
        while let Some(oldest) = self.hits.front() {
            if now.saturating_duration_since(*oldest) >= window {
                self.hits.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_limit_then_rejects_until_the_window_rolls() {
        let limit = RateLimit::new(3, Duration::from_secs(10));
        let mut window = RollingWindow::default();
        let t0 = Instant::now();
        assert_eq!(window.admit(&limit, t0), Admission::Allowed { remaining: 2 });
        assert_eq!(
            window.admit(&limit, t0 + Duration::from_secs(1)),
            Admission::Allowed { remaining: 1 }
        );
        assert_eq!(
            window.admit(&limit, t0 + Duration::from_secs(2)),
            Admission::Allowed { remaining: 0 }
        );
        assert_eq!(
            window.admit(&limit, t0 + Duration::from_secs(4)),
            Admission::Limited {
                retry_after: Duration::from_secs(6)
            }
        );
        // The first request leaves the window at t0 + 10 s.
        assert_eq!(
            window.admit(&limit, t0 + Duration::from_secs(10)),
            Admission::Allowed { remaining: 0 }
        );
    }

    #[test]
    fn a_zero_limit_rejects_everything() {
        let limit = RateLimit::new(0, Duration::from_secs(1));
        let mut window = RollingWindow::default();
        assert!(matches!(
            window.admit(&limit, Instant::now()),
            Admission::Limited { .. }
        ));
    }
}
