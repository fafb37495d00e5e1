//! What a verifier is given: the request and the verification options.

use std::time::{SystemTime, UNIX_EPOCH};

use super::headers::Headers;

/// Default clock tolerance for timestamped schemes, in seconds (every provider SDK uses 5 min).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Everything a verifier may look at.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// HTTP method as received, e.g. `POST`.
    pub method: &'a str,
    /// The full URL as the provider requested it (`scheme://host/path?query`), needed by
    /// HubSpot v2/v3 and Twilio, which sign it.
    pub url: &'a str,
    /// Request headers.
    pub headers: &'a Headers,
    /// The raw body bytes exactly as received.
    pub body: &'a [u8],
}

/// Clock and tolerance used by timestamped schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Current time, unix seconds.
    pub now: i64,
    /// Largest accepted distance between the signed timestamp and `now`, in either
    /// direction. A distance exactly equal to the tolerance passes.
    pub tolerance_secs: u64,
}

impl VerifyOptions {
    /// Options with a fixed clock and the default tolerance (for tests and replays).
    pub fn at(now: i64) -> Self {
        Self {
            now,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

impl Default for VerifyOptions {
    /// The system clock and [`DEFAULT_TOLERANCE_SECS`].
    fn default() -> Self {
        let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(elapsed) => i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
            // A clock before 1970 is broken; every timestamped request will then be rejected
            // as too far in the future, which is the safe outcome.
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        };
        Self::at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_use_the_system_clock_and_five_minutes() {
        let options = VerifyOptions::default();
        assert_eq!(options.tolerance_secs, 300);
        // 2020-01-01; the clock on any machine running these tests is later.
        assert!(options.now > 1_577_836_800);
    }
}
