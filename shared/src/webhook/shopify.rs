//! Shopify: `X-Shopify-Hmac-Sha256` (or the un-prefixed `shopify-hmac-sha256` that
//! shopify-api-ruby also accepts), base64 HMAC-SHA256 of the raw body keyed with the app's
//! client secret.

use super::crypto::verify_body_hmac_sha256_base64;
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::secrets::{SigningSecrets, Verified};

const SIGNATURE_HEADERS: [&str; 2] = ["X-Shopify-Hmac-Sha256", "shopify-hmac-sha256"];

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    verify_body_hmac_sha256_base64(&SIGNATURE_HEADERS, req, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    // Shopify/shopify-api-php tests: BaseTestCase TEST_API_SECRET and RegistryTest.
    const SECRET: &str = "7008c5f4da4718b9b45d26d3fcbbb157";
    const BODY: &str = r#"{"foo":"bar"}"#;
    const HMAC: &str = "+R9TwYM4mbLTk3hEAOBkpA7zW2lc9vNFmVKs2u2jtyY=";

    fn check(headers: &[(&str, &str)], body: &str, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(headers.iter().copied());
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/shopify",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets)
    }

    #[test]
    fn shopify_accepts_php_library_vector() {
        assert_eq!(
            check(&[("X-Shopify-Hmac-Sha256", HMAC)], BODY, &SigningSecrets::new(SECRET)),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn shopify_accepts_unprefixed_header_in_any_case() {
        assert!(check(&[("Shopify-Hmac-SHA256", HMAC)], BODY, &SigningSecrets::new(SECRET)).is_ok());
        assert!(check(&[("x-shopify-hmac-sha256", HMAC)], BODY, &SigningSecrets::new(SECRET)).is_ok());
    }

    #[test]
    fn shopify_rejects_reserialised_body() {
        // Same JSON, different whitespace: only the raw bytes count.
        assert_eq!(
            check(
                &[("X-Shopify-Hmac-Sha256", HMAC)],
                r#"{"foo": "bar"}"#,
                &SigningSecrets::new(SECRET)
            ),
            Err(Rejection::NoMatchingSignature)
        );
        // ...and that body verifies with its own HMAC (computed with Python's hmac module).
        assert!(check(
            &[("X-Shopify-Hmac-Sha256", "shUo31BTU+5lqxBILSv8kT9mr1OIwagk1mickNVWJDE=")],
            r#"{"foo": "bar"}"#,
            &SigningSecrets::new(SECRET)
        )
        .is_ok());
    }

    #[test]
    fn shopify_rejects_tampered_body() {
        assert_eq!(
            check(
                &[("X-Shopify-Hmac-Sha256", HMAC)],
                r#"{"foo":"baz"}"#,
                &SigningSecrets::new(SECRET)
            ),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn shopify_rejects_library_invalid_value_as_malformed() {
        assert_eq!(
            check(
                &[("X-Shopify-Hmac-Sha256", "whoops_this_is_wrong")],
                BODY,
                &SigningSecrets::new(SECRET)
            )
            .unwrap_err()
            .code(),
            "malformed_header"
        );
    }

    #[test]
    fn shopify_rejects_missing_header() {
        assert_eq!(
            check(
                &[("X-Shopify-Topic", "orders/create")],
                BODY,
                &SigningSecrets::new(SECRET)
            ),
            Err(Rejection::missing("X-Shopify-Hmac-Sha256"))
        );
    }

    #[test]
    fn shopify_accepts_signature_from_old_api_secret_key() {
        let secrets = SigningSecrets::new("new-client-secret").with_previous(SECRET);
        assert_eq!(
            check(&[("X-Shopify-Hmac-Sha256", HMAC)], BODY, &secrets)
                .unwrap()
                .secret,
            SecretUsed::Previous
        );
    }
}
