//! QuickBooks Online (Intuit): `intuit-signature`, base64 HMAC-SHA256 of the raw body keyed
//! with the app's webhook verifier token.

use super::crypto::verify_body_hmac_sha256_base64;
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::secrets::{SigningSecrets, Verified};

const SIGNATURE_HEADER: &str = "intuit-signature";

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    verify_body_hmac_sha256_base64(&[SIGNATURE_HEADER], req, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    // IntuitDeveloper/SampleApp-Webhooks-Java SecurityServiceTest.
    const TOKEN: &str = "12345";
    const BODY: &str = "abcd";
    const SIG: &str = "gfTuE5fLxnstOq8ln4LNWZfn24cg8FVB6PBv455lfzg=";

    fn check(sig: Option<&str>, body: &str, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(sig.map(|s| ("Intuit-Signature", s)));
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/quickbooks",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets)
    }

    #[test]
    fn intuit_accepts_sample_app_vector() {
        assert_eq!(
            check(Some(SIG), BODY, &SigningSecrets::new(TOKEN)),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn intuit_rejects_sample_app_invalid_signature() {
        // The sample's negative case uses the token itself as the signature.
        assert_eq!(
            check(Some("12345"), BODY, &SigningSecrets::new(TOKEN))
                .unwrap_err()
                .code(),
            "malformed_header"
        );
    }

    #[test]
    fn intuit_rejects_tampered_body() {
        assert_eq!(
            check(Some(SIG), "abce", &SigningSecrets::new(TOKEN)),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn intuit_rejects_missing_header() {
        assert_eq!(
            check(None, BODY, &SigningSecrets::new(TOKEN)),
            Err(Rejection::missing("intuit-signature"))
        );
    }

    #[test]
    fn intuit_accepts_signature_from_previous_verifier_token() {
        let secrets = SigningSecrets::new("67890").with_previous(TOKEN);
        assert_eq!(check(Some(SIG), BODY, &secrets).unwrap().secret, SecretUsed::Previous);
    }
}
