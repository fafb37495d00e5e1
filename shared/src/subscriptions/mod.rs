//! Outbound webhook subscriptions: our users' endpoints get Switchyard's events, signed the
//! Standard Webhooks way.
//!
//! - [`catalogue`]: the fixed event types and the event body (`{"type", "timestamp", "data"}`).
//! - [`filter`]: a subscription's optional filter on payload fields. Pure.
//! - [`publisher`]: the ONE way code emits an event. It looks up the tenant's subscriptions
//!   (cached per warm process, so a tenant without any costs no request beyond that cached
//!   lookup), matches type and filter, and sends one [`crate::queue::DeliveryRef`] per match to
//!   the sync queue. Emitters: sync jobs (`job.finished`, `job.failed`), the records a flow
//!   writes (`record.created`, `record.updated`), the records a flow had written that an event
//!   or a change feed names and the source no longer has (`record.deleted`), the health checker
//!   (`connection.state_changed`), parking (`dead_letter.parked`). A delivery the queue
//!   refuses is kept in the outbox ([`crate::store::outbox`]) and sent by connector-sync's next
//!   dispatch tick under the same `webhook-id`.
//! - [`delivery`]: connector-sync takes the message, POSTs it with the `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature` headers ([`signing`], the same code as
//!   `switchyard webhook sign`) through the URL-guarded client with a timeout, and keeps the
//!   delivery log (`store::subscriptions`, every attempt, with a TTL). A failure is retried on
//!   the deployment's retry schedule (`RETRY_SCHEDULE_SECS`, jitter, delays over 900 s hop as
//!   every sync message's do); an endpoint that has failed continuously for
//!   `WEBHOOK_DISABLE_AFTER_SECS` is disabled and an alert goes to the health checker's alert
//!   targets. `POST .../deliveries/{id}/resend` and `POST .../recover` send failed ones again.
//!
//! Why the sync queue and connector-sync: the architecture's "delivered through the same
//! queues and retry schedule". connector-sync already holds the guarded HTTP client, the
//! secret cache, the alert targets and the retry policy; crashes and timeouts reach the
//! dead-letter queue and the retry handler like any sync message. No new queue, no new
//! function. A delivery that runs out of attempts is not parked as a dead letter: the
//! delivery log is its visible terminal state (and a parked delivery would emit
//! `dead_letter.parked`, an event about an event).

pub mod catalogue;
pub mod delivery;
pub mod emit;
pub mod filter;
pub mod publisher;
pub mod signing;

use std::time::Duration;

use crate::config::ConfigError;

pub use catalogue::{is_event_type, OutboundEvent, EVENT_TYPES, EVENT_TYPE_DESCRIPTIONS};
pub use publisher::Publisher;

/// How deliveries are made (connector-sync's `WEBHOOK_*` variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Per-attempt timeout (`WEBHOOK_TIMEOUT_SECS`, default 15).
    pub timeout: Duration,
    /// An endpoint failing continuously this long is disabled and alerted on
    /// (`WEBHOOK_DISABLE_AFTER_SECS`, default 5 days).
    pub disable_after_secs: i64,
    /// Delivery log items expire after this (`WEBHOOK_DELIVERY_TTL_DAYS`, default 30).
    pub log_ttl_secs: i64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            disable_after_secs: 5 * 86_400,
            log_ttl_secs: 30 * 86_400,
        }
    }
}

impl DeliveryConfig {
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::Invalid {
                        name,
                        value: v,
                        reason: "must be a positive whole number".into(),
                    }),
            }
        };
        let d = Self::default();
        Ok(Self {
            timeout: Duration::from_secs(number("WEBHOOK_TIMEOUT_SECS", d.timeout.as_secs())?),
            disable_after_secs: number("WEBHOOK_DISABLE_AFTER_SECS", d.disable_after_secs as u64)? as i64,
            log_ttl_secs: number("WEBHOOK_DELIVERY_TTL_DAYS", (d.log_ttl_secs / 86_400) as u64)? as i64 * 86_400,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_settings_have_defaults_and_refuse_nonsense() {
        assert_eq!(
            DeliveryConfig::from_lookup(&|_| None).unwrap(),
            DeliveryConfig::default()
        );
        let c = DeliveryConfig::from_lookup(&|k| match k {
            "WEBHOOK_DISABLE_AFTER_SECS" => Some("60".into()),
            "WEBHOOK_DELIVERY_TTL_DAYS" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((c.disable_after_secs, c.log_ttl_secs), (60, 172_800));
        let e = DeliveryConfig::from_lookup(&|k| (k == "WEBHOOK_TIMEOUT_SECS").then(|| "0".into())).unwrap_err();
        assert!(e.to_string().contains("WEBHOOK_TIMEOUT_SECS"));
    }
}
