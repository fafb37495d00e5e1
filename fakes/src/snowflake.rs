//! Fake Snowflake SQL API v2: statements over two tables, key-pair JWT auth, result
//! partitions and asynchronous execution.
//!
//! Every request and response is checked against `snowflake/sqlapi.yaml` from the specs folder
//! (Snowflake's own description). Behaviour follows docs.snowflake.com/developer-guide/sql-api:
//!
//! * Auth: `Authorization: Bearer <JWT>` with `X-Snowflake-Authorization-Token-Type:
//!   KEYPAIR_JWT`; the JWT is RS256, signed by the key whose public half is registered for
//!   the user; `iss` = `ACCOUNT.USER.SHA256:<base64 SHA-256 of the public key's DER>`, `sub` =
//!   `ACCOUNT.USER`, `exp` at most one hour after `iat`. Anything else is 401
//!   `{"code": "390144", "message": "JWT token is invalid."}`.
//! * `POST /api/v2/statements` runs one statement with `bindings` (`{"1": {"type": "TEXT",
//!   "value": "..."}}`; values are strings, an absent value is NULL). A finished statement
//!   answers 200 with a ResultSet: `resultSetMetaData` (`rowType`, `partitionInfo` listing
//!   every partition) and partition 0's `data` (rows as arrays of strings). A statement that
//!   is still running answers 202 with `statementStatusUrl`; `GET` on it answers 202 until the
//!   statement ends, then as the submission would have.
//! * `GET /api/v2/statements/{handle}?partition=N` returns partition N. Assumed from the
//!   guide ("Retrieving additional partitions"): such a response carries `data` only.
//! * A failed statement is 422 `{code, sqlState, message, statementHandle, createdOn}`:
//!   `NULL result in a non-nullable column` (100072 / 22000), an unknown table (002003 /
//!   42S02), a statement the fake does not run (001003 / 42000: it is not a SQL engine).
//!
//! The statements it runs are the Snowflake connector's: `SELECT 1`; the rows of a table as
//! `OBJECT_INSERT(OBJECT_CONSTRUCT(*), 'UPDATED_AT', TO_VARCHAR(UPDATED_AT, ...), TRUE)` (all,
//! since an UPDATED_AT, or by ID), the table named by `IDENTIFIER(?)`; and `INSERT INTO
//! IDENTIFIER(?) (ID, RECORD) SELECT ?, PARSE_JSON(?)`. An OBJECT column comes back as its JSON
//! text, pretty-printed as Snowflake prints variants.

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
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::timestamp::now_ms;

/// The spec file, relative to the specs folder.
pub const SPEC_FILE: &str = "snowflake/sqlapi.yaml";
/// The account and user the fake knows (uppercase, as in the JWT claims).
pub const ACCOUNT: &str = "MYORG-ACME";
pub const USER: &str = "SWITCHYARD";
/// The seeded source table and the landing table.
pub const TABLE: &str = "ORDERS";
pub const LANDING_TABLE: &str = "RAW_EVENTS";

const SELECT_PREFIX: &str =
    "SELECT OBJECT_INSERT(OBJECT_CONSTRUCT(*), 'UPDATED_AT', TO_VARCHAR(UPDATED_AT, 'YYYY-MM-DD HH24:MI:SS'), TRUE) FROM IDENTIFIER(?)";
const INSERT: &str = "INSERT INTO IDENTIFIER(?) (ID, RECORD) SELECT ?, PARSE_JSON(?)";

/// The spec check the fake runs.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec![SPEC_FILE.into()],
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct SnowflakeConfig {
    /// Rows seeded in [`TABLE`].
    pub rows: usize,
    /// Rows per result partition.
    pub partition_rows: usize,
    /// Status checks a statement stays "running" for (0: every statement answers at once).
    pub pending_polls: u32,
    /// The user's registered public key (PEM `BEGIN PUBLIC KEY`).
    pub public_key_pem: String,
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl SnowflakeConfig {
    pub fn new(public_key_pem: impl Into<String>) -> Self {
        Self {
            rows: 0,
            partition_rows: 100,
            pending_polls: 0,
            public_key_pem: public_key_pem.into(),
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// What a finished statement answers.
#[derive(Clone)]
struct Outcome {
    status: StatusCode,
    body: Value,
    /// Every partition's rows (ResultSets only).
    partitions: Vec<Vec<Value>>,
}

struct Statement {
    polls_left: u32,
    created_on: i64,
    outcome: Outcome,
}

/// The fake account.
pub struct Snowflake {
    tables: Mutex<BTreeMap<String, Vec<Map<String, Value>>>>,
    statements: Mutex<BTreeMap<String, Statement>>,
    next: Mutex<u64>,
    partition_rows: usize,
    pending_polls: u32,
    public_key_pem: String,
    fingerprint: String,
    /// Statements answered 202 at least once.
    deferred: Mutex<u64>,
    /// `http://127.0.0.1:{port}`: status URLs are absolute (the description's `format: uri`).
    base_url: Mutex<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// `SHA256:` and the base64 SHA-256 of a PEM public key's DER, as Snowflake shows it.
pub fn fingerprint(public_key_pem: &str) -> String {
    let body: String = public_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .split_whitespace()
        .collect();
    let der = STANDARD.decode(body).unwrap_or_default();
    format!("SHA256:{}", STANDARD.encode(Sha256::digest(&der)))
}

/// `YYYY-MM-DD HH:MM:SS` of a unix time in milliseconds (UTC).
pub fn ntz(ms: i64) -> String {
    let iso = crate::timestamp::iso_ms(ms);
    iso[..19].replace('T', " ")
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: SnowflakeConfig) -> FakeHandle<Snowflake> {
    let state = Arc::new(Snowflake {
        tables: Mutex::new(BTreeMap::new()),
        statements: Mutex::new(BTreeMap::new()),
        next: Mutex::new(0),
        partition_rows: config.partition_rows.max(1),
        pending_polls: config.pending_polls,
        fingerprint: fingerprint(&config.public_key_pem),
        public_key_pem: config.public_key_pem,
        deferred: Mutex::new(0),
        base_url: Mutex::new(String::new()),
    });
    state.seed(config.rows);
    let routes = state.clone();
    server::expect_started(
        "snowflake",
        server::spawn(
            Spec {
                name: "snowflake",
                port: 0,
                state,
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |base| {
                *lock(&routes.base_url) = base.to_owned();
                Router::new()
                    .route("/api/v2/statements", post(submit))
                    .route("/api/v2/statements/{handle}", get(status))
                    .with_state(routes)
            },
        ),
    )
}

impl Snowflake {
    fn seed(&self, rows: usize) {
        let start = now_ms() - 3_600_000;
        let mut table = Vec::new();
        for n in 1..=rows {
            let mut row = Map::new();
            row.insert("ID".into(), json!(format!("ORD-{n:05}")));
            row.insert("STATUS".into(), json!(if n % 3 == 0 { "shipped" } else { "open" }));
            row.insert("AMOUNT".into(), json!(n as f64 * 12.5));
            row.insert("UPDATED_AT".into(), json!(ntz(start + n as i64 * 1000)));
            table.push(row);
        }
        let mut tables = lock(&self.tables);
        tables.insert(TABLE.into(), table);
        tables.insert(LANDING_TABLE.into(), Vec::new());
    }

    /// A row of a table by ID, as the connector reads it (UPDATED_AT as text).
    pub fn row(&self, table: &str, id: &str) -> Option<Value> {
        lock(&self.tables)
            .get(table)?
            .iter()
            .find(|r| r["ID"] == id)
            .map(|r| Value::Object(r.clone()))
    }

    /// Rows in a table.
    pub fn count(&self, table: &str) -> usize {
        lock(&self.tables).get(table).map_or(0, Vec::len)
    }

    /// Changes a row's STATUS as a user would, moving its UPDATED_AT to now.
    pub fn update(&self, id: &str, status: &str) -> Option<Value> {
        let mut tables = lock(&self.tables);
        let row = tables.get_mut(TABLE)?.iter_mut().find(|r| r["ID"] == id)?;
        row.insert("STATUS".into(), json!(status));
        row.insert("UPDATED_AT".into(), json!(ntz(now_ms())));
        Some(Value::Object(row.clone()))
    }

    /// How many statements answered 202 before finishing.
    pub fn deferred(&self) -> u64 {
        *lock(&self.deferred)
    }

    fn status_url(&self, handle: &str) -> String {
        format!("{}/api/v2/statements/{handle}", lock(&self.base_url))
    }

    fn new_handle(&self) -> String {
        let mut next = lock(&self.next);
        *next += 1;
        format!("01b8c3a2-0000-4d5e-8000-{:012x}", *next)
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), Response> {
        let refuse = |message: &str| {
            Err((
                StatusCode::UNAUTHORIZED,
                Json(json!({"code": "390144", "message": message})),
            )
                .into_response())
        };
        if headers
            .get("x-snowflake-authorization-token-type")
            .and_then(|v| v.to_str().ok())
            != Some("KEYPAIR_JWT")
        {
            return refuse("JWT token is invalid.");
        }
        let Some(token) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return refuse("JWT token is invalid.");
        };
        let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(self.public_key_pem.as_bytes()) else {
            return refuse("JWT token is invalid.");
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.set_issuer(&[format!("{ACCOUNT}.{USER}.{}", self.fingerprint)]);
        let Ok(data) = jsonwebtoken::decode::<Value>(token, &key, &validation) else {
            return refuse("JWT token is invalid.");
        };
        let claims = data.claims;
        let iat = claims["iat"].as_i64().unwrap_or(0);
        let exp = claims["exp"].as_i64().unwrap_or(0);
        if claims["sub"] != format!("{ACCOUNT}.{USER}") || iat == 0 || exp - iat > 3600 {
            return refuse("JWT token is invalid.");
        }
        Ok(())
    }

    /// Runs a statement; the outcome its submission (or last status check) answers.
    fn run(&self, handle: &str, created_on: i64, body: &Value) -> Outcome {
        let failure = |code: &str, state: &str, message: &str| Outcome {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({"code": code, "sqlState": state, "message": message,
                "statementHandle": handle, "createdOn": created_on}),
            partitions: Vec::new(),
        };
        let statement = body["statement"].as_str().unwrap_or_default().trim();
        let mut binds: Vec<Option<String>> = Vec::new();
        if let Some(map) = body["bindings"].as_object() {
            for n in 1..=map.len() {
                let Some(b) = map.get(&n.to_string()) else {
                    return failure(
                        "002049",
                        "42601",
                        "SQL compilation error: bind variables are not numbered 1 to n",
                    );
                };
                match b.get("value") {
                    None | Some(Value::Null) => binds.push(None),
                    Some(Value::String(s)) => binds.push(Some(s.clone())),
                    Some(_) => return failure("002014", "22000", "Bind variable value must be a string"),
                }
            }
        }
        let bind = |i: usize| binds.get(i).cloned().flatten();
        if statement == "SELECT 1" {
            return self.result(handle, created_on, "1", "FIXED", vec![json!(["1"])]);
        }
        if statement == INSERT {
            let table = bind(0).unwrap_or_default();
            let mut tables = lock(&self.tables);
            let Some(rows) = tables.get_mut(&table) else {
                return failure(
                    "002003",
                    "42S02",
                    &format!("SQL compilation error:\nObject '{table}' does not exist or not authorized."),
                );
            };
            let Some(id) = bind(1) else {
                return failure("100072", "22000", "NULL result in a non-nullable column");
            };
            let record = match bind(2).map(|t| serde_json::from_str::<Value>(&t)) {
                Some(Ok(v)) => v,
                _ => return failure("100069", "22P02", "Error parsing JSON: document is not valid JSON"),
            };
            let mut row = Map::new();
            row.insert("ID".into(), json!(id));
            row.insert("RECORD".into(), record);
            rows.push(row);
            drop(tables);
            let mut outcome = self.result(
                handle,
                created_on,
                "number of rows inserted",
                "FIXED",
                vec![json!(["1"])],
            );
            outcome.body["stats"] = json!({"numRowsInserted": 1});
            return outcome;
        }
        if let Some(rest) = statement.strip_prefix(SELECT_PREFIX) {
            let table = bind(0).unwrap_or_default();
            let tables = lock(&self.tables);
            let Some(rows) = tables.get(&table) else {
                return failure(
                    "002003",
                    "42S02",
                    &format!("SQL compilation error:\nObject '{table}' does not exist or not authorized."),
                );
            };
            let mut selected: Vec<&Map<String, Value>> = match rest.trim() {
                "ORDER BY UPDATED_AT, ID" => rows.iter().collect(),
                "WHERE UPDATED_AT >= TO_TIMESTAMP_NTZ(?) ORDER BY UPDATED_AT, ID" => {
                    let Some(since) = bind(1) else {
                        return failure("100035", "22007", "Timestamp '' is not recognized");
                    };
                    // TO_TIMESTAMP_NTZ reads `YYYY-MM-DD HH24:MI:SS` and its ISO form with `T`.
                    let since = since.replacen('T', " ", 1);
                    if since.len() != 19 {
                        return failure("100035", "22007", &format!("Timestamp '{since}' is not recognized"));
                    }
                    rows.iter()
                        .filter(|r| r["UPDATED_AT"].as_str().unwrap_or_default() >= since.as_str())
                        .collect()
                }
                "WHERE ID = ?" => {
                    let id = bind(1).unwrap_or_default();
                    rows.iter().filter(|r| r["ID"] == id).collect()
                }
                _ => {
                    return failure(
                        "001003",
                        "42000",
                        "SQL compilation error: the fake runs only the connector's statements",
                    )
                }
            };
            selected.sort_by(|a, b| {
                (a["UPDATED_AT"].as_str(), a["ID"].as_str()).cmp(&(b["UPDATED_AT"].as_str(), b["ID"].as_str()))
            });
            let data: Vec<Value> = selected
                .into_iter()
                .map(|r| json!([serde_json::to_string_pretty(r).expect("JSON values print")]))
                .collect();
            drop(tables);
            return self.result(handle, created_on, "OBJECT_INSERT(OBJECT_CONSTRUCT(*))", "OBJECT", data);
        }
        failure(
            "001003",
            "42000",
            "SQL compilation error: the fake runs only the connector's statements",
        )
    }

    /// A ResultSet of one column, split in partitions.
    fn result(&self, handle: &str, created_on: i64, column: &str, kind: &str, data: Vec<Value>) -> Outcome {
        let partitions: Vec<Vec<Value>> = if data.is_empty() {
            vec![Vec::new()]
        } else {
            data.chunks(self.partition_rows).map(<[Value]>::to_vec).collect()
        };
        let info: Vec<Value> = partitions
            .iter()
            .map(|p| json!({"rowCount": p.len(), "uncompressedSize": serde_json::to_vec(p).map_or(0, |b| b.len())}))
            .collect();
        let body = json!({
            "code": "090001",
            "sqlState": "00000",
            "message": "Statement executed successfully.",
            "statementHandle": handle,
            "createdOn": created_on,
            "statementStatusUrl": self.status_url(handle),
            "resultSetMetaData": {
                "numRows": data.len(),
                "format": "jsonv2",
                "partitionInfo": info,
                "rowType": [{"name": column, "type": kind.to_lowercase(), "length": 0, "precision": 0,
                    "scale": 0, "nullable": true}],
            },
            "data": partitions[0],
        });
        Outcome {
            status: StatusCode::OK,
            body,
            partitions,
        }
    }
}

fn fault(status: StatusCode) -> Response {
    (
        status,
        Json(json!({"code": "000000", "message": format!("HTTP {}", status.as_u16())})),
    )
        .into_response()
}

fn running(sf: &Snowflake, handle: &str, created_on: i64) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "code": "333334",
            "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
            "statementHandle": handle,
            "createdOn": created_on,
            "statementStatusUrl": sf.status_url(handle),
        })),
    )
        .into_response()
}

/// `POST /api/v2/statements`.
async fn submit(State(sf): State<Arc<Snowflake>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = sf.authorized(&headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": "390142", "message": "Incoming request does not contain a valid payload."})),
        )
            .into_response();
    };
    let handle = sf.new_handle();
    let created_on = now_ms();
    let outcome = sf.run(&handle, created_on, &body);
    if sf.pending_polls > 0 {
        *lock(&sf.deferred) += 1;
        lock(&sf.statements).insert(
            handle.clone(),
            Statement {
                polls_left: sf.pending_polls - 1,
                created_on,
                outcome,
            },
        );
        return running(&sf, &handle, created_on);
    }
    let response = (outcome.status, Json(outcome.body.clone())).into_response();
    lock(&sf.statements).insert(
        handle,
        Statement {
            polls_left: 0,
            created_on,
            outcome,
        },
    );
    response
}

/// `GET /api/v2/statements/{handle}`: the status, then partition `partition` (default 0).
async fn status(
    State(sf): State<Arc<Snowflake>>,
    Path(handle): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = sf.authorized(&headers) {
        return r;
    }
    let mut statements = lock(&sf.statements);
    let Some(statement) = statements.get_mut(&handle) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"code": "333333", "message": "Statement handle not found.", "statementHandle": handle})),
        )
            .into_response();
    };
    if statement.polls_left > 0 {
        statement.polls_left -= 1;
        let created_on = statement.created_on;
        drop(statements);
        return running(&sf, &handle, created_on);
    }
    let outcome = &statement.outcome;
    let partition: usize = match query.get("partition").map(|p| p.parse()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": "390143", "message": "Invalid partition parameter."})),
            )
                .into_response()
        }
    };
    if outcome.status != StatusCode::OK || partition == 0 {
        return (outcome.status, Json(outcome.body.clone())).into_response();
    }
    match outcome.partitions.get(partition) {
        Some(rows) => Json(json!({"data": rows})).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"code": "390143", "message": format!("Partition {partition} does not exist."),
                "statementHandle": handle}),
            ),
        )
            .into_response(),
    }
}
