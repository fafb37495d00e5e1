//! What to do about a failed attempt: retry later (with which delay) or park. Pure.
//!
//! The class of a failure comes from the one classification, [`ErrorClass`]; this module only
//! maps connector-sync's errors onto it and turns a class and an attempt number into a decision.

use std::time::Duration;

use crate::connector::ErrorClass;
use crate::queue::{AttemptRecord, Envelope, MAX_DELAY_SECS};
use crate::sync::SyncError;

use super::RetryPolicy;

/// Longest error text kept per attempt.
const MAX_ERROR_CHARS: usize = 500;

/// The class of a connector-sync failure: a connector's own class; AWS trouble (DynamoDB, SQS,
/// Secrets Manager) as its classification says ([`crate::aws::classify_sdk_error`]): throttling
/// as rate-limited, 5xx and timeouts as transient, validation and missing resources as permanent;
/// anything else (a missing flow, a broken mapping) as permanent. Agrees with
/// [`SyncError::is_retriable`].
pub fn classify(error: &SyncError) -> ErrorClass {
    use crate::aws::AwsFailure;
    let aws = match error {
        SyncError::Connector(e) => return e.class,
        SyncError::Store(crate::store::StoreError::Dynamo { failure, .. }) => Some(*failure),
        SyncError::Secret(crate::secrets::SecretError::Aws { failure, .. }) => Some(*failure),
        SyncError::Queue(e) => Some(e.failure),
        _ => None,
    };
    match aws {
        Some(AwsFailure::Throttled) => ErrorClass::RateLimited { retry_after: None },
        Some(AwsFailure::Transient) => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// Why a message was parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkReason {
    /// Retrying cannot help (bad input, missing permission, bad configuration).
    Permanent,
    /// The connection's credentials are refused: a person must re-authorise it.
    ReAuth,
    /// A retriable failure, but the schedule's attempts are used up.
    Exhausted,
}

impl ParkReason {
    pub fn name(self) -> &'static str {
        match self {
            ParkReason::Permanent => "permanent",
            ParkReason::ReAuth => "reauth",
            ParkReason::Exhausted => "exhausted",
        }
    }
}

/// The outcome for one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Try again as attempt `next_attempt` (always `failed_attempt + 1`) after `delay`.
    Retry { next_attempt: u32, delay: Duration },
    /// Stop: park the message where people can see and replay it.
    Park(ParkReason),
}

/// Decides about failed attempt `failed_attempt` of class `class`. `draw` is the jitter's random
/// number in [0, 1). Every outcome either raises the attempt count or is terminal.
pub fn decide(policy: &RetryPolicy, class: ErrorClass, failed_attempt: u32, draw: f64) -> Decision {
    match class {
        ErrorClass::Permanent => Decision::Park(ParkReason::Permanent),
        ErrorClass::ReAuth => Decision::Park(ParkReason::ReAuth),
        ErrorClass::Transient | ErrorClass::RateLimited { .. } => {
            match policy.schedule.delay(failed_attempt, class.retry_after(), draw) {
                Some(delay) => Decision::Retry {
                    next_attempt: failed_attempt.saturating_add(1),
                    delay,
                },
                None => Decision::Park(ParkReason::Exhausted),
            }
        }
    }
}

/// A failed attempt as the history records it.
pub fn attempt_record(attempt: u32, at: i64, class: &str, error: &str, delay: Option<Duration>) -> AttemptRecord {
    AttemptRecord {
        attempt,
        at,
        class: class.to_string(),
        error: crate::connector::errors::short_text(error, MAX_ERROR_CHARS),
        delay_secs: delay.map(|d| d.as_secs_f64().ceil() as u64),
    }
}

/// A retry ready to send: the next envelope and the `DelaySeconds` to send it with.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledRetry {
    pub envelope: Envelope,
    pub delay_secs: u64,
}

/// The envelope of the next attempt: attempt raised, the failure appended to the history, and
/// for delays over SQS's 900 s a `not_before` that the consumers honour by re-sending (hops).
/// `scale` multiplies the delay (1 in production; tests fast-forward with 0).
pub fn next_attempt(
    envelope: &Envelope,
    failure: AttemptRecord,
    next_attempt: u32,
    delay: Duration,
    scale: f64,
    now: i64,
) -> ScheduledRetry {
    let secs = (delay.as_secs_f64() * scale.max(0.0)).ceil() as u64;
    let mut next = envelope.clone();
    next.message.set_attempt(next_attempt);
    next.history.push(failure);
    next.not_before = (secs > MAX_DELAY_SECS).then(|| now.saturating_add(secs as i64));
    ScheduledRetry {
        envelope: next,
        delay_secs: secs.min(MAX_DELAY_SECS),
    }
}

/// For a message that arrived before its `not_before`: the delay of the next hop.
pub fn hop_delay(envelope: &Envelope, now: i64) -> Option<u64> {
    let due = envelope.not_before?;
    (due > now).then(|| ((due - now) as u64).min(MAX_DELAY_SECS))
}

/// Most deferrals for a spent quota before the message is treated as an ordinary rate-limited
/// failure (attempts counted, then parked): 48 at an hour each is two days.
pub const MAX_QUOTA_DEFERRALS: u32 = 48;

/// The message put off by `wait` because a connection's long-window quota is spent: same
/// attempt and history, one more deferral, and a `not_before` for waits past SQS's 900 s.
/// Returns the envelope and the `DelaySeconds` to send it with; `None` once the deferrals are
/// used up. `scale` multiplies the wait as it does retry delays (1 in production).
pub fn quota_deferral(envelope: &Envelope, wait: Duration, scale: f64, now: i64) -> Option<ScheduledRetry> {
    if envelope.deferrals >= MAX_QUOTA_DEFERRALS {
        return None;
    }
    let secs = (wait.as_secs_f64() * scale.max(0.0)).ceil() as u64;
    let mut next = envelope.clone();
    next.deferrals += 1;
    next.not_before = (secs > MAX_DELAY_SECS).then(|| now.saturating_add(secs as i64));
    Some(ScheduledRetry {
        envelope: next,
        delay_secs: secs.min(MAX_DELAY_SECS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{ConnectorError, ErrorKind};
    use crate::queue::{SyncJobRef, SyncMessage};
    use crate::retry::RetrySchedule;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn a_spent_quota_defers_the_same_attempt_until_it_is_back_and_only_so_often() {
        let mut envelope = Envelope::new(SyncMessage::SyncJob(SyncJobRef {
            flow_id: "f".into(),
            job_id: "j".into(),
            attempt: 2,
        }));
        let short = quota_deferral(&envelope, Duration::from_secs(120), 1.0, 1_000).unwrap();
        assert_eq!((short.delay_secs, short.envelope.not_before), (120, None));
        assert_eq!((short.envelope.message.attempt(), short.envelope.deferrals), (2, 1));
        assert!(short.envelope.history.is_empty(), "a deferral is not a failed attempt");
        let long = quota_deferral(&short.envelope, Duration::from_secs(3_600), 1.0, 1_000).unwrap();
        assert_eq!((long.delay_secs, long.envelope.not_before), (900, Some(4_600)));
        assert_eq!(long.envelope.deferrals, 2);
        envelope.deferrals = MAX_QUOTA_DEFERRALS;
        let fast = quota_deferral(&long.envelope, Duration::from_secs(3_600), 0.0, 1_000).unwrap();
        assert_eq!(
            (fast.delay_secs, fast.envelope.not_before),
            (0, None),
            "tests fast-forward"
        );
        assert!(quota_deferral(&envelope, Duration::from_secs(60), 1.0, 1_000).is_none());
    }

    fn envelope() -> Envelope {
        Envelope::new(SyncMessage::SyncJob(SyncJobRef {
            flow_id: "f".into(),
            job_id: "j".into(),
            attempt: 0,
        }))
    }

    #[test]
    fn sync_errors_map_onto_the_one_classification() {
        let conn = |class| SyncError::Connector(ConnectorError::new(class, ErrorKind::Http, "x"));
        assert_eq!(classify(&conn(ErrorClass::ReAuth)), ErrorClass::ReAuth);
        let limited = ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(9)),
        };
        assert_eq!(classify(&conn(limited)), limited);
        let dynamo = |failure| {
            SyncError::Store(crate::store::StoreError::Dynamo {
                operation: "GetItem",
                message: "x".into(),
                failure,
            })
        };
        use crate::aws::AwsFailure;
        assert_eq!(
            classify(&dynamo(AwsFailure::Throttled)),
            ErrorClass::RateLimited { retry_after: None }
        );
        assert_eq!(classify(&dynamo(AwsFailure::Transient)), ErrorClass::Transient);
        assert_eq!(classify(&dynamo(AwsFailure::Permanent)), ErrorClass::Permanent);
        let queue = SyncError::Queue(crate::queue::QueueError {
            operation: "SendMessage",
            message: "x".into(),
            failure: AwsFailure::Throttled,
        });
        assert_eq!(classify(&queue), ErrorClass::RateLimited { retry_after: None });
        assert_eq!(classify(&SyncError::Config("no flow".into())), ErrorClass::Permanent);
        for e in [
            conn(ErrorClass::Transient),
            conn(ErrorClass::Permanent),
            dynamo(AwsFailure::Throttled),
            dynamo(AwsFailure::Transient),
            dynamo(AwsFailure::Permanent),
            queue,
        ] {
            assert_eq!(classify(&e).is_retriable(), e.is_retriable(), "{e}");
        }
    }

    /// The invariant: whatever fails, at whatever attempt, the outcome either schedules a
    /// later attempt with a higher count or is terminal; and following retries always ends.
    #[test]
    fn every_failure_raises_the_attempt_or_is_terminal_and_no_chain_is_endless() {
        let classes = [
            ErrorClass::Transient,
            ErrorClass::RateLimited { retry_after: None },
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(3600)),
            },
            ErrorClass::ReAuth,
            ErrorClass::Permanent,
        ];
        let policy = policy();
        for class in classes {
            for attempt in 0..50u32 {
                for draw in [0.0, 0.5, 0.999] {
                    match decide(&policy, class, attempt, draw) {
                        Decision::Retry { next_attempt, delay } => {
                            assert!(class.is_retriable());
                            assert_eq!(next_attempt, attempt + 1);
                            assert!(delay >= Duration::from_secs(4));
                            if let Some(wait) = class.retry_after() {
                                assert!(delay >= wait);
                            }
                        }
                        Decision::Park(reason) => {
                            assert!(
                                !class.is_retriable() || attempt >= policy.schedule.retries(),
                                "{reason:?}"
                            )
                        }
                    }
                }
            }
            // Follow one chain of failures of this class: it ends, within the schedule.
            let mut attempt = 0;
            let mut steps = 0;
            while let Decision::Retry { next_attempt, .. } = decide(&policy, class, attempt, 0.5) {
                attempt = next_attempt;
                steps += 1;
                assert!(steps <= policy.schedule.retries());
            }
        }
    }

    #[test]
    fn next_attempt_raises_the_count_keeps_the_history_and_hops_long_delays() {
        let env = envelope();
        let r = next_attempt(
            &env,
            attempt_record(0, 100, "transient", "503", Some(Duration::from_secs(5))),
            1,
            Duration::from_secs(5),
            1.0,
            100,
        );
        assert_eq!(r.delay_secs, 5);
        assert_eq!(r.envelope.message.attempt(), 1);
        assert_eq!(r.envelope.history.len(), 1);
        assert_eq!(r.envelope.not_before, None);

        let long = next_attempt(
            &r.envelope,
            attempt_record(1, 200, "transient", "503", None),
            2,
            Duration::from_secs(7_200),
            1.0,
            200,
        );
        assert_eq!(long.delay_secs, 900);
        assert_eq!(long.envelope.not_before, Some(7_400));
        assert_eq!(long.envelope.history.len(), 2);
        // Hops: 900 s at a time until the due time, then it runs.
        let mut now = 200 + 900;
        let mut hops = 1;
        while let Some(d) = hop_delay(&long.envelope, now) {
            now += d as i64;
            hops += 1;
        }
        assert_eq!(now, 7_400);
        assert_eq!(hops, 8, "7,200 s is eight sends of at most 900 s");

        let fast = next_attempt(
            &env,
            attempt_record(0, 100, "transient", "503", None),
            1,
            Duration::from_secs(36_000),
            0.0,
            100,
        );
        assert_eq!((fast.delay_secs, fast.envelope.not_before), (0, None));
    }

    #[test]
    fn a_short_schedule_parks_sooner() {
        let policy = RetryPolicy {
            schedule: RetrySchedule {
                delays: vec![Duration::from_secs(1)],
                jitter: 0.0,
            },
            delay_scale: 1.0,
        };
        assert!(matches!(
            decide(&policy, ErrorClass::Transient, 0, 0.5),
            Decision::Retry { next_attempt: 1, .. }
        ));
        assert_eq!(
            decide(&policy, ErrorClass::Transient, 1, 0.5),
            Decision::Park(ParkReason::Exhausted)
        );
    }
}
