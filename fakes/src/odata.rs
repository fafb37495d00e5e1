//! A stateful OData v2 service fake built from the service's own metadata (an EDMX file in the
//! specs folder, read by [`crate::spec::odata`]) and a short profile
//! (`fakes/profiles/<provider>.yaml` with `kind: odata_v2`): which entity sets to serve, how
//! their keys, change dates and derived properties are made, which values the service refuses,
//! its basic-auth users and whether writes need an anti-forgery (CSRF) token.
//!
//! It answers as an SAP Gateway OData v2 service does ("OData Version 2.0" JSON verbose format;
//! SAP Gateway developer guide): collections as `{"d": {"results": [...], "__count", "__next"}}`
//! with server-driven paging (`$skiptoken` in the `__next` URL), one entity as `{"d": {...}}`,
//! `$filter` comparisons joined with and/or/not, `$select`, `$orderby`, `$top`, `$skip`,
//! `$inlinecount=allpages`, `/$count`; POST creates (201), PATCH/MERGE/PUT update (204); errors
//! as `{"error": {"code", "message": {"lang", "value"}}}`. With `csrf` on, a GET carrying
//! `x-csrf-token: fetch` gets a token and a session cookie, and a modifying request without
//! both is refused with 403, `x-csrf-token: Required` and the text "CSRF token validation
//! failed", as SAP Gateway does.
//!
//! Every request and response is checked against the metadata (entity sets, keys, property
//! names, Edm types and facets, creatable/updatable flags, system query options); each problem
//! is a [`Violation`] on the handle (`handle.violations`), and the fake answers on regardless,
//! so a test sees both.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::odata::{self, EntityType, ODataV2, Target};
use crate::spec::{Direction, SpecError, Violation, ViolationLog};
use crate::timestamp::now_ms;

/// The built-in OData v2 profiles: `(provider, profile text)`.
const PROFILES: &[(&str, &str)] = &[("sap-s4hana", include_str!("../profiles/sap-s4hana.yaml"))];

/// An OData v2 fake's profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Provider id (`sap-s4hana`).
    pub provider: String,
    /// Always `odata_v2`: tells this profile from the OpenAPI fakes' profiles.
    pub kind: String,
    /// The EDMX file, relative to the specs folder.
    pub spec: String,
    /// The service root's path (`/sap/opu/odata/sap/API_BUSINESS_PARTNER`).
    pub service_path: String,
    /// Entities per page of a collection (server-driven paging).
    pub page_size: usize,
    /// `[user, password]` pairs accepted with HTTP basic auth.
    pub basic_users: Vec<(String, String)>,
    /// An OAuth 2.0 token endpoint for the client credentials grant, whose bearer tokens the
    /// service accepts beside basic auth.
    #[serde(default)]
    pub oauth: Option<OAuthProfile>,
    /// Writes need a CSRF token fetched with `x-csrf-token: fetch`, and its session cookie.
    #[serde(default)]
    pub csrf: Option<CsrfProfile>,
    /// The entity sets served.
    pub entity_sets: Vec<SetProfile>,
}

/// The client credentials grant a service's OAuth server answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthProfile {
    /// The token endpoint's path (`/sap/bc/sec/oauth2/token`).
    pub token_path: String,
    /// `[client id, client secret]` pairs, sent with HTTP basic auth.
    pub clients: Vec<(String, String)>,
    /// Seconds an access token lives.
    pub expires_in: u64,
}

/// The anti-forgery token a service hands out and checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsrfProfile {
    /// The header carrying the token (`x-csrf-token`).
    pub header: String,
    /// The session cookie the token belongs to.
    pub session_cookie: String,
    /// Other cookies set along (`sap-usercontext=sap-client=100`).
    #[serde(default)]
    pub other_cookies: Vec<String>,
}

/// One entity set served by the fake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetProfile {
    /// The entity set's name in the metadata.
    pub name: String,
    /// Keys are numbers counting up from here, as text (the key property is a string).
    pub key_start: u64,
    /// Properties holding the last change's date (`Edm.DateTime` at midnight) and time
    /// (`Edm.Time`), set on every write.
    pub changed: Option<DateTimePair>,
    /// Properties holding the creation's date and time, set on create.
    pub created: Option<DateTimePair>,
    /// A property given a new GUID on create.
    #[serde(default)]
    pub uuid: Option<String>,
    /// Properties computed from others on every write: `{FirstName} {LastName}`; blank parts
    /// are dropped.
    #[serde(default)]
    pub derived: HashMap<String, String>,
    /// Property values of the n-th seeded entity: `Person {n}`.
    #[serde(default)]
    pub seed: HashMap<String, String>,
    /// Values the service refuses in writes (its business checks).
    #[serde(default)]
    pub refuse: Vec<Refusal>,
}

/// A pair of date and time properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateTimePair {
    pub date: String,
    pub time: String,
}

/// A business check: the property, when sent, must be one of `one_of`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    pub property: String,
    pub one_of: Vec<String>,
    /// The error code the service answers (`R11/401`).
    pub code: String,
    /// The message; `{value}` is the refused value.
    pub message: String,
}

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no built-in OData v2 profile for `{0}` (known: sap-s4hana)")]
    Unknown(String),
    #[error("the OData profile of {0} is invalid: {1}")]
    Invalid(String, String),
    #[error(transparent)]
    Spec(#[from] SpecError),
}

impl Profile {
    /// A built-in profile by provider id.
    pub fn built_in(provider: &str) -> Result<Self, ProfileError> {
        let (_, text) = PROFILES
            .iter()
            .find(|(p, _)| *p == provider)
            .ok_or_else(|| ProfileError::Unknown(provider.to_owned()))?;
        let profile: Profile =
            serde_yaml::from_str(text).map_err(|e| ProfileError::Invalid(provider.to_owned(), e.to_string()))?;
        if profile.kind != "odata_v2" {
            return Err(ProfileError::Invalid(
                provider.to_owned(),
                "`kind` must be odata_v2".into(),
            ));
        }
        Ok(profile)
    }
}

/// How to start an OData fake.
#[derive(Debug, Clone)]
pub struct ODataConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Entities seeded per entity set.
    pub records: usize,
    /// Overrides the profile's page size.
    pub page_size: Option<usize>,
    pub faults: FaultConfig,
}

impl Default for ODataConfig {
    fn default() -> Self {
        Self {
            port: 0,
            records: 250,
            page_size: None,
            faults: FaultConfig::default(),
        }
    }
}

/// The fake service's state.
pub struct ODataService {
    profile: Profile,
    spec: Arc<ODataV2>,
    page_size: usize,
    base_url: Mutex<String>,
    sets: Mutex<HashMap<String, Vec<Value>>>,
    next_key: Mutex<HashMap<String, u64>>,
    /// token -> session id.
    tokens: Mutex<HashMap<String, String>>,
    /// Bearer tokens the OAuth endpoint issued.
    access_tokens: Mutex<HashSet<String>>,
    csrf_fetches: AtomicU64,
    csrf_refusals: AtomicU64,
    sequence: AtomicU64,
    violations: Arc<ViolationLog>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the built-in OData profile `provider` on a loopback port.
///
/// # Panics
/// When the profile or its EDMX cannot be loaded (the message says how to get the specs
/// folder), or the port cannot be bound.
pub fn start(provider: &str, config: ODataConfig) -> FakeHandle<ODataService> {
    let profile = Profile::built_in(provider).unwrap_or_else(|e| panic!("{e}"));
    match try_start(profile, config) {
        Ok(handle) => handle,
        Err(e) => panic!("the OData fake {provider} could not start: {e}"),
    }
}

/// Starts an OData fake from a profile.
pub fn try_start(profile: Profile, config: ODataConfig) -> Result<FakeHandle<ODataService>, ProfileError> {
    let spec = ODataV2::load(&profile.spec)?;
    for set in &profile.entity_sets {
        let ty = spec.set_type(&set.name).ok_or_else(|| {
            ProfileError::Invalid(
                profile.provider.clone(),
                format!("entity set {} is not in {}", set.name, profile.spec),
            )
        })?;
        let mut named: Vec<&String> = set.seed.keys().chain(set.derived.keys()).collect();
        named.extend(set.uuid.iter());
        named.extend(set.refuse.iter().map(|r| &r.property));
        for pair in set.changed.iter().chain(set.created.iter()) {
            named.extend([&pair.date, &pair.time]);
        }
        if let Some(missing) = named.into_iter().find(|p| ty.property(p).is_none()) {
            return Err(ProfileError::Invalid(
                profile.provider.clone(),
                format!("{missing} is not a property of {}", ty.name),
            ));
        }
    }
    let violations = Arc::new(ViolationLog::default());
    let page_size = config.page_size.unwrap_or(profile.page_size).max(1);
    let state = Arc::new(ODataService {
        page_size,
        spec,
        base_url: Mutex::new(String::new()),
        sets: Mutex::new(HashMap::new()),
        next_key: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        access_tokens: Mutex::new(HashSet::new()),
        csrf_fetches: AtomicU64::new(0),
        csrf_refusals: AtomicU64::new(0),
        sequence: AtomicU64::new(0),
        violations: violations.clone(),
        profile,
    });
    state.seed(config.records);
    let spec = Spec {
        name: "odata",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations,
        respond: fault,
    };
    let router_state = state.clone();
    server::spawn(spec, move |base_url| {
        *lock(&router_state.base_url) = base_url.to_owned();
        Router::new()
            .fallback(handle)
            .layer(from_fn_with_state(router_state.clone(), check))
            .with_state(router_state)
    })
    .map_err(|e| ProfileError::Invalid("odata".into(), format!("could not listen: {e}")))
}

fn fault(status: StatusCode) -> Response {
    odata_error(status, "/IWFND/CM_BEC/026", "Injected failure")
}

/// An OData v2 error response.
fn odata_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": {"lang": "en", "value": message}}});
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn date_at(ms: i64) -> (String, String) {
    let day = ms.div_euclid(86_400_000) * 86_400_000;
    let secs = (ms - day) / 1000;
    (
        format!("/Date({day})/"),
        format!("PT{:02}H{:02}M{:02}S", secs / 3600, secs / 60 % 60, secs % 60),
    )
}

fn guid(n: u64) -> String {
    let hex = format!(
        "{:032x}",
        u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl ODataService {
    fn set_profile(&self, set: &str) -> Option<&SetProfile> {
        self.profile.entity_sets.iter().find(|s| s.name == set)
    }

    fn entity_type(&self, set: &str) -> &EntityType {
        self.spec.set_type(set).expect("profile sets are checked at start")
    }

    fn key_property(&self, set: &str) -> String {
        self.entity_type(set).keys[0].clone()
    }

    fn seed(&self, records: usize) {
        let now = now_ms();
        for set in &self.profile.entity_sets {
            let ty = self.entity_type(&set.name);
            let mut entities = Vec::with_capacity(records);
            for n in 1..=records {
                let mut entity = odata::default_entity(ty);
                for (property, template) in &set.seed {
                    entity.insert(property.clone(), Value::String(template.replace("{n}", &n.to_string())));
                }
                // Seeded entities changed on successive past days, the newest yesterday.
                let today = now.div_euclid(86_400_000) * 86_400_000;
                let at = today - (records + 1 - n) as i64 * 86_400_000 + (n as i64 % 3600) * 1000;
                self.stamp(set, &mut entity, at, true);
                let key = set.key_start + n as u64;
                entity.insert(self.key_property(&set.name), Value::String(key.to_string()));
                entities.push(Value::Object(entity));
            }
            lock(&self.next_key).insert(set.name.clone(), set.key_start + records as u64 + 1);
            lock(&self.sets).insert(set.name.clone(), entities);
        }
    }

    /// Sets change (and on create, creation) dates, the UUID and derived properties.
    fn stamp(&self, set: &SetProfile, entity: &mut Map<String, Value>, at: i64, create: bool) {
        let (date, time) = date_at(at);
        let mut pairs: Vec<&DateTimePair> = set.changed.iter().collect();
        if create {
            pairs.extend(set.created.iter());
            if let Some(uuid) = &set.uuid {
                entity.insert(
                    uuid.clone(),
                    Value::String(guid(self.sequence.fetch_add(1, Ordering::Relaxed) + 1)),
                );
            }
        }
        for pair in pairs {
            entity.insert(pair.date.clone(), Value::String(date.clone()));
            entity.insert(pair.time.clone(), Value::String(time.clone()));
        }
        for (property, template) in &set.derived {
            let mut text = template.clone();
            for (name, value) in entity.iter() {
                if let Some(v) = value.as_str() {
                    text = text.replace(&format!("{{{name}}}"), v);
                }
            }
            let words: Vec<&str> = text.split_whitespace().filter(|w| !w.starts_with('{')).collect();
            entity.insert(property.clone(), Value::String(words.join(" ")));
        }
    }

    /// The entities of a set, in key order.
    pub fn entities(&self, set: &str) -> Vec<Value> {
        lock(&self.sets).get(set).cloned().unwrap_or_default()
    }

    /// How many entities a set holds.
    pub fn count(&self, set: &str) -> usize {
        lock(&self.sets).get(set).map_or(0, Vec::len)
    }

    /// One entity by its (single) key.
    pub fn entity(&self, set: &str, key: &str) -> Option<Value> {
        let key_property = self.key_property(set);
        lock(&self.sets)
            .get(set)?
            .iter()
            .find(|e| e[&key_property] == key)
            .cloned()
    }

    /// Changes an entity as a user of the service would (its change date becomes now).
    pub fn update(&self, set: &str, key: &str, changes: Value) -> Option<Value> {
        let profile = self.set_profile(set)?.clone();
        let key_property = self.key_property(set);
        let mut sets = lock(&self.sets);
        let entity = sets.get_mut(set)?.iter_mut().find(|e| e[&key_property] == key)?;
        let object = entity.as_object_mut()?;
        if let Value::Object(changes) = changes {
            object.extend(changes);
        }
        self.stamp(&profile, object, now_ms(), false);
        Some(entity.clone())
    }

    /// Adds an entity as a user of the service would; returns it with its key.
    pub fn insert(&self, set: &str, values: Value) -> Option<Value> {
        let profile = self.set_profile(set)?.clone();
        let mut entity = odata::default_entity(self.entity_type(set));
        if let Value::Object(values) = values {
            entity.extend(values);
        }
        self.create(&profile, entity)
    }

    fn create(&self, profile: &SetProfile, mut entity: Map<String, Value>) -> Option<Value> {
        let key = {
            let mut keys = lock(&self.next_key);
            let next = keys.entry(profile.name.clone()).or_insert(profile.key_start + 1);
            let key = *next;
            *next += 1;
            key
        };
        entity.insert(self.key_property(&profile.name), Value::String(key.to_string()));
        self.stamp(profile, &mut entity, now_ms(), true);
        let entity = Value::Object(entity);
        lock(&self.sets)
            .entry(profile.name.clone())
            .or_default()
            .push(entity.clone());
        Some(entity)
    }

    /// Invalidates every CSRF token handed out, as a session timeout does.
    pub fn expire_csrf_tokens(&self) {
        lock(&self.tokens).clear();
    }

    /// Tokens fetched with `x-csrf-token: fetch`.
    pub fn csrf_fetches(&self) -> u64 {
        self.csrf_fetches.load(Ordering::Relaxed)
    }

    /// Modifying requests refused for a missing or stale token.
    pub fn csrf_refusals(&self) -> u64 {
        self.csrf_refusals.load(Ordering::Relaxed)
    }

    /// `(csrf_fetches, csrf_refusals)`.
    pub fn fetches_and_refusals(&self) -> (u64, u64) {
        (self.csrf_fetches(), self.csrf_refusals())
    }

    /// Spec violations seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn service_url(&self) -> String {
        format!("{}{}", lock(&self.base_url), self.profile.service_path)
    }

    fn with_metadata(&self, set: &str, entity: &Value) -> Value {
        let key_property = self.key_property(set);
        let key = entity[&key_property].as_str().unwrap_or_default().replace('\'', "''");
        let uri = format!("{}/{set}('{key}')", self.service_url());
        let mut out = entity.clone();
        if let Some(o) = out.as_object_mut() {
            o.insert(
                "__metadata".into(),
                json!({"id": uri, "uri": uri, "type": format!("{}.{}", self.namespace(), self.entity_type(set).name)}),
            );
        }
        out
    }

    fn namespace(&self) -> &str {
        self.profile.service_path.rsplit('/').next().unwrap_or_default()
    }
}

fn basic_user(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn relative_path<'a>(state: &ODataService, path: &'a str) -> Option<&'a str> {
    path.strip_prefix(state.profile.service_path.as_str())
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn decoded(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Checks each request and response against the metadata and records the violations.
async fn check(State(state): State<Arc<ODataService>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 << 20).await else {
        return odata_error(StatusCode::PAYLOAD_TOO_LARGE, "/IWFND/CM_BEC/001", "Request too large");
    };
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let violation = |direction, operation: &str, pointer: &str, message: String| {
        Violation::new(operation, direction, &method, &path, pointer, message)
    };
    let token_path = state.profile.oauth.as_ref().map(|o| o.token_path.as_str());
    if path.starts_with("/_fake/") || Some(path.as_str()) == token_path {
        return next.run(Request::from_parts(parts, Body::from(bytes))).await;
    }
    let Some(relative) = relative_path(&state, &path) else {
        state.violations.record(
            "odata",
            vec![violation(
                Direction::Request,
                "-",
                "",
                format!("not under the service root {}", state.profile.service_path),
            )],
        );
        return next.run(Request::from_parts(parts, Body::from(bytes))).await;
    };
    let target = match state.spec.resolve(&decoded(relative)) {
        Ok(t) => t,
        Err(e) => {
            state
                .violations
                .record("odata", vec![violation(Direction::Request, "-", "/path", e)]);
            return next.run(Request::from_parts(parts, Body::from(bytes))).await;
        }
    };
    let operation = format!("{method} {target:?}");
    let query = query_pairs(parts.uri.query());
    let problems = state.spec.check_request(&target, &method, &query, &bytes);
    state.violations.record(
        "odata",
        problems
            .into_iter()
            .map(|(p, m)| violation(Direction::Request, &operation, &p, m))
            .collect(),
    );
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (response_parts, response_body) = response.into_parts();
    let Ok(response_bytes) = axum::body::to_bytes(response_body, 64 << 20).await else {
        return Response::from_parts(response_parts, Body::empty());
    };
    let content_type = response_parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let problems = state.spec.check_response(
        &target,
        &method,
        response_parts.status.as_u16(),
        content_type.as_deref(),
        &response_bytes,
    );
    state.violations.record(
        "odata",
        problems
            .into_iter()
            .map(|(p, m)| violation(Direction::Response, &operation, &p, m))
            .collect(),
    );
    Response::from_parts(response_parts, Body::from(response_bytes))
}

/// Serves every request below the service root.
async fn handle(State(state): State<Arc<ODataService>>, method: Method, headers: HeaderMap, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = query_pairs(req.uri().query());
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(_) => return odata_error(StatusCode::PAYLOAD_TOO_LARGE, "/IWFND/CM_BEC/001", "Request too large"),
    };
    if path == "/_fake/violations" {
        return Json(state.violations()).into_response();
    }
    if let Some(oauth) = state.profile.oauth.as_ref().filter(|o| o.token_path == path) {
        return grant(&state, oauth, &method, &headers, &body);
    }
    let Some(relative) = relative_path(&state, &path) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            "/IWFND/MED/170",
            "No service found for namespace",
        );
    };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| lock(&state.access_tokens).contains(t.trim()));
    match basic_user(&headers) {
        _ if bearer => {}
        Some(pair) if state.profile.basic_users.contains(&pair) => {}
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                [
                    ("content-type", "text/plain"),
                    ("www-authenticate", "Basic realm=\"SAP NetWeaver Application Server\""),
                ],
                "Logon failed",
            )
                .into_response()
        }
    }
    let mut csrf_headers: Vec<(String, String)> = Vec::new();
    if let Some(csrf) = &state.profile.csrf {
        let asked = headers
            .get(csrf.header.as_str())
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("fetch"));
        if method == Method::GET && asked {
            let n = state.sequence.fetch_add(1, Ordering::Relaxed);
            let token = base64::engine::general_purpose::STANDARD.encode(format!("tok-{n}-{}", now_ms()));
            let session = format!("S{:08}{}", n, now_ms() % 100_000);
            lock(&state.tokens).insert(token.clone(), session.clone());
            state.csrf_fetches.fetch_add(1, Ordering::Relaxed);
            csrf_headers.push((csrf.header.clone(), token));
            csrf_headers.push((
                "set-cookie".into(),
                format!("{}={session}; path=/; secure; HttpOnly", csrf.session_cookie),
            ));
            for cookie in &csrf.other_cookies {
                csrf_headers.push(("set-cookie".into(), format!("{cookie}; path=/")));
            }
        } else if method != Method::GET {
            let token = headers.get(csrf.header.as_str()).and_then(|v| v.to_str().ok());
            let cookies = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let valid = token.is_some_and(|t| {
                lock(&state.tokens).get(t).is_some_and(|session| {
                    cookies
                        .split(';')
                        .any(|c| c.trim() == format!("{}={session}", csrf.session_cookie))
                })
            });
            if !valid {
                state.csrf_refusals.fetch_add(1, Ordering::Relaxed);
                return (
                    StatusCode::FORBIDDEN,
                    [("content-type", "text/plain"), (csrf.header.as_str(), "Required")],
                    "CSRF token validation failed",
                )
                    .into_response();
            }
        }
    }
    let target = match state.spec.resolve(&decoded(relative)) {
        Ok(t) => t,
        Err(e) => return odata_error(StatusCode::NOT_FOUND, "/IWBEP/CM_MGW_RT/020", &e),
    };
    let mut response = serve(&state, &method, &target, &query, &body);
    for (name, value) in csrf_headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn serve(state: &ODataService, method: &Method, target: &Target, query: &[(String, String)], body: &[u8]) -> Response {
    let set_name = match target {
        Target::ServiceDocument => {
            let names: Vec<&str> = state.spec.set_names().collect();
            return json_response(StatusCode::OK, &json!({"d": {"EntitySets": names}}));
        }
        Target::Metadata => {
            let path = crate::spec::specs_dir().join(&state.profile.spec);
            return match std::fs::read_to_string(path) {
                Ok(text) => (StatusCode::OK, [("content-type", "application/xml")], text).into_response(),
                Err(_) => odata_error(StatusCode::INTERNAL_SERVER_ERROR, "/IWBEP/CM_MGW_RT/000", "No metadata"),
            };
        }
        Target::Collection { set } | Target::Entity { set, .. } | Target::Count { set } => set.clone(),
    };
    let Some(profile) = state.set_profile(&set_name).cloned() else {
        return odata_error(
            StatusCode::NOT_IMPLEMENTED,
            "/IWBEP/CM_MGW_RT/021",
            &format!("Entity set {set_name} is not served by this fake"),
        );
    };
    let ty = state.entity_type(&set_name);
    let options = match odata::query_options(Some(ty), query) {
        Ok(o) => o,
        Err(e) if e.contains("not supported by this fake") => {
            return odata_error(StatusCode::NOT_IMPLEMENTED, "/IWBEP/CM_MGW_RT/021", &e)
        }
        Err(e) => return odata_error(StatusCode::BAD_REQUEST, "/IWBEP/CM_MGW_RT/022", &e),
    };
    let key_property = state.key_property(&set_name);
    match (target, method.as_str()) {
        (Target::Collection { .. } | Target::Count { .. }, "GET") => {
            let mut matching: Vec<Value> = state
                .entities(&set_name)
                .into_iter()
                .filter(|e| options.filter.as_ref().is_none_or(|f| f.matches(e)))
                .collect();
            if let Target::Count { .. } = target {
                return (
                    StatusCode::OK,
                    [("content-type", "text/plain")],
                    matching.len().to_string(),
                )
                    .into_response();
            }
            for (property, desc) in options.orderby.iter().rev() {
                matching.sort_by(|a, b| {
                    let o = a[property].to_string().cmp(&b[property].to_string());
                    if *desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
            let total = matching.len();
            // `$skip` and `$top` are the client's window; `$skiptoken` is how far into that
            // window the server's pages have got.
            let base = options.skip.unwrap_or(0).min(total);
            let offset = options
                .skiptoken
                .as_deref()
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0);
            let start = (base + offset).min(total);
            let window_end = options.top.map_or(total, |t| (base + t).min(total));
            let end = (start + state.page_size).min(window_end).max(start);
            let page: Vec<Value> = matching[start..end]
                .iter()
                .map(|e| project(&state.with_metadata(&set_name, e), &options.select))
                .collect();
            let mut d = Map::new();
            d.insert("results".into(), Value::Array(page));
            if options.inlinecount {
                d.insert("__count".into(), Value::String(total.to_string()));
            }
            if end < window_end {
                let mut serializer = form_urlencoded::Serializer::new(String::new());
                for (k, v) in query.iter().filter(|(k, _)| k != "$skiptoken") {
                    serializer.append_pair(k, v);
                }
                serializer.append_pair("$skiptoken", &(end - base).to_string());
                d.insert(
                    "__next".into(),
                    Value::String(format!("{}/{set_name}?{}", state.service_url(), serializer.finish())),
                );
            }
            json_response(StatusCode::OK, &json!({"d": d}))
        }
        (Target::Entity { key, .. }, "GET") => {
            let id = key.get(&key_property).cloned().unwrap_or_default();
            match state.entity(&set_name, &id) {
                Some(e) => json_response(
                    StatusCode::OK,
                    &json!({"d": project(&state.with_metadata(&set_name, &e), &options.select)}),
                ),
                None => not_found(&set_name, &id),
            }
        }
        (Target::Collection { .. }, "POST") => {
            let Some(values) = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.as_object().cloned())
            else {
                return odata_error(
                    StatusCode::BAD_REQUEST,
                    "/IWBEP/CM_MGW_RT/004",
                    "Malformed request body",
                );
            };
            if let Some(refused) = refuse(&profile, &values) {
                return refused;
            }
            let mut entity = odata::default_entity(ty);
            for (k, v) in values {
                if ty.property(&k).is_some() && k != key_property {
                    entity.insert(k, v);
                }
            }
            match state.create(&profile, entity) {
                Some(created) => {
                    let created = state.with_metadata(&set_name, &created);
                    let location = created["__metadata"]["uri"].as_str().unwrap_or_default().to_owned();
                    let mut r = json_response(StatusCode::CREATED, &json!({"d": created}));
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        r.headers_mut().insert("location", v);
                    }
                    r
                }
                None => odata_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "/IWBEP/CM_MGW_RT/000",
                    "Create failed",
                ),
            }
        }
        (Target::Entity { key, .. }, "PATCH" | "MERGE" | "PUT") => {
            let id = key.get(&key_property).cloned().unwrap_or_default();
            let Some(values) = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.as_object().cloned())
            else {
                return odata_error(
                    StatusCode::BAD_REQUEST,
                    "/IWBEP/CM_MGW_RT/004",
                    "Malformed request body",
                );
            };
            if values
                .get(&key_property)
                .is_some_and(|k| k.as_str() != Some(id.as_str()))
            {
                return odata_error(
                    StatusCode::BAD_REQUEST,
                    "/IWBEP/CM_MGW_RT/005",
                    "The key in the body differs from the key in the URL",
                );
            }
            if let Some(refused) = refuse(&profile, &values) {
                return refused;
            }
            let changes: Map<String, Value> = values.into_iter().filter(|(k, _)| ty.property(k).is_some()).collect();
            match state.update(&set_name, &id, Value::Object(changes)) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => not_found(&set_name, &id),
            }
        }
        _ => odata_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "/IWBEP/CM_MGW_RT/021",
            &format!("{method} is not supported on {set_name}"),
        ),
    }
}

fn not_found(set: &str, id: &str) -> Response {
    odata_error(
        StatusCode::NOT_FOUND,
        "/IWBEP/CM_MGW_RT/020",
        &format!("Resource not found for segment '{set}' with key '{id}'"),
    )
}

fn refuse(profile: &SetProfile, values: &Map<String, Value>) -> Option<Response> {
    for rule in &profile.refuse {
        if let Some(value) = values.get(&rule.property).and_then(Value::as_str) {
            if !rule.one_of.iter().any(|v| v == value) {
                return Some(odata_error(
                    StatusCode::BAD_REQUEST,
                    &rule.code,
                    &rule.message.replace("{value}", value),
                ));
            }
        }
    }
    None
}

/// The entity with only the `$select`ed properties (and `__metadata`); all without one.
fn project(entity: &Value, select: &[String]) -> Value {
    match entity.as_object() {
        Some(object) if !select.is_empty() && !select.iter().any(|s| s == "*") => Value::Object(
            object
                .iter()
                .filter(|(k, _)| k.as_str() == "__metadata" || select.iter().any(|s| s == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => entity.clone(),
    }
}

/// The OAuth 2.0 client credentials grant (RFC 6749 section 4.4): the client authenticates with
/// HTTP basic auth and `grant_type=client_credentials` in a form body; the answer is a bearer
/// token (section 5.1), or `invalid_client` (401) and `unsupported_grant_type` (400).
fn grant(state: &ODataService, oauth: &OAuthProfile, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [("allow", "POST")]).into_response();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let client = basic_user(headers);
    if !client.as_ref().is_some_and(|c| oauth.clients.contains(c)) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_response(StatusCode::BAD_REQUEST, &json!({"error": "unsupported_grant_type"}));
    }
    let token = format!(
        "fake-sap-access-{}-{}",
        state.sequence.fetch_add(1, Ordering::SeqCst),
        now_ms()
    );
    lock(&state.access_tokens).insert(token.clone());
    json_response(
        StatusCode::OK,
        &json!({"access_token": token, "token_type": "Bearer", "expires_in": oauth.expires_in}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_profiles_parse() {
        for (provider, _) in PROFILES {
            let p = Profile::built_in(provider).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&p.provider, provider);
        }
        assert!(matches!(Profile::built_in("nope"), Err(ProfileError::Unknown(_))));
    }

    #[test]
    fn dates_are_split_into_a_midnight_date_and_a_time_of_day() {
        let (date, time) = date_at(1_700_000_000_123);
        assert_eq!(date, "/Date(1699920000000)/");
        assert_eq!(time, "PT22H13M20S");
        assert_eq!(guid(1).len(), 36);
    }
}
