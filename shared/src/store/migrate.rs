//! One-off migrations of items written by earlier releases.
//!
//! Connections and scheduled flows written before the sparse `sched` index existed carry no
//! index keys, so the health checker and dispatch would not see them. `backfill_sched_index`
//! adds them, once, after deploying the release that brings the index (`switchyard table
//! backfill-indexes`). It is the one Scan left, run by a person, never on a schedule, and safe
//! to repeat: each update only adds keys that are missing.

use aws_sdk_dynamodb::types::AttributeValue;

use super::flows::{flow_pk, sched_keys, Flow, FLOW_SK};
use super::table::{self, CONNECTION_SK, PK, SCHED_PK, SK};
use super::StoreError;

/// What a backfill changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackfillReport {
    /// Items the Scan read.
    pub scanned: usize,
    /// Connections given their index keys.
    pub connections: usize,
    /// Enabled scheduled flows given their index keys.
    pub flows: usize,
    /// Items that already had them (or gained them meanwhile).
    pub already_indexed: usize,
}

/// Adds the `sched` index keys to every connection and enabled scheduled flow without them.
pub async fn backfill_sched_index(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
) -> Result<BackfillReport, StoreError> {
    let mut report = BackfillReport::default();
    let mut pages = client
        .scan()
        .table_name(table_name)
        .filter_expression("(#sk = :conn OR #sk = :flow) AND attribute_not_exists(#spk)")
        .expression_attribute_names("#sk", SK)
        .expression_attribute_names("#spk", SCHED_PK)
        .expression_attribute_values(":conn", AttributeValue::S(CONNECTION_SK.into()))
        .expression_attribute_values(":flow", AttributeValue::S(FLOW_SK.into()))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| StoreError::dynamo("Scan", e))?;
        report.scanned += usize::try_from(page.scanned_count).unwrap_or(0);
        for item in page.items.unwrap_or_default() {
            let pk = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let keys = if sk == CONNECTION_SK {
                let Some(id) = pk.strip_prefix("CONN#") else { continue };
                vec![
                    (SCHED_PK, table::SCHED_CONNECTIONS.to_string()),
                    (table::SCHED_SK, id.to_string()),
                ]
            } else {
                let flow: Flow = super::from_typed_item("flow", item.clone(), &pk)?;
                if pk != flow_pk(&flow.id) {
                    continue;
                }
                sched_keys(&flow)
            };
            if keys.is_empty() {
                continue;
            }
            let mut req = client
                .update_item()
                .table_name(table_name)
                .key(PK, AttributeValue::S(pk.clone()))
                .key(SK, AttributeValue::S(sk.clone()))
                .update_expression("SET #a = :a, #b = :b")
                .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#a)")
                .expression_attribute_names("#pk", PK);
            for (i, (name, value)) in keys.into_iter().enumerate() {
                let n = if i == 0 { "a" } else { "b" };
                req = req
                    .expression_attribute_names(format!("#{n}"), name)
                    .expression_attribute_values(format!(":{n}"), AttributeValue::S(value));
            }
            if super::written(req.send().await, "UpdateItem")? {
                if sk == CONNECTION_SK {
                    report.connections += 1;
                } else {
                    report.flows += 1;
                }
            } else {
                report.already_indexed += 1;
            }
        }
    }
    Ok(report)
}

/// What one run of [`backfill_subject_index`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SubjectBackfillReport {
    /// Items the Scan read.
    pub scanned: usize,
    /// Stored events, record links, review items, webhook deliveries and kept outbox
    /// deliveries given their subject's index keys.
    pub indexed: usize,
    /// Such items that already had them (or gained them meanwhile).
    pub already_indexed: usize,
    /// Such items that hold no address the index could use (a one-way record link keeps no
    /// record; it is indexed when the sync next writes it), or whose flow or webhook
    /// subscription is gone.
    pub without_address: usize,
    /// Pointer items written for further addresses ([`super::subjects::pointer_item`]) that
    /// were missing: for the items indexed now, and for items indexed earlier without them
    /// (by an earlier backfill, or events parked before connector-sync took them).
    pub pointers: usize,
    /// Where to continue (`--from`), when the run stopped before the end of the table.
    pub next: Option<String>,
}

/// What the backfill reads from one item: whose it is and what it says.
enum Content {
    Bytes(Vec<u8>),
    Value(serde_json::Value),
}

/// The subject keys of every address in `content`, in document order.
fn subjects_of(tenant: &str, content: &Content) -> Vec<String> {
    match content {
        Content::Bytes(b) => crate::subjects::subjects_of_bytes(tenant, b),
        Content::Value(v) => crate::subjects::subjects_of_value(tenant, v),
    }
}

/// Looks up and remembers the tenants of flows and webhook subscriptions (a `GetItem` each,
/// once).
struct Tenants {
    flows: super::flows::FlowStore,
    subscriptions: super::subscriptions::SubscriptionStore,
    known: std::collections::HashMap<String, Option<String>>,
}

impl Tenants {
    async fn of_flow(&mut self, flow: &str) -> Result<Option<String>, StoreError> {
        let key = format!("flow:{flow}");
        if let Some(t) = self.known.get(&key) {
            return Ok(t.clone());
        }
        let t = self.flows.get(flow).await?.map(|f| f.tenant);
        self.known.insert(key, t.clone());
        Ok(t)
    }

    async fn of_subscription(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        let key = format!("whsub:{id}");
        if let Some(t) = self.known.get(&key) {
            return Ok(t.clone());
        }
        let t = self.subscriptions.get(id).await?.map(|s| s.tenant);
        self.known.insert(key, t.clone());
        Ok(t)
    }
}

/// The tenant and the content of an item the subject index holds, by its kind; `None` when
/// the item keeps nothing to read an address from or its owner is gone.
async fn content_of(
    item: &std::collections::HashMap<String, AttributeValue>,
    pk: &str,
    sk: &str,
    tenants: &mut Tenants,
) -> Result<Option<(String, Content)>, StoreError> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    if pk.starts_with("EVT#") {
        let tenant = s("tenant").unwrap_or_default();
        let body = item
            .get("body")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec());
        return Ok(body.map(|b| (tenant, Content::Bytes(b))));
    }
    if let Some(flow) = pk.strip_prefix("FLOW#") {
        let Some(record) = s("record").and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) else {
            return Ok(None);
        };
        return Ok(tenants.of_flow(flow).await?.map(|t| (t, Content::Value(record))));
    }
    if pk.starts_with("LINK#") {
        let review: super::reviews::ReviewItem = super::from_typed_item("review item", item.clone(), pk)?;
        // As the sync parks it: the first address of either version is its subject.
        let both = serde_json::json!([review.first_version, review.second_version]);
        return Ok(tenants
            .of_flow(&review.first_flow)
            .await?
            .map(|t| (t, Content::Value(both))));
    }
    if super::subscriptions::is_delivery_key(pk, sk) {
        let d = super::subscriptions::delivery_from_item(item.clone(), sk)?;
        return Ok(tenants
            .of_subscription(&d.subscription_id)
            .await?
            .map(|t| (t, Content::Bytes(d.payload.into_bytes()))));
    }
    if super::outbox::is_outbox_key(pk) {
        let Some(kept) = super::outbox::kept_from_item(item)? else {
            return Ok(None);
        };
        let crate::queue::SyncMessage::WebhookDelivery(d) = kept.message else {
            return Ok(None);
        };
        return Ok(tenants
            .of_subscription(&d.subscription_id)
            .await?
            .map(|t| (t, Content::Bytes(d.payload.into_bytes()))));
    }
    Ok(None)
}

/// Gives stored events, record links, review items, webhook deliveries and kept outbox
/// deliveries written before the subject index existed the `gsi1` keys of their first
/// address's subject partition (see [`crate::subjects`]), so a GDPR export or erasure finds
/// them, and writes the pointer items of their further addresses that are missing (also for
/// items indexed earlier without them). Reads at most `max_pages` Scan pages from `from` (a
/// `next` an earlier run printed) and says where it stopped. Each update is conditional on the
/// item still lacking the keys, and a pointer is written only when a `BatchGetItem` of the
/// page's pointers does not find it: safe to repeat (a second run writes nothing) and to run
/// beside the functions. The one Scan of its kind, run by a person (`switchyard subjects
/// backfill`).
pub async fn backfill_subject_index(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
    from: Option<&str>,
    max_pages: usize,
) -> Result<SubjectBackfillReport, StoreError> {
    use std::collections::HashMap;

    use base64::Engine as _;

    use super::subjects::{pointer_item, ItemKey, MAX_OTHER_ADDRESSES};
    use super::table::{EXPIRES_AT, GSI1PK, GSI1SK};

    let mut report = SubjectBackfillReport::default();
    let mut start: Option<HashMap<String, AttributeValue>> = match from {
        None => None,
        Some(raw) => {
            let invalid = || StoreError::Invalid {
                what: "--from",
                reason: "not a position an earlier backfill printed".into(),
            };
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(raw)
                .map_err(|_| invalid())?;
            let (pk, sk): (String, String) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
            Some(HashMap::from([
                (PK.to_string(), AttributeValue::S(pk)),
                (SK.to_string(), AttributeValue::S(sk)),
            ]))
        }
    };
    let mut tenants = Tenants {
        flows: super::flows::FlowStore::new(client.clone(), table_name),
        subscriptions: super::subscriptions::SubscriptionStore::new(client.clone(), table_name),
        known: HashMap::new(),
    };
    for _ in 0..max_pages.max(1) {
        let page = client
            .scan()
            .table_name(table_name)
            .filter_expression(
                "(begins_with(#pk, :evt) AND #sk = :evtsk) \
                 OR (begins_with(#pk, :flow) AND begins_with(#sk, :rec)) \
                 OR (begins_with(#pk, :link) AND begins_with(#sk, :review)) \
                 OR (begins_with(#pk, :whsub) AND begins_with(#sk, :dlv)) \
                 OR #pk = :outbox",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":evt", AttributeValue::S("EVT#".into()))
            .expression_attribute_values(":evtsk", AttributeValue::S(table::EVENT_SK.into()))
            .expression_attribute_values(":flow", AttributeValue::S("FLOW#".into()))
            .expression_attribute_values(":rec", AttributeValue::S("REC#".into()))
            .expression_attribute_values(":link", AttributeValue::S("LINK#".into()))
            .expression_attribute_values(":review", AttributeValue::S("REVIEW#".into()))
            .expression_attribute_values(":whsub", AttributeValue::S("WHSUB#".into()))
            .expression_attribute_values(":dlv", AttributeValue::S("DLV#".into()))
            .expression_attribute_values(":outbox", AttributeValue::S("OUTBOX".into()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Scan", e))?;
        report.scanned += usize::try_from(page.scanned_count).unwrap_or(0);
        // The pointers this page's items should have, by key.
        let mut pointers: HashMap<ItemKey, HashMap<String, AttributeValue>> = HashMap::new();
        for item in page.items.unwrap_or_default() {
            let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let (pk, sk) = (s(PK).unwrap_or_default(), s(SK).unwrap_or_default());
            let indexed_as = s(GSI1PK).filter(|k| k.starts_with(crate::subjects::SUBJECT_PREFIX));
            let content = content_of(&item, &pk, &sk, &mut tenants).await?;
            let subjects = match &content {
                Some((tenant, content)) => subjects_of(tenant, content),
                None => Vec::new(),
            };
            // The same index sort key the writers give each kind.
            let index_sk = if pk.starts_with("EVT#") {
                pk.clone()
            } else {
                format!("{pk}#{sk}")
            };
            let own = match (indexed_as, subjects.first()) {
                (Some(own), _) => {
                    report.already_indexed += 1;
                    own
                }
                (None, None) => {
                    report.without_address += 1;
                    continue;
                }
                (None, Some(first)) => {
                    let req = client
                        .update_item()
                        .table_name(table_name)
                        .key(PK, AttributeValue::S(pk.clone()))
                        .key(SK, AttributeValue::S(sk.clone()))
                        .update_expression("SET #gpk = :gpk, #gsk = :gsk")
                        .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#gpk)")
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_names("#gpk", GSI1PK)
                        .expression_attribute_names("#gsk", GSI1SK)
                        .expression_attribute_values(":gpk", AttributeValue::S(first.clone()))
                        .expression_attribute_values(":gsk", AttributeValue::S(index_sk.clone()));
                    if super::written(req.send().await, "UpdateItem")? {
                        report.indexed += 1;
                    } else {
                        report.already_indexed += 1;
                    }
                    first.clone()
                }
            };
            // Pointers live as long as their item.
            let expires_at = item
                .get(EXPIRES_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok());
            let target = (pk.clone(), sk.clone());
            for subject in subjects.iter().filter(|s| **s != own).take(MAX_OTHER_ADDRESSES) {
                let pointer = pointer_item(subject, &target, &index_sk, expires_at);
                if let Some(key) = super::subjects::key_of(&pointer) {
                    pointers.insert(key, pointer);
                }
            }
        }
        if !pointers.is_empty() {
            let keys: Vec<ItemKey> = pointers.keys().cloned().collect();
            let store = super::subjects::SubjectStore::new(client.clone(), table_name);
            for present in store.get_many(&keys).await? {
                if let Some(key) = super::subjects::key_of(&present) {
                    pointers.remove(&key);
                }
            }
            report.pointers += pointers.len();
            let writes: Vec<aws_sdk_dynamodb::types::WriteRequest> = pointers
                .into_values()
                .map(|item| {
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(
                            aws_sdk_dynamodb::types::PutRequest::builder()
                                .set_item(Some(item))
                                .build()
                                .expect("the item is set"),
                        )
                        .build()
                })
                .collect();
            store.point(writes).await?;
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    report.next = start.and_then(|k| {
        let s = |name: &str| k.get(name).and_then(|v| v.as_s().ok()).cloned();
        let json = serde_json::to_vec(&(s(PK)?, s(SK)?)).ok()?;
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    });
    Ok(report)
}

/// What [`repair_rotated_key_ttl`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyTtlRepairReport {
    /// Items the Scan read.
    pub scanned: usize,
    /// Key items whose overlap end moved from `expires_at` to `overlap_ends_at`.
    pub repaired: usize,
}

/// Moves the overlap end of API keys rotated by releases before `overlap_ends_at` existed out
/// of the table's TTL attribute `expires_at` (see [`super::api_keys`]): DynamoDB deletes an
/// item some time after its `expires_at` passes, which would take a rotated key out of `GET
/// /v1/keys` and `/v1/usage`. Key items never carry a TTL now. Each update is conditional on
/// the item still holding the value the Scan read: safe to repeat and to run beside the
/// functions (a key reads the same before and after). An item DynamoDB already deleted is
/// gone. One filtered Scan of the whole table, run by a person once (`switchyard keys
/// repair-ttl`).
pub async fn repair_rotated_key_ttl(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
) -> Result<KeyTtlRepairReport, StoreError> {
    use super::api_keys::API_KEY_SK;
    use super::table::EXPIRES_AT;

    let mut report = KeyTtlRepairReport::default();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table_name)
            .filter_expression("begins_with(#pk, :key) AND #sk = :sk AND attribute_exists(#exp)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":key", AttributeValue::S("APIKEY#".into()))
            .expression_attribute_values(":sk", AttributeValue::S(API_KEY_SK.into()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Scan", e))?;
        report.scanned += usize::try_from(page.scanned_count).unwrap_or(0);
        for item in page.items.unwrap_or_default() {
            let (Some(pk), Some(until)) = (
                item.get(PK).and_then(|v| v.as_s().ok()),
                item.get(EXPIRES_AT).and_then(|v| v.as_n().ok()),
            ) else {
                continue;
            };
            let req = client
                .update_item()
                .table_name(table_name)
                .key(PK, AttributeValue::S(pk.clone()))
                .key(SK, AttributeValue::S(API_KEY_SK.into()))
                .update_expression("SET #ends = if_not_exists(#ends, :until) REMOVE #exp")
                .condition_expression("#exp = :until")
                .expression_attribute_names("#ends", super::api_keys::OVERLAP_ENDS_ATTR)
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(":until", AttributeValue::N(until.clone()));
            if super::written(req.send().await, "UpdateItem")? {
                report.repaired += 1;
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(report);
        }
    }
}
