//! The fields of a record, from a JSON Schema (a provider's OpenAPI component, or a schema a
//! definition writes down) and from sample records.

use serde_json::Value;

use super::SuggestError;

/// Deepest nesting read (`billing_address.city` is depth 2).
pub const MAX_DEPTH: usize = 4;
/// Most fields kept of one record shape.
pub const MAX_FIELDS: usize = 600;
/// Sample values kept per field.
pub const MAX_SAMPLES: usize = 5;

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    Unknown,
}

/// What a value's text or number means beyond its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Email,
    Phone,
    Date,
    DateTime,
    /// Seconds since the epoch.
    UnixTime,
    /// A money amount in the currency's smallest unit (cents).
    MinorUnits,
    /// A money amount as a decimal (`12.50`, as a number or as text).
    Decimal,
    Uri,
    CurrencyCode,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::Email => "email",
            Format::Phone => "phone",
            Format::Date => "date",
            Format::DateTime => "date-time",
            Format::UnixTime => "unix time",
            Format::MinorUnits => "amount in minor units",
            Format::Decimal => "decimal amount",
            Format::Uri => "URI",
            Format::CurrencyCode => "currency code",
        }
    }
}

/// One leaf field of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Keys from the record's root (`["billing_address", "city"]`).
    pub path: Vec<String>,
    pub kind: Kind,
    pub format: Option<Format>,
    /// Required by the schema at every level down to it.
    pub required: bool,
    /// The schema marks it read-only (never a write's target).
    pub read_only: bool,
    pub description: String,
    pub samples: Vec<Value>,
}

impl Field {
    /// `billing_address.city`.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// The leaf fields of a record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordShape {
    pub fields: Vec<Field>,
}

impl RecordShape {
    /// The fields a JSON Schema describes. `doc` is the whole document (for local `$ref`s),
    /// `pointer` the schema in it (`/components/schemas/customer`). `anyOf`/`oneOf` take their
    /// first variant that is not null (Stripe's expandable ids: the unexpanded id), `allOf`
    /// merges. Cycles and depth are bounded.
    pub fn from_json_schema(doc: &Value, pointer: &str) -> Result<RecordShape, SuggestError> {
        let schema = doc
            .pointer(pointer)
            .ok_or_else(|| SuggestError::Schema(format!("no schema at `{pointer}`")))?;
        let mut shape = RecordShape::default();
        let mut walker = Walker {
            doc,
            refs: Vec::new(),
            out: &mut shape.fields,
        };
        walker.walk(schema, &mut Vec::new(), true, false, 0);
        if shape.fields.is_empty() {
            return Err(SuggestError::Schema(format!(
                "the schema at `{pointer}` describes no fields"
            )));
        }
        Ok(shape)
    }

    /// The fields sample records show, with their values (at most [`MAX_SAMPLES`] each) and
    /// the formats the values have.
    pub fn from_samples(records: &[Value]) -> RecordShape {
        let mut shape = RecordShape::default();
        for record in records {
            shape.add_sample(record, &mut Vec::new(), 0);
        }
        for field in &mut shape.fields {
            if field.format.is_none() {
                field.format = format_of_samples(&field.path, &field.samples);
            }
        }
        shape
    }

    fn add_sample(&mut self, value: &Value, path: &mut Vec<String>, depth: usize) {
        if let Value::Object(map) = value {
            if depth < MAX_DEPTH {
                for (key, v) in map {
                    path.push(key.clone());
                    self.add_sample(v, path, depth + 1);
                    path.pop();
                }
                return;
            }
        }
        if path.is_empty() || value.is_null() {
            return;
        }
        let kind = kind_of_value(value);
        let full = self.fields.len() >= MAX_FIELDS;
        match self.fields.iter_mut().find(|f| f.path == *path) {
            Some(field) if field.samples.len() < MAX_SAMPLES && !field.samples.contains(value) => {
                field.samples.push(value.clone());
            }
            Some(_) => {}
            None if !full => self.fields.push(Field {
                path: path.clone(),
                kind,
                format: None,
                required: false,
                read_only: false,
                description: String::new(),
                samples: vec![value.clone()],
            }),
            None => {}
        }
    }

    /// This shape's fields with what `other` knows added: its sample values and formats for
    /// fields both have, and the fields only it has.
    pub fn merge(mut self, other: RecordShape) -> RecordShape {
        for field in other.fields {
            let full = self.fields.len() >= MAX_FIELDS;
            match self.fields.iter_mut().find(|f| f.path == field.path) {
                Some(mine) => {
                    for s in field.samples {
                        if mine.samples.len() < MAX_SAMPLES && !mine.samples.contains(&s) {
                            mine.samples.push(s);
                        }
                    }
                    if mine.format.is_none() {
                        mine.format = field.format;
                    }
                    if mine.kind == Kind::Unknown {
                        mine.kind = field.kind;
                    }
                }
                None if !full => self.fields.push(field),
                None => {}
            }
        }
        self
    }
}

struct Walker<'a> {
    doc: &'a Value,
    refs: Vec<String>,
    out: &'a mut Vec<Field>,
}

impl Walker<'_> {
    fn walk(&mut self, schema: &Value, path: &mut Vec<String>, required: bool, read_only: bool, depth: usize) {
        if self.out.len() >= MAX_FIELDS {
            return;
        }
        // A `$ref` with siblings (`description`) keeps the siblings' words.
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let Some(target) = reference.strip_prefix('#').and_then(|p| self.doc.pointer(p)) else {
                return;
            };
            if self.refs.iter().any(|r| r == reference) {
                return;
            }
            self.refs.push(reference.to_string());
            let mut merged = target.clone();
            if let (Value::Object(m), Some(Value::String(d))) = (&mut merged, schema.get("description")) {
                m.insert("description".into(), Value::String(d.clone()));
            }
            self.walk(&merged, path, required, read_only, depth);
            self.refs.pop();
            return;
        }
        let read_only = read_only || schema.get("readOnly").and_then(Value::as_bool) == Some(true);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.walk(part, path, required, read_only, depth);
            }
            return;
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(variants) = schema.get(key).and_then(Value::as_array) {
                let chosen = variants
                    .iter()
                    .find(|v| type_name(v) != Some("null") && !is_empty_enum(v));
                if let Some(v) = chosen {
                    let mut v = v.clone();
                    if let (Value::Object(m), Some(d)) = (&mut v, schema.get("description")) {
                        m.entry("description").or_insert(d.clone());
                    }
                    self.walk(&v, path, required, read_only, depth);
                }
                return;
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let is_object = type_name(schema) == Some("object") || properties.is_some();
        if let (true, Some(properties)) = (is_object, properties) {
            if depth < MAX_DEPTH && !properties.is_empty() {
                let required_keys: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (key, sub) in properties {
                    path.push(key.clone());
                    self.walk(
                        sub,
                        path,
                        required && required_keys.contains(&key.as_str()),
                        read_only,
                        depth + 1,
                    );
                    path.pop();
                }
                return;
            }
        }
        if path.is_empty() {
            return;
        }
        let kind = match type_name(schema) {
            Some("string") => Kind::Text,
            Some("integer") => Kind::Integer,
            Some("number") => Kind::Number,
            Some("boolean") => Kind::Boolean,
            Some("array") => Kind::Array,
            Some("object") => Kind::Object,
            _ if properties.is_some() => Kind::Object,
            _ => Kind::Unknown,
        };
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let format = format_of_schema(schema, kind, path, &description);
        self.out.push(Field {
            path: path.clone(),
            kind,
            format,
            required,
            read_only,
            description,
            samples: Vec::new(),
        });
    }
}

fn type_name(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

fn is_empty_enum(schema: &Value) -> bool {
    schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| e.iter().all(|v| v.as_str() == Some("")))
}

fn format_of_schema(schema: &Value, kind: Kind, path: &[String], description: &str) -> Option<Format> {
    let declared = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let lower = description.to_lowercase();
    match declared {
        "email" => return Some(Format::Email),
        "date" => return Some(Format::Date),
        "date-time" => return Some(Format::DateTime),
        "unix-time" => return Some(Format::UnixTime),
        "uri" | "url" => return Some(Format::Uri),
        _ => {}
    }
    let words: Vec<String> = path.last().map(|l| super::names::tokens(l)).unwrap_or_default();
    let named = |w: &str| words.iter().any(|x| x == w);
    match kind {
        Kind::Integer
            if lower.contains("smallest currency unit")
                || lower.contains("in cents")
                || lower.contains("minor unit") =>
        {
            Some(Format::MinorUnits)
        }
        Kind::Integer if lower.contains("unix") || lower.contains("epoch") => Some(Format::UnixTime),
        Kind::Number | Kind::Text
            if named("amount") || named("total") || named("price") || named("balance") || named("subtotal") =>
        {
            Some(Format::Decimal)
        }
        Kind::Text if lower.contains("iso 4217") || (named("currency") && lower.contains("three-letter")) => {
            Some(Format::CurrencyCode)
        }
        Kind::Text if lower.contains("iso 8601") || (named("at") && !named("date")) => Some(Format::DateTime),
        Kind::Text if named("date") || lower.contains("yyyy") => Some(Format::Date),
        _ => None,
    }
}

fn kind_of_value(value: &Value) -> Kind {
    match value {
        Value::String(_) => Kind::Text,
        Value::Number(n) if n.is_i64() || n.is_u64() => Kind::Integer,
        Value::Number(_) => Kind::Number,
        Value::Bool(_) => Kind::Boolean,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
        Value::Null => Kind::Unknown,
    }
}

/// A format every sample value has.
fn format_of_samples(path: &[String], samples: &[Value]) -> Option<Format> {
    if samples.is_empty() {
        return None;
    }
    let all = |f: &dyn Fn(&Value) -> bool| samples.iter().all(f);
    let text = |v: &Value| v.as_str().map(str::to_string);
    let words: Vec<String> = path.last().map(|l| super::names::tokens(l)).unwrap_or_default();
    let timeish = words.iter().any(|w| {
        matches!(
            w.as_str(),
            "created" | "updated" | "at" | "time" | "date" | "modified" | "timestamp"
        )
    });
    if all(&|v| text(v).is_some_and(|s| is_email(&s))) {
        return Some(Format::Email);
    }
    if all(&|v| text(v).is_some_and(|s| is_date(&s) && s.len() > 10)) {
        return Some(Format::DateTime);
    }
    if all(&|v| text(v).is_some_and(|s| is_date(&s) && s.len() == 10)) {
        return Some(Format::Date);
    }
    if all(&|v| text(v).is_some_and(|s| s.starts_with("http://") || s.starts_with("https://"))) {
        return Some(Format::Uri);
    }
    if all(&|v| text(v).is_some_and(|s| is_phone(&s))) {
        return Some(Format::Phone);
    }
    if timeish && all(&|v| v.as_i64().is_some_and(|n| (946_684_800..4_102_444_800).contains(&n))) {
        return Some(Format::UnixTime);
    }
    None
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace) && !domain.ends_with('.')
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && (b[4] == b'-' || b[4] == b'/')
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b[4]
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || b[10] == b'T' || b[10] == b' ')
}

fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits) && s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schema_fields_follow_refs_required_and_first_variants() {
        let doc = json!({
            "components": {"schemas": {
                "customer": {
                    "type": "object",
                    "required": ["id", "address"],
                    "properties": {
                        "id": {"type": "string", "readOnly": true},
                        "email": {"type": "string", "format": "email", "nullable": true},
                        "created": {"type": "integer", "format": "unix-time"},
                        "balance": {"type": "integer", "description": "Balance in cents."},
                        "address": {"$ref": "#/components/schemas/address"},
                        "default_source": {"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/customer"}]}
                    }
                },
                "address": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}, "next": {"$ref": "#/components/schemas/address"}}}
            }}
        });
        let shape = RecordShape::from_json_schema(&doc, "/components/schemas/customer").unwrap();
        let get = |p: &str| {
            shape
                .fields
                .iter()
                .find(|f| f.dotted() == p)
                .unwrap_or_else(|| panic!("{p}"))
        };
        assert!(get("id").read_only && get("id").required);
        assert_eq!(get("email").format, Some(Format::Email));
        assert_eq!(get("created").format, Some(Format::UnixTime));
        assert_eq!(get("balance").format, Some(Format::MinorUnits));
        assert!(get("address.city").required);
        assert_eq!(get("default_source").kind, Kind::Text);
        // The address's self-reference is not followed again.
        assert!(shape.fields.iter().all(|f| !f.dotted().starts_with("address.next")));
    }

    #[test]
    fn a_missing_or_empty_schema_is_an_error() {
        let doc = json!({"a": {"type": "object", "properties": {}}});
        assert!(RecordShape::from_json_schema(&doc, "/b").is_err());
        assert!(RecordShape::from_json_schema(&doc, "/a").is_err());
    }

    #[test]
    fn samples_give_fields_and_formats() {
        let shape = RecordShape::from_samples(&[
            json!({"email": "a@example.com", "created": 1700000000, "when": "2024-01-02T03:04:05Z", "phone": "+61 2 9999 0000", "n": {"x": 1}}),
            json!({"email": "b@example.com", "created": 1700000100, "when": "2024-01-03T03:04:05Z", "phone": "(02) 9999-0001"}),
        ]);
        let get = |p: &str| shape.fields.iter().find(|f| f.dotted() == p).unwrap();
        assert_eq!(get("email").format, Some(Format::Email));
        assert_eq!(get("email").samples.len(), 2);
        assert_eq!(get("created").format, Some(Format::UnixTime));
        assert_eq!(get("when").format, Some(Format::DateTime));
        assert_eq!(get("phone").format, Some(Format::Phone));
        assert_eq!(get("n.x").kind, Kind::Integer);
    }
}
