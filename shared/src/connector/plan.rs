//! Dry runs: the requests a write would send, built by the engine without sending anything,
//! with every credential replaced by [`REDACTED`]
//! ([`ConnectorClient::plan_write`](super::ConnectorClient::plan_write)).
//!
//! Credentials are redacted twice: where the auth puts them (the header or query parameter,
//! an OAuth token that is not even fetched, a signature header) and then, as a safety net,
//! wherever any credential value of the connection appears in the URL, a header or the body.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use super::write::WriteResult;

/// What stands in for a credential.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter values are not searched for in text: `true`, a port, an account number's prefix
/// would blank out unrelated text. Credentials that short are placed structurally anyway.
const MIN_SCANNED_SECRET_LEN: usize = 6;

/// A request as the engine would send it, credentials redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedactedRequest {
    pub method: &'static str,
    pub url: String,
    /// In the order they would be sent, names lower-case.
    pub headers: Vec<(String, String)>,
    /// A JSON body as JSON; any other body as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// One request of a planned write and the records it carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRequest {
    /// Indexes of the records in the caller's slice.
    pub records: Vec<usize>,
    pub request: RedactedRequest,
}

/// What [`ConnectorClient::write_batch`](super::ConnectorClient::write_batch) would do with
/// the same records, short of sending: its requests in order, and the records it would
/// refuse before sending (an update without its key, say).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WritePlan {
    pub requests: Vec<PlannedRequest>,
    /// `(index, result)` of each record refused before any request.
    pub refused: Vec<(usize, WriteResult)>,
}

/// Replaces every occurrence of any of `secrets` (at least six characters long) in `text`.
pub fn redact_text<'a>(text: &str, secrets: impl IntoIterator<Item = &'a SecretString>) -> String {
    let mut values: Vec<&str> = secrets
        .into_iter()
        .map(|s| s.expose_secret())
        .filter(|s| s.len() >= MIN_SCANNED_SECRET_LEN)
        .collect();
    // Longest first, so a secret that contains another is replaced whole.
    values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for value in values {
        if out.contains(value) {
            out = out.replace(value, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_long_enough_secret_longest_first() {
        let secrets = [
            SecretString::from("tok_abcdef"),
            SecretString::from("tok_abcdef_longer"),
            SecretString::from("abc"),
        ];
        assert_eq!(
            redact_text("a=tok_abcdef_longer&b=tok_abcdef&c=abc", &secrets),
            "a=[REDACTED]&b=[REDACTED]&c=abc"
        );
    }
}
