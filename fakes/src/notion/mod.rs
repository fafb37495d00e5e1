//! Fake Notion API: one database ("Tasks": `Name` title, `Status` select, `Email` email,
//! `Score` number) and its pages.
//!
//! It follows developers.notion.com: "Versioning" (a request without `Notion-Version` is refused
//! with 400 missing_version), "Query a database" (POST body `page_size` up to 100 and
//! `start_cursor`; `next_cursor` is the id of the next page's first result, `has_more`;
//! `sorts` and a `last_edited_time` timestamp filter with `on_or_after` / `after` /
//! `before` / `on_or_before`), "Create a page" and "Update page properties" (page property
//! values by type; a property the database does not have or a value of the wrong type answers
//! 400 validation_error; a select option that does not exist yet is added), "Retrieve a page"
//! (404 object_not_found), "Status codes" and "Request limits". `last_edited_time` is rounded
//! down to the minute, as Notion's is. Tokens are accepted as `Authorization: Bearer`.
//!
//! Every request and response is checked against `notion/openapi.yml` from the specs folder,
//! with the corrections in `spec_patches.yaml` ([`spec_check`]). That copy is loose (it was
//! built from one example database), so the fake's own checks above matter as much.

// Request checks return the response the fake refuses with, built once per refused request:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::rate_limit::{Admission, RateLimit, RollingWindow};
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{SpecCheck, SpecPatch};
use crate::timestamp::{iso_ms, now_ms, parse_ms};

/// The integration token the fake accepts.
pub const TOKEN: &str = "ntn_fakeNotionIntegrationSecret0123456789abcdefABCDEF";
/// The database's id.
pub const DATABASE: &str = "8e2c2b76-9e1d-47d2-87b9-ed3035d607ae";
/// The `Notion-Version` the fake answers.
pub const VERSION: &str = "2022-06-28";
/// The bot user the token belongs to.
const BOT: &str = "92a680bb-6970-4726-952b-4f4c03bff617";

/// The database's properties: (name, id, type).
const PROPERTIES: &[(&str, &str, &str)] = &[
    ("Name", "title", "title"),
    ("Status", "%3AA%3E", "select"),
    ("Email", "Ugh%7C", "email"),
    ("Score", "Xm%40Q", "number"),
];

/// The corrections to Notion's spec the fake's checks use.
pub fn spec_check() -> SpecCheck {
    #[derive(serde::Deserialize)]
    struct Patches {
        spec_patches: Vec<SpecPatch>,
    }
    let patches: Patches = serde_yaml::from_str(include_str!("spec_patches.yaml"))
        .expect("the embedded Notion spec patches parse (the fake's tests load them)");
    SpecCheck {
        files: vec!["notion/openapi.yml".into()],
        patches: patches.spec_patches,
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct NotionConfig {
    /// Pages seeded in the database.
    pub pages: usize,
    /// Check traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    /// The integration's request limit: Notion's average of three a second, held here as at
    /// most 3 in any rolling second (stricter than Notion, which allows some bursts).
    pub rate_limit: Option<RateLimit>,
    pub faults: FaultConfig,
}

impl Default for NotionConfig {
    fn default() -> Self {
        Self {
            pages: 0,
            spec_check: Some(spec_check()),
            rate_limit: Some(RateLimit::new(3, Duration::from_secs(1))),
            faults: FaultConfig::default(),
        }
    }
}

/// One page, in the fields the fake keeps.
#[derive(Debug, Clone)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub status: String,
    pub email: Option<String>,
    pub score: Option<f64>,
    pub created_ms: i64,
    pub edited_ms: i64,
}

/// The fake workspace's state.
pub struct Notion {
    /// Pages by id (ids are generated in creation order).
    pages: Mutex<BTreeMap<String, Page>>,
    /// The Status select's options, in order.
    options: Mutex<Vec<String>>,
    next: Mutex<u64>,
    created_ms: i64,
    rate_limit: Option<RateLimit>,
    window: Mutex<RollingWindow>,
    rate_limited: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Notion's times: to the millisecond; `last_edited_time` rounded down to the minute.
fn minute(ms: i64) -> i64 {
    ms.div_euclid(60_000) * 60_000
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: NotionConfig) -> FakeHandle<Notion> {
    let now = now_ms();
    let state = Arc::new(Notion {
        pages: Mutex::new(BTreeMap::new()),
        options: Mutex::new(vec!["Open".into(), "In progress".into(), "Done".into()]),
        next: Mutex::new(0),
        created_ms: minute(now) - 86_400_000,
        rate_limit: config.rate_limit,
        window: Mutex::new(RollingWindow::default()),
        rate_limited: AtomicU64::new(0),
    });
    state.seed(config.pages, now);
    let routes = state.clone();
    server::expect_started(
        "notion",
        server::spawn(
            Spec {
                name: "notion",
                port: 0,
                state,
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/v1/databases/{id}", get(database))
                    .route("/v1/databases/{id}/query", post(query))
                    .route("/v1/pages", post(create_page))
                    .route("/v1/pages/{id}", get(page).patch(update_page))
                    .with_state(routes)
            },
        ),
    )
}

impl Notion {
    fn new_id(&self) -> String {
        let mut next = lock(&self.next);
        *next += 1;
        format!("59833787-2cf9-4fdf-8782-{:012x}", 0xe53d_b200_0000_u64 + *next)
    }

    fn seed(&self, count: usize, now: i64) {
        let mut pages = lock(&self.pages);
        for n in 1..=count {
            // Two minutes apart, on whole minutes, the newest two minutes ago.
            let at = minute(now) - 120_000 * (count + 1 - n) as i64;
            let id = self.new_id();
            pages.insert(
                id.clone(),
                Page {
                    id,
                    name: format!("Task {n}"),
                    status: ["Open", "In progress", "Done"][n % 3].into(),
                    email: Some(format!("owner{n}@example.com")),
                    score: (n % 2 == 0).then_some(n as f64),
                    created_ms: at,
                    edited_ms: at,
                },
            );
        }
    }

    /// Requests answered 429 by the rate limit.
    pub fn rate_limited_count(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// 429 rate_limited with Retry-After when the request is over the limit.
    fn admit(&self) -> Option<Response> {
        let limit = self.rate_limit?;
        match lock(&self.window).admit(&limit, Instant::now()) {
            Admission::Allowed { .. } => None,
            Admission::Limited { retry_after } => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                let mut response = fault(StatusCode::TOO_MANY_REQUESTS);
                if let Ok(value) = axum::http::HeaderValue::try_from(retry_after.as_secs().max(1).to_string()) {
                    response.headers_mut().insert("retry-after", value);
                }
                Some(response)
            }
        }
    }

    /// A page as kept.
    pub fn page_record(&self, id: &str) -> Option<Page> {
        lock(&self.pages).get(id).cloned()
    }

    /// A page as the API answers it.
    pub fn page_json(&self, id: &str) -> Option<Value> {
        self.page_record(id).map(|p| self.render(&p))
    }

    pub fn count(&self) -> usize {
        lock(&self.pages).len()
    }

    /// The first page whose title is `name`.
    pub fn find(&self, name: &str) -> Option<Page> {
        lock(&self.pages).values().find(|p| p.name == name).cloned()
    }

    /// Changes a page as a user in Notion would: its `last_edited_time` becomes now.
    pub fn touch(&self, id: &str, name: &str) -> Option<Page> {
        let mut pages = lock(&self.pages);
        let page = pages.get_mut(id)?;
        page.name = name.to_owned();
        page.edited_ms = now_ms();
        Some(page.clone())
    }

    fn option(&self, name: &str) -> Value {
        let mut options = lock(&self.options);
        let index = options.iter().position(|o| o == name).unwrap_or_else(|| {
            options.push(name.to_owned());
            options.len() - 1
        });
        let colors = ["default", "blue", "green", "yellow", "red", "purple"];
        json!({"id": format!("opt-{index}"), "name": name, "color": colors[index % colors.len()]})
    }

    fn render(&self, page: &Page) -> Value {
        let user = json!({"object": "user", "id": BOT});
        json!({
            "object": "page",
            "id": page.id,
            "created_time": iso_ms(page.created_ms),
            "last_edited_time": iso_ms(minute(page.edited_ms)),
            "created_by": user,
            "last_edited_by": user,
            "cover": null,
            "icon": null,
            "parent": {"type": "database_id", "database_id": DATABASE},
            "archived": false,
            "in_trash": false,
            "properties": {
                "Name": {"id": "title", "type": "title", "title": [rich_text(&page.name)]},
                "Status": {"id": "%3AA%3E", "type": "select", "select": self.option(&page.status)},
                "Email": {"id": "Ugh%7C", "type": "email", "email": page.email},
                "Score": {"id": "Xm%40Q", "type": "number", "number": page.score},
            },
            "url": format!("https://www.notion.so/{}", page.id.replace('-', "")),
            "public_url": null,
        })
    }
}

fn rich_text(content: &str) -> Value {
    json!({
        "type": "text",
        "text": {"content": content, "link": null},
        "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false,
                        "code": false, "color": "default"},
        "plain_text": content,
        "href": null,
    })
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"object": "error", "status": status.as_u16(), "code": code, "message": message})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => error(
            status,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
        ),
        _ => error(status, "internal_server_error", "Unexpected error occurred."),
    }
}

/// Over the rate limit, bad credentials or a missing `Notion-Version`.
fn refused(notion: &Notion, headers: &HeaderMap) -> Option<Response> {
    if let Some(limited) = notion.admit() {
        return Some(limited);
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token.map(str::trim) != Some(TOKEN) {
        return Some(error(StatusCode::UNAUTHORIZED, "unauthorized", "API token is invalid."));
    }
    match headers.get("notion-version").and_then(|v| v.to_str().ok()) {
        None => Some(error(
            StatusCode::BAD_REQUEST,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
        )),
        Some(v) if parse_ms(&format!("{v}T00:00:00Z")).is_none() => Some(error(
            StatusCode::BAD_REQUEST,
            "validation_error",
            &format!("Notion-Version header failed validation: `{v}` is not a valid version."),
        )),
        Some(_) => None,
    }
}

fn database_known(id: &str) -> Option<Response> {
    (id.replace('-', "") != DATABASE.replace('-', "")).then(|| {
        error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find database with ID: {id}. Make sure the relevant pages and databases are shared with your integration."),
        )
    })
}

/// `GET /v1/databases/{id}`.
async fn database(State(notion): State<Arc<Notion>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&notion, &headers).or_else(|| database_known(&id)) {
        return r;
    }
    let names: Vec<String> = lock(&notion.options).clone();
    let options: Vec<Value> = names.iter().map(|o| notion.option(o)).collect();
    Json(json!({
        "object": "database",
        "id": DATABASE,
        "created_time": iso_ms(notion.created_ms),
        "last_edited_time": iso_ms(notion.created_ms),
        "title": [rich_text("Tasks")],
        "description": [],
        "icon": null,
        "cover": null,
        "properties": {
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Status": {"id": "%3AA%3E", "name": "Status", "type": "select", "select": {"options": options}},
            "Email": {"id": "Ugh%7C", "name": "Email", "type": "email", "email": {}},
            "Score": {"id": "Xm%40Q", "name": "Score", "type": "number", "number": {"format": "number"}},
        },
        "parent": {"type": "workspace", "workspace": true},
        "url": format!("https://www.notion.so/{}", DATABASE.replace('-', "")),
        "archived": false,
        "in_trash": false,
        "is_inline": false,
    }))
    .into_response()
}

fn validation(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "validation_error", message)
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "Error parsing JSON body.",
        )),
    }
}

/// The `last_edited_time` timestamp filter: `(op, ms)`.
fn time_filter(filter: Option<&Value>) -> Result<Option<(String, i64)>, Response> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    if filter["timestamp"] != "last_edited_time" {
        return Err(validation(
            "body failed validation: the fake supports the last_edited_time timestamp filter only.",
        ));
    }
    let condition = filter["last_edited_time"].as_object().filter(|c| c.len() == 1);
    let Some((op, value)) = condition.and_then(|c| c.iter().next()) else {
        return Err(validation(
            "body failed validation: body.filter.last_edited_time should be defined.",
        ));
    };
    let ms = value.as_str().and_then(parse_ms).ok_or_else(|| {
        validation(&format!(
            "body failed validation: body.filter.last_edited_time.{op} should be a valid ISO 8601 date string."
        ))
    })?;
    if !["on_or_after", "after", "before", "on_or_before"].contains(&op.as_str()) {
        return Err(validation(&format!("body failed validation: unknown condition {op}.")));
    }
    Ok(Some((op.clone(), ms)))
}

/// `POST /v1/databases/{id}/query`.
async fn query(State(notion): State<Arc<Notion>>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = refused(&notion, &headers).or_else(|| database_known(&id)) {
        return r;
    }
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let page_size = match body.get("page_size") {
        None => 100,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=100).contains(&n) => n as usize,
            _ => return validation("body failed validation: body.page_size should be ≤ `100`."),
        },
    };
    let filter = match time_filter(body.get("filter")) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let descending = match body.get("sorts").and_then(Value::as_array).and_then(|s| s.first()) {
        None => None,
        Some(sort) if sort["timestamp"] == "last_edited_time" => Some(sort["direction"] == "descending"),
        Some(_) => return validation("body failed validation: the fake sorts on last_edited_time only."),
    };
    let mut pages: Vec<Page> = lock(&notion.pages)
        .values()
        .filter(|p| {
            let at = minute(p.edited_ms);
            filter.as_ref().is_none_or(|(op, ms)| match op.as_str() {
                "on_or_after" => at >= *ms,
                "after" => at > *ms,
                "before" => at < *ms,
                _ => at <= *ms,
            })
        })
        .cloned()
        .collect();
    match descending {
        // Without sorts Notion answers newest created first.
        None => pages.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id))),
        Some(desc) => {
            pages.sort_by(|a, b| (minute(a.edited_ms), &a.id).cmp(&(minute(b.edited_ms), &b.id)));
            if desc {
                pages.reverse();
            }
        }
    }
    let start = match body.get("start_cursor") {
        None => 0,
        Some(cursor) => match cursor.as_str().and_then(|c| pages.iter().position(|p| p.id == c)) {
            Some(i) => i,
            None => return validation("start_cursor provided is invalid."),
        },
    };
    let results: Vec<Value> = pages
        .iter()
        .skip(start)
        .take(page_size)
        .map(|p| notion.render(p))
        .collect();
    let next = pages.get(start + page_size).map(|p| p.id.clone());
    Json(json!({
        "object": "list",
        "results": results,
        "next_cursor": next,
        "has_more": next.is_some(),
        "type": "page_or_database",
        "page_or_database": {},
    }))
    .into_response()
}

/// `GET /v1/pages/{id}`.
async fn page(State(notion): State<Arc<Notion>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&notion, &headers) {
        return r;
    }
    match notion.page_json(&id) {
        Some(page) => Json(page).into_response(),
        None => not_found(&id),
    }
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "object_not_found",
        &format!("Could not find page with ID: {id}. Make sure the relevant pages and databases are shared with your integration."),
    )
}

/// Applies page property values by the database's property types.
fn apply(page: &mut Page, properties: &Map<String, Value>) -> Result<(), Response> {
    for (name, value) in properties {
        let Some((_, _, kind)) = PROPERTIES.iter().find(|(n, id, _)| n == name || id == name) else {
            return Err(validation(&format!("{name} is not a property that exists.")));
        };
        let wrong = |expected: &str| {
            validation(&format!(
                "body failed validation: body.properties.{name}.{kind} should be {expected}, instead was `{}`.",
                value.get(*kind).unwrap_or(&Value::Null)
            ))
        };
        match *kind {
            "title" => {
                let parts = value["title"].as_array().ok_or_else(|| wrong("an array"))?;
                page.name = parts
                    .iter()
                    .map(|p| p["text"]["content"].as_str().or_else(|| p["plain_text"].as_str()))
                    .collect::<Option<String>>()
                    .ok_or_else(|| wrong("an array of text objects"))?;
            }
            "select" => {
                page.status = value["select"]["name"]
                    .as_str()
                    .filter(|s| !s.is_empty() && !s.contains(','))
                    .ok_or_else(|| wrong("an object with a name (no commas)"))?
                    .to_owned();
            }
            "email" => match &value["email"] {
                Value::Null => page.email = None,
                Value::String(e) => page.email = Some(e.clone()),
                _ => return Err(wrong("a string or `null`")),
            },
            _ => match &value["number"] {
                Value::Null => page.score = None,
                Value::Number(n) => page.score = n.as_f64(),
                _ => return Err(wrong("a number or `null`")),
            },
        }
    }
    Ok(())
}

/// `POST /v1/pages`.
async fn create_page(State(notion): State<Arc<Notion>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = refused(&notion, &headers) {
        return r;
    }
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(parent) = body.get("parent").and_then(|p| p["database_id"].as_str()) else {
        return validation(
            "body failed validation: body.parent.database_id should be defined, instead was `undefined`.",
        );
    };
    if let Some(r) = database_known(parent) {
        return r;
    }
    let now = now_ms();
    let mut page = Page {
        id: notion.new_id(),
        name: String::new(),
        status: "Open".into(),
        email: None,
        score: None,
        created_ms: now,
        edited_ms: now,
    };
    let properties = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Err(r) = apply(&mut page, &properties) {
        return r;
    }
    lock(&notion.pages).insert(page.id.clone(), page.clone());
    Json(notion.render(&page)).into_response()
}

/// `PATCH /v1/pages/{id}`.
async fn update_page(
    State(notion): State<Arc<Notion>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&notion, &headers) {
        return r;
    }
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(mut page) = notion.page_record(&id) else {
        return not_found(&id);
    };
    let properties = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Err(r) = apply(&mut page, &properties) {
        return r;
    }
    page.edited_ms = now_ms();
    lock(&notion.pages).insert(id, page.clone());
    Json(notion.render(&page)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_patches_parse_and_apply() {
        let check = spec_check();
        assert_eq!(check.patches.len(), 4);
        check.load().unwrap_or_else(|e| panic!("{e}"));
    }
}
