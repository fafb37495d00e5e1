//! Replay: dead letters go back to the sync queue with a fresh attempt count, and the replay
//! is audited in the tenant's audit log.

use crate::queue::{Envelope, SyncMessage, SyncQueue};
use crate::store::connections::ConnectionStore;
use crate::store::dead_letters::{AuditEntry, DeadLetter, DeadLetterStatus, DeadLetterStore};
use crate::store::flows::FlowStore;
use crate::store::jobs::{JobStatus, JobStore};

/// Why a dead letter could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("dead letter {0} holds no sync message (kind unreadable): it cannot be replayed")]
    Unreadable(String),
    #[error("dead letter {0} was already replayed")]
    AlreadyReplayed(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// What replay needs.
pub struct Replayer<'a> {
    pub dead_letters: &'a DeadLetterStore,
    pub connections: &'a ConnectionStore,
    pub flows: &'a FlowStore,
    pub jobs: &'a JobStore,
    pub queue: &'a SyncQueue,
}

impl Replayer<'_> {
    /// The tenant a dead letter belongs to (for the audit log), `unknown` when its connection
    /// or flow is gone.
    async fn tenant(&self, dead: &DeadLetter) -> Result<String, crate::store::StoreError> {
        if let Some(id) = &dead.connection_id {
            if let Some(c) = self.connections.get(id).await? {
                return Ok(c.tenant);
            }
        }
        if let Some(id) = &dead.flow_id {
            if let Some(f) = self.flows.get(id).await? {
                return Ok(f.tenant);
            }
        }
        Ok("unknown".into())
    }

    /// Sends the dead letter's message back as attempt 0 with an empty history (the dead
    /// letter keeps the old one), marks it replayed and writes an audit entry.
    pub async fn replay(&self, dead: &DeadLetter, actor: &str, now: i64) -> Result<SyncMessage, ReplayError> {
        let message = self.replay_unaudited(dead, now).await?;
        let tenant = self.tenant(dead).await?;
        let mut entry = AuditEntry::new(tenant, now, actor, "dead_letter.replay", dead.key.clone());
        entry.detail = replay_detail(dead);
        self.dead_letters.audit(&entry).await?;
        Ok(message)
    }

    /// [`Self::replay`] without the audit entry, for a caller that writes its own (the API
    /// records every request it answers, with the key's role and the status).
    pub async fn replay_unaudited(&self, dead: &DeadLetter, now: i64) -> Result<SyncMessage, ReplayError> {
        if dead.status == DeadLetterStatus::Replayed {
            return Err(ReplayError::AlreadyReplayed(dead.key.clone()));
        }
        let envelope: Envelope =
            serde_json::from_str(&dead.message).map_err(|_| ReplayError::Unreadable(dead.key.clone()))?;
        let mut message = envelope.message;
        message.set_attempt(0);
        if let SyncMessage::SyncJob(j) = &message {
            // A job that failed permanently is finished; reopen it from its last checkpoint, or
            // the replayed message would find nothing to do.
            if let Some(mut job) = self.jobs.get(&j.flow_id, &j.job_id).await? {
                if job.status == JobStatus::Failed {
                    job.status = JobStatus::Running;
                    job.finished_at = None;
                    job.updated_at = now;
                    self.jobs.put(&job).await?;
                }
            }
        }
        self.queue.send_delayed(&Envelope::new(message.clone()), 0).await?;
        self.dead_letters.mark_replayed(&dead.key, now).await?;
        Ok(message)
    }
}

/// What an audit entry of a replay says about the dead letter.
pub fn replay_detail(dead: &DeadLetter) -> String {
    format!(
        "replayed after {} attempts ({}: {})",
        dead.attempts, dead.reason, dead.last_error
    )
}
