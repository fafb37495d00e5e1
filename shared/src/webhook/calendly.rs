//! Calendly: `Calendly-Webhook-Signature: t=<unix secs>,v1=<hex>`, HMAC-SHA256 over
//! `"{t}.{body}"` keyed with the webhook signing key: Stripe's layout. Calendly's docs use a
//! 3-minute tolerance; pass `tolerance_secs: 180` to match them.

use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::secrets::{SigningSecrets, Verified};
use super::stripe::verify_t_v1;

const SIGNATURE_HEADER: &str = "Calendly-Webhook-Signature";

pub(crate) fn verify(
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    options: &VerifyOptions,
) -> Result<Verified, Rejection> {
    verify_t_v1(SIGNATURE_HEADER, req, secrets, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    // Calendly publishes no vector. Derived with Python:
    // hmac.new(KEY, f"{T}.{BODY}".encode(), "sha256").hexdigest()
    const KEY: &str = "calendly-signing-key";
    const T: i64 = 1_700_000_000;
    const BODY: &str = r#"{"event":"invitee.created","created_at":"2024-01-01T00:00:00.000000Z","payload":{"uri":"https://api.calendly.com/scheduled_events/ABC/invitees/DEF"}}"#;
    const V1: &str = "cb55e97fc1d09fe952bf80022f046812e31a06f23da3d513b2d65a19bff49de9";
    /// The same payload signed with "calendly-rolled-key".
    const ROLLED_V1: &str = "f9955ea6b755a790974d382bba1646d73bb18243513a8ee06cb5769ebbfef55a";

    fn check(
        header: Option<&str>,
        body: &str,
        secrets: &SigningSecrets,
        options: VerifyOptions,
    ) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(header.map(|h| ("calendly-webhook-signature", h)));
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/calendly",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets, &options)
    }

    fn header() -> String {
        format!("t={T},v1={V1}")
    }

    #[test]
    fn calendly_accepts_derived_vector() {
        assert_eq!(
            check(Some(&header()), BODY, &SigningSecrets::new(KEY), VerifyOptions::at(T)),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn calendly_rejects_tampered_body() {
        let tampered = BODY.replace("invitee.created", "invitee.canceled");
        assert_eq!(
            check(
                Some(&header()),
                &tampered,
                &SigningSecrets::new(KEY),
                VerifyOptions::at(T)
            ),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn calendly_rejects_timestamp_older_than_tolerance() {
        let options = VerifyOptions {
            now: T + 181,
            tolerance_secs: 180,
        };
        assert_eq!(
            check(Some(&header()), BODY, &SigningSecrets::new(KEY), options),
            Err(Rejection::StaleTimestamp {
                age_secs: 181,
                tolerance_secs: 180
            })
        );
    }

    #[test]
    fn calendly_rejects_timestamp_further_ahead_than_tolerance() {
        assert_eq!(
            check(
                Some(&header()),
                BODY,
                &SigningSecrets::new(KEY),
                VerifyOptions::at(T - 301)
            ),
            Err(Rejection::FutureTimestamp {
                ahead_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn calendly_rejects_missing_and_malformed_header() {
        let secrets = SigningSecrets::new(KEY);
        assert_eq!(
            check(None, BODY, &secrets, VerifyOptions::at(T)),
            Err(Rejection::missing("Calendly-Webhook-Signature"))
        );
        for bad in [format!("v1={V1}"), format!("t={T}"), format!("t=x,v1={V1}")] {
            assert_eq!(
                check(Some(&bad), BODY, &secrets, VerifyOptions::at(T))
                    .unwrap_err()
                    .code(),
                "malformed_header"
            );
        }
    }

    #[test]
    fn calendly_accepts_signature_from_previous_key() {
        let secrets = SigningSecrets::new("calendly-rolled-key").with_previous(KEY);
        assert_eq!(
            check(Some(&header()), BODY, &secrets, VerifyOptions::at(T))
                .unwrap()
                .secret,
            SecretUsed::Previous
        );
    }

    #[test]
    fn calendly_accepts_either_of_two_v1_signatures() {
        let two = format!("t={T},v1={ROLLED_V1},v1={V1}");
        assert!(check(Some(&two), BODY, &SigningSecrets::new(KEY), VerifyOptions::at(T)).is_ok());
        assert!(check(
            Some(&two),
            BODY,
            &SigningSecrets::new("calendly-rolled-key"),
            VerifyOptions::at(T)
        )
        .is_ok());
    }
}
