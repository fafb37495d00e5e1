//! Microsoft Graph change notifications (learn.microsoft.com, "Receive change notifications
//! through webhooks").
//!
//! **Validation.** Creating a subscription makes Graph POST to the notification URL with a
//! `validationToken` query parameter; the URL must answer 200 within 10 seconds with the
//! decoded token as a `text/plain` body. [`validation_token`] recognises it.
//!
//! **Notifications** arrive unsigned, as `{"value": [...]}`; each carries the subscription's
//! `clientState`, the secret given when the subscription was created. Every notification in a
//! delivery must carry the connection's webhook secret (or the previous one, during a
//! rotation), compared in constant time; one without it refuses the whole delivery.
//!
//! Each notification is an event: type `{resource}.{changeType}` (`message.created`, from
//! `resourceData.@odata.type`, or `changeType` alone), or `lifecycle.{lifecycleEvent}`
//! (`reauthorizationRequired`, `subscriptionRemoved`, `missed`). Notifications have no id, and
//! two changes to one resource notify alike: each delivery is its own event
//! ([`super::Scheme::ids_per_delivery`]).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::crypto::{ct_eq, sha256_hex};
use super::event::{event, json_error, split_array, str_field, ExtractError, InboundEvent};
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::secrets::{SecretUsed, SigningSecrets, Verified};

/// Longest validation token echoed back, in bytes.
const MAX_TOKEN_LEN: usize = 2048;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    value: Option<Vec<&'a RawValue>>,
}

fn notifications(body: &[u8]) -> Result<Vec<&RawValue>, ExtractError> {
    let envelope: Envelope<'_> = crate::json::from_bytes(body).map_err(|e| json_error(&e))?;
    split_array(
        envelope
            .value
            .ok_or_else(|| ExtractError::MissingField("value".to_owned()))?,
    )
}

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    #[derive(Deserialize)]
    struct ClientState<'a> {
        #[serde(rename = "clientState", borrow)]
        client_state: Option<Cow<'a, str>>,
    }
    let items = notifications(req.body).map_err(|e| Rejection::MalformedBody { reason: e.to_string() })?;
    if items.is_empty() {
        return Err(Rejection::MalformedBody {
            reason: "no notification in `value`".to_owned(),
        });
    }
    let keys = secrets.utf8_keys()?;
    let mut used = SecretUsed::Current;
    for item in items {
        let state: ClientState<'_> = serde_json::from_str(item.get()).map_err(|e| Rejection::MalformedBody {
            reason: json_error(&e).to_string(),
        })?;
        let state = state.client_state.ok_or_else(|| Rejection::MalformedBody {
            reason: "a notification has no `clientState`".to_owned(),
        })?;
        let verified = keys.first_match(|key| ct_eq(key, state.as_bytes()))?;
        if verified.secret == SecretUsed::Previous {
            used = SecretUsed::Previous;
        }
    }
    Ok(Verified { secret: used })
}

/// The token of a subscription validation request (`?validationToken=...`, decoded): a short
/// value without control characters. `None` for anything else.
pub(crate) fn validation_token(req: &WebhookRequest<'_>) -> Option<String> {
    if !req.method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let token = super::twilio::query_param(req.url, "validationToken")?;
    let clean = !token.chars().any(char::is_control);
    (!token.is_empty() && token.len() <= MAX_TOKEN_LEN && clean).then_some(token)
}

pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    notifications(req.body)?
        .into_iter()
        .map(|item| {
            let value: Value = serde_json::from_str(item.get()).map_err(|e| json_error(&e))?;
            let event_type = if value.get("lifecycleEvent").is_some() {
                format!("lifecycle.{}", str_field(&value, "lifecycleEvent")?)
            } else {
                let change = str_field(&value, "changeType")?;
                match value
                    .pointer("/resourceData/@odata.type")
                    .and_then(Value::as_str)
                    .map(|t| t.trim_start_matches('#').rsplit('.').next().unwrap_or(t))
                {
                    Some(resource) if !resource.is_empty() => {
                        format!("{}.{change}", resource.to_ascii_lowercase())
                    }
                    _ => change.to_owned(),
                }
            };
            let raw = item.get().as_bytes();
            event(sha256_hex(raw), event_type, Cow::Borrowed(raw))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;

    const STATE: &str = "secretClientValue-0f8e4d";
    const BODY: &str = r##"{"value":[{"subscriptionId":"7f105c7d","subscriptionExpirationDateTime":"2024-03-20T11:00:00.0000000Z","clientState":"secretClientValue-0f8e4d","changeType":"created","resource":"Users/u1/Messages/m1","tenantId":"t1","resourceData":{"@odata.type":"#Microsoft.Graph.Message","@odata.id":"Users/u1/Messages/m1","id":"m1"}},{"subscriptionId":"7f105c7d","clientState":"secretClientValue-0f8e4d","lifecycleEvent":"reauthorizationRequired","organizationId":"t1"}]}"##;

    fn req<'a>(url: &'a str, body: &'a str, headers: &'a Headers) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            url,
            headers,
            body: body.as_bytes(),
        }
    }

    const URL: &str = "https://hooks.example.com/hooks/conn_graph";

    #[test]
    fn graph_notifications_must_all_carry_the_client_state() {
        let none = Headers::new();
        assert_eq!(
            verify(&req(URL, BODY, &none), &SigningSecrets::new(STATE)),
            Ok(Verified {
                secret: SecretUsed::Current
            })
        );
        assert_eq!(
            verify(
                &req(URL, BODY, &none),
                &SigningSecrets::new("other").with_previous(STATE)
            ),
            Ok(Verified {
                secret: SecretUsed::Previous
            })
        );
        assert_eq!(
            verify(&req(URL, BODY, &none), &SigningSecrets::new("other")),
            Err(Rejection::NoMatchingSignature)
        );
        // One forged notification among genuine ones refuses the delivery.
        let mixed = BODY.replacen("secretClientValue-0f8e4d", "guess", 1);
        assert_eq!(
            verify(&req(URL, &mixed, &none), &SigningSecrets::new(STATE)),
            Err(Rejection::NoMatchingSignature)
        );
        let stateless = r#"{"value":[{"changeType":"created","resource":"r"}]}"#;
        assert!(matches!(
            verify(&req(URL, stateless, &none), &SigningSecrets::new(STATE)),
            Err(Rejection::MalformedBody { .. })
        ));
        assert!(matches!(
            verify(&req(URL, r#"{"value":[]}"#, &none), &SigningSecrets::new(STATE)),
            Err(Rejection::MalformedBody { .. })
        ));
    }

    #[test]
    fn graph_validation_token_is_decoded_from_the_query() {
        let none = Headers::new();
        let url = "https://hooks.example.com/hooks/conn_graph?validationToken=Validation%3a+Testing+client+application";
        assert_eq!(
            validation_token(&req(url, "", &none)).as_deref(),
            Some("Validation: Testing client application")
        );
        assert_eq!(validation_token(&req(URL, "", &none)), None);
        let control = "https://h/hooks/c?validationToken=a%0Db";
        assert_eq!(validation_token(&req(control, "", &none)), None);
    }

    #[test]
    fn graph_notifications_are_split_and_typed() {
        let none = Headers::new();
        let events = extract(&req(URL, BODY, &none)).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, "message.created");
        assert_eq!(events[1].event_type, "lifecycle.reauthorizationRequired");
    }
}
