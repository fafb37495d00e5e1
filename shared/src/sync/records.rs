//! The part of a sync every path shares: map, hash, skip the unchanged, write, link.

use std::collections::HashMap;

use serde_json::Value;

use crate::connector::{content_hash, ConnectorClient, ErrorClass, Mapping, MappingError, WriteResult};
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
    /// Of the unchanged records, those that were the echo of the other direction's write in a
    /// two-way link (read back exactly as predicted): dropped, not written back.
    pub echoes: u64,
    /// Records both sides of a two-way link changed, left for the other direction to bring
    /// over (the conflict rule chose the destination's version); also changed records whose
    /// counterpart was deleted, left for the other direction to act on the delete.
    pub conflicts_yielded: u64,
    /// Records both sides changed, parked in the review queue (or already there).
    pub conflicts_parked: u64,
    /// New records linked to a record already on the other side (duplicate matching) instead
    /// of creating one.
    pub matched: u64,
    /// New records whose best match on the other side needs a person: parked for review, not
    /// created.
    pub matches_parked: u64,
    /// Linked records deleted on the source side that a two-way link acted on by its
    /// `on_delete` rule ([`super::deletes`]); their links are retired.
    pub deleted: u64,
    /// Records the mapping dropped (it produced no output: `select(...)`, `empty`): the flow
    /// does not take them (a deal not in the stage a notification is for), nothing is written.
    pub filtered: u64,
    /// (source id, reason) of records that failed permanently (poison records).
    pub failures: Vec<(String, String)>,
    /// The records written, for `record.created` / `record.updated` events.
    pub changes: Vec<crate::subscriptions::emit::RecordChange>,
}

/// Syncs `records` of `flow`'s source stream to its destination. A record the mapping drops
/// (no output) is counted in `filtered` and left alone. A record the mapping cannot
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
            Err(MappingError::Empty) => counts.filtered += 1,
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
    // A pair a two-way link retired (deleted on one side) is not synced again either way: no
    // resurrection of the deleted record, no echo of an archive write. Counted as unchanged.
    let (retired, candidates): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|(id, _, _, _)| existing.get(id).is_some_and(|l| l.retired));
    let (unchanged, changed): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|(id, _, hash, _)| existing.get(id).is_some_and(|l| &l.content_hash == hash));
    counts.unchanged = (unchanged.len() + retired.len()) as u64;
    // An unchanged record a two-way link has not kept yet is kept now (once), so the other
    // direction can predict what its next write to it comes back as. An unchanged record whose
    // hash the other direction predicted is our own echo: counted once, and the link says so
    // no more (a second delivery of it is merely unchanged).
    let mut new_links: Vec<RecordLink> = unchanged
        .iter()
        .filter(|_| reverse.is_some())
        .filter_map(|(id, _, _, i)| {
            let link = existing.get(id)?;
            if link.predicted {
                counts.echoes += 1;
            }
            (link.record.is_none() || link.predicted).then(|| RecordLink {
                record: kept(*i),
                subject: link.subject.clone().or_else(|| subject_of(*i)),
                predicted: false,
                retired: false,
                ..link.clone()
            })
        })
        .collect();
    // (source id, subject keys of its further addresses) of each record linked here, so a
    // person named second on it finds its link by that address too.
    let mut other_subjects: Vec<(String, Vec<String>)> = Vec::new();
    let changed = match reverse {
        Some(reverse) if !matches!(reverse.rule, ConflictRule::SourceWins | ConflictRule::FieldOwnership) => {
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
    let changed = match (reverse, &flow.match_on_create) {
        (Some(reverse), Some(thresholds)) => {
            let matched = match_new_records(
                flow,
                reverse,
                source,
                destination,
                &existing,
                changed,
                &inputs,
                thresholds,
                now,
            )
            .await?;
            counts.matched = matched.linked.len() as u64 / 2 + matched.written_anyway;
            counts.matches_parked = matched.parked;
            counts.failures.extend(matched.failures);
            let (ours, theirs): (Vec<_>, Vec<_>) = matched.linked.into_iter().partition(|(mine, _)| *mine);
            // Each side of a matched pair keeps its record: its further addresses get pointers.
            let pointers_of = |l: &RecordLink| {
                let others = crate::subjects::other_subjects_of_value(&flow.tenant, l.record.as_ref()?);
                (!others.is_empty()).then(|| (l.source_id.clone(), others))
            };
            other_subjects.extend(ours.iter().filter_map(|(_, l)| pointers_of(l)));
            let their_pointers: Vec<_> = theirs.iter().filter_map(|(_, l)| pointers_of(l)).collect();
            new_links.extend(ours.into_iter().map(|(_, l)| l));
            links
                .put_many(
                    &reverse.flow_id,
                    &theirs.into_iter().map(|(_, l)| l).collect::<Vec<_>>(),
                )
                .await?;
            links.point_other_subjects(&reverse.flow_id, &their_pointers).await?;
            matched.keep
        }
        _ => changed,
    };
    if changed.is_empty() {
        links.put_many(&flow.id, &new_links).await?;
        links.point_other_subjects(&flow.id, &other_subjects).await?;
        return Ok(counts);
    }

    // The mapped records move into the batch (no copy); the rest of each candidate waits for
    // its result.
    let (payload, changed): (Vec<Value>, Vec<(String, String, usize)>) = changed
        .into_iter()
        .map(|(source_id, mapped, hash, i)| (mapped, (source_id, hash, i)))
        .unzip();
    let by_id: Vec<Option<&str>> = changed
        .iter()
        .map(|(source_id, _, _)| {
            existing
                .get(source_id)
                .map(|l| l.destination_id.as_str())
                .filter(|d| !d.is_empty())
        })
        .collect();
    let (payload, results) = write_changed(flow, destination, reverse.is_some(), payload, &by_id).await?;
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
                // The record's strings are walked once for both its own subject and the rest.
                let (subject, others) = crate::subjects::subject_and_others_of_value(&flow.tenant, &inputs[i]);
                if !others.is_empty() {
                    other_subjects.push((source_id.clone(), others));
                }
                new_links.push(RecordLink {
                    source_id,
                    destination_id,
                    content_hash: hash,
                    updated_at: now,
                    record: kept(i),
                    subject,
                    predicted: false,
                    retired: false,
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
    // A person named second on a written or matched record finds its link by that address too.
    links.point_other_subjects(&flow.id, &other_subjects).await?;
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

/// Writes the changed records. In a two-way link whose write is a key-based upsert, a record
/// already linked (`by_id[i]`, its counterpart's id) is written through the destination's
/// update-by-id write of the same stream instead (so is one of any flow whose write creates,
/// when the stream has an update write), with the counterpart's id as its key and the
/// upsert's key left out: a pair linked by phone (or by a person) stays that pair, instead of
/// the upsert landing on (or creating) whichever record holds the source's email. Returns what
/// was written per record and the results, in `payload`'s order.
async fn write_changed(
    flow: &Flow,
    destination: &ConnectorClient,
    two_way: bool,
    mut payload: Vec<Value>,
    by_id: &[Option<&str>],
) -> Result<(Vec<Value>, Vec<WriteResult>), SyncError> {
    use crate::connector::definition::WriteKind;
    let def = destination.definition();
    let write = def.writes.get(&flow.destination_operation);
    // What to leave out of a record sent by id: the upsert's key (two-way flows), or nothing
    // (a create, one-way or two-way, whose linked record changed: created again it would be a
    // duplicate). A one-way upsert stays an upsert: its key finds the record.
    let by_id_drops = match (write.map(|w| w.kind), two_way) {
        (Some(WriteKind::Upsert), true) => write.and_then(|w| w.key.clone()).map(Some),
        (Some(WriteKind::Create), _) => Some(None),
        _ => None,
    };
    let update = by_id_drops.and_then(|upsert_key| {
        let op = def.sibling_write(&flow.destination_operation, WriteKind::Update)?;
        Some((op.to_owned(), def.writes.get(op)?.key.clone()?, upsert_key))
    });
    let Some((update_op, id_key, upsert_key)) = update.filter(|_| by_id.iter().any(Option::is_some)) else {
        let results = destination.write_batch(&flow.destination_operation, &payload).await?;
        return Ok((payload, results));
    };
    let mut by_key_at = Vec::new();
    let mut by_id_at = Vec::new();
    for (i, id) in by_id.iter().enumerate() {
        match id {
            Some(id) => {
                if let Some(upsert_key) = &upsert_key {
                    remove_pointer(&mut payload[i], upsert_key);
                }
                super::two_way::set_pointer(&mut payload[i], &id_key, Value::String((*id).to_owned()));
                by_id_at.push(i);
            }
            None => by_key_at.push(i),
        }
    }
    let mut results: Vec<Option<WriteResult>> = vec![None; payload.len()];
    let mut sent_any = false;
    for (op, at) in [
        (update_op.as_str(), by_id_at),
        (flow.destination_operation.as_str(), by_key_at),
    ] {
        if at.is_empty() {
            continue;
        }
        let records: Vec<Value> = at.iter().map(|&i| payload[i].clone()).collect();
        match destination.write_batch(op, &records).await {
            Ok(out) => {
                for (i, result) in at.into_iter().zip(out) {
                    results[i] = Some(result);
                }
            }
            Err(e) if !sent_any => return Err(e.into()),
            // The other group was written: link it, and retry these (transient) or fail them.
            Err(e) => {
                for i in at {
                    results[i] = Some(WriteResult::failed(e.message.clone(), e.class));
                }
            }
        }
        sent_any = true;
    }
    let results = results
        .into_iter()
        .map(|r| r.expect("every record is in one group"))
        .collect();
    Ok((payload, results))
}

/// Removes the value at a JSON pointer, if there is one.
fn remove_pointer(target: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let parent = if parent.is_empty() {
        Some(target)
    } else {
        target.pointer_mut(parent)
    };
    if let Some(Value::Object(map)) = parent {
        map.remove(&last);
    }
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
                predicted: hash.is_some(),
                retired: false,
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
            // Deleted on the other side since they were in step: writing the change there
            // would be refused (an update by id of a record that is gone) or bring the record
            // back (an upsert by key). Left for the other direction, which acts on the delete
            // by the link's `on_delete` rule when it learns of it (its delete event, or its
            // next full run).
            tracing::info!(
                message = "Changed record's counterpart was deleted on the other side; not written.",
                flow_id = %reverse.this_flow,
                source_id = %candidate.0,
                destination_id = %their_link.source_id
            );
            yielded += 1;
            continue;
        };
        let their_hash = reverse.mapping.apply(&now).ok().map(|m| content_hash(&m));
        if their_hash.as_deref() == Some(their_link.content_hash.as_str()) {
            keep.push(candidate);
            continue;
        }
        let ours_wins = match reverse.rule {
            ConflictRule::SourceWins | ConflictRule::FieldOwnership => true,
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

/// What duplicate matching left to write, and what it did with the rest.
struct Matched {
    keep: Vec<Candidate>,
    /// Links to write for records matched instead of created: `true` for this flow's, `false`
    /// for the other direction's (two per record).
    linked: Vec<(bool, RecordLink)>,
    /// Matched records the write lands on anyway (an upsert keyed by the matched email).
    written_anyway: u64,
    parked: u64,
    /// Records whose search the provider refused.
    failures: Vec<(String, String)>,
}

/// Duplicate matching on create ([`super::matching`]): each changed record with no link yet is
/// looked for on the destination (the other direction's source stream) by email, then phone,
/// then name (each search the definition offers, stopping once a candidate reaches the link
/// threshold), and the link's thresholds decide. A record linked instead of created is not
/// written, unless the write is an upsert keyed by the very email that matched (it then
/// updates the matched record); both directions' links are set, so neither side creates the
/// other's copy. One in between is parked for review.
#[allow(clippy::too_many_arguments)]
async fn match_new_records(
    flow: &Flow,
    reverse: &Reverse,
    source: &ConnectorClient,
    destination: &ConnectorClient,
    existing: &HashMap<String, RecordLink>,
    changed: Vec<Candidate>,
    inputs: &[Value],
    thresholds: &crate::store::flows::MatchThresholds,
    now: i64,
) -> Result<Matched, SyncError> {
    use super::matching::{best, decide, normalise_email, Decision, Evidence, Identity};
    use crate::connector::definition::{SearchKind, WriteKind};
    let mut out = Matched {
        keep: Vec::with_capacity(changed.len()),
        linked: Vec::new(),
        written_anyway: 0,
        parked: 0,
        failures: Vec::new(),
    };
    let stream = reverse.source_stream.as_str();
    let (Some(ours_spec), Some(theirs_spec)) = (source.identity(&flow.source_stream), destination.identity(stream))
    else {
        out.keep = changed;
        return Ok(out);
    };
    let write = destination.definition().writes.get(&flow.destination_operation);
    for candidate in changed {
        if existing.contains_key(&candidate.0) {
            out.keep.push(candidate);
            continue;
        }
        let ours = Identity::read(ours_spec, &inputs[candidate.3]);
        let mut found: Vec<(String, Identity, Value)> = Vec::new();
        let mut top = None;
        let mut failed = false;
        for kind in [SearchKind::Email, SearchKind::Phone, SearchKind::Name] {
            let value = match kind {
                SearchKind::Email => ours.email.clone(),
                SearchKind::Phone => ours.phone.clone(),
                SearchKind::Name => ours.name.clone(),
            };
            let Some(value) = value.filter(|_| destination.searches(stream, kind)) else {
                continue;
            };
            let parts = [
                ("first_name", ours.first_name.as_deref()),
                ("last_name", ours.last_name.as_deref()),
                ("company", ours.company.as_deref()),
            ];
            let records = match destination.search_records(stream, kind, &value, &parts).await {
                Ok(records) => records,
                // A search the provider refuses fails this record, not the page.
                Err(e) if !e.class.is_retriable() => {
                    out.failures
                        .push((candidate.0.clone(), format!("duplicate search by {}: {e}", kind.name())));
                    failed = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            for record in records {
                if let Some(id) = destination.record_id(stream, &record) {
                    if !found.iter().any(|(f, _, _)| f == &id) {
                        found.push((id, Identity::read(theirs_spec, &record), record));
                    }
                }
            }
            top = best(&ours, found.iter().map(|(id, i, _)| (id.as_str(), i.clone())));
            if top.as_ref().is_some_and(|(_, s)| s.score >= thresholds.link) {
                break;
            }
        }
        if failed {
            continue;
        }
        match decide(top, thresholds) {
            Decision::Create => out.keep.push(candidate),
            Decision::Link { id, score } => {
                let upsert_lands_there = score.evidence == Evidence::Email
                    && write.is_some_and(|w| {
                        w.kind == WriteKind::Upsert
                            && w.key
                                .as_deref()
                                .and_then(|k| candidate.1.pointer(k))
                                .and_then(Value::as_str)
                                .and_then(normalise_email)
                                == ours.email
                    });
                tracing::info!(
                    message = "New record matched one already on the other side; linked, not created.",
                    flow_id = %flow.id,
                    source_id = %candidate.0,
                    destination_id = %id,
                    score = score.score,
                    evidence = score.evidence.name()
                );
                if upsert_lands_there {
                    out.written_anyway += 1;
                    out.keep.push(candidate);
                    continue;
                }
                let theirs = found.iter().find(|(f, _, _)| f == &id).map(|(_, _, r)| r.clone());
                let their_hash = theirs
                    .as_ref()
                    .and_then(|r| reverse.mapping.apply(r).ok())
                    .map(|m| content_hash(&m))
                    .unwrap_or_default();
                let (source_id, hash, i) = (candidate.0, candidate.2, candidate.3);
                out.linked.push((
                    true,
                    RecordLink {
                        source_id: source_id.clone(),
                        destination_id: id.clone(),
                        content_hash: hash,
                        updated_at: now,
                        subject: crate::subjects::subject_of_value(&reverse.tenant, &inputs[i]),
                        record: Some(inputs[i].clone()),
                        predicted: false,
                        retired: false,
                    },
                ));
                out.linked.push((
                    false,
                    RecordLink {
                        source_id: id,
                        destination_id: source_id,
                        content_hash: their_hash,
                        updated_at: now,
                        subject: theirs
                            .as_ref()
                            .and_then(|r| crate::subjects::subject_of_value(&reverse.tenant, r)),
                        record: theirs,
                        predicted: false,
                        retired: false,
                    },
                ));
            }
            Decision::Review { id, score } => {
                let theirs = found
                    .iter()
                    .find(|(f, _, _)| f == &id)
                    .map(|(_, _, r)| r.clone())
                    .unwrap_or(Value::Null);
                park_duplicate(reverse, &candidate.0, &id, &inputs[candidate.3], &theirs, score, now).await?;
                out.parked += 1;
            }
        }
    }
    Ok(out)
}

/// Parks a possible duplicate in the review queue: `ours` (source id `source_id`) was about
/// to be created, and `theirs` (id `their_id` on the other side) scored between the thresholds.
#[allow(clippy::too_many_arguments)]
async fn park_duplicate(
    reverse: &Reverse,
    source_id: &str,
    their_id: &str,
    ours: &Value,
    theirs: &Value,
    score: super::matching::Score,
    now: i64,
) -> Result<(), SyncError> {
    let Some(reviews) = &reverse.reviews else {
        return Ok(());
    };
    let (first, second) = crate::store::reviews::link_key(&reverse.this_flow, &reverse.flow_id);
    let this_is_first = first == reverse.this_flow;
    let (record, counterpart, first_version, second_version) = if this_is_first {
        (source_id, their_id, ours, theirs)
    } else {
        (their_id, source_id, theirs, ours)
    };
    let item = crate::store::reviews::ReviewItem {
        first_flow: first.clone(),
        second_flow: second.clone(),
        record: record.to_owned(),
        counterpart: counterpart.to_owned(),
        first_version: first_version.clone(),
        second_version: second_version.clone(),
        base: None,
        parked_at: now,
        seen_by: reverse.this_flow.clone(),
        kind: crate::store::reviews::ReviewKind::Duplicate,
        score: Some(score.score),
        evidence: Some(score.evidence.name().to_owned()),
    };
    // The person the possible duplicate is about: the first address of either version.
    let subject = crate::subjects::subject_of_value(&reverse.tenant, ours)
        .or_else(|| crate::subjects::subject_of_value(&reverse.tenant, theirs));
    if reviews.park(&item, subject.as_deref()).await? {
        let both = serde_json::json!([ours, theirs]);
        reviews
            .point_other_subjects(&item, &crate::subjects::other_subjects_of_value(&reverse.tenant, &both))
            .await?;
        tracing::warn!(
            message = "Possible duplicate parked for review; not created.",
            flow_id = %reverse.this_flow,
            link = %format!("{first}|{second}"),
            record = %record,
            score = score.score
        );
    }
    Ok(())
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
        kind: Default::default(),
        score: None,
        evidence: None,
    };
    // The person the conflict is about: the first address of either version.
    let subject = crate::subjects::subject_of_value(&reverse.tenant, &item.first_version)
        .or_else(|| crate::subjects::subject_of_value(&reverse.tenant, &item.second_version));
    if reviews.park(&item, subject.as_deref()).await? {
        let both = serde_json::json!([&item.first_version, &item.second_version]);
        reviews
            .point_other_subjects(&item, &crate::subjects::other_subjects_of_value(&reverse.tenant, &both))
            .await?;
        tracing::warn!(
            message = "Two-way conflict parked for review.",
            flow_id = %reverse.this_flow,
            link = %format!("{first}|{second}"),
            record = %record
        );
    }
    Ok(())
}
