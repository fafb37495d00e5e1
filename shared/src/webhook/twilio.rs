//! Twilio: `X-Twilio-Signature`, base64 HMAC-SHA1 (keyed with the auth token) over the full
//! URL followed by every POST parameter as `name + value`, names sorted, the values of a
//! repeated name sorted and de-duplicated. The URL is tried as received and with its port
//! stripped or the scheme's default port added. JSON bodies are signed through a
//! `bodySHA256=<hex>` query parameter instead of parameters.
//!
//! Because Twilio signs *decoded* parameters, two encodings of the same parameters (`+` or
//! `%20`, parameter order) carry the same signature: the form body's bytes are not signed,
//! its meaning is.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::crypto::{collect_signatures, ct_eq, decode_signature, hmac, matches_any, sha256_hex};
use super::form::parse_strict;
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::scheme::{HmacAlgorithm, SignatureEncoding};
use super::secrets::{SigningSecrets, Verified};

const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
const BODY_HASH_PARAM: &str = "bodySHA256";

/// The value of `name` in the URL's query string, if any.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let query = without_fragment.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The URL as received, plus the variant with its explicit port removed or, if it has none,
/// with the scheme's default port (443 for https, 80 otherwise) added — as twilio-python does.
fn url_variants(url: &str) -> Vec<Cow<'_, str>> {
    let Some(scheme_end) = url.find("://") else {
        return vec![Cow::Borrowed(url)];
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| authority_start + at);
    let authority = &url[authority_start..authority_end];
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    let port_colon = host_port.rfind(':').filter(|&at| !host_port[at..].contains(']'));
    let variant = match port_colon {
        Some(at) => {
            let cut = authority_start + host_start + at;
            format!("{}{}", &url[..cut], &url[authority_end..])
        }
        None => {
            let scheme = &url[..scheme_end];
            let port = if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 };
            format!("{}:{port}{}", &url[..authority_end], &url[authority_end..])
        }
    };
    vec![Cow::Borrowed(url), Cow::Owned(variant)]
}

/// Concatenates parameters as Twilio signs them.
pub(crate) fn signed_params(params: Vec<(String, String)>) -> String {
    let mut grouped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name).or_default().insert(value);
    }
    let mut out = String::new();
    for (name, values) in &grouped {
        for value in values {
            out.push_str(name);
            out.push_str(value);
        }
    }
    out
}

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    let signatures = collect_signatures(
        SIGNATURE_HEADER,
        req.headers.get_all(SIGNATURE_HEADER),
        "base64 of a 20-byte HMAC-SHA1",
        |value| {
            decode_signature(SignatureEncoding::Base64, value, 20)
                .into_iter()
                .collect()
        },
    )?;

    let params = match query_param(req.url, BODY_HASH_PARAM) {
        // A JSON body: the URL (carrying the body hash) is signed; the body must match the hash.
        Some(expected) => {
            let actual = sha256_hex(req.body);
            if !ct_eq(actual.as_bytes(), expected.to_ascii_lowercase().as_bytes()) {
                return Err(Rejection::NoMatchingSignature);
            }
            String::new()
        }
        None => signed_params(parse_strict(req.body).map_err(|reason| Rejection::MalformedBody {
            reason: reason.to_owned(),
        })?),
    };

    let urls = url_variants(req.url);
    secrets.utf8_keys()?.first_match(|key| {
        urls.iter().any(|url| {
            let expected = hmac(HmacAlgorithm::Sha1, key, &[url.as_bytes(), params.as_bytes()]);
            matches_any(&expected, &signatures)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    // twilio/twilio-python tests/unit/test_request_validator.py
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const PARAMS: &str =
        "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

    fn check(url: &str, sig: Option<&str>, body: &str, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(sig.map(|s| ("x-twilio-signature", s)));
        let req = WebhookRequest {
            method: "POST",
            url,
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(&req, secrets)
    }

    fn token() -> SigningSecrets {
        SigningSecrets::new(TOKEN)
    }

    #[test]
    fn twilio_accepts_python_library_vector() {
        assert_eq!(
            check(URL, Some(EXPECTED), PARAMS, &token()),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
    }

    #[test]
    fn twilio_parameter_order_in_the_body_does_not_matter() {
        let reordered =
            "To=%2B18005551212&From=%2B14158675309&Digits=1234&Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
        assert!(check(URL, Some(EXPECTED), reordered, &token()).is_ok());
    }

    #[test]
    fn twilio_accepts_signature_over_url_with_default_port_added() {
        assert!(check(URL, Some("kvajT1Ptam85bY51eRf/AJRuM3w="), PARAMS, &token()).is_ok());
        let http = URL.replace("https", "http");
        assert!(check(&http, Some("0ZXoZLH/DfblKGATFgpif+LLRf4="), PARAMS, &token()).is_ok());
    }

    #[test]
    fn twilio_accepts_signature_over_url_with_port_removed() {
        let with_port = URL.replace(".com", ".com:1234");
        assert!(check(&with_port, Some(EXPECTED), PARAMS, &token()).is_ok());
        // ...and over the URL with the explicit port kept.
        let http = with_port.replace("https", "http");
        assert!(check(&http, Some("Zmvh+3yNM1Phv2jhDCwEM3q5ebU="), PARAMS, &token()).is_ok());
    }

    #[test]
    fn twilio_sorts_and_deduplicates_repeated_parameters() {
        let body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
        assert!(check(URL, Some("IK+Dwps556ElfBT0I3Rgjkr1wJU="), body, &token()).is_ok());
    }

    #[test]
    fn twilio_accepts_json_body_signed_through_body_hash() {
        let url = format!("{URL}&bodySHA256={BODY_HASH}");
        assert!(check(&url, Some("a9nBmqA0ju/hNViExpshrM61xv4="), JSON_BODY, &token()).is_ok());
    }

    #[test]
    fn twilio_rejects_json_body_that_does_not_match_body_hash() {
        let url = format!("{URL}&bodySHA256={BODY_HASH}");
        let tampered = JSON_BODY.replace("true", "false");
        assert_eq!(
            check(&url, Some("a9nBmqA0ju/hNViExpshrM61xv4="), &tampered, &token()),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn twilio_rejects_tampered_parameters() {
        let tampered = PARAMS.replace("Digits=1234", "Digits=1235");
        assert_eq!(
            check(URL, Some(EXPECTED), &tampered, &token()),
            Err(Rejection::NoMatchingSignature)
        );
        assert_eq!(
            check(URL, Some(EXPECTED), &format!("{PARAMS}&Extra=1"), &token()),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn twilio_rejects_other_url() {
        assert_eq!(
            check(
                "https://mycompany.com/myapp.php?foo=1&bar=3",
                Some(EXPECTED),
                PARAMS,
                &token()
            ),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn twilio_rejects_missing_and_malformed_header() {
        assert_eq!(
            check(URL, None, PARAMS, &token()),
            Err(Rejection::missing("X-Twilio-Signature"))
        );
        assert_eq!(
            check(URL, Some("RSOYDt4T1cUTdK1PDd93"), PARAMS, &token())
                .unwrap_err()
                .code(),
            "malformed_header"
        );
    }

    #[test]
    fn twilio_rejects_form_body_that_is_not_utf8() {
        assert_eq!(
            check(URL, Some(EXPECTED), "Body=%FF%FE", &token()).unwrap_err().code(),
            "malformed_body"
        );
    }

    #[test]
    fn twilio_accepts_signature_from_previous_auth_token() {
        let secrets = SigningSecrets::new("67890").with_previous(TOKEN);
        assert_eq!(
            check(URL, Some(EXPECTED), PARAMS, &secrets).unwrap().secret,
            SecretUsed::Previous
        );
    }

    #[test]
    fn url_variants_handle_ports_userinfo_and_ipv6() {
        let strings = |url: &str| url_variants(url).into_iter().map(Cow::into_owned).collect::<Vec<_>>();
        assert_eq!(
            strings("https://a.com/p?x=1"),
            ["https://a.com/p?x=1", "https://a.com:443/p?x=1"]
        );
        assert_eq!(strings("http://a.com"), ["http://a.com", "http://a.com:80"]);
        assert_eq!(
            strings("https://a.com:8443/p"),
            ["https://a.com:8443/p", "https://a.com/p"]
        );
        assert_eq!(
            strings("https://u:pw@a.com/p"),
            ["https://u:pw@a.com/p", "https://u:pw@a.com:443/p"]
        );
        assert_eq!(strings("https://[::1]/p"), ["https://[::1]/p", "https://[::1]:443/p"]);
        assert_eq!(strings("https://[::1]:99/p"), ["https://[::1]:99/p", "https://[::1]/p"]);
        assert_eq!(strings("/relative"), ["/relative"]);
    }

    #[test]
    fn query_param_reads_the_query_only() {
        assert_eq!(
            query_param("https://a.com/p?x=1&bodySHA256=ab#frag", "bodySHA256").as_deref(),
            Some("ab")
        );
        assert_eq!(query_param("https://a.com/p#?bodySHA256=ab", "bodySHA256"), None);
        assert_eq!(query_param("https://a.com/p", "bodySHA256"), None);
    }
}
