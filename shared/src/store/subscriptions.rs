//! Outbound webhook subscriptions and their delivery log (see [`crate::subscriptions`]).
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | subscription | `WHSUB#<id>` | `WHSUB` | `TENANT#<t>` / `WHSUB#<id>` |
//! | delivery | `WHSUB#<id>` | `DLV#<delivery id>` (a lower-case ULID: time order) | `SUBJ#<t>#<digest>` / `WHSUB#<id>#DLV#<delivery id>`, when its payload holds an address |
//!
//! A subscription holds the endpoint, the event types, the filter and the ARN of its signing
//! secret (the secret itself is only in Secrets Manager). A delivery holds one event sent to
//! one subscription, every attempt made, and a TTL (`expires_at`).
//!
//! A delivery's payload can hold a person's data (a `record.*` event carries the record
//! written), so the delivery is in the subject index ([`crate::subjects`]) like a stored event:
//! under the first address of its payload on itself, under each further one by a pointer item
//! written in the same request (a `BatchWriteItem` instead of the `PutItem`, only for payloads
//! with more than one address), with the delivery's TTL. `GET` and `DELETE /v1/subjects/{email}`
//! export and erase it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use serde::{Deserialize, Serialize};

use super::table::{self, EXPIRES_AT, GSI1PK, GSI1SK, PK, SK};
use super::StoreError;

const KIND: &str = "webhook subscription";
const DELIVERY_KIND: &str = "webhook delivery";
pub const SUBSCRIPTION_SK: &str = "WHSUB";
/// `gsi1sk` prefix of a tenant's subscriptions.
pub const INDEX_PREFIX: &str = "WHSUB#";

pub fn subscription_pk(id: &str) -> String {
    format!("WHSUB#{id}")
}

fn delivery_sk(delivery_id: &str) -> String {
    format!("DLV#{delivery_id}")
}

/// An outbound webhook subscription of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub tenant: String,
    /// Where deliveries are POSTed (checked by the URL guard when set, and by the guarded
    /// client's resolver on every delivery).
    pub url: String,
    /// Event types from the catalogue ([`crate::subscriptions::catalogue`]), sorted.
    pub event_types: Vec<String>,
    /// Dotted path in the event's `data` -> the values it may have (any of them).
    #[serde(default)]
    pub filter: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The signing secret (`whsec_...`) lives in this Secrets Manager secret only.
    pub secret_arn: String,
    /// Until when deliveries are also signed with the secret a rotation replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<i64>,
    pub enabled: bool,
    /// Since when every attempt failed (cleared by a success); the endpoint is disabled once
    /// this is older than the configured period. Absent (not NULL) when none: the failing
    /// update's `if_not_exists` needs that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued, or waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Attempts used up, or the endpoint is disabled: `resend` or `recover` sends it again.
    Failed,
}

impl DeliveryStatus {
    pub fn name(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    /// 0 is the first.
    pub attempt: u32,
    /// Unix seconds.
    pub at: i64,
    /// The endpoint's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// What went wrong (never the endpoint's body or a secret).
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// One event sent to one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub subscription_id: String,
    /// The event's id: the `webhook-id` header, the same on every attempt and resend.
    pub event_id: String,
    pub event_type: String,
    /// The body sent, as JSON text (`{"type", "timestamp", "data"}`).
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: Vec<DeliveryAttempt>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub next_attempt_at: Option<i64>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    pub more: bool,
}

/// Reads and writes subscriptions and deliveries.
#[derive(Debug, Clone)]
pub struct SubscriptionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl SubscriptionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The outbox of deliveries the queue refused, in the same table.
    pub fn outbox(&self) -> super::outbox::OutboxStore {
        super::outbox::OutboxStore::new(self.client.clone(), &self.table)
    }

    fn item(sub: &Subscription) -> Result<HashMap<String, AttributeValue>, StoreError> {
        table::validate_id("subscription id", &sub.id)?;
        table::validate_id("tenant", &sub.tenant)?;
        super::typed_item(
            KIND,
            sub,
            &[
                (PK, subscription_pk(&sub.id)),
                (SK, SUBSCRIPTION_SK.into()),
                (GSI1PK, table::tenant_pk(&sub.tenant)),
                (GSI1SK, format!("{INDEX_PREFIX}{}", sub.id)),
            ],
        )
    }

    /// Stores a new subscription; `AlreadyExists` if the id is taken.
    pub async fn create(&self, sub: &Subscription) -> Result<(), StoreError> {
        if super::put_if_absent(&self.client, &self.table, Self::item(sub)?).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists {
                kind: KIND,
                id: sub.id.clone(),
            })
        }
    }

    /// Replaces a subscription's settings (it must exist and stay in its tenant): `false` when
    /// it is gone.
    pub async fn replace(&self, sub: &Subscription) -> Result<bool, StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(sub)?))
            .condition_expression("attribute_exists(#pk) AND tenant = :tenant")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":tenant", AttributeValue::S(sub.tenant.clone()))
            .send()
            .await;
        super::written(res, "PutItem")
    }

    pub async fn get(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        if table::validate_id("subscription id", id).is_err() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(subscription_pk(id)))
            .key(SK, AttributeValue::S(SUBSCRIPTION_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| super::from_typed_item(KIND, item, id)).transpose()
    }

    /// Every subscription of a tenant: one `Query` of `gsi1` (the publisher caches it).
    pub async fn for_tenant(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        super::tenant_items(&self.client, &self.table, tenant, INDEX_PREFIX)
            .await?
            .into_iter()
            .map(|(key, item)| super::from_typed_item(KIND, item, &key))
            .collect()
    }

    /// One page of a tenant's subscriptions after `after` (an id), in id order.
    pub async fn page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Subscription>, bool), StoreError> {
        let (items, more) = super::tenant_page(&self.client, &self.table, tenant, INDEX_PREFIX, after, limit).await?;
        let items = items
            .into_iter()
            .map(|(key, item)| super::from_typed_item(KIND, item, &key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, more))
    }

    /// Deletes a subscription (its deliveries expire with their TTL).
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(subscription_pk(id)))
            .key(SK, AttributeValue::S(SUBSCRIPTION_SK.into()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }

    /// After a failed attempt: keeps the start of the failing period (set now if none) and
    /// returns it; `None` when the subscription is gone.
    pub async fn mark_failing(&self, id: &str, now: i64) -> Result<Option<i64>, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(subscription_pk(id)))
            .key(SK, AttributeValue::S(SUBSCRIPTION_SK.into()))
            .update_expression("SET failing_since = if_not_exists(failing_since, :now)")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => Ok(out
                .attributes
                .and_then(|a| a.get("failing_since").and_then(|v| v.as_n().ok()).cloned())
                .and_then(|n| n.parse().ok())),
            Err(e) => super::written(Err::<(), _>(e), "UpdateItem").map(|_| None),
        }
    }

    /// After a successful attempt: the failing period is over.
    pub async fn mark_healthy(&self, id: &str) -> Result<(), StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(subscription_pk(id)))
            .key(SK, AttributeValue::S(SUBSCRIPTION_SK.into()))
            .update_expression("REMOVE failing_since")
            .condition_expression("attribute_exists(failing_since)")
            .send()
            .await;
        super::written(res, "UpdateItem").map(|_| ())
    }

    /// Disables an enabled subscription: `true` for the one call that did (it sends the alert).
    pub async fn disable(&self, id: &str, now: i64, reason: &str) -> Result<bool, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(subscription_pk(id)))
            .key(SK, AttributeValue::S(SUBSCRIPTION_SK.into()))
            .update_expression("SET enabled = :off, disabled_at = :now, disabled_reason = :why, updated_at = :now")
            .condition_expression("enabled = :on")
            .expression_attribute_values(":off", AttributeValue::Bool(false))
            .expression_attribute_values(":on", AttributeValue::Bool(true))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":why", AttributeValue::S(reason.to_string()))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// Writes a delivery of `tenant`'s subscription as it is now, expiring at `expires_at`,
    /// in the subject index under its payload's first address: one `PutItem`; a payload with
    /// more addresses is written with their pointer items in one `BatchWriteItem` instead
    /// (each write renews the pointers' TTL with the delivery's).
    pub async fn put_delivery(&self, tenant: &str, d: &Delivery, expires_at: i64) -> Result<(), StoreError> {
        table::validate_id("subscription id", &d.subscription_id)?;
        table::validate_id("delivery id", &d.delivery_id)?;
        let pk = subscription_pk(&d.subscription_id);
        let sk = delivery_sk(&d.delivery_id);
        let mut keys = vec![(PK, pk.clone()), (SK, sk.clone())];
        let subject = crate::subjects::subject_of_bytes(tenant, d.payload.as_bytes());
        let index_sk = delivery_index_sk(&d.subscription_id, &d.delivery_id);
        if let Some(subject) = &subject {
            keys.push((GSI1PK, subject.clone()));
            keys.push((GSI1SK, index_sk.clone()));
        }
        let mut item = super::typed_item(DELIVERY_KIND, d, &keys)?;
        item.insert(EXPIRES_AT.into(), AttributeValue::N(expires_at.to_string()));
        let others = match subject {
            Some(_) => crate::subjects::other_subjects_of_bytes(tenant, d.payload.as_bytes()),
            None => Vec::new(),
        };
        if others.is_empty() {
            return super::put(&self.client, &self.table, item).await;
        }
        let mut writes = vec![WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("the item is set"),
            )
            .build()];
        writes.extend(super::subjects::pointer_writes(
            &others,
            &(pk, sk),
            &index_sk,
            Some(expires_at),
        ));
        super::batch::write_all(&self.client, &self.table, writes).await
    }

    pub async fn get_delivery(&self, subscription_id: &str, delivery_id: &str) -> Result<Option<Delivery>, StoreError> {
        if table::validate_id("subscription id", subscription_id).is_err()
            || table::validate_id("delivery id", delivery_id).is_err()
        {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(subscription_pk(subscription_id)))
            .key(SK, AttributeValue::S(delivery_sk(delivery_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| delivery_from_item(item, delivery_id)).transpose()
    }

    /// A page of a subscription's deliveries, newest first: strictly older than `before` (a
    /// delivery id), at or after `since` (unix seconds), optionally of one status.
    pub async fn deliveries(
        &self,
        subscription_id: &str,
        since: Option<i64>,
        before: Option<&str>,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        table::validate_id("subscription id", subscription_id)?;
        if let Some(b) = before {
            table::validate_id("cursor", b)?;
        }
        let low = delivery_sk(&delivery_id_floor(since.unwrap_or(0)));
        let high = match before {
            Some(b) => delivery_sk(b),
            None => "DLV#~".to_string(),
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
                .expression_attribute_values(":pk", AttributeValue::S(subscription_pk(subscription_id)))
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(s) = status {
                req = req
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", AttributeValue::S(s.name().into()));
            }
            let out = req.send().await.map_err(|e| StoreError::dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let key = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                if key == high {
                    continue;
                }
                items.push(delivery_from_item(item, &key)?);
            }
            if items.len() > limit {
                items.truncate(limit);
                return Ok(DeliveryPage { items, more: true });
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(DeliveryPage { items, more: false }),
            }
        }
    }
}

/// The subject index sort key of a delivery (its pk and sk).
pub fn delivery_index_sk(subscription_id: &str, delivery_id: &str) -> String {
    format!("{}#{}", subscription_pk(subscription_id), delivery_sk(delivery_id))
}

/// Whether an item's key is a delivery's.
pub fn is_delivery_key(pk: &str, sk: &str) -> bool {
    pk.starts_with("WHSUB#") && sk.starts_with("DLV#")
}

/// A delivery read from the table or an index (its TTL and key attributes dropped).
pub fn delivery_from_item(mut item: HashMap<String, AttributeValue>, key: &str) -> Result<Delivery, StoreError> {
    item.remove(EXPIRES_AT);
    super::from_typed_item(DELIVERY_KIND, item, key)
}

/// A new delivery id: `dlv_` and a lower-case ULID, so ids sort by creation time.
pub fn new_delivery_id(now_ms: u64) -> String {
    let ulid = ulid::Ulid::from_parts(now_ms, rand::random::<u128>());
    format!("dlv_{}", ulid.to_string().to_lowercase())
}

/// The smallest delivery id created at or after `since` (unix seconds).
pub fn delivery_id_floor(since: i64) -> String {
    let ms = u64::try_from(since.max(0)).unwrap_or(0).saturating_mul(1000);
    format!("dlv_{}", ulid::Ulid::from_parts(ms, 0).to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_sort_by_time_and_the_floor_takes_exactly_the_later_ones() {
        let early = new_delivery_id(1_800_000_000_000);
        let late = new_delivery_id(1_800_000_001_000);
        assert!(early < late);
        assert!(delivery_id_floor(1_800_000_000) <= early);
        assert!(delivery_id_floor(1_800_000_001) > early);
        assert!(delivery_id_floor(1_800_000_001) <= late);
        assert!(table::validate_id("delivery id", &early).is_ok());
    }
}
