//! The part of a sync every path shares: map, hash, skip the unchanged, write, link.

use std::collections::HashMap;

use serde_json::Value;

use crate::connector::{content_hash, ConnectorClient, ErrorClass, Mapping, WriteResult};
use crate::store::flows::Flow;
use crate::store::links::{LinkStore, RecordLink};

use super::two_way::{predict, Reverse};
use super::SyncError;
use crate::store::flows::ConflictRule;

/// What one batch of records came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub read: u64,
    pub written: u64,
    pub unchanged: u64,
    /// Records both sides of a two-way link changed, left for the other direction to bring
    /// over (the conflict rule chose the destination's version).
    pub conflicts_yielded: u64,
    /// Records both sides changed, parked in the review queue (or already there).
    pub conflicts_parked: u64,
    /// (source id, reason) of records that failed permanently (poison records).
    pub failures: Vec<(String, String)>,
    /// The records written, for `record.created` / `record.updated` events.
    pub changes: Vec<crate::subscriptions::emit::RecordChange>,
}

/// Syncs `records` of `flow`'s source stream to its destination. A record the mapping cannot
/// handle or the destination rejects is reported in `failures` and does not hold up the rest;
/// a transient failure of the destination fails the whole call (the caller retries the page:
/// records already written are then unchanged). With `reverse` (the flow is half of a two-way
/// link), each write also predicts its echo for the other direction ([`super::two_way`]).
#[allow(clippy::too_many_arguments)]
pub async fn sync_records(
    flow: &Flow,
    source: &ConnectorClient,
    destination: &ConnectorClient,
    mapping: &Mapping,
    links: &LinkStore,
    records: Vec<Value>,
    now: i64,
    reverse: Option<&Reverse>,
) -> Result<PageCounts, SyncError> {
    let mut counts = PageCounts {
        read: records.len() as u64,
        ..PageCounts::default()
    };
    // Map (in the sandbox, each record within the mapping's bounds) and hash; collect the
    // candidates by source id (a later duplicate in one page wins). The records move to the
    // sandbox as they are: the page is not copied.
    let mut ids = Vec::with_capacity(records.len());
    let mut inputs = Vec::with_capacity(records.len());
    for record in records {
        match source.record_id(&flow.source_stream, &record) {
            Some(source_id) => {
                ids.push(source_id);
                inputs.push(record);
            }
            None => counts.failures.push((
                "(no id)".into(),
                format!("record has no primary key for stream {}", flow.source_stream),
            )),
        }
    }
    let inputs = std::sync::Arc::new(inputs);
    // A flow of a chain reads the ids earlier flows wrote (`$links`); the records are copied
    // for it only then.
    let mapped = if flow.lookups.is_empty() {
        mapping.apply_each(inputs.clone())
    } else {
        let found = super::lookups::links_for(flow, links, &inputs).await?;
        mapping.apply_each_linked(std::sync::Arc::new(inputs.iter().cloned().zip(found).collect()))
    };
    // (source id, mapped, hash, index of the source record in `inputs`); a slot is emptied
    // when a later record of the same id replaces it.
    let mut slots: Vec<Option<Candidate>> = Vec::with_capacity(inputs.len());
    let mut slot_of: HashMap<String, usize> = HashMap::with_capacity(inputs.len());
    for (i, (source_id, result)) in ids.into_iter().zip(mapped).enumerate() {
        match result {
            Ok(mapped) => {
                let hash = content_hash(&mapped);
                if let Some(earlier) = slot_of.insert(source_id.clone(), slots.len()) {
                    slots[earlier] = None;
                }
                slots.push(Some((source_id, mapped, hash, i)));
            }
            Err(e) => counts.failures.push((source_id, format!("mapping failed: {e}"))),
        }
    }
    let candidates: Vec<Candidate> = slots.into_iter().flatten().collect();
    // A two-way flow keeps each source record on its link, for the other direction's predictions.
    let kept = |i: usize| reverse.map(|_| inputs[i].clone());
    // The person the source record is about, so the link is found by a GDPR export or erasure.
    let subject_of = |i: usize| crate::subjects::subject_of_value(&flow.tenant, &inputs[i]);
    if candidates.is_empty() {
        return Ok(counts);
    }

    let ids: Vec<String> = candidates.iter().map(|(id, _, _, _)| id.clone()).collect();
    let existing = links.get_many(&flow.id, &ids).await?;
    let (unchanged, changed): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|(id, _, hash, _)| existing.get(id).is_some_and(|l| &l.content_hash == hash));
    counts.unchanged = unchanged.len() as u64;
    // An unchanged record a two-way link has not kept yet is kept now (once), so the other
    // direction can predict what its next write to it comes back as.
    let mut new_links: Vec<RecordLink> = unchanged
        .iter()
        .filter(|_| reverse.is_some())
        .filter_map(|(id, _, _, i)| {
            let link = existing.get(id)?;
            link.record.is_none().then(|| RecordLink {
                record: kept(*i),
                subject: link.subject.clone().or_else(|| subject_of(*i)),
                ..link.clone()
            })
        })
        .collect();
    let changed = match reverse {
        Some(reverse) if reverse.rule != ConflictRule::SourceWins => {
            let settled = settle_conflicts(
                reverse,
                source,
                destination,
                links,
                &existing,
                changed,
                &inputs,
                &flow.source_stream,
                now,
            )
            .await?;
            counts.conflicts_yielded = settled.yielded;
            counts.conflicts_parked = settled.parked;
            settled.keep
        }
        _ => changed,
    };
    if changed.is_empty() {
        links.put_many(&flow.id, &new_links).await?;
        return Ok(counts);
    }

    // The mapped records move into the batch (no copy); the rest of each candidate waits for
    // its result.
    let (payload, changed): (Vec<Value>, Vec<(String, String, usize)>) = changed
        .into_iter()
        .map(|(source_id, mapped, hash, i)| (mapped, (source_id, hash, i)))
        .unzip();
    let results = destination.write_batch(&flow.destination_operation, &payload).await?;
    let mut retry_later = None;
    // (destination id, what was written, source id) of each write, for the other direction.
    let mut echoes: Vec<(String, Value, String)> = Vec::new();
    for (((source_id, hash, i), mapped), result) in changed.into_iter().zip(payload).zip(results) {
        match result {
            WriteResult::Ok { destination_id } => {
                counts.written += 1;
                let created = !existing.contains_key(&source_id);
                let destination_id = destination_id
                    .or_else(|| existing.get(&source_id).map(|l| l.destination_id.clone()))
                    .unwrap_or_default();
                if reverse.is_some() && !destination_id.is_empty() {
                    echoes.push((destination_id.clone(), mapped.clone(), source_id.clone()));
                }
                counts.changes.push(crate::subscriptions::emit::RecordChange {
                    source_id: source_id.clone(),
                    destination_id: destination_id.clone(),
                    created,
                    record: mapped,
                });
                new_links.push(RecordLink {
                    source_id,
                    destination_id,
                    content_hash: hash,
                    updated_at: now,
                    record: kept(i),
                    subject: subject_of(i),
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
    if let Some(reverse) = reverse {
        predict_echoes(reverse, links, echoes, &flow.tenant, now).await?;
    }
    if let Some((class, reason)) = retry_later {
        return Err(SyncError::Connector(crate::connector::ConnectorError::new(
            class,
            crate::connector::ErrorKind::Http,
            format!("some records were not written and will be retried: {reason}"),
        )));
    }
    Ok(counts)
}

/// Tells the other direction of a two-way link what each record just written will look like
/// when it reads it back: its link for the record (keyed by the destination id, pointing back
/// at the source id) gets the predicted record and its hash.
async fn predict_echoes(
    reverse: &Reverse,
    links: &LinkStore,
    echoes: Vec<(String, Value, String)>,
    tenant: &str,
    now: i64,
) -> Result<(), SyncError> {
    if echoes.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = echoes.iter().map(|(id, _, _)| id.clone()).collect();
    let theirs = links.get_many(&reverse.flow_id, &ids).await?;
    let predicted: Vec<RecordLink> = echoes
        .into_iter()
        .map(|(destination_id, written, source_id)| {
            let (record, hash) = predict(
                reverse,
                theirs.get(&destination_id).and_then(|l| l.record.as_ref()),
                &written,
                &destination_id,
            );
            RecordLink {
                subject: crate::subjects::subject_of_value(tenant, &record),
                source_id: destination_id,
                destination_id: source_id,
                // No prediction: an empty hash matches nothing, so the echo is synced.
                content_hash: hash.unwrap_or_default(),
                updated_at: now,
                record: Some(record),
            }
        })
        .collect();
    links.put_many(&reverse.flow_id, &predicted).await?;
    Ok(())
}

type Candidate = (String, Value, String, usize);

/// What the conflict rule left to write, and what it did with the rest.
struct Settled {
    keep: Vec<Candidate>,
    yielded: u64,
    parked: u64,
}

/// Applies the conflict rule to the changed records that already have a counterpart: the
/// counterpart is fetched and mapped with the other direction's mapping; a hash other than the
/// other direction's last one means it changed too.
#[allow(clippy::too_many_arguments)]
async fn settle_conflicts(
    reverse: &Reverse,
    source: &ConnectorClient,
    destination: &ConnectorClient,
    links: &LinkStore,
    existing: &std::collections::HashMap<String, RecordLink>,
    changed: Vec<Candidate>,
    inputs: &[Value],
    source_stream: &str,
    now_unix: i64,
) -> Result<Settled, SyncError> {
    let counterparts: Vec<String> = changed
        .iter()
        .filter_map(|(id, _, _, _)| existing.get(id).map(|l| l.destination_id.clone()))
        .filter(|id| !id.is_empty())
        .collect();
    if counterparts.is_empty() {
        return Ok(Settled {
            keep: changed,
            yielded: 0,
            parked: 0,
        });
    }
    let theirs = links.get_many(&reverse.flow_id, &counterparts).await?;
    let mut keep = Vec::with_capacity(changed.len());
    let mut yielded = 0;
    let mut parked = 0;
    for candidate in changed {
        let Some(their_link) = existing.get(&candidate.0).and_then(|l| theirs.get(&l.destination_id)) else {
            keep.push(candidate);
            continue;
        };
        let Some(now) = destination
            .fetch_record(&reverse.source_stream, &their_link.source_id)
            .await?
        else {
            // Gone on the other side: nothing to conflict with.
            keep.push(candidate);
            continue;
        };
        let their_hash = reverse.mapping.apply(&now).ok().map(|m| content_hash(&m));
        if their_hash.as_deref() == Some(their_link.content_hash.as_str()) {
            keep.push(candidate);
            continue;
        }
        let ours_wins = match reverse.rule {
            ConflictRule::SourceWins => true,
            ConflictRule::DestinationWins => false,
            ConflictRule::Manual => {
                park(reverse, &candidate.0, their_link, &inputs[candidate.3], &now, now_unix).await?;
                parked += 1;
                continue;
            }
            ConflictRule::NewestWins => {
                let ours = source.modified_at(source_stream, &inputs[candidate.3]);
                let theirs = destination.modified_at(&reverse.source_stream, &now);
                match (ours, theirs) {
                    (Some(o), Some(t)) => o >= t,
                    _ => true,
                }
            }
        };
        if ours_wins {
            keep.push(candidate);
        } else {
            yielded += 1;
        }
    }
    Ok(Settled { keep, yielded, parked })
}

/// Parks a conflict in the review queue (once per record pair: the other direction finds it
/// parked and leaves it too).
async fn park(
    reverse: &Reverse,
    source_id: &str,
    their_link: &RecordLink,
    ours: &Value,
    theirs: &Value,
    now: i64,
) -> Result<(), SyncError> {
    let Some(reviews) = &reverse.reviews else {
        return Ok(());
    };
    let (first, second) = crate::store::reviews::link_key(&reverse.this_flow, &reverse.flow_id);
    let this_is_first = first == reverse.this_flow;
    let (record, counterpart, first_version, second_version) = if this_is_first {
        (source_id, their_link.source_id.as_str(), ours, theirs)
    } else {
        (their_link.source_id.as_str(), source_id, theirs, ours)
    };
    let item = crate::store::reviews::ReviewItem {
        first_flow: first.clone(),
        second_flow: second.clone(),
        record: record.to_owned(),
        counterpart: counterpart.to_owned(),
        first_version: first_version.clone(),
        second_version: second_version.clone(),
        base: their_link.record.clone(),
        parked_at: now,
        seen_by: reverse.this_flow.clone(),
    };
    // The person the conflict is about: the first address of either version.
    let subject = crate::subjects::subject_of_value(&reverse.tenant, &item.first_version)
        .or_else(|| crate::subjects::subject_of_value(&reverse.tenant, &item.second_version));
    if reviews.park(&item, subject.as_deref()).await? {
        tracing::warn!(
            message = "Two-way conflict parked for review.",
            flow_id = %reverse.this_flow,
            link = %format!("{first}|{second}"),
            record = %record
        );
    }
    Ok(())
}
