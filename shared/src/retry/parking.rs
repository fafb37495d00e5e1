//! Parking: a message that stops retrying becomes a dead letter with its full context.

use tracing::{error, info, warn};

use crate::queue::{AttemptRecord, Envelope, SyncMessage};
use crate::store::dead_letters::{DeadLetter, DeadLetterStatus, DeadLetterStore};
use crate::store::StoreError;
use crate::sync::SyncDeps;

use super::decision::ParkReason;

/// The dead letter for `envelope`, whose last failure is `last` (appended to the history).
pub fn dead_letter(envelope: &Envelope, last: AttemptRecord, reason: ParkReason, now: i64) -> DeadLetter {
    let mut parked = envelope.clone();
    let classification = last.class.clone();
    let last_error = last.error.clone();
    parked.history.push(last);
    let (kind, connection_id, flow_id) = match &parked.message {
        SyncMessage::InboundEvent(e) => ("inbound_event", Some(e.connection_id.clone()), None),
        SyncMessage::SyncJob(j) => ("sync_job", None, Some(j.flow_id.clone())),
        SyncMessage::WebhookDelivery(_) => ("webhook_delivery", None, None),
    };
    DeadLetter {
        key: parked.message.key(),
        kind: kind.to_string(),
        connection_id,
        flow_id,
        message: parked.to_body(),
        attempts: parked.message.attempt() + 1,
        history: parked.history,
        classification,
        reason: reason.name().to_string(),
        last_error,
        parked_at: now,
        status: DeadLetterStatus::Parked,
        replayed_at: None,
    }
}

/// A body that is not a sync message at all: parked as it is, so it does not vanish.
pub fn unreadable(message_id: &str, body: &str, error: &str, now: i64) -> DeadLetter {
    DeadLetter {
        key: format!("unreadable:{message_id}"),
        kind: "unreadable".into(),
        connection_id: None,
        flow_id: None,
        message: body.to_string(),
        attempts: 1,
        history: vec![AttemptRecord {
            attempt: 0,
            at: now,
            class: "permanent".into(),
            error: error.to_string(),
            delay_secs: None,
        }],
        classification: "permanent".into(),
        reason: ParkReason::Permanent.name().into(),
        last_error: error.to_string(),
        parked_at: now,
        status: DeadLetterStatus::Parked,
        replayed_at: None,
    }
}

/// Parks a dead letter: one `PutItem`.
pub async fn park(store: &DeadLetterStore, dead: &DeadLetter) -> Result<(), StoreError> {
    store.put(dead).await?;
    warn!(
        message = "Message parked.",
        key = %dead.key,
        reason = %dead.reason,
        classification = %dead.classification,
        attempts = dead.attempts,
        error = %dead.last_error
    );
    Ok(())
}

/// After a re-auth failure: finds which of the message's connections refuses its credentials
/// (by running each one's check request: the error does not say whose it was) and flags it.
/// Returns the flagged connection ids.
pub async fn flag_reauth(deps: &SyncDeps, message: &SyncMessage, reason: &str) -> Result<Vec<String>, StoreError> {
    let mut candidates: Vec<String> = Vec::new();
    match message {
        SyncMessage::InboundEvent(e) => {
            candidates.push(e.connection_id.clone());
            if let Some(conn) = deps.connections.get(&e.connection_id).await? {
                for flow in deps.flows.list(&conn.tenant).await? {
                    if flow.enabled && flow.source_connection == conn.id {
                        candidates.push(flow.destination_connection);
                    }
                }
            }
        }
        SyncMessage::SyncJob(j) => {
            if let Some(flow) = deps.flows.get(&j.flow_id).await? {
                candidates.push(flow.source_connection);
                candidates.push(flow.destination_connection);
            }
        }
        // An endpoint's answer never means a connection's credentials were refused.
        SyncMessage::WebhookDelivery(_) => {}
    }
    candidates.sort();
    candidates.dedup();
    let now = deps.clock.now_unix();
    let mut flagged = Vec::new();
    for id in candidates {
        let refused = match deps
            .clients
            .get(&deps.registry, &deps.connections, &deps.secrets, &id)
            .await
        {
            Ok((_, client)) => match client.check().await {
                Err(e) => e.needs_reauth(),
                Ok(_) => false,
            },
            Err(e) => {
                error!(message = "Could not build a client to find the refused connection.", connection_id = %id, error = %e);
                false
            }
        };
        if refused && deps.connections.flag_reauth(&id, reason, &message.key(), now).await? {
            info!(message = "Connection needs re-authorisation.", connection_id = %id);
            flagged.push(id);
        }
    }
    Ok(flagged)
}
