//! Fake PayPal REST APIs: Invoicing v2 (invoices) and Catalog Products v1 (products), with
//! the OAuth 2.0 client-credentials token endpoint on a second server.
//!
//! It follows PayPal's published OpenAPI descriptions (`paypal/invoicing_v2.json` and
//! `paypal/catalogs_products_v1.json` in the specs folder, which check every request and
//! response of the API server) and developer.paypal.com:
//!
//! * "Authentication" (`POST /v1/oauth2/token`, client id and secret as HTTP basic auth,
//!   `grant_type=client_credentials`; answers `{"scope", "access_token", "token_type":
//!   "Bearer", "app_id", "expires_in": 32400, "nonce"}`; a wrong client answers 401
//!   `{"error": "invalid_client", "error_description": "Client Authentication failed"}`). The
//!   token endpoint is not in the specs, so it runs unchecked on its own server.
//! * Lists are numbered pages (`page` from 1, `page_size` up to 100 for invoices and 20 for
//!   products) with `total_items` / `total_pages` only when `total_required=true`, and HATEOAS
//!   `links` (`self`, `next`). Invoices are listed oldest first (PayPal does not document
//!   the order; a stable order is what paging needs).
//! * `POST /v2/invoicing/search-invoices` filters on `creation_date_range` {start, end}
//!   (inclusive); other search fields are accepted and ignored.
//! * Invoice create and update answer the invoice with `Prefer: return=representation` and
//!   a bare `{"rel", "href", "method"}` link otherwise (PayPal's `return=minimal`). An
//!   `invoicer.email_address` other than the merchant's is refused with 422 `USER_NOT_FOUND`
//!   ("User is not associated with paypal based on invoicer email."), the refusal the spec
//!   documents for create; an unknown invoice id is 404 `RESOURCE_NOT_FOUND`.
//! * A bad or missing token is 401 `{"name": "AUTHENTICATION_FAILURE", ...}`.
//!
//! Assumed, not documented: invoice ids are `INV2-` and four groups of four characters (as in
//! the spec's examples); `create_time` has milliseconds.

// Request checks return the response the fake refuses with, built once per refused request:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::timestamp::{correlation_id, iso_ms, now_ms, parse_ms};

/// The REST app's client id.
pub const CLIENT_ID: &str = "AeFakePayPalClientId0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
/// The REST app's secret.
pub const CLIENT_SECRET: &str = "EFakePayPalSecret9876543210zyxwvutsrqponmlkjihgfedcbaZYXWVUTS";
/// The merchant's email address: the only invoicer PayPal knows for this account.
pub const MERCHANT_EMAIL: &str = "merchant@example.com";
/// The spec files, relative to the specs folder.
pub const SPEC_FILES: [&str; 2] = ["paypal/invoicing_v2.json", "paypal/catalogs_products_v1.json"];

/// The spec check the API server runs.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: SPEC_FILES.map(String::from).to_vec(),
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct PaypalConfig {
    /// Invoices seeded, two minutes apart, the newest two minutes ago.
    pub invoices: usize,
    /// Products seeded.
    pub products: usize,
    /// Check the API's traffic against the specs (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl Default for PaypalConfig {
    fn default() -> Self {
        Self {
            invoices: 0,
            products: 0,
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// The fake merchant account.
pub struct Paypal {
    /// Invoices in creation order.
    invoices: Mutex<Vec<Value>>,
    products: Mutex<Vec<Value>>,
    access_tokens: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
}

/// The API server and the OAuth server.
pub struct PaypalFake {
    pub api: FakeHandle<Paypal>,
    pub oauth: FakeHandle<Paypal>,
}

impl std::ops::Deref for PaypalFake {
    type Target = Paypal;

    fn deref(&self) -> &Paypal {
        &self.api
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts both servers on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the specs cannot be loaded.
pub fn start(config: PaypalConfig) -> PaypalFake {
    let state = Arc::new(Paypal {
        invoices: Mutex::new(Vec::new()),
        products: Mutex::new(Vec::new()),
        access_tokens: Mutex::new(Vec::new()),
        next_id: Mutex::new(0),
    });
    state.seed(&config);
    let routes = state.clone();
    let api = server::expect_started(
        "paypal",
        server::spawn(
            Spec {
                name: "paypal",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/v2/invoicing/invoices", get(list_invoices).post(create_invoice))
                    .route("/v2/invoicing/invoices/{invoice_id}", get(invoice).put(update_invoice))
                    .route("/v2/invoicing/search-invoices", post(search_invoices))
                    .route("/v1/catalogs/products", get(list_products))
                    .route("/v1/catalogs/products/{product_id}", get(product))
                    .with_state(routes)
            },
        ),
    );
    let oauth_state = state.clone();
    let oauth = server::expect_started(
        "paypal-oauth",
        server::spawn(
            Spec {
                name: "paypal-oauth",
                port: 0,
                state,
                faults: FaultConfig::default(),
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/v1/oauth2/token", post(token))
                    .with_state(oauth_state)
            },
        ),
    );
    PaypalFake { api, oauth }
}

impl Paypal {
    fn next(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    fn new_invoice_id(&self) -> String {
        let n = self.next();
        format!(
            "INV2-FAKE-{:04X}-{:04X}-{:04X}",
            (n >> 32) & 0xFFFF,
            (n >> 16) & 0xFFFF,
            n & 0xFFFF
        )
    }

    fn seed(&self, config: &PaypalConfig) {
        let now = now_ms();
        for n in 1..=config.invoices {
            let at = now - 120_000 * (config.invoices + 1 - n) as i64;
            let input = json!({
                "detail": {"invoice_number": format!("{n:05}"), "currency_code": "USD",
                    "invoice_date": "2026-11-01", "note": format!("Invoice {n}")},
                "invoicer": {"email_address": MERCHANT_EMAIL},
                "primary_recipients": [{"billing_info": {"email_address": format!("buyer{n}@example.com"),
                    "name": {"given_name": "Buyer", "surname": format!("Number {n}")}}}],
                "items": [{"name": "Consulting", "quantity": "1",
                    "unit_amount": {"currency_code": "USD", "value": format!("{}.00", 100 + n)}}],
            });
            let invoice = self.build_invoice(
                self.new_invoice_id(),
                input,
                at,
                at,
                if n % 3 == 0 { "SENT" } else { "DRAFT" },
            );
            lock(&self.invoices).push(invoice);
        }
        for n in 1..=config.products {
            let at = iso_ms(now - 60_000 * (config.products + 1 - n) as i64);
            lock(&self.products).push(json!({
                "id": format!("PROD-FAKE{n:06}"), "name": format!("Product {n}"),
                "description": format!("Description of product {n}"),
                "type": if n % 2 == 0 { "SERVICE" } else { "DIGITAL" }, "category": "SOFTWARE",
                "home_url": format!("https://shop.example.com/p/{n}"),
                "create_time": at, "update_time": at,
            }));
        }
    }

    /// An invoice as PayPal stores it: the input's fields, the id, status, metadata and the
    /// total of its items.
    fn build_invoice(&self, id: String, input: Value, created: i64, updated: i64, status: &str) -> Value {
        let mut invoice = match input {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let currency = invoice
            .get("detail")
            .and_then(|d| d.get("currency_code"))
            .and_then(Value::as_str)
            .unwrap_or("USD")
            .to_owned();
        let total: f64 = invoice
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|item| {
                let quantity = item["quantity"]
                    .as_str()
                    .and_then(|q| q.parse::<f64>().ok())
                    .unwrap_or(1.0);
                let unit = item["unit_amount"]["value"]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                quantity * unit
            })
            .sum();
        let detail = invoice.entry("detail").or_insert_with(|| json!({}));
        if detail.get("invoice_number").is_none() {
            detail["invoice_number"] = json!(format!("{:05}", 90_000 + self.next()));
        }
        detail["metadata"] = json!({
            "create_time": iso_ms(created), "created_by": MERCHANT_EMAIL,
            "last_update_time": iso_ms(updated), "last_updated_by": MERCHANT_EMAIL,
        });
        invoice.insert("id".into(), json!(id));
        invoice.insert("status".into(), json!(status));
        invoice.insert(
            "amount".into(),
            json!({"currency_code": currency, "value": format!("{total:.2}")}),
        );
        invoice.insert(
            "links".into(),
            json!([{"href": format!("https://api-m.paypal.com/v2/invoicing/invoices/{id}"), "rel": "self", "method": "GET"}]),
        );
        Value::Object(invoice)
    }

    /// An invoice by id.
    pub fn invoice_json(&self, id: &str) -> Option<Value> {
        lock(&self.invoices).iter().find(|i| i["id"] == id).cloned()
    }

    /// The first invoice with this invoice number.
    pub fn find_invoice(&self, number: &str) -> Option<Value> {
        lock(&self.invoices)
            .iter()
            .find(|i| i["detail"]["invoice_number"] == number)
            .cloned()
    }

    pub fn invoice_count(&self) -> usize {
        lock(&self.invoices).len()
    }

    /// Creates an invoice as a person in PayPal's dashboard would (created now); returns its id.
    pub fn insert_invoice(&self, number: &str, recipient: &str, value: &str) -> String {
        let id = self.new_invoice_id();
        let now = now_ms();
        let invoice = self.build_invoice(
            id.clone(),
            json!({
                "detail": {"invoice_number": number, "currency_code": "USD"},
                "primary_recipients": [{"billing_info": {"email_address": recipient}}],
                "items": [{"name": "Consulting", "quantity": "1", "unit_amount": {"currency_code": "USD", "value": value}}],
            }),
            now,
            now,
            "SENT",
        );
        lock(&self.invoices).push(invoice);
        id
    }

    /// A product as `GET /v1/catalogs/products/{id}` answers it.
    pub fn product_json(&self, id: &str) -> Option<Value> {
        lock(&self.products).iter().find(|p| p["id"] == id).cloned()
    }

    pub fn product_count(&self) -> usize {
        lock(&self.products).len()
    }

    /// Renames a product as a person would (`update_time` becomes now).
    pub fn rename_product(&self, id: &str, name: &str) -> Option<Value> {
        let mut products = lock(&self.products);
        let product = products.iter_mut().find(|p| p["id"] == id)?;
        product["name"] = json!(name);
        product["update_time"] = json!(iso_ms(now_ms()));
        Some(product.clone())
    }

    /// How many access tokens the OAuth server issued.
    pub fn grants(&self) -> usize {
        lock(&self.access_tokens).len()
    }
}

fn error(status: StatusCode, name: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({"name": name, "message": message, "debug_id": correlation_id()[..13].to_owned()});
    if let Some(details) = details {
        body["details"] = details;
    }
    (status, Json(body)).into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => error(
            status,
            "RATE_LIMIT_REACHED",
            "Too many requests. Blocked due to rate limiting.",
            None,
        ),
        _ => error(
            status,
            "INTERNAL_SERVER_ERROR",
            "An internal server error occurred.",
            None,
        ),
    }
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        "The specified resource does not exist.",
        None,
    )
}

fn invalid(field: &str, issue: &str, description: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "Request is not well-formed, syntactically incorrect, or violates schema.",
        Some(json!([{"field": field, "location": "body", "issue": issue, "description": description}])),
    )
}

fn authorized(paypal: &Paypal, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let known = token.is_some_and(|t| lock(&paypal.access_tokens).iter().any(|k| k == t));
    (!known).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
            None,
        )
    })
}

/// `POST /v1/oauth2/token`: the client-credentials grant, the client as basic auth.
async fn token(State(paypal): State<Arc<Paypal>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "Client Authentication failed"})),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"})),
        )
            .into_response();
    }
    let access = format!("A21AAFakePayPal{}x{}", paypal.next(), now_ms());
    lock(&paypal.access_tokens).push(access.clone());
    Json(json!({
        "scope": "https://uri.paypal.com/services/invoicing https://uri.paypal.com/services/subscriptions",
        "access_token": access,
        "token_type": "Bearer",
        "app_id": "APP-80W284485P519543T",
        "expires_in": 32400,
        "nonce": format!("{}Z$fake", iso_ms(now_ms())),
    }))
    .into_response()
}

type Params = Query<BTreeMap<String, String>>;

/// `page` and `page_size` as PayPal validates them.
fn paging(
    query: &BTreeMap<String, String>,
    max_page: usize,
    max_size: usize,
    default_size: usize,
) -> Result<(usize, usize), Response> {
    let number = |name: &str, default: usize, max: usize| match query.get(name) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(invalid(
                name,
                "INVALID_PARAMETER_VALUE",
                &format!("The value of {name} must be between 1 and {max}."),
            )),
        },
    };
    Ok((
        number("page", 1, max_page)?,
        number("page_size", default_size, max_size)?,
    ))
}

/// One page of `objects` under `key`, with totals when asked and HATEOAS links.
fn page_of(
    path: &str,
    query: &BTreeMap<String, String>,
    key: &str,
    objects: Vec<Value>,
    page: usize,
    size: usize,
) -> Response {
    let total = objects.len();
    let pages = total.div_ceil(size);
    let items: Vec<Value> = objects.into_iter().skip((page - 1) * size).take(size).collect();
    let link = |p: usize, rel: &str| json!({"href": format!("https://api-m.paypal.com{path}?page={p}&page_size={size}"), "rel": rel, "method": "GET"});
    let mut links = vec![link(page, "self")];
    if page < pages {
        links.push(link(page + 1, "next"));
    }
    let mut body = Map::new();
    body.insert(key.to_owned(), json!(items));
    body.insert("links".into(), json!(links));
    let mut body = Value::Object(body);
    if query.get("total_required").map(String::as_str) == Some("true") {
        body["total_items"] = json!(total);
        body["total_pages"] = json!(pages);
    }
    Json(body).into_response()
}

/// `GET /v2/invoicing/invoices`.
async fn list_invoices(State(paypal): State<Arc<Paypal>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&paypal, &headers) {
        return r;
    }
    let (page, size) = match paging(&query, 1000, 100, 20) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let invoices = lock(&paypal.invoices).clone();
    page_of("/v2/invoicing/invoices", &query, "items", invoices, page, size)
}

/// `POST /v2/invoicing/search-invoices`: `creation_date_range` filters, inclusive.
async fn search_invoices(
    State(paypal): State<Arc<Paypal>>,
    Query(query): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&paypal, &headers) {
        return r;
    }
    let (page, size) = match paging(&query, 1000, 100, 20) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let search: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return invalid("", "MALFORMED_REQUEST_JSON", "The request JSON is not well formed."),
        }
    };
    let range = match search.get("creation_date_range") {
        None => None,
        Some(range) => {
            let bound = |name: &str| range.get(name).and_then(Value::as_str).and_then(parse_ms);
            match (bound("start"), bound("end")) {
                (Some(start), Some(end)) => Some((start, end)),
                _ => {
                    return invalid(
                        "/creation_date_range",
                        "INVALID_PARAMETER_SYNTAX",
                        "Creation date range needs a start and an end date and time.",
                    )
                }
            }
        }
    };
    let invoices: Vec<Value> = lock(&paypal.invoices)
        .iter()
        .filter(|i| {
            range.is_none_or(|(start, end)| {
                i["detail"]["metadata"]["create_time"]
                    .as_str()
                    .and_then(parse_ms)
                    .is_some_and(|at| at >= start && at <= end)
            })
        })
        .cloned()
        .collect();
    page_of("/v2/invoicing/search-invoices", &query, "items", invoices, page, size)
}

/// `GET /v2/invoicing/invoices/{invoice_id}`.
async fn invoice(State(paypal): State<Arc<Paypal>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&paypal, &headers) {
        return r;
    }
    match paypal.invoice_json(&id) {
        Some(invoice) => Json(invoice).into_response(),
        None => not_found(),
    }
}

fn wants_representation(headers: &HeaderMap) -> bool {
    headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "return=representation"))
}

/// The invoice body of a create or update, refused as PayPal would.
fn invoice_input(body: &Bytes) -> Result<Value, Response> {
    let input: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Err(invalid(
                "",
                "MALFORMED_REQUEST_JSON",
                "The request JSON is not well formed.",
            ))
        }
    };
    if input["detail"]["currency_code"].as_str().is_none() {
        return Err(invalid(
            "/detail/currency_code",
            "MISSING_REQUIRED_PARAMETER",
            "A required field / parameter is missing.",
        ));
    }
    if let Some(email) = input["invoicer"]["email_address"].as_str() {
        if !email.eq_ignore_ascii_case(MERCHANT_EMAIL) {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed, semantically incorrect, or failed business validation.",
                Some(json!([{"issue": "USER_NOT_FOUND",
                    "description": "User is not associated with paypal based on invoicer email."}])),
            ));
        }
    }
    Ok(input)
}

fn answer(status: StatusCode, headers: &HeaderMap, invoice: Value) -> Response {
    if wants_representation(headers) {
        return (status, Json(invoice)).into_response();
    }
    let id = invoice["id"].as_str().unwrap_or_default();
    (
        status,
        Json(json!({"rel": "self", "href": format!("https://api-m.paypal.com/v2/invoicing/invoices/{id}"), "method": "GET"})),
    )
        .into_response()
}

/// `POST /v2/invoicing/invoices`: a draft invoice.
async fn create_invoice(State(paypal): State<Arc<Paypal>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = authorized(&paypal, &headers) {
        return r;
    }
    let input = match invoice_input(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let now = now_ms();
    let invoice = paypal.build_invoice(paypal.new_invoice_id(), input, now, now, "DRAFT");
    lock(&paypal.invoices).push(invoice.clone());
    answer(StatusCode::CREATED, &headers, invoice)
}

/// `PUT /v2/invoicing/invoices/{invoice_id}`: replaces the invoice; id, status and creation
/// time are kept.
async fn update_invoice(
    State(paypal): State<Arc<Paypal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&paypal, &headers) {
        return r;
    }
    let Some(old) = paypal.invoice_json(&id) else {
        return not_found();
    };
    let input = match invoice_input(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let created = old["detail"]["metadata"]["create_time"]
        .as_str()
        .and_then(parse_ms)
        .unwrap_or_default();
    let status = old["status"].as_str().unwrap_or("DRAFT").to_owned();
    let invoice = paypal.build_invoice(id.clone(), input, created, now_ms(), &status);
    let mut invoices = lock(&paypal.invoices);
    if let Some(slot) = invoices.iter_mut().find(|i| i["id"] == id.as_str()) {
        *slot = invoice.clone();
    }
    drop(invoices);
    answer(StatusCode::OK, &headers, invoice)
}

/// `GET /v1/catalogs/products`: collection elements (id, name, description, create_time).
async fn list_products(State(paypal): State<Arc<Paypal>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&paypal, &headers) {
        return r;
    }
    let (page, size) = match paging(&query, 100_000, 20, 10) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let products: Vec<Value> = lock(&paypal.products)
        .iter()
        .map(|p| {
            json!({"id": p["id"], "name": p["name"], "description": p["description"], "create_time": p["create_time"],
                "links": [{"href": format!("https://api-m.paypal.com/v1/catalogs/products/{}", p["id"].as_str().unwrap_or_default()),
                    "rel": "self", "method": "GET"}]})
        })
        .collect();
    page_of("/v1/catalogs/products", &query, "products", products, page, size)
}

/// `GET /v1/catalogs/products/{product_id}`.
async fn product(State(paypal): State<Arc<Paypal>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&paypal, &headers) {
        return r;
    }
    match paypal.product_json(&id) {
        Some(product) => Json(product).into_response(),
        None => not_found(),
    }
}
