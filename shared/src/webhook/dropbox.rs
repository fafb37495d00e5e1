//! Dropbox: `X-Dropbox-Signature`, hex HMAC-SHA256 of the raw body keyed with the app secret
//! (developers.dropbox.com, "Webhooks": "Receiving notifications").
//!
//! **Verification request.** When a webhook URI is added in the App Console, Dropbox sends
//! `GET <uri>?challenge=<value>` and expects the value echoed as the body (`text/plain`, with
//! `X-Content-Type-Options: nosniff`); [`challenge`] recognises it.
//!
//! **Notifications** say only which accounts changed (`{"list_folder": {"accounts": [...]},
//! "delta": {"users": [...]}}`): the app then reads the changes with its `list_folder` cursor.
//! One delivery is one event of type `list_folder.changed`. A notification has no identity:
//! two changes to one account send the same body, so the receiver makes each delivery its own
//! event ([`super::Scheme::ids_per_delivery`]).

use std::borrow::Cow;

use serde::Deserialize;

use super::crypto::{sha256_hex, verify_body_hmac_sha256};
use super::event::{event, json_error, ExtractError, InboundEvent};
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::scheme::SignatureEncoding;
use super::secrets::{SigningSecrets, Verified};

const SIGNATURE_HEADER: &str = "X-Dropbox-Signature";
/// Longest challenge echoed back, in bytes.
const MAX_CHALLENGE_LEN: usize = 1024;

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    verify_body_hmac_sha256(&[SIGNATURE_HEADER], SignatureEncoding::Hex, req, secrets)
}

/// The value of Dropbox's verification request, `GET ...?challenge=<value>`: a short
/// printable value. `None` for anything else.
pub(crate) fn challenge(req: &WebhookRequest<'_>) -> Option<String> {
    if !req.method.eq_ignore_ascii_case("GET") {
        return None;
    }
    let value = super::twilio::query_param(req.url, "challenge")?;
    let printable = value.bytes().all(|b| b.is_ascii_graphic());
    (!value.is_empty() && value.len() <= MAX_CHALLENGE_LEN && printable).then_some(value)
}

pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    #[derive(Deserialize)]
    struct Notification {
        list_folder: Option<serde::de::IgnoredAny>,
    }
    let body: Notification = serde_json::from_slice(req.body).map_err(|e| json_error(&e))?;
    if body.list_folder.is_none() {
        return Err(ExtractError::MissingField("list_folder".to_owned()));
    }
    Ok(vec![event(
        sha256_hex(req.body),
        "list_folder.changed".to_owned(),
        Cow::Borrowed(req.body),
    )?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::crypto::hmac_sha256;
    use crate::webhook::headers::Headers;

    const SECRET: &str = "dropbox-app-secret";
    const BODY: &str =
        r#"{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},"delta":{"users":[12345678]}}"#;

    fn req<'a>(method: &'a str, url: &'a str, headers: &'a Headers, body: &'a str) -> WebhookRequest<'a> {
        WebhookRequest {
            method,
            url,
            headers,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn dropbox_accepts_the_hex_signature_and_refuses_wrong_secret_tampering_and_no_header() {
        let sig = hex::encode(hmac_sha256(SECRET.as_bytes(), &[BODY.as_bytes()]));
        let headers = Headers::from_pairs([(SIGNATURE_HEADER, sig.as_str())]);
        let url = "https://hooks.example.com/hooks/conn_dbx";
        assert!(verify(&req("POST", url, &headers, BODY), &SigningSecrets::new(SECRET)).is_ok());
        assert_eq!(
            verify(&req("POST", url, &headers, BODY), &SigningSecrets::new("other")),
            Err(Rejection::NoMatchingSignature)
        );
        let tampered = BODY.replace("12345678", "87654321");
        assert_eq!(
            verify(&req("POST", url, &headers, &tampered), &SigningSecrets::new(SECRET)),
            Err(Rejection::NoMatchingSignature)
        );
        assert_eq!(
            verify(&req("POST", url, &Headers::new(), BODY), &SigningSecrets::new(SECRET)),
            Err(Rejection::missing(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn dropbox_challenge_is_a_get_with_a_short_printable_value() {
        let none = Headers::new();
        let url = "https://hooks.example.com/hooks/conn_dbx?challenge=Y2hhbGxlbmdl";
        assert_eq!(challenge(&req("GET", url, &none, "")).as_deref(), Some("Y2hhbGxlbmdl"));
        assert_eq!(challenge(&req("POST", url, &none, "")), None);
        assert_eq!(challenge(&req("GET", "https://h/hooks/c", &none, "")), None);
        assert_eq!(
            challenge(&req("GET", "https://h/hooks/c?challenge=a%0Ab", &none, "")),
            None
        );
        let long = format!("https://h/hooks/c?challenge={}", "a".repeat(MAX_CHALLENGE_LEN + 1));
        assert_eq!(challenge(&req("GET", &long, &none, "")), None);
    }

    #[test]
    fn dropbox_notification_is_one_event() {
        let none = Headers::new();
        let events = extract(&req("POST", "https://h/hooks/c", &none, BODY)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "list_folder.changed");
        assert_eq!(
            extract(&req("POST", "https://h/hooks/c", &none, r#"{"delta":{}}"#)),
            Err(ExtractError::MissingField("list_folder".into()))
        );
    }
}
