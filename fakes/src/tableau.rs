//! Fake Tableau REST API: sign in with a personal access token, list data sources, start
//! extract refreshes.
//!
//! Tableau publishes no machine-readable description of its REST API, so nothing is checked
//! against a spec; the fake follows the REST API reference
//! (help.tableau.com/current/api/rest_api/en-us/REST/rest_api.htm) and checks each request's
//! shape itself, refusing what Tableau would refuse:
//!
//! * `POST /api/{version}/auth/signin` {"credentials": {"personalAccessTokenName",
//!   "personalAccessTokenSecret", "site": {"contentUrl"}}} (JSON, with `Accept:
//!   application/json`): 200 {"credentials": {"site": {"id", "contentUrl"}, "user": {"id"},
//!   "token", "estimatedTimeToExpiration"}}; a wrong token is 401 {"error": {"summary":
//!   "Signin Error", "detail": ..., "code": "401001"}}.
//! * Other calls carry `X-Tableau-Auth: <token>`; a missing, unknown or revoked token is 401
//!   code 401002. [`Tableau::expire_sessions`] revokes every token, as a server restart or
//!   the token's end would.
//! * `GET /api/{version}/sites/{site-id}/datasources?pageSize=N`: {"pagination", "datasources":
//!   {"datasource": [...]}}.
//! * `POST /api/{version}/sites/{site-id}/datasources/{id}/refresh` with body `{}`: 202
//!   {"job": {"id", "mode": "Asynchronous", "type": "RefreshExtract", "createdAt"}}; an unknown
//!   data source is 404 code 404031; a data source without an extract is 400 code 400131
//!   (assumed wording).
//! * The API version in the path must be 3.x.

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
use crate::timestamp::{iso_ms, now_ms};

pub const TOKEN_NAME: &str = "switchyard-sync";
pub const TOKEN_SECRET: &str = "Zm9vYmFyOmZha2UtdGFibGVhdS1wYXQtc2VjcmV0LTc3";
pub const SITE: &str = "acme";
pub const SITE_ID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
pub const USER_ID: &str = "4b3c2d1e-0f9a-48b7-a6c5-d4e3f2a1b0c9";
/// Data sources with an extract.
pub const EXTRACTS: &[&str] = &[
    "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b",
    "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
];
/// A live-connection data source (no extract to refresh).
pub const LIVE: &str = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";

#[derive(Debug, Clone, Default)]
pub struct TableauConfig {
    pub faults: FaultConfig,
}

pub struct Tableau {
    sessions: Mutex<Vec<String>>,
    jobs: Mutex<BTreeMap<String, String>>,
    sign_ins: Mutex<u32>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tableau {
    /// Refresh jobs started: job id -> data source id.
    pub fn jobs(&self) -> BTreeMap<String, String> {
        lock(&self.jobs).clone()
    }

    /// Sign-ins so far.
    pub fn sign_ins(&self) -> u32 {
        *lock(&self.sign_ins)
    }

    /// Revokes every session token.
    pub fn expire_sessions(&self) {
        lock(&self.sessions).clear();
    }

    fn authorized(&self, headers: &HeaderMap, version: &str, site: &str) -> Result<(), Response> {
        version_ok(version)?;
        let token = headers
            .get("x-tableau-auth")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if token.is_empty() || !lock(&self.sessions).iter().any(|t| t == token) {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized Access",
                "Invalid authentication credentials were provided.",
                "401002",
            ));
        }
        if site != SITE_ID {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The site in the URL is not the site signed in to.",
                "403000",
            ));
        }
        Ok(())
    }
}

fn version_ok(version: &str) -> Result<(), Response> {
    if version.starts_with("3.") {
        Ok(())
    } else {
        Err(error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("Invalid version: {version}"),
            "400000",
        ))
    }
}

fn error(status: StatusCode, summary: &str, detail: &str, code: &str) -> Response {
    (
        status,
        Json(json!({"error": {"summary": summary, "detail": detail, "code": code}})),
    )
        .into_response()
}

fn fault(status: StatusCode) -> Response {
    error(
        status,
        "Server Error",
        "Injected fault",
        &format!("{}000", status.as_u16()),
    )
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: TableauConfig) -> FakeHandle<Tableau> {
    let state = Arc::new(Tableau {
        sessions: Mutex::new(Vec::new()),
        jobs: Mutex::new(BTreeMap::new()),
        sign_ins: Mutex::new(0),
    });
    let routes = state.clone();
    server::expect_started(
        "tableau",
        server::spawn(
            Spec {
                name: "tableau",
                port: 0,
                state,
                faults: config.faults,
                check: None,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/api/{version}/auth/signin", post(sign_in))
                    .route("/api/{version}/sites/{site}/datasources", get(datasources))
                    .route("/api/{version}/sites/{site}/datasources/{id}/refresh", post(refresh))
                    .with_state(routes)
            },
        ),
    )
}

fn wants_json(headers: &HeaderMap) -> Result<(), Response> {
    let json = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
    };
    if json("accept") && json("content-type") {
        Ok(())
    } else {
        // Tableau reads and answers XML unless told otherwise.
        Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "This fake speaks JSON only: send Content-Type and Accept application/json.",
            "415000",
        ))
    }
}

async fn sign_in(
    State(t): State<Arc<Tableau>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = version_ok(&version).and_then(|_| wants_json(&headers)) {
        return r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let c = &body["credentials"];
    if c["personalAccessTokenName"] != TOKEN_NAME || c["personalAccessTokenSecret"] != TOKEN_SECRET {
        return error(
            StatusCode::UNAUTHORIZED,
            "Signin Error",
            "Error signing in to Tableau Server",
            "401001",
        );
    }
    if c.pointer("/site/contentUrl") != Some(&json!(SITE)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Signin Error",
            "Error signing in to Tableau Server (the site does not exist)",
            "401001",
        );
    }
    let mut sign_ins = lock(&t.sign_ins);
    *sign_ins += 1;
    let token = format!("fake-tableau-session-{:04}|{}", *sign_ins, now_ms());
    lock(&t.sessions).push(token.clone());
    Json(json!({"credentials": {"site": {"id": SITE_ID, "contentUrl": SITE},
        "user": {"id": USER_ID}, "token": token, "estimatedTimeToExpiration": "239:59:59"}}))
    .into_response()
}

async fn datasources(
    State(t): State<Arc<Tableau>>,
    Path((version, site)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = t.authorized(&headers, &version, &site) {
        return r;
    }
    let all: Vec<Value> = EXTRACTS
        .iter()
        .map(|id| json!({"id": id, "name": format!("Extract {}", &id[..4]), "hasExtracts": true, "type": "sqlserver"}))
        .chain(std::iter::once(
            json!({"id": LIVE, "name": "Live orders", "hasExtracts": false, "type": "snowflake"}),
        ))
        .collect();
    Json(
        json!({"pagination": {"pageNumber": "1", "pageSize": "100", "totalAvailable": all.len().to_string()},
        "datasources": {"datasource": all}}),
    )
    .into_response()
}

async fn refresh(
    State(t): State<Arc<Tableau>>,
    Path((version, site, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = t
        .authorized(&headers, &version, &site)
        .and_then(|_| wants_json(&headers))
    {
        return r;
    }
    if serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object)
        .is_none()
    {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "The request body is not an object.",
            "400000",
        );
    }
    if id == LIVE {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("Data source '{id}' has no extract to refresh."),
            "400131",
        );
    }
    if !EXTRACTS.contains(&id.as_str()) {
        return error(
            StatusCode::NOT_FOUND,
            "Not Found",
            &format!("Datasource '{id}' could not be found."),
            "404031",
        );
    }
    let mut jobs = lock(&t.jobs);
    let job = format!("7e6d5c4b-3a29-4180-9f8e-{:012x}", jobs.len() + 1);
    jobs.insert(job.clone(), id);
    (
        StatusCode::ACCEPTED,
        Json(
            json!({"job": {"id": job, "mode": "Asynchronous", "type": "RefreshExtract",
            "createdAt": iso_ms(now_ms()).replace(".000", "")}}),
        ),
    )
        .into_response()
}
