//! MACs, digests, signature decoding and constant-time comparison.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::{Choice, ConstantTimeEq};

use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::scheme::{HmacAlgorithm, SignatureEncoding};
use super::secrets::{SigningSecrets, Verified};

/// Standard alphabet, padding optional, for decoding configured secrets (the Standard Webhooks
/// Python library accepts unpadded secrets). Received signatures use the strict `STANDARD`
/// engine, whose decoding is canonical, so comparing decoded bytes equals comparing strings.
const STANDARD_PADDING_OPTIONAL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn mac_parts<M: Mac>(mut mac: M, parts: &[&[u8]]) -> Vec<u8> {
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// HMAC of the concatenation of `parts`, keyed with `key`.
pub(crate) fn hmac(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` only fails for fixed-size-key MACs.
    const ANY_KEY: &str = "HMAC accepts keys of any length";
    match algorithm {
        HmacAlgorithm::Sha1 => mac_parts(Hmac::<Sha1>::new_from_slice(key).expect(ANY_KEY), parts),
        HmacAlgorithm::Sha256 => mac_parts(Hmac::<Sha256>::new_from_slice(key).expect(ANY_KEY), parts),
        HmacAlgorithm::Sha512 => mac_parts(Hmac::<Sha512>::new_from_slice(key).expect(ANY_KEY), parts),
    }
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac(HmacAlgorithm::Sha256, key, parts)
}

/// Plain SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part);
    }
    digest.finalize().into()
}

/// Lowercase hex SHA-256 of `bytes` (used for content-derived event ids).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(&[bytes]))
}

/// Constant-time equality of two byte strings. Lengths are not secret (every MAC of a scheme
/// has the same length), so unequal lengths return early.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether `expected` equals any candidate. Every candidate is compared, in constant time.
pub(crate) fn matches_any(expected: &[u8], candidates: &[Vec<u8>]) -> bool {
    let mut any = Choice::from(0);
    for candidate in candidates {
        if candidate.len() == expected.len() {
            any |= candidate.as_slice().ct_eq(expected);
        }
    }
    any.into()
}

/// Decodes a received signature in `encoding`, requiring exactly `len` bytes.
pub(crate) fn decode_signature(encoding: SignatureEncoding, value: &str, len: usize) -> Option<Vec<u8>> {
    let bytes = match encoding {
        SignatureEncoding::Hex => hex::decode(value).ok()?,
        SignatureEncoding::Base64 => STANDARD.decode(value).ok()?,
    };
    (bytes.len() == len).then_some(bytes)
}

/// Decodes a configured base64 secret (standard alphabet, padding optional).
pub(crate) fn decode_base64_secret(value: &str) -> Option<Vec<u8>> {
    STANDARD_PADDING_OPTIONAL.decode(value).ok()
}

/// Standard padded base64 of `bytes`.
#[cfg(test)]
pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Collects the usable signatures from every value of a signature header.
///
/// `parse` turns one value into zero or more decoded signatures (a header may carry a list).
/// No value at all is [`Rejection::MissingHeader`]; values that yield no usable signature are
/// [`Rejection::MalformedHeader`] with `expected` describing the format.
pub(crate) fn collect_signatures<'v>(
    header: &str,
    values: impl IntoIterator<Item = &'v str>,
    expected: &str,
    mut parse: impl FnMut(&'v str) -> Vec<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, Rejection> {
    let mut seen = false;
    let mut signatures = Vec::new();
    for value in values {
        seen = true;
        signatures.extend(parse(value.trim()));
    }
    if !seen {
        return Err(Rejection::missing(header));
    }
    if signatures.is_empty() {
        return Err(Rejection::malformed(
            header,
            format!("no well-formed signature; expected {expected}"),
        ));
    }
    Ok(signatures)
}

/// Verifies a base64 HMAC-SHA256 of the raw body carried by the first of `headers` present
/// (every value of that header is tried). Shopify, Intuit, Xero and WooCommerce sign this way.
pub(crate) fn verify_body_hmac_sha256_base64(
    headers: &[&str],
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
) -> Result<Verified, Rejection> {
    verify_body_hmac_sha256(headers, SignatureEncoding::Base64, req, secrets)
}

/// Verifies an HMAC-SHA256 of the raw body, in `encoding`, carried by the first of `headers`
/// present (every value of that header is tried). Linear, Asana and Dropbox sign in hex.
pub(crate) fn verify_body_hmac_sha256(
    headers: &[&str],
    encoding: SignatureEncoding,
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
) -> Result<Verified, Rejection> {
    let header = headers
        .iter()
        .copied()
        .find(|name| req.headers.contains(name))
        .unwrap_or(headers[0]);
    let expected = match encoding {
        SignatureEncoding::Base64 => "base64 of a 32-byte HMAC-SHA256",
        SignatureEncoding::Hex => "64 hex digits of an HMAC-SHA256",
    };
    let signatures = collect_signatures(header, req.headers.get_all(header), expected, |value| {
        decode_signature(encoding, value, 32).into_iter().collect()
    })?;
    secrets
        .utf8_keys()?
        .first_match(|key| matches_any(&hmac_sha256(key, &[req.body]), &signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_stripe_node_primitive_vectors() {
        // stripe-node test/crypto/helpers.ts, secret `test_secret`.
        let cases: [(&str, &str); 3] = [
            ("", "f7f9bd47fb987337b5796fdc1fdb9ba221d0d5396814bfcaf9521f43fd8927fd"),
            (
                r#"{"obj1":"hello","obj2":"world"}"#,
                "bebb1a643997f419b315ddba19e6f5411e1ce7f810ba6d3617ce72823092f363",
            ),
            (
                "\u{1F600}",
                "837da296d05c4fe31f61d5d7ead035099d9585a5bcde87de952012a78f0b0c43",
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                hex::encode(hmac_sha256(b"test_secret", &[payload.as_bytes()])),
                expected
            );
        }
    }

    #[test]
    fn hmac_over_parts_equals_hmac_over_concatenation() {
        for algorithm in [HmacAlgorithm::Sha1, HmacAlgorithm::Sha256, HmacAlgorithm::Sha512] {
            assert_eq!(
                hmac(algorithm, b"k", &[b"ab", b"", b"c"]),
                hmac(algorithm, b"k", &[b"abc"])
            );
            assert_eq!(hmac(algorithm, b"k", &[b"abc"]).len(), algorithm.output_len());
        }
    }

    #[test]
    fn constant_time_comparison_checks_length_and_content() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(matches_any(b"abc", &[b"x".to_vec(), b"abc".to_vec()]));
        assert!(!matches_any(b"abc", &[]));
    }

    #[test]
    fn signatures_decode_only_at_the_expected_length() {
        assert_eq!(
            decode_signature(SignatureEncoding::Hex, "abcd", 2),
            Some(vec![0xab, 0xcd])
        );
        assert_eq!(decode_signature(SignatureEncoding::Hex, "abcd", 3), None);
        assert_eq!(decode_signature(SignatureEncoding::Hex, "zz", 1), None);
        assert_eq!(
            decode_signature(SignatureEncoding::Base64, "q80=", 2),
            Some(vec![0xab, 0xcd])
        );
        // Received signatures must be canonical padded base64.
        assert_eq!(decode_signature(SignatureEncoding::Base64, "q80", 2), None);
        assert_eq!(decode_signature(SignatureEncoding::Base64, "q81=", 2), None);
    }

    #[test]
    fn secrets_decode_with_or_without_padding() {
        assert_eq!(decode_base64_secret("q80="), Some(vec![0xab, 0xcd]));
        assert_eq!(decode_base64_secret("q80"), Some(vec![0xab, 0xcd]));
        assert_eq!(decode_base64_secret("not base64!"), None);
    }

    #[test]
    fn signature_collection_distinguishes_missing_from_malformed() {
        let none: [&str; 0] = [];
        assert_eq!(
            collect_signatures("X-Sig", none, "hex", |_| vec![]).unwrap_err(),
            Rejection::missing("X-Sig")
        );
        assert_eq!(
            collect_signatures("X-Sig", ["zz"], "hex", |_| vec![])
                .unwrap_err()
                .code(),
            "malformed_header"
        );
        assert_eq!(
            collect_signatures("X-Sig", ["zz", " 01 "], "hex", |v| hex::decode(v)
                .ok()
                .into_iter()
                .collect())
            .unwrap(),
            vec![vec![1u8]]
        );
    }
}
