//! A person's items (data subjects, see [`crate::subjects`]): the tenant's subject partition of
//! `gsi1`, and the deletes of an erasure.
//!
//! | item | gsi1pk | gsi1sk |
//! |---|---|---|
//! | inbound event | `SUBJ#<tenant>#<digest>` | `EVT#<conn>#<event id>` (its pk) |
//! | record link | `SUBJ#<tenant>#<digest>` | `FLOW#<flow>#REC#<source id>` |
//! | review item | `SUBJ#<tenant>#<digest>` | `LINK#<flows>#REVIEW#<record>` |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::table::{GSI1, GSI1PK, GSI1SK, PK, SK};
use super::StoreError;

/// An item's primary key.
pub type ItemKey = (String, String);

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
