//! The source's records in the page-numbered shape `shared/connectors/generic-rest.yaml`
//! documents (no provider publishes a spec for it: the template's comments are the contract):
//!
//! * `GET /v1/{workspace}/me` answers `{"workspace": ...}` (the check request);
//! * `GET /v1/{workspace}/items?page=&per_page=&updated_since=` answers
//!   `{"items": [...], "page", "per_page", "total", "total_pages"}`, oldest change first,
//!   pages numbered from 1; `updated_since` (RFC 3339, inclusive) filters;
//! * `GET /v1/{workspace}/items/{id}` answers `{"item": {...}}`, or 404;
//! * `POST /v1/{workspace}/items/batch` takes `{"items": [{"ref", "external_id", "fields"}]}`
//!   (at most 50) and upserts by `external_id`; it answers 200 with `{"results": [{"ref",
//!   "id"}], "errors": [{"ref", "message"}]}`, refusing an item whose `fields.email` is
//!   missing or has no `@`.
//!
//! With [`SourceConfig::api_key`](super::SourceConfig::api_key) set, every route requires it
//! in `X-Api-Key` (401 `{"error": {"message": ...}}` otherwise). Errors are
//! `{"error": {"message": ...}}`, where the template's error mapping reads them.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{PagedSource, SourceRecord, BASE_TIME_MS};
use crate::timestamp::parse_ms;

/// Largest `per_page`, and largest batch.
const MAX_PER_PAGE: usize = 100;
const MAX_BATCH: usize = 50;

pub(super) fn routes() -> Router<Arc<PagedSource>> {
    Router::new()
        .route("/v1/{workspace}/me", get(me))
        .route("/v1/{workspace}/items", get(list))
        .route("/v1/{workspace}/items/batch", post(batch))
        .route("/v1/{workspace}/items/{id}", get(item))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": { "message": message.into() } }))).into_response()
}

/// The 401 answer when the source wants an API key and the request lacks it.
fn denied(source: &PagedSource, headers: &HeaderMap) -> Option<Response> {
    let key = source.api_key.as_ref()?;
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(presented) if presented == key => None,
        _ => Some(error(StatusCode::UNAUTHORIZED, "missing or unknown X-Api-Key")),
    }
}

async fn me(State(source): State<Arc<PagedSource>>, Path(workspace): Path<String>, headers: HeaderMap) -> Response {
    if let Some(denied) = denied(&source, &headers) {
        return denied;
    }
    Json(json!({ "workspace": workspace })).into_response()
}

async fn list(State(source): State<Arc<PagedSource>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if let Some(denied) = denied(&source, &headers) {
        return denied;
    }
    let params: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let page = match param("page").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(page)) if page >= 1 => page,
        Some(_) => return error(StatusCode::BAD_REQUEST, "page must be a number from 1"),
    };
    let per_page = match param("per_page").map(str::parse::<usize>) {
        None => 25,
        Some(Ok(n)) if (1..=MAX_PER_PAGE).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("per_page must be between 1 and {MAX_PER_PAGE}"),
            )
        }
    };
    let since = match param("updated_since").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match parse_ms(raw) {
            Some(ms) => Some(ms),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("updated_since: not a timestamp: {raw:?}"),
                )
            }
        },
    };
    let records = source.lock();
    let start = since.map_or(0, |since| records.partition_point(|r| r.updated_at < since));
    let matching = &records[start..];
    let total_pages = matching.len().div_ceil(per_page);
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(SourceRecord::to_json)
        .collect();
    Json(json!({
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": matching.len(),
        "total_pages": total_pages,
    }))
    .into_response()
}

async fn item(
    State(source): State<Arc<PagedSource>>,
    Path((_workspace, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = denied(&source, &headers) {
        return denied;
    }
    match source.lock().iter().find(|r| r.id == id) {
        Some(record) => Json(json!({ "item": record.to_json() })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no item {id}")),
    }
}

async fn batch(State(source): State<Arc<PagedSource>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some(denied) = denied(&source, &headers) {
        return denied;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let Some(inputs) = body["items"].as_array() else {
        return error(StatusCode::BAD_REQUEST, "items: an array is required");
    };
    if inputs.len() > MAX_BATCH {
        return error(StatusCode::BAD_REQUEST, format!("at most {MAX_BATCH} items per batch"));
    }
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    let mut records = source.lock();
    for input in inputs {
        let reference = input["ref"].clone();
        let Some(external_id) = input["external_id"].as_str().filter(|s| !s.is_empty()) else {
            errors.push(json!({ "ref": reference, "message": "external_id is required" }));
            continue;
        };
        let fields = &input["fields"];
        let text = |name: &str| fields[name].as_str().map(str::to_owned);
        let Some(email) = text("email").filter(|e| e.contains('@')) else {
            errors.push(json!({ "ref": reference, "message": "fields.email must be an email address" }));
            continue;
        };
        let newest = records.last().map_or(BASE_TIME_MS, |r| r.updated_at);
        let existing = records
            .iter()
            .position(|r| r.external_id.as_deref() == Some(external_id));
        let mut record = match existing {
            Some(position) => {
                let mut record = records.remove(position);
                record.version += 1;
                record
            }
            None => {
                let next = records.len() + 1;
                SourceRecord {
                    id: format!("item_{next:06}"),
                    external_id: Some(external_id.to_owned()),
                    ..SourceRecord::generate(next)
                }
            }
        };
        record.email = email;
        if let Some(v) = text("first_name") {
            record.first_name = v;
        }
        if let Some(v) = text("last_name") {
            record.last_name = v;
        }
        if let Some(v) = text("company") {
            record.company = v;
        }
        record.updated_at = newest + 1000;
        results.push(json!({ "ref": reference, "id": record.id }));
        records.push(record);
    }
    Json(json!({ "results": results, "errors": errors })).into_response()
}
