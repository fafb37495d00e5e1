//! Fake Zoho CRM: the REST API v2.1 module APIs (leads, contacts, accounts, deals) on one
//! server and the data centre's accounts server (OAuth token endpoint) on another.
//!
//! It follows Zoho's CRM API documentation (zoho.com/crm/developer/docs/api): "Get Records"
//! (`fields`, `per_page` up to 200, `page_token` paging with `info.next_page_token` and
//! `info.more_records`, the `If-Modified-Since` header), "Get Record" (`{"data": [record]}`;
//! an unknown id answers 204 No Content), "Insert or Update Records (Upsert)" (up to 100
//! records, `duplicate_check_fields`, each record answered in place in `data`), the OAuth
//! refresh-token grant at `{accounts server}/oauth/v2/token` (its response names the
//! `api_domain` every API request goes to) and the `Authorization: Zoho-oauthtoken` header.
//! Traffic to the API server is checked against `zoho-crm/openapi.yaml` from the specs folder
//! with the corrections in `spec_patches.yaml` ([`spec_check`]); the accounts server is not in
//! that spec and is not checked.
//!
//! Assumptions where the docs leave it open: an upsert answers 200 when every record was
//! written, 207 when some were refused and 400 when all were; `If-Modified-Since` returns
//! records modified at or after the given second; a record's times are written in UTC
//! (`+00:00`) to the second, as Zoho writes them in the user's zone. An empty list answers 204
//! No Content, and 304 Not Modified when `If-Modified-Since` was sent, as Zoho documents.
//! Field validation covers what the conformance test refuses: a mandatory field missing on
//! insert, or empty (`MANDATORY_NOT_FOUND`) and an email field without `@` (`INVALID_DATA`).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{SpecCheck, SpecPatch};
use crate::timestamp::now_ms;

/// The OAuth client the fake accounts server accepts.
pub const CLIENT_ID: &str = "1000.FAKEZOHOCLIENT";
/// Its secret.
pub const CLIENT_SECRET: &str = "fake-zoho-client-secret";
/// A refresh token the fake accounts server accepts.
pub const REFRESH_TOKEN: &str = "1000.fake-zoho-refresh-token";

/// The modules the fake keeps, with their system-defined duplicate check field and mandatory
/// fields on insert (Zoho's "Upsert" docs, module-wise duplicate check fields).
const MODULES: &[(&str, &str, &[&str])] = &[
    ("Leads", "Email", &["Last_Name"]),
    ("Contacts", "Email", &["Last_Name"]),
    ("Accounts", "Account_Name", &["Account_Name"]),
    ("Deals", "Deal_Name", &["Deal_Name", "Stage"]),
];

/// The corrections to Zoho's spec the fake's checks use.
pub fn spec_check() -> SpecCheck {
    #[derive(serde::Deserialize)]
    struct Patches {
        spec_patches: Vec<SpecPatch>,
    }
    let patches: Patches = serde_yaml::from_str(include_str!("spec_patches.yaml"))
        .expect("the embedded Zoho spec patches parse (the fake's tests load them)");
    SpecCheck {
        files: vec!["zoho-crm/openapi.yaml".into()],
        patches: patches.spec_patches,
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct ZohoConfig {
    /// Records seeded per module, modified over the past hour.
    pub records: usize,
    /// Check the API server's traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl Default for ZohoConfig {
    fn default() -> Self {
        Self {
            records: 0,
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// The fake organisation's state.
pub struct Zoho {
    /// Module -> records in insertion order.
    modules: Mutex<BTreeMap<String, Vec<Value>>>,
    access_tokens: Mutex<HashSet<String>>,
    next_id: Mutex<u64>,
    /// The API server's base URL, answered as `api_domain`.
    api_domain: Mutex<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Zoho's time form: to the second, with an offset.
fn zoho_time(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(&Rfc3339).unwrap_or_default().replace('Z', "+00:00")
}

fn parse_time(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp() * 1000)
}

/// The two servers: the API (`api_domain`) and the accounts server (token endpoint).
pub struct ZohoCrm {
    pub api: FakeHandle<Zoho>,
    pub accounts: FakeHandle<Zoho>,
}

impl std::ops::Deref for ZohoCrm {
    type Target = Zoho;

    fn deref(&self) -> &Zoho {
        &self.api
    }
}

/// Starts both servers on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: ZohoConfig) -> ZohoCrm {
    let state = Arc::new(Zoho {
        modules: Mutex::new(MODULES.iter().map(|(m, _, _)| ((*m).to_owned(), Vec::new())).collect()),
        access_tokens: Mutex::new(HashSet::new()),
        next_id: Mutex::new(1),
        api_domain: Mutex::new(String::new()),
    });
    state.seed(config.records);
    let api_state = state.clone();
    let api = server::expect_started(
        "zoho-crm",
        server::spawn(
            Spec {
                name: "zoho-crm",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/crm/v2.1/{module}", get(list))
                    .route("/crm/v2.1/{module}/upsert", post(upsert))
                    .route("/crm/v2.1/{module}/{id}", get(record))
                    .with_state(api_state)
            },
        ),
    );
    *lock(&state.api_domain) = api.base_url.clone();
    let accounts_state = state.clone();
    let accounts = server::expect_started(
        "zoho-accounts",
        server::spawn(
            Spec {
                name: "zoho-accounts",
                port: 0,
                state,
                faults: FaultConfig::default(),
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/oauth/v2/token", post(token))
                    .with_state(accounts_state)
            },
        ),
    );
    ZohoCrm { api, accounts }
}

impl Zoho {
    fn new_id(&self) -> String {
        let mut next = lock(&self.next_id);
        *next += 1;
        format!("4150868000000{:06}", *next)
    }

    fn seed(&self, count: usize) {
        let now = now_ms();
        for (module, _, _) in MODULES {
            for n in 1..=count {
                // Spread over the past hour, oldest first, the newest 10 s ago.
                let at = now - 3_600_000 + (n as i64 * 3_590_000 / count.max(1) as i64);
                let fields = match *module {
                    "Leads" => json!({"First_Name": format!("Lead{n}"), "Last_Name": format!("Last{n}"),
                        "Email": format!("lead{n}@example.com"), "Company": format!("Company {n}"),
                        "Phone": null, "Lead_Status": "Not Contacted"}),
                    "Contacts" => json!({"First_Name": format!("First{n}"), "Last_Name": format!("Last{n}"),
                        "Email": format!("contact{n}@example.com"), "Phone": null, "Account_Name": null}),
                    "Accounts" => {
                        json!({"Account_Name": format!("Account {n}"), "Website": format!("https://account{n}.example.com"),
                        "Phone": null, "Industry": "Technology", "Billing_City": null, "Billing_Country": null})
                    }
                    _ => json!({"Deal_Name": format!("Deal {n}"), "Amount": 1000 + n, "Stage": "Qualification",
                        "Closing_Date": "2026-12-31", "Account_Name": null}),
                };
                self.insert(module, fields, at);
            }
        }
    }

    fn insert(&self, module: &str, fields: Value, at: i64) -> Value {
        let id = self.new_id();
        let mut record = json!({
            "id": id,
            "Owner": {"name": "Fake Owner", "id": "4150868000000000001", "email": "owner@example.com"},
            "Created_Time": zoho_time(at),
            "Modified_Time": zoho_time(at),
            "Created_By": {"name": "Fake Owner", "id": "4150868000000000001"},
            "Modified_By": {"name": "Fake Owner", "id": "4150868000000000001"},
            "$approved": true,
            "$editable": true,
        });
        merge(&mut record, &fields);
        lock(&self.modules)
            .entry(module.to_owned())
            .or_default()
            .push(record.clone());
        record
    }

    /// The access tokens the accounts server issued.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        lock(&self.access_tokens).iter().cloned().collect()
    }

    /// Records of a module.
    pub fn count(&self, module: &str) -> usize {
        lock(&self.modules).get(module).map_or(0, Vec::len)
    }

    /// A record by id.
    pub fn record(&self, module: &str, id: &str) -> Option<Value> {
        lock(&self.modules).get(module)?.iter().find(|r| r["id"] == id).cloned()
    }

    /// The first record whose `field` equals `value` (ignoring ASCII case).
    pub fn find(&self, module: &str, field: &str, value: &str) -> Option<Value> {
        lock(&self.modules)
            .get(module)?
            .iter()
            .find(|r| r[field].as_str().is_some_and(|v| v.eq_ignore_ascii_case(value)))
            .cloned()
    }

    /// Changes a record's fields as a user in Zoho would: `Modified_Time` becomes now.
    pub fn update(&self, module: &str, id: &str, fields: &Value) -> Option<Value> {
        let mut modules = lock(&self.modules);
        let record = modules.get_mut(module)?.iter_mut().find(|r| r["id"] == id)?;
        merge(record, fields);
        record["Modified_Time"] = json!(zoho_time(now_ms()));
        Some(record.clone())
    }
}

fn merge(record: &mut Value, fields: &Value) {
    if let (Some(record), Some(fields)) = (record.as_object_mut(), fields.as_object()) {
        for (k, v) in fields {
            record.insert(k.clone(), v.clone());
        }
    }
}

/// Zoho's error body.
fn error(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    (
        status,
        Json(json!({"code": code, "details": details, "message": message, "status": "error"})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => error(
            status,
            "TOO_MANY_REQUESTS",
            "The number of requests exceeded the limit",
            json!({}),
        ),
        _ => error(status, "INTERNAL_ERROR", "Internal Server Error", json!({})),
    }
}

/// The error a request gets before its operation runs: a bad token or an unknown module.
fn refused(zoho: &Zoho, headers: &HeaderMap, module: &str) -> Option<Response> {
    authorized(zoho, headers).or_else(|| module_known(module))
}

fn authorized(zoho: &Zoho, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Zoho-oauthtoken "));
    match token {
        Some(t) if lock(&zoho.access_tokens).contains(t.trim()) => None,
        Some(_) => Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "invalid oauth token",
            json!({}),
        )),
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed",
            json!({}),
        )),
    }
}

fn module_known(module: &str) -> Option<Response> {
    if MODULES.iter().any(|(m, _, _)| *m == module) {
        None
    } else {
        Some(error(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({}),
        ))
    }
}

/// `POST /oauth/v2/token` on the accounts server: the refresh-token grant.
async fn token(State(zoho): State<Arc<Zoho>>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).map(String::as_str);
    // Zoho answers a refused grant with HTTP 200 and {"error": "invalid_code"}; the engine
    // reads a 400 as a refused grant, so the fake answers 400 with Zoho's body.
    if get("grant_type") != Some("refresh_token")
        || get("client_id") != Some(CLIENT_ID)
        || get("client_secret") != Some(CLIENT_SECRET)
        || get("refresh_token") != Some(REFRESH_TOKEN)
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_code"}))).into_response();
    }
    let access = format!("1000.fake-zoho-access-{}", now_ms());
    lock(&zoho.access_tokens).insert(access.clone());
    Json(json!({
        "access_token": access,
        "api_domain": lock(&zoho.api_domain).clone(),
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
    .into_response()
}

/// Only the asked fields (and `id`), as Zoho answers a `fields` list.
fn select(record: &Value, fields: Option<&str>) -> Value {
    let Some(fields) = fields.filter(|f| !f.is_empty()) else {
        return record.clone();
    };
    let mut out = Map::new();
    out.insert("id".into(), record["id"].clone());
    for name in fields.split(',').map(str::trim) {
        out.insert(name.to_owned(), record.get(name).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// `GET /crm/v2.1/{module}`.
async fn list(
    State(zoho): State<Arc<Zoho>>,
    Path(module): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&zoho, &headers, &module) {
        return r;
    }
    let per_page = match query.get("per_page").map(|p| p.parse::<usize>()) {
        None => 200,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"api_name": "per_page"}),
            )
        }
    };
    let start = match query.get("page_token") {
        None => 0,
        Some(token) => match token.strip_prefix("pt.").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_DATA",
                    "invalid data",
                    json!({"api_name": "page_token"}),
                )
            }
        },
    };
    let since = match headers
        .get("if-modified-since")
        .map(|v| v.to_str().ok().and_then(parse_time))
    {
        None => None,
        Some(Some(ms)) => Some(ms),
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"header_name": "If-Modified-Since"}),
            )
        }
    };
    let modules = lock(&zoho.modules);
    let matching: Vec<&Value> = modules[&module]
        .iter()
        .filter(|r| {
            since.is_none_or(|since| {
                r["Modified_Time"]
                    .as_str()
                    .and_then(parse_time)
                    .is_some_and(|t| t >= since)
            })
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(per_page)
        .map(|r| select(r, query.get("fields").map(String::as_str)))
        .collect();
    if page.is_empty() {
        return if since.is_some() {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::NO_CONTENT
        }
        .into_response();
    }
    let more = start + page.len() < matching.len();
    Json(json!({
        "data": page,
        "info": {
            "per_page": per_page,
            "count": page.len(),
            "page": start / per_page + 1,
            "more_records": more,
            "next_page_token": more.then(|| format!("pt.{}", start + per_page)),
            "previous_page_token": null,
            "page_token_expiry": more.then(|| zoho_time(now_ms() + 86_400_000)),
        }
    }))
    .into_response()
}

/// `GET /crm/v2.1/{module}/{id}`: 204 when there is no such record.
async fn record(
    State(zoho): State<Arc<Zoho>>,
    Path((module, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&zoho, &headers, &module) {
        return r;
    }
    match zoho.record(&module, &id) {
        Some(record) => Json(json!({"data": [record]})).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// `POST /crm/v2.1/{module}/upsert`.
async fn upsert(
    State(zoho): State<Arc<Zoho>>,
    Path(module): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&zoho, &headers, &module) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_DATA", "invalid data", json!({}));
    };
    let Some(records) = body["data"].as_array().filter(|d| !d.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": "data"}),
        );
    };
    if records.len() > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "the number of records exceeds the limit",
            json!({"limit": 100}),
        );
    }
    let (_, default_check, mandatory) = MODULES
        .iter()
        .find(|(m, _, _)| *m == module)
        .copied()
        .expect("module_known checked it");
    let checks: Vec<String> = body["duplicate_check_fields"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![default_check.to_owned()]);
    let mut results = Vec::new();
    for input in records {
        results.push(upsert_one(&zoho, &module, &checks, mandatory, input));
    }
    let ok = results.iter().filter(|r| r["status"] == "success").count();
    let status = if ok == results.len() {
        StatusCode::OK
    } else if ok == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, Json(json!({"data": results}))).into_response()
}

fn upsert_one(zoho: &Zoho, module: &str, checks: &[String], mandatory: &[&str], input: &Value) -> Value {
    let refuse = |code: &str, message: &str, details: Value| json!({"code": code, "details": details, "message": message, "status": "error"});
    let Some(fields) = input.as_object() else {
        return refuse("INVALID_DATA", "invalid data", json!({}));
    };
    for (name, value) in fields {
        if name.contains("Email") && value.as_str().is_some_and(|e| !e.contains('@')) {
            return refuse(
                "INVALID_DATA",
                "invalid data",
                json!({"api_name": name, "expected_data_type": "email"}),
            );
        }
    }
    let existing = checks.iter().find_map(|field| {
        let value = fields.get(field)?.as_str()?;
        zoho.find(module, field, value).map(|r| (field.clone(), r))
    });
    let now = now_ms();
    let who = json!({"name": "Fake Owner", "id": "4150868000000000001"});
    match existing {
        Some((field, record)) => {
            let id = record["id"].as_str().unwrap_or_default().to_owned();
            let updated = zoho.update(module, &id, input).unwrap_or(record);
            json!({
                "code": "SUCCESS", "duplicate_field": field, "action": "update",
                "details": {"Modified_Time": updated["Modified_Time"], "Modified_By": who,
                    "Created_Time": updated["Created_Time"], "id": id, "Created_By": who},
                "message": "record updated", "status": "success",
            })
        }
        None => {
            if let Some(missing) = mandatory.iter().find(|f| {
                fields
                    .get(**f)
                    .is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()))
            }) {
                return refuse(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": missing}),
                );
            }
            let record = zoho.insert(module, input.clone(), now);
            json!({
                "code": "SUCCESS", "duplicate_field": null, "action": "insert",
                "details": {"Modified_Time": record["Modified_Time"], "Modified_By": who,
                    "Created_Time": record["Created_Time"], "id": record["id"], "Created_By": who},
                "message": "record added", "status": "success",
            })
        }
    }
}
