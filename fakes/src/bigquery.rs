//! Fake BigQuery API v2 (jobs.query, jobs.getQueryResults, tabledata.insertAll) and Google's
//! OAuth token endpoint for service accounts.
//!
//! API traffic is checked against `bigquery/openapi.yaml` from the specs folder (APIs-guru's
//! conversion of Google's Discovery document). Behaviour follows cloud.google.com/bigquery/docs
//! (REST reference: `jobs.query`, `jobs.getQueryResults`, `tabledata.insertAll`; "Streaming
//! data into BigQuery") and developers.google.com/identity/protocols/oauth2/service-account
//! ("Preparing to make an authorized API call"):
//!
//! * Token server (separate, unchecked: the spec does not describe it): `POST /token` with
//!   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and `assertion`, an RS256 JWT
//!   signed by the service account's key: `iss` its email, `scope` (space-separated) naming
//!   the BigQuery scope, `aud` the token URL, `iat`, `exp` at most an hour later. Answers
//!   `{"access_token", "expires_in": 3599, "token_type": "Bearer"}`, or 400
//!   `{"error": "invalid_grant", "error_description": ...}`.
//! * `POST /projects/{p}/queries` runs the connector's statements (it is not a SQL engine):
//!   `SELECT 1`, and the rows of a table (`SELECT * REPLACE (FORMAT_TIMESTAMP(...) AS
//!   updated_at) FROM \`dataset.table\``, all, `WHERE updated_at >= @since` or `WHERE id =
//!   @id`, `ORDER BY updated_at, id`) with named query parameters. Answers a QueryResponse:
//!   `schema`, `rows` as `{"f": [{"v": "..."}]}` (every scalar a string), `totalRows`,
//!   `jobReference`, `jobComplete: true`, `pageToken` when more than `maxResults` rows remain.
//!   A query that runs longer than `timeoutMs` answers only `jobReference` and `jobComplete:
//!   false` (no `rows`, `schema` or `totalRows`); `jobs.getQueryResults` then answers the same
//!   until it is done. The fake's queries stay running for `incomplete_answers` answers
//!   (default 2: the `jobs.query` answer and the first `getQueryResults`).
//!   `GET /projects/{p}/queries/{jobId}?pageToken=` pages on (GetQueryResultsResponse, schema
//!   included). An unknown table is 404, a bad query 400, in Google's error shape
//!   `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`.
//! * `POST .../tables/{t}/insertAll` {rows: [{insertId, json}], skipInvalidRows}: a row with a
//!   field the table lacks or without a REQUIRED field is refused (`insertErrors: [{index,
//!   errors: [{reason: "invalid", location, message}]}]`); without `skipInvalidRows` every other
//!   row is refused too (`reason: "stopped"`) and nothing is inserted. A repeated `insertId`
//!   is dropped (best-effort de-duplication).

// Request checks return the response the fake refuses with, built once per refused request:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::timestamp::{iso_ms, now_ms};

/// The spec file, relative to the specs folder.
pub const SPEC_FILE: &str = "bigquery/openapi.yaml";
/// Where the API lives on the server, as Google's (`https://bigquery.googleapis.com/bigquery/v2`).
pub const API_PATH: &str = "/bigquery/v2";
pub const PROJECT: &str = "acme-analytics";
pub const DATASET: &str = "sales";
/// The seeded table and the landing table (`DATASET`.`...`).
pub const TABLE: &str = "orders";
pub const LANDING_TABLE: &str = "charges";
pub const CLIENT_EMAIL: &str = "switchyard@acme-analytics.iam.gserviceaccount.com";
pub const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

const SELECT_PREFIX: &str =
    "SELECT * REPLACE (FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E3SZ', updated_at) AS updated_at) FROM `";

/// The spec check the fake runs.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec![SPEC_FILE.into()],
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct BigQueryConfig {
    /// Rows seeded in [`TABLE`].
    pub rows: usize,
    /// The service account's public key (PEM `BEGIN PUBLIC KEY`).
    pub public_key_pem: String,
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
    /// How many answers about a query say `jobComplete: false` before it is done (the
    /// `jobs.query` answer counts as the first).
    pub incomplete_answers: u32,
}

impl BigQueryConfig {
    pub fn new(public_key_pem: impl Into<String>) -> Self {
        Self {
            rows: 0,
            public_key_pem: public_key_pem.into(),
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
            incomplete_answers: 2,
        }
    }
}

#[derive(Clone)]
struct Field {
    name: &'static str,
    kind: &'static str,
    required: bool,
}

struct Table {
    fields: Vec<Field>,
    rows: Vec<Map<String, Value>>,
    insert_ids: Vec<String>,
}

/// A query's remaining rows, by job id.
struct Job {
    table: String,
    rows: Vec<Value>,
    page_size: usize,
    /// Issued page tokens -> offset.
    tokens: BTreeMap<String, usize>,
    /// Answers left that say the query is still running.
    running: u32,
}

/// The fake project.
pub struct BigQuery {
    tables: Mutex<BTreeMap<String, Table>>,
    jobs: Mutex<BTreeMap<String, Job>>,
    tokens: Mutex<Vec<String>>,
    next: Mutex<u64>,
    public_key_pem: String,
    /// The token server's URL, the assertion's expected `aud`.
    token_url: Mutex<String>,
    incomplete_answers: u32,
    /// `jobs.getQueryResults` requests answered while their job was still running.
    polls: Mutex<u64>,
}

/// Both servers: the API and Google's token endpoint.
pub struct BigQueryServers {
    pub api: FakeHandle<BigQuery>,
    pub oauth: FakeHandle<Arc<BigQuery>>,
}

impl BigQueryServers {
    /// The API's base URL (`http://127.0.0.1:{port}/bigquery/v2`).
    pub fn api_url(&self) -> String {
        format!("{}{API_PATH}", self.api.base_url)
    }

    /// The token endpoint (`http://127.0.0.1:{port}/token`).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.oauth.base_url)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn field(name: &'static str, kind: &'static str, required: bool) -> Field {
    Field { name, kind, required }
}

/// Starts both servers on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: BigQueryConfig) -> BigQueryServers {
    let state = Arc::new(BigQuery {
        tables: Mutex::new(BTreeMap::new()),
        jobs: Mutex::new(BTreeMap::new()),
        tokens: Mutex::new(Vec::new()),
        next: Mutex::new(0),
        public_key_pem: config.public_key_pem,
        token_url: Mutex::new(String::new()),
        incomplete_answers: config.incomplete_answers,
        polls: Mutex::new(0),
    });
    state.seed(config.rows);
    let routes = state.clone();
    let api = server::expect_started(
        "bigquery",
        server::spawn(
            Spec {
                name: "bigquery",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                let api = Router::new()
                    .route("/projects/{project}/queries", post(query))
                    .route("/projects/{project}/queries/{job}", get(query_results))
                    .route(
                        "/projects/{project}/datasets/{dataset}/tables/{table}/insertAll",
                        post(insert_all),
                    )
                    .with_state(routes);
                Router::new().nest(API_PATH, api)
            },
        ),
    );
    let token_state = state.clone();
    let oauth = server::expect_started(
        "google-oauth",
        server::spawn(
            Spec {
                name: "google-oauth",
                port: 0,
                state: Arc::new(state.clone()),
                faults: FaultConfig::default(),
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |base| {
                *lock(&token_state.token_url) = format!("{base}/token");
                Router::new().route("/token", post(token)).with_state(token_state)
            },
        ),
    );
    BigQueryServers { api, oauth }
}

impl BigQuery {
    fn seed(&self, rows: usize) {
        let start = now_ms() - 3_600_000;
        let mut orders = Table {
            fields: vec![
                field("id", "STRING", true),
                field("status", "STRING", false),
                field("amount", "NUMERIC", false),
                field("updated_at", "TIMESTAMP", false),
            ],
            rows: Vec::new(),
            insert_ids: Vec::new(),
        };
        for n in 1..=rows {
            let mut row = Map::new();
            row.insert("id".into(), json!(format!("ord_{n:05}")));
            row.insert("status".into(), json!(if n % 4 == 0 { "refunded" } else { "paid" }));
            row.insert("amount".into(), json!(format!("{}.5", n * 3)));
            row.insert("updated_at".into(), json!(iso_ms(start + n as i64 * 1000)));
            orders.rows.push(row);
        }
        let charges = Table {
            fields: vec![
                field("id", "STRING", true),
                field("amount", "INTEGER", false),
                field("currency", "STRING", false),
                field("status", "STRING", false),
                field("customer", "STRING", false),
                field("description", "STRING", false),
                field("created", "TIMESTAMP", false),
            ],
            rows: Vec::new(),
            insert_ids: Vec::new(),
        };
        let mut tables = lock(&self.tables);
        tables.insert(format!("{DATASET}.{TABLE}"), orders);
        tables.insert(format!("{DATASET}.{LANDING_TABLE}"), charges);
    }

    /// A row by id (`dataset.table`), as the connector reads it.
    pub fn row(&self, table: &str, id: &str) -> Option<Value> {
        lock(&self.tables)
            .get(table)?
            .rows
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| Value::Object(r.clone()))
    }

    /// Rows in a table (`dataset.table`).
    pub fn count(&self, table: &str) -> usize {
        lock(&self.tables).get(table).map_or(0, |t| t.rows.len())
    }

    /// Changes an order's status, moving its `updated_at` to now.
    pub fn update(&self, id: &str, status: &str) -> Option<Value> {
        let mut tables = lock(&self.tables);
        let row = tables
            .get_mut(&format!("{DATASET}.{TABLE}"))?
            .rows
            .iter_mut()
            .find(|r| r["id"] == id)?;
        row.insert("status".into(), json!(status));
        row.insert("updated_at".into(), json!(iso_ms(now_ms())));
        Some(Value::Object(row.clone()))
    }

    /// How many `jobs.getQueryResults` requests found their query still running.
    pub fn polls(&self) -> u64 {
        *lock(&self.polls)
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut next = lock(&self.next);
        *next += 1;
        format!("{prefix}{:016x}", *next * 7_919)
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if lock(&self.tokens).iter().any(|t| t == token) {
            return Ok(());
        }
        Err(google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            "authError",
            "UNAUTHENTICATED",
        ))
    }
}

fn google_error(status: StatusCode, message: &str, reason: &str, code: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}], "status": code}})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            google_error(status, "Quota exceeded.", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
        }
        _ => google_error(status, "Backend error.", "backendError", "INTERNAL"),
    }
}

/// `POST /token`: the JWT bearer grant of a service account.
async fn token(State(bq): State<Arc<BigQuery>>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let refuse = |description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": description})),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some(switchyard::connector::auth::JWT_BEARER_GRANT) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})),
        )
            .into_response();
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(bq.public_key_pem.as_bytes()) else {
        return refuse("Invalid JWT Signature.");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[lock(&bq.token_url).clone()]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = match jsonwebtoken::decode::<Value>(&assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(_) => return refuse("Invalid JWT Signature."),
    };
    let iat = claims["iat"].as_i64().unwrap_or(0);
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if iat == 0 || exp - iat > 3600 {
        return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes
        .split(' ')
        .any(|s| s == SCOPE || s == "https://www.googleapis.com/auth/cloud-platform")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_scope", "error_description": "Invalid OAuth scope or ID token audience provided."})),
        )
            .into_response();
    }
    let access = bq.next_id("ya29.c.fake-");
    lock(&bq.tokens).push(access.clone());
    Json(json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

fn schema_of(fields: &[Field]) -> Value {
    json!({"fields": fields.iter().map(|f| json!({"name": f.name, "type": f.kind,
        "mode": if f.required { "REQUIRED" } else { "NULLABLE" }})).collect::<Vec<_>>()})
}

fn cell(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => json!({"v": null}),
        Some(Value::String(s)) => json!({"v": s}),
        Some(other) => json!({"v": other.to_string()}),
    }
}

fn param(body: &Value, name: &str) -> Option<String> {
    body["queryParameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?
        .pointer("/parameterValue/value")?
        .as_str()
        .map(str::to_owned)
}

/// `POST /projects/{project}/queries`.
async fn query(
    State(bq): State<Arc<BigQuery>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = bq.authorized(&headers) {
        return r;
    }
    let invalid = |message: &str| google_error(StatusCode::BAD_REQUEST, message, "invalidQuery", "INVALID_ARGUMENT");
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("Invalid JSON payload received.");
    };
    if project != PROJECT {
        return google_error(
            StatusCode::NOT_FOUND,
            &format!("Not found: Project {project}"),
            "notFound",
            "NOT_FOUND",
        );
    }
    if body["useLegacySql"] != json!(false) {
        return invalid("Legacy SQL is not what the fake runs: set useLegacySql to false.");
    }
    let sql = body["query"].as_str().unwrap_or_default().trim();
    let page_size = body["maxResults"].as_u64().unwrap_or(1000).max(1) as usize;
    let (table, fields, rows) = if sql == "SELECT 1" {
        (
            String::new(),
            vec![field("f0_", "INTEGER", false)],
            vec![json!({"f": [{"v": "1"}]})],
        )
    } else if let Some(rest) = sql.strip_prefix(SELECT_PREFIX) {
        let Some((table, clause)) = rest.split_once('`') else {
            return invalid("Syntax error: Unclosed identifier literal");
        };
        let tables = lock(&bq.tables);
        let Some(t) = tables.get(table) else {
            return google_error(
                StatusCode::NOT_FOUND,
                &format!("Not found: Table {PROJECT}:{table} was not found in location US"),
                "notFound",
                "NOT_FOUND",
            );
        };
        let mut selected: Vec<&Map<String, Value>> = match clause.trim() {
            "ORDER BY updated_at, id" => t.rows.iter().collect(),
            "WHERE updated_at >= @since ORDER BY updated_at, id" => {
                let Some(since) = param(&body, "since").and_then(|s| crate::timestamp::parse_ms(&s)) else {
                    return invalid("Query parameter 'since' not found or not a TIMESTAMP");
                };
                t.rows
                    .iter()
                    .filter(|r| {
                        r["updated_at"]
                            .as_str()
                            .and_then(crate::timestamp::parse_ms)
                            .unwrap_or(0)
                            >= since
                    })
                    .collect()
            }
            "WHERE id = @id" => {
                let Some(id) = param(&body, "id") else {
                    return invalid("Query parameter 'id' not found");
                };
                t.rows.iter().filter(|r| r["id"] == id).collect()
            }
            _ => return invalid("Syntax error: the fake runs only the connector's queries"),
        };
        selected.sort_by(|a, b| {
            (a["updated_at"].as_str(), a["id"].as_str()).cmp(&(b["updated_at"].as_str(), b["id"].as_str()))
        });
        let rows = selected
            .iter()
            .map(|r| json!({"f": t.fields.iter().map(|f| cell(r.get(f.name))).collect::<Vec<_>>()}))
            .collect();
        (table.to_owned(), t.fields.clone(), rows)
    } else {
        return invalid("Syntax error: the fake runs only the connector's queries");
    };
    let job_id = bq.next_id("job_");
    let total = rows.len();
    let mut job = Job {
        table,
        rows,
        page_size,
        tokens: BTreeMap::new(),
        running: bq.incomplete_answers,
    };
    if job.running > 0 {
        job.running -= 1;
        lock(&bq.jobs).insert(job_id.clone(), job);
        return Json(still_running("bigquery#queryResponse", &job_id)).into_response();
    }
    let (page, token) = page_of(&bq, &mut job, 0);
    let mut out = json!({
        "kind": "bigquery#queryResponse",
        "schema": schema_of(&fields),
        "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
        "totalRows": total.to_string(),
        "rows": page,
        "totalBytesProcessed": "0",
        "jobComplete": true,
        "cacheHit": false,
    });
    if let Some(token) = token {
        out["pageToken"] = json!(token);
    }
    if total == 0 {
        out.as_object_mut().map(|o| o.remove("rows"));
    }
    lock(&bq.jobs).insert(job_id, job);
    let _ = fields;
    Json(out).into_response()
}

/// The answer about a query still running: its job, no rows, schema or total.
fn still_running(kind: &str, job_id: &str) -> Value {
    json!({
        "kind": kind,
        "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
        "jobComplete": false,
    })
}

fn page_of(bq: &BigQuery, job: &mut Job, offset: usize) -> (Vec<Value>, Option<String>) {
    let end = (offset + job.page_size).min(job.rows.len());
    let page = job.rows[offset.min(end)..end].to_vec();
    let token = (end < job.rows.len()).then(|| {
        let token = bq.next_id("BH");
        job.tokens.insert(token.clone(), end);
        token
    });
    (page, token)
}

/// `GET /projects/{project}/queries/{job}?pageToken=&maxResults=`.
async fn query_results(
    State(bq): State<Arc<BigQuery>>,
    Path((project, job_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = bq.authorized(&headers) {
        return r;
    }
    let mut jobs = lock(&bq.jobs);
    let Some(job) = jobs.get_mut(&job_id).filter(|_| project == PROJECT) else {
        return google_error(
            StatusCode::NOT_FOUND,
            &format!("Not found: Job {PROJECT}:US.{job_id}"),
            "notFound",
            "NOT_FOUND",
        );
    };
    if let Some(size) = query.get("maxResults").and_then(|s| s.parse::<usize>().ok()) {
        job.page_size = size.max(1);
    }
    if job.running > 0 {
        job.running -= 1;
        *lock(&bq.polls) += 1;
        let mut out = still_running("bigquery#getQueryResultsResponse", &job_id);
        out["etag"] = json!(format!("\"{job_id}-running\""));
        return Json(out).into_response();
    }
    let offset = match query.get("pageToken") {
        None => 0,
        Some(token) => match job.tokens.get(token) {
            Some(offset) => *offset,
            None => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid page token.",
                    "invalid",
                    "INVALID_ARGUMENT",
                )
            }
        },
    };
    let fields = lock(&bq.tables)
        .get(&job.table)
        .map_or_else(|| vec![field("f0_", "INTEGER", false)], |t| t.fields.clone());
    let total = job.rows.len();
    let (page, token) = page_of(&bq, job, offset);
    let mut out = json!({
        "kind": "bigquery#getQueryResultsResponse",
        "etag": format!("\"{job_id}-{offset}\""),
        "schema": schema_of(&fields),
        "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
        "totalRows": total.to_string(),
        "rows": page,
        "totalBytesProcessed": "0",
        "jobComplete": true,
        "cacheHit": false,
    });
    if let Some(token) = token {
        out["pageToken"] = json!(token);
    }
    Json(out).into_response()
}

/// `POST /projects/{project}/datasets/{dataset}/tables/{table}/insertAll`.
async fn insert_all(
    State(bq): State<Arc<BigQuery>>,
    Path((project, dataset, table)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = bq.authorized(&headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received.",
            "invalid",
            "INVALID_ARGUMENT",
        );
    };
    let mut tables = lock(&bq.tables);
    let Some(t) = tables
        .get_mut(&format!("{dataset}.{table}"))
        .filter(|_| project == PROJECT)
    else {
        return google_error(
            StatusCode::NOT_FOUND,
            &format!("Not found: Table {project}:{dataset}.{table}"),
            "notFound",
            "NOT_FOUND",
        );
    };
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    let skip_invalid = body["skipInvalidRows"] == json!(true);
    let ignore_unknown = body["ignoreUnknownValues"] == json!(true);
    let mut errors: Vec<(usize, Value)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let Some(data) = row["json"].as_object() else {
            errors.push((index, json!({"reason": "invalid", "location": "json", "debugInfo": "", "message": "Row is not a JSON object."})));
            continue;
        };
        if let Some(unknown) = data.keys().find(|k| !t.fields.iter().any(|f| f.name == k.as_str())) {
            if !ignore_unknown {
                errors.push((
                    index,
                    json!({"reason": "invalid", "location": unknown, "debugInfo": "",
                    "message": format!("no such field: {unknown}.")}),
                ));
                continue;
            }
        }
        if let Some(missing) = t
            .fields
            .iter()
            .find(|f| f.required && data.get(f.name).is_none_or(Value::is_null))
        {
            errors.push((
                index,
                json!({"reason": "invalid", "location": missing.name, "debugInfo": "",
                "message": format!("Missing required field: {}.", missing.name)}),
            ));
        }
    }
    let mut insert_errors: Vec<Value> = errors
        .iter()
        .map(|(index, e)| json!({"index": index, "errors": [e]}))
        .collect();
    if errors.is_empty() || skip_invalid {
        for (index, row) in rows.iter().enumerate() {
            if errors.iter().any(|(i, _)| *i == index) {
                continue;
            }
            if let Some(id) = row["insertId"].as_str() {
                if t.insert_ids.iter().any(|x| x == id) {
                    continue;
                }
                t.insert_ids.push(id.to_owned());
            }
            let mut data = row["json"].as_object().cloned().unwrap_or_default();
            data.retain(|k, _| t.fields.iter().any(|f| f.name == k.as_str()));
            t.rows.push(data);
        }
    } else {
        for index in 0..rows.len() {
            if !errors.iter().any(|(i, _)| *i == index) {
                insert_errors.push(json!({"index": index, "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]}));
            }
        }
    }
    let mut out = json!({"kind": "bigquery#tableDataInsertAllResponse"});
    if !insert_errors.is_empty() {
        out["insertErrors"] = json!(insert_errors);
    }
    Json(out).into_response()
}
