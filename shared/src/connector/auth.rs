//! Credentials and authentication: API keys, bearer tokens, basic auth and OAuth 2.0 with
//! refresh ahead of expiry.
//!
//! Credentials arrive as the connection's Secrets Manager JSON, wrapped in [`SecretString`]s
//! that never print. Header values built from them are marked sensitive. No error or log line
//! carries a credential: token endpoint failures quote only the OAuth error code.
//!
//! When a token refresh succeeds, the caller's callback ([`Credentials::on_token_refresh`])
//! gets the new access token, its expiry and, when the provider rotated it, the new refresh
//! token, before the new token is used; the callback writes it back to Secrets Manager. A
//! refused grant (`invalid_grant`, HubSpot's `BAD_REFRESH_TOKEN`, any 400/401 from the token
//! endpoint) is [`ErrorKind::NeedsReauth`] and is remembered: later requests fail at once
//! instead of hammering the token endpoint.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::definition::{AuthSpec, ClientAuth, Grant, JwtSpec, KeyLocation, OAuth2Spec};
use super::errors::{self, ConnectorError, ErrorClass, ErrorKind};
use super::url_guard;

/// A failure of the token callback.
pub type TokenCallbackError = Box<dyn std::error::Error + Send + Sync>;

type TokenFuture = Pin<Box<dyn Future<Output = Result<(), TokenCallbackError>> + Send>>;

/// Called after every successful token refresh.
pub type TokenCallback = Arc<dyn Fn(TokenUpdate) -> TokenFuture + Send + Sync>;

/// New tokens from a refresh, for the caller to store.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    /// The new access token.
    pub access_token: SecretString,
    /// When it expires (unix seconds).
    pub expires_at: i64,
    /// The new refresh token, when the provider rotated it: the old one may already be
    /// invalid, so it must be stored now.
    pub refresh_token: Option<SecretString>,
    /// Non-secret values of the token response to store beside the tokens, by credential
    /// key: the API's base URL under the definition's `base_url_from`.
    pub values: BTreeMap<String, String>,
}

/// A connection's credentials: the keys of its Secrets Manager JSON, values kept secret.
#[derive(Clone, Default)]
pub struct Credentials {
    values: BTreeMap<String, SecretString>,
    on_token: Option<TokenCallback>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .field("on_token_refresh", &self.on_token.is_some())
            .finish()
    }
}

/// A credentials document that cannot be read. Never quotes the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credentials are not a JSON object of strings, numbers and booleans")]
pub struct CredentialsError;

impl Credentials {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a Secrets Manager JSON object. Strings, numbers and booleans become values
    /// (`expires_at: 1700000000` reads as `"1700000000"`); nulls, arrays and objects are
    /// skipped.
    pub fn from_json(text: &str) -> Result<Self, CredentialsError> {
        let value: Value = serde_json::from_str(text).map_err(|_| CredentialsError)?;
        let Value::Object(map) = value else {
            return Err(CredentialsError);
        };
        Ok(Self::from_map(&map))
    }

    /// Reads a JSON object's scalar values (see [`Credentials::from_json`]).
    pub fn from_map(map: &serde_json::Map<String, Value>) -> Self {
        let mut creds = Self::new();
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            creds.values.insert(k.clone(), SecretString::from(text));
        }
        creds
    }

    /// Adds or replaces a value.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.insert(key.into(), SecretString::from(value.into()));
        self
    }

    /// Registers the callback that stores refreshed tokens (see the module docs).
    pub fn on_token_refresh<F, Fut>(mut self, callback: F) -> Self
    where
        F: Fn(TokenUpdate) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), TokenCallbackError>> + Send + 'static,
    {
        self.on_token = Some(Arc::new(move |update| Box::pin(callback(update)) as TokenFuture));
        self
    }

    /// A value, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.values.get(key).filter(|v| !v.expose_secret().is_empty())
    }

    /// Whether a non-empty value is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys present.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Every non-empty value, for redacting them from text shown to people.
    pub(crate) fn secret_values(&self) -> impl Iterator<Item = &SecretString> {
        self.values.values().filter(|v| !v.expose_secret().is_empty())
    }
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What a request must carry to authenticate.
#[derive(Default)]
pub(crate) struct AuthParts {
    pub header: Option<(HeaderName, HeaderValue)>,
    /// Further key headers (`type: api_keys`), after `header`.
    pub more_headers: Vec<(HeaderName, HeaderValue)>,
    pub query: Option<(String, SecretString)>,
}

/// Where a request's credential goes, its value redacted (dry runs).
#[derive(Debug, Default)]
pub(crate) struct RedactedAuth {
    /// `(lower-case name, shown value)`.
    pub header: Option<(String, String)>,
    /// Further key headers (`type: api_keys`), redacted.
    pub more_headers: Vec<(String, String)>,
    /// `(parameter, shown value)`.
    pub query: Option<(String, String)>,
}

/// The chosen authentication of one client.
pub(crate) struct Authenticator {
    kind: Kind,
    /// The chosen alternative's `type` (`bearer`, `oauth2`, ...), or `none`.
    name: &'static str,
    /// The query parameter that carries a key, removed from URLs before they are stored.
    pub(crate) secret_query_param: Option<String>,
}

enum Kind {
    None,
    Header(HeaderName, SecretString),
    /// Several key headers, all sent.
    Headers(Vec<(HeaderName, SecretString)>),
    Query(String, SecretString),
    OAuth2(Box<OAuth2>),
    OAuth1(Box<OAuth1>),
    SelfSigned(Box<SelfSigned>),
}

/// A self-signed JWT sent as the bearer credential (`type: jwt`), signed again shortly
/// before it expires.
struct SelfSigned {
    spec: JwtSpec,
    key: SecretString,
    /// `iss`, `sub` and `aud`, rendered once the connection's config is known.
    claims: Option<(String, String, Option<String>)>,
    /// The current token and its `exp`.
    current: std::sync::Mutex<Option<(SecretString, i64)>>,
}

/// The claims of a self-signed JWT.
#[derive(Debug, serde::Serialize)]
struct SelfSignedClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    iat: i64,
    exp: i64,
}

impl SelfSigned {
    /// The current token, signing a new one when none is held or it expires within a minute.
    fn token(&self) -> Result<SecretString, ConnectorError> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_unix();
        if let Some((token, exp)) = current.as_ref() {
            if exp - now > 60 {
                return Ok(token.clone());
            }
        }
        let (iss, sub, aud) = self
            .claims
            .as_ref()
            .ok_or_else(|| ConnectorError::config("the JWT claims were not bound to the connection's config"))?;
        let exp = now + self.spec.lifetime_secs as i64;
        let token = SecretString::from(super::jwt::sign_rs256(
            &SelfSignedClaims {
                iss,
                sub,
                aud: aud.as_deref(),
                iat: now,
                exp,
            },
            &self.key,
        )?);
        *current = Some((token.clone(), exp));
        Ok(token)
    }
}

/// OAuth 1.0a keys: every request is signed (see [`super::oauth1`]).
struct OAuth1 {
    method: super::oauth1::SignatureMethod,
    /// The realm template, rendered once the connection's config is known.
    realm_template: Option<String>,
    realm: Option<String>,
    consumer_key: SecretString,
    consumer_secret: SecretString,
    token: SecretString,
    token_secret: SecretString,
}

struct OAuth2 {
    spec: OAuth2Spec,
    client_id: SecretString,
    client_secret: SecretString,
    /// The JWT bearer grant's signing key and subject.
    private_key: Option<SecretString>,
    subject: Option<SecretString>,
    on_token: Option<TokenCallback>,
    state: tokio::sync::Mutex<TokenState>,
    /// The API's base URL from the last token response (or the stored credentials), when
    /// the definition takes it from there (`base_url_from`).
    base_url: std::sync::Mutex<Option<String>>,
}

struct TokenState {
    access: Option<SecretString>,
    expires_at: i64,
    refresh: Option<SecretString>,
    /// Set when the grant was refused: every later call fails with this message.
    refused: Option<String>,
    /// A refresh whose tokens the callback has not accepted yet.
    pending: Option<TokenUpdate>,
}

/// Settings the token endpoint call needs.
pub(crate) struct TokenRequestSettings<'a> {
    pub http: &'a reqwest::Client,
    pub timeout: Duration,
    pub allow_private_network: bool,
}

impl Authenticator {
    /// Chooses an alternative: the one named `choice`, else the first whose credentials are
    /// all present. No alternatives: requests go out without credentials.
    pub(crate) fn new(specs: &[AuthSpec], choice: Option<&str>, creds: &Credentials) -> Result<Self, ConnectorError> {
        if specs.is_empty() {
            return Ok(Self {
                kind: Kind::None,
                name: "none",
                secret_query_param: None,
            });
        }
        let missing = |spec: &AuthSpec| -> Vec<String> {
            spec.required_credentials()
                .into_iter()
                .filter(|k| !creds.contains(k))
                .map(|k| format!("`{k}`"))
                .collect()
        };
        let spec = match choice {
            Some(name) => {
                let spec = specs.iter().find(|s| s.kind() == name).ok_or_else(|| {
                    let known: Vec<_> = specs.iter().map(AuthSpec::kind).collect();
                    ConnectorError::config(format!(
                        "the connection asks for auth `{name}` but the connector offers {}",
                        known.join(", ")
                    ))
                })?;
                let lacking = missing(spec);
                if !lacking.is_empty() {
                    return Err(credentials_error(format!(
                        "the credentials lack {} needed by {} auth",
                        lacking.join(", "),
                        spec.kind()
                    )));
                }
                spec
            }
            None => specs.iter().find(|s| missing(s).is_empty()).ok_or_else(|| {
                let needs: Vec<String> = specs
                    .iter()
                    .map(|s| format!("{} needs {}", s.kind(), missing(s).join(", ")))
                    .collect();
                credentials_error(format!("the credentials fit no auth alternative: {}", needs.join("; ")))
            })?,
        };
        let get = |key: &str| creds.get(key).cloned().unwrap_or_else(|| SecretString::from(""));
        let (kind, secret_query_param) = match spec {
            AuthSpec::ApiKey {
                location,
                name,
                credential,
                prefix,
            } => {
                let value = SecretString::from(format!("{prefix}{}", get(credential).expose_secret()));
                match location {
                    KeyLocation::Header => (Kind::Header(header_name(name)?, value), None),
                    KeyLocation::Query => (Kind::Query(name.clone(), value), Some(name.clone())),
                }
            }
            AuthSpec::ApiKeys { headers } => {
                let keys = headers
                    .iter()
                    .map(|h| {
                        let value = SecretString::from(format!("{}{}", h.prefix, get(&h.credential).expose_secret()));
                        Ok((header_name(&h.name)?, value))
                    })
                    .collect::<Result<Vec<_>, ConnectorError>>()?;
                (Kind::Headers(keys), None)
            }
            AuthSpec::Bearer { credential } => (
                Kind::Header(
                    http::header::AUTHORIZATION,
                    SecretString::from(format!("Bearer {}", get(credential).expose_secret())),
                ),
                None,
            ),
            AuthSpec::Basic { username, password } => {
                let pair = format!("{}:{}", get(username).expose_secret(), get(password).expose_secret());
                (
                    Kind::Header(
                        http::header::AUTHORIZATION,
                        SecretString::from(format!("Basic {}", STANDARD.encode(pair))),
                    ),
                    None,
                )
            }
            AuthSpec::Oauth1(spec) => (
                Kind::OAuth1(Box::new(OAuth1 {
                    method: spec.signature_method,
                    realm_template: spec.realm.clone(),
                    realm: None,
                    consumer_key: get(&spec.consumer_key),
                    consumer_secret: get(&spec.consumer_secret),
                    token: get(&spec.token),
                    token_secret: get(&spec.token_secret),
                })),
                None,
            ),
            AuthSpec::Jwt(spec) => (
                Kind::SelfSigned(Box::new(SelfSigned {
                    spec: spec.clone(),
                    key: get(&spec.private_key),
                    claims: None,
                    current: std::sync::Mutex::new(None),
                })),
                None,
            ),
            // The login session is kept by the client, which sends the login request.
            AuthSpec::Session(_) => (Kind::None, None),
            AuthSpec::Oauth2(spec) => {
                let expires_at = creds
                    .get(&spec.expires_at)
                    .and_then(|v| v.expose_secret().trim().parse::<f64>().ok())
                    .map_or(0, |f| f as i64);
                let access = creds.get(&spec.access_token).cloned();
                let base_url = spec
                    .base_url_from
                    .as_deref()
                    .and_then(|key| creds.get(key))
                    .map(|v| v.expose_secret().to_owned());
                (
                    Kind::OAuth2(Box::new(OAuth2 {
                        base_url: std::sync::Mutex::new(base_url),
                        spec: spec.clone(),
                        client_id: get(&spec.client_id),
                        client_secret: get(&spec.client_secret),
                        private_key: matches!(spec.grant, Grant::JwtBearer | Grant::AppJwt)
                            .then(|| get(&spec.private_key)),
                        subject: (spec.grant == Grant::JwtBearer).then(|| get(&spec.subject)),
                        on_token: creds.on_token.clone(),
                        state: tokio::sync::Mutex::new(TokenState {
                            expires_at: if access.is_some() { expires_at } else { 0 },
                            access,
                            refresh: creds.get(&spec.refresh_token).cloned(),
                            refused: None,
                            pending: None,
                        }),
                    })),
                    None,
                )
            }
        };
        Ok(Self {
            kind,
            name: spec.kind(),
            secret_query_param,
        })
    }

    /// The chosen alternative's kind (`none` without auth).
    pub(crate) fn kind(&self) -> &'static str {
        self.name
    }

    pub(crate) fn is_oauth2(&self) -> bool {
        matches!(self.kind, Kind::OAuth2(_))
    }

    /// Renders the templates of the chosen auth against the connection's config: an OAuth
    /// 1.0a realm, a self-signed JWT's claims (which may also use `public_key_fingerprint`).
    pub(crate) fn render_realm(&mut self, vars: &super::template::Vars<'_>) -> Result<(), ConnectorError> {
        if let Kind::SelfSigned(j) = &mut self.kind {
            let mut vars = vars.clone();
            let fingerprint = super::jwt::public_key_fingerprint(j.key.expose_secret())?;
            vars.set("public_key_fingerprint", Some(Value::String(fingerprint)));
            let render = |field: &str, text: &str| -> Result<String, ConnectorError> {
                let t = super::template::Template::parse(text)
                    .map_err(|e| ConnectorError::config(format!("the JWT {field}: {e}")))?;
                t.render(&vars, false).ok_or_else(|| {
                    ConnectorError::config(format!(
                        "the JWT {field} reads a config value the connection does not set"
                    ))
                })
            };
            let iss = render("issuer", &j.spec.issuer)?;
            let sub = render("subject", &j.spec.subject)?;
            let aud = j.spec.audience.as_deref().map(|a| render("audience", a)).transpose()?;
            j.claims = Some((iss, sub, aud));
        }
        if let Kind::OAuth1(o) = &mut self.kind {
            if let Some(template) = &o.realm_template {
                let t = super::template::Template::parse(template)
                    .map_err(|e| ConnectorError::config(format!("the OAuth 1.0a realm: {e}")))?;
                let realm = t.render(vars, false).ok_or_else(|| {
                    ConnectorError::config("the OAuth 1.0a realm reads a config value the connection does not set")
                })?;
                o.realm = Some(realm);
            }
        }
        Ok(())
    }

    /// The OAuth 1.0a `Authorization` header of one request (`None` for other kinds): signed
    /// over its method, URL and form parameters with a fresh nonce and timestamp.
    pub(crate) fn signature_header(
        &self,
        method: &str,
        url: &Url,
        form: &[(String, String)],
    ) -> Result<Option<HeaderValue>, ConnectorError> {
        let Kind::OAuth1(o) = &self.kind else {
            return Ok(None);
        };
        let nonce = ulid::Ulid::new().to_string();
        let header = super::oauth1::authorization(&super::oauth1::SignInput {
            method,
            url,
            form,
            signature_method: o.method,
            consumer_key: o.consumer_key.expose_secret(),
            consumer_secret: o.consumer_secret.expose_secret(),
            token: o.token.expose_secret(),
            token_secret: o.token_secret.expose_secret(),
            timestamp: now_unix(),
            nonce: &nonce,
            realm: o.realm.as_deref(),
        });
        sensitive(&SecretString::from(header)).map(Some)
    }

    /// What the next request must carry, refreshing an OAuth token first when it is missing
    /// or expires within `refresh_ahead_secs`.
    pub(crate) async fn parts(&self, settings: &TokenRequestSettings<'_>) -> Result<AuthParts, ConnectorError> {
        Ok(match &self.kind {
            Kind::None => AuthParts::default(),
            Kind::Header(name, value) => AuthParts {
                header: Some((name.clone(), sensitive(value)?)),
                ..AuthParts::default()
            },
            Kind::Headers(keys) => AuthParts {
                more_headers: keys
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), sensitive(value)?)))
                    .collect::<Result<_, ConnectorError>>()?,
                ..AuthParts::default()
            },
            Kind::Query(name, value) => AuthParts {
                query: Some((name.clone(), value.clone())),
                ..AuthParts::default()
            },
            Kind::OAuth1(_) => AuthParts::default(),
            Kind::SelfSigned(j) => AuthParts {
                header: Some((
                    http::header::AUTHORIZATION,
                    sensitive(&SecretString::from(format!(
                        "{} {}",
                        j.spec.header_scheme,
                        j.token()?.expose_secret()
                    )))?,
                )),
                ..AuthParts::default()
            },
            Kind::OAuth2(oauth) => {
                let token = oauth.access_token(settings).await?;
                let header = match &oauth.spec.token_header {
                    Some(name) => (header_name(name)?, sensitive(&token)?),
                    None => (
                        http::header::AUTHORIZATION,
                        sensitive(&SecretString::from(format!(
                            "{} {}",
                            oauth.spec.header_scheme,
                            token.expose_secret()
                        )))?,
                    ),
                };
                AuthParts {
                    header: Some(header),
                    ..AuthParts::default()
                }
            }
        })
    }

    /// Where the credential goes, with its value replaced by `redacted`: a header (the
    /// `Authorization` scheme word kept, `Bearer [REDACTED]`) or a query parameter. No I/O:
    /// an OAuth token is not fetched.
    pub(crate) fn redacted_parts(&self, redacted: &str) -> RedactedAuth {
        match &self.kind {
            Kind::None => RedactedAuth::default(),
            Kind::Header(name, value) => {
                let shown = match value.expose_secret().split_once(' ') {
                    Some((scheme, _)) if *name == http::header::AUTHORIZATION => format!("{scheme} {redacted}"),
                    _ => redacted.to_owned(),
                };
                RedactedAuth {
                    header: Some((name.as_str().to_owned(), shown)),
                    ..RedactedAuth::default()
                }
            }
            Kind::Headers(keys) => RedactedAuth {
                more_headers: keys
                    .iter()
                    .map(|(name, _)| (name.as_str().to_owned(), redacted.to_owned()))
                    .collect(),
                ..RedactedAuth::default()
            },
            Kind::Query(name, _) => RedactedAuth {
                query: Some((name.clone(), redacted.to_owned())),
                ..RedactedAuth::default()
            },
            Kind::OAuth1(o) => RedactedAuth {
                header: Some((
                    http::header::AUTHORIZATION.as_str().to_owned(),
                    format!(
                        "OAuth {}oauth_signature_method=\"{}\", [signed per request: {redacted}]",
                        o.realm
                            .as_deref()
                            .map(|r| format!("realm=\"{r}\", "))
                            .unwrap_or_default(),
                        o.method.as_str()
                    ),
                )),
                ..RedactedAuth::default()
            },
            Kind::OAuth2(oauth) => RedactedAuth {
                header: Some(match &oauth.spec.token_header {
                    Some(name) => (name.to_ascii_lowercase(), redacted.to_owned()),
                    None => (
                        http::header::AUTHORIZATION.as_str().to_owned(),
                        format!("{} {redacted}", oauth.spec.header_scheme),
                    ),
                }),
                ..RedactedAuth::default()
            },
            Kind::SelfSigned(j) => RedactedAuth {
                header: Some((
                    http::header::AUTHORIZATION.as_str().to_owned(),
                    format!("{} {redacted}", j.spec.header_scheme),
                )),
                ..RedactedAuth::default()
            },
        }
    }

    /// The token response field the API's base URL comes from, when the definition takes
    /// it from there.
    pub(crate) fn base_url_from(&self) -> Option<&str> {
        match &self.kind {
            Kind::OAuth2(oauth) => oauth.spec.base_url_from.as_deref(),
            _ => None,
        }
    }

    /// The API's base URL from the token response (or stored with the tokens), if known yet.
    pub(crate) fn base_url(&self) -> Option<String> {
        match &self.kind {
            Kind::OAuth2(oauth) => oauth.base_url.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            _ => None,
        }
    }

    /// Forgets the current OAuth access token after the API refused it (a 401), so the next
    /// request refreshes. Returns whether there was a token to forget.
    pub(crate) async fn invalidate(&self) -> bool {
        match &self.kind {
            Kind::OAuth2(oauth) => {
                let mut state = oauth.state.lock().await;
                state.expires_at = 0;
                state.access.take().is_some()
            }
            _ => false,
        }
    }
}

fn credentials_error(message: String) -> ConnectorError {
    ConnectorError::new(ErrorClass::Permanent, ErrorKind::Credentials, message)
}

fn header_name(name: &str) -> Result<HeaderName, ConnectorError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ConnectorError::config(format!("`{name}` is not a valid header name")))
}

fn sensitive(value: &SecretString) -> Result<HeaderValue, ConnectorError> {
    let mut v = HeaderValue::from_str(value.expose_secret())
        .map_err(|_| credentials_error("a credential holds characters that cannot go in an HTTP header".to_owned()))?;
    v.set_sensitive(true);
    Ok(v)
}

impl OAuth2 {
    async fn access_token(&self, settings: &TokenRequestSettings<'_>) -> Result<SecretString, ConnectorError> {
        let mut state = self.state.lock().await;
        if let Some(message) = &state.refused {
            return Err(needs_reauth(message.clone(), None));
        }
        if let Some(update) = state.pending.clone() {
            self.store(update).await?;
            state.pending = None;
        }
        let ahead = self.spec.refresh_ahead_secs as i64;
        if let Some(access) = &state.access {
            if state.expires_at - now_unix() > ahead {
                return Ok(access.clone());
            }
        }
        let update = match self.request_token(&state, settings).await {
            Ok(update) => update,
            Err(e) => {
                if e.kind == ErrorKind::NeedsReauth {
                    state.refused = Some(e.message.clone());
                }
                return Err(e);
            }
        };
        state.access = Some(update.access_token.clone());
        state.expires_at = update.expires_at;
        if let Some(base) = self.spec.base_url_from.as_ref().and_then(|key| update.values.get(key)) {
            *self.base_url.lock().unwrap_or_else(|p| p.into_inner()) = Some(base.clone());
        }
        if let Some(rotated) = &update.refresh_token {
            state.refresh = Some(rotated.clone());
        }
        tracing::info!(
            message = "OAuth access token refreshed.",
            expires_at = update.expires_at,
            refresh_token_rotated = update.refresh_token.is_some()
        );
        if let Err(e) = self.store(update.clone()).await {
            state.pending = Some(update);
            return Err(e);
        }
        Ok(state.access.clone().expect("set just above"))
    }

    async fn store(&self, update: TokenUpdate) -> Result<(), ConnectorError> {
        let Some(callback) = &self.on_token else {
            return Ok(());
        };
        callback(update).await.map_err(|e| {
            tracing::warn!(message = "Storing refreshed OAuth tokens failed.", error = %e);
            ConnectorError::new(
                ErrorClass::Transient,
                ErrorKind::TokenStore,
                format!(
                    "refreshed OAuth tokens could not be stored: {}",
                    errors::short_text(&e.to_string(), 200)
                ),
            )
        })
    }

    async fn request_token(
        &self,
        state: &TokenState,
        settings: &TokenRequestSettings<'_>,
    ) -> Result<TokenUpdate, ConnectorError> {
        let url = Url::parse(&self.spec.token_url)
            .map_err(|_| ConnectorError::config("the OAuth token_url is not a URL".to_owned()))?;
        url_guard::check_url(&url, false, settings.allow_private_network)
            .await
            .map_err(|e| {
                ConnectorError::new(ErrorClass::Permanent, ErrorKind::UrlRejected, format!("token_url: {e}"))
            })?;
        let mut form: Vec<(&str, String)> = Vec::new();
        match self.spec.grant {
            Grant::RefreshToken => {
                let refresh = state
                    .refresh
                    .as_ref()
                    .ok_or_else(|| needs_reauth("the connection has no refresh token".to_owned(), None))?;
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", refresh.expose_secret().to_owned()));
            }
            Grant::ClientCredentials => {
                form.push(("grant_type", "client_credentials".into()));
                if !self.spec.scopes.is_empty() {
                    form.push(("scope", self.spec.scopes.join(" ")));
                }
            }
            Grant::JwtBearer => {
                let key = self.private_key.as_ref().ok_or_else(|| {
                    credentials_error("the JWT bearer grant needs a private key in the credentials".to_owned())
                })?;
                let now = now_unix();
                let scope = self.spec.scopes.join(" ");
                let assertion = super::jwt::sign_rs256(
                    &JwtClaims {
                        iss: self.client_id.expose_secret(),
                        sub: self
                            .subject
                            .as_ref()
                            .map(|s| s.expose_secret())
                            .filter(|s| !s.is_empty()),
                        aud: self.spec.audience.as_deref().unwrap_or_default(),
                        scope: Some(scope.as_str()).filter(|s| !s.is_empty()),
                        iat: now,
                        exp: now + self.spec.assertion_lifetime_secs as i64,
                    },
                    key,
                )?;
                form.push(("grant_type", JWT_BEARER_GRANT.into()));
                form.push(("assertion", assertion));
            }
            Grant::AppJwt => return self.request_app_token(url, settings).await,
        }
        for (k, v) in &self.spec.extra_params {
            form.push((k.as_str(), v.clone()));
        }
        let mut request = settings.http.post(url).timeout(settings.timeout);
        match self.spec.client_auth {
            ClientAuth::None => {}
            ClientAuth::Body => {
                form.push(("client_id", self.client_id.expose_secret().to_owned()));
                form.push(("client_secret", self.client_secret.expose_secret().to_owned()));
            }
            ClientAuth::Basic => {
                let pair = format!(
                    "{}:{}",
                    form_urlencoded::byte_serialize(self.client_id.expose_secret().as_bytes()).collect::<String>(),
                    form_urlencoded::byte_serialize(self.client_secret.expose_secret().as_bytes()).collect::<String>()
                );
                let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
                    .map_err(|_| credentials_error("the OAuth client credentials cannot go in a header".to_owned()))?;
                value.set_sensitive(true);
                request = request.header(http::header::AUTHORIZATION, value);
            }
        }
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let response = request
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await;
        self.read_token_response(state.refresh.as_ref(), response).await
    }

    /// The app JWT grant: the app's own signed JWT as the bearer of an empty `POST` to the
    /// token endpoint (see [`Grant::AppJwt`]).
    async fn request_app_token(
        &self,
        url: Url,
        settings: &TokenRequestSettings<'_>,
    ) -> Result<TokenUpdate, ConnectorError> {
        let key = self
            .private_key
            .as_ref()
            .ok_or_else(|| credentials_error("the app JWT grant needs a private key in the credentials".to_owned()))?;
        let now = now_unix();
        let jwt = super::jwt::sign_rs256(
            &AppJwtClaims {
                iss: self.client_id.expose_secret(),
                // A minute back: the provider's clock may run behind ours.
                iat: now - 60,
                exp: now + self.spec.assertion_lifetime_secs as i64,
            },
            key,
        )?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {jwt}"))
            .map_err(|_| credentials_error("the app JWT cannot go in a header".to_owned()))?;
        bearer.set_sensitive(true);
        let response = settings
            .http
            .post(url)
            .timeout(settings.timeout)
            .header(http::header::AUTHORIZATION, bearer)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await;
        self.read_token_response(None, response).await
    }

    /// Reads a token endpoint's answer: the access token, its expiry and a rotated refresh
    /// token. A refusal is [`ErrorKind::NeedsReauth`]; nothing of the body is quoted but an
    /// OAuth error code.
    async fn read_token_response(
        &self,
        current_refresh: Option<&SecretString>,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<TokenUpdate, ConnectorError> {
        let response = response.map_err(|e| {
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Network
            };
            ConnectorError::new(
                ErrorClass::Transient,
                kind,
                "the OAuth token endpoint could not be reached",
            )
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|_| {
            ConnectorError::new(
                ErrorClass::Transient,
                ErrorKind::Network,
                "the OAuth token response could not be read",
            )
        })?;
        let body: Value = crate::json::from_bytes(&bytes).unwrap_or(Value::Null);
        let code = oauth_error_code(&body);
        let with_status = |mut e: ConnectorError| {
            e.status = Some(status);
            e
        };
        match status {
            200..=299 => {}
            400 | 401 => {
                let detail = code.map(|c| format!(" ({c})")).unwrap_or_default();
                return Err(needs_reauth(
                    format!(
                        "the OAuth token endpoint refused the {} grant{detail}; reconnect the connection",
                        grant_name(self.spec.grant)
                    ),
                    Some(status),
                ));
            }
            429 => {
                return Err(with_status(ConnectorError::new(
                    ErrorClass::RateLimited {
                        retry_after: errors::retry_after(&headers, SystemTime::now()),
                    },
                    ErrorKind::Http,
                    "the OAuth token endpoint is rate limiting",
                )))
            }
            500..=599 => {
                return Err(with_status(ConnectorError::new(
                    ErrorClass::Transient,
                    ErrorKind::Http,
                    format!("the OAuth token endpoint failed with HTTP {status}"),
                )))
            }
            _ => {
                return Err(with_status(ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::Http,
                    format!("the OAuth token endpoint answered HTTP {status}"),
                )))
            }
        }
        let access = body
            .pointer(&self.spec.token_pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                with_status(ConnectorError::invalid_response(format!(
                    "the OAuth token response has no access token at `{}`",
                    self.spec.token_pointer
                )))
            })?;
        let expires_at = self
            .spec
            .expires_at_pointer
            .as_deref()
            .and_then(|p| body.pointer(p))
            .and_then(Value::as_str)
            .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .map(|t| t.unix_timestamp());
        let expires_in = match body.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64().map(|f| f as i64),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .unwrap_or(self.spec.default_lifetime_secs as i64);
        let rotated = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .filter(|new| current_refresh.is_none_or(|old| old.expose_secret() != *new))
            .map(|s| SecretString::from(s.to_owned()));
        let mut values = BTreeMap::new();
        if let Some(key) = &self.spec.base_url_from {
            let base = body
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    with_status(ConnectorError::invalid_response(format!(
                        "the OAuth token response has no `{key}`, which gives the API's base URL"
                    )))
                })?;
            values.insert(key.clone(), base.to_owned());
        }
        Ok(TokenUpdate {
            access_token: SecretString::from(access.to_owned()),
            expires_at: expires_at.unwrap_or_else(|| now_unix() + expires_in),
            refresh_token: rotated,
            values,
        })
    }
}

fn grant_name(grant: Grant) -> &'static str {
    match grant {
        Grant::RefreshToken => "refresh-token",
        Grant::ClientCredentials => "client-credentials",
        Grant::JwtBearer => "JWT bearer",
        Grant::AppJwt => "app JWT",
    }
}

/// The `grant_type` of the JWT bearer grant (RFC 7523 section 2.1).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The claims of a JWT bearer assertion (RFC 7523 section 3): `sub` when the credentials
/// have one, `scope` when the definition asks for scopes (Google's service accounts).
#[derive(Debug, serde::Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    iat: i64,
    exp: i64,
}

/// The claims of an app JWT ([`Grant::AppJwt`]).
#[derive(Debug, serde::Serialize)]
struct AppJwtClaims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
}

fn needs_reauth(message: String, status: Option<u16>) -> ConnectorError {
    ConnectorError {
        class: ErrorClass::ReAuth,
        kind: ErrorKind::NeedsReauth,
        status,
        message,
    }
}

/// The OAuth error code (`invalid_grant`) or HubSpot's `status` (`BAD_REFRESH_TOKEN`), when it
/// looks like a code: short, letters, digits and `_` only. Free text is not quoted.
fn oauth_error_code(body: &Value) -> Option<String> {
    ["error", "status"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_str))
        .find(|code| {
            !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(yaml: &str) -> Vec<AuthSpec> {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn credentials_debug_shows_keys_only() {
        let creds =
            Credentials::from_json(r#"{"api_key": "sk_live_topsecret", "expires_at": 17, "nested": {}}"#).unwrap();
        let text = format!("{creds:?}");
        assert!(text.contains("api_key") && !text.contains("topsecret"), "{text}");
        assert_eq!(creds.get("expires_at").unwrap().expose_secret(), "17");
        assert!(creds.get("nested").is_none());
        let err = Credentials::from_json(r#"["sk_live_topsecret"]"#).unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }

    #[test]
    fn the_first_alternative_with_all_credentials_is_chosen() {
        let alts = specs("[{type: oauth2, token_url: 'https://x/t'}, {type: bearer}]");
        let bearer_only = Credentials::new().with("access_token", "pat");
        assert_eq!(Authenticator::new(&alts, None, &bearer_only).unwrap().kind(), "bearer");
        let oauth = bearer_only
            .clone()
            .with("client_id", "c")
            .with("client_secret", "s")
            .with("refresh_token", "r");
        assert_eq!(Authenticator::new(&alts, None, &oauth).unwrap().kind(), "oauth2");
        assert_eq!(
            Authenticator::new(&alts, Some("bearer"), &oauth).unwrap().kind(),
            "bearer"
        );
    }

    #[test]
    fn missing_credentials_are_named_without_values() {
        let alts = specs("[{type: oauth2, token_url: 'https://x/t'}, {type: bearer}]");
        let creds = Credentials::new().with("client_id", "visible-id-value");
        let err = Authenticator::new(&alts, None, &creds).err().unwrap();
        assert_eq!(err.kind, ErrorKind::Credentials);
        assert!(
            err.message.contains("`refresh_token`") && err.message.contains("`access_token`"),
            "{err}"
        );
        assert!(!err.message.contains("visible-id-value"));
        let err = Authenticator::new(&alts, Some("oauth2"), &creds).err().unwrap();
        assert!(err.message.contains("`client_secret`"), "{err}");
        let err = Authenticator::new(&alts, Some("basic"), &creds).err().unwrap();
        assert_eq!(err.kind, ErrorKind::Config);
    }

    #[tokio::test]
    async fn static_auth_parts_are_sensitive_headers_or_query_values() {
        let http = reqwest::Client::new();
        let settings = TokenRequestSettings {
            http: &http,
            timeout: Duration::from_secs(1),
            allow_private_network: true,
        };
        let creds = Credentials::new()
            .with("api_key", "k1")
            .with("username", "sk_test")
            .with("access_token", "t");
        let basic = Authenticator::new(&specs("[{type: basic}]"), None, &creds).unwrap();
        let (name, value) = basic.parts(&settings).await.unwrap().header.unwrap();
        assert_eq!(name, http::header::AUTHORIZATION);
        assert_eq!(
            value.to_str().unwrap(),
            format!("Basic {}", STANDARD.encode("sk_test:"))
        );
        assert!(value.is_sensitive());
        let header = Authenticator::new(
            &specs("[{type: api_key, in: header, name: X-Api-Key, prefix: 'Key '}]"),
            None,
            &creds,
        )
        .unwrap();
        let (name, value) = header.parts(&settings).await.unwrap().header.unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-api-key", "Key k1"));
        let query = Authenticator::new(&specs("[{type: api_key, in: query, name: api_key}]"), None, &creds).unwrap();
        assert_eq!(query.secret_query_param.as_deref(), Some("api_key"));
        let (name, value) = query.parts(&settings).await.unwrap().query.unwrap();
        assert_eq!((name.as_str(), value.expose_secret()), ("api_key", "k1"));
        let none = Authenticator::new(&[], None, &Credentials::new()).unwrap();
        assert_eq!(none.kind(), "none");
    }

    #[tokio::test]
    async fn several_key_headers_are_all_sent_sensitive_and_all_redacted() {
        let http = reqwest::Client::new();
        let settings = TokenRequestSettings {
            http: &http,
            timeout: Duration::from_secs(1),
            allow_private_network: true,
        };
        let alts = specs(
            "[{type: api_keys, headers: [{name: apitoken, credential: api_token}, {name: wstoken, credential: ws_token}]}]",
        );
        let only_one = Credentials::new().with("api_token", "a-value");
        let err = Authenticator::new(&alts, None, &only_one).err().unwrap();
        assert_eq!(err.kind, ErrorKind::Credentials);
        assert!(
            err.message.contains("`ws_token`") && !err.message.contains("a-value"),
            "{err}"
        );
        let creds = only_one.with("ws_token", "w-value");
        let auth = Authenticator::new(&alts, None, &creds).unwrap();
        assert_eq!(auth.kind(), "api_keys");
        let parts = auth.parts(&settings).await.unwrap();
        assert!(parts.header.is_none() && parts.query.is_none());
        let sent: Vec<(String, String)> = parts
            .more_headers
            .iter()
            .map(|(n, v)| {
                assert!(v.is_sensitive(), "{n} is marked sensitive");
                (n.as_str().to_owned(), v.to_str().unwrap().to_owned())
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("apitoken".to_owned(), "a-value".to_owned()),
                ("wstoken".to_owned(), "w-value".to_owned())
            ]
        );
        let redacted = auth.redacted_parts("[R]");
        assert_eq!(
            redacted.more_headers,
            [
                ("apitoken".to_owned(), "[R]".to_owned()),
                ("wstoken".to_owned(), "[R]".to_owned())
            ]
        );
    }

    #[test]
    fn oauth_error_codes_are_quoted_only_when_they_look_like_codes() {
        assert_eq!(
            oauth_error_code(&serde_json::json!({"error": "invalid_grant"})).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(
            oauth_error_code(
                &serde_json::json!({"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"})
            )
            .as_deref(),
            Some("BAD_REFRESH_TOKEN")
        );
        assert_eq!(
            oauth_error_code(&serde_json::json!({"error": "token abc123 is bad"})),
            None
        );
    }

    #[tokio::test]
    async fn a_self_signed_jwt_carries_the_fingerprint_issuer_and_is_reused_until_near_expiry() {
        let (pem, public_der) = super::super::jwt::tests::openssl_key();
        let alts = specs(
            "[{type: jwt, issuer: '{{ config.account }}.{{ config.user }}.{{ public_key_fingerprint }}', \
             subject: '{{ config.account }}.{{ config.user }}', lifetime_secs: 600}]",
        );
        let creds = Credentials::new().with("private_key", pem.clone());
        let mut auth = Authenticator::new(&alts, None, &creds).unwrap();
        assert_eq!(auth.kind(), "jwt");
        let config = serde_json::json!({"account": "MYORG-ACME", "user": "SYNC"});
        let mut vars = super::super::template::Vars::new();
        vars.root("config", std::borrow::Cow::Borrowed(&config));
        auth.render_realm(&vars).unwrap();
        let http = reqwest::Client::new();
        let settings = TokenRequestSettings {
            http: &http,
            timeout: Duration::from_secs(1),
            allow_private_network: true,
        };
        let (name, value) = auth.parts(&settings).await.unwrap().header.unwrap();
        assert_eq!(name, http::header::AUTHORIZATION);
        assert!(value.is_sensitive());
        let token = value.to_str().unwrap().strip_prefix("Bearer ").unwrap().to_owned();
        let key = jsonwebtoken::DecodingKey::from_rsa_der(&public_der[24..]);
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap().claims;
        let fingerprint = super::super::jwt::public_key_fingerprint(&pem).unwrap();
        assert_eq!(claims["iss"], format!("MYORG-ACME.SYNC.{fingerprint}"));
        assert_eq!(claims["sub"], "MYORG-ACME.SYNC");
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 600);
        assert!((iat - now_unix()).abs() < 5);
        // The same token until it nears its expiry.
        let again = auth.parts(&settings).await.unwrap().header.unwrap().1;
        assert_eq!(again.to_str().unwrap(), value.to_str().unwrap());
        // Shown redacted in plans.
        let shown = auth.redacted_parts("[REDACTED]").header.unwrap();
        assert_eq!(shown, ("authorization".to_owned(), "Bearer [REDACTED]".to_owned()));
    }

    #[test]
    fn a_self_signed_jwt_with_a_key_that_is_not_rsa_fails_when_bound_without_quoting_it() {
        let alts = specs("[{type: jwt, issuer: x, subject: y}]");
        let creds = Credentials::new().with(
            "private_key",
            "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5\n-----END PRIVATE KEY-----",
        );
        let mut auth = Authenticator::new(&alts, None, &creds).unwrap();
        let err = auth.render_realm(&super::super::template::Vars::new()).err().unwrap();
        assert_eq!(err.kind, ErrorKind::Credentials);
        assert!(!err.message.contains("bm90LWEta2V5"), "{err}");
        // Without the key the alternative is not usable at all.
        let err = Authenticator::new(&alts, None, &Credentials::new()).err().unwrap();
        assert!(err.message.contains("`private_key`"), "{err}");
    }

    #[test]
    fn jwt_bearer_claims_carry_scopes_and_leave_out_an_absent_subject() {
        let claims = JwtClaims {
            iss: "sa@p.iam.gserviceaccount.com",
            sub: None,
            aud: "https://oauth2.googleapis.com/token",
            scope: Some("https://www.googleapis.com/auth/bigquery"),
            iat: 10,
            exp: 3610,
        };
        let v = serde_json::to_value(&claims).unwrap();
        assert_eq!(v.get("sub"), None);
        assert_eq!(v["scope"], "https://www.googleapis.com/auth/bigquery");
        // A subject made optional is not a required credential.
        let alts = specs(
            "[{type: oauth2, grant: jwt_bearer, token_url: 'https://x/t', audience: 'https://x/t', \
             client_auth: none, client_id: client_email, subject_required: false}]",
        );
        let creds = Credentials::new().with("client_email", "sa@p").with("private_key", "k");
        assert_eq!(
            Authenticator::new(&alts, None, &creds).unwrap().kind(),
            "oauth2_jwt_bearer"
        );
        let required =
            specs("[{type: oauth2, grant: jwt_bearer, token_url: 'https://x/t', audience: a, client_auth: none}]");
        let creds = Credentials::new().with("client_id", "c").with("private_key", "k");
        assert!(Authenticator::new(&required, None, &creds).is_err());
    }
}
