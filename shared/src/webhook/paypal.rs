//! PayPal: webhooks signed with PayPal's certificate, not with a shared secret.
//!
//! What PayPal documents (developer.paypal.com, "Integrate webhooks" /api/rest/webhooks/rest,
//! and the "Verify webhook signature" request /api/webhooks/v1/#verify-webhook-signature_post,
//! whose fields name the headers and bound them), and what PayPal's own Java SDK checked
//! (`SSLUtil.validateCertificateChain` and `Event.validateReceivedEvent`):
//!
//! * headers `PAYPAL-TRANSMISSION-ID` (at most 50 characters), `PAYPAL-TRANSMISSION-TIME`
//!   (an RFC 3339 time, at most 100), `PAYPAL-TRANSMISSION-SIG` (base64), `PAYPAL-CERT-URL`
//!   (at most 500) and `PAYPAL-AUTH-ALGO` (`SHA256withRSA`);
//! * the signed message is `<transmission id>|<transmission time>|<webhook id>|<crc32>`: the
//!   two header values as received, the id of the webhook as configured at PayPal (the
//!   connection's `webhook_id` config: an identifier, not a secret), and the CRC-32 of the raw
//!   body in decimal;
//! * the signature is RSA PKCS#1 v1.5 with SHA-256, made with the key of the certificate at
//!   the cert URL; that certificate must chain to a trusted root, be valid now, and name
//!   `messageverificationcerts.paypal.com` (or `.sandbox.paypal.com`).
//!
//! The cert URL is attacker data: before anything is fetched it must be `https` on one of
//! PayPal's API hosts ([`CERT_HOSTS`], compared exactly: no suffix match, no IP literal, no
//! user info, no port but 443), under `/v1/notifications/certs/`, with no query or fragment.
//!
//! This module is pure: [`delivery`] reads and checks the headers (and the time, against the
//! tolerance), [`verify`] checks a certificate chain already fetched and the signature. The
//! fetch (and its cache) is the receiver's (`crate::receiver::paypal_certs`); [`super::verify`]
//! without a certificate checks the headers only and then refuses, so nothing is ever accepted
//! unverified.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

use super::event::{event, ExtractError, InboundEvent};
use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::secrets::{SecretUsed, Verified};
use super::timestamp::check_fresh;

pub const TRANSMISSION_ID: &str = "PAYPAL-TRANSMISSION-ID";
pub const TRANSMISSION_TIME: &str = "PAYPAL-TRANSMISSION-TIME";
pub const TRANSMISSION_SIG: &str = "PAYPAL-TRANSMISSION-SIG";
pub const CERT_URL: &str = "PAYPAL-CERT-URL";
pub const AUTH_ALGO: &str = "PAYPAL-AUTH-ALGO";

/// The only algorithm PayPal signs with.
pub const ALGORITHM: &str = "SHA256withRSA";

/// The hosts a certificate is fetched from: PayPal's live and sandbox API hosts.
pub const CERT_HOSTS: &[&str] = &[
    "api.paypal.com",
    "api-m.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.sandbox.paypal.com",
];

/// The names PayPal's signing certificates are issued for.
pub const SIGNER_NAMES: &[&str] = &[
    "messageverificationcerts.paypal.com",
    "messageverificationcerts.sandbox.paypal.com",
];

/// Where on those hosts the certificates live (`/v1/notifications/certs/CERT-360caa42-...`).
pub const CERT_PATH: &str = "/v1/notifications/certs/";

/// The connection config key holding the webhook id PayPal shows for the listener URL.
pub const WEBHOOK_ID_CONFIG: &str = "webhook_id";

// Bounds from the verify-webhook-signature request's schema; the signature's is ours: base64
// of an RSA signature up to 8192 bits (the largest key the verifier takes).
const MAX_ID_LEN: usize = 50;
const MAX_TIME_LEN: usize = 100;
const MAX_URL_LEN: usize = 500;
const MAX_SIG_LEN: usize = 1368;
const MAX_WEBHOOK_ID_LEN: usize = 50;

/// A delivery whose headers are well formed, whose time is within the tolerance and whose
/// cert URL is one of PayPal's: what [`verify`] needs besides the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub transmission_id: &'a str,
    pub transmission_time: &'a str,
    signature: Vec<u8>,
    cert_url: CertUrl,
}

impl Delivery<'_> {
    /// The checked certificate URL, the only URL ever fetched for this delivery.
    pub fn cert_url(&self) -> &CertUrl {
        &self.cert_url
    }
}

/// A cert URL that passed [`cert_url`]: `https://<PayPal API host>/v1/notifications/certs/<id>`,
/// rebuilt from its parts (no port, user info, query or fragment can survive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertUrl(String);

impl CertUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host (one of [`CERT_HOSTS`]).
    pub fn host(&self) -> &str {
        let rest = &self.0["https://".len()..];
        &rest[..rest.find('/').unwrap_or(rest.len())]
    }
}

/// Reads and checks a delivery's headers. Header problems come first (missing, too long,
/// malformed), then the time's freshness, then the cert URL. Nothing here touches the network.
pub fn delivery<'a>(req: &WebhookRequest<'a>, opts: &VerifyOptions) -> Result<Delivery<'a>, Rejection> {
    let transmission_id = bounded(req, TRANSMISSION_ID, MAX_ID_LEN)?;
    if transmission_id.contains('|') || !transmission_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Rejection::malformed(TRANSMISSION_ID, "not a transmission id"));
    }
    let transmission_time = bounded(req, TRANSMISSION_TIME, MAX_TIME_LEN)?;
    let at = OffsetDateTime::parse(transmission_time, &Rfc3339)
        .map_err(|_| Rejection::malformed(TRANSMISSION_TIME, "not an RFC 3339 time"))?;
    let algorithm = bounded(req, AUTH_ALGO, MAX_ID_LEN)?;
    if algorithm != ALGORITHM {
        return Err(Rejection::malformed(
            AUTH_ALGO,
            format!("the algorithm must be {ALGORITHM}"),
        ));
    }
    let signature = bounded(req, TRANSMISSION_SIG, MAX_SIG_LEN)?;
    let signature = STANDARD
        .decode(signature)
        .ok()
        .filter(|sig| sig.len() >= 256)
        .ok_or_else(|| Rejection::malformed(TRANSMISSION_SIG, "not base64 of an RSA signature"))?;
    let url = bounded(req, CERT_URL, MAX_URL_LEN)?;
    check_fresh(at.unix_timestamp(), opts)?;
    let cert_url = cert_url(url)?;
    Ok(Delivery {
        transmission_id,
        transmission_time,
        signature,
        cert_url,
    })
}

fn bounded<'a>(req: &WebhookRequest<'a>, name: &str, max: usize) -> Result<&'a str, Rejection> {
    let value = req
        .headers
        .get(name)
        .map(str::trim)
        .ok_or_else(|| Rejection::missing(name))?;
    if value.is_empty() {
        return Err(Rejection::malformed(name, "empty"));
    }
    if value.len() > max {
        return Err(Rejection::malformed(name, format!("longer than {max} characters")));
    }
    Ok(value)
}

/// Checks a `PAYPAL-CERT-URL` value: `https`, an exact PayPal API host, no user info, no port
/// but the default, PayPal's certificate path, no query or fragment. The refusal names the
/// rule, never the URL.
pub fn cert_url(raw: &str) -> Result<CertUrl, Rejection> {
    let refuse = |reason: &str| Rejection::UntrustedCertUrl {
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(raw).map_err(|_| refuse("not a URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("not https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it carries user info"));
    }
    let host = match (url.domain(), url.host_str()) {
        (Some(host), _) => host,
        (None, Some(_)) => return Err(refuse("an IP address is not one of PayPal's hosts")),
        (None, None) => return Err(refuse("no host")),
    };
    if !CERT_HOSTS.contains(&host) {
        return Err(refuse("the host is not one of PayPal's API hosts"));
    }
    // `Url` drops the scheme's default port, so `:443` reads as none.
    if url.port().is_some() {
        return Err(refuse("a port other than 443"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("it has a query or fragment"));
    }
    let name = url
        .path()
        .strip_prefix(CERT_PATH)
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| refuse("not under PayPal's certificate path"))?;
    Ok(CertUrl(format!("https://{host}{CERT_PATH}{name}")))
}

/// Checks a connection's configured webhook id: PayPal's ids are letters and digits, at most 50.
pub fn check_webhook_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_WEBHOOK_ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{WEBHOOK_ID_CONFIG}` must be the webhook's id as PayPal shows it: letters and digits, at most {MAX_WEBHOOK_ID_LEN}"
        ));
    }
    Ok(())
}

/// What PayPal signs: `<transmission id>|<transmission time>|<webhook id>|<CRC-32 of the body>`.
pub fn signed_message(transmission_id: &str, transmission_time: &str, webhook_id: &str, body: &[u8]) -> String {
    format!(
        "{transmission_id}|{transmission_time}|{webhook_id}|{}",
        crc32fast::hash(body)
    )
}

/// Checks that `chain` (the leaf first, then the intermediates PayPal serves with it) chains to
/// one of `anchors`, is valid at `now` and names one of [`SIGNER_NAMES`].
pub fn check_signer(chain: &[CertificateDer<'_>], anchors: &[TrustAnchor<'_>], now: i64) -> Result<(), Rejection> {
    let untrusted = |reason: String| Rejection::UntrustedCertificate { reason };
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| untrusted("no certificate was served".to_owned()))?;
    let leaf = webpki::EndEntityCert::try_from(leaf).map_err(|_| untrusted("not an X.509 certificate".to_owned()))?;
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(u64::try_from(now).unwrap_or(0)));
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        anchors,
        intermediates,
        time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| {
        untrusted(match e {
            webpki::Error::CertExpired { .. } => "the certificate has expired".to_owned(),
            webpki::Error::CertNotValidYet { .. } => "the certificate is not valid yet".to_owned(),
            webpki::Error::UnknownIssuer => "the certificate does not chain to a trusted root".to_owned(),
            other => format!("the certificate chain is not valid ({other})"),
        })
    })?;
    let named = SIGNER_NAMES
        .iter()
        .any(|name| ServerName::try_from(*name).is_ok_and(|name| leaf.verify_is_valid_for_subject_name(&name).is_ok()));
    if !named {
        return Err(untrusted(
            "the certificate is not issued for messageverificationcerts.paypal.com or its sandbox".to_owned(),
        ));
    }
    Ok(())
}

/// Verifies `delivery` of `body` for the webhook `webhook_id` with the certificate chain fetched
/// from its cert URL, trusting `anchors`, at `now`.
pub fn verify(
    delivery: &Delivery<'_>,
    webhook_id: &str,
    body: &[u8],
    chain: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    now: i64,
) -> Result<Verified, Rejection> {
    check_webhook_id(webhook_id).map_err(Rejection::invalid_secret)?;
    check_signer(chain, anchors, now)?;
    let leaf = webpki::EndEntityCert::try_from(&chain[0]).map_err(|_| Rejection::UntrustedCertificate {
        reason: "not an X.509 certificate".to_owned(),
    })?;
    let message = signed_message(delivery.transmission_id, delivery.transmission_time, webhook_id, body);
    leaf.verify_signature(
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        message.as_bytes(),
        &delivery.signature,
    )
    .map_err(|_| Rejection::NoMatchingSignature)?;
    Ok(Verified {
        secret: SecretUsed::Current,
    })
}

/// Without a certificate (the receiver verifies PayPal with [`verify`]): the headers are
/// checked, then the delivery is refused.
pub(crate) fn verify_without_certificate(
    req: &WebhookRequest<'_>,
    opts: &VerifyOptions,
) -> Result<Verified, Rejection> {
    delivery(req, opts)?;
    Err(Rejection::UntrustedCertificate {
        reason: "PayPal's signing certificate was not fetched".to_owned(),
    })
}

/// One event per delivery: its id (`WH-...`) and `event_type` (`INVOICING.INVOICE.PAID`).
pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let body = super::event::parse_json(req.body)?;
    let event_id = super::event::id_value(body.get("id"), "id")?;
    let event_type = match body.get("event_type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => {
            return Err(ExtractError::InvalidField {
                field: "event_type".into(),
                reason: "not a string".into(),
            })
        }
        None => return Err(ExtractError::MissingField("event_type".into())),
    };
    // The event id, not the transmission id: PayPal keeps it across its retries.
    Ok(vec![event(event_id, event_type, Cow::Borrowed(req.body))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;

    const NOW: i64 = 1_763_800_000; // 2025-11-22T08:26:40Z
    const STAMP: &str = "2025-11-22T08:26:40Z";
    const URL: &str = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";

    fn sig() -> String {
        STANDARD.encode([7u8; 256])
    }

    fn headers(overrides: &[(&str, Option<&str>)]) -> Headers {
        let sig = sig();
        let mut all: Vec<(&str, Option<&str>)> = vec![
            (TRANSMISSION_ID, Some("b2384410-f8d2-11e4-8bf3-77339302725b")),
            (TRANSMISSION_TIME, Some(STAMP)),
            (TRANSMISSION_SIG, Some(sig.as_str())),
            (CERT_URL, Some(URL)),
            (AUTH_ALGO, Some(ALGORITHM)),
        ];
        for (name, value) in overrides {
            all.retain(|(n, _)| n != name);
            all.push((*name, *value));
        }
        let pairs: Vec<(String, String)> = all
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n.to_owned(), v.to_owned())))
            .collect();
        Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }

    fn parse(headers: &Headers, now: i64) -> Result<Delivery<'_>, Rejection> {
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_pp",
            headers,
            body: b"{}",
        };
        delivery(&req, &VerifyOptions::at(now))
    }

    #[test]
    fn well_formed_headers_give_the_checked_cert_url() {
        let h = headers(&[]);
        let d = parse(&h, NOW).unwrap();
        assert_eq!(d.cert_url().as_str(), URL);
        assert_eq!(d.cert_url().host(), "api.sandbox.paypal.com");
        assert_eq!(d.transmission_time, STAMP);
    }

    #[test]
    fn each_missing_header_is_named() {
        for name in [
            TRANSMISSION_ID,
            TRANSMISSION_TIME,
            TRANSMISSION_SIG,
            CERT_URL,
            AUTH_ALGO,
        ] {
            let h = headers(&[(name, None)]);
            assert_eq!(parse(&h, NOW), Err(Rejection::missing(name)), "{name}");
        }
    }

    #[test]
    fn malformed_and_oversized_headers_are_refused_before_the_url_is_looked_at() {
        let long = "x".repeat(51);
        let cases: &[(&str, &str)] = &[
            (TRANSMISSION_ID, long.as_str()),
            (TRANSMISSION_ID, "a|b"),
            (TRANSMISSION_TIME, "yesterday"),
            (AUTH_ALGO, "SHA1withRSA"),
            (TRANSMISSION_SIG, "not base64!"),
            (TRANSMISSION_SIG, "AAAA"),
        ];
        for (name, value) in cases {
            let h = headers(&[(*name, Some(*value)), (CERT_URL, Some("http://evil.example/x"))]);
            assert!(
                matches!(parse(&h, NOW), Err(Rejection::MalformedHeader { ref header, .. }) if header == name),
                "{name}: {value}"
            );
        }
        let huge = format!("https://api.paypal.com{CERT_PATH}{}", "A".repeat(600));
        let h = headers(&[(CERT_URL, Some(huge.as_str()))]);
        assert!(matches!(parse(&h, NOW), Err(Rejection::MalformedHeader { .. })));
    }

    #[test]
    fn a_stale_or_future_transmission_time_is_refused_before_any_fetch() {
        let h = headers(&[(CERT_URL, Some("https://evil.example/cert"))]);
        assert!(matches!(parse(&h, NOW + 301), Err(Rejection::StaleTimestamp { .. })));
        assert!(matches!(parse(&h, NOW - 301), Err(Rejection::FutureTimestamp { .. })));
        assert!(parse(&headers(&[]), NOW + 300).is_ok());
    }

    #[test]
    fn only_https_urls_on_paypals_api_hosts_and_certificate_path_pass() {
        for host in CERT_HOSTS {
            let url = format!("https://{host}{CERT_PATH}CERT-1a2b");
            assert_eq!(cert_url(&url).unwrap().as_str(), url);
        }
        // The default port and a host's case are normalised away.
        assert_eq!(
            cert_url("https://API.PayPal.com:443/v1/notifications/certs/CERT-1")
                .unwrap()
                .as_str(),
            "https://api.paypal.com/v1/notifications/certs/CERT-1"
        );
        let refused = [
            ("http://api.paypal.com/v1/notifications/certs/CERT-1", "not https"),
            (
                "https://evil.example/v1/notifications/certs/CERT-1",
                "not one of PayPal's",
            ),
            (
                "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
                "not one of PayPal's",
            ),
            (
                "https://evilapi.paypal.com/v1/notifications/certs/CERT-1",
                "not one of PayPal's",
            ),
            (
                "https://paypal.com/v1/notifications/certs/CERT-1",
                "not one of PayPal's",
            ),
            (
                "https://api.paypal.com./v1/notifications/certs/CERT-1",
                "not one of PayPal's",
            ),
            (
                "https://user:pw@api.paypal.com/v1/notifications/certs/CERT-1",
                "user info",
            ),
            (
                "https://api.paypal.com@evil.example/v1/notifications/certs/CERT-1",
                "user info",
            ),
            ("https://api.paypal.com:8443/v1/notifications/certs/CERT-1", "port"),
            ("https://127.0.0.1/v1/notifications/certs/CERT-1", "IP address"),
            ("https://[::1]/v1/notifications/certs/CERT-1", "IP address"),
            ("https://api.paypal.com/v1/oauth2/token", "certificate path"),
            ("https://api.paypal.com/v1/notifications/certs/", "certificate path"),
            (
                "https://api.paypal.com/v1/notifications/certs/../../oauth2/token",
                "certificate path",
            ),
            ("https://api.paypal.com/v1/notifications/certs/CERT-1?x=1", "query"),
            (
                "https://api.paypal.com/v1/notifications/certs/CERT-1#f",
                "query or fragment",
            ),
            ("ftp://api.paypal.com/v1/notifications/certs/CERT-1", "not https"),
            ("not a url", "not a URL"),
        ];
        for (url, why) in refused {
            match cert_url(url) {
                Err(Rejection::UntrustedCertUrl { reason }) => {
                    assert!(reason.contains(why), "{url}: {reason}");
                    assert!(!reason.contains("evil"), "the URL is not echoed: {reason}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_signed_message_joins_ids_time_and_the_body_crc_in_decimal() {
        // CRC-32 (IEEE) of "123456789" is 0xCBF43926 = 3421780262, the standard check value.
        assert_eq!(
            signed_message("tid", "2025-01-01T00:00:00Z", "WH1", b"123456789"),
            "tid|2025-01-01T00:00:00Z|WH1|3421780262"
        );
        assert_eq!(signed_message("a", "b", "c", b""), "a|b|c|0");
    }

    #[test]
    fn webhook_ids_are_paypals_shape() {
        assert!(check_webhook_id("9XL90610J3647323C").is_ok());
        for bad in ["", "a b", "WH|1", &"A".repeat(51)] {
            assert!(check_webhook_id(bad).unwrap_err().contains("webhook_id"), "{bad}");
        }
    }

    #[test]
    fn without_a_certificate_nothing_verifies() {
        let h = headers(&[]);
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_pp",
            headers: &h,
            body: b"{}",
        };
        assert_eq!(
            verify_without_certificate(&req, &VerifyOptions::at(NOW))
                .unwrap_err()
                .code(),
            "untrusted_certificate"
        );
    }

    #[test]
    fn a_chain_that_is_not_a_certificate_is_untrusted() {
        let h = headers(&[]);
        let d = parse(&h, NOW).unwrap();
        let garbage = [CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])];
        let e = verify(&d, "WH1", b"{}", &garbage, webpki_roots::TLS_SERVER_ROOTS, NOW).unwrap_err();
        assert_eq!(e.code(), "untrusted_certificate");
        let e = verify(&d, "WH1", b"{}", &[], webpki_roots::TLS_SERVER_ROOTS, NOW).unwrap_err();
        assert_eq!(e.code(), "untrusted_certificate");
        let e = verify(&d, "bad id", b"{}", &garbage, webpki_roots::TLS_SERVER_ROOTS, NOW).unwrap_err();
        assert_eq!(e.code(), "invalid_secret");
    }

    #[test]
    fn events_are_the_body_id_and_event_type() {
        let h = headers(&[]);
        let body = br#"{"id":"WH-1","event_type":"INVOICING.INVOICE.PAID","resource":{"invoice":{"id":"INV2-1"}}}"#;
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_pp",
            headers: &h,
            body,
        };
        let events = extract(&req).unwrap();
        assert_eq!(events[0].event_id, "WH-1");
        assert_eq!(events[0].event_type, "INVOICING.INVOICE.PAID");
        let req = WebhookRequest {
            body: br#"{"id":"WH-1"}"#,
            ..req
        };
        assert_eq!(extract(&req).unwrap_err().code(), "missing_field");
    }
}
