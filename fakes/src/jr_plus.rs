//! Fake ReadyTech JR Plus (JobReady Plus) web services: parties and enrolments over REST with
//! XML bodies.
//!
//! Followed from developer.jobready.io/plus: HTTPS REST with XML request and response bodies;
//! HTTP basic authentication whose password is the API key (any user name); 200 with the
//! result set, 201 Created with the new record, 401 for missing or wrong credentials, 404 for
//! an unknown record, 422 for a validation error, each with an XML body. The resource pages
//! were not readable to us, so these are assumed (and the definition says so):
//!
//! * `GET /webservice/parties` and `GET /webservice/enrolments` with `offset` and `limit`
//!   (capped at 100), answering Rails-style arrays: `<parties type="array"><party>...</party>
//!   </parties>`; `GET /webservice/parties/:party-identifier` one `<party>`;
//! * `POST /webservice/parties` with one `<party>` (`party-type` Person, `first-name` and
//!   `surname` required, `email` checked, `birth-date` YYYY-MM-DD optional) and
//!   `POST /webservice/enrolments` with one `<enrolment>` (`party-identifier` of an existing
//!   party, `course-number` of an existing course, `enrolment-status`, `start-date`), each
//!   answered 201 with the stored record;
//! * errors as `<errors><error>...</error></errors>`.
//!
//! Every request whose shape departs from these (a body that is not XML, an unknown element or
//! query parameter, a missing Content-Type) is recorded as a violation.

// Request checks return the response the fake refuses with.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};

/// The API key the fake accepts as the basic-auth password.
pub const API_KEY: &str = "jrp-fake-api-key-6e2b90c4";
/// Courses that exist.
pub const COURSES: &[&str] = &["BSB40120-2027-01", "CHC33021-2027-01", "HLTAID011-2027-03"];

const PARTY_FIELDS: &[&str] = &[
    "party-type",
    "first-name",
    "surname",
    "email",
    "birth-date",
    "mobile-phone",
    "usi",
];
const ENROLMENT_FIELDS: &[&str] = &["party-identifier", "course-number", "enrolment-status", "start-date"];

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct JrPlusConfig {
    pub parties: usize,
    /// Seeded enrolments, of the first parties in the first course.
    pub enrolments: usize,
    pub faults: FaultConfig,
}

/// The fake tenant.
pub struct JrPlus {
    parties: Mutex<BTreeMap<String, Value>>,
    enrolments: Mutex<BTreeMap<String, Value>>,
    next: Mutex<u64>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: JrPlusConfig) -> FakeHandle<JrPlus> {
    server::expect_started("jr-plus", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: JrPlusConfig) -> io::Result<FakeHandle<JrPlus>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(JrPlus {
        parties: Mutex::new(BTreeMap::new()),
        enrolments: Mutex::new(BTreeMap::new()),
        next: Mutex::new(0),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    server::spawn(
        Spec {
            name: "jr-plus",
            port: 0,
            state,
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            Router::new()
                .route("/webservice/parties", get(list_parties).post(create_party))
                .route("/webservice/parties/{id}", get(party))
                .route("/webservice/enrolments", get(list_enrolments).post(create_enrolment))
                .layer(from_fn(basic))
                .with_state(routes)
        },
    )
}

fn party_json(id: &str, first: &str, surname: &str, email: &str) -> Value {
    json!({
        "party-identifier": id, "party-type": "Person", "first-name": first, "surname": surname,
        "email": email, "birth-date": "", "mobile-phone": "", "usi": "",
    })
}

impl JrPlus {
    fn seed(&self, config: &JrPlusConfig) {
        let mut parties = lock(&self.parties);
        for n in 1..=config.parties {
            let id = format!("P{n:05}");
            parties.insert(
                id.clone(),
                party_json(
                    &id,
                    &format!("Student{n}"),
                    "Learner",
                    &format!("student{n}@example.edu.au"),
                ),
            );
        }
        drop(parties);
        for n in 1..=config.enrolments.min(config.parties) {
            self.enrol(&format!("P{n:05}"), COURSES[0], "Enrolled", "2027-02-01");
        }
    }

    fn enrol(&self, party: &str, course: &str, status: &str, start: &str) -> Value {
        let id = {
            let mut next = lock(&self.next);
            *next += 1;
            format!("E{:06}", *next)
        };
        let e = json!({
            "enrolment-identifier": id, "party-identifier": party, "course-number": course,
            "enrolment-status": status, "start-date": start,
        });
        lock(&self.enrolments).insert(id, e.clone());
        e
    }

    pub fn party(&self, id: &str) -> Option<Value> {
        lock(&self.parties).get(id).cloned()
    }

    pub fn party_count(&self) -> usize {
        lock(&self.parties).len()
    }

    pub fn find_party(&self, email: &str) -> Option<Value> {
        lock(&self.parties).values().find(|p| p["email"] == email).cloned()
    }

    /// Changes a party's surname as a staff member would.
    pub fn rename_party(&self, id: &str, surname: &str) -> Option<Value> {
        let mut parties = lock(&self.parties);
        let p = parties.get_mut(id)?;
        p["surname"] = json!(surname);
        Some(p.clone())
    }

    pub fn enrolment(&self, id: &str) -> Option<Value> {
        lock(&self.enrolments).get(id).cloned()
    }

    pub fn enrolment_count(&self) -> usize {
        lock(&self.enrolments).len()
    }

    /// Enrols a party as a staff member would.
    pub fn enrol_as_staff(&self, party: &str, course: &str) -> Value {
        self.enrol(party, course, "Enrolled", "2027-02-01")
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "jr-plus",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn element(name: &str, record: &Value) -> String {
    let inner: String = record
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("<{k}>{}</{k}>", escape(v.as_str().unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default();
    format!("<{name}>{inner}</{name}>")
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "application/xml; charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{body}"),
    )
        .into_response()
}

fn errors(status: StatusCode, message: &str) -> Response {
    xml(status, format!("<errors><error>{}</error></errors>", escape(message)))
}

fn fault(status: StatusCode) -> Response {
    errors(status, "The service is currently unavailable.")
}

async fn basic(req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, p)| p == API_KEY))
        .unwrap_or(false);
    if !ok {
        return errors(StatusCode::UNAUTHORIZED, "Invalid API key.");
    }
    next.run(req).await
}

fn page_params(state: &JrPlus, uri: &Uri, q: Option<String>) -> (usize, usize) {
    let mut offset = 0;
    let mut limit = 25;
    for (k, v) in form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
        match (&*k, v.parse::<usize>()) {
            ("offset", Ok(n)) => offset = n,
            ("limit", Ok(n)) => limit = n.clamp(1, 100),
            (name, _) => state.violation(
                "GET",
                uri.path(),
                &format!("/query/{name}"),
                format!("`{name}={v}` is not a parameter of this resource"),
            ),
        }
    }
    (offset, limit)
}

fn list(name: &str, item: &str, records: Vec<Value>, offset: usize, limit: usize) -> Response {
    let items: String = records
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| element(item, r))
        .collect();
    xml(StatusCode::OK, format!("<{name} type=\"array\">{items}</{name}>"))
}

async fn list_parties(State(s): State<Arc<JrPlus>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let (offset, limit) = page_params(&s, &uri, q);
    let records = lock(&s.parties).values().cloned().collect();
    list("parties", "party", records, offset, limit)
}

async fn list_enrolments(State(s): State<Arc<JrPlus>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let (offset, limit) = page_params(&s, &uri, q);
    let records = lock(&s.enrolments).values().cloned().collect();
    list("enrolments", "enrolment", records, offset, limit)
}

async fn party(State(s): State<Arc<JrPlus>>, Path(id): Path<String>) -> Response {
    match s.party(&id) {
        Some(p) => xml(StatusCode::OK, element("party", &p)),
        None => errors(StatusCode::NOT_FOUND, "Party not found."),
    }
}

/// The one `<root>` element's children as text fields; records violations for a body that is
/// not that document or names fields outside `allowed`.
fn read_record(
    s: &JrPlus,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    root: &str,
    allowed: &[&str],
) -> Result<Map<String, Value>, Response> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.contains("xml") {
        s.violation(
            "POST",
            uri.path(),
            "/headers/content-type",
            format!("the body is XML, not `{ct}`"),
        );
    }
    let text = std::str::from_utf8(body).map_err(|_| errors(StatusCode::BAD_REQUEST, "The body is not UTF-8."))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        s.violation("POST", uri.path(), "/body", format!("the body does not parse: {e}"));
        errors(StatusCode::BAD_REQUEST, "Malformed XML.")
    })?;
    let element = doc.root_element();
    if element.tag_name().name() != root {
        s.violation("POST", uri.path(), "/body", format!("the document is not one <{root}>"));
        return Err(errors(StatusCode::BAD_REQUEST, "Malformed XML."));
    }
    let mut fields = Map::new();
    for child in element.children().filter(|n| n.is_element()) {
        let name = child.tag_name().name();
        if !allowed.contains(&name) {
            s.violation(
                "POST",
                uri.path(),
                &format!("/body/{root}/{name}"),
                format!("<{name}> is not a field of <{root}>"),
            );
        }
        if child.children().any(|n| n.is_element()) {
            s.violation(
                "POST",
                uri.path(),
                &format!("/body/{root}/{name}"),
                format!("<{name}> holds text, not elements"),
            );
        }
        fields.insert(name.to_owned(), json!(child.text().unwrap_or_default()));
    }
    Ok(fields)
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> &'a str {
    fields.get(name).and_then(Value::as_str).unwrap_or_default()
}

async fn create_party(State(s): State<Arc<JrPlus>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match read_record(&s, &uri, &headers, &body, "party", PARTY_FIELDS) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if text(&fields, "surname").trim().is_empty() {
        return errors(StatusCode::UNPROCESSABLE_ENTITY, "Surname can't be blank");
    }
    let email = text(&fields, "email");
    if !email.is_empty()
        && !email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
    {
        return errors(StatusCode::UNPROCESSABLE_ENTITY, &format!("Email {email} is invalid"));
    }
    let id = {
        let mut next = lock(&s.next);
        *next += 1;
        format!("P9{:04}", *next)
    };
    let mut p = party_json(&id, text(&fields, "first-name"), text(&fields, "surname"), email);
    for field in PARTY_FIELDS {
        if let Some(v) = fields.get(*field) {
            p[*field] = v.clone();
        }
    }
    lock(&s.parties).insert(id, p.clone());
    xml(StatusCode::CREATED, element("party", &p))
}

async fn create_enrolment(State(s): State<Arc<JrPlus>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match read_record(&s, &uri, &headers, &body, "enrolment", ENROLMENT_FIELDS) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let party = text(&fields, "party-identifier");
    if s.party(party).is_none() {
        return errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Party {party} does not exist"),
        );
    }
    let course = text(&fields, "course-number");
    if !COURSES.contains(&course) {
        return errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Course {course} does not exist"),
        );
    }
    let e = s.enrol(
        party,
        course,
        text(&fields, "enrolment-status"),
        text(&fields, "start-date"),
    );
    xml(StatusCode::CREATED, element("enrolment", &e))
}
