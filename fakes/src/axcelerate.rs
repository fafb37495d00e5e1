//! Fake aXcelerate REST API: contacts, course instances (workshops) and their enrolments,
//! contact creation and enrolment.
//!
//! aXcelerate publishes no machine-readable description. This fake follows
//! developer.axcelerate.com ("Authentication": the `apitoken` and `wstoken` headers on every
//! request, base URL `https://{subdomain}.app.axcelerate.com/api`) and the API dashboard
//! (admin.axcelerate.com.au/apidocs: JSON responses, POST data as form fields, GET parameters in
//! the URL), and records as a violation any request that departs from what it accepts:
//!
//! * both token headers on every request; a missing or wrong one answers 401;
//! * `GET /contacts/search` (`offset`, `displayLength`, `sortColumn`, `sortDirection`, `search`),
//!   `GET /contact/:contactID`, `POST /contact/` (form: `givenName` and `surname` required,
//!   `emailAddress` checked, `mobilephone`, `USI`, `dob` optional);
//! * `GET /course/instance/search` (`type`, `offset`, `displayLength`),
//!   `GET /course/instance/detail` (`instanceID`, `type`);
//! * `GET /course/enrolments` (`instanceID`, `type`, `offset`, `limit`), `POST /course/enrol`
//!   (form: `contactID`, `instanceID`, `type`).
//!
//! Assumed (the dashboard describes parameters, not every field of every answer): lists answer
//! a bare array in id order with upper-case keys; records carry the fields built below, not
//! every field aXcelerate returns; errors are `{"ERROR": true, "CODE": "<status>", "MESSAGES":
//! "...", "DETAILS": ""}` with that HTTP status (401 refused tokens, 404 unknown records, 412
//! refused values: a missing name, an invalid email, an unknown contact or instance, a contact
//! already enrolled); `displayLength` and `limit` are capped at 100; `POST /course/enrol` answers
//! `{"INVOICEID", "CONTACTID", "LEARNERID", "AMOUNT"}` and LEARNERID is the enrolment's id in
//! the enrolment list.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};

/// The API token the fake accepts (`apitoken`).
pub const API_TOKEN: &str = "AXAPI-5c1e0f3b9d2a4e7f8a6b";
/// The web service token the fake accepts (`wstoken`).
pub const WS_TOKEN: &str = "AXWS-81d4e2c7a0f94b3c9e5d";
/// The instance whose enrolments are seeded.
pub const INSTANCE: u64 = 500_001;

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct AxcelerateConfig {
    pub contacts: usize,
    /// Workshops seeded (the first is [`INSTANCE`]).
    pub instances: usize,
    /// Seeded contacts enrolled in [`INSTANCE`] (at most `contacts`).
    pub enrolled: usize,
    pub faults: FaultConfig,
}

/// The fake account.
pub struct Axcelerate {
    contacts: Mutex<BTreeMap<u64, Value>>,
    instances: Mutex<BTreeMap<u64, Value>>,
    /// LEARNERID -> enrolment.
    enrolments: Mutex<BTreeMap<u64, Value>>,
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
pub fn start(config: AxcelerateConfig) -> FakeHandle<Axcelerate> {
    server::expect_started("axcelerate", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: AxcelerateConfig) -> io::Result<FakeHandle<Axcelerate>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Axcelerate {
        contacts: Mutex::new(BTreeMap::new()),
        instances: Mutex::new(BTreeMap::new()),
        enrolments: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(900_000),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    server::spawn(
        Spec {
            name: "axcelerate",
            port: 0,
            state,
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            let api = Router::new()
                .route("/contacts/search", get(search_contacts))
                .route("/contact/{id}", get(contact))
                .route("/contact/", post(create_contact))
                .route("/course/instance/search", get(search_instances))
                .route("/course/instance/detail", get(instance_detail))
                .route("/course/enrolments", get(list_enrolments))
                .route("/course/enrol", post(enrol))
                .layer(from_fn(tokens))
                .with_state(routes);
            Router::new().nest("/api", api)
        },
    )
}

fn contact_json(id: u64, given: &str, surname: &str, email: &str) -> Value {
    json!({
        "CONTACTID": id, "GIVENNAME": given, "SURNAME": surname, "EMAILADDRESS": email,
        "MOBILEPHONE": "", "USI": "", "DOB": "", "SOURCECODEID": 0, "CUSTOMFIELD_STUDENTID": "",
    })
}

fn instance_json(id: u64, n: u64) -> Value {
    json!({
        "INSTANCEID": id, "ID": 10_000 + n, "NAME": format!("First Aid workshop {n}"),
        "CODE": format!("HLTAID011-{n}"), "TYPE": "w", "STARTDATE": "2027-02-01 09:00",
        "FINISHDATE": "2027-02-01 17:00", "LOCATION": "Brisbane", "PARTICIPANTS": 0,
        "MAXPARTICIPANTS": 400, "COST": 0, "ENROLMENTOPEN": true,
    })
}

impl Axcelerate {
    fn seed(&self, config: &AxcelerateConfig) {
        let mut contacts = lock(&self.contacts);
        for n in 1..=config.contacts as u64 {
            let id = 100_000 + n;
            contacts.insert(
                id,
                contact_json(
                    id,
                    &format!("Student{n}"),
                    "Learner",
                    &format!("student{n}@example.edu.au"),
                ),
            );
        }
        drop(contacts);
        let mut instances = lock(&self.instances);
        for n in 1..=config.instances as u64 {
            let id = INSTANCE + n - 1;
            instances.insert(id, instance_json(id, n));
        }
        drop(instances);
        for n in 1..=config.enrolled.min(config.contacts) as u64 {
            self.add_enrolment(100_000 + n, INSTANCE);
        }
    }

    fn new_id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    fn add_enrolment(&self, contact: u64, instance: u64) -> Value {
        let id = self.new_id();
        let c = self.contact(contact).unwrap_or(Value::Null);
        let enrolment = json!({
            "LEARNERID": id, "CONTACTID": contact, "INSTANCEID": instance, "TYPE": "w",
            "GIVENNAME": c["GIVENNAME"], "SURNAME": c["SURNAME"], "EMAIL": c["EMAILADDRESS"],
            "STATUS": "Booked", "ENROLMENTDATE": "2026-11-20 10:00", "AMOUNTPAID": 0,
        });
        lock(&self.enrolments).insert(id, enrolment.clone());
        if let Some(i) = lock(&self.instances).get_mut(&instance) {
            i["PARTICIPANTS"] = json!(i["PARTICIPANTS"].as_u64().unwrap_or(0) + 1);
        }
        enrolment
    }

    /// A contact as `GET /contact/:id` answers it.
    pub fn contact(&self, id: u64) -> Option<Value> {
        lock(&self.contacts).get(&id).cloned()
    }

    /// The contact with this email.
    pub fn find_contact(&self, email: &str) -> Option<Value> {
        lock(&self.contacts)
            .values()
            .find(|c| c["EMAILADDRESS"] == email)
            .cloned()
    }

    pub fn contact_count(&self) -> usize {
        lock(&self.contacts).len()
    }

    /// Renames a contact as a staff member would.
    pub fn rename_contact(&self, id: u64, given: &str) -> Option<Value> {
        let mut contacts = lock(&self.contacts);
        let c = contacts.get_mut(&id)?;
        c["GIVENNAME"] = json!(given);
        Some(c.clone())
    }

    /// An instance as `GET /course/instance/detail` answers it.
    pub fn instance(&self, id: u64) -> Option<Value> {
        lock(&self.instances).get(&id).cloned()
    }

    pub fn instance_count(&self) -> usize {
        lock(&self.instances).len()
    }

    /// Renames a course instance.
    pub fn rename_instance(&self, id: u64, name: &str) -> Option<Value> {
        let mut instances = lock(&self.instances);
        let i = instances.get_mut(&id)?;
        i["NAME"] = json!(name);
        Some(i.clone())
    }

    /// An enrolment by LEARNERID.
    pub fn enrolment(&self, id: u64) -> Option<Value> {
        lock(&self.enrolments).get(&id).cloned()
    }

    /// The enrolment of a contact in an instance.
    pub fn enrolment_of(&self, contact: u64, instance: u64) -> Option<Value> {
        lock(&self.enrolments)
            .values()
            .find(|e| e["CONTACTID"] == contact && e["INSTANCEID"] == instance)
            .cloned()
    }

    /// Enrolments in an instance.
    pub fn enrolment_count(&self, instance: u64) -> usize {
        lock(&self.enrolments)
            .values()
            .filter(|e| e["INSTANCEID"] == instance)
            .count()
    }

    /// Enrols a contact as a staff member would in aXcelerate's interface.
    pub fn enrol_as_staff(&self, contact: u64, instance: u64) -> Value {
        self.add_enrolment(contact, instance)
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "axcelerate",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"ERROR": true, "CODE": status.as_u16().to_string(), "MESSAGES": message, "DETAILS": ""})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    error(status, "An error occurred.")
}

/// Both tokens, in front of every route.
async fn tokens(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let has = |name: &str, value: &str| headers.get(name).and_then(|v| v.to_str().ok()) == Some(value);
    let ok = has("apitoken", API_TOKEN) && has("wstoken", WS_TOKEN);
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "Invalid or missing API token or web service token.",
        );
    }
    next.run(req).await
}

type Params = Vec<(String, String)>;

fn params(text: &[u8]) -> Params {
    form_urlencoded::parse(text)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Records a violation per parameter the resource does not list, or that is not a number
/// where one is expected.
fn check(state: &Axcelerate, method: &str, uri: &Uri, params: &Params, allowed: &[&str], numeric: &[&str]) {
    for (name, value) in params {
        if !allowed.contains(&name.as_str()) {
            state.violation(
                method,
                uri.path(),
                &format!("/{name}"),
                format!("`{name}` is not a parameter of this resource"),
            );
        } else if numeric.contains(&name.as_str()) && value.parse::<u64>().is_err() {
            state.violation(
                method,
                uri.path(),
                &format!("/{name}"),
                format!("`{name}` must be a number, got `{value}`"),
            );
        }
    }
}

fn page(params: &Params, size_param: &str, items: Vec<Value>) -> Response {
    let offset = param(params, "offset").and_then(|v| v.parse().ok()).unwrap_or(0usize);
    let size = param(params, size_param)
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize)
        .clamp(1, 100);
    Json(items.into_iter().skip(offset).take(size).collect::<Vec<_>>()).into_response()
}

fn instance_type_ok(state: &Axcelerate, method: &str, uri: &Uri, params: &Params) -> bool {
    match param(params, "type") {
        Some("w" | "p" | "el") => true,
        other => {
            state.violation(
                method,
                uri.path(),
                "/type",
                format!("type must be w, p or el, got {other:?}"),
            );
            false
        }
    }
}

async fn search_contacts(State(state): State<Arc<Axcelerate>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let p = params(q.unwrap_or_default().as_bytes());
    check(
        &state,
        "GET",
        &uri,
        &p,
        &["offset", "displayLength", "sortColumn", "sortDirection", "search"],
        &["offset", "displayLength", "sortColumn"],
    );
    let needle = param(&p, "search").map(str::to_lowercase);
    let items: Vec<Value> = lock(&state.contacts)
        .values()
        .filter(|c| match &needle {
            Some(n) => c.to_string().to_lowercase().contains(n),
            None => true,
        })
        .cloned()
        .collect();
    page(&p, "displayLength", items)
}

async fn contact(State(state): State<Arc<Axcelerate>>, Path(id): Path<String>) -> Response {
    match id.parse().ok().and_then(|id| state.contact(id)) {
        Some(c) => Json(c).into_response(),
        None => error(StatusCode::NOT_FOUND, "Contact not found."),
    }
}

fn form_body(state: &Axcelerate, uri: &Uri, headers: &axum::http::HeaderMap, body: &[u8]) -> Params {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        state.violation("POST", uri.path(), "/", "POST data must be form fields".into());
    }
    params(body)
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(a), Some(b)) if !a.is_empty() && b.contains('.') && !b.starts_with('.'))
}

async fn create_contact(
    State(state): State<Arc<Axcelerate>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let p = form_body(&state, &uri, &headers, &body);
    check(
        &state,
        "POST",
        &uri,
        &p,
        &["givenName", "surname", "emailAddress", "mobilephone", "USI", "dob"],
        &[],
    );
    let given = param(&p, "givenName").unwrap_or_default();
    let surname = param(&p, "surname").unwrap_or_default();
    if given.trim().is_empty() || surname.trim().is_empty() {
        return error(StatusCode::PRECONDITION_FAILED, "givenName and surname are required.");
    }
    let email = param(&p, "emailAddress").unwrap_or_default();
    if !email.is_empty() && !valid_email(email) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            &format!("emailAddress is not a valid email address: {email}"),
        );
    }
    let id = state.new_id();
    let mut c = contact_json(id, given, surname, email);
    for (field, key) in [("mobilephone", "MOBILEPHONE"), ("USI", "USI"), ("dob", "DOB")] {
        if let Some(v) = param(&p, field) {
            c[key] = json!(v);
        }
    }
    lock(&state.contacts).insert(id, c.clone());
    Json(c).into_response()
}

async fn search_instances(State(state): State<Arc<Axcelerate>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let p = params(q.unwrap_or_default().as_bytes());
    check(
        &state,
        "GET",
        &uri,
        &p,
        &["type", "offset", "displayLength"],
        &["offset", "displayLength"],
    );
    if !instance_type_ok(&state, "GET", &uri, &p) {
        return error(StatusCode::PRECONDITION_FAILED, "type is required.");
    }
    let items: Vec<Value> = lock(&state.instances).values().cloned().collect();
    page(&p, "displayLength", items)
}

async fn instance_detail(State(state): State<Arc<Axcelerate>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let p = params(q.unwrap_or_default().as_bytes());
    check(&state, "GET", &uri, &p, &["instanceID", "type"], &["instanceID"]);
    if !instance_type_ok(&state, "GET", &uri, &p) {
        return error(StatusCode::PRECONDITION_FAILED, "type is required.");
    }
    match param(&p, "instanceID")
        .and_then(|v| v.parse().ok())
        .and_then(|id| state.instance(id))
    {
        Some(i) => Json(i).into_response(),
        None => error(StatusCode::NOT_FOUND, "Instance not found."),
    }
}

async fn list_enrolments(State(state): State<Arc<Axcelerate>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let p = params(q.unwrap_or_default().as_bytes());
    check(
        &state,
        "GET",
        &uri,
        &p,
        &["instanceID", "contactID", "type", "offset", "limit"],
        &["instanceID", "contactID", "offset", "limit"],
    );
    let instance: Option<u64> = param(&p, "instanceID").and_then(|v| v.parse().ok());
    let contact: Option<u64> = param(&p, "contactID").and_then(|v| v.parse().ok());
    if instance.is_none() && contact.is_none() {
        state.violation(
            "GET",
            uri.path(),
            "/instanceID",
            "instanceID or contactID is required".into(),
        );
        return error(StatusCode::PRECONDITION_FAILED, "instanceID or contactID is required.");
    }
    let items: Vec<Value> = lock(&state.enrolments)
        .values()
        .filter(|e| instance.is_none_or(|i| e["INSTANCEID"] == i) && contact.is_none_or(|c| e["CONTACTID"] == c))
        .cloned()
        .collect();
    page(&p, "limit", items)
}

async fn enrol(
    State(state): State<Arc<Axcelerate>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let p = form_body(&state, &uri, &headers, &body);
    check(
        &state,
        "POST",
        &uri,
        &p,
        &["contactID", "instanceID", "type", "generateInvoice"],
        &["contactID", "instanceID"],
    );
    if !instance_type_ok(&state, "POST", &uri, &p) {
        return error(StatusCode::PRECONDITION_FAILED, "type is required.");
    }
    let contact: Option<u64> = param(&p, "contactID").and_then(|v| v.parse().ok());
    let instance: Option<u64> = param(&p, "instanceID").and_then(|v| v.parse().ok());
    let (Some(contact), Some(instance)) = (contact, instance) else {
        return error(
            StatusCode::PRECONDITION_FAILED,
            "contactID and instanceID are required.",
        );
    };
    if state.contact(contact).is_none() {
        return error(
            StatusCode::PRECONDITION_FAILED,
            &format!("Invalid contactID: {contact}"),
        );
    }
    if state.instance(instance).is_none() {
        return error(
            StatusCode::PRECONDITION_FAILED,
            &format!("Invalid instanceID: {instance}"),
        );
    }
    if state.enrolment_of(contact, instance).is_some() {
        return error(
            StatusCode::PRECONDITION_FAILED,
            "This contact is already enrolled in this instance.",
        );
    }
    let e = state.add_enrolment(contact, instance);
    let invoice = state.new_id();
    Json(json!({"INVOICEID": invoice, "CONTACTID": contact, "LEARNERID": e["LEARNERID"], "AMOUNT": 0})).into_response()
}
