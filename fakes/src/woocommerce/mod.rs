//! Fake WooCommerce REST API v3: customers, orders and products under `/wp-json/wc/v3`.
//!
//! WooCommerce publishes no OpenAPI description; the specs folder holds its REST API
//! documentation pages (`woocommerce/_customers.md`, `_orders.md`, `_products.md`, from
//! woocommerce/woocommerce-rest-api-docs). This fake follows them and checks traffic against
//! them at run time ([`docs`]): records take the shape of each page's "Retrieve" JSON example;
//! every list request's query parameters must be in the page's "Available parameters" table
//! (with the documented type and `Options`); every write body's fields must be documented,
//! writable, of the documented type and among the `Options`; every resource answered must have
//! only documented properties of the documented types. Departures are recorded on
//! `handle.violations`.
//!
//! As the docs describe it ("Pagination", "Authentication", "Errors", the resource pages):
//!
//! * auth: the consumer key and secret as HTTP basic auth (over HTTPS); anything else is 401
//!   `{"code": "woocommerce_rest_cannot_view", "message": ..., "data": {"status": 401}}`;
//! * lists: `page` (from 1) and `per_page` (1 to 100, default 10) answer a bare JSON array
//!   with `X-WP-Total` and `X-WP-TotalPages` headers; `orderby` / `order`; orders and products
//!   take `modified_after` (ISO 8601, strictly after; with `dates_are_gmt=true` compared with
//!   `date_modified_gmt`); customers are the `customer` role;
//! * `GET /{kind}/{id}`, `PUT /{kind}/{id}`, `POST /customers` (201, `email` mandatory);
//! * errors are `{"code", "message", "data": {"status"}}`.
//!
//! What it assumes where the docs say nothing precise:
//!
//! * the site's timezone is UTC, so `date_modified` equals `date_modified_gmt`; times are
//!   whole seconds;
//! * a missing id is 404 `woocommerce_rest_invalid_id` ("Invalid ID."), for reads and writes;
//! * a customer whose email is already registered is refused with 400
//!   `registration-error-email-exists` (WooCommerce's message); a product whose `sku` another
//!   product has is refused with 400 `product_invalid_sku` ("Invalid or duplicated SKU.");
//! * a body failing the documented types or options is 400 `rest_invalid_param` (WordPress
//!   validates arguments against the route's schema), and is also recorded as a violation;
//! * a page past the last answers an empty array.

pub mod docs;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::now_ms;

use docs::ResourceDoc;

/// The REST API keys the default configuration accepts.
pub const CONSUMER_KEY: &str = "ck_fake0123456789abcdef0123456789abcdef01";
pub const CONSUMER_SECRET: &str = "cs_fake0123456789abcdef0123456789abcdef01";

/// Where the API lives under the fake's base URL.
pub const API_ROOT: &str = "/wp-json/wc/v3";

const MAX_PER_PAGE: usize = 100;

/// The three resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Customers,
    Orders,
    Products,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Customers, Kind::Orders, Kind::Products];

    fn from_path(segment: &str) -> Option<Kind> {
        match segment {
            "customers" => Some(Kind::Customers),
            "orders" => Some(Kind::Orders),
            "products" => Some(Kind::Products),
            _ => None,
        }
    }

    fn segment(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Orders => "orders",
            Kind::Products => "products",
        }
    }

    /// `(file, property table, list section, retrieve section)` of its documentation page.
    fn doc(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Kind::Customers => ("_customers.md", "Customer", "List all customers", "Retrieve a customer"),
            Kind::Orders => ("_orders.md", "Order", "List all orders", "Retrieve an order"),
            Kind::Products => ("_products.md", "Product", "List all products", "Retrieve a product"),
        }
    }
}

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct WooConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Records seeded per kind, spread over the past hour (oldest first).
    pub records: usize,
    pub faults: FaultConfig,
}

#[derive(Default)]
struct Store {
    items: BTreeMap<Kind, BTreeMap<u64, Value>>,
    next_id: u64,
    last_secs: i64,
}

impl Store {
    /// A write clock in whole seconds that never goes back.
    fn tick(&mut self) -> i64 {
        self.last_secs = (now_ms() / 1000).max(self.last_secs);
        self.last_secs
    }
}

/// The fake store's state.
pub struct WooCommerce {
    docs: BTreeMap<Kind, ResourceDoc>,
    store: Mutex<Store>,
    violations: Arc<ViolationLog>,
    base_url: Mutex<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a fake WooCommerce on a free loopback port (or `config.port`); its API is under
/// `{base_url}/wp-json/wc/v3`.
///
/// # Panics
/// When the loopback port cannot be bound or the documentation pages cannot be read.
pub fn start(config: WooConfig) -> FakeHandle<WooCommerce> {
    server::expect_started("woocommerce", try_start(config))
}

/// Starts a fake WooCommerce, reporting a bind or documentation failure.
pub fn try_start(config: WooConfig) -> io::Result<FakeHandle<WooCommerce>> {
    let mut pages = BTreeMap::new();
    for kind in Kind::ALL {
        let (file, resource, list, retrieve) = kind.doc();
        pages.insert(
            kind,
            docs::load(file, resource, list, retrieve).map_err(io::Error::other)?,
        );
    }
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(WooCommerce {
        docs: pages,
        store: Mutex::new(Store {
            next_id: 100,
            ..Store::default()
        }),
        violations: violations.clone(),
        base_url: Mutex::new(String::new()),
    });
    state.seed(config.records);
    let spec = Spec {
        name: "woocommerce",
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
            .route(&format!("{API_ROOT}/{{kind}}"), get(list).post(create))
            .route(&format!("{API_ROOT}/{{kind}}/{{id}}"), get(read).put(update))
            .with_state(state)
    })
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a unix time in seconds.
pub fn wc_datetime(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
                .ok()
        })
        .unwrap_or_default()
}

/// Reads ISO 8601 as `modified_after` takes it: with or without an offset (none: UTC).
fn parse_iso(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp());
    }
    time::PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()
    .map(|t| t.assume_utc().unix_timestamp())
}

impl WooCommerce {
    /// Every record of a kind, by id.
    pub fn items(&self, kind: Kind) -> Vec<Value> {
        lock(&self.store)
            .items
            .get(&kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One record by id.
    pub fn item(&self, kind: Kind, id: &str) -> Option<Value> {
        let id: u64 = id.parse().ok()?;
        lock(&self.store).items.get(&kind)?.get(&id).cloned()
    }

    /// Records of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        lock(&self.store).items.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Changes a record directly (no HTTP), as a shop manager would in wp-admin: the fields
    /// are merged and `date_modified` moves to now.
    pub fn update(&self, kind: Kind, id: &str, fields: Value) -> Option<Value> {
        let id: u64 = id.parse().ok()?;
        let mut store = lock(&self.store);
        let at = store.tick();
        let item = store.items.get_mut(&kind)?.get_mut(&id)?;
        if let (Some(item), Value::Object(fields)) = (item.as_object_mut(), fields) {
            item.extend(fields);
        }
        touch(item, at);
        Some(item.clone())
    }

    /// Creates a customer directly (no HTTP), as a sign-up at checkout would.
    pub fn insert_customer(&self, email: &str, first_name: &str, last_name: &str) -> Value {
        let mut store = lock(&self.store);
        let at = store.tick();
        let record = self.new_customer(&mut store, email, first_name, last_name, at);
        store
            .items
            .entry(Kind::Customers)
            .or_default()
            .insert(id_of(&record), record.clone());
        record
    }

    /// Every departure from the documentation seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn links(&self, kind: Kind, id: u64) -> Value {
        let base = format!("{}{API_ROOT}/{}", lock(&self.base_url), kind.segment());
        json!({"self": [{"href": format!("{base}/{id}")}], "collection": [{"href": base}]})
    }

    fn templated(&self, store: &mut Store, kind: Kind, at: i64) -> Value {
        store.next_id += 1;
        let id = store.next_id;
        let mut item = self.docs[&kind].example.clone();
        item["id"] = json!(id);
        item["_links"] = self.links(kind, id);
        item["date_created"] = json!(wc_datetime(at));
        item["date_created_gmt"] = json!(wc_datetime(at));
        touch(&mut item, at);
        item
    }

    fn new_customer(&self, store: &mut Store, email: &str, first: &str, last: &str, at: i64) -> Value {
        let mut item = self.templated(store, Kind::Customers, at);
        item["email"] = json!(email);
        item["first_name"] = json!(first);
        item["last_name"] = json!(last);
        item["username"] = json!(email.split('@').next().unwrap_or(email));
        item["billing"]["first_name"] = json!(first);
        item["billing"]["last_name"] = json!(last);
        item["billing"]["email"] = json!(email);
        item["shipping"]["first_name"] = json!(first);
        item["shipping"]["last_name"] = json!(last);
        item
    }

    fn seed(&self, records: usize) {
        let now = now_ms() / 1000;
        let mut store = lock(&self.store);
        for n in 1..=records {
            // 13 s apart, the newest ten minutes ago: no two an exact minute apart, so a
            // lookback window never starts exactly on a record.
            let at = now - 600 - ((records - n) as i64) * 13;
            let customer = self.new_customer(
                &mut store,
                &format!("customer{n}@example.com"),
                "Customer",
                &format!("Number {n}"),
                at,
            );
            let customer_id = id_of(&customer);
            let mut order = self.templated(&mut store, Kind::Orders, at);
            let order_id = id_of(&order);
            order["number"] = json!(order_id.to_string());
            order["customer_id"] = json!(customer_id);
            order["billing"]["email"] = customer["email"].clone();
            order["billing"]["last_name"] = json!(format!("Number {n}"));
            let mut product = self.templated(&mut store, Kind::Products, at);
            product["name"] = json!(format!("Product {n}"));
            product["slug"] = json!(format!("product-{n}"));
            product["sku"] = json!(format!("SKU-{n:04}"));
            for (kind, item) in [
                (Kind::Customers, customer),
                (Kind::Orders, order),
                (Kind::Products, product),
            ] {
                store.items.entry(kind).or_default().insert(id_of(&item), item);
            }
        }
    }

    fn check_out(&self, kind: Kind, method: &str, path: &str, resource: &Value) {
        let found = self.docs[&kind].check_resource(&format!("{method} {}", kind.segment()), method, path, resource);
        self.violations.record("woocommerce", found);
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(encoded) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        decoded == format!("{CONSUMER_KEY}:{CONSUMER_SECRET}").as_bytes()
    }
}

fn id_of(item: &Value) -> u64 {
    item["id"].as_u64().expect("records have integer ids")
}

fn touch(item: &mut Value, at: i64) {
    item["date_modified"] = json!(wc_datetime(at));
    item["date_modified_gmt"] = json!(wc_datetime(at));
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "data": {"status": status.as_u16()}})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    error(status, "switchyard_injected_fault", "Injected fault.")
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "woocommerce_rest_cannot_view",
        "Sorry, you cannot list resources.",
    )
}

fn no_route() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "rest_no_route",
        "No route was found matching the URL and request method.",
    )
}

fn invalid_id() -> Response {
    error(StatusCode::NOT_FOUND, "woocommerce_rest_invalid_id", "Invalid ID.")
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn invalid_param(name: &str, why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"code": "rest_invalid_param", "message": format!("Invalid parameter(s): {name}"),
            "data": {"status": 400, "params": {name: why}}}),
        ),
    )
        .into_response()
}

async fn list(
    State(fake): State<Arc<WooCommerce>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !fake.authorized(&headers) {
        return unauthorized();
    }
    let Some(kind) = Kind::from_path(&kind) else {
        return no_route();
    };
    let path = format!("{API_ROOT}/{}", kind.segment());
    let pairs = query_pairs(query.as_deref());
    let found = fake.docs[&kind].check_query(&format!("GET {}", kind.segment()), &path, &pairs);
    fake.violations.record("woocommerce", found);
    let page = match param(&pairs, "page").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return invalid_param("page", "page must be greater than or equal to 1"),
    };
    let per_page = match param(&pairs, "per_page").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(p)) if (1..=MAX_PER_PAGE).contains(&p) => p,
        _ => return invalid_param("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)"),
    };
    let gmt = param(&pairs, "dates_are_gmt").is_some_and(|v| v == "true" || v == "1");
    let after = match param(&pairs, "modified_after") {
        None => None,
        Some(text) => match parse_iso(text) {
            Some(t) => Some(t),
            None => return invalid_param("modified_after", "Invalid date."),
        },
    };
    let store = lock(&fake.store);
    let mut items: Vec<Value> = store
        .items
        .get(&kind)
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    drop(store);
    if let Some(after) = after {
        // The site's timezone is UTC: both fields read the same.
        let field = if gmt { "date_modified_gmt" } else { "date_modified" };
        items.retain(|i| i[field].as_str().and_then(parse_iso).is_some_and(|t| t > after));
    }
    let default_order = if kind == Kind::Customers { "name" } else { "date" };
    let orderby = param(&pairs, "orderby").unwrap_or(default_order);
    let key = |i: &Value| -> (String, u64) {
        let text = |field: &str| i.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
        match orderby {
            "id" | "include" => (String::new(), id_of(i)),
            "name" | "title" | "slug" if kind == Kind::Customers => (text("last_name"), id_of(i)),
            "name" | "title" | "slug" => (text("name"), id_of(i)),
            _ => (text("date_created_gmt"), id_of(i)),
        }
    };
    items.sort_by_key(key);
    let descending = match param(&pairs, "order") {
        Some("desc") => true,
        None => kind != Kind::Customers,
        _ => false,
    };
    if descending {
        items.reverse();
    }
    let total = items.len();
    let pages = total.div_ceil(per_page);
    let page_items: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    for item in &page_items {
        fake.check_out(kind, "GET", &path, item);
    }
    let mut response = Json(Value::Array(page_items)).into_response();
    for (name, value) in [("x-wp-total", total), ("x-wp-totalpages", pages)] {
        if let Ok(value) = axum::http::HeaderValue::try_from(value.to_string()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn read(
    State(fake): State<Arc<WooCommerce>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !fake.authorized(&headers) {
        return unauthorized();
    }
    let Some(kind) = Kind::from_path(&kind) else {
        return no_route();
    };
    match fake.item(kind, &id) {
        Some(item) => {
            fake.check_out(kind, "GET", &format!("{API_ROOT}/{}/{id}", kind.segment()), &item);
            Json(item).into_response()
        }
        None => invalid_id(),
    }
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_json",
            "Invalid JSON body passed.",
        ))),
    }
}

/// Records the body's departures from the docs; the first one, if any, as WordPress's 400.
fn check_body(
    fake: &WooCommerce,
    kind: Kind,
    method: &str,
    path: &str,
    body: &Map<String, Value>,
    id: Option<u64>,
) -> Result<(), Box<Response>> {
    let found = fake.docs[&kind].check_body(&format!("{method} {}", kind.segment()), method, path, body, id);
    let first = found
        .first()
        .map(|v| Box::new(invalid_param(v.pointer.trim_start_matches("/body/"), &v.message)));
    fake.violations.record("woocommerce", found);
    first.map_or(Ok(()), Err)
}

async fn create(
    State(fake): State<Arc<WooCommerce>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !fake.authorized(&headers) {
        return unauthorized();
    }
    // Only customers are created here (the connector writes no new orders or products).
    if Kind::from_path(&kind) != Some(Kind::Customers) {
        return no_route();
    }
    let path = format!("{API_ROOT}/customers");
    let fields = match body_object(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    if let Err(response) = check_body(&fake, Kind::Customers, "POST", &path, &fields, None) {
        return *response;
    }
    let email = fields
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if email.is_empty() {
        fake.violations.record(
            "woocommerce",
            vec![Violation::new(
                "POST customers",
                Direction::Request,
                "POST",
                &path,
                "/body/email",
                "`email` is mandatory",
            )],
        );
        return invalid_param("email", "email is required");
    }
    if !email.contains('@') {
        return error(
            StatusCode::BAD_REQUEST,
            "registration-error-invalid-email",
            "Please provide a valid email address.",
        );
    }
    let mut store = lock(&fake.store);
    let taken = store.items.get(&Kind::Customers).is_some_and(|m| {
        m.values()
            .any(|c| c["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&email)))
    });
    if taken {
        return error(
            StatusCode::BAD_REQUEST,
            "registration-error-email-exists",
            "An account is already registered with your email address. Please log in.",
        );
    }
    let at = store.tick();
    let mut item = fake.new_customer(&mut store, &email, "", "", at);
    merge_fields(&mut item, fields);
    store
        .items
        .entry(Kind::Customers)
        .or_default()
        .insert(id_of(&item), item.clone());
    drop(store);
    fake.check_out(Kind::Customers, "POST", &path, &item);
    (StatusCode::CREATED, Json(item)).into_response()
}

/// Merges written fields; objects (billing, shipping) field by field, as WooCommerce does.
fn merge_fields(item: &mut Value, fields: Map<String, Value>) {
    for (key, value) in fields {
        if key == "id" {
            continue;
        }
        match (item.get_mut(&key), value) {
            (Some(Value::Object(current)), Value::Object(patch)) => current.extend(patch),
            (_, value) => item[&key] = value,
        }
    }
}

async fn update(
    State(fake): State<Arc<WooCommerce>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !fake.authorized(&headers) {
        return unauthorized();
    }
    let Some(kind) = Kind::from_path(&kind) else {
        return no_route();
    };
    let path = format!("{API_ROOT}/{}/{id}", kind.segment());
    let Ok(id) = id.parse::<u64>() else {
        return invalid_id();
    };
    let fields = match body_object(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    if let Err(response) = check_body(&fake, kind, "PUT", &path, &fields, Some(id)) {
        return *response;
    }
    let mut store = lock(&fake.store);
    if !store.items.get(&kind).is_some_and(|m| m.contains_key(&id)) {
        return invalid_id();
    }
    if let Some(sku) = fields.get("sku").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let duplicate = store
            .items
            .get(&kind)
            .is_some_and(|m| m.iter().any(|(other, p)| *other != id && p["sku"] == sku));
        if duplicate {
            return error(
                StatusCode::BAD_REQUEST,
                "product_invalid_sku",
                "Invalid or duplicated SKU.",
            );
        }
    }
    if kind == Kind::Customers {
        if let Some(email) = fields.get("email").and_then(Value::as_str) {
            let taken = store.items.get(&kind).is_some_and(|m| {
                m.iter().any(|(other, c)| {
                    *other != id && c["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email))
                })
            });
            if taken {
                return error(
                    StatusCode::BAD_REQUEST,
                    "registration-error-email-exists",
                    "An account is already registered with your email address. Please log in.",
                );
            }
        }
    }
    let at = store.tick();
    let item = store
        .items
        .get_mut(&kind)
        .and_then(|m| m.get_mut(&id))
        .expect("checked above");
    merge_fields(item, fields);
    if kind == Kind::Products {
        if let Some(price) = item.get("regular_price").cloned() {
            if item["sale_price"].as_str().is_none_or(str::is_empty) {
                item["price"] = price;
            }
        }
    }
    touch(item, at);
    let item = item.clone();
    drop(store);
    fake.check_out(kind, "PUT", &path, &item);
    Json(item).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_without_a_zone_and_modified_after_takes_either_form() {
        assert_eq!(wc_datetime(1_490_123_343), "2017-03-21T19:09:03");
        assert_eq!(parse_iso("2017-03-21T19:09:03"), Some(1_490_123_343));
        assert_eq!(parse_iso("2017-03-21T19:09:03Z"), Some(1_490_123_343));
        assert_eq!(parse_iso("2017-03-21"), None);
    }

    #[test]
    fn the_documentation_pages_load_and_their_examples_pass_their_own_tables() {
        for kind in Kind::ALL {
            let (file, resource, list, retrieve) = kind.doc();
            let doc = docs::load(file, resource, list, retrieve).unwrap_or_else(|e| panic!("{e}"));
            assert!(doc.properties.contains_key("date_modified_gmt"), "{kind:?}");
            assert!(doc.list_parameters.contains_key("per_page"), "{kind:?}");
            let found = doc.check_resource("get", "GET", "/", &doc.example);
            assert!(found.is_empty(), "{kind:?}: {found:#?}");
        }
    }
}
