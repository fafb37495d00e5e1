//! A person's items (data subjects, see [`crate::subjects`]): the tenant's subject partition of
//! `gsi1`, and the deletes of an erasure.
//!
//! | item | gsi1pk | gsi1sk |
//! |---|---|---|
//! | inbound event | `SUBJ#<tenant>#<digest>` | `EVT#<conn>#<event id>` (its pk) |
//! | record link | `SUBJ#<tenant>#<digest>` | `FLOW#<flow>#REC#<source id>` |
//! | review item | `SUBJ#<tenant>#<digest>` | `LINK#<flows>#REVIEW#<record>` |
//! | webhook delivery (its payload) | `SUBJ#<tenant>#<digest>` | `WHSUB#<subscription>#DLV#<delivery id>` |
//! | kept outbox delivery | `SUBJ#<tenant>#<digest>` | `OUTBOX#<delivery id>` |
//! | pointer (pk `PTR#SUBJ#<tenant>#<digest>`, sk `<target pk>\|<target sk>`) | `SUBJ#<tenant>#<digest>` | the target's |
//! | erasure marker (pk `ERASED#SUBJ#<tenant>#<digest>`, sk `ERASED`) | none | none |
//!
//! An **erasure marker** says when a subject was erased, for [`ERASED_MARKER_TTL_SECS`]: a
//! webhook delivery still on the queue at the erasure (its first attempt, not yet on the
//! table to erase) finds it and is dropped instead of sending the person's data. It holds the
//! digest in its key and the time, nothing else.
//!
//! An item is indexed on itself under its first address. Each further address (up to
//! [`MAX_OTHER_ADDRESSES`]) gets a **pointer item** in that address's partition naming the
//! item's key, so an export or erasure by any of a person's addresses finds the item: the page
//! of the partition is read, then the items its pointers name (one `BatchGetItem`). A pointer
//! carries no personal data (the digest is in its key, as on the item) and the target's TTL.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::table::{GSI1, GSI1PK, GSI1SK, PK, SK};
use super::StoreError;

/// An item's primary key.
pub type ItemKey = (String, String);

/// The most further addresses of one item that get a pointer (an event listing a hundred
/// recipients writes ten pointers, not a hundred).
pub const MAX_OTHER_ADDRESSES: usize = 10;

/// The pk prefix of pointer items.
pub const POINTER_PREFIX: &str = "PTR#";

/// The pk prefix of erasure markers, and their sort key.
const ERASED_PREFIX: &str = "ERASED#";
const ERASED_SK: &str = "ERASED";
const ERASED_AT: &str = "erased_at";

/// How long an erasure marker is kept: SQS's longest message retention (14 days), so no
/// message queued before the erasure can outlive it.
pub const ERASED_MARKER_TTL_SECS: i64 = 14 * 86_400;

/// The attributes naming a pointer's target.
const TARGET_PK: &str = "target_pk";
const TARGET_SK: &str = "target_sk";

/// A pointer item: `subject_key`'s partition of `gsi1` holds it, and it names `target` (whose
/// own index sort key is `index_sk`). `expires_at` is the target's TTL, if it has one.
pub fn pointer_item(
    subject_key: &str,
    target: &ItemKey,
    index_sk: &str,
    expires_at: Option<i64>,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (
            PK.to_string(),
            AttributeValue::S(format!("{POINTER_PREFIX}{subject_key}")),
        ),
        (SK.to_string(), AttributeValue::S(format!("{}|{}", target.0, target.1))),
        (TARGET_PK.to_string(), AttributeValue::S(target.0.clone())),
        (TARGET_SK.to_string(), AttributeValue::S(target.1.clone())),
        (GSI1PK.to_string(), AttributeValue::S(subject_key.to_string())),
        (GSI1SK.to_string(), AttributeValue::S(index_sk.to_string())),
    ]);
    if let Some(at) = expires_at {
        item.insert(super::table::EXPIRES_AT.to_string(), AttributeValue::N(at.to_string()));
    }
    item
}

/// The target a pointer item names; `None` for any other item.
pub fn pointer_target(item: &HashMap<String, AttributeValue>) -> Option<ItemKey> {
    let (pk, _) = key_of(item)?;
    if !pk.starts_with(POINTER_PREFIX) {
        return None;
    }
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some((s(TARGET_PK)?, s(TARGET_SK)?))
}

/// Pointer items for each of `others` (subject keys; the item's own first subject left out by
/// the caller), as `PutRequest`s for a `BatchWriteItem`.
pub fn pointer_writes(
    others: &[String],
    target: &ItemKey,
    index_sk: &str,
    expires_at: Option<i64>,
) -> Vec<WriteRequest> {
    others
        .iter()
        .take(MAX_OTHER_ADDRESSES)
        .map(|subject| {
            WriteRequest::builder()
                .put_request(
                    aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(pointer_item(subject, target, index_sk, expires_at)))
                        .build()
                        .expect("the item is set"),
                )
                .build()
        })
        .collect()
}

/// The primary key of an item read from the table or an index.
pub fn key_of(item: &HashMap<String, AttributeValue>) -> Option<ItemKey> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some((s(PK)?, s(SK)?))
}

/// Where a page of a subject partition ended: the last item's index sort key and primary key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    #[serde(rename = "i")]
    pub index_sk: String,
    #[serde(rename = "p")]
    pub pk: String,
    #[serde(rename = "s")]
    pub sk: String,
}

#[derive(Debug, Clone)]
pub struct SubjectStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl SubjectStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Every item of a subject partition (`subject_key` from [`crate::subjects::subject_key`]):
    /// one `Query` per page of the index (eventually consistent, as every index read).
    pub async fn items(&self, subject_key: &str) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_values(":pk", AttributeValue::S(subject_key.to_string()))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(|e| StoreError::dynamo("Query", e))?);
        }
        Ok(out)
    }

    /// One page of a subject partition: at most `limit` items after `after` (a position this
    /// method returned), in index order, and the position to continue from when there may be
    /// more. One `Query`, so a page also stops at DynamoDB's 1 MB per response: an export
    /// page stays far below Lambda's 6 MB response limit however large the items are.
    pub async fn page(
        &self,
        subject_key: &str,
        limit: usize,
        after: Option<&Position>,
    ) -> Result<(Vec<HashMap<String, AttributeValue>>, Option<Position>), StoreError> {
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_values(":pk", AttributeValue::S(subject_key.to_string()))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        if let Some(p) = after {
            req = req.set_exclusive_start_key(Some(HashMap::from([
                (GSI1PK.to_string(), AttributeValue::S(subject_key.to_string())),
                (GSI1SK.to_string(), AttributeValue::S(p.index_sk.clone())),
                (PK.to_string(), AttributeValue::S(p.pk.clone())),
                (SK.to_string(), AttributeValue::S(p.sk.clone())),
            ])));
        }
        let resp = req.send().await.map_err(|e| StoreError::dynamo("Query", e))?;
        let next = resp.last_evaluated_key.as_ref().and_then(|k| {
            let s = |name: &str| k.get(name).and_then(|v| v.as_s().ok()).cloned();
            Some(Position {
                index_sk: s(GSI1SK)?,
                pk: s(PK)?,
                sk: s(SK)?,
            })
        });
        Ok((resp.items.unwrap_or_default(), next))
    }

    /// Writes pointer items ([`pointer_writes`]): one `BatchWriteItem` per 25.
    pub async fn point(&self, writes: Vec<WriteRequest>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        super::batch::write_all(&self.client, &self.table, writes).await
    }

    /// The items of these keys that still exist (one `BatchGetItem` per 100).
    pub async fn get_many(&self, keys: &[ItemKey]) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut wanted = keys.to_vec();
        wanted.sort();
        wanted.dedup();
        let keys = wanted
            .into_iter()
            .map(|(pk, sk)| {
                HashMap::from([
                    (PK.to_string(), AttributeValue::S(pk)),
                    (SK.to_string(), AttributeValue::S(sk)),
                ])
            })
            .collect();
        super::batch::get_all(&self.client, &self.table, keys, false).await
    }

    /// Records that the subject `subject_key` was erased at `now` (one `PutItem`; a later
    /// erasure moves the time on). See [`ERASED_MARKER_TTL_SECS`].
    pub async fn mark_erased(&self, subject_key: &str, now: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(format!("{ERASED_PREFIX}{subject_key}")))
            .item(SK, AttributeValue::S(ERASED_SK.into()))
            .item(ERASED_AT, AttributeValue::N(now.to_string()))
            .item(
                super::table::EXPIRES_AT,
                AttributeValue::N((now + ERASED_MARKER_TTL_SECS).to_string()),
            )
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// Whether any of these subjects was erased at or after `since` (unix seconds): one
    /// `BatchGetItem` per 100 subjects, strongly consistent, none for no subjects.
    pub async fn erased_since(&self, subject_keys: &[String], since: i64) -> Result<bool, StoreError> {
        if subject_keys.is_empty() {
            return Ok(false);
        }
        let mut wanted: Vec<&String> = subject_keys.iter().collect();
        wanted.sort();
        wanted.dedup();
        let keys = wanted
            .into_iter()
            .map(|k| {
                HashMap::from([
                    (PK.to_string(), AttributeValue::S(format!("{ERASED_PREFIX}{k}"))),
                    (SK.to_string(), AttributeValue::S(ERASED_SK.into())),
                ])
            })
            .collect();
        let markers = super::batch::get_all(&self.client, &self.table, keys, true).await?;
        Ok(markers.iter().any(|m| {
            m.get(ERASED_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .is_some_and(|at| at >= since)
        }))
    }

    /// Deletes items by key: one `BatchWriteItem` per 25.
    pub async fn delete_all(&self, keys: &[ItemKey]) -> Result<(), StoreError> {
        let writes = keys
            .iter()
            .map(|(pk, sk)| {
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .key(PK, AttributeValue::S(pk.clone()))
                            .key(SK, AttributeValue::S(sk.clone()))
                            .build()
                            .expect("the key is set"),
                    )
                    .build()
            })
            .collect();
        super::batch::write_all(&self.client, &self.table, writes).await
    }
}
