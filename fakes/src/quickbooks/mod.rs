//! Fake QuickBooks Online: one company's customers, invoices, payments and items behind the
//! Accounting API v3 on one server, and Intuit's OAuth 2.0 token endpoint on another.
//!
//! It follows the QuickBooks Online Accounting API reference (developer.intuit.com/app/
//! developer/qbo/docs/api/accounting):
//!
//! * "Query": `GET /v3/company/{realmId}/query?query=<select>` with `select * from Customer
//!   where Metadata.LastUpdatedTime >= '...' orderby Metadata.LastUpdatedTime startposition 1
//!   maxresults 100`; `startposition` counts from 1, `maxresults` is at most 1000, an empty
//!   result is `{"QueryResponse": {}}`;
//! * "Create or update": `POST /v3/company/{realmId}/customer` (and `/invoice`, `/payment`):
//!   a body without `Id` creates; one with `Id` updates and must carry the entity's current
//!   `SyncToken`, else the request is refused with error 5010 "Stale Object Error";
//!   `"sparse": true` changes only the fields sent;
//! * "Change data capture": `GET /v3/company/{realmId}/cdc?entities=Customer,Invoice&
//!   changedSince=<date-time>`: per entity asked, every record changed since then (full
//!   payloads, inactive ones too) and every record deleted since then as `{"Id", "status":
//!   "Deleted", "MetaData": {"LastUpdatedTime"}, "domain"}`, in `{"CDCResponse":
//!   [{"QueryResponse": [{"Customer": [...], "startPosition": 1, "maxResults": n,
//!   "totalCount": n}, ...]}], "time"}`; at most 1,000 objects a response, `changedSince` at
//!   most 30 days back (developer.intuit.com/app/developer/qbo/docs/learn/explore-the-
//!   quickbooks-online-api/change-data-capture);
//! * "Batch": `POST /v3/company/{realmId}/batch` with `{"BatchItemRequest": [{"bId": "1",
//!   "operation": "create", "Customer": {...}}, ...]}`, at most 30 items, each run as its own
//!   create or update would be, answered in order in `{"BatchItemResponse": [{"bId": "1",
//!   "Customer": {...}}, {"bId": "2", "Fault": {"Error": [...], "type": "ValidationFault"}}],
//!   "time"}`: a refused item does not stop the others (developer.intuit.com/app/developer/
//!   qbo/docs/api/accounting/all-entities/batch);
//! * the entities' read-by-id endpoints, and the error envelope `{"Fault": {"Error":
//!   [{"Message", "Detail", "code"}], "type": "ValidationFault"}, "time"}` (400; 401 with
//!   Intuit's lower-case `fault` body for a bad token);
//! * Intuit OAuth 2.0 ("Refresh the token"): client id and secret as HTTP basic auth on `POST
//!   /oauth2/v1/tokens/bearer`; every grant answers a new `refresh_token` that the app must
//!   store.
//!
//! Traffic to the API server is checked against `quickbooks/openapi.yaml` from the specs
//! folder (the Ballerina connector project's copy) with the corrections in
//! `spec_patches.yaml`; the token server is not in that spec and is not checked.
//!
//! Assumptions where the docs leave it open, or where the fake is stricter than QuickBooks:
//! * a refresh token stops working once a grant has replaced it (Intuit keeps the previous
//!   one valid for a while; the docs say always to store the latest);
//! * the query language covers what connectors send: `select * from <Entity>`, `where`
//!   conditions on `Id`, `Metadata.LastUpdatedTime`, `DisplayName`, `Name` and `Active` joined
//!   with `and` (`=`, `<`, `<=`, `>`, `>=`), `orderby <field> [asc|desc]` (ties by `Id`),
//!   `startposition` and `maxresults`; anything else is a 400 `QueryParserError` (4000);
//! * `MetaData.LastUpdatedTime` is written in the company's zone (Pacific, `-08:00`) to the
//!   second, as QuickBooks does;
//! * `minorversion` is accepted and recorded (QuickBooks serves 75 for anything lower); the
//!   fake does not change shapes by it;
//! * validation covers what tests refuse: a customer without a name (2020), a `DisplayName`
//!   another customer has (6240 "Duplicate Name Exists Error"), an update of an unknown `Id`
//!   (610 "Object Not Found"), a missing or stale `SyncToken` (2020 / 5010), an invoice or a
//!   payment whose `CustomerRef` (or an invoice line's `ItemRef`) names nothing (2500
//!   "Invalid Reference Id"), an invoice without lines.
//!
//! * a record removed with [`QuickBooks::delete`] (a deleted transaction; the test's stand-in
//!   for a customer deleted in the company) is gone from queries and reads and is reported by
//!   CDC as deleted; the fake keeps no other trace of it;
//! * a CDC `changedSince` older than 30 days, or an entity the fake does not hold, is a 400
//!   fault (code 2010) naming it; the CDC and batch operations are not in the published
//!   description, so their shapes are added to it in `spec_patches.yaml` from Intuit's pages.
//!
//! Items are read only here (seeded); customers, invoices and payments are written.

// Handlers answer refusals as ready responses, as the other hand-written fakes do.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{SpecCheck, SpecPatch};
use crate::timestamp::now_ms;

mod query;

/// The OAuth client the fake token server accepts.
pub const CLIENT_ID: &str = "ABfakeQuickBooksClientId000000000000000000000000";
/// Its secret.
pub const CLIENT_SECRET: &str = "fake-quickbooks-client-secret";
/// The refresh token valid when the fake starts.
pub const REFRESH_TOKEN: &str = "AB11fake-quickbooks-refresh-token-0";
/// The company (realm) the fake serves.
pub const REALM_ID: &str = "9341453050000001";

/// The corrections to the QuickBooks spec the fake's checks use.
pub fn spec_check() -> SpecCheck {
    #[derive(serde::Deserialize)]
    struct Patches {
        spec_patches: Vec<SpecPatch>,
    }
    let patches: Patches = serde_yaml::from_str(include_str!("spec_patches.yaml"))
        .expect("the embedded QuickBooks spec patches parse (the fake's tests load them)");
    SpecCheck {
        files: vec!["quickbooks/openapi.yaml".into()],
        patches: patches.spec_patches,
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct QuickBooksConfig {
    /// Customers, invoices, payments and items seeded (each), updated over the past hour.
    pub records: usize,
    /// Check the API server's traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl Default for QuickBooksConfig {
    fn default() -> Self {
        Self {
            records: 0,
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// The entities the fake holds, by their QuickBooks names.
pub const ENTITIES: [&str; 4] = ["Customer", "Invoice", "Payment", "Item"];

/// The fake company's state.
pub struct QuickBooks {
    /// Entity name -> records.
    data: Mutex<BTreeMap<&'static str, Vec<Value>>>,
    /// Entity name -> tombstones of deleted records (`status: Deleted`), for CDC.
    deleted: Mutex<BTreeMap<&'static str, Vec<Value>>>,
    access_tokens: Mutex<HashSet<String>>,
    refresh_token: Mutex<String>,
    grants: Mutex<u64>,
    next_id: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The company's zone: QuickBooks writes times in it.
const PACIFIC: i8 = -8;

/// `ms` as QuickBooks writes `MetaData` times: to the second, in the company's zone.
fn qbo_time(ms: i64) -> String {
    let offset = UtcOffset::from_hms(PACIFIC, 0, 0).expect("a valid offset");
    let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{:+03}:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        PACIFIC
    )
}

/// A `MetaData` time (or any RFC 3339 text) as unix milliseconds.
fn time_ms(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn updated_ms(record: &Value) -> i64 {
    record
        .pointer("/MetaData/LastUpdatedTime")
        .and_then(Value::as_str)
        .and_then(time_ms)
        .unwrap_or(0)
}

/// The two servers: the Accounting API and the OAuth token endpoint.
pub struct QuickBooksFake {
    pub api: FakeHandle<QuickBooks>,
    pub oauth: FakeHandle<QuickBooks>,
}

impl QuickBooksFake {
    /// The token endpoint a connection's `token_url` names.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/tokens/bearer", self.oauth.base_url)
    }
}

impl std::ops::Deref for QuickBooksFake {
    type Target = QuickBooks;

    fn deref(&self) -> &QuickBooks {
        &self.api
    }
}

/// Starts both servers on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: QuickBooksConfig) -> QuickBooksFake {
    let state = Arc::new(QuickBooks {
        data: Mutex::new(ENTITIES.iter().map(|e| (*e, Vec::new())).collect()),
        deleted: Mutex::new(ENTITIES.iter().map(|e| (*e, Vec::new())).collect()),
        access_tokens: Mutex::new(HashSet::new()),
        refresh_token: Mutex::new(REFRESH_TOKEN.to_owned()),
        grants: Mutex::new(0),
        next_id: Mutex::new(0),
    });
    state.seed(config.records);
    let api_state = state.clone();
    let api = server::expect_started(
        "quickbooks",
        server::spawn(
            Spec {
                name: "quickbooks",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/v3/company/{realm}/query", get(run_query))
                    .route("/v3/company/{realm}/cdc", get(change_data_capture))
                    .route("/v3/company/{realm}/batch", post(batch))
                    .route("/v3/company/{realm}/customer", post(write_customer))
                    .route("/v3/company/{realm}/invoice", post(write_invoice))
                    .route("/v3/company/{realm}/payment", post(write_payment))
                    .route("/v3/company/{realm}/{entity}/{id}", get(read_one))
                    .with_state(api_state)
            },
        ),
    );
    let oauth_state = state.clone();
    let oauth = server::expect_started(
        "quickbooks-oauth",
        server::spawn(
            Spec {
                name: "quickbooks-oauth",
                port: 0,
                state,
                faults: FaultConfig::default(),
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/oauth2/v1/tokens/bearer", post(token))
                    .with_state(oauth_state)
            },
        ),
    );
    QuickBooksFake { api, oauth }
}

fn meta(at: i64) -> Value {
    json!({"CreateTime": qbo_time(at), "LastUpdatedTime": qbo_time(at)})
}

impl QuickBooks {
    fn new_id(&self) -> String {
        let mut next = lock(&self.next_id);
        *next += 1;
        next.to_string()
    }

    fn seed(&self, count: usize) {
        let now = now_ms();
        for n in 1..=count {
            // Spread over the past hour, oldest first, the newest 10 s ago.
            let at = now - 3_600_000 + (n as i64 * 3_590_000 / count.max(1) as i64);
            let item = self.insert(
                "Item",
                json!({"Name": format!("Service {n}"), "Type": "Service", "UnitPrice": 100 + n,
                    "Active": true, "Taxable": false, "IncomeAccountRef": {"value": "79", "name": "Sales of Product Income"}}),
                at,
            );
            let customer = self.insert("Customer", customer_fields(n), at);
            let amount = (100 + n) as f64;
            let customer_ref = json!({"value": customer["Id"], "name": customer["DisplayName"]});
            let invoice = self.insert(
                "Invoice",
                json!({"DocNumber": format!("{}", 1000 + n), "TxnDate": &qbo_time(at)[..10],
                    "CustomerRef": customer_ref, "TotalAmt": amount, "Balance": amount,
                    "Line": [{"Id": "1", "LineNum": 1, "Amount": amount, "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {"ItemRef": {"value": item["Id"], "name": item["Name"]}, "Qty": 1, "UnitPrice": amount}},
                        {"Amount": amount, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]}),
                at,
            );
            self.insert(
                "Payment",
                json!({"TxnDate": &qbo_time(at)[..10], "CustomerRef": customer_ref, "TotalAmt": 10.0,
                    "UnappliedAmt": 0.0, "Line": [{"Amount": 10.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}),
                at,
            );
        }
    }

    fn insert(&self, entity: &'static str, fields: Value, at: i64) -> Value {
        let mut record = json!({"Id": self.new_id(), "SyncToken": "0", "domain": "QBO", "sparse": false,
            "MetaData": meta(at)});
        merge(&mut record, &fields);
        if entity == "Customer" {
            fill_customer(&mut record);
        }
        lock(&self.data)
            .get_mut(entity)
            .expect("a known entity")
            .push(record.clone());
        record
    }

    /// The access tokens the token endpoint issued.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        lock(&self.access_tokens).iter().cloned().collect()
    }

    /// The refresh token that works now (each grant replaces it).
    pub fn current_refresh_token(&self) -> String {
        lock(&self.refresh_token).clone()
    }

    /// Token grants answered.
    pub fn grants(&self) -> u64 {
        *lock(&self.grants)
    }

    /// Records of an entity (`Customer`).
    pub fn count(&self, entity: &str) -> usize {
        lock(&self.data).get(entity).map_or(0, Vec::len)
    }

    /// A record by entity and id.
    pub fn get(&self, entity: &str, id: &str) -> Option<Value> {
        lock(&self.data).get(entity)?.iter().find(|r| r["Id"] == id).cloned()
    }

    /// The first record of an entity whose value at `pointer` is `value` (ASCII case ignored).
    pub fn find(&self, entity: &str, pointer: &str, value: &str) -> Option<Value> {
        lock(&self.data)
            .get(entity)?
            .iter()
            .find(|r| {
                r.pointer(pointer)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .cloned()
    }

    /// Records a customer payment as a bookkeeper would in QuickBooks: applied in full to one
    /// invoice of that customer (whose `Balance` goes down), `PaymentRefNum` the reference the
    /// payer quoted. `None` when the invoice does not exist.
    pub fn record_payment(&self, invoice_id: &str, amount: f64, reference: &str) -> Option<Value> {
        let invoice = self.get("Invoice", invoice_id)?;
        let balance = invoice["Balance"].as_f64().unwrap_or_default();
        self.update("Invoice", invoice_id, &json!({"Balance": (balance - amount).max(0.0)}));
        let now = now_ms();
        Some(self.insert(
            "Payment",
            json!({"TxnDate": &qbo_time(now)[..10], "CustomerRef": invoice["CustomerRef"], "TotalAmt": amount,
                "UnappliedAmt": 0.0, "PaymentRefNum": reference,
                "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}]}),
            now,
        ))
    }

    /// Deletes a record as a user in QuickBooks would: it is gone from queries and reads, and
    /// CDC reports it with `status: Deleted` and the time of the deletion. `None` when there
    /// is no such record.
    pub fn delete(&self, entity: &str, id: &str) -> Option<Value> {
        let mut data = lock(&self.data);
        let (name, records) = data.iter_mut().find(|(name, _)| **name == entity)?;
        let name: &'static str = name;
        let at = records.iter().position(|r| r["Id"] == id)?;
        let record = records.remove(at);
        drop(data);
        let tombstone = json!({"domain": "QBO", "status": "Deleted", "Id": id,
            "MetaData": {"LastUpdatedTime": qbo_time(now_ms())}});
        lock(&self.deleted)
            .get_mut(name)
            .expect("a known entity")
            .push(tombstone);
        Some(record)
    }

    /// Changes a record as a user in QuickBooks would: `SyncToken` goes up and
    /// `LastUpdatedTime` becomes now.
    pub fn update(&self, entity: &str, id: &str, fields: &Value) -> Option<Value> {
        let mut data = lock(&self.data);
        let record = data.get_mut(entity)?.iter_mut().find(|r| r["Id"] == id)?;
        merge(record, fields);
        touch(record);
        if entity == "Customer" {
            fill_customer(record);
        }
        Some(record.clone())
    }
}

fn customer_fields(n: usize) -> Value {
    json!({"GivenName": format!("First{n}"), "FamilyName": format!("Last{n}"),
        "DisplayName": format!("Customer {n}"), "CompanyName": format!("Company {n}"),
        "PrimaryEmailAddr": {"Address": format!("customer{n}@example.com")},
        "Active": true, "Taxable": false, "Job": false, "BillWithParent": false,
        "Balance": 0.0, "BalanceWithJobs": 0.0, "PreferredDeliveryMethod": "Print",
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"}})
}

/// The fields QuickBooks derives for a customer.
fn fill_customer(record: &mut Value) {
    let name = record["DisplayName"].as_str().map(str::to_owned);
    if let Some(name) = name {
        record["FullyQualifiedName"] = json!(name);
        record["PrintOnCheckName"] = json!(record["CompanyName"].as_str().unwrap_or(&name).to_owned());
    }
}

/// A new version: the next `SyncToken` and `LastUpdatedTime` now.
fn touch(record: &mut Value) {
    let next = record["SyncToken"]
        .as_str()
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(0, |t| t + 1);
    record["SyncToken"] = json!(next.to_string());
    record["MetaData"]["LastUpdatedTime"] = json!(qbo_time(now_ms()));
}

fn merge(record: &mut Value, fields: &Value) {
    if let (Some(record), Some(fields)) = (record.as_object_mut(), fields.as_object()) {
        for (k, v) in fields {
            record.insert(k.clone(), v.clone());
        }
    }
}

fn time_now() -> String {
    // QuickBooks' `time` has milliseconds and the zone: 2015-07-24T10:48:27.082-07:00.
    let ms = now_ms();
    let base = qbo_time(ms);
    format!("{}.{:03}{}", &base[..19], ms.rem_euclid(1000), &base[19..])
}

/// QuickBooks' fault body (400).
pub(crate) fn fault_body(message: &str, detail: &str, code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
            "type": "ValidationFault"}, "time": time_now()}),
        ),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => (
            status,
            Json(json!({"Fault": {"Error": [{"Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "Detail": "ThrottleExceeded", "code": "3001"}], "type": "SERVICE"}, "time": time_now()})),
        )
            .into_response(),
        _ => (
            status,
            Json(json!({"Fault": {"Error": [{"Message": "An application error has occurred while processing your request",
                "Detail": "System Failure Error: An unexpected error occurred.", "code": "10000"}],
                "type": "SystemFault"}, "time": time_now()})),
        )
            .into_response(),
    }
}

/// The error a request gets before its operation runs: a bad token or another company.
fn refused(qbo: &QuickBooks, realm: &str, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    if !token.is_some_and(|t| lock(&qbo.access_tokens).contains(t.trim())) {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired", "code": "3200"}], "type": "AUTHENTICATION"}, "time": time_now()})),
            )
                .into_response(),
        );
    }
    if realm != REALM_ID {
        return Some(
            (
                StatusCode::FORBIDDEN,
                Json(json!({"Fault": {"Error": [{"Message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    "Detail": "The application is not connected to this company", "code": "3100"}],
                    "type": "AUTHORIZATION"}, "time": time_now()})),
            )
                .into_response(),
        );
    }
    None
}

/// `POST /oauth2/v1/tokens/bearer`: the refresh-token grant, the client as basic auth. Each
/// grant replaces the refresh token.
async fn token(State(qbo): State<Arc<QuickBooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let mut current = lock(&qbo.refresh_token);
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("refresh_token") != Some(&*current)
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let grant = {
        let mut grants = lock(&qbo.grants);
        *grants += 1;
        *grants
    };
    let access = format!("eyJfake-quickbooks-access-{grant}-{}", now_ms());
    *current = format!("AB11fake-quickbooks-refresh-token-{grant}");
    lock(&qbo.access_tokens).insert(access.clone());
    Json(json!({
        "token_type": "bearer",
        "access_token": access,
        "expires_in": 3600,
        "refresh_token": current.clone(),
        "x_refresh_token_expires_in": 8_726_400,
    }))
    .into_response()
}

/// `GET /v3/company/{realm}/query?query=...`.
async fn run_query(
    State(qbo): State<Arc<QuickBooks>>,
    Path(realm): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&qbo, &realm, &headers) {
        return r;
    }
    let Some(text) = params.get("query") else {
        return fault_body(
            "Error parsing query",
            "QueryParserError: the query parameter is missing",
            "4000",
        );
    };
    let parsed = match query::parse(text) {
        Ok(q) => q,
        Err(e) => return fault_body("Error parsing query", &format!("QueryParserError: {e}"), "4000"),
    };
    if parsed.entity == "CompanyInfo" {
        return Json(
            json!({"QueryResponse": {"CompanyInfo": [{"Id": "1", "SyncToken": "0", "CompanyName": "Fake Company",
            "LegalName": "Fake Company LLC", "Country": "US", "domain": "QBO", "MetaData": meta(0)}],
            "startPosition": 1, "maxResults": 1}, "time": time_now()}),
        )
        .into_response();
    }
    let records = match lock(&qbo.data).get(parsed.entity.as_str()) {
        Some(records) => records.clone(),
        None => {
            return fault_body(
                "Error parsing query",
                &format!("QueryParserError: Invalid entity {}", parsed.entity),
                "4000",
            )
        }
    };
    let page = match parsed.run(&records) {
        Ok(page) => page,
        Err(e) => return fault_body("Error parsing query", &format!("QueryParserError: {e}"), "4000"),
    };
    let mut response = Map::new();
    if !page.is_empty() {
        response.insert("startPosition".into(), json!(parsed.start));
        response.insert("maxResults".into(), json!(page.len()));
        response.insert(parsed.entity.clone(), Value::Array(page));
    }
    Json(json!({"QueryResponse": response, "time": time_now()})).into_response()
}

/// `GET /v3/company/{realm}/{entity}/{id}`: an unknown id is QuickBooks' 400 "Object Not Found".
async fn read_one(
    State(qbo): State<Arc<QuickBooks>>,
    Path((realm, entity, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&qbo, &realm, &headers) {
        return r;
    }
    let Some(name) = ENTITIES.iter().find(|e| e.eq_ignore_ascii_case(&entity)) else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    match qbo.get(name, &id) {
        Some(record) => {
            let mut body = Map::new();
            body.insert((*name).to_owned(), record);
            body.insert("time".into(), json!(time_now()));
            Json(Value::Object(body)).into_response()
        }
        None => not_found(name, &id),
    }
}

fn not_found(entity: &str, id: &str) -> Response {
    fault_body(
        "Object Not Found",
        &format!(
            "Object Not Found : Something you're trying to use has been made inactive. {entity} {id} was not found."
        ),
        "610",
    )
}

fn read_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(fault_body(
            "Request has invalid or unsupported property",
            "Request has invalid or unsupported property: the body is not a JSON object",
            "2010",
        )),
    }
}

/// Updates `entity` `id` with `input` when its SyncToken is the current one: sparse updates
/// change only the fields sent; full ones replace the writable fields.
fn update_checked(qbo: &QuickBooks, entity: &'static str, input: &Map<String, Value>) -> Result<Value, Response> {
    let id = input.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut data = lock(&qbo.data);
    let records = data.get_mut(entity).expect("a known entity");
    let Some(record) = records.iter_mut().find(|r| r["Id"] == id) else {
        return Err(not_found(entity, id));
    };
    let Some(token) = input.get("SyncToken").and_then(Value::as_str) else {
        return Err(fault_body(
            "Required param missing, need to supply the required value for the API",
            "Required parameter SyncToken is missing in the request",
            "2020",
        ));
    };
    if record["SyncToken"] != token {
        return Err(fault_body(
            "Stale Object Error",
            "Stale Object Error : You and another user were working on this at the same time. The other user finished before you did, so your work was not saved.",
            "5010",
        ));
    }
    let sparse = input.get("sparse").and_then(Value::as_bool) == Some(true);
    let mut next = if sparse {
        record.clone()
    } else {
        json!({"Id": record["Id"], "SyncToken": record["SyncToken"], "domain": "QBO",
            "MetaData": record["MetaData"]})
    };
    for (k, v) in input {
        if !matches!(k.as_str(), "Id" | "SyncToken" | "MetaData" | "domain") {
            next[k] = v.clone();
        }
    }
    next["sparse"] = json!(false);
    touch(&mut next);
    if entity == "Customer" {
        fill_customer(&mut next);
    }
    *record = next.clone();
    Ok(next)
}

fn written(entity: &str, record: Value) -> Response {
    let mut body = Map::new();
    body.insert(entity.to_owned(), record);
    body.insert("time".into(), json!(time_now()));
    Json(Value::Object(body)).into_response()
}

/// `POST /v3/company/{realm}/customer`: create, or update by `Id` with the current SyncToken.
async fn write_customer(
    State(qbo): State<Arc<QuickBooks>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&qbo, &realm, &headers) {
        return r;
    }
    let input = match read_body(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let updating = input.contains_key("Id");
    let name = input.get("DisplayName").and_then(Value::as_str).map(str::trim);
    let derived = ["Title", "GivenName", "MiddleName", "FamilyName", "Suffix"]
        .iter()
        .filter_map(|f| input.get(*f).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !updating && name.unwrap_or_default().is_empty() && derived.is_empty() {
        return fault_body(
            "Required param missing, need to supply the required value for the API",
            "Required parameter DisplayName or one of Title, GivenName, MiddleName, FamilyName, Suffix is missing in the request",
            "2020",
        );
    }
    if name == Some("") {
        return fault_body(
            "Required param missing, need to supply the required value for the API",
            "DisplayName cannot be removed",
            "2020",
        );
    }
    let display = name.map(str::to_owned).or((!updating).then_some(derived));
    if let Some(display) = &display {
        let id = input.get("Id").and_then(Value::as_str);
        let taken = lock(&qbo.data)["Customer"].iter().any(|c| {
            c["DisplayName"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(display))
                && c["Id"].as_str() != id
        });
        if taken {
            return fault_body(
                "Duplicate Name Exists Error",
                &format!("The name supplied already exists. : Another customer, vendor or employee is already using this name ({display}). Please use a different name."),
                "6240",
            );
        }
    }
    if updating {
        return match update_checked(&qbo, "Customer", &input) {
            Ok(record) => written("Customer", record),
            Err(r) => r,
        };
    }
    let mut fields = Value::Object(input);
    fields["DisplayName"] = json!(display);
    for (k, v) in [
        ("Active", json!(true)),
        ("Balance", json!(0.0)),
        ("BalanceWithJobs", json!(0.0)),
        ("Taxable", json!(false)),
        ("Job", json!(false)),
        ("BillWithParent", json!(false)),
        ("PreferredDeliveryMethod", json!("Print")),
    ] {
        if fields.get(k).is_none() {
            fields[k] = v;
        }
    }
    written("Customer", qbo.insert("Customer", fields, now_ms()))
}

fn customer_ref_ok(qbo: &QuickBooks, input: &Map<String, Value>) -> Result<Value, Response> {
    let id = input
        .get("CustomerRef")
        .and_then(|r| r.get("value"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    qbo.get("Customer", id).ok_or_else(|| {
        fault_body(
            "Invalid Reference Id",
            &format!("Invalid Reference Id : Customer assigned to this transaction has been deleted or does not exist ({id:?})."),
            "2500",
        )
    })
}

/// `POST /v3/company/{realm}/invoice`: create, or update by `Id` with the current SyncToken.
async fn write_invoice(
    State(qbo): State<Arc<QuickBooks>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&qbo, &realm, &headers) {
        return r;
    }
    let input = match read_body(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    if input.contains_key("Id") {
        return match update_checked(&qbo, "Invoice", &input) {
            Ok(record) => written("Invoice", record),
            Err(r) => r,
        };
    }
    let customer = match customer_ref_ok(&qbo, &input) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let lines = input.get("Line").and_then(Value::as_array).cloned().unwrap_or_default();
    let sales: Vec<&Value> = lines
        .iter()
        .filter(|l| l["DetailType"] == "SalesItemLineDetail")
        .collect();
    if sales.is_empty() {
        return fault_body(
            "Required param missing, need to supply the required value for the API",
            "Required parameter Line is missing in the request: an invoice needs at least one SalesItemLine",
            "2020",
        );
    }
    for line in &sales {
        let item = line
            .pointer("/SalesItemLineDetail/ItemRef/value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if qbo.get("Item", item).is_none() {
            return fault_body(
                "Invalid Reference Id",
                &format!("Invalid Reference Id : Something you're trying to use has been made inactive. Item {item:?} was not found."),
                "2500",
            );
        }
    }
    let total: f64 = sales.iter().filter_map(|l| l["Amount"].as_f64()).sum();
    let mut numbered: Vec<Value> = sales
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut l = (*l).clone();
            l["Id"] = json!((i + 1).to_string());
            l["LineNum"] = json!(i + 1);
            l
        })
        .collect();
    numbered.push(json!({"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}));
    let mut fields = Value::Object(input);
    fields["Line"] = Value::Array(numbered);
    fields["CustomerRef"] = json!({"value": customer["Id"], "name": customer["DisplayName"]});
    fields["TotalAmt"] = json!(total);
    fields["Balance"] = json!(total);
    if fields.get("DocNumber").is_none() {
        fields["DocNumber"] = json!(format!("{}", 1000 + qbo.count("Invoice") + 1));
    }
    if fields.get("TxnDate").is_none() {
        fields["TxnDate"] = json!(&qbo_time(now_ms())[..10]);
    }
    written("Invoice", qbo.insert("Invoice", fields, now_ms()))
}

/// `POST /v3/company/{realm}/payment`: a payment, applied to the invoices its lines link.
async fn write_payment(
    State(qbo): State<Arc<QuickBooks>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&qbo, &realm, &headers) {
        return r;
    }
    let input = match read_body(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    if input.contains_key("Id") {
        return match update_checked(&qbo, "Payment", &input) {
            Ok(record) => written("Payment", record),
            Err(r) => r,
        };
    }
    let customer = match customer_ref_ok(&qbo, &input) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(total) = input.get("TotalAmt").and_then(Value::as_f64) else {
        return fault_body(
            "Required param missing, need to supply the required value for the API",
            "Required parameter TotalAmt is missing in the request",
            "2020",
        );
    };
    let lines = input.get("Line").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut applied = 0.0;
    let mut invoices = Vec::new();
    for line in &lines {
        let amount = line["Amount"].as_f64().unwrap_or_default();
        for linked in line["LinkedTxn"].as_array().into_iter().flatten() {
            let id = linked["TxnId"].as_str().unwrap_or_default();
            match qbo.get("Invoice", id) {
                Some(invoice) if invoice["CustomerRef"]["value"] == customer["Id"] => {
                    invoices.push((id.to_owned(), amount))
                }
                _ => {
                    return fault_body(
                        "Invalid Reference Id",
                        &format!(
                            "Invalid Reference Id : Invoice {id:?} does not exist or belongs to another customer."
                        ),
                        "2500",
                    )
                }
            }
        }
        applied += amount;
    }
    if applied > total + 1e-9 {
        return fault_body(
            "Business Validation Error",
            "Business Validation Error: The amount applied to transactions exceeds the payment's TotalAmt.",
            "6000",
        );
    }
    for (id, amount) in invoices {
        let balance = qbo
            .get("Invoice", &id)
            .and_then(|i| i["Balance"].as_f64())
            .unwrap_or_default();
        qbo.update("Invoice", &id, &json!({"Balance": (balance - amount).max(0.0)}));
    }
    let mut fields = Value::Object(input);
    fields["CustomerRef"] = json!({"value": customer["Id"], "name": customer["DisplayName"]});
    fields["UnappliedAmt"] = json!(total - applied);
    if fields.get("TxnDate").is_none() {
        fields["TxnDate"] = json!(&qbo_time(now_ms())[..10]);
    }
    written("Payment", qbo.insert("Payment", fields, now_ms()))
}

/// The most objects one CDC response holds.
const CDC_MAX_OBJECTS: usize = 1000;
/// How far back CDC reaches.
const CDC_MAX_AGE_MS: i64 = 30 * 24 * 3_600_000;

/// `changedSince`: an RFC 3339 date-time, or a date (midnight in the company's zone).
fn changed_since_ms(text: &str) -> Option<i64> {
    time_ms(text).or_else(|| {
        let date = time::Date::parse(text, &time::macros::format_description!("[year]-[month]-[day]")).ok()?;
        let offset = UtcOffset::from_hms(PACIFIC, 0, 0).ok()?;
        let at = date.midnight().assume_offset(offset);
        Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
    })
}

/// `GET /v3/company/{realm}/cdc?entities=...&changedSince=...`: what changed and what was
/// deleted since then, per entity asked.
async fn change_data_capture(
    State(qbo): State<Arc<QuickBooks>>,
    Path(realm): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&qbo, &realm, &headers) {
        return r;
    }
    let invalid = |detail: String| fault_body("Request has invalid or unsupported property", &detail, "2010");
    let mut entities: Vec<&'static str> = Vec::new();
    for asked in params
        .get("entities")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
    {
        let asked = asked.trim();
        match ENTITIES.iter().find(|e| e.eq_ignore_ascii_case(asked)) {
            Some(e) if !entities.contains(e) => entities.push(e),
            Some(_) => {}
            None => {
                return invalid(format!(
                    "Request has invalid or unsupported property: entities: {asked:?} is not an entity"
                ))
            }
        }
    }
    let Some(since) = params.get("changedSince").and_then(|t| changed_since_ms(t)) else {
        return invalid(
            "Request has invalid or unsupported property: changedSince is missing or not a date-time".into(),
        );
    };
    if since < now_ms() - CDC_MAX_AGE_MS {
        return invalid("Request has invalid or unsupported property: changedSince is more than 30 days ago".into());
    }
    let mut left = CDC_MAX_OBJECTS;
    let mut responses = Vec::new();
    for entity in entities {
        let mut changed: Vec<Value> = lock(&qbo.data)[entity]
            .iter()
            .chain(lock(&qbo.deleted)[entity].iter())
            .filter(|r| updated_ms(r) >= since)
            .cloned()
            .collect();
        changed.sort_by_key(updated_ms);
        changed.truncate(left);
        left -= changed.len();
        let mut response = Map::new();
        if !changed.is_empty() {
            response.insert("startPosition".into(), json!(1));
            response.insert("maxResults".into(), json!(changed.len()));
            response.insert("totalCount".into(), json!(changed.len()));
            response.insert(entity.to_owned(), Value::Array(changed));
        }
        responses.push(Value::Object(response));
    }
    Json(json!({"CDCResponse": [{"QueryResponse": responses}], "time": time_now()})).into_response()
}

/// The most operations one batch request holds.
const BATCH_MAX_ITEMS: usize = 30;

/// `POST /v3/company/{realm}/batch`: each item runs as its own request to the entity's
/// endpoint would, in order; a refused item is answered with its fault, the others go on.
async fn batch(
    State(qbo): State<Arc<QuickBooks>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&qbo, &realm, &headers) {
        return r;
    }
    let input = match read_body(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let Some(items) = input.get("BatchItemRequest").and_then(Value::as_array) else {
        return fault_body(
            "Required param missing, need to supply the required value for the API",
            "Required parameter BatchItemRequest is missing in the request",
            "2020",
        );
    };
    if items.len() > BATCH_MAX_ITEMS {
        return fault_body(
            "Request has invalid or unsupported property",
            &format!(
                "Request has invalid or unsupported property: a batch holds at most {BATCH_MAX_ITEMS} items, this one {}",
                items.len()
            ),
            "2010",
        );
    }
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        let bid = item.get("bId").cloned().unwrap_or(Value::Null);
        let mut answer = match batch_item(&qbo, &realm, &headers, item).await {
            Ok((entity, record)) => Map::from_iter([(entity.to_owned(), record)]),
            Err(fault) => Map::from_iter([("Fault".to_owned(), fault)]),
        };
        answer.insert("bId".into(), bid);
        answers.push(Value::Object(answer));
    }
    Json(json!({"BatchItemResponse": answers, "time": time_now()})).into_response()
}

/// One batch item: the entity's create or update, run as its own request; `Err` is the item's
/// `Fault`.
async fn batch_item(
    qbo: &Arc<QuickBooks>,
    realm: &str,
    headers: &HeaderMap,
    item: &Value,
) -> Result<(&'static str, Value), Value> {
    let fault = |detail: String| {
        json!({"Error": [{"Message": "Request has invalid or unsupported property", "Detail": detail, "code": "2010"}],
            "type": "ValidationFault"})
    };
    let operation = item.get("operation").and_then(Value::as_str).unwrap_or_default();
    let found = ["Customer", "Invoice", "Payment"]
        .into_iter()
        .find_map(|e| item.get(e).map(|body| (e, body)));
    let Some((entity, body)) = found else {
        return Err(fault("a batch item names none of Customer, Invoice, Payment".into()));
    };
    let updating = body.get("Id").is_some();
    match (operation, updating) {
        ("create", false) | ("update", true) => {}
        _ => {
            return Err(fault(format!(
                "operation {operation:?} with{} an Id is not a create or an update",
                if updating { "" } else { "out" }
            )))
        }
    }
    let bytes = Bytes::from(serde_json::to_vec(body).expect("a JSON value serialises"));
    let (state, path) = (State(qbo.clone()), Path(realm.to_owned()));
    let response = match entity {
        "Customer" => write_customer(state, path, headers.clone(), bytes).await,
        "Invoice" => write_invoice(state, path, headers.clone(), bytes).await,
        _ => write_payment(state, path, headers.clone(), bytes).await,
    };
    let ok = response.status().is_success();
    let answer: Value = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if ok {
        Ok((entity, answer[entity].clone()))
    } else {
        Err(answer["Fault"].clone())
    }
}
