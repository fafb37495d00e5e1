//! Deferring a sync job while a connection's circuit is open: the message goes back on the
//! queue, delayed until the cool-down ends (at most SQS's 900 s per hop), with the same attempt
//! count: it is neither failed nor counted as a retry.

use tracing::info;

use crate::metrics::Metrics;
use crate::queue::{Envelope, SyncJobRef, SyncMessage};

use super::{SyncDeps, SyncError};

/// Whether the job must wait for a circuit: `(connection, until)` of the first open one.
pub async fn open_circuit(deps: &SyncDeps, job: &SyncJobRef) -> Result<Option<(String, i64)>, SyncError> {
    let Some(flow) = deps.flows.get(&job.flow_id).await? else {
        return Ok(None); // run_job reports the missing flow
    };
    let now = deps.clock.now_unix();
    for conn in [&flow.source_connection, &flow.destination_connection] {
        if let Some(until) = deps.connections.health(conn).await?.and_then(|h| h.defer_until(now)) {
            return Ok(Some((conn.clone(), until)));
        }
    }
    Ok(None)
}

/// Re-enqueues the job for after its connection's cool-down if a circuit is open. `body` is the
/// message as received (its delivery history is kept). Returns whether it was deferred.
pub async fn defer_if_circuit_open(deps: &SyncDeps, job: &SyncJobRef, body: &str) -> Result<bool, SyncError> {
    let Some((connection_id, until)) = open_circuit(deps, job).await? else {
        return Ok(false);
    };
    let delay = (until - deps.clock.now_unix()).clamp(1, crate::queue::MAX_DELAY_SECS as i64) as u64;
    let envelope =
        serde_json::from_str::<Envelope>(body).unwrap_or_else(|_| Envelope::new(SyncMessage::SyncJob(job.clone())));
    deps.queue.send_delayed(&envelope, delay).await?;
    info!(
        message = "Sync job deferred: a connection's circuit is open.",
        flow_id = %job.flow_id,
        job_id = %job.job_id,
        connection_id = %connection_id,
        delay_secs = delay,
        reason = "circuit_open"
    );
    Metrics::new("connector-sync")
        .dimension("Reason", "circuit_open")
        .count("SyncJobsDeferred", 1)
        .emit();
    Ok(true)
}
