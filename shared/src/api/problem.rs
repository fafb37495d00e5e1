//! RFC 9457 problem details: every error the API gives is `application/problem+json` with
//! `type`, `title`, `status` and `detail`; a validation problem adds `errors`, one per field.

use serde::Serialize;

use super::response::ApiResponse;

/// Where the problem types are described (a relative reference, resolved against the API's URL).
const TYPE_BASE: &str = "/v1/problems/";

/// One field a request got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the body (`webhook.scheme`), or a query parameter.
    pub field: String,
    pub detail: String,
}

/// An RFC 9457 problem document, as sent (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    /// A URI reference naming the kind of problem: `/v1/problems/<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// One entry per invalid field (validation problems only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    /// The last segment of the `type` URI: `not-found`, `validation`, ...
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra headers (`Retry-After`, `Allow`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
}

impl Problem {
    fn new(status: u16, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Self::new(401, "unauthorized", "Unauthorized", detail);
        p.headers.push(("www-authenticate", "Bearer".into()));
        p
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, "forbidden", "Forbidden", detail)
    }

    /// Unknown route, unknown resource, and another tenant's resource: all look the same.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not Found", detail)
    }

    pub fn method_not_allowed(allow: &[&str]) -> Self {
        let mut p = Self::new(
            405,
            "method-not-allowed",
            "Method Not Allowed",
            format!("this route answers {}", allow.join(", ")),
        );
        p.headers.push(("allow", allow.join(", ")));
        p
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, "conflict", "Conflict", detail)
    }

    /// A per-tenant cap (connectors, versions) is reached; the detail says which and what to
    /// do.
    pub fn limit_reached(detail: impl Into<String>) -> Self {
        Self::new(409, "limit-reached", "Limit Reached", detail)
    }

    /// The `Idempotency-Key` was used (by this API key, in the last 24 hours) for another
    /// request: another method, path or body.
    pub fn idempotency_key_reused() -> Self {
        let mut p = Self::new(
            422,
            "idempotency-key-reused",
            "Idempotency Key Reused",
            "this Idempotency-Key was used for a different request (method, path or body) in the last 24 hours; use a new key for a new request",
        );
        p.errors.push(FieldError {
            field: "Idempotency-Key".into(),
            detail: "already used for a different request".into(),
        });
        p
    }

    /// The same request with this `Idempotency-Key` is still being answered.
    pub fn idempotency_key_in_flight() -> Self {
        let mut p = Self::new(
            409,
            "idempotency-key-in-flight",
            "Request In Progress",
            "a request with this Idempotency-Key is still in progress; retry shortly to get its answer",
        );
        p.headers.push(("retry-after", "1".into()));
        p
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(400, "malformed-request", "Malformed Request", detail)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "too-large",
            "Payload Too Large",
            format!("the body is larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            "send the body as application/json",
        )
    }

    /// Field-level validation errors (422).
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.detail),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut p = Self::new(422, "validation", "Validation Failed", detail);
        p.errors = errors;
        p
    }

    /// One invalid field.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            detail: detail.into(),
        }])
    }

    pub fn rate_limited(detail: impl Into<String>) -> Self {
        Self::new(429, "rate-limited", "Too Many Requests", detail)
    }

    /// Our side failed; the detail is generic (the log has the cause).
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal",
            "Internal Server Error",
            "the request could not be completed; it is safe to retry",
        )
    }

    /// A provider refused or failed a write made for this request (the detail says which).
    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(502, "bad-gateway", "Bad Gateway", detail)
    }

    pub fn unavailable() -> Self {
        let mut p = Self::new(
            503,
            "unavailable",
            "Service Unavailable",
            "a backing service is busy; retry shortly",
        );
        p.headers.push(("retry-after", "2".into()));
        p
    }

    pub fn type_uri(&self) -> String {
        format!("{TYPE_BASE}{}", self.slug)
    }

    pub fn into_response(self) -> ApiResponse {
        let body = serde_json::to_string(&ProblemDetails {
            kind: self.type_uri(),
            title: self.title.to_string(),
            status: self.status,
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        })
        .expect("a problem serialises");
        let mut resp = ApiResponse::new(self.status, "application/problem+json", body);
        for (name, value) in self.headers {
            resp.headers.push((name.to_string(), value));
        }
        resp
    }
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::AlreadyExists { kind, id } => Problem::conflict(format!("{kind} {id} already exists")),
            StoreError::NotFound { kind, id } => Problem::not_found(format!("{kind} {id} does not exist")),
            StoreError::Invalid { what, reason } => Problem::field(what, reason),
            e if e.is_throttled() => {
                tracing::warn!(message = "DynamoDB throttled an API request.", error = %e);
                Problem::unavailable()
            }
            e => {
                tracing::error!(message = "API request failed in the store.", error = %e);
                Problem::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_problem_is_problem_json_with_field_errors() {
        let resp = Problem::field("limit", "at most 200").into_response();
        assert_eq!(resp.status, 422);
        assert_eq!(resp.header("content-type"), Some("application/problem+json"));
        let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(body["type"], "/v1/problems/validation");
        assert_eq!(body["title"], "Validation Failed");
        assert_eq!(body["status"], 422);
        assert_eq!(body["detail"], "limit: at most 200");
        assert_eq!(body["errors"][0]["field"], "limit");
    }

    #[test]
    fn unauthorized_names_the_scheme_and_has_no_errors_member() {
        let resp = Problem::unauthorized("no key").into_response();
        assert_eq!(resp.status, 401);
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
        let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert!(body.get("errors").is_none());
    }
}
