//! Webhook signature verification and event extraction.
//!
//! Pure code over bytes: no I/O, no clock (the caller passes `now` in [`VerifyOptions`]).
//! PayPal's certificate is fetched by the receiver and handed to [`paypal::verify`].
//!
//! ```
//! use switchyard::webhook::{self, Headers, Scheme, SigningSecrets, VerifyOptions, WebhookRequest};
//!
//! let headers = Headers::from_pairs([(
//!     "X-Hub-Signature-256",
//!     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
//! )]);
//! let req = WebhookRequest {
//!     method: "POST",
//!     url: "https://hooks.example.com/github",
//!     headers: &headers,
//!     body: b"Hello, World!",
//! };
//! let secrets = SigningSecrets::new("It's a Secret to Everybody");
//! assert!(webhook::verify(&Scheme::Github, &req, &secrets, &VerifyOptions::default()).is_ok());
//! ```
//!
//! Each provider's exact scheme is described in its module and in
//! `WEBHOOK_SIGNATURES.md`. Rules shared by all of them:
//!
//! * the raw body bytes are verified; header names are case-insensitive;
//! * MACs are compared in constant time;
//! * every signature a request carries is considered, and the previous secret is tried when
//!   the current one does not match ([`SecretUsed::Previous`]);
//! * header and timestamp problems are reported before any secret is used;
//! * timestamped schemes enforce [`VerifyOptions::tolerance_secs`] in both directions;
//! * no error message contains a secret, a MAC or the body.

mod asana;
mod basic_auth;
mod calendly;
mod crypto;
mod dropbox;
mod event;
pub(crate) mod form;
mod generic;
mod github;
mod graph;
mod handshake;
mod headers;
mod hubspot;
mod intuit;
pub(crate) mod json_scan;
mod linear;
mod mailchimp;
pub mod paypal;
mod rejection;
mod request;
mod scheme;
mod secrets;
mod shopify;
mod sign;
mod slack;
mod standard;
mod stripe;
mod timestamp;
mod twilio;
mod woocommerce;
mod xero;
mod zendesk;

pub use event::{
    extract, ExtractError, Extracted, InboundEvent, MAX_BATCH_EVENTS, MAX_EVENT_ID_LEN, MAX_EVENT_TYPE_LEN,
};
pub use handshake::{handshake, Handshake};
pub use headers::Headers;
pub use rejection::Rejection;
pub use request::{VerifyOptions, WebhookRequest, DEFAULT_TOLERANCE_SECS};
pub use scheme::{
    BasicAuthConfig, GenericHmac, HmacAlgorithm, HubspotConfig, HubspotVersion, Scheme, SignatureEncoding,
    UnknownScheme,
};
pub use secrets::{SecretUsed, SigningSecrets, Verified};
pub use sign::{sign, SignError, SignInput};

/// Verifies a webhook request's signature under `scheme`.
///
/// `Ok` names the secret that matched. An `Err` is safe to log (see [`Rejection::code`]):
/// [`Rejection::InvalidSecret`] is a configuration problem on our side; every other variant is
/// a request that must not be processed.
pub fn verify(
    scheme: &Scheme,
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    opts: &VerifyOptions,
) -> Result<Verified, Rejection> {
    match scheme {
        Scheme::Stripe => stripe::verify(req, secrets, opts),
        Scheme::StandardWebhooks => standard::verify(req, secrets, opts),
        Scheme::Github => github::verify(req, secrets),
        Scheme::Slack => slack::verify(req, secrets, opts),
        Scheme::Shopify => shopify::verify(req, secrets),
        Scheme::Hubspot(config) => hubspot::verify(config, req, secrets, opts),
        Scheme::Intuit => intuit::verify(req, secrets),
        Scheme::Xero => xero::verify(req, secrets),
        Scheme::Calendly => calendly::verify(req, secrets, opts),
        Scheme::Twilio => twilio::verify(req, secrets),
        Scheme::Woocommerce => woocommerce::verify(req, secrets),
        Scheme::Linear => linear::verify(req, secrets, opts),
        Scheme::Zendesk => zendesk::verify(req, secrets, opts),
        Scheme::Asana => asana::verify(req, secrets),
        Scheme::Dropbox => dropbox::verify(req, secrets),
        Scheme::MicrosoftGraph => graph::verify(req, secrets),
        Scheme::Mailchimp => mailchimp::verify(req, secrets),
        Scheme::BasicAuth(_) => basic_auth::verify(req, secrets),
        // Verified by `paypal::verify` with the certificate the receiver fetched; here the
        // headers are checked and the delivery refused.
        Scheme::Paypal => paypal::verify_without_certificate(req, opts),
        Scheme::Generic(config) => generic::verify(config, req, secrets, opts),
    }
}
