//! The real-time path: an inbound webhook event runs the flows that listen for its type.

use tracing::{info, warn};

use crate::connector::{EventRecord, Mapping};
use crate::queue::InboundEventRef;

use super::{sync_records, PageCounts, SyncDeps, SyncError};

/// Runs every enabled flow whose source is the event's connection and that listens for the
/// event's type (its `event_types`, or else the stream the connector routes the type to).
/// Returns the counts per flow run.
pub async fn run_inbound_event(deps: &SyncDeps, ev: &InboundEventRef) -> Result<Vec<(String, PageCounts)>, SyncError> {
    // The message is in SQS's hands now (a failure from here on is retried or parked), so a
    // first delivery takes the event out of the pending index, in parallel with reading it.
    let stored = if ev.attempt == 0 {
        let (stored, taken) = tokio::join!(
            deps.events.get(&ev.connection_id, &ev.event_id),
            deps.events.mark_taken(&ev.connection_id, &ev.event_id)
        );
        let stored = stored?;
        match taken {
            // Counted once per stored event: only the delivery that takes it out of the
            // pending index counts it (a re-send by the pending sweep finds it taken).
            Ok(true) => {
                if let Some(ev) = &stored {
                    // A person named second in the event finds it too (once: this delivery
                    // took it). A failure is logged: the event is still found by its first.
                    if let Err(e) = deps.events.point_other_subjects(ev).await {
                        warn!(message = "Could not index the event's further addresses.", event_id = %ev.event_id, error = %e);
                    }
                    deps.usage.add(
                        &ev.tenant,
                        ev.received_at,
                        crate::store::usage::DayCounts {
                            events: 1,
                            ..Default::default()
                        },
                    );
                }
            }
            Ok(false) => {}
            Err(e) => {
                warn!(message = "Could not mark the event taken; the pending-event sweep may send it once more.", event_id = %ev.event_id, error = %e);
            }
        }
        stored
    } else {
        deps.events.get(&ev.connection_id, &ev.event_id).await?
    };
    let Some(stored) = stored else {
        warn!(message = "Inbound event no longer stored (expired?); nothing to do.", connection_id = %ev.connection_id, event_id = %ev.event_id);
        return Ok(vec![]);
    };
    // Whether any flow takes this connection's events decides whether its source client is
    // needed at all: an event no flow takes (a webhook-only connection, whose provider may have
    // no connector definition or credentials) is done, not a failure to park.
    let cached = deps.clients.cached(&ev.connection_id);
    let conn = match &cached {
        Some((conn, _)) => conn.clone(),
        None => deps
            .connections
            .get(&ev.connection_id)
            .await?
            .ok_or_else(|| SyncError::Config(format!("connection {} does not exist", ev.connection_id)))?,
    };
    let flows: Vec<_> = deps
        .tenant_flows(&conn.tenant)
        .await?
        .iter()
        .filter(|f| f.enabled && f.source_connection == conn.id)
        .cloned()
        .collect();
    if flows.is_empty() {
        info!(message = "No flow takes this connection's events; nothing to do.", connection_id = %conn.id, event_id = %ev.event_id);
        return Ok(vec![]);
    }
    let source = match cached {
        Some((_, source)) => source,
        None => {
            deps.clients
                .for_connection(&deps.registry, &deps.secrets, &conn)
                .await?
        }
    };
    let encoding = source
        .definition()
        .webhooks
        .as_ref()
        .map(|hooks| &hooks.body)
        .unwrap_or(&crate::connector::definition::WebhookBody::Json);
    let body: serde_json::Value = encoding
        .read(&stored.body)
        .map_err(|reason| SyncError::Config(format!("stored event {} is unreadable: {reason}", stored.event_id)))?;
    let routed = match source.event_record_received(&body, Some(&stored.event_type)) {
        Ok(r) => r,
        Err(e) => {
            warn!(message = "Event not understood by the source connector.", event_id = %stored.event_id, error = %e);
            return Ok(vec![]);
        }
    };
    let routed_stream = match &routed {
        EventRecord::Embedded { stream, .. }
        | EventRecord::Fetch { stream, .. }
        | EventRecord::Deleted { stream, .. } => Some(stream.clone()),
        EventRecord::Unrouted => None,
    };
    let listening: Vec<_> = flows
        .into_iter()
        .filter(|f| {
            if f.event_types.is_empty() {
                routed_stream.as_deref() == Some(f.source_stream.as_str())
            } else {
                f.event_types.iter().any(|t| t == &stored.event_type)
            }
        })
        .collect();
    if listening.is_empty() {
        return Ok(vec![]);
    }
    // The provider says our own integration made this change: for each half of a two-way
    // link, the echo of a write of ours, dropped and counted without reading the record.
    let mut out = Vec::with_capacity(listening.len());
    let listening = if source.is_own_origin(&body) {
        let (linked, others): (Vec<_>, Vec<_>) = listening.into_iter().partition(|f| f.reverse_flow.is_some());
        for flow in linked {
            info!(message = "Event made by our own integration: an echo, dropped.", flow_id = %flow.id, event_id = %stored.event_id);
            crate::metrics::echoes(&flow.id, 1);
            out.push((
                flow.id.clone(),
                PageCounts {
                    echoes: 1,
                    ..PageCounts::default()
                },
            ));
        }
        if others.is_empty() {
            return Ok(out);
        }
        others
    } else {
        listening
    };
    let listening = super::lookups::chain_order(listening);
    let (record, fetched_id) = match routed {
        EventRecord::Embedded { record, .. } => (Some(record), None),
        EventRecord::Fetch { stream, id } => (source.fetch_record(&stream, &id).await?, Some(id)),
        EventRecord::Deleted { stream, id } => {
            out.extend(deleted(deps, &conn.tenant, &source, listening, &stream, id, &stored.event_id).await?);
            return Ok(out);
        }
        EventRecord::Unrouted => (None, None),
    };
    let Some(record) = record else {
        info!(message = "The event's record no longer exists at the source.", event_id = %stored.event_id);
        if let Some(id) = fetched_id {
            crate::subscriptions::emit::records_deleted(
                &deps.publisher,
                &deps.links,
                &listening,
                std::slice::from_ref(&id),
                "gone_at_source",
                false,
                deps.clock.now_unix(),
            )
            .await;
        }
        return Ok(out);
    };
    for flow in listening {
        let mapping =
            Mapping::cached(&flow.mapping).map_err(|e| SyncError::Config(format!("flow {}: mapping: {e}", flow.id)))?;
        let (_, destination) = deps
            .clients
            .get(
                &deps.registry,
                &deps.connections,
                &deps.secrets,
                &flow.destination_connection,
            )
            .await?;
        let reverse = super::two_way::reverse_of(deps, &flow, &destination).await?;
        super::lookups::check(deps, &flow).await?;
        let counts = sync_records(
            &flow,
            &source,
            &destination,
            &mapping,
            &deps.links,
            vec![record.clone()],
            deps.clock.now_unix(),
            reverse.as_ref(),
        )
        .await?;
        crate::subscriptions::emit::records(&deps.publisher, &flow, &counts.changes, deps.clock.now_unix()).await;
        for (id, reason) in &counts.failures {
            warn!(message = "Record from event not synced.", flow_id = %flow.id, source_id = %id, reason = %reason);
        }
        info!(
            message = "Event synced.",
            flow_id = %flow.id,
            event_id = %stored.event_id,
            written = counts.written,
            unchanged = counts.unchanged,
            echoes = counts.echoes,
            failed = counts.failures.len()
        );
        deps.usage.add(
            &conn.tenant,
            deps.clock.now_unix(),
            crate::store::usage::DayCounts {
                events: 0,
                records_read: counts.read,
                records_written: counts.written,
            },
        );
        crate::metrics::records(
            &flow.id,
            counts.read,
            counts.written,
            counts.unchanged,
            counts.failures.len() as u64,
        );
        crate::metrics::echoes(&flow.id, counts.echoes);
        out.push((flow.id.clone(), counts));
    }
    Ok(out)
}

/// A delete event: each listening flow that is half of a two-way link acts on it by its
/// `on_delete` rule ([`super::deletes`]). The event's id is the record's primary key, or a
/// key the stream's `fetch` takes (Mailchimp's events name a member by email): a record the
/// provider still answers for (archived) gives its primary key.
async fn deleted(
    deps: &SyncDeps,
    tenant: &str,
    source: &crate::connector::ConnectorClient,
    listening: Vec<crate::store::flows::Flow>,
    stream: &str,
    id: String,
    event_id: &str,
) -> Result<Vec<(String, PageCounts)>, SyncError> {
    let id = match source.fetch_record(stream, &id).await {
        Ok(Some(record)) => source.record_id(stream, &record).unwrap_or(id),
        Ok(None) => id,
        // A stream without `fetch`: the event's id is the record's.
        Err(e) if !e.class.is_retriable() => id,
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::with_capacity(listening.len());
    for flow in listening {
        let (_, destination) = deps
            .clients
            .get(
                &deps.registry,
                &deps.connections,
                &deps.secrets,
                &flow.destination_connection,
            )
            .await?;
        let reverse = super::two_way::reverse_of(deps, &flow, &destination).await?;
        let counts = super::sync_deletions(
            &flow,
            &destination,
            &deps.links,
            vec![id.clone()],
            deps.clock.now_unix(),
            reverse.as_ref(),
        )
        .await?;
        for (id, reason) in &counts.failures {
            warn!(message = "Delete from event not synced.", flow_id = %flow.id, source_id = %id, reason = %reason);
        }
        // Subscribers hear of it for a record the flow had written, with what its link did.
        let destination_deleted = flow.on_delete == crate::store::flows::DeleteRule::Propagate && counts.deleted > 0;
        crate::subscriptions::emit::records_deleted(
            &deps.publisher,
            &deps.links,
            std::slice::from_ref(&flow),
            std::slice::from_ref(&id),
            "deleted_at_source",
            destination_deleted,
            deps.clock.now_unix(),
        )
        .await;
        info!(
            message = "Delete event handled.",
            flow_id = %flow.id,
            event_id = %event_id,
            deleted = counts.deleted,
            echoes = counts.echoes,
            failed = counts.failures.len()
        );
        deps.usage.add(
            tenant,
            deps.clock.now_unix(),
            crate::store::usage::DayCounts {
                events: 0,
                records_read: 0,
                records_written: if flow.on_delete.is_default() { 0 } else { counts.deleted },
            },
        );
        crate::metrics::echoes(&flow.id, counts.echoes);
        out.push((flow.id.clone(), counts));
    }
    Ok(out)
}
