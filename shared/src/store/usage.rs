//! Usage per tenant per day (`GET /v1/usage`): inbound events taken and records read and
//! written by syncs.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | usage day | `USAGE#<tenant>` | `DAY#<yyyy-mm-dd>` (UTC) |
//!
//! Counting is cheap by construction: connector-sync adds to a [`UsageTally`] in memory while it
//! works through an SQS batch, and flushes it once at the end of the invocation with one
//! `UpdateItem ADD` per (tenant, day) it touched (usually one). The receiver's warm path makes
//! no call for it: an event is counted when connector-sync takes it out of the pending index
//! (exactly once per stored event, even when the pending sweep sends it again). A flush that
//! fails stays in the tally and goes out with the next invocation's; a process that dies first
//! loses its counts (they are statistics, not billing). Days are kept 400 days (TTL).

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::table::{self, EXPIRES_AT, PK, SK};
use super::StoreError;

/// How long a day's counters are kept.
pub const KEEP_SECS: i64 = 400 * 86_400;

/// One day's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayCounts {
    /// Inbound events taken by connector-sync.
    pub events: u64,
    /// Records read from sources (pages of sync jobs, and events' records).
    pub records_read: u64,
    /// Records written to destinations.
    pub records_written: u64,
}

impl DayCounts {
    fn add(&mut self, other: DayCounts) {
        self.events += other.events;
        self.records_read += other.records_read;
        self.records_written += other.records_written;
    }

    fn is_zero(&self) -> bool {
        *self == DayCounts::default()
    }
}

/// `2026-11-27` for a time in that UTC day.
pub fn day_of(unix: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// Counts gathered in memory during one invocation, keyed by (tenant, day).
#[derive(Debug, Default)]
pub struct UsageTally {
    counts: Mutex<BTreeMap<(String, String), DayCounts>>,
}

impl UsageTally {
    /// Adds `counts` to the tenant's day containing `at`.
    pub fn add(&self, tenant: &str, at: i64, counts: DayCounts) {
        if tenant.is_empty() || counts.is_zero() {
            return;
        }
        let mut map = self
            .counts
            .lock()
            .expect("the tally's lock is never held across a panic");
        map.entry((tenant.to_string(), day_of(at))).or_default().add(counts);
    }

    fn take(&self) -> BTreeMap<(String, String), DayCounts> {
        std::mem::take(
            &mut *self
                .counts
                .lock()
                .expect("the tally's lock is never held across a panic"),
        )
    }

    fn put_back(&self, left: BTreeMap<(String, String), DayCounts>) {
        let mut map = self
            .counts
            .lock()
            .expect("the tally's lock is never held across a panic");
        for (k, v) in left {
            map.entry(k).or_default().add(v);
        }
    }
}

#[derive(Debug, Clone)]
pub struct UsageStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn usage_pk(tenant: &str) -> String {
    format!("USAGE#{tenant}")
}

impl UsageStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Adds to a tenant's day: one `UpdateItem ADD` (atomic, so concurrent instances add up).
    pub async fn add(&self, tenant: &str, day: &str, counts: DayCounts, now: i64) -> Result<(), StoreError> {
        table::validate_id("tenant", tenant)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(usage_pk(tenant)))
            .key(SK, AttributeValue::S(format!("DAY#{day}")))
            .update_expression("ADD #e :e, #r :r, #w :w SET #exp = if_not_exists(#exp, :exp)")
            .expression_attribute_names("#e", "events")
            .expression_attribute_names("#r", "records_read")
            .expression_attribute_names("#w", "records_written")
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":e", AttributeValue::N(counts.events.to_string()))
            .expression_attribute_values(":r", AttributeValue::N(counts.records_read.to_string()))
            .expression_attribute_values(":w", AttributeValue::N(counts.records_written.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N((now + KEEP_SECS).to_string()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Writes out a tally: one `UpdateItem` per (tenant, day) in it. What fails to go out stays
    /// in the tally for the next flush. Returns the number of writes made.
    pub async fn flush(&self, tally: &UsageTally, now: i64) -> Result<usize, StoreError> {
        let mut pending = tally.take();
        let mut written = 0;
        while let Some(((tenant, day), counts)) = pending.pop_first() {
            if let Err(e) = self.add(&tenant, &day, counts, now).await {
                pending.insert((tenant, day), counts);
                tally.put_back(pending);
                return Err(e);
            }
            written += 1;
        }
        Ok(written)
    }

    /// A tenant's days from `from` to `to` (inclusive, `yyyy-mm-dd`), oldest first: one `Query`.
    pub async fn days(&self, tenant: &str, from: &str, to: &str) -> Result<Vec<(String, DayCounts)>, StoreError> {
        table::validate_id("tenant", tenant)?;
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(usage_pk(tenant)))
            .expression_attribute_values(":from", AttributeValue::S(format!("DAY#{from}")))
            .expression_attribute_values(":to", AttributeValue::S(format!("DAY#{to}")))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::dynamo("Query", e))?;
            let n = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            let Some(day) = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .and_then(|s| s.strip_prefix("DAY#"))
            else {
                continue;
            };
            out.push((
                day.to_string(),
                DayCounts {
                    events: n("events"),
                    records_read: n("records_read"),
                    records_written: n("records_written"),
                },
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_800_000_000), "2027-01-15");
        assert_eq!(day_of(1_800_000_000 - 1_800_000_000 % 86_400 - 1), "2027-01-14");
    }

    #[test]
    fn a_tally_sums_per_tenant_and_day_and_keeps_what_is_put_back() {
        let tally = UsageTally::default();
        let one = |events, read, written| DayCounts {
            events,
            records_read: read,
            records_written: written,
        };
        tally.add("acme", 1_800_000_000, one(1, 1, 1));
        tally.add("acme", 1_800_000_100, one(1, 2, 0));
        tally.add("acme", 1_800_000_000 + 86_400, one(1, 0, 0));
        tally.add("other", 1_800_000_000, one(0, 5, 5));
        tally.add("other", 1_800_000_000, DayCounts::default());
        tally.add("", 1_800_000_000, one(9, 9, 9));
        let taken = tally.take();
        assert_eq!(taken.len(), 3);
        assert_eq!(taken[&("acme".to_string(), "2027-01-15".to_string())], one(2, 3, 1));
        assert!(tally.take().is_empty(), "taking empties it");
        tally.put_back(taken);
        tally.add("acme", 1_800_000_000, one(1, 0, 0));
        assert_eq!(
            tally.take()[&("acme".to_string(), "2027-01-15".to_string())],
            one(3, 3, 1)
        );
    }
}
