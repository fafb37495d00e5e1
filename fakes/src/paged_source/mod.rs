//! A generic cursor-paged REST source of N generated records, for throughput benches and
//! incremental-sync tests.
//!
//! `GET /records?limit=&cursor=&updated_since=` answers
//! `{"records":[...],"next_cursor":"..."|null,"has_more":bool,"total":n}`. Records are ordered by
//! `updated_at` (the cursor field) and then id; `next_cursor` is opaque and resumes after the
//! last record returned, so records changed meanwhile ([`PagedSource::touch`]) are seen once
//! more at the end. `updated_since` (RFC 3339 or epoch milliseconds, inclusive) starts an
//! incremental read.
//!
//! The same records are also served in the page-numbered shape the `generic-rest` connector
//! template documents (`/v1/{workspace}/items...`, see [`items`]), for its conformance test.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

mod items;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::timestamp::{iso_ms, parse_ms};

/// 2024-01-01T00:00:00Z: record `i` was last updated `i` seconds after it.
pub const BASE_TIME_MS: i64 = 1_704_067_200_000;

const FIRST_NAMES: &[&str] = &["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
];

/// How the source behaves.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// How many records to generate.
    pub records: usize,
    /// Page size when the request gives none.
    pub default_limit: usize,
    /// Largest page size; a larger `limit` is a 400.
    pub max_limit: usize,
    /// A bearer token to require; `None` accepts anonymous requests.
    pub token: Option<String>,
    /// An API key the `/v1/{workspace}/...` routes require in `X-Api-Key`; `None` accepts
    /// anonymous requests.
    pub api_key: Option<String>,
    pub faults: FaultConfig,
}

impl Default for SourceConfig {
    /// 1,000 records, pages of 100 (at most 1,000), no auth, no faults.
    fn default() -> Self {
        Self {
            port: 0,
            records: 1000,
            default_limit: 100,
            max_limit: 1000,
            token: None,
            api_key: None,
            faults: FaultConfig::default(),
        }
    }
}

/// One generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// `rec_000001`...
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    /// Milliseconds since the epoch; served as RFC 3339.
    pub updated_at: i64,
    /// 1 at generation, +1 at each [`PagedSource::touch`].
    pub version: u32,
    /// The writer's id of a record created or updated through `items/batch` (upsert key).
    pub external_id: Option<String>,
}

impl SourceRecord {
    /// Record number `n` (from 1): deterministic.
    pub fn generate(n: usize) -> Self {
        Self {
            id: format!("rec_{n:06}"),
            email: format!("user{n:06}@example.com"),
            first_name: FIRST_NAMES[n % FIRST_NAMES.len()].to_owned(),
            last_name: LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()].to_owned(),
            company: format!("Company {}", n % 97),
            updated_at: BASE_TIME_MS + i64::try_from(n).unwrap_or(i64::MAX / 2_000) * 1000,
            version: 1,
            external_id: None,
        }
    }

    /// The record as served.
    pub fn to_json(&self) -> Value {
        let mut json = json!({
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company,
            "updated_at": iso_ms(self.updated_at),
            "version": self.version,
        });
        if let Some(external_id) = &self.external_id {
            json["external_id"] = json!(external_id);
        }
        json
    }

    fn key(&self) -> (i64, &str) {
        (self.updated_at, &self.id)
    }
}

/// The source's state.
pub struct PagedSource {
    /// Sorted by (`updated_at`, id).
    records: Mutex<Vec<SourceRecord>>,
    token: Option<String>,
    api_key: Option<String>,
    default_limit: usize,
    max_limit: usize,
}

/// Starts a source on a free loopback port (or `config.port`).
///
/// # Panics
/// When the loopback port cannot be bound.
pub fn start(config: SourceConfig) -> FakeHandle<PagedSource> {
    server::expect_started("paged-source", try_start(config))
}

/// Starts a source, reporting a bind failure.
pub fn try_start(config: SourceConfig) -> io::Result<FakeHandle<PagedSource>> {
    let state = Arc::new(PagedSource {
        records: Mutex::new((1..=config.records).map(SourceRecord::generate).collect()),
        token: config.token,
        api_key: config.api_key,
        default_limit: config.default_limit,
        max_limit: config.max_limit,
    });
    let spec = Spec {
        name: "paged-source",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations: Default::default(),
        respond: |status| {
            let error = match status {
                StatusCode::TOO_MANY_REQUESTS => "rate_limited",
                StatusCode::GATEWAY_TIMEOUT => "timeout",
                _ => "internal_error",
            };
            (status, Json(json!({ "error": error }))).into_response()
        },
    };
    server::spawn(spec, move |_| {
        Router::new()
            .route("/records", get(records))
            .merge(items::routes())
            .with_state(state)
    })
}

impl PagedSource {
    fn lock(&self) -> MutexGuard<'_, Vec<SourceRecord>> {
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every record in serving order.
    pub fn records(&self) -> Vec<SourceRecord> {
        self.lock().clone()
    }

    /// One record by id.
    pub fn record(&self, id: &str) -> Option<SourceRecord> {
        self.lock().iter().find(|r| r.id == id).cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes a record: a new version, `updated_at` one second after the newest record. It
    /// moves to the end of the serving order. `None` when no record has that id.
    pub fn touch(&self, id: &str) -> Option<SourceRecord> {
        let mut records = self.lock();
        let position = records.iter().position(|r| r.id == id)?;
        let newest = records.last().map_or(BASE_TIME_MS, |r| r.updated_at);
        let mut record = records.remove(position);
        record.updated_at = newest + 1000;
        record.version += 1;
        records.push(record.clone());
        Some(record)
    }

    /// Adds `n` new records after the newest one; returns them.
    pub fn append(&self, n: usize) -> Vec<SourceRecord> {
        let mut records = self.lock();
        let start = records
            .iter()
            .filter_map(|r| r.id.strip_prefix("rec_").and_then(|n| n.parse::<usize>().ok()))
            .max()
            .unwrap_or(0);
        let newest = records.last().map_or(BASE_TIME_MS, |r| r.updated_at);
        let added: Vec<SourceRecord> = (start + 1..=start + n)
            .zip(1..)
            .map(|(number, offset)| SourceRecord {
                updated_at: newest + offset * 1000,
                ..SourceRecord::generate(number)
            })
            .collect();
        records.extend(added.iter().cloned());
        added
    }
}

fn bad_request(error: &str, message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "message": message })),
    )
        .into_response()
}

fn encode_cursor(record: &SourceRecord) -> String {
    format!("{}~{}", record.updated_at, record.id)
}

fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let (at, id) = cursor.split_once('~')?;
    Some((at.parse().ok()?, id.to_owned()))
}

async fn records(State(source): State<Arc<PagedSource>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if let Some(token) = &source.token {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(token.as_str()) {
            return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "unauthorized" }))).into_response();
        }
    }
    let params: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    let limit = match param("limit").map(str::parse::<usize>) {
        None => source.default_limit,
        Some(Ok(limit)) if (1..=source.max_limit).contains(&limit) => limit,
        Some(_) => {
            return bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {}", source.max_limit),
            )
        }
    };
    let after = match param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => match decode_cursor(cursor) {
            Some(after) => Some(after),
            None => return bad_request("invalid_cursor", format!("unknown cursor {cursor:?}")),
        },
    };
    let since = match param("updated_since").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match parse_ms(raw) {
            Some(ms) => Some(ms),
            None => return bad_request("invalid_updated_since", format!("not a timestamp: {raw:?}")),
        },
    };

    let records = source.lock();
    let mut start = match &after {
        Some((at, id)) => records.partition_point(|r| r.key() <= (*at, id.as_str())),
        None => 0,
    };
    if let Some(since) = since {
        start = start.max(records.partition_point(|r| r.updated_at < since));
    }
    // Like many list APIs, the total the query matches, whatever page this is.
    let total = records.len() - since.map_or(0, |since| records.partition_point(|r| r.updated_at < since));
    let page = &records[start.min(records.len())..(start + limit).min(records.len())];
    let has_more = start + page.len() < records.len();
    let next_cursor = if has_more { page.last().map(encode_cursor) } else { None };
    Json(json!({
        "records": page.iter().map(SourceRecord::to_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
        "has_more": has_more,
        "total": total,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_records_are_deterministic_and_ordered() {
        let a = SourceRecord::generate(7);
        assert_eq!(a, SourceRecord::generate(7));
        assert_eq!(a.id, "rec_000007");
        assert_eq!(a.to_json()["updated_at"], "2024-01-01T00:00:07.000Z");
        assert!(SourceRecord::generate(8).key() > a.key());
    }

    #[test]
    fn cursors_round_trip() {
        let record = SourceRecord::generate(3);
        assert_eq!(
            decode_cursor(&encode_cursor(&record)),
            Some((record.updated_at, record.id.clone()))
        );
        assert_eq!(decode_cursor("garbage"), None);
    }
}
