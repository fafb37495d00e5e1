//! Bearer-token authentication, the per-token rate limit, and the OAuth token endpoint.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::errors::{self, HubspotError};
use super::{Budget, Hubspot};
use crate::rate_limit::RateLimit;
use crate::timestamp::correlation_id;

/// The OAuth app and the refresh tokens the fake accepts.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Refresh tokens accepted at start.
    pub refresh_tokens: Vec<String>,
    /// Issue a new refresh token on every refresh and stop accepting the old one. (HubSpot
    /// keeps refresh tokens; providers that rotate them are modelled with this.)
    pub rotate_refresh_tokens: bool,
    /// Lifetime of issued access tokens (`expires_in`); HubSpot's is 30 minutes.
    pub access_token_ttl: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            refresh_tokens: vec!["fake-refresh-token".into()],
            rotate_refresh_tokens: false,
            access_token_ttl: Duration::from_secs(1800),
        }
    }
}

/// The result of checking a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid,
    Expired { ago: Duration },
    Unknown,
}

/// Accepted bearer and refresh tokens.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    static_tokens: HashSet<String>,
    /// Issued access tokens and when they expire.
    access: HashMap<String, Instant>,
    issued: Vec<String>,
    refresh: HashSet<String>,
    counter: u64,
}

impl Tokens {
    pub(crate) fn new(static_tokens: &[String], refresh: &[String]) -> Self {
        Self {
            static_tokens: static_tokens.iter().cloned().collect(),
            refresh: refresh.iter().cloned().collect(),
            ..Self::default()
        }
    }

    pub(crate) fn add_static(&mut self, token: &str) {
        self.static_tokens.insert(token.to_owned());
    }

    pub(crate) fn revoke(&mut self, token: &str) {
        self.static_tokens.remove(token);
        self.access.remove(token);
    }

    pub(crate) fn expire(&mut self, token: &str, now: Instant) {
        if let Some(expiry) = self.access.get_mut(token) {
            *expiry = now;
        }
    }

    pub(crate) fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }

    pub(crate) fn refresh_tokens(&self) -> Vec<String> {
        let mut tokens: Vec<String> = self.refresh.iter().cloned().collect();
        tokens.sort();
        tokens
    }

    pub(crate) fn check(&self, token: &str, now: Instant) -> TokenCheck {
        if self.static_tokens.contains(token) {
            return TokenCheck::Valid;
        }
        match self.access.get(token) {
            Some(expiry) if *expiry > now => TokenCheck::Valid,
            Some(expiry) => TokenCheck::Expired {
                ago: now.saturating_duration_since(*expiry),
            },
            None => TokenCheck::Unknown,
        }
    }

    /// Exchanges a refresh token for a new access token (and a new refresh token when
    /// rotating). `None` when the refresh token is unknown.
    fn refresh(&mut self, refresh_token: &str, config: &OAuthConfig, now: Instant) -> Option<(String, String)> {
        if !self.refresh.contains(refresh_token) {
            return None;
        }
        self.counter += 1;
        let nonce: u64 = rand::random();
        let access = format!("fake-access-{}-{nonce:016x}", self.counter);
        self.access.insert(access.clone(), now + config.access_token_ttl);
        self.issued.push(access.clone());
        let refresh = if config.rotate_refresh_tokens {
            self.refresh.remove(refresh_token);
            let rotated = format!("fake-refresh-{}-{:016x}", self.counter, rand::random::<u64>());
            self.refresh.insert(rotated.clone());
            rotated
        } else {
            refresh_token.to_owned()
        };
        Some((access, refresh))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn rate_limit_headers(response: &mut Response, limit: &RateLimit, remaining: u32) {
    let headers = response.headers_mut();
    headers.insert("x-hubspot-ratelimit-max", HeaderValue::from(limit.limit));
    headers.insert("x-hubspot-ratelimit-remaining", HeaderValue::from(remaining));
    let interval_ms = u64::try_from(limit.window.as_millis()).unwrap_or(u64::MAX);
    headers.insert(
        "x-hubspot-ratelimit-interval-milliseconds",
        HeaderValue::from(interval_ms),
    );
}

/// Checks the bearer token, then the token's rate budget; adds the rate-limit headers.
pub(crate) async fn authenticate(State(hub): State<Arc<Hubspot>>, req: Request, next: Next) -> Response {
    let Some(token) = bearer(req.headers()).map(str::to_owned) else {
        return errors::unauthorized().into_response();
    };
    match hub.check_token(&token) {
        TokenCheck::Valid => {}
        TokenCheck::Expired { ago } => return errors::expired(ago.as_secs()).into_response(),
        TokenCheck::Unknown => return errors::unauthorized().into_response(),
    }
    let search = req.uri().path().ends_with("/search");
    match hub.admit(&token, search) {
        Budget::Allowed { limit, remaining } => {
            let mut response = next.run(req).await;
            rate_limit_headers(&mut response, &limit, remaining);
            response
        }
        Budget::Limited { limit, policy } => {
            let mut response = errors::rate_limited(policy).into_response();
            rate_limit_headers(&mut response, &limit, 0);
            response
        }
    }
}

/// An OAuth error: HubSpot's `status` code word plus the RFC 6749 `error`.
fn oauth_error(status: &str, error: &str, message: &str) -> HubspotError {
    HubspotError {
        status: StatusCode::BAD_REQUEST,
        body: json!({
            "status": status,
            "message": message,
            "correlationId": correlation_id(),
            "error": error,
            "error_description": message,
        }),
    }
}

/// `POST /oauth/v1/token` with a form body; only `grant_type=refresh_token` is supported.
pub(crate) async fn token(State(hub): State<Arc<Hubspot>>, body: Bytes) -> Result<Response, HubspotError> {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "refresh_token" {
        return Err(oauth_error(
            "BAD_GRANT_TYPE",
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        ));
    }
    if field("client_id") != hub.oauth.client_id {
        return Err(oauth_error(
            "BAD_CLIENT_ID",
            "invalid_client",
            "missing or unknown client id",
        ));
    }
    if field("client_secret") != hub.oauth.client_secret {
        return Err(oauth_error(
            "BAD_CLIENT_SECRET",
            "invalid_client",
            "missing or invalid client secret",
        ));
    }
    let issued = super::lock(&hub.tokens).refresh(field("refresh_token"), &hub.oauth, Instant::now());
    let Some((access_token, refresh_token)) = issued else {
        return Err(oauth_error(
            "BAD_REFRESH_TOKEN",
            "invalid_grant",
            "missing or invalid refresh token",
        ));
    };
    Ok(Json(json!({
        "token_type": "bearer",
        "access_token": access_token,
        "refresh_token": refresh_token,
        "expires_in": hub.oauth.access_token_ttl.as_secs(),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_rotates_only_when_configured() {
        let now = Instant::now();
        let mut tokens = Tokens::new(&[], &["rt".into()]);
        let keep = OAuthConfig::default();
        let (_, same) = tokens.refresh("rt", &keep, now).unwrap();
        assert_eq!(same, "rt");
        let rotate = OAuthConfig {
            rotate_refresh_tokens: true,
            ..OAuthConfig::default()
        };
        let (access, rotated) = tokens.refresh("rt", &rotate, now).unwrap();
        assert_ne!(rotated, "rt");
        assert!(tokens.refresh("rt", &rotate, now).is_none());
        assert_eq!(tokens.check(&access, now), TokenCheck::Valid);
    }

    #[test]
    fn access_tokens_expire() {
        let now = Instant::now();
        let mut tokens = Tokens::new(&[], &["rt".into()]);
        let config = OAuthConfig {
            access_token_ttl: Duration::from_secs(60),
            ..OAuthConfig::default()
        };
        let (access, _) = tokens.refresh("rt", &config, now).unwrap();
        assert_eq!(
            tokens.check(&access, now + Duration::from_secs(90)),
            TokenCheck::Expired {
                ago: Duration::from_secs(30)
            }
        );
        assert_eq!(tokens.check("nope", now), TokenCheck::Unknown);
    }

    #[test]
    fn bearer_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
    }
}
