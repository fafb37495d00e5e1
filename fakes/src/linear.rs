//! Fake Linear GraphQL API: issues and comments, their create and update mutations, and the
//! viewer, checked against `linear/schema.graphql` from the specs folder (the Linear SDK's
//! schema): every query and its variables with [`GraphqlSchema::check_request`], every answer
//! with [`GraphqlSchema::check_response`]; violations go to the handle's log.
//!
//! As Linear documents it (linear.app/developers: "GraphQL API", "Pagination", "Filtering",
//! "Rate limiting"):
//!
//! * `POST /graphql`; a personal API key as the whole `Authorization` header, or an OAuth
//!   token as `Authorization: Bearer ...`; anything else is answered 400 with
//!   `errors[0].extensions.code = "AUTHENTICATION_ERROR"`;
//! * connections page with `first`/`after` (Relay): `nodes`, `edges`, `pageInfo`; `orderBy:
//!   updatedAt` or `createdAt` (the default);
//! * `filter: {updatedAt: {gte|gt|lte|lt|eq: "<ISO 8601>"}}` filters on the update time;
//! * ids are UUIDs; issues have identifiers like `ENG-12`; times are ISO 8601 with
//!   milliseconds (UTC).
//!
//! What it assumes where the docs are not precise: a missing entity (a fetch, or a mutation
//! naming one) is answered 200 with `data: null` and the error "Entity not found: Issue"
//! (`extensions.code = "INVALID_INPUT"`); an issue needs a non-blank title and an existing
//! team, a comment a non-blank body and an existing issue ("Argument Validation Error").
//! Request rate limits are not played (1,500 requests an hour is far above a test's use).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::graphql::GraphqlSchema;
use crate::spec::{SpecError, ViolationLog};
use crate::timestamp::now_ms;

/// A personal API key the default configuration accepts.
pub const TEST_KEY: &str = "lin_api_fake0123456789abcdef0123456789abcdef";

/// The schema file in the specs folder.
pub const SCHEMA_FILE: &str = "linear/schema.graphql";

/// The only team: its id and key.
pub const TEAM_ID: &str = "7a0b7e5c-0000-4000-8000-000000000001";
pub const TEAM_KEY: &str = "ENG";

const MAX_FIRST: u64 = 250;

/// The two kinds of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Issues,
    Comments,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Issues => "Issue",
            Kind::Comments => "Comment",
        }
    }

    fn uuid(self, n: u64) -> String {
        let tag = match self {
            Kind::Issues => 0x1551,
            Kind::Comments => 0xc044,
        };
        format!("{tag:08x}-0000-4000-8000-{n:012x}")
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct LinearConfig {
    pub port: u16,
    /// Accepted API keys and OAuth access tokens.
    pub keys: Vec<String>,
    /// Issues seeded (each with one comment), spread over the past hour (oldest first).
    pub records: usize,
    pub faults: FaultConfig,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            port: 0,
            keys: vec![TEST_KEY.to_owned()],
            records: 0,
            faults: FaultConfig::default(),
        }
    }
}

#[derive(Default)]
struct Store {
    /// Objects by kind, keyed by their number (creation order).
    objects: BTreeMap<Kind, BTreeMap<u64, Value>>,
    next: BTreeMap<Kind, u64>,
    last_ms: i64,
    sync_id: u64,
}

impl Store {
    fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }
}

/// The fake workspace.
pub struct Linear {
    keys: Vec<String>,
    schema: GraphqlSchema,
    store: Mutex<Store>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// ISO 8601 with milliseconds, UTC.
pub fn iso(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.replace_nanosecond((ms.rem_euclid(1000) as u32) * 1_000_000).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_iso(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Starts a fake Linear; its API is `{base_url}/graphql`.
///
/// # Panics
/// When the port cannot be bound or the schema cannot be read.
pub fn start(config: LinearConfig) -> FakeHandle<Linear> {
    server::expect_started("linear", try_start(config))
}

/// Starts a fake Linear, reporting a bind or schema failure.
pub fn try_start(config: LinearConfig) -> io::Result<FakeHandle<Linear>> {
    let schema = GraphqlSchema::load(SCHEMA_FILE).map_err(|e: SpecError| io::Error::other(e.to_string()))?;
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Linear {
        keys: config.keys,
        schema,
        store: Mutex::new(Store::default()),
        violations: violations.clone(),
    });
    state.seed(config.records);
    let spec = Spec {
        name: "linear",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations,
        respond: fault,
    };
    server::spawn(spec, move |_| {
        Router::new().route("/graphql", post(graphql)).with_state(state)
    })
}

fn fault(status: StatusCode) -> Response {
    (status, Json(json!({"errors": [{"message": "injected fault"}]}))).into_response()
}

fn number_of(kind: Kind, id: &str) -> Option<u64> {
    let prefix = kind.uuid(0);
    let prefix = &prefix[..prefix.len() - 12];
    u64::from_str_radix(id.strip_prefix(prefix)?, 16).ok()
}

impl Linear {
    pub fn objects(&self, kind: Kind) -> Vec<Value> {
        lock(&self.store)
            .objects
            .get(&kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn object(&self, kind: Kind, id: &str) -> Option<Value> {
        let n = number_of(kind, id)?;
        lock(&self.store).objects.get(&kind)?.get(&n).cloned()
    }

    pub fn count(&self, kind: Kind) -> usize {
        lock(&self.store).objects.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Changes an object directly (no HTTP): merges `fields`, bumps `updatedAt`.
    pub fn update(&self, kind: Kind, id: &str, fields: Value) -> Option<Value> {
        let n = number_of(kind, id)?;
        let mut store = lock(&self.store);
        let at = iso(store.tick());
        let object = store.objects.get_mut(&kind)?.get_mut(&n)?;
        merge(object, &fields);
        object["updatedAt"] = json!(at);
        Some(object.clone())
    }

    fn seed(&self, records: usize) {
        let now = now_ms();
        for n in 1..=records {
            let at = now - 3_600_000 + (n as i64) * (3_000_000 / records.max(1) as i64);
            let issue = self.insert_issue(
                json!({"title": format!("Issue {n}"), "description": format!("Seeded issue {n}"), "priority": (n % 5) as u64}),
                at,
            );
            self.insert_comment(&issue, format!("First comment on issue {n}"), at);
        }
    }

    fn insert_issue(&self, input: Value, at_ms: i64) -> Value {
        let mut store = lock(&self.store);
        let next = store.next.entry(Kind::Issues).or_insert(0);
        *next += 1;
        let n = *next;
        let at = iso(at_ms);
        let identifier = format!("{TEAM_KEY}-{n}");
        let mut issue = json!({
            "id": Kind::Issues.uuid(n),
            "identifier": identifier,
            "title": "",
            "description": null,
            "priority": 0.0,
            "estimate": null,
            "url": format!("https://linear.app/fake/issue/{identifier}"),
            "createdAt": at,
            "updatedAt": at,
            "team": {"id": TEAM_ID, "key": TEAM_KEY, "name": "Engineering"},
            "state": {"id": "5a7e0000-0000-4000-8000-000000000001", "name": "Todo", "type": "unstarted"},
        });
        for (k, v) in input.as_object().into_iter().flatten() {
            match k.as_str() {
                "teamId" | "stateId" => {}
                "priority" | "estimate" => {
                    issue[k] = v.as_f64().map_or(Value::Null, Value::from);
                }
                _ => issue[k] = v.clone(),
            }
        }
        store.objects.entry(Kind::Issues).or_default().insert(n, issue.clone());
        issue
    }

    fn insert_comment(&self, issue: &Value, body: String, at_ms: i64) -> Value {
        let mut store = lock(&self.store);
        let next = store.next.entry(Kind::Comments).or_insert(0);
        *next += 1;
        let n = *next;
        let at = iso(at_ms);
        let id = Kind::Comments.uuid(n);
        let comment = json!({
            "id": id,
            "body": body,
            "url": format!("{}#comment-{}", issue["url"].as_str().unwrap_or_default(), &id[..8]),
            "createdAt": at,
            "updatedAt": at,
            "issue": {"id": issue["id"], "identifier": issue["identifier"]},
            "user": {"id": "05e70000-0000-4000-8000-000000000001", "name": "Fake User"},
        });
        store
            .objects
            .entry(Kind::Comments)
            .or_default()
            .insert(n, comment.clone());
        comment
    }

    fn next_sync_id(&self) -> f64 {
        let mut store = lock(&self.store);
        store.sync_id += 1;
        store.sync_id as f64
    }

    fn resolve(&self, field: &str, args: &Map<String, Value>) -> Result<Value, String> {
        let id = || args.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        match field {
            "viewer" => Ok(
                json!({"id": "05e70000-0000-4000-8000-000000000001", "name": "Fake User",
                                  "email": "user@example.com"}),
            ),
            "issues" => self.connection(Kind::Issues, args),
            "comments" => self.connection(Kind::Comments, args),
            "issue" => self.object(Kind::Issues, &id()).ok_or_else(|| not_found(Kind::Issues)),
            "comment" => self
                .object(Kind::Comments, &id())
                .ok_or_else(|| not_found(Kind::Comments)),
            "issueCreate" => {
                let input = &args["input"];
                if input["teamId"].as_str() != Some(TEAM_ID) {
                    return Err("Entity not found: Team".into());
                }
                check_text(input, "title")?;
                let at = lock(&self.store).tick();
                let issue = self.insert_issue(input.clone(), at);
                Ok(json!({"success": true, "lastSyncId": self.next_sync_id(), "issue": issue}))
            }
            "issueUpdate" => {
                let id = id();
                let input = &args["input"];
                if self.object(Kind::Issues, &id).is_none() {
                    return Err(not_found(Kind::Issues));
                }
                if input.get("title").is_some() {
                    check_text(input, "title")?;
                }
                if let Some(team) = input.get("teamId") {
                    if team.as_str() != Some(TEAM_ID) {
                        return Err("Entity not found: Team".into());
                    }
                }
                let mut fields = input.clone();
                if let Some(map) = fields.as_object_mut() {
                    map.remove("teamId");
                    map.remove("stateId");
                    for k in ["priority", "estimate"] {
                        if let Some(v) = map.get_mut(k) {
                            *v = v.as_f64().map_or(Value::Null, Value::from);
                        }
                    }
                }
                let issue = self.update(Kind::Issues, &id, fields);
                Ok(json!({"success": true, "lastSyncId": self.next_sync_id(), "issue": issue}))
            }
            "commentCreate" => {
                let input = &args["input"];
                let issue = input["issueId"]
                    .as_str()
                    .and_then(|i| self.object(Kind::Issues, i))
                    .ok_or_else(|| not_found(Kind::Issues))?;
                check_text(input, "body")?;
                let at = lock(&self.store).tick();
                let comment = self.insert_comment(&issue, input["body"].as_str().unwrap_or_default().to_owned(), at);
                Ok(json!({"success": true, "lastSyncId": self.next_sync_id(), "comment": comment}))
            }
            other => Err(format!("Cannot query field \"{other}\" (not served by the fake)")),
        }
    }

    fn connection(&self, kind: Kind, args: &Map<String, Value>) -> Result<Value, String> {
        let first = args.get("first").and_then(Value::as_u64).unwrap_or(50);
        if first > MAX_FIRST {
            return Err(format!("first must be at most {MAX_FIRST}"));
        }
        let by_update = args.get("orderBy").and_then(Value::as_str) == Some("updatedAt");
        let mut all = self.objects(kind);
        if let Some(cmp) = args
            .get("filter")
            .and_then(|f| f.get("updatedAt"))
            .and_then(Value::as_object)
        {
            for (op, bound) in cmp {
                let bound = bound
                    .as_str()
                    .and_then(parse_iso)
                    .ok_or_else(|| format!("Argument Validation Error: updatedAt.{op} is not a date"))?;
                all.retain(|o| {
                    let t = o["updatedAt"].as_str().and_then(parse_iso).unwrap_or(0);
                    match op.as_str() {
                        "gt" => t > bound,
                        "gte" => t >= bound,
                        "lt" => t < bound,
                        "lte" => t <= bound,
                        "eq" => t == bound,
                        _ => true,
                    }
                });
            }
        }
        let key = |o: &Value| -> (i64, String) {
            let field = if by_update { "updatedAt" } else { "createdAt" };
            (
                o[field].as_str().and_then(parse_iso).unwrap_or(0),
                o["id"].as_str().unwrap_or("").to_owned(),
            )
        };
        all.sort_by_key(key);
        let start = match args.get("after").and_then(Value::as_str) {
            None => 0,
            Some(cursor) => {
                let after = decode_cursor(cursor).ok_or("Argument Validation Error: invalid cursor")?;
                all.iter().position(|o| key(o) > after).unwrap_or(all.len())
            }
        };
        let page: Vec<Value> = all.iter().skip(start).take(first as usize).cloned().collect();
        let cursors: Vec<String> = page.iter().map(|o| encode_cursor(&key(o))).collect();
        Ok(json!({
            "nodes": page,
            "edges": page.iter().zip(&cursors).map(|(o, c)| json!({"cursor": c, "node": o})).collect::<Vec<_>>(),
            "pageInfo": {"hasNextPage": start + page.len() < all.len(), "hasPreviousPage": start > 0,
                         "startCursor": cursors.first(), "endCursor": cursors.last()}
        }))
    }
}

fn not_found(kind: Kind) -> String {
    format!("Entity not found: {}", kind.label())
}

fn check_text(input: &Value, field: &str) -> Result<(), String> {
    match input.get(field).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(()),
        _ => Err(format!("Argument Validation Error: {field} should not be empty")),
    }
}

fn merge(object: &mut Value, fields: &Value) {
    if let (Some(object), Some(fields)) = (object.as_object_mut(), fields.as_object()) {
        for (k, v) in fields {
            object.insert(k.clone(), v.clone());
        }
    }
}

fn encode_cursor(key: &(i64, String)) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{}|{}", key.0, key.1))
}

fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(cursor).ok()?).ok()?;
    let (at, id) = text.split_once('|')?;
    Some((at.parse().ok()?, id.to_owned()))
}

async fn graphql(State(fake): State<Arc<Linear>>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v));
    if !auth.is_some_and(|a| fake.keys.iter().any(|k| k == a)) {
        let answer = json!({"errors": [{"message": "Authentication required, not authenticated",
            "extensions": {"code": "AUTHENTICATION_ERROR", "type": "authentication error", "userError": true}}]});
        return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            let answer = json!({"errors": [{"message": "Invalid JSON", "extensions": {"code": "BAD_USER_INPUT"}}]});
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
    };
    let violations = fake.schema.check_request(&request);
    let invalid = !violations.is_empty();
    fake.violations.record("linear", violations);
    if invalid {
        let answer = json!({"errors": [{"message": "Query does not match the schema",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]});
        return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
    }
    let mut answer = fake.schema.execute(&request, |field, args| fake.resolve(field, args));
    if let Some(errors) = answer.get_mut("errors").and_then(Value::as_array_mut) {
        for e in errors {
            let message = e["message"].as_str().unwrap_or_default();
            let code = if message.starts_with("Entity not found") || message.starts_with("Argument Validation Error") {
                "INVALID_INPUT"
            } else {
                "INTERNAL_SERVER_ERROR"
            };
            e["extensions"] = json!({"code": code, "type": "invalid input", "userError": true});
        }
    }
    fake.violations
        .record("linear", fake.schema.check_response(&request, &answer));
    (StatusCode::OK, Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_times_keep_milliseconds() {
        assert_eq!(number_of(Kind::Issues, &Kind::Issues.uuid(42)), Some(42));
        assert_eq!(number_of(Kind::Comments, &Kind::Issues.uuid(42)), None);
        assert_eq!(iso(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
        assert_eq!(parse_iso("2024-01-01T00:00:00.123Z"), Some(1_704_067_200_123));
        let key = (1_704_067_200_123, Kind::Issues.uuid(3));
        assert_eq!(decode_cursor(&encode_cursor(&key)), Some(key));
    }
}
