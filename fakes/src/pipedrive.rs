//! Fake Pipedrive API v1: persons, organizations and deals, the recents feed, and the current
//! user, checked against `pipedrive/openapi.yml` from the specs folder ([`spec_check`]).
//!
//! Hand-written rather than a spec-driven profile because Pipedrive's writes do not take the
//! shape its reads return, which the generic fake's "merge the request into the object"
//! cannot express: a person is created with `email: ["a@x"]` and read back with
//! `email: [{"value": "a@x", "primary": true, "label": "work"}]`; `org_id`, `person_id` and
//! `owner_id` go in as integers and come back as objects (`{"value": 7, "name": ...}`); a
//! deal's `value` goes in as text and comes back as a number; and deals and organizations are
//! written form-encoded while persons are written as JSON (as the spec says). Every request
//! and response still passes through the spec check, so the shapes are Pipedrive's, not ours.
//!
//! As Pipedrive documents it (developers.pipedrive.com/docs/api/v1, "Persons",
//! "Organizations", "Deals", "Recents"; pipedrive.readme.io "Pagination", "Rate limiting",
//! "Requests", "HTTP status codes"):
//!
//! * every body is `{"success": true, "data": ..., "additional_data": ...}`; errors are
//!   `{"success": false, "error": "...", "error_info": "...", "data": null,
//!   "additional_data": null}` with 400 (bad arguments) or 404 (no such item);
//! * lists page with `start` and `limit` (at most 500) and answer
//!   `additional_data.pagination = {start, limit, more_items_in_collection, next_start}`;
//! * times are UTC `YYYY-MM-DD HH:MM:SS`; ids are integers;
//! * `GET /recents?since_timestamp=...&items=person` lists the items changed at or after the
//!   timestamp as `{"item": "person", "id": 7, "data": {...}}`, each item once with its
//!   current data, oldest change first;
//! * auth: an API token in the `x-api-token` header or the `api_token` query parameter, or an
//!   OAuth access token as `Authorization: Bearer`; anything else is a 401
//!   `{"success": false, "error": "unauthorized access", "errorCode": 401}`;
//! * the burst limit: by default 20 requests per 2 seconds per token (the Essential plan's
//!   API-token limit), `x-ratelimit-limit` / `-remaining` / `-reset` on every response, 429
//!   beyond it.
//!
//! What it assumes where the docs say nothing precise:
//!
//! * The recents feed holds the changes made since the fake started; seeded objects predate
//!   it (as Stripe's fake keeps no events for seeded objects), so an incremental run sees
//!   exactly what changed.
//! * A write naming an organization, person or owner that does not exist is refused with
//!   400 and `error: "<Organization|Person|User> not found"`; the only user is id 1.
//! * Creates answer 200 as the spec says (Pipedrive's reference shows 201; the connector
//!   accepts any 2xx).
//!
//! The spec (the Ballerina project's copy of Pipedrive's v1 description) lists only the 200
//! responses of these operations; [`spec_check`] adds the documented 400 and 404 error
//! responses with their reason.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::rate_limit::{Admission, RateLimit, RollingWindow};
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::timestamp::now_ms;

/// An API token the default configuration accepts.
pub const TEST_TOKEN: &str = "fake-pipedrive-api-token-0123456789abcdef";

/// Largest page (Pipedrive: `limit` up to 500).
const MAX_LIMIT: usize = 500;

/// The three kinds of item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Persons,
    Organizations,
    Deals,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Persons, Kind::Organizations, Kind::Deals];

    fn from_path(segment: &str) -> Option<Kind> {
        match segment {
            "persons" => Some(Kind::Persons),
            "organizations" => Some(Kind::Organizations),
            "deals" => Some(Kind::Deals),
            _ => None,
        }
    }

    /// The recents feed's `item` name.
    fn item(self) -> &'static str {
        match self {
            Kind::Persons => "person",
            Kind::Organizations => "organization",
            Kind::Deals => "deal",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Persons => "Person",
            Kind::Organizations => "Organization",
            Kind::Deals => "Deal",
        }
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Accepted API tokens and OAuth access tokens.
    pub tokens: Vec<String>,
    /// Objects seeded per kind, spread over the past hour (oldest first).
    pub records: usize,
    /// The burst limit per token; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    pub faults: FaultConfig,
    /// Check traffic against the spec ([`spec_check`]); on by default.
    pub spec_check: Option<SpecCheck>,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        Self {
            port: 0,
            tokens: vec![TEST_TOKEN.to_owned()],
            records: 0,
            rate_limit: Some(RateLimit::new(20, Duration::from_secs(2))),
            faults: FaultConfig::default(),
            spec_check: Some(spec_check()),
        }
    }
}

/// Pipedrive's v1 spec with the error responses Pipedrive documents added.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec!["pipedrive/openapi.yml".into()],
        patches: serde_yaml::from_str(SPEC_PATCHES).expect("the Pipedrive spec patches parse"),
        ..SpecCheck::default()
    }
}

/// The 400 and 404 answers of the item operations: pipedrive.readme.io "HTTP status codes"
/// lists both for every endpoint, with the body the spec's call-log operations describe
/// (`callLogResponse400/404`), whose `data` and `additional_data` are null on the wire.
const SPEC_PATCHES: &str = r##"
- files: &spec [pipedrive/openapi.yml]
  pointer: /components/schemas/SwitchyardFakeError
  reason: Pipedrive's error body (the spec's callLogResponse400), with data and additional_data null as sent.
  value:
    type: object
    required: [success, error]
    properties:
      success: {type: boolean, enum: [false]}
      error: {type: string}
      error_info: {type: string}
      data: {nullable: true}
      additional_data: {nullable: true}
- {files: *spec, pointer: "/paths/~1persons~1{id}/get/responses/404", reason: &r404 "404 when the item does not exist (pipedrive.readme.io, HTTP status codes).", value: &e404 {description: Not found, content: {application/json: {schema: {$ref: "#/components/schemas/SwitchyardFakeError"}}}}}
- {files: *spec, pointer: "/paths/~1persons~1{id}/put/responses/404", reason: *r404, value: *e404}
- {files: *spec, pointer: "/paths/~1organizations~1{id}/get/responses/404", reason: *r404, value: *e404}
- {files: *spec, pointer: "/paths/~1organizations~1{id}/put/responses/404", reason: *r404, value: *e404}
- {files: *spec, pointer: "/paths/~1deals~1{id}/get/responses/404", reason: *r404, value: *e404}
- {files: *spec, pointer: "/paths/~1deals~1{id}/put/responses/404", reason: *r404, value: *e404}
- {files: *spec, pointer: "/paths/~1persons/post/responses/400", reason: &r400 "400 when an argument is wrong, e.g. a related item that does not exist (pipedrive.readme.io, HTTP status codes).", value: &e400 {description: Bad request, content: {application/json: {schema: {$ref: "#/components/schemas/SwitchyardFakeError"}}}}}
- {files: *spec, pointer: "/paths/~1persons~1{id}/put/responses/400", reason: *r400, value: *e400}
- {files: *spec, pointer: "/paths/~1organizations/post/responses/400", reason: *r400, value: *e400}
- {files: *spec, pointer: "/paths/~1organizations~1{id}/put/responses/400", reason: *r400, value: *e400}
- {files: *spec, pointer: "/paths/~1deals/post/responses/400", reason: *r400, value: *e400}
- {files: *spec, pointer: "/paths/~1deals~1{id}/put/responses/400", reason: *r400, value: *e400}
"##;

/// One stored item.
#[derive(Debug, Clone)]
struct Item {
    value: Value,
}

#[derive(Default)]
struct Store {
    items: BTreeMap<Kind, BTreeMap<u64, Item>>,
    next_id: HashMap<Kind, u64>,
    /// `(change time, kind, id)` of every change since start, in order.
    recents: Vec<(i64, Kind, u64)>,
    last_ms: i64,
}

impl Store {
    /// A write clock in whole seconds' worth of milliseconds, never going back.
    fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }
}

/// The fake company's state.
pub struct Pipedrive {
    tokens: Vec<String>,
    store: Mutex<Store>,
    rate_limit: Mutex<Option<RateLimit>>,
    windows: Mutex<HashMap<String, RollingWindow>>,
    rate_limited: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a fake Pipedrive on a free loopback port (or `config.port`); its API is under
/// `{base_url}/v1`.
///
/// # Panics
/// When the loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: PipedriveConfig) -> FakeHandle<Pipedrive> {
    server::expect_started("pipedrive", try_start(config))
}

/// Starts a fake Pipedrive, reporting a bind or spec failure.
pub fn try_start(config: PipedriveConfig) -> io::Result<FakeHandle<Pipedrive>> {
    let state = Arc::new(Pipedrive {
        tokens: config.tokens,
        store: Mutex::new(Store::default()),
        rate_limit: Mutex::new(config.rate_limit),
        windows: Mutex::new(HashMap::new()),
        rate_limited: AtomicU64::new(0),
    });
    state.seed(config.records);
    let spec = Spec {
        name: "pipedrive",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: config.spec_check,
        violations: Default::default(),
        respond: fault,
    };
    server::spawn(spec, move |_| {
        Router::new()
            .route("/v1/users/me", get(me))
            .route("/v1/recents", get(recents))
            .route("/v1/{kind}", get(list).post(create))
            .route("/v1/{kind}/{id}", get(read).put(update))
            .with_state(state)
    })
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a millisecond time.
pub fn utc_datetime(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
                .ok()
        })
        .unwrap_or_default()
}

fn parse_utc_datetime(text: &str) -> Option<i64> {
    let at = time::PrimitiveDateTime::parse(
        text.trim(),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()?;
    Some(at.assume_utc().unix_timestamp() * 1000)
}

impl Pipedrive {
    /// Every item of a kind, by id.
    pub fn items(&self, kind: Kind) -> Vec<Value> {
        lock(&self.store)
            .items
            .get(&kind)
            .map(|m| m.values().map(|i| i.value.clone()).collect())
            .unwrap_or_default()
    }

    /// One item by id.
    pub fn item(&self, kind: Kind, id: &str) -> Option<Value> {
        let id: u64 = id.parse().ok()?;
        lock(&self.store).items.get(&kind)?.get(&id).map(|i| i.value.clone())
    }

    /// Items of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        lock(&self.store).items.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Creates an item directly (no HTTP) from fields in the request shape; returns it.
    pub fn insert(&self, kind: Kind, fields: Value) -> Value {
        let mut store = lock(&self.store);
        let at = store.tick();
        self.write(&mut store, kind, None, &fields, at)
            .expect("the inserted fields refer to existing items")
    }

    /// Changes an item directly (no HTTP) with fields in the request shape; it enters the
    /// recents feed.
    pub fn update(&self, kind: Kind, id: &str, fields: Value) -> Option<Value> {
        let id: u64 = id.parse().ok()?;
        let mut store = lock(&self.store);
        let at = store.tick();
        self.write(&mut store, kind, Some(id), &fields, at).ok()
    }

    /// Requests answered 429 by the burst limit.
    pub fn rate_limited_count(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// Changes the burst limit (`None`: unlimited).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *lock(&self.rate_limit) = limit;
    }

    fn seed(&self, records: usize) {
        let now = now_ms();
        let mut store = lock(&self.store);
        for n in 1..=records {
            // Spread over the past hour, oldest first, the newest ten minutes ago.
            let at = now - 3_600_000 + (n as i64) * (3_000_000 / records.max(1) as i64);
            let fields = |kind: Kind| match kind {
                Kind::Persons => json!({"name": format!("Person {n}"), "email": [format!("person{n}@example.com")]}),
                Kind::Organizations => json!({"name": format!("Organization {n}")}),
                Kind::Deals => json!({"title": format!("Deal {n}"), "value": "1000", "currency": "EUR"}),
            };
            for kind in Kind::ALL {
                self.write(&mut store, kind, None, &fields(kind), at)
                    .expect("seeds refer to nothing");
            }
        }
        // Seeded items predate the recents feed.
        store.recents.clear();
    }

    /// Creates (`id: None`) or updates an item from request fields; `Err` is the 400/404.
    fn write(&self, store: &mut Store, kind: Kind, id: Option<u64>, fields: &Value, at: i64) -> Result<Value, Refusal> {
        let fields = fields.as_object().cloned().unwrap_or_default();
        let mut item = match id {
            Some(id) => store
                .items
                .get(&kind)
                .and_then(|m| m.get(&id))
                .map(|i| i.value.clone())
                .ok_or_else(|| Refusal::not_found(kind))?,
            None => {
                let next = store.next_id.entry(kind).or_insert(0);
                *next += 1;
                let id = *next;
                let mut base = json!({
                    "id": id,
                    "company_id": 1,
                    "active_flag": true,
                    "add_time": utc_datetime(at),
                    "visible_to": "3",
                    "owner_name": "Fake Owner",
                    "cc_email": "fake@pipedrivemail.com",
                });
                if kind == Kind::Deals {
                    let deal = json!({"active": true, "deleted": false, "status": "open", "stage_id": 1,
                        "pipeline_id": 1, "currency": "EUR", "value": 0, "user_id": deal_user(1)});
                    merge(&mut base, deal);
                    base.as_object_mut().map(|m| m.remove("active_flag"));
                } else {
                    merge(&mut base, json!({"owner_id": owner(1)}));
                }
                base
            }
        };
        for (key, value) in fields {
            let converted = match (kind, key.as_str()) {
                (_, "id") => continue,
                (Kind::Persons, "email" | "phone") => contact_list(&value),
                (_, "org_id") | (Kind::Deals, "person_id") => {
                    let target = if key == "org_id" {
                        Kind::Organizations
                    } else {
                        Kind::Persons
                    };
                    match number(&value) {
                        None => Value::Null,
                        Some(ref_id) => {
                            let related = store
                                .items
                                .get(&target)
                                .and_then(|m| m.get(&ref_id))
                                .ok_or_else(|| Refusal::bad(format!("{} not found", target.label())))?;
                            let name = related.value.get("name").cloned();
                            let name_key = if target == Kind::Persons {
                                "person_name"
                            } else {
                                "org_name"
                            };
                            if let (Some(name), Some(map)) = (name.clone(), item.as_object_mut()) {
                                map.insert(name_key.into(), name);
                            }
                            json!({"value": ref_id, "name": name})
                        }
                    }
                }
                (Kind::Deals, "user_id") => match number(&value) {
                    Some(1) => deal_user(1),
                    _ => return Err(Refusal::bad("User not found".into())),
                },
                (_, "owner_id" | "user_id") => match number(&value) {
                    Some(1) => owner(1),
                    _ => return Err(Refusal::bad("User not found".into())),
                },
                (Kind::Deals, "value") => match &value {
                    Value::String(s) => s
                        .parse::<f64>()
                        .map(|v| json!(v))
                        .map_err(|_| Refusal::bad(format!("Invalid value {s}")))?,
                    other => other.clone(),
                },
                (Kind::Deals, "stage_id" | "pipeline_id") => number(&value).map_or(Value::Null, |n| json!(n)),
                _ => value,
            };
            if converted.is_null() {
                item.as_object_mut().map(|m| m.remove(&key));
            } else {
                item[&key] = converted;
            }
        }
        if kind == Kind::Persons {
            if let Some(name) = item.get("name").and_then(Value::as_str).map(str::to_owned) {
                let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
                item["first_name"] = json!(first);
                item["last_name"] = json!(last);
                item["first_char"] = json!(name
                    .chars()
                    .next()
                    .map(|c| c.to_lowercase().to_string())
                    .unwrap_or_default());
            }
        }
        item["update_time"] = json!(utc_datetime(at));
        let id = item["id"].as_u64().expect("items have integer ids");
        store
            .items
            .entry(kind)
            .or_default()
            .insert(id, Item { value: item.clone() });
        store.recents.push((at, kind, id));
        Ok(item)
    }

    fn admit(&self, headers: &HeaderMap, query: &[(String, String)]) -> Result<Vec<(String, String)>, Box<Response>> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let token = header("x-api-token")
            .map(str::to_owned)
            .or_else(|| query.iter().find(|(k, _)| k == "api_token").map(|(_, v)| v.clone()))
            .or_else(|| {
                header("authorization")
                    .and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")))
                    .map(|t| t.trim().to_owned())
            });
        let Some(token) = token.filter(|t| self.tokens.contains(t)) else {
            return Err(Box::new(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"success": false, "error": "unauthorized access", "errorCode": 401})),
                )
                    .into_response(),
            ));
        };
        let Some(limit) = *lock(&self.rate_limit) else {
            return Ok(Vec::new());
        };
        let headers = |remaining: u32| {
            vec![
                ("x-ratelimit-limit".to_owned(), limit.limit.to_string()),
                ("x-ratelimit-remaining".to_owned(), remaining.to_string()),
                (
                    "x-ratelimit-reset".to_owned(),
                    limit.window.as_secs().max(1).to_string(),
                ),
            ]
        };
        match lock(&self.windows)
            .entry(token)
            .or_default()
            .admit(&limit, Instant::now())
        {
            Admission::Allowed { remaining } => Ok(headers(remaining)),
            Admission::Limited { retry_after } => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"success": false, "error": "Request over limit", "errorCode": 429})),
                )
                    .into_response();
                for (name, value) in headers(0) {
                    if let (Ok(name), Ok(value)) = (
                        axum::http::HeaderName::try_from(name),
                        axum::http::HeaderValue::try_from(value),
                    ) {
                        response.headers_mut().insert(name, value);
                    }
                }
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                if let Ok(value) = axum::http::HeaderValue::try_from(secs.max(1).to_string()) {
                    response.headers_mut().insert("retry-after", value);
                }
                Err(Box::new(response))
            }
        }
    }
}

fn owner(id: u64) -> Value {
    json!({"id": id, "name": "Fake Owner", "email": "owner@example.com", "has_pic": 0, "active_flag": true, "value": id})
}

/// A deal's `user_id`: the owner, with `has_pic` as a boolean (the deal schema's).
fn deal_user(id: u64) -> Value {
    json!({"id": id, "name": "Fake Owner", "email": "owner@example.com", "has_pic": false, "active_flag": true, "value": id})
}

/// An item as the Recents feed shows it: a person's and a deal's related items as their
/// integer ids (the spec's `mergePersonItem` and `dealStrict`), an organization as it is.
fn strict(kind: Kind, item: &Value) -> Value {
    let mut item = item.clone();
    if kind != Kind::Organizations {
        if let Some(map) = item.as_object_mut() {
            for key in ["owner_id", "org_id", "user_id", "person_id"] {
                if let Some(id) = map.get(key).and_then(|v| v.get("value")).cloned() {
                    map.insert(key.to_owned(), id);
                }
            }
        }
    }
    item
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `["a@x", ...]` or `[{"value": ...}]` as Pipedrive stores it: the first is primary.
fn contact_list(value: &Value) -> Value {
    let entries: Vec<Value> = match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    Value::Array(
        entries
            .iter()
            .enumerate()
            .map(|(i, entry)| match entry {
                Value::Object(map) => {
                    let mut map = map.clone();
                    map.entry("primary").or_insert(json!(i == 0));
                    map.entry("label").or_insert(json!("work"));
                    Value::Object(map)
                }
                text => json!({"value": text.as_str().unwrap_or_default(), "primary": i == 0, "label": "work"}),
            })
            .collect(),
    )
}

fn merge(target: &mut Value, patch: Value) {
    if let (Some(target), Value::Object(patch)) = (target.as_object_mut(), patch) {
        target.extend(patch);
    }
}

/// A refused write.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    error: String,
}

impl Refusal {
    fn bad(error: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
        }
    }

    fn not_found(kind: Kind) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: format!("{} not found", kind.label()),
        }
    }

    fn into_response(self, headers: Vec<(String, String)>) -> Response {
        reply(
            self.status,
            json!({"success": false, "error": self.error,
                "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
                "data": null, "additional_data": null}),
            headers,
        )
    }
}

fn reply(status: StatusCode, body: Value, headers: Vec<(String, String)>) -> Response {
    let mut response = (status, Json(body)).into_response();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn fault(status: StatusCode) -> Response {
    (
        status,
        Json(json!({"success": false, "error": "injected fault", "errorCode": status.as_u16()})),
    )
        .into_response()
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `start` and `limit`, or the 400 for bad ones.
fn paging(pairs: &[(String, String)]) -> Result<(usize, usize), Refusal> {
    let start = match param(pairs, "start") {
        None => 0,
        Some(s) => s.parse().map_err(|_| Refusal::bad(format!("Invalid start {s}")))?,
    };
    let limit = match param(pairs, "limit") {
        None => 100,
        Some(s) => match s.parse::<usize>() {
            Ok(l) if (1..=MAX_LIMIT).contains(&l) => l,
            _ => return Err(Refusal::bad(format!("limit must be between 1 and {MAX_LIMIT}"))),
        },
    };
    Ok((start, limit))
}

fn page_envelope(items: Vec<Value>, total: usize, start: usize, limit: usize) -> (Value, Map<String, Value>) {
    let more = start + items.len() < total;
    let mut pagination = Map::new();
    pagination.insert("start".into(), json!(start));
    pagination.insert("limit".into(), json!(limit));
    pagination.insert("more_items_in_collection".into(), json!(more));
    if more {
        pagination.insert("next_start".into(), json!(start + items.len()));
    }
    (Value::Array(items), pagination)
}

/// The query pairs, the rate-limit headers and the kind of item in the path, or the 401, 429
/// or 400 that ends the request.
type Admitted = (Vec<(String, String)>, Vec<(String, String)>, Option<Kind>);

impl Pipedrive {
    fn admitted(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Admitted, Box<Response>> {
        let pairs = query_pairs(query);
        let rate = self.admit(headers, &pairs)?;
        let kind = match kind {
            None => None,
            Some(segment) => match Kind::from_path(segment) {
                Some(kind) => Some(kind),
                None => return Err(Box::new(Refusal::bad("Unknown method .".into()).into_response(rate))),
            },
        };
        Ok((pairs, rate, kind))
    }
}

async fn me(State(fake): State<Arc<Pipedrive>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let (_, rate, _) = match fake.admitted(&headers, query.as_deref(), None) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    reply(
        StatusCode::OK,
        json!({"success": true, "data": {
            "id": 1, "name": "Fake Owner", "email": "owner@example.com", "default_currency": "EUR",
            "locale": "en_US", "lang": 1, "activated": true, "active_flag": true, "is_you": true,
            "company_id": 1, "company_name": "Fake Company", "company_domain": "fake",
            "timezone_name": "Europe/Berlin", "timezone_offset": "+01:00"}}),
        rate,
    )
}

async fn list(
    State(fake): State<Arc<Pipedrive>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (pairs, rate, kind) = match fake.admitted(&headers, query.as_deref(), Some(&kind)) {
        Ok((pairs, rate, kind)) => (pairs, rate, kind.expect("a kind was asked for")),
        Err(response) => return *response,
    };
    let (start, limit) = match paging(&pairs) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(rate),
    };
    let store = lock(&fake.store);
    let all: Vec<&Item> = store.items.get(&kind).map(|m| m.values().collect()).unwrap_or_default();
    let page: Vec<Value> = all.iter().skip(start).take(limit).map(|i| i.value.clone()).collect();
    let (data, pagination) = page_envelope(page, all.len(), start, limit);
    drop(store);
    reply(
        StatusCode::OK,
        json!({"success": true, "data": data, "additional_data": {"pagination": pagination}}),
        rate,
    )
}

async fn recents(State(fake): State<Arc<Pipedrive>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let (pairs, rate, _) = match fake.admitted(&headers, query.as_deref(), None) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let Some(since_text) = param(&pairs, "since_timestamp") else {
        return Refusal::bad("since_timestamp is required".into()).into_response(rate);
    };
    let Some(since) = parse_utc_datetime(since_text) else {
        return Refusal::bad(format!(
            "Invalid since_timestamp {since_text}: expected YYYY-MM-DD HH:MM:SS"
        ))
        .into_response(rate);
    };
    let wanted: Option<Vec<&str>> = param(&pairs, "items").map(|items| items.split(',').map(str::trim).collect());
    let (start, limit) = match paging(&pairs) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(rate),
    };
    let store = lock(&fake.store);
    // Each changed item once, at its latest change, oldest change first. Times compare at
    // Pipedrive's resolution (whole seconds).
    let mut latest: BTreeMap<(Kind, u64), i64> = BTreeMap::new();
    for (at, kind, id) in &store.recents {
        if at.div_euclid(1000) * 1000 >= since && wanted.as_ref().is_none_or(|w| w.contains(&kind.item())) {
            latest.insert((*kind, *id), *at);
        }
    }
    let mut changed: Vec<(i64, Kind, u64)> = latest.into_iter().map(|((k, id), at)| (at, k, id)).collect();
    changed.sort();
    let total = changed.len();
    let page: Vec<Value> = changed
        .iter()
        .skip(start)
        .take(limit)
        .filter_map(|(_, kind, id)| {
            let item = store.items.get(kind)?.get(id)?;
            Some(json!({"item": kind.item(), "id": id, "data": strict(*kind, &item.value)}))
        })
        .collect();
    let last = page
        .last()
        .and_then(|i| i.pointer("/data/update_time").cloned())
        .unwrap_or_else(|| json!(since_text));
    drop(store);
    let (data, pagination) = page_envelope(page, total, start, limit);
    reply(
        StatusCode::OK,
        json!({"success": true, "data": data, "additional_data": {
            "since_timestamp": since_text, "last_timestamp_on_page": last, "pagination": pagination}}),
        rate,
    )
}

async fn read(
    State(fake): State<Arc<Pipedrive>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, rate, kind) = match fake.admitted(&headers, query.as_deref(), Some(&kind)) {
        Ok((pairs, rate, kind)) => (pairs, rate, kind.expect("a kind was asked for")),
        Err(response) => return *response,
    };
    match fake.item(kind, &id) {
        Some(item) => reply(StatusCode::OK, json!({"success": true, "data": item}), rate),
        None => Refusal::not_found(kind).into_response(rate),
    }
}

/// A JSON or form body as fields.
fn fields(headers: &HeaderMap, body: &Bytes) -> Result<Value, Refusal> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let map: Map<String, Value> = form_urlencoded::parse(body)
            .into_owned()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return Ok(Value::Object(map));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Refusal::bad("The request body is not a JSON object".into()))
}

async fn create(
    State(fake): State<Arc<Pipedrive>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    write(fake, kind, None, headers, query, body)
}

async fn update(
    State(fake): State<Arc<Pipedrive>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    write(fake, kind, Some(id), headers, query, body)
}

fn write(
    fake: Arc<Pipedrive>,
    kind: String,
    id: Option<String>,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
) -> Response {
    let (_, rate, kind) = match fake.admitted(&headers, query.as_deref(), Some(&kind)) {
        Ok((pairs, rate, kind)) => (pairs, rate, kind.expect("a kind was asked for")),
        Err(response) => return *response,
    };
    let id = match id.map(|id| id.parse::<u64>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Refusal::not_found(kind).into_response(rate),
    };
    let fields = match fields(&headers, &body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(rate),
    };
    if id.is_none() {
        let required = if kind == Kind::Deals { "title" } else { "name" };
        if fields.get(required).and_then(Value::as_str).is_none_or(str::is_empty) {
            let what = if kind == Kind::Deals { "Title" } else { "Name" };
            return Refusal::bad(format!("{what} must be given.")).into_response(rate);
        }
    }
    let mut store = lock(&fake.store);
    let at = store.tick();
    match fake.write(&mut store, kind, id, &fields, at) {
        Ok(item) => reply(StatusCode::OK, json!({"success": true, "data": item}), rate),
        Err(refusal) => refusal.into_response(rate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SpecPatch;

    #[test]
    fn times_are_utc_without_a_zone() {
        assert_eq!(utc_datetime(1_559_103_711_000), "2019-05-29 04:21:51");
        assert_eq!(parse_utc_datetime("2019-05-29 04:21:51"), Some(1_559_103_711_000));
        assert_eq!(parse_utc_datetime("2019-05-29T04:21:51Z"), None);
    }

    #[test]
    fn contact_lists_take_strings_or_objects_and_mark_the_first_primary() {
        assert_eq!(
            contact_list(&json!(["a@x", "b@x"])),
            json!([{"value": "a@x", "primary": true, "label": "work"}, {"value": "b@x", "primary": false, "label": "work"}])
        );
        assert_eq!(
            contact_list(&json!([{"value": "a@x", "label": "home"}])),
            json!([{"value": "a@x", "primary": true, "label": "home"}])
        );
    }

    #[test]
    fn the_spec_patches_parse() {
        let patches: Vec<SpecPatch> = serde_yaml::from_str(SPEC_PATCHES).unwrap();
        assert_eq!(patches.len(), 13);
    }
}
