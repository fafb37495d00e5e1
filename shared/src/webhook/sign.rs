//! Signing deliveries the way each provider does: for `switchyard webhook sign`, the sample
//! events in `events/`, and anyone testing their own endpoint. Verification never uses this.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::ExposeSecret;

use super::crypto::{hmac, hmac_sha256, sha256, sha256_hex};
use super::form::parse_strict;
use super::headers::Headers;
use super::request::WebhookRequest;
use super::scheme::{HmacAlgorithm, HubspotVersion, Scheme};

/// What to sign.
pub struct SignInput<'a> {
    pub method: &'a str,
    /// Full URL the provider would call (HubSpot and Twilio sign it).
    pub url: &'a str,
    pub body: &'a [u8],
    pub secret: &'a secrecy::SecretString,
    /// Unix seconds to put in the signature's timestamp.
    pub now: i64,
    /// Message id for Standard Webhooks (`webhook-id`); default `msg_` + a hash of the body.
    pub message_id: Option<&'a str>,
}

/// Why a delivery could not be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot sign for {scheme}: {reason}")]
pub struct SignError {
    pub scheme: &'static str,
    pub reason: String,
}

/// The headers a provider would send with `input.body`, signed with `input.secret`.
pub fn sign(scheme: &Scheme, input: &SignInput<'_>) -> Result<Vec<(String, String)>, SignError> {
    let err = |reason: &str| SignError {
        scheme: scheme.name(),
        reason: reason.to_string(),
    };
    let key = input.secret.expose_secret().as_bytes();
    if key.is_empty() {
        return Err(err("the secret is empty"));
    }
    let body = input.body;
    let t = input.now.to_string();
    let h = |name: &str, value: String| (name.to_string(), value);
    Ok(match scheme {
        Scheme::Stripe => vec![h(
            "Stripe-Signature",
            format!(
                "t={t},v1={}",
                hex::encode(hmac_sha256(key, &[t.as_bytes(), b".", body]))
            ),
        )],
        Scheme::Calendly => vec![h(
            "Calendly-Webhook-Signature",
            format!(
                "t={t},v1={}",
                hex::encode(hmac_sha256(key, &[t.as_bytes(), b".", body]))
            ),
        )],
        Scheme::StandardWebhooks => {
            let decoded = super::standard::decode_secret(input.secret.expose_secret())
                .map_err(|_| err("a Standard Webhooks secret is `whsec_` followed by base64"))?;
            let id = input
                .message_id
                .map(str::to_string)
                .unwrap_or_else(|| format!("msg_{}", &sha256_hex(body)[..24]));
            if id.contains('.') {
                return Err(err("the message id must not contain `.`"));
            }
            let mac = hmac_sha256(
                decoded.expose_secret(),
                &[id.as_bytes(), b".", t.as_bytes(), b".", body],
            );
            vec![
                h("webhook-id", id),
                h("webhook-timestamp", t),
                h("webhook-signature", format!("v1,{}", STANDARD.encode(mac))),
            ]
        }
        Scheme::Github => vec![h(
            "X-Hub-Signature-256",
            format!("sha256={}", hex::encode(hmac_sha256(key, &[body]))),
        )],
        Scheme::Slack => vec![
            h("X-Slack-Request-Timestamp", t.clone()),
            h(
                "X-Slack-Signature",
                format!(
                    "v0={}",
                    hex::encode(hmac_sha256(key, &[b"v0:", t.as_bytes(), b":", body]))
                ),
            ),
        ],
        Scheme::Shopify => vec![h("X-Shopify-Hmac-Sha256", STANDARD.encode(hmac_sha256(key, &[body])))],
        Scheme::Intuit => vec![h("intuit-signature", STANDARD.encode(hmac_sha256(key, &[body])))],
        Scheme::Xero => vec![h("x-xero-signature", STANDARD.encode(hmac_sha256(key, &[body])))],
        Scheme::Woocommerce => vec![h("X-WC-Webhook-Signature", STANDARD.encode(hmac_sha256(key, &[body])))],
        // Linear's timestamp is the body's `webhookTimestamp`: the body must carry it.
        Scheme::Linear => vec![h("Linear-Signature", hex::encode(hmac_sha256(key, &[body])))],
        Scheme::Zendesk => {
            let stamp = time::OffsetDateTime::from_unix_timestamp(input.now)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .ok_or_else(|| err("the time is out of range"))?;
            let mac = hmac_sha256(key, &[stamp.as_bytes(), body]);
            vec![
                h("X-Zendesk-Webhook-Signature", STANDARD.encode(mac)),
                h("X-Zendesk-Webhook-Signature-Timestamp", stamp),
            ]
        }
        Scheme::Asana => vec![h("X-Hook-Signature", hex::encode(hmac_sha256(key, &[body])))],
        Scheme::Dropbox => vec![h("X-Dropbox-Signature", hex::encode(hmac_sha256(key, &[body])))],
        Scheme::Mailchimp => {
            return Err(err(
                "Mailchimp signs nothing: the secret is the last segment of the URL, /hooks/{id}/{secret}",
            ))
        }
        Scheme::MicrosoftGraph => {
            return Err(err(
                "Microsoft Graph signs nothing: each notification carries the secret as its `clientState`",
            ))
        }
        Scheme::Paypal => {
            return Err(err(
                "PayPal signs with its certificate's private key, not a shared secret: only PayPal can sign",
            ))
        }
        // The newest version the connection accepts.
        Scheme::Hubspot(config) if config.accepts(HubspotVersion::V3) => {
            if input.url.is_empty() {
                return Err(err("HubSpot v3 signs the request URL: give the URL"));
            }
            let ts_ms = input.now.saturating_mul(1000).to_string();
            let uri = super::hubspot::signed_uri(input.url);
            let mac = hmac_sha256(key, &[input.method.as_bytes(), uri.as_bytes(), body, ts_ms.as_bytes()]);
            vec![
                h("X-HubSpot-Signature-v3", STANDARD.encode(mac)),
                h("X-HubSpot-Request-Timestamp", ts_ms),
            ]
        }
        Scheme::Hubspot(config) if config.accepts(HubspotVersion::V2) => {
            if input.url.is_empty() {
                return Err(err("HubSpot v2 signs the request URL: give the URL"));
            }
            let uri = super::hubspot::signed_uri(input.url);
            vec![
                h(
                    "X-HubSpot-Signature",
                    hex::encode(sha256(&[key, input.method.as_bytes(), uri.as_bytes(), body])),
                ),
                h("X-HubSpot-Signature-Version", "v2".to_string()),
            ]
        }
        Scheme::Hubspot(config) if config.accepts(HubspotVersion::V1) => vec![
            h("X-HubSpot-Signature", hex::encode(sha256(&[key, body]))),
            h("X-HubSpot-Signature-Version", "v1".to_string()),
        ],
        Scheme::Hubspot(_) => return Err(err("the HubSpot configuration accepts no signature version")),
        Scheme::Twilio => {
            if input.url.is_empty() {
                return Err(err("Twilio signs the request URL: give the URL"));
            }
            let params = if super::twilio::query_param(input.url, "bodySHA256").is_some() {
                String::new()
            } else {
                super::twilio::signed_params(
                    parse_strict(body).map_err(|_| err("Twilio signs form parameters: the body is not a form"))?,
                )
            };
            let mac = hmac(HmacAlgorithm::Sha1, key, &[input.url.as_bytes(), params.as_bytes()]);
            vec![h("X-Twilio-Signature", STANDARD.encode(mac))]
        }
        // The credentials themselves, as the sender puts them on every delivery.
        Scheme::BasicAuth(_) => vec![h(
            "Authorization",
            super::basic_auth::header_value(input.secret.expose_secret()),
        )],
        Scheme::Generic(config) => {
            let headers = Headers::new();
            let req = WebhookRequest {
                method: input.method,
                url: input.url,
                headers: &headers,
                body,
            };
            super::generic::sign(config, &req, key, input.now).map_err(|reason| err(&reason))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{verify, GenericHmac, HubspotConfig, SigningSecrets, VerifyOptions};
    use secrecy::SecretString;

    fn all_schemes() -> Vec<(Scheme, &'static str)> {
        let mut generic = GenericHmac::new("X-Signature");
        generic.template = "{timestamp}.{body}".into();
        generic.timestamp_header = Some("X-Timestamp".into());
        generic.prefix = Some("sha256=".into());
        vec![
            (Scheme::Stripe, "whsec_test_secret"),
            (Scheme::StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            (Scheme::Github, "mysecret"),
            (Scheme::Slack, "8f742231b10e8888abcd99yyyzzz85a5"),
            (Scheme::Shopify, "7008c5f4da4718b9b45d26d3fcbbb157"),
            (
                Scheme::Hubspot(HubspotConfig::default()),
                "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            ),
            (
                Scheme::Hubspot(HubspotConfig::accepting([HubspotVersion::V2])),
                "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            ),
            (
                Scheme::Hubspot(HubspotConfig::accepting([HubspotVersion::V1])),
                "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            ),
            (Scheme::Intuit, "12345"),
            (Scheme::Xero, "xero-key"),
            (Scheme::Calendly, "calendly-key"),
            (Scheme::Twilio, "12345"),
            (Scheme::Woocommerce, "wc-secret"),
            (Scheme::Linear, "lin_wh_secret"),
            (Scheme::Zendesk, "zendesk-secret"),
            (Scheme::Asana, "asana-handshake-secret"),
            (Scheme::Dropbox, "dropbox-app-secret"),
            (Scheme::Generic(generic), "generic-secret"),
        ]
    }

    #[test]
    fn every_scheme_signs_what_its_verifier_accepts() {
        let now = 1_763_800_000;
        for (scheme, secret) in all_schemes() {
            let linear_body = format!(
                r#"{{"type":"Issue","action":"create","webhookTimestamp":{}}}"#,
                now * 1000
            );
            let body: &[u8] = if scheme == Scheme::Twilio {
                b"CallSid=CA1&From=%2B14158675309"
            } else if scheme == Scheme::Linear {
                linear_body.as_bytes()
            } else {
                br#"{"id":"evt_1","type":"thing.happened"}"#
            };
            let url = "https://hooks.example.com/hooks/conn_1?x=1";
            let secret_string = SecretString::from(secret.to_string());
            let input = SignInput {
                method: "POST",
                url,
                body,
                secret: &secret_string,
                now,
                message_id: None,
            };
            let headers = Headers::from_pairs(sign(&scheme, &input).unwrap());
            let req = WebhookRequest {
                method: "POST",
                url,
                headers: &headers,
                body,
            };
            let opts = VerifyOptions {
                now,
                tolerance_secs: 300,
            };
            assert!(
                verify(&scheme, &req, &SigningSecrets::new(secret), &opts).is_ok(),
                "{} signature does not verify",
                scheme.name()
            );
            let wrong = if scheme == Scheme::StandardWebhooks {
                "whsec_b3RoZXItc2VjcmV0LWtleS1ieXRlcw=="
            } else {
                "other-secret"
            };
            assert!(
                verify(&scheme, &req, &SigningSecrets::new(wrong), &opts).is_err(),
                "{} verifies with the wrong secret",
                scheme.name()
            );
        }
    }

    #[test]
    fn stripe_signature_matches_the_documented_header() {
        // WEBHOOK_SIGNATURES.md: whsec_test_secret, t=1234567890, stripe-python's DUMMY_WEBHOOK_PAYLOAD.
        let payload = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";
        let secret = SecretString::from("whsec_test_secret".to_string());
        let headers = sign(
            &Scheme::Stripe,
            &SignInput {
                method: "POST",
                url: "",
                body: payload.as_bytes(),
                secret: &secret,
                now: 1_234_567_890,
                message_id: None,
            },
        )
        .unwrap();
        assert_eq!(
            headers,
            [(
                "Stripe-Signature".to_string(),
                "t=1234567890,v1=f0f28fa1b5b673a64a1e14a1603c3124ef10442be092ae33b6d8144d7eaacfc9".to_string()
            )]
        );
    }

    #[test]
    fn standard_webhooks_signature_matches_the_official_vector() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string());
        let headers = sign(
            &Scheme::StandardWebhooks,
            &SignInput {
                method: "POST",
                url: "",
                body: br#"{"test": 2432232314}"#,
                secret: &secret,
                now: 1_614_265_330,
                message_id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            },
        )
        .unwrap();
        assert!(headers.contains(&(
            "webhook-signature".to_string(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string()
        )));
    }

    #[test]
    fn hubspot_and_twilio_need_a_url() {
        let secret = SecretString::from("s".to_string());
        for scheme in [Scheme::Hubspot(HubspotConfig::default()), Scheme::Twilio] {
            let input = SignInput {
                method: "POST",
                url: "",
                body: b"a=1",
                secret: &secret,
                now: 1,
                message_id: None,
            };
            assert!(sign(&scheme, &input).unwrap_err().to_string().contains("URL"));
        }
    }
}
