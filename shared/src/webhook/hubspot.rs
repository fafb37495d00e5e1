//! HubSpot, three versions; a connection accepts only those its [`HubspotConfig`] names (v3
//! alone unless v1/v2 are allowed explicitly):
//!
//! * v3 in `X-HubSpot-Signature-v3`: base64 HMAC-SHA256 over `method + uri + body + timestamp`,
//!   with `X-HubSpot-Request-Timestamp` in **milliseconds**.
//! * v1 or v2 in `X-HubSpot-Signature`, with `X-HubSpot-Signature-Version` `v1` (the default
//!   when the version header is missing, as in HubSpot's Node SDK) or `v2`: plain SHA-256 (not
//!   HMAC), hex, over `secret + body` (v1) or `secret + method + uri + body` (v2). Neither signs
//!   a timestamp, so neither has a replay window.
//!
//! When v3 is accepted and its header is present, v3 alone decides: a bad or stale v3
//! signature is not rescued by a v1/v2 header. A request signed only with versions the
//! connection does not accept is refused ([`Rejection::VersionNotAccepted`]), so stripping the
//! v3 headers off a stale delivery does not downgrade it to a version without a timestamp.
//!
//! The URI is the full requested URL with HubSpot's documented percent-escapes decoded.

use std::borrow::Cow;

use super::crypto::{collect_signatures, decode_signature, hmac_sha256, matches_any, sha256};
use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::scheme::{HubspotConfig, HubspotVersion, SignatureEncoding};
use super::secrets::{SigningSecrets, Verified};
use super::timestamp::{check_fresh, parse_unix_millis};

const V3_SIGNATURE_HEADER: &str = "X-HubSpot-Signature-v3";
const V3_TIMESTAMP_HEADER: &str = "X-HubSpot-Request-Timestamp";
const SIGNATURE_HEADER: &str = "X-HubSpot-Signature";
const VERSION_HEADER: &str = "X-HubSpot-Signature-Version";

/// The characters HubSpot's docs say to decode in the URI before signing (v2 and v3).
const DECODED: &[char] = &[':', '/', '?', '@', '!', '$', '\'', '(', ')', '*', ',', ';'];

/// Decodes HubSpot's listed percent-escapes (either hex case) in one pass; every other escape,
/// including `%25`, is kept as written.
pub(crate) fn signed_uri(url: &str) -> Cow<'_, str> {
    if !url.contains('%') {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let decoded = after
            .get(..2)
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .map(char::from)
            .filter(|c| DECODED.contains(c));
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

pub(crate) fn verify(
    config: &HubspotConfig,
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    options: &VerifyOptions,
) -> Result<Verified, Rejection> {
    let has_v3 = req.headers.contains(V3_SIGNATURE_HEADER);
    if has_v3 && config.accepts(HubspotVersion::V3) {
        return verify_v3(req, secrets, options);
    }
    let legacy = if req.headers.contains(SIGNATURE_HEADER) {
        Some(legacy_version(req)?)
    } else {
        None
    };
    match legacy {
        Some(version) if config.accepts(version) => verify_v1_v2(req, secrets, version),
        // Signed, but only with versions this connection refuses.
        Some(version) => Err(not_accepted(if has_v3 { HubspotVersion::V3 } else { version }, config)),
        None if has_v3 => Err(not_accepted(HubspotVersion::V3, config)),
        None if config.accepts(HubspotVersion::V3) => Err(Rejection::missing(V3_SIGNATURE_HEADER)),
        None => Err(Rejection::missing(SIGNATURE_HEADER)),
    }
}

fn not_accepted(version: HubspotVersion, config: &HubspotConfig) -> Rejection {
    Rejection::VersionNotAccepted {
        version: version.name().to_owned(),
        accepted: config.accepted_list(),
    }
}

/// The version an `X-HubSpot-Signature` claims: `X-HubSpot-Signature-Version`, v1 when absent.
fn legacy_version(req: &WebhookRequest<'_>) -> Result<HubspotVersion, Rejection> {
    match req.headers.get(VERSION_HEADER).map(str::trim) {
        None => Ok(HubspotVersion::V1),
        Some(version) if version.eq_ignore_ascii_case("v1") => Ok(HubspotVersion::V1),
        Some(version) if version.eq_ignore_ascii_case("v2") => Ok(HubspotVersion::V2),
        Some(_) => Err(Rejection::malformed(
            VERSION_HEADER,
            "expected `v1` or `v2` (v3 uses `X-HubSpot-Signature-v3`)",
        )),
    }
}

fn verify_v3(
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    options: &VerifyOptions,
) -> Result<Verified, Rejection> {
    let timestamp = req
        .headers
        .get(V3_TIMESTAMP_HEADER)
        .ok_or_else(|| Rejection::missing(V3_TIMESTAMP_HEADER))?;
    check_fresh(parse_unix_millis(V3_TIMESTAMP_HEADER, timestamp)?, options)?;
    let signatures = collect_signatures(
        V3_SIGNATURE_HEADER,
        req.headers.get_all(V3_SIGNATURE_HEADER),
        "base64 of a 32-byte HMAC-SHA256",
        |value| {
            decode_signature(SignatureEncoding::Base64, value, 32)
                .into_iter()
                .collect()
        },
    )?;
    let uri = signed_uri(req.url);
    secrets.utf8_keys()?.first_match(|key| {
        let expected = hmac_sha256(
            key,
            &[req.method.as_bytes(), uri.as_bytes(), req.body, timestamp.as_bytes()],
        );
        matches_any(&expected, &signatures)
    })
}

fn verify_v1_v2(
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    version: HubspotVersion,
) -> Result<Verified, Rejection> {
    let v2 = version == HubspotVersion::V2;
    let signatures = collect_signatures(
        SIGNATURE_HEADER,
        req.headers.get_all(SIGNATURE_HEADER),
        "64 hex digits (SHA-256)",
        |value| {
            decode_signature(SignatureEncoding::Hex, value, 32)
                .into_iter()
                .collect()
        },
    )?;
    let uri = signed_uri(req.url);
    secrets.utf8_keys()?.first_match(|secret| {
        let expected = if v2 {
            sha256(&[secret, req.method.as_bytes(), uri.as_bytes(), req.body])
        } else {
            sha256(&[secret, req.body])
        };
        matches_any(&expected, &signatures)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    // hubspot-api-python / hubspot-api-nodejs / hubspot-api-ruby signature tests and the docs.
    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URL: &str = "https://www.example.com/webhook_uri";
    const V1_BODY: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    const V1_SIG: &str = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";
    const PY_BODY: &str = "{'example_field':'example_value'}";
    const JSON_BODY: &str = r#"{"example_field":"example_value"}"#;
    const V3_TS: &str = "1693657560000";
    const V3_NOW: i64 = 1_693_657_560;
    const V3_PY_SIG: &str = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=";
    const V3_JSON_SIG: &str = "oaA3M5dEtt6kFsseJD/Hv/x+JNl1vsoxFj4oxmwP6Go=";

    /// A connection that allows every version (the vectors cover all three).
    fn all_versions() -> HubspotConfig {
        HubspotConfig::accepting([HubspotVersion::V1, HubspotVersion::V2, HubspotVersion::V3])
    }

    fn check(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        secrets: &SigningSecrets,
        now: i64,
    ) -> Result<Verified, Rejection> {
        check_with(&all_versions(), method, url, headers, body, secrets, now)
    }

    fn check_with(
        config: &HubspotConfig,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        secrets: &SigningSecrets,
        now: i64,
    ) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(headers.iter().copied());
        let req = WebhookRequest {
            method,
            url,
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(config, &req, secrets, &VerifyOptions::at(now))
    }

    fn v3(sig: &str, ts: &str, body: &str, now: i64) -> Result<Verified, Rejection> {
        check(
            "POST",
            URL,
            &[("X-HubSpot-Signature-v3", sig), ("X-HubSpot-Request-Timestamp", ts)],
            body,
            &SigningSecrets::new(SECRET),
            now,
        )
    }

    fn v1v2(method: &str, version: Option<&str>, sig: &str, body: &str) -> Result<Verified, Rejection> {
        let mut headers = vec![("X-HubSpot-Signature", sig)];
        if let Some(version) = version {
            headers.push(("X-HubSpot-Signature-Version", version));
        }
        check(method, URL, &headers, body, &SigningSecrets::new(SECRET), 0)
    }

    #[test]
    fn hubspot_v1_accepts_node_sdk_and_docs_vector() {
        assert_eq!(
            v1v2("POST", Some("v1"), V1_SIG, V1_BODY),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn hubspot_v1_is_the_default_when_version_header_is_missing() {
        assert!(v1v2("POST", None, V1_SIG, V1_BODY).is_ok());
    }

    #[test]
    fn hubspot_v1_accepts_python_single_quoted_body_vector() {
        assert!(v1v2(
            "POST",
            Some("v1"),
            "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750",
            PY_BODY
        )
        .is_ok());
    }

    #[test]
    fn hubspot_v1_rejects_tampered_body() {
        let tampered = V1_BODY.replace("\"objectId\":123", "\"objectId\":124");
        assert_eq!(
            v1v2("POST", Some("v1"), V1_SIG, &tampered),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn hubspot_v2_accepts_get_with_empty_body_vector() {
        assert!(v1v2(
            "GET",
            Some("v2"),
            "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
            ""
        )
        .is_ok());
    }

    #[test]
    fn hubspot_v2_accepts_post_vectors() {
        assert!(v1v2(
            "POST",
            Some("v2"),
            "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
            JSON_BODY
        )
        .is_ok());
        assert!(v1v2(
            "POST",
            Some("v2"),
            "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383",
            PY_BODY
        )
        .is_ok());
    }

    #[test]
    fn hubspot_v2_signature_covers_method_and_url() {
        let sig = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900";
        assert_eq!(
            v1v2("PUT", Some("v2"), sig, JSON_BODY),
            Err(Rejection::NoMatchingSignature)
        );
        let headers = [("X-HubSpot-Signature", sig), ("X-HubSpot-Signature-Version", "v2")];
        assert_eq!(
            check(
                "POST",
                "https://www.example.com/other",
                &headers,
                JSON_BODY,
                &SigningSecrets::new(SECRET),
                0
            ),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn hubspot_v2_decodes_listed_escapes_in_the_url() {
        // sha256(secret + "POST" + decoded url + body), computed with Python's hashlib.
        let encoded = "https://www.example.com/webhook_uri?redirect=https%3A%2F%2Fa.example%2Fx%40y&q=%281%29";
        let headers = [
            (
                "X-HubSpot-Signature",
                "8c7f3a2f186a02308bcc6182e8d955472adf8fc35c6744fd8193719834390378",
            ),
            ("X-HubSpot-Signature-Version", "v2"),
        ];
        assert!(check("POST", encoded, &headers, JSON_BODY, &SigningSecrets::new(SECRET), 0).is_ok());
    }

    #[test]
    fn hubspot_rejects_unknown_signature_version() {
        assert_eq!(
            v1v2("POST", Some("v3"), V1_SIG, V1_BODY).unwrap_err().code(),
            "malformed_header"
        );
    }

    #[test]
    fn hubspot_v3_accepts_python_sdk_vector_with_single_quoted_body() {
        assert_eq!(
            v3(V3_PY_SIG, V3_TS, PY_BODY, V3_NOW),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn hubspot_v3_accepts_ruby_sdk_vector() {
        // hubspot-api-ruby spec/helpers/signature_spec.rb
        assert!(v3(
            "RnbPH7+UMKVkbV32P8bz450N4M56aPmcru1+D3kSDtw=",
            "1700000300000",
            PY_BODY,
            1_700_000_300
        )
        .is_ok());
    }

    #[test]
    fn hubspot_v3_accepts_derived_json_body_vector() {
        assert!(v3(V3_JSON_SIG, V3_TS, JSON_BODY, V3_NOW).is_ok());
    }

    #[test]
    fn hubspot_v3_rejects_reserialised_or_tampered_body() {
        // The Python vector's signature does not cover the JSON spelling of the same object.
        assert_eq!(
            v3(V3_PY_SIG, V3_TS, JSON_BODY, V3_NOW),
            Err(Rejection::NoMatchingSignature)
        );
        assert_eq!(
            v3(V3_JSON_SIG, V3_TS, r#"{"example_field":"example_valuf"}"#, V3_NOW),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn hubspot_v3_signature_covers_timestamp() {
        assert_eq!(
            v3(V3_PY_SIG, "1693657560001", PY_BODY, V3_NOW),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn hubspot_v3_accepts_timestamp_exactly_at_tolerance() {
        assert!(v3(V3_PY_SIG, V3_TS, PY_BODY, V3_NOW + 300).is_ok());
        assert!(v3(V3_PY_SIG, V3_TS, PY_BODY, V3_NOW - 300).is_ok());
    }

    #[test]
    fn hubspot_v3_rejects_timestamp_older_than_tolerance() {
        assert_eq!(
            v3(V3_PY_SIG, V3_TS, PY_BODY, V3_NOW + 301),
            Err(Rejection::StaleTimestamp {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn hubspot_v3_rejects_timestamp_further_ahead_than_tolerance() {
        assert_eq!(
            v3(V3_PY_SIG, V3_TS, PY_BODY, V3_NOW - 301),
            Err(Rejection::FutureTimestamp {
                ahead_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn hubspot_v3_treats_timestamp_as_milliseconds() {
        // Read as seconds, 1693657560000 would be ~53,000 years ahead.
        assert!(v3(V3_PY_SIG, V3_TS, PY_BODY, V3_NOW).is_ok());
        assert_eq!(
            v3(V3_PY_SIG, V3_TS, PY_BODY, 1_693_657_560_000).unwrap_err().code(),
            "stale_timestamp"
        );
    }

    #[test]
    fn hubspot_v3_rejects_missing_and_malformed_headers() {
        let secrets = SigningSecrets::new(SECRET);
        assert_eq!(
            check("POST", URL, &[], PY_BODY, &secrets, V3_NOW),
            Err(Rejection::missing("X-HubSpot-Signature-v3"))
        );
        assert_eq!(
            check(
                "POST",
                URL,
                &[("X-HubSpot-Signature-v3", V3_PY_SIG)],
                PY_BODY,
                &secrets,
                V3_NOW
            ),
            Err(Rejection::missing("X-HubSpot-Request-Timestamp"))
        );
        assert_eq!(
            v3(V3_PY_SIG, "yesterday", PY_BODY, V3_NOW).unwrap_err().code(),
            "malformed_header"
        );
        assert_eq!(
            v3("not-base64", V3_TS, PY_BODY, V3_NOW).unwrap_err().code(),
            "malformed_header"
        );
    }

    #[test]
    fn hubspot_v3_takes_precedence_over_v1_header() {
        // A valid v1 header does not rescue a bad v3 signature.
        let headers = [
            ("X-HubSpot-Signature-v3", V3_JSON_SIG),
            ("X-HubSpot-Request-Timestamp", V3_TS),
            (
                "X-HubSpot-Signature",
                "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750",
            ),
            ("X-HubSpot-Signature-Version", "v1"),
        ];
        assert_eq!(
            check("POST", URL, &headers, PY_BODY, &SigningSecrets::new(SECRET), V3_NOW),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn hubspot_v3_decodes_listed_escapes_in_the_url() {
        // HMAC over the decoded URL, computed with Python's hmac module.
        let encoded = "https://www.example.com/webhook_uri?redirect=https%3A%2F%2Fa.example%2Fx%40y&q=%281%29";
        let headers = [
            ("X-HubSpot-Signature-v3", "yPj6JNS0fBvTTUmLxUU2ZoBI4Hu99H7zKO591H9eQDk="),
            ("X-HubSpot-Request-Timestamp", V3_TS),
        ];
        assert!(check(
            "POST",
            encoded,
            &headers,
            JSON_BODY,
            &SigningSecrets::new(SECRET),
            V3_NOW
        )
        .is_ok());
    }

    #[test]
    fn hubspot_v3_accepts_signature_from_previous_secret() {
        let secrets = SigningSecrets::new("new-client-secret").with_previous(SECRET);
        let headers = [
            ("X-HubSpot-Signature-v3", V3_PY_SIG),
            ("X-HubSpot-Request-Timestamp", V3_TS),
        ];
        assert_eq!(
            check("POST", URL, &headers, PY_BODY, &secrets, V3_NOW).unwrap().secret,
            SecretUsed::Previous
        );
        let headers = [("X-HubSpot-Signature", V1_SIG)];
        assert_eq!(
            check("POST", URL, &headers, V1_BODY, &secrets, 0).unwrap().secret,
            SecretUsed::Previous
        );
    }

    #[test]
    fn hubspot_default_refuses_v1_and_v2_even_when_validly_signed() {
        let v3_only = HubspotConfig::default();
        let secrets = SigningSecrets::new(SECRET);
        let v1 = [("X-HubSpot-Signature", V1_SIG)];
        assert_eq!(
            check_with(&v3_only, "POST", URL, &v1, V1_BODY, &secrets, 0),
            Err(Rejection::VersionNotAccepted {
                version: "v1".into(),
                accepted: "v3".into()
            })
        );
        let v2 = [
            (
                "X-HubSpot-Signature",
                "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
            ),
            ("X-HubSpot-Signature-Version", "v2"),
        ];
        assert_eq!(
            check_with(&v3_only, "POST", URL, &v2, JSON_BODY, &secrets, 0)
                .unwrap_err()
                .code(),
            "version_not_accepted"
        );
        assert_eq!(
            check_with(&v3_only, "POST", URL, &[], JSON_BODY, &secrets, 0),
            Err(Rejection::missing("X-HubSpot-Signature-v3"))
        );
        let v3 = [
            ("X-HubSpot-Signature-v3", V3_PY_SIG),
            ("X-HubSpot-Request-Timestamp", V3_TS),
        ];
        assert!(check_with(&v3_only, "POST", URL, &v3, PY_BODY, &secrets, V3_NOW).is_ok());
    }

    #[test]
    fn hubspot_stale_v3_delivery_is_not_accepted_with_its_v3_headers_stripped() {
        // A delivery HubSpot signed both ways (v3 + v1); the v3 timestamp is an hour old.
        let secrets = SigningSecrets::new(SECRET);
        let py_v1 = "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750";
        let both = [
            ("X-HubSpot-Signature-v3", V3_PY_SIG),
            ("X-HubSpot-Request-Timestamp", V3_TS),
            ("X-HubSpot-Signature", py_v1),
        ];
        let later = V3_NOW + 3600;
        let v3_only = HubspotConfig::default();
        assert_eq!(
            check_with(&v3_only, "POST", URL, &both, PY_BODY, &secrets, later)
                .unwrap_err()
                .code(),
            "stale_timestamp"
        );
        let stripped = [("X-HubSpot-Signature", py_v1)];
        assert_eq!(
            check_with(&v3_only, "POST", URL, &stripped, PY_BODY, &secrets, later)
                .unwrap_err()
                .code(),
            "version_not_accepted"
        );
        // Allowing v1 explicitly is what makes the stripped delivery verify.
        let with_v1 = HubspotConfig::accepting([HubspotVersion::V3, HubspotVersion::V1]);
        assert!(check_with(&with_v1, "POST", URL, &stripped, PY_BODY, &secrets, later).is_ok());
    }

    #[test]
    fn hubspot_allows_exactly_the_configured_legacy_versions() {
        let v2_only = HubspotConfig::accepting([HubspotVersion::V2]);
        let secrets = SigningSecrets::new(SECRET);
        let v2 = [
            (
                "X-HubSpot-Signature",
                "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
            ),
            ("X-HubSpot-Signature-Version", "v2"),
        ];
        assert!(check_with(&v2_only, "POST", URL, &v2, JSON_BODY, &secrets, 0).is_ok());
        let v1 = [("X-HubSpot-Signature", V1_SIG)];
        assert_eq!(
            check_with(&v2_only, "POST", URL, &v1, V1_BODY, &secrets, 0),
            Err(Rejection::VersionNotAccepted {
                version: "v1".into(),
                accepted: "v2".into()
            })
        );
        // A v3 signature on a connection without v3 is refused, not checked.
        let v3 = [
            ("X-HubSpot-Signature-v3", V3_PY_SIG),
            ("X-HubSpot-Request-Timestamp", V3_TS),
        ];
        assert_eq!(
            check_with(&v2_only, "POST", URL, &v3, PY_BODY, &secrets, V3_NOW)
                .unwrap_err()
                .code(),
            "version_not_accepted"
        );
        assert_eq!(
            check_with(&v2_only, "POST", URL, &[], PY_BODY, &secrets, 0),
            Err(Rejection::missing("X-HubSpot-Signature"))
        );
    }

    #[test]
    fn signed_uri_decodes_only_the_listed_escapes_once() {
        assert_eq!(
            signed_uri("https://x.example/a%3a%2f%3F%40%21%24%27%28%29%2A%2C%3B"),
            "https://x.example/a:/?@!$'()*,;"
        );
        assert_eq!(
            signed_uri("https://x.example/a%20b%26c%3Dd%25"),
            "https://x.example/a%20b%26c%3Dd%25"
        );
        assert_eq!(signed_uri("https://x.example/%253A"), "https://x.example/%253A");
        assert_eq!(signed_uri("https://x.example/%3"), "https://x.example/%3");
        assert_eq!(signed_uri("https://x.example/%+1"), "https://x.example/%+1");
        assert_eq!(signed_uri("%é%"), "%é%");
        assert!(matches!(signed_uri("https://x.example/p?q=1"), Cow::Borrowed(_)));
    }
}
