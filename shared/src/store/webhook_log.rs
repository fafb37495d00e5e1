//! The inbound webhook log: every delivery the receiver answered for a known connection,
//! accepted, duplicate or rejected with a reason (`GET /v1/events`).
//!
//! | item | pk | sk | log_pk / log_sk (index `webhook_log`) |
//! |---|---|---|---|
//! | accepted event | `EVT#<conn>#<event id>` (the event itself) | `EVT` | `WHLOG#<tenant>#<conn>` / `<at>#<conn>#e<hash>` |
//! | duplicate or rejection | `WHLOG#<conn>#<ulid>` | `WHLOG` | `WHLOG#<tenant>#<conn>` / `<at>#<conn>#<ulid>` |
//!
//! An accepted event is logged by the index keys on its own item: the accept path writes
//! nothing more. A duplicate or a rejection is one small item with the event TTL: its outcome,
//! a reason code, and (for a duplicate, whose signature verified) the event's id, type and
//! provider. Never a body, a header or a secret: a rejected request's content is not ours to
//! keep. The index projects only these fields, so reading the log never reads a body.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::table::{self, EXPIRES_AT, LOG_PK, LOG_SK, PK, SK, WEBHOOK_LOG};
use super::StoreError;

/// What the receiver did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Verified, stored and enqueued.
    Accepted,
    /// Verified, but its event was already stored: acknowledged and dropped.
    Duplicate,
    /// Refused (see the reason).
    Rejected,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Outcome::Accepted, Outcome::Duplicate, Outcome::Rejected]
            .into_iter()
            .find(|o| o.name() == s)
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub connection_id: String,
    /// Unix seconds.
    pub at: i64,
    pub outcome: Outcome,
    /// Why it was rejected: a code such as `bad_signature:no_matching_signature`.
    pub reason: Option<String>,
    /// The provider's event id (accepted and duplicate only: a rejected body is not read).
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub provider: Option<String>,
}

/// The id part of an accepted event's log position: a stable 64-bit FNV-1a hash of its event
/// id (event ids can hold any character; positions hold only letters and digits).
pub fn accepted_id(event_id: &str) -> String {
    let hash = event_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("e{hash:016x}")
}

/// Whether `s` is a position this log gives out: `<12 digits>#<connection id>#<letters, digits>`.
pub fn is_position(s: &str) -> bool {
    let mut parts = s.splitn(3, '#');
    let (Some(at), Some(conn), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    at.len() == 12
        && at.bytes().all(|b| b.is_ascii_digit())
        && table::validate_id("connection id", conn).is_ok()
        && (1..=32).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Which entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// At or after (unix seconds).
    pub since: Option<i64>,
    pub outcome: Option<Outcome>,
    /// Strictly older than this position (from a previous page).
    pub before: Option<String>,
    pub limit: usize,
}

/// A page of entries, newest first, each with its position for cursors.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    pub items: Vec<(String, LogEntry)>,
    pub more: bool,
}

#[derive(Debug, Clone)]
pub struct WebhookLogStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl WebhookLogStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The item of a duplicate or rejected delivery (an accepted event is logged by its own item).
    pub fn item(tenant: &str, entry: &LogEntry, expires_at: i64) -> HashMap<String, AttributeValue> {
        let id = ulid::Ulid::new().to_string();
        let mut item = HashMap::with_capacity(12);
        let s = |v: &str| AttributeValue::S(v.to_string());
        item.insert(PK.into(), s(&format!("WHLOG#{}#{id}", entry.connection_id)));
        item.insert(SK.into(), s("WHLOG"));
        item.insert(LOG_PK.into(), s(&table::log_pk(tenant, &entry.connection_id)));
        item.insert(LOG_SK.into(), s(&table::log_sk(entry.at, &entry.connection_id, &id)));
        item.insert("connection_id".into(), s(&entry.connection_id));
        item.insert("received_at".into(), AttributeValue::N(entry.at.to_string()));
        item.insert("outcome".into(), s(entry.outcome.name()));
        for (name, value) in [
            ("reason", &entry.reason),
            ("event_id", &entry.event_id),
            ("event_type", &entry.event_type),
            ("provider", &entry.provider),
        ] {
            if let Some(v) = value {
                item.insert(name.into(), s(v));
            }
        }
        item.insert(EXPIRES_AT.into(), AttributeValue::N(expires_at.to_string()));
        item
    }

    /// Records a duplicate or a rejection: one `PutItem`.
    pub async fn record(&self, tenant: &str, entry: &LogEntry, expires_at: i64) -> Result<(), StoreError> {
        debug_assert!(entry.outcome != Outcome::Accepted, "accepted events log themselves");
        super::put(&self.client, &self.table, Self::item(tenant, entry, expires_at)).await
    }

    /// One page of one connection's log, newest first. `Query` reads on (an outcome filter can
    /// thin a page out) until `limit + 1` match or the partition ends.
    pub async fn page(&self, tenant: &str, connection_id: &str, q: &LogQuery) -> Result<LogPage, StoreError> {
        table::validate_id("tenant", tenant)?;
        table::validate_id("connection id", connection_id)?;
        let low = format!("{:012}", q.since.unwrap_or(0).max(0));
        let high = q.before.clone().unwrap_or_else(|| "~".to_string());
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WEBHOOK_LOG)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", LOG_PK)
                .expression_attribute_names("#sk", LOG_SK)
                .expression_attribute_values(":pk", AttributeValue::S(table::log_pk(tenant, connection_id)))
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(q.limit.saturating_add(1)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            match q.outcome {
                None => {}
                Some(Outcome::Accepted) => {
                    req = req
                        .filter_expression("attribute_not_exists(#outcome)")
                        .expression_attribute_names("#outcome", "outcome");
                }
                Some(o) => {
                    req = req
                        .filter_expression("#outcome = :outcome")
                        .expression_attribute_names("#outcome", "outcome")
                        .expression_attribute_values(":outcome", AttributeValue::S(o.name().into()));
                }
            }
            let out = req.send().await.map_err(|e| StoreError::dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let position = item
                    .get(LOG_SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                // BETWEEN is inclusive: the cursor's own entry is not shown again.
                if q.before.as_deref() == Some(position.as_str()) {
                    continue;
                }
                items.push((position.clone(), from_item(&item, &position)?));
            }
            if items.len() > q.limit {
                break;
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        let more = items.len() > q.limit;
        items.truncate(q.limit);
        Ok(LogPage { items, more })
    }

    /// The duplicate deliveries of these events in one connection's log, with each entry's
    /// item key (a GDPR erasure removes them with the events). One `Query` of the connection's
    /// log partition per 50 event ids, filtered on the server.
    pub async fn duplicates_of(
        &self,
        tenant: &str,
        connection_id: &str,
        event_ids: &[String],
    ) -> Result<Vec<(super::subjects::ItemKey, LogEntry)>, StoreError> {
        table::validate_id("tenant", tenant)?;
        table::validate_id("connection id", connection_id)?;
        let mut out = Vec::new();
        for chunk in event_ids.chunks(50) {
            let names: Vec<String> = (0..chunk.len()).map(|i| format!(":e{i}")).collect();
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WEBHOOK_LOG)
                .key_condition_expression("#pk = :pk")
                .filter_expression(format!("#outcome = :dup AND #eid IN ({})", names.join(", ")))
                .expression_attribute_names("#pk", LOG_PK)
                .expression_attribute_names("#outcome", "outcome")
                .expression_attribute_names("#eid", "event_id")
                .expression_attribute_values(":pk", AttributeValue::S(table::log_pk(tenant, connection_id)))
                .expression_attribute_values(":dup", AttributeValue::S(Outcome::Duplicate.name().into()));
            for (name, id) in names.iter().zip(chunk) {
                req = req.expression_attribute_values(name, AttributeValue::S(id.clone()));
            }
            let mut pages = req.into_paginator().items().send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| StoreError::dynamo("Query", e))?;
                let position = item
                    .get(LOG_SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let Some(key) = super::subjects::key_of(&item) else {
                    continue;
                };
                out.push((key, from_item(&item, &position)?));
            }
        }
        Ok(out)
    }

    /// One page over several connections' logs, newest first: each connection's page, merged.
    /// The newest `limit + 1` of the union are among each partition's newest `limit + 1`, so
    /// the merge is exact (one `Query` per connection, or more when a filter thins them out).
    pub async fn page_across(
        &self,
        tenant: &str,
        connection_ids: &[String],
        q: &LogQuery,
    ) -> Result<LogPage, StoreError> {
        let mut items = Vec::new();
        let mut more = false;
        let pages = futures::future::join_all(connection_ids.iter().map(|id| self.page(tenant, id, q))).await;
        for page in pages {
            let page = page?;
            more |= page.more;
            items.extend(page.items);
        }
        items.sort_by(|a, b| b.0.cmp(&a.0));
        more |= items.len() > q.limit;
        items.truncate(q.limit);
        Ok(LogPage { items, more })
    }
}

/// What the log holds for one hour of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HourCount {
    /// Unix seconds: the hour's start.
    pub hour_start: i64,
    /// Deliveries accepted (verified, stored and enqueued).
    pub accepted: u64,
    /// Deliveries refused, and the last refusals' reason codes (oldest first, at most three).
    pub rejected: u64,
    pub last_rejections: Vec<String>,
}

impl WebhookLogStore {
    /// Counts one connection's log per hour over the whole hours from `from` to `to` (unix
    /// seconds, hour starts, `to` excluded), oldest first, one entry per hour (zero included).
    /// One `Query` reading only the time, outcome and reason of each entry (more pages when
    /// the hours held more than 1 MB of them).
    pub async fn hour_counts(
        &self,
        tenant: &str,
        connection_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<HourCount>, StoreError> {
        table::validate_id("tenant", tenant)?;
        table::validate_id("connection id", connection_id)?;
        let mut hours: Vec<HourCount> = (from..to)
            .step_by(3_600)
            .map(|hour_start| HourCount {
                hour_start,
                ..HourCount::default()
            })
            .collect();
        if hours.is_empty() {
            return Ok(hours);
        }
        let low = format!("{:012}", from.max(0));
        // Every position of the last second before `to` sorts below `<to - 1>~`.
        let high = format!("{:012}~", (to - 1).max(0));
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WEBHOOK_LOG)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", LOG_PK)
                .expression_attribute_names("#sk", LOG_SK)
                .expression_attribute_names("#at", "received_at")
                .expression_attribute_names("#outcome", "outcome")
                .expression_attribute_names("#reason", "reason")
                .projection_expression("#at, #outcome, #reason")
                .expression_attribute_values(":pk", AttributeValue::S(table::log_pk(tenant, connection_id)))
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let Some(at) = item
                    .get("received_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
                else {
                    continue;
                };
                let Some(hour) = usize::try_from((at - from).div_euclid(3_600))
                    .ok()
                    .and_then(|i| hours.get_mut(i))
                else {
                    continue;
                };
                match item.get("outcome").and_then(|v| v.as_s().ok()).map(String::as_str) {
                    None => hour.accepted += 1,
                    Some("rejected") => {
                        hour.rejected += 1;
                        if let Some(reason) = item.get("reason").and_then(|v| v.as_s().ok()) {
                            hour.last_rejections.push(reason.clone());
                            if hour.last_rejections.len() > 3 {
                                hour.last_rejections.remove(0);
                            }
                        }
                    }
                    Some(_) => {}
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(hours)
    }
}

/// An entry read back from the index.
fn from_item(item: &HashMap<String, AttributeValue>, position: &str) -> Result<LogEntry, StoreError> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let corrupt = |reason: &str| StoreError::Corrupt {
        kind: "webhook log entry",
        key: position.to_string(),
        reason: reason.to_string(),
    };
    let outcome = match s("outcome") {
        None => Outcome::Accepted,
        Some(o) => Outcome::parse(&o).ok_or_else(|| corrupt("unknown outcome"))?,
    };
    Ok(LogEntry {
        connection_id: s("connection_id").ok_or_else(|| corrupt("missing connection_id"))?,
        at: item
            .get("received_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt("missing received_at"))?,
        outcome,
        reason: s("reason"),
        event_id: s("event_id"),
        event_type: s("event_type"),
        provider: s("provider"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection() -> LogEntry {
        LogEntry {
            connection_id: "conn_1".into(),
            at: 1_800_000_000,
            outcome: Outcome::Rejected,
            reason: Some("bad_signature:no_matching_signature".into()),
            event_id: None,
            event_type: None,
            provider: None,
        }
    }

    #[test]
    fn a_rejection_item_holds_only_the_log_fields_and_reads_back() {
        let item = WebhookLogStore::item("acme", &rejection(), 1_800_604_800);
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "connection_id",
                "expires_at",
                "log_pk",
                "log_sk",
                "outcome",
                "pk",
                "reason",
                "received_at",
                "sk"
            ],
            "no body, header or anything else of the refused request"
        );
        assert_eq!(item[LOG_PK].as_s().unwrap(), "WHLOG#acme#conn_1");
        let position = item[LOG_SK].as_s().unwrap();
        assert!(is_position(position), "{position}");
        assert_eq!(from_item(&item, position).unwrap(), rejection());
    }

    #[test]
    fn accepted_ids_are_stable_positions_for_any_event_id() {
        assert_eq!(accepted_id("evt_1"), accepted_id("evt_1"));
        assert_ne!(accepted_id("evt_1"), accepted_id("evt_2"));
        let position = table::log_sk(1_800_000_000, "conn_1", &accepted_id("événement #1 / ü"));
        assert!(is_position(&position), "{position}");
    }

    #[test]
    fn positions_from_elsewhere_are_not_positions() {
        assert!(!is_position("001800000000#conn_1"));
        assert!(!is_position("00180000000x#conn_1#e00"));
        assert!(!is_position("001800000000#conn#1#e00"));
        assert!(!is_position("001800000000#conn_1#"));
        assert!(!is_position("001800000000#conn_1#a-b"));
    }

    #[test]
    fn an_item_without_an_outcome_is_an_accepted_event() {
        let mut item = WebhookLogStore::item("acme", &rejection(), 0);
        item.remove("outcome");
        item.remove("reason");
        item.insert("event_id".into(), AttributeValue::S("evt_1".into()));
        let e = from_item(&item, "p").unwrap();
        assert_eq!((e.outcome, e.event_id.as_deref()), (Outcome::Accepted, Some("evt_1")));
    }
}
