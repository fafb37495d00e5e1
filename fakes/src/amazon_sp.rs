//! Fake Amazon Selling Partner API: the Orders API v0 (`getOrders`, `getOrder`), with the Login
//! with Amazon (LWA) token endpoint on a second server.
//!
//! It follows Amazon's published Swagger description (`amazon-sp-api/ordersV0.json` in the
//! specs folder, which checks every request and response of the API server) and the SP-API
//! documentation (developer-docs.amazon.com/sp-api):
//!
//! * "Connecting to the Selling Partner API": `POST /auth/o2/token` on api.amazon.com with
//!   `grant_type=refresh_token`, `refresh_token`, `client_id` and `client_secret` as form
//!   fields answers `{"access_token": "Atza|...", "refresh_token", "token_type": "bearer",
//!   "expires_in": 3600}`; a wrong client is 401 `invalid_client`, a wrong refresh token 400
//!   `invalid_grant`. Calls carry the access token in `x-amz-access-token`. The token
//!   endpoint is not in the spec, so it runs unchecked on its own server.
//! * `getOrders` needs `MarketplaceIds` and one of `CreatedAfter` and `LastUpdatedAfter`
//!   (not both; each at least two minutes before the request); `MaxResultsPerPage` is 1 to 100
//!   (default 100). `NextToken` continues a listing with the same filters; the last page has
//!   none. Orders are listed by the filtered date, oldest first (Amazon does not document the
//!   order; a stable one is what paging needs).
//! * Usage plans ("Usage Plans and Rate Limits"; the spec's operation descriptions): each
//!   operation has a token bucket, getOrders 0.0167 requests a second with a burst of 20,
//!   getOrder 0.5 with a burst of 30, and each answer carries the selling partner's rate in
//!   `x-amzn-RateLimit-Limit`. A request that finds its bucket empty is 429 `QuotaExceeded`.
//! * Refusals are `{"errors": [{"code", "message", "details"}]}`: 400 `InvalidInput`, 403
//!   `Unauthorized` for a missing, unknown or expired access token, 404 `NotFound`.
//!
//! Assumed, not documented: the format of NextToken (opaque to callers; here the offset and
//! the filter it belongs to).

// Request checks return the response the fake refuses with.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::timestamp::{correlation_id, now_ms, parse_ms};

/// The LWA app's client id.
pub const CLIENT_ID: &str = "amzn1.application-oa2-client.fake0123456789abcdef";
/// The LWA app's client secret.
pub const CLIENT_SECRET: &str = "amzn1.oa2-cs.v1.fakeSellingPartnerSecret0123456789abcdef";
/// The selling partner's refresh token (from authorising the app).
pub const REFRESH_TOKEN: &str = "Atzr|IwEBIFakeSellingPartnerRefreshToken0123456789";
/// The marketplace the seller sells in (Amazon.com).
pub const MARKETPLACE_ID: &str = "ATVPDKIKX0DER";
/// The spec file, relative to the specs folder.
pub const SPEC_FILE: &str = "amazon-sp-api/ordersV0.json";

/// The spec check the API server runs.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec![SPEC_FILE.to_owned()],
        ..SpecCheck::default()
    }
}

/// One operation's usage plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsagePlan {
    /// Requests restored a second (what `x-amzn-RateLimit-Limit` reports).
    pub rate: f64,
    pub burst: u32,
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct SpConfig {
    /// Orders seeded, two minutes apart, the newest two minutes ago.
    pub orders: usize,
    /// getOrders' usage plan (default: Amazon's, 0.0167 a second, burst 20).
    pub get_orders: UsagePlan,
    /// getOrder's usage plan (default: Amazon's, 0.5 a second, burst 30).
    pub get_order: UsagePlan,
    /// Check the API's traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl Default for SpConfig {
    fn default() -> Self {
        Self {
            orders: 0,
            get_orders: UsagePlan {
                rate: 0.0167,
                burst: 20,
            },
            get_order: UsagePlan { rate: 0.5, burst: 30 },
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// A token bucket as Amazon keeps one per operation and selling partner.
struct Bucket {
    plan: UsagePlan,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(plan: UsagePlan) -> Self {
        Self {
            plan,
            tokens: f64::from(plan.burst),
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = self.plan.rate * now.duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + earned).min(f64::from(self.plan.burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The fake seller account.
pub struct SellingPartner {
    orders: Mutex<Vec<Value>>,
    access_tokens: Mutex<Vec<String>>,
    buckets: Mutex<HashMap<&'static str, Bucket>>,
    throttled: Mutex<usize>,
    next_id: Mutex<u64>,
}

/// The API server and the LWA server.
pub struct SpFake {
    pub api: FakeHandle<SellingPartner>,
    pub lwa: FakeHandle<SellingPartner>,
}

impl std::ops::Deref for SpFake {
    type Target = SellingPartner;

    fn deref(&self) -> &SellingPartner {
        &self.api
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts both servers on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: SpConfig) -> SpFake {
    let mut buckets = HashMap::new();
    buckets.insert("getOrders", Bucket::new(config.get_orders));
    buckets.insert("getOrder", Bucket::new(config.get_order));
    let state = Arc::new(SellingPartner {
        orders: Mutex::new(Vec::new()),
        access_tokens: Mutex::new(Vec::new()),
        buckets: Mutex::new(buckets),
        throttled: Mutex::new(0),
        next_id: Mutex::new(0),
    });
    state.seed(config.orders);
    let routes = state.clone();
    let api = server::expect_started(
        "amazon-sp-api",
        server::spawn(
            Spec {
                name: "amazon-sp-api",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/orders/v0/orders", get(get_orders))
                    .route("/orders/v0/orders/{order_id}", get(get_order))
                    .with_state(routes)
            },
        ),
    );
    let lwa_state = state.clone();
    let lwa = server::expect_started(
        "amazon-lwa",
        server::spawn(
            Spec {
                name: "amazon-lwa",
                port: 0,
                state,
                faults: FaultConfig::default(),
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |_| Router::new().route("/auth/o2/token", post(token)).with_state(lwa_state),
        ),
    );
    SpFake { api, lwa }
}

/// `ms` as Amazon writes dates, ISO 8601 in whole seconds (`2017-01-20T19:49:35Z`).
fn iso_s(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

impl SellingPartner {
    fn next(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    fn seed(&self, count: usize) {
        let now = now_ms();
        for n in 1..=count {
            let at = now - 120_000 * (count + 1 - n) as i64;
            let order = self.build_order(at, n);
            lock(&self.orders).push(order);
        }
    }

    fn build_order(&self, at: i64, n: usize) -> Value {
        let id = format!("902-{:07}-{:07}", 3_159_896, self.next());
        json!({
            "AmazonOrderId": id,
            "SellerOrderId": format!("SO-{n:06}"),
            "PurchaseDate": iso_s(at),
            "LastUpdateDate": iso_s(at),
            "OrderStatus": "Unshipped",
            "FulfillmentChannel": "MFN",
            "SalesChannel": "Amazon.com",
            "ShipServiceLevel": "Std US D2D Dom",
            "OrderTotal": {"CurrencyCode": "USD", "Amount": format!("{}.99", 10 + n % 90)},
            "NumberOfItemsShipped": 0,
            "NumberOfItemsUnshipped": 1 + n % 3,
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": MARKETPLACE_ID,
            "ShipmentServiceLevelCategory": "Standard",
            "OrderType": "StandardOrder",
            "EarliestShipDate": iso_s(at + 86_400_000),
            "LatestShipDate": iso_s(at + 3 * 86_400_000),
            "IsBusinessOrder": false,
            "IsPrime": n.is_multiple_of(4),
            "IsPremiumOrder": false,
            "IsGlobalExpressEnabled": false,
            "IsReplacementOrder": false,
            "IsSoldByAB": false,
            "IsISPU": false,
            "IsAccessPointOrder": false,
        })
    }

    /// An order as `getOrder` answers it (inside `payload`).
    pub fn order_json(&self, id: &str) -> Option<Value> {
        lock(&self.orders).iter().find(|o| o["AmazonOrderId"] == id).cloned()
    }

    /// Every order's id, oldest first.
    pub fn order_ids(&self) -> Vec<String> {
        lock(&self.orders)
            .iter()
            .filter_map(|o| o["AmazonOrderId"].as_str().map(str::to_owned))
            .collect()
    }

    /// The id of the first order seeded.
    pub fn first_order_id(&self) -> Option<String> {
        lock(&self.orders)
            .first()
            .and_then(|o| o["AmazonOrderId"].as_str())
            .map(str::to_owned)
    }

    pub fn order_count(&self) -> usize {
        lock(&self.orders).len()
    }

    /// Ships an order as the seller would in Seller Central (`LastUpdateDate` becomes now).
    pub fn ship(&self, id: &str) -> Option<Value> {
        let mut orders = lock(&self.orders);
        let order = orders.iter_mut().find(|o| o["AmazonOrderId"] == id)?;
        let items = order["NumberOfItemsUnshipped"].as_u64().unwrap_or(1);
        order["OrderStatus"] = json!("Shipped");
        order["NumberOfItemsShipped"] = json!(items);
        order["NumberOfItemsUnshipped"] = json!(0);
        order["LastUpdateDate"] = json!(iso_s(now_ms()));
        Some(order.clone())
    }

    /// How many access tokens LWA issued.
    pub fn grants(&self) -> usize {
        lock(&self.access_tokens).len()
    }

    /// How many requests were refused with 429 because their operation's bucket was empty.
    pub fn throttled(&self) -> usize {
        *lock(&self.throttled)
    }

    /// Takes a token from `operation`'s bucket; a 429 when there is none.
    fn admit(&self, operation: &'static str) -> Result<f64, Response> {
        let mut buckets = lock(&self.buckets);
        let bucket = buckets.get_mut(operation).expect("a bucket per served operation");
        if bucket.take() {
            Ok(bucket.plan.rate)
        } else {
            *lock(&self.throttled) += 1;
            Err(fault(StatusCode::TOO_MANY_REQUESTS))
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = (
        status,
        Json(json!({"errors": [{"code": code, "message": message, "details": ""}]})),
    )
        .into_response();
    request_id(&mut response);
    response
}

fn request_id(response: &mut Response) {
    if let Ok(id) = HeaderValue::from_str(&correlation_id()) {
        response.headers_mut().insert("x-amzn-RequestId", id);
    }
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => error(
            status,
            "QuotaExceeded",
            "You exceeded your quota for the requested resource.",
        ),
        _ => error(
            status,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        ),
    }
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidInput", message)
}

/// A 200 with the operation's rate in `x-amzn-RateLimit-Limit`.
fn ok(body: Value, rate: f64) -> Response {
    let mut response = Json(body).into_response();
    request_id(&mut response);
    if let Ok(value) = HeaderValue::from_str(&rate.to_string()) {
        response.headers_mut().insert("x-amzn-RateLimit-Limit", value);
    }
    response
}

fn authorized(sp: &SellingPartner, headers: &HeaderMap) -> Option<Response> {
    let token = headers.get("x-amz-access-token").and_then(|v| v.to_str().ok());
    let known = token.is_some_and(|t| lock(&sp.access_tokens).iter().any(|k| k == t));
    (!known).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
        )
    })
}

/// `POST /auth/o2/token`: LWA's refresh-token grant, the client in the form.
async fn token(State(sp): State<Arc<SellingPartner>>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "Client authentication failed"})),
        )
            .into_response();
    }
    if field("grant_type") != Some("refresh_token") || field("refresh_token") != Some(REFRESH_TOKEN) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"})),
        )
            .into_response();
    }
    let access = format!("Atza|IwEBIFakeAccess{}x{}", sp.next(), now_ms());
    lock(&sp.access_tokens).push(access.clone());
    Json(json!({
        "access_token": access,
        "refresh_token": REFRESH_TOKEN,
        "token_type": "bearer",
        "expires_in": 3600,
    }))
    .into_response()
}

/// What a `getOrders` listing filters on; a NextToken belongs to one.
#[derive(Debug, PartialEq)]
enum Filter {
    CreatedAfter(i64),
    LastUpdatedAfter(i64),
}

impl Filter {
    fn key(&self) -> String {
        match self {
            Filter::CreatedAfter(ms) => format!("c{ms}"),
            Filter::LastUpdatedAfter(ms) => format!("u{ms}"),
        }
    }
}

fn filter(query: &BTreeMap<String, String>) -> Result<Filter, Response> {
    let date = |name: &str| -> Result<Option<i64>, Response> {
        match query.get(name) {
            None => Ok(None),
            Some(text) => match parse_ms(text) {
                Some(ms) if ms <= now_ms() - 120_000 => Ok(Some(ms)),
                Some(_) => Err(invalid(&format!(
                    "{name} must be a date no later than two minutes before the time of the request."
                ))),
                None => Err(invalid(&format!("{name} is not an ISO 8601 date."))),
            },
        }
    };
    match (date("CreatedAfter")?, date("LastUpdatedAfter")?) {
        (Some(_), Some(_)) => Err(invalid(
            "If LastUpdatedAfter is specified then CreatedAfter must not be specified.",
        )),
        (Some(ms), None) => Ok(Filter::CreatedAfter(ms)),
        (None, Some(ms)) => Ok(Filter::LastUpdatedAfter(ms)),
        (None, None) => Err(invalid("Either CreatedAfter or LastUpdatedAfter must be specified.")),
    }
}

type Params = Query<BTreeMap<String, String>>;

/// `GET /orders/v0/orders` (getOrders).
async fn get_orders(State(sp): State<Arc<SellingPartner>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&sp, &headers) {
        return r;
    }
    let rate = match sp.admit("getOrders") {
        Ok(rate) => rate,
        Err(r) => return r,
    };
    let marketplaces: Vec<&str> = query
        .get("MarketplaceIds")
        .map(|m| m.split(',').collect())
        .unwrap_or_default();
    if marketplaces.is_empty() {
        return invalid("Missing required 'MarketplaceIds'.");
    }
    if !marketplaces.contains(&MARKETPLACE_ID) {
        return invalid("Invalid Input: the seller does not sell in the marketplaces given.");
    }
    let filter = match filter(&query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let size = match query.get("MaxResultsPerPage").map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return invalid("MaxResultsPerPage must be between 1 and 100."),
    };
    let offset = match query.get("NextToken") {
        None => 0,
        Some(token) => match decode_token(token) {
            Some((offset, key)) if key == filter.key() => offset,
            _ => return invalid("Invalid NextToken."),
        },
    };
    let (field, since) = match filter {
        Filter::CreatedAfter(ms) => ("PurchaseDate", ms),
        Filter::LastUpdatedAfter(ms) => ("LastUpdateDate", ms),
    };
    let at = |o: &Value| o[field].as_str().and_then(parse_ms).unwrap_or(0);
    let mut orders: Vec<Value> = lock(&sp.orders).iter().filter(|o| at(o) >= since).cloned().collect();
    orders.sort_by_key(at);
    let total = orders.len();
    let page: Vec<Value> = orders.into_iter().skip(offset).take(size).collect();
    let mut payload = json!({"Orders": page});
    if offset + size < total {
        payload["NextToken"] = json!(encode_token(offset + size, &filter.key()));
    }
    ok(json!({"payload": payload}), rate)
}

fn encode_token(offset: usize, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{key}"))
}

fn decode_token(token: &str) -> Option<(usize, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (offset, key) = text.split_once(':')?;
    Some((offset.parse().ok()?, key.to_owned()))
}

/// `GET /orders/v0/orders/{orderId}` (getOrder).
async fn get_order(State(sp): State<Arc<SellingPartner>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&sp, &headers) {
        return r;
    }
    let rate = match sp.admit("getOrder") {
        Ok(rate) => rate,
        Err(r) => return r,
    };
    match sp.order_json(&id) {
        Some(order) => ok(json!({"payload": order}), rate),
        None => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Invalid AmazonOrderId: {id}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tokens_name_their_offset_and_filter() {
        let token = encode_token(100, "u1700000000000");
        assert_eq!(decode_token(&token), Some((100, "u1700000000000".to_owned())));
        assert_eq!(decode_token("not a token"), None);
    }

    #[test]
    fn dates_are_whole_seconds() {
        assert_eq!(iso_s(1_484_941_775_123), "2017-01-20T19:49:35Z");
    }
}
