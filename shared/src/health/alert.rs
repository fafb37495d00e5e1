//! Alerts on state changes: a Slack message (`chat.postMessage`) and/or a JSON POST to an
//! outbound webhook. One alert per transition: the runner sends one only after its conditional
//! write of the new state succeeded, so overlapping runs cannot both alert.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{json, Value};

use super::config::HealthConfig;
use super::state::Transition;
use super::HealthError;
use crate::secrets::SecretStore;

/// What an alert says.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub connection_id: String,
    pub tenant: String,
    pub provider: String,
    pub name: String,
    #[serde(flatten)]
    pub transition: Transition,
}

impl Alert {
    /// The one-line text people read.
    pub fn text(&self) -> String {
        let t = &self.transition;
        let mut text = format!(
            "Connection {} ({}, {}) is now {} (was {} since {}); circuit {}",
            self.name,
            self.connection_id,
            self.provider,
            t.to.name().to_uppercase(),
            t.from.name(),
            rfc3339(t.previous_since),
            t.circuit_to.name(),
        );
        if t.circuit_from != t.circuit_to {
            text = format!("{text} (was {})", t.circuit_from.name());
        }
        text.push_str(&format!(", at {}.", rfc3339(t.at)));
        if let Some(err) = &t.last_error {
            if t.to != super::ConnectionState::Healthy {
                text.push_str(&format!(" Last error: {err}"));
            }
        }
        text
    }

    /// The webhook body.
    pub fn body(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("alerts serialise: strings and numbers");
        v["type"] = json!("connection.state_changed");
        v["text"] = json!(self.text());
        v
    }
}

/// Any alert, as the targets send it: the Slack text, the webhook body, and the webhook's
/// `Idempotency-Key` (a retried delivery carries the same key).
#[derive(Debug, Clone)]
pub struct Notice {
    /// What it is about (a connection or flow id), for the log when delivery fails.
    pub subject: String,
    pub idempotency_key: String,
    pub text: String,
    pub body: Value,
}

impl From<&Alert> for Notice {
    fn from(alert: &Alert) -> Self {
        Notice {
            subject: alert.connection_id.clone(),
            idempotency_key: format!("{}:{}", alert.connection_id, alert.transition.at),
            text: alert.text(),
            body: alert.body(),
        }
    }
}

/// Where alerts go: the part of a function's configuration every alerting function shares
/// (`ALERT_SLACK_CHANNEL` with `ALERT_SLACK_SECRET_ARN`, `SLACK_API_URL`, `ALERT_WEBHOOK_URL`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertSettings {
    pub slack_channel: Option<String>,
    pub slack_secret_arn: Option<String>,
    pub slack_api_url: String,
    pub alert_webhook_url: Option<String>,
}

impl AlertSettings {
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, crate::config::ConfigError> {
        let optional = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let settings = Self {
            slack_channel: optional("ALERT_SLACK_CHANNEL"),
            slack_secret_arn: optional("ALERT_SLACK_SECRET_ARN"),
            slack_api_url: optional("SLACK_API_URL").unwrap_or_else(|| "https://slack.com/api".into()),
            alert_webhook_url: optional("ALERT_WEBHOOK_URL"),
        };
        if settings.slack_channel.is_some() != settings.slack_secret_arn.is_some() {
            return Err(crate::config::ConfigError::Missing {
                name: if settings.slack_channel.is_some() {
                    "ALERT_SLACK_SECRET_ARN"
                } else {
                    "ALERT_SLACK_CHANNEL"
                },
                hint: "Slack alerts need both the channel and the secret holding the bot token",
            });
        }
        Ok(settings)
    }

    pub fn is_empty(&self) -> bool {
        self.slack_channel.is_none() && self.alert_webhook_url.is_none()
    }
}

pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// A failure to deliver an alert.
#[derive(Debug, thiserror::Error)]
#[error("alert to {target} failed: {reason}")]
pub struct AlertError {
    pub target: &'static str,
    pub reason: String,
}

enum Target {
    Slack {
        api_url: String,
        channel: String,
        token: SecretString,
    },
    Webhook {
        url: String,
    },
}

/// Where alerts go (nowhere, when nothing is configured: transitions are still logged).
pub struct Alerter {
    targets: Vec<Target>,
    http: reqwest::Client,
    /// Slack allows about one message per second per channel: alerts go out one at a time.
    slack_turn: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self
            .targets
            .iter()
            .map(|t| match t {
                Target::Slack { .. } => "slack",
                Target::Webhook { .. } => "webhook",
            })
            .collect();
        f.debug_struct("Alerter").field("targets", &names).finish()
    }
}

const MAX_ATTEMPTS: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(5);

impl Alerter {
    /// No targets: alerts are only logged.
    pub fn none(http: reqwest::Client) -> Self {
        Self {
            targets: vec![],
            http,
            slack_turn: Default::default(),
        }
    }

    /// Slack `chat.postMessage` at `api_url` (`https://slack.com/api`).
    pub fn with_slack(mut self, api_url: &str, channel: &str, token: SecretString) -> Self {
        self.targets.push(Target::Slack {
            api_url: api_url.trim_end_matches('/').to_owned(),
            channel: channel.to_owned(),
            token,
        });
        self
    }

    /// A JSON POST per alert.
    pub fn with_webhook(mut self, url: &str) -> Self {
        self.targets.push(Target::Webhook { url: url.to_owned() });
        self
    }

    /// The targets the configuration names; the Slack bot token is read from its secret.
    pub async fn from_config(
        config: &HealthConfig,
        secrets: &SecretStore,
        http: reqwest::Client,
    ) -> Result<Self, HealthError> {
        Self::from_settings(&config.alerts, config.allow_private_network, secrets, http).await
    }

    /// The targets `config` names; the Slack bot token is read from its secret.
    pub async fn from_settings(
        config: &AlertSettings,
        allow_private_network: bool,
        secrets: &SecretStore,
        http: reqwest::Client,
    ) -> Result<Self, HealthError> {
        let mut alerter = Self::none(http);
        // Alert URLs get the connectors' guard: checked here, before any connection (the
        // guarded client's resolver then checks every address a host name resolves to).
        let guard = |what: &str, url: &str| -> Result<(), HealthError> {
            let parsed = reqwest::Url::parse(url)
                .map_err(|_| HealthError::Config(format!("the {what} is not an absolute URL")))?;
            crate::connector::url_guard::check_static(&parsed, false, allow_private_network)
                .map_err(|e| HealthError::Config(format!("the {what} is refused: {e}")))
        };
        if config.slack_channel.is_some() {
            guard("Slack API URL", &config.slack_api_url)?;
        }
        if let Some(url) = &config.alert_webhook_url {
            guard("alert webhook URL", url)?;
        }
        if let (Some(channel), Some(arn)) = (&config.slack_channel, &config.slack_secret_arn) {
            let value = secrets.get_value(arn).await?;
            let token = serde_json::from_str::<Value>(&value)
                .ok()
                .and_then(|v| v.get("bot_token").and_then(Value::as_str).map(str::to_owned))
                .ok_or_else(|| HealthError::Config(format!("the Slack alert secret {arn} has no bot_token field")))?;
            alerter = alerter.with_slack(&config.slack_api_url, channel, SecretString::from(token));
        }
        if let Some(url) = &config.alert_webhook_url {
            alerter = alerter.with_webhook(url);
        }
        Ok(alerter)
    }

    pub fn is_configured(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Sends the alert to every target; the first failure is returned after all were tried.
    pub async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.send_notice(&Notice::from(alert)).await
    }

    /// Sends any notice to every target; the first failure is returned after all were tried.
    pub async fn send_notice(&self, alert: &Notice) -> Result<(), AlertError> {
        let mut first_error = None;
        for target in &self.targets {
            let result = match target {
                Target::Slack {
                    api_url,
                    channel,
                    token,
                } => self.slack(api_url, channel, token, alert).await,
                Target::Webhook { url } => self.webhook(url, alert).await,
            };
            if let Err(e) = result {
                tracing::warn!(message = "Alert not delivered.", subject = %alert.subject, error = %e);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn slack(
        &self,
        api_url: &str,
        channel: &str,
        token: &SecretString,
        alert: &Notice,
    ) -> Result<(), AlertError> {
        let fail = |reason: String| AlertError {
            target: "slack",
            reason,
        };
        let _turn = self.slack_turn.lock().await;
        let body = json!({"channel": channel, "text": alert.text, "unfurl_links": false});
        for attempt in 1..=MAX_ATTEMPTS {
            let resp = self
                .http
                .post(format!("{api_url}/chat.postMessage"))
                .bearer_auth(token.expose_secret())
                .json(&body)
                .send()
                .await
                .map_err(|e| fail(format!("request failed: {}", without_url(&e))))?;
            let status = resp.status().as_u16();
            let wait = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1));
            let answer: Value = resp.json().await.unwrap_or(Value::Null);
            if status == 429 && attempt < MAX_ATTEMPTS {
                tokio::time::sleep(wait.min(MAX_WAIT)).await;
                continue;
            }
            if status == 200 && answer.get("ok") == Some(&Value::Bool(true)) {
                return Ok(());
            }
            let code = answer.get("error").and_then(Value::as_str).unwrap_or("no error code");
            return Err(fail(format!(
                "HTTP {status}: {}",
                crate::connector::errors::short_text(code, 64)
            )));
        }
        Err(fail("rate limited".into()))
    }

    async fn webhook(&self, url: &str, alert: &Notice) -> Result<(), AlertError> {
        let fail = |reason: String| AlertError {
            target: "webhook",
            reason,
        };
        let idempotency = &alert.idempotency_key;
        for attempt in 1..=MAX_ATTEMPTS {
            let resp = self
                .http
                .post(url)
                .header("Idempotency-Key", idempotency)
                .json(&alert.body)
                .send()
                .await;
            match resp {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if (r.status().is_server_error() || r.status().as_u16() == 429) && attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                }
                Ok(r) => return Err(fail(format!("HTTP {}", r.status().as_u16()))),
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(message = "Alert webhook attempt failed.", error = %without_url(&e));
                }
                Err(e) => return Err(fail(format!("request failed: {}", without_url(&e)))),
            }
        }
        Err(fail("gave up".into()))
    }
}

/// reqwest errors can quote the URL (which may carry a token in its path); keep the kind only.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "transport error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CircuitState, ConnectionState};

    /// Outbound safety: an alert webhook at a private, loopback or metadata address (in any of
    /// its spellings) is refused when the health checker starts, before any connection.
    #[tokio::test]
    async fn alert_urls_at_private_addresses_are_refused_before_any_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let secrets = SecretStore::new(
            aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::Config::builder()
                    .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                    .build(),
            ),
            Duration::ZERO,
        );
        let http = crate::connector::url_guard::http_client(Duration::from_secs(2), false).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/alerts"),
            format!("http://[::ffff:127.0.0.1]:{port}/alerts"),
            format!("http://0x7f000001:{port}/alerts"),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "http://10.0.0.8/alerts".to_string(),
        ] {
            let config = super::super::HealthConfig::from_lookup(|k| match k {
                "TABLE_NAME" => Some("t".into()),
                "ALERT_WEBHOOK_URL" => Some(url.clone()),
                _ => None,
            })
            .unwrap();
            match Alerter::from_config(&config, &secrets, http.clone()).await {
                Err(HealthError::Config(reason)) => assert!(reason.contains("refused"), "{url}: {reason}"),
                other => panic!("{url}: expected a refusal, got {:?}", other.map(|a| a.is_configured())),
            }
            let allowed = super::super::HealthConfig::from_lookup(|k| match k {
                "TABLE_NAME" => Some("t".into()),
                "ALERT_WEBHOOK_URL" => Some(url.clone()),
                "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
                _ => None,
            })
            .unwrap();
            assert!(
                Alerter::from_config(&allowed, &secrets, http.clone())
                    .await
                    .unwrap()
                    .is_configured(),
                "{url}: allowed where the deployment allows private networks"
            );
        }
        assert!(
            matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "no connection was attempted"
        );
    }

    #[test]
    fn the_text_says_what_changed_since_when_and_the_last_error() {
        let alert = Alert {
            connection_id: "conn_1".into(),
            tenant: "acme".into(),
            provider: "hubspot".into(),
            name: "CRM".into(),
            transition: Transition {
                from: ConnectionState::Degraded,
                to: ConnectionState::Down,
                circuit_from: CircuitState::Closed,
                circuit_to: CircuitState::Open,
                previous_since: 1_763_800_000,
                at: 1_763_800_600,
                last_error: Some("GET /crm/v3/objects/contacts failed with HTTP 500".into()),
            },
        };
        let text = alert.text();
        assert!(
            text.contains("is now DOWN (was degraded since 2025-11-22T08:26:40Z)"),
            "{text}"
        );
        assert!(
            text.contains("circuit open (was closed)") && text.contains("HTTP 500"),
            "{text}"
        );
        let body = alert.body();
        assert_eq!(body["type"], "connection.state_changed");
        assert_eq!(body["to"], "down");
        assert_eq!(body["connection_id"], "conn_1");
    }
}
