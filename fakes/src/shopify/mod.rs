//! Fake Shopify Admin GraphQL API (2024-01): customers, orders and products, their create and
//! update mutations, and cost-based throttling.
//!
//! No GraphQL schema of Shopify's is in the specs folder (`shopify/openapi.yml` describes the
//! REST Admin API, whose shapes differ: snake_case fields, numeric ids). So this fake follows
//! Shopify's documentation (shopify.dev, "GraphQL Admin API reference" for the types below,
//! "Shopify API rate limits", "Search syntax", "Pagination") and checks its traffic against
//! `schema.graphql` beside this file: the part of the Admin schema it serves, written down
//! from those reference pages. Every request is checked with [`GraphqlSchema::check_request`]
//! and every answer with [`GraphqlSchema::check_response`]; violations go to the handle's log.
//!
//! As documented:
//!
//! * `POST /admin/api/2024-01/graphql.json` with `{"query", "variables", "operationName"}`;
//!   the `X-Shopify-Access-Token` header, else 401 `{"errors": "[API] Invalid API key or
//!   access token (unrecognized login or wrong password)"}`;
//! * connections page with `first`/`after` and answer `nodes`, `edges { cursor node }` and
//!   `pageInfo { hasNextPage endCursor }`; `first` is at most 250;
//! * `query: "updated_at:>='2024-01-01T00:00:00Z'"` (also `>`, `<`, `<=`) filters on the
//!   update time; `sortKey: UPDATED_AT` sorts on it (ties by id), other keys sort by id;
//! * ids are global ids, `gid://shopify/Customer/7`; times are ISO 8601 in whole seconds (UTC);
//! * a leaky bucket of cost points (1,000, refilled at 50 a second on standard plans): every
//!   answer carries `extensions.cost {requestedQueryCost, actualQueryCost, throttleStatus
//!   {maximumAvailable, currentlyAvailable, restoreRate}}`; a query whose requested cost exceeds
//!   what is available is answered 200 with `errors[0].extensions.code = "THROTTLED"` and
//!   nothing is run;
//! * a mutation's refusal is its payload's `userErrors` (`{"field": ["email"], "message":
//!   "Email has already been taken"}`), with the object null.
//!
//! What it assumes where the docs are not precise: a connection costs 2 plus one point per
//! requested node (`first`), a single object 1, a mutation 10 (Shopify's calculated costs come
//! out close to this for flat selections); the actual cost counts the nodes returned. A customer
//! needs an email, a phone or a name; a product needs a title.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::graphql::GraphqlSchema;
use crate::spec::ViolationLog;
use crate::timestamp::now_ms;

/// An Admin API access token the default configuration accepts.
pub const TEST_TOKEN: &str = "shpat_fake0123456789abcdef0123456789ab";

/// The API version in the path.
pub const API_PATH: &str = "/admin/api/2024-01";

/// The schema the fake checks against (see the module header).
pub const SCHEMA: &str = include_str!("schema.graphql");

/// Largest `first`.
const MAX_FIRST: u64 = 250;

/// The three kinds of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Customers,
    Orders,
    Products,
}

impl Kind {
    fn type_name(self) -> &'static str {
        match self {
            Kind::Customers => "Customer",
            Kind::Orders => "Order",
            Kind::Products => "Product",
        }
    }

    fn gid(self, n: u64) -> String {
        format!("gid://shopify/{}/{n}", self.type_name())
    }
}

/// The cost bucket's size and refill rate.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub maximum: f64,
    pub restore_rate: f64,
}

impl Default for Bucket {
    /// Standard plans: 1,000 points, 50 a second.
    fn default() -> Self {
        Self {
            maximum: 1000.0,
            restore_rate: 50.0,
        }
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct ShopifyConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    pub tokens: Vec<String>,
    /// Objects seeded per kind, spread over the past hour (oldest first).
    pub records: usize,
    pub bucket: Bucket,
    pub faults: FaultConfig,
}

impl Default for ShopifyConfig {
    fn default() -> Self {
        Self {
            port: 0,
            tokens: vec![TEST_TOKEN.to_owned()],
            records: 0,
            bucket: Bucket::default(),
            faults: FaultConfig::default(),
        }
    }
}

#[derive(Default)]
struct Store {
    objects: BTreeMap<Kind, BTreeMap<u64, Value>>,
    next_id: BTreeMap<Kind, u64>,
}

struct Throttle {
    available: f64,
    at: Instant,
}

/// The fake shop.
pub struct Shopify {
    tokens: Vec<String>,
    schema: GraphqlSchema,
    store: Mutex<Store>,
    bucket: Bucket,
    throttle: Mutex<Throttle>,
    throttled: AtomicU64,
    violations: Arc<ViolationLog>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// ISO 8601 in whole seconds, UTC (`2024-01-01T00:00:00Z`).
pub fn iso(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_iso(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Starts a fake Shopify; the Admin API is under `{base_url}/admin/api/2024-01`.
///
/// # Panics
/// When the loopback port cannot be bound.
pub fn start(config: ShopifyConfig) -> FakeHandle<Shopify> {
    server::expect_started("shopify", try_start(config))
}

/// Starts a fake Shopify, reporting a bind failure.
pub fn try_start(config: ShopifyConfig) -> io::Result<FakeHandle<Shopify>> {
    let schema = GraphqlSchema::parse(SCHEMA).map_err(io::Error::other)?;
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Shopify {
        tokens: config.tokens,
        schema,
        store: Mutex::new(Store::default()),
        bucket: config.bucket,
        throttle: Mutex::new(Throttle {
            available: config.bucket.maximum,
            at: Instant::now(),
        }),
        throttled: AtomicU64::new(0),
        violations: violations.clone(),
    });
    state.seed(config.records);
    let spec = Spec {
        name: "shopify",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations,
        respond: fault,
    };
    server::spawn(spec, move |_| {
        Router::new()
            .route(&format!("{API_PATH}/graphql.json"), post(graphql))
            .with_state(state)
    })
}

fn fault(status: StatusCode) -> Response {
    (status, Json(json!({"errors": "injected fault"}))).into_response()
}

impl Shopify {
    /// Every object of a kind, by id.
    pub fn objects(&self, kind: Kind) -> Vec<Value> {
        lock(&self.store)
            .objects
            .get(&kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One object by global id.
    pub fn object(&self, kind: Kind, gid: &str) -> Option<Value> {
        let n = number_of(kind, gid)?;
        lock(&self.store).objects.get(&kind)?.get(&n).cloned()
    }

    pub fn count(&self, kind: Kind) -> usize {
        lock(&self.store).objects.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Changes an object directly (no HTTP): merges `fields`, bumps `updatedAt`.
    pub fn update(&self, kind: Kind, gid: &str, fields: Value) -> Option<Value> {
        let n = number_of(kind, gid)?;
        let mut store = lock(&self.store);
        let object = store.objects.get_mut(&kind)?.get_mut(&n)?;
        merge(object, &fields);
        object["updatedAt"] = json!(iso(now_ms()));
        Some(object.clone())
    }

    /// Queries answered THROTTLED.
    pub fn throttled_count(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    fn seed(&self, records: usize) {
        let now = now_ms();
        for n in 1..=records {
            // Spread over the past hour, oldest first, the newest ten minutes ago.
            let at = iso(now - 3_600_000 + (n as i64) * (3_000_000 / records.max(1) as i64));
            let customer = self.insert(
                Kind::Customers,
                json!({"email": format!("customer{n}@example.com"), "firstName": "Customer", "lastName": format!("{n}"),
                       "phone": null, "note": null, "tags": ["seeded"]}),
                &at,
            );
            self.insert(
                Kind::Products,
                json!({"title": format!("Product {n}"), "handle": format!("product-{n}"), "status": "ACTIVE",
                       "vendor": "Fake Vendor", "productType": "Widget", "tags": [], "descriptionHtml": format!("<p>Product {n}</p>")}),
                &at,
            );
            self.insert(
                Kind::Orders,
                json!({"name": format!("#{}", 1000 + n), "email": customer["email"], "note": null, "tags": [],
                       "processedAt": at, "displayFinancialStatus": "PAID", "currencyCode": "USD",
                       "totalPriceSet": {"shopMoney": {"amount": format!("{}.50", 10 + n), "currencyCode": "USD"},
                                         "presentmentMoney": {"amount": format!("{}.50", 10 + n), "currencyCode": "USD"}},
                       "customer": customer}),
                &at,
            );
        }
    }

    /// Stores a new object with the defaults Shopify fills in.
    fn insert(&self, kind: Kind, fields: Value, at: &str) -> Value {
        let mut store = lock(&self.store);
        let next = store.next_id.entry(kind).or_insert(1000);
        *next += 1;
        let n = *next;
        let mut object = match kind {
            Kind::Customers => json!({"email": null, "firstName": null, "lastName": null, "phone": null, "note": null,
                                      "tags": [], "state": "DISABLED", "numberOfOrders": "0", "verifiedEmail": true}),
            Kind::Products => {
                json!({"handle": format!("product-{n}"), "status": "ACTIVE", "vendor": "", "productType": "",
                                     "tags": [], "descriptionHtml": ""})
            }
            Kind::Orders => json!({}),
        };
        merge(&mut object, &fields);
        object["id"] = json!(kind.gid(n));
        object["createdAt"] = json!(at);
        object["updatedAt"] = json!(at);
        if kind == Kind::Customers {
            let name = [&object["firstName"], &object["lastName"]]
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            object["displayName"] = json!(if name.is_empty() {
                object["email"].as_str().unwrap_or("").to_owned()
            } else {
                name
            });
        }
        store.objects.entry(kind).or_default().insert(n, object.clone());
        object
    }

    /// Takes `cost` points from the bucket, or says how many are available.
    fn spend(&self, cost: f64) -> Result<f64, f64> {
        let mut t = lock(&self.throttle);
        let now = Instant::now();
        t.available =
            (t.available + self.bucket.restore_rate * now.duration_since(t.at).as_secs_f64()).min(self.bucket.maximum);
        t.at = now;
        if cost > t.available {
            return Err(t.available);
        }
        t.available -= cost;
        Ok(t.available)
    }

    fn refund(&self, points: f64) {
        let mut t = lock(&self.throttle);
        t.available = (t.available + points).min(self.bucket.maximum);
    }

    fn cost_extension(&self, requested: f64, actual: Option<f64>, available: f64) -> Value {
        json!({"cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.bucket.maximum,
                "currentlyAvailable": available.floor(),
                "restoreRate": self.bucket.restore_rate,
            }
        }})
    }
}

fn number_of(kind: Kind, gid: &str) -> Option<u64> {
    gid.strip_prefix(&format!("gid://shopify/{}/", kind.type_name()))?
        .parse()
        .ok()
}

fn merge(object: &mut Value, fields: &Value) {
    if let (Some(object), Some(fields)) = (object.as_object_mut(), fields.as_object()) {
        for (k, v) in fields {
            object.insert(k.clone(), v.clone());
        }
    }
}

/// The requested cost of a query (see the module header): the root fields' costs.
fn requested_cost(is_mutation: bool, root: &[(String, Map<String, Value>)]) -> f64 {
    root.iter()
        .map(|(_, args)| {
            if is_mutation {
                10.0
            } else if let Some(first) = args.get("first").and_then(Value::as_u64) {
                2.0 + first as f64
            } else {
                1.0
            }
        })
        .sum()
}

async fn graphql(State(fake): State<Arc<Shopify>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok());
    if !token.is_some_and(|t| fake.tokens.iter().any(|k| k == t)) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})),
        )
            .into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"errors": "Invalid JSON in request body"})),
            )
                .into_response();
        }
    };
    let violations = fake.schema.check_request(&request);
    let invalid = !violations.is_empty();
    fake.violations.record("shopify", violations);
    if invalid {
        let answer = json!({"errors": [{"message": "Query does not match the schema", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]});
        return (StatusCode::OK, Json(answer)).into_response();
    }

    // First pass: the root fields and their arguments, to price the query before running it.
    let text = request["query"].as_str().unwrap_or_default();
    let is_mutation = text.trim_start().starts_with("mutation");
    let mut roots = Vec::new();
    let _ = fake.schema.execute(&request, |field, args| {
        roots.push((field.to_owned(), args.clone()));
        Ok(Value::Null)
    });
    let requested = requested_cost(is_mutation, &roots);
    match fake.spend(requested) {
        Ok(_) => {}
        Err(available) => {
            fake.throttled.fetch_add(1, Ordering::Relaxed);
            let answer = json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": fake.cost_extension(requested, None, available),
            });
            fake.check_answer(&request, &answer);
            return (StatusCode::OK, Json(answer)).into_response();
        }
    }

    let mut returned_nodes = 0usize;
    let mut answer = fake.schema.execute(&request, |field, args| {
        let value = fake.resolve(field, args)?;
        if let Some(nodes) = value.get("nodes").and_then(Value::as_array) {
            returned_nodes += nodes.len();
        }
        Ok(value)
    });
    // Unused requested points go back to the bucket (Shopify refunds the difference).
    let actual = if is_mutation {
        requested
    } else {
        roots.iter().filter(|(_, a)| a.contains_key("first")).count() as f64 * 2.0
            + returned_nodes as f64
            + roots.iter().filter(|(_, a)| !a.contains_key("first")).count() as f64
    };
    fake.refund(requested - actual);
    let left = lock(&fake.throttle).available;
    answer["extensions"] = fake.cost_extension(requested, Some(actual), left);
    fake.check_answer(&request, &answer);
    (StatusCode::OK, Json(answer)).into_response()
}

impl Shopify {
    fn check_answer(&self, request: &Value, answer: &Value) {
        self.violations
            .record("shopify", self.schema.check_response(request, answer));
    }

    fn resolve(&self, field: &str, args: &Map<String, Value>) -> Result<Value, String> {
        let kind_of = |name: &str| match name {
            "customers" | "customer" | "customerCreate" | "customerUpdate" => Some(Kind::Customers),
            "orders" | "order" => Some(Kind::Orders),
            "products" | "product" | "productCreate" | "productUpdate" => Some(Kind::Products),
            _ => None,
        };
        match field {
            "shop" => Ok(
                json!({"id": "gid://shopify/Shop/1", "name": "Fake Shop", "email": "owner@example.com",
                                "myshopifyDomain": "fake-shop.myshopify.com", "currencyCode": "USD"}),
            ),
            "customers" | "orders" | "products" => self.connection(kind_of(field).expect("a list field"), args),
            "customer" | "order" | "product" => {
                let id = args.get("id").and_then(Value::as_str).unwrap_or_default();
                Ok(self
                    .object(kind_of(field).expect("an object field"), id)
                    .unwrap_or(Value::Null))
            }
            "customerCreate" | "productCreate" => Ok(self.create(kind_of(field).expect("a create"), &args["input"])),
            "customerUpdate" | "productUpdate" => Ok(self.modify(kind_of(field).expect("an update"), &args["input"])),
            other => Err(format!("Field '{other}' doesn't exist on type 'QueryRoot'")),
        }
    }

    fn connection(&self, kind: Kind, args: &Map<String, Value>) -> Result<Value, String> {
        let first = args
            .get("first")
            .and_then(Value::as_u64)
            .ok_or("you must provide one of first or last")?;
        if first > MAX_FIRST {
            return Err(format!("The maximum value of first is {MAX_FIRST}"));
        }
        let by_update = args.get("sortKey").and_then(Value::as_str) == Some("UPDATED_AT");
        let filter = args
            .get("query")
            .and_then(Value::as_str)
            .map(parse_filter)
            .transpose()?;
        let mut all: Vec<Value> = self.objects(kind);
        if let Some((op, bound)) = filter {
            all.retain(|o| {
                let t = o["updatedAt"].as_str().and_then(parse_iso).unwrap_or(0);
                match op {
                    ">" => t > bound,
                    ">=" => t >= bound,
                    "<" => t < bound,
                    _ => t <= bound,
                }
            });
        }
        let key = |o: &Value| -> (String, u64) {
            let n = o["id"].as_str().and_then(|g| number_of(kind, g)).unwrap_or(0);
            let t = if by_update {
                o["updatedAt"].as_str().unwrap_or("").to_owned()
            } else {
                String::new()
            };
            (t, n)
        };
        all.sort_by_key(key);
        if args.get("reverse").and_then(Value::as_bool) == Some(true) {
            all.reverse();
        }
        let start = match args.get("after").and_then(Value::as_str) {
            None => 0,
            Some(cursor) => {
                let after = decode_cursor(cursor).ok_or("Invalid cursor for current pagination sort.")?;
                all.iter().position(|o| key(o) > after).unwrap_or(all.len())
            }
        };
        let page: Vec<Value> = all.iter().skip(start).take(first as usize).cloned().collect();
        let has_next = start + page.len() < all.len();
        let cursors: Vec<String> = page.iter().map(|o| encode_cursor(&key(o))).collect();
        Ok(json!({
            "nodes": page,
            "edges": page.iter().zip(&cursors).map(|(o, c)| json!({"cursor": c, "node": o})).collect::<Vec<_>>(),
            "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": start > 0,
                         "startCursor": cursors.first(), "endCursor": cursors.last()}
        }))
    }

    fn create(&self, kind: Kind, input: &Value) -> Value {
        let refuse = |field: &str, message: &str| {
            let mut payload = json!({"userErrors": [{"field": ["input", field], "message": message}]});
            payload[payload_key(kind)] = Value::Null;
            if kind == Kind::Products {
                payload["shop"] = self.resolve("shop", &Map::new()).unwrap_or(Value::Null);
            }
            payload
        };
        if let Some(problem) = self.refusal(kind, input, None) {
            return refuse(problem.0, &problem.1);
        }
        let object = self.insert(kind, input.clone(), &iso(now_ms()));
        let mut payload = json!({"userErrors": []});
        payload[payload_key(kind)] = object;
        if kind == Kind::Products {
            payload["shop"] = self.resolve("shop", &Map::new()).unwrap_or(Value::Null);
        }
        payload
    }

    fn modify(&self, kind: Kind, input: &Value) -> Value {
        let id = input["id"].as_str().unwrap_or_default().to_owned();
        let refused = |field: &str, message: String| {
            let mut payload = json!({"userErrors": [{"field": ["input", field], "message": message}]});
            payload[payload_key(kind)] = Value::Null;
            payload
        };
        if self.object(kind, &id).is_none() {
            return refused("id", format!("{} does not exist", kind.type_name()));
        }
        if let Some((field, message)) = self.refusal(kind, input, Some(&id)) {
            return refused(field, message);
        }
        let mut fields = input.clone();
        if let Some(map) = fields.as_object_mut() {
            map.remove("id");
        }
        let object = self.update(kind, &id, fields).unwrap_or(Value::Null);
        let mut payload = json!({"userErrors": []});
        payload[payload_key(kind)] = object;
        payload
    }

    /// Why Shopify would refuse this input, if it would.
    fn refusal(&self, kind: Kind, input: &Value, updating: Option<&str>) -> Option<(&'static str, String)> {
        match kind {
            Kind::Customers => {
                let has = |k: &str| input.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
                if updating.is_none() && !["email", "phone", "firstName", "lastName"].iter().any(|k| has(k)) {
                    return Some(("email", "A name, phone number or email address must be present".into()));
                }
                if let Some(email) = input.get("email").and_then(Value::as_str) {
                    if !email.contains('@') {
                        return Some(("email", "Email is invalid".into()));
                    }
                    let taken = self
                        .objects(Kind::Customers)
                        .iter()
                        .any(|c| c["email"].as_str() == Some(email) && c["id"].as_str() != updating);
                    if taken {
                        return Some(("email", "Email has already been taken".into()));
                    }
                }
                None
            }
            Kind::Products => {
                let title = input.get("title");
                let blank = title.is_some_and(|t| t.as_str().is_none_or(|s| s.trim().is_empty()));
                if blank || (updating.is_none() && title.is_none()) {
                    return Some(("title", "Title can't be blank".into()));
                }
                None
            }
            Kind::Orders => Some(("id", "Orders are not written here".into())),
        }
    }
}

fn payload_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Customers => "customer",
        Kind::Products => "product",
        Kind::Orders => "order",
    }
}

/// `updated_at:>='2024-01-01T00:00:00Z'` -> (">=", ms).
fn parse_filter(query: &str) -> Result<(&'static str, i64), String> {
    let rest = query
        .trim()
        .strip_prefix("updated_at:")
        .ok_or_else(|| format!("the fake only searches on updated_at, not {query:?}"))?;
    let (op, value) = [">=", "<=", ">", "<"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
        .ok_or_else(|| format!("no comparison in {query:?}"))?;
    let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
    let at = parse_iso(value).ok_or_else(|| format!("{value:?} is not an ISO 8601 time"))?;
    Ok((op, at))
}

fn encode_cursor(key: &(String, u64)) -> String {
    base64::engine::general_purpose::STANDARD.encode(json!({"last_id": key.1, "last_value": key.0}).to_string())
}

fn decode_cursor(cursor: &str) -> Option<(String, u64)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(cursor).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((v["last_value"].as_str()?.to_owned(), v["last_id"].as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fakes_schema_parses_and_filters_read_like_shopifys_search_syntax() {
        GraphqlSchema::parse(SCHEMA).expect("the fake's Shopify schema parses");
        assert_eq!(
            parse_filter("updated_at:>='2024-01-01T00:00:01Z'").unwrap(),
            (">=", 1_704_067_201_000)
        );
        assert_eq!(
            parse_filter("updated_at:>'2024-01-01T00:00:00.5Z'").unwrap(),
            (">", 1_704_067_200_500)
        );
        assert!(parse_filter("title:x").is_err());
        let key = ("2024-01-01T00:00:00Z".to_owned(), 7);
        assert_eq!(decode_cursor(&encode_cursor(&key)), Some(key));
    }
}
