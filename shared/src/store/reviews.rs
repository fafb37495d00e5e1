//! The review queue: records both sides of a two-way link changed since they were last in
//! step, parked for a person by the link's `manual` rule, with both versions and the base.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | review item | `LINK#<first flow>|<second flow>` (the pair's flow ids, in order) | `REVIEW#<id on the first flow's source side>` |
//!
//! One item per record pair, whichever direction saw the conflict first: the put is
//! conditional, so the other direction finds it there and leaves the record alone too.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::table::{GSI1PK, GSI1SK, PK, SK};
use super::StoreError;

/// The pair's key: its two flow ids in order, so both directions name it the same.
pub fn link_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

fn review_pk(first: &str, second: &str) -> String {
    format!("LINK#{first}|{second}")
}

fn review_sk(record: &str) -> String {
    format!("REVIEW#{record}")
}

/// A parked conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// The pair's first flow (the smaller id) and second flow.
    pub first_flow: String,
    pub second_flow: String,
    /// The record's id on the first flow's source side, and its counterpart's id.
    pub record: String,
    pub counterpart: String,
    /// Both versions as they were when the conflict was seen (first flow's source side, then
    /// the other side).
    pub first_version: serde_json::Value,
    pub second_version: serde_json::Value,
    /// The other side's record as last synced (the base its change is measured from), when kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<serde_json::Value>,
    pub parked_at: i64,
    /// The flow that saw the conflict.
    pub seen_by: String,
    /// A conflict (both sides changed), or a possible duplicate: a record `seen_by` was about
    /// to create whose best match on the other side scored between the link's thresholds.
    #[serde(default, skip_serializing_if = "ReviewKind::is_conflict")]
    pub kind: ReviewKind,
    /// A possible duplicate's score (0 to 1) and what it rests on (`email`, `phone`, `name and
    /// company`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// What a review item asks a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// Which side's version wins.
    #[default]
    Conflict,
    /// Whether two records are the same one.
    Duplicate,
}

impl ReviewKind {
    pub fn is_conflict(&self) -> bool {
        *self == ReviewKind::Conflict
    }
}

#[derive(Debug, Clone)]
pub struct ReviewStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl ReviewStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Parks `item` unless the pair's record is already parked; `true` when this call parked it.
    /// With a `subject` ([`crate::subjects`]), the item is in that person's partition of `gsi1`.
    pub async fn park(&self, item: &ReviewItem, subject: Option<&str>) -> Result<bool, StoreError> {
        let pk = review_pk(&item.first_flow, &item.second_flow);
        let sk = review_sk(&item.record);
        let mut keys = Vec::with_capacity(4);
        if let Some(subject) = subject {
            keys.push((GSI1PK, subject.to_string()));
            keys.push((GSI1SK, format!("{pk}#{sk}")));
        }
        keys.extend([(PK, pk), (SK, sk)]);
        let item = super::typed_item("review item", item, &keys)?;
        super::put_if_absent(&self.client, &self.table, item).await
    }

    /// Pointer items for the further addresses of a parked item's versions (subject keys from
    /// [`crate::subjects::other_subjects_of_value`]), so a person named second finds it too.
    pub async fn point_other_subjects(&self, item: &ReviewItem, others: &[String]) -> Result<(), StoreError> {
        let pk = review_pk(&item.first_flow, &item.second_flow);
        let sk = review_sk(&item.record);
        let index_sk = format!("{pk}#{sk}");
        let writes = super::subjects::pointer_writes(others, &(pk, sk), &index_sk, None);
        if writes.is_empty() {
            return Ok(());
        }
        super::batch::write_all(&self.client, &self.table, writes).await
    }

    pub async fn get(&self, first: &str, second: &str, record: &str) -> Result<Option<ReviewItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(review_pk(first, second)))
            .key(SK, AttributeValue::S(review_sk(record)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item
            .map(|item| super::from_typed_item("review item", item, record))
            .transpose()
    }

    /// Every parked conflict of the pair, in record id order.
    pub async fn list(&self, first: &str, second: &str) -> Result<Vec<ReviewItem>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :review)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(review_pk(first, second)))
                .expression_attribute_values(":review", AttributeValue::S("REVIEW#".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in resp.items.unwrap_or_default() {
                let key = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                out.push(super::from_typed_item("review item", item, &key)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Removes a parked conflict once it is resolved.
    pub async fn remove(&self, first: &str, second: &str, record: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(review_pk(first, second)))
            .key(SK, AttributeValue::S(review_sk(record)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }
}
