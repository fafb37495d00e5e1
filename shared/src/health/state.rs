//! The connection state machine and circuit breaker: a pure function from the stored health
//! record and one check outcome to the next record and, when something changed, the transition
//! to alert about.
//!
//! * State: `healthy` -> `degraded` (a failure, or a slow answer) -> `down` (the circuit
//!   opened) or `needs_reauth` (the credentials were refused). Back to `healthy` only after
//!   [`HealthPolicy::recovery_successes`] good checks in a row, so a flapping connection stays
//!   `degraded` instead of alerting on every tick.
//! * Circuit: `closed` -> `open` after [`HealthPolicy::failure_threshold`] consecutive failures,
//!   or a failure ratio of at least [`HealthPolicy::failure_ratio`] over the last
//!   [`HealthPolicy::window`] checks (once [`HealthPolicy::min_samples`] are in), or at once on
//!   a refused credential. `open` -> `half_open` when the cool-down has passed: exactly one probe
//!   (the next check) decides: success closes it, failure opens it again for another cool-down.

use serde::{Deserialize, Serialize};

/// How a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    #[default]
    Healthy,
    /// Slow or intermittently failing.
    Degraded,
    /// The circuit is open: syncs are deferred.
    Down,
    /// The provider refused the credentials: a person must reconnect.
    NeedsReauth,
}

impl ConnectionState {
    pub fn name(self) -> &'static str {
        match self {
            ConnectionState::Healthy => "healthy",
            ConnectionState::Degraded => "degraded",
            ConnectionState::Down => "down",
            ConnectionState::NeedsReauth => "needs_reauth",
        }
    }

    /// A number for the state metric (0 is best).
    pub fn code(self) -> f64 {
        match self {
            ConnectionState::Healthy => 0.0,
            ConnectionState::Degraded => 1.0,
            ConnectionState::Down => 2.0,
            ConnectionState::NeedsReauth => 3.0,
        }
    }
}

/// The circuit breaker of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn name(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// Thresholds of the state machine and the breaker (environment of the health checker).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPolicy {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// Checks remembered for the failure ratio.
    pub window: usize,
    /// Failure share of the window that opens the circuit.
    pub failure_ratio: f64,
    /// Checks needed in the window before the ratio counts.
    pub min_samples: usize,
    /// Seconds an open circuit waits before its half-open probe.
    pub cool_down_secs: i64,
    /// Seconds an open circuit waits after a refused credential (a person has to act).
    pub reauth_cool_down_secs: i64,
    /// A check slower than this makes the connection `degraded`.
    pub slow_ms: u64,
    /// Good checks in a row that bring a degraded connection back to `healthy`.
    pub recovery_successes: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            window: 10,
            failure_ratio: 0.5,
            min_samples: 6,
            cool_down_secs: 300,
            reauth_cool_down_secs: 3600,
            slow_ms: 3000,
            recovery_successes: 3,
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckOutcome {
    Ok {
        latency_ms: u64,
    },
    Failed {
        latency_ms: u64,
        error: String,
        reauth: bool,
    },
}

impl CheckOutcome {
    pub fn latency_ms(&self) -> u64 {
        match self {
            CheckOutcome::Ok { latency_ms } | CheckOutcome::Failed { latency_ms, .. } => *latency_ms,
        }
    }
}

/// The health attributes stored on a connection item (attribute `health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HealthRecord {
    #[serde(default)]
    pub state: ConnectionState,
    /// Unix seconds the state was entered.
    #[serde(default)]
    pub state_since: i64,
    #[serde(default)]
    pub circuit: CircuitState,
    #[serde(default)]
    pub circuit_since: i64,
    /// When an open circuit may half-open (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_until: Option<i64>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub consecutive_successes: u32,
    /// Recent outcomes, oldest first: `true` a success.
    #[serde(default)]
    pub recent: Vec<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<i64>,
    /// The last failure's message (safe to show: connector errors never carry secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<i64>,
    /// When the health checker last refreshed the OAuth token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_refreshed_at: Option<i64>,
    /// An alert whose delivery failed: the next run sends it again (a newer transition
    /// replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_alert: Option<Transition>,
    /// The connection's webhook subscriptions at the provider that the health checker renews
    /// (`webhooks.renewal`), by subscription id.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub subscriptions: std::collections::BTreeMap<String, SubscriptionRenewal>,
    /// Bumped on every write: the conditional update that keeps overlapping runs apart.
    #[serde(default)]
    pub version: u64,
}

/// One provider subscription as the health checker last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SubscriptionRenewal {
    /// Unix seconds it expires (as the provider last answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// When the health checker last renewed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<i64>,
    /// Why the last renewal failed (cleared by a renewal that succeeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure's alert went out (one alert per failing episode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alerted: bool,
}

/// A change worth one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: ConnectionState,
    pub to: ConnectionState,
    pub circuit_from: CircuitState,
    pub circuit_to: CircuitState,
    /// Unix seconds the previous state had held since.
    pub previous_since: i64,
    pub at: i64,
    pub last_error: Option<String>,
}

impl HealthRecord {
    /// Whether the circuit keeps syncs back at `now`, and until when (unix seconds).
    pub fn defer_until(&self, now: i64) -> Option<i64> {
        match self.circuit {
            CircuitState::Closed => None,
            // Open: until the cool-down ends; after it (and while the probe runs), a little
            // longer, until the health checker has closed it.
            CircuitState::Open | CircuitState::HalfOpen => Some(self.open_until.unwrap_or(now).max(now + 60)),
        }
    }

    /// Whether the checker should skip this connection at `now` (open, cool-down running).
    pub fn cooling_down(&self, now: i64) -> bool {
        self.circuit == CircuitState::Open && self.open_until.is_some_and(|t| now < t)
    }

    fn failure_share(&self) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        self.recent.iter().filter(|ok| !**ok).count() as f64 / self.recent.len() as f64
    }
}

/// The record after `outcome` at `now`, and the transition to alert about, if any.
pub fn apply(
    prev: &HealthRecord,
    outcome: &CheckOutcome,
    now: i64,
    policy: &HealthPolicy,
) -> (HealthRecord, Option<Transition>) {
    let mut next = prev.clone();
    // A due open circuit is half-open for this probe.
    if next.circuit == CircuitState::Open && !next.cooling_down(now) {
        next.circuit = CircuitState::HalfOpen;
        next.circuit_since = now;
    }
    next.last_check_at = Some(now);
    next.last_latency_ms = Some(outcome.latency_ms());
    next.recent.push(matches!(outcome, CheckOutcome::Ok { .. }));
    let excess = next.recent.len().saturating_sub(policy.window.max(1));
    next.recent.drain(..excess);

    let open = |rec: &mut HealthRecord, cool_down: i64| {
        if rec.circuit != CircuitState::Open {
            rec.circuit_since = now;
        }
        rec.circuit = CircuitState::Open;
        rec.open_until = Some(now + cool_down);
    };

    let state = match outcome {
        CheckOutcome::Ok { latency_ms } => {
            next.consecutive_failures = 0;
            next.consecutive_successes += 1;
            next.last_success_at = Some(now);
            if next.circuit != CircuitState::Closed {
                next.circuit = CircuitState::Closed;
                next.circuit_since = now;
                next.open_until = None;
                // A fresh start: old failures must not trip the ratio again at once.
                next.recent = vec![true];
            }
            let slow = *latency_ms > policy.slow_ms;
            let settled = next.consecutive_successes >= policy.recovery_successes;
            match prev.state {
                _ if slow => ConnectionState::Degraded,
                ConnectionState::Healthy => ConnectionState::Healthy,
                _ if settled => ConnectionState::Healthy,
                _ => ConnectionState::Degraded,
            }
        }
        CheckOutcome::Failed { error, reauth, .. } => {
            next.consecutive_successes = 0;
            next.consecutive_failures += 1;
            next.last_error = Some(error.clone());
            next.last_error_at = Some(now);
            if *reauth {
                open(&mut next, policy.reauth_cool_down_secs);
                ConnectionState::NeedsReauth
            } else {
                let ratio_trips =
                    next.recent.len() >= policy.min_samples && next.failure_share() >= policy.failure_ratio;
                let trips = next.circuit == CircuitState::HalfOpen
                    || next.circuit == CircuitState::Open
                    || next.consecutive_failures >= policy.failure_threshold
                    || ratio_trips;
                if trips {
                    open(&mut next, policy.cool_down_secs);
                    ConnectionState::Down
                } else {
                    ConnectionState::Degraded
                }
            }
        }
    };
    if state != prev.state {
        next.state = state;
        next.state_since = now;
    }
    next.version = prev.version + 1;
    let changed = next.state != prev.state || circuit_alertable(prev.circuit, next.circuit);
    if changed {
        next.pending_alert = None; // superseded by this transition's own alert
    }
    let transition = changed.then(|| Transition {
        from: prev.state,
        to: next.state,
        circuit_from: prev.circuit,
        circuit_to: next.circuit,
        previous_since: prev.state_since,
        at: now,
        last_error: next.last_error.clone(),
    });
    (next, transition)
}

/// Circuit moves worth an alert on their own: opening and closing. (Half-open exists only for
/// the duration of a probe and is never stored between runs.)
fn circuit_alertable(from: CircuitState, to: CircuitState) -> bool {
    let is_open = |c: CircuitState| c != CircuitState::Closed;
    is_open(from) != is_open(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> CheckOutcome {
        CheckOutcome::Ok { latency_ms: ms }
    }
    fn fail() -> CheckOutcome {
        CheckOutcome::Failed {
            latency_ms: 5,
            error: "HTTP 500".into(),
            reauth: false,
        }
    }

    fn run(outcomes: &[CheckOutcome], policy: &HealthPolicy) -> (HealthRecord, Vec<Transition>) {
        let mut rec = HealthRecord::default();
        let mut transitions = vec![];
        for (i, o) in outcomes.iter().enumerate() {
            let now = 1000 + i as i64 * 60;
            if rec.cooling_down(now) {
                continue;
            }
            let (next, t) = apply(&rec, o, now, policy);
            rec = next;
            transitions.extend(t);
        }
        (rec, transitions)
    }

    #[test]
    fn consecutive_failures_open_the_circuit_and_the_connection_is_down() {
        let p = HealthPolicy::default();
        let (rec, ts) = run(&[ok(10), fail(), fail(), fail()], &p);
        assert_eq!(rec.state, ConnectionState::Down);
        assert_eq!(rec.circuit, CircuitState::Open);
        assert_eq!(rec.open_until, Some(1000 + 3 * 60 + p.cool_down_secs));
        let states: Vec<_> = ts.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            states,
            vec![
                (ConnectionState::Healthy, ConnectionState::Degraded),
                (ConnectionState::Degraded, ConnectionState::Down)
            ]
        );
        assert_eq!(ts[1].last_error.as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn flapping_stays_degraded_without_alerts_until_the_ratio_opens_the_circuit() {
        let p = HealthPolicy::default();
        let flaps: Vec<_> = (0..5).flat_map(|_| [fail(), ok(10)]).collect();
        let (rec, ts) = run(&flaps[..5], &p);
        assert_eq!(rec.state, ConnectionState::Degraded);
        assert_eq!(ts.len(), 1, "one alert for healthy -> degraded, none per flap: {ts:?}");
        // The sixth sample brings the window to its minimum with half of it failed.
        let (rec, ts) = run(&flaps[..7], &p);
        assert_eq!((rec.state, rec.circuit), (ConnectionState::Down, CircuitState::Open));
        assert_eq!(ts.len(), 2);
    }

    #[test]
    fn an_open_circuit_half_opens_after_the_cool_down_and_one_good_probe_closes_it() {
        let p = HealthPolicy::default();
        let (rec, _) = run(&[fail(), fail(), fail()], &p);
        let t0 = rec.last_check_at.unwrap();
        assert!(rec.cooling_down(t0 + p.cool_down_secs - 1));
        assert_eq!(rec.defer_until(t0 + 10), Some(t0 + p.cool_down_secs));
        // A failed probe: open again for another cool-down, no new alert (still down).
        let later = t0 + p.cool_down_secs;
        let (again, t) = apply(&rec, &fail(), later, &p);
        assert_eq!(again.circuit, CircuitState::Open);
        assert_eq!(again.open_until, Some(later + p.cool_down_secs));
        assert!(t.is_none());
        // A good probe closes it: degraded until it has proven itself.
        let (closed, t) = apply(&again, &ok(10), later + p.cool_down_secs, &p);
        assert_eq!(
            (closed.circuit, closed.state),
            (CircuitState::Closed, ConnectionState::Degraded)
        );
        assert_eq!(t.unwrap().circuit_to, CircuitState::Closed);
        assert_eq!(closed.defer_until(later + p.cool_down_secs), None);
        let (r2, t2) = apply(&closed, &ok(10), later + p.cool_down_secs + 60, &p);
        assert!(t2.is_none());
        let (r3, t3) = apply(&r2, &ok(10), later + p.cool_down_secs + 120, &p);
        assert_eq!(r3.state, ConnectionState::Healthy);
        assert_eq!(t3.unwrap().to, ConnectionState::Healthy);
    }

    #[test]
    fn refused_credentials_need_reauth_and_open_the_circuit_for_longer() {
        let p = HealthPolicy::default();
        let (rec, t) = apply(
            &HealthRecord::default(),
            &CheckOutcome::Failed {
                latency_ms: 3,
                error: "the OAuth token endpoint refused the refresh-token grant".into(),
                reauth: true,
            },
            100,
            &p,
        );
        assert_eq!(
            (rec.state, rec.circuit),
            (ConnectionState::NeedsReauth, CircuitState::Open)
        );
        assert_eq!(rec.open_until, Some(100 + p.reauth_cool_down_secs));
        assert_eq!(t.unwrap().to, ConnectionState::NeedsReauth);
    }

    #[test]
    fn slow_answers_degrade_and_steady_good_ones_do_not_alert() {
        let p = HealthPolicy::default();
        let (rec, ts) = run(&[ok(10), ok(10), ok(p.slow_ms + 1)], &p);
        assert_eq!(rec.state, ConnectionState::Degraded);
        assert_eq!(ts.len(), 1);
        let (_, ts) = run(&vec![ok(10); 8], &p);
        assert!(ts.is_empty());
    }
}
