//! Fake Asana API 1.0: one workspace, its projects, the tasks of one project, a few users.
//!
//! It follows developers.asana.com: "Pagination" (`limit` 1 to 100, an opaque `offset` token,
//! `next_page` {offset, path, uri} or null on the last page), "Input/output options" (records
//! carry `gid` and the `opt_fields` asked for, dotted fields such as `assignee.name` as compact
//! objects), "Get multiple tasks" (`project`, or `assignee` with `workspace`, and
//! `modified_since`), "Create a task" (`{"data": {...}}`, one of `workspace`, `parent` or
//! `projects` required), "Update a task", "Errors" (`{"errors": [{"message", "help"}]}`; an
//! unknown gid answers 404 `Unknown object`, a gid that is not a user 400 `Not a recognized
//! ID`). Times are written with milliseconds (`2012-02-22T02:06:58.147Z`). Tokens are accepted
//! as `Authorization: Bearer`.
//!
//! Every request and response is checked against `asana/asana_oas.yaml` from the specs folder
//! (loaded once per process).

// Request checks return the response the fake refuses with, built once per refused request:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{SpecCheck, SpecPatch};
use crate::timestamp::{iso_ms, now_ms, parse_ms};

/// The personal access token the fake accepts.
pub const TOKEN: &str = "2/1200000000000001/1200000000000099:fakeasanatokenabcdef0123456789";
/// The workspace gid.
pub const WORKSPACE: &str = "1200000000000100";
/// The project whose tasks are seeded.
pub const PROJECT: &str = "1200000000000200";
/// The token's user.
pub const ME: &str = "1200000000000001";
/// Another user of the workspace (an assignee).
pub const TEAMMATE: &str = "1200000000000002";
/// The spec file, relative to the specs folder.
pub const SPEC_FILE: &str = "asana/asana_oas.yaml";

/// Where the API lives on the server, as Asana's (`https://app.asana.com/api/1.0`).
pub const API_PATH: &str = "/api/1.0";

const HELP: &str = "For more information on API status codes and how to handle them, read the docs on errors: https://developers.asana.com/docs/errors";

/// The spec check the fake runs, with its one correction.
pub fn spec_check() -> SpecCheck {
    SpecCheck {
        files: vec![SPEC_FILE.into()],
        patches: vec![SpecPatch {
            files: vec![SPEC_FILE.into()],
            pointer: "/components/schemas/TaskResponse/allOf/1/properties/assignee".into(),
            value: Some(json!({"allOf": [{"$ref": "#/components/schemas/UserCompact"}], "nullable": true})),
            reason: "The spec writes a nullable assignee as `allOf: [UserCompact, {nullable: true}]`, which \
                     OpenAPI 3.0 reads as never null; Asana answers `\"assignee\": null` for an unassigned \
                     task (developers.asana.com, \"Get a task\"). The same schema, nullable at its top."
                .into(),
        }],
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct AsanaConfig {
    /// Tasks seeded in [`PROJECT`].
    pub tasks: usize,
    /// Projects seeded beside [`PROJECT`].
    pub projects: usize,
    /// Check traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
}

impl Default for AsanaConfig {
    fn default() -> Self {
        Self {
            tasks: 0,
            projects: 0,
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
        }
    }
}

/// The fake workspace's state.
pub struct Asana {
    /// gid -> task, in creation order of gids.
    tasks: Mutex<BTreeMap<String, Value>>,
    projects: Mutex<BTreeMap<String, Value>>,
    users: BTreeMap<String, String>,
    next_gid: Mutex<u64>,
    base_url: Mutex<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: AsanaConfig) -> FakeHandle<Asana> {
    let state = Arc::new(Asana {
        tasks: Mutex::new(BTreeMap::new()),
        projects: Mutex::new(BTreeMap::new()),
        users: [(ME, "Ada Admin"), (TEAMMATE, "Grace Teammate")]
            .into_iter()
            .map(|(g, n)| (g.to_owned(), n.to_owned()))
            .collect(),
        next_gid: Mutex::new(1_200_000_001_000_000),
        base_url: Mutex::new(String::new()),
    });
    state.seed(&config);
    let routes = state.clone();
    let handle = server::expect_started(
        "asana",
        server::spawn(
            Spec {
                name: "asana",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                let api = Router::new()
                    .route("/users/{user_gid}", get(user))
                    .route("/tasks", get(list_tasks).post(create_task))
                    .route("/tasks/{task_gid}", get(task).put(update_task))
                    .route("/projects", get(list_projects))
                    .route("/projects/{project_gid}", get(project))
                    .with_state(routes);
                Router::new().nest(API_PATH, api)
            },
        ),
    );
    *lock(&state.base_url) = format!("{}{API_PATH}", handle.base_url);
    handle
}

/// The API's base URL on a running fake (`http://127.0.0.1:{port}/api/1.0`), what a
/// connection's `base_url` is set to.
pub fn api_url(handle: &FakeHandle<Asana>) -> String {
    format!("{}{API_PATH}", handle.base_url)
}

impl Asana {
    fn new_gid(&self) -> String {
        let mut next = lock(&self.next_gid);
        *next += 1;
        next.to_string()
    }

    fn seed(&self, config: &AsanaConfig) {
        let now = now_ms();
        let mut projects = lock(&self.projects);
        let count = config.projects + 1;
        for n in 1..=count {
            let at = now - 120_000 * (count + 1 - n) as i64;
            let gid = if n == count { PROJECT.to_owned() } else { self.new_gid() };
            projects.insert(
                gid.clone(),
                json!({
                    "gid": gid, "resource_type": "project", "name": format!("Project {n}"),
                    "notes": "", "archived": n % 5 == 0, "color": "light-green",
                    "created_at": iso_ms(at), "modified_at": iso_ms(at), "owner": ME,
                    "permalink_url": format!("https://app.asana.com/0/{gid}/list"),
                }),
            );
        }
        drop(projects);
        let mut tasks = lock(&self.tasks);
        for n in 1..=config.tasks {
            // Two minutes apart, the newest two minutes ago: past any lookback window.
            let at = now - 120_000 * (config.tasks + 1 - n) as i64;
            let gid = self.new_gid();
            tasks.insert(
                gid.clone(),
                json!({
                    "gid": gid, "resource_type": "task", "name": format!("Task {n}"),
                    "notes": format!("Notes of task {n}"), "completed": n % 4 == 0,
                    "completed_at": (n % 4 == 0).then(|| iso_ms(at)), "due_on": null,
                    "assignee": (n % 3 == 0).then_some(TEAMMATE), "created_at": iso_ms(at),
                    "modified_at": iso_ms(at), "projects": [PROJECT],
                    "permalink_url": format!("https://app.asana.com/0/{PROJECT}/{gid}"),
                }),
            );
        }
    }

    /// A task as stored (assignee and projects as gids).
    pub fn task_record(&self, gid: &str) -> Option<Value> {
        lock(&self.tasks).get(gid).cloned()
    }

    /// A task as `GET /tasks/{gid}?opt_fields=...` answers it.
    pub fn task_json(&self, gid: &str, opt_fields: &str) -> Option<Value> {
        self.task_record(gid).map(|t| self.render(&t, opt_fields))
    }

    /// A project as `GET /projects/{gid}?opt_fields=...` answers it.
    pub fn project_json(&self, gid: &str, opt_fields: &str) -> Option<Value> {
        let project = lock(&self.projects).get(gid).cloned();
        project.map(|p| self.render(&p, opt_fields))
    }

    pub fn task_count(&self) -> usize {
        lock(&self.tasks).len()
    }

    pub fn project_count(&self) -> usize {
        lock(&self.projects).len()
    }

    /// The first task whose `name` is `name`.
    pub fn find_task(&self, name: &str) -> Option<Value> {
        lock(&self.tasks).values().find(|t| t["name"] == name).cloned()
    }

    /// Changes a task as a user in Asana would: `modified_at` becomes now.
    pub fn touch(&self, gid: &str, name: &str) -> Option<Value> {
        let mut tasks = lock(&self.tasks);
        let task = tasks.get_mut(gid)?;
        task["name"] = json!(name);
        task["modified_at"] = json!(iso_ms(now_ms()));
        Some(task.clone())
    }

    fn compact_user(&self, gid: &Value, fields: &[&str]) -> Value {
        let Some(gid) = gid.as_str() else {
            return Value::Null;
        };
        let mut user = json!({"gid": gid, "resource_type": "user"});
        if fields.contains(&"name") {
            user["name"] = json!(self.users.get(gid).cloned().unwrap_or_default());
        }
        user
    }

    /// `gid` and the `opt_fields` asked for; `owner` / `assignee` (and their `.name`) as
    /// compact users, `projects` as compact projects.
    fn render(&self, object: &Value, opt_fields: &str) -> Value {
        let mut out = Map::new();
        out.insert("gid".into(), object["gid"].clone());
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for field in opt_fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let (head, sub) = field.split_once('.').map_or((field, None), |(h, s)| (h, Some(s)));
            let subs = wanted.entry(head).or_default();
            subs.extend(sub);
        }
        if wanted.is_empty() {
            wanted.insert("resource_type", vec![]);
            wanted.insert("name", vec![]);
        }
        for (field, subs) in wanted {
            let value = object.get(field).cloned().unwrap_or(Value::Null);
            let value = match field {
                "assignee" | "owner" => self.compact_user(&value, &subs),
                "projects" => Value::Array(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|gid| json!({"gid": gid, "resource_type": "project"}))
                        .collect(),
                ),
                _ => value,
            };
            out.insert(field.to_owned(), value);
        }
        Value::Object(out)
    }
}

fn errors(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"errors": [{"message": message, "help": HELP}]}))).into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => errors(status, "You have made too many requests recently. Please, be chill."),
        _ => errors(status, "Server Error"),
    }
}

fn authorized(headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    (token.map(str::trim) != Some(TOKEN)).then(|| errors(StatusCode::UNAUTHORIZED, "Not Authorized"))
}

type Params = Query<BTreeMap<String, String>>;

fn opt_fields(query: &BTreeMap<String, String>) -> &str {
    query.get("opt_fields").map_or("", String::as_str)
}

/// One page of `objects` with Asana's `next_page`.
fn paged(asana: &Asana, path: &str, query: &BTreeMap<String, String>, objects: Vec<Value>) -> Response {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => None,
        Some(Ok(n)) if (1..=100).contains(&n) => Some(n),
        _ => return errors(StatusCode::BAD_REQUEST, "limit: Must be between 1 and 100"),
    };
    let start = match query.get("offset") {
        None => 0,
        Some(token) => match token.strip_prefix("eyJvZmZzZXQi").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return errors(StatusCode::BAD_REQUEST, "offset: Your pagination token is invalid."),
        },
    };
    let Some(limit) = limit else {
        // Without `limit` Asana answers everything and no next_page.
        return Json(json!({"data": objects})).into_response();
    };
    let more = start + limit < objects.len();
    let data: Vec<Value> = objects.into_iter().skip(start).take(limit).collect();
    let next_page = more.then(|| {
        let offset = format!("eyJvZmZzZXQi{}", start + limit);
        let mut q = query.clone();
        q.insert("offset".into(), offset.clone());
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter())
            .finish();
        let path = format!("{path}?{encoded}");
        json!({"offset": offset, "path": path, "uri": format!("{}{path}", lock(&asana.base_url))})
    });
    Json(json!({"data": data, "next_page": next_page})).into_response()
}

/// `GET /users/{user_gid}` (`me` is the token's user).
async fn user(
    State(asana): State<Arc<Asana>>,
    Path(gid): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let gid = if gid == "me" { ME.to_owned() } else { gid };
    let Some(name) = asana.users.get(&gid) else {
        return errors(StatusCode::NOT_FOUND, &format!("user: Unknown object: {gid}"));
    };
    let user = json!({"gid": gid, "resource_type": "user", "name": name});
    Json(json!({"data": asana.render(&user, opt_fields(&query))})).into_response()
}

/// `GET /tasks`.
async fn list_tasks(State(asana): State<Arc<Asana>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let Some(project) = query.get("project") else {
        return errors(
            StatusCode::BAD_REQUEST,
            "Must specify exactly one of project, tag, section, user task list, or assignee + workspace",
        );
    };
    if !lock(&asana.projects).contains_key(project) {
        return errors(StatusCode::NOT_FOUND, &format!("project: Unknown object: {project}"));
    }
    let since = match query.get("modified_since") {
        None => None,
        Some(text) => match parse_ms(text) {
            Some(ms) => Some(ms),
            None => return errors(StatusCode::BAD_REQUEST, "modified_since: Not a valid date-time"),
        },
    };
    let fields = opt_fields(&query);
    let tasks: Vec<Value> = lock(&asana.tasks)
        .values()
        .filter(|t| t["projects"].as_array().is_some_and(|p| p.iter().any(|g| g == project)))
        .filter(|t| {
            since.is_none_or(|since| {
                t["modified_at"]
                    .as_str()
                    .and_then(parse_ms)
                    .is_some_and(|at| at >= since)
            })
        })
        .map(|t| asana.render(t, fields))
        .collect();
    paged(&asana, "/tasks", &query, tasks)
}

/// `GET /projects`.
async fn list_projects(State(asana): State<Arc<Asana>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match query.get("workspace") {
        Some(w) if w == WORKSPACE => {}
        Some(w) => return errors(StatusCode::NOT_FOUND, &format!("workspace: Unknown object: {w}")),
        None => return errors(StatusCode::BAD_REQUEST, "Must specify exactly one of workspace or team"),
    }
    let fields = opt_fields(&query);
    let projects: Vec<Value> = lock(&asana.projects)
        .values()
        .filter(|p| match query.get("archived").map(String::as_str) {
            Some("true") => p["archived"] == true,
            Some("false") => p["archived"] == false,
            _ => true,
        })
        .map(|p| asana.render(p, fields))
        .collect();
    paged(&asana, "/projects", &query, projects)
}

/// `GET /tasks/{task_gid}`.
async fn task(
    State(asana): State<Arc<Asana>>,
    Path(gid): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match asana.task_json(&gid, opt_fields(&query)) {
        Some(task) => Json(json!({"data": task})).into_response(),
        None => errors(StatusCode::NOT_FOUND, &format!("task: Unknown object: {gid}")),
    }
}

/// `GET /projects/{project_gid}`.
async fn project(
    State(asana): State<Arc<Asana>>,
    Path(gid): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match asana.project_json(&gid, opt_fields(&query)) {
        Some(project) => Json(json!({"data": project})).into_response(),
        None => errors(StatusCode::NOT_FOUND, &format!("project: Unknown object: {gid}")),
    }
}

fn data(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut envelope)) => match envelope.remove("data") {
            Some(Value::Object(data)) => Ok(data),
            _ => Err(errors(StatusCode::BAD_REQUEST, "data: Missing input")),
        },
        _ => Err(errors(
            StatusCode::BAD_REQUEST,
            "Could not parse request data, invalid JSON",
        )),
    }
}

/// Applies the writable task fields; a 400 when Asana would refuse them.
fn apply(asana: &Asana, task: &mut Value, input: &Map<String, Value>) -> Result<(), Response> {
    for (field, value) in input {
        match field.as_str() {
            "name" | "notes" | "due_on" | "completed" => {
                task[field] = value.clone();
                if field == "completed" {
                    task["completed_at"] = if value == true {
                        json!(iso_ms(now_ms()))
                    } else {
                        Value::Null
                    };
                }
            }
            "assignee" => match value.as_str() {
                None if value.is_null() => task["assignee"] = Value::Null,
                Some(gid) if asana.users.contains_key(gid) || gid == "me" => {
                    task["assignee"] = json!(if gid == "me" { ME } else { gid });
                }
                _ => {
                    return Err(errors(
                        StatusCode::BAD_REQUEST,
                        &format!("assignee: Not a recognized ID: {}", value.as_str().unwrap_or_default()),
                    ))
                }
            },
            "projects" => {
                let gids: Vec<String> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect();
                let projects = lock(&asana.projects);
                if let Some((i, unknown)) = gids.iter().enumerate().find(|(_, g)| !projects.contains_key(*g)) {
                    return Err(errors(
                        StatusCode::BAD_REQUEST,
                        &format!("projects: [{i}]: Not a recognized ID: {unknown}"),
                    ));
                }
                task["projects"] = json!(gids);
            }
            "workspace" if value != WORKSPACE => {
                return Err(errors(
                    StatusCode::BAD_REQUEST,
                    &format!("workspace: Not a recognized ID: {}", value.as_str().unwrap_or_default()),
                ));
            }
            // Other writable fields (custom_fields, followers, ...) are accepted and not kept.
            _ => {}
        }
    }
    Ok(())
}

/// `POST /tasks`.
async fn create_task(
    State(asana): State<Arc<Asana>>,
    Query(query): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let input = match data(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    if !["workspace", "parent", "projects"]
        .iter()
        .any(|k| input.contains_key(*k))
    {
        return errors(
            StatusCode::BAD_REQUEST,
            "You should specify one of workspace, parent, projects",
        );
    }
    let gid = asana.new_gid();
    let now = iso_ms(now_ms());
    let mut task = json!({
        "gid": gid, "resource_type": "task", "name": "", "notes": "", "completed": false,
        "completed_at": null, "due_on": null, "assignee": null, "created_at": now, "modified_at": now,
        "projects": [], "permalink_url": format!("https://app.asana.com/0/0/{gid}"),
    });
    if let Err(r) = apply(&asana, &mut task, &input) {
        return r;
    }
    lock(&asana.tasks).insert(gid.clone(), task.clone());
    (
        StatusCode::CREATED,
        Json(json!({"data": asana.render(&task, opt_fields(&query))})),
    )
        .into_response()
}

/// `PUT /tasks/{task_gid}`.
async fn update_task(
    State(asana): State<Arc<Asana>>,
    Path(gid): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let input = match data(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let Some(mut task) = asana.task_record(&gid) else {
        return errors(StatusCode::NOT_FOUND, &format!("task: Unknown object: {gid}"));
    };
    if let Err(r) = apply(&asana, &mut task, &input) {
        return r;
    }
    task["modified_at"] = json!(iso_ms(now_ms()));
    lock(&asana.tasks).insert(gid, task.clone());
    Json(json!({"data": asana.render(&task, opt_fields(&query))})).into_response()
}
