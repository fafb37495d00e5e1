//! Standard Webhooks (and Svix): `webhook-id`, `webhook-timestamp`, `webhook-signature`
//! (or the `svix-*` equivalents, preferred per header as Svix's libraries do). HMAC-SHA256,
//! keyed with the base64-decoded secret, over `"{id}.{timestamp}.{body}"`; the signature
//! header is a space-separated list of `v1,<base64>` entries.

use secrecy::{ExposeSecret, SecretSlice};

use super::crypto::{collect_signatures, decode_base64_secret, decode_signature, hmac_sha256, matches_any};
use super::headers::Headers;
use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::scheme::SignatureEncoding;
use super::secrets::{SigningSecrets, Verified};
use super::timestamp::{check_fresh, parse_unix};

pub(crate) const ID_HEADERS: [&str; 2] = ["svix-id", "webhook-id"];
const TIMESTAMP_HEADERS: [&str; 2] = ["svix-timestamp", "webhook-timestamp"];
const SIGNATURE_HEADERS: [&str; 2] = ["svix-signature", "webhook-signature"];
const SECRET_PREFIX: &str = "whsec_";

/// The first header of `names` that is present: its name and first value.
pub(crate) fn first_present<'h>(headers: &'h Headers, names: [&'static str; 2]) -> Option<(&'static str, &'h str)> {
    names
        .into_iter()
        .find_map(|name| headers.get(name).map(|value| (name, value)))
}

fn require<'h>(headers: &'h Headers, names: [&'static str; 2]) -> Result<(&'static str, &'h str), Rejection> {
    // Report the unbranded name: it is the one the spec defines.
    first_present(headers, names).ok_or_else(|| Rejection::missing(names[1]))
}

/// Decodes a `whsec_<base64>` secret (prefix and padding optional) into key bytes.
pub(crate) fn decode_secret(secret: &str) -> Result<SecretSlice<u8>, Rejection> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    match decode_base64_secret(encoded) {
        Some(key) if !key.is_empty() => Ok(SecretSlice::from(key)),
        Some(_) => Err(Rejection::invalid_secret("secret is empty")),
        None => Err(Rejection::invalid_secret(
            "a Standard Webhooks secret must be `whsec_` followed by base64",
        )),
    }
}

pub(crate) fn verify(
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    options: &VerifyOptions,
) -> Result<Verified, Rejection> {
    let (id_header, id) = require(req.headers, ID_HEADERS)?;
    let (timestamp_header, timestamp) = require(req.headers, TIMESTAMP_HEADERS)?;
    let (signature_header, _) = require(req.headers, SIGNATURE_HEADERS)?;

    if id.is_empty() || id.contains('.') {
        // The spec forbids `.` in the id: it is the field separator of the signed content.
        return Err(Rejection::malformed(
            id_header,
            "id must be non-empty and contain no `.`",
        ));
    }
    let timestamp = parse_unix(timestamp_header, timestamp)?;
    check_fresh(timestamp, options)?;

    let signatures = collect_signatures(
        signature_header,
        req.headers.get_all(signature_header),
        "a space-separated list of `v1,<base64 of 32 bytes>`",
        |value| {
            value
                .split(' ')
                .filter_map(|entry| entry.split_once(','))
                .filter(|(version, _)| *version == "v1")
                .filter_map(|(_, encoded)| decode_signature(SignatureEncoding::Base64, encoded, 32))
                .collect()
        },
    )?;

    // Sign the timestamp as the integer it parsed to, as the reference libraries do.
    let timestamp = timestamp.to_string();
    secrets.keys(decode_secret)?.first_match(|key| {
        let expected = hmac_sha256(
            key.expose_secret(),
            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", req.body],
        );
        matches_any(&expected, &signatures)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::secrets::SecretUsed;

    // libraries/python/tests/test_webhooks.py::test_sign_function
    const PY_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const PY_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const PY_TS: i64 = 1_614_265_330;
    const PY_BODY: &str = r#"{"test": 2432232314}"#;
    const PY_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const PY_BAD_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";
    // libraries/rust/src/lib.rs::test_sign / test_no_verify
    const RS_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const RS_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const RS_TS: i64 = 1_649_367_553;
    const RS_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const RS_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    const RS_BAD_SIG: &str = "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=";
    const JUNK: &str = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

    fn headers(prefix: &str, id: &str, ts: &str, sig: &str) -> Headers {
        Headers::from_pairs([
            (format!("{prefix}-id"), id),
            (format!("{prefix}-timestamp"), ts),
            (format!("{prefix}-signature"), sig),
        ])
    }

    fn check(headers: &Headers, body: &str, secrets: &SigningSecrets, now: i64) -> Result<Verified, Rejection> {
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/svix",
            headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets, &VerifyOptions::at(now))
    }

    fn py(sig: &str) -> Headers {
        headers("webhook", PY_ID, &PY_TS.to_string(), sig)
    }

    #[test]
    fn standard_accepts_python_reference_vector() {
        assert_eq!(
            check(&py(PY_SIG), PY_BODY, &SigningSecrets::new(PY_SECRET), PY_TS),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn standard_accepts_rust_reference_vector_and_rejects_its_wrong_signature() {
        let secrets = SigningSecrets::new(RS_SECRET);
        let ts = RS_TS.to_string();
        assert!(check(&headers("webhook", RS_ID, &ts, RS_SIG), RS_BODY, &secrets, RS_TS).is_ok());
        assert_eq!(
            check(&headers("webhook", RS_ID, &ts, RS_BAD_SIG), RS_BODY, &secrets, RS_TS),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn standard_rejects_python_invalid_signature_variant() {
        assert_eq!(
            check(&py(PY_BAD_SIG), PY_BODY, &SigningSecrets::new(PY_SECRET), PY_TS),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn standard_accepts_multi_signature_list_with_one_valid_entry() {
        let list = format!("v1,{JUNK} v2,{JUNK} v1a,{JUNK} {PY_SIG} v1,{JUNK}");
        assert!(check(&py(&list), PY_BODY, &SigningSecrets::new(PY_SECRET), PY_TS).is_ok());
        let none_valid = format!("v1,{JUNK} v2,{JUNK} v1,{JUNK}");
        assert_eq!(
            check(&py(&none_valid), PY_BODY, &SigningSecrets::new(PY_SECRET), PY_TS),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn standard_accepts_svix_branded_headers() {
        let headers = headers("svix", PY_ID, &PY_TS.to_string(), PY_SIG);
        assert!(check(&headers, PY_BODY, &SigningSecrets::new(PY_SECRET), PY_TS).is_ok());
    }

    #[test]
    fn standard_accepts_secret_without_prefix_or_padding() {
        let headers = py(PY_SIG);
        let bare = PY_SECRET.trim_start_matches("whsec_");
        assert!(check(&headers, PY_BODY, &SigningSecrets::new(bare), PY_TS).is_ok());
        // RS_SECRET decodes to 24 bytes, so its base64 has no padding to drop; build one that has.
        let key = b"0123456789abcdefghijklmno"; // 25 bytes -> "==" padding
        let padded = format!("whsec_{}", crate::webhook::crypto::base64(key));
        assert!(padded.ends_with("=="));
        let unpadded = padded.trim_end_matches('=');
        let oracle = standardwebhooks::Webhook::new(&padded).unwrap();
        let sig = oracle.sign(PY_ID, PY_TS, PY_BODY.as_bytes()).unwrap();
        assert!(check(&py(&sig), PY_BODY, &SigningSecrets::new(unpadded), PY_TS).is_ok());
    }

    #[test]
    fn standard_rejects_tampered_body() {
        assert_eq!(
            check(
                &py(PY_SIG),
                r#"{"test": 2432232315}"#,
                &SigningSecrets::new(PY_SECRET),
                PY_TS
            ),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn standard_accepts_timestamp_exactly_at_tolerance() {
        let secrets = SigningSecrets::new(PY_SECRET);
        assert!(check(&py(PY_SIG), PY_BODY, &secrets, PY_TS + 300).is_ok());
        assert!(check(&py(PY_SIG), PY_BODY, &secrets, PY_TS - 300).is_ok());
    }

    #[test]
    fn standard_rejects_timestamp_older_than_tolerance() {
        assert_eq!(
            check(&py(PY_SIG), PY_BODY, &SigningSecrets::new(PY_SECRET), PY_TS + 301),
            Err(Rejection::StaleTimestamp {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn standard_rejects_timestamp_further_ahead_than_tolerance() {
        assert_eq!(
            check(&py(PY_SIG), PY_BODY, &SigningSecrets::new(PY_SECRET), PY_TS - 301),
            Err(Rejection::FutureTimestamp {
                ahead_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn standard_rejects_each_missing_header() {
        let ts = PY_TS.to_string();
        let secrets = SigningSecrets::new(PY_SECRET);
        let all = [
            ("webhook-id", PY_ID),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", PY_SIG),
        ];
        for skip in 0..3 {
            let headers = Headers::from_pairs(all.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, p)| *p));
            assert_eq!(
                check(&headers, PY_BODY, &secrets, PY_TS),
                Err(Rejection::missing(all[skip].0))
            );
        }
    }

    #[test]
    fn standard_rejects_malformed_headers() {
        let secrets = SigningSecrets::new(PY_SECRET);
        let ts = PY_TS.to_string();
        for headers in [
            headers("webhook", PY_ID, "teadwd", PY_SIG),
            headers("webhook", PY_ID, "1614265330.5", PY_SIG),
            headers("webhook", PY_ID, &ts, "v1,"),
            headers("webhook", PY_ID, &ts, "v1"),
            headers("webhook", PY_ID, &ts, &format!("v2,{JUNK}")),
            headers("webhook", PY_ID, &ts, "v1,not-base64!"),
            headers("webhook", "msg.with.dots", &ts, PY_SIG),
        ] {
            assert_eq!(
                check(&headers, PY_BODY, &secrets, PY_TS).unwrap_err().code(),
                "malformed_header",
                "{headers:?}"
            );
        }
    }

    #[test]
    fn standard_rejects_secret_that_is_not_base64() {
        let rejection = check(&py(PY_SIG), PY_BODY, &SigningSecrets::new("whsec_not*base64"), PY_TS).unwrap_err();
        assert_eq!(rejection.code(), "invalid_secret");
        assert!(!rejection.to_string().contains("not*base64"));
        assert_eq!(
            check(&py(PY_SIG), PY_BODY, &SigningSecrets::new("whsec_"), PY_TS)
                .unwrap_err()
                .code(),
            "invalid_secret"
        );
    }

    #[test]
    fn standard_accepts_signature_from_previous_secret() {
        let secrets = SigningSecrets::new(RS_SECRET).with_previous(PY_SECRET);
        assert_eq!(
            check(&py(PY_SIG), PY_BODY, &secrets, PY_TS).unwrap().secret,
            SecretUsed::Previous
        );
    }

    #[test]
    fn standard_accepts_list_signed_by_old_and_new_secret_during_rotation() {
        // The sender signs with both secrets while rotating; the receiver knows only the new one.
        let new_sig = standardwebhooks::Webhook::new(RS_SECRET)
            .unwrap()
            .sign(PY_ID, PY_TS, PY_BODY.as_bytes())
            .unwrap();
        let list = format!("{PY_SIG} {new_sig}");
        assert_eq!(
            check(&py(&list), PY_BODY, &SigningSecrets::new(RS_SECRET), PY_TS)
                .unwrap()
                .secret,
            SecretUsed::Current
        );
    }

    #[test]
    fn standard_agrees_with_reference_crate_on_a_fresh_signature() {
        let now = 1_700_000_000;
        let body = br#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;
        let sig = standardwebhooks::Webhook::new(PY_SECRET)
            .unwrap()
            .sign("msg_abc", now, body)
            .unwrap();
        let headers = headers("webhook", "msg_abc", &now.to_string(), &sig);
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/svix",
            headers: &headers,
            body,
        };
        assert!(verify(&req, &SigningSecrets::new(PY_SECRET), &VerifyOptions::at(now)).is_ok());
    }
}
