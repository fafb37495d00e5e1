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
use crate::store::flows::{ConflictRule, DeleteRule, Flow, FlowStore, MatchThresholds};

/// The other direction of a two-way link, as one direction's writes need it.
pub struct Reverse {
    /// This flow, and the other direction.
    pub this_flow: String,
    /// Both flows' tenant (review items are indexed by the person they are about).
    pub tenant: String,
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
        tenant: flow.tenant.clone(),
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
pub(crate) fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
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
    /// `a (from -> to) and b (from -> to)`: one string, so the error stays small.
    #[error("flows {0} do not run opposite ways between the same two connections")]
    NotOpposite(String),
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
    /// A merge names a field that is not in the version it would be taken from.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    /// A side's record changed since the conflict was parked: look at it again.
    #[error("the record {record} on {connection} changed since the conflict was parked; reload it and choose again")]
    Stale { connection: String, record: String },
    /// A merge's write (or read back) failed; nothing is resolved.
    #[error("flow {flow}: {reason}")]
    Write { flow: String, reason: String },
    /// The two flows disagree about the records they link (the reason names both flows, the
    /// write and the stream; one string keeps the error small).
    #[error("{0}")]
    Records(String),
    #[error("duplicate matching: {0}")]
    Matching(String),
    /// The link's delete rule cannot be carried out (the reason names the flow and the write).
    #[error("deletes: {0}")]
    Deletes(String),
    #[error("record {0} is parked as a possible duplicate, not a conflict: answer whether the two are the same record (`switchyard flows resolve-duplicate`)")]
    Duplicate(String),
    #[error("record {0} is parked as a conflict, not a possible duplicate: choose the winning side (`switchyard flows resolve`)")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How a two-way link settles what both sides changed, whether it matches duplicates, and
/// what it does when a linked record is deleted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkPolicy {
    /// What the first flow does with a conflict (the second does the mirror).
    pub rule: ConflictRule,
    /// Look for an existing record before creating one, with these thresholds.
    pub matching: Option<MatchThresholds>,
    /// What either direction does when a linked record is deleted on its source side.
    pub on_delete: DeleteRule,
    /// With `on_delete: archive`: each flow's archive mapping (the first flow's, then the
    /// second's), jq turning the deleted record as last synced into the update written to its
    /// counterpart.
    pub archive: Option<[String; 2]>,
}

impl From<ConflictRule> for LinkPolicy {
    fn from(rule: ConflictRule) -> Self {
        LinkPolicy {
            rule,
            ..Default::default()
        }
    }
}

/// Where link checks find connections and their connector definitions.
pub struct LinkContext<'a> {
    pub flows: &'a FlowStore,
    pub connections: &'a crate::store::connections::ConnectionStore,
    pub registry: &'a crate::connector::Registry,
    /// Where a tenant's uploaded connectors are found (built-in first, then the connection's
    /// tenant's own); `None`: built-in connectors only, and a connection on any other is not
    /// checked.
    pub tenant_connectors: Option<&'a crate::store::tenant_connectors::TenantConnectorStore>,
}

impl LinkContext<'_> {
    /// The connector definition of a connection: built in, or its tenant's own.
    async fn definition(
        &self,
        conn: &crate::store::connections::Connection,
    ) -> Result<Option<std::sync::Arc<crate::connector::ConnectorDefinition>>, LinkError> {
        if let Some(def) = self.registry.get_shared(&conn.provider) {
            return Ok(Some(def));
        }
        match self.tenant_connectors {
            Some(store) => Ok(store.resolve(self.registry, &conn.tenant, &conn.provider).await?),
            None => Ok(None),
        }
    }
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
    let LinkPolicy {
        rule: a_rule,
        matching,
        on_delete,
        archive,
    } = policy.into();
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
        return Err(LinkError::NotOpposite(format!(
            "{a} ({} -> {}) and {b} ({} -> {})",
            fa.source_connection, fa.destination_connection, fb.source_connection, fb.destination_connection
        )));
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
    let archive = check_deletes(ctx, &fa, &fb, on_delete, archive).await?;
    if flows.pair(a, b, a_rule, matching, (on_delete, archive)).await? {
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

/// The delete rule can be carried out on both sides: `propagate` needs a `delete` write beside
/// each flow's write, `archive` an update write beside it and an archive mapping per flow that
/// compiles; other rules take no archive mapping. Returns the archive mappings to store (`a`'s,
/// `b`'s). A connection whose connector is unknown here is not checked.
async fn check_deletes(
    ctx: &LinkContext<'_>,
    fa: &Flow,
    fb: &Flow,
    rule: DeleteRule,
    archive: Option<[String; 2]>,
) -> Result<[Option<String>; 2], LinkError> {
    use crate::connector::definition::WriteKind;
    let refused = |reason: String| LinkError::Deletes(reason);
    let archive = match (rule, archive) {
        (DeleteRule::Archive, Some([x, y])) => [Some(x), Some(y)],
        (DeleteRule::Archive, None) => {
            return Err(refused(
                "on_delete archive needs an archive mapping for each flow (what to write to a deleted record's counterpart)".into(),
            ))
        }
        (_, Some(_)) => {
            return Err(refused(format!(
                "archive mappings are for on_delete archive, not {}",
                rule.name()
            )))
        }
        (_, None) => [None, None],
    };
    let kind = match rule {
        DeleteRule::Ignore => return Ok(archive),
        DeleteRule::Propagate => WriteKind::Delete,
        DeleteRule::Archive => WriteKind::Update,
    };
    for (flow, program) in [(fa, &archive[0]), (fb, &archive[1])] {
        if let Some(program) = program {
            Mapping::compile(program).map_err(|e| refused(format!("flow {}: archive mapping: {e}", flow.id)))?;
        }
        let Some(conn) = ctx.connections.get(&flow.destination_connection).await? else {
            continue;
        };
        let Some(def) = ctx.definition(&conn).await? else {
            continue;
        };
        if def.sibling_write(&flow.destination_operation, kind).is_none() {
            return Err(refused(format!(
                "on_delete {}: {} has no {} write beside `{}` (flow {}'s write), so a deleted record's counterpart cannot be {}",
                rule.name(),
                def.id,
                if kind == WriteKind::Delete { "delete" } else { "update" },
                flow.destination_operation,
                flow.id,
                if kind == WriteKind::Delete { "deleted" } else { "archived" },
            )));
        }
    }
    Ok(archive)
}

/// Each flow of a pair writes the records the other reads (the write's `stream`, when the
/// definition says or its name shows); with matching, both streams say where a record's
/// identity is, and each written stream can be searched. A connection whose connector is
/// unknown here is not checked.
async fn check_records(ctx: &LinkContext<'_>, fa: &Flow, fb: &Flow, matching: bool) -> Result<(), LinkError> {
    for (writer, reader) in [(fa, fb), (fb, fa)] {
        let Some(conn) = ctx.connections.get(&writer.destination_connection).await? else {
            continue;
        };
        let Some(def) = ctx.definition(&conn).await? else {
            continue;
        };
        let written = def.write_stream(&writer.destination_operation);
        if let Some(written) = written {
            if written != reader.source_stream {
                return Err(LinkError::Records(format!(
                    "flows {w} and {r} disagree about the records they link: {w} writes `{operation}`, which writes {provider}'s `{written}` records, but {r} reads `{read}`",
                    w = writer.id,
                    r = reader.id,
                    operation = writer.destination_operation,
                    provider = def.id,
                    read = reader.source_stream,
                )));
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
    let (win, other, item) = parked(flows, reviews, winner, record).await?;
    let (first, second) = crate::store::reviews::link_key(&win.id, &other.id);
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
                subject: crate::subjects::subject_of_value(&other.tenant, loser_version),
                predicted: false,
                retired: false,
            }],
        )
        .await?;
    reviews.remove(&first, &second, record).await?;
    Ok(item)
}

/// The winning flow, the other half of its link, and the conflict parked for `record`.
async fn parked(
    flows: &FlowStore,
    reviews: &crate::store::reviews::ReviewStore,
    winner: &str,
    record: &str,
) -> Result<(Flow, Flow, crate::store::reviews::ReviewItem), LinkError> {
    let (win, other, item) = review_of(flows, reviews, winner, record).await?;
    if item.kind == crate::store::reviews::ReviewKind::Duplicate {
        return Err(LinkError::Duplicate(record.into()));
    }
    Ok((win, other, item))
}

/// `flow`, the other half of its link, and the review item (a conflict or a possible
/// duplicate) parked on the link for `record`.
async fn review_of(
    flows: &FlowStore,
    reviews: &crate::store::reviews::ReviewStore,
    flow: &str,
    record: &str,
) -> Result<(Flow, Flow, crate::store::reviews::ReviewItem), LinkError> {
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
            first,
            second,
            record: record.into(),
        })?;
    Ok((this, other, item))
}

/// The record a merge leaves on both sides: `winner` (the winning side's parked version) with
/// each field in `take` (JSON Pointers, RFC 6901, into the other side's version `other`) taken
/// from the other side. `carry` is the other direction's mapping (the other side's records to
/// the winner's side): it says where each field lands on the winner's side ([`translate_field`]),
/// so links between records of different shapes merge as well as links between the same
/// shapes. A field that is not in `other`, or that the mapping does not carry to exactly one
/// field, is refused, naming it.
pub fn merged_version(winner: &Value, other: &Value, take: &[String], carry: &Mapping) -> Result<Value, LinkError> {
    let mut merged = winner.clone();
    for field in take {
        let (to, value) = translate_field(carry, other, field)?;
        set_pointer(&mut merged, &to, value.clone());
        if merged.pointer(&to) != Some(&value) {
            // A scalar on the way in the winner's version: the two shapes do not line up here.
            return Err(LinkError::Field {
                field: field.clone(),
                reason: format!(
                    "the winning version holds a value that is not an object on the way to {to}, where the link's mapping puts this field"
                ),
            });
        }
    }
    Ok(merged)
}

/// Where `field` of `record` (a JSON Pointer into a record of the other side) lands on the
/// winner's side, and the value it lands with, as the mapping `carry` (the other side to the
/// winner's) writes it. Found by running the mapping twice, over the record and over the
/// record with that one field changed: the fields of the output that differ are the ones it
/// feeds. The same pointer wins when it is among them (records of the same shape); otherwise
/// exactly one field must differ. Refused (naming the field) when the field is missing, the
/// mapping refuses the record, carries nothing from the field, or feeds several fields from it.
pub fn translate_field(carry: &Mapping, record: &Value, field: &str) -> Result<(String, Value), LinkError> {
    let refuse = |reason: String| LinkError::Field {
        field: field.to_owned(),
        reason,
    };
    if !field.starts_with('/') {
        return Err(refuse("a field is a JSON Pointer such as /properties/firstname".into()));
    }
    let Some(value) = record.pointer(field) else {
        return Err(refuse(
            "there is no such field in the version it would be taken from".into(),
        ));
    };
    let before = carry.apply(record).map_err(|e| {
        refuse(format!(
            "the link's mapping refuses the version it would be taken from: {e}"
        ))
    })?;
    let mut probe = record.clone();
    if let Some(slot) = probe.pointer_mut(field) {
        *slot = perturbed(value);
    }
    // A mapping that fails on the changed value reads the field in a way that has no single
    // place on the other side (a lookup, say): no translation.
    let after = carry.apply(&probe).ok();
    let mut fed = Vec::new();
    match &after {
        Some(after) => differing_fields(&before, after, String::new(), &mut fed),
        None => {
            return Err(refuse(
                "the link's mapping fails when this field changes, so it has no place on the winning side".into(),
            ))
        }
    }
    let to = if fed.iter().any(|f| f == field) {
        field.to_owned()
    } else {
        match fed.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(refuse(
                    "the link's mapping does not carry this field to the winning side, so there is no field there to merge it into".into(),
                ))
            }
            many => {
                return Err(refuse(format!(
                    "the link's mapping feeds several fields of the winning side from this one ({}); merge whole versions instead",
                    many.join(", ")
                )))
            }
        }
    };
    let landed = before.pointer(&to).cloned().ok_or_else(|| {
        refuse(format!(
            "the link's mapping leaves {to} out of the version it would be taken from"
        ))
    })?;
    Ok((to, landed))
}

/// A value that differs from `value` (of the same kind where that means something).
fn perturbed(value: &Value) -> Value {
    const MARK: &str = "\u{2063}switchyard-probe";
    match value {
        Value::String(s) => Value::String(format!("{s}{MARK}")),
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i.wrapping_add(7919)),
            None => Value::from(n.as_f64().unwrap_or(0.0) + 7919.5),
        },
        _ => Value::String(MARK.into()),
    }
}

/// The JSON Pointers of `after` whose values differ from `before` (at the deepest object
/// level both share; a field present in one only counts as differing).
fn differing_fields(before: &Value, after: &Value, at: String, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let path = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (b.get(k), a.get(k)) {
                    (Some(x), Some(y)) => differing_fields(x, y, path, out),
                    (None, None) => {}
                    _ => out.push(path),
                }
            }
        }
        (b, a) if b != a => out.push(at),
        _ => {}
    }
}

/// What a merged resolution needs beyond the stores: a client per connection.
pub struct MergeDeps<'a> {
    pub flows: &'a FlowStore,
    pub links: &'a crate::store::links::LinkStore,
    pub reviews: &'a crate::store::reviews::ReviewStore,
    pub registry: &'a crate::connector::Registry,
    pub connections: &'a crate::store::connections::ConnectionStore,
    pub secrets: &'a std::sync::Arc<crate::secrets::SecretStore>,
    pub clients: &'a super::ClientCache,
}

/// Resolves a parked conflict by merging: `winner`'s version with the fields in `take` from
/// the other side's version ([`merged_version`]), written now to both sides. The merged
/// record goes to the other side through `winner`'s flow; that side's record is then read
/// back and written to the winner's side through the other flow, so each side ends with the
/// merge and both directions' links are in step with what they wrote (no echo at the next
/// runs). `take` names fields of the other side's version; the other direction's mapping
/// says where each lands on the winner's side. Each side's record must still be as parked, or
/// already hold the merge (a retry after one side's write failed), else [`LinkError::Stale`]
/// and nothing is written. With `take` empty this is [`resolve_review`]. The review item is
/// removed only when both writes succeeded. Returns it and the merged record.
pub async fn resolve_merge(
    deps: &MergeDeps<'_>,
    winner: &str,
    record: &str,
    take: &[String],
    now: i64,
) -> Result<(crate::store::reviews::ReviewItem, Value), LinkError> {
    if take.is_empty() {
        let item = resolve_review(deps.flows, deps.links, deps.reviews, winner, record, now).await?;
        let merged = if item.first_flow == winner {
            item.first_version.clone()
        } else {
            item.second_version.clone()
        };
        return Ok((item, merged));
    }
    let (win, other, item) = parked(deps.flows, deps.reviews, winner, record).await?;
    let winner_is_first = item.first_flow == win.id;
    let (win_id, other_id, win_version, other_version) = if winner_is_first {
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
    let mapping_of = |f: &Flow| {
        Mapping::cached(&f.mapping).map_err(|e| LinkError::Mapping {
            flow: f.id.clone(),
            reason: e.to_string(),
        })
    };
    let (win_mapping, other_mapping) = (mapping_of(&win)?, mapping_of(&other)?);
    // The other direction's mapping carries the other side's fields to the winner's side.
    let merged = merged_version(win_version, other_version, take, &other_mapping)?;
    let client = |id: String| async move {
        deps.clients
            .get(deps.registry, deps.connections, deps.secrets, &id)
            .await
            .map(|(_, c)| c)
    };
    let write_err = |flow: &Flow| {
        let id = flow.id.clone();
        move |e: SyncError| LinkError::Write {
            flow: id,
            reason: e.to_string(),
        }
    };
    let win_side = client(win.source_connection.clone()).await.map_err(write_err(&win))?;
    let other_side = client(other.source_connection.clone())
        .await
        .map_err(write_err(&other))?;
    if win_side.record_id(&win.source_stream, &merged).as_deref() != Some(win_id.as_str()) {
        return Err(LinkError::Field {
            field: win_side
                .primary_key(&win.source_stream)
                .unwrap_or("(the record id)")
                .to_string(),
            reason: "a record keeps its own side's id; it cannot be taken from the other side".into(),
        });
    }
    // Both records must be as they were parked (as each flow's mapping sees them), or already
    // hold the merge: a merge that wrote one side and failed on the other converges when it is
    // tried again. The other side holds it when it is its parked version with the winner's
    // write merged in (the write's fields read back under the same names, as [`predict`]
    // assumes); the winner's side when its flow's mapping sees the merged record.
    let other_merged = win_mapping
        .apply(&merged)
        .map(|write| {
            let mut record = other_version.clone();
            merge(&mut record, &write);
            record
        })
        .map_err(|e| LinkError::Mapping {
            flow: win.id.clone(),
            reason: e.to_string(),
        })?;
    for (side, flow, mapping, id, parked, done) in [
        (&win_side, &win, &win_mapping, win_id, win_version, &merged),
        (
            &other_side,
            &other,
            &other_mapping,
            other_id,
            other_version,
            &other_merged,
        ),
    ] {
        let now_there = side
            .fetch_record(&flow.source_stream, id)
            .await
            .map_err(|e| write_err(flow)(e.into()))?;
        let hash = |v: &Value| mapping.apply(v).ok().map(|m| content_hash(&m));
        let now_hash = now_there.as_ref().and_then(hash);
        if now_hash != hash(parked) && (now_hash.is_none() || now_hash != hash(done)) {
            return Err(LinkError::Stale {
                connection: flow.source_connection.clone(),
                record: id.clone(),
            });
        }
    }
    let written = |counts: super::PageCounts, flow: &Flow| match counts.failures.first() {
        None => Ok(()),
        Some((_, reason)) => Err(LinkError::Write {
            flow: flow.id.clone(),
            reason: reason.clone(),
        }),
    };
    let counts = super::sync_records(
        &win,
        &win_side,
        &other_side,
        &win_mapping,
        deps.links,
        vec![merged.clone()],
        now,
        None,
    )
    .await
    .map_err(write_err(&win))?;
    written(counts, &win)?;
    let back = other_side
        .fetch_record(&other.source_stream, other_id)
        .await
        .map_err(|e| write_err(&other)(e.into()))?
        .ok_or_else(|| LinkError::Write {
            flow: other.id.clone(),
            reason: format!("record {other_id} is gone after the merge was written to it"),
        })?;
    let counts = super::sync_records(
        &other,
        &other_side,
        &win_side,
        &other_mapping,
        deps.links,
        vec![back],
        now,
        None,
    )
    .await
    .map_err(write_err(&other))?;
    written(counts, &other)?;
    deps.reviews.remove(&item.first_flow, &item.second_flow, record).await?;
    Ok((item, merged))
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
    let (this, other, item) = review_of(flows, reviews, flow, record).await?;
    let (first, second) = crate::store::reviews::link_key(&this.id, &other.id);
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
            subject: record
                .as_ref()
                .and_then(|r| crate::subjects::subject_of_value(&this.tenant, r)),
            record,
            predicted: false,
            retired: false,
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
            tenant: "t".into(),
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
    fn a_merge_takes_the_named_fields_from_the_other_version_and_refuses_a_missing_one() {
        let a = json!({"id": "1", "properties": {"email": "a@x.io", "firstname": "Ann", "lastname": "Lee"}});
        let b =
            json!({"id": "9", "properties": {"email": "a@x.io", "firstname": "Anna", "lastname": "Li", "phone": "5"}});
        let same = Mapping::compile(".").unwrap();
        let merged = merged_version(
            &a,
            &b,
            &["/properties/firstname".into(), "/properties/phone".into()],
            &same,
        )
        .unwrap();
        assert_eq!(
            merged,
            json!({"id": "1", "properties": {"email": "a@x.io", "firstname": "Anna", "lastname": "Lee", "phone": "5"}})
        );
        assert_eq!(merged_version(&a, &b, &[], &same).unwrap(), a);
        for (field, words) in [
            ("/properties/middlename", "no such field"),
            ("properties.firstname", "JSON Pointer"),
            ("/id/x", "no such field"),
        ] {
            let err = merged_version(&a, &b, &[field.into()], &same).unwrap_err();
            assert!(
                matches!(&err, LinkError::Field { field: f, reason } if f == field && reason.contains(words)),
                "{field}: {err}"
            );
        }
        // The other version has an object where the winner has a scalar on the way.
        let c = json!({"id": {"v": 1}});
        let err = merged_version(&a, &c, &["/id/v".into()], &same).unwrap_err();
        assert!(matches!(err, LinkError::Field { .. }), "{err}");
    }

    #[test]
    fn a_merge_across_shapes_puts_each_field_where_the_mapping_carries_it() {
        // The winner keeps contacts as {id, properties: {...}}; the other side as flat rows,
        // with a status its mapping turns into a boolean.
        let winner = json!({"id": "1", "properties": {"email": "a@x.io", "firstname": "Ann", "subscribed": false}});
        let other = json!({"row": 9, "mail": "a@x.io", "given": "Anna", "status": "subscribed", "notes": "vip"});
        let carry = Mapping::compile(
            r#"{properties: {email: .mail, firstname: .given, subscribed: (.status == "subscribed"),
                             name: (.given + " " + .mail)}}"#,
        )
        .unwrap();
        // `/given` feeds two fields (the first name and the display name): refused.
        let err = merged_version(&winner, &other, &["/given".into()], &carry).unwrap_err();
        assert!(
            matches!(&err, LinkError::Field { field, reason } if field == "/given" && reason.contains("several")),
            "{err}"
        );
        let carry = Mapping::compile(
            r#"{properties: {email: .mail, firstname: .given, subscribed: (.status == "subscribed")}}"#,
        )
        .unwrap();
        let merged = merged_version(&winner, &other, &["/given".into(), "/status".into()], &carry).unwrap();
        assert_eq!(
            merged,
            json!({"id": "1", "properties": {"email": "a@x.io", "firstname": "Anna", "subscribed": true}})
        );
        assert_eq!(
            translate_field(&carry, &other, "/given").unwrap(),
            ("/properties/firstname".to_string(), json!("Anna"))
        );
        // A field the mapping does not carry has nowhere to go on the winner's side.
        for field in ["/notes", "/row"] {
            let err = merged_version(&winner, &other, &[field.into()], &carry).unwrap_err();
            assert!(
                matches!(&err, LinkError::Field { field: f, reason } if f == field && reason.contains("does not carry")),
                "{field}: {err}"
            );
        }
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
