//! Fault injection, the same for every fake: a seeded random share of 500s, 429s with
//! `Retry-After` and timeouts, plus `fail_next(n, status)`. Off by default.
//!
//! Faults are decided before the fake's own authentication and rate limiting, so an injected
//! fault does not use up a token's rate budget. Each decision draws one number from a
//! `StdRng` seeded with [`FaultConfig::seed`]: requests arriving in the same order get the same
//! faults.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::requests::{RequestLog, RequestSeq};

/// What an injected timeout does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeoutMode {
    /// The request is handled (its write lands) and the response is held back for
    /// [`FaultConfig::timeout_delay`]: the case where a client that gave up must not write
    /// twice when it retries.
    #[default]
    Processed,
    /// The request is not handled: after the delay the fake answers 504 Gateway Timeout.
    NotProcessed,
}

/// How often each fault is injected. Ratios are shares of all requests (to
/// [`path_prefixes`](Self::path_prefixes)) and must add up to at most 1.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Seed of the random draws.
    pub seed: u64,
    /// Share answered `500 Internal Server Error`.
    pub server_error_ratio: f64,
    /// Share answered `429 Too Many Requests` with `Retry-After`.
    pub rate_limit_ratio: f64,
    /// Share that times out (see [`timeout_mode`](Self::timeout_mode)).
    pub timeout_ratio: f64,
    /// `Retry-After` sent with injected 429s, in whole seconds.
    pub retry_after_secs: u64,
    /// How long an injected timeout holds the response; set it past the client's timeout.
    pub timeout_delay: Duration,
    pub timeout_mode: TimeoutMode,
    /// Only requests whose path starts with one of these get faults; empty means every path.
    pub path_prefixes: Vec<String>,
}

impl Default for FaultConfig {
    /// No faults; 1 s `Retry-After`; timeouts hold the response for 30 s.
    fn default() -> Self {
        Self {
            seed: 0,
            server_error_ratio: 0.0,
            rate_limit_ratio: 0.0,
            timeout_ratio: 0.0,
            retry_after_secs: 1,
            timeout_delay: Duration::from_secs(30),
            timeout_mode: TimeoutMode::Processed,
            path_prefixes: Vec::new(),
        }
    }
}

/// An injected fault, as recorded in the [`RequestLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    ServerError,
    RateLimited,
    Timeout,
    /// From [`Faults::fail_next`], with its status.
    Forced(u16),
}

/// How many faults were injected, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub server_errors: u64,
    pub rate_limited: u64,
    pub timeouts: u64,
    pub forced: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.server_errors + self.rate_limited + self.timeouts + self.forced
    }
}

/// A fake's fault switchboard; change it at any time while the fake runs.
#[derive(Debug)]
pub struct Faults {
    inner: Mutex<FaultsInner>,
}

#[derive(Debug)]
struct FaultsInner {
    config: FaultConfig,
    rng: StdRng,
    /// `fail_next` failures still to serve: (status, how many).
    forced: VecDeque<(u16, usize)>,
    counts: FaultCounts,
}

impl FaultsInner {
    fn next_forced(&mut self) -> Option<u16> {
        let (status, left) = self.forced.front_mut()?;
        let status = *status;
        *left -= 1;
        if *left == 0 {
            self.forced.pop_front();
        }
        Some(status)
    }
}

/// One request's fault and the settings it needs.
#[derive(Debug, Clone, Copy)]
struct Decision {
    fault: Fault,
    retry_after_secs: u64,
    timeout_delay: Duration,
    timeout_mode: TimeoutMode,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        Self {
            inner: Mutex::new(FaultsInner {
                rng: StdRng::seed_from_u64(config.seed),
                config,
                forced: VecDeque::new(),
                counts: FaultCounts::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultsInner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the configuration and reseeds the random draws. Pending `fail_next` failures
    /// and the counts are kept.
    pub fn configure(&self, config: FaultConfig) {
        let mut inner = self.lock();
        inner.rng = StdRng::seed_from_u64(config.seed);
        inner.config = config;
    }

    /// Stops random faults and drops pending `fail_next` failures.
    pub fn disable(&self) {
        let mut inner = self.lock();
        let seed = inner.config.seed;
        inner.config = FaultConfig {
            seed,
            ..FaultConfig::default()
        };
        inner.forced.clear();
    }

    /// Answers the next `n` requests (to the configured path prefixes) with `status`, before any
    /// random fault; a 429 carries `Retry-After`. `usize::MAX` means every request until
    /// [`disable`](Self::disable).
    pub fn fail_next(&self, n: usize, status: u16) {
        if n > 0 {
            self.lock().forced.push_back((status, n));
        }
    }

    /// Faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        self.lock().counts
    }

    /// The current configuration.
    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    fn decide(&self, path: &str) -> Option<Decision> {
        let mut inner = self.lock();
        let config = &inner.config;
        if !config.path_prefixes.is_empty() && !config.path_prefixes.iter().any(|p| path.starts_with(p.as_str())) {
            return None;
        }
        let (retry_after_secs, timeout_delay, timeout_mode) =
            (config.retry_after_secs, config.timeout_delay, config.timeout_mode);
        let (p500, p429, ptimeout) = (config.server_error_ratio, config.rate_limit_ratio, config.timeout_ratio);
        let fault = if let Some(status) = inner.next_forced() {
            inner.counts.forced += 1;
            Fault::Forced(status)
        } else if p500 + p429 + ptimeout > 0.0 {
            let draw: f64 = inner.rng.random();
            if draw < p500 {
                inner.counts.server_errors += 1;
                Fault::ServerError
            } else if draw < p500 + p429 {
                inner.counts.rate_limited += 1;
                Fault::RateLimited
            } else if draw < p500 + p429 + ptimeout {
                inner.counts.timeouts += 1;
                Fault::Timeout
            } else {
                return None;
            }
        } else {
            return None;
        };
        Some(Decision {
            fault,
            retry_after_secs,
            timeout_delay,
            timeout_mode,
        })
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(FaultConfig::default())
    }
}

/// Renders a fake's own error body for an injected status (500, 429, 504 or a forced one).
pub(crate) type FaultResponder = fn(StatusCode) -> Response;

/// State of the fault middleware.
pub(crate) struct FaultLayer {
    pub(crate) faults: Arc<Faults>,
    pub(crate) log: Arc<RequestLog>,
    pub(crate) respond: FaultResponder,
}

fn with_retry_after(mut response: Response, secs: u64) -> Response {
    response.headers_mut().insert("retry-after", HeaderValue::from(secs));
    response
}

/// Injects the decided fault, if any, in front of the fake's handlers.
pub(crate) async fn inject(State(layer): State<Arc<FaultLayer>>, req: Request, next: Next) -> Response {
    let Some(decision) = layer.faults.decide(req.uri().path()) else {
        return next.run(req).await;
    };
    if let Some(RequestSeq(seq)) = req.extensions().get::<RequestSeq>().copied() {
        layer.log.set_fault(seq, decision.fault);
    }
    let status = |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match decision.fault {
        Fault::ServerError => (layer.respond)(StatusCode::INTERNAL_SERVER_ERROR),
        Fault::RateLimited => with_retry_after(
            (layer.respond)(StatusCode::TOO_MANY_REQUESTS),
            decision.retry_after_secs,
        ),
        Fault::Forced(code) if code == 429 => {
            with_retry_after((layer.respond)(status(code)), decision.retry_after_secs)
        }
        Fault::Forced(code) => (layer.respond)(status(code)),
        Fault::Timeout => match decision.timeout_mode {
            TimeoutMode::Processed => {
                let response = next.run(req).await;
                tokio::time::sleep(decision.timeout_delay).await;
                response
            }
            TimeoutMode::NotProcessed => {
                tokio::time::sleep(decision.timeout_delay).await;
                (layer.respond)(StatusCode::GATEWAY_TIMEOUT)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(faults: &Faults, n: usize) -> Vec<Option<Fault>> {
        (0..n).map(|_| faults.decide("/x").map(|d| d.fault)).collect()
    }

    #[test]
    fn no_faults_by_default() {
        let faults = Faults::default();
        assert!(sequence(&faults, 1000).iter().all(Option::is_none));
        assert_eq!(faults.counts(), FaultCounts::default());
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let config = FaultConfig {
            seed: 42,
            server_error_ratio: 0.2,
            rate_limit_ratio: 0.1,
            timeout_ratio: 0.05,
            ..FaultConfig::default()
        };
        let a = Faults::new(config.clone());
        let b = Faults::new(config.clone());
        assert_eq!(sequence(&a, 500), sequence(&b, 500));
        let c = Faults::new(FaultConfig { seed: 43, ..config });
        assert_ne!(sequence(&a, 500), sequence(&c, 500));
    }

    #[test]
    fn forced_failures_come_first_then_random_ones_resume() {
        let faults = Faults::new(FaultConfig {
            server_error_ratio: 1.0,
            ..FaultConfig::default()
        });
        faults.fail_next(2, 503);
        assert_eq!(
            sequence(&faults, 3),
            vec![
                Some(Fault::Forced(503)),
                Some(Fault::Forced(503)),
                Some(Fault::ServerError)
            ]
        );
        assert_eq!(faults.counts().forced, 2);
        assert_eq!(faults.counts().server_errors, 1);
    }

    #[test]
    fn path_prefixes_limit_where_faults_land() {
        let faults = Faults::new(FaultConfig {
            server_error_ratio: 1.0,
            path_prefixes: vec!["/crm/".into()],
            ..FaultConfig::default()
        });
        assert!(faults.decide("/oauth/v1/token").is_none());
        assert!(faults.decide("/crm/v3/objects/contacts").is_some());
    }

    #[test]
    fn disable_stops_random_and_pending_faults() {
        let faults = Faults::new(FaultConfig {
            timeout_ratio: 1.0,
            ..FaultConfig::default()
        });
        faults.fail_next(5, 500);
        faults.disable();
        assert!(sequence(&faults, 10).iter().all(Option::is_none));
    }
}
