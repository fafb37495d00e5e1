//! Inbound event items. The conditional put keyed by connection + provider event id is the
//! deduplication: a second delivery of the same event fails the condition and is dropped.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::table::{
    self, EVENT_SK, EXPIRES_AT, GSI1PK, GSI1SK, LOG_PK, LOG_SK, PENDING, PENDING_PK, PENDING_SHARDS, PENDING_SK, PK, SK,
};
use super::StoreError;

/// An accepted inbound event as stored for connector-sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub connection_id: String,
    /// The connection's tenant (keys the event's place in the webhook log); empty on items
    /// stored before the log existed.
    pub tenant: String,
    /// The provider's own event id (Stripe `evt_...`, GitHub delivery GUID, ...).
    pub event_id: String,
    pub event_type: String,
    /// Signature scheme / provider name that verified it.
    pub provider: String,
    /// The event's raw bytes exactly as received (one element, for batched providers).
    pub body: Vec<u8>,
    /// Request headers connector-sync may need (never signatures or credentials).
    pub headers: BTreeMap<String, String>,
    /// Unix seconds.
    pub received_at: i64,
    /// Unix seconds after which DynamoDB may delete it; also the end of the dedupe window.
    pub expires_at: i64,
    /// The subject key of the first email address in the body ([`crate::subjects`]): the item
    /// is in that person's partition of `gsi1`, so an export or erasure finds it by a `Query`.
    pub subject: Option<String>,
}

/// What the conditional put found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    Duplicate,
}

impl StoredEvent {
    pub fn pk(&self) -> String {
        table::event_pk(&self.connection_id, &self.event_id)
    }

    /// The DynamoDB item for this event.
    pub fn to_item(&self) -> std::collections::HashMap<String, AttributeValue> {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
            .collect();
        let mut item = std::collections::HashMap::with_capacity(16);
        item.insert(PK.to_string(), AttributeValue::S(self.pk()));
        item.insert(SK.to_string(), AttributeValue::S(EVENT_SK.into()));
        item.insert("connection_id".into(), AttributeValue::S(self.connection_id.clone()));
        item.insert("event_id".into(), AttributeValue::S(self.event_id.clone()));
        item.insert("event_type".into(), AttributeValue::S(self.event_type.clone()));
        item.insert("provider".into(), AttributeValue::S(self.provider.clone()));
        item.insert("body".into(), AttributeValue::B(Blob::new(self.body.clone())));
        item.insert("headers".into(), AttributeValue::M(headers));
        item.insert("received_at".into(), AttributeValue::N(self.received_at.to_string()));
        item.insert(EXPIRES_AT.into(), AttributeValue::N(self.expires_at.to_string()));
        if !self.tenant.is_empty() {
            // Its entry in the webhook log: index keys on this same item, so logging an
            // accepted event costs no request of its own.
            item.insert("tenant".into(), AttributeValue::S(self.tenant.clone()));
            item.insert(
                LOG_PK.into(),
                AttributeValue::S(table::log_pk(&self.tenant, &self.connection_id)),
            );
            item.insert(
                LOG_SK.into(),
                AttributeValue::S(table::log_sk(
                    self.received_at,
                    &self.connection_id,
                    &super::webhook_log::accepted_id(&self.event_id),
                )),
            );
        }
        if let Some(subject) = &self.subject {
            // The person it is about (no address in clear: a digest), on this same item.
            item.insert(GSI1PK.into(), AttributeValue::S(subject.clone()));
            item.insert(GSI1SK.into(), AttributeValue::S(self.pk()));
        }
        // Pending until connector-sync takes it: the sparse `pending` index is how the dispatch
        // tick finds an event the receiver stored but could neither enqueue nor remove.
        let pk = self.pk();
        item.insert(PENDING_PK.into(), AttributeValue::S(table::pending_pk(&pk)));
        item.insert(
            PENDING_SK.into(),
            AttributeValue::S(table::pending_sk(self.received_at, &pk)),
        );
        item
    }

    /// Reads an event item back.
    pub fn from_item(item: &std::collections::HashMap<String, AttributeValue>) -> Result<Self, StoreError> {
        let key = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let corrupt = |reason: String| StoreError::Corrupt {
            kind: "inbound event",
            key: key.clone(),
            reason,
        };
        let s = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or_else(|| corrupt(format!("missing string attribute {name}")))
        };
        let n = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| corrupt(format!("missing number attribute {name}")))
        };
        let body = item
            .get("body")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| corrupt("missing binary attribute body".into()))?;
        let headers = item
            .get("headers")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            connection_id: s("connection_id")?,
            tenant: s("tenant").unwrap_or_default(),
            event_id: s("event_id")?,
            event_type: s("event_type")?,
            provider: s("provider")?,
            body,
            headers,
            received_at: n("received_at")?,
            expires_at: n(EXPIRES_AT)?,
            subject: s(GSI1PK).ok(),
        })
    }
}

/// An event the `pending` index holds: enough to send its message again, and the index key
/// it was found under (its claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub connection_id: String,
    pub event_id: String,
    pub event_type: String,
    pub provider: String,
    pub received_at: i64,
    pending_sk: String,
}

/// Reads and writes inbound events.
#[derive(Debug, Clone)]
pub struct EventStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl EventStore {
    /// Pointer items for the event's addresses after its first ([`crate::subjects`]), so a
    /// person named second in it finds it too: nothing when it holds one address or none.
    /// Called by connector-sync when it takes the event, off the receiver's warm path.
    pub async fn point_other_subjects(&self, ev: &StoredEvent) -> Result<usize, StoreError> {
        if ev.subject.is_none() {
            return Ok(0);
        }
        let others = crate::subjects::other_subjects_of_bytes(&ev.tenant, &ev.body);
        let pk = ev.pk();
        let writes =
            super::subjects::pointer_writes(&others, &(pk.clone(), EVENT_SK.to_string()), &pk, Some(ev.expires_at));
        let n = writes.len();
        if n > 0 {
            super::batch::write_all(&self.client, &self.table, writes).await?;
        }
        Ok(n)
    }

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores the event unless one with the same key exists: one `PutItem`, nothing else.
    pub async fn put_if_new(&self, event: &StoredEvent) -> Result<PutOutcome, StoreError> {
        Ok(
            if super::put_if_absent(&self.client, &self.table, event.to_item()).await? {
                PutOutcome::Stored
            } else {
                PutOutcome::Duplicate
            },
        )
    }

    /// Reads a stored event.
    pub async fn get(&self, connection_id: &str, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::event_pk(connection_id, event_id)))
            .key(SK, AttributeValue::S(EVENT_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.as_ref().map(StoredEvent::from_item).transpose()
    }

    /// Marks the event as taken by connector-sync (its message was received, so it is in SQS's
    /// hands): it leaves the `pending` index. `false` when no such event is stored.
    pub async fn mark_taken(&self, connection_id: &str, event_id: &str) -> Result<bool, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::event_pk(connection_id, event_id)))
            .key(SK, AttributeValue::S(EVENT_SK.into()))
            .update_expression("REMOVE #ppk, #psk")
            .condition_expression("attribute_exists(#ppk)")
            .expression_attribute_names("#ppk", PENDING_PK)
            .expression_attribute_names("#psk", PENDING_SK);
        super::written(req.send().await, "UpdateItem")
    }

    /// Up to `limit` events received at or before `cutoff` and not yet taken, oldest first in
    /// each of the index's shards (one Query per shard).
    pub async fn pending_before(&self, cutoff: i64, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        let mut out = Vec::new();
        let until = format!("{:012}#~", cutoff.max(0));
        for shard in 0..PENDING_SHARDS {
            if out.len() >= limit {
                break;
            }
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PENDING)
                .key_condition_expression("#ppk = :shard AND #psk <= :until")
                .expression_attribute_names("#ppk", PENDING_PK)
                .expression_attribute_names("#psk", PENDING_SK)
                .expression_attribute_values(":shard", AttributeValue::S(format!("PENDING#{shard}")))
                .expression_attribute_values(":until", AttributeValue::S(until.clone()))
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in resp.items.unwrap_or_default() {
                let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                let received_at = item
                    .get("received_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok());
                match (
                    s("connection_id"),
                    s("event_id"),
                    s("event_type"),
                    s("provider"),
                    received_at,
                    s(PENDING_SK),
                ) {
                    (
                        Some(connection_id),
                        Some(event_id),
                        Some(event_type),
                        Some(provider),
                        Some(received_at),
                        Some(pending_sk),
                    ) => out.push(PendingEvent {
                        connection_id,
                        event_id,
                        event_type,
                        provider,
                        received_at,
                        pending_sk,
                    }),
                    _ => tracing::warn!(message = "Unreadable pending event skipped.", key = ?s(PK)),
                }
            }
        }
        Ok(out)
    }

    /// Claims a pending event for one re-send: moves its place in the index to `now` if it is
    /// still where it was found, so of two overlapping sweeps one sends it, and a re-send that
    /// is lost too is tried again one sweep period later. `false`: taken or claimed meanwhile.
    pub async fn claim_pending(&self, event: &PendingEvent, now: i64) -> Result<bool, StoreError> {
        let pk = table::event_pk(&event.connection_id, &event.event_id);
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.clone()))
            .key(SK, AttributeValue::S(EVENT_SK.into()))
            .update_expression("SET #psk = :new")
            .condition_expression("#psk = :old")
            .expression_attribute_names("#psk", PENDING_SK)
            .expression_attribute_values(":old", AttributeValue::S(event.pending_sk.clone()))
            .expression_attribute_values(":new", AttributeValue::S(table::pending_sk(now, &pk)));
        super::written(req.send().await, "UpdateItem")
    }

    /// Removes a stored event: the receiver's compensation when it could not enqueue it, so the
    /// provider's retry is treated as new rather than as a duplicate.
    pub async fn delete(&self, connection_id: &str, event_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::event_pk(connection_id, event_id)))
            .key(SK, AttributeValue::S(EVENT_SK.into()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_item_round_trips() {
        let ev = StoredEvent {
            connection_id: "conn_1".into(),
            tenant: "acme".into(),
            event_id: "evt_1#with#hashes".into(),
            event_type: "customer.created".into(),
            provider: "stripe".into(),
            body: b"{\"id\":\"evt_1\"}\xff".to_vec(),
            headers: [("content-type".to_string(), "application/json".to_string())].into(),
            received_at: 1_700_000_000,
            expires_at: 1_700_604_800,
            subject: Some(crate::subjects::subject_key("acme", "ada@example.com")),
        };
        let item = ev.to_item();
        assert_eq!(item[GSI1SK].as_s().unwrap(), "EVT#conn_1#evt_1#with#hashes");
        assert_eq!(item[PK].as_s().unwrap(), "EVT#conn_1#evt_1#with#hashes");
        assert_eq!(
            item[LOG_PK].as_s().unwrap(),
            "WHLOG#acme#conn_1",
            "an accepted event is in its connection's webhook log"
        );
        assert!(item[LOG_SK].as_s().unwrap().starts_with("001700000000#conn_1#e"));
        assert_eq!(StoredEvent::from_item(&item).unwrap(), ev);
    }
}
