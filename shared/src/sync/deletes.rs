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

/// The source ids a full run has read, as 64-bit digests (the first 8 bytes of their
/// SHA-256: stable across processes and releases, and small enough that a run handing over
/// to its next invocation or its retry carries them in its job item). Two ids sharing a digest
/// (about one chance in 2^64 a pair) would let a deleted record go unnoticed until the next
/// full run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeenIds(std::collections::HashSet<u64>);

/// The most digests a job item carries (128 KiB packed, 171 KiB of text, within DynamoDB's
/// 400 KB item): a larger run hands over this many, and its sweep fetches the rest.
pub const MAX_HANDED_OVER_IDS: usize = 16_384;

impl SeenIds {
    fn digest(id: &str) -> u64 {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(id.as_bytes());
        u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"))
    }

    pub fn insert(&mut self, id: &str) {
        self.0.insert(Self::digest(id));
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(&Self::digest(id))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// For the job item: the digests in ascending order, 8 bytes each (little-endian), in
    /// base64; at most [`MAX_HANDED_OVER_IDS`] of them (the smallest: any subset is correct,
    /// it only leaves more to fetch). `None` when there are none.
    pub fn pack(&self) -> Option<String> {
        use base64::Engine;
        if self.0.is_empty() {
            return None;
        }
        let mut digests: Vec<u64> = self.0.iter().copied().collect();
        digests.sort_unstable();
        digests.truncate(MAX_HANDED_OVER_IDS);
        let bytes: Vec<u8> = digests.iter().flat_map(|d| d.to_le_bytes()).collect();
        Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
    }

    /// What [`Self::pack`] wrote; anything else reads as nothing seen (the sweep then fetches
    /// every candidate, as a run that handed nothing over does).
    pub fn unpack(text: Option<&str>) -> Self {
        use base64::Engine;
        let Some(bytes) = text.and_then(|t| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t).ok()) else {
            return Self::default();
        };
        if bytes.len() % 8 != 0 || bytes.len() / 8 > MAX_HANDED_OVER_IDS {
            return Self::default();
        }
        Self(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        )
    }
}

/// Of the links of `flow` not `seen` in a full run of its source stream, the source ids
/// `source` no longer finds: records deleted since they were linked (for a stream whose full
/// read lists every record, `missing_is_deleted`). Each candidate is fetched, so a record a
/// continued run read in an earlier invocation and did not hand over is not taken for deleted.
pub async fn missing_from_full_read(
    flow: &Flow,
    source: &ConnectorClient,
    links: &LinkStore,
    seen: &SeenIds,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_survive_packing_and_a_bad_or_oversized_text_reads_as_nothing_seen() {
        let mut seen = SeenIds::default();
        assert_eq!(seen.pack(), None);
        for i in 0..1_000 {
            seen.insert(&format!("contact-{i}"));
        }
        let text = seen.pack().unwrap();
        assert_eq!(text.len(), (8_000usize * 4).div_ceil(3), "8 bytes an id, base64");
        let back = SeenIds::unpack(Some(&text));
        assert_eq!(back, seen);
        assert!(back.contains("contact-999") && !back.contains("contact-1000"));
        for bad in ["not base64!", "AAAA", ""] {
            assert!(SeenIds::unpack(Some(bad)).is_empty(), "{bad:?}");
        }
        assert!(SeenIds::unpack(None).is_empty());

        // Over the cap: the smallest digests are handed over, every one of them a real id's.
        let mut many = SeenIds::default();
        for i in 0..MAX_HANDED_OVER_IDS + 100 {
            many.insert(&i.to_string());
        }
        let kept = SeenIds::unpack(Some(&many.pack().unwrap()));
        assert_eq!(kept.len(), MAX_HANDED_OVER_IDS);
        assert!(kept.0.is_subset(&many.0));
        assert!(kept.0.iter().max() < many.0.difference(&kept.0).min());
    }
}
