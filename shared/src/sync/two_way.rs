//! Two-way links: two flows running opposite ways between the same two connections (A -> B
//! and B -> A), paired with `switchyard flows link`.
//!
//! Without help each write comes back as a change: A -> B writes a record to B, B's webhook or
//! the next B -> A run reads it, and since it differs from what B -> A last saw, it is written
//! back to A (and so on, until the content hashes settle). Here, when one direction writes a
//! record, it also tells the other direction what that record will now look like: it merges
//! what it wrote into the record as the other direction last saw it, runs the other
//! direction's mapping over the result, and stores that hash in the other direction's record
//! link (with both ids). When the write comes back, it maps to exactly that hash, and is
//! skipped as unchanged: no echo write. A change someone made at the same time to a field the
//! other direction maps changes the hash, and is synced as usual.
//!
//! The prediction assumes a write's fields appear in the record read back under the same
//! names (true of HubSpot's `properties`, most REST APIs and SQL rows). Where they do not, the
//! echo is written back once, carrying the values the other side already holds, and stops
//! there: both sides' hashes then agree.

use serde_json::Value;
use tracing::warn;

use super::{SyncDeps, SyncError};
use crate::connector::{content_hash, ConnectorClient, Mapping};
use crate::store::flows::{ConflictRule, Flow, FlowStore, MatchThresholds};

/// The other direction of a two-way link, as one direction's writes need it.
pub struct Reverse {
    /// This flow, and the other direction.
    pub this_flow: String,
    pub flow_id: String,
    /// The other direction's source stream (on this flow's destination connection).
    pub source_stream: String,
    /// What this flow does when the destination's record changed too.
    pub rule: ConflictRule,
    pub mapping: Mapping,
    /// Where the other direction's source stream keeps a record's id.
    pub id_pointer: Option<String>,
    /// Where the `manual` rule parks conflicts.
    pub reviews: Option<crate::store::reviews::ReviewStore>,
}

/// The other direction of `flow`, when `flow` is half of a two-way link. `destination` is the
/// client of `flow`'s destination connection: the other direction's source.
pub async fn reverse_of(
    deps: &SyncDeps,
    flow: &Flow,
    destination: &ConnectorClient,
) -> Result<Option<Reverse>, SyncError> {
    let Some(id) = &flow.reverse_flow else {
        return Ok(None);
    };
    let Some(other) = deps.flows.get(id).await? else {
        warn!(message = "The flow's reverse flow no longer exists; its writes are not predicted.", flow_id = %flow.id, reverse_flow = %id);
        return Ok(None);
    };
    if other.reverse_flow.as_deref() != Some(flow.id.as_str()) {
        warn!(message = "The flow's reverse flow is not paired with it; its writes are not predicted.", flow_id = %flow.id, reverse_flow = %id);
        return Ok(None);
    }
    let mapping =
        Mapping::cached(&other.mapping).map_err(|e| SyncError::Config(format!("flow {}: mapping: {e}", other.id)))?;
    Ok(Some(Reverse {
        this_flow: flow.id.clone(),
        reviews: Some(deps.reviews.clone()),
        id_pointer: destination.primary_key(&other.source_stream).map(str::to_owned),
        flow_id: other.id,
        source_stream: other.source_stream,
        rule: flow.on_conflict,
        mapping,
    }))
}

/// What the other direction will read after `written` was written to the record it last saw
/// as `kept` (unknown: a record just created), with id `id`; and the hash its mapping gives
/// that record (`None` when the mapping refuses it: the echo is then synced, not skipped).
pub fn predict(reverse: &Reverse, kept: Option<&Value>, written: &Value, id: &str) -> (Value, Option<String>) {
    let mut record = kept.cloned().unwrap_or_else(|| Value::Object(Default::default()));
    merge(&mut record, written);
    if let Some(pointer) = &reverse.id_pointer {
        set_pointer(&mut record, pointer, Value::String(id.to_owned()));
    }
    let hash = reverse.mapping.apply(&record).ok().map(|mapped| content_hash(&mapped));
    (record, hash)
}

/// Merges `patch` into `base`: objects field by field, recursively; anything else replaces.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Sets the value at a JSON pointer, creating objects on the way (an existing non-object on
/// the way is left alone).
fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
    let Some(rest) = pointer.strip_prefix('/') else { return };
    let mut at = target;
    let parts: Vec<String> = rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = at else { return };
        if i + 1 == parts.len() {
            map.insert(part.clone(), value);
            return;
        }
        at = map
            .entry(part.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

/// Why two flows cannot be paired.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("flow {0} does not exist")]
    NotFound(String),
    #[error("a flow cannot be paired with itself")]
    Same,
    #[error("flows {a} and {b} belong to different tenants")]
    Tenants { a: String, b: String },
    #[error(
        "flows {a} ({a_from} -> {a_to}) and {b} ({b_from} -> {b_to}) do not run opposite ways between the same two connections"
    )]
    NotOpposite {
        a: String,
        a_from: String,
        a_to: String,
        b: String,
        b_from: String,
        b_to: String,
    },
    #[error("flow {flow} is already paired with {other}")]
    AlreadyPaired { flow: String, other: String },
    #[error("flow {0} is not half of a two-way link")]
    NotPaired(String),
    #[error("no conflict of record {record} is parked for flows {first} and {second}")]
    NoReview {
        first: String,
        second: String,
        record: String,
    },
    #[error("flow {flow}: mapping: {reason}")]
    Mapping { flow: String, reason: String },
    #[error(
        "flows {writer} and {reader} disagree about the records they link: {writer} writes `{operation}`, which writes {provider}'s `{written}` records, but {reader} reads `{read}`"
    )]
    Records {
        writer: String,
        reader: String,
        provider: String,
        operation: String,
        written: String,
        read: String,
    },
    #[error("duplicate matching: {0}")]
    Matching(String),
    #[error("record {0} is parked as a possible duplicate, not a conflict: answer whether the two are the same record (`switchyard flows resolve-duplicate`)")]
    Duplicate(String),
    #[error("record {0} is parked as a conflict, not a possible duplicate: choose the winning side (`switchyard flows resolve`)")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How a two-way link settles what both sides changed, and whether it matches duplicates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkPolicy {
    /// What the first flow does with a conflict (the second does the mirror).
    pub rule: ConflictRule,
    /// Look for an existing record before creating one, with these thresholds.
    pub matching: Option<MatchThresholds>,
}

impl From<ConflictRule> for LinkPolicy {
    fn from(rule: ConflictRule) -> Self {
        LinkPolicy { rule, matching: None }
    }
}

/// Where link checks find connections and their connector definitions.
pub struct LinkContext<'a> {
    pub flows: &'a FlowStore,
    pub connections: &'a crate::store::connections::ConnectionStore,
    pub registry: &'a crate::connector::Registry,
}

/// Pairs flows `a` and `b` as the two directions of a two-way link, after checking that they
/// run opposite ways between the same two connections of one tenant, that each writes the
/// records the other reads, and (with matching) that both sides say where a record's identity
/// is and the written side can be searched; `policy.rule` is what `a` does with a conflict,
/// and `b` does the mirror. Pairing again only sets the policy.
pub async fn link_flows(
    ctx: &LinkContext<'_>,
    a: &str,
    b: &str,
    policy: impl Into<LinkPolicy>,
) -> Result<(), LinkError> {
    let LinkPolicy { rule: a_rule, matching } = policy.into();
    let flows = ctx.flows;
    if a == b {
        return Err(LinkError::Same);
    }
    if let Some(m) = &matching {
        m.validate().map_err(LinkError::Matching)?;
    }
    let fa = flows.get(a).await?.ok_or_else(|| LinkError::NotFound(a.into()))?;
    let fb = flows.get(b).await?.ok_or_else(|| LinkError::NotFound(b.into()))?;
    if fa.tenant != fb.tenant {
        return Err(LinkError::Tenants {
            a: a.into(),
            b: b.into(),
        });
    }
    if fa.source_connection != fb.destination_connection || fa.destination_connection != fb.source_connection {
        return Err(LinkError::NotOpposite {
            a: a.into(),
            a_from: fa.source_connection,
            a_to: fa.destination_connection,
            b: b.into(),
            b_from: fb.source_connection,
            b_to: fb.destination_connection,
        });
    }
    for (flow, other) in [(&fa, b), (&fb, a)] {
        if let Some(paired) = flow.reverse_flow.as_deref().filter(|p| *p != other) {
            return Err(LinkError::AlreadyPaired {
                flow: flow.id.clone(),
                other: paired.into(),
            });
        }
    }
    check_records(ctx, &fa, &fb, matching.is_some()).await?;
    if flows.pair(a, b, a_rule, matching).await? {
        Ok(())
    } else {
        // A flow was deleted or paired elsewhere between the reads and the write.
        for (id, other) in [(a, b), (b, a)] {
            match flows.get(id).await? {
                None => return Err(LinkError::NotFound(id.into())),
                Some(f) if f.reverse_flow.as_deref().is_some_and(|p| p != other) => {
                    return Err(LinkError::AlreadyPaired {
                        flow: id.into(),
                        other: f.reverse_flow.unwrap_or_default(),
                    })
                }
                Some(_) => {}
            }
        }
        Err(LinkError::Store(crate::store::StoreError::Invalid {
            what: "flow pair",
            reason: "the pairing was refused; try again".into(),
        }))
    }
}

/// Each flow of a pair writes the records the other reads (the write's `stream`, when the
/// definition says or its name shows); with matching, both streams say where a record's
/// identity is, and each written stream can be searched. A connection whose connector is not
/// built in is not checked here.
async fn check_records(ctx: &LinkContext<'_>, fa: &Flow, fb: &Flow, matching: bool) -> Result<(), LinkError> {
    for (writer, reader) in [(fa, fb), (fb, fa)] {
        let Some(conn) = ctx.connections.get(&writer.destination_connection).await? else {
            continue;
        };
        let Some(def) = ctx.registry.get(&conn.provider) else {
            continue;
        };
        let written = def.write_stream(&writer.destination_operation);
        if let Some(written) = written {
            if written != reader.source_stream {
                return Err(LinkError::Records {
                    writer: writer.id.clone(),
                    reader: reader.id.clone(),
                    provider: def.id.clone(),
                    operation: writer.destination_operation.clone(),
                    written: written.to_owned(),
                    read: reader.source_stream.clone(),
                });
            }
        }
        if matching {
            let stream = def.streams.get(&reader.source_stream);
            if stream.is_none_or(|s| s.identity.is_none()) {
                return Err(LinkError::Matching(format!(
                    "{}'s stream `{}` does not say where a record's identity is (its `identity`), so flow {} cannot match what flow {} creates there",
                    def.id, reader.source_stream, reader.id, writer.id
                )));
            }
            if stream.is_none_or(|s| s.search.is_empty()) {
                return Err(LinkError::Matching(format!(
                    "{}'s stream `{}` has no `search`, so flow {} cannot look for an existing record before it creates one",
                    def.id, reader.source_stream, writer.id
                )));
            }
        }
    }
    Ok(())
}

/// Resolves a parked conflict in favour of `winner`'s source version: the losing side's link
/// is set to the version parked for it, so `winner` (next run, or next event) sees no
/// conflict and writes its version over, and the other direction sees the result as its own
/// echo. The review item is removed. Returns it.
pub async fn resolve_review(
    flows: &FlowStore,
    links: &crate::store::links::LinkStore,
    reviews: &crate::store::reviews::ReviewStore,
    winner: &str,
    record: &str,
    now: i64,
) -> Result<crate::store::reviews::ReviewItem, LinkError> {
    let win = flows
        .get(winner)
        .await?
        .ok_or_else(|| LinkError::NotFound(winner.into()))?;
    let other_id = win
        .reverse_flow
        .clone()
        .ok_or_else(|| LinkError::NotPaired(winner.into()))?;
    let other = flows
        .get(&other_id)
        .await?
        .ok_or_else(|| LinkError::NotFound(other_id.clone()))?;
    let (first, second) = crate::store::reviews::link_key(&win.id, &other.id);
    let item = reviews
        .get(&first, &second, record)
        .await?
        .ok_or_else(|| LinkError::NoReview {
            first: first.clone(),
            second: second.clone(),
            record: record.into(),
        })?;
    if item.kind == crate::store::reviews::ReviewKind::Duplicate {
        return Err(LinkError::Duplicate(record.into()));
    }
    // The loser is the other direction: its link for its own source record is set in step with
    // the version parked for its side, so the winner's conflict check passes.
    let winner_is_first = win.id == first;
    let (loser_record, loser_counterpart, loser_version) = if winner_is_first {
        (&item.counterpart, &item.record, &item.second_version)
    } else {
        (&item.record, &item.counterpart, &item.first_version)
    };
    let mapping = Mapping::cached(&other.mapping).map_err(|e| LinkError::Mapping {
        flow: other.id.clone(),
        reason: e.to_string(),
    })?;
    let mapped = mapping.apply(loser_version).map_err(|e| LinkError::Mapping {
        flow: other.id.clone(),
        reason: e.to_string(),
    })?;
    links
        .put_many(
            &other.id,
            &[crate::store::links::RecordLink {
                source_id: loser_record.clone(),
                destination_id: loser_counterpart.clone(),
                content_hash: content_hash(&mapped),
                updated_at: now,
                record: Some(loser_version.clone()),
                predicted: false,
            }],
        )
        .await?;
    reviews.remove(&first, &second, record).await?;
    Ok(item)
}

/// Answers a possible duplicate parked by duplicate matching (`record` as the review lists it,
/// on the link of `flow`): `same` links the two records both ways, so neither side creates a
/// copy of the other; otherwise each direction creates its record on the other side at its
/// next run (their links then say there is nothing to match). The review item is removed. Returns it.
pub async fn resolve_duplicate(
    flows: &FlowStore,
    links: &crate::store::links::LinkStore,
    reviews: &crate::store::reviews::ReviewStore,
    flow: &str,
    record: &str,
    same: bool,
    now: i64,
) -> Result<crate::store::reviews::ReviewItem, LinkError> {
    let this = flows.get(flow).await?.ok_or_else(|| LinkError::NotFound(flow.into()))?;
    let other_id = this
        .reverse_flow
        .clone()
        .ok_or_else(|| LinkError::NotPaired(flow.into()))?;
    let other = flows
        .get(&other_id)
        .await?
        .ok_or_else(|| LinkError::NotFound(other_id.clone()))?;
    let (first, second) = crate::store::reviews::link_key(&this.id, &other.id);
    let item = reviews
        .get(&first, &second, record)
        .await?
        .ok_or_else(|| LinkError::NoReview {
            first: first.clone(),
            second: second.clone(),
            record: record.into(),
        })?;
    if item.kind != crate::store::reviews::ReviewKind::Duplicate {
        return Err(LinkError::Conflict(record.into()));
    }
    // The flow that found the pair was about to create its record; the other side's record is
    // the candidate.
    let (creator, candidate_flow) = if item.seen_by == this.id {
        (&this, &other)
    } else {
        (&other, &this)
    };
    let creator_is_first = creator.id == first;
    let (ours_id, theirs_id, ours, theirs) = if creator_is_first {
        (
            &item.record,
            &item.counterpart,
            &item.first_version,
            &item.second_version,
        )
    } else {
        (
            &item.counterpart,
            &item.record,
            &item.second_version,
            &item.first_version,
        )
    };
    // The hash of `v` under `f`'s mapping, or why the mapping refused it.
    let hash = |f: &Flow, v: &serde_json::Value| -> Result<String, String> {
        Mapping::cached(&f.mapping)
            .map_err(|e| e.to_string())
            .and_then(|m| m.apply(v).map_err(|e| e.to_string()))
            .map(|mapped| content_hash(&mapped))
    };
    let refused = |f: &Flow| {
        let flow = f.id.clone();
        move |reason| LinkError::Mapping { flow, reason }
    };
    let link = |source_id: &str, destination_id: &str, content_hash: String, record: Option<serde_json::Value>| {
        crate::store::links::RecordLink {
            source_id: source_id.to_owned(),
            destination_id: destination_id.to_owned(),
            content_hash,
            updated_at: now,
            record,
            predicted: false,
        }
    };
    if same {
        links
            .put_many(
                &creator.id,
                &[link(
                    ours_id,
                    theirs_id,
                    hash(creator, ours).map_err(refused(creator))?,
                    Some(ours.clone()),
                )],
            )
            .await?;
        links
            .put_many(
                &candidate_flow.id,
                &[link(
                    theirs_id,
                    ours_id,
                    hash(candidate_flow, theirs).map_err(refused(candidate_flow))?,
                    Some(theirs.clone()),
                )],
            )
            .await?;
    } else {
        // Two people: a link with no counterpart and no hash makes each record be written
        // (created on the other side) at its flow's next run, without matching again.
        links
            .put_many(&creator.id, &[link(ours_id, "", String::new(), None)])
            .await?;
        links
            .put_many(&candidate_flow.id, &[link(theirs_id, "", String::new(), None)])
            .await?;
    }
    reviews.remove(&first, &second, record).await?;
    Ok(item)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patches_objects_recursively_and_replaces_the_rest() {
        let mut base = json!({"id": "7", "properties": {"email": "a@x.io", "firstname": "Ann", "phone": "1"},
                              "tags": ["a", "b"]});
        merge(
            &mut base,
            &json!({"properties": {"firstname": "Anna", "lastname": "Lee"}, "tags": ["c"]}),
        );
        assert_eq!(
            base,
            json!({"id": "7", "properties": {"email": "a@x.io", "firstname": "Anna", "phone": "1", "lastname": "Lee"},
                   "tags": ["c"]})
        );
    }

    #[test]
    fn a_prediction_maps_like_the_record_that_will_come_back() {
        let reverse = Reverse {
            this_flow: "there".into(),
            reviews: None,
            flow_id: "back".into(),
            source_stream: "contacts".into(),
            rule: ConflictRule::SourceWins,
            mapping: Mapping::compile(
                r#"{properties: {email: .properties.email, name: .properties.firstname, ref: .id}}"#,
            )
            .unwrap(),
            id_pointer: Some("/id".into()),
        };
        // A record just created: only what was written, plus its new id.
        let written = json!({"properties": {"email": "a@x.io", "firstname": "Ann"}});
        let (record, hash) = predict(&reverse, None, &written, "501");
        let comes_back = json!({"id": "501", "createdAt": "2026-11-27T06:00:00Z",
                                "properties": {"email": "a@x.io", "firstname": "Ann", "hs_object_id": "501"}});
        assert_eq!(record["id"], "501");
        assert_eq!(
            hash.as_deref(),
            Some(content_hash(&reverse.mapping.apply(&comes_back).unwrap()).as_str())
        );
        // Someone also changed a field the reverse mapping reads: the hash differs.
        let mut edited = comes_back.clone();
        edited["properties"]["email"] = json!("b@x.io");
        assert_ne!(
            hash.as_deref(),
            Some(content_hash(&reverse.mapping.apply(&edited).unwrap()).as_str())
        );
        // A mapping that refuses the predicted record predicts nothing.
        let strict = Reverse {
            mapping: Mapping::compile(r#"if .properties.phone == null then error("no phone") else . end"#).unwrap(),
            ..reverse
        };
        assert_eq!(predict(&strict, None, &written, "501").1, None);
    }

    #[test]
    fn set_pointer_creates_objects_and_unescapes() {
        let mut v = json!({});
        set_pointer(&mut v, "/a/b~1c", json!(1));
        assert_eq!(v, json!({"a": {"b/c": 1}}));
        let mut scalar = json!({"a": 5});
        set_pointer(&mut scalar, "/a/b", json!(1));
        assert_eq!(scalar, json!({"a": 5}), "a scalar on the way is left alone");
    }
}
