//! Event identity: the id and type of each event in a (verified) webhook body, batch
//! splitting, and Slack's URL-verification challenge.
//!
//! Call [`extract`] only after [`super::verify`] succeeded: a challenge echoes body content.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::crypto::sha256_hex;
use super::form;
use super::json_scan;
use super::request::WebhookRequest;
use super::scheme::Scheme;
use super::standard;

/// Longest accepted event id, in bytes.
pub const MAX_EVENT_ID_LEN: usize = 256;
/// Longest accepted event type, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 256;
/// Most events accepted in one batched delivery (HubSpot, Xero, Intuit CloudEvents).
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Longest Slack challenge echoed back, in bytes.
const MAX_CHALLENGE_LEN: usize = 1024;

/// One event of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent<'a> {
    /// Stable id for de-duplication: the provider's id, or a SHA-256 (hex) of the event's
    /// bytes where the provider sends none. Non-empty, at most [`MAX_EVENT_ID_LEN`] bytes.
    pub event_id: String,
    /// The provider's event type (`invoice.paid`, `contact.creation`, ...), or `unknown`.
    pub event_type: String,
    /// This event's own bytes: the whole body, or one element of a batch, as received.
    pub raw: Cow<'a, [u8]>,
}

/// What a verified delivery contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted<'a> {
    /// Answer the request with this body and content type instead of enqueuing anything
    /// (Slack `url_verification`, Slack `ssl_check`).
    Challenge { body: String, content_type: &'static str },
    /// Zero or more events (zero for an empty batch or a Xero intent-to-receive probe).
    Events(Vec<InboundEvent<'a>>),
}

/// Why the events could not be extracted. Messages never quote the body.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExtractError {
    /// The body (or an embedded JSON payload) is not the JSON the provider sends.
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// A field or header the provider always sends is absent.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field is present but has the wrong type or shape.
    #[error("field `{field}` is invalid: {reason}")]
    InvalidField { field: String, reason: String },
    /// A batch has more events than [`MAX_BATCH_EVENTS`].
    #[error("batch has {count} events, more than the {max} allowed")]
    TooManyEvents { count: usize, max: usize },
    /// The event id is empty or longer than [`MAX_EVENT_ID_LEN`].
    #[error("event id is invalid: {reason}")]
    InvalidEventId { reason: String },
}

impl ExtractError {
    /// A stable snake_case identifier for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::InvalidJson(_) => "invalid_json",
            ExtractError::MissingField(_) => "missing_field",
            ExtractError::InvalidField { .. } => "invalid_field",
            ExtractError::TooManyEvents { .. } => "too_many_events",
            ExtractError::InvalidEventId { .. } => "invalid_event_id",
        }
    }
}

/// Splits a verified delivery into events (or a challenge to answer).
///
/// A scheme whose deliveries are JSON has the whole body checked first ([`check_json`]): a
/// signed body that is not well-formed UTF-8 JSON, or nests deeper than serde_json's limit
/// (128), is refused here, so it is never stored to fail later.
pub fn extract<'a>(scheme: &Scheme, req: &WebhookRequest<'a>) -> Result<Extracted<'a>, ExtractError> {
    if let Some(json) = json_document(scheme, req) {
        check_json(json.as_ref())?;
    }
    let events = match scheme {
        Scheme::Stripe => stripe(req.body)?,
        Scheme::StandardWebhooks => standard_webhooks(req)?,
        Scheme::Github => github(req)?,
        Scheme::Slack => return slack(req.body),
        Scheme::Shopify => shopify(req)?,
        Scheme::Hubspot(_) => hubspot(req.body)?,
        Scheme::Intuit => intuit(req.body)?,
        Scheme::Xero => xero(req.body)?,
        Scheme::Calendly => calendly(req.body)?,
        Scheme::Twilio => twilio(req)?,
        Scheme::Woocommerce => super::woocommerce::extract(req)?,
        Scheme::Linear => super::linear::extract(req)?,
        Scheme::Zendesk => super::zendesk::extract(req)?,
        Scheme::Asana => super::asana::extract(req)?,
        Scheme::Dropbox => super::dropbox::extract(req)?,
        Scheme::MicrosoftGraph => super::graph::extract(req)?,
        Scheme::Mailchimp => super::mailchimp::extract(req)?,
        Scheme::Paypal => super::paypal::extract(req)?,
        Scheme::BasicAuth(config) => by_pointers(
            None,
            config.event_id_pointer.as_deref(),
            config.event_type_pointer.as_deref(),
            req,
        )?,
        Scheme::Generic(config) => by_pointers(
            config.event_id_header.as_deref(),
            config.event_id_pointer.as_deref(),
            config.event_type_pointer.as_deref(),
            req,
        )?,
    };
    Ok(Extracted::Events(events))
}

// ---------------------------------------------------------------------------------------------
// Whole-body JSON check

/// The JSON document to check before extracting, for the schemes that send JSON: the body
/// itself, or a GitHub form delivery's `payload` parameter. `None` for bodies that are not JSON
/// (Twilio forms, Slack slash commands, a Shopify XML subscription, a generic scheme's opaque
/// bytes), and for the JSON schemes whose extractor checks the whole body in the pass that
/// reads its fields ([`top_fields`]: Stripe, Standard Webhooks). Slack and a generic scheme's
/// pointers parse what they read in full already.
fn json_document<'a>(scheme: &Scheme, req: &WebhookRequest<'a>) -> Option<Cow<'a, [u8]>> {
    let content_type = || {
        req.headers
            .get("Content-Type")
            .map(|value| value.trim().to_ascii_lowercase())
            .unwrap_or_default()
    };
    match scheme {
        Scheme::Stripe | Scheme::StandardWebhooks => None,
        Scheme::Hubspot(_)
        | Scheme::Intuit
        | Scheme::Xero
        | Scheme::Calendly
        | Scheme::Woocommerce
        | Scheme::Linear
        | Scheme::Zendesk
        | Scheme::Asana
        | Scheme::Dropbox
        | Scheme::MicrosoftGraph
        | Scheme::Paypal => Some(Cow::Borrowed(req.body)),
        Scheme::Github if content_type().starts_with("application/x-www-form-urlencoded") => Some(Cow::Owned(
            form::first_value(req.body, "payload").unwrap_or_default().into_bytes(),
        )),
        Scheme::Github => Some(Cow::Borrowed(req.body)),
        Scheme::Shopify if content_type().contains("xml") => None,
        Scheme::Shopify => Some(Cow::Borrowed(req.body)),
        Scheme::Slack | Scheme::Twilio | Scheme::Mailchimp | Scheme::Generic(_) | Scheme::BasicAuth(_) => None,
    }
}

/// Reads a whole JSON document without building it: every string, keys included, must be
/// UTF-8, every number in range, nothing may follow the value, and nesting is bounded by
/// serde_json's recursion limit (128 levels), which fails cleanly instead of exhausting the
/// stack. Nothing is allocated beyond serde_json's scratch buffer for escaped strings.
///
/// UTF-8 is checked once over the whole body (std's check runs at memory speed over ASCII), so
/// that serde_json reads a `&str` and does not check each string again.
///
/// Most documents are read by [`json_scan::well_formed`], which answers only when certain;
/// serde_json decides the rest and words every error.
pub(crate) fn check_json(bytes: &[u8]) -> Result<(), ExtractError> {
    let text = utf8(bytes)?;
    if json_scan::well_formed(text) {
        debug_assert!(
            check_json_serde(text).is_ok(),
            "json_scan accepted what serde_json refuses"
        );
        return Ok(());
    }
    check_json_serde(text)
}

/// [`check_json`] by serde_json alone.
pub(crate) fn check_json_serde(text: &str) -> Result<(), ExtractError> {
    serde_json::from_str::<WellFormed>(text)
        .map(|_| ())
        .map_err(|e| json_error(&e))
}

fn utf8(bytes: &[u8]) -> Result<&str, ExtractError> {
    std::str::from_utf8(bytes)
        .map_err(|e| ExtractError::InvalidJson(format!("invalid UTF-8 at byte {}", e.valid_up_to())))
}

/// Checks a whole JSON document as [`check_json`] does and, in the same pass, returns the raw
/// values of the named top-level fields when the document is an object (all `None` for any
/// other document). One pass instead of a check and a read: on the receiver's hot path the
/// body is the largest thing it touches. Most documents are read by [`json_scan::top_fields`],
/// which answers only when certain; serde_json decides the rest and words every error.
pub(crate) fn top_fields<'a, const N: usize>(
    bytes: &'a [u8],
    names: [&'static str; N],
) -> Result<TopFields<'a, N>, ExtractError> {
    let text = utf8(bytes)?;
    if let Some(found) = json_scan::top_fields(text, names) {
        debug_assert_eq!(
            top_fields_serde(text, names).as_ref(),
            Ok(&found),
            "json_scan and serde_json read the document differently"
        );
        return Ok(found);
    }
    top_fields_serde(text, names)
}

/// [`top_fields`] by serde_json alone.
pub(crate) fn top_fields_serde<'a, const N: usize>(
    text: &'a str,
    names: [&'static str; N],
) -> Result<TopFields<'a, N>, ExtractError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_any(&mut de, TopFieldsVisitor { names })
        .and_then(|found| de.end().map(|()| found))
        .map_err(|e| json_error(&e))
}

/// What [`top_fields`] found: whether the document is an object, and each named field.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TopFields<'a, const N: usize> {
    pub(crate) is_object: bool,
    pub(crate) values: [Field<'a>; N],
}

/// A named top-level field. Its value is read by the same deserializer as the rest of the
/// document, so it is held to the same checks (depth included) at its true depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    Absent,
    Null,
    Str(Cow<'a, str>),
    /// A number, boolean, array or object.
    Other,
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> serde::de::Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(text.to_owned())))
    }

    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Field<'de>, A::Error> {
        WellFormedVisitor.visit_seq(seq).map(|_| Field::Other)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Field<'de>, A::Error> {
        WellFormedVisitor.visit_map(map).map(|_| Field::Other)
    }
}

struct TopFieldsVisitor<const N: usize> {
    names: [&'static str; N],
}

impl<'de, const N: usize> serde::de::Visitor<'de> for TopFieldsVisitor<N> {
    type Value = TopFields<'de, N>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<WellFormed>()?.is_some() {}
        Ok(self.not_an_object())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = std::array::from_fn(|_| Field::Absent);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.names.iter().position(|name| *name == key) {
                // A repeated key: the last one wins, as in serde_json's own maps.
                Some(i) => values[i] = map.next_value::<Field<'de>>()?,
                None => {
                    map.next_value::<WellFormed>()?;
                }
            }
        }
        Ok(TopFields {
            is_object: true,
            values,
        })
    }
}

impl<const N: usize> TopFieldsVisitor<N> {
    fn not_an_object<'a>(&self) -> TopFields<'a, N> {
        TopFields {
            is_object: false,
            values: std::array::from_fn(|_| Field::Absent),
        }
    }
}

/// Any JSON value, visited in full and then dropped (unlike `IgnoredAny`, which serde_json
/// skips without checking strings or depth).
struct WellFormed;

impl<'de> Deserialize<'de> for WellFormed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WellFormedVisitor)
    }
}

struct WellFormedVisitor;

impl<'de> serde::de::Visitor<'de> for WellFormedVisitor {
    type Value = WellFormed;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }

    fn visit_i64<E>(self, _: i64) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }

    fn visit_u64<E>(self, _: u64) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }

    fn visit_f64<E>(self, _: f64) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }

    fn visit_str<E>(self, _: &str) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }

    fn visit_unit<E>(self) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<WellFormed, A::Error> {
        while seq.next_element::<WellFormed>()?.is_some() {}
        Ok(WellFormed)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<WellFormed, A::Error> {
        while map.next_entry::<WellFormed, WellFormed>()?.is_some() {}
        Ok(WellFormed)
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks

pub(super) fn json_error(error: &serde_json::Error) -> ExtractError {
    // `Display` for data errors can quote body content; report only the category and position.
    let category = match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    ExtractError::InvalidJson(format!("{category} at line {} column {}", error.line(), error.column()))
}

pub(super) fn parse_json(bytes: &[u8]) -> Result<Value, ExtractError> {
    crate::json::from_bytes(bytes).map_err(|e| json_error(&e))
}

pub(super) fn invalid(field: &str, reason: &str) -> ExtractError {
    ExtractError::InvalidField {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A string field; absent or `null` is missing, another type is invalid.
pub(super) fn str_field<'v>(value: &'v Value, field: &str) -> Result<&'v str, ExtractError> {
    match value.get(field) {
        None | Some(Value::Null) => Err(ExtractError::MissingField(field.to_owned())),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(invalid(field, "expected a string")),
    }
}

/// An id field: a string, or an integer rendered in decimal.
pub(super) fn id_value(value: Option<&Value>, field: &str) -> Result<String, ExtractError> {
    match value {
        None | Some(Value::Null) => Err(ExtractError::MissingField(field.to_owned())),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => Ok(number.to_string()),
        Some(_) => Err(invalid(field, "expected a string or an integer")),
    }
}

pub(super) fn event<'a>(
    event_id: String,
    event_type: String,
    raw: Cow<'a, [u8]>,
) -> Result<InboundEvent<'a>, ExtractError> {
    if event_id.is_empty() {
        return Err(ExtractError::InvalidEventId {
            reason: "empty".to_owned(),
        });
    }
    if event_id.len() > MAX_EVENT_ID_LEN {
        return Err(ExtractError::InvalidEventId {
            reason: format!("{} bytes, longer than {MAX_EVENT_ID_LEN}", event_id.len()),
        });
    }
    if event_type.is_empty() || event_type.len() > MAX_EVENT_TYPE_LEN {
        return Err(invalid(
            "event type",
            &format!("must be 1 to {MAX_EVENT_TYPE_LEN} bytes"),
        ));
    }
    Ok(InboundEvent {
        event_id,
        event_type,
        raw,
    })
}

fn whole_body<'a>(event_id: String, event_type: String, body: &'a [u8]) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    Ok(vec![event(event_id, event_type, Cow::Borrowed(body))?])
}

/// Splits a JSON array into its elements' raw bytes, enforcing [`MAX_BATCH_EVENTS`].
pub(super) fn split_array(elements: Vec<&RawValue>) -> Result<Vec<&RawValue>, ExtractError> {
    if elements.len() > MAX_BATCH_EVENTS {
        return Err(ExtractError::TooManyEvents {
            count: elements.len(),
            max: MAX_BATCH_EVENTS,
        });
    }
    Ok(elements)
}

fn parse_array(body: &[u8]) -> Result<Vec<&RawValue>, ExtractError> {
    split_array(crate::json::from_bytes(body).map_err(|e| json_error(&e))?)
}

pub(super) fn header<'r>(req: &WebhookRequest<'r>, names: &[&str]) -> Option<&'r str> {
    names.iter().find_map(|name| req.headers.get(name))
}

pub(super) fn required_header(req: &WebhookRequest<'_>, names: &[&str]) -> Result<String, ExtractError> {
    header(req, names)
        .map(str::to_owned)
        .ok_or_else(|| ExtractError::MissingField(names[0].to_owned()))
}

pub(super) fn first_non_space(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

// ---------------------------------------------------------------------------------------------
// Providers

/// A string field; absent or `null` is missing, another type is invalid.
fn field_str(value: Field<'_>, field: &str) -> Result<String, ExtractError> {
    match value {
        Field::Absent | Field::Null => Err(ExtractError::MissingField(field.to_owned())),
        Field::Str(text) => Ok(text.into_owned()),
        Field::Other => Err(invalid(field, "expected a string")),
    }
}

fn stripe(body: &[u8]) -> Result<Vec<InboundEvent<'_>>, ExtractError> {
    let top = top_fields(body, ["id", "type"])?;
    if !top.is_object {
        return Err(invalid("body", "expected a JSON object"));
    }
    let [id, event_type] = top.values;
    whole_body(field_str(id, "id")?, field_str(event_type, "type")?, body)
}

fn standard_webhooks<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let (_, id) = standard::first_present(req.headers, standard::ID_HEADERS)
        .ok_or_else(|| ExtractError::MissingField("webhook-id".to_owned()))?;
    let [event_type] = top_fields(req.body, ["type"])?.values;
    // The type is optional here: a delivery without a string `type` is still an event.
    let event_type = match event_type {
        Field::Str(text) if !text.is_empty() => text.into_owned(),
        _ => "unknown".to_owned(),
    };
    whole_body(id.to_owned(), event_type, req.body)
}

fn github<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    whole_body(
        required_header(req, &["X-GitHub-Delivery"])?,
        required_header(req, &["X-GitHub-Event"])?,
        req.body,
    )
}

fn shopify<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    whole_body(
        required_header(
            req,
            &[
                "X-Shopify-Webhook-Id",
                "X-Shopify-Event-Id",
                "shopify-webhook-id",
                "shopify-event-id",
            ],
        )?,
        required_header(req, &["X-Shopify-Topic", "shopify-topic"])?,
        req.body,
    )
}

fn slack(body: &[u8]) -> Result<Extracted<'_>, ExtractError> {
    if first_non_space(body) == Some(b'{') {
        slack_json(body)
    } else {
        slack_form(body)
    }
}

fn slack_json(body: &[u8]) -> Result<Extracted<'_>, ExtractError> {
    let value = parse_json(body)?;
    let top_type = value.get("type").and_then(Value::as_str);
    if top_type == Some("url_verification") {
        let challenge = str_field(&value, "challenge")?;
        if challenge.is_empty() || challenge.len() > MAX_CHALLENGE_LEN || challenge.chars().any(char::is_control) {
            return Err(invalid(
                "challenge",
                &format!("must be 1 to {MAX_CHALLENGE_LEN} bytes without control characters"),
            ));
        }
        return Ok(Extracted::Challenge {
            body: challenge.to_owned(),
            content_type: "text/plain",
        });
    }
    let event_type = match value.pointer("/event/type") {
        Some(Value::String(inner)) => inner.clone(),
        Some(_) => return Err(invalid("event.type", "expected a string")),
        None => str_field(&value, "type")?.to_owned(),
    };
    let event_id = match value.get("event_id") {
        Some(_) => id_value(value.get("event_id"), "event_id")?,
        // Every event_callback carries an event_id; other envelopes (app_rate_limited) do not.
        None if top_type == Some("event_callback") => return Err(ExtractError::MissingField("event_id".to_owned())),
        None => sha256_hex(body),
    };
    Ok(Extracted::Events(whole_body(event_id, event_type, body)?))
}

fn slack_form(body: &[u8]) -> Result<Extracted<'_>, ExtractError> {
    if form::first_value(body, "ssl_check").as_deref() == Some("1") {
        // Slack's certificate probe for slash commands: answer 200, enqueue nothing.
        return Ok(Extracted::Challenge {
            body: String::new(),
            content_type: "text/plain",
        });
    }
    let (trigger_id, event_type) = match form::first_value(body, "payload") {
        // Interactivity: `payload=<JSON>`.
        Some(payload) => {
            let value = parse_json(payload.as_bytes())?;
            let trigger_id = value.get("trigger_id").and_then(Value::as_str).map(str::to_owned);
            let event_type = match value.get("type") {
                Some(Value::String(t)) => t.clone(),
                _ => "interactive".to_owned(),
            };
            (trigger_id, event_type)
        }
        None => {
            let event_type = if form::first_value(body, "command").is_some() {
                "slash_command"
            } else {
                "form"
            };
            (form::first_value(body, "trigger_id"), event_type.to_owned())
        }
    };
    let event_id = trigger_id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| sha256_hex(body));
    Ok(Extracted::Events(whole_body(event_id, event_type, body)?))
}

fn hubspot(body: &[u8]) -> Result<Vec<InboundEvent<'_>>, ExtractError> {
    parse_array(body)?
        .into_iter()
        .map(|element| {
            let value: Value = serde_json::from_str(element.get()).map_err(|e| json_error(&e))?;
            let event_id = id_value(value.get("eventId"), "eventId")?;
            let event_type = str_field(&value, "subscriptionType")?.to_owned();
            event(event_id, event_type, Cow::Borrowed(element.get().as_bytes()))
        })
        .collect()
}

fn xero(body: &[u8]) -> Result<Vec<InboundEvent<'_>>, ExtractError> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        events: Option<Vec<&'a RawValue>>,
    }
    let envelope: Envelope<'_> = crate::json::from_bytes(body).map_err(|e| json_error(&e))?;
    let elements = split_array(
        envelope
            .events
            .ok_or_else(|| ExtractError::MissingField("events".to_owned()))?,
    )?;
    elements
        .into_iter()
        .map(|element| {
            let value: Value = serde_json::from_str(element.get()).map_err(|e| json_error(&e))?;
            let event_type = format!(
                "{}.{}",
                str_field(&value, "eventCategory")?,
                str_field(&value, "eventType")?
            );
            let raw = element.get().as_bytes();
            event(sha256_hex(raw), event_type, Cow::Borrowed(raw))
        })
        .collect()
}

fn intuit(body: &[u8]) -> Result<Vec<InboundEvent<'_>>, ExtractError> {
    if first_non_space(body) == Some(b'[') {
        // CloudEvents batch.
        return parse_array(body)?
            .into_iter()
            .map(|element| {
                let value: Value = serde_json::from_str(element.get()).map_err(|e| json_error(&e))?;
                cloud_event(&value, Cow::Borrowed(element.get().as_bytes()))
            })
            .collect();
    }
    let value = parse_json(body)?;
    if value.get("eventNotifications").is_some() {
        // Legacy format: one delivery, no id.
        return whole_body(sha256_hex(body), "dataChangeEvent".to_owned(), body);
    }
    if value.get("specversion").is_some() {
        return Ok(vec![cloud_event(&value, Cow::Borrowed(body))?]);
    }
    Err(ExtractError::MissingField("eventNotifications".to_owned()))
}

fn cloud_event<'a>(value: &Value, raw: Cow<'a, [u8]>) -> Result<InboundEvent<'a>, ExtractError> {
    event(
        id_value(value.get("id"), "id")?,
        str_field(value, "type")?.to_owned(),
        raw,
    )
}

fn calendly(body: &[u8]) -> Result<Vec<InboundEvent<'_>>, ExtractError> {
    let value = parse_json(body)?;
    whole_body(sha256_hex(body), str_field(&value, "event")?.to_owned(), body)
}

fn twilio<'a>(req: &WebhookRequest<'a>) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let event_id = header(req, &["I-Twilio-Idempotency-Token"])
        .map(str::to_owned)
        .unwrap_or_else(|| sha256_hex(req.body));
    let event_type = ["SmsStatus", "CallStatus"]
        .iter()
        .find_map(|name| form::first_value(req.body, name).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "twilio".to_owned());
    whole_body(event_id, event_type, req.body)
}

fn pointer_value(value: &Value, pointer: &str) -> Result<Option<String>, ExtractError> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(invalid(pointer, "expected a string or a number")),
    }
}

/// One event per delivery, its id from a header or a JSON pointer (else the body's SHA-256)
/// and its type from a JSON pointer (else `unknown`): the generic HMAC and basic-auth schemes.
fn by_pointers<'a>(
    event_id_header: Option<&str>,
    event_id_pointer: Option<&str>,
    event_type_pointer: Option<&str>,
    req: &WebhookRequest<'a>,
) -> Result<Vec<InboundEvent<'a>>, ExtractError> {
    let needs_json = event_type_pointer.is_some()
        || (event_id_pointer.is_some() && event_id_header.is_none_or(|name| !req.headers.contains(name)));
    let json = if needs_json { Some(parse_json(req.body)?) } else { None };

    let from_header = event_id_header
        .and_then(|name| req.headers.get(name))
        .map(str::to_owned);
    let event_id = match (from_header, event_id_pointer, &json) {
        (Some(id), _, _) => id,
        (None, Some(pointer), Some(json)) => {
            pointer_value(json, pointer)?.ok_or_else(|| ExtractError::MissingField(pointer.to_owned()))?
        }
        (None, _, _) => match event_id_header {
            Some(name) => return Err(ExtractError::MissingField(name.to_owned())),
            None => sha256_hex(req.body),
        },
    };
    let event_type = match (event_type_pointer, &json) {
        (Some(pointer), Some(json)) => {
            pointer_value(json, pointer)?.ok_or_else(|| ExtractError::MissingField(pointer.to_owned()))?
        }
        _ => "unknown".to_owned(),
    };
    whole_body(event_id, event_type, req.body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stripe_event_must_be_an_object_with_string_id_and_type() {
        let headers = Headers::new();
        let run = |body: &'static [u8]| {
            extract(
                &Scheme::Stripe,
                &WebhookRequest {
                    method: "POST",
                    url: "",
                    headers: &headers,
                    body,
                },
            )
        };
        assert!(matches!(
            run(br#"["evt_1","customer.created"]"#),
            Err(ExtractError::InvalidField { .. })
        ));
        assert!(matches!(
            run(br#"{"id":5,"type":"t"}"#),
            Err(ExtractError::InvalidField { .. })
        ));
        assert!(matches!(run(br#"{"type":"t"}"#), Err(ExtractError::MissingField(_))));
        assert!(
            matches!(run(br#"{"id":"evt_\u0031","type":"t","x":[1,{"y":null}]}"#), Ok(Extracted::Events(ref e)) if e[0].event_id == "evt_1")
        );
        assert!(matches!(
            run(br#"{"id":"evt_1","type":"t""#),
            Err(ExtractError::InvalidJson(_))
        ));
    }

    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::scheme::{BasicAuthConfig, GenericHmac};

    #[test]
    fn basic_auth_events_take_id_and_type_from_the_configured_pointers() {
        let scheme = Scheme::BasicAuth(BasicAuthConfig {
            event_id_pointer: Some("/meta/id".into()),
            event_type_pointer: Some("/meta/entity".into()),
        });
        let body =
            br#"{"meta":{"id":"8f3b","entity":"person","entity_id":"12","change_source":"app"},"data":{"id":12}}"#;
        assert_eq!(one(&scheme, &Headers::new(), body), pair("8f3b", "person"));
        assert!(matches!(
            run(&scheme, &Headers::new(), br#"{"meta":{"entity":"person"}}"#),
            Err(ExtractError::MissingField(field)) if field == "/meta/id"
        ));
        // Without pointers: the body's digest and `unknown`.
        assert_eq!(
            one(&Scheme::BasicAuth(BasicAuthConfig::default()), &Headers::new(), body),
            pair(&hash(body), "unknown")
        );
    }

    fn run<'a>(scheme: &Scheme, headers: &'a Headers, body: &'a [u8]) -> Result<Extracted<'a>, ExtractError> {
        let req = WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/in",
            headers,
            body,
        };
        extract(scheme, &req)
    }

    fn events<'a>(scheme: &Scheme, headers: &'a Headers, body: &'a [u8]) -> Vec<InboundEvent<'a>> {
        match run(scheme, headers, body) {
            Ok(Extracted::Events(events)) => events,
            other => panic!("expected events, got {other:?}"),
        }
    }

    fn one<'a>(scheme: &Scheme, headers: &'a Headers, body: &'a [u8]) -> (String, String) {
        let events = events(scheme, headers, body);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].raw, Cow::Borrowed(body));
        (events[0].event_id.clone(), events[0].event_type.clone())
    }

    fn pair(id: &str, event_type: &str) -> (String, String) {
        (id.to_owned(), event_type.to_owned())
    }

    fn hash(body: &[u8]) -> String {
        sha256_hex(body)
    }

    #[test]
    fn stripe_event_id_and_type_come_from_the_body() {
        let body = br#"{"id":"evt_1","object":"event","type":"invoice.paid"}"#;
        assert_eq!(
            one(&Scheme::Stripe, &Headers::new(), body),
            pair("evt_1", "invoice.paid")
        );
    }

    #[test]
    fn stripe_body_without_type_is_missing_field() {
        assert_eq!(
            run(&Scheme::Stripe, &Headers::new(), br#"{"id":"evt_1"}"#),
            Err(ExtractError::MissingField("type".into()))
        );
        assert_eq!(
            run(&Scheme::Stripe, &Headers::new(), b"not json").unwrap_err().code(),
            "invalid_json"
        );
    }

    /// Bodies that a signature can cover but no later stage can read.
    fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
        let deep = |open: &str, close: &str| {
            let mut body = br#"{"id":"evt_1","type":"customer.created","data":"#.to_vec();
            body.extend(open.repeat(10_000).bytes());
            body.extend(close.repeat(10_000).bytes());
            body.push(b'}');
            body
        };
        let mut bad_utf8 = br#"{"id":"evt_1","type":"customer.created","data":{"name":""#.to_vec();
        bad_utf8.extend_from_slice(&[0xff, 0xfe, 0x80]);
        bad_utf8.extend_from_slice(br#""}}"#);
        let mut bad_utf8_key = br#"{"id":"evt_1","type":"customer.created","#.to_vec();
        bad_utf8_key.extend_from_slice(&[b'"', 0xc3, 0x28, b'"']);
        bad_utf8_key.extend_from_slice(b":1}");
        vec![
            ("invalid UTF-8 in a string", bad_utf8),
            ("invalid UTF-8 in a key", bad_utf8_key),
            ("10,000 nested arrays", deep("[", "]")),
            ("10,000 nested objects", deep(r#"{"a":"#, "}")),
            (
                "trailing garbage",
                br#"{"id":"evt_1","type":"customer.created"} x"#.to_vec(),
            ),
            (
                "lone surrogate",
                br#"{"id":"evt_1","type":"customer.created","x":"\ud800"}"#.to_vec(),
            ),
            (
                "number out of range",
                br#"{"id":"evt_1","type":"customer.created","x":1e999}"#.to_vec(),
            ),
        ]
    }

    #[test]
    fn stripe_body_is_read_in_full_not_only_id_and_type() {
        let none = Headers::new();
        for (what, body) in malformed_bodies() {
            assert_eq!(
                run(&Scheme::Stripe, &none, &body).map(|_| ()).unwrap_err().code(),
                "invalid_json",
                "{what}"
            );
        }
    }

    #[test]
    fn every_json_scheme_refuses_malformed_bodies_without_overflowing_the_stack() {
        let json_schemes = [
            Scheme::Stripe,
            Scheme::StandardWebhooks,
            Scheme::Github,
            Scheme::Shopify,
            Scheme::Hubspot(Default::default()),
            Scheme::Intuit,
            Scheme::Xero,
            Scheme::Calendly,
        ];
        let headers = Headers::from_pairs([
            ("webhook-id", "msg_1"),
            ("X-GitHub-Delivery", "d1"),
            ("X-GitHub-Event", "issues"),
            ("X-Shopify-Webhook-Id", "wh-1"),
            ("X-Shopify-Topic", "orders/create"),
        ]);
        for scheme in &json_schemes {
            for (what, body) in malformed_bodies() {
                assert!(run(scheme, &headers, &body).is_err(), "{scheme}: {what} was accepted");
            }
        }
        // A GitHub form delivery carries its JSON in `payload`.
        let form = Headers::from_pairs([
            ("X-GitHub-Delivery", "d1"),
            ("X-GitHub-Event", "issues"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]);
        assert!(run(&Scheme::Github, &form, b"payload=%7B%22a%22%3A1%7D").is_ok());
        assert_eq!(
            run(&Scheme::Github, &form, b"payload=%7B%22a%22%3A%5B%7D")
                .unwrap_err()
                .code(),
            "invalid_json"
        );
    }

    #[test]
    fn top_fields_reads_the_named_fields_in_the_checking_pass() {
        let top = top_fields(
            br#"{"a": [1, {"b": "x"}], "type": "t.1", "id": "evt_1"}"#,
            ["id", "type", "c"],
        )
        .unwrap();
        assert!(top.is_object);
        assert_eq!(
            top.values,
            [Field::Str("evt_1".into()), Field::Str("t.1".into()), Field::Absent]
        );
        // Escapes are decoded; null and other types are told apart.
        let top = top_fields(br#"{"id": "a\u0062", "type": null, "n": [1]}"#, ["id", "type", "n"]).unwrap();
        assert_eq!(top.values, [Field::Str("ab".into()), Field::Null, Field::Other]);
        // The last of a repeated key wins, as when the body is parsed later.
        let top = top_fields(br#"{"id": "a", "id": "b"}"#, ["id"]).unwrap();
        assert_eq!(top.values, [Field::Str("b".into())]);
        let top = top_fields(b"[1, 2]", ["id"]).unwrap();
        assert!(!top.is_object);
        assert_eq!(top.values, [Field::Absent]);
    }

    #[test]
    fn top_fields_is_as_strict_as_check_json_everywhere_in_the_document() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("trailing bytes", br#"{"id": "a"} x"#.to_vec()),
            (
                "invalid UTF-8 in a skipped value",
                b"{\"a\": \"\xff\", \"id\": \"a\"}".to_vec(),
            ),
            (
                "a lone surrogate in a skipped value",
                br#"{"a": "\ud800", "id": "a"}"#.to_vec(),
            ),
            (
                "too deep in a skipped value",
                format!(r#"{{"a": {deep}, "id": "a"}}"#).into_bytes(),
            ),
            (
                "too deep in a captured value",
                format!(r#"{{"id": {deep}}}"#).into_bytes(),
            ),
            ("a lone surrogate in a captured value", br#"{"id": "\ud800"}"#.to_vec()),
            ("unclosed", br#"{"id": "a""#.to_vec()),
        ];
        for (what, body) in bodies {
            assert!(check_json(&body).is_err(), "check_json accepted {what}");
            assert!(top_fields(&body, ["id"]).is_err(), "top_fields accepted {what}");
        }
        // At the depth limit exactly, in a named field and elsewhere, both agree.
        for depth in 125..=130 {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            for body in [format!(r#"{{"id": {nested}}}"#), format!(r#"{{"a": {nested}}}"#)] {
                assert_eq!(
                    check_json(body.as_bytes()).is_ok(),
                    top_fields(body.as_bytes(), ["id"]).is_ok(),
                    "depth {depth}: {body:.40}"
                );
            }
        }
    }

    #[test]
    fn check_json_accepts_what_serde_json_reads() {
        for body in [
            &br#"{"a":[1,-2,3.5e10,true,false,null,"\u00e9\n"],"b":{}}"#[..],
            b" [ ] ",
            "\"caf\u{e9}\"".as_bytes(),
            b"12",
        ] {
            assert_eq!(check_json(body), Ok(()), "{}", String::from_utf8_lossy(body));
        }
        let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(check_json(nested.as_bytes()), Ok(()));
    }

    #[test]
    fn invalid_json_errors_do_not_quote_the_body() {
        let none = Headers::new();
        let error = run(&Scheme::Stripe, &none, br#"{"id": 5, "type": "sk_live_leak"}"#);
        // id is a number: a field error naming the field only.
        assert_eq!(error.unwrap_err().code(), "invalid_field");
        let error = run(
            &Scheme::Hubspot(Default::default()),
            &Headers::new(),
            br#""sk_live_leak""#,
        )
        .unwrap_err();
        assert!(!error.to_string().contains("sk_live_leak"), "{error}");
    }

    #[test]
    fn standard_webhooks_id_from_header_and_type_from_body() {
        let headers = Headers::from_pairs([("webhook-id", "msg_1")]);
        assert_eq!(
            one(&Scheme::StandardWebhooks, &headers, br#"{"type":"user.created"}"#),
            pair("msg_1", "user.created")
        );
        let svix = Headers::from_pairs([("svix-id", "msg_2"), ("webhook-id", "msg_other")]);
        assert_eq!(
            one(&Scheme::StandardWebhooks, &svix, br#"{"data":{}}"#),
            pair("msg_2", "unknown")
        );
        assert_eq!(
            run(&Scheme::StandardWebhooks, &headers, b"not json")
                .unwrap_err()
                .code(),
            "invalid_json"
        );
        assert_eq!(
            run(&Scheme::StandardWebhooks, &Headers::new(), b"{}"),
            Err(ExtractError::MissingField("webhook-id".into()))
        );
    }

    #[test]
    fn github_event_identity_comes_from_headers() {
        let headers = Headers::from_pairs([
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("X-GitHub-Event", "issues"),
        ]);
        assert_eq!(
            one(&Scheme::Github, &headers, b"{}"),
            pair("72d3162e-cc78-11e3-81ab-4c9367dc0958", "issues")
        );
        let no_event = Headers::from_pairs([("X-GitHub-Delivery", "d")]);
        assert_eq!(
            run(&Scheme::Github, &no_event, b"{}"),
            Err(ExtractError::MissingField("X-GitHub-Event".into()))
        );
    }

    #[test]
    fn shopify_prefers_webhook_id_then_event_id() {
        let headers = Headers::from_pairs([
            ("X-Shopify-Event-Id", "ev-1"),
            ("X-Shopify-Webhook-Id", "wh-1"),
            ("X-Shopify-Topic", "orders/create"),
        ]);
        assert_eq!(one(&Scheme::Shopify, &headers, b"{}"), pair("wh-1", "orders/create"));
        let event_only = Headers::from_pairs([("X-Shopify-Event-Id", "ev-1"), ("shopify-topic", "orders/paid")]);
        assert_eq!(one(&Scheme::Shopify, &event_only, b"{}"), pair("ev-1", "orders/paid"));
        assert_eq!(
            run(
                &Scheme::Shopify,
                &Headers::from_pairs([("X-Shopify-Topic", "t")]),
                b"{}"
            ),
            Err(ExtractError::MissingField("X-Shopify-Webhook-Id".into()))
        );
    }

    #[test]
    fn slack_url_verification_is_answered_with_the_challenge() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            run(&Scheme::Slack, &Headers::new(), body),
            Ok(Extracted::Challenge {
                body: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into(),
                content_type: "text/plain"
            })
        );
    }

    #[test]
    fn slack_challenge_must_be_a_short_plain_string() {
        let long = format!(r#"{{"type":"url_verification","challenge":"{}"}}"#, "a".repeat(2000));
        assert_eq!(
            run(&Scheme::Slack, &Headers::new(), long.as_bytes())
                .unwrap_err()
                .code(),
            "invalid_field"
        );
        let control = br#"{"type":"url_verification","challenge":"a\nb"}"#;
        assert_eq!(
            run(&Scheme::Slack, &Headers::new(), control).unwrap_err().code(),
            "invalid_field"
        );
        let missing = br#"{"type":"url_verification"}"#;
        assert_eq!(
            run(&Scheme::Slack, &Headers::new(), missing),
            Err(ExtractError::MissingField("challenge".into()))
        );
    }

    #[test]
    fn slack_event_callback_uses_event_id_and_inner_type() {
        let body = br#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"hi"}}"#;
        assert_eq!(
            one(&Scheme::Slack, &Headers::new(), body),
            pair("Ev08MFMKH6", "app_mention")
        );
        let no_id = br#"{"type":"event_callback","event":{"type":"app_mention"}}"#;
        assert_eq!(
            run(&Scheme::Slack, &Headers::new(), no_id),
            Err(ExtractError::MissingField("event_id".into()))
        );
    }

    #[test]
    fn slack_envelope_without_event_id_is_identified_by_content() {
        let body = br#"{"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820}"#;
        assert_eq!(
            one(&Scheme::Slack, &Headers::new(), body),
            pair(&hash(body), "app_rate_limited")
        );
    }

    #[test]
    fn slack_slash_command_uses_trigger_id() {
        let body = b"token=x&command=%2Fwebhook-collect&text=&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            one(&Scheme::Slack, &Headers::new(), body),
            pair(
                "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
                "slash_command"
            )
        );
    }

    #[test]
    fn slack_interactivity_payload_uses_its_trigger_id_and_type() {
        let body = b"payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%2212466734323.1395872398%22%7D";
        assert_eq!(
            one(&Scheme::Slack, &Headers::new(), body),
            pair("12466734323.1395872398", "block_actions")
        );
        let no_trigger = b"payload=%7B%22type%22%3A%22block_suggestion%22%7D";
        assert_eq!(
            one(&Scheme::Slack, &Headers::new(), no_trigger),
            pair(&hash(no_trigger), "block_suggestion")
        );
        assert_eq!(
            run(&Scheme::Slack, &Headers::new(), b"payload=%7Bnope")
                .unwrap_err()
                .code(),
            "invalid_json"
        );
    }

    #[test]
    fn slack_ssl_check_is_acknowledged_without_events() {
        assert_eq!(
            run(&Scheme::Slack, &Headers::new(), b"ssl_check=1&token=x"),
            Ok(Extracted::Challenge {
                body: String::new(),
                content_type: "text/plain"
            })
        );
    }

    #[test]
    fn hubspot_batch_is_split_keeping_each_elements_raw_bytes() {
        let body = br#"[{"eventId":1,"subscriptionType":"contact.creation","objectId":123},  {"objectId": 7, "eventId":"2","subscriptionType":"deal.propertyChange"}]"#;
        let none = Headers::new();
        let events = events(&Scheme::Hubspot(Default::default()), &none, body);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_id, "1");
        assert_eq!(events[0].event_type, "contact.creation");
        assert_eq!(
            &*events[0].raw,
            br#"{"eventId":1,"subscriptionType":"contact.creation","objectId":123}"#
        );
        assert_eq!(events[1].event_id, "2");
        assert_eq!(events[1].event_type, "deal.propertyChange");
        // The element keeps its original spacing and key order.
        assert_eq!(
            &*events[1].raw,
            br#"{"objectId": 7, "eventId":"2","subscriptionType":"deal.propertyChange"}"#
        );
        assert!(matches!(events[1].raw, Cow::Borrowed(_)));
    }

    #[test]
    fn hubspot_empty_batch_has_no_events() {
        assert_eq!(
            events(&Scheme::Hubspot(Default::default()), &Headers::new(), b"[]"),
            vec![]
        );
        assert_eq!(
            events(&Scheme::Hubspot(Default::default()), &Headers::new(), b" [ ] "),
            vec![]
        );
    }

    #[test]
    fn hubspot_batch_over_the_cap_is_rejected() {
        let element = r#"{"eventId":1,"subscriptionType":"contact.creation"}"#;
        let at_cap = format!("[{}]", vec![element; MAX_BATCH_EVENTS].join(","));
        assert_eq!(
            events(&Scheme::Hubspot(Default::default()), &Headers::new(), at_cap.as_bytes()).len(),
            MAX_BATCH_EVENTS
        );
        let over = format!("[{}]", vec![element; MAX_BATCH_EVENTS + 1].join(","));
        assert_eq!(
            run(&Scheme::Hubspot(Default::default()), &Headers::new(), over.as_bytes()),
            Err(ExtractError::TooManyEvents { count: 1001, max: 1000 })
        );
    }

    #[test]
    fn hubspot_requires_an_array_of_identified_events() {
        assert_eq!(
            run(
                &Scheme::Hubspot(Default::default()),
                &Headers::new(),
                br#"{"eventId":1}"#
            )
            .unwrap_err()
            .code(),
            "invalid_json"
        );
        assert_eq!(
            run(
                &Scheme::Hubspot(Default::default()),
                &Headers::new(),
                br#"[{"subscriptionType":"x"}]"#
            ),
            Err(ExtractError::MissingField("eventId".into()))
        );
        assert_eq!(
            run(
                &Scheme::Hubspot(Default::default()),
                &Headers::new(),
                br#"[{"eventId":1.5,"subscriptionType":"x"}]"#
            )
            .unwrap_err()
            .code(),
            "invalid_field"
        );
        assert_eq!(
            run(&Scheme::Hubspot(Default::default()), &Headers::new(), b"[1]")
                .unwrap_err()
                .code(),
            "missing_field"
        );
    }

    #[test]
    fn xero_events_are_split_and_identified_by_content() {
        let body = br#"{"events":[{"resourceId":"a","eventCategory":"INVOICE","eventType":"UPDATE"},{"resourceId":"b","eventCategory":"CONTACT","eventType":"CREATE"}],"firstEventSequence":1,"lastEventSequence":2,"entropy":"X"}"#;
        let none = Headers::new();
        let events = events(&Scheme::Xero, &none, body);
        assert_eq!(events.len(), 2);
        let first = br#"{"resourceId":"a","eventCategory":"INVOICE","eventType":"UPDATE"}"#;
        assert_eq!(&*events[0].raw, first);
        assert_eq!(events[0].event_id, hash(first));
        assert_eq!(events[0].event_type, "INVOICE.UPDATE");
        assert_eq!(events[1].event_type, "CONTACT.CREATE");
        assert_ne!(events[0].event_id, events[1].event_id);
    }

    #[test]
    fn xero_intent_to_receive_has_no_events() {
        let body = br#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "S0m3r4Nd0mt3xt"}"#;
        assert_eq!(events(&Scheme::Xero, &Headers::new(), body), vec![]);
        assert_eq!(
            run(&Scheme::Xero, &Headers::new(), br#"{"entropy":"x"}"#),
            Err(ExtractError::MissingField("events".into()))
        );
    }

    #[test]
    fn intuit_cloud_events_batch_is_split() {
        let body = br#"[{"specversion":"1.0","id":"88cd52d2-1","source":"intuit.x","type":"qbo.customer.created.v1","data":{}},{"specversion":"1.0","id":"88cd52d2-2","type":"qbo.invoice.updated.v1"}]"#;
        let none = Headers::new();
        let events = events(&Scheme::Intuit, &none, body);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_id, "88cd52d2-1");
        assert_eq!(events[0].event_type, "qbo.customer.created.v1");
        assert_eq!(
            &*events[1].raw,
            br#"{"specversion":"1.0","id":"88cd52d2-2","type":"qbo.invoice.updated.v1"}"#
        );
    }

    #[test]
    fn intuit_legacy_notification_is_one_event_identified_by_content() {
        let body = br#"{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}"#;
        assert_eq!(
            one(&Scheme::Intuit, &Headers::new(), body),
            pair(&hash(body), "dataChangeEvent")
        );
        assert_eq!(
            run(&Scheme::Intuit, &Headers::new(), b"{}"),
            Err(ExtractError::MissingField("eventNotifications".into()))
        );
    }

    #[test]
    fn calendly_type_from_event_field_and_id_from_content() {
        let body = br#"{"event":"invitee.created","payload":{}}"#;
        assert_eq!(
            one(&Scheme::Calendly, &Headers::new(), body),
            pair(&hash(body), "invitee.created")
        );
    }

    #[test]
    fn twilio_uses_idempotency_token_and_status() {
        let headers = Headers::from_pairs([("I-Twilio-Idempotency-Token", "tok-1")]);
        assert_eq!(
            one(&Scheme::Twilio, &headers, b"MessageSid=SM1&SmsStatus=delivered"),
            pair("tok-1", "delivered")
        );
        let body = b"CallSid=CA1&CallStatus=completed";
        assert_eq!(
            one(&Scheme::Twilio, &Headers::new(), body),
            pair(&hash(body), "completed")
        );
        let json = br#"{"property": "value"}"#;
        assert_eq!(one(&Scheme::Twilio, &Headers::new(), json), pair(&hash(json), "twilio"));
    }

    #[test]
    fn generic_without_id_config_uses_content_hash_and_unknown_type() {
        let scheme = Scheme::Generic(GenericHmac::new("X-Sig"));
        let body = b"\x00\xffnot json";
        assert_eq!(one(&scheme, &Headers::new(), body), pair(&hash(body), "unknown"));
    }

    #[test]
    fn generic_reads_id_from_header_then_pointer() {
        let scheme = Scheme::Generic(GenericHmac {
            event_id_header: Some("X-Event-Id".into()),
            event_id_pointer: Some("/meta/id".into()),
            event_type_pointer: Some("/kind".into()),
            ..GenericHmac::new("X-Sig")
        });
        let body = br#"{"meta":{"id":42},"kind":"order.created"}"#;
        let headers = Headers::from_pairs([("x-event-id", "hdr-1")]);
        assert_eq!(one(&scheme, &headers, body), pair("hdr-1", "order.created"));
        assert_eq!(one(&scheme, &Headers::new(), body), pair("42", "order.created"));
        assert_eq!(
            run(&scheme, &Headers::new(), br#"{"kind":"x"}"#),
            Err(ExtractError::MissingField("/meta/id".into()))
        );
        assert_eq!(
            run(&scheme, &Headers::new(), br#"{"meta":{"id":"1"}}"#),
            Err(ExtractError::MissingField("/kind".into()))
        );
    }

    #[test]
    fn generic_configured_id_header_must_be_present() {
        let scheme = Scheme::Generic(GenericHmac {
            event_id_header: Some("X-Event-Id".into()),
            ..GenericHmac::new("X-Sig")
        });
        assert_eq!(
            run(&scheme, &Headers::new(), b"{}"),
            Err(ExtractError::MissingField("X-Event-Id".into()))
        );
    }

    #[test]
    fn event_ids_longer_than_256_bytes_are_rejected() {
        let at_limit = "a".repeat(MAX_EVENT_ID_LEN);
        let headers = Headers::from_pairs([("X-GitHub-Delivery", at_limit.as_str()), ("X-GitHub-Event", "push")]);
        assert_eq!(one(&Scheme::Github, &headers, b"{}").0, at_limit);

        let long = "a".repeat(MAX_EVENT_ID_LEN + 1);
        let headers = Headers::from_pairs([("X-GitHub-Delivery", long.as_str()), ("X-GitHub-Event", "push")]);
        assert_eq!(
            run(&Scheme::Github, &headers, b"{}").unwrap_err().code(),
            "invalid_event_id"
        );

        let body = format!(r#"{{"id":"{long}","type":"invoice.paid"}}"#);
        assert_eq!(
            run(&Scheme::Stripe, &Headers::new(), body.as_bytes())
                .unwrap_err()
                .code(),
            "invalid_event_id"
        );
    }

    #[test]
    fn empty_event_ids_are_rejected() {
        let headers = Headers::from_pairs([("X-GitHub-Delivery", ""), ("X-GitHub-Event", "push")]);
        assert_eq!(
            run(&Scheme::Github, &headers, b"{}"),
            Err(ExtractError::InvalidEventId { reason: "empty".into() })
        );
        assert_eq!(
            run(
                &Scheme::Hubspot(Default::default()),
                &Headers::new(),
                br#"[{"eventId":"","subscriptionType":"x"}]"#
            )
            .unwrap_err()
            .code(),
            "invalid_event_id"
        );
    }

    #[test]
    fn oversized_event_types_are_rejected() {
        let body = format!(r#"{{"id":"evt_1","type":"{}"}}"#, "t".repeat(MAX_EVENT_TYPE_LEN + 1));
        assert_eq!(
            run(&Scheme::Stripe, &Headers::new(), body.as_bytes())
                .unwrap_err()
                .code(),
            "invalid_field"
        );
    }
}
