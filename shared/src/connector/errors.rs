//! Error classification: the one place that decides whether a failure is worth retrying.
//!
//! Every response goes through [`classify`]: the definition's rules first (status codes, body
//! patterns such as Slack's `{"ok": false, "error": "ratelimited"}`, headers such as
//! `Stripe-Should-Retry`), then the defaults. The retry handler and the sync loop only ask
//! [`ErrorClass`] what to do.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::definition::{ErrorAction, ErrorRule, ErrorSpec};

/// What kind of failure happened, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum ErrorClass {
    /// Worth retrying later (5xx, timeouts, connection failures).
    Transient,
    /// The provider's rate limit: retry after `retry_after` (when the provider said).
    RateLimited {
        #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
        retry_after: Option<Duration>,
    },
    /// The credentials are no longer accepted; retrying cannot help until someone
    /// re-authorises the connection.
    #[serde(rename = "reauth")]
    ReAuth,
    /// Retrying the same request cannot succeed (bad input, missing permission, bad config).
    Permanent,
}

impl ErrorClass {
    /// Whether a later attempt of the same work may succeed without a person acting.
    pub fn is_retriable(&self) -> bool {
        matches!(self, ErrorClass::Transient | ErrorClass::RateLimited { .. })
    }

    /// A stable snake_case name for logs, metrics and stored failures.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::RateLimited { .. } => "rate_limited",
            ErrorClass::ReAuth => "reauth",
            ErrorClass::Permanent => "permanent",
        }
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ErrorClass::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// What went wrong, in more detail than the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The provider answered with an error response.
    Http,
    /// The OAuth grant was refused (`invalid_grant` and friends): a person must reconnect.
    NeedsReauth,
    /// No response within the request timeout.
    Timeout,
    /// The connection failed (DNS, TCP, TLS).
    Network,
    /// A URL failed the network guard (loopback, private ranges, metadata service, scheme).
    UrlRejected,
    /// The response was not what the definition describes (not JSON, records not found, too big).
    InvalidResponse,
    /// Pagination stopped by a loop guard (repeated token, page cap).
    Pagination,
    /// The definition or the connection's config cannot serve the request.
    Config,
    /// The connection's credentials lack what the definition needs.
    Credentials,
    /// A rotated token could not be handed to the token store.
    TokenStore,
    /// A value from a record or an event (an id, say) does not fit the definition's pattern.
    InvalidInput,
    /// A database (`kind: sql`) refused a statement or failed.
    Database,
    /// A mail server (`kind: smtp`) refused a message or a command.
    Mail,
    /// A budget the provider counts over a long window (requests a day) is spent. The class is
    /// `rate_limited` with the wait; the sync queue defers such work until the budget is back
    /// instead of counting a failed attempt.
    QuotaSpent,
    /// The record the request names does not exist (an error rule's `gone`). The class is
    /// `permanent`; a delete write counts its record done.
    Gone,
}

/// A connector failure. The message is safe to log and store: it names the request (method
/// and path, never the query) and quotes at most a short provider error code, never
/// credentials or a full body.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ConnectorError {
    /// Whether and when to retry.
    pub class: ErrorClass,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// What happened, for people.
    pub message: String,
}

impl ConnectorError {
    pub fn new(class: ErrorClass, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            class,
            kind,
            status: None,
            message: message.into(),
        }
    }

    /// A problem with the definition or the connection's config.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, ErrorKind::Config, message)
    }

    /// The response does not have the shape the definition describes.
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, ErrorKind::InvalidResponse, message)
    }

    /// Whether a later attempt may succeed without a person acting.
    pub fn is_retriable(&self) -> bool {
        self.class.is_retriable()
    }

    /// `Retryable` or `NonRetryable`: the `error_type` Lambda diagnostics report.
    pub fn error_type(&self) -> &'static str {
        if self.is_retriable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }

    /// Whether the connection needs a person to re-authorise it.
    pub fn needs_reauth(&self) -> bool {
        self.class == ErrorClass::ReAuth
    }

    /// The wait until a spent long-window quota is back, when that is what failed.
    pub fn quota_wait(&self) -> Option<Duration> {
        match (self.kind, self.class) {
            (ErrorKind::QuotaSpent, ErrorClass::RateLimited { retry_after }) => {
                Some(retry_after.unwrap_or(MAX_RETRY_AFTER))
            }
            _ => None,
        }
    }
}

/// The outcome of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    Failure(ErrorClass),
    /// A long-window quota is spent (a rule's `quota_spent`): wait this long, or
    /// [`MAX_RETRY_AFTER`] when the provider did not say.
    QuotaSpent(Option<Duration>),
    /// The record the request names does not exist (a rule's `gone`): a permanent failure of
    /// kind [`ErrorKind::Gone`], which a delete write counts as done.
    Gone,
}

/// Classifies a response: the definition's rules in order, then the defaults. `body` is the
/// parsed JSON body (`Value::Null` when empty or not JSON). `now` turns HTTP-date
/// Retry-After values into delays.
pub fn classify(spec: &ErrorSpec, status: u16, headers: &HeaderMap, body: &Value, now: SystemTime) -> Verdict {
    if let Some(rule) = matching_rule(spec, status, headers, body) {
        return match rule.action {
            ErrorAction::Ok => Verdict::Success,
            ErrorAction::Gone => Verdict::Gone,
            ErrorAction::Retry => Verdict::Failure(ErrorClass::Transient),
            ErrorAction::Reauth => Verdict::Failure(ErrorClass::ReAuth),
            ErrorAction::Fail => Verdict::Failure(ErrorClass::Permanent),
            ErrorAction::RateLimited => Verdict::Failure(ErrorClass::RateLimited {
                retry_after: retry_after(headers, now).or(rule.retry_after_secs.map(Duration::from_secs)),
            }),
            ErrorAction::QuotaSpent => Verdict::QuotaSpent(
                retry_after(headers, now).or(rule
                    .retry_after_secs
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))),
            ),
        };
    }
    default_verdict(status, headers, now)
}

/// The first of the definition's rules whose conditions all hold for a response.
pub fn matching_rule<'a>(spec: &'a ErrorSpec, status: u16, headers: &HeaderMap, body: &Value) -> Option<&'a ErrorRule> {
    spec.rules.iter().find(|rule| {
        if !rule.status.is_empty() && !rule.status.iter().any(|p| p.matches(status)) {
            return false;
        }
        if rule.body.as_ref().is_some_and(|m| !m.matches(body)) {
            return false;
        }
        match &rule.header {
            None => true,
            Some(h) => headers
                .get(h.name.as_str())
                .and_then(|v| v.to_str().ok())
                .is_some_and(|value| h.equals.as_ref().is_none_or(|e| value.trim().eq_ignore_ascii_case(e))),
        }
    })
}

/// Where a response's message is: the pointer of the rule it matches, else `errors.message`.
pub fn message_pointer<'a>(spec: &'a ErrorSpec, status: u16, headers: &HeaderMap, body: &Value) -> Option<&'a str> {
    matching_rule(spec, status, headers, body)
        .and_then(|r| r.message.as_deref())
        .or(spec.message.as_deref())
}

/// The built-in mapping from status codes.
pub fn default_verdict(status: u16, headers: &HeaderMap, now: SystemTime) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        401 => Verdict::Failure(ErrorClass::ReAuth),
        408 => Verdict::Failure(ErrorClass::Transient),
        429 => Verdict::Failure(ErrorClass::RateLimited {
            retry_after: retry_after(headers, now),
        }),
        501 | 505 => Verdict::Failure(ErrorClass::Permanent),
        500..=599 => match retry_after(headers, now) {
            // A 503 with Retry-After is the server asking us to slow down.
            Some(delay) => Verdict::Failure(ErrorClass::RateLimited {
                retry_after: Some(delay),
            }),
            None => Verdict::Failure(ErrorClass::Transient),
        },
        _ => Verdict::Failure(ErrorClass::Permanent),
    }
}

/// Longest Retry-After honoured; a bigger value is clamped (a broken header must not park a
/// connection for days).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses `Retry-After`: delta-seconds or an HTTP-date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
        let at = SystemTime::from(at);
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Shortens a provider's error text for a message: one line, at most `max` characters.
pub(crate) fn short_text(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max + 1)
        .collect();
    if one_line.chars().count() > max {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::definition::ErrorSpec;
    use http::HeaderValue;
    use serde_json::json;

    #[test]
    fn a_rule_names_where_its_responses_carry_the_message() {
        let spec: ErrorSpec = serde_yaml::from_str(
            r#"
message: /error
rules:
  - body: {pointer: /Envelope/Body/UpdateResultResponse/UpdateResultResult/Status, equals: "-1"}
    action: fail
    message: /Envelope/Body/UpdateResultResponse/UpdateResultResult/StatusMessage
  - body: {pointer: /ok, equals: false}
    action: fail
"#,
        )
        .unwrap();
        let headers = HeaderMap::new();
        let soap = json!({"Envelope": {"Body": {"UpdateResultResponse": {"UpdateResultResult":
            {"Status": "-1", "StatusMessage": "Unit X is not in enrolment 1."}}}}});
        assert_eq!(
            message_pointer(&spec, 200, &headers, &soap),
            Some("/Envelope/Body/UpdateResultResponse/UpdateResultResult/StatusMessage")
        );
        // A rule without its own pointer, or no rule at all: the definition's.
        assert_eq!(
            message_pointer(&spec, 200, &headers, &json!({"ok": false})),
            Some("/error")
        );
        assert_eq!(message_pointer(&spec, 500, &headers, &json!({})), Some("/error"));
    }

    fn slack_spec() -> ErrorSpec {
        serde_yaml::from_str(
            r#"
message: /error
rules:
  - body: {pointer: /error, one_of: [ratelimited]}
    action: rate_limited
    retry_after_secs: 30
  - body: {pointer: /error, one_of: [invalid_auth, not_authed, token_revoked, account_inactive]}
    action: reauth
  - body: {pointer: /error, one_of: [internal_error, fatal_error, service_unavailable]}
    action: retry
  - status: ["2xx"]
    body: {pointer: /ok, equals: false}
    action: fail
  - status: [404]
    header: {name: X-Gone, equals: "yes"}
    action: ok
"#,
        )
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn classification_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let spec = slack_spec();
        let none = HeaderMap::new();
        let cases: Vec<(u16, HeaderMap, Value, Verdict)> = vec![
            (200, none.clone(), json!({"ok": true}), Verdict::Success),
            (
                200,
                none.clone(),
                json!({"ok": false, "error": "ratelimited"}),
                Verdict::Failure(ErrorClass::RateLimited {
                    retry_after: Some(Duration::from_secs(30)),
                }),
            ),
            (
                200,
                headers(&[("retry-after", "7")]),
                json!({"ok": false, "error": "ratelimited"}),
                Verdict::Failure(ErrorClass::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                }),
            ),
            (
                200,
                none.clone(),
                json!({"ok": false, "error": "invalid_auth"}),
                Verdict::Failure(ErrorClass::ReAuth),
            ),
            (
                200,
                none.clone(),
                json!({"ok": false, "error": "channel_not_found"}),
                Verdict::Failure(ErrorClass::Permanent),
            ),
            (
                200,
                none.clone(),
                json!({"ok": false, "error": "internal_error"}),
                Verdict::Failure(ErrorClass::Transient),
            ),
            (404, headers(&[("x-gone", "YES")]), Value::Null, Verdict::Success),
            (404, none.clone(), Value::Null, Verdict::Failure(ErrorClass::Permanent)),
            (401, none.clone(), Value::Null, Verdict::Failure(ErrorClass::ReAuth)),
            (403, none.clone(), Value::Null, Verdict::Failure(ErrorClass::Permanent)),
            (408, none.clone(), Value::Null, Verdict::Failure(ErrorClass::Transient)),
            (
                429,
                none.clone(),
                Value::Null,
                Verdict::Failure(ErrorClass::RateLimited { retry_after: None }),
            ),
            (500, none.clone(), Value::Null, Verdict::Failure(ErrorClass::Transient)),
            (502, none.clone(), Value::Null, Verdict::Failure(ErrorClass::Transient)),
            (
                503,
                headers(&[("retry-after", "12")]),
                Value::Null,
                Verdict::Failure(ErrorClass::RateLimited {
                    retry_after: Some(Duration::from_secs(12)),
                }),
            ),
            (501, none.clone(), Value::Null, Verdict::Failure(ErrorClass::Permanent)),
            (302, none.clone(), Value::Null, Verdict::Failure(ErrorClass::Permanent)),
        ];
        for (status, headers, body, expected) in cases {
            assert_eq!(
                classify(&spec, status, &headers, &body, now),
                expected,
                "status {status} body {body}"
            );
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates_and_clamps() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")]), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "Sun, 06 Nov 1994 08:40:00 GMT")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "99999999")]), now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn only_transient_and_rate_limited_are_retriable() {
        assert!(ErrorClass::Transient.is_retriable());
        assert!(ErrorClass::RateLimited { retry_after: None }.is_retriable());
        assert!(!ErrorClass::ReAuth.is_retriable());
        assert!(!ErrorClass::Permanent.is_retriable());
        let e = ConnectorError::config("x");
        assert_eq!(e.error_type(), "NonRetryable");
    }

    #[test]
    fn error_class_serialises_with_retry_after_in_seconds() {
        let class = ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(9)),
        };
        let v = serde_json::to_value(class).unwrap();
        assert_eq!(v, json!({"class": "rate_limited", "retry_after": 9}));
        assert_eq!(serde_json::from_value::<ErrorClass>(v).unwrap(), class);
        assert_eq!(
            serde_json::to_value(ErrorClass::ReAuth).unwrap(),
            json!({"class": "reauth"})
        );
    }

    #[test]
    fn short_text_cuts_long_messages_and_control_characters() {
        assert_eq!(short_text("a\nb", 10), "a b");
        assert_eq!(short_text("abcdef", 3), "abc…");
    }
}
