//! Mailchimp Marketing (audience) webhooks: form-encoded and unsigned (Mailchimp's docs,
//! "Sync audience data with webhooks"; its support confirms there is no signature). The
//! connection's webhook secret is put in the URL Mailchimp calls, as a path segment after the
//! connection id, `/hooks/{connection_id}/{secret}`, and compared in constant time. API
//! Gateway's access log records the route (`POST /hooks/{connection_id}/{secret}`), never the
//! path, and the receiver logs neither.
//!
//! Mailchimp checks a new webhook's URL with a `GET` and keeps it only on a 200: that is
//! answered for a Mailchimp connection whose path secret is right ([`is_url_check`]).
//!
//! A delivery is one event: `type` (`subscribe`, `unsubscribe`, `profile`, `upemail`,
//! `cleaned`, `campaign`) with `fired_at` and `data[...]`. It has no id: the id is a hash of
//! the body, which holds the time to the second and the member's data.

use std::borrow::Cow;

use super::crypto::{ct_eq, sha256_hex};
use super::event::{event, ExtractError, InboundEvent};
use super::form;
use super::rejection::Rejection;
use super::request::WebhookRequest;
use super::secrets::{SigningSecrets, Verified};

const SEGMENT: &str = "path secret (/hooks/{connection_id}/{secret})";

/// The path segment after the connection id: `/hooks/{id}/{secret}`.
fn path_secret(url: &str) -> Option<&str> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = without_query.split_once("://").map_or(without_query, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
    let (_, after_hooks) = path.rsplit_once("/hooks/")?;
    let mut parts = after_hooks.split('/');
    let _connection = parts.next()?;
    let secret = parts.next()?;
    (parts.next().is_none() && !secret.is_empty()).then_some(secret)
}

pub(crate) fn verify(req: &WebhookRequest<'_>, secrets: &SigningSecrets) -> Result<Verified, Rejection> {
    let given = path_secret(req.url).ok_or_else(|| Rejection::missing(SEGMENT))?;
    secrets.utf8_keys()?.first_match(|key| ct_eq(key, given.as_bytes()))
}

/// Mailchimp's URL check on creating a webhook: a `GET` to the URL.
pub(crate) fn is_url_check(req: &WebhookRequest<'_>) -> bool {
    req.method.eq_ignore_ascii_case("GET")
}

pub(crate) fn extract<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let fields = form::parse_strict(req.body).map_err(|reason| ExtractError::InvalidField {
        field: "body".to_owned(),
        reason: reason.to_owned(),
    })?;
    let value = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| ExtractError::MissingField(name.to_owned()))
    };
    let event_type = value("type")?.to_owned();
    value("fired_at")?;
    Ok(vec![event(sha256_hex(req.body), event_type, Cow::Borrowed(req.body))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;

    const SECRET: &str = "mc-path-secret-4f9a2c";
    const BODY: &str = "type=subscribe&fired_at=2009-03-26+21%3A35%3A57&data%5Bid%5D=8a25ff1d98&data%5Blist_id%5D=a6b5da1054&data%5Bemail%5D=api%40mailchimp.com&data%5Bemail_type%5D=html&data%5Bmerges%5D%5BFNAME%5D=Mailchimp";

    fn req<'a>(method: &'a str, url: &'a str, headers: &'a Headers) -> WebhookRequest<'a> {
        WebhookRequest {
            method,
            url,
            headers,
            body: BODY.as_bytes(),
        }
    }

    #[test]
    fn mailchimp_path_secret_is_compared_and_required() {
        let none = Headers::new();
        let secrets = SigningSecrets::new(SECRET);
        let ok = format!("https://hooks.example.com/hooks/conn_mc/{SECRET}");
        assert!(verify(&req("POST", &ok, &none), &secrets).is_ok());
        assert!(verify(&req("POST", &format!("{ok}?x=1"), &none), &secrets).is_ok());
        let wrong = "https://hooks.example.com/hooks/conn_mc/guess";
        assert_eq!(
            verify(&req("POST", wrong, &none), &secrets),
            Err(Rejection::NoMatchingSignature)
        );
        let missing = "https://hooks.example.com/hooks/conn_mc";
        assert_eq!(
            verify(&req("POST", missing, &none), &secrets),
            Err(Rejection::missing(SEGMENT))
        );
        let extra = format!("https://hooks.example.com/hooks/conn_mc/{SECRET}/more");
        assert_eq!(
            verify(&req("POST", &extra, &none), &secrets),
            Err(Rejection::missing(SEGMENT))
        );
        // The secret in the query string is not the path secret.
        let query = format!("https://hooks.example.com/hooks/conn_mc?key={SECRET}");
        assert_eq!(
            verify(&req("POST", &query, &none), &secrets),
            Err(Rejection::missing(SEGMENT))
        );
    }

    #[test]
    fn mailchimp_delivery_is_one_typed_event() {
        let none = Headers::new();
        let events = extract(&req("POST", "https://h/hooks/c/s", &none)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "subscribe");
        let no_type = WebhookRequest {
            body: b"fired_at=2009-03-26",
            ..req("POST", "https://h/hooks/c/s", &none)
        };
        assert_eq!(extract(&no_type), Err(ExtractError::MissingField("type".into())));
    }
}
