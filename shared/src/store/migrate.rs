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
    /// Stored events, record links and review items given their subject's index keys.
    pub indexed: usize,
    /// Such items that already had them (or gained them meanwhile).
    pub already_indexed: usize,
    /// Such items that hold no address the index could use (a one-way record link keeps no
    /// record; it is indexed when the sync next writes it), or whose flow is gone.
    pub without_address: usize,
    /// Where to continue (`--from`), when the run stopped before the end of the table.
    pub next: Option<String>,
}

/// Gives stored events, record links and review items written before the subject index
/// existed the `gsi1` keys of their first address's subject partition (see
/// [`crate::subjects`]), so a GDPR export or erasure finds them. Reads at most `max_pages` Scan
/// pages from `from` (a `next` an earlier run printed) and says where it stopped. Each update
/// is conditional on the item still lacking the keys: safe to repeat and to run beside the
/// functions. The one Scan of its kind, run by a person (`switchyard subjects backfill`).
pub async fn backfill_subject_index(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
    from: Option<&str>,
    max_pages: usize,
) -> Result<SubjectBackfillReport, StoreError> {
    use std::collections::HashMap;

    use base64::Engine as _;

    use super::table::{GSI1PK, GSI1SK};

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
    // Tenants of flows, read once each.
    let mut tenants: HashMap<String, Option<String>> = HashMap::new();
    for _ in 0..max_pages.max(1) {
        let page = client
            .scan()
            .table_name(table_name)
            .filter_expression(
                "attribute_not_exists(#gpk) AND ((begins_with(#pk, :evt) AND #sk = :evtsk) \
                 OR (begins_with(#pk, :flow) AND begins_with(#sk, :rec)) \
                 OR (begins_with(#pk, :link) AND begins_with(#sk, :review)))",
            )
            .expression_attribute_names("#gpk", GSI1PK)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":evt", AttributeValue::S("EVT#".into()))
            .expression_attribute_values(":evtsk", AttributeValue::S(table::EVENT_SK.into()))
            .expression_attribute_values(":flow", AttributeValue::S("FLOW#".into()))
            .expression_attribute_values(":rec", AttributeValue::S("REC#".into()))
            .expression_attribute_values(":link", AttributeValue::S("LINK#".into()))
            .expression_attribute_values(":review", AttributeValue::S("REVIEW#".into()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Scan", e))?;
        report.scanned += usize::try_from(page.scanned_count).unwrap_or(0);
        for item in page.items.unwrap_or_default() {
            let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let (pk, sk) = (s(PK), s(SK));
            let subject = if pk.starts_with("EVT#") {
                let tenant = s("tenant");
                item.get("body")
                    .and_then(|v| v.as_b().ok())
                    .and_then(|b| crate::subjects::subject_of_bytes(&tenant, b.as_ref()))
            } else {
                // A link's flow is its pk; a review item's first flow is in the item.
                let (flow, value) = if let Some(flow) = pk.strip_prefix("FLOW#") {
                    let record = item
                        .get("record")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
                    (flow.to_string(), record)
                } else {
                    let review: super::reviews::ReviewItem = super::from_typed_item("review item", item.clone(), &pk)?;
                    (review.first_flow, Some(review.first_version))
                };
                let tenant = match tenants.get(&flow) {
                    Some(t) => t.clone(),
                    None => {
                        let t = super::flows::FlowStore::new(client.clone(), table_name)
                            .get(&flow)
                            .await?
                            .map(|f| f.tenant);
                        tenants.insert(flow.clone(), t.clone());
                        t
                    }
                };
                match (tenant, value) {
                    (Some(tenant), Some(value)) => crate::subjects::subject_of_value(&tenant, &value),
                    _ => None,
                }
            };
            let Some(subject) = subject else {
                report.without_address += 1;
                continue;
            };
            // The same index sort key the writers give each kind.
            let index_sk = if pk.starts_with("EVT#") {
                pk.clone()
            } else {
                format!("{pk}#{sk}")
            };
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
                .expression_attribute_values(":gpk", AttributeValue::S(subject))
                .expression_attribute_values(":gsk", AttributeValue::S(index_sk));
            if super::written(req.send().await, "UpdateItem")? {
                report.indexed += 1;
            } else {
                report.already_indexed += 1;
            }
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
