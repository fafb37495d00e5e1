//! Fake CloudAssess REST API: learners and their unit outcomes, learner creation and
//! enrolment.
//!
//! CloudAssess publishes no API description and no public API reference. DOCUMENTED (by the
//! SMS integrations that use it, e.g. SELMA's "Cloud Assess" page): an account URL and API keys;
//! learners and enrolments pushed by the SMS; qualifications and units linked by code; outcomes
//! pulled back, only those with an "Approved" mark. Everything else here is ASSUMED, kept to
//! the plainest REST shape, and is the same contract `shared/connectors/cloudassess.yaml`
//! states:
//!
//! * `Authorization: Bearer <API key>` on every request; anything else is 401
//!   {"errors": [{"message"}]};
//! * lists take `page` (from 1) and `per_page` (1 to 100; more is a violation) and answer
//!   {"data": [...], "meta": {"current_page", "per_page", "total_pages", "total_count"}} in id
//!   order; one record is {"data": {...}}, an unknown id 404;
//! * `GET /api/v1/learners`, `GET /api/v1/learners/{id}`; `POST /api/v1/learners`
//!   {"learner": {"first_name", "last_name", "email", "external_id"}};
//! * `POST /api/v1/enrolments` {"enrolment": {"learner_id", "qualification_code",
//!   "external_id"}} for a qualification the account has ([`QUALIFICATION`]);
//! * `GET /api/v1/unit_outcomes?status=approved|pending`, `GET /api/v1/unit_outcomes/{id}`;
//!   an outcome carries the learner's and the enrolment's `external_id`s;
//! * creates answer 201 {"data": {...}}; a refused value is 422 {"errors": [{"field",
//!   "message"}]}.
//!
//! Unknown parameters or fields, and bodies that are not the wrapped JSON object, are
//! recorded as violations.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::{iso_ms, now_ms};

/// The API key the fake accepts.
pub const API_KEY: &str = "ca_live_3f9b2c7d1e8a4f6b0c5d9e2a";
/// The qualification the account delivers, and its units.
pub const QUALIFICATION: &str = "HLT26015";
pub const UNITS: &[(&str, &str)] = &[
    ("HLTAID009", "Provide cardiopulmonary resuscitation"),
    ("HLTAID010", "Provide basic emergency life support"),
    ("HLTAID011", "Provide first aid"),
];

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct CloudAssessConfig {
    pub learners: usize,
    /// Approved outcomes seeded, spread over the learners and units (learner n's enrolment
    /// external id is `7000 + n`, as the eSkilled fake numbers its enrolments).
    pub approved: usize,
    /// Pending outcomes seeded after them.
    pub pending: usize,
    pub faults: FaultConfig,
}

/// The fake account.
pub struct CloudAssess {
    learners: Mutex<BTreeMap<u64, Value>>,
    enrolments: Mutex<BTreeMap<u64, Value>>,
    outcomes: Mutex<BTreeMap<u64, Value>>,
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
pub fn start(config: CloudAssessConfig) -> FakeHandle<CloudAssess> {
    server::expect_started("cloudassess", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: CloudAssessConfig) -> io::Result<FakeHandle<CloudAssess>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(CloudAssess {
        learners: Mutex::new(BTreeMap::new()),
        enrolments: Mutex::new(BTreeMap::new()),
        outcomes: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(50_000),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    server::spawn(
        Spec {
            name: "cloudassess",
            port: 0,
            state,
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            let api = Router::new()
                .route("/learners", get(list_learners).post(create_learner))
                .route("/learners/{id}", get(learner))
                .route("/enrolments", post(create_enrolment))
                .route("/unit_outcomes", get(list_outcomes))
                .route("/unit_outcomes/{id}", get(outcome))
                .layer(from_fn(bearer))
                .with_state(routes);
            Router::new().nest("/api/v1", api)
        },
    )
}

impl CloudAssess {
    fn seed(&self, config: &CloudAssessConfig) {
        for n in 1..=config.learners as u64 {
            self.insert_learner(
                &format!("Student{n}"),
                "Learner",
                &format!("student{n}@example.edu.au"),
                &(100_000 + n).to_string(),
            );
        }
        let learners: Vec<u64> = lock(&self.learners).keys().copied().collect();
        if learners.is_empty() {
            return;
        }
        for i in 0..config.approved + config.pending {
            let (n, unit) = (i / UNITS.len(), i % UNITS.len());
            let learner = learners[n % learners.len()];
            let external = 7_001 + (n % learners.len()) as u64;
            let result = if i % 7 == 3 { "not_yet_competent" } else { "competent" };
            let status = if i < config.approved { "approved" } else { "pending" };
            self.record_outcome(learner, &external.to_string(), UNITS[unit].0, result, status);
        }
    }

    fn new_id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    fn insert_learner(&self, first: &str, last: &str, email: &str, external: &str) -> Value {
        let id = self.new_id();
        let now = iso_ms(now_ms());
        let l = json!({
            "id": id, "first_name": first, "last_name": last, "email": email,
            "external_id": external, "created_at": now, "updated_at": now,
        });
        lock(&self.learners).insert(id, l.clone());
        l
    }

    /// An assessor's mark on a unit, as CloudAssess records it (`status` pending or approved).
    pub fn record_outcome(
        &self,
        learner: u64,
        enrolment_external_id: &str,
        unit: &str,
        result: &str,
        status: &str,
    ) -> Value {
        let id = self.new_id();
        let l = self.learner(learner).unwrap_or(Value::Null);
        let title = UNITS.iter().find(|(c, _)| *c == unit).map_or("", |(_, t)| *t);
        let o = json!({
            "id": id, "learner_id": learner, "learner_external_id": l["external_id"],
            "enrolment_id": null, "enrolment_external_id": enrolment_external_id,
            "unit_code": unit, "unit_title": title, "result": result, "status": status,
            "assessed_on": "2026-12-04", "approved_at": if status == "approved" { json!("2026-12-05") } else { Value::Null },
            "updated_at": iso_ms(now_ms()),
        });
        lock(&self.outcomes).insert(id, o.clone());
        o
    }

    /// Signs off a pending outcome.
    pub fn approve(&self, id: u64) -> Option<Value> {
        let mut outcomes = lock(&self.outcomes);
        let o = outcomes.get_mut(&id)?;
        o["status"] = json!("approved");
        o["approved_at"] = json!("2026-12-06");
        o["updated_at"] = json!(iso_ms(now_ms()));
        Some(o.clone())
    }

    /// Changes an approved outcome's result (a re-assessment).
    pub fn set_result(&self, id: u64, result: &str) -> Option<Value> {
        let mut outcomes = lock(&self.outcomes);
        let o = outcomes.get_mut(&id)?;
        o["result"] = json!(result);
        o["updated_at"] = json!(iso_ms(now_ms()));
        Some(o.clone())
    }

    /// The first pending outcome of a learner.
    pub fn find_pending(&self, learner: u64) -> Option<u64> {
        lock(&self.outcomes)
            .values()
            .find(|o| o["learner_id"] == learner && o["status"] == "pending")
            .and_then(|o| o["id"].as_u64())
    }

    pub fn outcome(&self, id: u64) -> Option<Value> {
        lock(&self.outcomes).get(&id).cloned()
    }

    /// Outcomes with this status.
    pub fn outcome_count(&self, status: &str) -> usize {
        lock(&self.outcomes).values().filter(|o| o["status"] == status).count()
    }

    pub fn learner(&self, id: u64) -> Option<Value> {
        lock(&self.learners).get(&id).cloned()
    }

    pub fn find_learner(&self, email: &str) -> Option<Value> {
        lock(&self.learners).values().find(|l| l["email"] == email).cloned()
    }

    pub fn learner_count(&self) -> usize {
        lock(&self.learners).len()
    }

    /// Renames a learner as an administrator would.
    pub fn rename_learner(&self, id: u64, first: &str) -> Option<Value> {
        let mut learners = lock(&self.learners);
        let l = learners.get_mut(&id)?;
        l["first_name"] = json!(first);
        l["updated_at"] = json!(iso_ms(now_ms()));
        Some(l.clone())
    }

    pub fn enrolment(&self, id: u64) -> Option<Value> {
        lock(&self.enrolments).get(&id).cloned()
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "cloudassess",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

fn errors(status: StatusCode, field: &str, message: &str) -> Response {
    (status, Json(json!({"errors": [{"field": field, "message": message}]}))).into_response()
}

fn fault(status: StatusCode) -> Response {
    errors(status, "", "Something went wrong.")
}

async fn bearer(req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {API_KEY}"));
    if !ok {
        return errors(StatusCode::UNAUTHORIZED, "", "Invalid or missing API key.");
    }
    next.run(req).await
}

fn list(state: &CloudAssess, uri: &Uri, query: Option<String>, extra: &[&str], items: Vec<Value>) -> Response {
    let p: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut page = 1usize;
    let mut per_page = 25usize;
    for (k, v) in &p {
        match k.as_str() {
            "page" | "per_page" => match v.parse::<usize>() {
                Ok(n) if n >= 1 && (k == "page" || n <= 100) => {
                    if k == "page" {
                        page = n;
                    } else {
                        per_page = n;
                    }
                }
                _ => state.violation(
                    "GET",
                    uri.path(),
                    &format!("/{k}"),
                    format!("`{k}` out of range: `{v}`"),
                ),
            },
            other if extra.contains(&other) => {}
            other => state.violation(
                "GET",
                uri.path(),
                &format!("/{other}"),
                format!("`{other}` is not a parameter of this list"),
            ),
        }
    }
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    Json(json!({
        "data": data,
        "meta": {"current_page": page, "per_page": per_page, "total_pages": total.div_ceil(per_page), "total_count": total},
    }))
    .into_response()
}

fn one(found: Option<Value>, what: &str) -> Response {
    match found {
        Some(v) => Json(json!({"data": v})).into_response(),
        None => errors(StatusCode::NOT_FOUND, "id", &format!("{what} not found")),
    }
}

async fn list_learners(State(state): State<Arc<CloudAssess>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let items = lock(&state.learners).values().cloned().collect();
    list(&state, &uri, q, &[], items)
}

async fn learner(State(state): State<Arc<CloudAssess>>, Path(id): Path<String>) -> Response {
    one(id.parse().ok().and_then(|id| state.learner(id)), "Learner")
}

async fn list_outcomes(State(state): State<Arc<CloudAssess>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let status = form_urlencoded::parse(q.clone().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.into_owned());
    if let Some(s) = &status {
        if s != "approved" && s != "pending" {
            state.violation(
                "GET",
                uri.path(),
                "/status",
                format!("status must be approved or pending, got `{s}`"),
            );
        }
    }
    let items = lock(&state.outcomes)
        .values()
        .filter(|o| status.as_ref().is_none_or(|s| o["status"] == s.as_str()))
        .cloned()
        .collect();
    list(&state, &uri, q, &["status"], items)
}

async fn outcome(State(state): State<Arc<CloudAssess>>, Path(id): Path<String>) -> Response {
    one(id.parse().ok().and_then(|id| state.outcome(id)), "Unit outcome")
}

/// The object under `wrapper` in a JSON body, with only `allowed` fields.
fn wrapped(
    state: &CloudAssess,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    wrapper: &str,
    allowed: &[&str],
) -> Map<String, Value> {
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        state.violation("POST", uri.path(), "/", "the body must be application/json".into());
    }
    let inner = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut outer)) if outer.len() == 1 => match outer.remove(wrapper) {
            Some(Value::Object(inner)) => Some(inner),
            _ => None,
        },
        _ => None,
    };
    let Some(inner) = inner else {
        state.violation(
            "POST",
            uri.path(),
            "/",
            format!("the body must be {{\"{wrapper}\": {{...}}}}"),
        );
        return Map::new();
    };
    for key in inner.keys() {
        if !allowed.contains(&key.as_str()) {
            state.violation(
                "POST",
                uri.path(),
                &format!("/{wrapper}/{key}"),
                format!("`{key}` is not a field of a {wrapper}"),
            );
        }
    }
    inner
}

fn text(map: &Map<String, Value>, key: &str) -> String {
    match map.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

async fn create_learner(State(state): State<Arc<CloudAssess>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let l = wrapped(
        &state,
        &uri,
        &headers,
        &body,
        "learner",
        &["first_name", "last_name", "email", "external_id"],
    );
    let (first, last, email) = (text(&l, "first_name"), text(&l, "last_name"), text(&l, "email"));
    if first.trim().is_empty() || last.trim().is_empty() {
        return errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "first_name",
            "first_name and last_name can't be blank",
        );
    }
    let valid = email
        .split_once('@')
        .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
    if !valid {
        return errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
            &format!("email is invalid: {email}"),
        );
    }
    if state.find_learner(&email).is_some() {
        return errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
            "email has already been taken",
        );
    }
    let created = state.insert_learner(&first, &last, &email, &text(&l, "external_id"));
    (StatusCode::CREATED, Json(json!({"data": created}))).into_response()
}

async fn create_enrolment(
    State(state): State<Arc<CloudAssess>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let e = wrapped(
        &state,
        &uri,
        &headers,
        &body,
        "enrolment",
        &["learner_id", "qualification_code", "external_id"],
    );
    let learner: Option<u64> = text(&e, "learner_id").parse().ok();
    let Some(learner) = learner.filter(|id| state.learner(*id).is_some()) else {
        return errors(StatusCode::UNPROCESSABLE_ENTITY, "learner_id", "learner must exist");
    };
    let qualification = text(&e, "qualification_code");
    if qualification != QUALIFICATION {
        return errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "qualification_code",
            &format!("qualification {qualification} is not on the account's scope"),
        );
    }
    let taken = lock(&state.enrolments)
        .values()
        .any(|x| x["learner_id"] == learner && x["qualification_code"] == qualification.as_str());
    if taken {
        return errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "learner_id",
            "learner is already enrolled in this qualification",
        );
    }
    let id = state.new_id();
    let record = json!({
        "id": id, "learner_id": learner, "qualification_code": qualification,
        "external_id": text(&e, "external_id"), "status": "active", "created_at": iso_ms(now_ms()),
    });
    lock(&state.enrolments).insert(id, record.clone());
    (StatusCode::CREATED, Json(json!({"data": record}))).into_response()
}
