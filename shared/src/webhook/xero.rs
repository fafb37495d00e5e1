//! Xero: `x-xero-signature`, base64 HMAC-SHA256 of the raw body keyed with the webhook
//! signing key. Intent-to-receive probes mix correctly and incorrectly signed bodies: answer
//! 200 when this verifies and 401 when it does not.

use super::crypto::verify_body_hmac_sha256_base64;
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::secrets::{SigningSecrets, Verified};

const SIGNATURE_HEADER: &str = "x-xero-signature";

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    verify_body_hmac_sha256_base64(&[SIGNATURE_HEADER], req, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    // Xero publishes no vector. Derived with Python:
    // base64.b64encode(hmac.new(KEY, BODY, "sha256").digest())
    const KEY: &str = "xero-webhook-key-for-tests";
    const INTENT: &str = r#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "S0m3r4Nd0mt3xt"}"#;
    const INTENT_SIG: &str = "8rePhmm18qKHoGVNIxdmJsAzMsgeB46MYvn1RDDRKNg=";
    const EVENT: &str = r#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/abc","resourceId":"abc","eventDateUtc":"2024-01-01T00:00:00.000","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"t1","tenantType":"ORGANISATION"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"ABC"}"#;
    const EVENT_SIG: &str = "HBPR1T965ify7SUePbnxXt+twJS3g7qhypxvj2VfqwQ=";

    fn check(sig: Option<&str>, body: &str, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(sig.map(|s| ("X-Xero-Signature", s)));
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/xero",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets)
    }

    #[test]
    fn xero_accepts_correctly_signed_intent_to_receive() {
        assert_eq!(
            check(Some(INTENT_SIG), INTENT, &SigningSecrets::new(KEY)),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn xero_rejects_incorrectly_signed_intent_to_receive() {
        assert_eq!(
            check(Some(EVENT_SIG), INTENT, &SigningSecrets::new(KEY)),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn xero_accepts_event_batch() {
        assert!(check(Some(EVENT_SIG), EVENT, &SigningSecrets::new(KEY)).is_ok());
    }

    #[test]
    fn xero_rejects_tampered_body() {
        let tampered = EVENT.replace("UPDATE", "CREATE");
        assert_eq!(
            check(Some(EVENT_SIG), &tampered, &SigningSecrets::new(KEY)),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn xero_rejects_missing_and_malformed_header() {
        assert_eq!(
            check(None, EVENT, &SigningSecrets::new(KEY)),
            Err(Rejection::missing("x-xero-signature"))
        );
        assert_eq!(
            check(Some("not base64"), EVENT, &SigningSecrets::new(KEY))
                .unwrap_err()
                .code(),
            "malformed_header"
        );
    }

    #[test]
    fn xero_accepts_signature_from_previous_key() {
        let secrets = SigningSecrets::new("rotated-key").with_previous(KEY);
        assert_eq!(
            check(Some(EVENT_SIG), EVENT, &secrets).unwrap().secret,
            SecretUsed::Previous
        );
    }
}
