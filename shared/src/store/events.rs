//! Inbound event items. The conditional put keyed by connection + provider event id is the
//! deduplication: a second delivery of the same event fails the condition and is dropped.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::table::{self, EVENT_SK, EXPIRES_AT, PK, SK};
use super::StoreError;

/// An accepted inbound event as stored for connector-sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub connection_id: String,
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
        let mut item = std::collections::HashMap::with_capacity(10);
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
            event_id: s("event_id")?,
            event_type: s("event_type")?,
            provider: s("provider")?,
            body,
            headers,
            received_at: n("received_at")?,
            expires_at: n(EXPIRES_AT)?,
        })
    }
}

/// Reads and writes inbound events.
#[derive(Debug, Clone)]
pub struct EventStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl EventStore {
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
            event_id: "evt_1#with#hashes".into(),
            event_type: "customer.created".into(),
            provider: "stripe".into(),
            body: b"{\"id\":\"evt_1\"}\xff".to_vec(),
            headers: [("content-type".to_string(), "application/json".to_string())].into(),
            received_at: 1_700_000_000,
            expires_at: 1_700_604_800,
        };
        let item = ev.to_item();
        assert_eq!(item[PK].as_s().unwrap(), "EVT#conn_1#evt_1#with#hashes");
        assert_eq!(StoredEvent::from_item(&item).unwrap(), ev);
    }
}
