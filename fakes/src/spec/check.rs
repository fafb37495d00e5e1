//! Spec checks in front of a hand-written fake: every request and response is validated and
//! violations are recorded; the fake answers as it always does.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{RequestParts, ResponseParts, Spec, SpecError, ViolationLog};

/// Largest body buffered for a check.
const MAX_BODY: usize = 16 << 20;

/// Which spec to check a hand-written fake's traffic against.
#[derive(Debug, Clone, Default)]
pub struct SpecCheck {
    /// Files relative to the specs folder.
    pub files: Vec<String>,
    /// Parameters to skip, `in:name`.
    pub ignore_parameters: Vec<String>,
    /// `(method, declared)`: requests with `method` may match operations declared for
    /// `declared`.
    pub method_aliases: Vec<(String, String)>,
    /// Corrections to the spec, as a profile's `spec_patches`.
    pub patches: Vec<super::SpecPatch>,
    /// Accept a 2xx response that fits the operation's `default` (error) response: for APIs
    /// that answer errors with HTTP 200.
    pub errors_in_success: bool,
    /// Overrides the specs folder.
    pub specs_dir: Option<PathBuf>,
}

impl SpecCheck {
    /// HubSpot's CRM v3 contacts, companies and deals, with the corrections the HubSpot
    /// profile (`fakes/profiles/hubspot.yaml`) makes to them: the same spec for both fakes.
    pub fn hubspot() -> Self {
        Self {
            files: ["hubspot/contacts.yaml", "hubspot/companies.yaml", "hubspot/deals.yaml"]
                .map(String::from)
                .to_vec(),
            patches: profile_patches(include_str!("../../profiles/hubspot.yaml")),
            ..Self::default()
        }
    }

    /// Slack's Web API. Its spec declares the token as a `token` header; clients send
    /// `Authorization: Bearer` (as Slack documents), so that parameter is skipped. Every Web
    /// API method takes POST as well as GET (api.slack.com/web), so methods the spec lists as
    /// GET only (`auth.test`) match a POST too. Slack answers errors with HTTP 200 and
    /// `{"ok": false, "error": ...}` (api.slack.com/web, "Evaluating responses"); its spec
    /// gives that shape as each method's `default` response, so a 200 may fit either.
    pub fn slack() -> Self {
        Self {
            files: vec!["slack/slack_web_openapi_v2_without_examples.json".into()],
            ignore_parameters: vec!["header:token".into()],
            method_aliases: vec![("POST".into(), "GET".into())],
            errors_in_success: true,
            ..Self::default()
        }
    }

    pub(crate) fn load(&self) -> Result<Spec, SpecError> {
        let dir = self.specs_dir.clone().unwrap_or_else(super::specs_dir);
        let mut spec = Spec::load_patched(&dir, &self.files, &self.patches)?;
        spec.ignore_parameters(self.ignore_parameters.iter().cloned());
        if self.errors_in_success {
            spec.accept_errors_in_success();
        }
        for (method, declared) in &self.method_aliases {
            if let (Ok(method), Ok(declared)) = (
                http::Method::from_bytes(method.as_bytes()),
                http::Method::from_bytes(declared.as_bytes()),
            ) {
                spec.alias_method(method, declared);
            }
        }
        Ok(spec)
    }
}

/// The `spec_patches` of an embedded profile (read from its text, so this module does not
/// depend on the profile module, which depends on it).
fn profile_patches(yaml: &str) -> Vec<super::SpecPatch> {
    #[derive(serde::Deserialize)]
    struct Patches {
        #[serde(default)]
        spec_patches: Vec<super::SpecPatch>,
    }
    serde_yaml::from_str::<Patches>(yaml)
        .expect("an embedded profile's spec_patches parse (the profile tests check them)")
        .spec_patches
}

/// State of the checking middleware.
pub(crate) struct CheckLayer {
    pub(crate) fake: &'static str,
    pub(crate) spec: Spec,
    pub(crate) log: Arc<ViolationLog>,
}

fn header_pairs(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
        .collect()
}

/// Checks the request, runs the fake, checks its response.
pub(crate) async fn check(State(layer): State<Arc<CheckLayer>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return next.run(Request::from_parts(parts, Body::empty())).await;
    };
    let headers = header_pairs(&parts.headers);
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let request = RequestParts {
        method: &method,
        path: &path,
        query: query.as_deref(),
        headers,
        content_type: content_type.as_deref(),
        body: &bytes,
    };
    let checked = layer.spec.check_request(&request);
    layer.log.record(layer.fake, checked.violations);

    let response = next.run(Request::from_parts(parts, Body::from(bytes.clone()))).await;
    let Some(matched) = checked.matched else {
        return response;
    };
    let (response_parts, response_body) = response.into_parts();
    let Ok(response_bytes) = axum::body::to_bytes(response_body, MAX_BODY).await else {
        return Response::from_parts(response_parts, Body::empty());
    };
    let response_type = response_parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let violations = layer.spec.check_response(
        &matched,
        &request,
        &ResponseParts {
            status: response_parts.status.as_u16(),
            content_type: response_type.as_deref(),
            body: &response_bytes,
        },
    );
    layer.log.record(layer.fake, violations);
    Response::from_parts(response_parts, Body::from(response_bytes))
}
