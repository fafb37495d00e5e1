//! GitHub: `X-Hub-Signature-256: sha256=<hex>` (HMAC-SHA256 of the body). The legacy
//! `X-Hub-Signature: sha1=<hex>` is used only when the SHA-256 header is absent.

use super::crypto::{collect_signatures, decode_signature, hmac, matches_any};
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::scheme::{HmacAlgorithm, SignatureEncoding};
use super::secrets::{SigningSecrets, Verified};

const SHA256_HEADER: &str = "X-Hub-Signature-256";
const SHA1_HEADER: &str = "X-Hub-Signature";

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    let (header, prefix, algorithm, expected) = if req.headers.contains(SHA256_HEADER) {
        (
            SHA256_HEADER,
            "sha256=",
            HmacAlgorithm::Sha256,
            "`sha256=` followed by 64 hex digits",
        )
    } else if req.headers.contains(SHA1_HEADER) {
        (
            SHA1_HEADER,
            "sha1=",
            HmacAlgorithm::Sha1,
            "`sha1=` followed by 40 hex digits",
        )
    } else {
        return Err(Rejection::missing(SHA256_HEADER));
    };
    let signatures = collect_signatures(header, req.headers.get_all(header), expected, |value| {
        value
            .strip_prefix(prefix)
            .and_then(|hex| decode_signature(SignatureEncoding::Hex, hex, algorithm.output_len()))
            .into_iter()
            .collect()
    })?;
    secrets
        .utf8_keys()?
        .first_match(|key| matches_any(&hmac(algorithm, key, &[req.body]), &signatures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    /// octokit verify.test.ts: GitHub's 2-space pretty JSON plus a trailing newline.
    const PRETTY: &str = "{\n  \"foo\": \"bar\"\n}\n";
    const PRETTY_SIG: &str = "sha256=e3eccac34c43c7dc1cbb905488b1b81347fcc700a7b025697a9d07862256023f";
    /// octokit #71: JSON.stringify(.., null, 2) + "\n" with `\u001B` escapes upper-cased.
    const ESCAPES: &str = "{\n  \"foo\": \"Foo\\n\\u001B[34mbar: \u{2665}\u{2665}\u{2665}\u{2665}\u{2665}\u{2665}\u{2665}\u{2665}\\nthis-is-lost\\u001B[0m\\u001B[2K\"\n}\n";
    const ESCAPED_BACKSLASH: &str = "{\n  \"foo\": \"\\\\u001b\"\n}\n";

    fn check(headers: &[(&str, &str)], body: &str, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(headers.iter().copied());
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/github",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets)
    }

    fn sha256(sig: &str) -> [(&str, &str); 1] {
        [("x-hub-signature-256", sig)]
    }

    #[test]
    fn github_accepts_docs_vector() {
        assert_eq!(
            check(
                &sha256("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
                "Hello, World!",
                &SigningSecrets::new("It's a Secret to Everybody")
            ),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn github_accepts_octokit_sign_vector() {
        assert!(check(
            &sha256("sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484236bda3"),
            r#"{"foo":"bar"}"#,
            &SigningSecrets::new("mysecret")
        )
        .is_ok());
    }

    #[test]
    fn github_accepts_octokit_pretty_json_vector_and_rejects_its_invalid_variant() {
        let secrets = SigningSecrets::new("mysecret");
        assert!(check(&sha256(PRETTY_SIG), PRETTY, &secrets).is_ok());
        let invalid = PRETTY_SIG.replacen("e3e", "xxx", 1);
        assert_eq!(
            check(&sha256(&invalid), PRETTY, &secrets).unwrap_err().code(),
            "malformed_header"
        );
        let wrong = PRETTY_SIG.replacen("e3e", "000", 1);
        assert_eq!(
            check(&sha256(&wrong), PRETTY, &secrets),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn github_accepts_octokit_special_character_vectors() {
        let secrets = SigningSecrets::new("development");
        assert!(check(
            &sha256("sha256=9dacf9003316b09be07df56d86a2d0d6872e42a1e6c72c3bad9ff915a7c5603e"),
            ESCAPES,
            &secrets
        )
        .is_ok());
        assert!(check(
            &sha256("sha256=87316067e2011fae39998b18c46a14d83b3e7c3ffdd88fb2ee5afb7d11288e60"),
            ESCAPED_BACKSLASH,
            &secrets
        )
        .is_ok());
    }

    #[test]
    fn github_rejects_tampered_body() {
        assert_eq!(
            check(
                &sha256(PRETTY_SIG),
                "{\n  \"foo\": \"baz\"\n}\n",
                &SigningSecrets::new("mysecret")
            ),
            Err(Rejection::NoMatchingSignature)
        );
        // Re-serialised JSON is a different body.
        assert_eq!(
            check(
                &sha256(PRETTY_SIG),
                r#"{"foo":"bar"}"#,
                &SigningSecrets::new("mysecret")
            ),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn github_rejects_missing_header() {
        assert_eq!(
            check(&[], PRETTY, &SigningSecrets::new("mysecret")),
            Err(Rejection::missing("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn github_rejects_signature_without_algorithm_prefix() {
        let bare = PRETTY_SIG.trim_start_matches("sha256=");
        assert_eq!(
            check(&sha256(bare), PRETTY, &SigningSecrets::new("mysecret"))
                .unwrap_err()
                .code(),
            "malformed_header"
        );
        assert_eq!(
            check(&sha256("foo"), PRETTY, &SigningSecrets::new("mysecret"))
                .unwrap_err()
                .code(),
            "malformed_header"
        );
    }

    #[test]
    fn github_falls_back_to_sha1_only_when_sha256_header_is_absent() {
        // HMAC-SHA1("mysecret", {"foo":"bar"}), computed with Python's hmac module.
        let sha1 = ("X-Hub-Signature", "sha1=d03207e4b030cf234e3447bac4d93add4c6643d8");
        let secrets = SigningSecrets::new("mysecret");
        assert!(check(&[sha1], r#"{"foo":"bar"}"#, &secrets).is_ok());
        // With a (wrong) SHA-256 header present, the valid SHA-1 header is not consulted.
        let wrong256 = ("X-Hub-Signature-256", PRETTY_SIG);
        assert_eq!(
            check(&[wrong256, sha1], r#"{"foo":"bar"}"#, &secrets),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn github_accepts_signature_from_previous_secret() {
        let secrets = SigningSecrets::new("rotated").with_previous("mysecret");
        assert_eq!(
            check(&sha256(PRETTY_SIG), PRETTY, &secrets).unwrap().secret,
            SecretUsed::Previous
        );
    }
}
