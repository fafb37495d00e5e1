//! Scheduled dispatch: an EventBridge rule ticks every minute and invokes connector-sync with a
//! dispatch event; every due flow gets a sync job (job items, then `SendMessageBatch`).
//!
//! A flow is claimed with a conditional update of its `next_run_at` (it must still hold the
//! value this tick read), so of two overlapping ticks exactly one dispatches a flow. A flow whose
//! source or destination connection has an open circuit is skipped with a logged reason and
//! stays due: it is dispatched by the first tick after the circuit closes. When a job cannot be
//! enqueued, its claim is released (the next tick tries again) and its job item is marked failed.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::queue::{InboundEventRef, SyncJobRef, SyncMessage};
use crate::store::flows::{flow_pk, Flow, FLOW_SK};
use crate::store::jobs::JobStatus;
use crate::store::table::{self, GSI1PK, GSI1SK, PK, SK};
use crate::store::StoreError;
use crate::sync::{start_job, SyncDeps, SyncError};

const SERVICE: &str = "connector-sync";
/// Most pending inbound events one tick sends (the next tick takes the rest).
const SWEEP_LIMIT: usize = 500;

/// What connector-sync was invoked with.
#[derive(Debug)]
pub enum SyncInvocation {
    /// A batch from the sync queue.
    Sqs(SqsEvent),
    /// The EventBridge schedule's tick (`"detail-type": "Scheduled Event"`), or
    /// `{"kind": "dispatch_tick"}` from the local runner.
    DispatchTick,
}

impl SyncInvocation {
    /// Tells the two events apart.
    pub fn from_value(value: Value) -> Result<Self, String> {
        if value.get("Records").is_some_and(Value::is_array) {
            return serde_json::from_value(value)
                .map(SyncInvocation::Sqs)
                .map_err(|e| format!("an SQS event that does not parse: {e}"));
        }
        let scheduled = value.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
            || value.get("kind").and_then(Value::as_str) == Some("dispatch_tick");
        if scheduled {
            return Ok(SyncInvocation::DispatchTick);
        }
        Err("neither an SQS batch nor a dispatch tick (EventBridge \"Scheduled Event\")".into())
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    /// Flows found due.
    pub due: usize,
    /// Flows this tick dispatched a job for.
    pub dispatched: Vec<String>,
    /// Flows skipped because a connection's circuit is open: (flow, connection).
    pub skipped_open_circuit: Vec<(String, String)>,
    /// Flows another tick claimed first.
    pub claimed_elsewhere: usize,
    /// Flows whose job could not be created or enqueued (released for the next tick).
    pub failed: usize,
    /// Inbound events the receiver stored but did not enqueue, sent now.
    pub pending_events_sent: usize,
    /// Outbound webhook deliveries the sync queue had refused, sent now from the outbox.
    pub webhook_deliveries_sent: usize,
}

/// Dispatches due flows; built once per cold start beside [`SyncDeps`].
#[derive(Debug, Clone)]
pub struct Dispatcher {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Dispatcher {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            dynamodb,
            table: table.into(),
        }
    }

    /// Every enabled scheduled flow whose `next_run_at` is missing or not after `now`: a paged
    /// Query of the sparse `sched` index, which holds nothing else that could be due.
    pub async fn due_flows(&self, now: i64) -> Result<Vec<Flow>, StoreError> {
        let mut pages = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .index_name(table::SCHED)
            .key_condition_expression("#k = :due AND #s <= :until")
            .expression_attribute_names("#k", table::SCHED_PK)
            .expression_attribute_names("#s", table::SCHED_SK)
            .expression_attribute_values(":due", AttributeValue::S(table::SCHED_DUE_FLOWS.into()))
            .expression_attribute_values(":until", AttributeValue::S(table::due_until(now)))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let mut item = item.map_err(|e| StoreError::dynamo("Query", e))?;
            let key = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            for k in [PK, SK, GSI1PK, GSI1SK, table::SCHED_PK, table::SCHED_SK] {
                item.remove(k);
            }
            match serde_dynamo::from_item::<_, Flow>(item) {
                Ok(flow) => out.push(flow),
                Err(e) => warn!(message = "Unreadable flow item skipped.", key = %key, error = %e),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Moves the flow's `next_run_at` from `old` to `next` if it still holds `old`.
    async fn move_next_run(&self, flow_id: &str, old: Option<i64>, next: Option<i64>) -> Result<bool, StoreError> {
        let mut req = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(flow_pk(flow_id)))
            .key(SK, AttributeValue::S(FLOW_SK.into()))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#next", "next_run_at")
            // The flow's place in the sparse `sched` index moves with its next run.
            .expression_attribute_names("#due", table::SCHED_SK)
            .expression_attribute_values(":due", AttributeValue::S(table::due_sk(next, flow_id)));
        req = match next {
            Some(n) => req
                .update_expression("SET #next = :next, #due = :due")
                .expression_attribute_values(":next", AttributeValue::N(n.to_string())),
            None => req.update_expression("REMOVE #next SET #due = :due"),
        };
        req = match old {
            Some(o) => req
                .condition_expression("attribute_exists(#pk) AND #next = :old")
                .expression_attribute_values(":old", AttributeValue::N(o.to_string())),
            None => req.condition_expression("attribute_exists(#pk) AND attribute_not_exists(#next)"),
        };
        crate::store::written(req.send().await, "UpdateItem")
    }

    /// Sends again the inbound events stored more than the sweep period ago that connector-sync
    /// never took (the receiver stored each, then could neither enqueue nor remove it). Each is
    /// claimed first, so overlapping ticks send it once. Returns how many were sent.
    pub async fn sweep_pending_events(&self, deps: &SyncDeps, now: i64) -> Result<usize, SyncError> {
        let cutoff = now - deps.config.pending_event_sweep.as_secs() as i64;
        let found = deps.events.pending_before(cutoff, SWEEP_LIMIT).await?;
        let mut claimed = Vec::with_capacity(found.len());
        for ev in found {
            if deps.events.claim_pending(&ev, now).await? {
                claimed.push(ev);
            }
        }
        let messages: Vec<SyncMessage> = claimed
            .iter()
            .map(|ev| {
                SyncMessage::InboundEvent(InboundEventRef {
                    connection_id: ev.connection_id.clone(),
                    event_id: ev.event_id.clone(),
                    event_type: ev.event_type.clone(),
                    provider: ev.provider.clone(),
                    received_at: ev.received_at,
                    attempt: 0,
                })
            })
            .collect();
        if messages.is_empty() {
            return Ok(0);
        }
        // An unsent one keeps its claim and is tried again one sweep period later.
        let unsent = deps.queue.send_all(&messages).await;
        for (i, ev) in claimed.iter().enumerate() {
            if !unsent.contains(&i) {
                warn!(
                    message = "Sent an inbound event the receiver stored but did not enqueue.",
                    connection_id = %ev.connection_id,
                    event_id = %ev.event_id,
                    received_at = ev.received_at
                );
            }
        }
        Ok(messages.len() - unsent.len())
    }

    /// One tick: sends pending inbound events and the webhook outbox, then claims and dispatches every due flow.
    pub async fn tick(&self, deps: &SyncDeps) -> Result<DispatchReport, SyncError> {
        let now = deps.clock.now_unix();
        // A failing sweep must not hold up scheduled flows: it is logged and tried next tick.
        let pending_events_sent = match self.sweep_pending_events(deps, now).await {
            Ok(n) => n,
            Err(e) => {
                warn!(message = "The pending-event sweep failed; the next tick tries again.", error = %e);
                0
            }
        };
        // Outbound webhook deliveries the queue refused earlier (same rule: logged, next tick).
        let webhook_deliveries_sent = match deps.publisher.drain_outbox(now).await {
            Ok(n) => n,
            Err(e) => {
                warn!(message = "Sending the webhook outbox failed; the next tick tries again.", error = %e);
                0
            }
        };
        let due = self.due_flows(now).await?;
        let mut report = DispatchReport {
            due: due.len(),
            pending_events_sent,
            webhook_deliveries_sent,
            ..DispatchReport::default()
        };
        let mut circuits: HashMap<String, Option<i64>> = HashMap::new();
        // (flow, its old next_run_at, its claimed next_run_at, job id)
        let mut claimed: Vec<(Flow, Option<i64>, i64, String)> = Vec::new();
        'flows: for flow in due {
            for conn in [&flow.source_connection, &flow.destination_connection] {
                if !circuits.contains_key(conn) {
                    let until = deps.connections.health(conn).await?.and_then(|h| h.defer_until(now));
                    circuits.insert(conn.clone(), until);
                }
                if let Some(until) = circuits[conn] {
                    info!(
                        message = "Scheduled flow skipped: a connection's circuit is open.",
                        flow_id = %flow.id,
                        connection_id = %conn,
                        reason = "circuit_open",
                        retry_after = until
                    );
                    report.skipped_open_circuit.push((flow.id.clone(), conn.clone()));
                    continue 'flows;
                }
            }
            let interval = flow.schedule_interval_secs.unwrap_or(0).max(60) as i64;
            let next = next_run(flow.next_run_at, now, interval);
            if !self.move_next_run(&flow.id, flow.next_run_at, Some(next)).await? {
                report.claimed_elsewhere += 1;
                continue;
            }
            match start_job(deps, &flow, "schedule", None, false).await {
                Ok(job) => claimed.push((flow.clone(), flow.next_run_at, next, job.job_id)),
                Err(e) => {
                    warn!(message = "Scheduled job could not be created; released for the next tick.", flow_id = %flow.id, error = %e);
                    let _ = self.move_next_run(&flow.id, Some(next), flow.next_run_at).await;
                    report.failed += 1;
                }
            }
        }
        let messages: Vec<SyncMessage> = claimed
            .iter()
            .map(|(flow, _, _, job_id)| {
                SyncMessage::SyncJob(SyncJobRef {
                    flow_id: flow.id.clone(),
                    job_id: job_id.clone(),
                    attempt: 0,
                })
            })
            .collect();
        let failed = if messages.is_empty() {
            vec![]
        } else {
            deps.queue.send_all(&messages).await
        };
        for (i, (flow, old, next, job_id)) in claimed.into_iter().enumerate() {
            if failed.contains(&i) {
                report.failed += 1;
                let _ = self.move_next_run(&flow.id, Some(next), old).await;
                if let Ok(Some(mut job)) = deps.jobs.get(&flow.id, &job_id).await {
                    job.status = JobStatus::Failed;
                    job.last_error =
                        Some("the job could not be enqueued; the next tick dispatches the flow again".into());
                    job.finished_at = Some(now);
                    let _ = deps.jobs.put(&job).await;
                }
            } else {
                report.dispatched.push(flow.id);
            }
        }
        info!(
            message = "Dispatch tick finished.",
            due = report.due,
            dispatched = report.dispatched.len(),
            skipped_open_circuit = report.skipped_open_circuit.len(),
            claimed_elsewhere = report.claimed_elsewhere,
            failed = report.failed,
            pending_events_sent = report.pending_events_sent,
            webhook_deliveries_sent = report.webhook_deliveries_sent
        );
        Metrics::new(SERVICE)
            .count("FlowsDispatched", report.dispatched.len() as u64)
            .count("FlowsSkippedOpenCircuit", report.skipped_open_circuit.len() as u64)
            .count("DispatchFailed", report.failed as u64)
            .count("PendingEventsSent", report.pending_events_sent as u64)
            .count("WebhookDeliveriesFromOutbox", report.webhook_deliveries_sent as u64)
            .emit();
        Ok(report)
    }
}

/// The next run after a dispatch at `now`: on the flow's grid when it is not behind, else one
/// interval from now (a flow that missed runs runs once, not once per missed interval).
pub fn next_run(previous: Option<i64>, now: i64, interval: i64) -> i64 {
    match previous {
        Some(p) if p + interval > now => p + interval,
        _ => now + interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_run_keeps_the_grid_and_never_replays_missed_runs() {
        assert_eq!(next_run(Some(1000), 1010, 300), 1300);
        assert_eq!(next_run(Some(1000), 5000, 300), 5300);
        assert_eq!(next_run(None, 5000, 300), 5300);
    }

    #[test]
    fn scheduled_events_and_sqs_batches_are_told_apart() {
        let tick =
            serde_json::json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(matches!(
            SyncInvocation::from_value(tick),
            Ok(SyncInvocation::DispatchTick)
        ));
        let sqs = serde_json::json!({"Records": [{"messageId": "m1", "body": "{}"}]});
        assert!(matches!(SyncInvocation::from_value(sqs), Ok(SyncInvocation::Sqs(e)) if e.records.len() == 1));
        assert!(SyncInvocation::from_value(serde_json::json!({"hello": 1})).is_err());
    }
}
