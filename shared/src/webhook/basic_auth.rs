//! HTTP basic authentication on webhook deliveries, for providers that sign nothing and
//! instead send the user name and password configured on their webhook subscription
//! (Pipedrive's `http_auth_user` / `http_auth_password`).
//!
//! The connection's secret is `user:password`, exactly as the `Authorization: Basic` header
//! carries it once decoded (RFC 7617). It is compared in constant time through SHA-256
//! digests, so neither its content nor its length shows in the time taken; the previous
//! secret is tried during a rotation. Basic auth proves who sent a delivery, not what it
//! says: the body is not bound to the credential and no timestamp limits a replay, so the
//! event id (de-duplication) is the only guard against a delivery sent twice. Use it only
//! over HTTPS and only for providers that offer nothing stronger.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::crypto::sha256;
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::secrets::{SigningSecrets, Verified};

const HEADER: &str = "authorization";

/// Where a basic-auth delivery's event id and type are (the body is JSON).
///
/// `{"scheme": "basic-auth", "event_id_pointer": "/meta/id", "event_type_pointer": "/meta/entity"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// JSON pointer to the event id (de-duplication). Without it the id is the SHA-256 of
    /// the body, so only a byte-identical redelivery is recognised as a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id_pointer: Option<String>,

    /// JSON pointer to the event type. Without it the type is `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_pointer: Option<String>,
}

impl BasicAuthConfig {
    /// Pointers must be JSON pointers (empty or starting with `/`).
    pub fn validate(&self) -> Result<(), String> {
        for (field, pointer) in [
            ("event_id_pointer", &self.event_id_pointer),
            ("event_type_pointer", &self.event_type_pointer),
        ] {
            if let Some(p) = pointer {
                if !p.starts_with('/') {
                    return Err(format!("`{field}` must be a JSON pointer starting with `/`, got `{p}`"));
                }
            }
        }
        Ok(())
    }
}

/// The `Authorization` header value a sender with credentials `user:password` sends.
pub(crate) fn header_value(credentials: &str) -> String {
    format!("Basic {}", STANDARD.encode(credentials))
}

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    let value = req.headers.get(HEADER).ok_or_else(|| Rejection::missing(HEADER))?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| Rejection::malformed(HEADER, "expected `Basic <base64>`"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Rejection::malformed(HEADER, "not the Basic scheme"));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| Rejection::malformed(HEADER, "the credentials are not base64"))?;
    if !decoded.contains(&b':') {
        return Err(Rejection::malformed(HEADER, "the credentials have no `:`"));
    }
    // Each secret is checked for its `:` and digested once; the digests are compared.
    let keys = secrets.keys(|secret| {
        if secret.is_empty() {
            return Err(Rejection::invalid_secret("secret is empty"));
        }
        if !secret.contains(':') {
            return Err(Rejection::invalid_secret(
                "a basic-auth webhook secret is `user:password` and has no `:`",
            ));
        }
        Ok(sha256(&[secret.as_bytes()]))
    })?;
    let received = sha256(&[&decoded]);
    keys.first_match(|digest| bool::from(digest.ct_eq(&received)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    // RFC 7617 section 2: user "Aladdin", password "open sesame".
    const RFC_SECRET: &str = "Aladdin:open sesame";
    const RFC_HEADER: &str = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";

    fn check(header: Option<&str>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(header.map(|h| ("Authorization", h)));
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/pipedrive",
            headers: &headers,
            body: br#"{"meta":{"id":"e1"}}"#,
        };
        verify(&req, secrets)
    }

    #[test]
    fn basic_auth_accepts_the_rfc_7617_example() {
        assert_eq!(header_value(RFC_SECRET), RFC_HEADER);
        assert_eq!(
            check(Some(RFC_HEADER), &SigningSecrets::new(RFC_SECRET)),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
        // The scheme name is case-insensitive (RFC 7235).
        assert!(check(
            Some("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            &SigningSecrets::new(RFC_SECRET)
        )
        .is_ok());
    }

    #[test]
    fn basic_auth_rejects_wrong_credentials_and_accepts_the_previous_secret() {
        let wrong = header_value("Aladdin:open sesame!");
        assert_eq!(
            check(Some(&wrong), &SigningSecrets::new(RFC_SECRET)),
            Err(Rejection::NoMatchingSignature)
        );
        let rotated = SigningSecrets::new("Aladdin:new password").with_previous(RFC_SECRET);
        assert_eq!(
            check(Some(RFC_HEADER), &rotated),
            Ok(Verified {
                secret: SecretUsed::Previous
            })
        );
    }

    #[test]
    fn basic_auth_rejects_missing_and_malformed_headers() {
        let secrets = SigningSecrets::new(RFC_SECRET);
        assert_eq!(check(None, &secrets), Err(Rejection::missing("authorization")));
        for bad in [
            "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "Basic",
            "Basic !!!",
            "Basic QWxhZGRpbg==",
        ] {
            assert!(
                matches!(check(Some(bad), &secrets), Err(Rejection::MalformedHeader { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn basic_auth_refuses_a_secret_that_is_not_user_colon_password() {
        assert!(matches!(
            check(Some(RFC_HEADER), &SigningSecrets::new("just-a-password")),
            Err(Rejection::InvalidSecret { .. })
        ));
        assert!(matches!(
            check(Some(RFC_HEADER), &SigningSecrets::new("")),
            Err(Rejection::InvalidSecret { .. })
        ));
    }

    #[test]
    fn basic_auth_config_pointers_must_be_json_pointers() {
        assert!(BasicAuthConfig::default().validate().is_ok());
        let bad = BasicAuthConfig {
            event_id_pointer: Some("meta.id".into()),
            event_type_pointer: None,
        };
        assert!(bad.validate().unwrap_err().contains("event_id_pointer"));
    }
}
