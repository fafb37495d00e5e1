//! The tenant's audit log: who did what to which resource, when, and how it ended.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | audit entry | `AUDIT#<tenant>` | `<unix secs, 12 digits>#<ulid>` |
//!
//! One partition per tenant, sorted by time: newest first is one `Query` with
//! `ScanIndexForward = false`, `since` a key condition, the cursor the last sort key. Entries
//! never hold a request body or a secret: only the actor (a key prefix, `cli:<user>` or a
//! function), its role, the action, the resource id, the route and the answer's status.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::table::{self, PK, SK};
use super::StoreError;

const KIND: &str = "audit entry";

/// An audit entry: who did what to which item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub tenant: String,
    pub at: i64,
    /// Who: `key:<prefix>`, `cli:<user>`, or a function name.
    pub actor: String,
    /// What: `connection.create`, `dead_letter.replay`, `key.rotate`, ...
    pub action: String,
    /// Which item (a dead letter's key, a connection id, a key prefix); empty when none.
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The actor's role, when the actor is an API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The API route (its template, never ids), when it came through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The HTTP status the API answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl AuditEntry {
    /// An entry with only the required fields; set the rest on the value.
    pub fn new(
        tenant: impl Into<String>,
        at: i64,
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            at,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            detail: String::new(),
            role: None,
            route: None,
            status: None,
        }
    }
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// At or after (unix seconds).
    pub since: Option<i64>,
    /// Only this action.
    pub action: Option<String>,
    /// Continue after this position (a sort key given out by a previous page).
    pub after: Option<String>,
    /// Newest first (the list) or oldest first (the export).
    pub newest_first: bool,
    pub limit: usize,
}

/// A page of entries, each with its position (sort key) for cursors.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub items: Vec<(String, AuditEntry)>,
    pub more: bool,
}

#[derive(Debug, Clone)]
pub struct AuditStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn pk(tenant: &str) -> String {
    format!("AUDIT#{tenant}")
}

/// Whether a position is one this store gave out (`<12 digits>#<ulid>`).
pub fn is_position(s: &str) -> bool {
    s.len() == 12 + 1 + 26
        && s.as_bytes()[12] == b'#'
        && s[..12].bytes().all(|b| b.is_ascii_digit())
        && s[13..].bytes().all(|b| b.is_ascii_alphanumeric())
}

impl AuditStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes an entry: one `PutItem`.
    pub async fn record(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        super::put(&self.client, &self.table, Self::item(entry)?).await
    }

    /// The item an entry is stored as, for a caller that writes it in the same transaction as
    /// the change it records (see [`crate::store::flows::FlowStore::create_audited`]).
    pub fn item(entry: &AuditEntry) -> Result<std::collections::HashMap<String, AttributeValue>, StoreError> {
        table::validate_id("tenant", &entry.tenant)?;
        super::typed_item(
            KIND,
            entry,
            &[
                (PK, pk(&entry.tenant)),
                (SK, format!("{:012}#{}", entry.at.max(0), ulid::Ulid::new())),
            ],
        )
    }

    /// Every entry of a tenant, oldest first.
    pub async fn all(&self, tenant: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .page(
                    tenant,
                    &AuditQuery {
                        after,
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .await?;
            after = page.items.last().map(|(p, _)| p.clone());
            out.extend(page.items.into_iter().map(|(_, e)| e));
            if !page.more {
                return Ok(out);
            }
        }
    }

    /// One page of a tenant's entries. `Query` reads on (several calls when an action filter
    /// thins a page out) until `limit` match or the partition ends.
    pub async fn page(&self, tenant: &str, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        table::validate_id("tenant", tenant)?;
        let since = format!("{:012}", q.since.unwrap_or(0).max(0));
        // Positions are `<12 digits>#<ulid>`: `<after>!` sorts just after one, `~` after all.
        let (low, high) = match (&q.after, q.newest_first) {
            (Some(after), true) => (since, after.clone()),
            (Some(after), false) => (std::cmp::max(since, format!("{after}!")), "~".to_string()),
            (None, _) => (since, "~".to_string()),
        };
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk(tenant)))
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone()))
                .scan_index_forward(!q.newest_first)
                .limit(i32::try_from(q.limit.saturating_add(1)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(action) = &q.action {
                req = req
                    .filter_expression("#action = :action")
                    .expression_attribute_names("#action", "action")
                    .expression_attribute_values(":action", AttributeValue::S(action.clone()));
            }
            let out = req.send().await.map_err(|e| StoreError::dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let position = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                // BETWEEN is inclusive: the cursor's own entry is not shown again.
                if q.newest_first && q.after.as_deref() == Some(position.as_str()) {
                    continue;
                }
                let entry: AuditEntry = super::from_typed_item(KIND, item, tenant)?;
                items.push((position, entry));
            }
            if items.len() > q.limit {
                break;
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        let more = items.len() > q.limit;
        items.truncate(q.limit);
        Ok(AuditPage { items, more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_recognised() {
        assert!(is_position("001800000000#01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert!(!is_position("001800000000#01ARZ3NDEKTSV4RRFFQ69G5FA"));
        assert!(!is_position("00180000000x#01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert!(!is_position("anything"));
    }

    #[test]
    fn old_entries_without_the_api_fields_still_read() {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(serde_json::json!({
            "tenant": "t", "at": 1, "actor": "cli:me", "action": "dead_letter.replay", "target": "k"
        }))
        .unwrap();
        let e: AuditEntry = super::super::from_typed_item(KIND, item, "t").unwrap();
        assert_eq!((e.role, e.status), (None, None));
    }
}
