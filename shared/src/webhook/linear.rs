//! Linear: `Linear-Signature`, hex HMAC-SHA256 of the raw body keyed with the webhook's signing
//! secret, and the body's `webhookTimestamp` (unix milliseconds), which must be within the
//! tolerance (Linear's docs and `@linear/sdk` `LinearWebhooks.verify`, which allows a minute).
//!
//! Each delivery is one event: `type` (`Issue`, `Comment`, ...) and `action` (`create`,
//! `update`, `remove`) make the event type, `Issue.update`. The `Linear-Delivery` header is
//! the delivery's id, kept across Linear's retries; without it the id is a hash of the body.

use std::borrow::Cow;

use serde::Deserialize;

use super::crypto::{sha256_hex, verify_body_hmac_sha256};
use super::event::{event, header, json_error, parse_json, str_field, ExtractError, InboundEvent};
use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::scheme::SignatureEncoding;
use super::secrets::{SigningSecrets, Verified};
use super::timestamp::check_fresh;

const SIGNATURE_HEADER: &str = "Linear-Signature";
const DELIVERY_HEADER: &str = "Linear-Delivery";

pub(crate) fn verify(
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    opts: &VerifyOptions,
) -> Result<Verified, Rejection> {
    #[derive(Deserialize)]
    struct Stamp {
        #[serde(rename = "webhookTimestamp")]
        webhook_timestamp: Option<i64>,
    }
    if !req.headers.contains(SIGNATURE_HEADER) {
        return Err(Rejection::missing(SIGNATURE_HEADER));
    }
    let stamp: Stamp = serde_json::from_slice(req.body).map_err(|e| Rejection::MalformedBody {
        reason: json_error(&e).to_string(),
    })?;
    let millis = stamp.webhook_timestamp.ok_or_else(|| Rejection::MalformedBody {
        reason: "no integer `webhookTimestamp` (unix milliseconds) in the body".to_owned(),
    })?;
    check_fresh(millis.div_euclid(1000), opts)?;
    verify_body_hmac_sha256(&[SIGNATURE_HEADER], SignatureEncoding::Hex, req, secrets)
}

pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let body = parse_json(req.body)?;
    let event_type = format!("{}.{}", str_field(&body, "type")?, str_field(&body, "action")?);
    let event_id = header(req, &[DELIVERY_HEADER])
        .map(str::to_owned)
        .unwrap_or_else(|| sha256_hex(req.body));
    Ok(vec![event(event_id, event_type, Cow::Borrowed(req.body))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::crypto::hmac_sha256;
    use crate::webhook::headers::Headers;

    const SECRET: &str = "lin_wh_secret";
    const NOW: i64 = 1_700_000_000;

    fn body(millis: i64) -> String {
        format!(
            r#"{{"action":"update","type":"Issue","data":{{"id":"9d1c"}},"webhookTimestamp":{millis},"webhookId":"w1"}}"#
        )
    }

    fn check(headers: &[(&str, String)], body: &str, secret: &str) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_linear",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(
            &req,
            &SigningSecrets::new(secret),
            &VerifyOptions {
                now: NOW,
                tolerance_secs: 60,
            },
        )
    }

    fn sign(body: &str) -> String {
        hex::encode(hmac_sha256(SECRET.as_bytes(), &[body.as_bytes()]))
    }

    #[test]
    fn linear_accepts_a_fresh_signed_delivery() {
        let b = body(NOW * 1000 - 5_000);
        assert!(check(&[(SIGNATURE_HEADER, sign(&b))], &b, SECRET).is_ok());
    }

    #[test]
    fn linear_refuses_wrong_secret_tampered_body_stale_timestamp_and_missing_header() {
        let b = body(NOW * 1000);
        assert_eq!(
            check(&[(SIGNATURE_HEADER, sign(&b))], &b, "other"),
            Err(Rejection::NoMatchingSignature)
        );
        let tampered = b.replace("update", "remove");
        assert_eq!(
            check(&[(SIGNATURE_HEADER, sign(&b))], &tampered, SECRET),
            Err(Rejection::NoMatchingSignature)
        );
        let stale = body((NOW - 61) * 1000);
        assert!(matches!(
            check(&[(SIGNATURE_HEADER, sign(&stale))], &stale, SECRET),
            Err(Rejection::StaleTimestamp { .. })
        ));
        assert_eq!(check(&[], &b, SECRET), Err(Rejection::missing(SIGNATURE_HEADER)));
        let unstamped = r#"{"action":"update","type":"Issue"}"#;
        assert!(matches!(
            check(&[(SIGNATURE_HEADER, sign(unstamped))], unstamped, SECRET),
            Err(Rejection::MalformedBody { .. })
        ));
    }

    #[test]
    fn linear_event_type_is_type_and_action_and_the_id_is_the_delivery() {
        let b = body(NOW * 1000);
        let headers = Headers::from_pairs([(DELIVERY_HEADER, "234d1a4e-b617-4388-90fe-adc3633d6b72")]);
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_linear",
            headers: &headers,
            body: b.as_bytes(),
        };
        let events = extract(&req).unwrap();
        assert_eq!(events[0].event_type, "Issue.update");
        assert_eq!(events[0].event_id, "234d1a4e-b617-4388-90fe-adc3633d6b72");
    }
}
