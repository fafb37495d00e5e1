//! Fake Coursebox API: a login session, users, courses and enrolments with progress; user
//! creation and update, enrolment.
//!
//! Coursebox publishes no machine-readable description. DOCUMENTED, and followed here, by
//! "Coursebox API Guide for Enterprise Clients": `POST /auth/login` {"email", "password"}
//! answers the access token in `id`; calls carry `X-Access-Token`; `POST
//! /api/wineusers/createAccount` {"data": {"user": {"firstName", "lastName", "email",
//! "password"}, "offerCode", "marketingEmails", "is18Plus"}}; `GET /api/WineUsers/<id>`;
//! `POST /api/WineUsers/updateMainAttributes?id=<id>` {"id", "attributes": {...}} (attributes
//! among realm, email, emailVerified, fullName, firstName, lastName, title, contactNumber,
//! dateOfBirth, headline, avatarUrl, profile, country, city, location, region, state).
//!
//! ASSUMED, from the LoopBack 3 conventions those paths and the token show (the guide has no
//! list, course or enrolment calls and no answer shapes):
//!
//! * lists: `GET /api/WineUsers`, `/api/Courses`, `/api/Enrollments` with `filter` a JSON
//!   object of `order` ("id ASC"), `limit` (at most 100 here) and `skip`, answering a bare array;
//!   `GET /api/<Model>/<id>`, 404 MODEL_NOT_FOUND when absent;
//! * the login answers {"id", "ttl": 1209600, "created", "userId"}; createAccount answers the
//!   new user (without its password); updateMainAttributes answers the updated user;
//! * `POST /api/Enrollments` {"userId", "courseId"} answers the enrolment {"id", "userId",
//!   "courseId", "progress", "completed", "completedAt", "score", "enrolledAt"};
//! * errors are {"error": {"statusCode", "name", "message", "code"}} with that status: 401
//!   AUTHORIZATION_REQUIRED (missing, unknown or expired token; LOGIN_FAILED at the login), 422
//!   ValidationError (a taken or invalid email, a missing name, an unknown user or course, an
//!   enrolment twice).
//!
//! Unknown fields, parameters or filter keys are recorded as violations.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::{iso_ms, now_ms};

/// The administrator the fake lets log in.
pub const ADMIN_EMAIL: &str = "admin@mytraining.edu.au";
pub const ADMIN_PASSWORD: &str = "cbx-Adm1n-pass-9f2e7c";

const ATTRIBUTES: &[&str] = &[
    "id",
    "realm",
    "email",
    "emailVerified",
    "fullName",
    "firstName",
    "lastName",
    "title",
    "contactNumber",
    "dateOfBirth",
    "headline",
    "avatarUrl",
    "profile",
    "country",
    "city",
    "location",
    "region",
    "state",
];

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct CourseboxConfig {
    pub users: usize,
    pub courses: usize,
    /// Seeded users enrolled in the first course, with progress.
    pub enrolled: usize,
    pub faults: FaultConfig,
}

/// The fake portal.
pub struct Coursebox {
    users: Mutex<BTreeMap<u64, Value>>,
    courses: Mutex<BTreeMap<u64, Value>>,
    enrollments: Mutex<BTreeMap<u64, Value>>,
    sessions: Mutex<Vec<String>>,
    logins: Mutex<u32>,
    next_id: Mutex<u64>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: CourseboxConfig) -> FakeHandle<Coursebox> {
    server::expect_started("coursebox", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: CourseboxConfig) -> io::Result<FakeHandle<Coursebox>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Coursebox {
        users: Mutex::new(BTreeMap::new()),
        courses: Mutex::new(BTreeMap::new()),
        enrollments: Mutex::new(BTreeMap::new()),
        sessions: Mutex::new(Vec::new()),
        logins: Mutex::new(0),
        next_id: Mutex::new(0),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    server::spawn(
        Spec {
            name: "coursebox",
            port: 0,
            state,
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            let api = Router::new()
                .route("/api/WineUsers", get(list_users))
                .route("/api/WineUsers/{id}", get(user))
                .route("/api/WineUsers/updateMainAttributes", post(update_user))
                .route("/api/wineusers/createAccount", post(create_account))
                .route("/api/Courses", get(list_courses))
                .route("/api/Courses/{id}", get(course))
                .route("/api/Enrollments", get(list_enrollments).post(enrol))
                .route("/api/Enrollments/{id}", get(enrollment))
                .layer(from_fn_with_state(routes.clone(), access_token));
            api.route("/auth/login", post(login)).with_state(routes)
        },
    )
}

fn user_json(id: u64, first: &str, last: &str, email: &str) -> Value {
    json!({
        "id": id, "realm": "learner", "email": email, "emailVerified": false,
        "fullName": format!("{first} {last}"), "firstName": first, "lastName": last, "title": "",
        "contactNumber": "", "dateOfBirth": null, "country": "Australia", "city": "",
        "createdAt": iso_ms(now_ms()),
    })
}

impl Coursebox {
    fn seed(&self, config: &CourseboxConfig) {
        for n in 1..=config.users as u64 {
            let id = self.new_id();
            lock(&self.users).insert(
                id,
                user_json(
                    id,
                    &format!("Student{n}"),
                    "Learner",
                    &format!("student{n}@example.edu.au"),
                ),
            );
        }
        for n in 1..=config.courses as u64 {
            let id = self.new_id();
            lock(&self.courses).insert(
                id,
                json!({"id": id, "title": format!("First aid refresher {n}"), "code": format!("FA-{n}"), "published": true, "createdAt": iso_ms(now_ms())}),
            );
        }
        let first_course = lock(&self.courses).keys().next().copied();
        let users: Vec<u64> = lock(&self.users).keys().copied().take(config.enrolled).collect();
        if let Some(course) = first_course {
            for (i, u) in users.into_iter().enumerate() {
                let e = self.add_enrollment(u, course);
                let progress = (i * 37) % 101;
                self.set_progress(e["id"].as_u64().expect("numeric id"), progress as u64, None);
            }
        }
    }

    fn new_id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    fn add_enrollment(&self, user: u64, course: u64) -> Value {
        let id = self.new_id();
        let e = json!({
            "id": id, "userId": user, "courseId": course, "progress": 0, "completed": false,
            "completedAt": null, "score": null, "enrolledAt": iso_ms(now_ms()),
        });
        lock(&self.enrollments).insert(id, e.clone());
        e
    }

    /// A learner's progress, as taking the course would change it; 100 completes it.
    pub fn set_progress(&self, id: u64, progress: u64, score: Option<u64>) -> Option<Value> {
        let mut all = lock(&self.enrollments);
        let e = all.get_mut(&id)?;
        e["progress"] = json!(progress.min(100));
        if progress >= 100 {
            e["completed"] = json!(true);
            e["completedAt"] = json!(iso_ms(now_ms()));
        }
        if let Some(s) = score {
            e["score"] = json!(s);
        }
        Some(e.clone())
    }

    pub fn user(&self, id: u64) -> Option<Value> {
        lock(&self.users).get(&id).cloned()
    }

    pub fn find_user(&self, email: &str) -> Option<Value> {
        lock(&self.users).values().find(|u| u["email"] == email).cloned()
    }

    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// Renames a user as an administrator would.
    pub fn rename_user(&self, id: u64, first: &str) -> Option<Value> {
        let mut users = lock(&self.users);
        let u = users.get_mut(&id)?;
        u["firstName"] = json!(first);
        u["fullName"] = json!(format!("{first} {}", u["lastName"].as_str().unwrap_or_default()));
        Some(u.clone())
    }

    /// The password a user account was created with.
    pub fn password_of(&self, email: &str) -> Option<String> {
        self.find_user(email)?["_password"].as_str().map(str::to_owned)
    }

    pub fn course(&self, id: u64) -> Option<Value> {
        lock(&self.courses).get(&id).cloned()
    }

    pub fn course_ids(&self) -> Vec<u64> {
        lock(&self.courses).keys().copied().collect()
    }

    pub fn course_count(&self) -> usize {
        lock(&self.courses).len()
    }

    /// Retitles a course.
    pub fn retitle_course(&self, id: u64, title: &str) -> Option<Value> {
        let mut courses = lock(&self.courses);
        let c = courses.get_mut(&id)?;
        c["title"] = json!(title);
        Some(c.clone())
    }

    pub fn enrollment(&self, id: u64) -> Option<Value> {
        lock(&self.enrollments).get(&id).cloned()
    }

    pub fn enrollment_of(&self, user: u64, course: u64) -> Option<Value> {
        lock(&self.enrollments)
            .values()
            .find(|e| e["userId"] == user && e["courseId"] == course)
            .cloned()
    }

    pub fn enrollment_count(&self) -> usize {
        lock(&self.enrollments).len()
    }

    /// Logins so far.
    pub fn logins(&self) -> u32 {
        *lock(&self.logins)
    }

    /// Ends every session, as the token's `ttl` would.
    pub fn expire_sessions(&self) {
        lock(&self.sessions).clear();
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "coursebox",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

fn error(status: StatusCode, name: &str, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"statusCode": status.as_u16(), "name": name, "message": message, "code": code}})),
    )
        .into_response()
}

fn invalid(message: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "ValidationError",
        "VALIDATION_ERROR",
        message,
    )
}

fn fault(status: StatusCode) -> Response {
    error(status, "Error", "INTERNAL_ERROR", "Internal Server Error")
}

/// The user without the fake's private fields.
fn public(user: &Value) -> Value {
    let mut u = user.clone();
    if let Some(map) = u.as_object_mut() {
        map.retain(|k, _| !k.starts_with('_'));
    }
    u
}

async fn access_token(State(state): State<Arc<Coursebox>>, req: Request, next: Next) -> Response {
    if req.uri().query().is_some_and(|q| q.contains("access_token=")) {
        state.violation(
            req.method().as_str(),
            req.uri().path(),
            "/access_token",
            "the token belongs in X-Access-Token, not the URL".into(),
        );
    }
    let token = req
        .headers()
        .get("x-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if token.is_empty() || !lock(&state.sessions).contains(&token) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Error",
            "AUTHORIZATION_REQUIRED",
            "Authorization Required",
        );
    }
    next.run(req).await
}

fn json_object(state: &Coursebox, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Map<String, Value> {
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        state.violation("POST", uri.path(), "/", "the body must be application/json".into());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => {
            state.violation("POST", uri.path(), "/", "the body must be a JSON object".into());
            Map::new()
        }
    }
}

fn only(state: &Coursebox, uri: &Uri, at: &str, map: &Map<String, Value>, allowed: &[&str]) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            state.violation(
                "POST",
                uri.path(),
                &format!("{at}/{key}"),
                format!("`{key}` is not accepted here"),
            );
        }
    }
}

fn text(map: &Map<String, Value>, key: &str) -> String {
    map.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn id_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

async fn login(State(state): State<Arc<Coursebox>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let map = json_object(&state, &uri, &headers, &body);
    only(&state, &uri, "", &map, &["email", "password"]);
    if text(&map, "email") != ADMIN_EMAIL || text(&map, "password") != ADMIN_PASSWORD {
        return error(StatusCode::UNAUTHORIZED, "Error", "LOGIN_FAILED", "login failed");
    }
    *lock(&state.logins) += 1;
    let token = format!("cbx{:0>61}", state.new_id() * 7_919);
    lock(&state.sessions).push(token.clone());
    Json(json!({"id": token, "ttl": 1_209_600, "created": iso_ms(now_ms()), "userId": 1})).into_response()
}

/// The LoopBack `filter` of a list: `(limit, skip)`.
fn filter(state: &Coursebox, uri: &Uri, query: Option<String>) -> (usize, usize) {
    let mut limit = 100usize;
    let mut skip = 0usize;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if k != "filter" {
            state.violation(
                "GET",
                uri.path(),
                &format!("/{k}"),
                format!("`{k}` is not a parameter of a list"),
            );
            continue;
        }
        let Ok(Value::Object(f)) = serde_json::from_str::<Value>(&v) else {
            state.violation(
                "GET",
                uri.path(),
                "/filter",
                format!("filter is not a JSON object: {v}"),
            );
            continue;
        };
        for (key, value) in &f {
            match (key.as_str(), value.as_u64()) {
                ("limit", Some(n)) if (1..=100).contains(&n) => limit = n as usize,
                ("skip", Some(n)) => skip = n as usize,
                ("order", _) if value == "id ASC" => {}
                _ => state.violation(
                    "GET",
                    uri.path(),
                    &format!("/filter/{key}"),
                    format!("unsupported filter {key}: {value}"),
                ),
            }
        }
    }
    (limit, skip)
}

fn list(state: &Coursebox, uri: &Uri, query: Option<String>, items: Vec<Value>) -> Response {
    let (limit, skip) = filter(state, uri, query);
    Json(items.into_iter().skip(skip).take(limit).collect::<Vec<_>>()).into_response()
}

fn one(found: Option<Value>, model: &str, id: &str) -> Response {
    match found {
        Some(v) => Json(v).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "Error",
            "MODEL_NOT_FOUND",
            &format!("Unknown \"{model}\" id \"{id}\"."),
        ),
    }
}

async fn list_users(State(state): State<Arc<Coursebox>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let items = lock(&state.users).values().map(public).collect();
    list(&state, &uri, q, items)
}

async fn user(State(state): State<Arc<Coursebox>>, Path(id): Path<String>) -> Response {
    one(
        id.parse().ok().and_then(|i| state.user(i)).map(|u| public(&u)),
        "WineUser",
        &id,
    )
}

async fn list_courses(State(state): State<Arc<Coursebox>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let items = lock(&state.courses).values().cloned().collect();
    list(&state, &uri, q, items)
}

async fn course(State(state): State<Arc<Coursebox>>, Path(id): Path<String>) -> Response {
    one(id.parse().ok().and_then(|i| state.course(i)), "Course", &id)
}

async fn list_enrollments(State(state): State<Arc<Coursebox>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let items = lock(&state.enrollments).values().cloned().collect();
    list(&state, &uri, q, items)
}

async fn enrollment(State(state): State<Arc<Coursebox>>, Path(id): Path<String>) -> Response {
    one(id.parse().ok().and_then(|i| state.enrollment(i)), "Enrollment", &id)
}

fn valid_email(email: &str) -> bool {
    email
        .split_once('@')
        .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.starts_with('.'))
}

async fn create_account(State(state): State<Arc<Coursebox>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let map = json_object(&state, &uri, &headers, &body);
    only(&state, &uri, "", &map, &["data"]);
    let data = match map.get("data") {
        Some(Value::Object(d)) => d.clone(),
        _ => {
            state.violation("POST", uri.path(), "/data", "`data` must be an object".into());
            Map::new()
        }
    };
    only(
        &state,
        &uri,
        "/data",
        &data,
        &["user", "offerCode", "marketingEmails", "is18Plus"],
    );
    for (flag, pointer) in [
        ("marketingEmails", "/data/marketingEmails"),
        ("is18Plus", "/data/is18Plus"),
    ] {
        if !data.get(flag).is_some_and(Value::is_boolean) {
            state.violation("POST", uri.path(), pointer, format!("`{flag}` must be a boolean"));
        }
    }
    let user = match data.get("user") {
        Some(Value::Object(u)) => u.clone(),
        _ => Map::new(),
    };
    only(
        &state,
        &uri,
        "/data/user",
        &user,
        &["firstName", "lastName", "email", "password"],
    );
    let (first, last, email, password) = (
        text(&user, "firstName"),
        text(&user, "lastName"),
        text(&user, "email"),
        text(&user, "password"),
    );
    if first.trim().is_empty() || last.trim().is_empty() {
        return invalid("The `WineUser` instance is not valid. Details: `firstName` can't be blank.");
    }
    if !valid_email(&email) {
        return invalid(&format!(
            "The `WineUser` instance is not valid. Details: `email` is invalid (value: \"{email}\")."
        ));
    }
    if state.find_user(&email).is_some() {
        return invalid(&format!(
            "The `WineUser` instance is not valid. Details: `email` Email already exists (value: \"{email}\")."
        ));
    }
    if password.len() < 8 {
        return invalid("The `WineUser` instance is not valid. Details: `password` is too short.");
    }
    let id = state.new_id();
    let mut u = user_json(id, &first, &last, &email);
    u["_password"] = json!(password);
    lock(&state.users).insert(id, u.clone());
    Json(public(&u)).into_response()
}

async fn update_user(
    State(state): State<Arc<Coursebox>>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let query_id: Option<u64> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "id")
        .and_then(|(_, v)| v.parse().ok());
    let map = json_object(&state, &uri, &headers, &body);
    only(&state, &uri, "", &map, &["id", "attributes"]);
    if id_of(map.get("id")) != query_id {
        state.violation(
            "POST",
            uri.path(),
            "/id",
            "the body's id differs from the query's".into(),
        );
    }
    let attributes = match map.get("attributes") {
        Some(Value::Object(a)) => a.clone(),
        _ => {
            state.violation(
                "POST",
                uri.path(),
                "/attributes",
                "`attributes` must be an object".into(),
            );
            Map::new()
        }
    };
    only(&state, &uri, "/attributes", &attributes, ATTRIBUTES);
    let Some(id) = query_id.filter(|i| state.user(*i).is_some()) else {
        return error(
            StatusCode::NOT_FOUND,
            "Error",
            "MODEL_NOT_FOUND",
            "Unknown \"WineUser\" id.",
        );
    };
    if let Some(email) = attributes.get("email").and_then(Value::as_str) {
        if !valid_email(email) {
            return invalid(&format!(
                "The `WineUser` instance is not valid. Details: `email` is invalid (value: \"{email}\")."
            ));
        }
    }
    let mut users = lock(&state.users);
    let u = users.get_mut(&id).expect("checked above");
    for (k, v) in attributes {
        if k != "id" {
            u[k.as_str()] = v;
        }
    }
    let full = format!(
        "{} {}",
        u["firstName"].as_str().unwrap_or_default(),
        u["lastName"].as_str().unwrap_or_default()
    );
    u["fullName"] = json!(full);
    Json(public(u)).into_response()
}

async fn enrol(State(state): State<Arc<Coursebox>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let map = json_object(&state, &uri, &headers, &body);
    only(&state, &uri, "", &map, &["userId", "courseId"]);
    let user = id_of(map.get("userId")).filter(|u| state.user(*u).is_some());
    let course = id_of(map.get("courseId")).filter(|c| state.course(*c).is_some());
    let (Some(user), Some(course)) = (user, course) else {
        return invalid(
            "The `Enrollment` instance is not valid. Details: `userId` and `courseId` must name a user and a course.",
        );
    };
    if state.enrollment_of(user, course).is_some() {
        return invalid(
            "The `Enrollment` instance is not valid. Details: the user is already enrolled in this course.",
        );
    }
    Json(state.add_enrollment(user, course)).into_response()
}
