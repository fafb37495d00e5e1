//! Fake Calendly API v2: the current user, scheduled events and their invitees.
//!
//! Calendly publishes no OpenAPI description we keep in `../shared/specs/`. The fake follows
//! developer.calendly.com's API reference, and records a violation (`violations`) for any
//! request outside the shapes it documents:
//!
//! * "Get current user" (`GET /users/me`): `{"resource": {"uri", "name", "email",
//!   "current_organization", ...}}`.
//! * "List Events" (`GET /scheduled_events`): needs `organization` or `user` (a URI; a 400
//!   otherwise), takes `count` (1 to 100, default 20), `page_token`, `sort`
//!   (`start_time:asc|desc`), `status` (`active|canceled`), `min_start_time`, `max_start_time`,
//!   `invitee_email`. Answers `{"collection": [...], "pagination": {"count", "next_page",
//!   "previous_page", "next_page_token", "previous_page_token"}}`; the last page's
//!   `next_page_token` is null.
//! * "Get Event" (`GET /scheduled_events/{uuid}`): `{"resource": {...}}`.
//! * "List Event Invitees" (`GET /scheduled_events/{uuid}/invitees`): `count`, `page_token`,
//!   `sort` (`created_at:asc|desc`), `status`, `email`; the same envelope. An unknown event is
//!   404.
//! * "Get Event Invitee" (`GET /scheduled_events/{uuid}/invitees/{invitee_uuid}`).
//! * Errors: `{"title": "Resource Not Found", "message": "..."}` (404), `{"title": "Invalid
//!   Argument", "message": "The supplied parameters are invalid.", "details": [{"parameter",
//!   "message"}]}` (400), `{"title": "Unauthenticated", "message": "The access token is invalid"}`
//!   (401). Authentication: `Authorization: Bearer <token>`.
//!
//! * Webhook deliveries ([`Calendly::invitee_webhook`]), as "Webhook payload" shows them: the
//!   invitee with its scheduled event embedded (the caller signs them).
//!
//! Assumed, not documented: page tokens are the fake's own (base64 of a position); uuids are
//! 16 upper-case letters and digits.

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation};
use crate::timestamp::now_ms;

/// The access token the fake accepts.
pub const TOKEN: &str = "calendly-fake-pat-3f9c1e0d7b2a4c58";
/// Where URIs point (Calendly's own host: ids are URIs on it).
pub const API: &str = "https://api.calendly.com";
/// The organization's URI.
pub const ORGANIZATION: &str = "https://api.calendly.com/organizations/ORGFAKE000000001";
/// The token owner's URI.
pub const USER: &str = "https://api.calendly.com/users/USRFAKE000000001";

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct CalendlyConfig {
    /// Scheduled events seeded, an hour apart; event `n` (from 1) has `1 + n % 3` invitees.
    pub events: usize,
    /// Extra invitees on the first event (a group event), to page through one event's list.
    pub group_invitees: usize,
    pub faults: FaultConfig,
}

/// The fake account.
pub struct Calendly {
    /// Events by uuid, in creation order.
    events: Mutex<BTreeMap<String, Value>>,
    /// Invitees by event uuid, then invitee uuid.
    invitees: Mutex<BTreeMap<String, BTreeMap<String, Value>>>,
    base_url: Mutex<String>,
    violations: Arc<crate::spec::ViolationLog>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Calendly's time format: microseconds, `Z`.
fn cal_time(ms: i64) -> String {
    crate::timestamp::iso_ms(ms).replace('Z', "000Z")
}

fn uuid(prefix: &str, n: usize) -> String {
    format!("{prefix}{n:013}")
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: CalendlyConfig) -> FakeHandle<Calendly> {
    let violations: Arc<crate::spec::ViolationLog> = Default::default();
    let state = Arc::new(Calendly {
        events: Mutex::new(BTreeMap::new()),
        invitees: Mutex::new(BTreeMap::new()),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    let handle = server::expect_started(
        "calendly",
        server::spawn(
            Spec {
                name: "calendly",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: None,
                violations,
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/users/me", get(me))
                    .route("/scheduled_events", get(list_events))
                    .route("/scheduled_events/{uuid}", get(event))
                    .route("/scheduled_events/{uuid}/invitees", get(list_invitees))
                    .route("/scheduled_events/{uuid}/invitees/{invitee}", get(invitee))
                    .with_state(routes)
            },
        ),
    );
    *lock(&state.base_url) = handle.base_url.clone();
    handle
}

impl Calendly {
    fn violation(&self, path: &str, pointer: &str, message: impl Into<String>) {
        self.violations.record(
            "calendly",
            vec![Violation::new("-", Direction::Request, "GET", path, pointer, message)],
        );
    }

    fn seed(&self, config: &CalendlyConfig) {
        let now = now_ms();
        let hour = 3_600_000;
        let mut events = lock(&self.events);
        let mut invitees = lock(&self.invitees);
        let mut next_invitee = 0;
        for n in 1..=config.events {
            let id = uuid("EVT", n);
            let created = now - hour * (config.events + 2 - n) as i64;
            let start = now + hour * n as i64;
            let count = 1 + n % 3 + if n == 1 { config.group_invitees } else { 0 };
            events.insert(
                id.clone(),
                json!({
                    "uri": format!("{API}/scheduled_events/{id}"),
                    "name": format!("Meeting {n}"),
                    "meeting_notes_plain": null, "meeting_notes_html": null,
                    "status": "active",
                    "start_time": cal_time(start), "end_time": cal_time(start + 1_800_000),
                    "event_type": format!("{API}/event_types/ETFAKE0000000001"),
                    "location": {"type": "zoom", "location": "https://zoom.example/j/1", "status": null, "join_url": null, "data": null},
                    "invitees_counter": {"total": count, "active": count, "limit": count.max(1)},
                    "created_at": cal_time(created), "updated_at": cal_time(created),
                    "event_memberships": [{"user": USER, "user_email": "host@example.com", "user_name": "Hazel Host"}],
                    "event_guests": [],
                    "calendar_event": null,
                }),
            );
            let list = invitees.entry(id.clone()).or_default();
            for _ in 0..count {
                next_invitee += 1;
                let invitee_id = uuid("INV", next_invitee);
                list.insert(
                    invitee_id.clone(),
                    self::invitee_json(&id, &invitee_id, next_invitee, created),
                );
            }
        }
    }

    /// An event's JSON by uuid.
    pub fn event_json(&self, uuid: &str) -> Option<Value> {
        lock(&self.events).get(uuid).cloned()
    }

    /// An invitee's JSON by its URI.
    pub fn invitee_by_uri(&self, uri: &str) -> Option<Value> {
        let rest = uri.strip_prefix(&format!("{API}/scheduled_events/"))?;
        let (event, invitee) = rest.split_once("/invitees/")?;
        lock(&self.invitees).get(event)?.get(invitee).cloned()
    }

    pub fn event_count(&self) -> usize {
        lock(&self.events).len()
    }

    pub fn invitee_count(&self) -> usize {
        lock(&self.invitees).values().map(BTreeMap::len).sum()
    }

    /// Cancels an event as its host would (`status: canceled`, `updated_at` now).
    pub fn cancel_event(&self, uuid: &str) -> Option<Value> {
        let mut events = lock(&self.events);
        let event = events.get_mut(uuid)?;
        event["status"] = json!("canceled");
        event["updated_at"] = json!(cal_time(now_ms()));
        Some(event.clone())
    }

    /// Marks an invitee as canceled, as Calendly does when they cancel.
    pub fn cancel_invitee(&self, uri: &str) -> Option<Value> {
        let rest = uri.strip_prefix(&format!("{API}/scheduled_events/"))?;
        let (event, invitee) = rest.split_once("/invitees/")?;
        let mut invitees = lock(&self.invitees);
        let record = invitees.get_mut(event)?.get_mut(invitee)?;
        record["status"] = json!("canceled");
        record["updated_at"] = json!(cal_time(now_ms()));
        record["cancellation"] = json!({"canceled_by": record["name"], "reason": "Conflict", "canceler_type": "invitee", "created_at": record["updated_at"]});
        Some(record.clone())
    }

    /// Adds an invitee to an event, as a booking would.
    pub fn book(&self, event: &str, name: &str, email: &str) -> Option<Value> {
        let mut invitees = lock(&self.invitees);
        let total: usize = invitees.values().map(BTreeMap::len).sum();
        let list = invitees.get_mut(event)?;
        let id = uuid("INV", total + 1_000_000);
        let mut record = invitee_json(event, &id, total + 1_000_000, now_ms());
        record["name"] = json!(name);
        record["email"] = json!(email);
        list.insert(id, record.clone());
        Some(record)
    }

    /// The webhook delivery Calendly sends about invitee `uri` ("Webhook payload": `{"event":
    /// "invitee.created" | "invitee.canceled", "created_at", "created_by", "payload": <the
    /// invitee, with its event's URI in `event` and the event itself in `scheduled_event`>}`),
    /// as the invitee is now; `None` for an unknown invitee.
    pub fn invitee_webhook(&self, kind: &str, uri: &str) -> Option<Value> {
        let mut payload = self.invitee_by_uri(uri)?;
        let event_uuid = payload["event"].as_str()?.rsplit('/').next()?.to_owned();
        payload["scheduled_event"] = self.event_json(&event_uuid)?;
        Some(json!({
            "event": kind, "created_at": payload["updated_at"], "created_by": USER, "payload": payload,
        }))
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }
}

fn invitee_json(event: &str, id: &str, n: usize, at: i64) -> Value {
    json!({
        "uri": format!("{API}/scheduled_events/{event}/invitees/{id}"),
        "email": format!("guest{n}@example.com"),
        "first_name": null, "last_name": null,
        "name": format!("Guest {n}"),
        "status": "active",
        "questions_and_answers": [],
        "timezone": "Europe/London",
        "event": format!("{API}/scheduled_events/{event}"),
        "created_at": cal_time(at), "updated_at": cal_time(at),
        "tracking": {"utm_campaign": null, "utm_source": null, "utm_medium": null, "utm_content": null, "utm_term": null, "salesforce_uuid": null},
        "text_reminder_number": null,
        "rescheduled": false, "old_invitee": null, "new_invitee": null,
        "cancel_url": format!("https://calendly.com/cancellations/{id}"),
        "reschedule_url": format!("https://calendly.com/reschedulings/{id}"),
        "routing_form_submission": null, "cancellation": null, "payment": null,
        "no_show": null, "reconfirmation": null, "scheduling_method": null, "invitee_scheduled_by": null,
    })
}

fn error(status: StatusCode, title: &str, message: &str) -> Response {
    (status, Json(json!({"title": title, "message": message}))).into_response()
}

fn invalid(parameter: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
            "details": [{"parameter": parameter, "message": message}]}),
        ),
    )
        .into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Resource Not Found",
        "The server could not find the requested resource.",
    )
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => (
            status,
            [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1")],
            Json(json!({"title": "Too Many Requests", "message": "You have exceeded the rate limit"})),
        )
            .into_response(),
        _ => error(status, "Internal Server Error", "An unexpected error occurred"),
    }
}

fn authorized(headers: &HeaderMap) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ok = auth.strip_prefix("Bearer ").map(str::trim) == Some(TOKEN);
    (!ok).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "The access token is invalid",
        )
    })
}

type Params = Query<BTreeMap<String, String>>;

/// Checks the parameter names and `count`; the page size.
fn paging(cal: &Calendly, path: &str, query: &BTreeMap<String, String>, known: &[&str]) -> Result<usize, Response> {
    for name in query.keys() {
        if !known.contains(&name.as_str()) {
            cal.violation(path, &format!("/query/{name}"), "not a parameter of this list");
        }
    }
    match query.get("count").map(|c| c.parse::<usize>()) {
        None => Ok(20),
        Some(Ok(n)) if (1..=100).contains(&n) => Ok(n),
        _ => {
            cal.violation(path, "/query/count", "count must be 1 to 100");
            Err(invalid("count", "must be between 1 and 100"))
        }
    }
}

/// One page of `records` from `page_token`, in Calendly's envelope.
fn page(cal: &Calendly, path: &str, query: &BTreeMap<String, String>, count: usize, records: Vec<Value>) -> Response {
    let start = match query.get("page_token") {
        None => 0,
        Some(token) => match URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("at:").and_then(|n| n.parse::<usize>().ok()))
        {
            Some(n) => n.min(records.len()),
            None => return invalid("page_token", "is invalid"),
        },
    };
    let end = (start + count).min(records.len());
    let token_at = |at: usize| URL_SAFE_NO_PAD.encode(format!("at:{at}"));
    let next = (end < records.len()).then(|| token_at(end));
    let previous = (start > 0).then(|| token_at(start.saturating_sub(count)));
    let base = lock(&cal.base_url).clone();
    let link = |token: &Option<String>| {
        token
            .as_ref()
            .map(|t| format!("{base}{path}?count={count}&page_token={t}"))
    };
    Json(json!({
        "collection": records[start..end].to_vec(),
        "pagination": {
            "count": end - start,
            "next_page": link(&next),
            "previous_page": link(&previous),
            "next_page_token": next,
            "previous_page_token": previous,
        },
    }))
    .into_response()
}

/// Sorts by a `field:asc|desc` parameter among `allowed` fields.
fn sort(
    cal: &Calendly,
    path: &str,
    query: &BTreeMap<String, String>,
    allowed: &str,
    records: &mut [Value],
) -> Result<(), Response> {
    let Some(sort) = query.get("sort") else { return Ok(()) };
    let (field, dir) = sort.split_once(':').unwrap_or((sort.as_str(), ""));
    if field != allowed || !["asc", "desc"].contains(&dir) {
        cal.violation(path, "/query/sort", format!("not `{allowed}:asc` or `{allowed}:desc`"));
        return Err(invalid("sort", "is invalid"));
    }
    records.sort_by(|a, b| {
        a[field]
            .as_str()
            .cmp(&b[field].as_str())
            .then(a["uri"].as_str().cmp(&b["uri"].as_str()))
    });
    if dir == "desc" {
        records.reverse();
    }
    Ok(())
}

/// `GET /users/me`.
async fn me(headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    Json(json!({"resource": {
        "uri": USER, "name": "Hazel Host", "slug": "hazel-host", "email": "host@example.com",
        "scheduling_url": "https://calendly.com/hazel-host", "timezone": "Europe/London",
        "avatar_url": null, "created_at": "2020-01-01T00:00:00.000000Z", "updated_at": "2020-01-01T00:00:00.000000Z",
        "current_organization": ORGANIZATION, "resource_type": "User", "locale": "en",
    }}))
    .into_response()
}

/// `GET /scheduled_events`.
async fn list_events(State(cal): State<Arc<Calendly>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = "/scheduled_events";
    let count = match paging(
        &cal,
        path,
        &query,
        &[
            "organization",
            "user",
            "count",
            "page_token",
            "sort",
            "status",
            "min_start_time",
            "max_start_time",
            "invitee_email",
            "group",
        ],
    ) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match (query.get("organization"), query.get("user")) {
        (None, None) => {
            cal.violation(path, "/query", "neither organization nor user");
            return invalid("organization", "organization or user is required");
        }
        (Some(org), _) if org != ORGANIZATION => {
            return error(StatusCode::FORBIDDEN, "Permission Denied", "You do not have permission")
        }
        (_, Some(user)) if user != USER => {
            return error(StatusCode::FORBIDDEN, "Permission Denied", "You do not have permission")
        }
        _ => {}
    }
    let mut records: Vec<Value> = lock(&cal.events)
        .values()
        .filter(|e| query.get("status").is_none_or(|s| e["status"] == s.as_str()))
        .cloned()
        .collect();
    if let Err(r) = sort(&cal, path, &query, "start_time", &mut records) {
        return r;
    }
    page(&cal, path, &query, count, records)
}

/// `GET /scheduled_events/{uuid}`.
async fn event(State(cal): State<Arc<Calendly>>, Path(uuid): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match cal.event_json(&uuid) {
        Some(event) => Json(json!({"resource": event})).into_response(),
        None => not_found(),
    }
}

/// `GET /scheduled_events/{uuid}/invitees`.
async fn list_invitees(
    State(cal): State<Arc<Calendly>>,
    Path(uuid): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = format!("/scheduled_events/{uuid}/invitees");
    let count = match paging(&cal, &path, &query, &["count", "page_token", "sort", "status", "email"]) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let Some(list) = lock(&cal.invitees).get(&uuid).cloned() else {
        return not_found();
    };
    let mut records: Vec<Value> = list
        .into_values()
        .filter(|i| query.get("status").is_none_or(|s| i["status"] == s.as_str()))
        .filter(|i| query.get("email").is_none_or(|e| i["email"] == e.as_str()))
        .collect();
    if let Err(r) = sort(&cal, &path, &query, "created_at", &mut records) {
        return r;
    }
    page(&cal, &path, &query, count, records)
}

/// `GET /scheduled_events/{uuid}/invitees/{invitee}`.
async fn invitee(
    State(cal): State<Arc<Calendly>>,
    Path((uuid, invitee)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match lock(&cal.invitees).get(&uuid).and_then(|l| l.get(&invitee)).cloned() {
        Some(record) => Json(json!({"resource": record})).into_response(),
        None => not_found(),
    }
}
