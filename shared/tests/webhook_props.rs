//! Property tests for `switchyard::webhook`: every scheme, through the public `verify` and
//! `extract`.
//!
//! * arbitrary headers, bodies, URLs and timestamps never panic and never leak the secret;
//! * a request signed by an independent implementation (written here from the providers'
//!   formulas, or the `standardwebhooks` crate) always verifies;
//! * flipping any body byte always rejects (Twilio form bodies: unless the decoded parameters
//!   are unchanged, since Twilio signs decoded parameters, not bytes);
//! * Standard Webhooks agrees with the `standardwebhooks` reference crate on mutated inputs.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::sample::select;
use sha2::{Digest, Sha256, Sha512};
use switchyard::webhook::{
    extract, verify, GenericHmac, Headers, HmacAlgorithm, HubspotConfig, HubspotVersion, Rejection, Scheme, SecretUsed,
    SignatureEncoding, SigningSecrets, VerifyOptions, WebhookRequest,
};

// ---------------------------------------------------------------------------------------------
// Independent signing helpers

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha512(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const NOW: i64 = 1_700_000_000;
const URL: &str = "https://hooks.example.com/in/conn_1?tenant=acme";

/// A fully built request that owns its parts.
#[derive(Debug, Clone)]
struct Signed {
    scheme: Scheme,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secrets: SigningSecrets,
}

impl Signed {
    fn run(&self, body: &[u8]) -> Result<SecretUsed, Rejection> {
        let headers = Headers::from_pairs(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let req = WebhookRequest {
            method: &self.method,
            url: &self.url,
            headers: &headers,
            body,
        };
        verify(&self.scheme, &req, &self.secrets, &VerifyOptions::at(NOW)).map(|v| v.secret)
    }
}

fn twilio_signed_params(params: &[(String, String)]) -> String {
    let mut grouped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name).or_default().insert(value);
    }
    grouped
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |value| format!("{name}{value}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_\\-]{8,40}"
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        any::<String>().prop_map(String::into_bytes),
        json_ish().prop_map(|v| v.to_string().into_bytes()),
    ]
}

const KEYS: &[&str] = &[
    "id",
    "type",
    "event",
    "event_id",
    "challenge",
    "eventId",
    "subscriptionType",
    "events",
    "eventCategory",
    "eventType",
    "specversion",
    "eventNotifications",
    "trigger_id",
    "payload",
    "data",
];

fn json_ish() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::String("url_verification".into())),
        Just(Value::String("event_callback".into())),
        "[ -~]{0,40}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((select(KEYS), inner), 0..8)
                .prop_map(|pairs| { Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()) }),
        ]
    })
}

const HEADER_NAMES: &[&str] = &[
    "Stripe-Signature",
    "PAYPAL-TRANSMISSION-ID",
    "PAYPAL-TRANSMISSION-TIME",
    "PAYPAL-TRANSMISSION-SIG",
    "PAYPAL-CERT-URL",
    "PAYPAL-AUTH-ALGO",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-GitHub-Delivery",
    "X-GitHub-Event",
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "X-Shopify-Hmac-Sha256",
    "shopify-hmac-sha256",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Topic",
    "X-HubSpot-Signature",
    "X-HubSpot-Signature-Version",
    "X-HubSpot-Signature-v3",
    "X-HubSpot-Request-Timestamp",
    "intuit-signature",
    "x-xero-signature",
    "Calendly-Webhook-Signature",
    "X-Twilio-Signature",
    "I-Twilio-Idempotency-Token",
    "X-Signature",
    "X-Timestamp",
    "X-Event-Id",
];

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        any::<i64>().prop_map(|n| n.to_string()),
        (any::<i64>(), 0i64..=999).prop_map(|(n, ms)| format!("{n}{ms:03}")),
        Just("99999999999999999999999999999".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just(String::new()),
        select(&["v1", "v2", "v3", "V2", ""][..]).prop_map(str::to_owned),
        (any::<i64>(), "[0-9a-f]{64}", "[ -~]{0,12}").prop_map(|(t, h, junk)| format!("t={t},v1={h},v0={h},{junk}")),
        ("[A-Za-z0-9+/]{43}", "[ -~]{0,12}").prop_map(|(s, junk)| format!("v1,{s}= v1a,{s}= {junk}")),
        "[0-9a-fA-F]{64}".prop_map(|h| format!("sha256={h}")),
        "[0-9a-f]{40}".prop_map(|h| format!("sha1={h}")),
        "[0-9a-f]{64}".prop_map(|h| format!("v0={h}")),
        "[A-Za-z0-9+/]{27}=",
        "[A-Za-z0-9+/]{43}=",
        "[0-9a-f]{64}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![select(HEADER_NAMES).prop_map(str::to_owned), "[A-Za-z\\-]{1,20}"],
            header_value(),
        ),
        0..14,
    )
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(URL.to_owned()),
        any::<String>(),
        "https?://[a-z.]{1,12}(:[0-9]{0,6})?/[ -~]{0,30}",
        "https://\\[::1\\](:[0-9]{1,5})?/p\\?bodySHA256=[0-9a-f]{0,64}",
        "https://x.example/%[0-9A-Fa-f%]{0,4}[ -~]{0,10}",
    ]
}

fn generic_configs() -> Vec<GenericHmac> {
    vec![
        GenericHmac::new("X-Signature"),
        GenericHmac {
            algorithm: HmacAlgorithm::Sha512,
            encoding: SignatureEncoding::Base64,
            prefix: Some("sha512=".into()),
            template: "{timestamp}.{method}.{url}.{body}".into(),
            timestamp_header: Some("X-Timestamp".into()),
            event_id_pointer: Some("/id".into()),
            event_type_pointer: Some("/type".into()),
            ..GenericHmac::new("X-Signature")
        },
        GenericHmac {
            algorithm: HmacAlgorithm::Sha1,
            template: "{header:X-Event-Id}:{body}".into(),
            event_id_header: Some("X-Event-Id".into()),
            ..GenericHmac::new("X-Signature")
        },
    ]
}

fn all_schemes() -> Vec<Scheme> {
    let mut schemes = vec![
        Scheme::Stripe,
        Scheme::StandardWebhooks,
        Scheme::Github,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Hubspot(HubspotConfig::default()),
        Scheme::Intuit,
        Scheme::Xero,
        Scheme::Calendly,
        Scheme::Twilio,
        Scheme::Paypal,
    ];
    schemes.extend(generic_configs().into_iter().map(Scheme::Generic));
    schemes
}

/// Offsets that stay within the default 300 s tolerance.
fn fresh_offset() -> impl Strategy<Value = i64> {
    -300i64..=300
}

// ---------------------------------------------------------------------------------------------
// Signed requests, one strategy per scheme

fn stripe_like(scheme: Scheme, header: &'static str) -> impl Strategy<Value = Signed> {
    (
        secret(),
        body(),
        fresh_offset(),
        prop::collection::vec("[0-9a-f]{64}", 0..3),
    )
        .prop_map(move |(secret, body, offset, others)| {
            let t = (NOW + offset).to_string();
            let sig = hex::encode(hmac_sha256(secret.as_bytes(), &cat(&[t.as_bytes(), b".", &body])));
            let mut value = format!("t={t}");
            for other in &others {
                value.push_str(&format!(",v1={other}"));
            }
            value.push_str(&format!(",v1={sig},v0={sig}"));
            Signed {
                scheme: scheme.clone(),
                method: "POST".into(),
                url: URL.into(),
                headers: vec![(header.into(), value)],
                body,
                secrets: SigningSecrets::new(secret),
            }
        })
}

fn standard_webhooks() -> impl Strategy<Value = Signed> {
    (
        prop::collection::vec(any::<u8>(), 24..=64),
        "msg_[A-Za-z0-9]{1,24}",
        body(),
        fresh_offset(),
        any::<bool>(),
    )
        .prop_map(|(key, id, body, offset, svix)| {
            let ts = NOW + offset;
            let secret = format!("whsec_{}", B64.encode(&key));
            let sig = match std::str::from_utf8(&body) {
                // The reference crate signs UTF-8 payloads only.
                Ok(_) => standardwebhooks::Webhook::new(&secret)
                    .expect("valid secret")
                    .sign(&id, ts, &body)
                    .expect("utf-8 payload"),
                Err(_) => format!(
                    "v1,{}",
                    B64.encode(hmac_sha256(
                        &key,
                        &cat(&[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", &body])
                    ))
                ),
            };
            let prefix = if svix { "svix" } else { "webhook" };
            Signed {
                scheme: Scheme::StandardWebhooks,
                method: "POST".into(),
                url: URL.into(),
                headers: vec![
                    (format!("{prefix}-id"), id),
                    (format!("{prefix}-timestamp"), ts.to_string()),
                    (format!("{prefix}-signature"), format!("v2,abc {sig} v1a,xyz")),
                ],
                body,
                secrets: SigningSecrets::new(secret),
            }
        })
}

fn github() -> impl Strategy<Value = Signed> {
    (secret(), body(), any::<bool>()).prop_map(|(secret, body, legacy)| {
        let header = if legacy {
            (
                "X-Hub-Signature".to_owned(),
                format!("sha1={}", hex::encode(hmac_sha1(secret.as_bytes(), &body))),
            )
        } else {
            (
                "X-Hub-Signature-256".to_owned(),
                format!("sha256={}", hex::encode(hmac_sha256(secret.as_bytes(), &body))),
            )
        };
        Signed {
            scheme: Scheme::Github,
            method: "POST".into(),
            url: URL.into(),
            headers: vec![header],
            body,
            secrets: SigningSecrets::new(secret),
        }
    })
}

fn slack() -> impl Strategy<Value = Signed> {
    (secret(), body(), fresh_offset()).prop_map(|(secret, body, offset)| {
        let ts = (NOW + offset).to_string();
        let sig = hex::encode(hmac_sha256(
            secret.as_bytes(),
            &cat(&[b"v0:", ts.as_bytes(), b":", &body]),
        ));
        Signed {
            scheme: Scheme::Slack,
            method: "POST".into(),
            url: URL.into(),
            headers: vec![
                ("X-Slack-Request-Timestamp".into(), ts),
                ("X-Slack-Signature".into(), format!("v0={sig}")),
            ],
            body,
            secrets: SigningSecrets::new(secret),
        }
    })
}

fn body_base64(scheme: Scheme, header: &'static str) -> impl Strategy<Value = Signed> {
    (secret(), body()).prop_map(move |(secret, body)| Signed {
        scheme: scheme.clone(),
        method: "POST".into(),
        url: URL.into(),
        headers: vec![(header.into(), B64.encode(hmac_sha256(secret.as_bytes(), &body)))],
        body,
        secrets: SigningSecrets::new(secret),
    })
}

fn hubspot() -> impl Strategy<Value = Signed> {
    (
        secret(),
        body(),
        0u8..3,
        select(&["POST", "GET", "PUT"][..]),
        "/[a-z_/]{0,20}(\\?[a-z]=[0-9]{1,3})?",
        -300_000i64..=300_000,
    )
        .prop_map(|(secret, body, version, method, path, offset_ms)| {
            let url = format!("https://www.example.com{path}");
            let headers = match version {
                0 => vec![(
                    "X-HubSpot-Signature".to_owned(),
                    hex::encode(Sha256::digest(cat(&[secret.as_bytes(), &body]))),
                )],
                1 => vec![
                    (
                        "X-HubSpot-Signature".to_owned(),
                        hex::encode(Sha256::digest(cat(&[
                            secret.as_bytes(),
                            method.as_bytes(),
                            url.as_bytes(),
                            &body,
                        ]))),
                    ),
                    ("X-HubSpot-Signature-Version".to_owned(), "v2".to_owned()),
                ],
                _ => {
                    let ts = (NOW * 1000 + offset_ms).to_string();
                    let mac = hmac_sha256(
                        secret.as_bytes(),
                        &cat(&[method.as_bytes(), url.as_bytes(), &body, ts.as_bytes()]),
                    );
                    vec![
                        ("X-HubSpot-Signature-v3".to_owned(), B64.encode(mac)),
                        ("X-HubSpot-Request-Timestamp".to_owned(), ts),
                    ]
                }
            };
            Signed {
                // A connection that allows v1 and v2 as well (by default only v3 is accepted).
                scheme: Scheme::Hubspot(HubspotConfig::accepting([
                    HubspotVersion::V1,
                    HubspotVersion::V2,
                    HubspotVersion::V3,
                ])),
                method: method.into(),
                url,
                headers,
                body,
                secrets: SigningSecrets::new(secret),
            }
        })
}

#[derive(Debug, Clone)]
struct TwilioForm {
    signed: Signed,
    params: Vec<(String, String)>,
}

fn twilio_form() -> impl Strategy<Value = TwilioForm> {
    (
        secret(),
        prop::collection::vec(("[A-Za-z]{1,8}", any::<String>()), 0..8),
        any::<bool>(),
    )
        .prop_map(|(secret, params, add_port)| {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter())
                .finish()
                .into_bytes();
            let signed_url = if add_port {
                URL.replacen(".com/", ".com:443/", 1)
            } else {
                URL.to_owned()
            };
            let string = format!("{signed_url}{}", twilio_signed_params(&params));
            TwilioForm {
                signed: Signed {
                    scheme: Scheme::Twilio,
                    method: "POST".into(),
                    url: URL.into(),
                    headers: vec![(
                        "X-Twilio-Signature".into(),
                        B64.encode(hmac_sha1(secret.as_bytes(), string.as_bytes())),
                    )],
                    body,
                    secrets: SigningSecrets::new(secret),
                },
                params,
            }
        })
}

fn twilio_json() -> impl Strategy<Value = Signed> {
    (secret(), body()).prop_map(|(secret, body)| {
        let url = format!("{URL}&bodySHA256={}", hex::encode(Sha256::digest(&body)));
        Signed {
            scheme: Scheme::Twilio,
            method: "POST".into(),
            headers: vec![(
                "X-Twilio-Signature".into(),
                B64.encode(hmac_sha1(secret.as_bytes(), url.as_bytes())),
            )],
            url,
            body,
            secrets: SigningSecrets::new(secret),
        }
    })
}

fn generic() -> impl Strategy<Value = Signed> {
    (secret(), body(), 0usize..3, fresh_offset(), "[a-z0-9]{1,12}").prop_map(
        |(secret, body, which, offset, event_id)| {
            let config = generic_configs().swap_remove(which);
            let key = secret.as_bytes();
            let (headers, signature) = match which {
                0 => (vec![], hex::encode(hmac_sha256(key, &body))),
                1 => {
                    let ts = (NOW + offset).to_string();
                    let content = cat(&[ts.as_bytes(), b".POST.", URL.as_bytes(), b".", &body]);
                    (
                        vec![("X-Timestamp".to_owned(), ts)],
                        format!("sha512={}", B64.encode(hmac_sha512(key, &content))),
                    )
                }
                _ => {
                    let content = cat(&[event_id.as_bytes(), b":", &body]);
                    (
                        vec![("X-Event-Id".to_owned(), event_id)],
                        hex::encode(hmac_sha1(key, &content)),
                    )
                }
            };
            let mut headers = headers;
            headers.push(("X-Signature".to_owned(), signature));
            Signed {
                scheme: Scheme::Generic(config),
                method: "POST".into(),
                url: URL.into(),
                headers,
                body,
                secrets: SigningSecrets::new(secret),
            }
        },
    )
}

/// Every scheme whose signature covers the body bytes exactly.
fn byte_exact_signed() -> impl Strategy<Value = Signed> {
    prop_oneof![
        stripe_like(Scheme::Stripe, "Stripe-Signature"),
        stripe_like(Scheme::Calendly, "Calendly-Webhook-Signature"),
        standard_webhooks(),
        github(),
        slack(),
        body_base64(Scheme::Shopify, "X-Shopify-Hmac-Sha256"),
        body_base64(Scheme::Shopify, "shopify-hmac-sha256"),
        body_base64(Scheme::Intuit, "intuit-signature"),
        body_base64(Scheme::Xero, "x-xero-signature"),
        hubspot(),
        twilio_json(),
        generic(),
    ]
}

fn flip(body: &[u8], index: prop::sample::Index, mask: u8) -> Vec<u8> {
    let mut flipped = body.to_vec();
    let at = index.index(flipped.len());
    flipped[at] ^= mask;
    flipped
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn correctly_signed_body_always_verifies(signed in byte_exact_signed()) {
        prop_assert_eq!(signed.run(&signed.body), Ok(SecretUsed::Current));
    }

    #[test]
    fn flipping_any_body_byte_always_rejects(
        signed in byte_exact_signed().prop_filter("needs a body byte", |s| !s.body.is_empty()),
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let flipped = flip(&signed.body, index, mask);
        prop_assert!(signed.run(&flipped).is_err());
    }

    #[test]
    fn signature_from_previous_secret_verifies_as_previous(signed in byte_exact_signed(), new_secret in secret()) {
        let mut rotated = signed.clone();
        // A Standard Webhooks secret must be base64; use a valid one for the new secret.
        let new_secret = match signed.scheme {
            Scheme::StandardWebhooks => format!("whsec_{}", B64.encode(format!("{new_secret}-padding-to-24-bytes"))),
            _ => format!("{new_secret}-new"),
        };
        rotated.secrets = SigningSecrets {
            current: new_secret.into(),
            previous: Some(signed.secrets.current.clone()),
        };
        prop_assert_eq!(rotated.run(&signed.body), Ok(SecretUsed::Previous));
    }

    #[test]
    fn twilio_form_signature_verifies(form in twilio_form()) {
        prop_assert_eq!(form.signed.run(&form.signed.body), Ok(SecretUsed::Current));
    }

    #[test]
    fn twilio_form_flip_rejects_unless_decoded_parameters_are_unchanged(
        form in twilio_form().prop_filter("needs a body byte", |f| !f.signed.body.is_empty()),
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let flipped = flip(&form.signed.body, index, mask);
        if form.signed.run(&flipped).is_ok() {
            let decoded: Vec<(String, String)> = form_urlencoded::parse(&flipped).into_owned().collect();
            prop_assert_eq!(twilio_signed_params(&decoded), twilio_signed_params(&form.params));
        }
    }

    #[test]
    fn arbitrary_requests_never_panic_or_leak_the_secret(
        headers in headers(),
        body in body(),
        url in url(),
        method in select(&["POST", "GET", "", "post"][..]),
        now in prop_oneof![Just(NOW), any::<i64>()],
        tolerance in prop_oneof![Just(300u64), any::<u64>()],
        secret_tail in "[A-Za-z0-9]{16}",
    ) {
        let headers = Headers::from_pairs(headers);
        let req = WebhookRequest { method, url: &url, headers: &headers, body: &body };
        let secret = format!("whsec_{secret_tail}");
        let secrets = SigningSecrets::new(secret.clone()).with_previous(format!("{secret}-old"));
        let options = VerifyOptions { now, tolerance_secs: tolerance };
        for scheme in all_schemes() {
            if let Err(rejection) = verify(&scheme, &req, &secrets, &options) {
                let message = rejection.to_string();
                prop_assert!(!message.contains(&secret_tail), "{}: {}", scheme, message);
                if body.len() >= 16 {
                    if let Ok(text) = std::str::from_utf8(&body) {
                        prop_assert!(!message.contains(text));
                    }
                }
                prop_assert!(!rejection.code().is_empty());
            }
            if let Err(error) = extract(&scheme, &req) {
                prop_assert!(!error.code().is_empty());
            }
        }
    }

    #[test]
    fn extreme_timestamps_are_rejected_or_accepted_without_panicking(
        t in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX)],
        now in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX)],
        tolerance in prop_oneof![Just(300u64), any::<u64>(), Just(u64::MAX)],
    ) {
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let t_text = t.to_string();
        let sig = hex::encode(hmac_sha256(b"whsec_x", &cat(&[t_text.as_bytes(), b".", body])));
        let headers = Headers::from_pairs([("Stripe-Signature", format!("t={t_text},v1={sig}"))]);
        let req = WebhookRequest { method: "POST", url: URL, headers: &headers, body };
        let result = verify(&Scheme::Stripe, &req, &SigningSecrets::new("whsec_x"), &VerifyOptions { now, tolerance_secs: tolerance });
        let distance = (i128::from(now) - i128::from(t)).abs();
        if distance <= i128::from(tolerance) {
            prop_assert!(result.is_ok());
        } else {
            let stale_or_future = matches!(result, Err(Rejection::StaleTimestamp { .. } | Rejection::FutureTimestamp { .. }));
            prop_assert!(stale_or_future);
        }

        // HubSpot v3 reads milliseconds; any i64 must be handled.
        let ts = t.to_string();
        let mac = B64.encode(hmac_sha256(b"s", &cat(&[b"POST", URL.as_bytes(), body, ts.as_bytes()])));
        let headers = Headers::from_pairs([("X-HubSpot-Signature-v3", mac), ("X-HubSpot-Request-Timestamp", ts)]);
        let req = WebhookRequest { method: "POST", url: URL, headers: &headers, body };
        let result = verify(&Scheme::Hubspot(HubspotConfig::default()), &req, &SigningSecrets::new("s"), &VerifyOptions { now, tolerance_secs: tolerance });
        let distance = (i128::from(now) - i128::from(t.div_euclid(1000))).abs();
        prop_assert_eq!(result.is_ok(), distance <= i128::from(tolerance));
    }

    /// Standard Webhooks against the reference crate, on valid and mutated headers. The crate
    /// reads the system clock, so timestamps stay clear of the tolerance boundary.
    #[test]
    fn standard_webhooks_agrees_with_reference_crate(
        key in prop::collection::vec(any::<u8>(), 24..=64),
        id in "[A-Za-z0-9_]{1,24}",
        body in any::<String>(),
        offset in prop_oneof![-290i64..=290, 310i64..=5000, -5000i64..=-310],
        mutate in 0u8..6,
        extra in "[A-Za-z0-9+/=, ]{0,60}",
    ) {
        let secret = format!("whsec_{}", B64.encode(&key));
        let now = VerifyOptions::default().now;
        let ts = now + offset;
        let oracle = standardwebhooks::Webhook::new(&secret).expect("valid secret");
        let good = oracle.sign(&id, ts, body.as_bytes()).expect("utf-8");
        let (ts_header, sig_header, body) = match mutate {
            0 => (ts.to_string(), good, body),
            1 => (ts.to_string(), format!("{extra} {good}"), body),
            2 => (ts.to_string(), extra.clone(), body),
            3 => ((ts + 1).to_string(), good, body),
            4 => (ts.to_string(), good, format!("{body}x")),
            _ => (format!("{ts}{extra}"), good.replace("v1,", "v1a,"), body),
        };

        let mut map = http::HeaderMap::new();
        map.insert("webhook-id", http::HeaderValue::from_str(&id).expect("ascii"));
        map.insert("webhook-timestamp", http::HeaderValue::from_str(&ts_header).expect("ascii"));
        map.insert("webhook-signature", http::HeaderValue::from_str(&sig_header).expect("ascii"));
        let oracle_ok = oracle.verify(body.as_bytes(), &map).is_ok();

        let headers = Headers::from_pairs([
            ("webhook-id", id.as_str()),
            ("webhook-timestamp", ts_header.as_str()),
            ("webhook-signature", sig_header.as_str()),
        ]);
        let req = WebhookRequest { method: "POST", url: URL, headers: &headers, body: body.as_bytes() };
        let ours = verify(&Scheme::StandardWebhooks, &req, &SigningSecrets::new(secret), &VerifyOptions::default());
        prop_assert_eq!(ours.is_ok(), oracle_ok, "ours: {:?}", ours);
    }
}
