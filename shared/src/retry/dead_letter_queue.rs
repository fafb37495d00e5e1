//! The retry handler: consumes the sync queue's dead-letter queue.
//!
//! A message reaches the dead-letter queue when connector-sync did not finish it within the
//! sync queue's `maxReceiveCount` receives: the function crashed or timed out on it, or its
//! own failure handling (re-enqueue, parking) failed. The error itself is not known here, so
//! the attempt counts as `unhandled` (treated as transient): the message goes back to the
//! sync queue with the schedule's next delay and a higher attempt count, or is parked once the
//! attempts are used up. A body that is not a sync message is parked as it is.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::{error, info, warn};

use crate::aws::AwsClients;
use crate::clock::SharedClock;
use crate::config::ConfigError;
use crate::connector::ErrorClass;
use crate::queue::{Envelope, SyncQueue};
use crate::store::dead_letters::DeadLetterStore;

use super::decision::{attempt_record, decide, hop_delay, next_attempt, Decision};
use super::parking::{dead_letter, park, unreadable};
use super::{random_draw, RetryPolicy};

/// The class recorded for an attempt that ended in the dead-letter queue.
pub const UNHANDLED: &str = "unhandled";

/// Settings of the retry handler.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `SYNC_QUEUE_URL`: where retries go.
    pub sync_queue_url: String,
    pub policy: RetryPolicy,
}

impl RetryConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str, hint: &'static str| match lookup(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::Missing { name, hint }),
        };
        Ok(Self {
            table_name: required("TABLE_NAME", "the DynamoDB table name (the SAM template sets it)")?,
            sync_queue_url: required("SYNC_QUEUE_URL", "the sync queue URL (the SAM template sets it)")?,
            policy: RetryPolicy::from_lookup(&lookup)?,
        })
    }
}

/// Everything the retry handler needs, built once per cold start.
pub struct RetryDeps {
    pub queue: SyncQueue,
    pub dead_letters: DeadLetterStore,
    pub policy: RetryPolicy,
    pub clock: SharedClock,
    /// Emits `dead_letter.parked` (the tenant from the connection or flow item).
    pub publisher: crate::subscriptions::Publisher,
    pub connections: crate::store::connections::ConnectionStore,
    pub flows: crate::store::flows::FlowStore,
}

impl RetryDeps {
    pub fn new(config: RetryConfig, aws: &AwsClients, clock: SharedClock) -> Self {
        Self {
            queue: SyncQueue::new(aws.sqs.clone(), &config.sync_queue_url),
            dead_letters: DeadLetterStore::new(aws.dynamodb.clone(), &config.table_name),
            publisher: crate::subscriptions::Publisher::new(
                crate::store::subscriptions::SubscriptionStore::new(aws.dynamodb.clone(), &config.table_name),
                Some(SyncQueue::new(aws.sqs.clone(), &config.sync_queue_url)),
                std::time::Duration::from_secs(60),
            ),
            connections: crate::store::connections::ConnectionStore::new(aws.dynamodb.clone(), &config.table_name),
            flows: crate::store::flows::FlowStore::new(aws.dynamodb.clone(), &config.table_name),
            policy: config.policy,
            clock,
        }
    }
}

/// Handles a batch from the dead-letter queue. A message is acknowledged once it is back on
/// the sync queue or parked; if neither worked it is reported as a batch item failure and
/// the dead-letter queue delivers it again.
pub async fn handle_dlq(deps: &RetryDeps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let receives = record
            .attributes
            .get("ApproximateReceiveCount")
            .cloned()
            .unwrap_or_default();
        let body = record.body.unwrap_or_default();
        let now = deps.clock.now_unix();
        let envelope: Envelope = match serde_json::from_str(&body) {
            Ok(e) => e,
            Err(e) => {
                let dead = unreadable(&message_id, &body, &format!("not a sync message: {e}"), now);
                if let Err(e) = park(&deps.dead_letters, &dead).await {
                    error!(message = "Parking an unreadable message failed.", message_id = %message_id, error = %e);
                    response.add_failure(message_id);
                }
                continue;
            }
        };
        if let Err(e) = handle_one(deps, &envelope, now).await {
            error!(message = "Retry handling failed; the dead-letter queue will deliver the message again.", key = %envelope.message.key(), receives = %receives, error = %e);
            response.add_failure(message_id);
        }
    }
    response
}

async fn handle_one(deps: &RetryDeps, envelope: &Envelope, now: i64) -> Result<(), String> {
    let failed = envelope.message.attempt();
    let error = "connector-sync did not finish this message within the sync queue's maxReceiveCount receives \
                 (crash, timeout, or its failure handling failed)";
    if let Some(delay) = hop_delay(envelope, now) {
        // It was waiting out a long delay when a hop failed: keep waiting, same attempt.
        return deps
            .queue
            .send_delayed(envelope, delay)
            .await
            .map_err(|e| e.to_string());
    }
    match decide(&deps.policy, ErrorClass::Transient, failed, random_draw()) {
        Decision::Retry { next_attempt: n, delay } => {
            let record = attempt_record(failed, now, UNHANDLED, error, Some(delay));
            let retry = next_attempt(envelope, record, n, delay, deps.policy.delay_scale, now);
            deps.queue
                .send_delayed(&retry.envelope, retry.delay_secs)
                .await
                .map_err(|e| e.to_string())?;
            crate::metrics::retry_outcome("retry-handler", UNHANDLED, false);
            info!(message = "Message back on the sync queue.", key = %envelope.message.key(), attempt = n, delay_secs = retry.delay_secs);
            Ok(())
        }
        Decision::Park(reason) => {
            let record = attempt_record(failed, now, UNHANDLED, error, None);
            let dead = dead_letter(envelope, record, reason, now);
            park(&deps.dead_letters, &dead).await.map_err(|e| e.to_string())?;
            crate::metrics::retry_outcome("retry-handler", UNHANDLED, true);
            crate::subscriptions::emit::dead_letter_parked(&deps.publisher, &deps.connections, &deps.flows, &dead, now)
                .await;
            warn!(message = "Attempts used up; message parked.", key = %dead.key, attempts = dead.attempts);
            Ok(())
        }
    }
}
