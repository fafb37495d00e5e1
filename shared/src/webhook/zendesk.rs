//! Zendesk: `X-Zendesk-Webhook-Signature`, base64 HMAC-SHA256 over the
//! `X-Zendesk-Webhook-Signature-Timestamp` value followed directly by the raw body
//! (developer.zendesk.com, "Verifying webhook authenticity": `base64(HMACSHA256(TIMESTAMP + BODY))`).
//! The timestamp is an ISO 8601 UTC time (`2024-03-01T10:00:00Z`); a unix time in seconds is
//! accepted too. It must be within the tolerance.
//!
//! Event-subscription webhooks send `{"type": "zen:event-type:ticket.created", "id": ...}`:
//! the type and id come from the body. Trigger and automation webhooks send a body the admin
//! wrote: their type is `trigger`, and their id the `X-Zendesk-Webhook-Invocation-Id` header
//! (kept across Zendesk's retries), or a hash of the body.

use std::borrow::Cow;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::crypto::{collect_signatures, decode_signature, hmac_sha256, matches_any, sha256_hex};
use super::event::{event, header, id_value, parse_json, ExtractError, InboundEvent};
use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::scheme::SignatureEncoding;
use super::secrets::{SigningSecrets, Verified};
use super::timestamp::check_fresh;

const SIGNATURE_HEADER: &str = "X-Zendesk-Webhook-Signature";
const TIMESTAMP_HEADER: &str = "X-Zendesk-Webhook-Signature-Timestamp";
const INVOCATION_HEADER: &str = "X-Zendesk-Webhook-Invocation-Id";

fn parse_timestamp(value: &str) -> Result<i64, Rejection> {
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(secs);
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| Rejection::malformed(TIMESTAMP_HEADER, "not an ISO 8601 time or unix seconds"))
}

pub(crate) fn verify(
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    opts: &VerifyOptions,
) -> Result<Verified, Rejection> {
    let stamp = req
        .headers
        .get(TIMESTAMP_HEADER)
        .map(str::trim)
        .ok_or_else(|| Rejection::missing(TIMESTAMP_HEADER))?;
    check_fresh(parse_timestamp(stamp)?, opts)?;
    let signatures = collect_signatures(
        SIGNATURE_HEADER,
        req.headers.get_all(SIGNATURE_HEADER),
        "base64 of a 32-byte HMAC-SHA256",
        |value| {
            decode_signature(SignatureEncoding::Base64, value, 32)
                .into_iter()
                .collect()
        },
    )?;
    secrets
        .utf8_keys()?
        .first_match(|key| matches_any(&hmac_sha256(key, &[stamp.as_bytes(), req.body]), &signatures))
}

pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let body = parse_json(req.body)?;
    let subscribed = match body.get("type") {
        Some(Value::String(kind)) if kind.starts_with("zen:") => Some(kind.clone()),
        _ => None,
    };
    let (event_id, event_type) = match subscribed {
        Some(kind) => (id_value(body.get("id"), "id")?, kind),
        None => (
            header(req, &[INVOCATION_HEADER])
                .map(str::to_owned)
                .unwrap_or_else(|| sha256_hex(req.body)),
            "trigger".to_owned(),
        ),
    };
    Ok(vec![event(event_id, event_type, Cow::Borrowed(req.body))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::crypto::base64;
    use crate::webhook::headers::Headers;

    // The signing secret Zendesk documents for deliveries of its "test webhook" endpoint.
    const SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
    const STAMP: &str = "2024-03-01T10:00:00Z";
    const NOW: i64 = 1_709_287_200; // 2024-03-01T10:00:00Z
    const BODY: &str = r#"{"type":"zen:event-type:ticket.created","id":"01HQ","detail":{"id":"35"}}"#;

    fn check(headers: &[(&str, String)], body: &str, now: i64) -> Result<Verified, Rejection> {
        let headers = Headers::from_pairs(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_zd",
            headers: &headers,
            body: body.as_bytes(),
        };
        verify(
            &req,
            &SigningSecrets::new(SECRET),
            &VerifyOptions {
                now,
                tolerance_secs: 300,
            },
        )
    }

    fn sign(stamp: &str, body: &str) -> String {
        base64(&hmac_sha256(SECRET.as_bytes(), &[stamp.as_bytes(), body.as_bytes()]))
    }

    #[test]
    fn zendesk_signs_the_timestamp_then_the_body() {
        let good = [
            (SIGNATURE_HEADER, sign(STAMP, BODY)),
            (TIMESTAMP_HEADER, STAMP.to_owned()),
        ];
        assert!(check(&good, BODY, NOW).is_ok());
        // The body alone, or the timestamp with a separator, is not what Zendesk signs.
        let body_only = [
            (
                SIGNATURE_HEADER,
                base64(&hmac_sha256(SECRET.as_bytes(), &[BODY.as_bytes()])),
            ),
            (TIMESTAMP_HEADER, STAMP.to_owned()),
        ];
        assert_eq!(check(&body_only, BODY, NOW), Err(Rejection::NoMatchingSignature));
        let dotted = [
            (SIGNATURE_HEADER, sign(&format!("{STAMP}."), BODY)),
            (TIMESTAMP_HEADER, STAMP.to_owned()),
        ];
        assert_eq!(check(&dotted, BODY, NOW), Err(Rejection::NoMatchingSignature));
    }

    #[test]
    fn zendesk_refuses_a_swapped_timestamp_stale_deliveries_and_missing_headers() {
        let later = "2024-03-01T10:01:00Z";
        let swapped = [
            (SIGNATURE_HEADER, sign(STAMP, BODY)),
            (TIMESTAMP_HEADER, later.to_owned()),
        ];
        assert_eq!(check(&swapped, BODY, NOW), Err(Rejection::NoMatchingSignature));
        let good = [
            (SIGNATURE_HEADER, sign(STAMP, BODY)),
            (TIMESTAMP_HEADER, STAMP.to_owned()),
        ];
        assert!(matches!(
            check(&good, BODY, NOW + 301),
            Err(Rejection::StaleTimestamp { .. })
        ));
        assert_eq!(
            check(&[(SIGNATURE_HEADER, sign(STAMP, BODY))], BODY, NOW),
            Err(Rejection::missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            check(&[(TIMESTAMP_HEADER, STAMP.to_owned())], BODY, NOW),
            Err(Rejection::missing(SIGNATURE_HEADER))
        );
        let garbled = [
            (SIGNATURE_HEADER, sign(STAMP, BODY)),
            (TIMESTAMP_HEADER, "yesterday".to_owned()),
        ];
        assert!(matches!(
            check(&garbled, BODY, NOW),
            Err(Rejection::MalformedHeader { .. })
        ));
    }

    #[test]
    fn zendesk_subscribed_events_use_the_body_and_triggers_the_invocation_id() {
        let headers = Headers::from_pairs([(INVOCATION_HEADER, "inv-1")]);
        let req = |body: &'static str| WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_zd",
            headers: &headers,
            body: body.as_bytes(),
        };
        let events = extract(&req(BODY)).unwrap();
        assert_eq!(events[0].event_type, "zen:event-type:ticket.created");
        assert_eq!(events[0].event_id, "01HQ");
        let events = extract(&req(r#"{"ticket_id":"35","status":"open"}"#)).unwrap();
        assert_eq!(events[0].event_type, "trigger");
        assert_eq!(events[0].event_id, "inv-1");
    }
}
