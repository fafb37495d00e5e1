//! Asana: `X-Hook-Signature`, hex HMAC-SHA256 of the raw body keyed with the secret Asana sent
//! in the webhook's handshake (developers.asana.com, "Webhooks": "Security").
//!
//! **Handshake.** Creating a webhook makes Asana POST to the target, before the create call
//! returns, a request with an `X-Hook-Secret` header and no signature; the target must answer
//! 200 with the same header, and signs later deliveries with that secret. The receiver answers
//! it only for a connection that expects one (see `store::connections::WebhookSettings`) and
//! keeps the secret as the connection's webhook secret: [`handshake_secret`] only recognises it.
//!
//! **Events.** A delivery is `{"events": [...]}`, each an action on a resource. Events carry no
//! id: the id is a hash of the event's bytes (each has its own `created_at`), and the type is
//! `{resource_type}.{action}` (`task.changed`). An empty list is Asana's heartbeat: no event.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::crypto::{sha256_hex, verify_body_hmac_sha256};
use super::event::{event, json_error, split_array, str_field, ExtractError, InboundEvent};
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::scheme::SignatureEncoding;
use super::secrets::{SigningSecrets, Verified};

const SIGNATURE_HEADER: &str = "X-Hook-Signature";
/// The handshake's header, also the name the answer must echo it under.
pub const HANDSHAKE_HEADER: &str = "X-Hook-Secret";
/// Longest handshake secret accepted (Asana's are 32 hex digits).
const MAX_HANDSHAKE_SECRET_LEN: usize = 256;

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    verify_body_hmac_sha256(&[SIGNATURE_HEADER], SignatureEncoding::Hex, req, secrets)
}

/// The secret of an Asana handshake request: `X-Hook-Secret` without `X-Hook-Signature`, a
/// short printable value. `None` for anything else.
pub fn handshake_secret<'r>(req: &WebhookRequest<'r>) -> Option<&'r str> {
    if req.headers.contains(SIGNATURE_HEADER) {
        return None;
    }
    let secret = req.headers.get(HANDSHAKE_HEADER)?.trim();
    let printable = secret.bytes().all(|b| b.is_ascii_graphic());
    (!secret.is_empty() && secret.len() <= MAX_HANDSHAKE_SECRET_LEN && printable).then_some(secret)
}

pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        events: Option<Vec<&'a RawValue>>,
    }
    let envelope: Envelope<'_> = crate::json::from_bytes(req.body).map_err(|e| json_error(&e))?;
    let elements = split_array(
        envelope
            .events
            .ok_or_else(|| ExtractError::MissingField("events".to_owned()))?,
    )?;
    elements
        .into_iter()
        .map(|element| {
            let value: Value = serde_json::from_str(element.get()).map_err(|e| json_error(&e))?;
            let resource = value
                .get("resource")
                .ok_or_else(|| ExtractError::MissingField("resource".to_owned()))?;
            let event_type = format!(
                "{}.{}",
                str_field(resource, "resource_type")?,
                str_field(&value, "action")?
            );
            let raw = element.get().as_bytes();
            event(sha256_hex(raw), event_type, Cow::Borrowed(raw))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::crypto::hmac_sha256;
    use crate::webhook::headers::Headers;

    const SECRET: &str = "0c5ae5bbd4df1c4ad4ad8b0e3e1bd3b1";
    const BODY: &str = r#"{"events":[{"user":{"gid":"1","resource_type":"user"},"created_at":"2024-03-01T10:00:00.123Z","action":"changed","resource":{"gid":"1200","resource_type":"task"},"change":{"field":"name","action":"changed"}},{"user":{"gid":"1","resource_type":"user"},"created_at":"2024-03-01T10:00:01.456Z","action":"added","resource":{"gid":"1201","resource_type":"story"},"parent":{"gid":"1200","resource_type":"task"}}]}"#;

    fn req<'a>(headers: &'a Headers, body: &'a str) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_asana",
            headers,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn asana_accepts_the_hex_signature_and_refuses_wrong_secret_and_tampering() {
        let signature = hex::encode(hmac_sha256(SECRET.as_bytes(), &[BODY.as_bytes()]));
        let headers = Headers::from_pairs([(SIGNATURE_HEADER, signature.as_str())]);
        assert!(verify(&req(&headers, BODY), &SigningSecrets::new(SECRET)).is_ok());
        assert_eq!(
            verify(&req(&headers, BODY), &SigningSecrets::new("another")),
            Err(Rejection::NoMatchingSignature)
        );
        let tampered = BODY.replace("1200", "1300");
        assert_eq!(
            verify(&req(&headers, &tampered), &SigningSecrets::new(SECRET)),
            Err(Rejection::NoMatchingSignature)
        );
        assert_eq!(
            verify(&req(&Headers::new(), BODY), &SigningSecrets::new(SECRET)),
            Err(Rejection::missing(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn asana_handshake_is_a_secret_without_a_signature() {
        let handshake = Headers::from_pairs([(HANDSHAKE_HEADER, SECRET)]);
        assert_eq!(handshake_secret(&req(&handshake, "")), Some(SECRET));
        let both = Headers::from_pairs([(HANDSHAKE_HEADER, SECRET), (SIGNATURE_HEADER, "ab")]);
        assert_eq!(handshake_secret(&req(&both, "")), None);
        let spaced = Headers::from_pairs([(HANDSHAKE_HEADER, "a b")]);
        assert_eq!(handshake_secret(&req(&spaced, "")), None);
        let long = "a".repeat(MAX_HANDSHAKE_SECRET_LEN + 1);
        let long = Headers::from_pairs([(HANDSHAKE_HEADER, long.as_str())]);
        assert_eq!(handshake_secret(&req(&long, "")), None);
        assert_eq!(handshake_secret(&req(&Headers::new(), "")), None);
    }

    #[test]
    fn asana_events_are_split_typed_and_a_heartbeat_has_none() {
        let headers = Headers::new();
        let events = extract(&req(&headers, BODY)).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, "task.changed");
        assert_eq!(events[1].event_type, "story.added");
        assert_ne!(events[0].event_id, events[1].event_id);
        assert_eq!(extract(&req(&headers, r#"{"events":[]}"#)).unwrap(), vec![]);
        assert_eq!(
            extract(&req(&headers, r#"{"data":[]}"#)),
            Err(ExtractError::MissingField("events".into()))
        );
    }
}
