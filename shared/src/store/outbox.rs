//! The webhook outbox: outbound deliveries the sync queue refused (SendMessage failed), kept
//! until connector-sync's dispatch tick sends them (see [`crate::subscriptions::publisher`]).
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | kept delivery | `OUTBOX` | `<delivery id>` | the message as it would have been sent (its `webhook-id` included), `claimed_until`, TTL |
//!
//! One partition: it holds anything only while SQS fails, and the tick reads it with one
//! `Query` (an empty partition costs that one read). An item is claimed with a conditional
//! update before it is sent (overlapping ticks send it once), and deleted once sent; a tick
//! that crashes between the two leaves the claim to expire, and the next tick sends it again
//! under the same `webhook-id`, which is what Standard Webhooks receivers dedupe on.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::table::{EXPIRES_AT, PK, SK};
use super::StoreError;
use crate::queue::SyncMessage;

const OUTBOX_PK: &str = "OUTBOX";
const CLAIMED_UNTIL: &str = "claimed_until";

/// A kept delivery, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The sort key (the delivery id).
    pub id: String,
    pub message: SyncMessage,
    pub kept_at: i64,
    /// Unix seconds until which a tick holds it (0: unclaimed).
    pub claimed_until: i64,
}

#[derive(Debug, Clone)]
pub struct OutboxStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The sort key of a message: its delivery id (unique per subscription and event). Only
/// webhook deliveries are kept.
fn id_of(message: &SyncMessage) -> Option<&str> {
    match message {
        SyncMessage::WebhookDelivery(d) => Some(&d.delivery_id),
        _ => None,
    }
}

impl OutboxStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Keeps webhook deliveries (other messages are ignored), expiring after `ttl_secs`: one
    /// `BatchWriteItem` per 25. Keeping one twice overwrites it.
    pub async fn keep(&self, messages: &[SyncMessage], now: i64, ttl_secs: i64) -> Result<usize, StoreError> {
        let writes: Vec<WriteRequest> = messages
            .iter()
            .filter_map(|m| {
                let id = id_of(m)?;
                let item = HashMap::from([
                    (PK.to_string(), AttributeValue::S(OUTBOX_PK.into())),
                    (SK.to_string(), AttributeValue::S(id.to_string())),
                    ("message".to_string(), AttributeValue::S(m.to_body())),
                    ("kept_at".to_string(), AttributeValue::N(now.to_string())),
                    (CLAIMED_UNTIL.to_string(), AttributeValue::N("0".into())),
                    (EXPIRES_AT.to_string(), AttributeValue::N((now + ttl_secs).to_string())),
                ]);
                Some(
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item))
                                .build()
                                .expect("the item is set"),
                        )
                        .build(),
                )
            })
            .collect();
        let n = writes.len();
        if n > 0 {
            super::batch::write_all(&self.client, &self.table, writes).await?;
        }
        Ok(n)
    }

    /// Up to `limit` kept deliveries, oldest delivery id first (one strongly consistent
    /// `Query`). Unreadable items are skipped and logged (they expire with their TTL).
    pub async fn list(&self, limit: usize) -> Result<Vec<Kept>, StoreError> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(OUTBOX_PK.into()))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let mut out = Vec::new();
        for item in resp.items.unwrap_or_default() {
            let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let n = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
            };
            let (Some(id), Some(body)) = (s(SK), s("message")) else {
                continue;
            };
            match serde_json::from_str::<SyncMessage>(&body) {
                Ok(message) => out.push(Kept {
                    id,
                    message,
                    kept_at: n("kept_at").unwrap_or(0),
                    claimed_until: n(CLAIMED_UNTIL).unwrap_or(0),
                }),
                Err(e) => {
                    tracing::warn!(message = "Unreadable outbox item skipped.", id = %id, error = %e);
                }
            }
        }
        Ok(out)
    }

    /// Claims a kept delivery until `until` unless another tick holds it: `false` when it is
    /// held or already gone.
    pub async fn claim(&self, kept: &Kept, now: i64, until: i64) -> Result<bool, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(OUTBOX_PK.into()))
            .key(SK, AttributeValue::S(kept.id.clone()))
            .update_expression("SET #c = :until")
            .condition_expression("attribute_exists(#pk) AND #c < :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#c", CLAIMED_UNTIL)
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
        super::written(req.send().await, "UpdateItem")
    }

    /// Removes a kept delivery once it was sent.
    pub async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(OUTBOX_PK.into()))
            .key(SK, AttributeValue::S(id.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }
}
