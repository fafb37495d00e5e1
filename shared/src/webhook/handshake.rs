//! Handshakes: requests a provider sends to set up a webhook rather than to deliver events.
//! They are recognised before any signature check (they carry none), answered, and never
//! become events.
//!
//! * WooCommerce pings the URL with the unsigned form `webhook_id=<n>` when a webhook is saved
//!   and keeps the webhook only on a 2xx: answered 200, nothing stored.
//! * Asana sends the webhook's signing secret in `X-Hook-Secret` and expects it echoed: the
//!   receiver takes it only for a connection that is expecting one (its
//!   `handshake_until` is in the future), stores it as the webhook secret, then echoes it.
//!
//! * Dropbox verifies a webhook URI with `GET ?challenge=<value>`: the value is echoed as
//!   `text/plain`.
//! * Microsoft Graph validates a new subscription with `POST ?validationToken=<token>`: the
//!   token is echoed as `text/plain`, but only while the connection expects a handshake (its
//!   `handshake_until` is in the future: the subscription is being created), so a stranger
//!   cannot have any Graph connection's URL confirmed for a subscription of theirs. It is not
//!   used up: each subscription created in the window is validated.
//!
//! * Mailchimp checks a new webhook's URL with a `GET`: answered 200 when the URL's path
//!   secret verifies.
//!
//! Slack's `url_verification` is signed, so it is answered after verification instead
//! ([`super::Extracted::Challenge`]).

use super::request::WebhookRequest;
use super::scheme::Scheme;

/// A handshake to answer instead of verifying and storing events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake<'r> {
    /// Answer 200 with this body; nothing is stored.
    Answer { body: String, content_type: &'static str },
    /// Answer 200 with this body, nothing stored, but only if the request passes the scheme's
    /// verification (Mailchimp's URL check carries the path secret).
    Verified { body: String, content_type: &'static str },
    /// The provider hands over the webhook's signing secret: store it, then answer 200 with
    /// it echoed in `header`.
    SetSecret { secret: &'r str, header: &'static str },
    /// Answer 200 with this body, nothing stored, but only while the connection expects a
    /// handshake (Microsoft Graph's subscription validation).
    Expected { body: String, content_type: &'static str },
}

/// Whether `req` is `scheme`'s handshake, and which.
pub fn handshake<'r>(scheme: &Scheme, req: &WebhookRequest<'r>) -> Option<Handshake<'r>> {
    match scheme {
        Scheme::Woocommerce if super::woocommerce::is_ping(req) => Some(Handshake::Answer {
            body: r#"{"status":"ok"}"#.to_owned(),
            content_type: "application/json",
        }),
        Scheme::Dropbox => super::dropbox::challenge(req).map(|challenge| Handshake::Answer {
            body: challenge,
            content_type: "text/plain",
        }),
        Scheme::MicrosoftGraph => super::graph::validation_token(req).map(|token| Handshake::Expected {
            body: token,
            content_type: "text/plain",
        }),
        Scheme::Mailchimp if super::mailchimp::is_url_check(req) => Some(Handshake::Verified {
            body: r#"{"status":"ok"}"#.to_owned(),
            content_type: "application/json",
        }),
        Scheme::Asana => super::asana::handshake_secret(req).map(|secret| Handshake::SetSecret {
            secret,
            header: super::asana::HANDSHAKE_HEADER,
        }),
        _ => None,
    }
}

impl Scheme {
    /// Whether deliveries are change notifications without identity (Dropbox, Microsoft
    /// Graph): two changes to one resource notify alike, so de-duplicating by content would
    /// drop the second. The receiver makes each delivery its own event instead (the event id
    /// gains the request id); a provider's retry may then be handled twice, which is harmless
    /// for a notification that only says "read the changes".
    pub fn ids_per_delivery(&self) -> bool {
        matches!(self, Scheme::Dropbox | Scheme::MicrosoftGraph)
    }

    /// Whether deliveries are checked with a shared secret; PayPal's are signed with its
    /// certificate, so a PayPal connection has no webhook secret.
    pub fn uses_secret(&self) -> bool {
        !matches!(self, Scheme::Paypal)
    }

    /// Whether the provider sets the webhook secret itself, through a handshake, so that a
    /// connection may be created without one and wait for it.
    pub fn secret_set_by_handshake(&self) -> bool {
        matches!(self, Scheme::Asana)
    }

    /// Whether the scheme's handshake is answered only while the connection expects one
    /// (`handshake_until`): Asana's, which sets the secret, and Microsoft Graph's subscription
    /// validation.
    pub fn handshake_expected(&self) -> bool {
        matches!(self, Scheme::Asana | Scheme::MicrosoftGraph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;

    fn req<'a>(headers: &'a Headers, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/c",
            headers,
            body,
        }
    }

    #[test]
    fn only_the_scheme_that_has_the_handshake_recognises_it() {
        let asana = Headers::from_pairs([("X-Hook-Secret", "s3cr3t")]);
        assert_eq!(
            handshake(&Scheme::Asana, &req(&asana, b"")),
            Some(Handshake::SetSecret {
                secret: "s3cr3t",
                header: "X-Hook-Secret"
            })
        );
        assert_eq!(handshake(&Scheme::Github, &req(&asana, b"")), None);
        let none = Headers::new();
        assert!(matches!(
            handshake(&Scheme::Woocommerce, &req(&none, b"webhook_id=4")),
            Some(Handshake::Answer { .. })
        ));
        assert_eq!(handshake(&Scheme::Shopify, &req(&none, b"webhook_id=4")), None);
        let validation = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/hooks/c?validationToken=abc",
            headers: &none,
            body: b"",
        };
        assert_eq!(
            handshake(&Scheme::MicrosoftGraph, &validation),
            Some(Handshake::Expected {
                body: "abc".into(),
                content_type: "text/plain"
            })
        );
        assert!(Scheme::MicrosoftGraph.handshake_expected() && !Scheme::MicrosoftGraph.secret_set_by_handshake());
        assert_eq!(handshake(&Scheme::Dropbox, &validation), None);
        assert_eq!(handshake(&Scheme::Woocommerce, &req(&none, b"{}")), None);
    }
}
