//! Fake Dropbox API v2: one account's files and folders, listed with `list_folder` /
//! `list_folder/continue`, looked up with `get_metadata`, folders created with
//! `create_folder_v2`.
//!
//! Every request and response is checked against `dropbox/openapi.yaml` from the specs folder
//! (a partial description) with the operations and errors it lacks added from Dropbox's HTTP
//! documentation (`spec_patches.yaml`, each with its reason). It follows
//! www.dropbox.com/developers/documentation/http/documentation:
//!
//! * RPC endpoints: `POST` with a JSON body, `Authorization: Bearer <token>`; a bad token is
//!   401 `{"error_summary": "invalid_access_token/...", "error": {".tag": "invalid_access_token"}}`.
//! * `files/list_folder` {path ("" is the root), recursive, limit (1..=2000, approximate)}
//!   answers `{"entries", "cursor", "has_more"}`; `list_folder/continue` {cursor} the next
//!   entries. Entries are tagged metadata (`.tag` file or folder; `id`, `name`, `path_lower`,
//!   `path_display`; files also `client_modified`, `server_modified`, `rev`, `size`,
//!   `content_hash`). A folder's own entry comes first, then its contents.
//! * Endpoint-specific errors are 409 `{"error_summary", "error": {".tag": ...}}`:
//!   `path/not_found/` for an unknown path or id, `path/conflict/folder/` for an existing
//!   folder path, `reset/` for a cursor the fake did not issue.
//!
//! Assumed, not documented: cursors are the fake's own opaque strings, an entry list in path
//! order; the listing is not affected by changes made after the first page.

// Request checks return the response the fake refuses with, built once per refused request:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::timestamp::now_ms;

/// The access token the fake accepts.
pub const TOKEN: &str = "sl.FakeDropboxAccessToken-u8Zq3w9X1kP0mN7bV5cR2tY4";
/// The spec file, relative to the specs folder.
pub const SPEC_FILE: &str = "dropbox/openapi.yaml";
/// The folder the seeded files live in.
pub const FOLDER: &str = "/Projects";
/// Where the API lives on the server, as Dropbox's (`https://api.dropboxapi.com/2`).
pub const API_PATH: &str = "/2";

const SPEC_PATCHES: &str = include_str!("spec_patches.yaml");

/// The spec check the fake runs.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec![SPEC_FILE.into()],
        patches: serde_yaml::from_str(SPEC_PATCHES).expect("the Dropbox spec patches parse"),
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct DropboxConfig {
    /// Files seeded under [`FOLDER`] (and a subfolder for every 50).
    pub files: usize,
    /// Check traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl Default for DropboxConfig {
    fn default() -> Self {
        Self {
            files: 0,
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// The fake account.
pub struct Dropbox {
    /// path_lower -> metadata.
    entries: Mutex<BTreeMap<String, Value>>,
    /// Issued cursors: the remaining entries of a listing.
    cursors: Mutex<BTreeMap<String, (Vec<Value>, usize)>>,
    next_id: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: DropboxConfig) -> FakeHandle<Dropbox> {
    let state = Arc::new(Dropbox {
        entries: Mutex::new(BTreeMap::new()),
        cursors: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(0),
    });
    state.seed(config.files);
    let routes = state.clone();
    server::expect_started(
        "dropbox",
        server::spawn(
            Spec {
                name: "dropbox",
                port: 0,
                state,
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                let api = Router::new()
                    .route("/files/list_folder", post(list_folder))
                    .route("/files/list_folder/continue", post(list_folder_continue))
                    .route("/files/get_metadata", post(get_metadata))
                    .route("/files/create_folder_v2", post(create_folder))
                    .with_state(routes);
                Router::new().nest(API_PATH, api)
            },
        ),
    )
}

/// The API's base URL on a running fake (`http://127.0.0.1:{port}/2`).
pub fn api_url(handle: &FakeHandle<Dropbox>) -> String {
    format!("{}{API_PATH}", handle.base_url)
}

fn seconds(ms: i64) -> String {
    // Dropbox writes times without fractions: 2015-05-12T15:50:38Z.
    let text = crate::timestamp::iso_ms(ms - ms % 1000);
    text.replace(".000Z", "Z")
}

impl Dropbox {
    fn new_id(&self) -> String {
        let mut next = lock(&self.next_id);
        *next += 1;
        format!("id:a4ayc_80_OEAAAAAAAA{:04}", *next)
    }

    fn add_folder(&self, display: &str) -> Value {
        let name = display.rsplit('/').next().unwrap_or_default();
        let folder = json!({".tag": "folder", "name": name, "id": self.new_id(),
            "path_lower": display.to_lowercase(), "path_display": display});
        lock(&self.entries).insert(display.to_lowercase(), folder.clone());
        folder
    }

    /// Adds a file as a Dropbox client would; returns its metadata.
    pub fn add_file(&self, display: &str, size: u64) -> Value {
        let at = seconds(now_ms());
        let name = display.rsplit('/').next().unwrap_or_default();
        let n = *lock(&self.next_id) + 1;
        let file = json!({".tag": "file", "name": name, "id": self.new_id(),
            "path_lower": display.to_lowercase(), "path_display": display,
            "client_modified": at, "server_modified": at, "rev": format!("{n:012x}"), "size": size,
            "content_hash": format!("{:064x}", n * 7919), "is_downloadable": true});
        lock(&self.entries).insert(display.to_lowercase(), file.clone());
        file
    }

    fn seed(&self, files: usize) {
        if files == 0 {
            return;
        }
        self.add_folder(FOLDER);
        for n in 1..=files {
            let folder = format!("{FOLDER}/Batch {}", (n - 1) / 50 + 1);
            if !lock(&self.entries).contains_key(&folder.to_lowercase()) {
                self.add_folder(&folder);
            }
            self.add_file(&format!("{folder}/report-{n:04}.txt"), 100 + n as u64);
        }
    }

    /// An entry by id.
    pub fn by_id(&self, id: &str) -> Option<Value> {
        lock(&self.entries).values().find(|e| e["id"] == id).cloned()
    }

    /// An entry by path (any case).
    pub fn by_path(&self, path: &str) -> Option<Value> {
        lock(&self.entries).get(&path.to_lowercase()).cloned()
    }

    /// Entries under `path` (itself included), recursively.
    pub fn count_under(&self, path: &str) -> usize {
        self.listing(&path.to_lowercase(), true).len()
    }

    /// Changes a file's content as a client would: new rev, size and server time.
    pub fn edit_file(&self, id: &str, size: u64) -> Option<Value> {
        let n = *lock(&self.next_id) + 1;
        *lock(&self.next_id) = n;
        let mut entries = lock(&self.entries);
        let file = entries.values_mut().find(|e| e["id"] == id && e[".tag"] == "file")?;
        file["size"] = json!(size);
        file["rev"] = json!(format!("{n:012x}"));
        file["server_modified"] = json!(seconds(now_ms()));
        Some(file.clone())
    }

    fn listing(&self, lower: &str, recursive: bool) -> Vec<Value> {
        let prefix = format!("{lower}/");
        lock(&self.entries)
            .iter()
            .filter(|(path, _)| {
                *path == lower
                    || (lower.is_empty() || path.starts_with(&prefix))
                        && (recursive || !path[prefix.len().min(path.len())..].contains('/'))
            })
            .filter(|(path, _)| !(lower.is_empty() && path.is_empty()))
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn page(&self, mut rest: Vec<Value>, limit: usize) -> Value {
        let tail = rest.split_off(limit.min(rest.len()));
        let cursor = format!("AAF{}", crate::timestamp::correlation_id().replace('-', ""));
        let has_more = !tail.is_empty();
        lock(&self.cursors).insert(cursor.clone(), (tail, limit));
        json!({"entries": rest, "cursor": cursor, "has_more": has_more})
    }
}

fn conflict(summary: &str, error: Value) -> Response {
    (
        StatusCode::CONFLICT,
        Json(json!({"error_summary": summary, "error": error})),
    )
        .into_response()
}

fn not_found() -> Response {
    conflict(
        "path/not_found/..",
        json!({".tag": "path", "path": {".tag": "not_found"}}),
    )
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => (
            status,
            [("Retry-After", "1")],
            Json(json!({"error_summary": "too_many_requests/..", "error": {"reason": {".tag": "too_many_requests"}, "retry_after": 1}})),
        )
            .into_response(),
        _ => (status, "Internal Server Error").into_response(),
    }
}

fn authorized(headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    (token.map(str::trim) != Some(TOKEN)).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error_summary": "invalid_access_token/..", "error": {".tag": "invalid_access_token"}})),
        )
            .into_response()
    })
}

/// The JSON body; a body Dropbox cannot read is 400 with a plain-text reason.
fn args(body: &Bytes) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err((
            StatusCode::BAD_REQUEST,
            "Error in call to API function \"files/list_folder\": request body: could not decode input as JSON",
        )
            .into_response()),
    }
}

/// `POST /files/list_folder`.
async fn list_folder(State(dropbox): State<Arc<Dropbox>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let args = match args(&body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let path = args["path"].as_str().unwrap_or_default();
    let lower = if path.starts_with("id:") {
        match dropbox.by_id(path) {
            Some(e) => e["path_lower"].as_str().unwrap_or_default().to_owned(),
            None => return not_found(),
        }
    } else {
        path.to_lowercase()
    };
    if !lower.is_empty() && dropbox.by_path(&lower).is_none() {
        return not_found();
    }
    let limit = args["limit"].as_u64().unwrap_or(2000).clamp(1, 2000) as usize;
    let recursive = args["recursive"].as_bool().unwrap_or(false);
    let entries = dropbox.listing(&lower, recursive);
    Json(dropbox.page(entries, limit)).into_response()
}

/// `POST /files/list_folder/continue`: the next entries of the cursor's listing, at the first
/// request's page size.
async fn list_folder_continue(State(dropbox): State<Arc<Dropbox>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let args = match args(&body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let cursor = args["cursor"].as_str().unwrap_or_default();
    let Some((rest, limit)) = lock(&dropbox.cursors).get(cursor).cloned() else {
        return conflict("reset/..", json!({".tag": "reset"}));
    };
    Json(dropbox.page(rest, limit)).into_response()
}

/// `POST /files/get_metadata`: by path or by `id:`.
async fn get_metadata(State(dropbox): State<Arc<Dropbox>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let args = match args(&body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let path = args["path"].as_str().unwrap_or_default();
    let found = if path.starts_with("id:") {
        dropbox.by_id(path)
    } else {
        dropbox.by_path(path)
    };
    match found {
        Some(entry) => Json(entry).into_response(),
        None => not_found(),
    }
}

/// `POST /files/create_folder_v2`: the parent folders are created as needed.
async fn create_folder(State(dropbox): State<Arc<Dropbox>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let args = match args(&body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let path = args["path"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    if !path.starts_with('/') || path.len() < 2 {
        return conflict(
            "path/malformed_path/..",
            json!({".tag": "path", "path": {".tag": "malformed_path"}}),
        );
    }
    if dropbox.by_path(&path).is_some() {
        return conflict(
            "path/conflict/folder/..",
            json!({".tag": "path", "path": {".tag": "conflict", "conflict": {".tag": "folder"}}}),
        );
    }
    let mut parent = String::new();
    for segment in path.trim_start_matches('/').split('/') {
        parent = format!("{parent}/{segment}");
        if parent != path && dropbox.by_path(&parent).is_none() {
            dropbox.add_folder(&parent);
        }
    }
    let folder = dropbox.add_folder(&path);
    let mut metadata = folder;
    if let Some(map) = metadata.as_object_mut() {
        map.remove(".tag");
    }
    Json(json!({"metadata": metadata})).into_response()
}
