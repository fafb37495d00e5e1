//! Fake Magento 2 / Adobe Commerce REST API: customers, orders and products searched with
//! `searchCriteria`, customers read, created and saved, and the store views (the connection
//! check), under `/V1`. Every request and response is checked against
//! `magento/magento.cart.openapi.yml` with the operations it lacks added from Adobe's REST
//! reference (`spec_patches.yaml`, each with its reason).
//!
//! As Adobe documents it (developer.adobe.com/commerce/webapi/rest: "Search using REST
//! endpoints", "Token-based authentication", the repository references):
//!
//! * auth: an integration or admin token as `Authorization: Bearer`; anything else is 401
//!   `{"message": "The consumer isn't authorized to access %resources.", "parameters": ...}`;
//! * searches take `searchCriteria[currentPage]` (from 1), `[pageSize]`, `[sortOrders][0]`
//!   and one filter `[filterGroups][0][filters][0]` (`field`, `value`, `conditionType`: `eq`,
//!   `gt`, `gteq`, `lt`, `lteq`), and answer `{"items", "search_criteria", "total_count"}`;
//!   a page past the end answers the last page again (the repositories clamp the page);
//! * times are UTC `YYYY-MM-DD HH:MM:SS`;
//! * errors are `{"message": "...%name...", "parameters": {"name": ...}}`: 404 `No such entity
//!   with %fieldName = %fieldValue` for a missing customer or order, 404 for a missing product,
//!   400 for a customer email already used in the website.
//!
//! What it assumes: one website, store and store view (ids 1); filters only on `updated_at`,
//! `created_at`, `email` and `entity_id`; a customer save replaces the customer's fields given
//! and keeps the rest.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::timestamp::now_ms;

/// The access token the default configuration accepts.
pub const TEST_TOKEN: &str = "fake-magento-integration-token-0123456789";

const MAX_PAGE_SIZE: usize = 300;

/// The three searchable kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Customers,
    Orders,
    Products,
}

impl Kind {
    fn id_field(self) -> &'static str {
        match self {
            Kind::Customers | Kind::Products => "id",
            Kind::Orders => "entity_id",
        }
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct MagentoConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Records seeded per kind, spread over the past hour (oldest first).
    pub records: usize,
    pub faults: FaultConfig,
    /// Check traffic against the spec; on by default.
    pub spec_check: Option<SpecCheck>,
}

impl Default for MagentoConfig {
    fn default() -> Self {
        Self {
            port: 0,
            records: 0,
            faults: FaultConfig::default(),
            spec_check: Some(spec_check()),
        }
    }
}

/// The B2B cart description with the operations the connector uses added.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec!["magento/magento.cart.openapi.yml".into()],
        patches: serde_yaml::from_str(SPEC_PATCHES).expect("the Magento spec patches parse"),
        ..SpecCheck::default()
    }
}

const SPEC_PATCHES: &str = include_str!("spec_patches.yaml");

#[derive(Default)]
struct Store {
    items: BTreeMap<Kind, BTreeMap<u64, Value>>,
    next_id: u64,
    last_secs: i64,
}

impl Store {
    fn tick(&mut self) -> i64 {
        self.last_secs = (now_ms() / 1000).max(self.last_secs);
        self.last_secs
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The fake shop's state.
pub struct Magento {
    store: Mutex<Store>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a fake Magento on a free loopback port (or `config.port`); the REST root (the
/// connection's base URL) is the fake's base URL.
///
/// # Panics
/// When the loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: MagentoConfig) -> FakeHandle<Magento> {
    server::expect_started("magento", try_start(config))
}

/// Starts a fake Magento, reporting a bind or spec failure.
pub fn try_start(config: MagentoConfig) -> io::Result<FakeHandle<Magento>> {
    let state = Arc::new(Magento {
        store: Mutex::new(Store::default()),
    });
    state.seed(config.records);
    let spec = Spec {
        name: "magento",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: config.spec_check,
        violations: Default::default(),
        respond: fault,
    };
    server::spawn(spec, move |_| {
        Router::new()
            .route("/V1/store/storeViews", get(store_views))
            .route("/V1/customers/search", get(search_customers))
            .route("/V1/customers", post(create_customer))
            .route("/V1/customers/{id}", get(read_customer).put(save_customer))
            .route("/V1/orders", get(search_orders))
            .route("/V1/orders/{id}", get(read_order))
            .route("/V1/products", get(search_products))
            .route("/V1/products/{sku}", get(read_product))
            .with_state(state)
    })
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of unix seconds.
pub fn magento_datetime(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
                .ok()
        })
        .unwrap_or_default()
}

impl Magento {
    /// Every record of a kind, by id.
    pub fn items(&self, kind: Kind) -> Vec<Value> {
        lock(&self.store)
            .items
            .get(&kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A customer or order by id, a product by SKU.
    pub fn item(&self, kind: Kind, key: &str) -> Option<Value> {
        let store = lock(&self.store);
        let items = store.items.get(&kind)?;
        match kind {
            Kind::Products => items.values().find(|p| p["sku"] == key).cloned(),
            _ => items.get(&key.parse().ok()?).cloned(),
        }
    }

    pub fn count(&self, kind: Kind) -> usize {
        lock(&self.store).items.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Changes a record directly (no HTTP), as the admin panel would: fields merged,
    /// `updated_at` now. `key` as for [`Self::item`].
    pub fn update(&self, kind: Kind, key: &str, fields: Value) -> Option<Value> {
        let mut store = lock(&self.store);
        let at = store.tick();
        let items = store.items.get_mut(&kind)?;
        let item = match kind {
            Kind::Products => items.values_mut().find(|p| p["sku"] == key)?,
            _ => items.get_mut(&key.parse().ok()?)?,
        };
        if let (Some(item), Value::Object(fields)) = (item.as_object_mut(), fields) {
            item.extend(fields);
        }
        item["updated_at"] = json!(magento_datetime(at));
        Some(item.clone())
    }

    fn seed(&self, records: usize) {
        let now = now_ms() / 1000;
        let mut store = lock(&self.store);
        for n in 1..=records {
            // 13 s apart, the newest ten minutes ago (never exactly a minute apart).
            let at = now - 600 - ((records - n) as i64) * 13;
            let time = magento_datetime(at);
            let id = store.new_id();
            let customer = json!({"id": id, "group_id": 1, "created_at": time, "updated_at": time,
                "created_in": "Default Store View", "email": format!("customer{n}@example.com"),
                "firstname": "Customer", "lastname": format!("Number {n}"), "store_id": 1,
                "website_id": 1, "addresses": [], "disable_auto_group_change": 0});
            let order_id = store.new_id();
            let order = json!({"entity_id": order_id, "increment_id": format!("{:09}", order_id),
                "state": "processing", "status": "processing", "customer_id": id,
                "customer_email": customer["email"], "customer_firstname": "Customer",
                "customer_lastname": format!("Number {n}"), "customer_is_guest": 0,
                "base_grand_total": 42.5, "grand_total": 42.5, "order_currency_code": "USD",
                "store_id": 1, "total_item_count": 1, "created_at": time, "updated_at": time});
            let product_id = store.new_id();
            let product = json!({"id": product_id, "sku": format!("MG-{n:04}"), "name": format!("Product {n}"),
                "attribute_set_id": 4, "price": 19.99, "status": 1, "visibility": 4, "type_id": "simple",
                "weight": 1.0, "created_at": time, "updated_at": time});
            store.items.entry(Kind::Customers).or_default().insert(id, customer);
            store.items.entry(Kind::Orders).or_default().insert(order_id, order);
            store
                .items
                .entry(Kind::Products)
                .or_default()
                .insert(product_id, product);
        }
    }
}

fn error(status: StatusCode, message: &str, parameters: Value) -> Response {
    let mut body = json!({ "message": message });
    if !parameters.is_null() {
        body["parameters"] = parameters;
    }
    (status, Json(body)).into_response()
}

fn fault(status: StatusCode) -> Response {
    error(status, "Injected fault.", Value::Null)
}

/// The 401 for a request without the token, `None` for one with it.
fn unauthorized(headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    (token != Some(TEST_TOKEN)).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "The consumer isn't authorized to access %resources.",
            json!({"resources": "Magento_Customer::customer"}),
        )
    })
}

fn no_such_entity(field: &str, value: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "No such entity with %fieldName = %fieldValue",
        json!({"fieldName": field, "fieldValue": value}),
    )
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message, Value::Null)
}

/// A search: the records matching the filter, sorted and paged as Magento does.
fn search(fake: &Magento, kind: Kind, query: Option<&str>) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let number = |name: &str, default: usize| match param(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Box::new(bad_request(&format!("\"{name}\" is not a number.")))),
    };
    let page_size = match number("searchCriteria[pageSize]", 20) {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
        Ok(_) => return bad_request("Maximum SearchCriteria pageSize is 300"),
        Err(response) => return *response,
    };
    let current = match number("searchCriteria[currentPage]", 1) {
        Ok(n) => n.max(1),
        Err(response) => return *response,
    };
    let mut items: Vec<Value> = lock(&fake.store)
        .items
        .get(&kind)
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    let mut filter_groups = Vec::new();
    if let Some(field) = param("searchCriteria[filterGroups][0][filters][0][field]") {
        let value = param("searchCriteria[filterGroups][0][filters][0][value]").unwrap_or_default();
        let condition = param("searchCriteria[filterGroups][0][filters][0][conditionType]").unwrap_or("eq");
        let column = if field == "entity_id" { kind.id_field() } else { field };
        if !["updated_at", "created_at", "email", "entity_id"].contains(&field) {
            return bad_request(&format!("Invalid attribute name: {field}"));
        }
        let keep = |item: &Value| -> bool {
            let have = match &item[column] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            // Times and ids of equal width compare as text.
            let ordering = if have.len() == value.len() || !have.bytes().all(|b| b.is_ascii_digit()) {
                have.as_str().cmp(value)
            } else {
                have.len().cmp(&value.len())
            };
            match condition {
                "eq" => ordering.is_eq(),
                "gt" => ordering.is_gt(),
                "gteq" => ordering.is_ge(),
                "lt" => ordering.is_lt(),
                "lteq" => ordering.is_le(),
                _ => false,
            }
        };
        if !["eq", "gt", "gteq", "lt", "lteq"].contains(&condition) {
            return bad_request(&format!("Invalid condition type: {condition}"));
        }
        items.retain(keep);
        filter_groups.push(json!({"filters": [{"field": field, "value": value, "condition_type": condition}]}));
    }
    let mut sort_orders = Vec::new();
    if let Some(field) = param("searchCriteria[sortOrders][0][field]") {
        let direction = param("searchCriteria[sortOrders][0][direction]").unwrap_or("ASC");
        let column = if field == "entity_id" { kind.id_field() } else { field };
        items.sort_by(|a, b| {
            let key = |v: &Value| {
                (
                    v[column].as_u64().unwrap_or(0),
                    v[column].as_str().unwrap_or_default().to_owned(),
                )
            };
            key(a).cmp(&key(b))
        });
        if direction.eq_ignore_ascii_case("DESC") {
            items.reverse();
        }
        sort_orders.push(json!({"field": field, "direction": direction.to_ascii_uppercase()}));
    }
    let total = items.len();
    // A page past the end is clamped to the last page.
    let last = total.div_ceil(page_size).max(1);
    let page = current.min(last);
    let page_items: Vec<Value> = items.into_iter().skip((page - 1) * page_size).take(page_size).collect();
    let mut criteria = Map::new();
    criteria.insert("filter_groups".into(), Value::Array(filter_groups));
    if !sort_orders.is_empty() {
        criteria.insert("sort_orders".into(), Value::Array(sort_orders));
    }
    criteria.insert("page_size".into(), json!(page_size));
    criteria.insert("current_page".into(), json!(current));
    Json(json!({"items": page_items, "search_criteria": criteria, "total_count": total})).into_response()
}

async fn store_views(headers: HeaderMap) -> Response {
    if let Some(response) = unauthorized(&headers) {
        return response;
    }
    Json(json!([
        {"id": 0, "code": "admin", "name": "Admin", "website_id": 0, "store_group_id": 0, "is_active": 1},
        {"id": 1, "code": "default", "name": "Default Store View", "website_id": 1, "store_group_id": 1, "is_active": 1}
    ]))
    .into_response()
}

async fn search_customers(State(fake): State<Arc<Magento>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    unauthorized(&headers).unwrap_or_else(|| search(&fake, Kind::Customers, q.as_deref()))
}

async fn search_orders(State(fake): State<Arc<Magento>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    unauthorized(&headers).unwrap_or_else(|| search(&fake, Kind::Orders, q.as_deref()))
}

async fn search_products(State(fake): State<Arc<Magento>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    unauthorized(&headers).unwrap_or_else(|| search(&fake, Kind::Products, q.as_deref()))
}

async fn read_customer(State(fake): State<Arc<Magento>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(response) = unauthorized(&headers) {
        return response;
    }
    match fake.item(Kind::Customers, &id) {
        Some(c) => Json(c).into_response(),
        None => no_such_entity("customerId", &id),
    }
}

async fn read_order(State(fake): State<Arc<Magento>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(response) = unauthorized(&headers) {
        return response;
    }
    match fake.item(Kind::Orders, &id) {
        Some(o) => Json(o).into_response(),
        None => no_such_entity("id", &id),
    }
}

async fn read_product(State(fake): State<Arc<Magento>>, Path(sku): Path<String>, headers: HeaderMap) -> Response {
    if let Some(response) = unauthorized(&headers) {
        return response;
    }
    match fake.item(Kind::Products, &sku) {
        Some(p) => Json(p).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "The product that was requested doesn't exist. Verify the product and try again.",
            Value::Null,
        ),
    }
}

/// The `customer` object of a write body.
fn customer_fields(body: &Bytes) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut map)) => match map.remove("customer") {
            Some(Value::Object(customer)) => Ok(customer),
            _ => Err(Box::new(bad_request("\"customer\" is required. Enter and try again."))),
        },
        _ => Err(Box::new(bad_request("Decoding error: the body is not JSON."))),
    }
}

fn email_taken(store: &Store, email: &str, except: Option<u64>) -> bool {
    store.items.get(&Kind::Customers).is_some_and(|m| {
        m.iter()
            .any(|(id, c)| Some(*id) != except && c["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email)))
    })
}

const EMAIL_TAKEN: &str = "A customer with the same email address already exists in an associated website.";

async fn create_customer(State(fake): State<Arc<Magento>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(response) = unauthorized(&headers) {
        return response;
    }
    let fields = match customer_fields(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    for required in ["email", "firstname", "lastname"] {
        if fields.get(required).and_then(Value::as_str).is_none_or(str::is_empty) {
            return bad_request(&format!("\"{required}\" is a required value."));
        }
    }
    let email = fields["email"].as_str().unwrap_or_default().to_owned();
    let mut store = lock(&fake.store);
    if email_taken(&store, &email, None) {
        return bad_request(EMAIL_TAKEN);
    }
    let at = store.tick();
    let id = store.new_id();
    let time = magento_datetime(at);
    let mut customer = json!({"id": id, "group_id": 1, "created_at": time, "updated_at": time,
        "created_in": "Default Store View", "store_id": 1, "website_id": 1, "addresses": [],
        "disable_auto_group_change": 0});
    for (key, value) in fields {
        if !matches!(key.as_str(), "id" | "created_at" | "updated_at") {
            customer[&key] = value;
        }
    }
    store
        .items
        .entry(Kind::Customers)
        .or_default()
        .insert(id, customer.clone());
    Json(customer).into_response()
}

async fn save_customer(
    State(fake): State<Arc<Magento>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = unauthorized(&headers) {
        return response;
    }
    let fields = match customer_fields(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let Ok(key) = id.parse::<u64>() else {
        return no_such_entity("customerId", &id);
    };
    let mut store = lock(&fake.store);
    if !store.items.get(&Kind::Customers).is_some_and(|m| m.contains_key(&key)) {
        return no_such_entity("customerId", &id);
    }
    if let Some(email) = fields.get("email").and_then(Value::as_str) {
        if email_taken(&store, email, Some(key)) {
            return bad_request(EMAIL_TAKEN);
        }
    }
    let at = store.tick();
    let customer = store
        .items
        .get_mut(&Kind::Customers)
        .and_then(|m| m.get_mut(&key))
        .expect("checked above");
    for (field, value) in fields {
        if !matches!(field.as_str(), "id" | "created_at" | "updated_at") {
            customer[&field] = value;
        }
    }
    customer["updated_at"] = json!(magento_datetime(at));
    Json(customer.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_without_a_zone() {
        assert_eq!(magento_datetime(1_559_103_711), "2019-05-29 04:21:51");
    }

    #[test]
    fn the_spec_patches_parse_and_load_onto_the_spec() {
        let check = spec_check();
        assert_eq!(check.patches.len(), 14);
        check.load().unwrap_or_else(|e| panic!("{e}"));
    }
}
