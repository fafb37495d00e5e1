//! Fake eSkilled SMS API: a login session, students and enrolments, student creation, unit
//! results and enrolment payments.
//!
//! eSkilled publishes no machine-readable description. DOCUMENTED, and followed here, by its
//! help centre's "Using The SMS API (2.1)": `POST /api/Login` with {"Username", "lmsToken",
//! "SubDomain"} answers {"token"} (401 when they do not match an RTO); every other call carries
//! `Authorization: Bearer <token>`; `GET /api/Student`, `GET /api/Student/{id}`,
//! `GET /api/ExternalEnrolment/Student?id=`; `POST /api/Student` with the `student...` fields
//! (`studentName`, `studentSurname`, `studentEmail`, `studentUniqueStudentIdentifier`,
//! `studentMobileNumber`, `studentDOB` as d-m-Y, `studentGender`) answers the APIResponse
//! {"success", "newId", "message"}.
//!
//! ASSUMED (the pages describe no list parameters, no answer shapes beyond the above, and no
//! enrolment or result writes):
//!
//! * `GET /api/Student` and `GET /api/ExternalEnrolment` take `page` (from 1) and `pageSize`
//!   (at most 100) and answer a bare array in id order; a student record carries the create's
//!   fields and `studentID`;
//! * `GET /api/ExternalEnrolment/{id}`; an enrolment is {"enrolmentID", "studentID",
//!   "courseCode", "courseName", "units", "startDate", "status", "fee", "amountPaid", "paid"};
//! * `POST /api/ExternalEnrolment/UnitResult` {"enrolmentID", "unitCode", "outcomeCode",
//!   "dateAchieved"} (AVETMISS outcome identifiers 20, 30, 51, 60; the unit must be one of the
//!   enrolment's course) and `POST /api/ExternalEnrolment/Payment` {"enrolmentID", "amount",
//!   "paymentDate", "reference"} (the enrolment becomes `paid` when its payments reach the fee;
//!   more than is owed is refused) answer the APIResponse;
//! * a refused value is HTTP 200 {"success": false, "message"}; an unknown id on a GET is 404
//!   with the same shape; a missing, unknown or expired token is 401.
//!
//! Any request departing from the above (an unknown field or parameter, a body that is not a
//! JSON object, a date not d-m-Y) is recorded as a violation.

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

/// The API user.
pub const USERNAME: &str = "api@mytraining.edu.au";
/// The API token eSkilled issues the RTO (`lmsToken`).
pub const LMS_TOKEN: &str = "esk-lms-7f3c9a1e5b2d48c6a0e4";
/// The RTO's subdomain.
pub const SUB_DOMAIN: &str = "mytraining";
/// The course every seeded enrolment is in, and its units.
pub const COURSE: &str = "HLT26015";
pub const UNITS: &[&str] = &["HLTAID009", "HLTAID010", "HLTAID011"];
/// The fee of a seeded enrolment.
pub const FEE: f64 = 450.0;

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct EskilledConfig {
    pub students: usize,
    /// Seeded students enrolled in [`COURSE`] (the first `enrolled`).
    pub enrolled: usize,
    pub faults: FaultConfig,
}

/// The fake RTO.
pub struct Eskilled {
    students: Mutex<BTreeMap<u64, Value>>,
    enrolments: Mutex<BTreeMap<u64, Value>>,
    /// newId -> unit result.
    results: Mutex<BTreeMap<u64, Value>>,
    /// newId -> payment.
    payments: Mutex<BTreeMap<u64, Value>>,
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
pub fn start(config: EskilledConfig) -> FakeHandle<Eskilled> {
    server::expect_started("eskilled", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: EskilledConfig) -> io::Result<FakeHandle<Eskilled>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Eskilled {
        students: Mutex::new(BTreeMap::new()),
        enrolments: Mutex::new(BTreeMap::new()),
        results: Mutex::new(BTreeMap::new()),
        payments: Mutex::new(BTreeMap::new()),
        sessions: Mutex::new(Vec::new()),
        logins: Mutex::new(0),
        next_id: Mutex::new(900_000),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    server::spawn(
        Spec {
            name: "eskilled",
            port: 0,
            state,
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            let api = Router::new()
                .route("/Student", get(list_students).post(create_student))
                .route("/Student/{id}", get(student))
                .route("/ExternalEnrolment", get(list_enrolments))
                .route("/ExternalEnrolment/Student", get(enrolments_of_student))
                .route("/ExternalEnrolment/{id}", get(enrolment))
                .route("/ExternalEnrolment/UnitResult", post(unit_result))
                .route("/ExternalEnrolment/Payment", post(payment))
                .layer(from_fn_with_state(routes.clone(), bearer))
                .route("/Login", post(login))
                .with_state(routes);
            Router::new().nest("/api", api)
        },
    )
}

fn student_json(id: u64, name: &str, surname: &str, email: &str) -> Value {
    json!({
        "studentID": id, "studentName": name, "studentSurname": surname, "studentEmail": email,
        "studentUniqueStudentIdentifier": "", "studentMobileNumber": "", "studentDOB": "",
        "studentGender": "",
    })
}

impl Eskilled {
    fn seed(&self, config: &EskilledConfig) {
        let mut students = lock(&self.students);
        for n in 1..=config.students as u64 {
            let id = 100_000 + n;
            students.insert(
                id,
                student_json(
                    id,
                    &format!("Student{n}"),
                    "Learner",
                    &format!("student{n}@example.edu.au"),
                ),
            );
        }
        drop(students);
        for n in 1..=config.enrolled.min(config.students) as u64 {
            self.enrol(100_000 + n, COURSE);
        }
    }

    fn new_id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    /// Enrols a student as a staff member would in eSkilled's interface.
    pub fn enrol(&self, student: u64, course: &str) -> Value {
        let id = 7_000 + lock(&self.enrolments).len() as u64 + 1;
        let e = json!({
            "enrolmentID": id, "studentID": student, "courseCode": course,
            "courseName": "Provide First Aid (skill set)", "units": UNITS, "startDate": "01-02-2027",
            "status": "Active", "fee": FEE, "amountPaid": 0.0, "paid": false,
        });
        lock(&self.enrolments).insert(id, e.clone());
        e
    }

    pub fn student(&self, id: u64) -> Option<Value> {
        lock(&self.students).get(&id).cloned()
    }

    pub fn find_student(&self, email: &str) -> Option<Value> {
        lock(&self.students)
            .values()
            .find(|s| s["studentEmail"] == email)
            .cloned()
    }

    pub fn student_count(&self) -> usize {
        lock(&self.students).len()
    }

    /// Renames a student as a staff member would.
    pub fn rename_student(&self, id: u64, name: &str) -> Option<Value> {
        let mut students = lock(&self.students);
        let s = students.get_mut(&id)?;
        s["studentName"] = json!(name);
        Some(s.clone())
    }

    pub fn enrolment(&self, id: u64) -> Option<Value> {
        lock(&self.enrolments).get(&id).cloned()
    }

    pub fn enrolment_count(&self) -> usize {
        lock(&self.enrolments).len()
    }

    /// Withdraws a student from an enrolment as a staff member would.
    pub fn set_enrolment_status(&self, id: u64, status: &str) -> Option<Value> {
        let mut enrolments = lock(&self.enrolments);
        let e = enrolments.get_mut(&id)?;
        e["status"] = json!(status);
        Some(e.clone())
    }

    /// Unit results recorded on an enrolment.
    pub fn results_of(&self, enrolment: u64) -> Vec<Value> {
        lock(&self.results)
            .values()
            .filter(|r| r["enrolmentID"] == enrolment)
            .cloned()
            .collect()
    }

    /// A unit result by its newId.
    pub fn result(&self, id: u64) -> Option<Value> {
        lock(&self.results).get(&id).cloned()
    }

    /// A payment by its newId.
    pub fn payment(&self, id: u64) -> Option<Value> {
        lock(&self.payments).get(&id).cloned()
    }

    /// Logins so far.
    pub fn logins(&self) -> u32 {
        *lock(&self.logins)
    }

    /// Ends every session, as the token's expiry would.
    pub fn expire_sessions(&self) {
        lock(&self.sessions).clear();
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "eskilled",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

fn refused(message: &str) -> Response {
    Json(json!({"success": false, "newId": 0, "message": message})).into_response()
}

fn created(id: u64) -> Response {
    Json(json!({"success": true, "newId": id, "message": ""})).into_response()
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"success": false, "newId": 0, "message": format!("{what} not found.")})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    (
        status,
        Json(json!({"success": false, "newId": 0, "message": "An error has occurred."})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "Authorization has been denied for this request."})),
    )
        .into_response()
}

async fn bearer(State(state): State<Arc<Eskilled>>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if token.is_empty() || !lock(&state.sessions).contains(&token) {
        return unauthorized();
    }
    next.run(req).await
}

/// A JSON object body with only `allowed` fields; departures are violations.
fn object(state: &Eskilled, uri: &Uri, headers: &HeaderMap, body: &[u8], allowed: &[&str]) -> Map<String, Value> {
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        state.violation("POST", uri.path(), "/", "the body must be application/json".into());
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        state.violation("POST", uri.path(), "/", "the body must be a JSON object".into());
        return Map::new();
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            state.violation(
                "POST",
                uri.path(),
                &format!("/{key}"),
                format!("`{key}` is not a field of this call"),
            );
        }
    }
    map
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn number(map: &Map<String, Value>, key: &str) -> Option<u64> {
    match map.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// d-m-Y, as the documented `studentDOB`.
fn dmy(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 2
        && parts[1].len() == 2
        && parts[2].len() == 4
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_date(state: &Eskilled, uri: &Uri, map: &Map<String, Value>, key: &str) {
    let value = text(map, key);
    if !value.is_empty() && !dmy(value) {
        state.violation(
            "POST",
            uri.path(),
            &format!("/{key}"),
            format!("`{key}` must be d-m-Y, got `{value}`"),
        );
    }
}

async fn login(State(state): State<Arc<Eskilled>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let map = object(&state, &uri, &headers, &body, &["Username", "lmsToken", "SubDomain"]);
    let ok = text(&map, "Username") == USERNAME
        && text(&map, "lmsToken") == LMS_TOKEN
        && text(&map, "SubDomain") == SUB_DOMAIN;
    if !ok {
        return unauthorized();
    }
    *lock(&state.logins) += 1;
    let token = format!("eyJhbGciOiJIUzI1NiJ9.esk-session-{}.sig", state.new_id());
    lock(&state.sessions).push(token.clone());
    Json(json!({"token": token})).into_response()
}

type Params = Vec<(String, String)>;

fn params(state: &Eskilled, uri: &Uri, query: Option<String>, allowed: &[&str]) -> Params {
    let p: Params = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, v) in &p {
        if !allowed.contains(&k.as_str()) {
            state.violation(
                "GET",
                uri.path(),
                &format!("/{k}"),
                format!("`{k}` is not a parameter of this call"),
            );
        } else if v.parse::<u64>().is_err() {
            state.violation(
                "GET",
                uri.path(),
                &format!("/{k}"),
                format!("`{k}` must be a number, got `{v}`"),
            );
        }
    }
    p
}

fn page(p: &Params, items: Vec<Value>) -> Response {
    let get = |name: &str, default: usize| {
        p.iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(default)
    };
    let size = get("pageSize", 20).clamp(1, 100);
    let number = get("page", 1).max(1);
    Json(
        items
            .into_iter()
            .skip((number - 1) * size)
            .take(size)
            .collect::<Vec<_>>(),
    )
    .into_response()
}

async fn list_students(State(state): State<Arc<Eskilled>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let p = params(&state, &uri, q, &["page", "pageSize"]);
    let items = lock(&state.students).values().cloned().collect();
    page(&p, items)
}

async fn student(State(state): State<Arc<Eskilled>>, Path(id): Path<String>) -> Response {
    match id.parse().ok().and_then(|id| state.student(id)) {
        Some(s) => Json(s).into_response(),
        None => not_found("Student"),
    }
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(a), Some(b)) if !a.is_empty() && b.contains('.') && !b.starts_with('.'))
}

const STUDENT_FIELDS: &[&str] = &[
    "studentName",
    "studentSurname",
    "studentEmail",
    "studentUniqueStudentIdentifier",
    "studentMobileNumber",
    "studentDOB",
    "studentGender",
];

async fn create_student(State(state): State<Arc<Eskilled>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let map = object(&state, &uri, &headers, &body, STUDENT_FIELDS);
    check_date(&state, &uri, &map, "studentDOB");
    let (name, surname, email) = (
        text(&map, "studentName"),
        text(&map, "studentSurname"),
        text(&map, "studentEmail"),
    );
    if name.trim().is_empty() || surname.trim().is_empty() {
        return refused("studentName and studentSurname are required.");
    }
    if !valid_email(email) {
        return refused(&format!("studentEmail is not a valid email address: {email}"));
    }
    if state.find_student(email).is_some() {
        return refused("A student with this email already exists.");
    }
    let id = state.new_id();
    let mut s = student_json(id, name, surname, email);
    for field in &STUDENT_FIELDS[3..] {
        if let Some(v) = map.get(*field) {
            s[*field] = v.clone();
        }
    }
    lock(&state.students).insert(id, s);
    created(id)
}

async fn list_enrolments(State(state): State<Arc<Eskilled>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let p = params(&state, &uri, q, &["page", "pageSize"]);
    let items = lock(&state.enrolments).values().cloned().collect();
    page(&p, items)
}

async fn enrolments_of_student(State(state): State<Arc<Eskilled>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let p = params(&state, &uri, q, &["id"]);
    let Some(id) = p
        .iter()
        .find(|(k, _)| k == "id")
        .and_then(|(_, v)| v.parse::<u64>().ok())
    else {
        return refused("id is required.");
    };
    let items: Vec<Value> = lock(&state.enrolments)
        .values()
        .filter(|e| e["studentID"] == id)
        .cloned()
        .collect();
    Json(items).into_response()
}

async fn enrolment(State(state): State<Arc<Eskilled>>, Path(id): Path<String>) -> Response {
    match id.parse().ok().and_then(|id| state.enrolment(id)) {
        Some(e) => Json(e).into_response(),
        None => not_found("Enrolment"),
    }
}

async fn unit_result(State(state): State<Arc<Eskilled>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let map = object(
        &state,
        &uri,
        &headers,
        &body,
        &["enrolmentID", "unitCode", "outcomeCode", "dateAchieved"],
    );
    check_date(&state, &uri, &map, "dateAchieved");
    let Some(enrolment) = number(&map, "enrolmentID").and_then(|id| state.enrolment(id)) else {
        return refused("Invalid enrolmentID.");
    };
    let unit = text(&map, "unitCode");
    if !enrolment["units"]
        .as_array()
        .is_some_and(|u| u.iter().any(|c| c == unit))
    {
        return refused(&format!("Unit {unit} is not part of this enrolment's course."));
    }
    let code = match map.get("outcomeCode") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if !["20", "30", "51", "60"].contains(&code.as_str()) {
        return refused(&format!("Invalid outcomeCode: {code}"));
    }
    let id = state.new_id();
    let result = json!({
        "resultID": id, "enrolmentID": enrolment["enrolmentID"], "unitCode": unit,
        "outcomeCode": code, "dateAchieved": text(&map, "dateAchieved"),
    });
    lock(&state.results).insert(id, result);
    created(id)
}

async fn payment(State(state): State<Arc<Eskilled>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let map = object(
        &state,
        &uri,
        &headers,
        &body,
        &["enrolmentID", "amount", "paymentDate", "reference"],
    );
    check_date(&state, &uri, &map, "paymentDate");
    let Some(id) = number(&map, "enrolmentID").filter(|id| state.enrolment(*id).is_some()) else {
        return refused("Invalid enrolmentID.");
    };
    let amount = map.get("amount").and_then(Value::as_f64).unwrap_or(0.0);
    let mut enrolments = lock(&state.enrolments);
    let e = enrolments.get_mut(&id).expect("checked above");
    let paid = e["amountPaid"].as_f64().unwrap_or(0.0);
    let fee = e["fee"].as_f64().unwrap_or(0.0);
    if amount <= 0.0 || paid + amount > fee + 0.005 {
        return refused(&format!("Invalid amount: {amount} (owing {:.2}).", fee - paid));
    }
    e["amountPaid"] = json!(paid + amount);
    e["paid"] = json!(paid + amount >= fee - 0.005);
    drop(enrolments);
    let pid = state.new_id();
    let record = json!({
        "paymentID": pid, "enrolmentID": id, "amount": amount,
        "paymentDate": text(&map, "paymentDate"), "reference": text(&map, "reference"),
    });
    lock(&state.payments).insert(pid, record);
    created(pid)
}
