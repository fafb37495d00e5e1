//! Fake Microsoft Dataverse Web API (Dynamics 365): contacts and accounts, and the Microsoft
//! Entra ID token endpoint in front of it.
//!
//! Microsoft publishes no machine-readable description of the Dataverse Web API in the specs
//! folder (an environment's `$metadata` CSDL is per organisation, behind sign-in), so this fake
//! follows Microsoft's documentation on learn.microsoft.com, and records every departure from it
//! as a [`Violation`]:
//!
//! * "Use OAuth authentication with Microsoft Dataverse" and the Microsoft identity platform's
//!   "OAuth 2.0 client credentials flow": `POST /{tenant}/oauth2/v2.0/token` with
//!   `grant_type=client_credentials`, `client_id`, `client_secret` and
//!   `scope=<environment URL>/.default` (the only scope form the client-credentials flow takes:
//!   the resource's URL followed by `/.default`); the answer is
//!   `{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token"}`. A
//!   wrong secret is 401 `invalid_client`, a wrong scope 400 `invalid_scope`;
//! * "Query data using the Web API": `GET /api/data/v9.2/<entity set>` with `$select`,
//!   `$filter` (here: `modifiedon ge|gt <DateTimeOffset>`, the literal unquoted as OData v4
//!   writes it) and `$orderby`; "Page results": the `Prefer: odata.maxpagesize=N` header sets
//!   the page size (5,000 at most, the default), answered with `Preference-Applied`, and a page
//!   followed by others carries `@odata.nextLink`, a URL with a `$skiptoken` paging cookie;
//!   lists are `{"@odata.context", "value": [...], "@odata.nextLink"?}`;
//! * "Retrieve a table row using the Web API": `GET /api/data/v9.2/contacts(<guid>)`; a missing
//!   row is 404 with `{"error": {"code": "0x80040217", "message": "... Does Not Exist"}}`;
//! * "Create a table row" (`POST /api/data/v9.2/<entity set>`) and "Update and delete table rows"
//!   / "Use Upsert to Create or Update a record" / "Use an alternate key to reference a record":
//!   `PATCH /api/data/v9.2/contacts(emailaddress1='x%40y.com')` updates the row with that key
//!   or creates it; with `Prefer: return=representation` the answer is the row (201 created,
//!   200 updated), else 204 with `OData-EntityId`. A key that is not one of the table's
//!   alternate keys (contacts: `emailaddress1`; accounts: `accountnumber`, as this fake's
//!   environment defines them) is 400. A string longer than the column's maximum length is
//!   400 `0x80044331` ("A validation error occurred. The length of the 'lastname' attribute
//!   ... exceeded the maximum allowed length of '50'."), an unknown column 400 `0x80060888`;
//! * "Compose HTTP requests and handle errors": requests carry `OData-MaxVersion: 4.0` and
//!   `OData-Version: 4.0`; every request is authorised with `Authorization: Bearer <token>`
//!   (401 otherwise); `GET /api/data/v9.2/WhoAmI` answers the caller's ids;
//! * "Service protection API limits": 6,000 requests per user in a sliding 5-minute window;
//!   over it, 429 with `Retry-After` and error code `0x80072322` (the fault layer's 429s use
//!   that body).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::now_ms;

/// The Entra ID tenant of the default configuration.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The app registration's credentials the token endpoint accepts.
pub const CLIENT_ID: &str = "51f81489-12ee-4a9e-aaae-a2591f45987d";
pub const CLIENT_SECRET: &str = "fake-dataverse-client-secret";
/// The Web API's path under the environment URL.
pub const API_PATH: &str = "/api/data/v9.2";

/// The largest page Dataverse returns (and the default without `odata.maxpagesize`).
const MAX_PAGE_SIZE: usize = 5000;

/// One table the fake serves.
struct Table {
    /// Entity set name (`contacts`).
    set: &'static str,
    /// Logical name (`contact`).
    logical: &'static str,
    /// Primary id column (`contactid`).
    id: &'static str,
    /// Writable string columns and their maximum lengths.
    columns: &'static [(&'static str, usize)],
    /// The alternate key column this environment defines.
    alternate_key: &'static str,
}

const TABLES: &[Table] = &[
    Table {
        set: "contacts",
        logical: "contact",
        id: "contactid",
        columns: &[
            ("firstname", 50),
            ("lastname", 50),
            ("emailaddress1", 100),
            ("telephone1", 50),
            ("jobtitle", 100),
        ],
        alternate_key: "emailaddress1",
    },
    Table {
        set: "accounts",
        logical: "account",
        id: "accountid",
        columns: &[
            ("name", 160),
            ("accountnumber", 20),
            ("telephone1", 50),
            ("websiteurl", 200),
            ("address1_city", 80),
        ],
        alternate_key: "accountnumber",
    },
];

/// Read-only columns every row has.
const SYSTEM_COLUMNS: &[&str] = &["modifiedon", "createdon", "versionnumber"];

fn table(set: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.set == set)
}

/// How the fake environment behaves.
#[derive(Debug, Clone)]
pub struct DynamicsConfig {
    pub port: u16,
    /// Contacts seeded.
    pub contacts: usize,
    /// Accounts seeded.
    pub accounts: usize,
    pub faults: FaultConfig,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        Self {
            port: 0,
            contacts: 250,
            accounts: 230,
            faults: FaultConfig::default(),
        }
    }
}

/// The fake environment.
pub struct Dynamics {
    rows: Mutex<HashMap<&'static str, Vec<Map<String, Value>>>>,
    tokens: Mutex<Vec<String>>,
    counter: AtomicU64,
    base_url: Mutex<String>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ms` as Dataverse writes a DateTimeOffset: UTC to the second.
fn stamp(ms: i64) -> String {
    let iso = crate::timestamp::iso_ms(ms);
    format!("{}Z", iso.split('.').next().unwrap_or_default())
}

/// Starts a fake Dataverse environment (and its token endpoint) on a loopback port.
///
/// # Panics
/// When the port cannot be bound.
pub fn start(config: DynamicsConfig) -> FakeHandle<Dynamics> {
    server::expect_started("dynamics", try_start(config))
}

/// Starts a fake Dataverse environment, reporting a bind failure.
pub fn try_start(config: DynamicsConfig) -> io::Result<FakeHandle<Dynamics>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Dynamics {
        rows: Mutex::new(HashMap::new()),
        tokens: Mutex::new(Vec::new()),
        counter: AtomicU64::new(1),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    let start = now_ms() - 86_400_000 * 30;
    for n in 1..=config.contacts {
        let mut row = Map::new();
        row.insert("firstname".into(), json!(format!("First{n}")));
        row.insert("lastname".into(), json!(format!("Contact{n}")));
        row.insert("emailaddress1".into(), json!(format!("contact{n}@example.com")));
        row.insert("telephone1".into(), json!(format!("+1 425 555 {:04}", n % 10_000)));
        state.create("contacts", row, start + n as i64 * 1000);
    }
    for n in 1..=config.accounts {
        let mut row = Map::new();
        row.insert("name".into(), json!(format!("Account {n}")));
        row.insert("accountnumber".into(), json!(format!("ACC-{n:05}")));
        row.insert("websiteurl".into(), json!(format!("https://account{n}.example.com")));
        state.create("accounts", row, start + n as i64 * 1000);
    }
    let spec = Spec {
        name: "dynamics",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations,
        respond: fault,
    };
    server::spawn(spec, move |base_url| {
        *lock(&state.base_url) = base_url.to_owned();
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .fallback(web_api)
            .with_state(state)
    })
}

fn fault(status: StatusCode) -> Response {
    if status == StatusCode::TOO_MANY_REQUESTS {
        let mut r = error(
            status,
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        );
        r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        return r;
    }
    error(status, "0x80040216", "An unexpected error occurred.")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("content-type", "application/json; odata.metadata=minimal"),
            ("odata-version", "4.0"),
        ],
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

impl Dynamics {
    fn guid(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-0000-4000-8000-{n:012x}", 0x00d1_5e00u32)
    }

    fn create(&self, set: &'static str, mut row: Map<String, Value>, at: i64) -> Map<String, Value> {
        let t = table(set).expect("a known table");
        let version = self.counter.fetch_add(1, Ordering::Relaxed);
        if !row.contains_key(t.id) {
            row.insert(t.id.into(), json!(self.guid()));
        }
        row.insert("createdon".into(), json!(stamp(at)));
        row.insert("modifiedon".into(), json!(stamp(at)));
        row.insert("versionnumber".into(), json!(version));
        lock(&self.rows).entry(set).or_default().push(row.clone());
        row
    }

    /// How many rows a table (`contacts`, `accounts`) has.
    pub fn count(&self, set: &str) -> usize {
        lock(&self.rows).get(set).map_or(0, Vec::len)
    }

    /// A row by its id, as the Web API returns it (without annotations).
    pub fn row(&self, set: &str, id: &str) -> Option<Value> {
        let t = table(set)?;
        lock(&self.rows)
            .get(set)?
            .iter()
            .find(|r| r[t.id] == id)
            .map(|r| Value::Object(r.clone()))
    }

    /// A row by a column's value.
    pub fn find(&self, set: &str, column: &str, value: &str) -> Option<Value> {
        lock(&self.rows)
            .get(set)?
            .iter()
            .find(|r| r.get(column).and_then(Value::as_str) == Some(value))
            .map(|r| Value::Object(r.clone()))
    }

    /// Changes a row as a user in the app would: `modifiedon` becomes now.
    pub fn touch(&self, set: &str, id: &str, changes: Value) -> Option<Value> {
        let t = table(set)?;
        let mut rows = lock(&self.rows);
        let row = rows.get_mut(set)?.iter_mut().find(|r| r[t.id] == id)?;
        if let Value::Object(changes) = changes {
            row.extend(changes);
        }
        row.insert("modifiedon".into(), json!(stamp(now_ms())));
        row.insert(
            "versionnumber".into(),
            json!(self.counter.fetch_add(1, Ordering::Relaxed)),
        );
        Some(Value::Object(row.clone()))
    }

    /// Adds a row as a user in the app would.
    pub fn insert(&self, set: &str, row: Value) -> Option<Value> {
        let t = table(set)?;
        let Value::Object(row) = row else { return None };
        Some(Value::Object(self.create(t.set, row, now_ms())))
    }

    /// Access tokens the token endpoint issued.
    pub fn issued_tokens(&self) -> usize {
        lock(&self.tokens).len()
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "dynamics",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }

    fn base(&self) -> String {
        lock(&self.base_url).clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra ID

/// `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant.
async fn token(State(env): State<Arc<Dynamics>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let aad = |status: StatusCode, code: &str, description: &str| {
        (
            status,
            Json(json!({"error": code, "error_description": description, "error_codes": [], "timestamp": stamp(now_ms())})),
        )
            .into_response()
    };
    let path = format!("/{tenant}/oauth2/v2.0/token");
    if tenant != TENANT_ID {
        env.violation("POST", &path, "/path/tenant", format!("unknown tenant {tenant}"));
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            "AADSTS90002: Tenant not found.",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        env.violation(
            "POST",
            &path,
            "/body/grant_type",
            "the grant is client_credentials".into(),
        );
        return aad(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return aad(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let expected = format!("{}/.default", env.base());
    if form.get("scope") != Some(&expected) {
        env.violation(
            "POST",
            &path,
            "/body/scope",
            format!("the scope is the environment URL followed by /.default ({expected})"),
        );
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        );
    }
    let access = format!(
        "eyJ0eXAiOiJKV1QifQ.fake-dataverse.{}",
        env.counter.fetch_add(1, Ordering::Relaxed)
    );
    lock(&env.tokens).push(access.clone());
    Json(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// The Web API

/// What a path under `/api/data/v9.2` names.
enum Target {
    WhoAmI,
    Set(&'static Table),
    /// A row by its id (`contacts(<guid>)`).
    Row(&'static Table, String),
    /// A row by an alternate key (`contacts(emailaddress1='a@b.c')`).
    Key(&'static Table, String, String),
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_target(path: &str) -> Result<Target, String> {
    let rest = path
        .strip_prefix(API_PATH)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| format!("not under {API_PATH}"))?;
    let rest = decode(rest);
    if rest == "WhoAmI" {
        return Ok(Target::WhoAmI);
    }
    let (set, key) = match rest.split_once('(') {
        Some((set, key)) => (set, Some(key.strip_suffix(')').ok_or("an unclosed key")?)),
        None => (rest.as_str(), None),
    };
    let t = table(set).ok_or_else(|| format!("Resource not found for the segment '{set}'."))?;
    let Some(key) = key else { return Ok(Target::Set(t)) };
    match key.split_once('=') {
        None => {
            let ok = key.len() == 36 && key.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
            if !ok {
                return Err(format!("`{key}` is not a GUID"));
            }
            Ok(Target::Row(t, key.to_owned()))
        }
        Some((column, literal)) => {
            let value = literal
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or("an alternate key value is a quoted string literal")?
                .replace("''", "'");
            Ok(Target::Key(t, column.to_owned(), value))
        }
    }
}

/// The `Prefer` header's preferences, lower-cased names.
fn preferences(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect()
}

async fn web_api(
    State(env): State<Arc<Dynamics>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let m = method.as_str().to_owned();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| lock(&env.tokens).iter().any(|issued| issued == t)) {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return r;
    }
    for name in ["odata-maxversion", "odata-version"] {
        if headers.get(name).and_then(|v| v.to_str().ok()) != Some("4.0") {
            env.violation(
                &m,
                &path,
                &format!("/headers/{name}"),
                format!("requests carry `{name}: 4.0`"),
            );
        }
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let target = match parse_target(&path) {
        Ok(t) => t,
        Err(e) => {
            env.violation(&m, &path, "/path", e.clone());
            return error(StatusCode::NOT_FOUND, "0x80060888", &e);
        }
    };
    match (method, target) {
        (Method::GET, Target::WhoAmI) => Json(json!({
            "@odata.context": format!("{}{API_PATH}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", env.base()),
            "BusinessUnitId": "5ff9f4d3-0b1a-4b43-9f0f-6c1f1e8e7a01",
            "UserId": "8f4e3a41-6c2b-4e5e-9d1f-2b0c3a9d8e02",
            "OrganizationId": "1b2c3d4e-5f60-4718-9a0b-c1d2e3f4a503",
        }))
        .into_response(),
        (Method::GET, Target::Set(t)) => list(&env, t, &path, &query, &headers),
        (Method::GET, Target::Row(t, id)) => match select(&env, t, &m, &path, &query) {
            Err(r) => *r,
            Ok(columns) => match env.row(t.set, &id) {
                Some(row) => Json(shape(&env, t, &row, columns.as_deref(), true)).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "0x80040217",
                    &format!("{} With Id = {id} Does Not Exist", t.logical),
                ),
            },
        },
        (Method::POST, Target::Set(t)) => write(&env, t, None, &path, &headers, &body),
        (Method::PATCH, Target::Row(t, id)) => write(&env, t, Some((t.id.to_owned(), id)), &path, &headers, &body),
        (Method::PATCH, Target::Key(t, column, value)) => {
            if column != t.alternate_key {
                env.violation(
                    "PATCH",
                    &path,
                    "/path",
                    format!("`{column}` is not an alternate key of {}", t.logical),
                );
                return error(
                    StatusCode::BAD_REQUEST,
                    "0x80060891",
                    &format!(
                        "The key attribute(s) '{column}' of entity '{}' is not a valid alternate key.",
                        t.logical
                    ),
                );
            }
            write(&env, t, Some((column, value)), &path, &headers, &body)
        }
        (method, _) => {
            env.violation(method.as_str(), &path, "/method", "no such operation".into());
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "0x8006088a",
                "The HTTP method is not allowed here.",
            )
        }
    }
}

/// The `$select` columns, checked against the table.
fn select(
    env: &Dynamics,
    t: &Table,
    method: &str,
    path: &str,
    query: &[(String, String)],
) -> Result<Option<Vec<String>>, Box<Response>> {
    let Some((_, text)) = query.iter().find(|(k, _)| k == "$select") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for column in text.split(',').map(str::trim) {
        let known = column == t.id || SYSTEM_COLUMNS.contains(&column) || t.columns.iter().any(|(c, _)| *c == column);
        if !known {
            env.violation(
                method,
                path,
                "/query/$select",
                format!("`{column}` is not a column of {}", t.logical),
            );
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "0x80060888",
                &format!(
                    "Could not find a property named '{column}' on type 'Microsoft.Dynamics.CRM.{}'.",
                    t.logical
                ),
            )));
        }
        out.push(column.to_owned());
    }
    Ok(Some(out))
}

/// A row as the Web API answers it: the selected columns (all without `$select`), the ETag
/// annotation, and on a single row the context.
fn shape(env: &Dynamics, t: &Table, row: &Value, columns: Option<&[String]>, single: bool) -> Value {
    let mut out = Map::new();
    if single {
        out.insert(
            "@odata.context".into(),
            json!(format!("{}{API_PATH}/$metadata#{}/$entity", env.base(), t.set)),
        );
    }
    out.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", row["versionnumber"].as_u64().unwrap_or(0))),
    );
    let Value::Object(map) = row else {
        return Value::Object(out);
    };
    for (k, v) in map {
        let wanted = columns.is_none_or(|c| c.iter().any(|c| c == k)) || k == t.id;
        if wanted {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// `modifiedon ge|gt <DateTimeOffset>`.
fn parse_filter(text: &str) -> Result<(bool, String), String> {
    let mut words = text.split_whitespace();
    let (Some(column), Some(op), Some(literal), None) = (words.next(), words.next(), words.next(), words.next()) else {
        return Err(format!(
            "this fake understands `modifiedon ge|gt <DateTimeOffset>`, not `{text}`"
        ));
    };
    if column != "modifiedon" {
        return Err(format!("filter on modifiedon, not {column}"));
    }
    let inclusive = match op {
        "ge" => true,
        "gt" => false,
        other => return Err(format!("`{other}` is not ge or gt")),
    };
    if literal.starts_with('\'') {
        return Err("an OData v4 DateTimeOffset literal is not quoted".into());
    }
    let at = time::OffsetDateTime::parse(literal, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("`{literal}` is not a DateTimeOffset literal"))?;
    Ok((inclusive, stamp((at.unix_timestamp_nanos() / 1_000_000) as i64)))
}

fn list(env: &Dynamics, t: &'static Table, path: &str, query: &[(String, String)], headers: &HeaderMap) -> Response {
    let columns = match select(env, t, "GET", path, query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    for (k, _) in query {
        if !matches!(k.as_str(), "$select" | "$filter" | "$orderby" | "$skiptoken" | "$count") {
            env.violation(
                "GET",
                path,
                &format!("/query/{k}"),
                format!("`{k}` is not a query option this fake knows"),
            );
        }
    }
    let filter = match get("$filter").map(parse_filter).transpose() {
        Ok(f) => f,
        Err(e) => {
            env.violation("GET", path, "/query/$filter", e.clone());
            return error(StatusCode::BAD_REQUEST, "0x80060888", &e);
        }
    };
    let by_modified = match get("$orderby") {
        None => false,
        Some(o) if o.replace(' ', "") == format!("modifiedonasc,{}asc", t.id) || o.trim() == "modifiedon asc" => true,
        Some(o) => {
            env.violation(
                "GET",
                path,
                "/query/$orderby",
                format!("this fake orders by modifiedon only, not `{o}`"),
            );
            false
        }
    };
    let prefs = preferences(headers);
    let page_size = match prefs.get("odata.maxpagesize") {
        None => MAX_PAGE_SIZE,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                env.violation(
                    "GET",
                    path,
                    "/headers/prefer",
                    format!("odata.maxpagesize={n} is not 1-5000"),
                );
                MAX_PAGE_SIZE
            }
        },
    };
    let page: usize = match get("$skiptoken") {
        None => 1,
        Some(cookie) => match cookie
            .split("pagenumber=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
        {
            Some(n) => n,
            None => {
                env.violation(
                    "GET",
                    path,
                    "/query/$skiptoken",
                    "not a paging cookie this fake issued".into(),
                );
                return error(StatusCode::BAD_REQUEST, "0x80040203", "Invalid paging cookie.");
            }
        },
    };
    let mut rows: Vec<Value> = lock(&env.rows)
        .get(t.set)
        .map(|rows| rows.iter().map(|r| Value::Object(r.clone())).collect())
        .unwrap_or_default();
    if let Some((inclusive, since)) = &filter {
        rows.retain(|r| {
            let at = r["modifiedon"].as_str().unwrap_or_default();
            if *inclusive {
                at >= since.as_str()
            } else {
                at > since.as_str()
            }
        });
    }
    if by_modified {
        rows.sort_by(|a, b| {
            (a["modifiedon"].as_str(), a[t.id].as_str()).cmp(&(b["modifiedon"].as_str(), b[t.id].as_str()))
        });
    } else {
        rows.sort_by(|a, b| a[t.id].as_str().cmp(&b[t.id].as_str()));
    }
    let total = rows.len();
    let from = (page - 1) * page_size;
    let value: Vec<Value> = rows
        .iter()
        .skip(from)
        .take(page_size)
        .map(|r| shape(env, t, r, columns.as_deref(), false))
        .collect();
    let select_text = columns.as_ref().map(|c| c.join(",")).unwrap_or_default();
    let mut body = json!({
        "@odata.context": format!("{}{API_PATH}/$metadata#{}({select_text})", env.base(), t.set),
        "value": value,
    });
    if from + page_size < total {
        let last = rows[from + page_size - 1][t.id].as_str().unwrap_or_default().to_owned();
        let cookie = format!(
            "<cookie pagenumber=\"{}\" pagingcookie=\"%3ccookie%20page%3d%22{page}%22%3e%3c{id}%20last%3d%22%7b{last}%7d%22%20%2f%3e%3c%2fcookie%3e\" istracking=\"False\" />",
            page + 1,
            id = t.id,
        );
        let mut next: Vec<(String, String)> = query.iter().filter(|(k, _)| k != "$skiptoken").cloned().collect();
        next.push(("$skiptoken".into(), cookie));
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(next)
            .finish();
        body["@odata.nextLink"] = json!(format!("{}{API_PATH}/{}?{encoded}", env.base(), t.set));
    }
    let mut response = Json(body).into_response();
    if prefs.contains_key("odata.maxpagesize") {
        if let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={page_size}")) {
            response.headers_mut().insert("preference-applied", v);
        }
    }
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

/// A create (`key` None), an update by id or an upsert by alternate key.
fn write(
    env: &Dynamics,
    t: &'static Table,
    key: Option<(String, String)>,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let method = if key.is_some() { "PATCH" } else { "POST" };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        env.violation(method, path, "/body", "a row is a JSON object".into());
        return error(
            StatusCode::BAD_REQUEST,
            "0x80048d19",
            "Error identified in Payload provided by the user.",
        );
    };
    for (k, v) in &fields {
        let Some((_, max)) = t.columns.iter().find(|(c, _)| c == k) else {
            env.violation(
                method,
                path,
                &format!("/body/{k}"),
                format!("`{k}` is not a writable column of {}", t.logical),
            );
            return error(
                StatusCode::BAD_REQUEST,
                "0x80060888",
                &format!(
                    "The property '{k}' does not exist on type 'Microsoft.Dynamics.CRM.{}'. Make sure to only use property names that are defined by the type.",
                    t.logical
                ),
            );
        };
        let Some(text) = v.as_str() else {
            env.violation(
                method,
                path,
                &format!("/body/{k}"),
                format!("`{k}` is a string column: {v}"),
            );
            return error(
                StatusCode::BAD_REQUEST,
                "0x80048d19",
                &format!(
                    "Error identified in Payload provided by the user for Entity :'{}'.",
                    t.set
                ),
            );
        };
        if text.chars().count() > *max {
            return error(
                StatusCode::BAD_REQUEST,
                "0x80044331",
                &format!(
                    "A validation error occurred. The length of the '{k}' attribute of the '{}' entity exceeded the maximum allowed length of '{max}'.",
                    t.logical
                ),
            );
        }
    }
    let existing = key.as_ref().and_then(|(column, value)| env.find(t.set, column, value));
    let if_match = headers.get("if-match").is_some();
    let if_none_match = headers.get("if-none-match").is_some();
    let (row, created) = match (existing, &key) {
        (Some(row), _) if !if_none_match => {
            let id = row[t.id].as_str().unwrap_or_default().to_owned();
            (env.touch(t.set, &id, Value::Object(fields)).unwrap_or(row), false)
        }
        (Some(_), _) => {
            return error(
                StatusCode::PRECONDITION_FAILED,
                "0x80040237",
                "A record with matching key values already exists.",
            )
        }
        (None, Some((_, value))) if if_match => {
            return error(
                StatusCode::NOT_FOUND,
                "0x80040217",
                &format!("{} With Ids = {value} Does Not Exist", t.logical),
            )
        }
        (None, key) => {
            let mut fields = fields;
            if let Some((column, value)) = key {
                if let Some(other) = fields.get(column.as_str()).and_then(Value::as_str) {
                    if other != value {
                        env.violation(
                            method,
                            path,
                            &format!("/body/{column}"),
                            "the body contradicts the key".into(),
                        );
                    }
                }
                fields.insert(column.clone(), json!(value));
            }
            (Value::Object(env.create(t.set, fields, now_ms())), true)
        }
    };
    let id = row[t.id].as_str().unwrap_or_default().to_owned();
    let entity_id = format!("{}{API_PATH}/{}({id})", env.base(), t.set);
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = if preferences(headers).get("return") == Some(&"representation".to_owned()) {
        (status, Json(shape(env, t, &row, None, true))).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&entity_id) {
        response.headers_mut().insert("odata-entityid", v);
    }
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_row_ids_alternate_keys_and_sets_from_paths() {
        assert!(matches!(parse_target("/api/data/v9.2/contacts"), Ok(Target::Set(t)) if t.set == "contacts"));
        assert!(matches!(
            parse_target("/api/data/v9.2/contacts(00d15e00-0000-4000-8000-000000000001)"),
            Ok(Target::Row(_, id)) if id == "00d15e00-0000-4000-8000-000000000001"
        ));
        assert!(matches!(
            parse_target("/api/data/v9.2/contacts(emailaddress1='o''brien%40example.com')"),
            Ok(Target::Key(_, c, v)) if c == "emailaddress1" && v == "o'brien@example.com"
        ));
        assert!(parse_target("/api/data/v9.2/leads").is_err());
        assert!(parse_target("/api/data/v9.2/contacts(42)").is_err());
        assert!(parse_target("/api/data/v9.2/contacts(emailaddress1=unquoted)").is_err());
    }

    #[test]
    fn reads_modifiedon_filters_as_odata_v4_writes_them() {
        assert_eq!(
            parse_filter("modifiedon ge 2026-11-27T01:02:03Z"),
            Ok((true, "2026-11-27T01:02:03Z".to_owned()))
        );
        assert_eq!(
            parse_filter("modifiedon gt 2026-11-27T01:02:03Z").map(|f| f.0),
            Ok(false)
        );
        assert!(parse_filter("modifiedon ge '2026-11-27T01:02:03Z'").is_err());
        assert!(parse_filter("createdon ge 2026-11-27T01:02:03Z").is_err());
        assert!(parse_filter("modifiedon eq 2026-11-27T01:02:03Z").is_err());
    }
}
