//! Inbound events per hour, per connection, judged against their baseline on the health
//! checker's schedule ([`crate::quality::Quality::observe_hour`]).
//!
//! The receiver writes nothing for this: the counts come from the webhook log's sparse index
//! (`store::webhook_log`), which every accepted event already carries. Each connection that
//! takes webhooks keeps `{next_hour, baseline}` on its item, so the health checker's page of
//! connections brings it along; a run does work for a connection only once its hour is over
//! (plus [`SETTLE_SECS`] for the index to catch up): one `Query` of that hour's log entries and
//! one conditional `UpdateItem`. History is never rescanned: a hour is counted once, and hours
//! older than [`MAX_CATCH_UP_HOURS`] (the checker stopped for a day) are skipped, not counted.
//!
//! An anomaly (a stream gone silent in its busy hours, or thinned far below them) is alerted
//! through the health checker's alert channels once, when its episode opens, by the run whose
//! conditional write won; an overlapping run that lost writes and alerts nothing.

use serde_json::json;
use tracing::{info, warn};

use super::HealthDeps;
use crate::health::alert::Notice;
use crate::quality::Finding;
use crate::store::connections::{Connection, InboundRecord};
use crate::store::webhook_log::HourCount;

const HOUR: i64 = 3_600;
/// How long after an hour ends it is counted: the log is a global secondary index, eventually
/// consistent, and a delivery answered at 10:59:59 is logged a moment later.
pub const SETTLE_SECS: i64 = 120;
/// The most hours one run catches up on.
pub const MAX_CATCH_UP_HOURS: i64 = 24;

/// What one connection's inbound judging did in a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboundResult {
    /// Hours counted and judged.
    pub hours: usize,
    /// Anomalies whose episode opened (each alerted).
    pub opened: usize,
    /// Of those, alerts delivered.
    pub alerted: usize,
}

/// Counts and judges the connection's completed hours, if any are due.
pub async fn observe_connection(
    deps: &HealthDeps,
    conn: &Connection,
    stored: Option<InboundRecord>,
    now: i64,
) -> InboundResult {
    if conn.webhook.is_none() {
        // It refuses every webhook: there is no stream to judge.
        return InboundResult::default();
    }
    let due_to = (now - SETTLE_SECS).div_euclid(HOUR) * HOUR;
    let Some(prev) = stored else {
        // The first run that sees the connection starts its baseline from the current hour;
        // the hours before are not read.
        let first = InboundRecord {
            version: 1,
            next_hour: due_to,
            quality: Default::default(),
        };
        if let Err(e) = deps.connections.put_inbound(&conn.id, &first).await {
            warn!(message = "Starting the inbound baseline failed.", connection_id = %conn.id, error = %e);
        }
        return InboundResult::default();
    };
    if prev.next_hour >= due_to {
        return InboundResult::default();
    }
    let from = prev.next_hour.max(due_to - MAX_CATCH_UP_HOURS * HOUR);
    let hours = match deps.webhook_log.hour_counts(&conn.tenant, &conn.id, from, due_to).await {
        Ok(h) => h,
        Err(e) => {
            warn!(message = "Counting the connection's inbound events failed; the hour is counted next run.", connection_id = %conn.id, error = %e);
            return InboundResult::default();
        }
    };
    let mut next = InboundRecord {
        version: prev.version + 1,
        next_hour: due_to,
        quality: prev.quality,
    };
    let mut opened: Vec<(Finding, &HourCount)> = Vec::new();
    for hour in &hours {
        let out = next.quality.observe_hour(hour.hour_start, hour.accepted);
        for metric in &out.closed {
            info!(message = "Inbound anomaly over.", connection_id = %conn.id, metric = metric.name());
        }
        for finding in out.findings {
            warn!(
                message = "Inbound anomaly.",
                connection_id = %conn.id,
                opened = finding.opened,
                summary = %finding.summary
            );
            if finding.opened {
                opened.push((finding, hour));
            }
        }
    }
    match deps.connections.put_inbound(&conn.id, &next).await {
        Ok(true) => {}
        Ok(false) => {
            // Another run counted these hours first; its findings and alerts stand.
            return InboundResult::default();
        }
        Err(e) => {
            warn!(message = "Saving the inbound baseline failed; the hours are counted again next run.", connection_id = %conn.id, error = %e);
            return InboundResult::default();
        }
    }
    let mut result = InboundResult {
        hours: hours.len(),
        opened: opened.len(),
        alerted: 0,
    };
    for (finding, hour) in &opened {
        crate::metrics::quality::anomaly("health-checker", finding.metric.name());
        if deps.alerter.is_configured() && deps.alerter.send_notice(&notice(conn, finding, hour)).await.is_ok() {
            result.alerted += 1;
        }
    }
    result
}

/// The alert: what, since when, compared to what, and the hour's last refusals.
pub fn notice(conn: &Connection, finding: &Finding, hour: &HourCount) -> Notice {
    let mut text = format!(
        "Connection {} ({}, {}): {}.",
        conn.name, conn.id, conn.provider, finding.summary
    );
    if hour.rejected > 0 {
        text.push_str(&format!(
            " {} deliveries were refused in that hour; last reasons: {}",
            hour.rejected,
            hour.last_rejections.join(", ")
        ));
    }
    Notice {
        subject: conn.id.clone(),
        idempotency_key: format!("{}:{}:{}", conn.id, finding.metric.name(), finding.since),
        body: json!({
            "type": "connection.inbound_anomaly",
            "connection_id": conn.id,
            "tenant": conn.tenant,
            "provider": conn.provider,
            "name": conn.name,
            "metric": finding.metric,
            "observed": finding.observed,
            "usual": finding.usual,
            "spread": finding.sd,
            "since": finding.since,
            "rejected": hour.rejected,
            "last_errors": hour.last_rejections,
            "text": text,
        }),
        text,
    }
}
