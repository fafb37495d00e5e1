//! Typed configuration read once per cold start from the environment.
//!
//! Every function reads the variables it needs here, so a missing or malformed variable fails the
//! cold start with a message naming it, instead of failing the first event.

use std::time::Duration;

/// A configuration problem found at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is not set: {hint}")]
    Missing { name: &'static str, hint: &'static str },
    #[error("environment variable {name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Settings of the webhook receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// The DynamoDB table holding connections and inbound events (`TABLE_NAME`).
    pub table_name: String,
    /// The SQS queue that connector-sync consumes (`SYNC_QUEUE_URL`).
    pub sync_queue_url: String,
    /// Accepted clock difference for timestamped signatures (`WEBHOOK_TOLERANCE_SECS`, default 300).
    pub tolerance_secs: u64,
    /// Largest body accepted, in bytes (`WEBHOOK_MAX_BODY_BYTES`, default 256 KiB).
    pub max_body_bytes: usize,
    /// How long a looked-up connection is reused in a warm process (`CONNECTION_CACHE_TTL_SECS`, default 60).
    pub connection_cache_ttl: Duration,
    /// How long a fetched webhook secret is reused (`SECRET_CACHE_TTL_SECS`, default 300).
    pub secret_cache_ttl: Duration,
    /// How long a stored inbound event is kept before DynamoDB's TTL removes it (`EVENT_TTL_DAYS`, default 7).
    /// It bounds the deduplication window too.
    pub event_ttl: Duration,
}

impl ReceiverConfig {
    /// Reads the receiver's settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the receiver's settings through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required(
                &lookup,
                "TABLE_NAME",
                "the DynamoDB table name (the SAM template sets it)",
            )?,
            sync_queue_url: required(
                &lookup,
                "SYNC_QUEUE_URL",
                "the sync queue URL (the SAM template sets it)",
            )?,
            tolerance_secs: parsed(&lookup, "WEBHOOK_TOLERANCE_SECS", 300)?,
            max_body_bytes: parsed(&lookup, "WEBHOOK_MAX_BODY_BYTES", 256 * 1024)?,
            connection_cache_ttl: Duration::from_secs(parsed(&lookup, "CONNECTION_CACHE_TTL_SECS", 60)?),
            secret_cache_ttl: Duration::from_secs(parsed(&lookup, "SECRET_CACHE_TTL_SECS", 300)?),
            event_ttl: Duration::from_secs(parsed::<u64>(&lookup, "EVENT_TTL_DAYS", 7)? * 86_400),
        })
    }
}

/// Settings of connector-sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// The sync queue, for continuations (`SYNC_QUEUE_URL`).
    pub sync_queue_url: String,
    /// Allow connector requests to loopback and private networks (`ALLOW_PRIVATE_NETWORK`,
    /// default false: only for local development and tests).
    pub allow_private_network: bool,
    /// Stop and hand over to a continuation when less than this is left (`SYNC_TIME_RESERVE_SECS`, default 30).
    pub time_reserve: Duration,
    /// Per-request timeout towards SaaS APIs (`CONNECTOR_REQUEST_TIMEOUT_SECS`, default 30).
    pub request_timeout: Duration,
    /// How long a connector client (and its rate-limit pacer) is reused (`CONNECTION_CACHE_TTL_SECS`, default 60).
    pub connection_cache_ttl: Duration,
    /// An inbound event stored this long without connector-sync taking it is sent again by the
    /// dispatch tick (`PENDING_EVENT_SWEEP_SECS`, default 900): the receiver stored it but could
    /// neither enqueue nor remove it. Longer than any healthy queue backlog, since an event still
    /// waiting in the queue would run twice.
    pub pending_event_sweep: Duration,
    /// Share each connection's rate budget between concurrent invocations through the table
    /// (`SHARED_RATE_BUDGET`, default true); false: each process paces alone.
    pub shared_rate_budget: bool,
    /// Where data-quality anomalies are alerted (the health checker's `ALERT_*` variables);
    /// empty: anomalies are only logged and kept on the flow.
    pub alerts: crate::health::alert::AlertSettings,
    /// How outbound webhook deliveries are made (`WEBHOOK_*`).
    pub deliveries: crate::subscriptions::DeliveryConfig,
}

impl SyncConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required(
                &lookup,
                "TABLE_NAME",
                "the DynamoDB table name (the SAM template sets it)",
            )?,
            sync_queue_url: required(
                &lookup,
                "SYNC_QUEUE_URL",
                "the sync queue URL (the SAM template sets it)",
            )?,
            allow_private_network: parsed(&lookup, "ALLOW_PRIVATE_NETWORK", false)?,
            time_reserve: Duration::from_secs(parsed(&lookup, "SYNC_TIME_RESERVE_SECS", 30)?),
            request_timeout: Duration::from_secs(parsed(&lookup, "CONNECTOR_REQUEST_TIMEOUT_SECS", 30)?),
            connection_cache_ttl: Duration::from_secs(parsed(&lookup, "CONNECTION_CACHE_TTL_SECS", 60)?),
            pending_event_sweep: Duration::from_secs(parsed(&lookup, "PENDING_EVENT_SWEEP_SECS", 900)?),
            shared_rate_budget: parsed(&lookup, "SHARED_RATE_BUDGET", true)?,
            alerts: crate::health::alert::AlertSettings::from_lookup(&lookup)?,
            deliveries: crate::subscriptions::DeliveryConfig::from_lookup(&lookup)?,
        })
    }
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    hint: &'static str,
) -> Result<String, ConfigError> {
    match lookup(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing { name, hint }),
    }
}

fn parsed<T>(lookup: &impl Fn(&str) -> Option<String>, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match lookup(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            value: v,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn missing_table_name_is_named_in_the_error() {
        let err = ReceiverConfig::from_lookup(lookup(&[("SYNC_QUEUE_URL", "http://q")])).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { name: "TABLE_NAME", .. }));
        assert!(err.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn defaults_apply_when_optional_variables_are_absent() {
        let cfg = ReceiverConfig::from_lookup(lookup(&[("TABLE_NAME", "t"), ("SYNC_QUEUE_URL", "q")])).unwrap();
        assert_eq!(cfg.tolerance_secs, 300);
        assert_eq!(cfg.max_body_bytes, 262_144);
        assert_eq!(cfg.event_ttl, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn malformed_number_is_rejected_with_the_variable_and_value() {
        let err = ReceiverConfig::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("SYNC_QUEUE_URL", "q"),
            ("WEBHOOK_TOLERANCE_SECS", "five minutes"),
        ]))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("WEBHOOK_TOLERANCE_SECS") && msg.contains("five minutes"),
            "{msg}"
        );
    }
}
