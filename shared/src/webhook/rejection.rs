//! Why a webhook request was rejected.

/// Why a request failed verification.
///
/// Messages name headers and describe formats; they never contain a secret, a computed MAC,
/// a received signature or the body, so they are safe to log and to return to the caller.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A header the scheme requires is absent.
    #[error("missing header `{header}`")]
    MissingHeader { header: String },

    /// A header is present but cannot be parsed (bad timestamp, no usable signature, ...).
    #[error("malformed header `{header}`: {reason}")]
    MalformedHeader { header: String, reason: String },

    /// The signed timestamp is older than the tolerance allows.
    #[error("timestamp is {age_secs}s old, beyond the {tolerance_secs}s tolerance")]
    StaleTimestamp { age_secs: i64, tolerance_secs: u64 },

    /// The signed timestamp is further in the future than the tolerance allows.
    #[error("timestamp is {ahead_secs}s in the future, beyond the {tolerance_secs}s tolerance")]
    FutureTimestamp { ahead_secs: i64, tolerance_secs: u64 },

    /// The request is well formed but no signature matches any configured secret.
    #[error("no signature matches the request")]
    NoMatchingSignature,

    /// The configured secret (or the generic scheme's configuration) is unusable. This is a
    /// configuration problem on our side, not a bad request.
    #[error("the configured signing secret is unusable: {reason}")]
    InvalidSecret { reason: String },

    /// The body must be parsed to verify (Twilio form parameters) and could not be.
    #[error("malformed body: {reason}")]
    MalformedBody { reason: String },

    /// The request is signed only with a signature version the connection does not accept
    /// (HubSpot v1/v2 on a connection that takes v3 only, say).
    #[error("signature version {version} is not accepted by this connection (it accepts {accepted})")]
    VersionNotAccepted { version: String, accepted: String },

    /// A certificate-signed scheme (PayPal) names a certificate URL that is not the provider's:
    /// it is never fetched. The reason names the rule, never the URL.
    #[error("the certificate URL is refused: {reason}")]
    UntrustedCertUrl { reason: String },

    /// The signing certificate does not chain to a trusted root, is not valid now, is not
    /// issued for the provider's signing name, or could not be read.
    #[error("the signing certificate is not trusted: {reason}")]
    UntrustedCertificate { reason: String },
}

impl Rejection {
    /// A stable snake_case identifier for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingHeader { .. } => "missing_header",
            Rejection::MalformedHeader { .. } => "malformed_header",
            Rejection::StaleTimestamp { .. } => "stale_timestamp",
            Rejection::FutureTimestamp { .. } => "future_timestamp",
            Rejection::NoMatchingSignature => "no_matching_signature",
            Rejection::InvalidSecret { .. } => "invalid_secret",
            Rejection::MalformedBody { .. } => "malformed_body",
            Rejection::VersionNotAccepted { .. } => "version_not_accepted",
            Rejection::UntrustedCertUrl { .. } => "untrusted_cert_url",
            Rejection::UntrustedCertificate { .. } => "untrusted_certificate",
        }
    }

    pub(crate) fn missing(header: &str) -> Self {
        Rejection::MissingHeader {
            header: header.to_owned(),
        }
    }

    pub(crate) fn malformed(header: &str, reason: impl Into<String>) -> Self {
        Rejection::MalformedHeader {
            header: header.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_secret(reason: impl Into<String>) -> Self {
        Rejection::InvalidSecret { reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_has_a_stable_code() {
        let cases = [
            (Rejection::missing("X"), "missing_header"),
            (Rejection::malformed("X", "bad"), "malformed_header"),
            (
                Rejection::StaleTimestamp {
                    age_secs: 301,
                    tolerance_secs: 300,
                },
                "stale_timestamp",
            ),
            (
                Rejection::FutureTimestamp {
                    ahead_secs: 301,
                    tolerance_secs: 300,
                },
                "future_timestamp",
            ),
            (Rejection::NoMatchingSignature, "no_matching_signature"),
            (Rejection::invalid_secret("empty"), "invalid_secret"),
            (Rejection::MalformedBody { reason: "bad".into() }, "malformed_body"),
            (
                Rejection::VersionNotAccepted {
                    version: "v1".into(),
                    accepted: "v3".into(),
                },
                "version_not_accepted",
            ),
            (
                Rejection::UntrustedCertUrl {
                    reason: "not https".into(),
                },
                "untrusted_cert_url",
            ),
            (
                Rejection::UntrustedCertificate {
                    reason: "expired".into(),
                },
                "untrusted_certificate",
            ),
        ];
        for (rejection, code) in cases {
            assert_eq!(rejection.code(), code);
        }
    }

    #[test]
    fn messages_name_the_header() {
        let message = Rejection::malformed("Stripe-Signature", "no timestamp").to_string();
        assert_eq!(message, "malformed header `Stripe-Signature`: no timestamp");
    }
}
