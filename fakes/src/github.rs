//! Fake GitHub REST API: one account (`octocat`) owning repositories, one of which
//! (`hello-world`) holds issues and pull requests.
//!
//! It follows docs.github.com ("REST API endpoints for issues", "... for pulls", "... for
//! repositories", "Using pagination in the REST API"): lists answer a bare array, at most 100 a
//! page (`per_page`, default 30), paged with `page` and an RFC 8288 `Link` header (`next`,
//! `last`); `since` keeps items updated at or after it; the issues list also returns pull
//! requests (with a `pull_request` object); the pulls list answers the shorter
//! `pull-request-simple` shape and a single pull request the full one. Times are UTC to the
//! second (`2011-04-22T13:33:48Z`). Writes: `POST .../issues` (201) and `PATCH
//! .../issues/{n}` (200); a blank title (`missing_field`) or an unknown milestone (`invalid`)
//! answer 422 `Validation Failed`, as GitHub does. Tokens are accepted as `Authorization:
//! Bearer` or `token`.
//!
//! With a GitHub App configured ("Authenticating as a GitHub App installation"),
//! `POST /app/installations/{installation_id}/access_tokens` takes the app's JWT as
//! `Authorization: Bearer`: RS256, verified with the app's public key, `iss` the app's client id
//! (or app id), `iat` not in the future, `exp` at most 10 minutes after `iat`; it answers 201
//! `{"token": "ghs_...", "expires_at", "permissions", "repository_selection"}`, a token of an
//! hour that the other endpoints then accept. A JWT that does not verify is 401 ("A JSON web
//! token could not be decoded"), an unknown installation 404.
//!
//! Every request and response is checked against `github/api.github.com.yaml` from the specs
//! folder (loaded once per process, shared by every fake started in it). The objects it
//! answers are built from that spec's response schemas (every required field generated) with
//! the fake's own values on top, so they have the shape GitHub documents.

// Request checks return the response the fake refuses with, built once per refused request:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::Method;
use rand::SeedableRng;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec as ServerSpec};
use crate::spec::{Spec, SpecCheck, SpecPatch};
use crate::spec_fake::generate::{resolve, Generator};
use crate::timestamp::now_ms;

/// The token the fake accepts.
pub const TOKEN: &str = "ghp_fakeGitHubToken0123456789abcdefABCD";
/// The account owning the repositories.
pub const OWNER: &str = "octocat";
/// The repository holding issues and pull requests.
pub const REPO: &str = "hello-world";
/// The spec file, relative to the specs folder.
pub const SPEC_FILE: &str = "github/api.github.com.yaml";
/// Milestones the repository has (numbers); any other is refused.
pub const MILESTONES: &[u64] = &[1, 2];

const DOCS: &str = "https://docs.github.com/rest";

/// The spec check the fake runs, with the one correction the 2021 description needs.
pub fn spec_check() -> SpecCheck {
    let body_nullable = |schema: &str| SpecPatch {
        files: vec![SPEC_FILE.into()],
        pointer: format!("/components/schemas/{schema}/properties/body/nullable"),
        value: Some(Value::Bool(true)),
        reason: "GitHub answers `\"body\": null` for an issue opened without a body; GitHub's current \
                 description (github/rest-api-description) marks an issue's body nullable"
            .into(),
    };
    SpecCheck {
        files: vec![SPEC_FILE.into()],
        patches: vec![body_nullable("issue"), body_nullable("issue-simple")],
        ..SpecCheck::default()
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// Issues seeded in `hello-world`.
    pub issues: usize,
    /// Pull requests seeded in `hello-world` (interleaved with the issues).
    pub pulls: usize,
    /// Repositories seeded beside `hello-world`.
    pub repos: usize,
    /// Check traffic against the spec (on by default).
    pub spec_check: Option<SpecCheck>,
    pub faults: FaultConfig,
    /// A GitHub App installed on the owner's account, which may mint installation tokens.
    pub app: Option<GithubApp>,
}

/// A GitHub App the fake knows.
#[derive(Debug, Clone)]
pub struct GithubApp {
    /// The app's client id (or app id): the JWT's `iss`.
    pub client_id: String,
    /// The app's public key (PEM), the pair of the private key it signs with.
    pub public_key_pem: String,
    /// Its installation on the owner's account.
    pub installation_id: u64,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            issues: 0,
            pulls: 0,
            repos: 0,
            spec_check: Some(spec_check()),
            faults: FaultConfig::default(),
            app: None,
        }
    }
}

/// Shapes generated once from the spec's response schemas.
struct Templates {
    issue: Value,
    pull: Value,
    pull_simple: Value,
    repo: Value,
    full_repo: Value,
}

impl Templates {
    fn load() -> Self {
        let spec =
            Spec::load(&[SPEC_FILE.to_owned()]).unwrap_or_else(|e| panic!("the fake GitHub needs its spec: {e}"));
        let schema = |template: &str| {
            spec.response_schema(&Method::GET, template, 200)
                .unwrap_or_else(|| panic!("{SPEC_FILE} describes GET {template}"))
        };
        let generate = |schema: &Value, item: bool| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            // A list's schema is an array, possibly wrapped in a one-branch `allOf`.
            let target = if item {
                let list = resolve(schema, schema);
                list.get("items")
                    .or_else(|| list.pointer("/allOf/0/items"))
                    .unwrap_or_else(|| panic!("{SPEC_FILE}: a list answers an array"))
            } else {
                schema
            };
            Generator {
                root: schema,
                rng: &mut rng,
                n: 1,
            }
            .generate(target)
        };
        Self {
            issue: generate(&schema("/repos/{owner}/{repo}/issues/{issue_number}"), false),
            pull: generate(&schema("/repos/{owner}/{repo}/pulls/{pull_number}"), false),
            pull_simple: generate(&schema("/repos/{owner}/{repo}/pulls"), true),
            repo: generate(&schema("/user/repos"), true),
            full_repo: generate(&schema("/repos/{owner}/{repo}"), false),
        }
    }
}

/// One issue or pull request, in the fields the fake keeps.
#[derive(Debug, Clone)]
pub struct Item {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub milestone: Option<u64>,
    pub is_pull: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// One repository.
#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fake account's state.
pub struct Github {
    items: Mutex<BTreeMap<u64, Item>>,
    repos: Mutex<Vec<Repo>>,
    templates: Templates,
    base_url: Mutex<String>,
    app: Option<(GithubApp, jsonwebtoken::DecodingKey)>,
    /// Installation tokens minted, with their expiry (unix seconds).
    installation_tokens: Mutex<Vec<(String, i64)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// GitHub's time form: UTC to the second.
pub fn github_time(secs: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(&Rfc3339).unwrap_or_default()
}

fn parse_time(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(|t| t.unix_timestamp())
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound or the spec cannot be loaded.
pub fn start(config: GithubConfig) -> FakeHandle<Github> {
    let state = Arc::new(Github {
        items: Mutex::new(BTreeMap::new()),
        repos: Mutex::new(Vec::new()),
        templates: Templates::load(),
        base_url: Mutex::new(String::new()),
        app: config.app.clone().map(|app| {
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes())
                .expect("the app's public key is a PEM RSA public key");
            (app, key)
        }),
        installation_tokens: Mutex::new(Vec::new()),
    });
    state.seed(&config);
    let routes = state.clone();
    let handle = server::expect_started(
        "github",
        server::spawn(
            ServerSpec {
                name: "github",
                port: 0,
                state: state.clone(),
                faults: config.faults,
                check: config.spec_check,
                violations: Default::default(),
                respond: fault,
            },
            move |_| {
                Router::new()
                    .route("/user/repos", get(list_repos))
                    .route(
                        "/app/installations/{installation_id}/access_tokens",
                        post(installation_token),
                    )
                    .route("/repos/{owner}/{repo}", get(repo))
                    .route("/repos/{owner}/{repo}/issues", get(list_issues).post(create_issue))
                    .route("/repos/{owner}/{repo}/issues/{number}", get(issue).patch(update_issue))
                    .route("/repos/{owner}/{repo}/pulls", get(list_pulls))
                    .route("/repos/{owner}/{repo}/pulls/{number}", get(pull))
                    .with_state(routes)
            },
        ),
    );
    *lock(&state.base_url) = handle.base_url.clone();
    handle
}

impl Github {
    /// How many installation tokens the app minted.
    pub fn installation_tokens_minted(&self) -> usize {
        lock(&self.installation_tokens).len()
    }

    fn seed(&self, config: &GithubConfig) {
        // Items two minutes apart, the newest two minutes ago: further apart than any lookback
        // window, so an incremental read returns what changed and nothing else.
        let total = config.issues + config.pulls;
        let now = now_secs();
        let mut items = lock(&self.items);
        let (mut issues, mut pulls) = (0, 0);
        for n in 1..=total {
            // Interleave: a pull request every other item while both remain.
            let is_pull = pulls < config.pulls && (issues >= config.issues || n % 2 == 0);
            if is_pull {
                pulls += 1;
            } else {
                issues += 1;
            }
            let at = now - 120 * (total + 1 - n) as i64;
            let number = n as u64;
            items.insert(
                number,
                Item {
                    number,
                    title: if is_pull {
                        format!("Pull request {number}")
                    } else {
                        format!("Issue {number}")
                    },
                    body: Some(format!("Body of #{number}")),
                    state: if n % 3 == 0 { "closed" } else { "open" }.into(),
                    labels: if n % 4 == 0 { vec!["bug".into()] } else { Vec::new() },
                    assignees: Vec::new(),
                    milestone: None,
                    is_pull,
                    created_at: at,
                    updated_at: at,
                },
            );
        }
        let mut repos = lock(&self.repos);
        let count = config.repos + 1;
        for n in 1..=count {
            let at = now - 120 * (count + 1 - n) as i64;
            let name = if n == count {
                REPO.to_owned()
            } else {
                format!("repo-{n}")
            };
            repos.push(Repo {
                id: 1_296_269 + n as u64,
                name,
                description: Some(format!("Repository {n}")),
                created_at: at,
                updated_at: at,
            });
        }
    }

    /// An issue or pull request by number.
    pub fn item(&self, number: u64) -> Option<Item> {
        lock(&self.items).get(&number).cloned()
    }

    /// Issues (not pull requests).
    pub fn issue_count(&self) -> usize {
        lock(&self.items).values().filter(|i| !i.is_pull).count()
    }

    /// Pull requests.
    pub fn pull_count(&self) -> usize {
        lock(&self.items).values().filter(|i| i.is_pull).count()
    }

    /// Repositories.
    pub fn repo_count(&self) -> usize {
        lock(&self.repos).len()
    }

    /// The issue as the API answers it.
    pub fn issue_json(&self, number: u64) -> Option<Value> {
        self.item(number).map(|i| self.render_issue(&i))
    }

    /// The pull request as `GET /pulls/{n}` answers it.
    pub fn pull_json(&self, number: u64) -> Option<Value> {
        self.item(number)
            .filter(|i| i.is_pull)
            .map(|i| self.render_pull(&i, false))
    }

    /// The repository as `GET /repos/{owner}/{name}` answers it.
    pub fn repo_json(&self, name: &str) -> Option<Value> {
        let repos = lock(&self.repos);
        repos.iter().find(|r| r.name == name).map(|r| self.render_repo(r, true))
    }

    /// Changes an issue or pull request as a user on GitHub would: `updated_at` becomes now.
    pub fn touch(&self, number: u64, title: &str) -> Option<Item> {
        let mut items = lock(&self.items);
        let item = items.get_mut(&number)?;
        item.title = title.to_owned();
        item.updated_at = now_secs();
        Some(item.clone())
    }

    /// Opens an issue as a user on GitHub would; returns its number.
    pub fn open_issue(&self, title: &str) -> u64 {
        let now = now_secs();
        let mut items = lock(&self.items);
        let number = items.keys().next_back().map_or(1, |n| n + 1);
        items.insert(
            number,
            Item {
                number,
                title: title.to_owned(),
                body: None,
                state: "open".into(),
                labels: Vec::new(),
                assignees: Vec::new(),
                milestone: None,
                is_pull: false,
                created_at: now,
                updated_at: now,
            },
        );
        number
    }

    /// Changes a repository's description: `updated_at` becomes now.
    pub fn touch_repo(&self, name: &str, description: &str) -> Option<Repo> {
        let mut repos = lock(&self.repos);
        let repo = repos.iter_mut().find(|r| r.name == name)?;
        repo.description = Some(description.to_owned());
        repo.updated_at = now_secs();
        Some(repo.clone())
    }

    fn base(&self) -> String {
        lock(&self.base_url).clone()
    }

    fn user(&self, login: &str, id: u64) -> Value {
        let base = self.base();
        let mut user = self.templates.issue["user"].clone();
        merge(
            &mut user,
            &json!({
                "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"),
                "url": format!("{base}/users/{login}"), "html_url": format!("https://github.com/{login}"),
                "type": "User", "site_admin": false,
            }),
        );
        user
    }

    fn render_issue(&self, item: &Item) -> Value {
        let base = self.base();
        let n = item.number;
        let repo_url = format!("{base}/repos/{OWNER}/{REPO}");
        let mut issue = self.templates.issue.clone();
        let labels: Vec<Value> = item
            .labels
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({"id": 208_045_946 + i as u64, "node_id": format!("MDU6TGFiZWwy{i}"),
                    "url": format!("{repo_url}/labels/{name}"), "name": name,
                    "description": null, "color": "f29513", "default": false})
            })
            .collect();
        let assignees: Vec<Value> = item
            .assignees
            .iter()
            .enumerate()
            .map(|(i, login)| self.user(login, 2000 + i as u64))
            .collect();
        let milestone = item.milestone.map(|m| {
            let mut milestone = self.templates.issue["milestone"].clone();
            merge(
                &mut milestone,
                &json!({"number": m, "id": 1_002_604 + m, "title": format!("v{m}.0"), "state": "open",
                    "url": format!("{repo_url}/milestones/{m}")}),
            );
            milestone
        });
        merge(
            &mut issue,
            &json!({
                "id": 1_000_000 + n, "node_id": format!("MDU6SXNzdWUx{n}"), "number": n,
                "url": format!("{repo_url}/issues/{n}"), "repository_url": repo_url,
                "labels_url": format!("{repo_url}/issues/{n}/labels{{/name}}"),
                "comments_url": format!("{repo_url}/issues/{n}/comments"),
                "events_url": format!("{repo_url}/issues/{n}/events"),
                "html_url": format!("https://github.com/{OWNER}/{REPO}/issues/{n}"),
                "title": item.title, "body": item.body, "state": item.state,
                "user": self.user(OWNER, 1),
                "labels": labels, "assignee": assignees.first().cloned(), "assignees": assignees,
                "milestone": milestone, "locked": false, "comments": 0,
                "created_at": github_time(item.created_at), "updated_at": github_time(item.updated_at),
                "closed_at": (item.state == "closed").then(|| github_time(item.updated_at)),
                "author_association": "OWNER",
            }),
        );
        let object = issue.as_object_mut().expect("an issue is an object");
        if item.is_pull {
            object.insert(
                "pull_request".into(),
                json!({"url": format!("{repo_url}/pulls/{n}"),
                    "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{n}"),
                    "diff_url": format!("https://github.com/{OWNER}/{REPO}/pull/{n}.diff"),
                    "patch_url": format!("https://github.com/{OWNER}/{REPO}/pull/{n}.patch")}),
            );
        } else {
            object.remove("pull_request");
        }
        issue
    }

    fn render_pull(&self, item: &Item, simple: bool) -> Value {
        let base = self.base();
        let n = item.number;
        let repo_url = format!("{base}/repos/{OWNER}/{REPO}");
        let mut pull = if simple {
            self.templates.pull_simple.clone()
        } else {
            self.templates.pull.clone()
        };
        merge(
            &mut pull,
            &json!({
                "id": 2_000_000 + n, "node_id": format!("MDExOlB1bGxSZXF1ZXN0{n}"), "number": n,
                "url": format!("{repo_url}/pulls/{n}"),
                "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{n}"),
                "issue_url": format!("{repo_url}/issues/{n}"),
                "title": item.title, "body": item.body, "state": item.state,
                "user": self.user(OWNER, 1), "locked": false,
                "created_at": github_time(item.created_at), "updated_at": github_time(item.updated_at),
                "closed_at": (item.state == "closed").then(|| github_time(item.updated_at)),
                "merged_at": null, "author_association": "OWNER",
            }),
        );
        pull
    }

    fn render_repo(&self, repo: &Repo, full: bool) -> Value {
        let base = self.base();
        let mut value = if full {
            self.templates.full_repo.clone()
        } else {
            self.templates.repo.clone()
        };
        let name = &repo.name;
        merge(
            &mut value,
            &json!({
                "id": repo.id, "node_id": format!("MDEwOlJlcG9zaXRvcnk{}", repo.id), "name": name,
                "full_name": format!("{OWNER}/{name}"), "owner": self.user(OWNER, 1), "private": false,
                "html_url": format!("https://github.com/{OWNER}/{name}"), "description": repo.description,
                "fork": false, "url": format!("{base}/repos/{OWNER}/{name}"),
                "created_at": github_time(repo.created_at), "updated_at": github_time(repo.updated_at),
                "pushed_at": github_time(repo.updated_at), "default_branch": "main",
            }),
        );
        value
    }

    fn new_number(&self) -> u64 {
        lock(&self.items).keys().next_back().map_or(1, |n| n + 1)
    }
}

/// Sets `fields` on `target` (top level only).
fn merge(target: &mut Value, fields: &Value) {
    if let (Some(target), Some(fields)) = (target.as_object_mut(), fields.as_object()) {
        for (k, v) in fields {
            target.insert(k.clone(), v.clone());
        }
    }
}

fn message(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message, "documentation_url": DOCS}))).into_response()
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => message(status, "You have exceeded a secondary rate limit."),
        _ => message(status, "Server Error"),
    }
}

fn validation_failed(field: &str, code: &str, value: Option<&Value>) -> Response {
    let mut error = json!({"resource": "Issue", "field": field, "code": code});
    if let Some(value) = value {
        error["value"] = value.clone();
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"message": "Validation Failed", "errors": [error], "documentation_url": DOCS})),
    )
        .into_response()
}

/// A request's refusal before its operation runs: bad credentials or an unknown repository.
fn refused(
    github: &Github,
    headers: &HeaderMap,
    repo: Option<(&str, &str)>,
    repo_names: &[String],
) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")))
        .map(str::trim);
    let now = now_secs();
    let installation = |t: &str| {
        lock(&github.installation_tokens)
            .iter()
            .any(|(known, expires)| known == t && *expires > now)
    };
    if !token.is_some_and(|t| t == TOKEN || installation(t)) {
        return Some(message(StatusCode::UNAUTHORIZED, "Bad credentials"));
    }
    match repo {
        Some((owner, name)) if owner != OWNER || !repo_names.iter().any(|r| r == name) => {
            Some(message(StatusCode::NOT_FOUND, "Not Found"))
        }
        _ => None,
    }
}

/// `POST /app/installations/{installation_id}/access_tokens`: the app's JWT for an hour's
/// installation token.
async fn installation_token(
    State(github): State<Arc<Github>>,
    Path(installation_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((app, key)) = &github.app else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[app.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 0;
    let now = now_secs();
    let claims = match jsonwebtoken::decode::<Value>(jwt, key, &validation) {
        Ok(data) => data.claims,
        Err(_) => return message(StatusCode::UNAUTHORIZED, "A JSON web token could not be decoded"),
    };
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(i64::MAX),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if iat > now || exp - iat > 600 {
        return message(
            StatusCode::UNAUTHORIZED,
            "'Expiration time' claim ('exp') is too far in the future",
        );
    }
    if installation_id != app.installation_id.to_string() {
        return message(StatusCode::NOT_FOUND, "Not Found");
    }
    let expires = now + 3600;
    let token = format!(
        "ghs_fakeInstallation{}x{}",
        lock(&github.installation_tokens).len() + 1,
        now_ms()
    );
    lock(&github.installation_tokens).push((token.clone(), expires));
    let expires_at = OffsetDateTime::from_unix_timestamp(expires)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    (
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "expires_at": expires_at,
            "permissions": {"issues": "write", "pull_requests": "read", "metadata": "read"},
            "repository_selection": "all",
        })),
    )
        .into_response()
}

fn repo_names(github: &Github) -> Vec<String> {
    lock(&github.repos).iter().map(|r| r.name.clone()).collect()
}

/// The issues and pulls of the fake live in `hello-world` only.
fn refused_items(github: &Github, headers: &HeaderMap, owner: &str, repo: &str) -> Option<Response> {
    refused(github, headers, Some((owner, repo)), &repo_names(github))
        .or_else(|| (repo != REPO).then(|| message(StatusCode::NOT_FOUND, "Not Found")))
}

/// A page of `items` with GitHub's `Link` header.
fn paged(github: &Github, path: &str, query: &BTreeMap<String, String>, items: Vec<Value>) -> Response {
    let per_page = match query.get("per_page").map(|p| p.parse::<usize>()) {
        None => 30,
        Some(Ok(n)) => n.clamp(1, 100),
        Some(Err(_)) => return validation_failed("per_page", "invalid", None),
    };
    let page = match query.get("page").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) => n.max(1),
        Some(Err(_)) => return validation_failed("page", "invalid", None),
    };
    let last = items.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let link_to = |p: usize| {
        let mut q = query.clone();
        q.insert("page".into(), p.to_string());
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter())
            .finish();
        format!("<{}{path}?{encoded}>", github.base())
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    let mut response = Json(Value::Array(body)).into_response();
    if !links.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
            response.headers_mut().insert("link", value);
        }
    }
    response
}

/// `since`, `sort` and `direction`, as the issue and repository lists take them.
struct Order {
    since: Option<i64>,
    by_created: bool,
    descending: bool,
}

fn order(query: &BTreeMap<String, String>) -> Result<Order, Response> {
    let since = match query.get("since") {
        None => None,
        Some(text) => Some(parse_time(text).ok_or_else(|| validation_failed("since", "invalid", None))?),
    };
    Ok(Order {
        since,
        by_created: query.get("sort").map(String::as_str) == Some("created"),
        descending: query.get("direction").map(String::as_str) != Some("asc"),
    })
}

fn sorted_items(github: &Github, order: &Order, state: Option<&str>, keep: impl Fn(&Item) -> bool) -> Vec<Item> {
    let mut items: Vec<Item> = lock(&github.items)
        .values()
        .filter(|i| keep(i))
        .filter(|i| match state.unwrap_or("open") {
            "all" => true,
            s => i.state == s,
        })
        .filter(|i| order.since.is_none_or(|s| i.updated_at >= s))
        .cloned()
        .collect();
    items.sort_by_key(|i| (if order.by_created { i.created_at } else { i.updated_at }, i.number));
    if order.descending {
        items.reverse();
    }
    items
}

/// `GET /user/repos`.
async fn list_repos(
    State(github): State<Arc<Github>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&github, &headers, None, &[]) {
        return r;
    }
    let order = match order(&query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    // The fake account only owns repositories; `full_name` sorts like `name` here.
    let mut repos: Vec<Repo> = lock(&github.repos)
        .iter()
        .filter(|r| order.since.is_none_or(|s| r.updated_at >= s))
        .cloned()
        .collect();
    match query.get("sort").map(String::as_str) {
        Some("created") => repos.sort_by_key(|r| (r.created_at, r.id)),
        Some("updated") => repos.sort_by_key(|r| (r.updated_at, r.id)),
        Some("pushed") => repos.sort_by_key(|r| (r.updated_at, r.id)),
        _ => repos.sort_by(|a, b| a.name.cmp(&b.name)),
    }
    // full_name sorts ascending by default, the others descending.
    let descending = match query.get("direction").map(String::as_str) {
        Some(d) => d == "desc",
        None => !matches!(query.get("sort").map(String::as_str), None | Some("full_name")),
    };
    if descending {
        repos.reverse();
    }
    let items = repos.iter().map(|r| github.render_repo(r, false)).collect();
    paged(&github, "/user/repos", &query, items)
}

/// `GET /repos/{owner}/{repo}`.
async fn repo(
    State(github): State<Arc<Github>>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&github, &headers, Some((&owner, &name)), &repo_names(&github)) {
        return r;
    }
    match github.repo_json(&name) {
        Some(repo) => Json(repo).into_response(),
        None => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `GET /repos/{owner}/{repo}/issues`.
async fn list_issues(
    State(github): State<Arc<Github>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused_items(&github, &headers, &owner, &repo) {
        return r;
    }
    let order = match order(&query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let items = sorted_items(&github, &order, query.get("state").map(String::as_str), |_| true)
        .iter()
        .map(|i| github.render_issue(i))
        .collect();
    paged(&github, &format!("/repos/{owner}/{repo}/issues"), &query, items)
}

/// `GET /repos/{owner}/{repo}/pulls`: no `since` here (GitHub's pulls list has none).
async fn list_pulls(
    State(github): State<Arc<Github>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused_items(&github, &headers, &owner, &repo) {
        return r;
    }
    let order = Order {
        since: None,
        by_created: !matches!(query.get("sort").map(String::as_str), Some("updated")),
        descending: query.get("direction").map(String::as_str) != Some("asc"),
    };
    let items = sorted_items(&github, &order, query.get("state").map(String::as_str), |i| i.is_pull)
        .iter()
        .map(|i| github.render_pull(i, true))
        .collect();
    paged(&github, &format!("/repos/{owner}/{repo}/pulls"), &query, items)
}

/// `GET /repos/{owner}/{repo}/issues/{number}`: pull requests are issues too.
async fn issue(
    State(github): State<Arc<Github>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused_items(&github, &headers, &owner, &repo) {
        return r;
    }
    match number.parse().ok().and_then(|n| github.issue_json(n)) {
        Some(issue) => Json(issue).into_response(),
        None => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `GET /repos/{owner}/{repo}/pulls/{number}`.
async fn pull(
    State(github): State<Arc<Github>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused_items(&github, &headers, &owner, &repo) {
        return r;
    }
    match number.parse().ok().and_then(|n| github.pull_json(n)) {
        Some(pull) => Json(pull).into_response(),
        None => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Applies the writable fields of an issue create or update; a 422 when GitHub would refuse.
fn apply(item: &mut Item, input: &Map<String, Value>) -> Result<(), Response> {
    if let Some(title) = input.get("title") {
        let text = match title {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(validation_failed("title", "invalid", Some(title))),
        };
        if text.trim().is_empty() {
            return Err(validation_failed("title", "missing_field", None));
        }
        item.title = text;
    }
    if let Some(body) = input.get("body") {
        item.body = body.as_str().map(str::to_owned);
    }
    if let Some(state) = input.get("state").and_then(Value::as_str) {
        item.state = state.to_owned();
    }
    if let Some(milestone) = input.get("milestone") {
        item.milestone = match milestone {
            Value::Null => None,
            value => match value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok())) {
                Some(m) if MILESTONES.contains(&m) => Some(m),
                _ => return Err(validation_failed("milestone", "invalid", Some(value))),
            },
        };
    }
    let names = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().or_else(|| v["name"].as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(labels) = input.get("labels") {
        item.labels = names(labels);
    }
    if let Some(assignees) = input.get("assignees") {
        item.assignees = names(assignees);
    }
    Ok(())
}

fn json_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(message(StatusCode::BAD_REQUEST, "Problems parsing JSON")),
    }
}

/// `POST /repos/{owner}/{repo}/issues`.
async fn create_issue(
    State(github): State<Arc<Github>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused_items(&github, &headers, &owner, &repo) {
        return r;
    }
    let input = match json_body(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    if !input.contains_key("title") {
        return validation_failed("title", "missing_field", None);
    }
    let now = now_secs();
    let mut item = Item {
        number: 0,
        title: String::new(),
        body: None,
        state: "open".into(),
        labels: Vec::new(),
        assignees: Vec::new(),
        milestone: None,
        is_pull: false,
        created_at: now,
        updated_at: now,
    };
    if let Err(r) = apply(&mut item, &input) {
        return r;
    }
    item.number = github.new_number();
    lock(&github.items).insert(item.number, item.clone());
    (StatusCode::CREATED, Json(github.render_issue(&item))).into_response()
}

/// `PATCH /repos/{owner}/{repo}/issues/{number}`.
async fn update_issue(
    State(github): State<Arc<Github>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused_items(&github, &headers, &owner, &repo) {
        return r;
    }
    let input = match json_body(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let Some(mut item) = number.parse().ok().and_then(|n| github.item(n)) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    if let Err(r) = apply(&mut item, &input) {
        return r;
    }
    item.updated_at = now_secs();
    lock(&github.items).insert(item.number, item.clone());
    Json(github.render_issue(&item)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_generated_from_the_spec_is_an_object() {
        let t = Templates::load();
        for (name, value) in [
            ("issue", &t.issue),
            ("pull", &t.pull),
            ("pull_simple", &t.pull_simple),
            ("repo", &t.repo),
            ("full_repo", &t.full_repo),
        ] {
            assert!(value.get("url").is_some(), "{name}: {value}");
        }
    }
}
