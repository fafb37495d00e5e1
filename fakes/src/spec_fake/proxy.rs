//! Proxy mode: check each request and response against the spec and pass both through
//! unchanged (in front of localstripe, for example).

use axum::http::HeaderMap;
use axum::response::Response;

use super::handler::response;
use super::SpecFake;
use crate::spec::{RequestParts, ResponseParts};

/// Hop-by-hop headers and the ones the client recomputes.
const SKIPPED: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

pub(crate) async fn forward(
    fake: &SpecFake,
    upstream: &str,
    headers: &HeaderMap,
    request: RequestParts<'_>,
) -> Response {
    let checked = fake.spec.check_request(&request);
    fake.violations.record(fake.name, checked.violations);
    let url = match request.query {
        Some(query) => format!("{upstream}{}?{query}", request.path),
        None => format!("{upstream}{}", request.path),
    };
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut outbound = fake.http.request(method, &url).body(request.body.to_vec());
    for (name, value) in headers {
        if !SKIPPED.contains(&name.as_str()) {
            outbound = outbound.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match outbound.send().await {
        Ok(answer) => answer,
        Err(error) => {
            return response(
                502,
                &[("content-type".into(), "application/json".into())],
                serde_json::json!({"message": format!("the upstream {upstream} did not answer: {error}")})
                    .to_string()
                    .into_bytes(),
            )
        }
    };
    let status = answer.status().as_u16();
    let answer_headers: Vec<(String, String)> = answer
        .headers()
        .iter()
        .filter(|(n, _)| !SKIPPED.contains(&n.as_str()))
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
        .collect();
    let body = answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    if let Some(matched) = &checked.matched {
        let content_type = answer_headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str());
        let violations = fake.spec.check_response(
            matched,
            &request,
            &ResponseParts {
                status,
                content_type,
                body: &body,
            },
        );
        fake.violations.record(fake.name, violations);
    }
    response(status, &answer_headers, body)
}
