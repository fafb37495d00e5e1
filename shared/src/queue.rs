//! Messages on the sync queue, and sending them.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};

/// A message connector-sync consumes. The `kind` tag keeps the format open for sync jobs,
/// continuations and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncMessage {
    /// An accepted webhook event, stored in the table under `EVT#<connection_id>#<event_id>`.
    InboundEvent(InboundEventRef),
    /// Run (or continue) a sync job whose item already exists.
    SyncJob(SyncJobRef),
    /// POST one event to one outbound webhook subscription (see [`crate::subscriptions`]).
    WebhookDelivery(DeliveryRef),
}

/// One event for one outbound webhook subscription. The body travels in the message (events
/// are small: ids and one record), so publishers need no table write; connector-sync keeps
/// the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRef {
    pub subscription_id: String,
    /// `dlv_<ulid>`: the delivery log item.
    pub delivery_id: String,
    /// `msg_<ulid>`: the `webhook-id` header, the same on every attempt and resend.
    pub event_id: String,
    pub event_type: String,
    /// The exact body POSTed and signed.
    pub payload: String,
    /// Delivery attempt, starting at 0.
    #[serde(default)]
    pub attempt: u32,
}

/// Points at a job item `FLOW#<flow_id>` / `JOB#<job_id>`; the job's checkpoint says where to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJobRef {
    pub flow_id: String,
    pub job_id: String,
    /// Delivery attempt, starting at 0; the retry machinery raises it.
    #[serde(default)]
    pub attempt: u32,
}

/// Points at a stored inbound event; the body stays in DynamoDB (SQS messages are capped at 256 KB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEventRef {
    pub connection_id: String,
    pub event_id: String,
    pub event_type: String,
    pub provider: String,
    pub received_at: i64,
    /// Delivery attempt, starting at 0; the retry machinery raises it.
    #[serde(default)]
    pub attempt: u32,
}

impl SyncMessage {
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("sync messages always serialise: plain strings and numbers")
    }

    /// The delivery attempt, starting at 0.
    pub fn attempt(&self) -> u32 {
        match self {
            SyncMessage::InboundEvent(e) => e.attempt,
            SyncMessage::SyncJob(j) => j.attempt,
            SyncMessage::WebhookDelivery(d) => d.attempt,
        }
    }

    pub fn set_attempt(&mut self, attempt: u32) {
        match self {
            SyncMessage::InboundEvent(e) => e.attempt = attempt,
            SyncMessage::SyncJob(j) => j.attempt = attempt,
            SyncMessage::WebhookDelivery(d) => d.attempt = attempt,
        }
    }

    /// What the message is about, stable across attempts: `evt:<connection>:<event>` or
    /// `job:<flow>:<job>` or `dlv:<subscription>:<delivery>`. A parked message is stored under
    /// it, so parking twice overwrites.
    pub fn key(&self) -> String {
        match self {
            SyncMessage::InboundEvent(e) => format!("evt:{}:{}", e.connection_id, e.event_id),
            SyncMessage::SyncJob(j) => format!("job:{}:{}", j.flow_id, j.job_id),
            SyncMessage::WebhookDelivery(d) => format!("dlv:{}:{}", d.subscription_id, d.delivery_id),
        }
    }
}

/// One failed attempt of a message: carried in the message from retry to retry and kept
/// when the message is parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The attempt that failed (0 is the first delivery).
    pub attempt: u32,
    /// Unix seconds of the failure.
    pub at: i64,
    /// The failure's class: `transient`, `rate_limited`, `reauth`, `permanent` (or `crashed`
    /// for a message the dead-letter queue returned without a known error).
    pub class: String,
    /// What went wrong (safe to log: no secrets, no bodies).
    pub error: String,
    /// The delay chosen before the next attempt, in seconds (none when the message was parked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_secs: Option<u64>,
}

/// A sync message with its delivery history, as it travels on the sync queue and its
/// dead-letter queue. The history fields sit beside the message's own (flattened), so a plain
/// [`SyncMessage`] body reads as an envelope without history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(flatten)]
    pub message: SyncMessage,
    /// Every failed attempt so far, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AttemptRecord>,
    /// Unix seconds before which the message must not run: a retry delay longer than SQS's
    /// 900-second maximum hops through repeated delayed sends until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// How many times the message was put off because a connection's long-window quota was
    /// spent (not failed attempts: the attempt count stays). Bounded by
    /// [`crate::retry::decision::MAX_QUOTA_DEFERRALS`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deferrals: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Envelope {
    pub fn new(message: SyncMessage) -> Self {
        Self {
            message,
            history: Vec::new(),
            not_before: None,
            deferrals: 0,
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("envelopes always serialise: plain strings and numbers")
    }
}

/// SQS's longest `DelaySeconds`.
pub const MAX_DELAY_SECS: u64 = 900;

/// A failure sending to SQS.
#[derive(Debug, thiserror::Error)]
#[error("SQS request {operation} failed ({}): {message}", failure.name())]
pub struct QueueError {
    pub operation: &'static str,
    pub message: String,
    /// Throttled, transient or permanent: what retrying can do about it.
    pub failure: crate::aws::AwsFailure,
}

impl QueueError {
    fn sdk<E, R>(operation: &'static str, err: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
        R: crate::aws::HttpStatus + std::fmt::Debug + 'static,
    {
        QueueError {
            operation,
            failure: crate::aws::classify_sdk_error(&err),
            message: crate::aws::describe_sdk_error(&err),
        }
    }
}

/// The sync queue.
#[derive(Debug, Clone)]
pub struct SyncQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

/// SQS's limit of entries in one SendMessageBatch.
pub const MAX_BATCH: usize = 10;

impl SyncQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one message: one `SendMessage` request.
    pub async fn send(&self, msg: &SyncMessage) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(msg.to_body())
            .send()
            .await
            .map_err(|e| QueueError::sdk("SendMessage", e))?;
        Ok(())
    }

    /// Sends an envelope to become visible after `delay_secs` (clamped to SQS's 900): one
    /// `SendMessage` request.
    pub async fn send_delayed(&self, envelope: &Envelope, delay_secs: u64) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(envelope.to_body())
            .delay_seconds(delay_secs.min(MAX_DELAY_SECS) as i32)
            .send()
            .await
            .map_err(|e| QueueError::sdk("SendMessage", e))?;
        Ok(())
    }

    /// Sends many messages, ten per `SendMessageBatch` (one plain `SendMessage` for a single one).
    /// Returns the indices of the messages that were not sent.
    pub async fn send_all(&self, msgs: &[SyncMessage]) -> Vec<usize> {
        if let [only] = msgs {
            return match self.send(only).await {
                Ok(()) => vec![],
                Err(e) => {
                    tracing::warn!(message = "Sending to the sync queue failed.", error = %e);
                    vec![0]
                }
            };
        }
        let mut failed = Vec::new();
        for (chunk_no, chunk) in msgs.chunks(MAX_BATCH).enumerate() {
            let base = chunk_no * MAX_BATCH;
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(m.to_body())
                        .build()
                        .expect("batch entry has id and body")
                })
                .collect::<Vec<_>>();
            match self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed {
                        tracing::warn!(message = "SQS refused a batch entry.", code = %f.code, reason = ?f.message);
                        if let Ok(i) = f.id.parse::<usize>() {
                            failed.push(base + i);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(message = "Sending a batch to the sync queue failed.", error = %crate::aws::describe_sdk_error(&e));
                    failed.extend(base..base + chunk.len());
                }
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_event_message_has_kind_tag() {
        let msg = SyncMessage::InboundEvent(InboundEventRef {
            connection_id: "c".into(),
            event_id: "e".into(),
            event_type: "t".into(),
            provider: "stripe".into(),
            received_at: 1,
            attempt: 0,
        });
        let v: serde_json::Value = serde_json::from_str(&msg.to_body()).unwrap();
        assert_eq!(v["kind"], "inbound_event");
        assert_eq!(serde_json::from_value::<SyncMessage>(v).unwrap(), msg);
    }

    #[test]
    fn envelope_carries_history_beside_the_message_and_reads_plain_messages() {
        let msg = SyncMessage::SyncJob(SyncJobRef {
            flow_id: "f".into(),
            job_id: "j".into(),
            attempt: 2,
        });
        let plain: Envelope = serde_json::from_str(&msg.to_body()).unwrap();
        assert_eq!(plain, Envelope::new(msg.clone()));
        let env = Envelope {
            message: msg,
            history: vec![AttemptRecord {
                attempt: 1,
                at: 10,
                class: "transient".into(),
                error: "503".into(),
                delay_secs: Some(5),
            }],
            not_before: Some(99),
            deferrals: 0,
        };
        let v: serde_json::Value = serde_json::from_str(&env.to_body()).unwrap();
        assert_eq!(v["kind"], "sync_job");
        assert_eq!(v["attempt"], 2);
        assert_eq!(v["history"][0]["class"], "transient");
        assert_eq!(serde_json::from_value::<Envelope>(v.clone()).unwrap(), env);
        // connector-sync's older reader still understands it.
        assert_eq!(serde_json::from_value::<SyncMessage>(v).unwrap().attempt(), 2);
    }
}
