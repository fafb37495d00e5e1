//! A chain of flows: a flow's `lookups` read the ids earlier flows wrote (their record links,
//! source id -> destination id) and hand them to its mapping as `$links.<name>`. A users flow
//! creates an LMS user; the enrolments flow that follows names that user by the id the first
//! flow's link holds for the student.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::store::flows::Flow;
use crate::store::links::LinkStore;

use super::{SyncDeps, SyncError};

/// Refuses a flow whose lookups name a flow that does not exist, belongs to another tenant, or
/// is the flow itself: a lookup reads only its own tenant's links, and another tenant's flow is
/// reported as missing.
pub async fn check(deps: &SyncDeps, flow: &Flow) -> Result<(), SyncError> {
    for lookup in &flow.lookups {
        if lookup.flow == flow.id {
            return Err(SyncError::Config(format!(
                "flow {}: lookup `{}` names the flow itself",
                flow.id, lookup.name
            )));
        }
        let theirs = deps.flows.get(&lookup.flow).await?;
        if theirs.is_none_or(|f| f.tenant != flow.tenant) {
            return Err(SyncError::Config(format!(
                "flow {}: lookup `{}` names flow {}, which does not exist",
                flow.id, lookup.name, lookup.flow
            )));
        }
    }
    Ok(())
}

/// The text of a lookup key: a string as it is, a number in its JSON form; anything else
/// (absent, null, an object) has no link.
fn key_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `$links` for each record, in order: an object with one member per lookup, the destination
/// id the looked-up flow's link holds for the record's key, or null.
pub async fn links_for(flow: &Flow, links: &LinkStore, records: &[Value]) -> Result<Vec<Value>, SyncError> {
    let mut out = vec![Value::Object(Map::new()); records.len()];
    for lookup in &flow.lookups {
        let keys: Vec<Option<String>> = records.iter().map(|r| key_text(r.pointer(&lookup.key))).collect();
        let wanted: Vec<String> = keys.iter().flatten().cloned().collect();
        let found = if wanted.is_empty() {
            HashMap::new()
        } else {
            links.get_many(&lookup.flow, &wanted).await?
        };
        for (slot, key) in out.iter_mut().zip(&keys) {
            let id = key
                .as_ref()
                .and_then(|k| found.get(k))
                .filter(|l| !l.destination_id.is_empty())
                .map_or(Value::Null, |l| Value::String(l.destination_id.clone()));
            if let Value::Object(map) = slot {
                map.insert(lookup.name.clone(), id);
            }
        }
    }
    Ok(out)
}

/// Orders flows that run on one event so that each runs after the flows its lookups name
/// (a deal's flow before the flow that associates the deal, both on one subscription event),
/// otherwise keeping their order. Lookups of flows outside the set are already written or
/// not; a cycle (which `lookups` cannot form usefully) keeps its members in their order.
pub fn chain_order(mut flows: Vec<Flow>) -> Vec<Flow> {
    let mut ordered: Vec<Flow> = Vec::with_capacity(flows.len());
    while !flows.is_empty() {
        let waits = |f: &Flow| {
            f.lookups.iter().any(|l| {
                l.flow != f.id
                    && flows.iter().any(|other| other.id == l.flow)
                    && !ordered.iter().any(|o| o.id == l.flow)
            })
        };
        let next = flows.iter().position(|f| !waits(f)).unwrap_or(0);
        ordered.push(flows.remove(next));
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_chain_runs_after_the_flows_its_lookups_name() {
        let flow = |id: &str, after: &[&str]| Flow {
            id: id.into(),
            lookups: after
                .iter()
                .map(|f| crate::store::flows::LinkLookup {
                    name: format!("from_{f}"),
                    flow: (*f).into(),
                    key: "/id".into(),
                })
                .collect(),
            tenant: "t".into(),
            name: id.into(),
            source_connection: "conn_a".into(),
            source_stream: "items".into(),
            destination_connection: "conn_b".into(),
            destination_operation: "items.create".into(),
            mapping: ".".into(),
            mode: crate::store::flows::SyncMode::Full,
            schedule_interval_secs: None,
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        };
        let ids = |flows: Vec<Flow>| flows.into_iter().map(|f| f.id).collect::<Vec<_>>();
        // The association needs the deal's flow; the deal's flow needs the contacts' flow,
        // which is not in the set (another event's).
        let order = chain_order(vec![
            flow("associate", &["deals", "contacts"]),
            flow("deals", &["contacts"]),
            flow("notify", &[]),
        ]);
        assert_eq!(ids(order), ["deals", "associate", "notify"]);
        // A cycle keeps its order.
        assert_eq!(ids(chain_order(vec![flow("a", &["b"]), flow("b", &["a"])])), ["a", "b"]);
    }

    #[test]
    fn keys_are_strings_or_numbers() {
        assert_eq!(key_text(Some(&json!("100001"))), Some("100001".into()));
        assert_eq!(key_text(Some(&json!(100_001))), Some("100001".into()));
        assert_eq!(key_text(Some(&json!(""))), None);
        assert_eq!(key_text(Some(&json!(null))), None);
        assert_eq!(key_text(Some(&json!({"id": 1}))), None);
        assert_eq!(key_text(None), None);
    }
}
