//! Which signing scheme a connection uses, and the configuration of the generic HMAC scheme.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use super::basic_auth::BasicAuthConfig;
use super::generic::{Placeholder, Template};

/// A provider's webhook signing scheme, stored in a connection's config.
///
/// Serialized internally tagged: `{"scheme": "stripe"}`, or for the generic scheme
/// `{"scheme": "generic", "header": "X-Signature", "algorithm": "sha256", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "scheme")]
pub enum Scheme {
    /// `Stripe-Signature: t=..,v1=..` (HMAC-SHA256 hex over `"{t}.{body}"`).
    Stripe,
    /// Standard Webhooks / Svix: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks,
    /// `X-Hub-Signature-256: sha256=..` (legacy `X-Hub-Signature: sha1=..`).
    Github,
    /// `X-Slack-Signature: v0=..` with `X-Slack-Request-Timestamp`.
    Slack,
    /// `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body).
    Shopify,
    /// HubSpot v3 (`X-HubSpot-Signature-v3`), and v1 or v2 (`X-HubSpot-Signature`) only
    /// when the connection's [`HubspotConfig`] allows them.
    Hubspot(HubspotConfig),
    /// QuickBooks Online: `intuit-signature` (base64 HMAC-SHA256 of the body).
    Intuit,
    /// `x-xero-signature` (base64 HMAC-SHA256 of the body).
    Xero,
    /// `Calendly-Webhook-Signature: t=..,v1=..` (Stripe's layout).
    Calendly,
    /// `X-Twilio-Signature` (base64 HMAC-SHA1 over the URL and sorted form parameters).
    Twilio,
    /// `X-WC-Webhook-Signature` (base64 HMAC-SHA256 of the body); WooCommerce's unsigned
    /// ping on saving a webhook is answered without an event.
    Woocommerce,
    /// `Linear-Signature` (hex HMAC-SHA256 of the body) and the body's `webhookTimestamp`.
    Linear,
    /// `X-Zendesk-Webhook-Signature` (base64 HMAC-SHA256 over the timestamp header and body).
    Zendesk,
    /// `X-Hook-Signature` (hex HMAC-SHA256 of the body), keyed with the secret of the
    /// `X-Hook-Secret` handshake.
    Asana,
    /// `X-Dropbox-Signature` (hex HMAC-SHA256 of the body); the `GET ?challenge=` verification
    /// request is answered.
    Dropbox,
    /// Microsoft Graph change notifications: every notification's `clientState` is the
    /// secret; the `validationToken` request is answered.
    MicrosoftGraph,
    /// Mailchimp audience webhooks: unsigned, so the secret is a path segment of the URL,
    /// `/hooks/{connection_id}/{secret}`; Mailchimp's `GET` URL check is answered.
    Mailchimp,
    /// HTTP basic auth (`Authorization: Basic`) against `user:password`, for providers that
    /// sign nothing (Pipedrive); event id and type from the configured JSON pointers.
    BasicAuth(BasicAuthConfig),
    /// PayPal: `PAYPAL-TRANSMISSION-SIG`, RSA-SHA256 with the certificate at `PAYPAL-CERT-URL`
    /// (fetched from PayPal's API hosts only) over the transmission id and time, the
    /// connection's `webhook_id` config and the body's CRC-32. No shared secret.
    Paypal,
    /// A configurable HMAC scheme for providers without a dedicated verifier.
    Generic(GenericHmac),
}

impl Scheme {
    /// Every scheme's canonical name, as returned by [`Scheme::name`]. All of them except
    /// `"generic"` (which needs its configuration) are accepted by [`Scheme::from_name`].
    pub const NAMES: &'static [&'static str] = &[
        "stripe",
        "standard-webhooks",
        "github",
        "slack",
        "shopify",
        "hubspot",
        "intuit",
        "xero",
        "calendly",
        "twilio",
        "woocommerce",
        "linear",
        "zendesk",
        "asana",
        "dropbox",
        "microsoft-graph",
        "mailchimp",
        "basic-auth",
        "paypal",
        "generic",
    ];

    /// The scheme's canonical name (the serde tag), for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Stripe => "stripe",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Github => "github",
            Scheme::Slack => "slack",
            Scheme::Shopify => "shopify",
            Scheme::Hubspot(_) => "hubspot",
            Scheme::Intuit => "intuit",
            Scheme::Xero => "xero",
            Scheme::Calendly => "calendly",
            Scheme::Twilio => "twilio",
            Scheme::Woocommerce => "woocommerce",
            Scheme::Linear => "linear",
            Scheme::Zendesk => "zendesk",
            Scheme::Asana => "asana",
            Scheme::Dropbox => "dropbox",
            Scheme::MicrosoftGraph => "microsoft-graph",
            Scheme::Mailchimp => "mailchimp",
            Scheme::BasicAuth(_) => "basic-auth",
            Scheme::Paypal => "paypal",
            Scheme::Generic(_) => "generic",
        }
    }

    /// Looks a scheme up by name, case-insensitively. Aliases: `svix` (Standard Webhooks),
    /// `quickbooks` (Intuit), `graph` (Microsoft Graph). `generic` is refused: it needs a [`GenericHmac`] configuration.
    pub fn from_name(name: &str) -> Result<Scheme, UnknownScheme> {
        let scheme = match name.to_ascii_lowercase().as_str() {
            "stripe" => Scheme::Stripe,
            "standard-webhooks" | "svix" => Scheme::StandardWebhooks,
            "github" => Scheme::Github,
            "slack" => Scheme::Slack,
            "shopify" => Scheme::Shopify,
            "hubspot" => Scheme::Hubspot(HubspotConfig::default()),
            "intuit" | "quickbooks" => Scheme::Intuit,
            "xero" => Scheme::Xero,
            "calendly" => Scheme::Calendly,
            "twilio" => Scheme::Twilio,
            "woocommerce" => Scheme::Woocommerce,
            "linear" => Scheme::Linear,
            "zendesk" => Scheme::Zendesk,
            "asana" => Scheme::Asana,
            "dropbox" => Scheme::Dropbox,
            "microsoft-graph" | "graph" => Scheme::MicrosoftGraph,
            "mailchimp" => Scheme::Mailchimp,
            "basic-auth" => Scheme::BasicAuth(BasicAuthConfig::default()),
            "paypal" => Scheme::Paypal,
            "generic" => return Err(UnknownScheme::NeedsConfig),
            _ => return Err(UnknownScheme::Unknown { name: name.to_owned() }),
        };
        Ok(scheme)
    }

    /// Checks the scheme's configuration (the generic and HubSpot schemes have one). Call this when a
    /// connection's config is loaded; [`super::verify`] reports an invalid generic config as
    /// [`super::Rejection::InvalidSecret`].
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Scheme::Generic(config) => config.validate(),
            Scheme::Hubspot(config) => config.validate(),
            Scheme::BasicAuth(config) => config.validate(),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scheme::from_name(name)
    }
}

/// A scheme name that [`Scheme::from_name`] cannot turn into a scheme.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum UnknownScheme {
    #[error(
        "unknown webhook scheme `{name}`; expected one of stripe, standard-webhooks (or svix), \
         github, slack, shopify, hubspot, intuit (or quickbooks), xero, calendly, twilio, \
         woocommerce, linear, zendesk, asana, dropbox, microsoft-graph (or graph), mailchimp, basic-auth, paypal"
    )]
    Unknown { name: String },
    #[error(
        "the `generic` webhook scheme cannot be chosen by name: it needs a configuration \
         (signature header, algorithm, encoding, template)"
    )]
    NeedsConfig,
}

/// A HubSpot signature version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HubspotVersion {
    /// `sha256(secret + body)`, hex, in `X-HubSpot-Signature`: no timestamp, no URL.
    V1,
    /// `sha256(secret + method + uri + body)`, hex, in `X-HubSpot-Signature`: no timestamp.
    V2,
    /// Base64 HMAC-SHA256 over `method + uri + body + timestamp` in `X-HubSpot-Signature-v3`,
    /// with `X-HubSpot-Request-Timestamp`: the only version with a replay window.
    V3,
}

impl HubspotVersion {
    /// `v1`, `v2` or `v3`.
    pub fn name(self) -> &'static str {
        match self {
            HubspotVersion::V1 => "v1",
            HubspotVersion::V2 => "v2",
            HubspotVersion::V3 => "v3",
        }
    }
}

impl fmt::Display for HubspotVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HubspotVersion {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "v1" => Ok(HubspotVersion::V1),
            "v2" => Ok(HubspotVersion::V2),
            "v3" => Ok(HubspotVersion::V3),
            _ => Err(format!(
                "unknown HubSpot signature version `{name}`; expected v1, v2 or v3"
            )),
        }
    }
}

/// HubSpot settings of a connection: which signature versions it accepts.
///
/// Stored beside the scheme tag: `{"scheme": "hubspot", "signature_versions": ["v3", "v2"]}`;
/// without the field a connection accepts v3 only. v1 and v2 sign no timestamp, so a delivery
/// signed that way can be replayed at any time, and a v3 delivery refused as stale would be
/// accepted again with its v3 headers stripped: allow them only for an app HubSpot still signs
/// that way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubspotConfig {
    /// The signature versions accepted; default `["v3"]`.
    #[serde(
        default = "default_hubspot_versions",
        skip_serializing_if = "is_default_hubspot_versions"
    )]
    pub signature_versions: BTreeSet<HubspotVersion>,
}

fn default_hubspot_versions() -> BTreeSet<HubspotVersion> {
    BTreeSet::from([HubspotVersion::V3])
}

fn is_default_hubspot_versions(versions: &BTreeSet<HubspotVersion>) -> bool {
    *versions == default_hubspot_versions()
}

impl Default for HubspotConfig {
    /// v3 only.
    fn default() -> Self {
        Self {
            signature_versions: default_hubspot_versions(),
        }
    }
}

impl HubspotConfig {
    /// A config accepting exactly `versions` (repeats ignored, order irrelevant).
    pub fn accepting(versions: impl IntoIterator<Item = HubspotVersion>) -> Self {
        Self {
            signature_versions: versions.into_iter().collect(),
        }
    }

    /// Whether deliveries signed with `version` are accepted.
    pub fn accepts(&self, version: HubspotVersion) -> bool {
        self.signature_versions.contains(&version)
    }

    /// The accepted versions, for messages: `v2, v3`.
    pub fn accepted_list(&self) -> String {
        let names: Vec<&str> = self.signature_versions.iter().map(|v| v.name()).collect();
        names.join(", ")
    }

    /// At least one version must be accepted.
    pub fn validate(&self) -> Result<(), String> {
        if self.signature_versions.is_empty() {
            return Err("`signature_versions` must name at least one of v1, v2, v3".to_owned());
        }
        Ok(())
    }
}

/// HMAC hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl HmacAlgorithm {
    /// MAC length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HmacAlgorithm::Sha1 => 20,
            HmacAlgorithm::Sha256 => 32,
            HmacAlgorithm::Sha512 => 64,
        }
    }
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Hex digits, either case.
    Hex,
    /// Standard base64 alphabet with padding.
    Base64,
}

/// Generic HMAC scheme, configured per connection.
///
/// Example (YAML): `{scheme: generic, header: X-Signature, algorithm: sha256, encoding: hex,
/// prefix: "sha256=", template: "{timestamp}.{body}", timestamp_header: X-Timestamp}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericHmac {
    /// Name of the header carrying the signature. Repeated headers are each tried.
    pub header: String,

    /// HMAC hash function: `sha1`, `sha256` or `sha512`.
    #[serde(default = "default_algorithm")]
    pub algorithm: HmacAlgorithm,

    /// How the signature is encoded: `hex` or `base64`.
    #[serde(default = "default_encoding")]
    pub encoding: SignatureEncoding,

    /// Text in front of the encoded signature (e.g. `sha256=`). When set it must be present
    /// and is stripped before decoding. Whitespace around it is not significant: header
    /// values arrive trimmed, and `sha256= 7f..` is accepted as `sha256=7f..`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,

    /// The signed content. Placeholders: `{body}` (raw bytes), `{timestamp}` (the timestamp
    /// header's value as received), `{method}`, `{url}`, `{header:Name}`; `{{` and `}}` are
    /// literal braces. Any other placeholder is a configuration error.
    #[serde(default = "default_template")]
    pub template: String,

    /// Header carrying the signed unix timestamp (seconds). Required exactly when the
    /// template uses `{timestamp}`; the verify tolerance then applies in both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,

    /// Header carrying the event id, for de-duplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id_header: Option<String>,

    /// JSON pointer (RFC 6901) to the event id in the body, e.g. `/id`; used when
    /// `event_id_header` is unset or absent from the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id_pointer: Option<String>,

    /// JSON pointer to the event type in the body, e.g. `/type`. Without it the type is
    /// `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_pointer: Option<String>,
}

fn default_algorithm() -> HmacAlgorithm {
    HmacAlgorithm::Sha256
}

fn default_encoding() -> SignatureEncoding {
    SignatureEncoding::Hex
}

fn default_template() -> String {
    "{body}".to_owned()
}

impl GenericHmac {
    /// A config signing the body alone with HMAC-SHA256, hex, read from `header`.
    pub fn new(header: impl Into<String>) -> Self {
        Self {
            header: header.into(),
            algorithm: default_algorithm(),
            encoding: default_encoding(),
            prefix: None,
            template: default_template(),
            timestamp_header: None,
            event_id_header: None,
            event_id_pointer: None,
            event_type_pointer: None,
        }
    }

    /// Checks the template's placeholders, that `timestamp_header` is set exactly when the
    /// template uses `{timestamp}`, that header names are non-empty and that JSON pointers
    /// start with `/`. The message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if self.header.trim().is_empty() {
            return Err("`header` must name the signature header".to_owned());
        }
        let template = Template::parse(&self.template).map_err(|e| format!("`template`: {e}"))?;
        let uses_timestamp = template.uses(&Placeholder::Timestamp);
        match (&self.timestamp_header, uses_timestamp) {
            (Some(header), true) if header.trim().is_empty() => {
                return Err("`timestamp_header` must not be empty".to_owned())
            }
            (None, true) => return Err("`template` uses {timestamp}, so `timestamp_header` is required".to_owned()),
            (Some(_), false) => {
                return Err("`timestamp_header` is set but `template` does not use {timestamp}, \
                     so the timestamp would not be signed"
                    .to_owned())
            }
            _ => {}
        }
        if matches!(&self.prefix, Some(prefix) if prefix.trim().is_empty()) {
            return Err("`prefix` must not be empty or only whitespace when set".to_owned());
        }
        if matches!(&self.event_id_header, Some(header) if header.trim().is_empty()) {
            return Err("`event_id_header` must not be empty when set".to_owned());
        }
        for (field, pointer) in [
            ("event_id_pointer", &self.event_id_pointer),
            ("event_type_pointer", &self.event_type_pointer),
        ] {
            if let Some(pointer) = pointer {
                if !pointer.starts_with('/') {
                    return Err(format!("`{field}` must be a JSON pointer starting with `/`"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_name() {
        for name in Scheme::NAMES.iter().filter(|n| **n != "generic") {
            assert_eq!(Scheme::from_name(name).unwrap().name(), *name);
        }
    }

    #[test]
    fn from_name_is_case_insensitive_and_knows_aliases() {
        assert_eq!(Scheme::from_name("Stripe"), Ok(Scheme::Stripe));
        assert_eq!(Scheme::from_name("SVIX"), Ok(Scheme::StandardWebhooks));
        assert_eq!(Scheme::from_name("QuickBooks"), Ok(Scheme::Intuit));
        assert_eq!("github".parse::<Scheme>(), Ok(Scheme::Github));
    }

    #[test]
    fn from_name_refuses_generic_and_says_why() {
        let error = Scheme::from_name("generic").unwrap_err();
        assert_eq!(error, UnknownScheme::NeedsConfig);
        assert!(error.to_string().contains("needs a configuration"));
        let error = Scheme::from_name("stripey").unwrap_err();
        assert!(error.to_string().contains("`stripey`"));
    }

    #[test]
    fn serde_shape_is_internally_tagged_kebab_case() {
        assert_eq!(
            serde_json::to_value(Scheme::StandardWebhooks).unwrap(),
            serde_json::json!({"scheme": "standard-webhooks"})
        );
        let generic: Scheme = serde_json::from_value(serde_json::json!({
            "scheme": "generic",
            "header": "X-Signature",
            "algorithm": "sha512",
            "encoding": "base64",
        }))
        .unwrap();
        let Scheme::Generic(config) = &generic else {
            panic!("expected generic, got {generic:?}")
        };
        assert_eq!(config.algorithm, HmacAlgorithm::Sha512);
        assert_eq!(config.encoding, SignatureEncoding::Base64);
        assert_eq!(config.template, "{body}");
        let again: Scheme = serde_json::from_value(serde_json::to_value(&generic).unwrap()).unwrap();
        assert_eq!(again, generic);
    }

    #[test]
    fn hubspot_accepts_only_v3_unless_versions_are_configured() {
        let stored: Scheme = serde_json::from_value(serde_json::json!({"scheme": "hubspot"})).unwrap();
        assert_eq!(stored, Scheme::Hubspot(HubspotConfig::default()));
        assert_eq!(Scheme::from_name("hubspot"), Ok(stored.clone()));
        let Scheme::Hubspot(config) = &stored else {
            unreachable!()
        };
        assert!(config.accepts(HubspotVersion::V3));
        assert!(!config.accepts(HubspotVersion::V2) && !config.accepts(HubspotVersion::V1));
        // The default is not written out, so existing items keep their shape.
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            serde_json::json!({"scheme": "hubspot"})
        );

        let legacy: Scheme = serde_json::from_value(serde_json::json!({
            "scheme": "hubspot",
            "signature_versions": ["v3", "v2"],
        }))
        .unwrap();
        assert_eq!(
            legacy,
            Scheme::Hubspot(HubspotConfig::accepting([HubspotVersion::V2, HubspotVersion::V3]))
        );
        let again: Scheme = serde_json::from_value(serde_json::to_value(&legacy).unwrap()).unwrap();
        assert_eq!(again, legacy);
    }

    #[test]
    fn hubspot_config_refuses_unknown_versions_fields_and_an_empty_list() {
        let error = serde_json::from_value::<Scheme>(serde_json::json!({
            "scheme": "hubspot",
            "signature_versions": ["v4"],
        }))
        .unwrap_err();
        assert!(error.to_string().contains("v4"), "{error}");
        let error = serde_json::from_value::<Scheme>(serde_json::json!({
            "scheme": "hubspot",
            "signature_version": ["v1"],
        }))
        .unwrap_err();
        assert!(error.to_string().contains("signature_version"), "{error}");
        let empty = Scheme::Hubspot(HubspotConfig::accepting([]));
        assert!(empty.validate().unwrap_err().contains("signature_versions"));
        assert_eq!("V2".parse::<HubspotVersion>(), Ok(HubspotVersion::V2));
        assert!("v9".parse::<HubspotVersion>().is_err());
    }

    #[test]
    fn generic_config_rejects_unknown_fields() {
        let error = serde_json::from_value::<Scheme>(serde_json::json!({
            "scheme": "generic",
            "header": "X-Signature",
            "algoritm": "sha1",
        }))
        .unwrap_err();
        assert!(error.to_string().contains("algoritm"), "{error}");
    }

    #[test]
    fn generic_config_defaults_are_body_sha256_hex() {
        let config = GenericHmac::new("X-Sig");
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.algorithm, HmacAlgorithm::Sha256);
        assert_eq!(config.encoding, SignatureEncoding::Hex);
    }

    #[test]
    fn generic_validate_rejects_unknown_placeholders() {
        let config = GenericHmac {
            template: "{body}.{nonce}".into(),
            ..GenericHmac::new("X-Sig")
        };
        assert!(config.validate().unwrap_err().contains("nonce"));
    }

    #[test]
    fn generic_validate_requires_timestamp_header_iff_template_uses_timestamp() {
        let uses = GenericHmac {
            template: "{timestamp}.{body}".into(),
            ..GenericHmac::new("X-Sig")
        };
        assert!(uses.validate().unwrap_err().contains("timestamp_header"));
        let unused = GenericHmac {
            timestamp_header: Some("X-Ts".into()),
            ..GenericHmac::new("X-Sig")
        };
        assert!(unused.validate().unwrap_err().contains("not be signed"));
        let both = GenericHmac {
            timestamp_header: Some("X-Ts".into()),
            ..uses
        };
        assert_eq!(both.validate(), Ok(()));
    }

    #[test]
    fn generic_validate_rejects_empty_header_and_bad_pointers() {
        assert!(GenericHmac::new(" ").validate().is_err());
        let config = GenericHmac {
            event_id_pointer: Some("id".into()),
            ..GenericHmac::new("X-Sig")
        };
        assert!(config.validate().unwrap_err().contains("event_id_pointer"));
        assert_eq!(Scheme::Generic(config).validate().map_err(|_| ()), Err(()));
        assert_eq!(Scheme::Stripe.validate(), Ok(()));
    }
}
