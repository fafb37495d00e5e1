//! Fake profiles: what a spec does not say about a provider's fake, as a short YAML file per
//! provider under `fakes/profiles/`, embedded at build time.
//!
//! A profile names the provider's spec files and gives the collections (paths, id field,
//! timestamps), the list envelope and pagination style, the filters the fake honours, auth,
//! the rate limit and its 429 shape, error bodies, the webhooks it emits, and the extensions
//! (provider-specific handlers, named after the capability) it needs. Every key is checked:
//! a typo is an error naming the key.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The profiles shipped with the fakes: `(provider, YAML)`.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("hubspot", include_str!("../profiles/hubspot.yaml")),
    ("stripe", include_str!("../profiles/stripe.yaml")),
];

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no fake profile for {provider}: the fakes have profiles for {known}")]
    Unknown { provider: String, known: String },
    #[error("the fake profile {name} is invalid: {message}")]
    Invalid { name: String, message: String },
}

/// One provider's fake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Provider id, e.g. `hubspot`.
    pub provider: String,
    /// Spec files, relative to the specs folder.
    pub specs: Vec<String>,
    /// Parameters the checks skip, each with the reason (a spec that disagrees with the
    /// provider's real behaviour).
    #[serde(default)]
    pub ignore_parameters: Vec<Ignored>,
    /// Corrections to the spec where it disagrees with the provider's documented behaviour,
    /// each with its reason.
    #[serde(default)]
    pub spec_patches: Vec<crate::spec::SpecPatch>,
    /// The stateful collections.
    #[serde(default)]
    pub collections: Vec<Collection>,
    /// Lists: envelope and pagination.
    #[serde(default)]
    pub list: ListStyle,
    /// How timestamps are written into objects.
    #[serde(default)]
    pub timestamps: TimeFormat,
    #[serde(default)]
    pub auth: Auth,
    /// The provider's default rate limit; `None`: unlimited.
    #[serde(default)]
    pub rate_limit: Option<RateLimitProfile>,
    pub errors: Errors,
    /// Webhooks emitted on writes (sent when the fake is given a target URL).
    #[serde(default)]
    pub webhooks: Option<Webhooks>,
    /// A collection that keeps every event the writes emit (the webhook body), listable like
    /// any other: the provider's events API (Stripe's `/v1/events`).
    #[serde(default)]
    pub event_log: Option<String>,
    /// Provider-specific handlers by capability name (e.g. `filter_groups_search`).
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// A parameter the checks skip.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignored {
    /// `in:name`, e.g. `header:token`.
    pub parameter: String,
    pub reason: String,
}

/// One collection of objects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    pub name: String,
    /// The list (GET) and create (POST) path.
    pub path: String,
    /// The item path template: read (GET), update (`update_method`), delete (DELETE).
    pub item_path: String,
    /// JSON pointer of the id in an object.
    #[serde(default = "default_id_field")]
    pub id_field: String,
    /// New ids are this prefix and 14 random alphanumerics (`cus_...`); without it they are
    /// numbers from 1001, as strings.
    #[serde(default)]
    pub id_prefix: Option<String>,
    /// Pointer of the creation time.
    #[serde(default)]
    pub created_field: Option<String>,
    /// Pointer of the last-modified time (what modified-since filters compare).
    #[serde(default)]
    pub updated_field: Option<String>,
    /// Fields that repeat the id or a timestamp, by pointer (HubSpot's
    /// `/properties/hs_lastmodifieddate`).
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    /// Values set on seeded objects by pointer; `{n}` in a string is the object's number.
    #[serde(default)]
    pub seed: BTreeMap<String, Value>,
    /// Status of a create (HubSpot 201, Stripe 200).
    #[serde(default = "default_ok")]
    pub create_status: u16,
    /// Method of an update.
    #[serde(default = "default_update_method")]
    pub update_method: String,
    /// Status of a delete; its body is empty unless `delete_body` is given.
    #[serde(default = "default_no_content")]
    pub delete_status: u16,
    /// Body of a delete; `{id}` is replaced.
    #[serde(default)]
    pub delete_body: Option<Value>,
    /// Seed objects start from the provider's published example object instead of one
    /// generated from the schema.
    #[serde(default)]
    pub fixture: Option<Fixture>,
    /// Query filters the list honours.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Webhook event types for this collection's writes.
    #[serde(default)]
    pub events: Option<Events>,
}

fn default_id_field() -> String {
    "/id".into()
}
fn default_ok() -> u16 {
    200
}
fn default_no_content() -> u16 {
    204
}
fn default_update_method() -> String {
    "PATCH".into()
}

/// An example object in a file of the specs folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub file: String,
    /// JSON pointer of the object in the file.
    pub pointer: String,
}

/// What a mirrored field repeats.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mirror {
    Id,
    Created,
    Updated,
}

/// Timestamp representation in objects.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `2024-01-02T03:04:05.678Z`
    #[default]
    Rfc3339,
    /// Unix seconds (integer).
    Unix,
    /// Unix milliseconds (integer).
    UnixMs,
}

/// A list filter: `param` compared with the object's `field`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Query parameter name; bracket keys (`created[gte]`) are written as they appear.
    pub param: String,
    /// Pointer of the compared field.
    pub field: String,
    pub op: FilterOp,
    /// How the parameter's value is written.
    #[serde(default)]
    pub format: Option<TimeFormat>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    Eq,
    /// Equal, where a `*` at the end of the wanted value matches any rest (`customer.*`).
    Wildcard,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// The list envelope and pagination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListStyle {
    /// Pointer of the items array; empty: the body is the array.
    pub items: String,
    /// Fixed fields of the envelope; string values may use `{path}`.
    pub envelope: BTreeMap<String, Value>,
    pub pagination: Pagination,
}

impl Default for ListStyle {
    fn default() -> Self {
        Self {
            items: "/results".into(),
            envelope: BTreeMap::new(),
            pagination: Pagination::default(),
        }
    }
}

/// Pagination styles.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PageStyle {
    /// An opaque cursor in the body (`next`), sent back in `cursor_param`.
    #[default]
    Cursor,
    /// The last id of the page in `cursor_param`; more pages when `has_more` is true (Stripe).
    StartingAfter,
    /// `offset_param` + `limit_param`.
    Offset,
    /// `page_param` (from `first_page`) + `limit_param`.
    Page,
    /// Like `page`, with the next page's URL in a `Link: <...>; rel="next"` header.
    LinkHeader,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pagination {
    pub style: PageStyle,
    pub cursor_param: String,
    pub limit_param: String,
    pub offset_param: String,
    pub page_param: String,
    pub first_page: usize,
    pub default_limit: usize,
    pub max_limit: usize,
    /// Pointer of the next cursor (`cursor`).
    pub next: String,
    /// Pointer of a next-page link written beside the cursor, if any.
    pub next_link: Option<String>,
    /// Pointer of the has-more flag (`starting_after`).
    pub has_more: String,
    /// Pointer of the total count, if the provider sends one.
    pub total: Option<String>,
}

impl Default for Pagination {
    fn default() -> Self {
        Self {
            style: PageStyle::Cursor,
            cursor_param: "after".into(),
            limit_param: "limit".into(),
            offset_param: "offset".into(),
            page_param: "page".into(),
            first_page: 1,
            default_limit: 10,
            max_limit: 100,
            next: "/paging/next/after".into(),
            next_link: None,
            has_more: "/has_more".into(),
            total: None,
        }
    }
}

/// What the fake accepts as credentials; all empty: no auth.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// `Authorization: Bearer <token>`.
    pub bearer: Vec<String>,
    /// `Authorization: Basic` with this user name and any password (Stripe's secret key).
    pub basic_users: Vec<String>,
    /// Header name -> accepted values.
    pub headers: BTreeMap<String, Vec<String>>,
    /// An OAuth token endpoint (refresh-token grant, form body).
    pub oauth: Option<OAuth>,
}

impl Auth {
    pub fn is_open(&self) -> bool {
        self.bearer.is_empty() && self.basic_users.is_empty() && self.headers.is_empty() && self.oauth.is_none()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth {
    pub token_path: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_tokens: Vec<String>,
    #[serde(default = "default_ttl")]
    pub access_token_ttl_secs: u64,
}

fn default_ttl() -> u64 {
    1800
}

/// The rate limit and the provider's 429.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitProfile {
    pub requests: u32,
    pub window_ms: u64,
    /// Headers on every counted response; values may use `{limit}`, `{remaining}`,
    /// `{window_ms}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send `Retry-After` (seconds) with the 429.
    #[serde(default)]
    pub retry_after: bool,
    pub body: Value,
}

/// Error bodies; string values may use `{message}` and `{correlation_id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    pub bad_request: ErrorShape,
    pub not_found: ErrorShape,
    pub unauthorized: ErrorShape,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorShape {
    pub status: u16,
    pub body: Value,
}

/// Webhooks sent on writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// A signature scheme of `switchyard::webhook::Scheme` (`hubspot`, `stripe`, ...).
    pub scheme: String,
    /// The delivery body. String values `{event_type}`, `{event_id}`, `{object_id}` are replaced
    /// by text; a value that is exactly `{object}` becomes the object, and `{object_id_number}`,
    /// `{event_id_number}`, `{occurred_at_ms}`, `{occurred_at_secs}` become numbers.
    pub body: Value,
    /// Send the body inside a JSON array (HubSpot batches events).
    #[serde(default)]
    pub batch: bool,
}

/// Event types of a collection's writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    pub created: Option<String>,
    pub updated: Option<String>,
    pub deleted: Option<String>,
}

impl Profile {
    /// A built-in profile by provider id.
    pub fn built_in(provider: &str) -> Result<Self, ProfileError> {
        let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == provider) else {
            let known: Vec<&str> = BUILT_IN.iter().map(|(name, _)| *name).collect();
            return Err(ProfileError::Unknown {
                provider: provider.to_owned(),
                known: known.join(", "),
            });
        };
        Self::parse(&format!("fakes/profiles/{provider}.yaml"), text)
    }

    /// Parses a profile; `name` is used in the error.
    pub fn parse(name: &str, text: &str) -> Result<Self, ProfileError> {
        serde_yaml::from_str(text).map_err(|e| ProfileError::Invalid {
            name: name.to_owned(),
            message: e.to_string(),
        })
    }

    /// A collection by name.
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_parses() {
        for (provider, _) in BUILT_IN {
            let profile = Profile::built_in(provider).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(profile.provider, *provider);
        }
    }

    #[test]
    fn a_typo_names_the_key() {
        let err = Profile::parse("x.yaml", "provider: x\nspecs: []\nerors: {}\n").unwrap_err();
        assert!(err.to_string().contains("erors"), "{err}");
    }
}
