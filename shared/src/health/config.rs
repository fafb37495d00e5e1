//! The health checker's settings, read once per cold start.

use std::time::Duration;

use crate::config::ConfigError;

use super::state::HealthPolicy;

/// Settings of the health checker.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Checks in flight at once (`HEALTH_CONCURRENCY`, default 32).
    pub concurrency: usize,
    /// Longest wait for one check, token refresh included (`HEALTH_CHECK_TIMEOUT_SECS`, default 10).
    pub check_timeout: Duration,
    /// Stop starting checks when less than this is left of the invocation
    /// (`HEALTH_TIME_RESERVE_SECS`, default 15; at least the check timeout is sensible).
    pub time_reserve: Duration,
    /// Connections per DynamoDB page (`HEALTH_PAGE_SIZE`, default 100).
    pub page_size: i32,
    /// Allow check requests to loopback and private networks (`ALLOW_PRIVATE_NETWORK`, default
    /// false: local development and tests only).
    pub allow_private_network: bool,
    /// Refresh an OAuth token expiring within this many seconds (`TOKEN_REFRESH_AHEAD_SECS`, default 900).
    pub token_refresh_ahead_secs: i64,
    /// Refresh an OAuth token at least this often, so idle refresh tokens are not revoked
    /// (`TOKEN_MAX_AGE_SECS`, default 86400).
    pub token_max_age_secs: i64,
    /// State machine and circuit breaker thresholds (`CIRCUIT_FAILURE_THRESHOLD` 3,
    /// `CIRCUIT_WINDOW` 10, `CIRCUIT_FAILURE_RATIO` 0.5, `CIRCUIT_MIN_SAMPLES` 6,
    /// `CIRCUIT_COOL_DOWN_SECS` 300, `CIRCUIT_REAUTH_COOL_DOWN_SECS` 3600, `HEALTH_SLOW_MS` 3000,
    /// `HEALTH_RECOVERY_SUCCESSES` 3).
    pub policy: HealthPolicy,
    /// Where alerts go: Slack (`ALERT_SLACK_CHANNEL` with `ALERT_SLACK_SECRET_ARN`, whose JSON
    /// holds `bot_token`; `SLACK_API_URL`, default `https://slack.com/api`) and/or a webhook
    /// (`ALERT_WEBHOOK_URL`).
    pub alerts: super::alert::AlertSettings,
    /// Where `connection.state_changed` events for webhook subscriptions go (`SYNC_QUEUE_URL`;
    /// unset: the health checker publishes none).
    pub sync_queue_url: Option<String>,
}

impl HealthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let alerts = super::alert::AlertSettings::from_lookup(&lookup)?;
        let optional = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let config = Self {
            table_name: optional("TABLE_NAME").ok_or(ConfigError::Missing {
                name: "TABLE_NAME",
                hint: "the DynamoDB table name (the SAM template sets it)",
            })?,
            concurrency: parsed(&lookup, "HEALTH_CONCURRENCY", 32usize)?.max(1),
            check_timeout: Duration::from_secs(parsed(&lookup, "HEALTH_CHECK_TIMEOUT_SECS", 10)?),
            time_reserve: Duration::from_secs(parsed(&lookup, "HEALTH_TIME_RESERVE_SECS", 15)?),
            page_size: parsed(&lookup, "HEALTH_PAGE_SIZE", 100i32)?.clamp(1, 1000),
            allow_private_network: parsed(&lookup, "ALLOW_PRIVATE_NETWORK", false)?,
            token_refresh_ahead_secs: parsed(&lookup, "TOKEN_REFRESH_AHEAD_SECS", 900)?,
            token_max_age_secs: parsed(&lookup, "TOKEN_MAX_AGE_SECS", 86_400)?,
            policy: policy_from_lookup(&lookup)?,
            alerts,
            sync_queue_url: optional("SYNC_QUEUE_URL"),
        };
        Ok(config)
    }
}

/// The circuit and state policy (`CIRCUIT_*`, `HEALTH_SLOW_MS`, `HEALTH_RECOVERY_SUCCESSES`):
/// read the same way by the health checker and by the API, whose `POST .../test` records its
/// result as a health run would.
pub fn policy_from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<HealthPolicy, ConfigError> {
    let d = HealthPolicy::default();
    let policy = HealthPolicy {
        failure_threshold: parsed(lookup, "CIRCUIT_FAILURE_THRESHOLD", d.failure_threshold)?.max(1),
        window: parsed(lookup, "CIRCUIT_WINDOW", d.window)?.max(1),
        failure_ratio: parsed(lookup, "CIRCUIT_FAILURE_RATIO", d.failure_ratio)?,
        min_samples: parsed(lookup, "CIRCUIT_MIN_SAMPLES", d.min_samples)?,
        cool_down_secs: parsed(lookup, "CIRCUIT_COOL_DOWN_SECS", d.cool_down_secs)?,
        reauth_cool_down_secs: parsed(lookup, "CIRCUIT_REAUTH_COOL_DOWN_SECS", d.reauth_cool_down_secs)?,
        slow_ms: parsed(lookup, "HEALTH_SLOW_MS", d.slow_ms)?,
        recovery_successes: parsed(lookup, "HEALTH_RECOVERY_SUCCESSES", d.recovery_successes)?.max(1),
    };
    if !(0.0..=1.0).contains(&policy.failure_ratio) {
        return Err(ConfigError::Invalid {
            name: "CIRCUIT_FAILURE_RATIO",
            value: policy.failure_ratio.to_string(),
            reason: "must be between 0 and 1".into(),
        });
    }
    Ok(policy)
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

    #[test]
    fn thresholds_are_configurable_and_half_a_slack_setup_is_refused() {
        let cfg = HealthConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some("t".into()),
            "CIRCUIT_FAILURE_THRESHOLD" => Some("5".into()),
            "CIRCUIT_COOL_DOWN_SECS" => Some("60".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.policy.failure_threshold, 5);
        assert_eq!(cfg.policy.cool_down_secs, 60);
        assert_eq!(cfg.concurrency, 32);
        let err = HealthConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some("t".into()),
            "ALERT_SLACK_CHANNEL" => Some("#alerts".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("ALERT_SLACK_SECRET_ARN"), "{err}");
    }
}
