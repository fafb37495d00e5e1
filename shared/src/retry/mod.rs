//! Retries and delivery guarantees: every failed attempt either schedules a later attempt with
//! a higher attempt count or reaches a terminal, visible state (a parked dead letter).
//!
//! - [`decision`]: the failure's class (from the one classification, `ErrorClass`) and the
//!   attempt number become a decision: retry after a delay, or park. Pure.
//! - [`schedule`]: the delays (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with +/-20% jitter;
//!   a provider's Retry-After is a floor. Pure.
//! - [`parking`]: dead letters with the full message and history; re-auth failures also flag
//!   the connection.
//! - [`dead_letter_queue`]: the retry handler's logic for the sync queue's dead-letter queue.
//! - [`replay`]: sending dead letters back with a fresh attempt count, audited.
//!
//! Delays longer than SQS's 900-second `DelaySeconds` hop: the message carries `not_before`
//! and whoever receives it early (connector-sync or the retry handler) sends it again with the
//! rest of the delay, at most 900 s at a time. No scheduler resource, nothing to clean up, and
//! the same code runs against the local emulator; a 10 h wait costs 39 extra sends.

pub mod dead_letter_queue;
pub mod decision;
pub mod parking;
pub mod replay;
pub mod schedule;

use std::time::Duration;

use crate::config::ConfigError;

pub use dead_letter_queue::{handle_dlq, RetryConfig, RetryDeps};
pub use decision::{classify, decide, hop_delay, next_attempt, quota_deferral, Decision, ParkReason, ScheduledRetry};
pub use schedule::{random_draw, RetrySchedule};

/// How failures are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub schedule: RetrySchedule,
    /// Multiplies every delay before it is scheduled: 1 in production; tests fast-forward with 0
    /// (`RETRY_DELAY_SCALE`). The history keeps the unscaled delay.
    pub delay_scale: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            delay_scale: 1.0,
        }
    }
}

impl RetryPolicy {
    /// This policy with a flow's own schedule (seconds after each failed attempt) when the
    /// flow has one; jitter and delay scale stay the deployment's.
    pub fn for_flow(&self, flow_schedule_secs: Option<&[u64]>) -> RetryPolicy {
        match flow_schedule_secs {
            None => self.clone(),
            Some(secs) => RetryPolicy {
                schedule: RetrySchedule {
                    delays: secs.iter().copied().map(std::time::Duration::from_secs).collect(),
                    jitter: self.schedule.jitter,
                },
                delay_scale: self.delay_scale,
            },
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `RETRY_SCHEDULE_SECS` (comma-separated seconds, default `5,300,1800,7200,18000,36000,36000`),
    /// `RETRY_JITTER` (default 0.2) and `RETRY_DELAY_SCALE` (default 1).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut policy = Self::default();
        if let Some(text) = lookup("RETRY_SCHEDULE_SECS").filter(|t| !t.trim().is_empty()) {
            policy.schedule.delays = RetrySchedule::parse_secs(&text).map_err(|reason| ConfigError::Invalid {
                name: "RETRY_SCHEDULE_SECS",
                value: text.clone(),
                reason,
            })?;
        }
        let fraction = |name: &'static str, max: f64| -> Result<Option<f64>, ConfigError> {
            let Some(text) = lookup(name).filter(|t| !t.trim().is_empty()) else {
                return Ok(None);
            };
            match text.trim().parse::<f64>() {
                Ok(v) if (0.0..=max).contains(&v) => Ok(Some(v)),
                _ => Err(ConfigError::Invalid {
                    name,
                    value: text,
                    reason: format!("expected a number from 0 to {max}"),
                }),
            }
        };
        if let Some(j) = fraction("RETRY_JITTER", 1.0)? {
            policy.schedule.jitter = j;
        }
        if let Some(s) = fraction("RETRY_DELAY_SCALE", 1.0)? {
            policy.delay_scale = s;
        }
        Ok(policy)
    }

    /// The delay actually scheduled for a planned one.
    pub fn scaled(&self, delay: Duration) -> Duration {
        Duration::from_secs_f64(delay.as_secs_f64() * self.delay_scale.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_flow_schedule_replaces_the_delays_and_keeps_jitter_and_scale() {
        let deployment = RetryPolicy {
            schedule: RetrySchedule {
                delays: vec![std::time::Duration::from_secs(5)],
                jitter: 0.1,
            },
            delay_scale: 0.0,
        };
        let flow = deployment.for_flow(Some(&[60, 600]));
        assert_eq!(flow.schedule.retries(), 2);
        assert_eq!(
            flow.schedule.delay(1, None, 0.5),
            Some(std::time::Duration::from_secs(600))
        );
        assert_eq!(
            flow.schedule.delay(2, None, 0.5),
            None,
            "parked after the flow's last retry"
        );
        assert_eq!((flow.schedule.jitter, flow.delay_scale), (0.1, 0.0));
        assert_eq!(deployment.for_flow(None), deployment);
    }

    use super::*;

    #[test]
    fn policy_reads_its_environment() {
        let p = RetryPolicy::from_lookup(|k| match k {
            "RETRY_SCHEDULE_SECS" => Some("1,2".into()),
            "RETRY_DELAY_SCALE" => Some("0".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(p.schedule.retries(), 2);
        assert_eq!(p.delay_scale, 0.0);
        assert_eq!(p.schedule.jitter, 0.2);
        let err = RetryPolicy::from_lookup(|k| (k == "RETRY_JITTER").then(|| "2".into())).unwrap_err();
        assert!(err.to_string().contains("RETRY_JITTER"));
        assert_eq!(RetryPolicy::from_lookup(|_| None).unwrap(), RetryPolicy::default());
    }
}
