//! HubSpot's error responses: `{"status":"error","message",...,"correlationId","category"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::schema::ObjectType;
use crate::timestamp::correlation_id;

/// Largest `inputs` array the batch endpoints accept.
pub const MAX_BATCH_INPUTS: usize = 100;

/// An error response with HubSpot's body.
#[derive(Debug)]
pub(crate) struct HubspotError {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl IntoResponse for HubspotError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>, category: &str) -> HubspotError {
    HubspotError {
        status,
        body: json!({
            "status": "error",
            "message": message.into(),
            "correlationId": correlation_id(),
            "category": category,
        }),
    }
}

pub(crate) fn validation(message: impl Into<String>) -> HubspotError {
    error(StatusCode::BAD_REQUEST, message, "VALIDATION_ERROR")
}

pub(crate) fn not_found() -> HubspotError {
    error(StatusCode::NOT_FOUND, "resource not found", "OBJECT_NOT_FOUND")
}

pub(crate) fn conflict(object_type: ObjectType, existing: &str) -> HubspotError {
    error(
        StatusCode::CONFLICT,
        format!(
            "{} already exists. Existing ID: {existing}",
            object_type.title_singular()
        ),
        "CONFLICT",
    )
}

/// Missing or unknown bearer token.
pub(crate) fn unauthorized() -> HubspotError {
    error(
        StatusCode::UNAUTHORIZED,
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more \
         details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "INVALID_AUTHENTICATION",
    )
}

/// An OAuth access token past its lifetime.
pub(crate) fn expired(seconds_ago: u64) -> HubspotError {
    error(
        StatusCode::UNAUTHORIZED,
        format!("The OAuth token used to make this call expired {seconds_ago} second(s) ago."),
        "EXPIRED_AUTHENTICATION",
    )
}

/// Which limit a 429 reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// The 10-second rolling limit of every API call.
    TenSecondlyRolling,
    /// The search endpoints' per-second limit.
    Secondly,
}

/// The documented 429 body.
pub(crate) fn rate_limited(policy: Policy) -> HubspotError {
    let (message, name) = match policy {
        Policy::TenSecondlyRolling => (
            "You have reached your ten_secondly_rolling limit.",
            "TEN_SECONDLY_ROLLING",
        ),
        Policy::Secondly => ("You have reached your secondly limit.", "SECONDLY"),
    };
    HubspotError {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: json!({
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": name,
            "requestId": correlation_id(),
        }),
    }
}

pub(crate) fn batch_too_large() -> HubspotError {
    validation(format!(
        "The maximum number of inputs supported in a batch request is {MAX_BATCH_INPUTS}. Please reduce the number \
         of items and try again"
    ))
}

/// A body that is not the expected JSON, in HubSpot's wording.
pub(crate) fn invalid_json(e: &serde_json::Error) -> HubspotError {
    validation(format!(
        "Invalid input JSON on line {}, column {}: {e}",
        e.line(),
        e.column()
    ))
}

pub(crate) fn unknown_object_type(segment: &str) -> HubspotError {
    validation(format!("Unable to infer object type from: {segment}"))
}

/// Bodies for injected faults.
pub(crate) fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => rate_limited(Policy::TenSecondlyRolling).into_response(),
        StatusCode::INTERNAL_SERVER_ERROR => error(status, "internal error", "INTERNAL_ERROR").into_response(),
        StatusCode::GATEWAY_TIMEOUT | StatusCode::BAD_GATEWAY => error(
            status,
            "The request timed out; please retry in a few seconds.",
            "TIMEOUT",
        )
        .into_response(),
        other => error(
            other,
            other.canonical_reason().unwrap_or("injected failure"),
            "INJECTED_FAULT",
        )
        .into_response(),
    }
}
