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
