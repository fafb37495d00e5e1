//! The webhook outbox: outbound deliveries the sync queue refused (SendMessage failed), kept
//! until connector-sync's dispatch tick sends them (see [`crate::subscriptions::publisher`]).
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | kept delivery | `OUTBOX` | `<delivery id>` | the message as it would have been sent (its `webhook-id` included), `claimed_until`, TTL; `gsi1pk` / `gsi1sk` `SUBJ#<tenant>#<digest>` / `OUTBOX#<delivery id>` when its payload holds an address |
//!
//! A kept payload can hold a person's data (a `record.*` event), so a kept delivery is in the
//! subject index ([`crate::subjects`]) like a logged one: under its payload's first address on
//! itself, under further ones by pointer items in the same `BatchWriteItem`, with its TTL.
//!
//! One partition: it holds anything only while SQS fails, and the tick reads it with one
//! `Query` (an empty partition costs that one read). An item is claimed with a conditional
//! update before it is sent (overlapping ticks send it once), and deleted once sent; a tick
//! that crashes between the two leaves the claim to expire, and the next tick sends it again
//! under the same `webhook-id`, which is what Standard Webhooks receivers dedupe on.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::table::{EXPIRES_AT, GSI1PK, GSI1SK, PK, SK};
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

/// The subject index sort key of a kept delivery.
pub fn outbox_index_sk(delivery_id: &str) -> String {
    format!("{OUTBOX_PK}#{delivery_id}")
}

/// Whether an item's key is a kept delivery's.
pub fn is_outbox_key(pk: &str) -> bool {
    pk == OUTBOX_PK
}

/// A kept delivery read from the table or an index: `None` for an item without the
/// attributes, an error for a message that does not parse.
pub fn kept_from_item(item: &HashMap<String, AttributeValue>) -> Result<Option<Kept>, StoreError> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let n = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    let (Some(id), Some(body)) = (s(SK), s("message")) else {
        return Ok(None);
    };
    let message = serde_json::from_str::<SyncMessage>(&body).map_err(|e| StoreError::Corrupt {
        kind: "outbox item",
        key: id.clone(),
        reason: e.to_string(),
    })?;
    Ok(Some(Kept {
        id,
        message,
        kept_at: n("kept_at").unwrap_or(0),
        claimed_until: n(CLAIMED_UNTIL).unwrap_or(0),
    }))
}

impl OutboxStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Keeps `tenant`'s webhook deliveries (other messages are ignored), expiring after
    /// `ttl_secs`, in the subject index by their payloads' addresses: one `BatchWriteItem` per
    /// 25 writes (deliveries and their pointer items). Keeping one twice overwrites it.
    pub async fn keep(
        &self,
        tenant: &str,
        messages: &[SyncMessage],
        now: i64,
        ttl_secs: i64,
    ) -> Result<usize, StoreError> {
        let expires_at = now + ttl_secs;
        let mut writes: Vec<WriteRequest> = Vec::new();
        let mut n = 0;
        for m in messages {
            let SyncMessage::WebhookDelivery(d) = m else { continue };
            let id = d.delivery_id.as_str();
            let mut item = HashMap::from([
                (PK.to_string(), AttributeValue::S(OUTBOX_PK.into())),
                (SK.to_string(), AttributeValue::S(id.to_string())),
                ("message".to_string(), AttributeValue::S(m.to_body())),
                ("kept_at".to_string(), AttributeValue::N(now.to_string())),
                (CLAIMED_UNTIL.to_string(), AttributeValue::N("0".into())),
                (EXPIRES_AT.to_string(), AttributeValue::N(expires_at.to_string())),
            ]);
            let index_sk = outbox_index_sk(id);
            let subject = crate::subjects::subject_of_bytes(tenant, d.payload.as_bytes());
            if let Some(subject) = &subject {
                item.insert(GSI1PK.to_string(), AttributeValue::S(subject.clone()));
                item.insert(GSI1SK.to_string(), AttributeValue::S(index_sk.clone()));
            }
            writes.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("the item is set"),
                    )
                    .build(),
            );
            if subject.is_some() {
                let others = crate::subjects::other_subjects_of_bytes(tenant, d.payload.as_bytes());
                writes.extend(super::subjects::pointer_writes(
                    &others,
                    &(OUTBOX_PK.to_string(), id.to_string()),
                    &index_sk,
                    Some(expires_at),
                ));
            }
            n += 1;
        }
        if !writes.is_empty() {
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
            match kept_from_item(&item) {
                Ok(Some(kept)) => out.push(kept),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(message = "Unreadable outbox item skipped.", error = %e);
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
