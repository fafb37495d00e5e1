//! Fake D2L Brightspace site (Valence REST API) with its OAuth 2.0 token service: users, the
//! enrolled users of org units, final grades, user creation and enrolment.
//!
//! D2L documents the API as reference pages at docs.valence.desire2learn.com, not as an OpenAPI
//! description in the specs folder. This fake follows those pages and records every departure
//! as a violation:
//!
//! * "API versions": routes carry the component's version, `/d2l/api/lp/{version}/` and
//!   `/d2l/api/le/{version}/`; a version the site does not serve answers 404 (and is a
//!   violation here, since a connector should pin one the site has).
//! * "Users": `GET /d2l/api/lp/{v}/users/` answers a `PagedResultSet` of `UserData`
//!   (`{"PagingInfo": {"Bookmark", "HasMoreItems"}, "Items"}`), the next page by `?bookmark=`;
//!   `GET .../users/{userId}` one `UserData` (404 unknown); `GET .../users/whoami`
//!   `WhoAmIUser`; `POST .../users/` a whole `CreateUserData` block (every property present,
//!   nullable ones as null) answered with the new `UserData`.
//! * "Enrollments": `GET /d2l/api/lp/{v}/enrollments/orgUnits/{orgUnitId}/users/` a
//!   `PagedResultSet` of `OrgUnitUser` (`{"User": User.User, "Role": {"Id", "Code", "Name"}}`);
//!   `POST /d2l/api/lp/{v}/enrollments/` a `CreateEnrollmentData` answered with `EnrollmentData`.
//! * "Grades": `GET /d2l/api/le/{v}/{orgUnitId}/grades/final/values/` an `ObjectListPage`
//!   (`{"Next", "Objects"}`) of `UserGradeValue` (`{"User", "OrgUnitId", "GradeValue"}`).
//! * "OAuth 2.0": `POST /core/connect/token` (`grant_type=refresh_token`, client credentials in
//!   basic auth); refresh tokens are single use; API calls carry `Authorization: Bearer`, and a
//!   missing or unknown token answers 401.
//!
//! Assumed: pages hold 100 items and a bookmark is the last item's id (D2L's bookmarks are
//! opaque); the token service shares the site's host here (the connection's `auth_url`); a
//! refused creation (a user name in use, a missing property) answers 400 with a problem-details
//! body `{"type", "title", "status", "detail"}` and an unknown user or org unit in an enrolment
//! 404 likewise; objects carry the documented properties built below, not every one a release
//! adds; org unit [`ORG_UNIT`] and the next few exist.

// Request checks return the response the fake refuses with.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};

pub const CLIENT_ID: &str = "d2l-fake-client-7c1f";
pub const CLIENT_SECRET: &str = "d2l-fake-secret-4b9e0a2d";
/// The first refresh token; each refresh answers a new one.
pub const REFRESH_TOKEN: &str = "d2l-fake-refresh-0";
/// The seeded course offering.
pub const ORG_UNIT: u64 = 6606;
/// The Learner role.
pub const LEARNER_ROLE: u64 = 110;
/// Learning Platform and Learning Environment versions the site serves.
pub const LP_VERSIONS: &[&str] = &["1.43", "1.44", "1.45", "1.46", "1.47"];
pub const LE_VERSIONS: &[&str] = &["1.72", "1.73", "1.74", "1.75", "1.76"];
const PAGE: usize = 100;
const ORG_ID: u64 = 6_606_000;

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct D2lConfig {
    pub users: usize,
    /// Seeded users enrolled as learners in [`ORG_UNIT`], each with a final grade.
    pub enrolled: usize,
    pub faults: FaultConfig,
}

/// The fake site.
pub struct D2l {
    users: Mutex<BTreeMap<u64, Value>>,
    /// (org unit, user) -> role id.
    enrollments: Mutex<BTreeMap<(u64, u64), u64>>,
    /// (org unit, user) -> points out of 100.
    grades: Mutex<BTreeMap<(u64, u64), f64>>,
    refresh_token: Mutex<String>,
    access_tokens: Mutex<BTreeSet<String>>,
    next_id: Mutex<u64>,
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
pub fn start(config: D2lConfig) -> FakeHandle<D2l> {
    server::expect_started("d2l", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: D2lConfig) -> io::Result<FakeHandle<D2l>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(D2l {
        users: Mutex::new(BTreeMap::new()),
        enrollments: Mutex::new(BTreeMap::new()),
        grades: Mutex::new(BTreeMap::new()),
        refresh_token: Mutex::new(REFRESH_TOKEN.to_owned()),
        access_tokens: Mutex::new(BTreeSet::new()),
        next_id: Mutex::new(5000),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    let handle = server::spawn(
        Spec {
            name: "d2l",
            port: 0,
            state: state.clone(),
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            let api = Router::new()
                .route("/lp/{version}/users/", get(list_users).post(create_user))
                .route("/lp/{version}/users/whoami", get(whoami))
                .route("/lp/{version}/users/{id}", get(user))
                .route("/lp/{version}/enrollments/orgUnits/{ou}/users/", get(list_enrollments))
                .route("/lp/{version}/enrollments/", post(enroll))
                .route("/le/{version}/{ou}/grades/final/values/", get(final_grades))
                .layer(from_fn_with_state(routes.clone(), bearer))
                .with_state(routes.clone());
            Router::new()
                .nest("/d2l/api", api)
                .route("/core/connect/token", post(token))
                .with_state(routes)
        },
    )?;
    *lock(&state.base_url) = handle.base_url.clone();
    Ok(handle)
}

fn user_json(id: u64, first: &str, last: &str, username: &str, email: &str, org_defined: &str) -> Value {
    json!({
        "OrgId": ORG_ID, "UserId": id, "FirstName": first, "MiddleName": null, "LastName": last,
        "UserName": username, "ExternalEmail": email, "OrgDefinedId": org_defined,
        "UniqueIdentifier": username, "Activation": {"IsActive": true},
        "LastAccessedDate": null,
    })
}

fn role_json(role: u64) -> Value {
    match role {
        109 => json!({"Id": 109, "Code": null, "Name": "Instructor"}),
        _ => json!({"Id": role, "Code": null, "Name": "Learner"}),
    }
}

impl D2l {
    fn seed(&self, config: &D2lConfig) {
        let mut users = lock(&self.users);
        for n in 1..=config.users as u64 {
            let id = 100 + n;
            users.insert(
                id,
                user_json(
                    id,
                    &format!("Student{n}"),
                    "Learner",
                    &format!("student{n}"),
                    &format!("student{n}@example.edu.au"),
                    &format!("STU-{n}"),
                ),
            );
        }
        drop(users);
        let mut enrollments = lock(&self.enrollments);
        let mut grades = lock(&self.grades);
        for n in 1..=config.enrolled.min(config.users) as u64 {
            enrollments.insert((ORG_UNIT, 100 + n), LEARNER_ROLE);
            grades.insert((ORG_UNIT, 100 + n), (50 + n % 50) as f64);
        }
    }

    /// A user as `GET .../users/{id}` answers it.
    pub fn user(&self, id: u64) -> Option<Value> {
        lock(&self.users).get(&id).cloned()
    }

    pub fn find_user(&self, username: &str) -> Option<Value> {
        lock(&self.users).values().find(|u| u["UserName"] == username).cloned()
    }

    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// Renames a user as an administrator would.
    pub fn rename_user(&self, id: u64, first: &str) -> Option<Value> {
        let mut users = lock(&self.users);
        let u = users.get_mut(&id)?;
        u["FirstName"] = json!(first);
        Some(u.clone())
    }

    /// An enrolled user as the enrollments list answers it.
    pub fn enrolled_user(&self, ou: u64, user: u64) -> Option<Value> {
        let role = *lock(&self.enrollments).get(&(ou, user))?;
        let u = self.user(user)?;
        Some(json!({"User": user_ref(&u), "Role": role_json(role)}))
    }

    /// The role of a user in an org unit.
    pub fn role_in(&self, ou: u64, user: u64) -> Option<u64> {
        lock(&self.enrollments).get(&(ou, user)).copied()
    }

    pub fn enrolled_count(&self, ou: u64) -> usize {
        lock(&self.enrollments).keys().filter(|(o, _)| *o == ou).count()
    }

    /// Enrols a user as an administrator would.
    pub fn enroll_as_admin(&self, ou: u64, user: u64, role: u64) {
        lock(&self.enrollments).insert((ou, user), role);
    }

    /// A user's final grade as the grades list answers it.
    pub fn final_grade(&self, ou: u64, user: u64) -> Option<Value> {
        let points = *lock(&self.grades).get(&(ou, user))?;
        let u = self.user(user)?;
        Some(user_grade_json(ou, &u, points))
    }

    /// Grades a user as an instructor would.
    pub fn grade(&self, ou: u64, user: u64, points: f64) {
        lock(&self.grades).insert((ou, user), points);
    }

    pub fn graded_count(&self, ou: u64) -> usize {
        lock(&self.grades).keys().filter(|(o, _)| *o == ou).count()
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "d2l",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

/// `User.User` of a `UserData`.
fn user_ref(u: &Value) -> Value {
    json!({
        "Identifier": u["UserId"].to_string(),
        "DisplayName": format!("{} {}", u["FirstName"].as_str().unwrap_or_default(), u["LastName"].as_str().unwrap_or_default()),
        "EmailAddress": u["ExternalEmail"], "OrgDefinedId": u["OrgDefinedId"],
        "ProfileBadgeUrl": null, "ProfileIdentifier": format!("p{}", u["UserId"]),
    })
}

fn user_grade_json(ou: u64, u: &Value, points: f64) -> Value {
    json!({
        "User": user_ref(u),
        "OrgUnitId": ou,
        "GradeValue": {
            "DisplayedGrade": format!("{points:.0} %"), "GradeObjectIdentifier": "9001",
            "GradeObjectName": "Final Calculated Grade", "GradeObjectType": 9,
            "GradeObjectTypeName": "Final Calculated", "PointsNumerator": points,
            "PointsDenominator": 100.0, "WeightedNumerator": null, "WeightedDenominator": null,
        },
    })
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({"type": "about:blank", "title": status.canonical_reason().unwrap_or(""), "status": status.as_u16(), "detail": detail})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    problem(status, "An unexpected error occurred.")
}

async fn bearer(State(d2l): State<Arc<D2l>>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    match token {
        Some(t) if lock(&d2l.access_tokens).contains(&t) => next.run(req).await,
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn token(State(d2l): State<Arc<D2l>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let mut current = lock(&d2l.refresh_token);
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("refresh_token") != Some(&*current)
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let n = {
        let mut next = lock(&d2l.next_id);
        *next += 1;
        *next
    };
    let access = format!("d2l-fake-access-{n}");
    *current = format!("d2l-fake-refresh-{n}");
    lock(&d2l.access_tokens).insert(access.clone());
    Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": current.clone(), "scope": "core:*:* users:userdata:* enrollment:orgunit:* grades:gradevalues:read"}))
    .into_response()
}

fn version_ok(d2l: &D2l, method: &str, uri: &Uri, version: &str, served: &[&str]) -> Result<(), Response> {
    if served.contains(&version) {
        return Ok(());
    }
    d2l.violation(
        method,
        uri.path(),
        "/version",
        format!("the site does not serve API version {version}"),
    );
    Err(problem(StatusCode::NOT_FOUND, "Resource not found"))
}

type Params = Vec<(String, String)>;

fn params(query: Option<String>) -> Params {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn check_params(d2l: &D2l, uri: &Uri, params: &Params, allowed: &[&str]) {
    for (name, _) in params {
        if !allowed.contains(&name.as_str()) {
            d2l.violation(
                "GET",
                uri.path(),
                &format!("/query/{name}"),
                format!("`{name}` is not a parameter of this action"),
            );
        }
    }
}

/// A `PagedResultSet` of `items` (id, item), after `bookmark`.
fn paged_result_set(items: Vec<(u64, Value)>, bookmark: Option<&str>) -> Response {
    let after: u64 = bookmark.and_then(|b| b.parse().ok()).unwrap_or(0);
    let rest: Vec<(u64, Value)> = items.into_iter().filter(|(id, _)| *id > after).collect();
    let more = rest.len() > PAGE;
    let page: Vec<(u64, Value)> = rest.into_iter().take(PAGE).collect();
    let bookmark = page.last().map(|(id, _)| id.to_string());
    Json(json!({
        "PagingInfo": {"Bookmark": bookmark, "HasMoreItems": more},
        "Items": page.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
    .into_response()
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn list_users(
    State(d2l): State<Arc<D2l>>,
    Path(version): Path<String>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = version_ok(&d2l, "GET", &uri, &version, LP_VERSIONS) {
        return r;
    }
    let p = params(q);
    check_params(
        &d2l,
        &uri,
        &p,
        &["orgDefinedId", "userName", "externalEmail", "bookmark"],
    );
    let items = lock(&d2l.users).iter().map(|(id, u)| (*id, u.clone())).collect();
    paged_result_set(items, param(&p, "bookmark"))
}

async fn whoami(State(d2l): State<Arc<D2l>>, Path(version): Path<String>, uri: Uri) -> Response {
    if let Err(r) = version_ok(&d2l, "GET", &uri, &version, LP_VERSIONS) {
        return r;
    }
    Json(
        json!({"Identifier": "169", "FirstName": "Integration", "LastName": "Service",
        "UniqueName": "switchyard.integration", "ProfileIdentifier": "p169"}),
    )
    .into_response()
}

async fn user(State(d2l): State<Arc<D2l>>, Path((version, id)): Path<(String, String)>, uri: Uri) -> Response {
    if let Err(r) = version_ok(&d2l, "GET", &uri, &version, LP_VERSIONS) {
        return r;
    }
    match id.parse().ok().and_then(|id| d2l.user(id)) {
        Some(u) => Json(u).into_response(),
        None => problem(StatusCode::NOT_FOUND, "User not found"),
    }
}

fn json_body(d2l: &D2l, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        d2l.violation("POST", uri.path(), "/", "the body must be JSON".into());
    }
    serde_json::from_slice(body).map_err(|_| problem(StatusCode::BAD_REQUEST, "Invalid JSON"))
}

/// `CreateUserData`: every property, with its type (`s` string, `s?` string or null, `n`
/// number, `b` boolean).
const CREATE_USER: &[(&str, &str)] = &[
    ("OrgDefinedId", "s?"),
    ("FirstName", "s"),
    ("MiddleName", "s?"),
    ("LastName", "s"),
    ("ExternalEmail", "s?"),
    ("UserName", "s"),
    ("RoleId", "n"),
    ("IsActive", "b"),
    ("SendCreationEmail", "b"),
];

/// Checks a block against its properties; records and returns the first departure.
fn check_block(d2l: &D2l, uri: &Uri, block: &Value, props: &[(&str, &str)]) -> Result<(), String> {
    let Some(obj) = block.as_object() else {
        return Err("the body must be a JSON object".into());
    };
    for key in obj.keys() {
        if !props.iter().any(|(k, _)| k == key) {
            let m = format!("`{key}` is not a property of this block");
            d2l.violation("POST", uri.path(), &format!("/{key}"), m.clone());
            return Err(m);
        }
    }
    for (key, kind) in props {
        let v = obj.get(*key);
        let ok = matches!(
            (*kind, v),
            ("s", Some(Value::String(_)))
                | ("s?", Some(Value::String(_) | Value::Null))
                | ("n", Some(Value::Number(_)))
                | ("b", Some(Value::Bool(_)))
        );
        if !ok {
            let m = format!("`{key}` must be present as {kind}, got {v:?}");
            d2l.violation("POST", uri.path(), &format!("/{key}"), m.clone());
            return Err(m);
        }
    }
    Ok(())
}

async fn create_user(
    State(d2l): State<Arc<D2l>>,
    Path(version): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = version_ok(&d2l, "POST", &uri, &version, LP_VERSIONS) {
        return r;
    }
    let block = match json_body(&d2l, &uri, &headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(m) = check_block(&d2l, &uri, &block, CREATE_USER) {
        return problem(StatusCode::BAD_REQUEST, &m);
    }
    let username = block["UserName"].as_str().unwrap_or_default();
    if username.trim().is_empty() {
        return problem(StatusCode::BAD_REQUEST, "UserName must not be empty");
    }
    if d2l.find_user(username).is_some() {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("The user name {username} is already in use"),
        );
    }
    let id = {
        let mut next = lock(&d2l.next_id);
        *next += 1;
        *next
    };
    let mut u = user_json(
        id,
        block["FirstName"].as_str().unwrap_or_default(),
        block["LastName"].as_str().unwrap_or_default(),
        username,
        block["ExternalEmail"].as_str().unwrap_or_default(),
        block["OrgDefinedId"].as_str().unwrap_or_default(),
    );
    u["MiddleName"] = block["MiddleName"].clone();
    u["Activation"] = json!({"IsActive": block["IsActive"]});
    lock(&d2l.users).insert(id, u.clone());
    Json(u).into_response()
}

fn org_unit_exists(ou: u64) -> bool {
    (ORG_UNIT..ORG_UNIT + 10).contains(&ou)
}

async fn list_enrollments(
    State(d2l): State<Arc<D2l>>,
    Path((version, ou)): Path<(String, String)>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = version_ok(&d2l, "GET", &uri, &version, LP_VERSIONS) {
        return r;
    }
    let p = params(q);
    check_params(&d2l, &uri, &p, &["roleId", "bookmark"]);
    let Some(ou) = ou.parse().ok().filter(|ou| org_unit_exists(*ou)) else {
        return problem(StatusCode::NOT_FOUND, "Org unit not found");
    };
    let ids: Vec<u64> = lock(&d2l.enrollments)
        .keys()
        .filter(|(o, _)| *o == ou)
        .map(|(_, u)| *u)
        .collect();
    let items = ids
        .into_iter()
        .filter_map(|u| d2l.enrolled_user(ou, u).map(|v| (u, v)))
        .collect();
    paged_result_set(items, param(&p, "bookmark"))
}

async fn enroll(
    State(d2l): State<Arc<D2l>>,
    Path(version): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = version_ok(&d2l, "POST", &uri, &version, LP_VERSIONS) {
        return r;
    }
    let block = match json_body(&d2l, &uri, &headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(m) = check_block(
        &d2l,
        &uri,
        &block,
        &[("OrgUnitId", "n"), ("UserId", "n"), ("RoleId", "n")],
    ) {
        return problem(StatusCode::BAD_REQUEST, &m);
    }
    let (ou, user, role) = (
        block["OrgUnitId"].as_u64().unwrap_or(0),
        block["UserId"].as_u64().unwrap_or(0),
        block["RoleId"].as_u64().unwrap_or(0),
    );
    if !org_unit_exists(ou) {
        return problem(StatusCode::NOT_FOUND, &format!("Org unit {ou} not found"));
    }
    if d2l.user(user).is_none() {
        return problem(StatusCode::NOT_FOUND, &format!("User {user} not found"));
    }
    if ![109, LEARNER_ROLE].contains(&role) {
        return problem(StatusCode::BAD_REQUEST, &format!("Role {role} cannot be enrolled"));
    }
    d2l.enroll_as_admin(ou, user, role);
    Json(json!({"OrgUnitId": ou, "UserId": user, "RoleId": role, "IsCascading": false})).into_response()
}

async fn final_grades(
    State(d2l): State<Arc<D2l>>,
    Path((version, ou)): Path<(String, String)>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = version_ok(&d2l, "GET", &uri, &version, LE_VERSIONS) {
        return r;
    }
    let p = params(q);
    check_params(&d2l, &uri, &p, &["sort", "isGraded", "bookmark"]);
    let Some(ou) = ou.parse().ok().filter(|ou| org_unit_exists(*ou)) else {
        return problem(StatusCode::NOT_FOUND, "Org unit not found");
    };
    let after: u64 = param(&p, "bookmark").and_then(|b| b.parse().ok()).unwrap_or(0);
    let users: Vec<u64> = lock(&d2l.grades)
        .keys()
        .filter(|(o, u)| *o == ou && *u > after)
        .map(|(_, u)| *u)
        .collect();
    let more = users.len() > PAGE;
    let page: Vec<u64> = users.into_iter().take(PAGE).collect();
    let next = match (more, page.last()) {
        (true, Some(last)) => json!(format!("{}/d2l/api{}?bookmark={last}", lock(&d2l.base_url), uri.path())),
        _ => Value::Null,
    };
    let objects: Vec<Value> = page.into_iter().filter_map(|u| d2l.final_grade(ou, u)).collect();
    Json(json!({"Next": next, "Objects": objects})).into_response()
}
