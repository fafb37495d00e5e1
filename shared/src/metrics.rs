//! Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per line on
//! stdout, which CloudWatch Logs turns into metrics without an API call (no `PutMetricData`,
//! no extra latency, no IAM action). Every function emits them through this module only.
//!
//! ```
//! use switchyard::metrics::{Metrics, Unit};
//! Metrics::new("webhook-receiver")
//!     .dimension("Reason", "bad_signature")
//!     .count("WebhooksRejected", 1)
//!     .emit();
//! ```
//!
//! Namespace `Switchyard`; every line carries the `Service` dimension (the function's role),
//! plus at most a few low-cardinality ones (`Reason`, `Class`, `FlowId`, `ConnectionId`).

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Switchyard";

/// Whether lines are written: inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set) or when
/// `SWITCHYARD_EMF=1`.
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
            || std::env::var("SWITCHYARD_EMF").is_ok_and(|v| v == "1")
    })
}

/// EMF units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    /// A plain number (a state code).
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// One EMF line under construction: dimensions (shared by its values) and values.
#[derive(Debug, Clone)]
#[must_use = "a metric line does nothing until emitted"]
pub struct Metrics {
    dimensions: Vec<(&'static str, String)>,
    values: Vec<(&'static str, f64, Unit)>,
    properties: Vec<(&'static str, Value)>,
}

impl Metrics {
    /// A line for `service` (`webhook-receiver`, `connector-sync`, `health-checker`, ...).
    pub fn new(service: &str) -> Self {
        Self {
            dimensions: vec![("Service", service.to_owned())],
            values: Vec::new(),
            properties: Vec::new(),
        }
    }

    /// Adds a dimension (keep them low-cardinality: ids of connections and flows at most).
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    /// Adds a count.
    pub fn count(self, name: &'static str, n: u64) -> Self {
        self.value(name, n as f64, Unit::Count)
    }

    /// Adds a duration in milliseconds.
    pub fn millis(self, name: &'static str, ms: f64) -> Self {
        self.value(name, ms, Unit::Milliseconds)
    }

    pub fn value(mut self, name: &'static str, v: f64, unit: Unit) -> Self {
        self.values.push((name, v, unit));
        self
    }

    /// Adds a property: searchable in Logs Insights, not a metric (ids of jobs, say).
    pub fn property(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.properties.push((name, value.into()));
        self
    }

    /// The EMF JSON object for this line, stamped `timestamp_ms`.
    pub fn render(&self, timestamp_ms: i64) -> Value {
        let mut root = Map::new();
        let dims: Vec<&str> = self.dimensions.iter().map(|(k, _)| *k).collect();
        // Also roll every value up to the service alone, so alarms can watch a total
        // (parked messages of any class, say) without listing every dimension value.
        let dimension_sets: Vec<Vec<&str>> = if dims.len() > 1 {
            vec![dims.clone(), vec!["Service"]]
        } else {
            vec![dims.clone()]
        };
        let metrics: Vec<Value> = self
            .values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dimension_sets,
                    "Metrics": metrics,
                }]
            }),
        );
        for (k, v) in &self.properties {
            root.insert((*k).to_owned(), v.clone());
        }
        for (k, v) in &self.dimensions {
            root.insert((*k).to_owned(), Value::String(v.clone()));
        }
        for (name, v, _) in &self.values {
            root.insert((*name).to_owned(), json!(v));
        }
        Value::Object(root)
    }

    /// Writes the line to stdout (CloudWatch Logs picks it up) when running in Lambda (or with
    /// `SWITCHYARD_EMF=1`): the CLI and tests call the same handlers and keep a clean stdout.
    /// Lines without values are dropped.
    pub fn emit(self) {
        if self.values.is_empty() || !enabled() {
            return;
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        println!("{}", self.render(now_ms));
    }
}

/// The webhook receiver's names, so every call site says the same thing.
pub mod webhook {
    use super::Metrics;

    const SERVICE: &str = "webhook-receiver";

    /// A delivery refused with a 4xx: `reason` is the log's `outcome` (`bad_signature`, ...).
    pub fn rejected(reason: &'static str) {
        Metrics::new(SERVICE)
            .dimension("Reason", reason)
            .count("WebhooksRejected", 1)
            .emit();
    }

    /// A delivery stored and enqueued: its new events and its duplicates.
    pub fn accepted(accepted: usize, duplicates: usize) {
        Metrics::new(SERVICE)
            .count("WebhooksAccepted", accepted as u64)
            .count("WebhooksDuplicate", duplicates as u64)
            .emit();
    }

    /// A rejection not written to the webhook log: its connection's allowance for the minute
    /// was spent (see `receiver::webhook_log`).
    pub fn log_skipped() {
        Metrics::new(SERVICE).count("WebhookLogSkipped", 1).emit();
    }

    /// Time spent on one request.
    pub fn duration(ms: f64) {
        Metrics::new(SERVICE).millis("HandlerDuration", ms).emit();
    }
}

/// connector-sync's per-flow record counts.
pub fn records(flow_id: &str, read: u64, written: u64, unchanged: u64, failed: u64) {
    Metrics::new("connector-sync")
        .dimension("FlowId", flow_id.to_owned())
        .count("RecordsRead", read)
        .count("RecordsWritten", written)
        .count("RecordsUnchanged", unchanged)
        .count("RecordsFailed", failed)
        .emit();
}

/// Records of a two-way link dropped as the echo of our own write (connector-sync); nothing
/// is emitted for none.
pub fn echoes(flow_id: &str, echoes: u64) {
    if echoes > 0 {
        Metrics::new("connector-sync")
            .dimension("FlowId", flow_id.to_owned())
            .count("RecordsEchoDropped", echoes)
            .emit();
    }
}

/// Data-quality anomalies (connector-sync).
pub mod quality {
    use super::Metrics;

    /// An anomaly episode opened on `metric` (`records`, `reject_rate`, `duration` by
    /// connector-sync; `inbound_events` by the health checker).
    pub fn anomaly(service: &'static str, metric: &'static str) {
        Metrics::new(service)
            .dimension("Metric", metric)
            .count("QualityAnomalies", 1)
            .emit();
    }
}

/// Events that could not be handed to the delivery queue (the subscription lookup or the
/// send failed): not delivered.
pub fn webhook_events_lost(n: u64) {
    Metrics::new("webhooks-out").count("WebhookEventsLost", n).emit();
}

/// Deliveries the queue refused that were kept in the outbox for the dispatch tick.
pub fn webhook_events_kept(n: u64) {
    Metrics::new("webhooks-out").count("WebhookEventsKept", n).emit();
}

/// One outbound webhook attempt's result: `succeeded`, `retried`, `failed` (attempts used up
/// or the endpoint disabled) or `disabled` (this failure disabled the endpoint).
pub fn webhook_delivery(outcome: &'static str) {
    Metrics::new("connector-sync")
        .dimension("Outcome", outcome)
        .count("WebhookDeliveries", 1)
        .emit();
}

/// A failed sync message's fate, by error class (`transient`, `rate_limited`, `reauth`,
/// `permanent`): `retried` with a delay, or `parked` as a dead letter.
pub fn retry_outcome(service: &str, class: &str, parked: bool) {
    Metrics::new(service)
        .dimension("Class", class.to_owned())
        .count(if parked { "MessagesParked" } else { "MessagesRetried" }, 1)
        .emit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_its_dimensions_and_metrics_and_carries_their_values() {
        let line = Metrics::new("webhook-receiver")
            .dimension("Reason", "bad_signature")
            .count("WebhooksRejected", 1)
            .millis("Duration", 2.5)
            .property("ConnectionId", "conn_1")
            .render(1_700_000_000_000);
        let cw = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(cw["Namespace"], "Switchyard");
        assert_eq!(
            cw["Dimensions"],
            json!([["Service", "Reason"], ["Service"]]),
            "each value is also rolled up to the service alone"
        );
        let plain = Metrics::new("connector-sync").count("X", 1).render(0);
        assert_eq!(
            plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service"]])
        );
        assert_eq!(
            cw["Metrics"],
            json!([{"Name": "WebhooksRejected", "Unit": "Count"}, {"Name": "Duration", "Unit": "Milliseconds"}])
        );
        assert_eq!(line["Service"], "webhook-receiver");
        assert_eq!(line["Reason"], "bad_signature");
        assert_eq!(line["WebhooksRejected"], 1.0);
        assert_eq!(line["Duration"], 2.5);
        assert_eq!(line["ConnectionId"], "conn_1");
    }
}
