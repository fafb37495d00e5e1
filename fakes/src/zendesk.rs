//! Fake Zendesk Support API v2: tickets and users, their cursor-based incremental exports,
//! ticket create and update.
//!
//! Zendesk publishes no OpenAPI description. The fake follows developer.zendesk.com's API
//! reference, and records a violation (`violations`) for any request outside the shapes it
//! documents:
//!
//! * "Incremental Exports", Ticket / User Export, Cursor Based:
//!   `GET /api/v2/incremental/{tickets,users}/cursor.json` takes `start_time` (unix seconds) on
//!   the first request or `cursor` (an `after_cursor`) on the next ones, never both, and
//!   `per_page` (at most 1000). It answers `{"tickets"|"users": [...], "after_cursor",
//!   "after_url", "before_cursor", "before_url", "end_of_stream"}`; records are ordered by
//!   `updated_at` (whole seconds, `2024-03-01T10:00:00Z`), those updated at or after
//!   `start_time`.
//! * "Show Ticket" / "Show User" / "Show Self": `{"ticket": {...}}`, `{"user": {...}}`; an unknown
//!   id is 404 `{"error": "RecordNotFound", "description": "Not found"}`.
//! * "Create Ticket" (`POST /api/v2/tickets.json`, `{"ticket": {...}}`, 201 with the ticket and
//!   its `audit`): a ticket needs `comment` (`{"body"}` or `{"html_body"}`); otherwise 422
//!   `{"error": "RecordInvalid", "description": "Record validation errors", "details": {"base":
//!   [{"description": "Description: cannot be blank", "error": "BlankValue"}]}}`. A
//!   `requester` {name, email} becomes a user (found by email when one exists).
//! * "Update Ticket" (`PUT /api/v2/tickets/{id}.json`): a closed ticket answers 422
//!   ("Status: closed prevents ticket update").
//! * "List Organizations" with cursor pagination ("Pagination": `GET /api/v2/organizations.json`,
//!   `page[size]` at most 100, `page[after]` the previous page's `meta.after_cursor`): answers
//!   `{"organizations": [...], "meta": {"has_more", "after_cursor", "before_cursor"}, "links":
//!   {"next", "prev"}}` in id order; "Show Organization" (`GET /organizations/{id}.json`,
//!   `{"organization": {...}}`).
//! * Authentication: `Authorization: Bearer <OAuth token>`, or basic `{email}/token:{api token}`;
//!   otherwise 401 `{"error": "Couldn't authenticate you"}`.
//!
//! Assumed, not documented: the cursor is the fake's own base64 position; ids count up from
//! 10000 (tickets) and 20000 (users).

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
use crate::spec::{Direction, Violation};
use crate::timestamp::now_ms;

/// The OAuth access token the fake accepts.
pub const TOKEN: &str = "zd-fake-oauth-token-7c1e93f0b2a84d65";
/// The API token (basic auth as `{AGENT}/token`).
pub const API_TOKEN: &str = "zd-fake-api-token-Q2hhbmdlTWU1234567890";
/// The agent whose credentials the fake accepts.
pub const AGENT: &str = "agent@example.com";
/// Where the API lives on the server, as Zendesk's (`https://{subdomain}.zendesk.com/api/v2`).
pub const API_PATH: &str = "/api/v2";

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct ZendeskConfig {
    /// Tickets seeded, a minute apart, the newest two minutes ago.
    pub tickets: usize,
    /// End users seeded beside the agent, likewise.
    pub users: usize,
    /// Organizations seeded.
    pub organizations: usize,
    pub faults: FaultConfig,
}

/// The fake account.
pub struct Zendesk {
    tickets: Mutex<BTreeMap<u64, Value>>,
    users: Mutex<BTreeMap<u64, Value>>,
    organizations: Mutex<BTreeMap<u64, Value>>,
    next_ticket: Mutex<u64>,
    next_user: Mutex<u64>,
    base_url: Mutex<String>,
    violations: Arc<crate::spec::ViolationLog>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Zendesk's time format: whole seconds, UTC.
fn zd_time(ms: i64) -> String {
    crate::timestamp::iso_ms(ms - ms.rem_euclid(1000)).replace(".000Z", "Z")
}

fn secs_of(value: &Value) -> i64 {
    value
        .as_str()
        .and_then(crate::timestamp::parse_ms)
        .map_or(0, |ms| ms.div_euclid(1000))
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: ZendeskConfig) -> FakeHandle<Zendesk> {
    let violations: Arc<crate::spec::ViolationLog> = Default::default();
    let state = Arc::new(Zendesk {
        tickets: Mutex::new(BTreeMap::new()),
        users: Mutex::new(BTreeMap::new()),
        organizations: Mutex::new(BTreeMap::new()),
        next_ticket: Mutex::new(10_000),
        next_user: Mutex::new(20_000),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    state.seed(&config);
    state.seed_organizations(config.organizations);
    let routes = state.clone();
    let handle = server::expect_started(
        "zendesk",
        server::spawn(
            Spec {
                name: "zendesk",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: None,
                violations,
                respond: fault,
            },
            move |_| {
                let api = Router::new()
                    .route("/users/me.json", get(me))
                    .route("/users/{id}", get(user))
                    .route("/tickets.json", post(create_ticket))
                    .route("/tickets/{id}", get(ticket).put(update_ticket))
                    .route("/incremental/tickets/cursor.json", get(export_tickets))
                    .route("/incremental/users/cursor.json", get(export_users))
                    .route("/organizations.json", get(list_organizations))
                    .route("/organizations/{id}", get(organization))
                    .with_state(routes);
                Router::new().nest(API_PATH, api)
            },
        ),
    );
    *lock(&state.base_url) = format!("{}{API_PATH}", handle.base_url);
    handle
}

/// The API's base URL on a running fake (`http://127.0.0.1:{port}/api/v2`).
pub fn api_url(handle: &FakeHandle<Zendesk>) -> String {
    format!("{}{API_PATH}", handle.base_url)
}

impl Zendesk {
    fn violation(&self, method: &str, path: &str, pointer: &str, message: impl Into<String>) {
        self.violations.record(
            "zendesk",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }

    fn new_user(&self, name: &str, email: &str, role: &str, at: i64) -> Value {
        let id = {
            let mut next = lock(&self.next_user);
            *next += 1;
            *next
        };
        let user = json!({
            "id": id, "url": format!("https://example.zendesk.com/api/v2/users/{id}.json"),
            "name": name, "email": email, "role": role, "active": true, "verified": true,
            "time_zone": "UTC", "locale": "en-US", "created_at": zd_time(at), "updated_at": zd_time(at),
        });
        lock(&self.users).insert(id, user.clone());
        user
    }

    fn seed(&self, config: &ZendeskConfig) {
        let now = now_ms();
        let oldest = now - 60_000 * (config.tickets.max(config.users) as i64 + 3);
        let agent = self.new_user("Ada Agent", AGENT, "admin", oldest);
        for n in 1..=config.users {
            let at = now - 60_000 * (config.users + 1 - n) as i64 - 60_000;
            self.new_user(
                &format!("Customer {n}"),
                &format!("customer{n}@example.com"),
                "end-user",
                at,
            );
        }
        for n in 1..=config.tickets {
            let at = now - 60_000 * (config.tickets + 1 - n) as i64 - 60_000;
            let id = self.ticket_id();
            let status = ["new", "open", "pending", "solved", "closed"][n % 5];
            lock(&self.tickets).insert(
                id,
                json!({
                    "id": id, "url": format!("https://example.zendesk.com/api/v2/tickets/{id}.json"),
                    "subject": format!("Ticket {n}"), "description": format!("Help with order {n}"),
                    "status": status, "priority": "normal", "type": "question",
                    "requester_id": agent["id"], "submitter_id": agent["id"], "assignee_id": null,
                    "tags": ["seeded"], "created_at": zd_time(at), "updated_at": zd_time(at),
                }),
            );
        }
    }

    fn seed_organizations(&self, count: usize) {
        let now = now_ms();
        let mut orgs = lock(&self.organizations);
        for n in 1..=count {
            let id = 30_000 + n as u64;
            let at = zd_time(now - 60_000 * (count + 1 - n) as i64);
            orgs.insert(
                id,
                json!({
                    "id": id, "url": format!("https://example.zendesk.com/api/v2/organizations/{id}.json"),
                    "name": format!("Organization {n}"), "domain_names": [format!("org{n}.example.com")],
                    "details": "", "notes": "", "group_id": null, "shared_tickets": false,
                    "shared_comments": false, "tags": ["seeded"], "organization_fields": {},
                    "external_id": null, "created_at": at, "updated_at": at,
                }),
            );
        }
    }

    pub fn organization_json(&self, id: &str) -> Option<Value> {
        lock(&self.organizations).get(&id.parse().ok()?).cloned()
    }

    pub fn organization_count(&self) -> usize {
        lock(&self.organizations).len()
    }

    /// Renames an organization as an admin would (`updated_at` becomes now).
    pub fn rename_organization(&self, id: u64, name: &str) -> Option<Value> {
        let mut orgs = lock(&self.organizations);
        let org = orgs.get_mut(&id)?;
        org["name"] = json!(name);
        org["updated_at"] = json!(zd_time(now_ms()));
        Some(org.clone())
    }

    fn ticket_id(&self) -> u64 {
        let mut next = lock(&self.next_ticket);
        *next += 1;
        *next
    }

    pub fn ticket_json(&self, id: &str) -> Option<Value> {
        lock(&self.tickets).get(&id.parse().ok()?).cloned()
    }

    pub fn user_json(&self, id: &str) -> Option<Value> {
        lock(&self.users).get(&id.parse().ok()?).cloned()
    }

    pub fn ticket_count(&self) -> usize {
        lock(&self.tickets).len()
    }

    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// Changes a ticket as an agent would (`updated_at` becomes now).
    pub fn touch_ticket(&self, id: u64, status: &str) -> Option<Value> {
        let mut tickets = lock(&self.tickets);
        let ticket = tickets.get_mut(&id)?;
        ticket["status"] = json!(status);
        ticket["updated_at"] = json!(zd_time(now_ms()));
        Some(ticket.clone())
    }

    /// Renames a user as an agent would (`updated_at` becomes now).
    pub fn rename_user(&self, id: u64, name: &str) -> Option<Value> {
        let mut users = lock(&self.users);
        let user = users.get_mut(&id)?;
        user["name"] = json!(name);
        user["updated_at"] = json!(zd_time(now_ms()));
        Some(user.clone())
    }

    /// Adds an end user as a sign-up would.
    pub fn add_user(&self, name: &str, email: &str) -> Value {
        self.new_user(name, email, "end-user", now_ms())
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        json!({"error": "RecordNotFound", "description": "Not found"}),
    )
}

fn invalid(description: &str, code: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": "RecordInvalid", "description": "Record validation errors",
            "details": {"base": [{"description": description, "error": code}]}}),
    )
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => (
            status,
            [("Retry-After", "1")],
            Json(json!({"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"})),
        )
            .into_response(),
        _ => error(status, json!({"error": "InternalError", "description": "Something went wrong"})),
    }
}

fn authorized(headers: &HeaderMap) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let basic = format!("Basic {}", STANDARD.encode(format!("{AGENT}/token:{API_TOKEN}")));
    let ok = auth.strip_prefix("Bearer ").map(str::trim) == Some(TOKEN) || auth == basic;
    (!ok).then(|| error(StatusCode::UNAUTHORIZED, json!({"error": "Couldn't authenticate you"})))
}

type Params = Query<BTreeMap<String, String>>;

/// The id in `/tickets/{id}.json`.
fn id_of(segment: &str) -> Option<u64> {
    segment.strip_suffix(".json").unwrap_or(segment).parse().ok()
}

/// A cursor-based export of `records` (ordered by `updated_at`, then id).
fn export(zd: &Zendesk, path: &str, key: &str, query: &BTreeMap<String, String>, records: Vec<Value>) -> Response {
    for name in query.keys() {
        if !["start_time", "cursor", "per_page", "include", "exclude_deleted"].contains(&name.as_str()) {
            zd.violation(
                "GET",
                path,
                &format!("/query/{name}"),
                "not a parameter of the cursor-based export",
            );
        }
    }
    let per_page = match query.get("per_page").map(|p| p.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "InvalidPaginationParameter", "description": "per_page must be between 1 and 1000"}),
            )
        }
    };
    let mut records = records;
    records.sort_by_key(|r| (secs_of(&r["updated_at"]), r["id"].as_u64().unwrap_or(0)));
    let start = match (query.get("start_time"), query.get("cursor")) {
        (Some(_), Some(_)) => {
            zd.violation("GET", path, "/query", "start_time and cursor are sent together");
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "InvalidValue", "description": "Use either start_time or cursor, not both"}),
            );
        }
        (Some(text), None) => match text.parse::<i64>() {
            Ok(t) if t >= 0 => records
                .iter()
                .position(|r| secs_of(&r["updated_at"]) >= t)
                .unwrap_or(records.len()),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "InvalidValue", "description": "start_time is not a valid unix time"}),
                )
            }
        },
        (None, Some(cursor)) => match STANDARD
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("pos:").and_then(|n| n.parse::<usize>().ok()))
        {
            Some(n) => n.min(records.len()),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "InvalidValue", "description": "cursor is invalid"}),
                )
            }
        },
        (None, None) => {
            zd.violation("GET", path, "/query", "neither start_time nor cursor");
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "InvalidValue", "description": "start_time or cursor is required"}),
            );
        }
    };
    let page: Vec<Value> = records.iter().skip(start).take(per_page).cloned().collect();
    let end = start + page.len();
    let after = STANDARD.encode(format!("pos:{end}"));
    let base = lock(&zd.base_url).clone();
    let mut body = Map::new();
    body.insert(key.into(), json!(page));
    body.insert("after_cursor".into(), json!(after));
    body.insert(
        "after_url".into(),
        json!(format!(
            "{base}{}?cursor={after}&per_page={per_page}",
            path.trim_start_matches(API_PATH)
        )),
    );
    body.insert("before_cursor".into(), Value::Null);
    body.insert("before_url".into(), Value::Null);
    body.insert("end_of_stream".into(), json!(end >= records.len()));
    Json(Value::Object(body)).into_response()
}

/// `GET /incremental/tickets/cursor.json`.
async fn export_tickets(State(zd): State<Arc<Zendesk>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let tickets: Vec<Value> = lock(&zd.tickets).values().cloned().collect();
    export(
        &zd,
        "/api/v2/incremental/tickets/cursor.json",
        "tickets",
        &query,
        tickets,
    )
}

/// `GET /incremental/users/cursor.json`.
async fn export_users(State(zd): State<Arc<Zendesk>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let users: Vec<Value> = lock(&zd.users).values().cloned().collect();
    export(&zd, "/api/v2/incremental/users/cursor.json", "users", &query, users)
}

/// `GET /organizations.json`: cursor pagination ("Pagination", cursor-based).
async fn list_organizations(State(zd): State<Arc<Zendesk>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = "/api/v2/organizations.json";
    for name in query.keys() {
        if !["page[size]", "page[after]", "page[before]", "sort"].contains(&name.as_str()) {
            zd.violation(
                "GET",
                path,
                &format!("/query/{name}"),
                "not a parameter of List Organizations",
            );
        }
    }
    let size = match query.get("page[size]").map(|p| p.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "InvalidPaginationParameter", "description": "page[size] must be between 1 and 100"}),
            )
        }
    };
    let after = match query.get("page[after]") {
        None => 0,
        Some(cursor) => match STANDARD
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("org:").and_then(|n| n.parse::<u64>().ok()))
        {
            Some(id) => id,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "InvalidPaginationParameter", "description": "page[after] is invalid"}),
                )
            }
        },
    };
    let orgs = lock(&zd.organizations);
    let rest: Vec<&Value> = orgs.range(after + 1..).map(|(_, v)| v).collect();
    let page: Vec<Value> = rest.iter().take(size).map(|v| (*v).clone()).collect();
    let has_more = rest.len() > size;
    let last = page.last().and_then(|o| o["id"].as_u64());
    let after_cursor = last.map(|id| STANDARD.encode(format!("org:{id}")));
    let base = lock(&zd.base_url).clone();
    let next = match (&after_cursor, has_more) {
        (Some(c), true) => json!(format!(
            "{base}/organizations.json?page%5Bafter%5D={c}&page%5Bsize%5D={size}"
        )),
        _ => Value::Null,
    };
    Json(json!({
        "organizations": page,
        "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": null},
        "links": {"next": next, "prev": null},
    }))
    .into_response()
}

/// `GET /organizations/{id}.json`.
async fn organization(State(zd): State<Arc<Zendesk>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match id_of(&id).and_then(|id| lock(&zd.organizations).get(&id).cloned()) {
        Some(org) => Json(json!({"organization": org})).into_response(),
        None => not_found(),
    }
}

/// `GET /users/me.json`.
async fn me(State(zd): State<Arc<Zendesk>>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let agent = lock(&zd.users).values().find(|u| u["email"] == AGENT).cloned();
    Json(json!({"user": agent})).into_response()
}

/// `GET /users/{id}.json`.
async fn user(State(zd): State<Arc<Zendesk>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match id_of(&id).and_then(|id| lock(&zd.users).get(&id).cloned()) {
        Some(user) => Json(json!({"user": user})).into_response(),
        None => not_found(),
    }
}

/// `GET /tickets/{id}.json`.
async fn ticket(State(zd): State<Arc<Zendesk>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match id_of(&id).and_then(|id| lock(&zd.tickets).get(&id).cloned()) {
        Some(ticket) => Json(json!({"ticket": ticket})).into_response(),
        None => not_found(),
    }
}

/// The `ticket` of a create or update body; a body outside the documented envelope is a
/// violation and a 400.
fn ticket_input(zd: &Zendesk, method: &str, path: &str, body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut envelope)) => match envelope.remove("ticket") {
            Some(Value::Object(ticket)) if envelope.is_empty() => Ok(ticket),
            _ => {
                zd.violation(method, path, "/body", "not {\"ticket\": {...}}");
                Err(error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "InvalidEndpoint", "description": "Missing ticket"}),
                ))
            }
        },
        _ => {
            zd.violation(method, path, "/body", "not a JSON object");
            Err(error(
                StatusCode::BAD_REQUEST,
                json!({"error": "InvalidJSON", "description": "Unable to parse JSON"}),
            ))
        }
    }
}

const WRITABLE: &[&str] = &[
    "subject",
    "comment",
    "priority",
    "status",
    "type",
    "tags",
    "requester",
    "requester_id",
    "assignee_id",
    "external_id",
    "due_at",
    "custom_fields",
];

/// Applies the writable fields; a 422 when Zendesk would refuse them.
fn apply(
    zd: &Zendesk,
    method: &str,
    path: &str,
    ticket: &mut Value,
    input: &Map<String, Value>,
) -> Result<(), Response> {
    for (field, value) in input {
        if !WRITABLE.contains(&field.as_str()) {
            zd.violation(
                method,
                path,
                &format!("/body/ticket/{field}"),
                "not a writable ticket field the fake knows",
            );
            continue;
        }
        match field.as_str() {
            "comment" => {
                let body = value["body"]
                    .as_str()
                    .or(value["html_body"].as_str())
                    .unwrap_or_default();
                if body.trim().is_empty() {
                    return Err(invalid("Description: cannot be blank", "BlankValue"));
                }
                if ticket["description"].as_str().unwrap_or_default().is_empty() {
                    ticket["description"] = json!(body);
                }
            }
            "status" => {
                let allowed = ["new", "open", "pending", "hold", "solved", "closed"];
                if !value.as_str().is_some_and(|s| allowed.contains(&s)) {
                    return Err(invalid("Status: is invalid", "InvalidValue"));
                }
                ticket["status"] = value.clone();
            }
            "requester" => {
                let email = value["email"].as_str().unwrap_or_default();
                let existing = lock(&zd.users).values().find(|u| u["email"] == email).cloned();
                let user = existing.unwrap_or_else(|| {
                    zd.new_user(value["name"].as_str().unwrap_or(email), email, "end-user", now_ms())
                });
                ticket["requester_id"] = user["id"].clone();
            }
            _ => ticket[field] = value.clone(),
        }
    }
    Ok(())
}

fn audit(ticket: &Value) -> Value {
    json!({"id": ticket["id"].as_u64().unwrap_or(0) * 10, "ticket_id": ticket["id"], "created_at": ticket["updated_at"], "events": []})
}

/// `POST /tickets.json`.
async fn create_ticket(State(zd): State<Arc<Zendesk>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = "/api/v2/tickets.json";
    let input = match ticket_input(&zd, "POST", path, &body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    if !input.contains_key("comment") {
        return invalid("Description: cannot be blank", "BlankValue");
    }
    let now = zd_time(now_ms());
    let agent = lock(&zd.users)
        .values()
        .find(|u| u["email"] == AGENT)
        .map(|u| u["id"].clone());
    let id = zd.ticket_id();
    let mut ticket = json!({
        "id": id, "url": format!("https://example.zendesk.com/api/v2/tickets/{id}.json"),
        "subject": null, "description": "", "status": "new", "priority": null, "type": null,
        "requester_id": agent, "submitter_id": agent, "assignee_id": null, "tags": [],
        "created_at": now, "updated_at": now,
    });
    if let Err(r) = apply(&zd, "POST", path, &mut ticket, &input) {
        return r;
    }
    lock(&zd.tickets).insert(id, ticket.clone());
    (
        StatusCode::CREATED,
        Json(json!({"ticket": ticket, "audit": audit(&ticket)})),
    )
        .into_response()
}

/// `PUT /tickets/{id}.json`.
async fn update_ticket(
    State(zd): State<Arc<Zendesk>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = format!("/api/v2/tickets/{segment}");
    let input = match ticket_input(&zd, "PUT", &path, &body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let Some(id) = id_of(&segment) else {
        return not_found();
    };
    let Some(mut ticket) = lock(&zd.tickets).get(&id).cloned() else {
        return not_found();
    };
    if ticket["status"] == "closed" {
        return invalid("Status: closed prevents ticket update", "ClosedPreventsUpdate");
    }
    if let Err(r) = apply(&zd, "PUT", &path, &mut ticket, &input) {
        return r;
    }
    ticket["updated_at"] = json!(zd_time(now_ms()));
    lock(&zd.tickets).insert(id, ticket.clone());
    Json(json!({"ticket": ticket, "audit": audit(&ticket)})).into_response()
}
