//! Fake Canvas LMS REST API: one account's users and courses, one course's enrollments and
//! submissions, user and enrollment creation, and Canvas's throttle.
//!
//! Instructure documents the API per resource at canvas.instructure.com/doc/api and publishes
//! no OpenAPI description in the specs folder. This fake follows those pages and checks each
//! request against them, recording departures as violations:
//!
//! * "Pagination": lists answer a bare array, `per_page` (capped at 100), an RFC 8288 `Link`
//!   header with `rel="current"`, `"first"` and, but on the last page, `"next"`; the `page`
//!   values in those URLs are to be treated as opaque.
//! * "Users": `GET /api/v1/accounts/:account_id/users`, `GET /api/v1/users/:id` (`self` is the
//!   token's user), `POST /api/v1/accounts/:account_id/users` with `user[name]` required and
//!   `pseudonym[unique_id]` required and unique in the account (a taken one is 400 `{"errors":
//!   {"pseudonym": {"unique_id": [{"attribute", "type": "taken", "message"}]}}}`).
//! * "Courses": `GET /api/v1/accounts/:account_id/courses`, `GET /api/v1/courses/:id`.
//! * "Object IDs, SIS IDs, and special IDs": an enrollment's user may be named
//!   `sis_user_id:<SIS id>` instead of its Canvas id.
//! * "Enrollments": `GET /api/v1/courses/:course_id/enrollments`, `GET
//!   /api/v1/accounts/:account_id/enrollments/:id`, `POST /api/v1/courses/:course_id/enrollments`
//!   with `enrollment[user_id]` and `enrollment[type]` (`StudentEnrollment`,
//!   `TeacherEnrollment`, `TaEnrollment`, `DesignerEnrollment`, `ObserverEnrollment`); an
//!   unknown user or course is 404 `{"errors": [{"message": "The specified resource does not
//!   exist."}]}`.
//! * "Submissions": `GET /api/v1/courses/:course_id/students/submissions` with
//!   `student_ids[]=all` and `submitted_since` (submissions submitted at or after it).
//! * "Throttling": a leaky bucket per token (700 units high, 10 units a second out, by
//!   default; both configurable here); every response carries `X-Request-Cost` and
//!   `X-Rate-Limit-Remaining`; a request that would overflow the bucket is answered `403
//!   Forbidden (Rate Limit Exceeded)` as text and counted ([`Canvas::throttled`]).
//!
//! Assumed: every request costs the same ([`CanvasConfig::request_cost`]; Canvas charges CPU
//! and database time); no pre-flight penalty (the connector sends one request at a time);
//! objects carry the documented fields listed in this file's constructors, not every field
//! Canvas returns; the account is `self` or [`ACCOUNT`].

// Request checks return the response the fake refuses with.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::{iso_ms, now_ms, parse_ms};

/// The access token the fake accepts.
pub const TOKEN: &str = "7~fakecanvastokenABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef";
/// The account id.
pub const ACCOUNT: u64 = 1;
/// The course whose enrollments and submissions are seeded.
pub const COURSE: u64 = 101;
/// The token's user.
pub const ME: u64 = 1;

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct CanvasConfig {
    pub users: usize,
    pub courses: usize,
    /// Seeded users enrolled as students in [`COURSE`], each with one submission.
    pub enrolled: usize,
    /// The bucket's high-water mark.
    pub high_water: f64,
    /// Units leaked per second.
    pub outflow: f64,
    /// What each request costs.
    pub request_cost: f64,
    pub faults: FaultConfig,
}

impl Default for CanvasConfig {
    fn default() -> Self {
        Self {
            users: 0,
            courses: 0,
            enrolled: 0,
            high_water: 700.0,
            outflow: 10.0,
            request_cost: 0.5,
            faults: FaultConfig::default(),
        }
    }
}

struct Bucket {
    used: f64,
    at: Instant,
    throttled: usize,
    high_water: f64,
    outflow: f64,
    cost: f64,
}

/// The fake account.
pub struct Canvas {
    users: Mutex<BTreeMap<u64, Value>>,
    courses: Mutex<BTreeMap<u64, Value>>,
    enrollments: Mutex<BTreeMap<u64, Value>>,
    submissions: Mutex<BTreeMap<u64, Value>>,
    next_id: Mutex<u64>,
    bucket: Mutex<Bucket>,
    base_url: Mutex<String>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: CanvasConfig) -> FakeHandle<Canvas> {
    server::expect_started("canvas", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: CanvasConfig) -> io::Result<FakeHandle<Canvas>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Canvas {
        users: Mutex::new(BTreeMap::new()),
        courses: Mutex::new(BTreeMap::new()),
        enrollments: Mutex::new(BTreeMap::new()),
        submissions: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(10_000),
        bucket: Mutex::new(Bucket {
            used: 0.0,
            at: Instant::now(),
            throttled: 0,
            high_water: config.high_water,
            outflow: config.outflow,
            cost: config.request_cost,
        }),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    let handle = server::spawn(
        Spec {
            name: "canvas",
            port: 0,
            state: state.clone(),
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            let api = Router::new()
                .route("/users/{id}", get(user))
                .route("/accounts/{account}/users", get(list_users).post(create_user))
                .route("/accounts/{account}/courses", get(list_courses))
                .route("/courses/{id}", get(course))
                .route(
                    "/courses/{id}/enrollments",
                    get(list_enrollments).post(create_enrollment),
                )
                .route("/accounts/{account}/enrollments/{id}", get(enrollment))
                .route("/courses/{id}/students/submissions", get(list_submissions))
                .layer(from_fn_with_state(routes.clone(), throttle))
                .with_state(routes);
            Router::new().nest("/api/v1", api)
        },
    )?;
    *lock(&state.base_url) = handle.base_url.clone();
    Ok(handle)
}

fn user_json(id: u64, name: &str, login: &str, at: i64) -> Value {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    json!({
        "id": id, "name": name, "sortable_name": format!("{last}, {first}"), "short_name": name,
        "sis_user_id": null, "login_id": login, "email": login, "created_at": iso(at),
    })
}

/// Canvas writes times as `2026-11-27T09:30:00Z` (no fraction).
fn iso(ms: i64) -> String {
    let text = iso_ms(ms);
    format!("{}Z", text.split('.').next().unwrap_or_default())
}

impl Canvas {
    fn seed(&self, config: &CanvasConfig) {
        let now = now_ms();
        let mut users = lock(&self.users);
        users.insert(
            ME,
            user_json(ME, "Admin User", "admin@example.edu.au", now - 86_400_000),
        );
        for n in 1..=config.users as u64 {
            users.insert(
                1000 + n,
                user_json(
                    1000 + n,
                    &format!("Student {n}"),
                    &format!("student{n}@example.edu.au"),
                    now,
                ),
            );
        }
        drop(users);
        let mut courses = lock(&self.courses);
        for n in 0..config.courses.max(1) as u64 {
            let id = COURSE + n;
            courses.insert(
                id,
                json!({
                    "id": id, "name": format!("BSB{:05} Unit {n}", 50000 + n), "course_code": format!("BSB{:05}", 50000 + n),
                    "account_id": ACCOUNT, "workflow_state": "available", "start_at": null, "end_at": null,
                    "created_at": iso(now - 86_400_000), "sis_course_id": null, "enrollment_term_id": 1,
                }),
            );
        }
        drop(courses);
        for n in 1..=config.enrolled.min(config.users) as u64 {
            let user = 1000 + n;
            self.enroll(COURSE, user, "StudentEnrollment");
            // Submitted two minutes apart, the newest two minutes ago (past the lookback).
            let at = now - 120_000 * (config.enrolled as i64 + 1 - n as i64);
            let id = self.new_id();
            lock(&self.submissions).insert(
                id,
                json!({
                    "id": id, "assignment_id": 501, "user_id": user, "submitted_at": iso(at),
                    "score": null, "grade": null, "workflow_state": "submitted", "attempt": 1,
                    "graded_at": null,
                }),
            );
        }
    }

    fn new_id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    fn enroll(&self, course: u64, user: u64, kind: &str) -> Value {
        let id = self.new_id();
        let now = iso(now_ms());
        let u = self.user(user).unwrap_or_default();
        let role = kind.trim_end_matches("Enrollment");
        let enrollment = json!({
            "id": id, "course_id": course, "user_id": user, "type": kind,
            "enrollment_state": "active", "role": kind, "role_id": match role { "Student" => 3, "Teacher" => 4, _ => 5 },
            "created_at": now, "updated_at": now,
            "user": {"id": user, "name": u["name"], "sortable_name": u["sortable_name"], "short_name": u["short_name"], "login_id": u["login_id"]},
        });
        lock(&self.enrollments).insert(id, enrollment.clone());
        enrollment
    }

    /// Enrolls a user as a student, as an administrator would in Canvas.
    pub fn enroll_as_admin(&self, course: u64, user: u64) -> Value {
        self.enroll(course, user, "StudentEnrollment")
    }

    pub fn user(&self, id: u64) -> Option<Value> {
        lock(&self.users).get(&id).cloned()
    }

    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// The user whose login is `login`.
    pub fn find_user(&self, login: &str) -> Option<Value> {
        lock(&self.users).values().find(|u| u["login_id"] == login).cloned()
    }

    /// The user with this SIS id.
    pub fn find_user_by_sis(&self, sis: &str) -> Option<Value> {
        lock(&self.users).values().find(|u| u["sis_user_id"] == sis).cloned()
    }

    pub fn course(&self, id: u64) -> Option<Value> {
        lock(&self.courses).get(&id).cloned()
    }

    pub fn course_count(&self) -> usize {
        lock(&self.courses).len()
    }

    pub fn enrollment(&self, id: u64) -> Option<Value> {
        lock(&self.enrollments).get(&id).cloned()
    }

    /// Enrollments in a course.
    pub fn enrollment_count(&self, course: u64) -> usize {
        lock(&self.enrollments)
            .values()
            .filter(|e| e["course_id"] == course)
            .count()
    }

    /// The enrollment of `user` in `course`.
    pub fn enrollment_of(&self, course: u64, user: u64) -> Option<Value> {
        lock(&self.enrollments)
            .values()
            .find(|e| e["course_id"] == course && e["user_id"] == user)
            .cloned()
    }

    pub fn submission(&self, id: u64) -> Option<Value> {
        lock(&self.submissions).get(&id).cloned()
    }

    pub fn submission_count(&self) -> usize {
        lock(&self.submissions).len()
    }

    /// A student submits again: `submitted_at` becomes now.
    pub fn resubmit(&self, id: u64) -> Option<Value> {
        let mut submissions = lock(&self.submissions);
        let s = submissions.get_mut(&id)?;
        s["submitted_at"] = json!(iso(now_ms()));
        s["attempt"] = json!(s["attempt"].as_u64().unwrap_or(0) + 1);
        Some(s.clone())
    }

    /// Renames a user as an administrator would.
    pub fn rename_user(&self, id: u64, name: &str) -> Option<Value> {
        let mut users = lock(&self.users);
        let u = users.get_mut(&id)?;
        u["name"] = json!(name);
        u["short_name"] = json!(name);
        Some(u.clone())
    }

    /// Renames a course.
    pub fn rename_course(&self, id: u64, name: &str) -> Option<Value> {
        let mut courses = lock(&self.courses);
        let c = courses.get_mut(&id)?;
        c["name"] = json!(name);
        Some(c.clone())
    }

    /// Requests refused by the throttle.
    pub fn throttled(&self) -> usize {
        lock(&self.bucket).throttled
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "canvas",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

fn errors(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"errors": [{"message": message}]}))).into_response()
}

fn not_found() -> Response {
    errors(StatusCode::NOT_FOUND, "The specified resource does not exist.")
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::FORBIDDEN => (status, "403 Forbidden (Rate Limit Exceeded)\n").into_response(),
        _ => errors(status, "An error occurred."),
    }
}

/// Authentication and the leaky bucket, in front of every route.
async fn throttle(State(canvas): State<Arc<Canvas>>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(TOKEN) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "unauthenticated", "errors": [{"message": "user authorization required"}]})),
        )
            .into_response();
    }
    let (cost, remaining, refused) = {
        let mut b = lock(&canvas.bucket);
        let now = Instant::now();
        let leaked = b.outflow * now.duration_since(b.at).as_secs_f64();
        b.used = (b.used - leaked).max(0.0);
        b.at = now;
        if b.used + b.cost > b.high_water {
            b.throttled += 1;
            (0.0, b.high_water - b.used, true)
        } else {
            b.used += b.cost;
            (b.cost, b.high_water - b.used, false)
        }
    };
    let mut response = if refused {
        (StatusCode::FORBIDDEN, "403 Forbidden (Rate Limit Exceeded)\n").into_response()
    } else {
        next.run(req).await
    };
    let headers = response.headers_mut();
    for (name, value) in [("x-request-cost", cost), ("x-rate-limit-remaining", remaining)] {
        if let Ok(v) = HeaderValue::from_str(&format!("{value:.4}")) {
            headers.insert(name, v);
        }
    }
    response
}

type Params = Vec<(String, String)>;

fn params(query: Option<String>) -> Params {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Records a violation for each query parameter the endpoint's page does not list.
fn check_params(canvas: &Canvas, uri: &Uri, params: &Params, allowed: &[&str]) {
    for (name, _) in params {
        if !allowed.contains(&name.as_str()) {
            canvas.violation(
                "GET",
                uri.path(),
                &format!("/query/{name}"),
                format!("`{name}` is not a documented parameter of this endpoint"),
            );
        }
    }
}

fn account_ok(account: &str) -> bool {
    account == "self" || account == ACCOUNT.to_string()
}

/// One page of `items` with Canvas's `Link` header.
fn paged(canvas: &Canvas, uri: &Uri, params: &Params, items: Vec<Value>) -> Response {
    let per_page = param(params, "per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let page = param(params, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let more = page * per_page < items.len();
    let data: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let url = |n: usize| {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .cloned()
            .collect();
        pairs.push(("page".into(), n.to_string()));
        pairs.push(("per_page".into(), per_page.to_string()));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        // `uri` is the path below the `/api/v1` nest.
        format!("{}/api/v1{}?{query}", lock(&canvas.base_url), uri.path())
    };
    let mut links = vec![format!("<{}>; rel=\"current\"", url(page))];
    if more {
        links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
    }
    links.push(format!("<{}>; rel=\"first\"", url(1)));
    let mut response = Json(Value::Array(data)).into_response();
    if let Ok(v) = HeaderValue::from_str(&links.join(",")) {
        response.headers_mut().insert("link", v);
    }
    response
}

async fn user(State(canvas): State<Arc<Canvas>>, Path(id): Path<String>) -> Response {
    let id = if id == "self" { ME } else { id.parse().unwrap_or(0) };
    canvas.user(id).map_or_else(not_found, |u| Json(u).into_response())
}

async fn list_users(
    State(canvas): State<Arc<Canvas>>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Response {
    if !account_ok(&account) {
        return not_found();
    }
    let p = params(query);
    check_params(
        &canvas,
        &uri,
        &p,
        &["per_page", "page", "search_term", "sort", "order", "enrollment_type"],
    );
    let users: Vec<Value> = lock(&canvas.users).values().cloned().collect();
    paged(&canvas, &uri, &p, users)
}

async fn list_courses(
    State(canvas): State<Arc<Canvas>>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Response {
    if !account_ok(&account) {
        return not_found();
    }
    let p = params(query);
    check_params(
        &canvas,
        &uri,
        &p,
        &["per_page", "page", "search_term", "state[]", "published"],
    );
    let courses: Vec<Value> = lock(&canvas.courses).values().cloned().collect();
    paged(&canvas, &uri, &p, courses)
}

async fn course(State(canvas): State<Arc<Canvas>>, Path(id): Path<String>) -> Response {
    canvas
        .course(id.parse().unwrap_or(0))
        .map_or_else(not_found, |c| Json(c).into_response())
}

async fn list_enrollments(
    State(canvas): State<Arc<Canvas>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Response {
    let course: u64 = id.parse().unwrap_or(0);
    if canvas.course(course).is_none() {
        return not_found();
    }
    let p = params(query);
    check_params(&canvas, &uri, &p, &["per_page", "page", "type[]", "state[]", "user_id"]);
    let items: Vec<Value> = lock(&canvas.enrollments)
        .values()
        .filter(|e| e["course_id"] == course)
        .cloned()
        .collect();
    paged(&canvas, &uri, &p, items)
}

async fn enrollment(State(canvas): State<Arc<Canvas>>, Path((account, id)): Path<(String, String)>) -> Response {
    if !account_ok(&account) {
        return not_found();
    }
    canvas
        .enrollment(id.parse().unwrap_or(0))
        .map_or_else(not_found, |e| Json(e).into_response())
}

async fn list_submissions(
    State(canvas): State<Arc<Canvas>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Response {
    let course: u64 = id.parse().unwrap_or(0);
    if canvas.course(course).is_none() {
        return not_found();
    }
    let p = params(query);
    check_params(
        &canvas,
        &uri,
        &p,
        &[
            "per_page",
            "page",
            "student_ids[]",
            "assignment_ids[]",
            "submitted_since",
            "graded_since",
            "workflow_state",
        ],
    );
    if param(&p, "student_ids[]").is_none() {
        canvas.violation(
            "GET",
            uri.path(),
            "/query/student_ids[]",
            "student_ids[] is required".into(),
        );
    }
    let since = match param(&p, "submitted_since") {
        None => None,
        Some(text) => match parse_ms(text) {
            Some(ms) => Some(ms),
            None => return errors(StatusCode::BAD_REQUEST, "submitted_since: invalid date-time"),
        },
    };
    let enrolled: Vec<Value> = lock(&canvas.enrollments)
        .values()
        .filter(|e| e["course_id"] == course)
        .map(|e| e["user_id"].clone())
        .collect();
    let items: Vec<Value> = lock(&canvas.submissions)
        .values()
        .filter(|s| enrolled.contains(&s["user_id"]))
        .filter(|s| {
            since.is_none_or(|since| {
                s["submitted_at"]
                    .as_str()
                    .and_then(parse_ms)
                    .is_some_and(|at| at >= since)
            })
        })
        .cloned()
        .collect();
    paged(&canvas, &uri, &p, items)
}

fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) if is_json => Ok(v),
        _ => Err(errors(StatusCode::BAD_REQUEST, "The request body could not be parsed")),
    }
}

async fn create_user(
    State(canvas): State<Arc<Canvas>>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !account_ok(&account) {
        return not_found();
    }
    let input = match json_body(&headers, &body) {
        Ok(v) => v,
        Err(r) => {
            canvas.violation("POST", uri.path(), "/body", "a JSON object".into());
            return r;
        }
    };
    for key in input.as_object().into_iter().flat_map(|o| o.keys()) {
        if ![
            "user",
            "pseudonym",
            "communication_channel",
            "force_validations",
            "enable_sis_reactivation",
        ]
        .contains(&key.as_str())
        {
            canvas.violation(
                "POST",
                uri.path(),
                &format!("/body/{key}"),
                "not a documented parameter".into(),
            );
        }
    }
    let Some(name) = input.pointer("/user/name").and_then(Value::as_str) else {
        canvas.violation("POST", uri.path(), "/body/user/name", "user[name] is required".into());
        return errors(StatusCode::BAD_REQUEST, "user[name] is required");
    };
    let Some(login) = input.pointer("/pseudonym/unique_id").and_then(Value::as_str) else {
        canvas.violation(
            "POST",
            uri.path(),
            "/body/pseudonym/unique_id",
            "pseudonym[unique_id] is required".into(),
        );
        return errors(StatusCode::BAD_REQUEST, "pseudonym[unique_id] is required");
    };
    if canvas.find_user(login).is_some() || login.trim().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": {"pseudonym": {"unique_id": [{
                "attribute": "unique_id", "type": "taken",
                "message": "ID already in use for this account and authentication provider"
            }]}}})),
        )
            .into_response();
    }
    let id = canvas.new_id();
    let mut user = user_json(id, name, login, now_ms());
    if let Some(email) = input.pointer("/communication_channel/address").and_then(Value::as_str) {
        user["email"] = json!(email);
    }
    if let Some(sis) = input.pointer("/pseudonym/sis_user_id").and_then(Value::as_str) {
        user["sis_user_id"] = json!(sis);
    }
    if let Some(sortable) = input.pointer("/user/sortable_name").and_then(Value::as_str) {
        user["sortable_name"] = json!(sortable);
    }
    lock(&canvas.users).insert(id, user.clone());
    Json(user).into_response()
}

async fn create_enrollment(
    State(canvas): State<Arc<Canvas>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let input = match json_body(&headers, &body) {
        Ok(v) => v,
        Err(r) => {
            canvas.violation("POST", uri.path(), "/body", "a JSON object".into());
            return r;
        }
    };
    let course: u64 = id.parse().unwrap_or(0);
    let kind = input
        .pointer("/enrollment/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    const TYPES: [&str; 5] = [
        "StudentEnrollment",
        "TeacherEnrollment",
        "TaEnrollment",
        "DesignerEnrollment",
        "ObserverEnrollment",
    ];
    if !TYPES.contains(&kind) {
        canvas.violation("POST", uri.path(), "/body/enrollment/type", format!("one of {TYPES:?}"));
        return errors(StatusCode::BAD_REQUEST, "enrollment[type] is invalid");
    }
    // "Object IDs, SIS IDs, and special IDs": a user may be named by its SIS id,
    // `sis_user_id:<id>`, wherever its Canvas id is expected.
    let user = match input.pointer("/enrollment/user_id") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => match s.strip_prefix("sis_user_id:") {
            Some(sis) => match canvas.find_user_by_sis(sis) {
                Some(u) => u["id"].as_u64(),
                None => return not_found(),
            },
            None => s.parse().ok(),
        },
        _ => None,
    };
    let Some(user) = user else {
        canvas.violation(
            "POST",
            uri.path(),
            "/body/enrollment/user_id",
            "enrollment[user_id] is required".into(),
        );
        return errors(StatusCode::BAD_REQUEST, "enrollment[user_id] is required");
    };
    if canvas.course(course).is_none() || canvas.user(user).is_none() {
        return not_found();
    }
    Json(canvas.enroll(course, user, kind)).into_response()
}
