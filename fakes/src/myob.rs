//! Fake MYOB AccountRight / MYOB Business API (v2): one company file's customers and service
//! invoices, and MYOB's OAuth server.
//!
//! MYOB publishes no machine-readable description of the API (none is in the specs folder), so
//! this fake follows developer.myob.com/api/myob-business-api ("API Overview": "Headers",
//! "Authentication", "Rate limits"; "Contact > Customer"; "Sale > Invoice > Service"; the best
//! practice guides "Hypermedia & URIs" and "Filtering, sorting and paging"), and records every
//! departure from it as a [`Violation`]. It assumes:
//!
//! * `POST /oauth2/v1/authorize` with `grant_type=refresh_token`, `client_id`, `client_secret`
//!   and `refresh_token` (a form) answers `{"access_token", "token_type": "bearer",
//!   "expires_in": "1200", "refresh_token", "scope", "user": {...}}`; each grant issues a new
//!   refresh token and keeps the old one usable (MYOB's refresh tokens are long lived);
//! * every API request carries `Authorization: Bearer <token>`, `x-myobapi-key: <API key>` and
//!   `x-myobapi-version: v2` (401 / 403 otherwise), under the company file's URI
//!   `/accountright/<company file id>`;
//! * lists take `$top` (1-1000, default 400), `$skip`, `$orderby` and `$filter` (here:
//!   `LastModified ge|gt datetime'<yyyy-mm-ddThh:mm:ss>'`), and answer `{"Items": [...],
//!   "NextPageLink": "<URL with $skip>" | null, "Count": <matching>}`; records carry `UID`,
//!   `URI`, `RowVersion` and `LastModified` (`2024-05-02T11:17:33.827`, UTC, no offset);
//! * `GET .../Contact/Customer/{UID}` answers one record, 404 when missing;
//! * `POST /Contact/Customer` creates (201, no body, the new record's URI in `Location`); a
//!   company needs `CompanyName` and a person `LastName`, else 400 with MYOB's error body
//!   `{"Errors": [{"Name", "Message", "AdditionalDetails", "ErrorCode", "Severity"}],
//!   "Information"}`; `PUT /Contact/Customer/{UID}` replaces the record and needs its current
//!   `RowVersion` (a stale one is 409 Conflict, MYOB's optimistic concurrency check);
//! * `POST /Sale/Invoice/Service` needs `Date`, `Customer.UID` (an existing customer) and at
//!   least one line with `Total`; the fake computes `TotalAmount`;
//! * `GET /Company` answers the company file's details (the check);
//! * over 8 requests a second the gateway answers 403 with `X-Mashery-Error-Code:
//!   ERR_403_DEVELOPER_OVER_QPS` (the fault layer's 403s use that shape).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::now_ms;

/// The company file of the default configuration.
pub const COMPANY_FILE: &str = "d2014f64-ffdf-487b-8d12-67a20976aca6";
/// The app's API key (its OAuth client id), secret and the consent's refresh token.
pub const API_KEY: &str = "fake-myob-api-key";
pub const CLIENT_SECRET: &str = "fake-myob-client-secret";
pub const REFRESH_TOKEN: &str = "fake-myob-refresh-token";

const MAX_TOP: usize = 1000;

/// Writable customer fields (a subset of Contact/Customer).
const CUSTOMER_FIELDS: &[&str] = &[
    "UID",
    "RowVersion",
    "CompanyName",
    "FirstName",
    "LastName",
    "IsIndividual",
    "DisplayID",
    "IsActive",
    "Notes",
    "Addresses",
    // Read-only: sent back on a PUT of the record as read, and ignored.
    "URI",
    "LastModified",
];
/// Writable service invoice fields.
const INVOICE_FIELDS: &[&str] = &[
    "Number",
    "Date",
    "Customer",
    "Lines",
    "Comment",
    "IsTaxInclusive",
    "JournalMemo",
];

/// How the fake company file behaves.
#[derive(Debug, Clone)]
pub struct MyobConfig {
    pub port: u16,
    /// Customers seeded (invoices: one per customer).
    pub records: usize,
    pub faults: FaultConfig,
}

impl Default for MyobConfig {
    fn default() -> Self {
        Self {
            port: 0,
            records: 250,
            faults: FaultConfig::default(),
        }
    }
}

/// The fake company file and OAuth server.
pub struct Myob {
    records: Mutex<HashMap<&'static str, Vec<Map<String, Value>>>>,
    access_tokens: Mutex<Vec<String>>,
    refresh_tokens: Mutex<Vec<String>>,
    counter: AtomicU64,
    base_url: Mutex<String>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ms` as MYOB writes `LastModified`: UTC without an offset, milliseconds.
fn stamp(ms: i64) -> String {
    crate::timestamp::iso_ms(ms).trim_end_matches('Z').to_owned()
}

/// The company file's path under the host.
pub fn company_path() -> String {
    format!("/accountright/{COMPANY_FILE}")
}

/// Starts a fake MYOB API (and OAuth server) on a loopback port.
///
/// # Panics
/// When the port cannot be bound.
pub fn start(config: MyobConfig) -> FakeHandle<Myob> {
    server::expect_started("myob", try_start(config))
}

/// Starts a fake MYOB API, reporting a bind failure.
pub fn try_start(config: MyobConfig) -> io::Result<FakeHandle<Myob>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Myob {
        records: Mutex::new(HashMap::new()),
        access_tokens: Mutex::new(Vec::new()),
        refresh_tokens: Mutex::new(vec![REFRESH_TOKEN.to_owned()]),
        counter: AtomicU64::new(1),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    let start = now_ms() - 86_400_000 * 30;
    for n in 1..=config.records {
        let at = start + n as i64 * 1000;
        let customer = state.create(
            "Contact/Customer",
            json!({"CompanyName": format!("Customer {n}"), "IsIndividual": false, "DisplayID": format!("CUS{n:05}"), "IsActive": true}),
            at,
        );
        state.create(
            "Sale/Invoice/Service",
            json!({
                "Number": format!("{n:08}"), "Date": "2026-10-01T00:00:00",
                "Customer": {"UID": customer["UID"], "Name": customer["CompanyName"], "DisplayID": customer["DisplayID"]},
                "Lines": [{"Description": format!("Services {n}"), "Total": 100.0 + n as f64}],
                "Comment": format!("Invoice {n}"),
            }),
            at,
        );
    }
    let spec = Spec {
        name: "myob",
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
            .route("/oauth2/v1/authorize", post(token))
            .fallback(api)
            .with_state(state)
    })
}

fn fault(status: StatusCode) -> Response {
    if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
        return (
            StatusCode::FORBIDDEN,
            [
                ("x-mashery-error-code", "ERR_403_DEVELOPER_OVER_QPS"),
                ("content-type", "text/xml"),
            ],
            "<h1>Developer Over Qps</h1>",
        )
            .into_response();
    }
    myob_error(status, "InternalError", "An unexpected error occurred.", 5000)
}

fn myob_error(status: StatusCode, name: &str, message: &str, code: u32) -> Response {
    (
        status,
        Json(json!({
            "Errors": [{"Name": name, "Message": message, "AdditionalDetails": "", "ErrorCode": code, "Severity": "Error"}],
            "Information": "Warning, error messages have not been finalised in this release and may change",
        })),
    )
        .into_response()
}

impl Myob {
    fn guid(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-a1b2-4c3d-8e4f-{n:012x}", 0x0a0b_0c0du32)
    }

    fn uri(&self, resource: &str, uid: &str) -> String {
        format!("{}{}/{resource}/{uid}", lock(&self.base_url), company_path())
    }

    fn create(&self, resource: &'static str, fields: Value, at: i64) -> Map<String, Value> {
        let Value::Object(mut record) = fields else {
            return Map::new();
        };
        let uid = self.guid();
        record.insert("UID".into(), json!(uid));
        record.insert("URI".into(), json!(self.uri(resource, &uid)));
        record.insert("LastModified".into(), json!(stamp(at)));
        record.insert(
            "RowVersion".into(),
            json!(self.counter.fetch_add(1, Ordering::Relaxed).to_string()),
        );
        if resource == "Sale/Invoice/Service" {
            let total: f64 = record["Lines"]
                .as_array()
                .map(|lines| lines.iter().filter_map(|l| l["Total"].as_f64()).sum())
                .unwrap_or(0.0);
            record.insert("TotalAmount".into(), json!(total));
            record.insert("BalanceDueAmount".into(), json!(total));
            record.insert("Status".into(), json!("Open"));
        }
        lock(&self.records).entry(resource).or_default().push(record.clone());
        record
    }

    /// How many records a resource (`Contact/Customer`, `Sale/Invoice/Service`) holds.
    pub fn count(&self, resource: &str) -> usize {
        lock(&self.records).get(resource).map_or(0, Vec::len)
    }

    /// A record by its UID.
    pub fn record(&self, resource: &str, uid: &str) -> Option<Value> {
        lock(&self.records)
            .get(resource)?
            .iter()
            .find(|r| r["UID"] == uid)
            .map(|r| Value::Object(r.clone()))
    }

    /// A record whose field has `value`.
    pub fn find(&self, resource: &str, field: &str, value: &Value) -> Option<Value> {
        lock(&self.records)
            .get(resource)?
            .iter()
            .find(|r| r.get(field) == Some(value))
            .map(|r| Value::Object(r.clone()))
    }

    /// Changes a record as a user in AccountRight would: a new `RowVersion` and `LastModified`.
    pub fn touch(&self, resource: &str, uid: &str, changes: Value) -> Option<Value> {
        let version = self.counter.fetch_add(1, Ordering::Relaxed).to_string();
        let mut records = lock(&self.records);
        let record = records.get_mut(resource)?.iter_mut().find(|r| r["UID"] == uid)?;
        if let Value::Object(changes) = changes {
            record.extend(changes);
        }
        record.insert("LastModified".into(), json!(stamp(now_ms())));
        record.insert("RowVersion".into(), json!(version));
        Some(Value::Object(record.clone()))
    }

    /// Access tokens issued.
    pub fn issued_tokens(&self) -> usize {
        lock(&self.access_tokens).len()
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "myob",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

/// `POST /oauth2/v1/authorize`: the refresh-token grant.
async fn token(State(myob): State<Arc<Myob>>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let refused = |code: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": code}))).into_response();
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        myob.violation(
            "POST",
            "/oauth2/v1/authorize",
            "/body/grant_type",
            "the grant is refresh_token".into(),
        );
        return refused("unsupported_grant_type");
    }
    if form.get("client_id").map(String::as_str) != Some(API_KEY)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return refused("invalid_client");
    }
    let known = form
        .get("refresh_token")
        .is_some_and(|t| lock(&myob.refresh_tokens).contains(t));
    if !known {
        return refused("invalid_grant");
    }
    let n = myob.counter.fetch_add(1, Ordering::Relaxed);
    let access = format!("AAEAAFakeMyobAccess{n}");
    let refresh = format!("fake-myob-refresh-{n}");
    lock(&myob.access_tokens).push(access.clone());
    lock(&myob.refresh_tokens).push(refresh.clone());
    Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": "1200",
        "refresh_token": refresh,
        "scope": "CompanyFile",
        "user": {"uid": "7a9d1c52-8d2a-4a8e-9c55-0e1d2f3a4b5c", "username": "owner@example.com"},
    }))
    .into_response()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

async fn api(State(myob): State<Arc<Myob>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let m = method.as_str().to_owned();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| lock(&myob.access_tokens).iter().any(|a| a == t)) {
        return myob_error(
            StatusCode::UNAUTHORIZED,
            "OAuthTokenIsInvalid",
            "The supplied OAuth token (Bearer) is not valid",
            1,
        );
    }
    if headers.get("x-myobapi-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        myob.violation(
            &m,
            &path,
            "/headers/x-myobapi-key",
            "every request carries the app's API key".into(),
        );
        return (
            StatusCode::FORBIDDEN,
            [("x-mashery-error-code", "ERR_403_NOT_AUTHORIZED")],
            "<h1>Not Authorized</h1>",
        )
            .into_response();
    }
    if headers.get("x-myobapi-version").and_then(|v| v.to_str().ok()) != Some("v2") {
        myob.violation(
            &m,
            &path,
            "/headers/x-myobapi-version",
            "requests carry x-myobapi-version: v2".into(),
        );
    }
    let Some(rest) = path.strip_prefix(&company_path()).map(decode) else {
        myob.violation(&m, &path, "/path", "not under the company file's URI".into());
        return myob_error(StatusCode::NOT_FOUND, "NotFound", "The company file was not found", 404);
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (resource, uid): (&'static str, Option<String>) = match rest.as_str() {
        "/Company" if method == Method::GET => return Json(json!({
            "CompanyName": "Clearwater Pty Ltd", "ABN": "11 222 333 444", "SerialNumber": "612345678901",
            "URI": format!("{}{}/Company", lock(&myob.base_url), company_path()), "RowVersion": "-2985133006453211136",
        }))
        .into_response(),
        "/Contact/Customer" => ("Contact/Customer", None),
        "/Sale/Invoice/Service" => ("Sale/Invoice/Service", None),
        other => match other.rsplit_once('/') {
            Some(("/Contact/Customer", uid)) => ("Contact/Customer", Some(uid.to_owned())),
            Some(("/Sale/Invoice/Service", uid)) => ("Sale/Invoice/Service", Some(uid.to_owned())),
            _ => {
                myob.violation(&m, &path, "/path", format!("no resource {other}"));
                return myob_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "The requested resource was not found",
                    404,
                );
            }
        },
    };
    match (method, uid) {
        (Method::GET, None) => list(&myob, resource, &path, &query),
        (Method::GET, Some(uid)) => match myob.record(resource, &uid) {
            Some(r) => Json(r).into_response(),
            None => myob_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The requested resource was not found",
                404,
            ),
        },
        (Method::POST, None) => create(&myob, resource, &path, &body),
        (Method::PUT, Some(uid)) if resource == "Contact/Customer" => update(&myob, resource, &path, &uid, &body),
        (method, _) => {
            myob.violation(method.as_str(), &path, "/method", "no such operation".into());
            myob_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The method is not allowed",
                405,
            )
        }
    }
}

/// `LastModified ge|gt datetime'<yyyy-mm-ddThh:mm:ss>'`: `(inclusive, the literal)`.
fn parse_filter(text: &str) -> Result<(bool, String), String> {
    let mut words = text.split_whitespace();
    let (Some(field), Some(op), Some(literal), None) = (words.next(), words.next(), words.next(), words.next()) else {
        return Err(format!(
            "this fake understands `LastModified ge datetime'...'`, not `{text}`"
        ));
    };
    if field != "LastModified" {
        return Err(format!("filter on LastModified, not {field}"));
    }
    let inclusive = match op {
        "ge" => true,
        "gt" => false,
        other => return Err(format!("`{other}` is not ge or gt")),
    };
    let value = literal
        .strip_prefix("datetime'")
        .and_then(|l| l.strip_suffix('\''))
        .ok_or("a date-time literal is written datetime'yyyy-mm-ddThh:mm:ss'")?;
    let ok = value.len() == 19 && crate::timestamp::parse_ms(&format!("{value}Z")).is_some();
    if !ok {
        return Err(format!("`{value}` is not yyyy-mm-ddThh:mm:ss"));
    }
    Ok((inclusive, value.to_owned()))
}

fn list(myob: &Myob, resource: &str, path: &str, query: &[(String, String)]) -> Response {
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    for (k, _) in query {
        if !matches!(k.as_str(), "$top" | "$skip" | "$orderby" | "$filter") {
            myob.violation(
                "GET",
                path,
                &format!("/query/{k}"),
                format!("`{k}` is not a query option"),
            );
        }
    }
    let top = match get("$top").map(str::parse::<usize>) {
        None => 400,
        Some(Ok(n)) if (1..=MAX_TOP).contains(&n) => n,
        Some(_) => {
            myob.violation("GET", path, "/query/$top", format!("$top is 1-{MAX_TOP}"));
            return myob_error(
                StatusCode::BAD_REQUEST,
                "InvalidQuery",
                "The $top value is not valid",
                4000,
            );
        }
    };
    let Ok(skip) = get("$skip").unwrap_or("0").parse::<usize>() else {
        myob.violation("GET", path, "/query/$skip", "$skip is a number".into());
        return myob_error(
            StatusCode::BAD_REQUEST,
            "InvalidQuery",
            "The $skip value is not valid",
            4000,
        );
    };
    let filter = match get("$filter").map(parse_filter).transpose() {
        Ok(f) => f,
        Err(e) => {
            myob.violation("GET", path, "/query/$filter", e.clone());
            return myob_error(StatusCode::BAD_REQUEST, "InvalidQuery", &e, 4000);
        }
    };
    let by_modified = match get("$orderby") {
        None => false,
        Some("LastModified" | "LastModified,UID" | "LastModified asc,UID asc") => true,
        Some(other) => {
            myob.violation(
                "GET",
                path,
                "/query/$orderby",
                format!("this fake orders by LastModified, not `{other}`"),
            );
            false
        }
    };
    let mut records: Vec<Value> = lock(&myob.records)
        .get(resource)
        .map(|r| r.iter().map(|r| Value::Object(r.clone())).collect())
        .unwrap_or_default();
    if let Some((inclusive, since)) = &filter {
        records.retain(|r| {
            // Whole seconds compare as text; a fraction sorts after its second.
            let at = r["LastModified"].as_str().unwrap_or_default();
            if *inclusive {
                at >= since.as_str()
            } else {
                at.get(..19).is_some_and(|s| s > since.as_str())
            }
        });
    }
    if by_modified {
        records.sort_by(|a, b| {
            (a["LastModified"].as_str(), a["UID"].as_str()).cmp(&(b["LastModified"].as_str(), b["UID"].as_str()))
        });
    }
    let count = records.len();
    let items: Vec<Value> = records.into_iter().skip(skip).take(top).collect();
    let next = (skip + top < count).then(|| {
        let mut pairs: Vec<(String, String)> = query.iter().filter(|(k, _)| k != "$skip").cloned().collect();
        pairs.push(("$skip".into(), (skip + top).to_string()));
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{}{path}?{encoded}", lock(&myob.base_url))
    });
    Json(json!({"Items": items, "NextPageLink": next, "Count": count})).into_response()
}

fn fields(
    myob: &Myob,
    resource: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Map<String, Value>, Box<Response>> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        myob.violation(method, path, "/body", "the body is a JSON object".into());
        return Err(Box::new(myob_error(
            StatusCode::BAD_REQUEST,
            "InvalidJson",
            "The request body is not valid JSON",
            4000,
        )));
    };
    let known = if resource == "Contact/Customer" {
        CUSTOMER_FIELDS
    } else {
        INVOICE_FIELDS
    };
    for k in fields.keys() {
        if !known.contains(&k.as_str()) {
            myob.violation(
                method,
                path,
                &format!("/body/{k}"),
                format!("`{k}` is not a writable field of {resource}"),
            );
        }
    }
    Ok(fields)
}

fn validate_customer(fields: &Map<String, Value>) -> Option<Response> {
    let filled = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    let individual = fields.get("IsIndividual").and_then(Value::as_bool).unwrap_or(false);
    if individual && !filled("LastName") {
        return Some(myob_error(
            StatusCode::BAD_REQUEST,
            "LastNameRequired",
            "A last name is required for an individual",
            4004,
        ));
    }
    if !individual && !filled("CompanyName") {
        return Some(myob_error(
            StatusCode::BAD_REQUEST,
            "CompanyNameRequired",
            "A company name is required",
            4003,
        ));
    }
    None
}

fn created(myob: &Myob, resource: &'static str, fields: Map<String, Value>) -> Response {
    let record = myob.create(resource, Value::Object(fields), now_ms());
    let mut response = StatusCode::CREATED.into_response();
    if let Some(Ok(v)) = record["URI"].as_str().map(HeaderValue::from_str) {
        response.headers_mut().insert("location", v);
    }
    response
}

fn create(myob: &Myob, resource: &'static str, path: &str, body: &[u8]) -> Response {
    let fields = match fields(myob, resource, "POST", path, body) {
        Ok(f) => f,
        Err(e) => return *e,
    };
    if fields.contains_key("UID") || fields.contains_key("RowVersion") {
        myob.violation(
            "POST",
            path,
            "/body/UID",
            "a new record has no UID or RowVersion".into(),
        );
    }
    if resource == "Contact/Customer" {
        if let Some(refused) = validate_customer(&fields) {
            return refused;
        }
        return created(myob, "Contact/Customer", fields);
    }
    let customer = fields
        .get("Customer")
        .and_then(|c| c.get("UID"))
        .and_then(Value::as_str)
        .and_then(|uid| myob.record("Contact/Customer", uid));
    let Some(customer) = customer else {
        return myob_error(
            StatusCode::BAD_REQUEST,
            "CustomerNotFound",
            "The customer was not found",
            4200,
        );
    };
    if fields.get("Date").and_then(Value::as_str).is_none() {
        return myob_error(StatusCode::BAD_REQUEST, "DateRequired", "A date is required", 4201);
    }
    let lines_ok = fields
        .get("Lines")
        .and_then(Value::as_array)
        .is_some_and(|lines| !lines.is_empty() && lines.iter().all(|l| l["Total"].is_number()));
    if !lines_ok {
        return myob_error(
            StatusCode::BAD_REQUEST,
            "LinesRequired",
            "An invoice needs at least one line with a total",
            4202,
        );
    }
    let mut fields = fields;
    fields.insert(
        "Customer".into(),
        json!({"UID": customer["UID"], "Name": customer["CompanyName"], "DisplayID": customer["DisplayID"], "URI": customer["URI"]}),
    );
    created(myob, "Sale/Invoice/Service", fields)
}

fn update(myob: &Myob, resource: &'static str, path: &str, uid: &str, body: &[u8]) -> Response {
    let fields = match fields(myob, resource, "PUT", path, body) {
        Ok(f) => f,
        Err(e) => return *e,
    };
    let Some(current) = myob.record(resource, uid) else {
        return myob_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested resource was not found",
            404,
        );
    };
    if fields.get("UID").and_then(Value::as_str) != Some(uid) {
        myob.violation("PUT", path, "/body/UID", "the body's UID is the URI's".into());
    }
    match fields.get("RowVersion") {
        None => {
            myob.violation(
                "PUT",
                path,
                "/body/RowVersion",
                "an update carries the RowVersion it read".into(),
            );
            return myob_error(
                StatusCode::BAD_REQUEST,
                "RowVersionRequired",
                "A RowVersion is required",
                4100,
            );
        }
        Some(v) if *v != current["RowVersion"] => {
            return myob_error(
                StatusCode::CONFLICT,
                "ConcurrencyConflict",
                "The record has been changed since it was read (RowVersion mismatch)",
                4100,
            );
        }
        Some(_) => {}
    }
    if let Some(refused) = validate_customer(&fields) {
        return refused;
    }
    let mut fields = fields;
    fields.remove("URI");
    fields.remove("LastModified");
    myob.touch(resource, uid, Value::Object(fields));
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_last_modified_filters() {
        assert_eq!(
            parse_filter("LastModified ge datetime'2026-11-27T01:02:03'"),
            Ok((true, "2026-11-27T01:02:03".to_owned()))
        );
        assert!(parse_filter("LastModified ge '2026-11-27T01:02:03'").is_err());
        assert!(parse_filter("LastModified ge datetime'2026-11-27'").is_err());
        assert!(parse_filter("Date ge datetime'2026-11-27T01:02:03'").is_err());
    }
}
