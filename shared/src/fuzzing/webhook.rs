//! The webhook targets: every scheme's verifier and event extractor.

use secrecy::SecretString;

use super::delivery::Delivery;
use crate::webhook::{
    self, Extracted, Headers, SignInput, SigningSecrets, VerifyOptions, WebhookRequest, MAX_BATCH_EVENTS,
    MAX_EVENT_ID_LEN, MAX_EVENT_TYPE_LEN,
};

/// Latest clock the sign-then-verify check signs at (year 2100): HubSpot v3 signs
/// milliseconds, and no real clock is near `i64::MAX`.
const LATEST_CLOCK: i64 = 4_102_444_800;

/// Verifies an arbitrary delivery under the scheme the first byte chooses. With the first
/// byte's high bit set, the body is signed with [`webhook::sign`] first, and the signed
/// delivery must verify.
pub fn webhook_verify(data: &[u8]) {
    let Some(delivery) = Delivery::parse(data) else {
        return;
    };
    let scheme = delivery.scheme();
    if delivery.selector & 0x80 == 0 {
        let mut secrets = SigningSecrets::new(delivery.secret.clone());
        if let Some(previous) = &delivery.previous {
            secrets = secrets.with_previous(previous.clone());
        }
        let req = WebhookRequest {
            method: &delivery.method,
            url: &delivery.url,
            headers: &delivery.headers,
            body: delivery.body,
        };
        if let Err(rejection) = webhook::verify(&scheme, &req, &secrets, &delivery.options) {
            // Both are logged by the receiver.
            let _ = (rejection.code(), rejection.to_string());
        }
        return;
    }

    // Sign, then verify: a configuration that validates must accept its own signatures.
    if scheme.validate().is_err() {
        return;
    }
    let now = delivery.options.now.clamp(0, LATEST_CLOCK);
    let secret = SecretString::from(delivery.secret.clone());
    let input = SignInput {
        method: &delivery.method,
        url: &delivery.url,
        body: delivery.body,
        secret: &secret,
        now,
        message_id: None,
    };
    let Ok(signed) = webhook::sign(&scheme, &input) else {
        return;
    };
    let mut headers = Headers::from_pairs(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    if let Some(content_type) = delivery.headers.get("Content-Type") {
        headers.insert("Content-Type", content_type);
    }
    let req = WebhookRequest {
        method: &delivery.method,
        url: &delivery.url,
        headers: &headers,
        body: delivery.body,
    };
    let secrets = SigningSecrets::new(delivery.secret.clone());
    if let Err(rejection) = webhook::verify(&scheme, &req, &secrets, &VerifyOptions::at(now)) {
        panic!("a delivery signed by webhook::sign does not verify under {scheme}: {rejection} ({scheme:?})");
    }
}

/// Extracts the events of an arbitrary delivery under the scheme the first byte chooses.
/// What comes out must keep the documented bounds, and the fast JSON scan must read the body as
/// serde_json does whenever it answers.
pub fn webhook_extract(data: &[u8]) {
    let Some(delivery) = Delivery::parse(data) else {
        return;
    };
    let scheme = delivery.scheme();
    // The receiver's fast JSON scan must answer as serde_json does, whenever it answers.
    webhook::json_scan::check_against_serde_json(delivery.body);
    let req = WebhookRequest {
        method: &delivery.method,
        url: &delivery.url,
        headers: &delivery.headers,
        body: delivery.body,
    };
    match webhook::extract(&scheme, &req) {
        Ok(Extracted::Events(events)) => {
            assert!(
                events.len() <= MAX_BATCH_EVENTS,
                "{} events from one delivery",
                events.len()
            );
            for event in &events {
                assert!(
                    !event.event_id.is_empty() && event.event_id.len() <= MAX_EVENT_ID_LEN,
                    "{scheme}: event id of {} bytes",
                    event.event_id.len()
                );
                assert!(
                    event.event_type.len() <= MAX_EVENT_TYPE_LEN,
                    "{scheme}: event type of {} bytes",
                    event.event_type.len()
                );
            }
        }
        Ok(Extracted::Challenge { body, content_type }) => {
            let _ = (body.len(), content_type);
        }
        Err(error) => {
            let _ = (error.code(), error.to_string());
        }
    }
}
