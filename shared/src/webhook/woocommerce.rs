//! WooCommerce: `X-WC-Webhook-Signature`, base64 HMAC-SHA256 of the raw body keyed with the
//! webhook's secret (WooCommerce `WC_Webhook::generate_signature`, REST API docs "Webhooks").
//!
//! Deliveries carry their topic (`order.updated`) in `X-WC-Webhook-Topic` and a delivery id in
//! `X-WC-Webhook-Delivery-ID`. The resource is the body: an order, product, customer or
//! coupon with its `id` and `date_modified_gmt`.
//!
//! WooCommerce fires an update hook more than once for one save (an order's status change
//! and its meta save, say), each with a fresh delivery id but the same resource version, so
//! the event id is the resource's version, `{topic}:{id}:{date_modified_gmt}`, when the body
//! has both; otherwise the delivery id.
//!
//! When a webhook is saved, WooCommerce pings the delivery URL with the unsigned form body
//! `webhook_id=<n>` and keeps the webhook only if the answer is a 2xx: [`is_ping`] recognises
//! it so the receiver answers 200 without storing anything.

use std::borrow::Cow;

use serde_json::Value;

use super::crypto::verify_body_hmac_sha256_base64;
use super::event::{event, header, id_value, parse_json, required_header, ExtractError, InboundEvent};
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::secrets::{SigningSecrets, Verified};

const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";
const TOPIC_HEADER: &str = "X-WC-Webhook-Topic";
const DELIVERY_HEADER: &str = "X-WC-Webhook-Delivery-ID";

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    verify_body_hmac_sha256_base64(&[SIGNATURE_HEADER], req, secrets)
}

/// WooCommerce's unsigned ping on saving a webhook: no signature header and exactly the form
/// body `webhook_id=<digits>`.
pub(crate) fn is_ping(req: &WebhookRequest<'_>) -> bool {
    if req.headers.contains(SIGNATURE_HEADER) {
        return false;
    }
    let Some(id) = req.body.strip_prefix(b"webhook_id=") else {
        return false;
    };
    !id.is_empty() && id.len() <= 20 && id.iter().all(u8::is_ascii_digit)
}

pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let topic = required_header(req, &[TOPIC_HEADER])?;
    let body = parse_json(req.body)?;
    let version = match (body.get("id"), body.get("date_modified_gmt")) {
        (Some(id), Some(Value::String(modified))) if !modified.is_empty() => {
            Some(format!("{topic}:{}:{modified}", id_value(Some(id), "id")?))
        }
        _ => None,
    };
    let event_id = match version {
        Some(id) => id,
        None => header(req, &[DELIVERY_HEADER])
            .map(str::to_owned)
            .ok_or_else(|| ExtractError::MissingField(DELIVERY_HEADER.to_owned()))?,
    };
    Ok(vec![event(event_id, topic, Cow::Borrowed(req.body))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::crypto::{base64, hmac_sha256};
    use crate::webhook::headers::Headers;
    use crate::webhook::secrets::SecretUsed;

    const SECRET: &str = "wc-webhook-secret";
    const BODY: &str = r#"{"id":727,"status":"processing","date_modified_gmt":"2024-03-01T10:00:00"}"#;

    fn request<'a>(headers: &'a Headers, body: &'a str) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_wc",
            headers,
            body: body.as_bytes(),
        }
    }

    fn signed(body: &str, secret: &str) -> String {
        base64(&hmac_sha256(secret.as_bytes(), &[body.as_bytes()]))
    }

    #[test]
    fn woocommerce_accepts_its_own_signature_and_refuses_a_wrong_secret_or_tampered_body() {
        let headers = Headers::from_pairs([(SIGNATURE_HEADER, signed(BODY, SECRET))]);
        assert_eq!(
            verify(&request(&headers, BODY), &SigningSecrets::new(SECRET)),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
        assert_eq!(
            verify(&request(&headers, BODY), &SigningSecrets::new("another")),
            Err(Rejection::NoMatchingSignature)
        );
        let tampered = BODY.replace("processing", "completed");
        assert_eq!(
            verify(&request(&headers, &tampered), &SigningSecrets::new(SECRET)),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn woocommerce_signature_must_be_present_and_base64() {
        let none = Headers::new();
        assert_eq!(
            verify(&request(&none, BODY), &SigningSecrets::new(SECRET)),
            Err(Rejection::missing(SIGNATURE_HEADER))
        );
        let hex = Headers::from_pairs([(
            SIGNATURE_HEADER,
            hex::encode(hmac_sha256(SECRET.as_bytes(), &[BODY.as_bytes()])),
        )]);
        assert!(matches!(
            verify(&request(&hex, BODY), &SigningSecrets::new(SECRET)),
            Err(Rejection::MalformedHeader { .. })
        ));
    }

    #[test]
    fn woocommerce_event_id_is_the_resource_version_so_a_double_fired_update_is_one_event() {
        let first = Headers::from_pairs([(TOPIC_HEADER, "order.updated"), (DELIVERY_HEADER, "a1")]);
        let second = Headers::from_pairs([(TOPIC_HEADER, "order.updated"), (DELIVERY_HEADER, "b2")]);
        let a = extract(&request(&first, BODY)).unwrap();
        let b = extract(&request(&second, BODY)).unwrap();
        assert_eq!(a[0].event_id, "order.updated:727:2024-03-01T10:00:00");
        assert_eq!(a[0].event_id, b[0].event_id);
        assert_eq!(a[0].event_type, "order.updated");
    }

    #[test]
    fn woocommerce_without_a_version_falls_back_to_the_delivery_id() {
        let headers = Headers::from_pairs([(TOPIC_HEADER, "action.woocommerce_x"), (DELIVERY_HEADER, "d-9")]);
        let events = extract(&request(&headers, r#"{"action":"x","arg":1}"#)).unwrap();
        assert_eq!(events[0].event_id, "d-9");
        let no_delivery = Headers::from_pairs([(TOPIC_HEADER, "action.woocommerce_x")]);
        assert_eq!(
            extract(&request(&no_delivery, r#"{"action":"x"}"#)),
            Err(ExtractError::MissingField(DELIVERY_HEADER.into()))
        );
        let no_topic = Headers::from_pairs([(DELIVERY_HEADER, "d-9")]);
        assert_eq!(
            extract(&request(&no_topic, BODY)),
            Err(ExtractError::MissingField(TOPIC_HEADER.into()))
        );
    }

    #[test]
    fn woocommerce_ping_is_only_the_unsigned_webhook_id_form() {
        let none = Headers::new();
        assert!(is_ping(&request(&none, "webhook_id=15")));
        assert!(!is_ping(&request(&none, "webhook_id=")));
        assert!(!is_ping(&request(&none, "webhook_id=15&x=1")));
        assert!(!is_ping(&request(&none, BODY)));
        let signed_headers = Headers::from_pairs([(SIGNATURE_HEADER, "x")]);
        assert!(!is_ping(&request(&signed_headers, "webhook_id=15")));
    }
}
