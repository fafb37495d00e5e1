//! The SQS handler: one message at a time, failures reported per message
//! (ReportBatchItemFailures) so one bad message never fails its neighbours.

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::{error, info, warn, Instrument};

use crate::connector::ErrorClass;
use crate::queue::{Envelope, SyncMessage};
use crate::retry::decision::attempt_record;
use crate::retry::{self, parking, Decision, ParkReason};

use super::{run_inbound_event, run_job, Deadline, SyncDeps, SyncError, Unlimited};

/// Handles a batch from the sync queue. Messages are parsed one by one inside the loop. A
/// failure is classified ([`crate::retry::classify`]): a transient or rate-limited one is sent
/// again with the schedule's delay (Retry-After as a floor) and a higher attempt count; a
/// permanent or re-auth one, an exhausted one and an inbound event whose record the
/// destination refuses are parked as dead letters (re-auth also flags the connection); an
/// unreadable body is parked as it is. Only when that handling itself fails (SQS or DynamoDB
/// down) is the message reported as a batch item failure: SQS redelivers it and, after
/// `maxReceiveCount`, moves it to the dead-letter queue for the retry handler.
pub async fn handle_sqs(deps: &SyncDeps, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sync_message", message_id = %message_id);
        let Some(body) = record.body.as_deref() else {
            warn!(parent: &span, message = "Message without a body dropped.");
            continue;
        };
        let now = deps.clock.now_unix();
        let envelope: Envelope = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => {
                error!(parent: &span, message = "Unreadable message parked.", error = %e);
                let dead = parking::unreadable(&message_id, body, &format!("not a sync message: {e}"), now);
                if parking::park(&deps.dead_letters, &dead).await.is_err() {
                    response.add_failure(message_id);
                }
                continue;
            }
        };
        if let Some(delay) = retry::hop_delay(&envelope, now) {
            // A long retry delay, waited out 900 s at a time.
            if let Err(e) = deps.queue.send_delayed(&envelope, delay).await {
                warn!(parent: &span, message = "Re-sending a delayed message failed.", error = %e);
                response.add_failure(message_id);
            }
            continue;
        }
        let msg = &envelope.message;
        // Inbound events get the invocation's deadline too: one that cannot start with the
        // reserve left goes back to the queue as it is (same attempt), and one that runs into
        // the reserve is cut off and retried, so a slow event never holds up its neighbours
        // past the Lambda timeout.
        let inbound_cutoff = deadline.map(|d| d.checked_sub(deps.config.time_reserve).unwrap_or(d));
        if let (SyncMessage::InboundEvent(_), Some(cutoff)) = (msg, inbound_cutoff) {
            if Instant::now() >= cutoff {
                if let Err(e) = deps.queue.send_delayed(&envelope, 0).await {
                    warn!(parent: &span, message = "Handing an event back to the queue failed.", error = %e);
                    response.add_failure(message_id);
                }
                continue;
            }
        }
        let result = async {
            match msg {
                SyncMessage::InboundEvent(ev) => {
                    let run = run_inbound_event(deps, ev);
                    let runs = match inbound_cutoff {
                        Some(cutoff) => tokio::time::timeout_at(cutoff.into(), run)
                            .await
                            .unwrap_or_else(|_| Err(out_of_time())),
                        None => run.await,
                    };
                    runs.map(|runs| {
                        runs.into_iter()
                            .flat_map(|(flow, counts)| {
                                counts
                                    .failures
                                    .into_iter()
                                    .map(move |(id, reason)| format!("flow {flow}: record {id}: {reason}"))
                            })
                            .collect::<Vec<_>>()
                    })
                }
                SyncMessage::WebhookDelivery(d) => {
                    crate::subscriptions::delivery::deliver(deps, d).await.map(|_| vec![])
                }
                SyncMessage::SyncJob(job) => {
                    // An open circuit defers the job (same attempt, not a failure).
                    if super::defer_if_circuit_open(deps, job, body).await? {
                        return Ok(vec![]);
                    }
                    match deadline {
                        Some(d) => run_job(deps, job, &Deadline(d), &|_| {}).await.map(|_| vec![]),
                        None => run_job(deps, job, &Unlimited, &|_| {}).await.map(|_| vec![]),
                    }
                }
            }
        }
        .instrument(span.clone())
        .await;
        let handled = match result {
            Ok(refused) if refused.is_empty() => Ok(()),
            // The destination refused the event's record: retrying cannot help; park it so it
            // is visible and replayable (a sync job records such records on the job instead).
            Ok(refused) => {
                let failure = SyncError::Connector(crate::connector::ConnectorError::new(
                    ErrorClass::Permanent,
                    crate::connector::ErrorKind::Http,
                    refused.join("; "),
                ));
                on_failure(deps, &envelope, &failure, now)
                    .instrument(span.clone())
                    .await
            }
            Err(e) => on_failure(deps, &envelope, &e, now).instrument(span.clone()).await,
        };
        if let Err(e) = handled {
            error!(parent: &span, message = "Handling a failure failed; SQS will deliver the message again.", error = %e);
            response.add_failure(message_id);
        }
    }
    // The invocation's usage, one write per tenant and day it touched; what fails goes out
    // with the next invocation's.
    if let Err(e) = deps.usage_store.flush(&deps.usage, deps.clock.now_unix()).await {
        warn!(message = "Could not write usage counters; they are kept for the next invocation.", error = %e);
    }
    response
}

/// An inbound event cut off at the invocation's deadline: transient, so it is retried.
fn out_of_time() -> SyncError {
    SyncError::Connector(crate::connector::ConnectorError::new(
        ErrorClass::Transient,
        crate::connector::ErrorKind::Timeout,
        "the event did not finish before the invocation's deadline".to_string(),
    ))
}

/// Retries or parks a failed message. An `Err` means neither happened.
async fn on_failure(deps: &SyncDeps, envelope: &Envelope, error: &SyncError, now: i64) -> Result<(), String> {
    // A connection's long-window quota (requests a day) is spent: put the work off until it is
    // back, same attempt, instead of spending the retry schedule on it.
    if let SyncError::Connector(e) = error {
        let scale = deps.retry.delay_scale;
        if let Some(deferred) = e
            .quota_wait()
            .and_then(|wait| retry::quota_deferral(envelope, wait, scale, now))
        {
            deps.queue
                .send_delayed(&deferred.envelope, deferred.delay_secs)
                .await
                .map_err(|e| e.to_string())?;
            info!(
                message = "Deferred: a connection's quota is spent.",
                attempt = envelope.message.attempt(),
                deferrals = deferred.envelope.deferrals,
                delay_secs = deferred.delay_secs,
                not_before = deferred.envelope.not_before,
                reason = "quota_spent",
                error = %e
            );
            crate::metrics::Metrics::new("connector-sync")
                .dimension("Reason", "quota_spent")
                .count("SyncJobsDeferred", 1)
                .emit();
            return Ok(());
        }
    }
    let class = retry::classify(error);
    let failed = envelope.message.attempt();
    let text = error.to_string();
    // A sync job follows its flow's retry schedule when the flow has one.
    let flow_policy = match &envelope.message {
        crate::queue::SyncMessage::SyncJob(job) => match deps.flows.get(&job.flow_id).await {
            Ok(Some(flow)) => Some(deps.retry.for_flow(flow.retry_schedule_secs.as_deref())),
            _ => None,
        },
        _ => None,
    };
    let policy = flow_policy.as_ref().unwrap_or(&deps.retry);
    match retry::decide(policy, class, failed, retry::random_draw()) {
        Decision::Retry { next_attempt, delay } => {
            let record = attempt_record(failed, now, class.name(), &text, Some(delay));
            let next = retry::next_attempt(envelope, record, next_attempt, delay, policy.delay_scale, now);
            deps.queue
                .send_delayed(&next.envelope, next.delay_secs)
                .await
                .map_err(|e| e.to_string())?;
            crate::metrics::retry_outcome("connector-sync", class.name(), false);
            warn!(
                message = "Sync failed; retry scheduled.",
                class = class.name(),
                attempt = next_attempt,
                delay_secs = next.delay_secs,
                error = %text
            );
            Ok(())
        }
        Decision::Park(reason) => {
            if reason == ParkReason::ReAuth {
                parking::flag_reauth(deps, &envelope.message, &text)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let record = attempt_record(failed, now, class.name(), &text, None);
            let dead = parking::dead_letter(envelope, record, reason, now);
            parking::park(&deps.dead_letters, &dead)
                .await
                .map_err(|e| e.to_string())?;
            crate::metrics::retry_outcome("connector-sync", class.name(), true);
            crate::subscriptions::emit::dead_letter_parked(&deps.publisher, &deps.connections, &deps.flows, &dead, now)
                .await;
            Ok(())
        }
    }
}
