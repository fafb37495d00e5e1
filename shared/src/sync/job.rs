//! Sync jobs: page by page since the flow's cursor, checkpointed after every page, handed over
//! to a continuation message when the Lambda's time runs short.

use std::time::Instant;

use tracing::{info, warn};

use crate::connector::definition::CursorKind;
use crate::connector::{cursor, Mapping, StreamState};
use crate::queue::{SyncJobRef, SyncMessage};
use crate::store::flows::{Flow, SyncMode};
use crate::store::jobs::{Job, JobCounts, JobStatus};

use super::{sync_records, SyncDeps, SyncError};

/// How much time an invocation has left: Lambda's deadline, or none for a run in the CLI.
pub trait Budget: Sync {
    /// `None`: no limit.
    fn remaining(&self) -> Option<std::time::Duration>;
}

/// No time limit (the CLI's `flows run`).
pub struct Unlimited;

impl Budget for Unlimited {
    fn remaining(&self) -> Option<std::time::Duration> {
        None
    }
}

/// The Lambda invocation's deadline.
pub struct Deadline(pub Instant);

impl Budget for Deadline {
    fn remaining(&self) -> Option<std::time::Duration> {
        Some(self.0.saturating_duration_since(Instant::now()))
    }
}

/// How a run of a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// The stream is exhausted; the job is `Succeeded` or `Partial`.
    Finished(Job),
    /// Time ran short: a continuation message was sent.
    Continued(Job),
    /// Nothing to do (the job was already finished: a redelivered message).
    AlreadyDone,
}

/// A new running job item for `flow` (its own mode unless `mode` says otherwise), starting
/// from the flow's cursor in incremental mode. No I/O: the caller stores it and sends its
/// message (the management API's `POST /v1/flows/{id}/run` does both without a sync client).
pub fn new_job(flow: &Flow, trigger: &str, mode: Option<SyncMode>, now: i64) -> Job {
    let mode = mode.unwrap_or(flow.mode);
    let start_cursor = match mode {
        SyncMode::Incremental => flow.cursor.clone(),
        SyncMode::Full => None,
    };
    let state = match mode {
        SyncMode::Incremental => StreamState::incremental(start_cursor.clone()),
        SyncMode::Full => StreamState::full_refresh(),
    };
    Job {
        flow_id: flow.id.clone(),
        job_id: ulid::Ulid::new().to_string(),
        status: JobStatus::Running,
        mode,
        trigger: trigger.to_string(),
        counts: JobCounts::default(),
        started_at: now,
        updated_at: now,
        finished_at: None,
        pages: 0,
        expected_records: None,
        start_cursor,
        max_cursor: None,
        state: Some(serde_json::to_value(&state).expect("stream state serialises")),
        continuations: 0,
        last_error: None,
        recent_failures: vec![],
        seen: None,
    }
}

/// Creates a job item for `flow` and, unless `enqueue` is false, sends the message that runs it.
pub async fn start_job(
    deps: &SyncDeps,
    flow: &Flow,
    trigger: &str,
    mode: Option<SyncMode>,
    enqueue: bool,
) -> Result<Job, SyncError> {
    let job = new_job(flow, trigger, mode, deps.clock.now_unix());
    deps.jobs.put(&job).await?;
    if enqueue {
        deps.queue
            .send(&SyncMessage::SyncJob(SyncJobRef {
                flow_id: flow.id.clone(),
                job_id: job.job_id.clone(),
                attempt: 0,
            }))
            .await?;
    }
    Ok(job)
}

/// Runs a job from its checkpoint until the stream ends or less than the configured reserve
/// of `budget` is left. `progress` is told about every page (the CLI prints it).
pub async fn run_job(
    deps: &SyncDeps,
    job_ref: &SyncJobRef,
    budget: &dyn Budget,
    progress: &(dyn Fn(&Job) + Sync),
) -> Result<JobOutcome, SyncError> {
    let flow = deps
        .flows
        .get(&job_ref.flow_id)
        .await?
        .ok_or_else(|| SyncError::Config(format!("flow {} does not exist", job_ref.flow_id)))?;
    let mut job = deps
        .jobs
        .get(&flow.id, &job_ref.job_id)
        .await?
        .ok_or_else(|| SyncError::Config(format!("job {} of flow {} does not exist", job_ref.job_id, flow.id)))?;
    if job.status != JobStatus::Running {
        return Ok(JobOutcome::AlreadyDone);
    }
    let mapping =
        Mapping::cached(&flow.mapping).map_err(|e| SyncError::Config(format!("flow {}: mapping: {e}", flow.id)))?;
    let (_, source) = deps
        .clients
        .get(
            &deps.registry,
            &deps.connections,
            &deps.secrets,
            &flow.source_connection,
        )
        .await?;
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
    if let Err(e) = super::lookups::check(deps, &flow).await {
        return fail(deps, &flow, &mut job, e).await;
    }
    // A stream read incrementally through a change feed: the run's cursor also moves to the
    // job's start, since a full read (the fallback below) sees every record as of then.
    let (cursor_kind, feed) = source.stream_cursor(&flow.source_stream).ok_or_else(|| {
        SyncError::Config(format!(
            "flow {}: connector {} has no stream {}",
            flow.id,
            source.definition().id,
            flow.source_stream
        ))
    })?;

    let mut state: StreamState = match &job.state {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| SyncError::Config(format!("job {}: unreadable checkpoint: {e}", job.job_id)))?,
        None => StreamState::full_refresh(),
    };
    // A change feed reaches back only so far: from an older cursor, read everything instead.
    if let (Some(feed), Some(kind), Some(since)) = (feed, cursor_kind, state.since.as_deref()) {
        if !feed_reaches(feed.max_age_secs, kind, since, job.started_at) && state.is_first_page() && job.pages == 0 {
            info!(
                message = "The cursor is older than the change feed reaches; this run reads everything.",
                flow_id = %flow.id,
                job_id = %job.job_id,
                cursor = %since
            );
            state = StreamState::full_refresh();
        }
    }

    // A two-way flow's full run of a stream that lists every record finds the linked records
    // deleted since: those it did not read (and cannot fetch) at its end.
    let sweep = reverse.is_some()
        && job.mode == SyncMode::Full
        && source
            .definition()
            .streams
            .get(&flow.source_stream)
            .is_some_and(|s| s.missing_is_deleted && s.fetch.is_some());
    // What earlier invocations of this run read, when they handed it over.
    let mut seen = super::SeenIds::unpack(job.seen.take().as_deref());
    loop {
        if let Some(remaining) = budget.remaining() {
            if remaining < deps.config.time_reserve {
                job.continuations += 1;
                if sweep {
                    job.seen = seen.pack();
                }
                job.updated_at = deps.clock.now_unix();
                deps.jobs.put(&job).await?;
                deps.queue.send(&SyncMessage::SyncJob(job_ref.clone())).await?;
                info!(message = "Sync job continues in a new invocation.", flow_id = %flow.id, job_id = %job.job_id, pages = job.pages);
                return Ok(JobOutcome::Continued(job));
            }
        }
        let mut page = match source.read_page(&flow.source_stream, &state).await {
            Ok(p) => p,
            Err(e) => {
                return fail_handing_over(deps, &flow, &mut job, SyncError::Connector(e), sweep.then_some(&seen)).await
            }
        };
        let now = deps.clock.now_unix();
        if sweep {
            for r in &page.records {
                if let Some(id) = source.record_id(&flow.source_stream, r) {
                    seen.insert(&id);
                }
            }
        }
        let mut deleted = std::mem::take(&mut page.deleted);
        if sweep && page.next.is_none() {
            match super::missing_from_full_read(&flow, &source, &deps.links, &seen).await {
                Ok(gone) => deleted.extend(gone),
                Err(e) => return fail_handing_over(deps, &flow, &mut job, e, sweep.then_some(&seen)).await,
            }
        }
        let deletes =
            match super::sync_deletions(&flow, &destination, &deps.links, deleted, now, reverse.as_ref()).await {
                Ok(c) => c,
                Err(e) => return fail_handing_over(deps, &flow, &mut job, e, sweep.then_some(&seen)).await,
            };
        job.counts.deleted += deletes.deleted;
        job.counts.echoes += deletes.echoes;
        crate::metrics::echoes(&flow.id, deletes.echoes);
        for (id, reason) in &deletes.failures {
            warn!(message = "Delete not synced.", flow_id = %flow.id, source_id = %id, reason = %reason);
            job.record_failure(id, reason, now);
        }
        let counts = match sync_records(
            &flow,
            &source,
            &destination,
            &mapping,
            &deps.links,
            std::mem::take(&mut page.records),
            now,
            reverse.as_ref(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => return fail_handing_over(deps, &flow, &mut job, e, sweep.then_some(&seen)).await,
        };
        crate::subscriptions::emit::records(&deps.publisher, &flow, &counts.changes, now).await;
        crate::subscriptions::emit::records_deleted(
            &deps.publisher,
            &deps.links,
            std::slice::from_ref(&flow),
            &page.gone,
            "gone_at_source",
            false,
            now,
        )
        .await;
        crate::metrics::records(
            &flow.id,
            counts.read,
            counts.written,
            counts.unchanged,
            counts.failures.len() as u64,
        );
        deps.usage.add(
            &flow.tenant,
            now,
            crate::store::usage::DayCounts {
                events: 0,
                records_read: counts.read,
                records_written: counts.written,
            },
        );
        crate::metrics::echoes(&flow.id, counts.echoes);
        job.counts.read += counts.read;
        job.counts.written += counts.written;
        job.counts.unchanged += counts.unchanged;
        job.counts.echoes += counts.echoes;
        job.counts.conflicts_yielded += counts.conflicts_yielded;
        job.counts.conflicts_parked += counts.conflicts_parked;
        job.counts.matched += counts.matched;
        job.counts.matches_parked += counts.matches_parked;
        job.counts.filtered += counts.filtered;
        for (id, reason) in &counts.failures {
            warn!(message = "Record not synced.", flow_id = %flow.id, source_id = %id, reason = %reason);
            job.record_failure(id, reason, now);
        }
        // Records the source could not read (a malformed line): failed, and the run reads on.
        job.counts.read += page.rejected.len() as u64;
        for (id, reason) in &page.rejected {
            warn!(message = "Source record unreadable.", flow_id = %flow.id, source_id = %id, reason = %reason);
            job.record_failure(id, reason, now);
        }
        job.pages += 1;
        if page.total.is_some() {
            job.expected_records = page.total;
        }
        if let (Some(kind), Some(max)) = (cursor_kind, page.max_cursor.as_deref()) {
            job.max_cursor = cursor::max(kind, job.max_cursor.take(), max);
        }
        job.updated_at = now;
        match page.next {
            Some(next) => {
                job.state = Some(serde_json::to_value(&next).expect("stream state serialises"));
                deps.jobs.put(&job).await?;
                progress(&job);
                state = next;
            }
            None => {
                job.state = None;
                job.status = if job.counts.failed > 0 {
                    JobStatus::Partial
                } else {
                    JobStatus::Succeeded
                };
                job.finished_at = Some(now);
                if job.mode == SyncMode::Incremental {
                    if let (Some(_), Some(kind)) = (feed, cursor_kind) {
                        // Everything up to the job's start was read (the feed, or the full
                        // fallback); the lookback covers what changed while it ran.
                        if let Some(start) = cursor::from_unix_secs(kind, job.started_at) {
                            job.max_cursor = cursor::max(kind, job.max_cursor.take(), &start);
                        }
                    }
                    if let Some(max) = &job.max_cursor {
                        let moved = deps
                            .flows
                            .advance_cursor(&flow.id, job.start_cursor.as_deref(), max)
                            .await?;
                        if !moved {
                            warn!(message = "Flow cursor moved under this job; kept the newer one.", flow_id = %flow.id, job_id = %job.job_id);
                        }
                    }
                }
                deps.jobs.put(&job).await?;
                progress(&job);
                super::quality::observe_job(deps, &flow, &job).await;
                crate::subscriptions::emit::job_ended(&deps.publisher, &flow, &job, now).await;
                info!(
                    message = "Sync job finished.",
                    flow_id = %flow.id,
                    job_id = %job.job_id,
                    read = job.counts.read,
                    written = job.counts.written,
                    unchanged = job.counts.unchanged,
                    failed = job.counts.failed,
                    pages = job.pages
                );
                return Ok(JobOutcome::Finished(job));
            }
        }
    }
}

/// Whether a change feed that keeps `max_age_secs` of history still reaches back to cursor
/// `since` for a run starting at `now` (unix seconds). A feed without a limit always does.
fn feed_reaches(max_age_secs: Option<u64>, kind: CursorKind, since: &str, now: i64) -> bool {
    let Some(max_age) = max_age_secs else { return true };
    match cursor::to_unix_secs(kind, since) {
        Some(at) => at >= now.saturating_sub(i64::try_from(max_age).unwrap_or(i64::MAX)),
        // A cursor that is not a time cannot be aged: trust the feed.
        None => true,
    }
}

/// Records the error on the job. A retriable error keeps the job running from its last
/// checkpoint (the message is tried again); any other fails it.
async fn fail(deps: &SyncDeps, flow: &Flow, job: &mut Job, error: SyncError) -> Result<JobOutcome, SyncError> {
    fail_handing_over(deps, flow, job, error, None).await
}

/// [`fail`], keeping what a two-way full run read for its retry (when the error is retriable).
async fn fail_handing_over(
    deps: &SyncDeps,
    flow: &Flow,
    job: &mut Job,
    error: SyncError,
    seen: Option<&super::SeenIds>,
) -> Result<JobOutcome, SyncError> {
    if let Some(seen) = seen.filter(|_| error.is_retriable()) {
        job.seen = seen.pack();
    }
    job.last_error = Some(error.to_string());
    job.updated_at = deps.clock.now_unix();
    if !error.is_retriable() {
        job.status = JobStatus::Failed;
        job.finished_at = Some(job.updated_at);
    }
    deps.jobs.put(job).await?;
    if job.status == JobStatus::Failed {
        crate::subscriptions::emit::job_ended(&deps.publisher, flow, job, job.updated_at).await;
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_feed_reaches_back_only_as_far_as_it_keeps_history() {
        let day = 86_400;
        let now = 1_764_000_000;
        let thirty = Some(30 * day as u64);
        let at = |days_ago: i64| (now - days_ago * day).to_string();
        assert!(feed_reaches(thirty, CursorKind::UnixSeconds, &at(29), now));
        assert!(feed_reaches(thirty, CursorKind::UnixSeconds, &at(30), now));
        assert!(!feed_reaches(thirty, CursorKind::UnixSeconds, &at(31), now));
        assert!(feed_reaches(None, CursorKind::UnixSeconds, &at(400), now));
        assert!(feed_reaches(thirty, CursorKind::String, "opaque", now));
        let millis = ((now - 31 * day) * 1000).to_string();
        assert!(!feed_reaches(thirty, CursorKind::UnixMillis, &millis, now));
    }
}
