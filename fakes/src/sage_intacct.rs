//! Fake Sage Intacct XML gateway: customers through the XML Web Services API. Sage publishes no
//! machine-readable description of this API, so this fake follows the documentation at
//! developer.intacct.com ("XML requests", "XML responses", "API sessions", "Queries",
//! "Customers", and the FAQ's authentication failure example), and assumes:
//!
//! * one endpoint, `POST /ia/xml/xmlgw.phtml`, whose body is a `<request>` document:
//!   `<control>` with `senderid`, `password`, `controlid`, `uniqueid`, `dtdversion` 3.0; an
//!   `<operation>` with `<authentication>` holding either `<login>` (`userid`, `companyid`,
//!   `password`) or `<sessionid>`, and `<content>` with one or more `<function controlid="...">`;
//! * the answer is always HTTP 200 `text/xml`: `<response><control><status>` (failure with an
//!   `<errormessage>` when the sender credentials are wrong: XL03000006), then
//!   `<operation><authentication><status>` (failure for a bad login or an unknown or expired
//!   session), then one `<result>` per function with `status`, `function`, `controlid` and
//!   either `<data>` or `<errormessage><error><errorno>/<description>/<description2>/<correction>`;
//! * `getAPISession` answers `<data><api><sessionid>`, `<endpoint>` (this fake's gateway URL)
//!   and `<locationid/>`; it must be the request's only function;
//! * `readByQuery` on `CUSTOMER` with `<fields>` (a comma-separated list of the fields below),
//!   `<query>` (empty, or `WHENMODIFIED >= 'MM/DD/YYYY HH:MM:SS'`) and `<pagesize>` (1-1000)
//!   answers `<data listtype="customer" count totalcount numremaining resultId>` with one
//!   `<customer>` per record in RECORDNO order, each holding the asked fields as elements named
//!   exactly as the field (`<DISPLAYCONTACT.EMAIL1>`: the flattened name is an assumption);
//!   `readMore` with `<resultId>` answers the next page of that result set the same way, with
//!   the same `resultId`; the last page has `numremaining="0"`, after which the set is gone;
//! * `read` with `<object>CUSTOMER</object>`, `<keys>` (one record number) and `<fields>` answers
//!   the customer, or `<data listtype="customer" count="0"/>` when there is none;
//! * `create` with one `<CUSTOMER>` (`CUSTOMERID` optional: numbered when absent; `NAME`
//!   required; `DISPLAYCONTACT` with `PRINTAS` and `EMAIL1`) answers
//!   `<data listtype="objects" count="1"><customer><RECORDNO>,<CUSTOMERID>`; a missing NAME, a
//!   duplicate CUSTOMERID or an EMAIL1 without `@` fails that function only
//!   (`operation transaction="false"`, the default);
//! * `update` with one `<CUSTOMER>` naming the customer by `CUSTOMERID` (or `RECORDNO`) changes
//!   the fields it carries (the same fields as create; an empty `NAME` and an EMAIL1 without `@`
//!   are refused) and answers the same `<data>` as create; an unknown customer fails that
//!   function (`BL01001973`, "...does not exist": the error number and wording are assumptions);
//! * WHENMODIFIED is written `MM/DD/YYYY HH:MM:SS` in GMT (the Web Services user's zone).
//!
//! Every departure from this contract (a request the documentation does not describe, a
//! missing control element, an unknown function or field) is recorded as a violation.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation};
use crate::timestamp::now_ms;

/// The gateway's path.
pub const GATEWAY: &str = "/ia/xml/xmlgw.phtml";
/// Credentials and company the default configuration accepts.
pub const SENDER_ID: &str = "fake-sender";
pub const SENDER_PASSWORD: &str = "fake-sender-password<&>";
pub const USER_ID: &str = "fake-ws-user";
pub const USER_PASSWORD: &str = "fake-user-password";
pub const COMPANY_ID: &str = "fake-company";

/// Customer fields a query may ask for.
const FIELDS: &[&str] = &[
    "RECORDNO",
    "CUSTOMERID",
    "NAME",
    "STATUS",
    "DISPLAYCONTACT.EMAIL1",
    "DISPLAYCONTACT.PRINTAS",
    "WHENMODIFIED",
];

#[derive(Debug, Clone)]
pub struct SageIntacctConfig {
    pub port: u16,
    pub records: usize,
    pub faults: FaultConfig,
}

impl Default for SageIntacctConfig {
    fn default() -> Self {
        Self {
            port: 0,
            records: 250,
            faults: FaultConfig::default(),
        }
    }
}

/// A readByQuery result set: the record numbers, how many were sent, the fields asked.
struct ResultSet {
    ids: Vec<u64>,
    sent: usize,
    page_size: usize,
    fields: Vec<String>,
}

pub struct SageIntacct {
    /// Customers by record number: field -> value (WHENMODIFIED as unix millis text).
    customers: Mutex<Vec<HashMap<String, String>>>,
    next_id: Mutex<u64>,
    sessions: Mutex<HashSet<String>>,
    results: Mutex<HashMap<String, ResultSet>>,
    logins: AtomicUsize,
    /// Numbers session ids and result sets.
    serial: AtomicUsize,
    base_url: Mutex<String>,
    violations: Arc<crate::spec::ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Unix millis as `MM/DD/YYYY HH:MM:SS` (GMT).
fn us_datetime(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
        u8::from(t.month()),
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn parse_us_datetime(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(text, format).ok()?;
    Some(t.assume_utc().unix_timestamp() * 1000)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn start(config: SageIntacctConfig) -> FakeHandle<SageIntacct> {
    server::expect_started("sage-intacct", try_start(config))
}

pub fn try_start(config: SageIntacctConfig) -> io::Result<FakeHandle<SageIntacct>> {
    let violations = Arc::new(crate::spec::ViolationLog::default());
    let state = Arc::new(SageIntacct {
        customers: Mutex::new(Vec::new()),
        next_id: Mutex::new(1),
        sessions: Mutex::new(HashSet::new()),
        results: Mutex::new(HashMap::new()),
        logins: AtomicUsize::new(0),
        serial: AtomicUsize::new(1),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    let now = now_ms();
    for n in 1..=config.records {
        // Whole seconds apart, as WHENMODIFIED has no fraction.
        let at = (now / 1000 - 86_400 * 30 + n as i64 * 60) * 1000;
        let mut c = HashMap::new();
        c.insert("CUSTOMERID".into(), format!("C-{n:05}"));
        c.insert("NAME".into(), format!("Customer {n}"));
        c.insert("DISPLAYCONTACT.PRINTAS".into(), format!("Customer {n}"));
        c.insert("DISPLAYCONTACT.EMAIL1".into(), format!("customer{n}@example.com"));
        state.store(c, at);
    }
    let spec = Spec {
        name: "sage-intacct",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations,
        respond: fault,
    };
    server::spawn(spec, move |base_url| {
        *lock(&state.base_url) = base_url.to_owned();
        Router::new().route(GATEWAY, post(gateway)).with_state(state)
    })
}

fn fault(status: StatusCode) -> Response {
    (status, [("content-type", "text/html")], "Service unavailable").into_response()
}

fn xml(body: String) -> Response {
    (
        StatusCode::OK,
        [("content-type", "text/xml; charset=UTF-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

fn error_xml(errorno: &str, description: &str, description2: &str) -> String {
    format!(
        "<errormessage><error><errorno>{errorno}</errorno><description>{}</description>\
         <description2>{}</description2><correction></correction></error></errormessage>",
        escape(description),
        escape(description2)
    )
}

/// One function's outcome.
enum Outcome {
    Data(String),
    Failed(String),
}

impl SageIntacct {
    fn store(&self, mut fields: HashMap<String, String>, at: i64) -> HashMap<String, String> {
        let id = {
            let mut next = lock(&self.next_id);
            let id = *next;
            *next += 1;
            id
        };
        fields.insert("RECORDNO".into(), id.to_string());
        fields.entry("STATUS".into()).or_insert_with(|| "active".into());
        fields.insert("WHENMODIFIED".into(), at.to_string());
        lock(&self.customers).push(fields.clone());
        fields
    }

    /// Customers held.
    pub fn count(&self) -> usize {
        lock(&self.customers).len()
    }

    /// Logins served (getAPISession calls that succeeded).
    pub fn logins(&self) -> usize {
        self.logins.load(Ordering::SeqCst)
    }

    /// Forgets every session, as a session timeout does.
    pub fn expire_sessions(&self) {
        lock(&self.sessions).clear();
    }

    /// A customer as the connector reads it (every field, WHENMODIFIED formatted).
    pub fn customer(&self, recordno: &str) -> Option<serde_json::Value> {
        lock(&self.customers)
            .iter()
            .find(|c| c["RECORDNO"] == recordno)
            .map(|c| view(c, FIELDS))
    }

    pub fn find_by_email(&self, email: &str) -> Option<serde_json::Value> {
        lock(&self.customers)
            .iter()
            .find(|c| c.get("DISPLAYCONTACT.EMAIL1").map(String::as_str) == Some(email))
            .map(|c| view(c, FIELDS))
    }

    /// Changes fields of a customer and stamps WHENMODIFIED now (a later whole second).
    pub fn touch(&self, recordno: &str, changes: &[(&str, &str)]) -> Option<serde_json::Value> {
        let mut customers = lock(&self.customers);
        let c = customers.iter_mut().find(|c| c["RECORDNO"] == recordno)?;
        for (k, v) in changes {
            c.insert((*k).to_owned(), (*v).to_owned());
        }
        c.insert("WHENMODIFIED".into(), (now_ms() / 1000 * 1000 + 1000).to_string());
        Some(view(c, FIELDS))
    }

    /// Adds a customer now.
    pub fn insert(&self, name: &str, email: &str) -> serde_json::Value {
        let mut c = HashMap::new();
        let n = *lock(&self.next_id);
        c.insert("CUSTOMERID".into(), format!("C-{n:05}"));
        c.insert("NAME".into(), name.to_owned());
        c.insert("DISPLAYCONTACT.EMAIL1".into(), email.to_owned());
        let stored = self.store(c, now_ms() / 1000 * 1000 + 1000);
        view(&stored, FIELDS)
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn violation(&self, pointer: &str, message: String) {
        self.violations.record(
            "sage-intacct",
            vec![Violation::new(
                "-",
                Direction::Request,
                "POST",
                GATEWAY,
                pointer,
                message,
            )],
        );
    }
}

fn view(c: &HashMap<String, String>, fields: &[impl AsRef<str>]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for f in fields {
        let f = f.as_ref();
        let value = match (f, c.get(f)) {
            ("WHENMODIFIED", Some(ms)) => us_datetime(ms.parse().unwrap_or(0)),
            (_, Some(v)) => v.clone(),
            (_, None) => String::new(),
        };
        out.insert(f.to_owned(), serde_json::Value::String(value));
    }
    serde_json::Value::Object(out)
}

fn customer_xml(c: &HashMap<String, String>, fields: &[String]) -> String {
    let mut out = String::from("<customer>");
    if let serde_json::Value::Object(map) = view(c, fields) {
        for f in fields {
            let v = map.get(f).and_then(|v| v.as_str()).unwrap_or_default();
            out.push_str(&format!("<{f}>{}</{f}>", escape(v)));
        }
    }
    out.push_str("</customer>");
    out
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).map(|c| c.text().unwrap_or_default())
}

async fn gateway(State(state): State<Arc<SageIntacct>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.contains("xml") {
        state.violation(
            "/headers/content-type",
            format!("the gateway takes an XML document, not `{content_type}`"),
        );
    }
    let Ok(document) = std::str::from_utf8(&body) else {
        state.violation("/body", "the request is not UTF-8".into());
        return xml(control_failure(
            "XL03000003",
            "XML parse error",
            "The request is not UTF-8.",
        ));
    };
    let doc = match roxmltree::Document::parse(document) {
        Ok(doc) => doc,
        Err(e) => {
            state.violation("/body", format!("the request does not parse as XML: {e}"));
            return xml(control_failure(
                "XL03000003",
                "XML parse error",
                "The request does not parse.",
            ));
        }
    };
    let request = doc.root_element();
    if request.tag_name().name() != "request" {
        state.violation("/body", "the document's root is not <request>".into());
    }
    let Some(control) = child(request, "control") else {
        state.violation("/body/request/control", "a request has a <control> element".into());
        return xml(control_failure(
            "XL03000003",
            "No control element",
            "The request has no <control>.",
        ));
    };
    for required in ["senderid", "password", "controlid", "uniqueid", "dtdversion"] {
        if text(control, required).is_none() {
            state.violation(
                &format!("/body/request/control/{required}"),
                format!("<control> needs <{required}>"),
            );
        }
    }
    if text(control, "dtdversion").is_some_and(|v| v != "3.0") {
        state.violation(
            "/body/request/control/dtdversion",
            "the object functions need dtdversion 3.0".into(),
        );
    }
    let control_id = text(control, "controlid").unwrap_or_default().to_owned();
    let control_ok = format!(
        "<control><status>success</status><senderid>{}</senderid><controlid>{}</controlid>\
         <uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>",
        escape(SENDER_ID),
        escape(&control_id)
    );
    if text(control, "senderid") != Some(SENDER_ID) || text(control, "password") != Some(SENDER_PASSWORD) {
        return xml(format!(
            "<response><control><status>failure</status><senderid>{}</senderid><controlid>{}</controlid>\
             <uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>{}</response>",
            escape(text(control, "senderid").unwrap_or_default()),
            escape(&control_id),
            error_xml(
                "XL03000006",
                "Invalid Web Services Authorization",
                "The sender ID is not authorized to make Web Services requests."
            )
        ));
    }
    let Some(operation) = child(request, "operation") else {
        state.violation("/body/request/operation", "a request has an <operation>".into());
        return xml(control_failure(
            "XL03000003",
            "No operation",
            "The request has no <operation>.",
        ));
    };
    let functions: Vec<_> = child(operation, "content")
        .map(|c| c.children().filter(|n| n.is_element()).collect())
        .unwrap_or_default();
    let Some(auth) = child(operation, "authentication") else {
        state.violation(
            "/body/request/operation/authentication",
            "an operation has <authentication>".into(),
        );
        return xml(auth_failure(&control_ok, "", "No authentication"));
    };
    let authenticated = if let Some(login) = child(auth, "login") {
        let ok = text(login, "userid") == Some(USER_ID)
            && text(login, "companyid") == Some(COMPANY_ID)
            && text(login, "password") == Some(USER_PASSWORD);
        if !ok {
            return xml(auth_failure(
                &control_ok,
                text(login, "userid").unwrap_or_default(),
                "Sign-in information is incorrect",
            ));
        }
        true
    } else if let Some(session) = text(auth, "sessionid") {
        if !lock(&state.sessions).contains(session) {
            return xml(auth_failure(&control_ok, "", "Invalid session"));
        }
        true
    } else {
        state.violation(
            "/body/request/operation/authentication",
            "<authentication> holds <login> or <sessionid>".into(),
        );
        false
    };
    if !authenticated {
        return xml(auth_failure(&control_ok, "", "No credentials"));
    }
    let base_url = lock(&state.base_url).clone();
    let mut results = String::new();
    for function in &functions {
        if function.tag_name().name() != "function" {
            state.violation(
                "/body/request/operation/content",
                format!(
                    "<content> holds <function> elements, not <{}>",
                    function.tag_name().name()
                ),
            );
            continue;
        }
        let controlid = function.attribute("controlid").unwrap_or_default();
        if controlid.is_empty() {
            state.violation(
                "/body/request/operation/content/function",
                "each <function> has a controlid attribute".into(),
            );
        }
        let Some(call) = function.children().find(|c| c.is_element()) else {
            state.violation(
                "/body/request/operation/content/function",
                "a <function> holds one call".into(),
            );
            continue;
        };
        let name = call.tag_name().name();
        let outcome = match name {
            "getAPISession" => {
                if functions.len() != 1 {
                    state.violation(
                        "/body/request/operation/content",
                        "getAPISession is isolated in its own request".into(),
                    );
                }
                let id = format!(
                    "session-{}-{:08x}",
                    state.serial.fetch_add(1, Ordering::SeqCst),
                    now_ms() % 0xffff_ffff
                );
                lock(&state.sessions).insert(id.clone());
                state.logins.fetch_add(1, Ordering::SeqCst);
                Outcome::Data(format!(
                    "<data><api><sessionid>{id}</sessionid><endpoint>{}</endpoint><locationid></locationid></api></data>",
                    escape(&format!("{base_url}{GATEWAY}"))
                ))
            }
            "readByQuery" => read_by_query(&state, call),
            "readMore" => read_more(&state, call),
            "read" => read(&state, call),
            "create" => create(&state, call),
            "update" => update(&state, call),
            other => {
                state.violation(
                    "/body/request/operation/content/function",
                    format!(
                        "this fake serves getAPISession, readByQuery, readMore, read, create and update, not {other}"
                    ),
                );
                Outcome::Failed(error_xml(
                    "BL01001973",
                    "Unknown function",
                    &format!("{other} is not supported."),
                ))
            }
        };
        let (status, inner) = match outcome {
            Outcome::Data(d) => ("success", d),
            Outcome::Failed(e) => ("failure", e),
        };
        results.push_str(&format!(
            "<result><status>{status}</status><function>{name}</function><controlid>{}</controlid>{inner}</result>",
            escape(controlid)
        ));
    }
    xml(format!(
        "<response>{control_ok}<operation><authentication><status>success</status><userid>{USER_ID}</userid>\
         <companyid>{COMPANY_ID}</companyid><locationid></locationid><sessiontimestamp></sessiontimestamp>\
         </authentication>{results}</operation></response>"
    ))
}

fn control_failure(errorno: &str, description: &str, description2: &str) -> String {
    format!(
        "<response><control><status>failure</status></control>{}</response>",
        error_xml(errorno, description, description2)
    )
}

fn auth_failure(control_ok: &str, userid: &str, description2: &str) -> String {
    format!(
        "<response>{control_ok}<operation><authentication><status>failure</status><userid>{}</userid>\
         <companyid></companyid></authentication>{}</operation></response>",
        escape(userid),
        error_xml("XL03000006", "Sign-in information is incorrect", description2)
    )
}

fn fields_of(state: &SageIntacct, call: roxmltree::Node<'_, '_>) -> Result<Vec<String>, Outcome> {
    let list = text(call, "fields").unwrap_or("*");
    if list.trim() == "*" {
        return Ok(FIELDS.iter().map(|f| (*f).to_owned()).collect());
    }
    let mut out = Vec::new();
    for f in list.split(',') {
        let f = f.trim().to_ascii_uppercase();
        if !FIELDS.contains(&f.as_str()) {
            state.violation(
                "/body/request/operation/content/function/fields",
                format!("unknown CUSTOMER field {f}"),
            );
            return Err(Outcome::Failed(error_xml(
                "DL02000001",
                "Invalid field",
                &format!("Field {f} is not a CUSTOMER field."),
            )));
        }
        out.push(f);
    }
    Ok(out)
}

fn check_object(state: &SageIntacct, call: roxmltree::Node<'_, '_>) -> Option<Outcome> {
    if text(call, "object") != Some("CUSTOMER") {
        state.violation(
            "/body/request/operation/content/function/object",
            "this fake serves the CUSTOMER object".into(),
        );
        return Some(Outcome::Failed(error_xml(
            "DL02000001",
            "Invalid object",
            "Unknown object.",
        )));
    }
    None
}

fn page(state: &SageIntacct, result_id: &str) -> Outcome {
    let mut results = lock(&state.results);
    let Some(set) = results.get_mut(result_id) else {
        return Outcome::Failed(error_xml(
            "DL02000001",
            "Invalid resultId",
            "The result set is unknown or done.",
        ));
    };
    let customers = lock(&state.customers);
    let from = set.sent;
    let to = (from + set.page_size).min(set.ids.len());
    let mut body = String::new();
    for id in &set.ids[from..to] {
        if let Some(c) = customers.iter().find(|c| c["RECORDNO"] == id.to_string()) {
            body.push_str(&customer_xml(c, &set.fields));
        }
    }
    set.sent = to;
    let remaining = set.ids.len() - to;
    let total = set.ids.len();
    if remaining == 0 {
        results.remove(result_id);
    }
    Outcome::Data(format!(
        "<data listtype=\"customer\" count=\"{}\" totalcount=\"{total}\" numremaining=\"{remaining}\" resultId=\"{}\">{body}</data>",
        to - from,
        escape(result_id)
    ))
}

fn read_by_query(state: &SageIntacct, call: roxmltree::Node<'_, '_>) -> Outcome {
    if let Some(refused) = check_object(state, call) {
        return refused;
    }
    let fields = match fields_of(state, call) {
        Ok(f) => f,
        Err(refused) => return refused,
    };
    let page_size: usize = text(call, "pagesize")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(100);
    if !(1..=1000).contains(&page_size) {
        state.violation(
            "/body/request/operation/content/function/pagesize",
            format!("pagesize {page_size} is not 1-1000"),
        );
    }
    let query = text(call, "query").unwrap_or_default().trim();
    let since = if query.is_empty() {
        None
    } else {
        let parsed = query
            .strip_prefix("WHENMODIFIED >= '")
            .and_then(|rest| rest.strip_suffix('\''))
            .and_then(parse_us_datetime);
        match parsed {
            Some(ms) => Some(ms),
            None => {
                state.violation(
                    "/body/request/operation/content/function/query",
                    format!(
                        "this fake understands an empty query or WHENMODIFIED >= 'MM/DD/YYYY HH:MM:SS', not `{query}`"
                    ),
                );
                return Outcome::Failed(error_xml("DL02000001", "Invalid query", "The query does not parse."));
            }
        }
    };
    let ids: Vec<u64> = lock(&state.customers)
        .iter()
        .filter(|c| since.is_none_or(|s| c["WHENMODIFIED"].parse::<i64>().unwrap_or(0) >= s))
        .filter_map(|c| c["RECORDNO"].parse().ok())
        .collect();
    let result_id = format!("result-{}", state.serial.fetch_add(1, Ordering::SeqCst));
    lock(&state.results).insert(
        result_id.clone(),
        ResultSet {
            ids,
            sent: 0,
            page_size: page_size.clamp(1, 1000),
            fields,
        },
    );
    page(state, &result_id)
}

fn read_more(state: &SageIntacct, call: roxmltree::Node<'_, '_>) -> Outcome {
    match text(call, "resultId") {
        Some(id) if !id.trim().is_empty() => page(state, id.trim()),
        _ => {
            state.violation(
                "/body/request/operation/content/function/readMore",
                "readMore names the readByQuery's <resultId>".into(),
            );
            Outcome::Failed(error_xml("DL02000001", "Invalid resultId", "No resultId."))
        }
    }
}

fn read(state: &SageIntacct, call: roxmltree::Node<'_, '_>) -> Outcome {
    if let Some(refused) = check_object(state, call) {
        return refused;
    }
    let fields = match fields_of(state, call) {
        Ok(f) => f,
        Err(refused) => return refused,
    };
    let key = text(call, "keys").unwrap_or_default().trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        state.violation(
            "/body/request/operation/content/function/keys",
            format!("this fake reads one record number, not `{key}`"),
        );
    }
    let customers = lock(&state.customers);
    match customers.iter().find(|c| c["RECORDNO"] == key) {
        Some(c) => Outcome::Data(format!(
            "<data listtype=\"customer\" count=\"1\">{}</data>",
            customer_xml(c, &fields)
        )),
        None => Outcome::Data("<data listtype=\"customer\" count=\"0\"></data>".into()),
    }
}

/// The fields of a `<CUSTOMER>` in a `function` (`create` or `update`), flattened as stored;
/// unknown ones are violations. `RECORDNO` is read only for `update`.
fn customer_fields(state: &SageIntacct, function: &str, customer: roxmltree::Node<'_, '_>) -> HashMap<String, String> {
    let at = format!("/body/request/operation/content/function/{function}/CUSTOMER");
    let mut fields = HashMap::new();
    for node in customer.children().filter(|c| c.is_element()) {
        let name = node.tag_name().name();
        match name {
            "CUSTOMERID" | "NAME" | "STATUS" => {
                fields.insert(name.to_owned(), node.text().unwrap_or_default().to_owned());
            }
            "RECORDNO" if function == "update" => {
                fields.insert(name.to_owned(), node.text().unwrap_or_default().to_owned());
            }
            "DISPLAYCONTACT" => {
                for sub in node.children().filter(|c| c.is_element()) {
                    let sub_name = sub.tag_name().name();
                    if matches!(sub_name, "PRINTAS" | "EMAIL1") {
                        fields.insert(
                            format!("DISPLAYCONTACT.{sub_name}"),
                            sub.text().unwrap_or_default().to_owned(),
                        );
                    } else {
                        state.violation(
                            &format!("{at}/DISPLAYCONTACT"),
                            format!("this fake knows PRINTAS and EMAIL1, not {sub_name}"),
                        );
                    }
                }
            }
            other => state.violation(
                &at,
                format!("this fake knows CUSTOMERID, NAME, STATUS and DISPLAYCONTACT, not {other}"),
            ),
        }
    }
    fields
}

/// Why a customer's fields are refused, if they are (`NAME` required only on create).
fn refusal(fields: &HashMap<String, String>, creating: bool) -> Option<Outcome> {
    let name = fields.get("NAME");
    if (creating && name.is_none()) || name.is_some_and(|n| n.trim().is_empty()) {
        return Some(Outcome::Failed(error_xml(
            "BL34000061",
            "Required field missing",
            "Customer name is required.",
        )));
    }
    if fields.get("DISPLAYCONTACT.EMAIL1").is_some_and(|e| !e.contains('@')) {
        return Some(Outcome::Failed(error_xml(
            "BL34000061",
            "Invalid email",
            "The email address for the contact is not valid.",
        )));
    }
    None
}

fn update(state: &SageIntacct, call: roxmltree::Node<'_, '_>) -> Outcome {
    let Some(customer) = child(call, "CUSTOMER") else {
        state.violation(
            "/body/request/operation/content/function/update",
            "this fake updates CUSTOMER objects".into(),
        );
        return Outcome::Failed(error_xml("BL01001973", "Invalid object", "Unknown object."));
    };
    let mut fields = customer_fields(state, "update", customer);
    if let Some(refused) = refusal(&fields, false) {
        return refused;
    }
    let key = fields.remove("RECORDNO").map(|n| ("RECORDNO", n));
    let key = key.or_else(|| fields.get("CUSTOMERID").map(|id| ("CUSTOMERID", id.clone())));
    let Some((key_field, key)) = key else {
        return Outcome::Failed(error_xml(
            "BL01001973",
            "Required field missing",
            "An update names the customer by CUSTOMERID or RECORDNO.",
        ));
    };
    let mut customers = lock(&state.customers);
    let Some(held) = customers.iter_mut().find(|c| c.get(key_field) == Some(&key)) else {
        return Outcome::Failed(error_xml(
            "BL01001973",
            "Object not found",
            &format!("Customer {key} does not exist."),
        ));
    };
    for (k, v) in fields {
        held.insert(k, v);
    }
    // A later whole second than any stamp so far, as WHENMODIFIED has no fraction.
    let last: i64 = held["WHENMODIFIED"].parse().unwrap_or_default();
    let at = (now_ms() / 1000 * 1000).max(last + 1000);
    held.insert("WHENMODIFIED".into(), at.to_string());
    Outcome::Data(format!(
        "<data listtype=\"objects\" count=\"1\"><customer><RECORDNO>{}</RECORDNO><CUSTOMERID>{}</CUSTOMERID></customer></data>",
        held["RECORDNO"],
        escape(&held["CUSTOMERID"])
    ))
}

fn create(state: &SageIntacct, call: roxmltree::Node<'_, '_>) -> Outcome {
    let Some(customer) = child(call, "CUSTOMER") else {
        state.violation(
            "/body/request/operation/content/function/create",
            "this fake creates CUSTOMER objects".into(),
        );
        return Outcome::Failed(error_xml("BL01001973", "Invalid object", "Unknown object."));
    };
    let mut fields = customer_fields(state, "create", customer);
    if let Some(refused) = refusal(&fields, true) {
        return refused;
    }
    match fields.get("CUSTOMERID") {
        Some(id) if lock(&state.customers).iter().any(|c| c.get("CUSTOMERID") == Some(id)) => {
            return Outcome::Failed(error_xml(
                "BL34000061",
                "Duplicate customer ID",
                &format!("Another customer with the given value(s) {id} already exists."),
            ));
        }
        Some(_) => {}
        None => {
            let n = *lock(&state.next_id);
            fields.insert("CUSTOMERID".into(), format!("C-{n:05}"));
        }
    }
    let stored = state.store(fields, now_ms() / 1000 * 1000);
    Outcome::Data(format!(
        "<data listtype=\"objects\" count=\"1\"><customer><RECORDNO>{}</RECORDNO><CUSTOMERID>{}</CUSTOMERID></customer></data>",
        stored["RECORDNO"],
        escape(&stored["CUSTOMERID"])
    ))
}
