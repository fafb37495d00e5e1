//! The engine: executes one definition for one connection.
//!
//! Every request goes the same way: the URL guard, credentials (refreshing an OAuth token
//! ahead of expiry), the pacer, reqwest with the request timeout, a capped body read, the
//! provider's rate-limit headers, then [`classify`]. A 429 within
//! [`ClientSettings::max_inline_wait`] is waited out and retried here (the pacer already
//! holds every other request of the connection back); a longer one, a 5xx on a write, and
//! anything else come back as a [`ConnectorError`] whose class the caller acts on.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::auth::{now_unix, Authenticator, Credentials, TokenRequestSettings};
use super::compiled::{CompiledDefinition, CompiledStream, CompiledWrite};
use super::cursor;
use super::definition::{
    AuthSpec, ChangesSpec, ConnectorDefinition, CursorKind, HttpMethod, PaginationSpec, PreflightSpec, StreamSpec,
    WriteKind, WriteSpec,
};
use super::errors::{classify, short_text, ConnectorError, ErrorClass, ErrorKind, Verdict};
use super::mapping::Selector;
use super::pagination::{self, PageResponse, PageToken, PaginationError, ParentPosition, StreamState};
use super::plan::{redact_text, PlannedRequest, RedactedRequest, WritePlan, REDACTED};
use super::preflight;
use super::ratelimit::Pacer;
use super::request::{same_origin, CompiledRequest, PreparedBody, PreparedRequest};
use super::stats::ClientStats;
use super::template::{Template, Vars};
use super::url_guard;
use super::write::{read_results, scalar_text, Input, WriteResult};
use crate::connector::definition::RateLimitSpec;

/// The definition's per-operation limits (`rate_limit.operations`), which a connection's
/// `rate_limit` override leaves in place.
fn operation_limits(def: &ConnectorDefinition) -> &[super::definition::OperationLimitSpec] {
    def.rate_limit.as_ref().map_or(&[], |r| r.operations.as_slice())
}

/// The budget a client paces by: a connection's `rate_limit` override (a higher API tier)
/// with what the provider reports (the definition's `headers` and `cost`, when the override
/// names none), or the definition's own.
fn effective_rate_limit(settings: &ClientSettings, def: &ConnectorDefinition) -> Option<RateLimitSpec> {
    match (&settings.rate_limit, &def.rate_limit) {
        (Some(over), Some(own)) => {
            let mut merged = over.clone();
            if merged.headers.is_none() {
                merged.headers = own.headers.clone();
            }
            if merged.cost.is_none() {
                merged.cost = own.cost.clone();
            }
            Some(merged)
        }
        (over, own) => over.clone().or_else(|| own.clone()),
    }
}

/// The definition's base URL with its `{{ config.<key> }}` placeholders filled (keys the
/// definition limits to `one_of` values, checked before this).
fn render_base_url(id: &str, base: &str, config: &Map<String, Value>) -> Result<String, ConnectorError> {
    let template =
        Template::parse(base).map_err(|e| ConnectorError::config(format!("connector `{id}`: base_url: {e}")))?;
    if template.is_literal() {
        return Ok(base.to_owned());
    }
    let config = Value::Object(config.clone());
    let mut vars = Vars::new();
    vars.root("config", Cow::Borrowed(&config));
    template.render(&vars, false).ok_or_else(|| {
        let names: Vec<&str> = template.vars().map(|v| v.as_str()).collect();
        ConnectorError::config(format!(
            "connector `{id}`: the base_url needs {} in the connection config",
            names.join(", ")
        ))
    })
}

/// The definition's other `hosts` for one connection: each base URL (the connection's
/// `hosts.<name>` config, else the definition's with its `config` placeholders filled), checked
/// like the main base URL, with whether it takes credentials.
fn bind_hosts(
    def: &ConnectorDefinition,
    settings: &ClientSettings,
    config: &Map<String, Value>,
) -> Result<BTreeMap<String, (Url, bool)>, ConnectorError> {
    let overrides = settings.config.get("hosts").and_then(Value::as_object);
    let mut hosts = BTreeMap::new();
    for (name, host) in &def.hosts {
        let raw = match overrides.and_then(|o| o.get(name)) {
            Some(Value::String(url)) => url.clone(),
            Some(_) => {
                return Err(ConnectorError::config(format!(
                    "connector `{}`: config `hosts.{name}` must be a URL",
                    def.id
                )))
            }
            None => render_base_url(&def.id, &host.base_url, config)?,
        };
        let url = Url::parse(&raw).map_err(|_| {
            ConnectorError::config(format!("connector `{}`: host `{name}` is not an absolute URL", def.id))
        })?;
        url_guard::check_static(&url, def.require_https, settings.allow_private_network).map_err(|e| {
            ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::UrlRejected,
                format!("connector `{}`: host `{name}`: {e}", def.id),
            )
        })?;
        hosts.insert(name.clone(), (url, host.credentials));
    }
    Ok(hosts)
}

/// The definition's auth alternatives with each OAuth2 `token_url` placeholder filled from
/// the connection's config (a data centre's accounts server), the result checked as a URL,
/// and the JWT bearer `audience` and the `scopes` filled the same way.
fn bind_token_urls(
    def: &ConnectorDefinition,
    config: &Value,
    credentials: &Credentials,
) -> Result<Vec<AuthSpec>, ConnectorError> {
    let mut specs = def.auth.clone();
    for spec in &mut specs {
        // An alternative the credentials cannot use is never chosen: its token URL may read
        // config only its own connections set (a GitHub App's installation id).
        if spec.required_credentials().iter().any(|k| !credentials.contains(k)) {
            continue;
        }
        let AuthSpec::Oauth2(o) = spec else { continue };
        if let Some(audience) = &o.audience {
            let template = Template::parse(audience)
                .map_err(|e| ConnectorError::config(format!("connector `{}`: auth audience: {e}", def.id)))?;
            let mut vars = Vars::new();
            vars.root("config", Cow::Borrowed(config));
            let rendered = template.render(&vars, false).ok_or_else(|| {
                let names: Vec<&str> = template.vars().map(|v| v.as_str()).collect();
                ConnectorError::config(format!(
                    "connector `{}`: the JWT audience needs {} in the connection config",
                    def.id,
                    names.join(", ")
                ))
            })?;
            o.audience = Some(rendered);
        }
        // Scopes may name the connection's own resource (Dataverse asks for
        // `https://<org>.crm.dynamics.com/.default`): each is a template over `config`.
        for scope in &mut o.scopes {
            let template = Template::parse(scope)
                .map_err(|e| ConnectorError::config(format!("connector `{}`: auth scope: {e}", def.id)))?;
            if template.is_literal() {
                continue;
            }
            let mut vars = Vars::new();
            vars.root("config", Cow::Borrowed(config));
            *scope = template.render(&vars, false).ok_or_else(|| {
                let names: Vec<&str> = template.vars().map(|v| v.as_str()).collect();
                ConnectorError::config(format!(
                    "connector `{}`: the OAuth scope needs {} in the connection config",
                    def.id,
                    names.join(", ")
                ))
            })?;
        }
        let template = Template::parse(&o.token_url)
            .map_err(|e| ConnectorError::config(format!("connector `{}`: auth token_url: {e}", def.id)))?;
        if template.is_literal() {
            continue;
        }
        let mut vars = Vars::new();
        vars.root("config", Cow::Borrowed(config));
        let rendered = template.render(&vars, false).ok_or_else(|| {
            let names: Vec<&str> = template.vars().map(|v| v.as_str()).collect();
            ConnectorError::config(format!(
                "connector `{}`: the OAuth token_url needs {} in the connection config",
                def.id,
                names.join(", ")
            ))
        })?;
        match Url::parse(&rendered) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => o.token_url = rendered,
            _ => {
                return Err(ConnectorError::config(format!(
                    "connector `{}`: the OAuth token_url filled from the connection config is not an http(s) URL",
                    def.id
                )))
            }
        }
    }
    Ok(specs)
}

/// Per-connection settings of a client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Overrides the definition's base URL (the connection's `base_url`; tests point it at
    /// local fakes).
    pub base_url: Option<String>,
    /// The connection's non-secret config, read by `{{ config.* }}` placeholders.
    pub config: Map<String, Value>,
    /// Chooses an auth alternative by kind (`oauth2`, `bearer`); default: the first whose
    /// credentials are present.
    pub auth: Option<String>,
    /// Longest wait for one response (also the per-request loop guard).
    pub request_timeout: Duration,
    /// Allow loopback, private and link-local addresses (local fakes, tests). A deployment
    /// setting: never read from a connection's config.
    pub allow_private_network: bool,
    /// Most pages one stream run may read.
    pub max_pages: u32,
    /// Retries inside one call for rate limits (and for transient failures of reads).
    pub max_inline_retries: u32,
    /// Longest Retry-After waited out inside one call; longer ones return `RateLimited`.
    pub max_inline_wait: Duration,
    /// Largest response body read, in bytes.
    pub max_response_bytes: usize,
    /// Overrides the definition's rate limit (a higher API tier, say).
    pub rate_limit: Option<RateLimitSpec>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            config: Map::new(),
            auth: None,
            request_timeout: Duration::from_secs(30),
            allow_private_network: false,
            max_pages: 10_000,
            max_inline_retries: 2,
            max_inline_wait: Duration::from_secs(5),
            max_response_bytes: 32 * 1024 * 1024,
            rate_limit: None,
        }
    }
}

impl ClientSettings {
    /// Settings from a connection's non-secret config: `base_url` and `auth` are read from
    /// it, and the whole config is available to templates.
    ///
    /// A `rate_limit` object (`{"requests": 190, "window_ms": 10000}`, the definition's
    /// vocabulary) overrides the definition's limit for this connection, for accounts whose
    /// plan allows more (or less); one that does not read as a rate limit is ignored with a
    /// warning, and the definition's limit holds.
    pub fn from_connection_config(config: &Map<String, Value>) -> Self {
        let rate_limit = config.get("rate_limit").and_then(|v| {
            serde_json::from_value::<RateLimitSpec>(v.clone())
                .map_err(|e| tracing::warn!(message = "The connection's rate_limit is not usable; the definition's limit applies.", error = %e))
                .ok()
                .filter(|s| s.requests > 0 && s.window_ms > 0)
        });
        Self {
            base_url: config.get("base_url").and_then(Value::as_str).map(str::to_owned),
            auth: config.get("auth").and_then(Value::as_str).map(str::to_owned),
            config: config.clone(),
            rate_limit,
            ..Self::default()
        }
    }
}

/// One page of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records, as the provider sent them.
    pub records: Vec<Value>,
    /// The state for the next page; `None` when the stream is done.
    pub next: Option<StreamState>,
    /// Highest cursor value seen in this run so far (this page included). When `next` is
    /// `None`, it is the cursor to start the next incremental run from.
    pub max_cursor: Option<String>,
    /// How many records the whole run returns, when the stream's `total` pointer finds it.
    pub total: Option<u64>,
    /// Records the source holds but could not read (a malformed CSV line, say), as (record
    /// id, reason): the sync job counts each as a failed record and reads on.
    pub rejected: Vec<(String, String)>,
    /// Ids a change feed named whose fetch found them gone (deleted at the source since the
    /// change): the sync job reports them as `record.deleted` for records the flow had written.
    pub gone: Vec<String>,
    /// Ids of records the page reports deleted (a change feed's tombstones).
    pub deleted: Vec<String>,
}

/// The outcome of a successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// HTTP status of the check request.
    pub status: u16,
    /// Time to the response (pacing and token refresh included).
    pub latency: Duration,
    /// The auth in use (`api_key`, `bearer`, `basic`, `oauth2`, `none`).
    pub auth: &'static str,
}

/// Where an inbound event's record is.
#[derive(Debug, Clone, PartialEq)]
pub enum EventRecord {
    /// The event carries the object.
    Embedded { stream: String, record: Value },
    /// The event carries only the id: fetch it with [`ConnectorClient::fetch_record`].
    Fetch { stream: String, id: String },
    /// The event reports that the record `id` (the event's object id, or the embedded
    /// object's primary key) was deleted ([`crate::connector::definition::WebhookSpec::deletions`]).
    Deleted { stream: String, id: String },
    /// No stream listens for this event type.
    Unrouted,
}

/// A response that passed classification.
struct Response {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

/// What the request is, for retries and messages.
#[derive(Clone, Copy)]
struct Exec<'a> {
    /// Safe to repeat after a transient failure (reads).
    idempotent: bool,
    /// Statuses returned as they are instead of classified (a fetch's 404).
    pass: &'a [u16],
    /// A successful response must have a JSON body (reads); writes whose results are not
    /// read accept any body (a webhook receiver answering `OK`).
    json: bool,
    /// Carries the definition's write pre-flight headers (writes).
    preflight: bool,
    /// The session login itself: sent without a session, never logged in again.
    login: bool,
}

impl Exec<'static> {
    /// A plain read: repeatable, JSON expected, no status passed through.
    const READ: Self = Self {
        idempotent: true,
        pass: &[],
        json: true,
        preflight: false,
        login: false,
    };
}

/// What one send loop ended with.
enum Sent {
    Done(Response),
    /// The response asks for a new write pre-flight.
    PreflightRefused(Response),
}

/// A webhook subscription at the provider (`webhooks.renewal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSubscription {
    pub id: String,
    /// Unix seconds; `None` when the provider's answer had no readable expiry.
    pub expires_at: Option<i64>,
}

/// A definition bound to one connection's settings, credentials, HTTP client and pacer.
pub struct ConnectorClient {
    def: Arc<ConnectorDefinition>,
    compiled: CompiledDefinition,
    settings: ClientSettings,
    base_url: Url,
    /// The definition's other `hosts`: each one's base URL and whether it takes credentials.
    hosts: BTreeMap<String, (Url, bool)>,
    config: Value,
    auth: Authenticator,
    credentials: Credentials,
    http: reqwest::Client,
    pacer: Arc<Pacer>,
    stats: Arc<ClientStats>,
    checked_origins: Mutex<HashSet<String>>,
    /// Headers (and cookies) from the write pre-flight, once fetched.
    preflight: tokio::sync::Mutex<Option<preflight::Captured>>,
    /// The client of a connector whose kind is not HTTP (a database, a bucket, a mail
    /// server); every call goes there instead.
    other: Option<Arc<dyn super::kind::KindClient>>,
    /// The login session of `type: session` auth.
    session: Option<super::session::Session>,
}

impl std::fmt::Debug for ConnectorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorClient")
            .field("definition", &self.def.id)
            .field("base_url", &self.base_url.origin().ascii_serialization())
            .field("auth", &self.auth.kind())
            .finish()
    }
}

impl ConnectorClient {
    /// Binds `def` to a connection. Fails (without I/O) when the base URL is missing or
    /// refused, required config is missing, or the credentials fit no auth alternative.
    pub fn new(
        def: Arc<ConnectorDefinition>,
        settings: ClientSettings,
        credentials: Credentials,
        http: reqwest::Client,
    ) -> Result<Self, ConnectorError> {
        let compiled = CompiledDefinition::compile(&def)
            .map_err(|e| ConnectorError::config(format!("definition `{}`: {}: {}", def.id, e.field, e.message)))?;
        let other: Option<Arc<dyn super::kind::KindClient>> = match def.kind {
            super::definition::ConnectorKind::Http => None,
            super::definition::ConnectorKind::Sql => Some(Arc::new(super::sql::SqlClient::new(
                &def,
                &settings.config,
                &credentials,
                settings.max_pages,
            )?)),
            super::definition::ConnectorKind::S3 => {
                Some(Arc::new(super::s3::S3Client::new(&def, &settings, &credentials)?))
            }
            super::definition::ConnectorKind::Smtp => {
                Some(Arc::new(super::smtp::SmtpClient::new(&def, &settings, &credentials)?))
            }
            super::definition::ConnectorKind::Imap => {
                Some(Arc::new(super::imap::ImapClient::new(&def, &settings, &credentials)?))
            }
        };
        if let Some(other) = other {
            return Ok(Self {
                auth: Authenticator::new(&[], None, &credentials)?,
                compiled,
                base_url: Url::parse(&format!("{}://connection", def.kind.name())).expect("a constant URL"),
                hosts: BTreeMap::new(),
                config: Value::Object(settings.config.clone()),
                credentials,
                http,
                pacer: Arc::new(Pacer::new(None)),
                stats: Arc::new(ClientStats::new()),
                checked_origins: Mutex::new(HashSet::new()),
                preflight: tokio::sync::Mutex::new(None),
                settings,
                def,
                other: Some(other),
                session: None,
            });
        }
        let mut config = Map::new();
        for (key, field) in &def.config {
            match settings
                .config
                .get(key)
                .filter(|v| !v.is_null())
                .or(field.default.as_ref())
            {
                Some(v) if !field.allows(v) => {
                    return Err(ConnectorError::config(format!(
                        "connector `{}`: config `{key}` must be one of {}",
                        def.id,
                        field.one_of.join(", ")
                    )))
                }
                Some(v) => {
                    if let Some(pattern) = &field.pattern {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let anchored = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
                            ConnectorError::config(format!(
                                "connector `{}`: config `{key}` has an invalid pattern",
                                def.id
                            ))
                        })?;
                        if !anchored.is_match(&text) {
                            return Err(ConnectorError::config(format!(
                                "connector `{}`: config `{key}` does not match the pattern `{pattern}`",
                                def.id
                            )));
                        }
                    }
                    config.insert(key.clone(), v.clone());
                }
                None if field.required => {
                    return Err(ConnectorError::config(format!(
                        "connector `{}` needs `{key}` in the connection config",
                        def.id
                    )))
                }
                None => {}
            }
        }
        for (key, value) in &settings.config {
            config.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let base = match (&settings.base_url, &def.base_url) {
            (Some(base), _) => base.clone(),
            // The definition's may read config keys limited to `one_of` values (a region).
            (None, Some(base)) => render_base_url(&def.id, base, &config)?,
            (None, None) => {
                return Err(ConnectorError::config(format!(
                    "connector `{}` needs a base_url in the connection config",
                    def.id
                )))
            }
        };
        let base_url = Url::parse(&base).map_err(|_| ConnectorError::config("the base_url is not an absolute URL"))?;
        url_guard::check_static(&base_url, def.require_https, settings.allow_private_network).map_err(url_rejected)?;
        config.insert("base_url".into(), Value::String(base_url.to_string()));
        let hosts = bind_hosts(&def, &settings, &config)?;
        let config = Value::Object(config);
        let auth_specs = bind_token_urls(&def, &config, &credentials)?;
        let mut auth = Authenticator::new(&auth_specs, settings.auth.as_deref(), &credentials)?;
        {
            let mut vars = Vars::new();
            vars.root("config", Cow::Borrowed(&config));
            auth.render_realm(&vars)?;
        }
        let pacer = Arc::new(
            Pacer::new(effective_rate_limit(&settings, &def).as_ref()).with_operations(operation_limits(&def)),
        );
        let session = match auth.kind() {
            "session" => auth_specs
                .iter()
                .find_map(|s| match s {
                    AuthSpec::Session(spec) => Some(super::session::Session::new(spec)),
                    _ => None,
                })
                .transpose()?,
            _ => None,
        };
        Ok(Self {
            session,
            def,
            compiled,
            settings,
            base_url,
            hosts,
            config,
            auth,
            credentials,
            http,
            pacer,
            stats: Arc::new(ClientStats::new()),
            checked_origins: Mutex::new(HashSet::new()),
            preflight: tokio::sync::Mutex::new(None),
            other: None,
        })
    }

    /// The base URL requests go to: the one the token response gave (see the OAuth2
    /// `base_url_from`), else the connection's or the definition's. Checked like any
    /// configured URL: the provider's answer is not trusted to point anywhere.
    fn current_base_url(&self) -> Result<Url, ConnectorError> {
        let Some(raw) = self.auth.base_url() else {
            return Ok(self.base_url.clone());
        };
        let field = self.auth.base_url_from().unwrap_or("base_url_from");
        let url = Url::parse(&raw).map_err(|_| {
            ConnectorError::invalid_response(format!(
                "connector `{}`: the token response's `{field}` is not an absolute URL",
                self.def.id
            ))
        })?;
        url_guard::check_static(&url, self.def.require_https, self.settings.allow_private_network).map_err(|e| {
            ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::UrlRejected,
                format!("connector `{}`: the token response's `{field}`: {e}", self.def.id),
            )
        })?;
        Ok(url)
    }

    /// The base URL a request goes to and whether it takes the connection's credentials: one
    /// of the definition's `hosts` when the request names it, else the API's own.
    fn base_for(&self, request: &CompiledRequest) -> Result<(Url, bool), ConnectorError> {
        match request.host() {
            None => Ok((self.current_base_url()?, true)),
            Some(name) => self.hosts.get(name).cloned().ok_or_else(|| {
                ConnectorError::config(format!("connector `{}` declares no host `{name}`", self.def.id))
            }),
        }
    }

    /// Renders a request on its base URL, the definition's headers and parameters first.
    fn prepare(&self, request: &CompiledRequest, vars: &Vars<'_>) -> Result<PreparedRequest, ConnectorError> {
        let (base, credentials) = self.base_for(request)?;
        let mut prepared = request.prepare(&base, vars, &self.compiled.defaults)?;
        prepared.credentials = credentials;
        Ok(prepared)
    }

    /// Gets a token first when the base URL comes from the token response and none is known,
    /// and logs in first when requests read values the session login captures
    /// (`{{ session.<name> }}`) and none are known yet.
    async fn ensure_base_url(&self) -> Result<(), ConnectorError> {
        if self.session.as_ref().is_some_and(super::session::Session::lacks_values) {
            self.session_token().await?;
        }
        self.ensure_token_base_url().await
    }

    /// Gets a token first when the base URL comes from the token response and none is known.
    async fn ensure_token_base_url(&self) -> Result<(), ConnectorError> {
        if self.auth.base_url_from().is_some() && self.auth.base_url().is_none() {
            let settings = TokenRequestSettings {
                http: &self.http,
                timeout: self.settings.request_timeout,
                allow_private_network: self.settings.allow_private_network,
            };
            self.auth.parts(&settings).await?;
        }
        Ok(())
    }

    /// Whether `stream` exists, and if so its cursor kind and change feed (for sync jobs,
    /// whatever the connector's kind).
    pub fn stream_cursor(&self, stream: &str) -> Option<(Option<super::definition::CursorKind>, Option<&ChangesSpec>)> {
        if let Some(other) = &self.other {
            return Some((other.stream_cursor(stream)?, None));
        }
        let spec = self.def.streams.get(stream)?;
        Some((spec.cursor.as_ref().map(|c| c.kind), spec.changes.as_ref()))
    }

    /// Shares a pacer between clients of the same connection (one per warm process).
    pub fn with_pacer(mut self, pacer: Arc<Pacer>) -> Self {
        self.pacer = pacer;
        self
    }

    /// Paces this client's requests from `budget`, shared with every other process using the
    /// same connection (see [`crate::connector::ratelimit::SharedBudget`]).
    pub fn with_shared_budget(mut self, budget: Arc<dyn super::ratelimit::SharedBudget>) -> Self {
        let spec = effective_rate_limit(&self.settings, &self.def);
        self.pacer = Arc::new(Pacer::shared(spec.as_ref(), budget).with_operations(operation_limits(&self.def)));
        self
    }

    /// This client's pacer.
    pub fn pacer(&self) -> Arc<Pacer> {
        self.pacer.clone()
    }

    /// Counts this client's work into `stats` (shared with other clients, say) instead of
    /// its own counters.
    pub fn with_stats(mut self, stats: Arc<ClientStats>) -> Self {
        self.stats = stats;
        self
    }

    /// This client's counters: requests, retries, rate-limit waits.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// The base URL the connection's config chose (the connection's own, or the definition's
    /// with its placeholders filled); a token response's `base_url_from` may replace it.
    pub fn configured_base_url(&self) -> &Url {
        &self.base_url
    }

    /// The definition.
    pub fn definition(&self) -> &ConnectorDefinition {
        &self.def
    }

    fn stream(&self, name: &str) -> Result<(&StreamSpec, &CompiledStream), ConnectorError> {
        match (self.def.streams.get(name), self.compiled.streams.get(name)) {
            (Some(spec), Some(compiled)) => Ok((spec, compiled)),
            _ => Err(ConnectorError::config(format!(
                "connector `{}` has no stream `{name}`",
                self.def.id
            ))),
        }
    }

    fn write_op(&self, name: &str) -> Result<(&WriteSpec, &CompiledWrite), ConnectorError> {
        match (self.def.writes.get(name), self.compiled.writes.get(name)) {
            (Some(spec), Some(compiled)) => Ok((spec, compiled)),
            _ => Err(ConnectorError::config(format!(
                "connector `{}` has no write operation `{name}`",
                self.def.id
            ))),
        }
    }

    fn vars(&self) -> Vars<'_> {
        let mut vars = Vars::new();
        vars.root("config", Cow::Borrowed(&self.config));
        if let Some(values) = self.session.as_ref().and_then(super::session::Session::values) {
            vars.root("session", Cow::Owned(values));
        }
        vars
    }

    /// Where `stream`'s records keep who they are about (duplicate matching); `None` when the
    /// definition does not say.
    pub fn identity(&self, stream: &str) -> Option<&crate::connector::definition::IdentitySpec> {
        if self.other.is_some() {
            return None;
        }
        self.def.streams.get(stream)?.identity.as_ref()
    }

    /// Whether `stream` can be searched by `kind`.
    pub fn searches(&self, stream: &str, kind: crate::connector::definition::SearchKind) -> bool {
        self.other.is_none()
            && self
                .compiled
                .streams
                .get(stream)
                .is_some_and(|s| s.search.iter().any(|x| x.kind == kind))
    }

    /// The records of `stream` its `search.<kind>` request finds for `value` (a normalised
    /// email or phone, or a full name; `parts` adds `first_name`, `last_name` and `company`);
    /// none when the stream has no such search or the provider answers a `not_found` status.
    pub async fn search_records(
        &self,
        stream: &str,
        kind: crate::connector::definition::SearchKind,
        value: &str,
        parts: &[(&'static str, Option<&str>)],
    ) -> Result<Vec<Value>, ConnectorError> {
        if self.other.is_some() {
            return Ok(Vec::new());
        }
        let (_, compiled) = self.stream(stream)?;
        let Some(search) = compiled.search.iter().find(|s| s.kind == kind) else {
            return Ok(Vec::new());
        };
        let mut vars = self.vars();
        vars.set("value", Some(Value::String(value.to_owned())));
        for (name, part) in parts {
            vars.set(name, part.map(|p| Value::String(p.to_owned())));
        }
        self.ensure_base_url().await?;
        let prepared = self.prepare(&search.request, &vars)?;
        let response = self
            .execute(
                prepared,
                Exec {
                    idempotent: true,
                    pass: &search.not_found,
                    json: true,
                    preflight: false,
                    login: false,
                },
            )
            .await?;
        if search.not_found.contains(&response.status) {
            return Ok(Vec::new());
        }
        search
            .records
            .select(&response.body)
            .map_err(|e| ConnectorError::invalid_response(format!("stream `{stream}`: search by {}: {e}", kind.name())))
    }

    /// The primary key of a record of `stream`, as text.
    /// When `record` of `stream` was last modified, in nanoseconds since the epoch: its time
    /// cursor's value (`None` without a time cursor, or for a database stream).
    pub fn modified_at(&self, stream: &str, record: &Value) -> Option<i128> {
        if self.other.is_some() {
            return None;
        }
        let cursor = self.def.streams.get(stream)?.cursor.as_ref()?;
        let text = record.pointer(&cursor.field).and_then(scalar_text)?;
        cursor::to_unix_nanos(cursor.kind, &text)
    }

    /// The JSON pointer at which `stream`'s records keep their id (HTTP connectors; `None`
    /// for a stream this connector lacks, or one whose id a database key makes).
    pub fn primary_key(&self, stream: &str) -> Option<&str> {
        if self.other.is_some() {
            return None;
        }
        self.def.streams.get(stream).map(|s| s.primary_key.as_str())
    }

    pub fn record_id(&self, stream: &str, record: &Value) -> Option<String> {
        if let Some(other) = &self.other {
            return other.record_id(stream, record);
        }
        let spec = self.def.streams.get(stream)?;
        record.pointer(&spec.primary_key).and_then(scalar_text)
    }

    /// Reads the page `state` points at.
    pub async fn read_page(&self, stream: &str, state: &StreamState) -> Result<Page, ConnectorError> {
        if let Some(other) = &self.other {
            return other.read_page(stream, state).await;
        }
        let (spec, compiled) = self.stream(stream)?;
        pagination::check_before_request(state, self.settings.max_pages).map_err(pagination_error)?;
        if let Some(parent) = &spec.parent {
            return self
                .read_child_page(stream, spec, compiled, &parent.stream, state)
                .await;
        }
        if let (Some(since), Some(changes), Some(feed)) = (&state.since, &spec.changes, &compiled.changes) {
            return self.read_changes_page(stream, spec, changes, feed, state, since).await;
        }
        self.read_list_page(stream, spec, compiled, state, None).await
    }

    /// Reads a page of a child stream: when no parent record is pending, the parent's next
    /// page first (an empty parent page makes an empty child page); then the first pending
    /// parent record's next page of children.
    async fn read_child_page(
        &self,
        stream: &str,
        spec: &StreamSpec,
        compiled: &CompiledStream,
        parent: &str,
        state: &StreamState,
    ) -> Result<Page, ConnectorError> {
        let mut state = Cow::Borrowed(state);
        let position = state.parent.as_deref().cloned().unwrap_or_else(ParentPosition::start);
        if position.pending.is_empty() {
            let parent_state = position.next.clone().unwrap_or_default();
            let parent_page = Box::pin(self.read_page(parent, &parent_state)).await?;
            let projected = parent_page
                .records
                .iter()
                .map(|r| pagination::project(r, &compiled.parent_fields))
                .collect::<Vec<_>>();
            let had_records = !projected.is_empty();
            let next = pagination::step_parent(&state, projected, parent_page.next);
            match next {
                Some(next) if had_records => state = Cow::Owned(next),
                next => {
                    return Ok(Page {
                        records: Vec::new(),
                        next,
                        max_cursor: state.max_cursor.clone(),
                        total: None,
                        rejected: Vec::new(),
                        gone: Vec::new(),
                        deleted: Vec::new(),
                    })
                }
            }
        }
        let current = state
            .parent
            .as_deref()
            .and_then(|p| p.pending.first())
            .cloned()
            .unwrap_or_default();
        let page = self
            .read_list_page(stream, spec, compiled, &state, Some(current))
            .await?;
        let next = pagination::step_child(&state, page.next, page.max_cursor.clone());
        Ok(Page { next, ..page })
    }

    /// Reads a page of a list: the stream's own, or a child stream's under `parent`.
    async fn read_list_page(
        &self,
        stream: &str,
        spec: &StreamSpec,
        compiled: &CompiledStream,
        state: &StreamState,
        parent: Option<Value>,
    ) -> Result<Page, ConnectorError> {
        let mut vars = self.vars();
        if let Some(parent) = &parent {
            vars.root("parent", Cow::Owned(parent.clone()));
        }
        for (name, value) in pagination::page_vars(&spec.pagination, state) {
            vars.set(name, Some(value));
        }
        let incremental = match (&state.since, &spec.cursor) {
            (Some(since), Some(c)) => {
                let values = cursor::since_values(c.kind, since, c.lookback_secs).map_err(|e| {
                    ConnectorError::config(format!("the stream's checkpointed cursor is unreadable: {e}"))
                })?;
                for (name, value) in values {
                    vars.set(name, Some(value));
                }
                true
            }
            _ => false,
        };
        let template = match (&compiled.next_request, &compiled.incremental_request, incremental) {
            (Some(next), _, _) if !state.is_first_page() => next,
            (_, Some(req), true) => req,
            _ => compiled.request.as_ref().ok_or_else(|| {
                ConnectorError::config(format!(
                    "stream `{stream}` is fed by webhooks only: it has no list request to read"
                ))
            })?,
        };
        let delta = spec.cursor.as_ref().filter(|c| c.kind == CursorKind::DeltaLink);
        // An incremental run of a delta stream starts at the stored link.
        let start = match (delta, &state.since) {
            (Some(_), Some(link)) if state.is_first_page() => Some(link.as_str()),
            _ => None,
        };
        // An incremental run's first page may be told its cursor is gone: then it starts over.
        let expired = spec
            .cursor
            .as_ref()
            .and_then(|c| c.expired.as_ref())
            .filter(|_| state.since.is_some() && state.is_first_page());
        let pass: Cow<'_, [u16]> = match expired {
            Some(rule) => Cow::Owned(spec.empty_statuses.iter().chain(&rule.status).copied().collect()),
            None => Cow::Borrowed(&spec.empty_statuses),
        };
        let (request_url, mut response) = self.request_page(template, &vars, state, start, &pass).await?;
        if let Some(rule) = expired {
            if rule.matches(response.status, &response.body) {
                tracing::warn!(
                    message = "The provider says the stream's cursor is gone; this run reads everything.",
                    connector = %self.def.id,
                    stream = %stream,
                    status = response.status
                );
                let restart = StreamState {
                    since: None,
                    max_cursor: None,
                    ..state.clone()
                };
                return Box::pin(self.read_list_page(stream, spec, compiled, &restart, parent)).await;
            }
            if !(200..300).contains(&response.status) && !spec.empty_statuses.contains(&response.status) {
                // Passed through for the rule's sake only: the error it is.
                let class = match classify(
                    &self.def.errors,
                    response.status,
                    &response.headers,
                    &response.body,
                    SystemTime::now(),
                ) {
                    Verdict::Failure(class) => class,
                    Verdict::QuotaSpent(retry_after) => ErrorClass::RateLimited { retry_after },
                    // A list answering "gone" is no deleted record: the request failed.
                    Verdict::Success | Verdict::Gone => ErrorClass::Permanent,
                };
                return Err(self.http_error(&format!("GET {}", request_url.path()), class, &response));
            }
        }
        if spec.empty_statuses.contains(&response.status) {
            return Ok(Page {
                records: Vec::new(),
                next: None,
                max_cursor: state.max_cursor.clone(),
                total: None,
                rejected: Vec::new(),
                gone: Vec::new(),
                deleted: Vec::new(),
            });
        }
        // The records stay in the body (borrowed, not copied) while the cursor and the next page
        // are worked out from it, then move out of it.
        let selected = compiled
            .records
            .select_ref(&response.body)
            .map_err(|e| ConnectorError::invalid_response(format!("stream `{stream}`: records: {e}")))?;
        let max_cursor = match &spec.cursor {
            Some(c) if c.kind == CursorKind::DeltaLink => match response.body.pointer(&c.field) {
                // The run's last page gives the link; pages before it carry the run's on.
                Some(Value::String(link)) if !link.trim().is_empty() => {
                    Some(self.same_origin_url(&request_url, link.trim(), "delta link")?)
                }
                _ => state.max_cursor.clone(),
            },
            Some(c) => {
                let mut max = cursor::MaxCursor::new(c.kind, state.max_cursor.clone());
                let field = cursor::FieldPointer::new(&c.field);
                for record in selected.iter() {
                    max.offer(field.find(record));
                }
                max.into_text()
            }
            None => state.max_cursor.clone(),
        };
        let next = self.next_state(spec, state, &request_url, &response, &selected, &max_cursor)?;
        let total = spec
            .total
            .as_deref()
            .and_then(|p| response.body.pointer(p))
            .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
        let records = match selected {
            Cow::Owned(records) => records,
            Cow::Borrowed(_) => compiled.records.take_selected(&mut response.body),
        };
        Ok(Page {
            records,
            next,
            max_cursor,
            total,
            rejected: Vec::new(),
            gone: Vec::new(),
            deleted: Vec::new(),
        })
    }

    /// Sends a list request for the page `state` points at (a stored next-page URL replaces the
    /// template's, and on a first page so does `start`, a delta link, once it is checked to be
    /// on the API's origin): the URL asked and the response.
    async fn request_page(
        &self,
        template: &CompiledRequest,
        vars: &Vars<'_>,
        state: &StreamState,
        start: Option<&str>,
        empty: &[u16],
    ) -> Result<(Url, Response), ConnectorError> {
        self.ensure_base_url().await?;
        let base = self.base_for(template)?.0;
        let mut prepared = self.prepare(template, vars)?;
        if let Some(PageToken::Url(next)) = &state.page {
            prepared.url = Url::parse(next)
                .map_err(|_| ConnectorError::invalid_response("the stored next-page URL is not a URL"))?;
        } else if let Some(link) = start {
            let link = self.same_origin_url(&base, link, "stored delta link")?;
            prepared.url = Url::parse(&link)
                .map_err(|_| ConnectorError::invalid_response("the stored delta link is not a URL"))?;
        }
        let request_url = prepared.url.clone();
        let response = self
            .execute(
                prepared,
                Exec {
                    idempotent: true,
                    pass: empty,
                    json: true,
                    preflight: false,
                    login: false,
                },
            )
            .await?;
        Ok((request_url, response))
    }

    /// The state after a page whose list held `records` (`None`: the stream is done).
    fn next_state(
        &self,
        spec: &StreamSpec,
        state: &StreamState,
        request_url: &Url,
        response: &Response,
        records: &[Value],
        max_cursor: &Option<String>,
    ) -> Result<Option<StreamState>, ConnectorError> {
        let link = link_header(&response.headers);
        let total_pages_header = match &spec.pagination {
            PaginationSpec::PageNumber {
                total_pages_header: Some(name),
                ..
            } => response.headers.get(name.as_str()).and_then(|v| v.to_str().ok()),
            _ => None,
        };
        let page_response = PageResponse {
            body: &response.body,
            link_header: link.as_deref(),
            total_pages_header,
            records,
        };
        let token = pagination::next_token(&spec.pagination, state, &page_response).map_err(pagination_error)?;
        let next = match token {
            None => None,
            Some(PageToken::Url(raw)) => {
                let url = self.next_url(request_url, &raw)?;
                Some(pagination::advance(state, PageToken::Url(url)).map_err(pagination_error)?)
            }
            Some(token) if matches!(spec.pagination, PaginationSpec::Cursor { result_set: true, .. }) => {
                Some(pagination::advance_in_result_set(state, token))
            }
            Some(token) => Some(pagination::advance(state, token).map_err(pagination_error)?),
        };
        Ok(next.map(|mut n| {
            n.max_cursor = max_cursor.clone();
            n
        }))
    }

    /// Reads a page of the stream's change feed from `since`: the records its items name,
    /// fetched as they are now (each once per page), and the items' highest time as the cursor.
    async fn read_changes_page(
        &self,
        stream: &str,
        spec: &StreamSpec,
        changes: &ChangesSpec,
        (request, items_selector): &(CompiledRequest, Selector),
        state: &StreamState,
        since: &str,
    ) -> Result<Page, ConnectorError> {
        let mut vars = self.vars();
        for (name, value) in pagination::page_vars(&spec.pagination, state) {
            vars.set(name, Some(value));
        }
        let values = cursor::since_values(changes.cursor.kind, since, changes.cursor.lookback_secs)
            .map_err(|e| ConnectorError::config(format!("the stream's checkpointed cursor is unreadable: {e}")))?;
        for (name, value) in values {
            vars.set(name, Some(value));
        }
        let (request_url, response) = self.request_page(request, &vars, state, None, &[]).await?;
        let items = items_selector
            .select(&response.body)
            .map_err(|e| ConnectorError::invalid_response(format!("stream `{stream}`: changes: {e}")))?;
        let mut max_cursor = cursor::MaxCursor::new(changes.cursor.kind, state.max_cursor.clone());
        let mut ids: Vec<String> = Vec::new();
        let mut deleted: Vec<String> = Vec::new();
        for item in &items {
            max_cursor.offer(item.pointer(&changes.cursor.field));
            if changes.only.as_ref().is_some_and(|m| !m.matches(item)) {
                continue;
            }
            if let Some(id) = item.pointer(&changes.id).and_then(scalar_text) {
                // The feed's last word on a record counts: a tombstone after a change, or a
                // change after a tombstone (a restore).
                ids.retain(|i| i != &id);
                deleted.retain(|i| i != &id);
                if changes.deleted.as_ref().is_some_and(|m| m.matches(item)) {
                    deleted.push(id);
                } else {
                    ids.push(id);
                }
            }
        }
        let mut records = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for id in &ids {
            // A record deleted since its change is gone: nothing to sync, but said.
            match self.fetch_record(stream, id).await? {
                Some(record) => records.push(record),
                None => gone.push(id.clone()),
            }
        }
        let max_cursor = max_cursor.into_text();
        let next = if changes.unpaged {
            None
        } else {
            self.next_state(spec, state, &request_url, &response, &items, &max_cursor)?
        };
        Ok(Page {
            records,
            next,
            max_cursor,
            total: None,
            rejected: Vec::new(),
            gone,
            deleted,
        })
    }

    /// Resolves a next-page URL against the request URL, keeps it on the API's host, and
    /// removes a query credential the API may have echoed.
    fn next_url(&self, current: &Url, raw: &str) -> Result<String, ConnectorError> {
        self.same_origin_url(current, raw, "next-page URL")
    }

    /// Resolves `raw` (a next-page URL, a delta link: `what`) against `current`, refuses it
    /// unless it is on the base URL's origin, and removes a query credential the API may have
    /// echoed.
    fn same_origin_url(&self, current: &Url, raw: &str, what: &str) -> Result<String, ConnectorError> {
        let mut url = current
            .join(raw)
            .map_err(|_| ConnectorError::invalid_response(format!("the {what} is not a URL")))?;
        if !same_origin(&self.current_base_url()?, &url) {
            return Err(ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::UrlRejected,
                format!("the {what} points away from the API's host; refusing to send credentials there"),
            ));
        }
        if let Some(param) = &self.auth.secret_query_param {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != param.as_str())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.set_query(None);
            if !kept.is_empty() {
                url.query_pairs_mut().extend_pairs(kept);
            }
        }
        Ok(url.to_string())
    }

    /// Fetches one record of `stream` by id; `None` when the provider says it does not exist.
    pub async fn fetch_record(&self, stream: &str, id: &str) -> Result<Option<Value>, ConnectorError> {
        if let Some(other) = &self.other {
            return other.fetch_record(stream, id).await;
        }
        let (_, compiled) = self.stream(stream)?;
        let fetch = compiled.fetch.as_ref().ok_or_else(|| {
            ConnectorError::config(format!(
                "stream `{stream}` of `{}` cannot fetch single records",
                self.def.id
            ))
        })?;
        if !fetch.accepts(id) {
            // The id is not quoted: it came from a stranger's event and may be anything.
            return Err(ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::InvalidInput,
                format!(
                    "stream `{stream}`: the record id ({} bytes) does not match the definition's `fetch.id_pattern`; not sent",
                    id.len()
                ),
            ));
        }
        let (request, selector) = (&fetch.request, &fetch.record);
        let not_found = &self.def.streams[stream]
            .fetch
            .as_ref()
            .expect("compiled fetch implies a fetch spec")
            .not_found;
        let mut vars = self.vars();
        vars.set("id", Some(Value::String(id.to_owned())));
        self.ensure_base_url().await?;
        let prepared = self.prepare(request, &vars)?;
        let response = self
            .execute(
                prepared,
                Exec {
                    idempotent: true,
                    pass: not_found,
                    json: true,
                    preflight: false,
                    login: false,
                },
            )
            .await?;
        if not_found.contains(&response.status) {
            return Ok(None);
        }
        selector
            .select_one(&response.body)
            .map_err(|e| ConnectorError::invalid_response(format!("stream `{stream}`: fetched record: {e}")))
    }

    /// Where the record of an inbound event is (the event as one JSON object).
    pub fn event_record(&self, event: &Value) -> Result<EventRecord, ConnectorError> {
        self.event_record_received(event, None)
    }

    /// [`Self::event_record`] for an event whose type the receiver read (`received_type`):
    /// used when the body has no type at the definition's `event_type` pointer (WooCommerce,
    /// Shopify and GitHub send it in a header).
    /// Whether `event` says our own integration made the change (the definition's
    /// `webhooks.own_origin`, its value rendered from the connection's config): the echo of
    /// a write of ours.
    pub fn is_own_origin(&self, event: &Value) -> bool {
        let (Some(origin), Some(equals)) = (
            self.def.webhooks.as_ref().and_then(|h| h.own_origin.as_ref()),
            self.compiled.own_origin.as_ref(),
        ) else {
            return false;
        };
        if origin.when.as_ref().is_some_and(|w| !w.matches(event)) {
            return false;
        }
        let Some(found) = event.pointer(&origin.pointer).and_then(scalar_text) else {
            return false;
        };
        let ours = equals.render(&self.vars(), false).filter(|v| !v.trim().is_empty());
        ours.is_some_and(|ours| ours.trim() == found.trim())
    }

    pub fn event_record_received(
        &self,
        event: &Value,
        received_type: Option<&str>,
    ) -> Result<EventRecord, ConnectorError> {
        let hooks = self
            .def
            .webhooks
            .as_ref()
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` takes no webhooks", self.def.id)))?;
        let event_type = event
            .pointer(&hooks.event_type)
            .and_then(Value::as_str)
            .or(received_type)
            .unwrap_or_default();
        let Some(stream) = hooks.stream_for(event_type) else {
            return Ok(EventRecord::Unrouted);
        };
        if hooks.is_deletion(event_type, event) {
            let embedded = hooks
                .object
                .as_deref()
                .and_then(|p| event.pointer(p))
                .and_then(|o| self.record_id(stream, o));
            let id = embedded
                .or_else(|| {
                    hooks
                        .object_id
                        .as_deref()
                        .and_then(|p| event.pointer(p))
                        .and_then(scalar_text)
                })
                .ok_or_else(|| {
                    ConnectorError::invalid_response("the deletion event carries neither the object nor its id")
                })?;
            return Ok(EventRecord::Deleted {
                stream: stream.to_owned(),
                id,
            });
        }
        if let Some(record) = hooks
            .object
            .as_deref()
            .and_then(|p| event.pointer(p))
            .filter(|v| v.is_object())
        {
            return Ok(EventRecord::Embedded {
                stream: stream.to_owned(),
                record: record.clone(),
            });
        }
        let id = hooks
            .object_id
            .as_deref()
            .and_then(|p| event.pointer(p))
            .and_then(scalar_text)
            .ok_or_else(|| ConnectorError::invalid_response("the event carries neither the object nor its id"))?;
        Ok(EventRecord::Fetch {
            stream: stream.to_owned(),
            id,
        })
    }

    /// The record an inbound event is about, fetched when the event carries only its id:
    /// `(stream, record)`, or `None` when no stream listens or the record no longer exists
    /// (a deletion event included).
    pub async fn resolve_event(&self, event: &Value) -> Result<Option<(String, Value)>, ConnectorError> {
        match self.event_record(event)? {
            EventRecord::Unrouted | EventRecord::Deleted { .. } => Ok(None),
            EventRecord::Embedded { stream, record } => Ok(Some((stream, record))),
            EventRecord::Fetch { stream, id } => Ok(self.fetch_record(&stream, &id).await?.map(|r| (stream, r))),
        }
    }

    /// Runs the check request.
    pub async fn check(&self) -> Result<CheckReport, ConnectorError> {
        if let Some(other) = &self.other {
            return other.check().await;
        }
        let request = self
            .compiled
            .check
            .as_ref()
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no check request", self.def.id)))?;
        let started = Instant::now();
        self.ensure_base_url().await?;
        let prepared = self.prepare(request, &self.vars())?;
        let response = self.execute(prepared, Exec::READ).await?;
        if let Some(expect) = self.def.check.as_ref().and_then(|c| c.expect.as_ref()) {
            if !expect.matches(&response.body) {
                let mut e = ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::InvalidResponse,
                    format!("the check response does not satisfy `{}`", expect.pointer),
                );
                e.status = Some(response.status);
                return Err(e);
            }
        }
        Ok(CheckReport {
            status: response.status,
            latency: started.elapsed(),
            auth: self.auth.kind(),
        })
    }

    /// The provider's webhook subscriptions that deliver to connection `connection_id`, as
    /// `webhooks.renewal` lists them (every page, on the API's origin). Empty when the
    /// definition has no renewal.
    pub async fn webhook_subscriptions(
        &self,
        connection_id: &str,
    ) -> Result<Vec<ProviderSubscription>, ConnectorError> {
        let (Some(spec), Some(compiled)) = (
            self.def.webhooks.as_ref().and_then(|h| h.renewal.as_ref()),
            self.compiled.renewal.as_ref(),
        ) else {
            return Ok(Vec::new());
        };
        const MAX_PAGES: usize = 50;
        let hook_suffix = format!("/hooks/{connection_id}");
        self.ensure_base_url().await?;
        let mut prepared = self.prepare(&compiled.list, &self.vars())?;
        let mut found = Vec::new();
        for _ in 0..MAX_PAGES {
            let asked = prepared.url.clone();
            let response = self.execute(prepared.clone(), Exec::READ).await?;
            let items = response
                .body
                .pointer(&spec.records)
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ConnectorError::invalid_response(format!(
                        "the subscription list has no array at `{}`",
                        spec.records
                    ))
                })?;
            for item in items {
                let url = item
                    .pointer(&spec.notification_url)
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let path = Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_default();
                if !path.trim_end_matches('/').ends_with(&hook_suffix) {
                    continue;
                }
                let Some(id) = item.pointer(&spec.id).and_then(scalar_text) else {
                    continue;
                };
                let expires_at = item
                    .pointer(&spec.expires_at)
                    .and_then(Value::as_str)
                    .and_then(|t| cursor::to_unix_secs(CursorKind::Iso8601, t));
                found.push(ProviderSubscription { id, expires_at });
            }
            let next = spec
                .next_url
                .as_deref()
                .and_then(|p| response.body.pointer(p))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty());
            let Some(next) = next else {
                return Ok(found);
            };
            let next = self.same_origin_url(&asked, next.trim(), "subscription list's next link")?;
            prepared.url = Url::parse(&next)
                .map_err(|_| ConnectorError::invalid_response("the subscription list's next link is not a URL"))?;
        }
        Err(ConnectorError::invalid_response(format!(
            "the subscription list goes on past {MAX_PAGES} pages"
        )))
    }

    /// Renews subscription `id` to expire at `expires_at` (unix seconds) with
    /// `webhooks.renewal.request`: the expiry the provider answered, else the one asked.
    pub async fn renew_webhook_subscription(&self, id: &str, expires_at: i64) -> Result<i64, ConnectorError> {
        let (Some(spec), Some(compiled)) = (
            self.def.webhooks.as_ref().and_then(|h| h.renewal.as_ref()),
            self.compiled.renewal.as_ref(),
        ) else {
            return Err(ConnectorError::config(format!(
                "connector `{}` renews no webhook subscriptions",
                self.def.id
            )));
        };
        let stamp = time::OffsetDateTime::from_unix_timestamp(expires_at)
            .map_err(|_| ConnectorError::config("the new expiry is out of range"))?;
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
            stamp.year(),
            u8::from(stamp.month()),
            stamp.day(),
            stamp.hour(),
            stamp.minute(),
            stamp.second()
        );
        let mut vars = self.vars();
        vars.set("id", Some(Value::String(id.to_owned())));
        vars.set("expires_at", Some(Value::String(text)));
        self.ensure_base_url().await?;
        let prepared = self.prepare(&compiled.request, &vars)?;
        let response = self.execute(prepared, Exec::READ).await?;
        Ok(response
            .body
            .pointer(&spec.expires_at)
            .and_then(Value::as_str)
            .and_then(|t| cursor::to_unix_secs(CursorKind::Iso8601, t))
            .unwrap_or(expires_at))
    }

    /// Writes `records` (already mapped) with `operation`, `batch_size` per request. Returns
    /// one result per input, in order. A record the destination refuses fails alone: a
    /// batch refused as a whole with a permanent error is split until the poison record is
    /// isolated. When the first request fails with a retriable or re-auth error, nothing was
    /// written and the error is returned; when a later one does, the records not yet written
    /// fail with that class and the earlier results are kept.
    pub async fn write_batch(&self, operation: &str, records: &[Value]) -> Result<Vec<WriteResult>, ConnectorError> {
        if let Some(other) = &self.other {
            return other.write_batch(operation, records).await;
        }
        let (spec, compiled) = self.write_op(operation)?;
        let mut results: Vec<Option<WriteResult>> = vec![None; records.len()];
        let (ready, refused) = keyed_items(spec, records);
        for (index, result) in refused {
            results[index] = Some(result);
        }
        let mut sent_any = false;
        let mut stop: Option<ConnectorError> = None;
        for chunk in ready.chunks(spec.batch_size) {
            if let Some(e) = &stop {
                for item in chunk {
                    results[item.index] = Some(WriteResult::failed(e.message.clone(), e.class));
                }
                continue;
            }
            match self.write_isolating(spec, compiled, records, chunk).await {
                Ok(out) => {
                    for (item, result) in chunk.iter().zip(out) {
                        results[item.index] = Some(result);
                    }
                }
                Err(e) if !sent_any => return Err(e),
                Err(e) => {
                    for item in chunk {
                        results[item.index] = Some(WriteResult::failed(e.message.clone(), e.class));
                    }
                    stop = Some(e);
                }
            }
            sent_any = true;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every record gets a result"))
            .collect())
    }

    /// What [`write_batch`](Self::write_batch) would send for `records`, built without any
    /// I/O (no request, no token refresh, no DNS) and with every credential redacted: the
    /// connector author's dry run. A request that would be split after a refusal is shown
    /// whole; signature headers are computed, then redacted.
    pub fn plan_write(&self, operation: &str, records: &[Value]) -> Result<WritePlan, ConnectorError> {
        if self.other.is_some() {
            return Err(ConnectorError::config(format!(
                "connector `{}` is of kind `{}`: a dry run shows HTTP requests only",
                self.def.id,
                self.def.kind.name()
            )));
        }
        let (spec, compiled) = self.write_op(operation)?;
        let (ready, refused) = keyed_items(spec, records);
        let mut requests = Vec::new();
        for chunk in ready.chunks(spec.batch_size) {
            // A `read_current` write reads the record when it is sent; the plan shows the
            // request without `current`.
            let (mut prepared, _) = self.prepare_write(compiled, records, chunk, None)?;
            let mut signed = Vec::new();
            if let (Some(scheme), Some(sign)) = (&compiled.sign, &spec.sign) {
                if self.credentials.contains(&sign.secret) {
                    let body = prepared.body.as_ref().map(PreparedBody::bytes).unwrap_or_default();
                    let headers = crate::webhook::sign(
                        scheme,
                        &crate::webhook::SignInput {
                            method: prepared.method.as_str(),
                            url: prepared.url.as_str(),
                            body,
                            secret: self.credentials.get(&sign.secret).expect("checked just above"),
                            now: now_unix(),
                            message_id: None,
                        },
                    )
                    .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Credentials, e.to_string()))?;
                    signed = headers
                        .into_iter()
                        .map(|(name, value)| {
                            let shown = if name.to_ascii_lowercase().contains("signature") {
                                REDACTED.to_owned()
                            } else {
                                value
                            };
                            (name, shown)
                        })
                        .collect();
                } else {
                    return Err(ConnectorError::new(
                        ErrorClass::Permanent,
                        ErrorKind::Credentials,
                        format!("the credentials lack `{}` needed to sign deliveries", sign.secret),
                    ));
                }
            }
            prepared.headers.extend(signed);
            if let Some(pre) = &self.def.write_preflight {
                // Fetched by the pre-flight request when the write is sent, not now.
                let from = "[from the write pre-flight]".to_owned();
                prepared
                    .headers
                    .extend(pre.capture_headers.iter().map(|h| (h.clone(), from.clone())));
                if pre.cookies {
                    prepared.headers.push(("cookie".to_owned(), from));
                }
            }
            requests.push(PlannedRequest {
                records: chunk.iter().map(|item| item.index).collect(),
                request: self.redacted(&prepared),
            });
        }
        Ok(WritePlan { requests, refused })
    }

    /// A prepared request as [`execute`](Self::execute) would send it, credentials redacted.
    fn redacted(&self, request: &PreparedRequest) -> RedactedRequest {
        let auth = self.auth.redacted_parts(REDACTED);
        let mut url = request.url.to_string();
        if let Some((name, value)) = auth.query {
            url.push(if request.url.query().is_some() { '&' } else { '?' });
            url.extend(form_urlencoded::byte_serialize(name.as_bytes()));
            url.push('=');
            url.push_str(&value);
        }
        // The order execute() adds them in.
        let accept = match &request.body {
            Some(PreparedBody::Xml(_)) => "text/xml, application/xml",
            _ => "application/json",
        };
        let mut headers = vec![("accept".to_owned(), accept.to_owned())];
        headers.extend(request.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())));
        headers.extend(auth.header);
        headers.extend(auth.more_headers);
        if let Some(session) = &self.session {
            let (header, query) = session.redacted(REDACTED);
            headers.extend(header);
            if let Some((name, value)) = query {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.extend(form_urlencoded::byte_serialize(name.as_bytes()));
                url.push('=');
                url.push_str(&value);
            }
        }
        if let Some(body) = &request.body {
            if !headers.iter().any(|(k, _)| k == "content-type") {
                headers.push(("content-type".to_owned(), body.content_type().to_owned()));
            }
        }
        let secrets = || self.credentials.secret_values();
        let body = request.body.as_ref().map(|b| {
            let text = match b {
                PreparedBody::Xml(xml) => super::xml::redact_slots(xml, REDACTED),
                PreparedBody::Binary(bytes) => format!("<{} bytes>", bytes.len()),
                other => String::from_utf8_lossy(other.bytes()).into_owned(),
            };
            let text = redact_text(&text, secrets());
            match b {
                PreparedBody::Json(_) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
                PreparedBody::Form(_) | PreparedBody::Xml(_) | PreparedBody::Binary(_) => Value::String(text),
            }
        });
        RedactedRequest {
            method: request.method.as_str(),
            url: redact_text(&url, secrets()),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k, redact_text(&v, secrets())))
                .collect(),
            body,
        }
    }

    /// Writes one chunk; a permanent whole-request refusal of several records is split in
    /// halves (when the operation allows) so only the poison records fail.
    fn write_isolating<'a>(
        &'a self,
        spec: &'a WriteSpec,
        compiled: &'a CompiledWrite,
        records: &'a [Value],
        chunk: &'a [Item],
    ) -> futures::future::BoxFuture<'a, Result<Vec<WriteResult>, ConnectorError>> {
        Box::pin(async move {
            match self.write_chunk(spec, compiled, records, chunk).await {
                Ok(results) => Ok(results),
                // A refusal, or a record the request cannot carry (a value an XML body cannot hold).
                Err(e)
                    if e.class == ErrorClass::Permanent
                        && matches!(e.kind, ErrorKind::Http | ErrorKind::Gone | ErrorKind::InvalidInput) =>
                {
                    if chunk.len() == 1 || !spec.split_on_failure {
                        return Ok(chunk
                            .iter()
                            .map(|_| WriteResult::failed(e.message.clone(), ErrorClass::Permanent))
                            .collect());
                    }
                    let (left, right) = chunk.split_at(chunk.len() / 2);
                    let mut out = self.write_isolating(spec, compiled, records, left).await?;
                    match self.write_isolating(spec, compiled, records, right).await {
                        Ok(more) => out.extend(more),
                        Err(e) => out.extend(right.iter().map(|_| WriteResult::failed(e.message.clone(), e.class))),
                    }
                    Ok(out)
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Renders one batch's request (envelopes, body template, headers): the CPU part of a write.
    fn prepare_write(
        &self,
        compiled: &CompiledWrite,
        records: &[Value],
        chunk: &[Item],
        current: Option<&Value>,
    ) -> Result<(PreparedRequest, Vec<Input>), ConnectorError> {
        let mut items = Vec::with_capacity(chunk.len());
        let mut inputs = Vec::with_capacity(chunk.len());
        for (position, item) in chunk.iter().enumerate() {
            let reference = position.to_string();
            let record = &records[item.index];
            let enveloped = match &compiled.envelope {
                None => record.clone(),
                Some(t) => {
                    let mut vars = self.vars();
                    vars.root("record", Cow::Borrowed(record))
                        .set("key", item.key.clone().map(Value::String))
                        .set("ref", Some(Value::String(reference.clone())));
                    if let Some(current) = current {
                        vars.root("current", Cow::Borrowed(current));
                    }
                    t.render(&vars).unwrap_or(Value::Null)
                }
            };
            items.push(enveloped);
            inputs.push(Input {
                key: item.key.clone(),
                reference,
            });
        }
        let mut vars = self.vars();
        let single = (chunk.len() == 1).then(|| &records[chunk[0].index]);
        if let Some(record) = single {
            vars.root("record", Cow::Borrowed(record))
                .set("key", chunk[0].key.clone().map(Value::String))
                .set("ref", Some(Value::String("0".into())))
                .set("item", items.first().cloned());
            if let Some(current) = current {
                vars.root("current", Cow::Borrowed(current));
            }
        }
        vars.set("records", Some(Value::Array(items)));
        let prepared = self.prepare(&compiled.request, &vars)?;
        Ok((prepared, inputs))
    }

    /// Builds, without sending, the request body of the first batch of `operation` for
    /// `records` and returns its size in bytes: the engine's batch-building cost, for benchmarks.
    pub fn build_batch_body(&self, operation: &str, records: &[Value]) -> Result<usize, ConnectorError> {
        let (spec, compiled) = self.write_op(operation)?;
        let chunk: Vec<Item> = records
            .iter()
            .enumerate()
            .take(spec.batch_size)
            .map(|(index, record)| Item {
                index,
                key: spec
                    .key
                    .as_ref()
                    .and_then(|pointer| record.pointer(pointer))
                    .and_then(scalar_text),
            })
            .collect();
        let (prepared, _) = self.prepare_write(compiled, records, &chunk, None)?;
        Ok(prepared.body.as_ref().map(|b| b.bytes().len()).unwrap_or(0))
    }

    async fn write_chunk(
        &self,
        spec: &WriteSpec,
        compiled: &CompiledWrite,
        records: &[Value],
        chunk: &[Item],
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        self.ensure_base_url().await?;
        // The record as it is now, for writes that must carry its version.
        let current = match (&spec.read_current, chunk) {
            (Some(rc), [Item { key: Some(key), .. }]) => match self.fetch_record(&rc.stream, key).await? {
                Some(current) => Some(current),
                // A record to delete that is not there is deleted either way.
                None if spec.kind == WriteKind::Delete => return Ok(vec![WriteResult::Ok { destination_id: None }]),
                None => {
                    return Ok(vec![WriteResult::failed(
                        format!("no `{}` record has the key this update names", rc.stream),
                        ErrorClass::Permanent,
                    )])
                }
            },
            _ => None,
        };
        if let (Some(session), Some((content, open)), [item]) = (&spec.upload_session, &compiled.upload, chunk) {
            let mut vars = self.vars();
            vars.root("record", Cow::Borrowed(&records[item.index]))
                .set("key", item.key.clone().map(Value::String))
                .set("ref", Some(Value::String("0".into())));
            let bytes = match content.render(&vars, false).map(Value::String) {
                Some(text) => super::request::decode_base64(&text),
                None => Err(ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::InvalidInput,
                    "the record has no file content",
                )),
            };
            let bytes = match bytes {
                Ok(bytes) => bytes,
                Err(e) => return Ok(vec![WriteResult::failed(e.message, ErrorClass::Permanent)]),
            };
            if bytes.len() >= session.threshold_bytes {
                let response = self.upload_in_session(session, open, &vars, &bytes).await?;
                let inputs = [Input {
                    key: item.key.clone(),
                    reference: "0".into(),
                }];
                return Ok(read_results(&spec.response, &inputs, &response.body));
            }
        }
        let (mut prepared, inputs) = self.prepare_write(compiled, records, chunk, current.as_ref())?;
        if let (Some(scheme), Some(sign)) = (&compiled.sign, &spec.sign) {
            let secret = self.credentials.get(&sign.secret).ok_or_else(|| {
                ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::Credentials,
                    format!("the credentials lack `{}` needed to sign deliveries", sign.secret),
                )
            })?;
            let body = prepared.body.as_ref().map(PreparedBody::bytes).unwrap_or_default();
            let headers = crate::webhook::sign(
                scheme,
                &crate::webhook::SignInput {
                    method: prepared.method.as_str(),
                    url: prepared.url.as_str(),
                    body,
                    secret,
                    now: now_unix(),
                    message_id: None,
                },
            )
            .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Credentials, e.to_string()))?;
            prepared.headers.extend(headers);
        }
        let sent = self
            .execute(
                prepared,
                Exec {
                    idempotent: false,
                    pass: &[],
                    json: reads_response(&spec.response),
                    preflight: true,
                    login: false,
                },
            )
            .await;
        let response = match sent {
            // The provider says the record to delete does not exist (an error rule's
            // `gone`): it is deleted either way, each record of the request done.
            Err(e) if e.kind == ErrorKind::Gone && spec.kind == WriteKind::Delete => {
                return Ok(vec![WriteResult::Ok { destination_id: None }; chunk.len()]);
            }
            sent => sent?,
        };
        let mut results = read_results(&spec.response, &inputs, &response.body);
        if let Some(header) = &spec.response.destination_id_header {
            let from_header = response
                .headers
                .get(header.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(super::write::id_from_location);
            for result in &mut results {
                if let WriteResult::Ok {
                    destination_id: id @ None,
                } = result
                {
                    id.clone_from(&from_header);
                }
            }
        }
        Ok(results)
    }

    /// Sends a file through an upload session: opens it with `open`, then `PUT`s the file to
    /// the upload URL fragment by fragment, without credentials. The last fragment's answer.
    async fn upload_in_session(
        &self,
        session: &super::definition::UploadSessionSpec,
        open: &CompiledRequest,
        vars: &Vars<'_>,
        bytes: &[u8],
    ) -> Result<Response, ConnectorError> {
        let prepared = self.prepare(open, vars)?;
        let opened = self
            .execute(
                prepared,
                Exec {
                    idempotent: false,
                    pass: &[],
                    json: true,
                    preflight: true,
                    login: false,
                },
            )
            .await?;
        let raw = opened
            .body
            .pointer(&session.upload_url)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                ConnectorError::invalid_response(format!(
                    "the upload session's answer has no upload URL at `{}`",
                    session.upload_url
                ))
            })?;
        let url = Url::parse(raw.trim())
            .map_err(|_| ConnectorError::invalid_response("the upload session's upload URL is not a URL"))?;
        let plain_http_allowed = self.settings.allow_private_network && !self.def.require_https;
        if url.scheme() != "https" && !(url.scheme() == "http" && plain_http_allowed) {
            return Err(ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::UrlRejected,
                "the upload session's upload URL is not https; refusing to send the file there",
            ));
        }
        let total = bytes.len();
        let mut last = None;
        for (first, end) in super::upload_session::fragments(total, session.fragment_bytes) {
            // The upload URL carries its own authorisation (in its query): never in a message.
            let what = format!("PUT upload session fragment {first}-{}", end - 1);
            self.guard(&url).await?;
            self.stats.request_sent();
            let sent = self
                .http
                .put(url.clone())
                .timeout(self.settings.request_timeout)
                .header(
                    http::header::CONTENT_RANGE,
                    super::upload_session::content_range(first, end, total),
                )
                .body(bytes[first..end].to_vec())
                .send()
                .await;
            let response = match sent {
                Err(e) => return Err(self.transport_error(&what, &e)),
                Ok(response) => self.read_response(&what, response, true).await?,
            };
            let class = match classify(
                &self.def.errors,
                response.status,
                &response.headers,
                &response.body,
                SystemTime::now(),
            ) {
                Verdict::Success => None,
                Verdict::Failure(class) => Some(class),
                Verdict::QuotaSpent(retry_after) => Some(ErrorClass::RateLimited { retry_after }),
                // The upload session is gone: the file was not written.
                Verdict::Gone => Some(ErrorClass::Permanent),
            };
            if let Some(class) = class {
                return Err(self.http_error(&what, class, &response));
            }
            last = Some(response);
        }
        last.ok_or_else(|| ConnectorError::invalid_response("an empty file has no fragments to send"))
    }

    /// Checks a URL's origin once per client (DNS included unless private networks are
    /// allowed).
    async fn guard(&self, url: &Url) -> Result<(), ConnectorError> {
        let origin = url.origin().ascii_serialization();
        let known = self
            .checked_origins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&origin);
        if known {
            return Ok(());
        }
        url_guard::check_url(url, self.def.require_https, self.settings.allow_private_network)
            .await
            .map_err(url_rejected)?;
        self.checked_origins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(origin);
        Ok(())
    }

    /// Sends a request: with the write pre-flight's headers when `exec.preflight` and the
    /// definition has one (fetching them first, and once more when a response refuses them).
    async fn execute(&self, request: PreparedRequest, exec: Exec<'_>) -> Result<Response, ConnectorError> {
        let url = request.url.clone();
        let headers = request.headers.clone();
        let credentials = request.credentials;
        let mut response = self.execute_once(request, exec).await?;
        let Some(poll) = &self.def.poll else {
            return Ok(response);
        };
        let started = Instant::now();
        let mut polls = 0u32;
        while poll.is_running(response.status, &response.body) {
            let status = match &self.compiled.poll {
                Some(template) => {
                    let mut vars = self.vars();
                    vars.root("response", Cow::Borrowed(&response.body));
                    let mut prepared = self.prepare(template, &vars)?;
                    let inherited: Vec<(String, String)> = headers
                        .iter()
                        .filter(|(k, _)| !prepared.headers.iter().any(|(own, _)| own.eq_ignore_ascii_case(k)))
                        .cloned()
                        .collect();
                    prepared.headers.extend(inherited);
                    prepared.credentials = credentials;
                    prepared
                }
                None => {
                    let pointer = poll.url.as_deref().unwrap_or_default();
                    let raw = response
                        .body
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| {
                            ConnectorError::invalid_response(format!(
                                "HTTP {} says the work is still running but gives no status URL at `{pointer}`",
                                response.status
                            ))
                        })?;
                    let status_url = Url::parse(&self.next_url(&url, raw.trim())?)
                        .map_err(|_| ConnectorError::invalid_response("the status URL is not a URL"))?;
                    PreparedRequest {
                        method: HttpMethod::Get,
                        url: status_url,
                        headers: headers.clone(),
                        body: None,
                        credentials,
                    }
                }
            };
            let wait = poll.wait(polls);
            if started.elapsed() + wait > Duration::from_secs(poll.max_wait_secs) {
                return Err(ConnectorError::new(
                    ErrorClass::Transient,
                    ErrorKind::Timeout,
                    format!(
                        "{}: still running after {} s of polling its status ({polls} polls)",
                        status.url.path(),
                        poll.max_wait_secs
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            polls += 1;
            response = self
                .execute_once(
                    status,
                    Exec {
                        idempotent: true,
                        preflight: false,
                        login: false,
                        ..exec
                    },
                )
                .await?;
        }
        Ok(response)
    }

    /// One request (and its retries), without polling.
    async fn execute_once(&self, request: PreparedRequest, exec: Exec<'_>) -> Result<Response, ConnectorError> {
        let spec = match (&self.def.write_preflight, exec.preflight) {
            (Some(spec), true) => spec,
            _ => {
                return match self.send(&request, exec, &[], None).await? {
                    Sent::Done(r) | Sent::PreflightRefused(r) => Ok(r),
                }
            }
        };
        let mut refreshed = false;
        loop {
            let captured = self.preflight_headers(spec).await?;
            match self.send(&request, exec, &captured, Some(spec)).await? {
                Sent::Done(response) => return Ok(response),
                Sent::PreflightRefused(response) => {
                    *self.preflight.lock().await = None;
                    if refreshed {
                        let what = format!("{} {}", request.method.as_str(), request.url.path());
                        let mut e = self.http_error(&what, ErrorClass::Permanent, &response);
                        e.message
                            .push_str(": the values of a fresh write pre-flight were refused too");
                        return Err(e);
                    }
                    tracing::info!(
                        message = "The write pre-flight's values were refused; fetching them again.",
                        connector = %self.def.id,
                        status = response.status
                    );
                    refreshed = true;
                    self.stats.retried();
                }
            }
        }
    }

    /// The write pre-flight's headers: fetched once per client (concurrent writers wait for
    /// the one fetch), kept until a write's response refuses them.
    async fn preflight_headers(&self, spec: &PreflightSpec) -> Result<preflight::Captured, ConnectorError> {
        let mut state = self.preflight.lock().await;
        if let Some(captured) = &*state {
            return Ok(captured.clone());
        }
        let request = self
            .compiled
            .preflight
            .as_ref()
            .expect("a compiled definition has the pre-flight request its spec declares");
        self.ensure_base_url().await?;
        let prepared = self.prepare(request, &self.vars())?;
        let exec = Exec {
            idempotent: true,
            pass: &[],
            json: false,
            preflight: false,
            login: false,
        };
        let response = match self.send(&prepared, exec, &[], None).await? {
            Sent::Done(r) | Sent::PreflightRefused(r) => r,
        };
        let captured = preflight::capture(spec, &response.headers)?;
        *state = Some(captured.clone());
        Ok(captured)
    }

    /// The send loop: guard, auth, pacing, retries of rate limits and transient failures,
    /// classification. `extra` headers go on every attempt; a response `stale_when` says
    /// refuses them ends the loop as [`Sent::PreflightRefused`].
    async fn send(
        &self,
        request: &PreparedRequest,
        exec: Exec<'_>,
        extra: &[(HeaderName, HeaderValue)],
        stale_when: Option<&PreflightSpec>,
    ) -> Result<Sent, ConnectorError> {
        let what = format!("{} {}", request.method.as_str(), request.url.path());
        let mut attempt = 0u32;
        let mut refreshed_after_401 = false;
        let mut logged_in_again = false;
        loop {
            self.guard(&request.url).await?;
            // A request to a host the definition sends no credentials to carries none.
            let session = match exec.login || !request.credentials {
                true => None,
                false => self.session_token().await?,
            };
            let token_settings = TokenRequestSettings {
                http: &self.http,
                timeout: self.settings.request_timeout,
                allow_private_network: self.settings.allow_private_network,
            };
            let auth = match request.credentials {
                true => self.auth.parts(&token_settings).await?,
                false => Default::default(),
            };
            // A pause longer than the client waits inline (a daily quota spent, a long
            // Retry-After) defers the work instead of holding the process: the caller
            // re-enqueues it for when the provider's budget is back.
            let quota_wait = self.pacer.quota_remaining();
            if !quota_wait.is_zero() {
                return Err(ConnectorError::new(
                    ErrorClass::RateLimited {
                        retry_after: Some(quota_wait),
                    },
                    ErrorKind::QuotaSpent,
                    format!(
                        "{what}: deferred: the provider reported the connection's quota spent for the next {} s",
                        quota_wait.as_secs().max(1)
                    ),
                ));
            }
            let operation_wait = self.pacer.operation_wait(request.method.as_str(), request.url.path());
            if operation_wait > self.settings.max_inline_wait {
                return Err(ConnectorError::new(
                    ErrorClass::RateLimited {
                        retry_after: Some(operation_wait),
                    },
                    ErrorKind::Http,
                    format!(
                        "{what}: deferred: the operation's rate limit lets the next request go in {} s",
                        operation_wait.as_secs()
                    ),
                ));
            }
            let pause = self.pacer.pause_remaining();
            if pause > self.settings.max_inline_wait {
                return Err(ConnectorError::new(
                    ErrorClass::RateLimited {
                        retry_after: Some(pause),
                    },
                    ErrorKind::Http,
                    format!(
                        "{what}: deferred: the provider reported the connection's rate budget spent for the next {} s",
                        pause.as_secs()
                    ),
                ));
            }
            self.stats.paced(
                self.pacer
                    .acquire_operation(request.method.as_str(), request.url.path())
                    .await,
            );
            match self.pacer.acquire_within(self.settings.max_inline_wait).await {
                Ok(waited) => self.stats.paced(waited),
                Err(wait) => {
                    return Err(ConnectorError::new(
                        ErrorClass::RateLimited {
                            retry_after: Some(wait),
                        },
                        ErrorKind::Http,
                        format!(
                            "{what}: deferred: the connection's shared rate budget has no start for this process in the next {} s",
                            wait.as_secs()
                        ),
                    ))
                }
            }
            let mut url = request.url.clone();
            if let Some((name, value)) = &auth.query {
                url.query_pairs_mut().append_pair(name, value.expose_secret());
            }
            let session_parts = match (&self.session, &session) {
                (Some(s), Some(token)) => s.parts(token)?,
                _ => Default::default(),
            };
            if let Some((name, value)) = &session_parts.query {
                url.query_pairs_mut().append_pair(name, value.expose_secret());
            }
            // OAuth 1.0a signs each request, form body parameters included.
            let form: Vec<(String, String)> = match &request.body {
                Some(PreparedBody::Form(text)) => form_urlencoded::parse(text.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
                _ => Vec::new(),
            };
            let signed = match request.credentials {
                true => self.auth.signature_header(request.method.as_str(), &url, &form)?,
                false => None,
            };
            let mut builder = self
                .http
                .request(method(request.method), url)
                .timeout(self.settings.request_timeout)
                .header(
                    http::header::ACCEPT,
                    match &request.body {
                        Some(PreparedBody::Xml(_)) => "text/xml, application/xml",
                        _ => "application/json",
                    },
                );
            for (name, value) in &request.headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ConnectorError::config(format!("`{name}` is not a valid header name")))?;
                let value = HeaderValue::from_str(value).map_err(|_| {
                    ConnectorError::config(format!("the value of header `{name}` is not valid in HTTP"))
                })?;
                builder = builder.header(name, value);
            }
            if let Some((name, value)) = auth.header {
                builder = builder.header(name, value);
            }
            for (name, value) in auth.more_headers {
                builder = builder.header(name, value);
            }
            if let Some(value) = signed {
                builder = builder.header(http::header::AUTHORIZATION, value);
            }
            if let Some((name, value)) = session_parts.header {
                builder = builder.header(name, value);
            }
            for (name, value) in extra {
                builder = builder.header(name.clone(), value.clone());
            }
            if let Some(body) = &request.body {
                if !request
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    builder = builder.header(http::header::CONTENT_TYPE, body.content_type());
                }
                builder = builder.body(match body {
                    PreparedBody::Xml(text) if super::xml::has_slots(text) => {
                        self.fill_slots(text, session.as_ref())?.into_bytes()
                    }
                    other => other.bytes().to_vec(),
                });
            }
            let started = Instant::now();
            self.stats.request_sent();
            let sent = builder.send().await;
            let outcome = match sent {
                Err(e) => Err(self.transport_error(&what, &e)),
                Ok(response) => self.read_response(&what, response, exec.json).await,
            };
            let response = match outcome {
                Ok(r) => r,
                Err(e) => {
                    if exec.idempotent && e.class == ErrorClass::Transient && attempt < self.settings.max_inline_retries
                    {
                        attempt += 1;
                        self.stats.retried();
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(e);
                }
            };
            tracing::debug!(
                message = "Connector request done.",
                connector = %self.def.id,
                request = %what,
                status = response.status,
                elapsed_ms = started.elapsed().as_millis() as u64
            );
            self.pacer.observe(&response.headers);
            self.pacer.observe_body(&response.body);
            self.pacer
                .observe_operation(request.method.as_str(), request.url.path(), &response.headers);
            if stale_when.is_some_and(|spec| preflight::asks_for_refresh(spec, response.status, &response.headers)) {
                return Ok(Sent::PreflightRefused(response));
            }
            if exec.pass.contains(&response.status) {
                return Ok(Sent::Done(response));
            }
            let class = match classify(
                &self.def.errors,
                response.status,
                &response.headers,
                &response.body,
                SystemTime::now(),
            ) {
                Verdict::Success => return Ok(Sent::Done(response)),
                Verdict::Failure(class) => class,
                Verdict::Gone => {
                    let mut error = self.http_error(&what, ErrorClass::Permanent, &response);
                    error.kind = ErrorKind::Gone;
                    return Err(error);
                }
                Verdict::QuotaSpent(retry_after) => {
                    // Never retried inline: the budget is back in hours, not seconds.
                    self.stats.rate_limited();
                    let wait = retry_after.unwrap_or(super::errors::MAX_RETRY_AFTER);
                    self.pacer.pause_quota(wait);
                    let class = ErrorClass::RateLimited {
                        retry_after: Some(self.pacer.quota_remaining().max(Duration::from_secs(1))),
                    };
                    let mut error = self.http_error(&what, class, &response);
                    error.kind = ErrorKind::QuotaSpent;
                    tracing::info!(
                        message = "The provider reported the connection's quota spent.",
                        connector = %self.def.id,
                        request = %what,
                        retry_after_secs = wait.as_secs()
                    );
                    return Err(error);
                }
            };
            let error = self.http_error(&what, class, &response);
            match class {
                ErrorClass::RateLimited { retry_after } => {
                    self.stats.rate_limited();
                    let delay = retry_after.unwrap_or(Duration::from_secs(1));
                    self.pacer.pause_for(delay);
                    tracing::info!(
                        message = "Rate limited by the provider.",
                        connector = %self.def.id,
                        request = %what,
                        retry_after_ms = delay.as_millis() as u64
                    );
                    if attempt < self.settings.max_inline_retries && delay <= self.settings.max_inline_wait {
                        attempt += 1;
                        self.stats.retried();
                        continue;
                    }
                }
                ErrorClass::Transient if exec.idempotent && attempt < self.settings.max_inline_retries => {
                    attempt += 1;
                    self.stats.retried();
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                ErrorClass::ReAuth if self.session.is_some() && !exec.login && !logged_in_again => {
                    // The session expired or was revoked: log in again once and resend.
                    logged_in_again = true;
                    if let Some(s) = &self.session {
                        s.forget().await;
                    }
                    tracing::info!(
                        message = "The session was refused; logging in again.",
                        connector = %self.def.id,
                        request = %what
                    );
                    self.stats.retried();
                    continue;
                }
                ErrorClass::ReAuth if self.auth.is_oauth2() && !refreshed_after_401 => {
                    // The access token may have been revoked early: refresh once and retry.
                    refreshed_after_401 = true;
                    if self.auth.invalidate().await {
                        self.stats.retried();
                        continue;
                    }
                }
                _ => {}
            }
            return Err(error);
        }
    }

    /// The current session token of `type: session` auth (`None` without one), logging in
    /// first when there is no session or it is older than `lifetime_secs`. Concurrent
    /// requests wait for the one login.
    async fn session_token(&self) -> Result<Option<SecretString>, ConnectorError> {
        let Some(session) = &self.session else {
            return Ok(None);
        };
        let mut held = session.held.lock().await;
        if let Some(h) = held.as_ref().filter(|h| h.until > Instant::now()) {
            return Ok(Some(h.token.clone()));
        }
        let mut vars = self.vars();
        // JSON and form login bodies read credentials directly (the login request is never
        // planned or logged); XML bodies leave secret slots, filled in `send`.
        let credentials: Map<String, Value> = session
            .login
            .vars()
            .iter()
            .filter(|(_, v)| v.root() == "credentials")
            .filter_map(|(_, v)| {
                let key = v.as_str().strip_prefix("credentials.")?;
                let value = self.credentials.get(key)?;
                Some((key.to_owned(), Value::String(value.expose_secret().to_owned())))
            })
            .collect();
        vars.root("credentials", Cow::Owned(Value::Object(credentials)));
        self.ensure_token_base_url().await?;
        let prepared = self.prepare(&session.login, &vars)?;
        let exec = Exec {
            idempotent: true,
            pass: &[],
            json: true,
            preflight: false,
            login: true,
        };
        let response = match Box::pin(self.send(&prepared, exec, &[], None)).await {
            Ok(Sent::Done(r) | Sent::PreflightRefused(r)) => r,
            Err(e) if e.class.is_retriable() => return Err(e),
            Err(e) => {
                return Err(ConnectorError {
                    class: ErrorClass::ReAuth,
                    kind: ErrorKind::NeedsReauth,
                    status: e.status,
                    message: format!("the session login was refused: {}", e.message),
                })
            }
        };
        let token = session.token_from(&response.headers, &response.body)?;
        session.capture_from(&response.body)?;
        tracing::info!(message = "Logged in: new session.", connector = %self.def.id);
        *held = Some(session.hold(token.clone()));
        Ok(Some(token))
    }

    /// Fills an XML body's secret slots: `session.token` and `credentials.<key>`.
    fn fill_slots(&self, text: &str, session: Option<&SecretString>) -> Result<String, ConnectorError> {
        super::xml::fill_slots(text, |name| match name.split_once('.') {
            Some(("session", "token")) => session.map(|t| t.expose_secret().to_owned()),
            Some(("credentials", key)) => self.credentials.get(key).map(|v| v.expose_secret().to_owned()),
            _ => None,
        })
    }

    fn transport_error(&self, what: &str, e: &reqwest::Error) -> ConnectorError {
        let (kind, detail) = if e.is_timeout() {
            (
                ErrorKind::Timeout,
                format!("no response within {:?}", self.settings.request_timeout),
            )
        } else if e.is_connect() {
            (ErrorKind::Network, "the connection failed".to_owned())
        } else {
            (ErrorKind::Network, "the request failed".to_owned())
        };
        if let Some(source) = std::error::Error::source(e) {
            // Connection errors name hosts and OS errors, never credentials.
            tracing::debug!(message = "Connector transport error.", request = %what, error = %source);
        }
        ConnectorError::new(ErrorClass::Transient, kind, format!("{what}: {detail}"))
    }

    async fn read_response(
        &self,
        what: &str,
        mut response: reqwest::Response,
        json: bool,
    ) -> Result<Response, ConnectorError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = self.settings.max_response_bytes;
        if response.content_length().is_some_and(|n| n as usize > limit) {
            return Err(too_big(what, status, limit));
        }
        // Sized once from the declared length (within the limit), not grown chunk by chunk.
        let mut bytes = Vec::with_capacity(response.content_length().map_or(0, |n| (n as usize).min(limit)));
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > limit {
                        return Err(too_big(what, status, limit));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport_error(what, &e)),
            }
        }
        let is_xml = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(super::xml::is_xml_content_type);
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else if is_xml {
            match super::xml::to_json(&bytes) {
                Ok(v) => v,
                Err(e) if json && (200..300).contains(&status) => {
                    let mut e = ConnectorError::invalid_response(format!("{what}: HTTP {status}: {e}"));
                    e.status = Some(status);
                    return Err(e);
                }
                Err(_) => Value::Null,
            }
        } else {
            match crate::json::from_bytes(&bytes) {
                Ok(v) => v,
                Err(_) if json && (200..300).contains(&status) => {
                    let mut e =
                        ConnectorError::invalid_response(format!("{what}: HTTP {status} with a body that is not JSON"));
                    e.status = Some(status);
                    return Err(e);
                }
                Err(_) => Value::Null,
            }
        };
        Ok(Response { status, headers, body })
    }

    fn http_error(&self, what: &str, class: ErrorClass, response: &Response) -> ConnectorError {
        let detail =
            super::errors::message_pointer(&self.def.errors, response.status, &response.headers, &response.body)
                .and_then(|p| response.body.pointer(p))
                .and_then(|v| match v {
                    Value::String(s) => Some(short_text(s, 200)),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
        ConnectorError {
            class,
            kind: ErrorKind::Http,
            status: Some(response.status),
            message: format!("{what}: HTTP {} ({}){detail}", response.status, class.name()),
        }
    }
}

/// A record waiting to be written: its index in the caller's slice and its key.
#[derive(Debug, Clone)]
struct Item {
    index: usize,
    key: Option<String>,
}

/// The records of a write with their keys, and those refused because an update or upsert
/// finds no key in them.
fn keyed_items(spec: &WriteSpec, records: &[Value]) -> (Vec<Item>, Vec<(usize, WriteResult)>) {
    let mut ready = Vec::with_capacity(records.len());
    let mut refused = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let key = match &spec.key {
            Some(pointer) => match record.pointer(pointer).and_then(scalar_text).filter(|k| !k.is_empty()) {
                Some(k) => Some(k),
                None if matches!(spec.kind, WriteKind::Update | WriteKind::Upsert | WriteKind::Delete) => {
                    refused.push((
                        index,
                        WriteResult::failed(
                            format!("the record has no `{pointer}` to identify it by"),
                            ErrorClass::Permanent,
                        ),
                    ));
                    continue;
                }
                None => None,
            },
            None => None,
        };
        ready.push(Item { index, key });
    }
    (ready, refused)
}

/// Whether a write's response is read for per-record results.
fn reads_response(spec: &crate::connector::definition::WriteResponseSpec) -> bool {
    spec.results.is_some() || spec.destination_id.is_some() || spec.errors.is_some()
}

fn method(m: HttpMethod) -> reqwest::Method {
    match m {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * (1u64 << attempt.min(5)))
}

fn too_big(what: &str, status: u16, limit: usize) -> ConnectorError {
    let mut e = ConnectorError::invalid_response(format!("{what}: the response is larger than {limit} bytes"));
    e.status = Some(status);
    e
}

fn link_header(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn url_rejected(e: url_guard::UrlRejected) -> ConnectorError {
    ConnectorError::new(ErrorClass::Permanent, ErrorKind::UrlRejected, e.to_string())
}

fn pagination_error(e: PaginationError) -> ConnectorError {
    ConnectorError::new(ErrorClass::Permanent, ErrorKind::Pagination, e.to_string())
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    fn oauth_definition(scopes: &str) -> ConnectorDefinition {
        crate::connector::registry::parse_definition(
            "mini.yaml",
            &format!(
                "id: mini\nname: Mini\nconfig:\n  environment_url: {{description: the environment}}\nauth:\n  type: oauth2\n  token_url: https://login.example.com/token\n  grant: client_credentials\n  scopes: {scopes}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// What the client-credentials grant needs: an alternative without them is never bound.
    fn client_credentials() -> Credentials {
        Credentials::new().with("client_id", "app").with("client_secret", "shh")
    }

    fn scopes_of(specs: &[AuthSpec]) -> Vec<String> {
        match &specs[0] {
            AuthSpec::Oauth2(o) => o.scopes.clone(),
            other => panic!("oauth2 expected: {other:?}"),
        }
    }

    #[test]
    fn oauth_scopes_are_filled_from_the_connection_config() {
        let def = oauth_definition("['{{ config.environment_url }}/.default', offline_access]");
        let config = serde_json::json!({"environment_url": "https://contoso.crm4.dynamics.com"});
        let specs = bind_token_urls(&def, &config, &client_credentials()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            scopes_of(&specs),
            ["https://contoso.crm4.dynamics.com/.default", "offline_access"]
        );
    }

    #[test]
    fn an_oauth_scope_whose_config_is_missing_is_a_config_error_naming_it() {
        let def = oauth_definition("['{{ config.environment_url }}/.default']");
        let e = bind_token_urls(&def, &serde_json::json!({}), &client_credentials()).unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent, "{e}");
        let text = e.to_string();
        assert!(
            text.contains("mini") && text.contains("config.environment_url") && text.contains("scope"),
            "{text}"
        );
    }

    #[test]
    fn an_override_changes_the_pace_but_keeps_what_the_provider_reports() {
        let def = crate::connector::registry::Registry::embedded()
            .unwrap()
            .get("xero")
            .cloned()
            .expect("xero is built in");
        let own = def.rate_limit.clone().expect("xero paces");
        let mut settings = ClientSettings::default();
        assert_eq!(effective_rate_limit(&settings, &def), Some(own.clone()));
        settings.rate_limit = Some(RateLimitSpec {
            requests: 1000,
            window_ms: 1000,
            margin_ms: 0,
            headers: None,
            cost: None,
            operations: vec![],
        });
        let merged = effective_rate_limit(&settings, &def).expect("a budget");
        assert_eq!((merged.requests, merged.window_ms), (1000, 1000));
        assert_eq!(merged.headers, own.headers, "the day's quota header is still read");
        assert!(!merged.headers.expect("headers").quotas.is_empty());
    }

    #[test]
    fn a_connection_overrides_the_definitions_rate_limit_only_with_a_usable_one() {
        let config = |v: Value| v.as_object().cloned().unwrap();
        let s = ClientSettings::from_connection_config(&config(
            serde_json::json!({"rate_limit": {"requests": 190, "window_ms": 10000}}),
        ));
        let limit = s.rate_limit.expect("the override is read");
        assert_eq!((limit.requests, limit.window_ms), (190, 10_000));
        for bad in [
            serde_json::json!({"rate_limit": {"requests": 0, "window_ms": 1000}}),
            serde_json::json!({"rate_limit": "fast"}),
            serde_json::json!({"rate_limit": {"requests": 5}}),
            serde_json::json!({}),
        ] {
            assert!(
                ClientSettings::from_connection_config(&config(bad.clone()))
                    .rate_limit
                    .is_none(),
                "{bad}"
            );
        }
    }
}
