//! Deletes in a two-way link: a linked record deleted on one side (a webhook's delete event, a
//! change feed's tombstone, or a record missing from a full read where the definition says
//! that means deleted) is acted on by the link's `on_delete` rule
//! ([`crate::store::flows::DeleteRule`]):
//!
//! - `propagate`: its counterpart is deleted through the destination connector's `delete`
//!   write of the same stream, keyed by the counterpart's id;
//! - `archive`: the flow's `archive_mapping` of the record as last synced is written to the
//!   counterpart through the destination's update-by-id write;
//! - `ignore`: nothing is written.
//!
//! Then both directions' links of the pair are retired: neither direction writes the pair
//! again (a full run of the other direction does not bring the deleted record back, and the
//! echo of an archive write is skipped), and the other side's delete event for our own delete
//! finds a retired link: our echo, dropped and counted. A flow that is not half of a two-way
//! link leaves deletes alone, as before.

use serde_json::Value;
use tracing::{info, warn};

use super::{PageCounts, Reverse, SyncError};
use crate::connector::definition::WriteKind;
use crate::connector::{ConnectorClient, ErrorClass, Mapping, WriteResult};
use crate::store::flows::{DeleteRule, Flow};
use crate::store::links::{LinkStore, RecordLink};

/// Acts on the deletion of the records `ids` of `flow`'s source stream, by the link's rule.
/// A permanent failure of the destination is reported in `failures` (the pair stays linked);
/// a transient one fails the call after the pairs done so far are retired (a retry finds them
/// retired: echoes, nothing written twice).
pub async fn sync_deletions(
    flow: &Flow,
    destination: &ConnectorClient,
    links: &LinkStore,
    ids: Vec<String>,
    now: i64,
    reverse: Option<&Reverse>,
) -> Result<PageCounts, SyncError> {
    let mut counts = PageCounts::default();
    let Some(reverse) = reverse else {
        return Ok(counts);
    };
    if ids.is_empty() {
        return Ok(counts);
    }
    let existing = links.get_many(&flow.id, &ids).await?;
    let mut acting: Vec<RecordLink> = Vec::new();
    for id in &ids {
        match existing.get(id) {
            // Retired already: the other direction deleted its counterpart (our own delete
            // coming back), or a second delivery of this delete.
            Some(link) if link.retired => counts.echoes += 1,
            // (A repeated id is acted on once.)
            Some(link) if !link.destination_id.is_empty() && !acting.iter().any(|l| &l.source_id == id) => {
                acting.push(link.clone());
            }
            // Never linked: nothing on the other side is this record's.
            _ => {}
        }
    }
    if acting.is_empty() {
        return Ok(counts);
    }
    let def = destination.definition();
    let (op, records): (Option<&str>, Vec<Value>) = match flow.on_delete {
        DeleteRule::Ignore => (None, Vec::new()),
        DeleteRule::Propagate => {
            let op = def
                .sibling_write(&flow.destination_operation, WriteKind::Delete)
                .ok_or_else(|| {
                    SyncError::Config(format!(
                        "flow {}: connector {} has no delete write beside `{}`, so deletes cannot be propagated",
                        flow.id, def.id, flow.destination_operation
                    ))
                })?;
            let key = def.writes.get(op).and_then(|w| w.key.clone()).unwrap_or_default();
            let records = acting
                .iter()
                .map(|l| {
                    let mut record = Value::Object(Default::default());
                    super::two_way::set_pointer(&mut record, &key, Value::String(l.destination_id.clone()));
                    record
                })
                .collect();
            (Some(op), records)
        }
        DeleteRule::Archive => {
            let op = def
                .sibling_write(&flow.destination_operation, WriteKind::Update)
                .ok_or_else(|| {
                    SyncError::Config(format!(
                        "flow {}: connector {} has no update write beside `{}`, so deleted records cannot be archived",
                        flow.id, def.id, flow.destination_operation
                    ))
                })?;
            let program = flow.archive_mapping.as_deref().ok_or_else(|| {
                SyncError::Config(format!(
                    "flow {}: on_delete is archive, but the flow has no archive mapping",
                    flow.id
                ))
            })?;
            let mapping = Mapping::cached(program)
                .map_err(|e| SyncError::Config(format!("flow {}: archive mapping: {e}", flow.id)))?;
            let key = def.writes.get(op).and_then(|w| w.key.clone()).unwrap_or_default();
            let mut records = Vec::with_capacity(acting.len());
            for link in &acting {
                let last = link.record.clone().unwrap_or_else(|| Value::Object(Default::default()));
                let mut record = mapping
                    .apply(&last)
                    .map_err(|e| SyncError::Config(format!("flow {}: archive mapping: {e}", flow.id)))?;
                super::two_way::set_pointer(&mut record, &key, Value::String(link.destination_id.clone()));
                records.push(record);
            }
            (Some(op), records)
        }
    };
    let results = match op {
        Some(op) => destination.write_batch(op, &records).await?,
        None => vec![WriteResult::Ok { destination_id: None }; acting.len()],
    };
    let mut retire_ours = Vec::new();
    let mut retire_theirs = Vec::new();
    let mut retry_later = None;
    for (link, result) in acting.into_iter().zip(results) {
        match result {
            WriteResult::Ok { .. } => {
                info!(
                    message = "Linked record deleted on the source side; the link acted and is retired.",
                    flow_id = %flow.id,
                    source_id = %link.source_id,
                    destination_id = %link.destination_id,
                    on_delete = flow.on_delete.name()
                );
                counts.deleted += 1;
                retire_theirs.push(RecordLink {
                    source_id: link.destination_id.clone(),
                    destination_id: link.source_id.clone(),
                    content_hash: String::new(),
                    updated_at: now,
                    record: None,
                    subject: link.subject.clone(),
                    predicted: false,
                    retired: true,
                });
                retire_ours.push(RecordLink {
                    updated_at: now,
                    predicted: false,
                    retired: true,
                    ..link
                });
            }
            WriteResult::Failed { reason, class } => match class {
                ErrorClass::Permanent => counts.failures.push((link.source_id, reason)),
                other => retry_later = Some((other, reason)),
            },
        }
    }
    // The other direction's link first: were ours retired alone, a crash in between would let
    // the other direction bring the deleted record back.
    links.put_many(&reverse.flow_id, &retire_theirs).await?;
    links.put_many(&flow.id, &retire_ours).await?;
    if let Some((class, reason)) = retry_later {
        warn!(message = "Some deletes were not written and will be retried.", flow_id = %flow.id, reason = %reason);
        return Err(SyncError::Connector(crate::connector::ConnectorError::new(
            class,
            crate::connector::ErrorKind::Http,
            format!("some deletes were not written and will be retried: {reason}"),
        )));
    }
    Ok(counts)
}

/// Of the links of `flow` not `seen` in a full run of its source stream, the source ids
/// `source` no longer finds: records deleted since they were linked (for a stream whose full
/// read lists every record, `missing_is_deleted`). Each candidate is fetched, so a record a
/// continued run read in an earlier invocation is not taken for deleted.
pub async fn missing_from_full_read(
    flow: &Flow,
    source: &ConnectorClient,
    links: &LinkStore,
    seen: &std::collections::HashSet<String>,
) -> Result<Vec<String>, SyncError> {
    let mut gone = Vec::new();
    for link in links.list(&flow.id).await? {
        if link.retired || link.destination_id.is_empty() || seen.contains(&link.source_id) {
            continue;
        }
        if source
            .fetch_record(&flow.source_stream, &link.source_id)
            .await?
            .is_none()
        {
            gone.push(link.source_id);
        }
    }
    Ok(gone)
}
