//! The events, built where things happen and handed to the [`Publisher`]. Each builder first
//! asks the publisher whether the tenant wants the type at all (a cached lookup), so a tenant
//! without subscriptions costs nothing more.

use serde_json::{json, Value};

use super::catalogue::OutboundEvent;
use super::Publisher;
use crate::health::alert::Alert;
use crate::store::connections::ConnectionStore;
use crate::store::dead_letters::DeadLetter;
use crate::store::flows::{Flow, FlowStore};
use crate::store::jobs::{Job, JobStatus};

/// A record a flow wrote, as `record.created` or `record.updated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    pub source_id: String,
    pub destination_id: String,
    /// The destination had no such record before (no record link).
    pub created: bool,
    /// What was written (the mapping's output).
    pub record: Value,
}

/// Larger written records are left out of `record.*` events (`record_omitted: true`), so a
/// delivery message stays far below SQS's 256 KiB.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

fn now_ms(now: i64) -> u64 {
    u64::try_from(now.max(0)).unwrap_or(0).saturating_mul(1000)
}

/// `record.created` / `record.updated` for the records one page of a flow wrote.
pub async fn records(publisher: &Publisher, flow: &Flow, changes: &[RecordChange], now: i64) {
    if changes.is_empty() {
        return;
    }
    let wants_created = publisher.interested(&flow.tenant, "record.created").await;
    let wants_updated = publisher.interested(&flow.tenant, "record.updated").await;
    if !wants_created && !wants_updated {
        return;
    }
    let events: Vec<OutboundEvent> = changes
        .iter()
        .filter(|c| if c.created { wants_created } else { wants_updated })
        .map(|c| {
            let mut data = json!({
                "flow_id": flow.id,
                "source_connection": flow.source_connection,
                "source_stream": flow.source_stream,
                "destination_connection": flow.destination_connection,
                "source_id": c.source_id,
                "destination_id": c.destination_id,
            });
            if serde_json::to_vec(&c.record).map_or(usize::MAX, |b| b.len()) <= MAX_RECORD_BYTES {
                data["record"] = c.record.clone();
            } else {
                data["record_omitted"] = json!(true);
            }
            let kind = if c.created { "record.created" } else { "record.updated" };
            OutboundEvent::new(kind, now, data)
        })
        .collect();
    publisher.publish(&flow.tenant, &events, now_ms(now)).await;
}

/// `record.deleted` for the records the source no longer has, among those `flows` synced: the
/// engine learns it when an event names a record whose fetch finds it gone (a deletion
/// event of a provider whose events carry only ids, a record deleted since its change). Only
/// a record the flow had written (it has a record link) is reported, with the destination's
/// id, and whether the destination's copy was deleted (a two-way link whose `on_delete` is
/// `propagate`; otherwise it stays). One
/// `BatchGetItem` of links per flow, and only when the tenant asked for the type.
pub async fn records_deleted(
    publisher: &Publisher,
    links: &crate::store::links::LinkStore,
    flows: &[Flow],
    source_ids: &[String],
    reason: &str,
    destination_deleted: bool,
    now: i64,
) {
    let Some(first) = flows.first() else { return };
    if source_ids.is_empty() || !publisher.interested(&first.tenant, "record.deleted").await {
        return;
    }
    let mut events = Vec::new();
    for flow in flows {
        let found = match links.get_many(&flow.id, source_ids).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(message = "Could not read record links; record.deleted not emitted.", flow_id = %flow.id, error = %e);
                crate::metrics::webhook_events_lost(source_ids.len() as u64);
                continue;
            }
        };
        for id in source_ids {
            let Some(link) = found.get(id) else { continue };
            events.push(OutboundEvent::new(
                "record.deleted",
                now,
                json!({
                    "flow_id": flow.id,
                    "source_connection": flow.source_connection,
                    "source_stream": flow.source_stream,
                    "destination_connection": flow.destination_connection,
                    "source_id": id,
                    "destination_id": link.destination_id,
                    "reason": reason,
                    "destination_deleted": destination_deleted,
                }),
            ));
        }
    }
    publisher.publish(&first.tenant, &events, now_ms(now)).await;
}

/// `job.finished` (succeeded or partial) or `job.failed`, for a job that just ended.
pub async fn job_ended(publisher: &Publisher, flow: &Flow, job: &Job, now: i64) {
    let kind = match job.status {
        JobStatus::Succeeded | JobStatus::Partial => "job.finished",
        JobStatus::Failed => "job.failed",
        JobStatus::Running => return,
    };
    if !publisher.interested(&flow.tenant, kind).await {
        return;
    }
    let status = serde_json::to_value(job.status).unwrap_or(Value::Null);
    let data = json!({
        "flow_id": flow.id,
        "job_id": job.job_id,
        "status": status,
        "trigger": job.trigger,
        "counts": job.counts,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "last_error": job.last_error,
    });
    publisher
        .publish(&flow.tenant, &[OutboundEvent::new(kind, now, data)], now_ms(now))
        .await;
}

/// `connection.state_changed`, from the health checker's alert (the same facts).
pub async fn connection_state_changed(publisher: &Publisher, alert: &Alert, now: i64) {
    if !publisher.interested(&alert.tenant, "connection.state_changed").await {
        return;
    }
    let mut data = alert.body();
    if let Some(map) = data.as_object_mut() {
        // The envelope carries the type.
        map.remove("type");
    }
    publisher
        .publish(
            &alert.tenant,
            &[OutboundEvent::new("connection.state_changed", now, data)],
            now_ms(now),
        )
        .await;
}

/// `dead_letter.parked`: the tenant is its connection's or its flow's (one `GetItem`; parking
/// is not a hot path). A dead letter of neither (an unreadable body, a webhook delivery) has no
/// tenant and emits nothing.
pub async fn dead_letter_parked(
    publisher: &Publisher,
    connections: &ConnectionStore,
    flows: &FlowStore,
    dead: &DeadLetter,
    now: i64,
) {
    let tenant = match (&dead.connection_id, &dead.flow_id) {
        (Some(id), _) => connections.get(id).await.ok().flatten().map(|c| c.tenant),
        (None, Some(id)) => flows.get(id).await.ok().flatten().map(|f| f.tenant),
        (None, None) => None,
    };
    let Some(tenant) = tenant else { return };
    if !publisher.interested(&tenant, "dead_letter.parked").await {
        return;
    }
    let data = json!({
        "key": dead.key,
        "kind": dead.kind,
        "connection_id": dead.connection_id,
        "flow_id": dead.flow_id,
        "attempts": dead.attempts,
        "classification": dead.classification,
        "reason": dead.reason,
        "last_error": dead.last_error,
        "parked_at": dead.parked_at,
    });
    publisher
        .publish(
            &tenant,
            &[OutboundEvent::new("dead_letter.parked", now, data)],
            now_ms(now),
        )
        .await;
}
