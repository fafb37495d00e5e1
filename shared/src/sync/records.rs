//! The part of a sync every path shares: map, hash, skip the unchanged, write, link.

use serde_json::Value;

use crate::connector::{content_hash, ConnectorClient, ErrorClass, Mapping, WriteResult};
use crate::store::flows::Flow;
use crate::store::links::{LinkStore, RecordLink};

use super::SyncError;

/// What one batch of records came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub read: u64,
    pub written: u64,
    pub unchanged: u64,
    /// (source id, reason) of records that failed permanently (poison records).
    pub failures: Vec<(String, String)>,
}

/// Syncs `records` of `flow`'s source stream to its destination. A record the mapping cannot
/// handle or the destination rejects is reported in `failures` and does not hold up the rest;
/// a transient failure of the destination fails the whole call (the caller retries the page:
/// records already written are then unchanged).
pub async fn sync_records(
    flow: &Flow,
    source: &ConnectorClient,
    destination: &ConnectorClient,
    mapping: &Mapping,
    links: &LinkStore,
    records: &[Value],
    now: i64,
) -> Result<PageCounts, SyncError> {
    let mut counts = PageCounts {
        read: records.len() as u64,
        ..PageCounts::default()
    };
    // Map (in the sandbox, each record within the mapping's bounds) and hash; collect the
    // candidates by source id (a later duplicate in one page wins).
    let mut ids = Vec::with_capacity(records.len());
    let mut inputs = Vec::with_capacity(records.len());
    for record in records {
        match source.record_id(&flow.source_stream, record) {
            Some(source_id) => {
                ids.push(source_id);
                inputs.push(record.clone());
            }
            None => counts.failures.push((
                "(no id)".into(),
                format!("record has no primary key for stream {}", flow.source_stream),
            )),
        }
    }
    let mut candidates: Vec<(String, Value, String)> = Vec::with_capacity(inputs.len());
    for (source_id, result) in ids.into_iter().zip(mapping.apply_each(std::sync::Arc::new(inputs))) {
        match result {
            Ok(mapped) => {
                let hash = content_hash(&mapped);
                candidates.retain(|(id, _, _)| id != &source_id);
                candidates.push((source_id, mapped, hash));
            }
            Err(e) => counts.failures.push((source_id, format!("mapping failed: {e}"))),
        }
    }
    if candidates.is_empty() {
        return Ok(counts);
    }

    let ids: Vec<String> = candidates.iter().map(|(id, _, _)| id.clone()).collect();
    let existing = links.get_many(&flow.id, &ids).await?;
    let (unchanged, changed): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|(id, _, hash)| existing.get(id).is_some_and(|l| &l.content_hash == hash));
    counts.unchanged = unchanged.len() as u64;
    if changed.is_empty() {
        return Ok(counts);
    }

    let payload: Vec<Value> = changed.iter().map(|(_, mapped, _)| mapped.clone()).collect();
    let results = destination.write_batch(&flow.destination_operation, &payload).await?;
    let mut new_links = Vec::with_capacity(changed.len());
    let mut retry_later = None;
    for ((source_id, _, hash), result) in changed.into_iter().zip(results) {
        match result {
            WriteResult::Ok { destination_id } => {
                counts.written += 1;
                let destination_id = destination_id
                    .or_else(|| existing.get(&source_id).map(|l| l.destination_id.clone()))
                    .unwrap_or_default();
                new_links.push(RecordLink {
                    source_id,
                    destination_id,
                    content_hash: hash,
                    updated_at: now,
                });
            }
            WriteResult::Failed { reason, class } => match class {
                ErrorClass::Permanent => counts.failures.push((source_id, reason)),
                other => retry_later = Some((other, reason)),
            },
        }
    }
    // Link what was written before deciding about the rest, so a retry skips it.
    links.put_many(&flow.id, &new_links).await?;
    if let Some((class, reason)) = retry_later {
        return Err(SyncError::Connector(crate::connector::ConnectorError::new(
            class,
            crate::connector::ErrorKind::Http,
            format!("some records were not written and will be retried: {reason}"),
        )));
    }
    Ok(counts)
}
