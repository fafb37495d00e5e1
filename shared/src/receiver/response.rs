//! HTTP answers of the receiver. Bodies are generic on purpose: why a signature was rejected is
//! in the log, never in the response, and an unknown connection looks like a bad signature.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};

/// `Retry-After` (seconds) when AWS throttled the receiver, and after any other failure on our side.
const THROTTLED_RETRY_AFTER: &str = "10";
const UNAVAILABLE_RETRY_AFTER: &str = "2";

/// Every answer the receiver gives. Its `Debug` shows a challenge's header names, never their
/// values.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    Accepted {
        accepted: usize,
        duplicates: usize,
    },
    Challenge {
        body: String,
        content_type: &'static str,
        /// Headers the handshake's answer must carry (Asana's `X-Hook-Secret` echo). Never
        /// logged: the value can be the webhook's secret.
        headers: Vec<(&'static str, String)>,
    },
    BadRequest,
    Unauthorized,
    MethodNotAllowed,
    TooLarge,
    /// Our side failed (DynamoDB, SQS, Secrets Manager): the provider should retry, later when
    /// AWS throttled us (`Retry-After` says how much later).
    Unavailable {
        throttled: bool,
    },
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Accepted { accepted, duplicates } => f
                .debug_struct("Accepted")
                .field("accepted", accepted)
                .field("duplicates", duplicates)
                .finish(),
            Reply::Challenge {
                body,
                content_type,
                headers,
            } => f
                .debug_struct("Challenge")
                .field("body", body)
                .field("content_type", content_type)
                .field(
                    "headers",
                    &headers
                        .iter()
                        .map(|(name, _)| (*name, "[redacted]"))
                        .collect::<Vec<_>>(),
                )
                .finish(),
            Reply::BadRequest => f.write_str("BadRequest"),
            Reply::Unauthorized => f.write_str("Unauthorized"),
            Reply::MethodNotAllowed => f.write_str("MethodNotAllowed"),
            Reply::TooLarge => f.write_str("TooLarge"),
            Reply::Unavailable { throttled } => f.debug_struct("Unavailable").field("throttled", throttled).finish(),
        }
    }
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Accepted { .. } | Reply::Challenge { .. } => 200,
            Reply::BadRequest => 400,
            Reply::Unauthorized => 401,
            Reply::MethodNotAllowed => 405,
            Reply::TooLarge => 413,
            Reply::Unavailable { .. } => 503,
        }
    }

    pub fn into_response(self) -> ApiGatewayV2httpResponse {
        let status = self.status();
        let retry_after = match self {
            Reply::Unavailable { throttled } => Some(if throttled {
                THROTTLED_RETRY_AFTER
            } else {
                UNAVAILABLE_RETRY_AFTER
            }),
            _ => None,
        };
        let mut extra = Vec::new();
        let (body, content_type) = match self {
            Reply::Accepted { accepted, duplicates } => (
                serde_json::json!({"status": "accepted", "accepted": accepted, "duplicates": duplicates}).to_string(),
                "application/json",
            ),
            Reply::Challenge {
                body,
                content_type,
                headers,
            } => {
                extra = headers;
                (body, content_type)
            }
            Reply::BadRequest => (r#"{"error":"malformed request"}"#.to_string(), "application/json"),
            Reply::Unauthorized => (r#"{"error":"unauthorized"}"#.to_string(), "application/json"),
            Reply::MethodNotAllowed => (r#"{"error":"method not allowed"}"#.to_string(), "application/json"),
            Reply::TooLarge => (r#"{"error":"payload too large"}"#.to_string(), "application/json"),
            Reply::Unavailable { .. } => (
                r#"{"error":"temporarily unavailable, retry later"}"#.to_string(),
                "application/json",
            ),
        };
        let mut resp = ApiGatewayV2httpResponse::default();
        resp.status_code = i64::from(status);
        resp.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(secs) = retry_after {
            resp.headers.insert(RETRY_AFTER, HeaderValue::from_static(secs));
        }
        if status == 200 && content_type == "text/plain" {
            // A challenge echoes what the provider sent: never let a browser sniff it as HTML.
            resp.headers.insert(
                http::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
        }
        for (name, value) in extra {
            // A value that cannot be a header (checked printable ASCII before) is left out.
            if let Ok(value) = HeaderValue::from_str(&value) {
                resp.headers.insert(name, value);
            }
        }
        resp.body = Some(Body::Text(body));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_debug_names_its_headers_but_never_their_values() {
        let reply = Reply::Challenge {
            body: String::new(),
            content_type: "text/plain",
            headers: vec![("X-Hook-Secret", "hook-secret-value-1234".into())],
        };
        let shown = format!("{reply:?}");
        assert!(shown.contains("X-Hook-Secret"), "{shown}");
        assert!(!shown.contains("hook-secret-value-1234"), "{shown}");
        let response = reply.into_response();
        assert_eq!(
            response.headers.get("X-Hook-Secret").map(|v| v.to_str().unwrap()),
            Some("hook-secret-value-1234"),
            "the answer itself still carries the value"
        );
    }
}
