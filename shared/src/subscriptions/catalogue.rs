//! The fixed catalogue of event types a subscription can ask for, and the event itself. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Every event type, sorted. `data` of each carries the ids a filter usually names
/// (`flow_id`, `connection_id`, `tenant`).
pub const EVENT_TYPES: [&str; 7] = [
    // A connection's health state changed (healthy, degraded, down, ...), from the health checker.
    "connection.state_changed",
    // A message stopped retrying and was parked (retry handler or connector-sync).
    "dead_letter.parked",
    // A sync job failed for good.
    "job.failed",
    // A sync job read its stream to the end (`status`: succeeded or partial).
    "job.finished",
    // A flow wrote a record its destination did not have (per flow: filter on `flow_id`).
    "record.created",
    // A record a flow had written was deleted at its source (a deletion event, or a record an
    // event or change feed named found gone). `destination_deleted`: whether a two-way link's
    // `on_delete: propagate` deleted the counterpart.
    "record.deleted",
    // A flow wrote a changed record to its destination.
    "record.updated",
];

/// What each event type says, in the catalogue's order (`GET /v1/webhook-subscriptions/event-types`
/// answers it; the console builds its subscription form from it).
pub const EVENT_TYPE_DESCRIPTIONS: [(&str, &str); 7] = [
    (
        "connection.state_changed",
        "A connection's health state changed (healthy, degraded, down, needs re-auth).",
    ),
    (
        "dead_letter.parked",
        "A message stopped retrying and was parked as a dead letter.",
    ),
    ("job.failed", "A sync job failed for good."),
    (
        "job.finished",
        "A sync job read its stream to the end (status: succeeded or partial).",
    ),
    (
        "record.created",
        "A flow wrote a record its destination did not have (filter on flow_id).",
    ),
    (
        "record.deleted",
        "A record a flow had written was deleted at its source; `destination_deleted` says whether its two-way link deleted the counterpart.",
    ),
    ("record.updated", "A flow wrote a changed record to its destination."),
];

/// Whether `name` is in the catalogue.
pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.binary_search(&name).is_ok()
}

/// One event, before it is matched to subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundEvent {
    /// `msg_<ulid>`: the `webhook-id` header of every delivery of it.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds.
    pub at: i64,
    pub data: Value,
}

impl OutboundEvent {
    pub fn new(event_type: &'static str, at: i64, data: Value) -> Self {
        debug_assert!(is_event_type(event_type), "{event_type} is in the catalogue");
        Self {
            id: format!("msg_{}", ulid::Ulid::new().to_string().to_lowercase()),
            event_type: event_type.to_string(),
            at,
            data,
        }
    }

    /// The body receivers get, in Standard Webhooks' recommended shape:
    /// `{"type": ..., "timestamp": RFC 3339, "data": {...}}`.
    pub fn body(&self) -> String {
        let timestamp = time::OffsetDateTime::from_unix_timestamp(self.at)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| self.at.to_string());
        json!({"type": self.event_type, "timestamp": timestamp, "data": self.data}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_and_knows_only_its_types() {
        let mut sorted = EVENT_TYPES;
        sorted.sort();
        assert_eq!(sorted, EVENT_TYPES, "binary search needs the list sorted");
        assert!(is_event_type("record.created"));
        assert!(is_event_type("dead_letter.parked"));
        assert!(!is_event_type("record.*"));
        assert!(!is_event_type("Record.Created"));
        let described: Vec<&str> = EVENT_TYPE_DESCRIPTIONS.iter().map(|(t, _)| *t).collect();
        assert_eq!(described, EVENT_TYPES, "every type described, in the catalogue's order");
    }

    #[test]
    fn the_body_is_type_timestamp_and_data() {
        let e = OutboundEvent::new("job.finished", 1_800_000_000, json!({"flow_id": "f"}));
        assert!(e.id.starts_with("msg_") && !e.id.contains('.'));
        let body: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(
            body,
            json!({"type": "job.finished", "timestamp": "2027-01-15T08:00:00Z", "data": {"flow_id": "f"}})
        );
    }
}
