//! Dead letters: messages that stopped retrying, parked with everything needed to understand
//! and replay them: the full message, every attempt's time and error, the classification.
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | dead letter | `DEAD#<message key>` | `DEAD` | `DEAD` / `<parked_at, 12 digits>#<message key>` |
//!
//! The message key (`evt:<connection>:<event>` or `job:<flow>:<job>`) names what the message is
//! about, so parking the same message again (a redelivery, or a replay that failed again)
//! overwrites its dead letter instead of adding a second one. Listing queries `gsi1` in time
//! order; dead letters are few, so one index partition is plenty.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::table::{GSI1, GSI1PK, GSI1SK, PK, SK};
use super::StoreError;
use crate::queue::AttemptRecord;

pub const DEAD_SK: &str = "DEAD";
/// The `gsi1` partition holding every dead letter.
pub const DEAD_INDEX_PK: &str = "DEAD";

pub fn dead_letter_pk(key: &str) -> String {
    format!("DEAD#{key}")
}

fn index_sk(parked_at: i64, key: &str) -> String {
    format!("{:012}#{key}", parked_at.max(0))
}

/// Parked, or sent back to the sync queue by a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    Parked,
    Replayed,
}

/// A parked message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The message key: `evt:<connection>:<event>` or `job:<flow>:<job>`.
    pub key: String,
    /// `inbound_event` or `sync_job` (`unreadable` for a body that is not a sync message).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// The whole message body as it was when parked (an envelope with its history).
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
    /// Every failed attempt: time, class and error.
    pub history: Vec<AttemptRecord>,
    /// The last failure's class: `transient`, `rate_limited`, `reauth`, `permanent`, `unhandled`.
    pub classification: String,
    /// Why it was parked: `permanent`, `reauth` or `exhausted`.
    pub reason: String,
    pub last_error: String,
    pub parked_at: i64,
    pub status: DeadLetterStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at: Option<i64>,
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Parked at or after (unix seconds).
    pub since: Option<i64>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<DeadLetterStatus>,
}

pub use super::audit::AuditEntry;

const KIND: &str = "dead letter";

#[derive(Debug, Clone)]
pub struct DeadLetterStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DeadLetterStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Parks (or re-parks) a message: one `PutItem`.
    pub async fn put(&self, dead: &DeadLetter) -> Result<(), StoreError> {
        let item = super::typed_item(
            KIND,
            dead,
            &[
                (PK, dead_letter_pk(&dead.key)),
                (SK, DEAD_SK.into()),
                (GSI1PK, DEAD_INDEX_PK.into()),
                (GSI1SK, index_sk(dead.parked_at, &dead.key)),
            ],
        )?;
        super::put(&self.client, &self.table, item).await
    }

    pub async fn get(&self, key: &str) -> Result<Option<DeadLetter>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(dead_letter_pk(key)))
            .key(SK, AttributeValue::S(DEAD_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| from_item(item, key)).transpose()
    }

    /// Dead letters in the order they were parked, oldest first.
    pub async fn list(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk AND #sk >= :since")
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_names("#sk", GSI1SK)
            .expression_attribute_values(":pk", AttributeValue::S(DEAD_INDEX_PK.into()))
            .expression_attribute_values(
                ":since",
                AttributeValue::S(format!("{:012}", filter.since.unwrap_or(0).max(0))),
            )
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::dynamo("Query", e))?;
            let key = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let dead = from_item(item, &key)?;
            if filter.statuses.is_empty() || filter.statuses.contains(&dead.status) {
                out.push(dead);
            }
        }
        Ok(out)
    }

    /// Marks a dead letter replayed (it stays for the record; parking it again overwrites it).
    pub async fn mark_replayed(&self, key: &str, at: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(dead_letter_pk(key)))
            .key(SK, AttributeValue::S(DEAD_SK.into()))
            .update_expression("SET #status = :replayed, #at = :at")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", "replayed_at")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":replayed", AttributeValue::S("replayed".into()))
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Writes an audit entry (see [`super::audit::AuditStore`]).
    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        super::audit::AuditStore::new(self.client.clone(), &self.table)
            .record(entry)
            .await
    }

    /// A tenant's audit entries, oldest first.
    pub async fn audit_entries(&self, tenant: &str) -> Result<Vec<AuditEntry>, StoreError> {
        super::audit::AuditStore::new(self.client.clone(), &self.table)
            .all(tenant)
            .await
    }
}

fn from_item(item: HashMap<String, AttributeValue>, key: &str) -> Result<DeadLetter, StoreError> {
    super::from_typed_item(KIND, item, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_round_trips_through_an_item() {
        let dead = DeadLetter {
            key: "evt:c:e".into(),
            kind: "inbound_event".into(),
            connection_id: Some("c".into()),
            flow_id: None,
            message: "{}".into(),
            attempts: 3,
            history: vec![AttemptRecord {
                attempt: 0,
                at: 1,
                class: "transient".into(),
                error: "503".into(),
                delay_secs: Some(5),
            }],
            classification: "permanent".into(),
            reason: "permanent".into(),
            last_error: "bad email".into(),
            parked_at: 9,
            status: DeadLetterStatus::Parked,
            replayed_at: None,
        };
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&dead).unwrap();
        assert_eq!(from_item(item, "k").unwrap(), dead);
        assert!(index_sk(9, "evt:c:e") < index_sk(10, "evt:a:a"), "index sorts by time");
    }
}
