//! Fake VETtrak API web service (`VT_API.asmx`, SOAP 1.1): token login, clients, a client's
//! enrolments and unit results, AddClientAfterCheck and UpdateResult.
//!
//! VETtrak publishes no machine-readable description in the specs folder; its ASP.NET service
//! prints a help page per operation (`VT_API.asmx?op=<Operation>`, the SOAP 1.1 request and
//! response envelopes) and its class and method reference is at
//! support.vettrak.com.au/api/VETtrakAPI<version>/. Followed, and checked on every request
//! (each departure is recorded as a violation):
//!
//! * `POST /VT_API.asmx`, `Content-Type: text/xml`, a `SOAPAction` header
//!   `"http://www.ozsoft.com.au/VETtrak/api/complete/<Operation>"` naming the operation in the
//!   body, a SOAP 1.1 envelope (`http://schemas.xmlsoap.org/soap/envelope/`) whose body holds one
//!   `<Operation xmlns="http://www.ozsoft.com.au/VETtrak/api/complete">` with exactly the
//!   operation's parameters.
//! * `ValidateClient(sUsername, sPassword)` answers a TAuthenticate: `Token`, `Status` 1,
//!   `StatusMessage` "Success", `Identifier`, `TokenType`; refused, `Token` empty, `Status` -1,
//!   "Invalid Username/Password Combination.", `Identifier` -1.
//! * `GetAccessibleClients(token, clientCode, sinceDate?)` answers `{Auth, ClieList: TClie*}`;
//!   `AddClientAfterCheck(sToken, sClie_Surname, sClie_Given, xsdClie_DOB, divisionId, email)`
//!   answers `{Auth, Clie: {Clie_Surname, Clie_Given, Clie_Code}}`, the existing client when
//!   surname, given name and date of birth match one.
//! * `UpdateResult(sToken, iEnro_ID, sUnit_Code, sResult_Name, xsdStart, xsdFinish,
//!   iPercentage)` (the method page VT_API_UpdateResult in the API reference) sets the result of
//!   one enrolled unit and answers a bare TAuthenticate (`UpdateResultResult` holds `ID`,
//!   `Token`, `Status`, `StatusMessage`, ...). Nothing is updated, Status -1, when the enrolment
//!   does not exist, the unit is not in it, the result name is not one of the result types, the
//!   start is after the finish, or the percentage is not -1 (unscored) or 0..=100; the previous
//!   result goes to the unit's history.
//! * `GetEnrolmentsForClient(sToken, sClie_Code)` answers `{Auth, ClieEnroList: TClieEnro*}`, the
//!   shape of an answer a public VETtrak client keeps as its sample (ID, StartDate, EndDate,
//!   Status, StatusType, DateOfEffect, Qual_Code, Qual_Name, Clie_Code, GivenName, Surname; the
//!   money, location and delivery-mode members are left out).
//!
//! Assumed, as the definition says: `GetUnitResultsForClient(sToken, sClie_Code)`
//! answering `{Auth, ResuList: TResu*}` (Resu_ID, Enro_ID, Unit_Code, Unit_Name, Result_Code,
//! Result_Name, Result_Date); a bad or expired token answers Status -1 "Invalid Token."; an
//! unknown client code Status -1 "Client not found."; TClie carries the members built below;
//! the result type names (VETtrak lets each provider name them; GetResultTypes lists them) are
//! AVETMISS's outcome names, each with its outcome identifier as `Result_Code` (see
//! [`RESULT_TYPES`]); UpdateResult's refusal messages.
//! [`Vettrak::expire_tokens`] ends every session, as VETtrak's timeout would.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};

pub const USERNAME: &str = "switchyard.api";
pub const PASSWORD: &str = "vt-fake-password-9d3f";
/// The staff member whose accessible clients are listed.
pub const STAFF_CODE: &str = "STAFF01";
/// The seeded client with enrolments and unit results.
pub const CLIENT_CODE: &str = "C000001";
const NS: &str = "http://www.ozsoft.com.au/VETtrak/api/complete";
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const PATH: &str = "/VT_API.asmx";

/// The result types UpdateResult accepts (name, AVETMISS outcome identifier). Assumed: each
/// provider names its own in VETtrak; these are AVETMISS's.
pub const RESULT_TYPES: &[(&str, &str)] = &[
    ("Competency achieved/pass", "20"),
    ("Competency not achieved/fail", "30"),
    ("Withdrawn/discontinued", "40"),
    ("Recognition of prior learning granted", "51"),
    ("Credit transfer/national recognition", "60"),
    ("Continuing enrolment", "70"),
];

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct VettrakConfig {
    pub clients: usize,
    /// Enrolments of [`CLIENT_CODE`], each with three unit results.
    pub enrolments: usize,
    pub faults: FaultConfig,
}

/// The fake VETtrak database.
pub struct Vettrak {
    /// Clie_Code -> TClie.
    clients: Mutex<BTreeMap<String, Value>>,
    /// ID -> (client code, TClieEnro).
    enrolments: Mutex<BTreeMap<u64, (String, Value)>>,
    /// Resu_ID -> (client code, TResu).
    results: Mutex<BTreeMap<u64, (String, Value)>>,
    /// Results replaced by UpdateResult, oldest first (the Enrolment Unit History).
    history: Mutex<Vec<Value>>,
    tokens: Mutex<BTreeSet<String>>,
    logins: AtomicUsize,
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
pub fn start(config: VettrakConfig) -> FakeHandle<Vettrak> {
    server::expect_started("vettrak", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: VettrakConfig) -> io::Result<FakeHandle<Vettrak>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Vettrak {
        clients: Mutex::new(BTreeMap::new()),
        enrolments: Mutex::new(BTreeMap::new()),
        results: Mutex::new(BTreeMap::new()),
        history: Mutex::new(Vec::new()),
        tokens: Mutex::new(BTreeSet::new()),
        logins: AtomicUsize::new(0),
        next: Mutex::new(1000),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    server::spawn(
        Spec {
            name: "vettrak",
            port: 0,
            state,
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| Router::new().route(PATH, post(service)).with_state(routes),
    )
}

fn client_json(code: &str, given: &str, surname: &str, dob: &str, email: &str) -> Value {
    json!({
        "Clie_Code": code, "Clie_Surname": surname, "Clie_Given": given, "Clie_Other": "",
        "Clie_DOB": dob, "Clie_Email": email, "Clie_MobilePhone": "", "Gender": "",
        "Clie_Username": email, "DivisionId": "0",
    })
}

impl Vettrak {
    fn seed(&self, config: &VettrakConfig) {
        let mut clients = lock(&self.clients);
        for n in 1..=config.clients {
            let code = format!("C{n:06}");
            clients.insert(
                code.clone(),
                client_json(
                    &code,
                    &format!("Student{n}"),
                    "Learner",
                    &format!("200{}-01-15T00:00:00", n % 10),
                    &format!("student{n}@example.edu.au"),
                ),
            );
        }
        drop(clients);
        for n in 1..=config.enrolments as u64 {
            let id = 7000 + n;
            let enro = json!({
                "ID": id.to_string(), "StartDate": "2026-02-02T00:00:00",
                "EndDate": "2026-12-18T00:00:00", "Status": "Active", "StatusType": "0",
                "DateOfEffect": "2026-02-02T00:00:00",
                "Qual_Code": "BSB40120", "Qual_Name": "Certificate IV in Business",
                "Clie_Code": CLIENT_CODE, "GivenName": "Student1", "Surname": "Learner",
            });
            lock(&self.enrolments).insert(id, (CLIENT_CODE.to_owned(), enro));
            for (k, unit) in ["BSBCRT411", "BSBOPS404", "BSBTWK401"].iter().enumerate() {
                let rid = id * 10 + k as u64;
                let resu = json!({
                    "Resu_ID": rid.to_string(), "Enro_ID": id.to_string(), "Unit_Code": unit,
                    "Unit_Name": format!("Unit {unit}"), "Result_Code": "", "Result_Name": "Not yet started",
                    "Result_Date": "",
                });
                lock(&self.results).insert(rid, (CLIENT_CODE.to_owned(), resu));
            }
        }
    }

    pub fn client(&self, code: &str) -> Option<Value> {
        lock(&self.clients).get(code).cloned()
    }

    pub fn client_count(&self) -> usize {
        lock(&self.clients).len()
    }

    /// Changes a client's email as a staff member would.
    pub fn change_email(&self, code: &str, email: &str) -> Option<Value> {
        let mut clients = lock(&self.clients);
        let c = clients.get_mut(code)?;
        c["Clie_Email"] = json!(email);
        Some(c.clone())
    }

    pub fn enrolment(&self, id: &str) -> Option<Value> {
        lock(&self.enrolments).get(&id.parse().ok()?).map(|(_, e)| e.clone())
    }

    pub fn enrolment_count(&self, client: &str) -> usize {
        lock(&self.enrolments).values().filter(|(c, _)| c == client).count()
    }

    pub fn unit_result(&self, id: &str) -> Option<Value> {
        lock(&self.results).get(&id.parse().ok()?).map(|(_, r)| r.clone())
    }

    pub fn unit_result_count(&self, client: &str) -> usize {
        lock(&self.results).values().filter(|(c, _)| c == client).count()
    }

    /// Records a unit result as a trainer would.
    pub fn record_result(&self, id: &str, code: &str, name: &str) -> Option<Value> {
        let mut results = lock(&self.results);
        let (_, r) = results.get_mut(&id.parse().ok()?)?;
        r["Result_Code"] = json!(code);
        r["Result_Name"] = json!(name);
        r["Result_Date"] = json!("2026-11-27T00:00:00");
        Some(r.clone())
    }

    /// The result of a unit of an enrolment (TResu).
    pub fn result_of(&self, enrolment: &str, unit: &str) -> Option<Value> {
        lock(&self.results)
            .values()
            .find(|(_, r)| r["Enro_ID"] == enrolment && r["Unit_Code"] == unit)
            .map(|(_, r)| r.clone())
    }

    /// Results UpdateResult replaced (the unit history), oldest first.
    pub fn history(&self) -> Vec<Value> {
        lock(&self.history).clone()
    }

    /// Sets a unit result through UpdateResult's rules; `Err` is the StatusMessage.
    fn update_result(&self, args: &BTreeMap<&str, String>) -> Result<(), String> {
        let arg = |name: &str| args.get(name).cloned().unwrap_or_default();
        let Ok(enrolment) = arg("iEnro_ID").parse::<u64>() else {
            self.violation("/body/UpdateResult/iEnro_ID", "iEnro_ID is an int".into());
            return Err("Invalid enrolment ID.".into());
        };
        let Ok(percentage) = arg("iPercentage").parse::<i64>() else {
            self.violation("/body/UpdateResult/iPercentage", "iPercentage is an int".into());
            return Err("Invalid percentage.".into());
        };
        let (start, finish) = (arg("xsdStart"), arg("xsdFinish"));
        for (name, value) in [("xsdStart", &start), ("xsdFinish", &finish)] {
            if !valid_datetime(value) {
                self.violation(
                    &format!("/body/UpdateResult/{name}"),
                    format!("{name} is an xsd:dateTime, not `{value}`"),
                );
                return Err(format!("Invalid date: {value}"));
            }
        }
        if !lock(&self.enrolments).contains_key(&enrolment) {
            return Err(format!("Enrolment {enrolment} not found."));
        }
        let unit = arg("sUnit_Code");
        let name = arg("sResult_Name");
        let Some((_, code)) = RESULT_TYPES.iter().find(|(n, _)| *n == name) else {
            return Err(format!("Invalid result name: {name}"));
        };
        if start.get(..19) > finish.get(..19) {
            return Err("The start date is after the finish date.".into());
        }
        if !(percentage == -1 || (0..=100).contains(&percentage)) {
            return Err(format!("Invalid percentage: {percentage}"));
        }
        let mut results = lock(&self.results);
        let Some((_, row)) = results
            .values_mut()
            .find(|(_, r)| r["Enro_ID"] == enrolment.to_string().as_str() && r["Unit_Code"] == unit.as_str())
        else {
            return Err(format!("Unit {unit} is not in enrolment {enrolment}."));
        };
        lock(&self.history).push(row.clone());
        row["Result_Code"] = json!(code);
        row["Result_Name"] = json!(name);
        row["Result_Date"] = json!(finish.get(..19).unwrap_or(&finish));
        Ok(())
    }

    /// Logins served.
    pub fn logins(&self) -> usize {
        self.logins.load(Ordering::SeqCst)
    }

    /// Ends every session, as VETtrak's token timeout would.
    pub fn expire_tokens(&self) {
        lock(&self.tokens).clear();
    }

    fn violation(&self, pointer: &str, message: String) {
        self.violations.record(
            "vettrak",
            vec![Violation::new("-", Direction::Request, "POST", PATH, pointer, message)],
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Elements of a flat JSON object, in key order.
fn elements(v: &Value) -> String {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("<{k}>{}</{k}>", escape(v.as_str().unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default()
}

fn envelope(operation: &str, result: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:soap=\"{SOAP_NS}\"><soap:Body>\
         <{operation}Response xmlns=\"{NS}\"><{operation}Result>{result}</{operation}Result></{operation}Response>\
         </soap:Body></soap:Envelope>"
    );
    (StatusCode::OK, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

fn auth(token: &str, status: i32, message: &str) -> String {
    format!(
        "<ID>0</ID><Token>{}</Token><Status>{status}</Status><StatusMessage>{}</StatusMessage>\
         <Identifier>{}</Identifier><TokenType>{}</TokenType>",
        escape(token),
        escape(message),
        if status == 1 { STAFF_CODE } else { "-1" },
        if status == 1 { "Staff" } else { "" },
    )
}

fn fault(status: StatusCode) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><soap:Fault>\
         <faultcode>soap:Server</faultcode><faultstring>Server was unable to process request.</faultstring>\
         </soap:Fault></soap:Body></soap:Envelope>"
    );
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

/// Operations served and their parameters (optional ones marked `?`).
const OPERATIONS: &[(&str, &[&str])] = &[
    ("ValidateClient", &["sUsername", "sPassword"]),
    ("GetAccessibleClients", &["token", "clientCode", "sinceDate?"]),
    ("GetEnrolmentsForClient", &["sToken", "sClie_Code"]),
    ("GetUnitResultsForClient", &["sToken", "sClie_Code"]),
    (
        "UpdateResult",
        &[
            "sToken",
            "iEnro_ID",
            "sUnit_Code",
            "sResult_Name",
            "xsdStart",
            "xsdFinish",
            "iPercentage",
        ],
    ),
    (
        "AddClientAfterCheck",
        &[
            "sToken",
            "sClie_Surname",
            "sClie_Given",
            "xsdClie_DOB",
            "divisionId",
            "email",
        ],
    ),
];

fn valid_datetime(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && text[..4].parse::<u32>().is_ok()
        && text[5..7].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
        && text[8..10].parse::<u32>().is_ok_and(|d| (1..=31).contains(&d))
}

async fn service(State(vt): State<Arc<Vettrak>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("text/xml") {
        vt.violation(
            "/headers/content-type",
            format!("SOAP 1.1 takes text/xml, not `{content_type}`"),
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        vt.violation("/body", "the request is not UTF-8".into());
        return fault(StatusCode::BAD_REQUEST);
    };
    let doc = match roxmltree::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            vt.violation("/body", format!("the request does not parse: {e}"));
            return fault(StatusCode::BAD_REQUEST);
        }
    };
    let root = doc.root_element();
    if root.tag_name().name() != "Envelope" || root.tag_name().namespace() != Some(SOAP_NS) {
        vt.violation("/body", "the root is not a SOAP 1.1 Envelope".into());
        return fault(StatusCode::BAD_REQUEST);
    }
    let Some(call) = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "Body" && n.tag_name().namespace() == Some(SOAP_NS))
        .and_then(|b| b.children().find(|n| n.is_element()))
    else {
        vt.violation(
            "/body/Envelope/Body",
            "the envelope has no Body with an operation".into(),
        );
        return fault(StatusCode::BAD_REQUEST);
    };
    let operation = call.tag_name().name();
    if call.tag_name().namespace() != Some(NS) {
        vt.violation(
            &format!("/body/{operation}"),
            format!("the operation is not in the namespace {NS}"),
        );
    }
    let action = headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if action != format!("\"{NS}/{operation}\"") {
        vt.violation(
            "/headers/soapaction",
            format!("SOAPAction `{action}` does not name {operation}"),
        );
    }
    let Some((_, params)) = OPERATIONS.iter().find(|(name, _)| *name == operation) else {
        vt.violation(
            &format!("/body/{operation}"),
            format!("{operation} is not an operation this fake serves"),
        );
        return fault(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let mut args: BTreeMap<&str, String> = BTreeMap::new();
    for child in call.children().filter(|n| n.is_element()) {
        let name = child.tag_name().name();
        if !params.iter().any(|p| p.trim_end_matches('?') == name) {
            vt.violation(
                &format!("/body/{operation}/{name}"),
                format!("{name} is not a parameter of {operation}"),
            );
        }
        args.insert(name, child.text().unwrap_or_default().to_owned());
    }
    for p in params.iter().filter(|p| !p.ends_with('?')) {
        if !args.contains_key(p) {
            vt.violation(&format!("/body/{operation}/{p}"), format!("{operation} needs {p}"));
        }
    }
    let arg = |name: &str| args.get(name).cloned().unwrap_or_default();

    if operation == "ValidateClient" {
        if arg("sUsername") != USERNAME || arg("sPassword") != PASSWORD {
            return envelope(operation, &auth("", -1, "Invalid Username/Password Combination."));
        }
        vt.logins.fetch_add(1, Ordering::SeqCst);
        let token = {
            let mut next = lock(&vt.next);
            *next += 1;
            format!("vt-token-{}-7a1c", *next)
        };
        lock(&vt.tokens).insert(token.clone());
        return envelope(operation, &auth(&token, 1, "Success"));
    }
    let token = if operation == "GetAccessibleClients" {
        arg("token")
    } else {
        arg("sToken")
    };
    if !lock(&vt.tokens).contains(&token) {
        // UpdateResult answers a bare TAuthenticate, the others one wrapped in `Auth`.
        let refused = auth("", -1, "Invalid Token.");
        if operation == "UpdateResult" {
            return envelope(operation, &refused);
        }
        return envelope(operation, &format!("<Auth>{refused}</Auth>"));
    }
    let ok = format!("<Auth>{}</Auth>", auth("", 1, "Success"));
    match operation {
        "UpdateResult" => match vt.update_result(&args) {
            Ok(()) => envelope(operation, &auth("", 1, "Success")),
            Err(message) => envelope(operation, &auth("", -1, &message)),
        },
        "GetAccessibleClients" => {
            if arg("clientCode") != STAFF_CODE {
                return envelope(
                    operation,
                    &format!("<Auth>{}</Auth>", auth("", -1, "Client not found.")),
                );
            }
            let list: String = lock(&vt.clients)
                .values()
                .map(|c| format!("<TClie>{}</TClie>", elements(c)))
                .collect();
            envelope(operation, &format!("{ok}<ClieList>{list}</ClieList>"))
        }
        "GetEnrolmentsForClient" | "GetUnitResultsForClient" => {
            let code = arg("sClie_Code");
            if vt.client(&code).is_none() {
                return envelope(
                    operation,
                    &format!("<Auth>{}</Auth>", auth("", -1, "Client not found.")),
                );
            }
            let (list, item) = if operation == "GetEnrolmentsForClient" {
                ("ClieEnroList", "TClieEnro")
            } else {
                ("ResuList", "TResu")
            };
            let items: String = if operation == "GetEnrolmentsForClient" {
                lock(&vt.enrolments)
                    .values()
                    .filter(|(c, _)| *c == code)
                    .map(|(_, e)| format!("<{item}>{}</{item}>", elements(e)))
                    .collect()
            } else {
                lock(&vt.results)
                    .values()
                    .filter(|(c, _)| *c == code)
                    .map(|(_, r)| format!("<{item}>{}</{item}>", elements(r)))
                    .collect()
            };
            envelope(operation, &format!("{ok}<{list}>{items}</{list}>"))
        }
        _ => {
            let (surname, given, dob, email) = (
                arg("sClie_Surname"),
                arg("sClie_Given"),
                arg("xsdClie_DOB"),
                arg("email"),
            );
            if arg("divisionId").parse::<i64>().is_err() {
                vt.violation("/body/AddClientAfterCheck/divisionId", "divisionId is an int".into());
            }
            let refuse = |m: &str| envelope(operation, &format!("<Auth>{}</Auth>", auth("", -1, m)));
            if surname.trim().is_empty() {
                return refuse("Surname is required.");
            }
            if !valid_datetime(&dob) {
                return refuse(&format!("Invalid date of birth: {dob}"));
            }
            let existing = lock(&vt.clients)
                .values()
                .find(|c| {
                    c["Clie_Surname"] == surname.as_str()
                        && c["Clie_Given"] == given.as_str()
                        && c["Clie_DOB"] == dob.as_str()
                })
                .cloned();
            let client = match existing {
                Some(c) => c,
                None => {
                    let code = {
                        let mut next = lock(&vt.next);
                        *next += 1;
                        format!("N{:06}", *next)
                    };
                    let c = client_json(&code, &given, &surname, &dob, &email);
                    lock(&vt.clients).insert(code, c.clone());
                    c
                }
            };
            let clie = format!(
                "<Clie><Clie_Surname>{}</Clie_Surname><Clie_Given>{}</Clie_Given><Clie_Code>{}</Clie_Code></Clie>",
                escape(client["Clie_Surname"].as_str().unwrap_or_default()),
                escape(client["Clie_Given"].as_str().unwrap_or_default()),
                escape(client["Clie_Code"].as_str().unwrap_or_default()),
            );
            envelope(operation, &format!("{ok}{clie}"))
        }
    }
}
