//! Fake Power BI REST API (push datasets, dataset refreshes) and the Entra ID token endpoint.
//!
//! API traffic is checked against `power-bi/swagger.json` from the specs folder (Microsoft's
//! Power BI SDK description). Behaviour follows learn.microsoft.com/rest/api/power-bi:
//!
//! * Token server (separate, unchecked: not in the spec): `POST /{tenant}/oauth2/v2.0/token`
//!   with the client-credentials grant, `client_id`, `client_secret` and the scope
//!   `https://analysis.windows.net/powerbi/api/.default`; answers `{"token_type": "Bearer",
//!   "expires_in": 3599, "access_token"}` or 400/401 `{"error": "invalid_client", ...}`.
//! * `GET /v1.0/myorg/groups/{group}/datasets/{dataset}`: the dataset.
//! * `POST .../datasets/{dataset}/tables/{table}/rows` {rows}: all or nothing. A row with a
//!   column the table lacks, or a value of the wrong type, refuses the request with 400
//!   `{"error": {"code": "InvalidRequest", "message": ...}}` (the message wording is assumed).
//!   More than 10,000 rows is refused too. 200 with no body when the rows are added.
//! * `POST .../datasets/{dataset}/refreshes`: 202 with no body; 404
//!   `{"error": {"code": "ItemNotFound", ...}}` for a dataset the workspace does not have.

// Request checks return the response the fake refuses with, built once per refused request:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;

pub const SPEC_FILE: &str = "power-bi/swagger.json";
pub const TENANT: &str = "0b1c5e77-3f0a-4c1e-9d51-6a4f2e8b7c10";
pub const GROUP: &str = "f089354e-8366-4e18-aea3-4cb4a3a50b48";
pub const PUSH_DATASET: &str = "cfafbeb1-8037-4d0c-896e-a46fb27ff229";
pub const REPORT_DATASET: &str = "a8d7d1f4-61d1-4fd6-8a8a-43b9c7f0e1a2";
pub const TABLE: &str = "Charges";
pub const CLIENT_ID: &str = "6f1d2b7e-90c4-4e64-b0a1-2f9e6c3d8a55";
pub const CLIENT_SECRET: &str = "pbi~fake-client-secret-Qx8vR2nT5wZ";
pub const SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";

/// The push table's columns and their Power BI data types.
pub const COLUMNS: &[(&str, &str)] = &[
    ("id", "String"),
    ("amount", "Int64"),
    ("currency", "String"),
    ("paid", "Boolean"),
    ("created", "Datetime"),
];

/// The description declares only each operation's success; Power BI answers refusals with
/// `{"error": {"code", "message"}}` (learn.microsoft.com/rest/api/power-bi, "Power BI REST
/// API error codes"; "Push Datasets - Datasets PostRowsInGroup": 400 for rows that do not fit
/// the table; "Datasets - Refresh Dataset In Group": 404 for an unknown dataset). Those
/// responses are added, each with its reason.
const SPEC_PATCHES: &str = r#"
- files: [power-bi/swagger.json]
  pointer: "/paths/~1v1.0~1myorg~1groups~1{groupId}~1datasets~1{datasetId}~1tables~1{tableName}~1rows/post/responses/400"
  reason: Rows that do not fit the table's columns refuse the request (PostRowsInGroup); the description lists only 200.
  value: {description: Bad request, schema: {type: object, required: [error], properties: {error: {type: object, required: [code, message], properties: {code: {type: string}, message: {type: string}}}}}}
- files: [power-bi/swagger.json]
  pointer: "/paths/~1v1.0~1myorg~1groups~1{groupId}~1datasets~1{datasetId}~1refreshes/post/responses/404"
  reason: A dataset the workspace does not have is 404 ItemNotFound (Power BI REST API error codes); the description lists only 202.
  value: {description: Not found, schema: {type: object, required: [error], properties: {error: {type: object, required: [code, message], properties: {code: {type: string}, message: {type: string}}}}}}
"#;

pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec![SPEC_FILE.into()],
        patches: serde_yaml::from_str(SPEC_PATCHES).expect("the Power BI spec patches parse"),
        ..SpecCheck::default()
    }
}

#[derive(Debug, Clone)]
pub struct PowerBiConfig {
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl Default for PowerBiConfig {
    fn default() -> Self {
        Self {
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// The fake workspace.
pub struct PowerBi {
    rows: Mutex<Vec<Value>>,
    refreshes: Mutex<BTreeMap<String, u32>>,
    tokens: Mutex<Vec<String>>,
}

pub struct PowerBiServers {
    pub api: FakeHandle<Arc<PowerBi>>,
    pub login: FakeHandle<Arc<PowerBi>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl PowerBi {
    /// The rows pushed so far.
    pub fn rows(&self) -> Vec<Value> {
        lock(&self.rows).clone()
    }

    /// Refreshes started for a dataset.
    pub fn refreshes(&self, dataset: &str) -> u32 {
        lock(&self.refreshes).get(dataset).copied().unwrap_or(0)
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if lock(&self.tokens).iter().any(|t| t == token) {
            Ok(())
        } else {
            Err((
                StatusCode::UNAUTHORIZED,
                [("WWW-Authenticate", "Bearer authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"")],
                Json(json!({"error": {"code": "TokenExpired", "message": "Access token has expired, resubmit with a new access token"}})),
            )
                .into_response())
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

fn fault(status: StatusCode) -> Response {
    error(status, "ServiceError", "The service is unavailable")
}

/// Starts the API and the token server on free loopback ports.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: PowerBiConfig) -> PowerBiServers {
    let state = Arc::new(PowerBi {
        rows: Mutex::new(Vec::new()),
        refreshes: Mutex::new(BTreeMap::new()),
        tokens: Mutex::new(Vec::new()),
    });
    let routes = state.clone();
    let api = server::expect_started(
        "power-bi",
        server::spawn(
            Spec {
                name: "power-bi",
                port: 0,
                state: Arc::new(state.clone()),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/v1.0/myorg/groups/{group}/datasets/{dataset}", get(dataset))
                    .route(
                        "/v1.0/myorg/groups/{group}/datasets/{dataset}/tables/{table}/rows",
                        post(push_rows),
                    )
                    .route("/v1.0/myorg/groups/{group}/datasets/{dataset}/refreshes", post(refresh))
                    .with_state(routes)
            },
        ),
    );
    let token_state = state.clone();
    let login = server::expect_started(
        "entra-id",
        server::spawn(
            Spec {
                name: "entra-id",
                port: 0,
                state: Arc::new(state),
                faults: FaultConfig::default(),
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/{tenant}/oauth2/v2.0/token", post(token))
                    .with_state(token_state)
            },
        ),
    );
    PowerBiServers { api, login }
}

async fn token(State(pbi): State<Arc<PowerBi>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let refuse = |status: StatusCode, error: &str, description: &str| {
        (status, Json(json!({"error": error, "error_description": description}))).into_response()
    };
    if tenant != TENANT {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: unsupported grant type.",
        );
    }
    if form.get("scope").map(String::as_str) != Some(SCOPE) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided value for scope is not valid.",
        );
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let access = format!("eyJ0eXAiOiJKV1QifQ.fake-pbi.{}", lock(&pbi.tokens).len() + 1);
    lock(&pbi.tokens).push(access.clone());
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access}))
        .into_response()
}

fn known(group: &str, dataset: &str) -> bool {
    group == GROUP && (dataset == PUSH_DATASET || dataset == REPORT_DATASET)
}

async fn dataset(
    State(pbi): State<Arc<PowerBi>>,
    Path((group, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = pbi.authorized(&headers) {
        return r;
    }
    if !known(&group, &id) {
        return error(
            StatusCode::NOT_FOUND,
            "ItemNotFound",
            &format!("Dataset {id} is not found"),
        );
    }
    let push = id == PUSH_DATASET;
    Json(json!({"id": id, "name": if push { "Payments" } else { "Sales report" },
        "addRowsAPIEnabled": push, "isRefreshable": !push, "configuredBy": "switchyard@acme.example",
        "webUrl": format!("https://app.powerbi.com/groups/{group}/datasets/{id}")}))
    .into_response()
}

fn type_fits(kind: &str, v: &Value) -> bool {
    match (kind, v) {
        (_, Value::Null) => true,
        ("String", Value::String(_)) => true,
        ("Int64", Value::Number(n)) => n.is_i64(),
        ("Double", Value::Number(_)) => true,
        ("Boolean", Value::Bool(_)) => true,
        ("Datetime", Value::String(s)) => crate::timestamp::parse_ms(s).is_some(),
        _ => false,
    }
}

async fn push_rows(
    State(pbi): State<Arc<PowerBi>>,
    Path((group, dataset, table)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = pbi.authorized(&headers) {
        return r;
    }
    if group != GROUP || dataset != PUSH_DATASET {
        return error(
            StatusCode::NOT_FOUND,
            "ItemNotFound",
            &format!("Dataset {dataset} is not found"),
        );
    }
    if table != TABLE {
        return error(
            StatusCode::NOT_FOUND,
            "ItemNotFound",
            &format!("Table {table} is not found"),
        );
    }
    let Some(rows) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["rows"].as_array().cloned())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The request body has no rows array",
        );
    };
    if rows.len() > 10_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "More than 10000 rows in one request",
        );
    }
    for row in &rows {
        let Some(map) = row.as_object() else {
            return error(StatusCode::BAD_REQUEST, "InvalidRequest", "A row is not an object");
        };
        for (name, value) in map {
            match COLUMNS.iter().find(|(c, _)| c == name) {
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequest",
                        &format!("Column '{name}' was not found in table '{TABLE}'"),
                    )
                }
                Some((_, kind)) if !type_fits(kind, value) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequest",
                        &format!("Value of column '{name}' is not a {kind}"),
                    )
                }
                Some(_) => {}
            }
        }
    }
    lock(&pbi.rows).extend(rows);
    StatusCode::OK.into_response()
}

async fn refresh(
    State(pbi): State<Arc<PowerBi>>,
    Path((group, dataset)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = pbi.authorized(&headers) {
        return r;
    }
    if !known(&group, &dataset) {
        return error(
            StatusCode::NOT_FOUND,
            "ItemNotFound",
            &format!("Dataset {dataset} is not found"),
        );
    }
    *lock(&pbi.refreshes).entry(dataset).or_default() += 1;
    StatusCode::ACCEPTED.into_response()
}
