//! CRM object types, their properties, and property validation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{json, Map, Value};

/// The CRM object types the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    Contacts,
    Companies,
    Deals,
    /// An engagement: a meeting on records' timelines ("Engagements: Meetings").
    Meetings,
    /// An engagement: a note on records' timelines ("Engagements: Notes").
    Notes,
}

const CONTACT_PROPERTIES: &[&str] = &[
    "address",
    "annualrevenue",
    "city",
    "company",
    "country",
    "date_of_birth",
    "email",
    "fax",
    "firstname",
    "hs_lead_status",
    "hubspot_owner_id",
    "industry",
    "jobtitle",
    "lastname",
    "lifecyclestage",
    "mobilephone",
    "numemployees",
    "phone",
    "salutation",
    "state",
    "website",
    "zip",
];
const COMPANY_PROPERTIES: &[&str] = &[
    "address",
    "annualrevenue",
    "city",
    "country",
    "description",
    "domain",
    "hubspot_owner_id",
    "industry",
    "lifecyclestage",
    "name",
    "numberofemployees",
    "phone",
    "state",
    "type",
    "website",
    "zip",
];
/// "Engagements: Meetings" (developers.hubspot.com/docs/api/crm/meetings): the properties a
/// meeting is created with.
const MEETING_PROPERTIES: &[&str] = &[
    "hs_timestamp",
    "hs_meeting_title",
    "hs_meeting_body",
    "hs_internal_meeting_notes",
    "hs_meeting_external_url",
    "hs_meeting_location",
    "hs_meeting_start_time",
    "hs_meeting_end_time",
    "hs_meeting_outcome",
    "hubspot_owner_id",
];
/// "Engagements: Notes" (developers.hubspot.com/docs/api/crm/notes).
const NOTE_PROPERTIES: &[&str] = &["hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_attachment_ids"];
const DEAL_PROPERTIES: &[&str] = &[
    "amount",
    "closedate",
    "dealname",
    "dealstage",
    "dealtype",
    "description",
    "hs_priority",
    "hubspot_owner_id",
    "pipeline",
];

impl ObjectType {
    pub const ALL: [ObjectType; 5] = [
        ObjectType::Contacts,
        ObjectType::Companies,
        ObjectType::Deals,
        ObjectType::Meetings,
        ObjectType::Notes,
    ];

    /// The `{objectType}` path segment: the name (`contacts`) or the type id (`0-1`).
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "contacts" | "contact" | "0-1" => Some(ObjectType::Contacts),
            "companies" | "company" | "0-2" => Some(ObjectType::Companies),
            "deals" | "deal" | "0-3" => Some(ObjectType::Deals),
            "meetings" | "meeting" | "0-47" => Some(ObjectType::Meetings),
            "notes" | "note" | "0-46" => Some(ObjectType::Notes),
            _ => None,
        }
    }

    /// The canonical path segment.
    pub fn path(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contacts",
            ObjectType::Companies => "companies",
            ObjectType::Deals => "deals",
            ObjectType::Meetings => "meetings",
            ObjectType::Notes => "notes",
        }
    }

    /// As HubSpot names the type in error messages (`CONTACT`).
    pub(crate) fn upper_singular(self) -> &'static str {
        match self {
            ObjectType::Contacts => "CONTACT",
            ObjectType::Companies => "COMPANY",
            ObjectType::Deals => "DEAL",
            ObjectType::Meetings => "MEETING",
            ObjectType::Notes => "NOTE",
        }
    }

    /// As HubSpot names the type in conflict messages (`Contact`).
    pub(crate) fn title_singular(self) -> &'static str {
        match self {
            ObjectType::Contacts => "Contact",
            ObjectType::Companies => "Company",
            ObjectType::Deals => "Deal",
            ObjectType::Meetings => "Meeting",
            ObjectType::Notes => "Note",
        }
    }

    /// The last-modified system property: contacts use `lastmodifieddate`, the others
    /// `hs_lastmodifieddate`.
    pub fn modified_property(self) -> &'static str {
        match self {
            ObjectType::Contacts => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// Properties returned when a request names none.
    pub(crate) fn default_properties(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            ObjectType::Companies => &["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
            ObjectType::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
            ObjectType::Meetings => &[
                "createdate",
                "hs_lastmodifieddate",
                "hs_meeting_title",
                "hs_object_id",
                "hs_timestamp",
            ],
            ObjectType::Notes => &[
                "createdate",
                "hs_lastmodifieddate",
                "hs_note_body",
                "hs_object_id",
                "hs_timestamp",
            ],
        }
    }

    fn standard_properties(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => CONTACT_PROPERTIES,
            ObjectType::Companies => COMPANY_PROPERTIES,
            ObjectType::Deals => DEAL_PROPERTIES,
            ObjectType::Meetings => MEETING_PROPERTIES,
            ObjectType::Notes => NOTE_PROPERTIES,
        }
    }

    /// Read-only properties the server maintains.
    pub(crate) fn is_system(self, name: &str) -> bool {
        matches!(name, "hs_object_id" | "createdate") || name == self.modified_property()
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// Whether `name` holds a date (compared as instants in search filters and sorts).
pub(crate) fn is_date_property(name: &str) -> bool {
    matches!(
        name,
        "createdate"
            | "lastmodifieddate"
            | "hs_lastmodifieddate"
            | "closedate"
            | "date_of_birth"
            | "hs_timestamp"
            | "hs_meeting_start_time"
            | "hs_meeting_end_time"
    )
}

/// Which properties exist, as a HubSpot portal's property settings would say.
///
/// Every type has HubSpot's standard properties; custom ones are added with
/// [`with_property`](Self::with_property). Writing a property that does not exist is a
/// validation error (`PROPERTY_DOESNT_EXIST`), as in HubSpot, unless
/// [`allow_unknown`](Self::allow_unknown) is set.
#[derive(Debug, Clone, Default)]
pub struct PropertySchema {
    /// Accept any property name on writes.
    pub allow_unknown: bool,
    custom: BTreeMap<ObjectType, BTreeSet<String>>,
    unique: BTreeMap<ObjectType, BTreeSet<String>>,
}

impl PropertySchema {
    /// Adds a custom property to `object_type`.
    pub fn with_property(mut self, object_type: ObjectType, name: &str) -> Self {
        self.custom.entry(object_type).or_default().insert(name.to_owned());
        self
    }

    /// Adds a custom property whose values are unique (usable as `idProperty`).
    pub fn with_unique_property(mut self, object_type: ObjectType, name: &str) -> Self {
        self.unique.entry(object_type).or_default().insert(name.to_owned());
        self.with_property(object_type, name)
    }

    /// Accepts any property name.
    pub fn allowing_unknown(mut self) -> Self {
        self.allow_unknown = true;
        self
    }

    pub(crate) fn exists(&self, object_type: ObjectType, name: &str) -> bool {
        self.allow_unknown
            || object_type.is_system(name)
            || object_type.standard_properties().contains(&name)
            || self.custom.get(&object_type).is_some_and(|c| c.contains(name))
    }

    /// Unique properties other than `hs_object_id`: `email` for contacts plus custom ones.
    pub(crate) fn unique_properties(&self, object_type: ObjectType) -> Vec<&str> {
        let mut unique: Vec<&str> = self
            .unique
            .get(&object_type)
            .map(|u| u.iter().map(String::as_str).collect())
            .unwrap_or_default();
        if object_type == ObjectType::Contacts {
            unique.push("email");
        }
        unique
    }

    /// Whether `name` can identify an object (`idProperty`).
    pub(crate) fn is_id_property(&self, object_type: ObjectType, name: &str) -> bool {
        name == "hs_object_id" || self.unique_properties(object_type).contains(&name)
    }
}

/// One invalid property value, in HubSpot's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropertyError {
    pub(crate) name: String,
    /// `INVALID_EMAIL`, `PROPERTY_DOESNT_EXIST`, `READ_ONLY_VALUE` or `INVALID_VALUE`.
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl PropertyError {
    pub(crate) fn invalid_email(value: &str) -> Self {
        Self {
            name: "email".into(),
            code: "INVALID_EMAIL",
            message: format!("Email address {value} is invalid"),
        }
    }
}

/// HubSpot's message for invalid property values: the list of failures as JSON after
/// `Property values were not valid: `.
pub(crate) fn invalid_properties_message(errors: &[PropertyError]) -> String {
    let list: Vec<Value> = errors
        .iter()
        .map(|e| {
            json!({
                "isValid": false,
                "message": e.message,
                "error": e.code,
                "name": e.name,
                "localizedErrorMessage": e.message,
            })
        })
        .collect();
    format!("Property values were not valid: {}", Value::Array(list))
}

/// A property write: a new value, or `None` to clear it (an empty string or `null`).
pub(crate) type PropertyWrite = (String, Option<String>);

/// Checks a `properties` object and turns its values into HubSpot's string form. Emails are
/// stored lower-case, as HubSpot does.
pub(crate) fn validate(
    schema: &PropertySchema,
    object_type: ObjectType,
    input: &Map<String, Value>,
) -> Result<Vec<PropertyWrite>, Vec<PropertyError>> {
    let mut writes = Vec::with_capacity(input.len());
    let mut errors = Vec::new();
    for (name, value) in input {
        if object_type.is_system(name) {
            errors.push(PropertyError {
                name: name.clone(),
                code: "READ_ONLY_VALUE",
                message: format!("\"{name}\" is a read only property; its value cannot be set."),
            });
            continue;
        }
        if !schema.exists(object_type, name) {
            errors.push(PropertyError {
                name: name.clone(),
                code: "PROPERTY_DOESNT_EXIST",
                message: format!("Property \"{name}\" does not exist"),
            });
            continue;
        }
        let text = match value {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Array(_) | Value::Object(_) => {
                errors.push(PropertyError {
                    name: name.clone(),
                    code: "INVALID_VALUE",
                    message: format!("{value} is not a valid value for property \"{name}\""),
                });
                continue;
            }
        };
        let text = match (name.as_str(), text) {
            ("email", Some(email)) => {
                if !is_valid_email(&email) {
                    errors.push(PropertyError::invalid_email(&email));
                    continue;
                }
                Some(email.to_lowercase())
            }
            (_, text) => text,
        };
        writes.push((name.clone(), text));
    }
    if errors.is_empty() {
        Ok(writes)
    } else {
        Err(errors)
    }
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub(crate) fn is_valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !value.chars().any(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|part| !part.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn values_become_strings_and_emails_lower_case() {
        let schema = PropertySchema::default();
        let writes = validate(
            &schema,
            ObjectType::Contacts,
            &props(json!({"email": "Ann@Example.COM", "numemployees": 12, "firstname": ""})),
        )
        .unwrap();
        assert!(writes.contains(&("email".into(), Some("ann@example.com".into()))));
        assert!(writes.contains(&("numemployees".into(), Some("12".into()))));
        assert!(writes.contains(&("firstname".into(), None)));
    }

    #[test]
    fn unknown_read_only_and_invalid_values_are_reported_together() {
        let schema = PropertySchema::default();
        let errors = validate(
            &schema,
            ObjectType::Contacts,
            &props(json!({"email": "not-an-email", "favourite_colour": "red", "hs_object_id": "1"})),
        )
        .unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
        assert_eq!(codes.len(), 3);
        assert!(codes.contains(&"INVALID_EMAIL"));
        assert!(codes.contains(&"PROPERTY_DOESNT_EXIST"));
        assert!(codes.contains(&"READ_ONLY_VALUE"));
        assert!(invalid_properties_message(&errors).starts_with("Property values were not valid: [{"));
    }

    #[test]
    fn custom_properties_exist_once_declared() {
        let schema = PropertySchema::default().with_unique_property(ObjectType::Contacts, "stripe_customer_id");
        assert!(validate(
            &schema,
            ObjectType::Contacts,
            &props(json!({"stripe_customer_id": "cus_1"}))
        )
        .is_ok());
        assert!(schema.is_id_property(ObjectType::Contacts, "stripe_customer_id"));
        assert!(schema.is_id_property(ObjectType::Contacts, "email"));
        assert!(!schema.is_id_property(ObjectType::Companies, "domain"));
    }

    #[test]
    fn email_check() {
        assert!(is_valid_email("a.b+c@example.co.uk"));
        for bad in ["", "a", "a@", "@b.com", "a@b", "a b@c.com", "a@@b.com", "a@b..com"] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
