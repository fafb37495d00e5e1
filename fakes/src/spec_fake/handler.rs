//! The request pipeline: fake endpoints, spec check, auth, rate limit, collections, response
//! check.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use http::Method;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::access::Budget;
use super::generate::Generator;
use super::{list, proxy, search, template, webhooks, SpecFake};
use crate::profile::{Collection, ErrorShape};
use crate::spec::{Matched, RequestParts, ResponseParts, Violation};
use crate::timestamp::correlation_id;

/// Largest request body read.
const MAX_BODY: usize = 16 << 20;

/// What the fake answers, before it is checked and sent.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// Builds an HTTP response from a status, headers and bytes.
pub(crate) fn response(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A one-line summary of a violation for an error message.
fn describe(violation: &Violation) -> String {
    if violation.pointer.is_empty() {
        violation.message.clone()
    } else {
        format!("{} (at {})", violation.message, violation.pointer)
    }
}

pub(crate) async fn handle(State(fake): State<Arc<SpecFake>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return response(413, &[], b"request body too large".to_vec());
    };
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
        .collect();

    if let Some(control) = path.strip_prefix("/_fake/") {
        return fake.control(&method, control);
    }
    if let Some(oauth) = &fake.profile.auth.oauth {
        if path == oauth.token_path && method == Method::POST {
            return fake.token(&bytes);
        }
    }
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.clone());
    let request = RequestParts {
        method: method.as_str(),
        path: &path,
        query: query.as_deref(),
        headers: headers.clone(),
        content_type: content_type.as_deref(),
        body: &bytes,
    };
    if let Some(upstream) = fake.proxy.clone() {
        return proxy::forward(&fake, &upstream, &parts.headers, request).await;
    }

    let checked = fake.spec.check_request(&request);
    let mut reply = None;
    if let Some(first) = checked.violations.first() {
        let summary = describe(first);
        let unknown = checked.matched.is_none();
        fake.violations.record(fake.name, checked.violations.clone());
        if unknown {
            reply = Some(fake.error(&fake.profile.errors.not_found, &summary));
        } else if fake.reject_violations {
            reply = Some(fake.error(&fake.profile.errors.bad_request, &summary));
        }
    }
    let reply = match (reply, &checked.matched) {
        (Some(reply), _) => reply,
        (None, None) => fake.error(&fake.profile.errors.not_found, "no such operation"),
        (None, Some(matched)) => fake.admitted(&method, matched, query.as_deref(), &headers, checked.body.as_ref()),
    };

    let body = reply
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).unwrap_or_default())
        .unwrap_or_default();
    let mut headers = reply.headers;
    if reply.body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    if let Some(matched) = &checked.matched {
        let violations = fake.spec.check_response(
            matched,
            &request,
            &ResponseParts {
                status: reply.status,
                content_type: Some("application/json"),
                body: &body,
            },
        );
        fake.violations.record(fake.name, violations);
    }
    response(reply.status, &headers, body)
}

impl SpecFake {
    /// The provider's error body for `shape`, with the message filled in.
    pub(crate) fn error(&self, shape: &ErrorShape, message: &str) -> Reply {
        let vars = |name: &str| match name {
            "message" => Some(Value::String(message.to_owned())),
            "correlation_id" => Some(Value::String(correlation_id())),
            _ => None,
        };
        Reply::json(shape.status, template::fill(&shape.body, &vars))
    }

    /// `/_fake/...`: the violation record and collection counts.
    fn control(&self, method: &Method, path: &str) -> Response {
        let json = |status: u16, body: Value| {
            response(
                status,
                &[("content-type".into(), "application/json".into())],
                body.to_string().into_bytes(),
            )
        };
        match (method.clone(), path) {
            (Method::GET, "violations") => json(200, serde_json::to_value(self.violations()).unwrap_or_default()),
            (Method::DELETE, "violations") => {
                self.clear_violations();
                response(204, &[], Vec::new())
            }
            (Method::GET, "collections") => {
                let counts: serde_json::Map<String, Value> = self
                    .profile
                    .collections
                    .iter()
                    .map(|c| (c.name.clone(), json!(self.count(&c.name))))
                    .collect();
                json(200, Value::Object(counts))
            }
            _ => json(
                404,
                json!({"message": format!("no fake endpoint {method} /_fake/{path}")}),
            ),
        }
    }

    /// The OAuth token endpoint.
    fn token(&self, body: &[u8]) -> Response {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        let json = |status: u16, body: Value| {
            response(
                status,
                &[("content-type".into(), "application/json".into())],
                body.to_string().into_bytes(),
            )
        };
        match self.access().refresh(&form) {
            Ok((access_token, refresh_token, expires_in)) => json(
                200,
                json!({"token_type": "bearer", "access_token": access_token, "refresh_token": refresh_token, "expires_in": expires_in}),
            ),
            Err(error) => json(
                400,
                json!({"error": error, "error_description": error, "status": "error", "message": error}),
            ),
        }
    }

    /// Auth, rate limit, then the operation.
    fn admitted(
        &self,
        method: &Method,
        matched: &Matched,
        query: Option<&str>,
        headers: &[(String, String)],
        body: Option<&Value>,
    ) -> Reply {
        let Some(who) = self.access().authenticate(headers) else {
            return self.error(&self.profile.errors.unauthorized, "missing or invalid credentials");
        };
        let budget = self.access().admit(&who);
        let rate_headers = |limit: &crate::RateLimit, remaining: u32| -> Vec<(String, String)> {
            let Some(profile) = &self.profile.rate_limit else {
                return Vec::new();
            };
            profile
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = value
                        .replace("{limit}", &limit.limit.to_string())
                        .replace("{remaining}", &remaining.to_string())
                        .replace("{window_ms}", &limit.window.as_millis().to_string());
                    (name.clone(), value)
                })
                .collect()
        };
        match budget {
            Budget::Limited { limit, retry_after } => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                let body = self
                    .profile
                    .rate_limit
                    .as_ref()
                    .map(|r| {
                        template::fill(&r.body, &|name: &str| {
                            (name == "correlation_id").then(|| Value::String(correlation_id()))
                        })
                    })
                    .unwrap_or_else(|| json!({"message": "rate limited"}));
                let mut reply = Reply::json(429, body);
                reply.headers = rate_headers(&limit, 0);
                if self.profile.rate_limit.as_ref().is_some_and(|r| r.retry_after) {
                    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                    reply.headers.push(("retry-after".into(), secs.max(1).to_string()));
                }
                reply
            }
            Budget::Allowed { limit, remaining } => {
                let mut reply = self.route(method, matched, query, body);
                reply.headers.extend(rate_headers(&limit, remaining));
                reply
            }
            Budget::Unlimited => self.route(method, matched, query, body),
        }
    }

    /// Collections, extensions, or a generated answer.
    fn route(&self, method: &Method, matched: &Matched, query: Option<&str>, body: Option<&Value>) -> Reply {
        let template = matched.template.as_str();
        for c in &self.profile.collections {
            if template == c.path {
                if *method == Method::GET {
                    return list::list(self, c, query);
                }
                if *method == Method::POST {
                    return self.create(c, body);
                }
            }
            if template == c.item_path {
                let id = matched.path_params.last().map(|(_, v)| v.as_str()).unwrap_or_default();
                if *method == Method::GET {
                    return match self.object(&c.name, id) {
                        Some(object) => Reply::json(200, object),
                        None => self.missing(c, id),
                    };
                }
                if *method == Method::DELETE {
                    return self.remove(c, id);
                }
                if method.as_str().eq_ignore_ascii_case(&c.update_method) {
                    return self.modify(c, id, body);
                }
            }
            let has = |name: &str| self.profile.extensions.iter().any(|e| e == name);
            if has("filter_groups_search") && *method == Method::POST && template == format!("{}/search", c.path) {
                return search::search(self, c, body.unwrap_or(&Value::Null));
            }
        }
        self.generated(method, template)
    }

    fn missing(&self, c: &Collection, id: &str) -> Reply {
        self.error(&self.profile.errors.not_found, &format!("No {} with id {id}", c.name))
    }

    fn create(&self, c: &Collection, body: Option<&Value>) -> Reply {
        let input = body.cloned().unwrap_or_else(|| json!({}));
        let stored = self.create_object(&c.name, &input);
        webhooks::emit(
            self,
            c,
            c.events.as_ref().and_then(|e| e.created.as_deref()),
            &stored.id,
            &stored.value,
        );
        Reply::json(c.create_status, stored.value)
    }

    fn modify(&self, c: &Collection, id: &str, body: Option<&Value>) -> Reply {
        let patch = body.cloned().unwrap_or_else(|| json!({}));
        match self.update_object(&c.name, id, &patch) {
            Some(stored) => {
                webhooks::emit(
                    self,
                    c,
                    c.events.as_ref().and_then(|e| e.updated.as_deref()),
                    id,
                    &stored.value,
                );
                Reply::json(200, stored.value)
            }
            None => self.missing(c, id),
        }
    }

    fn remove(&self, c: &Collection, id: &str) -> Reply {
        let removed = self.lock().collections.get_mut(&c.name).and_then(|o| o.remove(id));
        let Some(removed) = removed else {
            return self.missing(c, id);
        };
        webhooks::emit(
            self,
            c,
            c.events.as_ref().and_then(|e| e.deleted.as_deref()),
            id,
            &removed.value,
        );
        match &c.delete_body {
            Some(body) => {
                let vars = |name: &str| (name == "id").then(|| Value::String(id.to_owned()));
                Reply::json(c.delete_status, template::fill(body, &vars))
            }
            None => Reply::empty(c.delete_status),
        }
    }

    /// An operation without state: a value generated from its success response schema.
    fn generated(&self, method: &Method, template: &str) -> Reply {
        for status in [200, 201, 202] {
            if let Some(schema) = self.spec.response_schema(method, template, status) {
                let mut rng = rand::rngs::StdRng::seed_from_u64(0);
                let value = Generator {
                    root: &schema,
                    rng: &mut rng,
                    n: 1,
                }
                .generate(&schema);
                return Reply::json(status, value);
            }
        }
        Reply::empty(204)
    }
}
