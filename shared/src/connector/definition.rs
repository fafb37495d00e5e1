//! The connector definition: typed configuration read from `shared/connectors/*.yaml`.
//!
//! Every struct denies unknown fields, declares its defaults beside the field and documents
//! each field, so a typo in a definition is an error that names the file and the key (see
//! [`super::registry`]). Checks that serde cannot express (templates, JSON pointers, jq
//! programs, cross references) live in [`super::validate`].
//!
//! Strings called *templates* may contain `{{ name }}` placeholders; which names a template
//! may use depends on where it is (see [`super::template`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One connector: how to reach a provider's API and what it can read and write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDefinition {
    /// Unique id, lowercase `[a-z0-9-]`; must equal the file name without `.yaml`.
    pub id: String,

    /// Name for people (`HubSpot`).
    pub name: String,

    /// What the connector talks to and what it supports, for `connectors show`.
    #[serde(default)]
    pub description: String,

    /// The kind of system, for catalogues (the console's filter, `GET /v1/connectors`).
    #[serde(default)]
    pub category: Category,

    /// Base URL every request path is relative to. A connection's `base_url` config overrides
    /// it; when absent the connection must set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,

    /// Refuse a plain `http://` base URL (outbound webhooks deliver only over HTTPS). Local
    /// tests that set `allow_private_network` are exempt.
    #[serde(default)]
    pub require_https: bool,

    /// Other hosts of the same API, by name, that a request may name in its `host`
    /// (Dropbox's content endpoints on `content.dropboxapi.com` beside the RPC ones on
    /// `api.dropboxapi.com`). Checked like `base_url`; a connection's `hosts.<name>` config
    /// overrides one as its `base_url` overrides the main one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, HostSpec>,

    /// Non-secret settings a connection may (or must) provide; templates read them as
    /// `{{ config.<name> }}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, ConfigField>,

    /// Headers sent with every request (API version pins, `Accept`). Templates over `config`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Scalar>,

    /// Query parameters sent with every request the definition builds (lists, fetches,
    /// writes, the check): an API version pin such as QuickBooks' `minorversion`. Templates
    /// over `config`; a request's own parameter of the same name wins. Next-page URLs the API
    /// hands back (`next_url`, `link_header` pagination) are followed as given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, Scalar>,

    /// Ways to authenticate, a single one or a list of alternatives. The first alternative
    /// whose credentials are all present is used, unless the connection's config names one
    /// (`auth: bearer`). Empty: requests are sent without credentials.
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<AuthSpec>,

    /// The provider's rate limit for one connection; requests are paced to stay under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,

    /// How responses are turned into success or an error class.
    #[serde(default)]
    pub errors: ErrorSpec,

    /// A cheap request proving the credentials work (used by the health checker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckSpec>,

    /// Readable streams of records, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, StreamSpec>,

    /// Write operations, by name (`contacts.upsert_by_email`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writes: BTreeMap<String, WriteSpec>,

    /// A request sent before the first write whose response headers (and cookies) every
    /// write then carries: an anti-forgery token and its session (SAP Gateway's
    /// `x-csrf-token: fetch`). Sent again, once, when a write's response matches
    /// `refresh_on` (the token expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_preflight: Option<PreflightSpec>,

    /// Work the API finishes after answering: a response with one of `statuses`, or a
    /// successful one whose body matches `running`, is polled (the status URL it names, or
    /// `request`) until it answers otherwise; that answer is the request's response
    /// (Snowflake's SQL API: 202 and `statementStatusUrl`; BigQuery's `jobs.query`:
    /// `jobComplete: false`, then `jobs.getQueryResults`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollSpec>,

    /// Inbound webhooks from this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<WebhookSpec>,

    /// What the connector talks to: `http` (the default: an API, described by the fields
    /// above), `sql` (a database, described by `sql`), `s3` (objects in a bucket,
    /// described by `s3`), `smtp` (a mail server, described by `smtp`) or `imap` (a mailbox,
    /// described by `imap`).
    #[serde(default, skip_serializing_if = "ConnectorKind::is_http")]
    pub kind: ConnectorKind,

    /// A `kind: sql` connector's engine, streams (tables or queries) and writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<super::sql::SqlSpec>,

    /// A `kind: s3` connector's streams (new objects under a prefix, read record by record)
    /// and writes (batched objects with a manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<super::s3::S3Spec>,

    /// A `kind: smtp` connector's writes (one templated email per mapped record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<super::smtp::SmtpSpec>,

    /// A `kind: imap` connector's streams (the messages of a mailbox, read by UID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap: Option<super::imap::ImapSpec>,
}

/// Another host of the API (see [`ConnectorDefinition::hosts`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The host's base URL, request paths relative to it; templates over `config` keys with
    /// `one_of` values, as the main `base_url`.
    pub base_url: String,
    /// Whether requests to this host carry the connection's credentials (its auth header,
    /// query parameter or session). Off unless the definition says so: a host that needs
    /// none never sees them.
    #[serde(default)]
    pub credentials: bool,
}

/// Polling work the API finishes after answering (see [`ConnectorDefinition::poll`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSpec {
    /// Statuses meaning "accepted, still running".
    #[serde(default = "default_poll_statuses")]
    pub statuses: Vec<u16>,
    /// A successful (2xx) response whose body matches this is still running too
    /// (`{pointer: /jobComplete, equals: false}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ValueMatch>,
    /// JSON pointer to the status URL in such a response (absolute, or relative to the
    /// request's URL); it must stay on the API's host. Give this or `request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The status request, for an API whose answer names the work but no URL: placeholders
    /// `config.*` and `response.*` (the still-running answer's body: `{{
    /// response.jobReference.jobId }}`). Give this or `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestSpec>,
    /// Milliseconds before the first poll.
    #[serde(default = "default_poll_interval_ms")]
    pub interval_ms: u64,
    /// Each wait is this many times the one before (1: a constant interval), up to
    /// `max_interval_ms`.
    #[serde(default = "default_poll_backoff")]
    pub backoff: f64,
    /// The longest wait between two polls, in milliseconds (default: `interval_ms`, or
    /// 10 s with a backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval_ms: Option<u64>,
    /// Seconds after which the engine stops polling: a transient error, as the work may
    /// still finish (a write is then retried later, so it should be idempotent).
    #[serde(default = "default_poll_max_wait_secs")]
    pub max_wait_secs: u64,
}

fn default_poll_statuses() -> Vec<u16> {
    vec![202]
}
fn default_poll_interval_ms() -> u64 {
    500
}
fn default_poll_backoff() -> f64 {
    1.0
}

impl PollSpec {
    /// The wait before poll number `n` (0: the first).
    pub fn wait(&self, n: u32) -> Duration {
        let cap = self
            .max_interval_ms
            .unwrap_or(if self.backoff > 1.0 { 10_000 } else { self.interval_ms })
            .max(self.interval_ms);
        let ms = (self.interval_ms as f64) * self.backoff.max(1.0).powi(n.min(64) as i32);
        Duration::from_millis(if ms.is_finite() { (ms as u64).min(cap) } else { cap })
    }

    /// Whether `status` and `body` say the work is still running.
    pub fn is_running(&self, status: u16, body: &Value) -> bool {
        self.statuses.contains(&status)
            || ((200..300).contains(&status) && self.running.as_ref().is_some_and(|m| m.matches(body)))
    }
}
fn default_poll_max_wait_secs() -> u64 {
    60
}

/// The kind of system a connector talks to; each kind reads streams and runs writes behind
/// the same [`super::ConnectorClient`] calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    #[default]
    Http,
    Sql,
    S3,
    Smtp,
    Imap,
}

impl ConnectorKind {
    pub fn is_http(&self) -> bool {
        *self == ConnectorKind::Http
    }

    /// The name a definition's `kind` uses.
    pub fn name(&self) -> &'static str {
        match self {
            ConnectorKind::Http => "http",
            ConnectorKind::Sql => "sql",
            ConnectorKind::S3 => "s3",
            ConnectorKind::Smtp => "smtp",
            ConnectorKind::Imap => "imap",
        }
    }
}

/// The kind of system a connector talks to, as a catalogue groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Crm,
    Accounting,
    /// ERP suites (NetSuite, SAP S/4HANA).
    Erp,
    Payments,
    ECommerce,
    Collaboration,
    Messaging,
    Education,
    /// Databases and general-purpose HTTP (SQL, generic REST, outbound webhooks).
    Data,
    /// A definition that names none.
    #[default]
    Other,
}

/// A non-secret connection setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    /// What the setting means.
    #[serde(default)]
    pub description: String,

    /// A connection without this setting (and without a default) is refused.
    #[serde(default)]
    pub required: bool,

    /// Value used when the connection does not set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,

    /// The only values a connection may set (a region: `[na, eu, fe]`). A key the
    /// definition's `base_url` reads must have them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<String>,

    /// A regular expression the whole value must match, for settings that end up inside a
    /// query language where no bind parameter can carry them (a BigQuery table name in
    /// backticks): a connection whose value does not match is refused, naming the setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl ConfigField {
    /// Whether `value` is allowed: any value without `one_of`, else one of those strings.
    pub fn allows(&self, value: &Value) -> bool {
        self.one_of.is_empty() || value.as_str().is_some_and(|v| self.one_of.iter().any(|o| o == v))
    }
}

// ---------------------------------------------------------------------------------------------
// Auth

/// How requests prove who they are. Credential fields name keys of the connection's
/// Secrets Manager JSON, never values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// A definition holds a handful of these, built once when it loads: boxing the OAuth2 settings
// would save nothing worth the indirection in every match.
#[allow(clippy::large_enum_variant)]
pub enum AuthSpec {
    /// An API key in a header or a query parameter.
    ApiKey {
        /// `header` or `query`.
        #[serde(rename = "in")]
        location: KeyLocation,
        /// Header or query parameter name (`X-Api-Key`, `api_key`).
        name: String,
        /// Credential key holding the API key.
        #[serde(default = "default_api_key")]
        credential: String,
        /// Text put in front of the key (`Token `).
        #[serde(default)]
        prefix: String,
    },
    /// Several API keys, each in a header of its own, all sent with every request
    /// (aXcelerate's `apitoken` and `wstoken`).
    ApiKeys {
        /// The headers, at least two (one key is `type: api_key`).
        headers: Vec<KeyHeader>,
    },
    /// `Authorization: Bearer <token>` with a long-lived token (private app token, bot token).
    Bearer {
        /// Credential key holding the token.
        #[serde(default = "default_access_token")]
        credential: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// Credential key holding the user name.
        #[serde(default = "default_username")]
        username: String,
        /// Credential key holding the password; an absent credential sends an empty password
        /// (Stripe's secret key as user name).
        #[serde(default = "default_password")]
        password: String,
    },
    /// OAuth 2.0 with access tokens obtained from a token endpoint and refreshed ahead of expiry.
    Oauth2(OAuth2Spec),
    /// OAuth 1.0a (RFC 5849): every request signed with the consumer's and the token's secrets
    /// (NetSuite token-based authentication).
    Oauth1(OAuth1Spec),
    /// A login session: a login request (templates over the credentials) answers with a
    /// session token, which later requests carry until it expires or is refused; then the
    /// engine logs in again, once per request (Sage Intacct's `getAPISession`, SOAP
    /// services' validate-client calls). See [`SessionSpec`].
    Session(SessionSpec),
    /// A JWT the connection signs itself with its RSA private key (RS256), sent as the bearer
    /// credential of every request and signed again before it expires: Snowflake's key-pair
    /// authentication (`iss` = `ACCOUNT.USER.SHA256:<public key fingerprint>`, `sub` =
    /// `ACCOUNT.USER`; its `X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT` header goes in
    /// the definition's `headers`). See [`JwtSpec`].
    Jwt(JwtSpec),
}

/// Self-signed JWT settings (`type: jwt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    /// Credential key of the PEM RSA private key (PKCS#8 or PKCS#1) the token is signed with.
    #[serde(default = "default_private_key")]
    pub private_key: String,

    /// The `iss` claim: a template over `config` and `public_key_fingerprint` (`SHA256:` and
    /// the base64 SHA-256 of the key's public SubjectPublicKeyInfo, as Snowflake shows it).
    pub issuer: String,

    /// The `sub` claim: a template over `config`.
    pub subject: String,

    /// The `aud` claim, when the API wants one: a template over `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,

    /// Seconds from signing to the `exp` claim (Snowflake accepts at most one hour).
    #[serde(default = "default_jwt_lifetime_secs")]
    pub lifetime_secs: u64,

    /// The scheme word before the token in the `Authorization` header.
    #[serde(default = "default_header_scheme")]
    pub header_scheme: String,
}

fn default_jwt_lifetime_secs() -> u64 {
    3540
}

/// Login-session settings (`type: session`).
///
/// The session is kept in memory for the client's life (a warm process) and never stored.
/// A request answered with a response classified `reauth` (HTTP 401 by default, or an error
/// rule with `action: reauth` matching the provider's "session expired" answer) makes the
/// engine forget the session, log in again and send the request once more; a second refusal
/// is the request's error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// The login request, sent without other auth. Templates over `config` and
    /// `credentials.<key>` (keys of the connection's secret); in an XML body those are
    /// secret slots filled only when sent. The definition's error rules classify its
    /// response: a refusal is a re-auth error.
    pub login: RequestSpec,

    /// Where the session token is in the login response.
    pub token: SessionTokenSource,

    /// Where later requests carry the token. Default: `{in: body}`, i.e. only where a body
    /// template says `{{ session.token }}`.
    #[serde(default)]
    pub put: SessionPut,

    /// Log in again when the session is this old, in seconds (before the provider's idle
    /// timeout).
    #[serde(default = "default_session_lifetime_secs")]
    pub lifetime_secs: u64,

    /// Credential keys the login needs (all must be present for this alternative).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,

    /// Values the login answer carries that later requests need, none of them secret: a name
    /// (lowercase, not `token`) to a JSON pointer into the login response's body. Every
    /// request template reads them as `{{ session.<name> }}` (Tableau's site id in its paths:
    /// `site_id: /credentials/site/id`), refreshed at each login. A login answer without one
    /// is a re-auth error naming the pointer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
}

fn default_session_lifetime_secs() -> u64 {
    1800
}

/// Where a login response carries the session token: exactly one of the three.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTokenSource {
    /// JSON pointer into the body (an XML body read as JSON: `/response/.../sessionid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// A response header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A cookie the response sets (`Set-Cookie: <name>=...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// Where requests carry the session token.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "in", rename_all = "snake_case", deny_unknown_fields)]
pub enum SessionPut {
    /// Only where an XML body template says `{{ session.token }}`.
    #[default]
    Body,
    /// A header, the token after `prefix` (`Authorization: Session <token>`).
    Header {
        name: String,
        #[serde(default)]
        prefix: String,
    },
    /// A query parameter.
    Query { name: String },
    /// A cookie (`Cookie: <name>=<token>`).
    Cookie { name: String },
}

impl AuthSpec {
    /// The `type` tag, which a connection's config may use to choose an alternative
    /// (`oauth2_jwt_bearer` for OAuth2 with `grant: jwt_bearer`).
    pub fn kind(&self) -> &'static str {
        match self {
            AuthSpec::ApiKey { .. } => "api_key",
            AuthSpec::ApiKeys { .. } => "api_keys",
            AuthSpec::Bearer { .. } => "bearer",
            AuthSpec::Basic { .. } => "basic",
            // A connection chooses between a user's grant and a server-to-server assertion
            // of the same app (Salesforce offers both), so the JWT bearer grant has a name
            // of its own.
            AuthSpec::Oauth2(o) if o.grant == Grant::JwtBearer => "oauth2_jwt_bearer",
            // An app's own signed JWT exchanged for an installation token (GitHub Apps), beside
            // a personal token of the same provider.
            AuthSpec::Oauth2(o) if o.grant == Grant::AppJwt => "oauth2_app_jwt",
            AuthSpec::Oauth2(_) => "oauth2",
            AuthSpec::Oauth1(_) => "oauth1",
            AuthSpec::Session(_) => "session",
            AuthSpec::Jwt(_) => "jwt",
        }
    }

    /// Credential keys that must be present for this alternative to be usable.
    pub fn required_credentials(&self) -> Vec<&str> {
        match self {
            AuthSpec::ApiKey { credential, .. } | AuthSpec::Bearer { credential } => vec![credential],
            AuthSpec::Basic { username, .. } => vec![username],
            AuthSpec::ApiKeys { headers } => headers.iter().map(|h| h.credential.as_str()).collect(),
            AuthSpec::Oauth1(spec) => vec![
                &spec.consumer_key,
                &spec.consumer_secret,
                &spec.token,
                &spec.token_secret,
            ],
            AuthSpec::Session(spec) => spec.credentials.iter().map(String::as_str).collect(),
            AuthSpec::Jwt(spec) => vec![&spec.private_key],
            AuthSpec::Oauth2(spec) => match spec.grant {
                Grant::RefreshToken => vec![&spec.client_id, &spec.client_secret, &spec.refresh_token],
                Grant::ClientCredentials => vec![&spec.client_id, &spec.client_secret],
                Grant::JwtBearer => {
                    let mut keys = vec![spec.client_id.as_str(), &spec.private_key];
                    if spec.subject_required {
                        keys.push(&spec.subject);
                    }
                    if spec.client_auth != ClientAuth::None {
                        keys.push(&spec.client_secret);
                    }
                    keys
                }
                Grant::AppJwt => vec![&spec.client_id, &spec.private_key],
            },
        }
    }
}

/// One key of `type: api_keys`: a header and the credential key holding its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyHeader {
    /// Header name (`apitoken`).
    pub name: String,
    /// Credential key holding the value.
    pub credential: String,
    /// Text put in front of the value.
    #[serde(default)]
    pub prefix: String,
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    Header,
    Query,
}

/// OAuth 2.0 settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Spec {
    /// Token endpoint (absolute URL). It may use `{{ config.<key> }}` placeholders for keys
    /// the definition declares under `config` (a data centre's accounts server, say); they are
    /// filled from the connection's config when the client is built.
    pub token_url: String,

    /// A field of the token response holding the API's base URL for this connection (Zoho's
    /// `api_domain`, Salesforce's `instance_url`). Every request then goes to that URL instead
    /// of the definition's or the connection's `base_url`; it is stored beside the tokens
    /// under the same name and read back from the credentials, so a stored token keeps its
    /// base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url_from: Option<String>,

    /// The scheme word before the access token in the `Authorization` header (`Bearer`;
    /// Zoho: `Zoho-oauthtoken`).
    #[serde(default = "default_header_scheme")]
    pub header_scheme: String,

    /// A header that carries the bare access token instead of `Authorization: <scheme>
    /// <token>` (Amazon's Selling Partner API: `x-amz-access-token`). `header_scheme` is then
    /// not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,

    /// JSON pointer to the access token in the token response (default `/access_token`;
    /// GitHub's installation tokens: `/token`).
    #[serde(default = "default_token_pointer")]
    pub token_pointer: String,

    /// JSON pointer to the access token's expiry as an RFC 3339 time in the token response
    /// (GitHub: `/expires_at`), for providers that give no `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_pointer: Option<String>,

    /// `refresh_token` (a user authorised the app once), `client_credentials`,
    /// `jwt_bearer` (RFC 7523: a signed assertion instead of a stored grant) or `app_jwt` (an
    /// app's RS256 JWT, `iss` the client id, sent as `Authorization: Bearer` to the token
    /// endpoint, which answers an installation token: GitHub Apps).
    #[serde(default = "default_grant")]
    pub grant: Grant,

    /// How the client authenticates at the token endpoint: `body` (client_id and
    /// client_secret as form fields), `basic` (HTTP basic) or `none` (the JWT bearer grant's
    /// signed assertion is the only proof: Salesforce's server-to-server flow).
    #[serde(default = "default_client_auth")]
    pub client_auth: ClientAuth,

    /// JWT bearer grant: the assertion's `aud` claim (Salesforce: its login server), a
    /// template over `config` like `token_url`. Required with `grant: jwt_bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,

    /// JWT bearer and app JWT grants: credential key of the PEM RSA private key the assertion
    /// is signed with (RS256). Its certificate (or public key) is registered with the provider.
    #[serde(default = "default_private_key")]
    pub private_key: String,

    /// JWT bearer grant: credential key of the assertion's `sub` claim (the user the
    /// tokens act for: a Salesforce username). The `iss` claim is the client id.
    #[serde(default = "default_subject")]
    pub subject: String,

    /// JWT bearer grant: whether the `subject` credential must be present. With `false` the
    /// `sub` claim is sent only when the credential is there (a Google service account acts
    /// as itself, or as a user of its domain with domain-wide delegation).
    #[serde(default = "default_true")]
    pub subject_required: bool,

    /// JWT bearer and app JWT grants: seconds from now to the assertion's `exp` claim
    /// (Salesforce takes at most 3 minutes, GitHub at most 10).
    #[serde(default = "default_assertion_lifetime_secs")]
    pub assertion_lifetime_secs: u64,

    /// Scopes requested with the client-credentials grant (the `scope` form field), or with
    /// the JWT bearer grant (the assertion's `scope` claim, space-separated: Google). Each is
    /// a template over `config` like `token_url` (Dataverse: `{{ config.environment_url }}/.default`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,

    /// Extra form fields sent to the token endpoint (`audience`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_params: BTreeMap<String, String>,

    /// Refresh when the access token expires within this many seconds.
    #[serde(default = "default_refresh_ahead_secs")]
    pub refresh_ahead_secs: u64,

    /// Lifetime assumed when the token response has no `expires_in`.
    #[serde(default = "default_token_lifetime_secs")]
    pub default_lifetime_secs: u64,

    /// Credential key of the client id.
    #[serde(default = "default_client_id")]
    pub client_id: String,

    /// Credential key of the client secret.
    #[serde(default = "default_client_secret")]
    pub client_secret: String,

    /// Credential key of the refresh token (refresh-token grant).
    #[serde(default = "default_refresh_token")]
    pub refresh_token: String,

    /// Credential key of a stored access token, used until it nears expiry.
    #[serde(default = "default_access_token")]
    pub access_token: String,

    /// Credential key of the stored access token's expiry (unix seconds).
    #[serde(default = "default_expires_at")]
    pub expires_at: String,
}

/// OAuth 1.0a settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth1Spec {
    /// `HMAC-SHA256` (default) or `HMAC-SHA1`.
    #[serde(default = "default_signature_method")]
    pub signature_method: super::oauth1::SignatureMethod,

    /// The `realm` parameter, a template over `config` (NetSuite: `{{ config.account_id }}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,

    /// Credential key of the consumer key.
    #[serde(default = "default_consumer_key")]
    pub consumer_key: String,

    /// Credential key of the consumer secret.
    #[serde(default = "default_consumer_secret")]
    pub consumer_secret: String,

    /// Credential key of the token (id).
    #[serde(default = "default_token")]
    pub token: String,

    /// Credential key of the token secret.
    #[serde(default = "default_token_secret")]
    pub token_secret: String,
}

fn default_signature_method() -> super::oauth1::SignatureMethod {
    super::oauth1::SignatureMethod::HmacSha256
}
fn default_consumer_key() -> String {
    "consumer_key".into()
}
fn default_consumer_secret() -> String {
    "consumer_secret".into()
}
fn default_token() -> String {
    "token".into()
}
fn default_token_secret() -> String {
    "token_secret".into()
}

/// OAuth 2.0 grant used to obtain access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    RefreshToken,
    ClientCredentials,
    /// RFC 7523 section 2.1: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with
    /// an RS256-signed `assertion` (`iss` client id, `sub`, `aud`, `exp`).
    JwtBearer,
    /// An RS256 JWT of the app itself (`iss` the client id, `iat` a minute back for clock
    /// drift, `exp`) sent as `Authorization: Bearer` in an empty `POST` to the token endpoint,
    /// which answers an access token for one installation of the app (GitHub Apps:
    /// `POST /app/installations/{id}/access_tokens` answers `{"token", "expires_at"}`).
    AppJwt,
}

/// How the OAuth client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    Body,
    Basic,
    /// No client authentication (a JWT bearer assertion authenticates the client).
    None,
}

fn default_api_key() -> String {
    "api_key".into()
}
fn default_access_token() -> String {
    "access_token".into()
}
fn default_username() -> String {
    "username".into()
}
fn default_password() -> String {
    "password".into()
}
fn default_grant() -> Grant {
    Grant::RefreshToken
}
fn default_client_auth() -> ClientAuth {
    ClientAuth::Body
}
fn default_token_pointer() -> String {
    "/access_token".into()
}
fn default_header_scheme() -> String {
    "Bearer".into()
}
fn default_refresh_ahead_secs() -> u64 {
    300
}
fn default_token_lifetime_secs() -> u64 {
    3600
}
fn default_client_id() -> String {
    "client_id".into()
}
fn default_client_secret() -> String {
    "client_secret".into()
}
fn default_refresh_token() -> String {
    "refresh_token".into()
}
fn default_expires_at() -> String {
    "expires_at".into()
}
fn default_private_key() -> String {
    "private_key".into()
}
fn default_subject() -> String {
    "username".into()
}
fn default_assertion_lifetime_secs() -> u64 {
    180
}

// ---------------------------------------------------------------------------------------------
// Write pre-flight

/// A request whose response supplies headers and cookies for the writes that follow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightSpec {
    /// The request (templates over `config`), sent with the connection's auth.
    pub request: RequestSpec,

    /// Response headers copied onto every write under the same name (`x-csrf-token`). A
    /// response without one of them is an error naming it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capture_headers: Vec<String>,

    /// Send the cookies the response sets (`name=value` of each `Set-Cookie`) with every
    /// write: the session the captured values belong to.
    #[serde(default = "default_true")]
    pub cookies: bool,

    /// Write responses meaning the captured values are no longer accepted: the pre-flight
    /// is sent again and the write retried, once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refresh_on: Vec<PreflightRefresh>,
}

/// A write response that asks for a new pre-flight. All given conditions must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightRefresh {
    /// Status codes (`403`) or classes; empty matches any status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<StatusPattern>,

    /// A condition on a response header (`{name: x-csrf-token, equals: required}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
}

// ---------------------------------------------------------------------------------------------
// Rate limits

/// A budget of requests per window for one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests allowed in one window; 0 (the default) only with a `cost` budget.
    #[serde(default)]
    pub requests: u32,

    /// Window length in milliseconds (HubSpot: 100 requests per 10000 ms); 0 (the default)
    /// only with a `cost` budget.
    #[serde(default)]
    pub window_ms: u64,

    /// Extra spacing added to each window, absorbing network jitter so the provider never
    /// counts more than `requests` in its own window.
    #[serde(default = "default_margin_ms")]
    pub margin_ms: u64,

    /// Response headers through which the provider reports its own view of the budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<RateLimitHeaders>,

    /// A cost budget the provider reports in each response body (GraphQL APIs that charge
    /// points per query, like a leaky bucket): the pacer waits before a request whose
    /// expected cost exceeds what the bucket holds by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostBudgetSpec>,

    /// Limits of single operations, on top of the connection's budget (Amazon's Selling
    /// Partner API gives each operation a token bucket of its own). A request is paced by the
    /// first operation whose method and path match it, as well as by the connection's budget.
    /// Always the definition's: a connection's `rate_limit` override leaves them in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OperationLimitSpec>,
}

/// One operation's token bucket: `burst` requests at once, then `rate` a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationLimitSpec {
    /// The operation's name, for people (`getOrders`).
    pub name: String,

    /// The method it matches; any method when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,

    /// A regular expression the whole URL path must match (`/orders/v0/orders/[^/]+`).
    pub path: String,

    /// Requests restored a second (Amazon's getOrders: 0.0167).
    pub rate: f64,

    /// The bucket's size: requests that may go at once when it is full.
    pub burst: u32,

    /// A response header with the operation's current rate in requests a second
    /// (`x-amzn-RateLimit-Limit`): the provider may give a selling partner another rate than
    /// the documented one, and the bucket follows what it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_header: Option<String>,
}

/// Where a response body reports a cost budget (JSON pointers into the body). The bucket
/// holds `available` points out of `maximum` and refills at `restore_rate` points a second;
/// a request costs about what the last request of the same kind asked for (`requested`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostBudgetSpec {
    /// Points available now (`/extensions/cost/throttleStatus/currentlyAvailable`).
    pub available: String,

    /// The bucket's size (`/extensions/cost/throttleStatus/maximumAvailable`).
    pub maximum: String,

    /// Points restored per second (`/extensions/cost/throttleStatus/restoreRate`).
    pub restore_rate: String,

    /// What the request asked for before running (`/extensions/cost/requestedQueryCost`):
    /// the expected cost of the next request.
    pub requested: String,

    /// What the request actually cost (`/extensions/cost/actualQueryCost`); informational,
    /// read when `requested` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

fn default_margin_ms() -> u64 {
    50
}

/// Provider rate-limit headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitHeaders {
    /// Header with the requests left in the current window; `0` pauses the connection until
    /// the reset (or one window when there is no reset header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<String>,

    /// A header reporting the requests used and allowed together, for providers without a
    /// plain remaining count (Salesforce's `Sforce-Limit-Info: api-usage=25/15000`, the org's
    /// daily API requests): `limit - used` is read as the remaining budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageHeader>,

    /// Header saying when the window resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<String>,

    /// How the reset header is written.
    #[serde(default = "default_reset_kind")]
    pub reset_kind: ResetKind,

    /// A cost bucket reported through headers: `remaining` then holds the points left (a
    /// decimal), and each request is paced so that the bucket, refilled since, holds what the
    /// dearest request so far cost (Canvas LMS: `X-Rate-Limit-Remaining`, `X-Request-Cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<HeaderBucketSpec>,

    /// Budgets counted over longer windows than the paced one (Xero's 5,000 requests a day in
    /// `X-DayLimit-Remaining`). One that reads 0 spends the connection's quota: no request is
    /// sent for its window (at most an hour, then one request probes again) and the work is
    /// deferred, not failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<QuotaHeader>,
}

/// A response header with the requests left in a long window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaHeader {
    /// The header (`X-DayLimit-Remaining`).
    pub remaining: String,

    /// The window's length in milliseconds (a day: 86400000).
    pub window_ms: u64,
}

/// A leaky bucket of cost points whose level the provider reports in a header after each
/// request; its size and refill rate are the provider's documented constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderBucketSpec {
    /// Header with what the request cost (`X-Request-Cost`).
    pub cost: String,

    /// The bucket's size in points.
    pub maximum: f64,

    /// Points restored per second.
    pub restore_rate: f64,
}

/// A header holding used and allowed request counts in one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageHeader {
    /// The header (`Sforce-Limit-Info`).
    pub name: String,
    /// A regular expression with the named groups `used` and `limit`, both integers
    /// (`api-usage=(?P<used>\d+)/(?P<limit>\d+)`).
    pub pattern: String,
}

fn default_reset_kind() -> ResetKind {
    ResetKind::DeltaSeconds
}

/// Format of a rate-limit reset header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetKind {
    /// Seconds from now.
    DeltaSeconds,
    /// Milliseconds from now.
    DeltaMillis,
    /// A unix timestamp in seconds.
    UnixSeconds,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Turning responses into success or an error class.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// JSON pointer to the provider's short error message or code in a response body
    /// (`/error` for Slack, `/error/message` for Stripe). Quoted, truncated, in error messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// Rules tried in order before the built-in defaults; the first match decides. Defaults:
    /// 2xx succeed, 401 re-auth, 408 and 5xx (but 501, 505) retry, 429 rate-limited,
    /// anything else fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ErrorRule>,
}

/// One error-mapping rule. All given conditions must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// Status codes (`429`) or classes (`"5xx"`); empty matches any status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<StatusPattern>,

    /// A condition on the JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ValueMatch>,

    /// A condition on a response header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,

    /// What a matching response means.
    pub action: ErrorAction,

    /// Delay for `rate_limited` when the response has no Retry-After or reset header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,

    /// JSON pointer to the provider's message in the responses this rule matches, where it is
    /// not at `errors.message` (a SOAP service's `StatusMessage` sits under each operation's
    /// own result element). Quoted, truncated, in error messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A status code or a class of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusPattern {
    /// One code: `404`.
    Code(u16),
    /// A class: `"4xx"`, `"5xx"`.
    Class(String),
}

impl StatusPattern {
    /// Whether `status` matches. An invalid class (caught by validation) matches nothing.
    pub fn matches(&self, status: u16) -> bool {
        match self {
            StatusPattern::Code(code) => *code == status,
            StatusPattern::Class(class) => match class.as_bytes() {
                [d @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => status / 100 == u16::from(d - b'0'),
                _ => false,
            },
        }
    }
}

/// A condition on a value inside a JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueMatch {
    /// JSON pointer to the value (`/error`).
    pub pointer: String,

    /// The value must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,

    /// The value must equal one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<Value>,

    /// The value must be a string containing this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

impl ValueMatch {
    /// Whether the document satisfies the condition. With no comparison given, the value
    /// must be present and not null.
    pub fn matches(&self, doc: &Value) -> bool {
        let Some(value) = doc.pointer(&self.pointer) else {
            return false;
        };
        if let Some(expected) = &self.equals {
            if value != expected {
                return false;
            }
        }
        if !self.one_of.is_empty() && !self.one_of.contains(value) {
            return false;
        }
        if let Some(needle) = &self.contains {
            if !value.as_str().is_some_and(|s| s.contains(needle.as_str())) {
                return false;
            }
        }
        if self.equals.is_none() && self.one_of.is_empty() && self.contains.is_none() {
            return !value.is_null();
        }
        true
    }
}

/// A condition on a response header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub name: String,

    /// The header must have this value (case-insensitive); absent: the header must be present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
}

/// What a response matching a rule means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorAction {
    /// Success after all (a 404 on a delete, say).
    Ok,
    /// The record the request names does not exist (QuickBooks' fault 610 "Object Not Found",
    /// a 404 on a record's URL). A `delete` write counts its record done, as the record is
    /// deleted either way; anywhere else it is a permanent failure, as `fail`.
    Gone,
    /// A transient failure: try again later.
    Retry,
    /// The provider's rate limit: try again after the delay it asks for.
    RateLimited,
    /// A quota counted over a long window (requests a day) is spent: the work is deferred
    /// until the delay the provider asks for (`Retry-After`, else `retry_after_secs`, else an
    /// hour) has passed, without counting a failed attempt.
    QuotaSpent,
    /// The credentials are no longer accepted: a person must re-authorise.
    Reauth,
    /// A permanent failure: retrying the same request cannot succeed.
    Fail,
}

// ---------------------------------------------------------------------------------------------
// Requests

/// An HTTP request template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: HttpMethod,

    /// Path template relative to the base URL (`/v1/customers/{{ id }}`). Placeholder values
    /// are percent-encoded as one path segment.
    #[serde(default)]
    pub path: String,

    /// Query parameter templates. A parameter whose template uses an unset value (the page
    /// token on the first page, `since` in a full refresh) is left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, Scalar>,

    /// Header templates, left out like query parameters when a value is unset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Scalar>,

    /// Headers whose value is a JSON document: templates like `body` (a string that is one
    /// placeholder becomes the value itself; an unset object key is removed), sent as compact
    /// JSON in ASCII, every character above 0x7E escaped as `\uXXXX` (a header value is not
    /// UTF-8). Dropbox's content endpoints take their arguments so, in `Dropbox-API-Arg`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub json_headers: BTreeMap<String, Value>,

    /// The name of one of the definition's `hosts` the request goes to instead of the base
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,

    /// Body template: any JSON value whose strings may hold placeholders. A string that is a
    /// single placeholder is replaced by the value itself (a number, an object, the batch's
    /// records); an object key whose value is unset is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,

    /// How the body is encoded: `json`, `form` (an object, URL-encoded; nested objects and
    /// arrays in bracket notation, `metadata[plan]=pro`, `expand[0]=x`, as Stripe reads them),
    /// `php_form` (the same bracket notation as PHP's `http_build_query` writes it, which
    /// PHP servers such as Moodle's web services read into nested arrays:
    /// `users[0][email]=a%40b.c&users[0][createpassword]=1`; booleans as `1` and `0`) or `xml`
    /// (the body is one string template, the XML document, whose values are XML-escaped; see
    /// [`super::xml`]). SOAP 1.1 is `xml` with the envelope in the template and a
    /// `SOAPAction` header.
    #[serde(default = "default_body_format")]
    pub body_format: BodyFormat,
}

fn default_method() -> HttpMethod {
    HttpMethod::Get
}

fn default_body_format() -> BodyFormat {
    BodyFormat::Json
}

/// HTTP methods a definition may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    /// The method's name (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// Request body encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`, nested values in bracket notation, booleans as
    /// `true` / `false`.
    Form,
    /// `application/x-www-form-urlencoded` as PHP writes and reads it: bracket notation,
    /// booleans as `1` / `0` (PHP's validators refuse the words for integer and boolean
    /// parameters).
    PhpForm,
    /// One string template, the XML document, its values XML-escaped.
    Xml,
    /// A file's bytes: the body is one string placeholder holding them as base64 text
    /// (`"{{ record.content }}"`), sent decoded as `application/octet-stream` unless the
    /// request's `Content-Type` header says otherwise (OneDrive's `PUT .../content`).
    Base64,
}

/// A cheap request proving the credentials work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The request (templates over `config`).
    pub request: RequestSpec,

    /// A condition the response body must also meet (Slack's `auth.test` answers 200 with
    /// `ok: false`; its error rules usually catch that first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ValueMatch>,
}

// ---------------------------------------------------------------------------------------------
// Streams

/// A readable collection of records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// What the records are.
    #[serde(default)]
    pub description: String,

    /// The list request. Placeholders: `config.*`, `page.*`, `since*`. Absent: the stream is
    /// fed by webhooks only (Slack's interactivity payloads, which no API lists): the
    /// connector's `webhooks` route events to it with the record embedded (`object`), and a
    /// sync job over it is refused with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestSpec>,

    /// Used instead of `request` when an incremental sync has a cursor (HubSpot's search
    /// endpoint). Same placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_request: Option<RequestSpec>,

    /// Used for every page after the first, for APIs whose continuation is another endpoint
    /// or call that takes the page token (Dropbox's `list_folder/continue` with
    /// `{"cursor": ...}`, Sage Intacct's `readMore` after `readByQuery`, SOAP continuation
    /// calls). Needs `cursor` pagination, and sends `{{ page.token }}`; the first request then
    /// need not. Same placeholders as `request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_request: Option<RequestSpec>,

    /// Where the records are in a response: a JSON pointer (`/data`, an array; `""` for the
    /// whole response) or a jq program (`.results[]`). Required with `request`; not given for a
    /// stream fed by webhooks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,

    /// JSON pointer to a record's unique id.
    #[serde(default = "default_primary_key")]
    pub primary_key: String,

    /// JSON pointer to the number of records the whole run returns, when the API says
    /// (`/total`, `/meta/total_count`): progress shows a percentage and an ETA with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,

    /// The field incremental syncs advance on; absent: the stream only supports full refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorSpec>,

    /// How to get the next page.
    #[serde(default)]
    pub pagination: PaginationSpec,

    /// Statuses with which the API answers a list that has no records, without a body (Zoho:
    /// 204 for an empty list, 304 when nothing changed since `If-Modified-Since`): the run
    /// ends there, its cursor unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empty_statuses: Vec<u16>,

    /// How to fetch one record by id (webhook events that carry only an id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchSpec>,

    /// A change feed incremental runs read instead of the list, for APIs whose lists cannot
    /// filter on an update time (Stripe's Events API). Needs `fetch` and `cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<ChangesSpec>,

    /// Where the records' fields are described (for mapping suggestions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<RecordSchema>,

    /// Makes this a child stream: its list requests are made once per record of the parent
    /// stream, with that record's fields as `{{ parent.<field> }}` (Calendly's invitees of a
    /// scheduled event: `/scheduled_events/{{ parent.uuid }}/invitees`). The parent is read in
    /// full, page by page, as the run goes; the child pages through each parent record's
    /// children in turn, and its cursor (if any) spans the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentSpec>,

    /// Where a record keeps who it is about (email, phone, name, company): duplicate matching
    /// reads a new record's identity on the source side and scores the records `search` finds
    /// on the destination side by theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentitySpec>,

    /// How to look this stream's records up by identity, for duplicate matching on create:
    /// a request per kind (`email`, `phone`, `name`), tried in that order. Placeholders:
    /// `config.*`, `value` (the normalised email or phone, or the full name), `first_name`,
    /// `last_name`, `company`. Needs `identity`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub search: BTreeMap<SearchKind, SearchSpec>,

    /// A full read lists every record that exists (HubSpot's list without archived ones), so a
    /// record a two-way link holds that a full run did not read, and that `fetch` no longer
    /// finds, was deleted. Needs `fetch`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing_is_deleted: bool,
}

/// JSON pointers to the fields that say who a record is about. Any may be left out; a full
/// `name` is used when the first and last names are not kept apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

/// What a search looks records up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    Email,
    Phone,
    Name,
}

impl SearchKind {
    pub fn name(self) -> &'static str {
        match self {
            SearchKind::Email => "email",
            SearchKind::Phone => "phone",
            SearchKind::Name => "name",
        }
    }
}

/// One identity search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// The request (placeholders: see the stream's `search`).
    pub request: RequestSpec,

    /// Where the records found are in the response: a JSON pointer to their array or to the
    /// one record (`""`: the whole body is the record), or jq.
    #[serde(default)]
    pub records: String,

    /// Statuses meaning nothing was found (a lookup by a key the provider does not know).
    #[serde(default = "default_not_found")]
    pub not_found: Vec<u16>,
}

/// The parent of a child stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentSpec {
    /// The parent stream's name in this definition.
    pub stream: String,
}

/// Where the shape of a stream's or a write's records is described, for
/// `switchyard flows suggest`: a schema in the provider's published description (`spec` and
/// `pointer`, read from the specs directory when one is given), or a JSON Schema written in the
/// definition (`inline`), for records the provider's description leaves open (HubSpot's
/// `properties` map), citing the documentation it follows. Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSchema {
    /// A file under the specs directory (`stripe/spec3.yaml`): relative, without `..`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// A JSON pointer to the record's schema in it (`/components/schemas/customer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The record's JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<Value>,
}

/// A feed of changes: each item names a changed record, which is fetched as it is now (with the
/// stream's `fetch`), so the order of the feed and repeated changes never write an old version.
/// Paged like the stream. A cursor older than `max_age_secs` (the feed's retention) makes the
/// run a full refresh instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesSpec {
    /// The feed request. Placeholders: `config.*`, `page.*`, `since*`.
    pub request: RequestSpec,

    /// Where the items are in a response (a JSON pointer or a jq program, as `records`).
    pub records: String,

    /// JSON pointer to the changed record's id in an item (`/data/object/id`).
    pub id: String,

    /// Only items matching this (`{pointer: /data/object/object, equals: customer}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<ValueMatch>,

    /// The item's time, the run's cursor (the same type as the stream's cursor).
    pub cursor: CursorSpec,

    /// How far back the feed reaches, in seconds (Stripe keeps events 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,

    /// Items matching this are tombstones (`{pointer: /type, equals: customer.deleted}`): the
    /// record they name was deleted, and is not fetched. A two-way link acts on it by its
    /// `on_delete` rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<ValueMatch>,

    /// The feed answers every change since the cursor in one response and takes no page
    /// parameters (QuickBooks' CDC: up to 1,000 objects, no paging): one request a run,
    /// whatever the stream's own pagination.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unpaged: bool,
}

fn default_primary_key() -> String {
    "/id".into()
}

/// The cursor field of an incremental stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorSpec {
    /// JSON pointer to the cursor value in a record (`/created`, `/updatedAt`); for a
    /// `delta_link` cursor, to the link in a page's body (`/@odata.deltaLink`).
    pub field: String,

    /// How the value is written.
    #[serde(rename = "type")]
    pub kind: CursorKind,

    /// Re-read this many seconds before the checkpointed cursor, catching records written
    /// out of order (time cursors only).
    #[serde(default)]
    pub lookback_secs: u64,

    /// The answer that says the checkpointed cursor is no longer valid at the provider (a
    /// delta link whose sync state expired: Graph's `410 Gone`): an incremental run that gets
    /// it on its first page starts over as a full refresh (records already synced are found
    /// unchanged by their links), and its new cursor replaces the dead one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<CursorExpired>,
}

/// A response meaning "the cursor is gone, start over" (see [`CursorSpec::expired`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorExpired {
    /// Statuses that say so.
    pub status: Vec<u16>,
    /// Only when the body matches this too (`{pointer: /error/code, one_of: [...]}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ValueMatch>,
}

impl CursorExpired {
    /// Whether a response says the cursor is gone.
    pub fn matches(&self, status: u16, body: &Value) -> bool {
        self.status.contains(&status) && self.body.as_ref().is_none_or(|m| m.matches(body))
    }
}

/// How a cursor value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorKind {
    /// Unix seconds (Stripe `created`).
    UnixSeconds,
    /// Unix milliseconds.
    UnixMillis,
    /// RFC 3339 date-time (HubSpot `updatedAt`).
    Rfc3339,
    /// An ISO 8601 date-time whose offset may also be written without a colon, `+hhmm`
    /// (Salesforce's `SystemModstamp`, `2024-05-02T11:17:33.000+0000`); RFC 3339 text reads
    /// too. `since` is written as RFC 3339.
    Iso8601,
    /// Microsoft's JSON date, `/Date(<unix millis>[+-hhmm])/`: OData v2 `Edm.DateTime` and
    /// `Edm.DateTimeOffset` values (SAP Gateway), ASP.NET JSON.
    JsonDate,
    /// A UTC date and time without a zone, `YYYY-MM-DD HH:MM:SS` (Pipedrive's `update_time`,
    /// SQL `DATETIME` text). Read and written as UTC.
    UtcDatetime,
    /// A US-style date and time without a zone, `MM/DD/YYYY HH:MM:SS` (Sage Intacct's
    /// `WHENMODIFIED`). Read and written as UTC.
    UsDatetime,
    /// An opaque string compared byte-wise (no lookback).
    String,
    /// A delta link (OData's `@odata.deltaLink`, Microsoft Graph's delta queries): not a
    /// record's field but a URL the API gives on the last page of a run, `field` pointing into
    /// that page's body. The run follows the pages (`pagination`) and keeps the last page's
    /// link as its cursor; the next incremental run starts by requesting that URL instead of
    /// the stream's request, and only when it is on the base URL's origin (it is refused
    /// otherwise, so a stored or typed link cannot send credentials elsewhere). Each new link
    /// replaces the last; no lookback.
    DeltaLink,
}

/// Fetching a single record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchSpec {
    /// The request. Placeholders: `config.*`, `id`.
    pub request: RequestSpec,

    /// Where the record is in the response: a JSON pointer (`""` is the whole body) or jq.
    #[serde(default)]
    pub record: String,

    /// Statuses meaning the record does not exist.
    #[serde(default = "default_not_found")]
    pub not_found: Vec<u16>,

    /// A regular expression every id must match as a whole before it is sent (`[0-9]{1,20}`).
    /// Ids come from webhook events, which strangers write: set this wherever the id lands in a
    /// query language (SuiteQL, SOQL, OData filters) rather than in a URL path segment, which
    /// templates already escape. An id that does not match fails permanently, unsent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_pattern: Option<String>,
}

fn default_not_found() -> Vec<u16> {
    vec![404]
}

/// Pagination styles.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationSpec {
    /// One page.
    #[default]
    None,
    /// An opaque token, from the body or the last record, sent back as `{{ page.token }}`.
    Cursor {
        /// JSON pointer to the next token in the body (`/paging/next/after`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// JSON pointer into the page's last record whose value is the next token (Stripe's
        /// `starting_after` is the last object's `/id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_from_last_record: Option<String>,
        /// JSON pointer to a value saying whether more pages follow (`/has_more`): a boolean,
        /// `"true"`/`"false"`, or a count of what remains (more when above 0: Sage Intacct's
        /// `numremaining`; XML values are text).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        has_more: Option<String>,
        /// JSON pointer to a boolean that is true on the last page (Zendesk's incremental
        /// exports: `end_of_stream`), the inverse of `has_more`; not with `has_more`. An absent
        /// flag ends the stream, and a page that says more follow must give the token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_of_stream: Option<String>,
        /// Page size, available as `{{ page.size }}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page_size: Option<u64>,
        /// The token names a result set the API steps through itself, so it stays the same
        /// from page to page (Sage Intacct's `readMore` by `resultId`): a repeated token is
        /// expected instead of refused, and `has_more` (required) and the page cap end the run.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        result_set: bool,
    },
    /// The body holds the next page's URL.
    NextUrl {
        /// JSON pointer to the URL (absolute or relative to the request).
        pointer: String,
    },
    /// An RFC 8288 `Link` header holds the next page's URL.
    LinkHeader {
        /// Link relation of the next page.
        #[serde(default = "default_rel")]
        rel: String,
    },
    /// `{{ page.offset }}` advances by the records received.
    Offset {
        /// Records asked per page (`{{ page.size }}`); a shorter page is the last.
        page_size: u64,
        /// First offset.
        #[serde(default)]
        start: u64,
        /// JSON pointer to the total record count, when the API gives one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<String>,
        /// JSON pointer to a value saying whether more records follow (Oracle's REST
        /// framework: `/hasMore`), read like the cursor style's `has_more`; an absent value
        /// ends the stream. Not with `total`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        has_more: Option<String>,
    },
    /// `{{ page.number }}` counts up.
    PageNumber {
        /// Records asked per page (`{{ page.size }}`); a shorter page is the last.
        page_size: u64,
        /// First page number.
        #[serde(default = "default_first_page")]
        start: u64,
        /// JSON pointer to the total page count, when the API gives one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_pages: Option<String>,
        /// Response header holding the total page count (WordPress REST's `X-WP-TotalPages`),
        /// for APIs that answer with a bare array. Not with `total_pages` or `total`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_pages_header: Option<String>,
        /// JSON pointer to the total record count (Magento's `/total_count`): the last page is
        /// the one that reaches it. For APIs that answer a page past the end with the last page
        /// again instead of an empty one. Not with `total_pages` or `total_pages_header`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<String>,
    },
    /// A result set the API keeps on its side, named by a handle in the first response
    /// (Snowflake's `statementHandle`, BigQuery's `jobReference.jobId`) and read page by page
    /// with `next_request`, which sends `{{ page.handle }}` and either `{{ page.token }}`
    /// (the token each page gives: BigQuery's `pageToken`) or `{{ page.number }}` (partitions
    /// 1 to n-1, n counted in the first response: Snowflake's
    /// `resultSetMetaData.partitionInfo`). Exactly one of `token` and `partitions`.
    ResultSet {
        /// JSON pointer to the result set's handle in the first response.
        handle: String,
        /// JSON pointer to the next page's token on every page; absent or empty: last page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// JSON pointer, in the first response, to the partition count: an array (its
        /// length) or a number. The first response is partition 0.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partitions: Option<String>,
    },
}

fn default_rel() -> String {
    "next".into()
}

fn default_first_page() -> u64 {
    1
}

// ---------------------------------------------------------------------------------------------
impl ConnectorDefinition {
    /// The stream whose records write operation `operation` writes: its `stream`, or else the
    /// part of its name before the first `.` when that names a stream; `None` for an unknown
    /// operation or one that names no stream.
    /// The write of `kind` on the same stream as `operation` (the update-by-id or the delete
    /// beside an upsert), the first by name when there are several.
    pub fn sibling_write(&self, operation: &str, kind: WriteKind) -> Option<&str> {
        let stream = self.write_stream(operation)?;
        self.writes
            .iter()
            .find(|(name, w)| w.kind == kind && self.write_stream(name) == Some(stream))
            .map(|(name, _)| name.as_str())
    }

    pub fn write_stream(&self, operation: &str) -> Option<&str> {
        let write = self.writes.get(operation)?;
        if let Some(stream) = &write.stream {
            return Some(stream.as_str());
        }
        let prefix = operation.split('.').next()?;
        self.streams.get_key_value(prefix).map(|(k, _)| k.as_str())
    }
}

// Writes

/// A write operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteSpec {
    /// What the operation does.
    #[serde(default)]
    pub description: String,

    /// `create`, `update` or `upsert`.
    pub kind: WriteKind,

    /// JSON pointer to the key in each (mapped) record: the destination id for `update`, the
    /// natural key (`/email`) or id for `upsert`. Required for both; available as `{{ key }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,

    /// Records per request (HubSpot batch endpoints: 100). `1` sends one record per request.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,

    /// The request. Placeholders: `config.*`, `records` (the enveloped records of the batch)
    /// and, with `batch_size: 1`, `record`, `record.*`, `key`, `ref`.
    pub request: RequestSpec,

    /// Envelope applied to each record before it joins `records`. Placeholders: `record`,
    /// `record.<field>`, `key`, `ref` (the record's index in the batch, as text), `config.*`.
    /// Default: the record itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Value>,

    /// How per-record results are read from the response.
    #[serde(default)]
    pub response: WriteResponseSpec,

    /// Read the record as it is now before writing it: for APIs whose updates must carry
    /// a value of the current version (QuickBooks' `SyncToken`, an ETag for `If-Match`).
    /// Needs `key` and `batch_size: 1`. A record with a key is fetched by it through the
    /// named stream's `fetch`, and the request and envelope see it as `{{ current }}`
    /// (`{{ current.SyncToken }}`); a record without a key (a create) is written without
    /// one, `current` unset; a key the provider does not know fails the record permanently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_current: Option<ReadCurrentSpec>,

    /// Sign each request body like a webhook provider would (outbound webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<SignSpec>,

    /// When a whole batch is refused with a permanent error, split it in halves and retry
    /// them, so a poison record fails alone instead of failing its batch.
    #[serde(default = "default_true")]
    pub split_on_failure: bool,

    /// Where the (mapped) records' fields are described (for mapping suggestions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<RecordSchema>,

    /// The stream whose records this operation writes (read back, searched for duplicates,
    /// and read by the other direction of a two-way link). Default: the part of the
    /// operation's name before its first `.` (`contacts.upsert_by_email` writes `contacts`),
    /// when the definition has such a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,

    /// Large files through an upload session instead of `request` (OneDrive's and
    /// SharePoint's `createUploadSession`, then the file in ranged `PUT`s). Needs
    /// `batch_size: 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_session: Option<UploadSessionSpec>,
}

/// How a write sends a large file (see [`WriteSpec::upload_session`]): a request opens the
/// session and answers an upload URL; the file then goes there in fragments, each a `PUT` with
/// `Content-Range: bytes <first>-<last>/<size>`, in order; the last fragment's answer is the
/// write's response. The upload URL is pre-authorised and may be on another host: it gets no
/// credentials, and the URL guard checks it as any other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionSpec {
    /// The file's content as base64 text: a template over the record
    /// (`"{{ record.content }}"`), the same the write's own `base64` body sends.
    pub content: String,
    /// Files of at least this many bytes go through the session; smaller ones by the write's
    /// `request`.
    pub threshold_bytes: usize,
    /// The request opening the session (the placeholders of the write's request).
    pub request: RequestSpec,
    /// JSON pointer to the upload URL in the session's answer (`/uploadUrl`).
    pub upload_url: String,
    /// Bytes per fragment (the last may be shorter).
    pub fragment_bytes: usize,
    /// Every fragment but the last must be a multiple of this many bytes (OneDrive: 327,680,
    /// 320 KiB); checked against `fragment_bytes` when the definition loads.
    #[serde(default = "default_fragment_multiple")]
    pub fragment_multiple: usize,
}

fn default_fragment_multiple() -> usize {
    1
}

/// Where a write reads the current version of a record from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadCurrentSpec {
    /// A stream of the same definition with a `fetch`.
    pub stream: String,
}

fn default_batch_size() -> usize {
    1
}

fn default_true() -> bool {
    true
}

/// Kinds of write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    Create,
    Update,
    Upsert,
    /// Deletes (or archives, as the provider's delete does) the record its `key` names: a
    /// two-way link's `propagate` deletes ([`crate::store::flows::DeleteRule`]).
    Delete,
}

/// Reading per-record results of a write. All pointers are optional; without `results`
/// the whole body is the result of a single-record request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteResponseSpec {
    /// Where the per-record results are: a JSON pointer to their array (`/results`), or a jq
    /// program whose outputs are the results, for APIs that answer in more than one array
    /// (Mailchimp's batch subscribe: `(.new_members // []) + (.updated_members // []) | .[]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,

    /// JSON pointer, inside a result, to the destination's id (`/id`, Slack's `/ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_id: Option<String>,

    /// JSON pointer, inside a result, to the `ref` the envelope sent
    /// (HubSpot's `/objectWriteTraceId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_ref: Option<String>,

    /// JSON pointer, inside a result, to the record's key (`/properties/email`), compared
    /// ignoring ASCII case. Used when a result has no ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_key: Option<String>,

    /// JSON pointer to the array of per-record errors (`/errors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<String>,

    /// JSON pointer, inside an error, to the ref or refs (a string or an array) it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_ref: Option<String>,

    /// JSON pointer, inside an error, to the key or keys (a string or an array) it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_key: Option<String>,

    /// JSON pointer, inside an error, to its message.
    #[serde(default = "default_error_message", skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,

    /// A condition on an entry of `results` that makes it a refusal of its record, for APIs
    /// that answer each record in place, successes and failures in one array (Zoho's
    /// `{"status": "error"}`, Salesforce's `{"success": false}`). The refusal's message is
    /// read from the entry with `error_message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_failed: Option<ValueMatch>,

    /// A response header holding the written record's URL, whose last path segment is the
    /// destination id (NetSuite answers a create with 204 and `Location`). Used for
    /// single-record requests whose body gives no id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_id_header: Option<String>,

    /// The API takes a batch whole or refuses it whole (Power BI's push rows): a success
    /// means every record was written; a refusal refuses the batch, which `split_on_failure`
    /// halves until the refused record fails alone. Not with `results` or `errors`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_or_nothing: bool,
}

fn default_error_message() -> Option<String> {
    Some("/message".into())
}

/// The same as `response: {}`: a write without a `response` section reads error messages
/// from `/message` too. (A derived `Default` left `error_message` unset, so the section's
/// absence and `{}` meant different things, and a definition changed when saved as JSON.)
impl Default for WriteResponseSpec {
    fn default() -> Self {
        Self {
            results: None,
            destination_id: None,
            result_ref: None,
            result_key: None,
            errors: None,
            error_ref: None,
            error_key: None,
            error_message: default_error_message(),
            result_failed: None,
            destination_id_header: None,
            all_or_nothing: false,
        }
    }
}

/// Signing outbound request bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignSpec {
    /// A scheme name [`crate::webhook::Scheme::from_name`] accepts (`standard-webhooks`).
    pub scheme: String,

    /// Credential key of the signing secret (`whsec_...` for Standard Webhooks).
    #[serde(default = "default_signing_secret")]
    pub secret: String,
}

fn default_signing_secret() -> String {
    "signing_secret".into()
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// Inbound webhooks from the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Signature scheme name, as [`crate::webhook::Scheme::from_name`] accepts it.
    pub scheme: String,

    /// JSON pointer to the event id in one event (`/id`, HubSpot `/eventId`).
    pub event_id: String,

    /// JSON pointer to the event type (`/type`, HubSpot `/subscriptionType`). When the body
    /// has none there (WooCommerce sends its topic in `X-WC-Webhook-Topic`), the type the
    /// receiver's scheme read is used.
    pub event_type: String,

    /// JSON pointer to the full object inside the event (Stripe `/data/object`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,

    /// JSON pointer to the object's id, fetched through the stream's `fetch` when the event
    /// does not carry the object (HubSpot `/objectId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,

    /// Event type -> stream it updates. A key ending in `*` matches by prefix; exact keys win.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, String>,

    /// How a delivery's body is read into the JSON object the pointers above look into:
    /// `json` (the default); `form` for senders that post `application/x-www-form-urlencoded`
    /// (Mailchimp's audience webhooks), bracketed names nested (`data[merges][FNAME]` is
    /// `/data/merges/FNAME`), every value a string; or `{form_json: <field>}` for senders that
    /// post a form one of whose fields holds the event as JSON (Slack's interactivity:
    /// `payload=<JSON>`): the event is that field's JSON document.
    #[serde(default, skip_serializing_if = "WebhookBody::is_json")]
    pub body: WebhookBody,

    /// Events that report a record's deletion (HubSpot's `contact.deletion`; Mailchimp's
    /// `unsubscribe` whose `data[action]` is `delete`): the record is not fetched, and a two-way
    /// link acts on it by its `on_delete` rule. The event type must route to a stream (`events`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletions: Vec<DeletionEvent>,

    /// Subscriptions at the provider that expire and must be renewed (Microsoft Graph's change
    /// notifications live at most days): the health checker lists them, and renews those of the
    /// connection (their notification URL ends with `/hooks/{connection id}`) that expire within
    /// `margin_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<RenewalSpec>,

    /// Where an event says who made the change, and the value that means our own
    /// integration (HubSpot's `sourceId`, the id of the app that wrote): such an event is the
    /// echo of a write of ours, and a two-way link drops and counts it without reading the
    /// record, even when the record's fields differ from what the write ledger holds (a
    /// provider that adds or normalises a field). The ledger stays the general mechanism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_origin: Option<OwnOrigin>,
}

/// How the provider's expiring webhook subscriptions are found and renewed (see
/// [`WebhookSpec::renewal`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewalSpec {
    /// The request listing the subscriptions (templates over `config`).
    pub list: RequestSpec,
    /// JSON pointer to the array of subscriptions in the list's answer (`/value`).
    pub records: String,
    /// JSON pointer to the next page's URL in the list's answer (`/@odata.nextLink`), followed
    /// on the API's origin only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_url: Option<String>,
    /// JSON pointer to a subscription's id.
    pub id: String,
    /// JSON pointer to a subscription's expiry, an RFC 3339 date-time.
    pub expires_at: String,
    /// JSON pointer to the URL a subscription delivers to: only those ending with
    /// `/hooks/{connection id}` are the connection's.
    pub notification_url: String,
    /// The renewal request. Placeholders: `config.*`, `id` (the subscription's) and
    /// `expires_at` (the new expiry, RFC 3339 in UTC with milliseconds,
    /// `2026-11-30T10:00:00.000Z`).
    pub request: RequestSpec,
    /// A subscription expiring within this many seconds is renewed.
    pub margin_secs: i64,
    /// A renewed subscription expires this many seconds after the renewal (at most the
    /// provider's maximum lifetime).
    pub lifetime_secs: i64,
}

/// The mark of an event caused by our own write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnOrigin {
    /// JSON pointer to the change's origin in an event (`/sourceId`).
    pub pointer: String,
    /// The origin that is us: a template over the connection's config
    /// (`"{{ config.app_id }}"`). An event whose origin is not this, or a connection whose
    /// config leaves it unset, is treated as anyone else's.
    pub equals: String,
    /// Only when this holds too (`{pointer: /changeSource, equals: INTEGRATION}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<ValueMatch>,
}

/// An event type that reports a deletion, when its condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionEvent {
    /// The event type (a key ending in `*` matches by prefix).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Only when the event matches this too (`{pointer: /data/action, equals: delete}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<ValueMatch>,
}

/// The encoding of a webhook delivery's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WebhookBodyRepr", into = "WebhookBodyRepr")]
pub enum WebhookBody {
    #[default]
    Json,
    Form,
    /// A form whose named field holds the event as JSON.
    FormJson(String),
}

/// How a definition writes [`WebhookBody`]: `json`, `form` or `{form_json: <field>}`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum WebhookBodyRepr {
    Name(String),
    FormJson(FormJsonRepr),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormJsonRepr {
    form_json: String,
}

impl TryFrom<WebhookBodyRepr> for WebhookBody {
    type Error = String;

    fn try_from(repr: WebhookBodyRepr) -> Result<Self, String> {
        match repr {
            WebhookBodyRepr::Name(name) if name == "json" => Ok(WebhookBody::Json),
            WebhookBodyRepr::Name(name) if name == "form" => Ok(WebhookBody::Form),
            WebhookBodyRepr::Name(name) => Err(format!(
                "unknown body encoding `{name}`: use `json`, `form` or `{{form_json: <field>}}`"
            )),
            WebhookBodyRepr::FormJson(FormJsonRepr { form_json }) if form_json.is_empty() => {
                Err("`form_json` names the form field that holds the event".to_owned())
            }
            WebhookBodyRepr::FormJson(FormJsonRepr { form_json }) => Ok(WebhookBody::FormJson(form_json)),
        }
    }
}

impl From<WebhookBody> for WebhookBodyRepr {
    fn from(body: WebhookBody) -> Self {
        match body {
            WebhookBody::Json => WebhookBodyRepr::Name("json".into()),
            WebhookBody::Form => WebhookBodyRepr::Name("form".into()),
            WebhookBody::FormJson(form_json) => WebhookBodyRepr::FormJson(FormJsonRepr { form_json }),
        }
    }
}

impl WebhookBody {
    fn is_json(&self) -> bool {
        *self == WebhookBody::Json
    }

    /// The body as one JSON value; the error says why it is unreadable, never what it holds.
    pub fn read(&self, body: &[u8]) -> Result<Value, &'static str> {
        match self {
            WebhookBody::Json => crate::json::from_bytes(body).map_err(|_| "not JSON"),
            WebhookBody::Form => crate::webhook::form::to_json(body),
            // The same app's Events API callbacks are JSON.
            WebhookBody::FormJson(_) if body.trim_ascii_start().starts_with(b"{") => {
                crate::json::from_bytes(body).map_err(|_| "not JSON")
            }
            WebhookBody::FormJson(field) => {
                let form = crate::webhook::form::to_json(body)?;
                let json = form
                    .get(field.as_str())
                    .and_then(Value::as_str)
                    .ok_or("the form has no field holding the event")?;
                serde_json::from_str(json).map_err(|_| "the form's event field is not JSON")
            }
        }
    }
}

impl WebhookSpec {
    /// The receiver's scheme for a connection of this connector. Schemes that read the event
    /// id and type through configured pointers (`basic-auth`) take the definition's
    /// `event_id` and `event_type`.
    pub fn receiver_scheme(&self) -> Result<crate::webhook::Scheme, crate::webhook::UnknownScheme> {
        let mut scheme = crate::webhook::Scheme::from_name(&self.scheme)?;
        if let crate::webhook::Scheme::BasicAuth(config) = &mut scheme {
            config.event_id_pointer = Some(self.event_id.clone());
            config.event_type_pointer = Some(self.event_type.clone());
        }
        Ok(scheme)
    }

    /// Whether `event` (of type `event_type`) reports a deletion.
    pub fn is_deletion(&self, event_type: &str, event: &Value) -> bool {
        self.deletions.iter().any(|d| {
            let typed = match d.event_type.strip_suffix('*') {
                Some(prefix) => event_type.starts_with(prefix),
                None => d.event_type == event_type,
            };
            typed && d.when.as_ref().is_none_or(|w| w.matches(event))
        })
    }

    /// The stream an event type updates: an exact key, else the longest matching prefix key.
    pub fn stream_for(&self, event_type: &str) -> Option<&str> {
        if let Some(stream) = self.events.get(event_type) {
            return Some(stream);
        }
        self.events
            .iter()
            .filter_map(|(pattern, stream)| {
                let prefix = pattern.strip_suffix('*')?;
                event_type
                    .starts_with(prefix)
                    .then_some((prefix.len(), stream.as_str()))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, stream)| stream)
    }
}

// ---------------------------------------------------------------------------------------------
// Serde helpers

/// A YAML scalar read as text: `limit: 100` and `limit: "100"` are the same template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl Scalar {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Scalar(s.to_owned())
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Reads `auth:` as one mapping or a list of them, keeping field paths for errors.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<AuthSpec>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<AuthSpec>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an auth mapping or a list of them")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            AuthSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(|one| vec![one])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::<AuthSpec>::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    deserializer.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_without_a_response_section_reads_it_as_an_empty_one() {
        let empty: WriteResponseSpec = serde_yaml::from_str("{}").unwrap();
        assert_eq!(WriteResponseSpec::default(), empty);
        assert_eq!(empty.error_message.as_deref(), Some("/message"));
        // Saved as JSON (where the section is always written) and read back: unchanged.
        let write: WriteSpec = serde_yaml::from_str("{kind: create, request: {method: POST, path: /hooks}}").unwrap();
        let again: WriteSpec = serde_json::from_str(&serde_json::to_string(&write).unwrap()).unwrap();
        assert_eq!(again, write);
    }

    #[test]
    fn a_form_json_body_is_the_json_its_field_holds() {
        let body = WebhookBody::FormJson("payload".into());
        let form =
            b"payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%7B%22value%22%3A%2242%22%7D%5D%7D";
        assert_eq!(
            body.read(form).unwrap(),
            serde_json::json!({"type": "block_actions", "actions": [{"value": "42"}]})
        );
        // The same app's Events API callbacks are JSON bodies.
        assert_eq!(
            body.read(br#" {"type": "event_callback"}"#).unwrap(),
            serde_json::json!({"type": "event_callback"})
        );
        assert_eq!(
            body.read(b"token=x&command=%2Fdeploy").unwrap_err(),
            "the form has no field holding the event"
        );
        assert_eq!(
            body.read(b"payload=%7Bnope").unwrap_err(),
            "the form's event field is not JSON"
        );
        let yaml: WebhookBody = serde_yaml::from_str("{form_json: payload}").unwrap();
        assert_eq!(yaml, body);
        assert_eq!(serde_yaml::from_str::<WebhookBody>("form").unwrap(), WebhookBody::Form);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"form_json": "payload"}),
            "saved as it is written"
        );
        assert!(serde_yaml::from_str::<WebhookBody>("xml").is_err());
    }

    #[test]
    fn status_patterns_match_codes_and_classes() {
        assert!(StatusPattern::Code(429).matches(429));
        assert!(!StatusPattern::Code(429).matches(430));
        assert!(StatusPattern::Class("5xx".into()).matches(503));
        assert!(StatusPattern::Class("4XX".into()).matches(404));
        assert!(!StatusPattern::Class("5xx".into()).matches(499));
        assert!(!StatusPattern::Class("nonsense".into()).matches(500));
    }

    #[test]
    fn poll_waits_grow_by_the_backoff_up_to_the_cap_and_running_needs_a_success() {
        let poll: PollSpec = serde_yaml::from_str(
            "{running: {pointer: /jobComplete, equals: false}, request: {method: GET, path: /q}, interval_ms: 200, backoff: 2, max_interval_ms: 1000}",
        )
        .expect("parses");
        let waits: Vec<u64> = (0..5).map(|n| poll.wait(n).as_millis() as u64).collect();
        assert_eq!(waits, [200, 400, 800, 1000, 1000]);
        assert!(poll.is_running(200, &serde_json::json!({"jobComplete": false})));
        assert!(!poll.is_running(200, &serde_json::json!({"jobComplete": true})));
        assert!(!poll.is_running(500, &serde_json::json!({"jobComplete": false})));
        let constant: PollSpec = serde_yaml::from_str("{url: /statementStatusUrl, interval_ms: 250}").expect("parses");
        assert_eq!(constant.wait(7).as_millis(), 250);
        assert!(constant.is_running(202, &Value::Null));
    }

    #[test]
    fn value_match_supports_equals_one_of_contains_and_presence() {
        let doc = serde_json::json!({"ok": false, "error": "channel_not_found", "n": null});
        let m = |yaml: &str| serde_yaml::from_str::<ValueMatch>(yaml).unwrap().matches(&doc);
        assert!(m("{pointer: /ok, equals: false}"));
        assert!(!m("{pointer: /ok, equals: true}"));
        assert!(m("{pointer: /error, one_of: [ratelimited, channel_not_found]}"));
        assert!(m("{pointer: /error, contains: not_found}"));
        assert!(m("{pointer: /error}"));
        assert!(!m("{pointer: /n}"));
        assert!(!m("{pointer: /missing}"));
    }

    #[test]
    fn webhook_events_match_exact_keys_before_longest_prefix() {
        let spec: WebhookSpec = serde_yaml::from_str(
            "{scheme: stripe, event_id: /id, event_type: /type, events: \
             {'customer.*': customers, 'customer.subscription.*': subscriptions, \
             customer.source.created: sources}}",
        )
        .unwrap();
        assert_eq!(spec.stream_for("customer.updated"), Some("customers"));
        assert_eq!(spec.stream_for("customer.subscription.deleted"), Some("subscriptions"));
        assert_eq!(spec.stream_for("customer.source.created"), Some("sources"));
        assert_eq!(spec.stream_for("invoice.paid"), None);
    }

    #[test]
    fn a_basic_auth_receiver_reads_event_id_and_type_where_the_definition_says() {
        let spec: WebhookSpec =
            serde_yaml::from_str("{scheme: basic-auth, event_id: /meta/id, event_type: /meta/entity}").unwrap();
        let crate::webhook::Scheme::BasicAuth(config) = spec.receiver_scheme().unwrap() else {
            panic!("basic-auth");
        };
        assert_eq!(config.event_id_pointer.as_deref(), Some("/meta/id"));
        assert_eq!(config.event_type_pointer.as_deref(), Some("/meta/entity"));
        let stripe: WebhookSpec = serde_yaml::from_str("{scheme: stripe, event_id: /id, event_type: /type}").unwrap();
        assert_eq!(stripe.receiver_scheme().unwrap(), crate::webhook::Scheme::Stripe);
    }

    #[test]
    fn auth_is_one_mapping_or_a_list() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(deserialize_with = "one_or_many")]
            auth: Vec<AuthSpec>,
        }
        let one: Holder = serde_yaml::from_str("auth: {type: bearer}").unwrap();
        assert_eq!(one.auth.len(), 1);
        assert_eq!(one.auth[0].required_credentials(), vec!["access_token"]);
        let many: Holder =
            serde_yaml::from_str("auth: [{type: oauth2, token_url: 'https://x/token'}, {type: bearer}]").unwrap();
        assert_eq!(many.auth.len(), 2);
        assert_eq!(many.auth[0].kind(), "oauth2");
    }

    #[test]
    fn scalars_accept_numbers_and_booleans_as_text() {
        let map: BTreeMap<String, Scalar> = serde_yaml::from_str("{limit: 100, archived: false, q: x}").unwrap();
        assert_eq!(map["limit"].as_str(), "100");
        assert_eq!(map["archived"].as_str(), "false");
        assert_eq!(map["q"].as_str(), "x");
    }

    #[test]
    fn an_expired_cursor_is_told_by_its_status_and_body() {
        let rule: CursorExpired = serde_yaml::from_str(
            "{status: [410], body: {pointer: /error/code, one_of: [SyncStateNotFound, resyncRequired]}}",
        )
        .unwrap();
        let gone = serde_json::json!({"error": {"code": "resyncRequired"}});
        assert!(rule.matches(410, &gone));
        assert!(!rule.matches(400, &gone), "another status");
        assert!(
            !rule.matches(410, &serde_json::json!({"error": {"code": "Other"}})),
            "another body"
        );
        let any: CursorExpired = serde_yaml::from_str("{status: [410]}").unwrap();
        assert!(any.matches(410, &serde_json::Value::Null));
    }
}
