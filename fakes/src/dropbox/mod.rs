//! Fake Dropbox API v2: one account's files and folders, listed with `list_folder` /
//! `list_folder/continue`, looked up with `get_metadata`, folders created with
//! `create_folder_v2`, files uploaded with `files/upload` on the content host.
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
//! * Content-upload endpoints live on another host (`content.dropboxapi.com`; here a second
//!   server, [`DropboxFake::content`]) and take the same token. `files/upload` takes the raw
//!   bytes as the body (`Content-Type: application/octet-stream`, anything else is 400) and
//!   its arguments as JSON in the `Dropbox-API-Arg` header, which must be ASCII ("JSON
//!   encoding": other characters escaped as `\uXXXX`); a header that is not is 400 "could not
//!   decode input as JSON". Mode `add` (the default) refuses an existing path with 409
//!   `path/conflict/file/` unless `autorename` (then `name (1).ext`); `overwrite` replaces the
//!   file (a new rev, the same id). It answers the file's metadata, with `content_hash`
//!   computed as Dropbox documents it ("Content hash": SHA-256 of the concatenated SHA-256s of
//!   each 4 MiB block). The RPC host does not serve `files/upload`, nor the content host the
//!   RPC endpoints (404, as Dropbox).
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

use sha2::{Digest, Sha256};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::SpecCheck;
use crate::spec::ViolationLog;
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
    /// Uploaded files' bytes, by id.
    contents: Mutex<BTreeMap<String, Vec<u8>>>,
}

/// A running fake: the RPC host (`api`, which the fake dereferences to) and the content host,
/// sharing one account and one violation log.
pub struct DropboxFake {
    pub api: FakeHandle<Dropbox>,
    pub content: FakeHandle<Dropbox>,
}

impl std::ops::Deref for DropboxFake {
    type Target = FakeHandle<Dropbox>;

    fn deref(&self) -> &FakeHandle<Dropbox> {
        &self.api
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: DropboxConfig) -> DropboxFake {
    let state = Arc::new(Dropbox {
        entries: Mutex::new(BTreeMap::new()),
        cursors: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(0),
        contents: Mutex::new(BTreeMap::new()),
    });
    state.seed(config.files);
    let violations: Arc<ViolationLog> = Default::default();
    let content_state = state.clone();
    let content = server::expect_started(
        "dropbox-content",
        server::spawn(
            Spec {
                name: "dropbox-content",
                port: 0,
                state: state.clone(),
                faults: config.faults.clone(),
                check: config.spec_check.clone(),
                violations: violations.clone(),
                respond: fault,
            },
            move |_| {
                let api = Router::new()
                    .route("/files/upload", post(upload))
                    .with_state(content_state);
                Router::new().nest(API_PATH, api)
            },
        ),
    );
    let routes = state.clone();
    let api = server::expect_started(
        "dropbox",
        server::spawn(
            Spec {
                name: "dropbox",
                port: 0,
                state,
                faults: config.faults,
                check: config.spec_check,
                violations,
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
    );
    DropboxFake { api, content }
}

/// The API's base URL on a running fake (`http://127.0.0.1:{port}/2`).
pub fn api_url(handle: &FakeHandle<Dropbox>) -> String {
    format!("{}{API_PATH}", handle.base_url)
}

/// The content host's base URL on a running fake (`http://127.0.0.1:{port}/2`, as
/// `https://content.dropboxapi.com/2`).
pub fn content_url(fake: &DropboxFake) -> String {
    format!("{}{API_PATH}", fake.content.base_url)
}

/// Dropbox's content hash of `bytes` ("Content hash" in the developer reference): the SHA-256
/// of the concatenated SHA-256 digests of each 4 MiB block, hex.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut outer = Sha256::new();
    for block in bytes.chunks(4 * 1024 * 1024) {
        outer.update(Sha256::digest(block));
    }
    hex::encode(outer.finalize())
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

    /// An uploaded file's bytes, by path (any case).
    pub fn file_content(&self, path: &str) -> Option<Vec<u8>> {
        let id = self.by_path(path)?["id"].as_str()?.to_owned();
        lock(&self.contents).get(&id).cloned()
    }

    /// Stores an uploaded file at `display` (a new file, or a new revision of the one there).
    fn store_file(&self, display: &str, bytes: Vec<u8>) -> Value {
        let existing = self.by_path(display).filter(|e| e[".tag"] == "file");
        let mut file = self.add_file(display, bytes.len() as u64);
        if let Some(old) = existing {
            // A new revision keeps the file's id.
            file["id"] = old["id"].clone();
            lock(&self.entries).insert(display.to_lowercase(), file.clone());
        }
        file["content_hash"] = json!(content_hash(&bytes));
        lock(&self.entries).insert(display.to_lowercase(), file.clone());
        let id = file["id"].as_str().unwrap_or_default().to_owned();
        lock(&self.contents).insert(id, bytes);
        file
    }

    /// Creates the folders above `path` that do not exist yet.
    fn ensure_parents(&self, path: &str) {
        let mut parent = String::new();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for segment in &segments[..segments.len().saturating_sub(1)] {
            parent = format!("{parent}/{segment}");
            if self.by_path(&parent).is_none() {
                self.add_folder(&parent);
            }
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

fn bad_request(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, text.to_owned()).into_response()
}

/// `POST /files/upload` on the content host: the body is the file, `Dropbox-API-Arg` its
/// arguments.
async fn upload(State(dropbox): State<Arc<Dropbox>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/octet-stream") {
        return bad_request(&format!(
            "Error in call to API function \"files/upload\": Bad HTTP \"Content-Type\" header: \"{content_type}\".  Expecting one of \"application/octet-stream\", \"text/plain; charset=dropbox-cors-hack\"."
        ));
    }
    // A header value with bytes outside ASCII is not text to Dropbox.
    let arg = headers
        .get("dropbox-api-arg")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.is_ascii())
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .filter(Value::is_object);
    let Some(arg) = arg else {
        return bad_request(
            "Error in call to API function \"files/upload\": HTTP header \"Dropbox-API-Arg\": could not decode input as JSON",
        );
    };
    let path = arg["path"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    if !path.starts_with('/') || path.len() < 2 {
        return conflict(
            "path/malformed_path/..",
            json!({".tag": "path", "reason": {".tag": "malformed_path"}, "upload_session_id": ""}),
        );
    }
    // A void union member is written as its tag ("add") or as {".tag": "add"}.
    let mode = match &arg["mode"] {
        Value::Null => "add",
        Value::String(tag) => tag.as_str(),
        other => other[".tag"].as_str().unwrap_or_default(),
    };
    let autorename = arg["autorename"].as_bool().unwrap_or(false);
    let mut target = path.clone();
    if let Some(existing) = dropbox.by_path(&path) {
        let refuse = || {
            conflict(
                &format!("path/conflict/{}/..", existing[".tag"].as_str().unwrap_or("file")),
                json!({".tag": "path", "reason": {".tag": "conflict", "conflict": {".tag": existing[".tag"]}}, "upload_session_id": ""}),
            )
        };
        match mode {
            "overwrite" if existing[".tag"] == "file" => {}
            // {".tag": "update", "update": "<rev>"}: only over that revision.
            "update" if existing[".tag"] == "file" && existing["rev"] == arg["mode"]["update"] => {}
            "add" | "overwrite" if autorename => {
                let (stem, ext) = match path.rsplit_once('.') {
                    Some((stem, ext)) if !ext.contains('/') => (stem.to_owned(), format!(".{ext}")),
                    _ => (path.clone(), String::new()),
                };
                target = (1..)
                    .map(|n| format!("{stem} ({n}){ext}"))
                    .find(|candidate| dropbox.by_path(candidate).is_none())
                    .expect("some suffix is free");
            }
            "add" | "overwrite" | "update" => return refuse(),
            _ => return bad_request(
                "Error in call to API function \"files/upload\": HTTP header \"Dropbox-API-Arg\": mode: unknown tag",
            ),
        }
    }
    dropbox.ensure_parents(&target);
    let mut metadata = dropbox.store_file(&target, body.to_vec());
    if let Some(map) = metadata.as_object_mut() {
        map.remove(".tag");
    }
    Json(metadata).into_response()
}
