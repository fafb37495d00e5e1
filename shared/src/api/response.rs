//! The API's answer, independent of how it travels (API Gateway's payload v2, the local runner).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use http::header::{HeaderName, HeaderValue};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// What an idempotent replay of this answer returns instead of `body`, when `body` holds
    /// something shown once (a new API key): see [`super::idempotency`].
    pub replay_body: Option<String>,
    /// The route wrote its audit entry itself, in the same transaction as its change (see
    /// [`super::auditing::entry`]): the generic record after the route is skipped.
    pub audited: bool,
}

impl ApiResponse {
    pub fn new(status: u16, content_type: &str, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            replay_body: None,
            audited: false,
        }
    }

    /// A JSON body.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        let body = serde_json::to_string(value).expect("API representations serialise");
        Self::new(status, "application/json", body)
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: String::new(),
            replay_body: None,
            audited: false,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Marks the answer as audited by its route (see [`Self::audited`]).
    pub fn audited(mut self) -> Self {
        self.audited = true;
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn into_apigw(self) -> ApiGatewayV2httpResponse {
        let mut resp = ApiGatewayV2httpResponse::default();
        resp.status_code = i64::from(self.status);
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                resp.headers.append(name, value);
            }
        }
        if !self.body.is_empty() {
            resp.body = Some(Body::Text(self.body));
        }
        resp.is_base64_encoded = false;
        resp
    }
}
