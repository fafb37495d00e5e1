//! Counters a [`ConnectorClient`](super::ConnectorClient) keeps as it works: requests sent,
//! retries, rate-limited responses and the time the pacer held requests back. They cost a
//! relaxed atomic add per request; callers read a [`StatsSnapshot`] to report progress
//! (`switchyard connectors read` prints them) or share one [`ClientStats`] between clients
//! with [`ConnectorClient::with_stats`](super::ConnectorClient::with_stats).
//!
//! Token endpoint calls of OAuth refreshes are not counted: they are not requests to the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters; see the module docs.
#[derive(Debug, Default)]
pub struct ClientStats {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    rate_limit_waits: AtomicU64,
    rate_limit_wait_micros: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP requests sent to the API (retries included).
    pub requests: u64,
    /// Requests repeated after a transient failure, a rate limit or a token refresh.
    pub retries: u64,
    /// Responses the definition's error rules classed as rate-limited (429s).
    pub rate_limited: u64,
    /// Times the pacer held a request back (the rate-limit budget, Retry-After, a provider's
    /// remaining-budget header).
    pub rate_limit_waits: u64,
    /// Total time requests were held back.
    pub rate_limit_wait: Duration,
}

impl ClientStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            rate_limit_waits: self.rate_limit_waits.load(Ordering::Relaxed),
            rate_limit_wait: Duration::from_micros(self.rate_limit_wait_micros.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn request_sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// The pacer held a request back for `wait` (nothing is counted for a zero wait).
    pub(crate) fn paced(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        self.rate_limit_waits.fetch_add(1, Ordering::Relaxed);
        self.rate_limit_wait_micros
            .fetch_add(wait.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_retries_and_only_real_waits() {
        let stats = ClientStats::new();
        stats.request_sent();
        stats.request_sent();
        stats.retried();
        stats.rate_limited();
        stats.paced(Duration::ZERO);
        stats.paced(Duration::from_millis(250));
        stats.paced(Duration::from_millis(750));
        assert_eq!(
            stats.snapshot(),
            StatsSnapshot {
                requests: 2,
                retries: 1,
                rate_limited: 1,
                rate_limit_waits: 2,
                rate_limit_wait: Duration::from_secs(1),
            }
        );
    }
}
