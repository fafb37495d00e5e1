//! The SQS handler: one message at a time, failures reported per message
//! (ReportBatchItemFailures) so one bad message never fails its neighbours.

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::{error, warn, Instrument};

use crate::queue::SyncMessage;

use super::{run_inbound_event, run_job, Deadline, SyncDeps, Unlimited};

/// Handles a batch from the sync queue. Messages are parsed one by one inside the loop: an
/// unreadable body is logged and dropped (it can never succeed), a retriable failure is
/// reported as a batch item failure (SQS redelivers it, then moves it to the dead-letter queue),
/// and a permanent failure is logged with its reason and acknowledged.
pub async fn handle_sqs(deps: &SyncDeps, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sync_message", message_id = %message_id);
        let Some(body) = record.body.as_deref() else {
            warn!(parent: &span, message = "Message without a body dropped.");
            continue;
        };
        let msg: SyncMessage = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => {
                error!(parent: &span, message = "Unreadable message dropped.", error = %e);
                continue;
            }
        };
        let result = async {
            match &msg {
                SyncMessage::InboundEvent(ev) => run_inbound_event(deps, ev).await.map(|_| ()),
                SyncMessage::SyncJob(job) => match deadline {
                    Some(d) => run_job(deps, job, &Deadline(d), &|_| {}).await.map(|_| ()),
                    None => run_job(deps, job, &Unlimited, &|_| {}).await.map(|_| ()),
                },
            }
        }
        .instrument(span.clone())
        .await;
        if let Err(e) = result {
            if e.is_retriable() {
                warn!(parent: &span, message = "Sync failed; the message will be retried.", error = %e);
                response.add_failure(message_id);
            } else {
                error!(parent: &span, message = "Sync failed permanently.", error = %e);
            }
        }
    }
    response
}
