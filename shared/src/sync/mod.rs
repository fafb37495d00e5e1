//! connector-sync: runs flows. A sync job pulls a stream page by page since the flow's cursor,
//! maps each record with the flow's jq program, skips records whose content did not change
//! (record links), writes the rest in batches, and checkpoints after every page; an inbound
//! event runs the flows listening for its type (the real-time path).

mod clients;
mod defer;
mod deletes;
mod deps;
mod event;
mod handler;
mod job;
mod lookups;
pub mod matching;
mod quality;
mod records;
mod two_way;

pub use clients::ClientCache;
pub use defer::{defer_if_circuit_open, open_circuit};
pub use deletes::{missing_from_full_read, sync_deletions, SeenIds, MAX_HANDED_OVER_IDS};
pub use deps::SyncDeps;
pub use event::run_inbound_event;
pub use handler::handle_sqs;
pub use job::{new_job, run_job, start_job, Budget, Deadline, JobOutcome, Unlimited};
pub use quality::observe_job;
pub use records::{sync_records, PageCounts};
pub use two_way::{
    link_flows, merge as merge_records, merged_version, predict, resolve_duplicate, resolve_merge, resolve_review,
    reverse_of, LinkContext, LinkError, LinkPolicy, MergeDeps, Reverse,
};

/// Why a sync step failed. `Retry` failures leave the job where its last checkpoint put it.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Connector(#[from] crate::connector::ConnectorError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error("{0}")]
    Config(String),
}

impl SyncError {
    /// Whether trying the same message again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            SyncError::Connector(e) => e.class.is_retriable(),
            SyncError::Store(e) => e.is_retriable(),
            SyncError::Secret(e) => e.is_retriable(),
            SyncError::Queue(e) => e.failure.is_retriable(),
            SyncError::Config(_) => false,
        }
    }
}
