//! Stripe: `Stripe-Signature: t=<unix secs>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 over
//! `"{t}.{body}"` keyed with the whole secret string (`whsec_` prefix included).
//!
//! The `t=..,v1=..` header layout is shared with Calendly ([`verify_t_v1`]).

use super::crypto::{hmac_sha256, matches_any};
use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::secrets::{SigningSecrets, Verified};
use super::timestamp::{check_fresh, parse_unix};

pub(crate) const SIGNATURE_HEADER: &str = "Stripe-Signature";

pub(crate) fn verify(
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    options: &VerifyOptions,
) -> Result<Verified, Rejection> {
    verify_t_v1(SIGNATURE_HEADER, req, secrets, options)
}

/// A parsed `t=..,v1=..` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TimestampedSignatures<'h> {
    /// The timestamp exactly as written; it is what was signed.
    pub timestamp_text: &'h str,
    pub timestamp: i64,
    /// Every well-formed `v1` signature, decoded.
    pub signatures: Vec<Vec<u8>>,
}

/// Parses `t=..,v1=..[,v1=..]`: items are split on `,` then on the first `=`; `v0` and unknown
/// keys are ignored, as Stripe's SDKs do. More than one `t`, no `t`, no `v1`, or no `v1` that is
/// 64 hex digits is malformed.
pub(crate) fn parse_t_v1<'h>(header: &str, value: &'h str) -> Result<TimestampedSignatures<'h>, Rejection> {
    let mut timestamp_text = None;
    let mut v1_count = 0usize;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        let Some((key, item_value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp_text.is_some() => return Err(Rejection::malformed(header, "more than one `t` timestamp")),
            "t" => timestamp_text = Some(item_value),
            "v1" => {
                v1_count += 1;
                if let Ok(bytes) = hex::decode(item_value) {
                    if bytes.len() == 32 {
                        signatures.push(bytes);
                    }
                }
            }
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or_else(|| Rejection::malformed(header, "no `t=` timestamp"))?;
    let timestamp = parse_unix(header, timestamp_text)?;
    if v1_count == 0 {
        return Err(Rejection::malformed(header, "no `v1=` signature"));
    }
    if signatures.is_empty() {
        return Err(Rejection::malformed(
            header,
            "no well-formed `v1=` signature; expected 64 hex digits",
        ));
    }
    Ok(TimestampedSignatures {
        timestamp_text,
        timestamp,
        signatures,
    })
}

/// Verifies a `t=..,v1=..` header (the first one, if repeated) over `"{t}.{body}"`.
pub(crate) fn verify_t_v1(
    header: &str,
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    options: &VerifyOptions,
) -> Result<Verified, Rejection> {
    let value = req.headers.get(header).ok_or_else(|| Rejection::missing(header))?;
    let parsed = parse_t_v1(header, value)?;
    check_fresh(parsed.timestamp, options)?;
    secrets.utf8_keys()?.first_match(|key| {
        let expected = hmac_sha256(key, &[parsed.timestamp_text.as_bytes(), b".", req.body]);
        matches_any(&expected, &parsed.signatures)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    const SECRET: &str = "whsec_test_secret";
    const T: i64 = 1_234_567_890;
    /// stripe-python `tests/test_webhook.py` DUMMY_WEBHOOK_PAYLOAD as of today (with `data`);
    /// the doc's derived header matches this payload.
    const PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";
    /// The derived header from WEBHOOK_SIGNATURES.md (stripe==16.1.0 generate_signature_header).
    const HEADER: &str = "t=1234567890,v1=f0f28fa1b5b673a64a1e14a1603c3124ef10442be092ae33b6d8144d7eaacfc9";
    /// The older two-field DUMMY_WEBHOOK_PAYLOAD quoted in the brief.
    const OLD_PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    /// HMAC-SHA256("whsec_test_secret", "1234567890." + OLD_PAYLOAD), computed with Python.
    const OLD_PAYLOAD_V1: &str = "45969f456b3331a0f76e237ed33423d5f758908f1f0432d30e7d45ba89bb9edd";
    /// HMAC-SHA256("whsec_rolled_secret", "1234567890." + PAYLOAD), computed with Python.
    const ROLLED_V1: &str = "5041cd21bd9b887d49a78257f30c0d77f00216c43cfc6e15ffad01f31f1c6eff";

    fn check(header: Option<&str>, body: &str, secrets: &SigningSecrets, now: i64) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(header.map(|h| ("stripe-signature", h)));
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/stripe",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets, &VerifyOptions::at(now))
    }

    fn current() -> SigningSecrets {
        SigningSecrets::new(SECRET)
    }

    #[test]
    fn stripe_accepts_derived_vector_header() {
        assert_eq!(
            check(Some(HEADER), PAYLOAD, &current(), T),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn stripe_accepts_two_field_payload_with_independently_computed_signature() {
        let header = format!("t=1234567890,v1={OLD_PAYLOAD_V1}");
        assert!(check(Some(&header), OLD_PAYLOAD, &current(), T).is_ok());
        // The doc's derived header was made over the three-field payload, not this one.
        assert_eq!(
            check(Some(HEADER), OLD_PAYLOAD, &current(), T),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn stripe_rejects_tampered_body() {
        let tampered = PAYLOAD.replace("rdr_123", "rdr_124");
        assert_eq!(
            check(Some(HEADER), &tampered, &current(), T),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn stripe_rejects_wrong_secret() {
        assert_eq!(
            check(Some(HEADER), PAYLOAD, &SigningSecrets::new("whsec_other"), T),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn stripe_accepts_timestamp_exactly_at_tolerance() {
        assert!(check(Some(HEADER), PAYLOAD, &current(), T + 300).is_ok());
        assert!(check(Some(HEADER), PAYLOAD, &current(), T - 300).is_ok());
    }

    #[test]
    fn stripe_rejects_timestamp_older_than_tolerance() {
        assert_eq!(
            check(Some(HEADER), PAYLOAD, &current(), T + 301),
            Err(Rejection::StaleTimestamp {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn stripe_rejects_timestamp_further_ahead_than_tolerance() {
        assert_eq!(
            check(Some(HEADER), PAYLOAD, &current(), T - 301),
            Err(Rejection::FutureTimestamp {
                ahead_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn stripe_rejects_missing_header() {
        assert_eq!(
            check(None, PAYLOAD, &current(), T),
            Err(Rejection::missing("Stripe-Signature"))
        );
    }

    #[test]
    fn stripe_rejects_malformed_headers() {
        let v1 = &HEADER["t=1234567890,".len()..];
        for header in [
            "i'm not even a real signature header".to_string(),
            "bad_header".to_string(),
            v1.to_string(),
            "t=1234567890".to_string(),
            "t=abc,".to_string() + v1,
            "t=99999999999999999999999,".to_string() + v1,
            "t=1234567890,t=1234567890,".to_string() + v1,
            "t=1234567890,v1=bad_signature".to_string(),
        ] {
            assert_eq!(
                check(Some(&header), PAYLOAD, &current(), T).unwrap_err().code(),
                "malformed_header",
                "{header}"
            );
        }
    }

    #[test]
    fn stripe_ignores_v0_and_unknown_schemes() {
        let only_v0 = HEADER.replace("v1=", "v0=");
        assert_eq!(
            check(Some(&only_v0), PAYLOAD, &current(), T).unwrap_err().code(),
            "malformed_header"
        );
        let with_extras = format!("{HEADER},v0=abc,v9=def,junk");
        assert!(check(Some(&with_extras), PAYLOAD, &current(), T).is_ok());
    }

    #[test]
    fn stripe_accepts_header_containing_one_valid_among_bad_signatures() {
        // stripe-python test_header_contains_valid_signature.
        let header = format!("{HEADER},v1=bad_signature");
        assert!(check(Some(&header), PAYLOAD, &current(), T).is_ok());
    }

    #[test]
    fn stripe_accepts_any_v1_while_stripe_rolls_the_secret() {
        // While a secret is rolled Stripe signs with both and sends two v1 values.
        let header = format!("t=1234567890,v1={ROLLED_V1},{}", &HEADER["t=1234567890,".len()..]);
        assert_eq!(
            check(Some(&header), PAYLOAD, &current(), T).unwrap().secret,
            SecretUsed::Current
        );
        let rolled = SigningSecrets::new("whsec_rolled_secret");
        assert_eq!(
            check(Some(&header), PAYLOAD, &rolled, T).unwrap().secret,
            SecretUsed::Current
        );
    }

    #[test]
    fn stripe_accepts_signature_from_previous_secret() {
        let secrets = SigningSecrets::new("whsec_rolled_secret").with_previous(SECRET);
        assert_eq!(
            check(Some(HEADER), PAYLOAD, &secrets, T).unwrap().secret,
            SecretUsed::Previous
        );
    }

    #[test]
    fn stripe_tolerates_spaces_after_commas() {
        let header = HEADER.replace(',', ", ");
        assert!(check(Some(&header), PAYLOAD, &current(), T).is_ok());
    }

    #[test]
    fn stripe_checks_timestamp_before_secret() {
        // A stale request is stale whatever the secret; the error must not depend on it.
        assert_eq!(
            check(Some(HEADER), PAYLOAD, &SigningSecrets::new(""), T + 1000)
                .unwrap_err()
                .code(),
            "stale_timestamp"
        );
        assert_eq!(
            check(Some(HEADER), PAYLOAD, &SigningSecrets::new(""), T)
                .unwrap_err()
                .code(),
            "invalid_secret"
        );
    }

    #[test]
    fn stripe_negative_timestamp_is_stale_not_a_panic() {
        let header = format!("t=-9223372036854775808,{}", &HEADER["t=1234567890,".len()..]);
        assert_eq!(
            check(Some(&header), PAYLOAD, &current(), i64::MAX).unwrap_err().code(),
            "stale_timestamp"
        );
    }
}
