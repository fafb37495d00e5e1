//! Fake Salesforce: the REST API (SOQL queries, sObject rows, sObject Collections, limits) of one
//! org on one server, and the login server's OAuth token endpoint on another.
//!
//! Salesforce publishes no machine-readable description of its REST API (none is in the specs
//! folder), so this fake follows the REST API Developer Guide
//! (developer.salesforce.com/docs/atlas.en-us.api_rest.meta) and Salesforce Help's OAuth pages,
//! and records every departure from the shapes below as a violation (`violations`), which the
//! conformance test requires to be none:
//!
//! * "Query": `GET /services/data/v62.0/query?q=<SOQL>` answers `{"totalSize", "done",
//!   "nextRecordsUrl"?, "records"}`, each record `{"attributes": {"type", "url"}, <fields>}`;
//!   `nextRecordsUrl` (`/services/data/v62.0/query/<locator>-<offset>`) fetches the next batch
//!   of the same snapshot. `Sforce-Query-Options: batchSize=N` sets the batch (200 to 2,000;
//!   default 2,000). The fake understands the statement shapes connectors send:
//!   `SELECT <fields> FROM <sObject> [WHERE SystemModstamp >= | > <dateTime> | WHERE Id = '<id>']
//!   [ORDER BY <field>[, <field>]] [LIMIT n]`, `<dateTime>` a SOQL literal
//!   (`2024-05-02T11:17:33Z`, `+hh:mm` offsets); anything else is 400 `MALFORMED_QUERY`, an
//!   unknown field 400 `INVALID_FIELD`, an unknown sObject 400 `INVALID_TYPE`.
//! * "sObject Rows": `GET /services/data/v62.0/sobjects/<sObject>/<id>[?fields=a,b]`, 404
//!   `NOT_FOUND` for an unknown id.
//! * "sObject Collections": `POST /services/data/v62.0/composite/sobjects` creates,
//!   `PATCH` on the same path updates (each record with `Id`), and
//!   `PATCH /services/data/v62.0/composite/sobjects/<sObject>/<externalIdField>` upserts; the
//!   body is `{"allOrNone": bool, "records": [{"attributes": {"type": ...}, ...}]}`, at most
//!   200 records (else 400 `EXCEEDED_ID_LIMIT`); the answer is 200 with an array in request
//!   order: `{"id", "success": true, "errors": []}` (upserts add `"created"`), or
//!   `{"success": false, "errors": [{"statusCode", "message", "fields"}]}`. With `allOrNone`
//!   one refusal rolls back the batch (`ALL_OR_NONE_OPERATION_ROLLED_BACK`).
//! * "Limits": `GET /services/data/v62.0/limits` (`DailyApiRequests`: `Max`, `Remaining`),
//!   and every API response carries `Sforce-Limit-Info: api-usage=<used>/<max>`; once the
//!   org's daily requests are spent a request is refused with 403 `REQUEST_LIMIT_EXCEEDED`.
//! * Errors are arrays `[{"message", "errorCode"}]`; a missing or unknown token is 401
//!   `INVALID_SESSION_ID`.
//! * OAuth (login server, `POST /services/oauth2/token`): the refresh-token grant
//!   (`client_id`, `client_secret`, `refresh_token`) and the JWT bearer grant
//!   (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion` an RS256 JWT with
//!   `iss` = the consumer key, `sub` = the username, `aud` = the login server's URL, `exp` at
//!   most 3 minutes ahead), verified with the certificate's public key given in the config.
//!   Both answer `{"access_token", "instance_url", "id", "token_type": "Bearer",
//!   "issued_at", "signature", "scope"}` without `expires_in`; a refused grant is 400
//!   `{"error": "invalid_grant", "error_description"}`.
//!
//! Assumptions where the docs leave it open: validation covers what the conformance test
//! refuses (a required field missing on insert, `REQUIRED_FIELD_MISSING`; an email field
//! without `@`, `INVALID_EMAIL_ADDRESS`; an unknown field, `INVALID_FIELD`; an update of an
//! unknown id, `ENTITY_IS_DELETED`); ids are 18 characters with the standard key prefixes
//! (Account `001`, Contact `003`, Opportunity `006`); `SystemModstamp` is written to the
//! millisecond as `2024-05-02T11:17:33.000+0000` and equals `LastModifiedDate`; the external id
//! fields are custom text fields `Email__c` (Contact) and `External_Id__c` (Account), matched
//! ignoring case as Salesforce's case-insensitive external ids are.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::now_ms;

/// The connected app's consumer key.
pub const CLIENT_ID: &str = "3MVG9fakeSalesforceConsumerKey";
/// Its consumer secret.
pub const CLIENT_SECRET: &str = "fake-salesforce-consumer-secret";
/// A refresh token the login server accepts.
pub const REFRESH_TOKEN: &str = "5Aep861fakeSalesforceRefreshToken";
/// The pre-authorised user of the JWT bearer flow.
pub const USERNAME: &str = "integration@acme.example.com";
/// The API version the fake serves.
pub const VERSION: &str = "v62.0";
/// The JWT bearer grant's `grant_type`.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Debug)]
/// An sObject the fake keeps: its key prefix, fields, fields required on insert, and its
/// external id field.
struct SObject {
    name: &'static str,
    prefix: &'static str,
    fields: &'static [&'static str],
    required: &'static [&'static str],
    external_id: Option<&'static str>,
}

/// System fields every sObject has, set by the org only.
const SYSTEM_FIELDS: &[&str] = &["Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"];

const SOBJECTS: &[SObject] = &[
    SObject {
        name: "Contact",
        prefix: "003",
        fields: &["FirstName", "LastName", "Email", "Phone", "AccountId", "Email__c"],
        required: &["LastName"],
        external_id: Some("Email__c"),
    },
    SObject {
        name: "Account",
        prefix: "001",
        fields: &[
            "Name",
            "Website",
            "Phone",
            "Industry",
            "BillingCity",
            "BillingCountry",
            "External_Id__c",
        ],
        required: &["Name"],
        external_id: Some("External_Id__c"),
    },
    SObject {
        name: "Opportunity",
        prefix: "006",
        fields: &["Name", "StageName", "Amount", "CloseDate", "AccountId"],
        required: &["Name", "StageName", "CloseDate"],
        external_id: None,
    },
];

fn sobject(name: &str) -> Option<&'static SObject> {
    SOBJECTS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// Records seeded per sObject, modified over the past hour.
    pub records: usize,
    /// The org's daily API requests (`DailyApiRequests.Max`).
    pub daily_limit: u64,
    /// The PEM public key of the connected app's certificate, for JWT bearer assertions;
    /// `None` refuses that grant.
    pub jwt_public_key: Option<String>,
    pub faults: FaultConfig,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            records: 0,
            daily_limit: 15_000,
            jwt_public_key: None,
            faults: FaultConfig::default(),
        }
    }
}

/// The fake org's state.
pub struct Salesforce {
    /// sObject name -> records in insertion order.
    objects: Mutex<BTreeMap<&'static str, Vec<Map<String, Value>>>>,
    access_tokens: Mutex<HashSet<String>>,
    /// The grant types the login server granted, in order.
    grants: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
    /// Query locators: the snapshot of a query's rows.
    locators: Mutex<HashMap<String, Vec<Value>>>,
    api_used: Mutex<u64>,
    daily_limit: u64,
    jwt_key: Option<jsonwebtoken::DecodingKey>,
    instance_url: Mutex<String>,
    login_url: Mutex<String>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Salesforce's date-time form: `2024-05-02T11:17:33.000+0000`. Salesforce keeps date-times
/// to the second; the milliseconds are always `000`.
fn sf_time(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Reads a SOQL dateTime literal or a stored `SystemModstamp` (offsets with or without a colon).
fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let n = t.len();
    let fixed = if n > 5 && matches!(t.as_bytes()[n - 5], b'+' | b'-') && t[n - 4..].bytes().all(|b| b.is_ascii_digit())
    {
        format!("{}:{}", &t[..n - 2], &t[n - 2..])
    } else {
        t.to_owned()
    };
    OffsetDateTime::parse(&fixed, &Rfc3339)
        .ok()
        .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The two servers: the org's API (`instance_url`) and the login server.
pub struct SalesforceOrg {
    pub api: FakeHandle<Salesforce>,
    pub login: FakeHandle<Salesforce>,
}

impl std::ops::Deref for SalesforceOrg {
    type Target = Salesforce;

    fn deref(&self) -> &Salesforce {
        &self.api
    }
}

/// Starts both servers on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the JWT public key is not a PEM RSA key.
pub fn start(config: SalesforceConfig) -> SalesforceOrg {
    try_start(config).unwrap_or_else(|e| panic!("the fake Salesforce could not start: {e}"))
}

/// Starts both servers, reporting a bind failure.
///
/// # Panics
/// When the JWT public key is not a PEM RSA key (a test's mistake).
pub fn try_start(config: SalesforceConfig) -> io::Result<SalesforceOrg> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Salesforce {
        objects: Mutex::new(SOBJECTS.iter().map(|s| (s.name, Vec::new())).collect()),
        access_tokens: Mutex::new(HashSet::new()),
        grants: Mutex::new(Vec::new()),
        next_id: Mutex::new(0),
        locators: Mutex::new(HashMap::new()),
        api_used: Mutex::new(0),
        daily_limit: config.daily_limit,
        jwt_key: config.jwt_public_key.as_deref().map(|pem| {
            jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).expect("the JWT public key is a PEM RSA public key")
        }),
        instance_url: Mutex::new(String::new()),
        login_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    state.seed(config.records);
    let api_state = state.clone();
    let api = server::spawn(
        Spec {
            name: "salesforce",
            port: 0,
            state: state.clone(),
            faults: config.faults,
            check: None,
            violations: violations.clone(),
            respond: fault,
        },
        move |_| {
            let v = format!("/services/data/{VERSION}");
            Router::new()
                .route(&format!("{v}/query"), get(query))
                .route(&format!("{v}/query/{{locator}}"), get(query_more))
                .route(&format!("{v}/sobjects/{{sobject}}/{{id}}"), get(row))
                .route(&format!("{v}/composite/sobjects"), post(create).patch(update))
                .route(&format!("{v}/composite/sobjects/{{sobject}}/{{field}}"), patch(upsert))
                .route(&format!("{v}/limits"), get(limits))
                .with_state(api_state)
        },
    )?;
    *lock(&state.instance_url) = api.base_url.clone();
    let login_state = state.clone();
    let login = server::spawn(
        Spec {
            name: "salesforce-login",
            port: 0,
            state: state.clone(),
            faults: FaultConfig::default(),
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            Router::new()
                .route("/services/oauth2/token", post(token))
                .with_state(login_state)
        },
    )?;
    *lock(&state.login_url) = login.base_url.clone();
    Ok(SalesforceOrg { api, login })
}

impl Salesforce {
    fn new_id(&self, prefix: &str) -> String {
        let mut next = lock(&self.next_id);
        *next += 1;
        format!("{prefix}Dn00000{:05}AAA", *next)
    }

    fn seed(&self, count: usize) {
        let now = now_ms();
        for object in SOBJECTS {
            for n in 1..=count {
                // Spread over the past hour, oldest first, the newest 10 s ago.
                let at = now - 3_600_000 + (n as i64 * 3_590_000 / count.max(1) as i64);
                let fields = match object.name {
                    "Contact" => json!({"FirstName": format!("First{n}"), "LastName": format!("Last{n}"),
                        "Email": format!("contact{n}@example.com"), "Phone": null, "AccountId": null,
                        "Email__c": format!("contact{n}@example.com")}),
                    "Account" => {
                        json!({"Name": format!("Account {n}"), "Website": format!("https://account{n}.example.com"),
                        "Phone": null, "Industry": "Technology", "BillingCity": null, "BillingCountry": null,
                        "External_Id__c": format!("ext-{n}")})
                    }
                    _ => json!({"Name": format!("Opportunity {n}"), "StageName": "Prospecting", "Amount": 1000 + n,
                        "CloseDate": "2026-12-31", "AccountId": null}),
                };
                self.insert(object, fields.as_object().cloned().unwrap_or_default(), at);
            }
        }
    }

    fn insert(&self, object: &SObject, fields: Map<String, Value>, at: i64) -> Map<String, Value> {
        let mut record = Map::new();
        record.insert("Id".into(), json!(self.new_id(object.prefix)));
        for name in object.fields {
            record.insert((*name).to_owned(), Value::Null);
        }
        record.extend(fields);
        record.insert("IsDeleted".into(), json!(false));
        record.insert("CreatedDate".into(), json!(sf_time(at)));
        record.insert("LastModifiedDate".into(), json!(sf_time(at)));
        record.insert("SystemModstamp".into(), json!(sf_time(at)));
        lock(&self.objects).entry(object.name).or_default().push(record.clone());
        record
    }

    /// The access tokens the login server issued.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        lock(&self.access_tokens).iter().cloned().collect()
    }

    /// The grant types the login server granted, in order (`refresh_token`, the JWT bearer URN).
    pub fn grants(&self) -> Vec<String> {
        lock(&self.grants).clone()
    }

    /// Ends every session: the next API request gets 401 `INVALID_SESSION_ID`.
    pub fn expire_sessions(&self) {
        lock(&self.access_tokens).clear();
    }

    /// Sets the org's API requests used today.
    pub fn set_api_used(&self, used: u64) {
        *lock(&self.api_used) = used;
    }

    /// The org's API requests used today.
    pub fn api_used(&self) -> u64 {
        *lock(&self.api_used)
    }

    /// Records of an sObject.
    pub fn count(&self, object: &str) -> usize {
        lock(&self.objects).get(object).map_or(0, Vec::len)
    }

    /// A record by id, with every field.
    pub fn record(&self, object: &str, id: &str) -> Option<Value> {
        lock(&self.objects)
            .get(object)?
            .iter()
            .find(|r| r["Id"] == id)
            .cloned()
            .map(Value::Object)
    }

    /// The first record whose `field` equals `value` (ignoring ASCII case).
    pub fn find(&self, object: &str, field: &str, value: &str) -> Option<Value> {
        lock(&self.objects)
            .get(object)?
            .iter()
            .find(|r| {
                r.get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .cloned()
            .map(Value::Object)
    }

    /// Changes a record as a user in Salesforce would: `SystemModstamp` becomes now.
    pub fn update(&self, object: &str, id: &str, fields: &Value) -> Option<Value> {
        let mut objects = lock(&self.objects);
        let record = objects.get_mut(object)?.iter_mut().find(|r| r["Id"] == id)?;
        if let Some(fields) = fields.as_object() {
            record.extend(fields.clone());
        }
        let now = json!(sf_time(now_ms()));
        record.insert("LastModifiedDate".into(), now.clone());
        record.insert("SystemModstamp".into(), now);
        Some(Value::Object(record.clone()))
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: impl Into<String>) {
        self.violations.record(
            "salesforce",
            vec![Violation::new(
                "-",
                Direction::Request,
                method,
                path,
                pointer,
                message.into(),
            )],
        );
    }
}

/// Salesforce's error body: an array of `{"message", "errorCode"}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!([{"message": message, "errorCode": code}]))).into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => error(status, "SERVER_UNAVAILABLE", "Server unavailable"),
        _ => error(status, "UNKNOWN_EXCEPTION", "An unexpected error occurred."),
    }
}

/// The API's gate: a valid session and daily requests left. Counts the request and returns
/// the `Sforce-Limit-Info` value, or the refusal.
fn admit(sf: &Salesforce, headers: &HeaderMap) -> Result<HeaderValue, Box<Response>> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| lock(&sf.access_tokens).contains(t.trim())) {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )));
    }
    let mut used = lock(&sf.api_used);
    if *used >= sf.daily_limit {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )));
    }
    *used += 1;
    Ok(HeaderValue::from_str(&format!("api-usage={}/{}", *used, sf.daily_limit)).expect("ASCII digits"))
}

fn with_limit_info(limit_info: HeaderValue, response: Response) -> Response {
    let mut response = response;
    response.headers_mut().insert("sforce-limit-info", limit_info);
    response
}

/// `POST /services/oauth2/token` on the login server.
async fn token(State(sf): State<Arc<Salesforce>>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).map(String::as_str);
    let refuse = |description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": description})),
        )
            .into_response()
    };
    let grant = get("grant_type").unwrap_or_default().to_owned();
    match grant.as_str() {
        "refresh_token" => {
            if get("client_id") != Some(CLIENT_ID)
                || get("client_secret") != Some(CLIENT_SECRET)
                || get("refresh_token") != Some(REFRESH_TOKEN)
            {
                return refuse("expired access/refresh token");
            }
        }
        JWT_BEARER => {
            if let Some(extra) = ["client_secret", "refresh_token"]
                .iter()
                .find(|k| form.contains_key(**k))
            {
                sf.violation(
                    "POST",
                    "/services/oauth2/token",
                    &format!("/{extra}"),
                    "the JWT bearer grant takes only grant_type and assertion",
                );
            }
            let Some(key) = &sf.jwt_key else {
                return refuse("invalid assertion");
            };
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[lock(&sf.login_url).clone()]);
            validation.set_issuer(&[CLIENT_ID]);
            validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            validation.leeway = 0;
            let claims = match jsonwebtoken::decode::<Value>(get("assertion").unwrap_or_default(), key, &validation) {
                Ok(data) => data.claims,
                Err(_) => return refuse("invalid assertion"),
            };
            if claims["sub"] != USERNAME {
                return refuse("user hasn't approved this consumer");
            }
            // Salesforce: the expiry must be within 3 minutes (a little slack for clock skew).
            if claims["exp"].as_i64().is_none_or(|exp| exp > now_ms() / 1000 + 300) {
                return refuse("expiration time is too far in the future");
            }
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "unsupported_grant_type", "error_description": "grant type not supported"})),
            )
                .into_response()
        }
    }
    let access = format!("00DFAKE!{}.{}", now_ms(), lock(&sf.access_tokens).len());
    lock(&sf.access_tokens).insert(access.clone());
    lock(&sf.grants).push(grant);
    let login = lock(&sf.login_url).clone();
    Json(json!({
        "access_token": access,
        "signature": "ZmFrZS1zaWduYXR1cmU=",
        "scope": "api refresh_token",
        "instance_url": lock(&sf.instance_url).clone(),
        "id": format!("{login}/id/00DFAKE000000001AAA/005FAKE000000001AAA"),
        "token_type": "Bearer",
        "issued_at": now_ms().to_string(),
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// SOQL

/// What a query asks for.
#[derive(Debug)]
struct Soql {
    object: &'static SObject,
    fields: Vec<String>,
    filter: Filter,
    order: Vec<String>,
    limit: Option<usize>,
}

#[derive(Debug)]
enum Filter {
    None,
    ModifiedSince { at: i64, inclusive: bool },
    Id(String),
}

fn soql_shape() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?is)^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
        )
        .expect("a valid regex")
    })
}

fn where_shape() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?i)^(?:SystemModstamp\s*(?P<op>>=|>)\s*(?P<at>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))|Id\s*=\s*'(?P<id>[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18})')$",
        )
        .expect("a valid regex")
    })
}

/// Parses the statement shapes the fake supports; the error is Salesforce's code and message.
fn parse_soql(text: &str) -> Result<Soql, (&'static str, String)> {
    let malformed = |why: &str| ("MALFORMED_QUERY", format!("unexpected token: {why}"));
    let caps = soql_shape().captures(text).ok_or_else(|| malformed(text))?;
    let object_name = &caps["object"];
    let object = sobject(object_name).ok_or_else(|| {
        (
            "INVALID_TYPE",
            format!("sObject type '{object_name}' is not supported."),
        )
    })?;
    let known = |f: &str| {
        SYSTEM_FIELDS
            .iter()
            .chain(object.fields.iter())
            .find(|k| k.eq_ignore_ascii_case(f))
            .map(|k| (*k).to_owned())
    };
    let mut fields = Vec::new();
    for f in caps["fields"].split(',').map(str::trim) {
        let name = known(f).ok_or_else(|| {
            (
                "INVALID_FIELD",
                format!("No such column '{f}' on entity '{}'.", object.name),
            )
        })?;
        fields.push(name);
    }
    let filter = match caps.name("where") {
        None => Filter::None,
        Some(w) => {
            let c = where_shape()
                .captures(w.as_str().trim())
                .ok_or_else(|| malformed(w.as_str()))?;
            if let Some(id) = c.name("id") {
                Filter::Id(id.as_str().to_owned())
            } else {
                let at = parse_time(&c["at"]).ok_or_else(|| malformed(&c["at"]))?;
                Filter::ModifiedSince {
                    at,
                    inclusive: &c["op"] == ">=",
                }
            }
        }
    };
    let mut order = Vec::new();
    if let Some(o) = caps.name("order") {
        for f in o.as_str().split(',').map(str::trim) {
            let name = f
                .strip_suffix(" ASC")
                .or_else(|| f.strip_suffix(" asc"))
                .unwrap_or(f)
                .trim();
            order.push(known(name).ok_or_else(|| malformed(f))?);
        }
    }
    let limit = caps.name("limit").and_then(|l| l.as_str().parse().ok());
    Ok(Soql {
        object,
        fields,
        filter,
        order,
        limit,
    })
}

/// A record as the API answers it: `attributes`, then the asked fields (all when none asked).
fn shaped(object: &SObject, record: &Map<String, Value>, fields: Option<&[String]>) -> Value {
    let id = record["Id"].as_str().unwrap_or_default();
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": object.name, "url": format!("/services/data/{VERSION}/sobjects/{}/{id}", object.name)}),
    );
    match fields {
        Some(fields) => {
            for f in fields {
                out.insert(f.clone(), record.get(f).cloned().unwrap_or(Value::Null));
            }
        }
        None => {
            for (k, v) in record {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn compare_field(a: &Map<String, Value>, b: &Map<String, Value>, field: &str) -> std::cmp::Ordering {
    let (x, y) = (&a[field], &b[field]);
    match (x, y) {
        (Value::String(x), Value::String(y)) if field == "SystemModstamp" => parse_time(x).cmp(&parse_time(y)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(std::cmp::Ordering::Equal)
        }
        _ => std::cmp::Ordering::Equal,
    }
}

/// The batch size from `Sforce-Query-Options: batchSize=N` (200 to 2,000; default 2,000).
fn batch_size(sf: &Salesforce, headers: &HeaderMap, path: &str) -> usize {
    let Some(value) = headers.get("sforce-query-options").and_then(|v| v.to_str().ok()) else {
        return 2000;
    };
    match value
        .split(',')
        .filter_map(|p| p.trim().strip_prefix("batchSize="))
        .next()
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) if (200..=2000).contains(&n) => n,
        _ => {
            sf.violation(
                "GET",
                path,
                "/headers/sforce-query-options",
                format!("`{value}` is not batchSize=N with N from 200 to 2,000"),
            );
            2000
        }
    }
}

/// One batch of a snapshot, from `offset`.
fn batch(locator: &str, rows: &[Value], offset: usize, size: usize) -> Value {
    let end = (offset + size).min(rows.len());
    let done = end >= rows.len();
    let mut body = json!({
        "totalSize": rows.len(),
        "done": done,
        "records": rows[offset.min(rows.len())..end],
    });
    if !done {
        body["nextRecordsUrl"] = json!(format!("/services/data/{VERSION}/query/{locator}-{end}"));
    }
    body
}

/// `GET /services/data/v62.0/query?q=...`.
async fn query(
    State(sf): State<Arc<Salesforce>>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let limit_info = match admit(&sf, &headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let path = format!("/services/data/{VERSION}/query");
    let Some(text) = params.get("q") else {
        sf.violation("GET", &path, "/query/q", "a query needs the SOQL statement in `q`");
        return with_limit_info(
            limit_info,
            error(
                StatusCode::BAD_REQUEST,
                "MALFORMED_QUERY",
                "The query string is missing",
            ),
        );
    };
    let soql = match parse_soql(text) {
        Ok(s) => s,
        Err((code, message)) => {
            sf.violation("GET", &path, "/query/q", format!("{code}: {message}"));
            return with_limit_info(limit_info, error(StatusCode::BAD_REQUEST, code, &message));
        }
    };
    let size = batch_size(&sf, &headers, &path);
    let mut rows: Vec<Map<String, Value>> = lock(&sf.objects)[soql.object.name]
        .iter()
        .filter(|r| match &soql.filter {
            Filter::None => true,
            Filter::Id(id) => r["Id"].as_str().is_some_and(|v| v.starts_with(id.as_str())),
            Filter::ModifiedSince { at, inclusive } => {
                let t = r["SystemModstamp"].as_str().and_then(parse_time).unwrap_or(0);
                if *inclusive {
                    t >= *at
                } else {
                    t > *at
                }
            }
        })
        .cloned()
        .collect();
    rows.sort_by(|a, b| {
        soql.order
            .iter()
            .map(|f| compare_field(a, b, f))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if let Some(limit) = soql.limit {
        rows.truncate(limit);
    }
    let shaped: Vec<Value> = rows
        .iter()
        .map(|r| shaped(soql.object, r, Some(soql.fields.as_slice())))
        .collect();
    let locator = {
        let mut locators = lock(&sf.locators);
        let id = format!("01gFAKE{:011}", locators.len() + 1);
        locators.insert(id.clone(), shaped);
        id
    };
    let body = batch(&locator, &lock(&sf.locators)[&locator], 0, size);
    with_limit_info(limit_info, Json(body).into_response())
}

/// `GET /services/data/v62.0/query/<locator>-<offset>`: the next batch.
async fn query_more(State(sf): State<Arc<Salesforce>>, Path(locator): Path<String>, headers: HeaderMap) -> Response {
    let limit_info = match admit(&sf, &headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let path = format!("/services/data/{VERSION}/query/{locator}");
    let parsed = locator
        .rsplit_once('-')
        .and_then(|(id, offset)| Some((id.to_owned(), offset.parse::<usize>().ok()?)));
    let locators = lock(&sf.locators);
    let Some(((id, offset), rows)) = parsed.and_then(|(id, offset)| {
        let rows = locators.get(&id)?;
        Some(((id, offset), rows))
    }) else {
        sf.violation("GET", &path, "/path/locator", "not a query locator this org handed out");
        return with_limit_info(
            limit_info,
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_QUERY_LOCATOR",
                "invalid query locator",
            ),
        );
    };
    let size = batch_size(&sf, &headers, &path);
    with_limit_info(limit_info, Json(batch(&id, rows, offset, size)).into_response())
}

/// `GET /services/data/v62.0/sobjects/<sObject>/<id>`.
async fn row(
    State(sf): State<Arc<Salesforce>>,
    Path((name, id)): Path<(String, String)>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let limit_info = match admit(&sf, &headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(object) = sobject(&name) else {
        return with_limit_info(
            limit_info,
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested resource does not exist",
            ),
        );
    };
    let fields: Option<Vec<String>> = params
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    if let Some(unknown) = fields
        .iter()
        .flatten()
        .find(|f| !SYSTEM_FIELDS.contains(&f.as_str()) && !object.fields.contains(&f.as_str()))
    {
        return with_limit_info(
            limit_info,
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!("No such column '{unknown}' on sobject of type {}", object.name),
            ),
        );
    }
    let found = lock(&sf.objects)[object.name]
        .iter()
        .find(|r| r["Id"] == id.as_str())
        .cloned();
    with_limit_info(
        limit_info,
        match found {
            Some(record) => Json(shaped(object, &record, fields.as_deref())).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested resource does not exist",
            ),
        },
    )
}

/// `GET /services/data/v62.0/limits`.
async fn limits(State(sf): State<Arc<Salesforce>>, headers: HeaderMap) -> Response {
    let limit_info = match admit(&sf, &headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let used = sf.api_used();
    with_limit_info(
        limit_info,
        Json(json!({
            "DailyApiRequests": {"Max": sf.daily_limit, "Remaining": sf.daily_limit.saturating_sub(used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        }))
        .into_response(),
    )
}

// ---------------------------------------------------------------------------------------------
// sObject Collections

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Create,
    Update,
    Upsert(&'static str),
}

fn refusal(code: &str, message: &str, fields: &[&str]) -> Value {
    json!({"success": false, "errors": [{"statusCode": code, "message": message, "fields": fields}]})
}

/// Reads a collections body, recording departures from the documented shape.
fn collection_body(
    sf: &Salesforce,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(bool, Vec<Value>), Box<Response>> {
    let bad = |message: &str| Box::new(error(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", message));
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        sf.violation(method, path, "", "the body is not JSON");
        return Err(bad("The request body is not valid JSON"));
    };
    let all_or_none = match body.get("allOrNone") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            sf.violation(method, path, "/allOrNone", "allOrNone must be a boolean");
            return Err(bad("allOrNone must be a boolean"));
        }
    };
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        sf.violation(method, path, "/records", "the body needs a `records` array");
        return Err(bad("records is required"));
    };
    if let Some(other) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "allOrNone" && *k != "records"))
    {
        sf.violation(
            method,
            path,
            &format!("/{other}"),
            "not a field of an sObject Collections request",
        );
    }
    if records.is_empty() || records.len() > 200 {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )));
    }
    for (i, r) in records.iter().enumerate() {
        if r.pointer("/attributes/type").and_then(Value::as_str).is_none() {
            sf.violation(
                method,
                path,
                &format!("/records/{i}/attributes/type"),
                "each record needs attributes.type",
            );
        }
    }
    Ok((all_or_none, records.clone()))
}

/// Checks one record's fields for a write; the refusal in Salesforce's per-record shape.
fn check_fields(object: &SObject, fields: &Map<String, Value>, op: Op) -> Result<(), Value> {
    for (name, value) in fields {
        if name == "attributes" || (name == "Id" && op == Op::Update) {
            continue;
        }
        if !object.fields.contains(&name.as_str()) {
            let (code, message) = if SYSTEM_FIELDS.contains(&name.as_str()) {
                (
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!("Unable to create/update fields: {name}."),
                )
            } else {
                (
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", object.name),
                )
            };
            return Err(refusal(code, &message, &[name.as_str()]));
        }
        if name.contains("Email") && value.as_str().is_some_and(|e| !e.contains('@')) {
            return Err(refusal(
                "INVALID_EMAIL_ADDRESS",
                &format!("{name}: invalid email address: {}", value.as_str().unwrap_or_default()),
                &[name.as_str()],
            ));
        }
    }
    Ok(())
}

fn missing_required(object: &SObject, fields: &Map<String, Value>) -> Option<Value> {
    let missing: Vec<&str> = object
        .required
        .iter()
        .copied()
        .filter(|f| {
            fields
                .get(*f)
                .is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()))
        })
        .collect();
    (!missing.is_empty()).then(|| {
        refusal(
            "REQUIRED_FIELD_MISSING",
            &format!("Required fields are missing: [{}]", missing.join(", ")),
            &missing,
        )
    })
}

/// Plans one record's write without applying it: the result, and the change to make.
enum Planned {
    Refused(Value),
    Insert(&'static SObject, Map<String, Value>),
    Change(&'static SObject, String, Map<String, Value>),
}

fn plan(
    sf: &Salesforce,
    path_object: Option<&'static SObject>,
    op: Op,
    input: &Value,
    method: &str,
    path: &str,
    i: usize,
) -> Planned {
    let Some(fields) = input.as_object() else {
        return Planned::Refused(refusal("INVALID_TYPE", "each record must be a JSON object", &[]));
    };
    let typed = input
        .pointer("/attributes/type")
        .and_then(Value::as_str)
        .and_then(sobject);
    let object = match (typed, path_object) {
        (Some(t), Some(p)) if t.name != p.name => {
            sf.violation(
                method,
                path,
                &format!("/records/{i}/attributes/type"),
                "the record's type differs from the path's sObject",
            );
            return Planned::Refused(refusal(
                "INVALID_TYPE",
                "the record's type must match the URL's sObject",
                &[],
            ));
        }
        (Some(t), _) => t,
        (None, Some(p)) => p,
        (None, None) => return Planned::Refused(refusal("INVALID_TYPE", "sObject type is missing or unknown", &[])),
    };
    let mut values = fields.clone();
    values.remove("attributes");
    if let Err(refused) = check_fields(object, &values, op) {
        return Planned::Refused(refused);
    }
    match op {
        Op::Create => {
            if fields.contains_key("Id") {
                return Planned::Refused(refusal(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "cannot specify Id in an insert call",
                    &["Id"],
                ));
            }
            match missing_required(object, &values) {
                Some(refused) => Planned::Refused(refused),
                None => Planned::Insert(object, values),
            }
        }
        Op::Update => {
            let Some(id) = values.remove("Id").and_then(|v| v.as_str().map(str::to_owned)) else {
                return Planned::Refused(refusal(
                    "MISSING_ARGUMENT",
                    "Id not specified in an update call",
                    &["Id"],
                ));
            };
            if sf.record(object.name, &id).is_none() {
                return Planned::Refused(refusal("ENTITY_IS_DELETED", "entity is deleted", &[]));
            }
            Planned::Change(object, id, values)
        }
        Op::Upsert(field) => {
            let Some(key) = values
                .get(field)
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
            else {
                return Planned::Refused(refusal("MISSING_ARGUMENT", &format!("{field} not specified"), &[field]));
            };
            match sf.find(object.name, field, &key) {
                Some(existing) => {
                    let id = existing["Id"].as_str().unwrap_or_default().to_owned();
                    Planned::Change(object, id, values)
                }
                None => match missing_required(object, &values) {
                    Some(refused) => Planned::Refused(refused),
                    None => Planned::Insert(object, values),
                },
            }
        }
    }
}

fn write(
    sf: &Salesforce,
    headers: &HeaderMap,
    body: &[u8],
    op: Op,
    path_object: Option<&'static SObject>,
    method: &str,
    path: &str,
) -> Response {
    let limit_info = match admit(sf, headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let (all_or_none, records) = match collection_body(sf, method, path, body) {
        Ok(b) => b,
        Err(r) => return with_limit_info(limit_info, *r),
    };
    let plans: Vec<Planned> = records
        .iter()
        .enumerate()
        .map(|(i, r)| plan(sf, path_object, op, r, method, path, i))
        .collect();
    let any_refused = plans.iter().any(|p| matches!(p, Planned::Refused(_)));
    let upsert = matches!(op, Op::Upsert(_));
    let results: Vec<Value> = plans
        .into_iter()
        .map(|p| match p {
            Planned::Refused(r) => r,
            _ if all_or_none && any_refused => refusal(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was using AllOrNone header",
                &[],
            ),
            Planned::Insert(object, values) => {
                let record = sf.insert(object, values, now_ms());
                let mut ok = json!({"id": record["Id"], "success": true, "errors": []});
                if upsert {
                    ok["created"] = json!(true);
                }
                ok
            }
            Planned::Change(object, id, values) => {
                sf.update(object.name, &id, &Value::Object(values));
                let mut ok = json!({"id": id, "success": true, "errors": []});
                if upsert {
                    ok["created"] = json!(false);
                }
                ok
            }
        })
        .collect();
    with_limit_info(limit_info, Json(Value::Array(results)).into_response())
}

/// `POST /services/data/v62.0/composite/sobjects`.
async fn create(State(sf): State<Arc<Salesforce>>, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/services/data/{VERSION}/composite/sobjects");
    write(&sf, &headers, &body, Op::Create, None, "POST", &path)
}

/// `PATCH /services/data/v62.0/composite/sobjects`.
async fn update(State(sf): State<Arc<Salesforce>>, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/services/data/{VERSION}/composite/sobjects");
    write(&sf, &headers, &body, Op::Update, None, "PATCH", &path)
}

/// `PATCH /services/data/v62.0/composite/sobjects/<sObject>/<externalIdField>`.
async fn upsert(
    State(sf): State<Arc<Salesforce>>,
    Path((name, field)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/services/data/{VERSION}/composite/sobjects/{name}/{field}");
    let Some(object) = sobject(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    let Some(external) = object.external_id.filter(|f| f.eq_ignore_ascii_case(&field)) else {
        sf.violation("PATCH", &path, "/path/field", "not an external id field of the sObject");
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            &format!(
                "Field name provided, {field} is not an External ID or indexed field for {}",
                object.name
            ),
        );
    };
    write(&sf, &headers, &body, Op::Upsert(external), Some(object), "PATCH", &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soql_shapes_the_connector_sends_parse_and_others_are_malformed() {
        let q = parse_soql("SELECT Id, LastName, SystemModstamp FROM Contact WHERE SystemModstamp >= 2024-05-02T11:16:33Z ORDER BY SystemModstamp, Id").unwrap();
        assert_eq!((q.object.name, q.fields.len(), q.order.len()), ("Contact", 3, 2));
        assert!(matches!(q.filter, Filter::ModifiedSince { inclusive: true, .. }));
        assert!(matches!(
            parse_soql("SELECT Id FROM Account WHERE Id = '001Dn0000000001AAA'")
                .unwrap()
                .filter,
            Filter::Id(_)
        ));
        assert_eq!(parse_soql("SELECT Nope FROM Contact").unwrap_err().0, "INVALID_FIELD");
        assert_eq!(parse_soql("SELECT Id FROM Widget__c").unwrap_err().0, "INVALID_TYPE");
        assert_eq!(
            parse_soql("SELECT Id FROM Contact WHERE Name LIKE 'x%'").unwrap_err().0,
            "MALFORMED_QUERY"
        );
    }

    #[test]
    fn salesforce_times_round_trip_with_and_without_the_offset_colon() {
        let ms = 1_714_648_653_000;
        assert_eq!(sf_time(ms), "2024-05-02T11:17:33.000+0000");
        assert_eq!(parse_time(&sf_time(ms)), Some(ms));
        assert_eq!(parse_time("2024-05-02T13:17:33+02:00"), Some(ms));
    }
}
