//! Fake Oracle NetSuite REST web services: SuiteQL queries over customers and the REST record
//! API for customers. NetSuite publishes no machine-readable description in the specs folder, so
//! this fake follows Oracle's documentation (NetSuite Help Center, "SuiteTalk REST Web
//! Services": "Executing SuiteQL Queries Through REST Web Services", "Working with Records",
//! "Error Handling and Logging in REST Web Services", "Token-based Authentication"), and assumes:
//!
//! * authentication is token-based (OAuth 1.0a, RFC 5849) with HMAC-SHA256: every request's
//!   `Authorization: OAuth realm="<account id>", oauth_consumer_key=..., oauth_token=...,
//!   oauth_signature_method="HMAC-SHA256", oauth_timestamp, oauth_nonce, oauth_version="1.0",
//!   oauth_signature` is verified here with this fake's own implementation of the signature
//!   base string (a nonce may not be used twice); a bad one is 401 `INVALID_LOGIN`;
//! * `POST /services/rest/query/v1/suiteql?limit=N&offset=M` with `Prefer: transient` and
//!   `{"q": "..."}` runs the query; limit at most 1000; the answer is `{"links", "count",
//!   "hasMore", "items", "offset", "totalResults"}` with every value as a string. The fake
//!   understands the statement shape connectors send: `SELECT <columns> FROM customer
//!   [WHERE lastmodifieddate >= TO_TIMESTAMP('<yyyy-mm-ddThh:mi:ss>', '<format>') | WHERE id = <n>]
//!   ORDER BY id`, where a column is a customer field or
//!   `TO_CHAR(lastmodifieddate, '<format>') AS <alias>` (rendered as RFC 3339, UTC);
//!   anything else is 400 `INVALID_SEARCH`, and is recorded as a violation;
//! * `POST /services/rest/record/v1/customer` creates from a body of record field ids in camel
//!   case (`companyName`, `firstName`, `email`, `isPerson`: a boolean) (204 No Content, the new
//!   record's URL in `Location`), `PATCH /services/rest/record/v1/customer/{id}` updates (204; 404
//!   `NONEXISTENT_ID` when missing); an email without `@` is refused as NetSuite's field validation
//!   does (400 `INVALID_FLD_VALUE`, `o:errorPath: email`);
//! * errors are RFC 9457-style bodies with `o:errorDetails: [{"detail", "o:errorCode"}]`.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation};
use crate::timestamp::now_ms;

/// The account id of the default configuration (the realm of every signature).
pub const ACCOUNT: &str = "1234567_SB1";
/// Token-based authentication credentials the default configuration accepts.
pub const CONSUMER_KEY: &str = "fake-ns-consumer-key";
pub const CONSUMER_SECRET: &str = "fake-ns-consumer-secret";
pub const TOKEN: &str = "fake-ns-token-id";
pub const TOKEN_SECRET: &str = "fake-ns-token-secret";

/// Customer fields the fake knows (a subset of the customer record's fields).
const FIELDS: &[&str] = &[
    "id",
    "entityid",
    "companyname",
    "firstname",
    "lastname",
    "email",
    "phone",
    "isperson",
    "externalid",
    "lastmodifieddate",
    "datecreated",
];

/// REST record API field ids (camel case) and the SuiteQL columns they are stored as.
const RECORD_FIELDS: &[(&str, &str)] = &[
    ("entityId", "entityid"),
    ("companyName", "companyname"),
    ("firstName", "firstname"),
    ("lastName", "lastname"),
    ("email", "email"),
    ("phone", "phone"),
    ("isPerson", "isperson"),
    ("externalId", "externalid"),
];

/// How the fake NetSuite behaves.
#[derive(Debug, Clone)]
pub struct NetsuiteConfig {
    pub port: u16,
    /// Customers seeded.
    pub records: usize,
    pub faults: FaultConfig,
}

impl Default for NetsuiteConfig {
    fn default() -> Self {
        Self {
            port: 0,
            records: 2500,
            faults: FaultConfig::default(),
        }
    }
}

/// The fake account.
pub struct Netsuite {
    customers: Mutex<Vec<Map<String, Value>>>,
    next_id: Mutex<u64>,
    nonces: Mutex<HashSet<String>>,
    base_url: Mutex<String>,
    violations: Arc<crate::spec::ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn rfc3339(ms: i64) -> String {
    crate::timestamp::iso_ms(ms)
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned()
        + "Z"
}

/// Starts a fake NetSuite on a loopback port.
///
/// # Panics
/// When the port cannot be bound.
pub fn start(config: NetsuiteConfig) -> FakeHandle<Netsuite> {
    server::expect_started("netsuite", try_start(config))
}

/// Starts a fake NetSuite, reporting a bind failure.
pub fn try_start(config: NetsuiteConfig) -> io::Result<FakeHandle<Netsuite>> {
    let violations = Arc::new(crate::spec::ViolationLog::default());
    let state = Arc::new(Netsuite {
        customers: Mutex::new(Vec::new()),
        next_id: Mutex::new(1),
        nonces: Mutex::new(HashSet::new()),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    let now = now_ms();
    for n in 1..=config.records {
        let at = now - 86_400_000 * 30 + n as i64 * 1000;
        let mut c = Map::new();
        c.insert("entityid".into(), json!(format!("CUST{n}")));
        c.insert("companyname".into(), json!(format!("Company {n}")));
        c.insert("firstname".into(), json!(format!("First{n}")));
        c.insert("lastname".into(), json!(format!("Customer{n}")));
        c.insert("email".into(), json!(format!("customer{n}@example.com")));
        c.insert("isperson".into(), json!(false));
        state.create(c, at);
    }
    let spec = Spec {
        name: "netsuite",
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
            .route("/services/rest/query/v1/suiteql", post(suiteql))
            .route("/services/rest/record/v1/customer", post(create_customer))
            .route("/services/rest/record/v1/customer/{id}", patch(update_customer))
            .with_state(state)
    })
}

fn fault(status: StatusCode) -> Response {
    ns_error(status, "UNEXPECTED_ERROR", "An unexpected error occurred.")
}

fn ns_error(status: StatusCode, code: &str, detail: &str) -> Response {
    error_at(status, code, detail, None)
}

fn error_at(status: StatusCode, code: &str, detail: &str, path: Option<&str>) -> Response {
    let mut item = json!({"detail": detail, "o:errorCode": code});
    if let Some(p) = path {
        item["o:errorPath"] = json!(p);
    }
    let body = json!({
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "o:errorDetails": [item],
    });
    (
        status,
        [("content-type", "application/vnd.oracle.resource+json; type=error")],
        body.to_string(),
    )
        .into_response()
}

impl Netsuite {
    fn create(&self, mut fields: Map<String, Value>, at: i64) -> Map<String, Value> {
        let id = {
            let mut next = lock(&self.next_id);
            let id = *next;
            *next += 1;
            id
        };
        fields.insert("id".into(), json!(id.to_string()));
        fields.insert("datecreated".into(), json!(at));
        fields.insert("lastmodifieddate".into(), json!(at));
        lock(&self.customers).push(fields.clone());
        fields
    }

    /// How many customers the account has.
    pub fn count(&self) -> usize {
        lock(&self.customers).len()
    }

    /// A customer as SuiteQL returns it (strings; `lastmodifieddate` as RFC 3339 in `lastmodified`).
    pub fn customer(&self, id: &str) -> Option<Value> {
        lock(&self.customers).iter().find(|c| c["id"] == id).map(row)
    }

    /// Customers with an email.
    pub fn find_by_email(&self, email: &str) -> Option<Value> {
        lock(&self.customers).iter().find(|c| c["email"] == email).map(row)
    }

    /// Changes a customer as a NetSuite user would (its last-modified time becomes now).
    pub fn touch(&self, id: &str, changes: Value) -> Option<Value> {
        let mut customers = lock(&self.customers);
        let c = customers.iter_mut().find(|c| c["id"] == id)?;
        if let Value::Object(changes) = changes {
            c.extend(changes);
        }
        c.insert("lastmodifieddate".into(), json!(now_ms()));
        Some(row(c))
    }

    /// Adds a customer as a NetSuite user would.
    pub fn insert(&self, fields: Value) -> Value {
        let Value::Object(fields) = fields else {
            return Value::Null;
        };
        row(&self.create(fields, now_ms()))
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "netsuite",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

/// A customer as a SuiteQL row: every value a string, booleans `T`/`F`.
fn row(c: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, v) in c {
        let text = match v {
            Value::Bool(b) => if *b { "T" } else { "F" }.to_owned(),
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other if k == "lastmodifieddate" || k == "datecreated" => rfc3339(other.as_i64().unwrap_or(0)),
            other => other.to_string(),
        };
        out.insert(k.clone(), Value::String(text));
    }
    if let Some(Value::String(ts)) = out.get("lastmodifieddate").cloned() {
        out.insert("lastmodified".into(), Value::String(ts));
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Token-based authentication

fn encode(text: &str) -> String {
    // RFC 3986 unreserved characters stay; everything else is %XX (upper-case hex).
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Checks the OAuth header; `Err` is the reason (never echoed to the client).
fn verify(state: &Netsuite, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), String> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let rest = header.strip_prefix("OAuth ").ok_or("not an OAuth header")?;
    let mut params: HashMap<String, String> = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or("a parameter without `=`")?;
        params.insert(k.to_owned(), decode(v.trim_matches('"')));
    }
    let get = |k: &str| params.get(k).cloned().ok_or(format!("no {k}"));
    if get("realm")? != ACCOUNT {
        return Err("the realm is not the account id".into());
    }
    if get("oauth_consumer_key")? != CONSUMER_KEY || get("oauth_token")? != TOKEN {
        return Err("unknown consumer or token".into());
    }
    if get("oauth_signature_method")? != "HMAC-SHA256" {
        return Err("NetSuite accepts HMAC-SHA256 signatures".into());
    }
    if get("oauth_version")? != "1.0" {
        return Err("oauth_version is 1.0".into());
    }
    let timestamp: i64 = get("oauth_timestamp")?.parse().map_err(|_| "a bad timestamp")?;
    if (now_ms() / 1000 - timestamp).abs() > 300 {
        return Err("the timestamp is more than 5 minutes off".into());
    }
    let nonce = get("oauth_nonce")?;
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    for (k, v) in &params {
        if k.starts_with("oauth_") && k != "oauth_signature" {
            pairs.push((encode(k), encode(v)));
        }
    }
    pairs.sort();
    let normalized: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base_url = format!("{}{}", lock(&state.base_url), uri.path());
    let base = format!(
        "{}&{}&{}",
        method.as_str(),
        encode(&base_url),
        encode(&normalized.join("&"))
    );
    let key = format!("{}&{}", encode(CONSUMER_SECRET), encode(TOKEN_SECRET));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).map_err(|_| "key")?;
    mac.update(base.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if get("oauth_signature")? != expected {
        return Err("the signature does not match".into());
    }
    if !lock(&state.nonces).insert(format!("{timestamp}:{nonce}")) {
        return Err("the nonce was used before".into());
    }
    Ok(())
}

fn authenticate(state: &Netsuite, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    match verify(state, method, uri, headers) {
        Ok(()) => None,
        Err(reason) => {
            state.violation(method.as_str(), uri.path(), "/headers/authorization", reason);
            Some(ns_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_LOGIN",
                "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI.",
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SuiteQL

struct Statement {
    /// `(output name, source field, formatted as RFC 3339)`.
    columns: Vec<(String, String)>,
    since_ms: Option<i64>,
    id: Option<String>,
}

fn parse_statement(q: &str) -> Result<Statement, String> {
    let q = q.trim();
    let upper = q.to_ascii_uppercase();
    let select = upper
        .strip_prefix("SELECT ")
        .ok_or("a SuiteQL query starts with SELECT")?;
    let from = select
        .find(" FROM CUSTOMER")
        .ok_or("this fake serves `FROM customer` only")?;
    let columns_text = &q[7..7 + from];
    let rest = upper[7 + from + " FROM CUSTOMER".len()..].trim().to_owned();
    let mut columns = Vec::new();
    for column in split_columns(columns_text) {
        let column = column.trim();
        let lower = column.to_ascii_lowercase();
        if let Some(inner) = lower.strip_prefix("to_char(") {
            let (field, alias) = inner.split_once(')').ok_or("an unclosed TO_CHAR(")?;
            let field = field.split(',').next().unwrap_or_default().trim().to_owned();
            let alias = alias
                .trim()
                .strip_prefix("as ")
                .ok_or("TO_CHAR(...) needs `AS alias`")?
                .trim();
            if !FIELDS.contains(&field.as_str()) {
                return Err(format!("unknown customer field {field}"));
            }
            columns.push((alias.to_owned(), field));
        } else if FIELDS.contains(&lower.as_str()) {
            columns.push((lower.clone(), lower));
        } else {
            return Err(format!("unknown customer field {column}"));
        }
    }
    let mut since_ms = None;
    let mut id = None;
    let mut tail = rest.as_str();
    if let Some(condition) = tail.strip_prefix("WHERE ID = ") {
        let (value, after) = condition
            .split_once(' ')
            .ok_or("`WHERE id = <n>` needs ORDER BY after it")?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{value}` is not an internal id (a number)"));
        }
        id = Some(value.to_owned());
        tail = after.trim();
    }
    if let Some(condition) = tail.strip_prefix("WHERE LASTMODIFIEDDATE >= TO_TIMESTAMP('") {
        let (ts, after) = condition.split_once('\'').ok_or("an unclosed timestamp literal")?;
        let at = time::OffsetDateTime::parse(&format!("{ts}Z"), &time::format_description::well_known::Rfc3339)
            .ok()
            .filter(|_| ts.len() == 19)
            .ok_or_else(|| format!("`{ts}` is not yyyy-mm-ddThh:mi:ss"))?;
        since_ms = Some((at.unix_timestamp_nanos() / 1_000_000) as i64);
        let after = after.trim_start_matches(',').trim_start();
        let close = after.find(')').ok_or("an unclosed TO_TIMESTAMP(")?;
        tail = after[close + 1..].trim();
    }
    if tail != "ORDER BY ID" {
        return Err(format!("this fake expects `ORDER BY id` at the end, not `{tail}`"));
    }
    Ok(Statement { columns, since_ms, id })
}

/// Splits a column list on commas outside parentheses and quotes.
fn split_columns(text: &str) -> Vec<&str> {
    let (mut depth, mut quoted, mut start) = (0, false, 0);
    let mut out = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

async fn suiteql(
    State(state): State<Arc<Netsuite>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(refused) = authenticate(&state, &method, &uri, &headers) {
        return refused;
    }
    let path = uri.path().to_owned();
    if headers.get("prefer").and_then(|v| v.to_str().ok()) != Some("transient") {
        state.violation(
            "POST",
            &path,
            "/headers/prefer",
            "SuiteQL requests carry `Prefer: transient`".into(),
        );
    }
    let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(1000);
    let offset: usize = query.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset / limit * limit != offset {
        state.violation(
            "POST",
            &path,
            "/query/limit",
            format!("limit {limit} / offset {offset}: limit is 1-1000 and offset a multiple of it"),
        );
        return ns_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", "Invalid limit or offset.");
    }
    let q = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("q").and_then(Value::as_str).map(str::to_owned));
    let Some(q) = q else {
        state.violation("POST", &path, "/body/q", "the body is {\"q\": \"<SuiteQL>\"}".into());
        return ns_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "The request body must have a q.",
        );
    };
    let statement = match parse_statement(&q) {
        Ok(s) => s,
        Err(e) => {
            state.violation("POST", &path, "/body/q", e.clone());
            return ns_error(
                StatusCode::BAD_REQUEST,
                "INVALID_SEARCH",
                &format!("Invalid search query: {e}"),
            );
        }
    };
    let matching: Vec<Map<String, Value>> = lock(&state.customers)
        .iter()
        .filter(|c| {
            statement
                .since_ms
                .is_none_or(|s| c["lastmodifieddate"].as_i64().unwrap_or(0) >= s)
        })
        .filter(|c| statement.id.as_ref().is_none_or(|id| c["id"] == id.as_str()))
        .cloned()
        .collect();
    let total = matching.len();
    let items: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| {
            let full = row(c);
            let mut out = Map::new();
            out.insert("links".into(), json!([]));
            for (name, field) in &statement.columns {
                if let Some(v) = full.get(field) {
                    out.insert(name.clone(), v.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    let has_more = offset + items.len() < total;
    Json(json!({
        "links": [{"rel": "self", "href": format!("{}{}?limit={limit}&offset={offset}", lock(&state.base_url), path)}],
        "count": items.len(),
        "hasMore": has_more,
        "items": items,
        "offset": offset,
        "totalResults": total,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Records

fn record_fields(state: &Netsuite, path: &str, body: &[u8]) -> Result<Map<String, Value>, Box<Response>> {
    let Some(Value::Object(fields)) = serde_json::from_slice::<Value>(body).ok() else {
        state.violation("POST", path, "/body", "a record body is a JSON object".into());
        return Err(Box::new(ns_error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The request body is not valid JSON.",
        )));
    };
    let mut stored = Map::new();
    for (k, v) in fields {
        let Some((_, column)) = RECORD_FIELDS.iter().find(|(name, _)| *name == k) else {
            state.violation(
                "POST",
                path,
                &format!("/body/{k}"),
                format!("`{k}` is not a writable customer field"),
            );
            return Err(Box::new(error_at(
                StatusCode::BAD_REQUEST,
                "INVALID_FLD",
                &format!("Invalid field {k}."),
                Some(&k),
            )));
        };
        let typed = if k == "isPerson" { v.is_boolean() } else { v.is_string() };
        if !typed {
            state.violation(
                "POST",
                path,
                &format!("/body/{k}"),
                format!("`{k}` has the wrong JSON type: {v}"),
            );
        }
        stored.insert((*column).to_owned(), v);
    }
    if let Some(email) = stored.get("email").and_then(Value::as_str) {
        if !email.contains('@') {
            return Err(Box::new(error_at(
                StatusCode::BAD_REQUEST,
                "INVALID_FLD_VALUE",
                &format!("Error while accessing a resource. Invalid field value {email} for field email."),
                Some("email"),
            )));
        }
    }
    Ok(stored)
}

async fn create_customer(
    State(state): State<Arc<Netsuite>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = authenticate(&state, &method, &uri, &headers) {
        return refused;
    }
    let fields = match record_fields(&state, uri.path(), &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let created = state.create(fields, now_ms());
    let location = format!(
        "{}/services/rest/record/v1/customer/{}",
        lock(&state.base_url),
        created["id"].as_str().unwrap_or_default()
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert("location", v);
    }
    response
}

async fn update_customer(
    State(state): State<Arc<Netsuite>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = authenticate(&state, &method, &uri, &headers) {
        return refused;
    }
    let fields = match record_fields(&state, uri.path(), &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match state.touch(&id, Value::Object(fields)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => ns_error(
            StatusCode::NOT_FOUND,
            "NONEXISTENT_ID",
            &format!("The record instance {id} does not exist."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_statement_shape_connectors_send() {
        let s = parse_statement(
            "SELECT id, email, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS lastmodified FROM customer \
             WHERE lastmodifieddate >= TO_TIMESTAMP('2026-11-27T01:02:03', 'YYYY-MM-DD\"T\"HH24:MI:SS') ORDER BY id",
        )
        .unwrap();
        assert_eq!(s.columns[2], ("lastmodified".to_owned(), "lastmodifieddate".to_owned()));
        assert_eq!(s.since_ms, Some(1_795_741_323_000));
        assert!(parse_statement("SELECT nope FROM customer ORDER BY id").is_err());
        assert_eq!(
            parse_statement("SELECT id FROM customer WHERE id = 42 ORDER BY id")
                .unwrap()
                .id
                .as_deref(),
            Some("42")
        );
        assert!(parse_statement("SELECT id FROM customer WHERE id = 1 OR 1=1 ORDER BY id").is_err());
        assert!(parse_statement("SELECT id FROM vendor ORDER BY id").is_err());
    }
}
