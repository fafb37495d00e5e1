//! The receiver's side of the inbound webhook log ([`crate::store::webhook_log`]): duplicates
//! and rejections of a known connection become one small item each. An accepted event needs no
//! write of its own (its item carries the log's index keys).
//!
//! Cheap by construction:
//! - a rejection is logged only once the connection is known (an unknown id has no tenant to
//!   log it for, and logging it would let anyone write items by guessing URLs);
//! - each warm instance logs at most [`REJECTIONS_PER_MINUTE`] rejections per connection a
//!   minute; past that a flood is counted in the `WebhookLogSkipped` metric, not written;
//! - a failure to write is logged and never changes the answer.

use std::collections::HashMap;
use std::sync::Mutex;

use tracing::warn;

use crate::store::connections::Connection;
use crate::store::events::StoredEvent;
use crate::store::webhook_log::{LogEntry, Outcome};

use super::ReceiverDeps;

/// Rejections one warm instance logs per connection and minute.
pub const REJECTIONS_PER_MINUTE: u32 = 60;

/// Connections one instance tracks before it starts its counts afresh.
const TRACKED: usize = 4096;

/// Per-connection, per-minute allowance of rejection writes in one warm instance.
#[derive(Debug, Default)]
pub struct RejectionBudget {
    /// connection id -> (minute, rejections logged in it)
    counts: Mutex<HashMap<String, (i64, u32)>>,
}

impl RejectionBudget {
    /// Whether one more rejection of `connection_id` at `now` may be written.
    pub fn take(&self, connection_id: &str, now: i64) -> bool {
        let minute = now.div_euclid(60);
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= TRACKED && !counts.contains_key(connection_id) {
            counts.clear();
        }
        let entry = counts.entry(connection_id.to_string()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= REJECTIONS_PER_MINUTE {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// Logs a refused delivery of `conn` with a reason code (never the request's content).
pub(super) async fn rejection(deps: &ReceiverDeps, conn: &Connection, reason: &str) {
    let now = deps.clock.now_unix();
    if !deps.rejection_budget.take(&conn.id, now) {
        crate::metrics::webhook::log_skipped();
        return;
    }
    let entry = LogEntry {
        connection_id: conn.id.clone(),
        at: now,
        outcome: Outcome::Rejected,
        reason: Some(reason.to_string()),
        event_id: None,
        event_type: None,
        provider: None,
    };
    if let Err(e) = deps
        .webhook_log
        .record(&conn.tenant, &entry, expires_at(deps, now))
        .await
    {
        warn!(message = "Could not log a rejected webhook.", error = %e);
    }
}

/// Logs the duplicates of one delivery, concurrently.
pub(super) async fn duplicates(deps: &ReceiverDeps, events: &[StoredEvent]) {
    let writes = events.iter().map(|ev| async move {
        let entry = LogEntry {
            connection_id: ev.connection_id.clone(),
            at: ev.received_at,
            outcome: Outcome::Duplicate,
            reason: None,
            event_id: Some(ev.event_id.clone()),
            event_type: Some(ev.event_type.clone()),
            provider: Some(ev.provider.clone()),
        };
        if let Err(e) = deps.webhook_log.record(&ev.tenant, &entry, ev.expires_at).await {
            warn!(message = "Could not log a duplicate webhook.", event_id = %ev.event_id, error = %e);
        }
    });
    futures::future::join_all(writes).await;
}

fn expires_at(deps: &ReceiverDeps, now: i64) -> i64 {
    now.saturating_add(deps.config.event_ttl.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_gets_its_allowance_each_minute_and_others_are_apart() {
        let budget = RejectionBudget::default();
        let t = 1_800_000_000; // the start of a minute
        for _ in 0..REJECTIONS_PER_MINUTE {
            assert!(budget.take("conn_a", t));
        }
        assert!(
            !budget.take("conn_a", t + 59),
            "a flood past the allowance is not written"
        );
        assert!(
            budget.take("conn_b", t + 59),
            "another connection has its own allowance"
        );
        assert!(budget.take("conn_a", t + 60), "the next minute starts afresh");
    }

    #[test]
    fn the_tracked_set_stays_bounded() {
        let budget = RejectionBudget::default();
        for i in 0..(TRACKED + 10) {
            assert!(budget.take(&format!("conn_{i}"), 0));
        }
        assert!(budget.counts.lock().unwrap().len() <= TRACKED);
    }
}
