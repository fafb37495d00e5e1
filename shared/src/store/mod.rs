//! DynamoDB state: one table, single-table design (see ARCHITECTURE.md, "State").

pub mod api_keys;
pub mod audit;
pub(crate) mod batch;
pub mod connections;
pub mod dead_letters;
pub mod events;
pub mod flows;
pub mod idempotency;
pub mod jobs;
pub mod links;
pub mod migrate;
pub mod outbox;
pub mod quality;
pub mod rate_budget;
pub mod request_windows;
pub mod reviews;
pub mod subjects;
pub mod subscriptions;
pub mod table;
pub mod tenant_connectors;
pub mod usage;
pub mod webhook_log;

/// A failure talking to the table, in the caller's terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB request {operation} failed ({}): {message}", failure.name())]
    Dynamo {
        operation: &'static str,
        message: String,
        /// Throttled, transient or permanent: what retrying can do about it.
        failure: crate::aws::AwsFailure,
    },
    #[error("item {key} in the table is not a valid {kind}: {reason}")]
    Corrupt {
        kind: &'static str,
        key: String,
        reason: String,
    },
    #[error("{kind} {id} already exists")]
    AlreadyExists { kind: &'static str, id: String },
    #[error("{kind} {id} was not found")]
    NotFound { kind: &'static str, id: String },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

impl StoreError {
    pub(crate) fn dynamo<E, R>(
        operation: &'static str,
        err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
        R: crate::aws::HttpStatus + std::fmt::Debug + 'static,
    {
        StoreError::Dynamo {
            operation,
            failure: crate::aws::classify_sdk_error(&err),
            message: crate::aws::describe_sdk_error(&err),
        }
    }

    /// Whether a later attempt of the same work may succeed without a person acting.
    pub fn is_retriable(&self) -> bool {
        matches!(self, StoreError::Dynamo { failure, .. } if failure.is_retriable())
    }

    /// Whether DynamoDB throttled the request.
    pub fn is_throttled(&self) -> bool {
        matches!(
            self,
            StoreError::Dynamo {
                failure: crate::aws::AwsFailure::Throttled,
                ..
            }
        )
    }
}

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// A typed value as an item, with its key attributes added.
pub(crate) fn typed_item<T: serde::Serialize>(
    kind: &'static str,
    value: &T,
    keys: &[(&str, String)],
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(value).map_err(|e| StoreError::Invalid {
        what: kind,
        reason: e.to_string(),
    })?;
    for (name, value) in keys {
        item.insert((*name).to_string(), AttributeValue::S(value.clone()));
    }
    Ok(item)
}

/// A typed value read back from an item, its key attributes dropped.
pub(crate) fn from_typed_item<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    mut item: HashMap<String, AttributeValue>,
    key: &str,
) -> Result<T, StoreError> {
    for k in [
        table::PK,
        table::SK,
        table::GSI1PK,
        table::GSI1SK,
        table::SCHED_PK,
        table::SCHED_SK,
    ] {
        item.remove(k);
    }
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        kind,
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// A conditional write's outcome: `Ok(true)` written, `Ok(false)` its condition did not hold
/// (nothing written), any other failure an error naming `operation`.
pub(crate) fn written<O, E, R>(
    res: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::aws::HttpStatus + std::fmt::Debug + 'static,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    match res {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(StoreError::dynamo(operation, e)),
    }
}

/// One unconditional `PutItem`.
pub(crate) async fn put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<(), StoreError> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| StoreError::dynamo("PutItem", e))?;
    Ok(())
}

/// One `PutItem` unless an item with the same key exists: `Ok(true)` stored, `Ok(false)` it
/// was already there (nothing written).
pub(crate) async fn put_if_absent(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<bool, StoreError> {
    let res = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", table::PK)
        .send()
        .await;
    written(res, "PutItem")
}

/// [`put_if_absent`] with further items written in the same `TransactWriteItems` (one call):
/// all are written, or none when `item` exists already (`Ok(false)`). Without further items it
/// is a plain conditional `PutItem`.
pub(crate) async fn put_if_absent_with(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: HashMap<String, AttributeValue>,
    also: Vec<HashMap<String, AttributeValue>>,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    if also.is_empty() {
        return put_if_absent(client, table, item).await;
    }
    // The first put carries the condition; the others are written with it or not at all.
    let put = |item, conditional: bool| -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(table).set_item(Some(item));
        if conditional {
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", table::PK);
        }
        let put = put.build().map_err(|e| StoreError::Invalid {
            what: "transaction",
            reason: e.to_string(),
        })?;
        Ok(TransactWriteItem::builder().put(put).build())
    };
    let items = std::iter::once(put(item, true))
        .chain(also.into_iter().map(|extra| put(extra, false)))
        .collect::<Result<Vec<_>, _>>()?;
    let res = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    match res {
        Ok(_) => Ok(true),
        // Cancelled because the first item's condition failed: it exists. Any other
        // cancellation (a conflicting transaction, throttling) is an error to retry.
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed")
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::dynamo("TransactWriteItems", e)),
    }
}

/// Every item of a tenant whose index sort key starts with `prefix` (`CONN#`, `FLOW#`), from
/// the `gsi1` index, with its primary key for error messages.
pub(crate) async fn tenant_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &str,
    prefix: &str,
) -> Result<Vec<(String, HashMap<String, AttributeValue>)>, StoreError> {
    table::validate_id("tenant", tenant)?;
    let mut pages = client
        .query()
        .table_name(table)
        .index_name(table::GSI1)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
        .expression_attribute_names("#pk", table::GSI1PK)
        .expression_attribute_names("#sk", table::GSI1SK)
        .expression_attribute_values(":pk", AttributeValue::S(table::tenant_pk(tenant)))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()))
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| StoreError::dynamo("Query", e))?;
        let key = item
            .get(table::PK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        out.push((key, item));
    }
    Ok(out)
}

/// One page of a tenant's items whose index sort key starts with `prefix`, strictly after the
/// item whose sort key is `prefix` + `after`, in sort-key order: one `Query` of `gsi1` with
/// `Limit` = `limit + 1` (the extra item only says whether more follow). Ids hold letters,
/// digits, `-` and `_` only, so `<after>!` sorts after `after` and before every longer id that
/// starts with it, and `<prefix>~` after every id.
pub(crate) async fn tenant_page(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &str,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<(String, HashMap<String, AttributeValue>)>, bool), StoreError> {
    table::validate_id("tenant", tenant)?;
    if let Some(after) = after {
        table::validate_id("cursor", after)?;
    }
    let low = match after {
        Some(after) => format!("{prefix}{after}!"),
        None => prefix.to_string(),
    };
    let out = client
        .query()
        .table_name(table)
        .index_name(table::GSI1)
        .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
        .expression_attribute_names("#pk", table::GSI1PK)
        .expression_attribute_names("#sk", table::GSI1SK)
        .expression_attribute_values(":pk", AttributeValue::S(table::tenant_pk(tenant)))
        .expression_attribute_values(":low", AttributeValue::S(low))
        .expression_attribute_values(":high", AttributeValue::S(format!("{prefix}~")))
        .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|e| StoreError::dynamo("Query", e))?;
    let mut items: Vec<_> = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| {
            let key = item
                .get(table::PK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            (key, item)
        })
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    Ok((items, more))
}
