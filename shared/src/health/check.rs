//! One connection's check: its connector's check request with a timeout, and the proactive
//! OAuth refresh.
//!
//! An OAuth token is refreshed when it expires within `token_refresh_ahead_secs` (default 15
//! minutes) and at least every `token_max_age_secs` (default 24 hours, so providers do not
//! revoke an idle refresh token). The refresh is forced by leaving the stored access token out
//! of the client's credentials: the check request then goes through the engine's own refresh,
//! and the callback writes the new access token and, when the provider rotated it, the new
//! refresh token back to Secrets Manager before the check uses them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;

use super::state::{CheckOutcome, HealthRecord};
use super::HealthDeps;
use crate::connector::auth::TokenCallbackError;
use crate::connector::definition::{AuthSpec, Grant, OAuth2Spec};
use crate::connector::Registry;
use crate::connector::{ClientSettings, ConnectorClient, ConnectorDefinition, Credentials, ErrorKind};
use crate::secrets::SecretStore;
use crate::store::connections::Connection;

/// What checking one connection found.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// `None`: nothing to check (no connector definition or check request, or a webhook-only
    /// connection without API credentials).
    pub outcome: Option<CheckOutcome>,
    /// The OAuth token was refreshed (and stored) during the check.
    pub token_refreshed: bool,
    /// The renewal pass over the provider's webhook subscriptions, after a successful check
    /// (`None`: not asked, no `webhooks.renewal`, or the check failed); `Some(Err)`: the
    /// subscriptions could not be listed.
    pub renewals: Option<Result<super::renewal::Renewals, String>>,
}

/// What one check needs: the health checker's and the API's (`POST
/// /v1/connections/{id}/test`) share this, so both run exactly the same check.
#[derive(Clone, Copy)]
pub struct CheckDeps<'a> {
    pub registry: &'a Registry,
    /// Where a connection's tenant connector is looked up when it is not built in.
    pub tenant_connectors: Option<&'a crate::store::tenant_connectors::TenantConnectorStore>,
    pub secrets: &'a Arc<SecretStore>,
    /// For check requests (the URL guard applies unless private networks are allowed).
    pub http: &'a reqwest::Client,
    pub check_timeout: Duration,
    pub allow_private_network: bool,
    pub token_refresh_ahead_secs: i64,
    pub token_max_age_secs: i64,
    /// Renew the connection's expiring webhook subscriptions after a successful check (the
    /// health checker does; the API's test of a connection does not).
    pub renew_subscriptions: bool,
}

impl HealthDeps {
    /// The check's share of the health checker's dependencies.
    pub fn check_deps(&self) -> CheckDeps<'_> {
        CheckDeps {
            registry: &self.registry,
            tenant_connectors: Some(&self.tenant_connectors),
            secrets: &self.secrets,
            http: &self.http,
            check_timeout: self.config.check_timeout,
            allow_private_network: self.config.allow_private_network,
            token_refresh_ahead_secs: self.config.token_refresh_ahead_secs,
            token_max_age_secs: self.config.token_max_age_secs,
            renew_subscriptions: true,
        }
    }
}

/// Checks one connection. Never fails: a problem is a failed outcome.
pub async fn check_connection(deps: CheckDeps<'_>, conn: &Connection, prev: &HealthRecord, now: i64) -> Checked {
    let started = Instant::now();
    let failed = |error: String, reauth: bool| Checked {
        outcome: Some(CheckOutcome::Failed {
            latency_ms: started.elapsed().as_millis() as u64,
            error,
            reauth,
        }),
        token_refreshed: false,
        renewals: None,
    };
    let not_checkable = Checked {
        outcome: None,
        token_refreshed: false,
        renewals: None,
    };
    // Webhook-only connections (a provider without a connector definition, or no API
    // credentials) have nothing to check: they are left alone rather than reported down.
    let def = match (deps.registry.get_shared(&conn.provider), deps.tenant_connectors) {
        (Some(def), _) => Some(def),
        (None, Some(store)) => match store.resolve(deps.registry, &conn.tenant, &conn.provider).await {
            Ok(def) => def,
            Err(e) => return failed(format!("the connection's connector could not be read: {e}"), false),
        },
        (None, None) => None,
    };
    let Some(def) = def else {
        return not_checkable;
    };
    if def.check.is_none() {
        return not_checkable;
    }
    let refreshed = Arc::new(AtomicBool::new(false));
    let mut credentials = Credentials::new();
    let mut has_api_credentials = false;
    if let Some(arn) = conn.secret_arn.as_deref() {
        let value = match deps.secrets.get_value(arn).await {
            Ok(v) => v,
            Err(e) => return failed(format!("the connection's secret could not be read: {e}"), false),
        };
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&value) else {
            return failed("the connection's secret is not a JSON object".into(), false);
        };
        has_api_credentials = map
            .keys()
            .any(|k| k != "webhook_secret" && k != "previous_webhook_secret");
        if let Some(spec) = oauth_in_use(&def, conn, &map) {
            if refresh_due(
                spec,
                &map,
                prev,
                now,
                deps.token_refresh_ahead_secs,
                deps.token_max_age_secs,
            ) {
                map.remove(&spec.access_token);
            }
            let store = deps.secrets.clone();
            let arn = arn.to_owned();
            let keys = (
                spec.access_token.clone(),
                spec.expires_at.clone(),
                spec.refresh_token.clone(),
            );
            let flag = refreshed.clone();
            credentials = Credentials::from_map(&map).on_token_refresh(move |update| {
                let store = store.clone();
                let arn = arn.clone();
                let (access_key, expires_key, refresh_key) = keys.clone();
                let flag = flag.clone();
                async move {
                    let mut fields = serde_json::Map::new();
                    fields.insert(access_key, update.access_token.expose_secret().into());
                    fields.insert(expires_key, update.expires_at.into());
                    if let Some(rotated) = &update.refresh_token {
                        fields.insert(refresh_key, rotated.expose_secret().into());
                    }
                    for (key, value) in &update.values {
                        fields.insert(key.clone(), value.as_str().into());
                    }
                    store
                        .merge_fields(&arn, fields)
                        .await
                        .map_err(|e| -> TokenCallbackError { Box::new(e) })?;
                    flag.store(true, Ordering::SeqCst);
                    Ok(())
                }
            });
        } else {
            credentials = Credentials::from_map(&map);
        }
    }
    let mut settings = ClientSettings::from_connection_config(&conn.config);
    settings.allow_private_network = deps.allow_private_network;
    settings.request_timeout = deps.check_timeout;
    settings.max_inline_retries = 0;
    settings.max_inline_wait = Duration::from_secs(1);
    let client = match ConnectorClient::new(def, settings, credentials, deps.http.clone()) {
        Ok(c) => c,
        Err(e) if e.kind == ErrorKind::Credentials && !has_api_credentials => return not_checkable,
        Err(e) => return failed(e.message.clone(), e.needs_reauth()),
    };
    // The engine's own timeout covers each request; this one bounds token refresh + pacing too.
    let limit = deps.check_timeout + Duration::from_secs(1);
    let outcome = match tokio::time::timeout(limit, client.check()).await {
        Ok(Ok(_report)) => CheckOutcome::Ok {
            latency_ms: started.elapsed().as_millis() as u64,
        },
        Ok(Err(e)) => CheckOutcome::Failed {
            latency_ms: started.elapsed().as_millis() as u64,
            error: e.message.clone(),
            reauth: e.needs_reauth(),
        },
        Err(_) => CheckOutcome::Failed {
            latency_ms: started.elapsed().as_millis() as u64,
            error: format!("no answer within {} s", limit.as_secs()),
            reauth: false,
        },
    };
    let renewals = match (
        &outcome,
        client.definition().webhooks.as_ref().and_then(|h| h.renewal.as_ref()),
    ) {
        (CheckOutcome::Ok { .. }, Some(spec)) if deps.renew_subscriptions => {
            let pass = super::renewal::renew_due(&client, spec, conn, &prev.subscriptions, now);
            Some(match tokio::time::timeout(limit * 4, pass).await {
                Ok(Ok(renewals)) => Ok(renewals),
                Ok(Err(e)) => Err(e.message.clone()),
                Err(_) => Err(format!("no end to the renewal pass within {} s", (limit * 4).as_secs())),
            })
        }
        _ => None,
    };
    Checked {
        outcome: Some(outcome),
        token_refreshed: refreshed.load(Ordering::SeqCst),
        renewals,
    }
}

/// The OAuth alternative the engine will choose for this connection, if it is OAuth: the one
/// named by the connection's `auth` config, else the first alternative whose credentials are
/// all present (the engine's rule).
/// The OAuth2 alternative a connection's client will use, if it uses OAuth2 (the same choice
/// as the engine's: the connection's `auth` setting, else the first whose credentials are present).
pub(crate) fn oauth_in_use<'a>(
    def: &'a ConnectorDefinition,
    conn: &Connection,
    secret: &serde_json::Map<String, Value>,
) -> Option<&'a OAuth2Spec> {
    let present = |k: &str| secret.get(k).is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
    let chosen = match conn.config.get("auth").and_then(Value::as_str) {
        Some(kind) => def.auth.iter().find(|a| a.kind() == kind),
        None => def
            .auth
            .iter()
            .find(|a| a.required_credentials().into_iter().all(present)),
    };
    match chosen {
        Some(AuthSpec::Oauth2(spec)) => Some(spec),
        _ => None,
    }
}

/// Whether the health checker should refresh the token now.
pub fn refresh_due(
    spec: &OAuth2Spec,
    secret: &serde_json::Map<String, Value>,
    prev: &HealthRecord,
    now: i64,
    ahead_secs: i64,
    max_age_secs: i64,
) -> bool {
    let has_access = secret
        .get(&spec.access_token)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_access {
        return false; // the first real request fetches one anyway
    }
    let expires_at = match secret.get(&spec.expires_at) {
        Some(Value::Number(n)) => n.as_f64().map(|f| f as i64),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
    .unwrap_or(0);
    let expiring = expires_at - now < ahead_secs;
    // Client-credentials grants have no refresh token to keep alive.
    let stale = spec.grant == Grant::RefreshToken && prev.token_refreshed_at.is_none_or(|t| now - t >= max_age_secs);
    expiring || stale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> OAuth2Spec {
        serde_yaml::from_str("{token_url: 'https://x/t'}").unwrap()
    }

    fn secret(expires_at: i64) -> serde_json::Map<String, Value> {
        serde_json::json!({"access_token": "a", "expires_at": expires_at, "refresh_token": "r"})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn tokens_are_refreshed_within_fifteen_minutes_of_expiry_and_at_least_daily() {
        let now = 1_000_000;
        let recent = HealthRecord {
            token_refreshed_at: Some(now - 3600),
            ..HealthRecord::default()
        };
        assert!(refresh_due(&spec(), &secret(now + 600), &recent, now, 900, 86_400));
        assert!(!refresh_due(&spec(), &secret(now + 1800), &recent, now, 900, 86_400));
        let old = HealthRecord {
            token_refreshed_at: Some(now - 86_400),
            ..HealthRecord::default()
        };
        assert!(refresh_due(&spec(), &secret(now + 1800), &old, now, 900, 86_400));
        assert!(refresh_due(
            &spec(),
            &secret(now + 1800),
            &HealthRecord::default(),
            now,
            900,
            86_400
        ));
    }
}
