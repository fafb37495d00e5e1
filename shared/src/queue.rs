//! Messages on the sync queue, and sending them.

use aws_sdk_sqs::error::DisplayErrorContext;
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
}

/// A failure sending to SQS.
#[derive(Debug, thiserror::Error)]
#[error("SQS request {operation} failed: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub message: String,
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
            .map_err(|e| QueueError {
                operation: "SendMessage",
                message: DisplayErrorContext(e).to_string(),
            })?;
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
                    tracing::warn!(message = "Sending a batch to the sync queue failed.", error = %DisplayErrorContext(e));
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
}
