//! Sync job items: status, counts, timings, the checkpointed stream position and recent
//! record failures. Keyed `FLOW#<flow>` / `JOB#<ulid>`, so a flow's jobs sort by start time.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::flows::{flow_pk, SyncMode};
use super::table::{PK, SK};
use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Succeeded,
    /// Finished, but some records failed (see `recent_failures`).
    Partial,
    Failed,
}

/// What a job did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct JobCounts {
    pub read: u64,
    pub written: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Of the unchanged records, the echoes of the other direction's writes in a two-way link.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub echoes: u64,
    /// Records a two-way link's conflict rule left for the other direction to bring over.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conflicts_yielded: u64,
    /// Records both sides changed, parked in the review queue.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conflicts_parked: u64,
    /// New records linked to one already on the other side instead of being created.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub matched: u64,
    /// New records whose possible duplicate was parked for review (not created).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub matches_parked: u64,
    /// Linked records deleted on the source side that a two-way link acted on (its
    /// `on_delete`: propagated, archived or recorded); their links are retired.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deleted: u64,
    /// Records the flow's mapping dropped (no output): not the flow's to write.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filtered: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One record that could not be synced, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFailure {
    pub source_id: String,
    pub reason: String,
    pub at: i64,
}

/// How many record failures a job item keeps (the count keeps going).
pub const MAX_RECENT_FAILURES: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub flow_id: String,
    pub job_id: String,
    pub status: JobStatus,
    pub mode: SyncMode,
    /// `schedule`, `manual`, `event`, ...
    pub trigger: String,
    #[serde(default)]
    pub counts: JobCounts,
    pub started_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    #[serde(default)]
    pub pages: u64,
    /// How many records the source says the run returns (its stream's `total`), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_records: Option<u64>,
    /// The flow's cursor when the job started (incremental mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_cursor: Option<String>,
    /// The highest cursor value read so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cursor: Option<String>,
    /// Where to resume: the next page's stream state, checkpointed after every page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
    /// Times the job handed over to a continuation message because the Lambda ran short of time.
    #[serde(default)]
    pub continuations: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_failures: Vec<RecordFailure>,
    /// A two-way full run handed over (to its next invocation or its retry): the source ids it
    /// had read, as [`crate::sync::SeenIds`] packs them, so the resumed run's deletion sweep
    /// does not fetch them one by one. Written at the hand-over only, never at a checkpoint;
    /// internal (APIs leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
}

impl Job {
    /// Records a failed record, keeping the most recent few.
    pub fn record_failure(&mut self, source_id: &str, reason: &str, at: i64) {
        self.counts.failed += 1;
        if self.recent_failures.len() >= MAX_RECENT_FAILURES {
            self.recent_failures.remove(0);
        }
        self.recent_failures.push(RecordFailure {
            source_id: source_id.to_string(),
            reason: reason.chars().take(500).collect(),
            at,
        });
    }
}

pub fn job_sk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}
const KIND: &str = "job";

#[derive(Debug, Clone)]
pub struct JobStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl JobStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes the whole job item (create or checkpoint).
    pub async fn put(&self, job: &Job) -> Result<(), StoreError> {
        let item = super::typed_item(KIND, job, &[(PK, flow_pk(&job.flow_id)), (SK, job_sk(&job.job_id))])?;
        super::put(&self.client, &self.table, item).await
    }

    pub async fn get(&self, flow_id: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(flow_pk(flow_id)))
            .key(SK, AttributeValue::S(job_sk(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| from_item(item, job_id)).transpose()
    }

    /// The flow's most recent jobs, newest first.
    pub async fn recent(&self, flow_id: &str, limit: i32) -> Result<Vec<Job>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :job)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(flow_pk(flow_id)))
            .expression_attribute_values(":job", AttributeValue::S("JOB#".into()))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let key = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                from_item(item, &key)
            })
            .collect()
    }
}

fn from_item(item: HashMap<String, AttributeValue>, key: &str) -> Result<Job, StoreError> {
    super::from_typed_item(KIND, item, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_failures_keep_the_most_recent_and_count_all() {
        let mut job = Job {
            flow_id: "f".into(),
            job_id: "j".into(),
            status: JobStatus::Running,
            mode: SyncMode::Full,
            trigger: "manual".into(),
            counts: JobCounts::default(),
            started_at: 0,
            updated_at: 0,
            finished_at: None,
            pages: 0,
            expected_records: None,
            start_cursor: None,
            max_cursor: None,
            state: None,
            continuations: 0,
            last_error: None,
            recent_failures: vec![],
            seen: None,
        };
        for i in 0..25 {
            job.record_failure(&format!("rec_{i}"), "bad email", i);
        }
        assert_eq!(job.counts.failed, 25);
        assert_eq!(job.recent_failures.len(), MAX_RECENT_FAILURES);
        assert_eq!(job.recent_failures[0].source_id, "rec_5");
    }
}
