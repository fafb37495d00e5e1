//! Fake Xero: the Accounting API's contacts, invoices and organisation on one server and the
//! identity server (OAuth token endpoint) on another.
//!
//! It follows the Xero Accounting API documentation (developer.xero.com/documentation/api/
//! accounting): "Contacts" and "Invoices" (GET lists paged with `page` and `pageSize`, up to
//! 100 a page by default, a short or empty page the last; the `If-Modified-Since` header
//! returning only records created or modified since; GET by id answering `{"Contacts":
//! [record]}`, 404 for an unknown id; POST /Contacts creating the contacts without a
//! `ContactID` and updating those with one, each answered in place when
//! `summarizeErrors=false`, with `HasValidationErrors` and `ValidationErrors`), the
//! `xero-tenant-id` header every request needs, and OAuth 2.0 ("Refreshing access tokens":
//! client credentials as basic auth, a single-use refresh token replaced by a new one on every
//! grant). Traffic to the API server is checked against `xero/xero_accounting.yaml` from the
//! specs folder with the corrections in `spec_patches.yaml` ([`spec_check`]); the identity
//! server is not in that spec and is not checked.
//!
//! "Payments" (GET lists paged and filtered the same way, GET by id, PUT /Payments creating
//! payments against invoices, answered in place with `summarizeErrors=false`; a payment lowers
//! its invoice's `AmountDue` and one that settles it marks the invoice `PAID`). The API limits
//! ("OAuth 2.0 API limits"): every response carries `X-DayLimit-Remaining`,
//! `X-MinLimit-Remaining` and `X-AppMinLimit-Remaining`; with [`XeroConfig::day_limit`] set,
//! the day's budget is counted and a request past it answers 429 with `Retry-After` and
//! `X-Rate-Limit-Problem: day`.
//!
//! Assumptions where the docs leave it open: `If-Modified-Since` compares to the millisecond
//! and includes records modified exactly then; lists are ordered by `UpdatedDateUTC` then id
//! (the `order` parameter is accepted and not parsed). Contact validation covers what the
//! tests refuse: a new contact without a `Name`, a `Name` another active contact has, an
//! `EmailAddress` without `@` and an unknown `ContactID`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{SpecCheck, SpecPatch};
use crate::timestamp::now_ms;

/// The OAuth client the fake identity server accepts.
pub const CLIENT_ID: &str = "FAKEXEROCLIENTID0000000000000000";
/// Its secret.
pub const CLIENT_SECRET: &str = "fake-xero-client-secret";
/// The refresh token valid when the fake starts (single use, as Xero's).
pub const REFRESH_TOKEN: &str = "fake-xero-refresh-token-0";
/// The organisation's tenant id, expected in `xero-tenant-id`.
pub const TENANT_ID: &str = "7d4a2b5c-0000-4000-8000-00000000beef";
/// The path prefix of the Accounting API (`https://api.xero.com/api.xro/2.0`).
pub const API_PREFIX: &str = "/api.xro/2.0";

/// The corrections to Xero's spec the fake's checks use.
pub fn spec_check() -> SpecCheck {
    #[derive(serde::Deserialize)]
    struct Patches {
        spec_patches: Vec<SpecPatch>,
    }
    let patches: Patches = serde_yaml::from_str(include_str!("spec_patches.yaml"))
        .expect("the embedded Xero spec patches parse (the fake's tests load them)");
    SpecCheck {
        files: vec!["xero/xero_accounting.yaml".into()],
        patches: patches.spec_patches,
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct XeroConfig {
    /// Contacts and invoices seeded, updated over the past hour.
    pub records: usize,
    /// Check the API server's traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
    /// API calls the tenant may make today (Xero: 5,000); `None` counts nothing and reports the
    /// documented 5,000 as remaining.
    pub day_limit: Option<u64>,
    /// The `Retry-After` of a request past the day's budget, in seconds.
    pub day_retry_after_secs: u64,
}

impl Default for XeroConfig {
    fn default() -> Self {
        Self {
            records: 0,
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
            day_limit: None,
            day_retry_after_secs: 6 * 3600,
        }
    }
}

/// The fake organisation's state.
pub struct Xero {
    contacts: Mutex<Vec<Value>>,
    invoices: Mutex<Vec<Value>>,
    payments: Mutex<Vec<Value>>,
    /// API calls left today, when counted.
    day_remaining: Mutex<Option<u64>>,
    day_retry_after_secs: u64,
    /// Requests the API server received.
    api_requests: std::sync::atomic::AtomicU64,
    access_tokens: Mutex<HashSet<String>>,
    /// The one refresh token that works now.
    refresh_token: Mutex<String>,
    grants: Mutex<u64>,
    next_id: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Xero's .NET JSON date, as `UpdatedDateUTC` is written.
fn json_date(ms: i64) -> String {
    format!("/Date({ms}+0000)/")
}

fn json_date_ms(text: &str) -> Option<i64> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits = inner.split(['+', '-']).next()?;
    digits.parse().ok()
}

fn updated_ms(record: &Value) -> i64 {
    record["UpdatedDateUTC"].as_str().and_then(json_date_ms).unwrap_or(0)
}

/// The two servers: the Accounting API and the identity server (token endpoint).
pub struct XeroFake {
    pub api: FakeHandle<Xero>,
    pub identity: FakeHandle<Xero>,
}

impl XeroFake {
    /// The base URL a connection uses: the API server and the Accounting API's prefix.
    pub fn api_base_url(&self) -> String {
        format!("{}{API_PREFIX}", self.api.base_url)
    }
}

impl std::ops::Deref for XeroFake {
    type Target = Xero;

    fn deref(&self) -> &Xero {
        &self.api
    }
}

/// Starts both servers on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: XeroConfig) -> XeroFake {
    let state = Arc::new(Xero {
        contacts: Mutex::new(Vec::new()),
        invoices: Mutex::new(Vec::new()),
        payments: Mutex::new(Vec::new()),
        day_remaining: Mutex::new(config.day_limit),
        day_retry_after_secs: config.day_retry_after_secs,
        api_requests: Default::default(),
        access_tokens: Mutex::new(HashSet::new()),
        refresh_token: Mutex::new(REFRESH_TOKEN.to_owned()),
        grants: Mutex::new(0),
        next_id: Mutex::new(0),
    });
    state.seed(config.records);
    let api_state = state.clone();
    let api = server::expect_started(
        "xero",
        server::spawn(
            Spec {
                name: "xero",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route(&format!("{API_PREFIX}/Organisation"), get(organisation))
                    .route(
                        &format!("{API_PREFIX}/Contacts"),
                        get(list_contacts).post(write_contacts),
                    )
                    .route(&format!("{API_PREFIX}/Contacts/{{id}}"), get(contact))
                    .route(&format!("{API_PREFIX}/Invoices"), get(list_invoices))
                    .route(&format!("{API_PREFIX}/Invoices/{{id}}"), get(invoice))
                    .route(
                        &format!("{API_PREFIX}/Payments"),
                        get(list_payments).put(create_payments),
                    )
                    .route(&format!("{API_PREFIX}/Payments/{{id}}"), get(payment))
                    .layer(from_fn_with_state(api_state.clone(), api_limits))
                    .with_state(api_state)
            },
        ),
    );
    let identity_state = state.clone();
    let identity = server::expect_started(
        "xero-identity",
        server::spawn(
            Spec {
                name: "xero-identity",
                port: 0,
                state,
                faults: FaultConfig::default(),
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/connect/token", post(token))
                    .with_state(identity_state)
            },
        ),
    );
    XeroFake { api, identity }
}

impl Xero {
    fn new_id(&self, kind: u32) -> String {
        let mut next = lock(&self.next_id);
        *next += 1;
        format!("{kind:08x}-0000-4000-8000-{:012x}", *next)
    }

    fn seed(&self, count: usize) {
        let now = now_ms();
        for n in 1..=count {
            // Spread over the past hour, oldest first, the newest 10 s ago.
            let at = now - 3_600_000 + (n as i64 * 3_590_000 / count.max(1) as i64);
            let contact = self.insert_contact(
                &json!({"Name": format!("Contact {n}"), "FirstName": format!("First{n}"),
                    "LastName": format!("Last{n}"), "EmailAddress": format!("contact{n}@example.com")}),
                at,
            );
            let total = 100.0 + n as f64;
            let id = self.new_id(0x1a);
            lock(&self.invoices).push(json!({
                "Type": "ACCREC",
                "InvoiceID": id,
                "InvoiceNumber": format!("INV-{n:04}"),
                "Reference": format!("Order {n}"),
                "Contact": {"ContactID": contact["ContactID"], "Name": contact["Name"]},
                "Date": json_date(at - at % 86_400_000),
                "DueDate": json_date(at - at % 86_400_000 + 30 * 86_400_000),
                "Status": "AUTHORISED",
                "LineAmountTypes": "Exclusive",
                "LineItems": [{"LineItemID": self.new_id(0x11), "Description": "Consulting",
                    "Quantity": 1.0, "UnitAmount": total, "AccountCode": "200", "TaxType": "NONE",
                    "TaxAmount": 0.0, "LineAmount": total}],
                "SubTotal": total, "TotalTax": 0.0, "Total": total,
                "AmountDue": total, "AmountPaid": 0.0, "AmountCredited": 0.0,
                "CurrencyCode": "USD",
                "UpdatedDateUTC": json_date(at),
                "HasAttachments": false,
            }));
            // A part payment of every invoice, a second later.
            let invoice = json!({"InvoiceID": id, "InvoiceNumber": format!("INV-{n:04}")});
            self.insert_payment(
                &invoice,
                &json!({"Code": "090"}),
                10.0,
                &json_date(at - at % 86_400_000),
                at + 1_000,
            )
            .expect("the seeded invoice is open");
        }
    }

    /// Records a payment against an open invoice; `Err` is Xero's validation message.
    fn insert_payment(
        &self,
        invoice: &Value,
        account: &Value,
        amount: f64,
        date: &str,
        at: i64,
    ) -> Result<Value, String> {
        let invoice_id = invoice["InvoiceID"].as_str().unwrap_or_default();
        let mut invoices = lock(&self.invoices);
        let Some(held) = invoices.iter_mut().find(|i| i["InvoiceID"] == invoice_id) else {
            return Err(format!("Invoice {invoice_id} could not be found."));
        };
        if held["Status"] != "AUTHORISED" {
            return Err("Payment can only be made against Authorised documents.".into());
        }
        let due = held["AmountDue"].as_f64().unwrap_or_default();
        if amount.is_nan() || amount <= 0.0 {
            return Err("Payment amount must be greater than zero.".into());
        }
        if amount > due + 1e-9 {
            return Err("Payment amount exceeds the amount outstanding on this document.".into());
        }
        let left = ((due - amount) * 100.0).round() / 100.0;
        held["AmountDue"] = json!(left);
        held["AmountPaid"] =
            json!(((held["AmountPaid"].as_f64().unwrap_or_default() + amount) * 100.0).round() / 100.0);
        if left == 0.0 {
            held["Status"] = json!("PAID");
        }
        held["UpdatedDateUTC"] = json!(json_date(at));
        drop(invoices);
        let record = json!({
            "PaymentID": self.new_id(0x9a),
            "Date": date,
            "Amount": amount,
            "Status": "AUTHORISED",
            "PaymentType": "ACCRECPAYMENT",
            "IsReconciled": false,
            "HasAccount": true,
            "HasValidationErrors": false,
            "Invoice": invoice,
            "Account": account,
            "UpdatedDateUTC": json_date(at),
        });
        lock(&self.payments).push(record.clone());
        Ok(record)
    }

    fn insert_contact(&self, fields: &Value, at: i64) -> Value {
        let mut record = json!({
            "ContactID": self.new_id(0xc0),
            "ContactStatus": "ACTIVE",
            "Addresses": [],
            "Phones": [],
            "IsSupplier": false,
            "IsCustomer": false,
            "ContactGroups": [],
            "HasAttachments": false,
            "HasValidationErrors": false,
            "UpdatedDateUTC": json_date(at),
        });
        merge(&mut record, fields);
        lock(&self.contacts).push(record.clone());
        record
    }

    /// The access tokens the identity server issued.
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

    /// Contacts held.
    pub fn contact_count(&self) -> usize {
        lock(&self.contacts).len()
    }

    /// Invoices held.
    pub fn invoice_count(&self) -> usize {
        lock(&self.invoices).len()
    }

    /// A contact by id.
    pub fn contact(&self, id: &str) -> Option<Value> {
        lock(&self.contacts).iter().find(|r| r["ContactID"] == id).cloned()
    }

    /// An invoice by id.
    pub fn invoice(&self, id: &str) -> Option<Value> {
        lock(&self.invoices).iter().find(|r| r["InvoiceID"] == id).cloned()
    }

    /// Payments held.
    pub fn payment_count(&self) -> usize {
        lock(&self.payments).len()
    }

    /// A payment by id.
    pub fn payment(&self, id: &str) -> Option<Value> {
        lock(&self.payments).iter().find(|r| r["PaymentID"] == id).cloned()
    }

    /// Changes a payment as a user in Xero would (reconciling it): `UpdatedDateUTC` becomes now.
    pub fn update_payment(&self, id: &str, fields: &Value) -> Option<Value> {
        let mut payments = lock(&self.payments);
        let record = payments.iter_mut().find(|r| r["PaymentID"] == id)?;
        merge(record, fields);
        record["UpdatedDateUTC"] = json!(json_date(now_ms()));
        Some(record.clone())
    }

    /// Requests the API server received (refused ones too).
    pub fn api_requests(&self) -> u64 {
        self.api_requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// API calls left today, when the fake counts them.
    pub fn day_remaining(&self) -> Option<u64> {
        *lock(&self.day_remaining)
    }

    /// Sets the calls left today (`None`: stop counting), as Xero's rolling day frees calls.
    pub fn set_day_remaining(&self, remaining: Option<u64>) {
        *lock(&self.day_remaining) = remaining;
    }

    /// The id of the invoice with this number.
    pub fn find_invoice_number(&self, number: &str) -> Option<String> {
        lock(&self.invoices)
            .iter()
            .find(|r| r["InvoiceNumber"] == number)
            .and_then(|r| r["InvoiceID"].as_str().map(str::to_owned))
    }

    /// The first contact whose `field` equals `value` (ignoring ASCII case).
    pub fn find_contact(&self, field: &str, value: &str) -> Option<Value> {
        lock(&self.contacts)
            .iter()
            .find(|r| r[field].as_str().is_some_and(|v| v.eq_ignore_ascii_case(value)))
            .cloned()
    }

    /// Changes a contact as a user in Xero would: `UpdatedDateUTC` becomes now.
    pub fn update_contact(&self, id: &str, fields: &Value) -> Option<Value> {
        let mut contacts = lock(&self.contacts);
        let record = contacts.iter_mut().find(|r| r["ContactID"] == id)?;
        merge(record, fields);
        record["UpdatedDateUTC"] = json!(json_date(now_ms()));
        Some(record.clone())
    }

    /// Changes an invoice as a user in Xero would: `UpdatedDateUTC` becomes now.
    pub fn update_invoice(&self, id: &str, fields: &Value) -> Option<Value> {
        let mut invoices = lock(&self.invoices);
        let record = invoices.iter_mut().find(|r| r["InvoiceID"] == id)?;
        merge(record, fields);
        record["UpdatedDateUTC"] = json!(json_date(now_ms()));
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

/// Xero's API exception body.
fn error(status: StatusCode, number: u32, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"ErrorNumber": number, "Type": kind, "Message": message})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            (status, [("retry-after", "1"), ("x-rate-limit-problem", "minute")]).into_response()
        }
        _ => error(status, 500, "InternalServerError", "An error occurred in Xero."),
    }
}

/// The error a request gets before its operation runs: a bad token or tenant.
fn refused(xero: &Xero, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| lock(&xero.access_tokens).contains(t.trim())) {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"Type": null, "Title": "Unauthorized", "Status": 401, "Detail": "TokenInvalid"})),
            )
                .into_response(),
        );
    }
    if headers.get("xero-tenant-id").and_then(|v| v.to_str().ok()) != Some(TENANT_ID) {
        return Some(
            (
                StatusCode::FORBIDDEN,
                Json(
                    json!({"Type": null, "Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"}),
                ),
            )
                .into_response(),
        );
    }
    None
}

/// `POST /connect/token`: the refresh-token grant, the client as basic auth. The refresh token
/// is single use: the grant replaces it.
async fn token(State(xero): State<Arc<Xero>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let expected_basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected_basic.as_str()) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let mut current = lock(&xero.refresh_token);
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("refresh_token") != Some(&*current)
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let grant = {
        let mut grants = lock(&xero.grants);
        *grants += 1;
        *grants
    };
    let access = format!("fake-xero-access-{grant}-{}", now_ms());
    *current = format!("fake-xero-refresh-token-{grant}");
    lock(&xero.access_tokens).insert(access.clone());
    Json(json!({
        "id_token": null,
        "access_token": access,
        "expires_in": 1800,
        "token_type": "Bearer",
        "refresh_token": current.clone(),
        "scope": "offline_access accounting.contacts accounting.transactions.read accounting.settings.read",
    }))
    .into_response()
}

/// `GET /Organisation`.
async fn organisation(State(xero): State<Arc<Xero>>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    Json(json!({
        "Id": "27b7a645-a3ee-43c8-b2c6-a2fa7b84c8c5",
        "Status": "OK",
        "ProviderName": "Switchyard",
        "DateTimeUTC": json_date(now_ms()),
        "Organisations": [{"OrganisationID": TENANT_ID, "Name": "Fake Xero Org", "LegalName": "Fake Xero Org Ltd",
            "Version": "GLOBAL", "BaseCurrency": "USD", "CountryCode": "US", "PaysTax": true}],
    }))
    .into_response()
}

/// One page of `records` for the list query and `If-Modified-Since`.
fn page_of(records: &[Value], query: &BTreeMap<String, String>, headers: &HeaderMap, key: &str, id: &str) -> Response {
    let page = match query.get("page").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                10,
                "ValidationException",
                "page must be a positive integer",
            )
        }
    };
    let size = match query.get("pageSize").map(|p| p.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                10,
                "ValidationException",
                "pageSize must be 1 to 1000",
            )
        }
    };
    let since = match headers.get("if-modified-since").map(|v| {
        v.to_str()
            .ok()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
    }) {
        None => None,
        Some(Some(ms)) => Some(ms),
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                10,
                "ValidationException",
                "If-Modified-Since is not a date",
            )
        }
    };
    let archived = query.get("includeArchived").is_some_and(|v| v == "true");
    let mut matching: Vec<&Value> = records
        .iter()
        .filter(|r| archived || r["ContactStatus"] != "ARCHIVED")
        .filter(|r| since.is_none_or(|since| updated_ms(r) >= since))
        .collect();
    matching.sort_by(|a, b| {
        updated_ms(a)
            .cmp(&updated_ms(b))
            .then_with(|| a[id].as_str().cmp(&b[id].as_str()))
    });
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|r| (*r).clone())
        .collect();
    let mut body = json!({
        "Id": "11111111-2222-4333-8444-555555555555",
        "Status": "OK",
        "ProviderName": "Switchyard",
        "DateTimeUTC": json_date(now_ms()),
        "pagination": {"page": page, "pageSize": size,
            "pageCount": matching.len().div_ceil(size), "itemCount": matching.len()},
    });
    body[key] = Value::Array(items);
    Json(body).into_response()
}

/// `GET /Contacts`.
async fn list_contacts(
    State(xero): State<Arc<Xero>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    let contacts = lock(&xero.contacts).clone();
    page_of(&contacts, &query, &headers, "Contacts", "ContactID")
}

/// `GET /Invoices`.
async fn list_invoices(
    State(xero): State<Arc<Xero>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    let invoices = lock(&xero.invoices).clone();
    page_of(&invoices, &query, &headers, "Invoices", "InvoiceID")
}

/// Xero's answer around a list of records under `key` (`Contacts`, `Invoices`, `Payments`).
fn answer(key: &str, items: Vec<Value>) -> Response {
    let mut body = json!({"Id": "11111111-2222-4333-8444-555555555555", "Status": "OK",
        "ProviderName": "Switchyard", "DateTimeUTC": json_date(now_ms())});
    body[key] = Value::Array(items);
    Json(body).into_response()
}

/// The records of a write's body under `key`, or Xero's refusal of the body.
fn inputs_of(body: &[u8], key: &str) -> Result<Vec<Value>, Box<Response>> {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            14,
            "PostDataInvalidException",
            "Invalid JSON",
        )));
    };
    match body.get(key).and_then(Value::as_array) {
        Some(inputs) => Ok(inputs.clone()),
        None => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            14,
            "PostDataInvalidException",
            &format!("{key} is missing"),
        ))),
    }
}

/// A refused record as Xero answers it in place (`summarizeErrors=false`).
fn refused_in_place(input: &Value, message: &str) -> Value {
    let mut echo = input.clone();
    merge(
        &mut echo,
        &json!({"HasValidationErrors": true, "StatusAttributeString": "ERROR",
            "ValidationErrors": [{"Message": message}]}),
    );
    echo
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "The resource you're looking for cannot be found").into_response()
}

/// `GET /Contacts/{ContactID}`.
async fn contact(State(xero): State<Arc<Xero>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    match xero.contact(&id) {
        Some(c) => answer("Contacts", vec![c]),
        None => not_found(),
    }
}

/// `GET /Invoices/{InvoiceID}`.
async fn invoice(State(xero): State<Arc<Xero>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    match xero.invoice(&id) {
        Some(i) => answer("Invoices", vec![i]),
        None => not_found(),
    }
}

/// `POST /Contacts`: creates or updates each contact. With `summarizeErrors=false` every
/// contact is answered in place (200); otherwise one refused contact fails the batch (400) and
/// none is written, as Xero does.
async fn write_contacts(
    State(xero): State<Arc<Xero>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    let inputs = match inputs_of(&body, "Contacts") {
        Ok(inputs) => inputs,
        Err(refusal) => return *refusal,
    };
    let inputs = &inputs;
    let per_record = query.get("summarizeErrors").is_some_and(|v| v == "false");
    let problems: Vec<Option<String>> = inputs.iter().map(|c| validate(&xero, c, inputs)).collect();
    if !per_record && problems.iter().any(Option::is_some) {
        return error(
            StatusCode::BAD_REQUEST,
            10,
            "ValidationException",
            "A validation exception occurred",
        );
    }
    let mut out = Vec::new();
    for (input, problem) in inputs.iter().zip(problems) {
        out.push(match problem {
            Some(message) => refused_in_place(input, &message),
            None => {
                let written = match input["ContactID"].as_str() {
                    Some(id) => xero.update_contact(id, input).expect("validate found it"),
                    None => xero.insert_contact(input, now_ms()),
                };
                let mut written = written;
                written["StatusAttributeString"] = json!("OK");
                written
            }
        });
    }
    answer("Contacts", out)
}

/// Why Xero refuses a contact, if it does.
fn validate(xero: &Xero, input: &Value, batch: &[Value]) -> Option<String> {
    let Some(fields) = input.as_object() else {
        return Some("A contact must be an object".into());
    };
    let id = fields.get("ContactID").and_then(Value::as_str);
    if let Some(id) = id {
        if xero.contact(id).is_none() {
            return Some(format!("Contact {id} could not be found."));
        }
    }
    let name = match fields.get("Name") {
        None if id.is_some() => None,
        None => return Some("The contact name must be specified.".into()),
        Some(name) => Some(name.as_str().unwrap_or_default().trim().to_owned()),
    };
    if name.as_deref() == Some("") {
        return Some("The contact name must be specified.".into());
    }
    if let Some(email) = fields.get("EmailAddress").and_then(Value::as_str) {
        if !email.is_empty() && !email.contains('@') {
            return Some("Email address must be valid.".into());
        }
    }
    let name = name?;
    let taken = lock(&xero.contacts).iter().any(|c| {
        c["ContactStatus"] == "ACTIVE"
            && c["Name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&name))
            && c["ContactID"].as_str() != id
    }) || batch.iter().filter(|other| !std::ptr::eq(*other, input)).any(|other| {
        other["Name"]
            .as_str()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(&name))
    });
    taken.then(|| {
        format!("The contact name {name} is already assigned to another contact. The contact name must be unique across all active contacts.")
    })
}

/// Xero's API limits on every API response: the day's budget counted when configured, a
/// request past it refused with 429 (`X-Rate-Limit-Problem: day`), and the remaining-budget
/// headers ("OAuth 2.0 API limits": `X-DayLimit-Remaining`, `X-MinLimit-Remaining`,
/// `X-AppMinLimit-Remaining`; the minute figures are not counted by the fake).
async fn api_limits(State(xero): State<Arc<Xero>>, request: axum::extract::Request, next: Next) -> Response {
    xero.api_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let remaining = {
        let mut left = lock(&xero.day_remaining);
        match left.as_mut() {
            None => 5_000,
            Some(0) => {
                let retry_after = xero.day_retry_after_secs.to_string();
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("x-rate-limit-problem", "day"), ("x-daylimit-remaining", "0")],
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after) {
                    response.headers_mut().insert("retry-after", v);
                }
                return response;
            }
            Some(n) => {
                *n -= 1;
                *n
            }
        }
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-daylimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-minlimit-remaining", HeaderValue::from(59u32));
    headers.insert("x-appminlimit-remaining", HeaderValue::from(9_999u32));
    response
}

/// `GET /Payments`.
async fn list_payments(
    State(xero): State<Arc<Xero>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    let payments = lock(&xero.payments).clone();
    page_of(&payments, &query, &headers, "Payments", "PaymentID")
}

/// `GET /Payments/{PaymentID}`.
async fn payment(State(xero): State<Arc<Xero>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    match xero.payment(&id) {
        Some(p) => answer("Payments", vec![p]),
        None => not_found(),
    }
}

/// `PUT /Payments`: creates each payment against its invoice. With `summarizeErrors=false`
/// every payment is answered in place; otherwise one refused payment fails the batch (400)
/// and none is written.
async fn create_payments(
    State(xero): State<Arc<Xero>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&xero, &headers) {
        return r;
    }
    let inputs = match inputs_of(&body, "Payments") {
        Ok(inputs) => inputs,
        Err(refusal) => return *refusal,
    };
    let per_record = query.get("summarizeErrors").is_some_and(|v| v == "false");
    let shape = |p: &Value| -> Result<(String, f64), String> {
        if p["Invoice"]["InvoiceID"].as_str().is_none() {
            return Err("An invoice must be specified (Invoice.InvoiceID).".into());
        }
        if p["Account"]["Code"].as_str().is_none() && p["Account"]["AccountID"].as_str().is_none() {
            return Err("An account must be specified (Account.Code or Account.AccountID).".into());
        }
        let date = p["Date"]
            .as_str()
            .and_then(|d| time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok())
            .ok_or("A payment date must be specified as YYYY-MM-DD.")?;
        let ms = date.midnight().assume_utc().unix_timestamp() * 1000;
        let amount = p["Amount"].as_f64().ok_or("A payment amount must be specified.")?;
        Ok((json_date(ms), amount))
    };
    if !per_record {
        let shaped: Vec<_> = inputs.iter().map(&shape).collect();
        if shaped.iter().any(Result::is_err) {
            return error(
                StatusCode::BAD_REQUEST,
                10,
                "ValidationException",
                "A validation exception occurred",
            );
        }
    }
    let mut out = Vec::new();
    for input in &inputs {
        let written = shape(input).and_then(|(date, amount)| {
            xero.insert_payment(&input["Invoice"], &input["Account"], amount, &date, now_ms())
        });
        out.push(match written {
            Ok(mut record) => {
                record["StatusAttributeString"] = json!("OK");
                record
            }
            Err(message) => refused_in_place(input, &message),
        });
    }
    answer("Payments", out)
}
