//! Mapping suggestions: a jq mapping proposed from a source stream's records to a destination
//! write's records (`switchyard flows suggest`).
//!
//! Both sides are [`RecordShape`]s: the fields the provider's published description says a
//! record has (a stream's or write's `schema` in its definition, see
//! [`crate::connector::definition::RecordSchema`]), merged with sample records where there
//! are some. Each destination field is scored against each source field on:
//! - **meaning**: the two names spell one concept ([`names::concept`]: `first_name` ~
//!   `FirstName` ~ `givenName`; `PrimaryEmailAddr.Address` is an email), or are alike as text;
//! - **context**: their parents share words (`billing_address.city` ~ `BillAddr.City` rather
//!   than `shipping_address.city`);
//! - **kind and format**: text, numbers, emails, dates, unix times, amounts in minor units or as
//!   decimals; a pair that needs a conversion gets one in the mapping (`/ 100`, `todate`);
//! - **sample values** both sides have.
//!
//! Pairs are chosen best first, each source field used once. A destination first or last name
//! with no source of its own is split from a full name. Every suggested field carries its
//! confidence (0 to 1) and the reasons; required destination fields nothing matched are listed.
//! The mapping is compiled under the mapping sandbox's limits before it is offered.

pub mod names;
pub mod shape;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::connector::definition::{ConnectorDefinition, RecordSchema};
use crate::connector::mapping::Mapping;
use names::{concept, context_overlap, name_similarity, tokens, Concept};
pub use shape::{Field, Format, Kind, RecordShape};

/// Pairs scoring below this are not suggested.
pub const THRESHOLD: f64 = 0.45;

#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error("record schema: {0}")]
    Schema(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the suggested mapping does not compile: {0}")]
    Mapping(String),
}

/// How a destination field's value is made.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A source field, converted where the formats differ.
    Field {
        path: String,
        conversion: Option<Conversion>,
    },
    /// A part of a full name split on spaces.
    NamePart { path: String, part: NamePart },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamePart {
    First,
    Rest,
}

/// Conversions between formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// Cents to a decimal amount: `/ 100`.
    MinorToDecimal,
    /// A decimal amount to cents.
    DecimalToMinor,
    /// Text holding a number to a number.
    ToNumber,
    /// A number or boolean to text.
    ToText,
    /// Unix seconds to an ISO 8601 date-time.
    UnixToDateTime,
    /// Unix seconds to a `YYYY-MM-DD` date.
    UnixToDate,
    /// An ISO 8601 date-time to its date.
    DateTimeToDate,
    /// An ISO 8601 date-time to unix seconds.
    DateTimeToUnix,
}

impl Conversion {
    fn describe(self) -> &'static str {
        match self {
            Conversion::MinorToDecimal => "minor units divided by 100",
            Conversion::DecimalToMinor => "decimal amount times 100",
            Conversion::ToNumber => "text read as a number",
            Conversion::ToText => "written as text",
            Conversion::UnixToDateTime => "unix time as an ISO 8601 date-time",
            Conversion::UnixToDate => "unix time as a date",
            Conversion::DateTimeToDate => "date-time cut to its date",
            Conversion::DateTimeToUnix => "date-time as unix time",
        }
    }

    fn apply(self, expr: &str) -> String {
        match self {
            Conversion::MinorToDecimal => format!("(if {expr} == null then null else {expr} / 100 end)"),
            Conversion::DecimalToMinor => {
                format!("(if {expr} == null then null else ({expr} | tonumber) * 100 | round end)")
            }
            Conversion::ToNumber => format!("(if {expr} == null then null else {expr} | tonumber end)"),
            Conversion::ToText => format!("(if {expr} == null then null else {expr} | tostring end)"),
            Conversion::UnixToDateTime => format!("(if {expr} == null then null else {expr} | todate end)"),
            Conversion::UnixToDate => {
                format!("(if {expr} == null then null else {expr} | strftime(\"%Y-%m-%d\") end)")
            }
            Conversion::DateTimeToDate => format!("(if {expr} == null then null else {expr}[0:10] end)"),
            Conversion::DateTimeToUnix => {
                format!("(if {expr} == null then null else {expr} | sub(\"\\\\.[0-9]+\"; \"\") | fromdate end)")
            }
        }
    }
}

/// One destination field's suggested source.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldSuggestion {
    /// The destination field, dotted (`properties.email`).
    pub destination: String,
    pub source: Source,
    /// The jq expression that makes its value.
    pub expression: String,
    /// 0 to 1.
    pub confidence: f64,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// A proposed mapping.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub fields: Vec<FieldSuggestion>,
    /// Required destination fields nothing matched.
    pub unmatched_required: Vec<String>,
    /// The jq mapping, compiled under the sandbox's limits.
    pub mapping: String,
}

impl Suggestion {
    /// The suggestion for one destination field.
    pub fn field(&self, destination: &str) -> Option<&FieldSuggestion> {
        self.fields.iter().find(|f| f.destination == destination)
    }
}

struct Candidate<'a> {
    dest: usize,
    source: &'a Field,
    score: f64,
    conversion: Option<Conversion>,
    reasons: Vec<String>,
}

/// Proposes a mapping from `source` records to `destination` records.
pub fn suggest(source: &RecordShape, destination: &RecordShape) -> Result<Suggestion, SuggestError> {
    let targets: Vec<&Field> = destination
        .fields
        .iter()
        .filter(|f| !f.read_only && !matches!(f.kind, Kind::Array | Kind::Object) && !is_system_field(f))
        .collect();
    let sources: Vec<&Field> = source
        .fields
        .iter()
        .filter(|f| !matches!(f.kind, Kind::Array | Kind::Object))
        .collect();

    let mut candidates = Vec::new();
    for (i, dest) in targets.iter().enumerate() {
        for src in &sources {
            if let Some(c) = score(i, dest, src) {
                candidates.push(c);
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.source.path.len().cmp(&b.source.path.len()))
            .then_with(|| a.source.dotted().cmp(&b.source.dotted()))
    });

    let mut chosen: BTreeMap<usize, FieldSuggestion> = BTreeMap::new();
    let mut used: Vec<&[String]> = Vec::new();
    for c in candidates {
        if chosen.contains_key(&c.dest) || used.contains(&c.source.path.as_slice()) {
            continue;
        }
        used.push(&c.source.path);
        let expression = match c.conversion {
            Some(conv) => conv.apply(&path_expr(&c.source.path)),
            None => path_expr(&c.source.path),
        };
        chosen.insert(
            c.dest,
            FieldSuggestion {
                destination: targets[c.dest].dotted(),
                source: Source::Field {
                    path: c.source.dotted(),
                    conversion: c.conversion,
                },
                expression,
                confidence: round2(c.score.min(1.0)),
                reasons: c.reasons,
            },
        );
    }

    // First and last names nothing else gave: split from a full name.
    let full_name = sources
        .iter()
        .filter(|s| concept(&s.path) == Some(Concept::FullName) && s.kind == Kind::Text)
        .min_by_key(|s| s.path.len());
    if let Some(full) = full_name {
        for (i, dest) in targets.iter().enumerate() {
            let part = match concept(&dest.path) {
                Some(Concept::GivenName) => NamePart::First,
                Some(Concept::FamilyName) => NamePart::Rest,
                _ => continue,
            };
            if chosen.get(&i).is_some_and(|c| c.confidence >= 0.6) {
                continue;
            }
            let base = format!("(({} // \"\") | split(\" \"))", path_expr(&full.path));
            let expression = match part {
                NamePart::First => format!("({base}[0] // \"\")"),
                NamePart::Rest => format!("({base}[1:] | join(\" \"))"),
            };
            chosen.insert(
                i,
                FieldSuggestion {
                    destination: dest.dotted(),
                    source: Source::NamePart {
                        path: full.dotted(),
                        part,
                    },
                    expression,
                    confidence: 0.6,
                    reasons: vec![format!(
                        "{} is {}; `{}` is a full name, split on spaces",
                        dest.dotted(),
                        concept(&dest.path).map(Concept::describe).unwrap_or("a name"),
                        full.dotted()
                    )],
                },
            );
        }
    }

    // Required fields nothing gave, references (an id to look up) and whole arrays and
    // objects (never suggested) included.
    let given: Vec<String> = chosen.values().map(|f| f.destination.clone()).collect();
    let unmatched_required = destination
        .fields
        .iter()
        .filter(|f| f.required && !f.read_only && concept(&f.path) != Some(Concept::Id))
        .map(Field::dotted)
        .filter(|d| !given.contains(d))
        .collect();
    let fields: Vec<FieldSuggestion> = chosen.into_values().collect();
    let mapping = render(&fields);
    Mapping::compile(&mapping).map_err(|e| SuggestError::Mapping(e.to_string()))?;
    Ok(Suggestion {
        fields,
        unmatched_required,
        mapping,
    })
}

fn score<'a>(dest_index: usize, dest: &Field, src: &'a Field) -> Option<Candidate<'a>> {
    let mut reasons = Vec::new();
    let dest_leaf = tokens(dest.path.last()?);
    let src_leaf = tokens(src.path.last()?);
    let (dc, sc) = (concept(&dest.path), concept(&src.path));
    let mut score = if dest_leaf == src_leaf && !dest_leaf.is_empty() && dc == sc {
        reasons.push(format!("same name `{}`", dest_leaf.join("_")));
        0.8
    } else if dc.is_some() && dc == sc {
        reasons.push(format!("both are {}", dc.map(Concept::describe).unwrap_or_default()));
        // Among fields of one meaning, the one whose words the destination shares, then the
        // plainest name (`email` before `contact_email`).
        let dest_words: Vec<String> = dest.path.iter().flat_map(|s| tokens(s)).collect();
        let shared = src_leaf.iter().filter(|w| dest_words.contains(w)).count() as f64;
        0.7 + 0.05 * shared / (src_leaf.len() + dest_words.len()) as f64 * 2.0 - 0.01 * src_leaf.len() as f64
    } else if let Some(start) = dc.zip(sc).and_then(|(d, s)| names::related(d, s)) {
        reasons.push(format!(
            "{} is often {}",
            dc.map(Concept::describe).unwrap_or_default(),
            sc.map(Concept::describe).unwrap_or_default()
        ));
        start
    } else if dc.is_some() && sc.is_some() {
        // Two different known meanings: never a pair.
        return None;
    } else if [&dest_leaf, &src_leaf]
        .iter()
        .any(|l| l.iter().any(|w| names::QUALIFIERS.contains(&w.as_str())))
    {
        // `EmailStatus` is alike `email` as text, and means something else.
        return None;
    } else {
        let sim = name_similarity(&dest_leaf, &src_leaf);
        if sim < 0.88 {
            return None;
        }
        reasons.push(format!("similar names ({:.0}% alike)", sim * 100.0));
        0.55 * sim
    };

    let dest_ctx: Vec<String> = dest.path[..dest.path.len() - 1]
        .iter()
        .flat_map(|s| tokens(s))
        .collect();
    let src_ctx: Vec<String> = src.path[..src.path.len() - 1].iter().flat_map(|s| tokens(s)).collect();
    let overlap = context_overlap(&dest_ctx, &src_ctx);
    if overlap > 0.0 {
        score += 0.15 * overlap;
        reasons.push(format!("in `{}` and `{}`", dest_ctx.join(" "), src_ctx.join(" ")));
    } else if !dest_ctx.is_empty() && !src_ctx.is_empty() && dc.is_none() {
        score -= 0.1;
    }
    // `ShipFromAddr` is where goods leave from: never a customer's or a shipping address.
    if dest_ctx.iter().any(|w| w == "from") != src_ctx.iter().any(|w| w == "from") {
        score -= 0.3;
    }

    let (conversion, factor) = compatibility(dest, src)?;
    score *= factor;
    if let Some(conv) = conversion {
        reasons.push(conv.describe().to_string());
    }
    match (dest.format, src.format) {
        (Some(d), Some(s)) if d == s => {
            score += 0.1;
            reasons.push(format!("both {}", d.describe()));
        }
        _ => {}
    }
    if !dest.samples.is_empty() && src.samples.iter().any(|s| dest.samples.contains(s)) {
        score += 0.1;
        reasons.push("sample values agree".into());
    }
    (score >= THRESHOLD).then_some(Candidate {
        dest: dest_index,
        source: src,
        score,
        conversion,
        reasons,
    })
}

/// Whether a source value can fill a destination field, with the conversion it needs and a
/// factor on the score.
fn compatibility(dest: &Field, src: &Field) -> Option<(Option<Conversion>, f64)> {
    use Format as F;
    use Kind as K;
    let numeric = |k: Kind| matches!(k, K::Integer | K::Number);
    match (dest.format, src.format) {
        (Some(F::Decimal), Some(F::MinorUnits)) => return Some((Some(Conversion::MinorToDecimal), 1.0)),
        (Some(F::MinorUnits), Some(F::Decimal)) => return Some((Some(Conversion::DecimalToMinor), 1.0)),
        (Some(F::DateTime), Some(F::UnixTime)) if dest.kind == K::Text => {
            return Some((Some(Conversion::UnixToDateTime), 1.0))
        }
        (Some(F::Date), Some(F::UnixTime)) if dest.kind == K::Text => return Some((Some(Conversion::UnixToDate), 1.0)),
        (Some(F::Date), Some(F::DateTime)) => return Some((Some(Conversion::DateTimeToDate), 1.0)),
        (Some(F::UnixTime), Some(F::DateTime)) if numeric(dest.kind) => {
            return Some((Some(Conversion::DateTimeToUnix), 1.0))
        }
        // Two different formats (an email for a phone), neither a date nor a decimal amount
        // (those convert, or are kinds of one another): a weak pair.
        (Some(d), Some(s))
            if d != s
                && !(matches!(d, F::Date | F::DateTime) && matches!(s, F::Date | F::DateTime))
                && !(d == F::Decimal || s == F::Decimal) =>
        {
            return Some((None, 0.4));
        }
        _ => {}
    }
    match (dest.kind, src.kind) {
        (d, s) if d == s => Some((None, 1.0)),
        (K::Unknown, _) | (_, K::Unknown) => Some((None, 0.95)),
        (K::Number, K::Integer) | (K::Integer, K::Number) => Some((None, 1.0)),
        (K::Text, K::Integer | K::Number | K::Boolean) => Some((Some(Conversion::ToText), 0.9)),
        (K::Integer | K::Number, K::Text) if src.format == Some(F::Decimal) || dest.format == Some(F::Decimal) => {
            Some((Some(Conversion::ToNumber), 0.9))
        }
        (K::Integer | K::Number, K::Text) => Some((Some(Conversion::ToNumber), 0.7)),
        _ => None,
    }
}

/// A destination's own id, its bookkeeping (`Id`, `MetaData.CreateTime`) and references to its
/// other records that have no meaning of their own (`CustomerRef.value`: an id to look up):
/// never mapped from a source field.
fn is_system_field(field: &Field) -> bool {
    concept(&field.path) == Some(Concept::Id)
        || (names::is_reference(&field.path) && concept(&field.path).is_none())
        || field.path[..field.path.len() - 1]
            .iter()
            .any(|p| matches!(p.to_lowercase().as_str(), "metadata" | "meta"))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `.billing_address.city`, with keys that are not identifiers quoted.
fn path_expr(path: &[String]) -> String {
    path.iter()
        .map(|k| {
            let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ident {
                format!(".{k}")
            } else {
                format!(".{}", serde_json::to_string(k).unwrap_or_default())
            }
        })
        .collect()
}

enum Node {
    Leaf(String),
    Object(BTreeMap<String, Node>),
}

/// The destination object built from the suggested fields' expressions.
fn render(fields: &[FieldSuggestion]) -> String {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for f in fields {
        let keys: Vec<&str> = f.destination.split('.').collect();
        insert(&mut root, &keys, &f.expression);
    }
    render_object(&root, 0)
}

fn insert(level: &mut BTreeMap<String, Node>, keys: &[&str], expression: &str) {
    match keys {
        [] => {}
        [last] => {
            level.insert(last.to_string(), Node::Leaf(expression.to_string()));
        }
        [first, rest @ ..] => {
            let node = level
                .entry(first.to_string())
                .or_insert_with(|| Node::Object(BTreeMap::new()));
            if let Node::Object(m) = node {
                insert(m, rest, expression);
            }
        }
    }
}

fn render_object(map: &BTreeMap<String, Node>, depth: usize) -> String {
    if map.is_empty() {
        return "{}".into();
    }
    let pad = "  ".repeat(depth + 1);
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| {
            let key = serde_json::to_string(k).unwrap_or_default();
            match v {
                Node::Leaf(expr) => format!("{pad}{key}: {expr}"),
                Node::Object(m) => format!("{pad}{key}: {}", render_object(m, depth + 1)),
            }
        })
        .collect();
    format!("{{\n{}\n{}}}", items.join(",\n"), "  ".repeat(depth))
}

/// The shape a definition's `schema` describes: read from `specs_dir` for a provider
/// description, or the definition's inline schema.
pub fn load_schema(schema: &RecordSchema, specs_dir: Option<&Path>) -> Result<RecordShape, SuggestError> {
    match (&schema.spec, &schema.pointer, &schema.inline) {
        (_, _, Some(inline)) => RecordShape::from_json_schema(inline, ""),
        (Some(spec), Some(pointer), None) => {
            let dir = specs_dir.ok_or_else(|| {
                SuggestError::Schema(format!(
                    "`{spec}` is read from the specs directory: pass --specs DIR or set SWITCHYARD_SPECS_DIR"
                ))
            })?;
            let path = dir.join(spec);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| SuggestError::Schema(format!("cannot read {}: {e}", path.display())))?;
            let doc: Value = if spec.ends_with(".json") {
                serde_json::from_str(&text).map_err(|e| SuggestError::Schema(format!("{spec}: {e}")))?
            } else {
                serde_yaml::from_str(&text).map_err(|e| SuggestError::Schema(format!("{spec}: {e}")))?
            };
            RecordShape::from_json_schema(&doc, pointer)
        }
        _ => Err(SuggestError::Schema(
            "a schema needs `spec` and `pointer`, or `inline`".into(),
        )),
    }
}

/// The shape of a connector's stream records: its definition's schema (if it names one),
/// merged with sample records. Neither: an error saying what to give.
pub fn stream_shape(
    def: &ConnectorDefinition,
    stream: &str,
    specs_dir: Option<&Path>,
    samples: &[Value],
) -> Result<RecordShape, SuggestError> {
    let spec = def.streams.get(stream).ok_or_else(|| {
        SuggestError::NotFound(format!(
            "connector `{}` has no stream `{stream}` (it has: {})",
            def.id,
            def.streams.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    shape_of(
        &format!("{}/{stream}", def.id),
        spec.schema.as_ref(),
        specs_dir,
        samples,
    )
}

/// The shape of the records a connector's write takes, like [`stream_shape`].
pub fn write_shape(
    def: &ConnectorDefinition,
    write: &str,
    specs_dir: Option<&Path>,
    samples: &[Value],
) -> Result<RecordShape, SuggestError> {
    let spec = def.writes.get(write).ok_or_else(|| {
        SuggestError::NotFound(format!(
            "connector `{}` has no write `{write}` (it has: {})",
            def.id,
            def.writes.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    shape_of(&format!("{}/{write}", def.id), spec.schema.as_ref(), specs_dir, samples)
}

fn shape_of(
    what: &str,
    schema: Option<&RecordSchema>,
    specs_dir: Option<&Path>,
    samples: &[Value],
) -> Result<RecordShape, SuggestError> {
    let from_samples = RecordShape::from_samples(samples);
    match schema {
        Some(schema) => Ok(load_schema(schema, specs_dir)?.merge(from_samples)),
        None if !from_samples.fields.is_empty() => Ok(from_samples),
        None => Err(SuggestError::Schema(format!(
            "{what}: the definition names no record schema; give sample records"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shape(schema: Value) -> RecordShape {
        RecordShape::from_json_schema(&schema, "").unwrap()
    }

    #[test]
    fn names_formats_and_splits_make_the_mapping() {
        let source = shape(json!({"type": "object", "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "phone": {"type": "string"},
            "created": {"type": "integer", "format": "unix-time"},
            "balance": {"type": "integer", "description": "in cents"},
            "address": {"type": "object", "properties": {"city": {"type": "string"}, "postal_code": {"type": "string"}}}
        }}));
        let dest = shape(
            json!({"type": "object", "required": ["properties"], "properties": {"properties": {
                "type": "object", "required": ["email"], "properties": {
                    "email": {"type": "string", "format": "email"},
                    "firstname": {"type": "string"},
                    "lastname": {"type": "string"},
                    "mobilephone": {"type": "string"},
                    "city": {"type": "string"},
                    "zip": {"type": "string"},
                    "signup_date": {"type": "string", "format": "date"},
                    "balance_amount": {"type": "number"},
                    "industry": {"type": "string"}
            }}}}),
        );
        let s = suggest(&source, &dest).unwrap();
        let src = |d: &str| s.field(d).map(|f| f.source.clone());
        let field = |p: &str, conversion| {
            Some(Source::Field {
                path: p.into(),
                conversion,
            })
        };
        assert_eq!(src("properties.email"), field("email", None));
        assert_eq!(src("properties.mobilephone"), field("phone", None));
        assert_eq!(src("properties.city"), field("address.city", None));
        assert_eq!(src("properties.zip"), field("address.postal_code", None));
        assert_eq!(
            src("properties.firstname"),
            Some(Source::NamePart {
                path: "name".into(),
                part: NamePart::First
            })
        );
        assert_eq!(
            src("properties.lastname"),
            Some(Source::NamePart {
                path: "name".into(),
                part: NamePart::Rest
            })
        );
        assert_eq!(src("properties.industry"), None);
        assert!(s.unmatched_required.is_empty());
        let mapping = Mapping::compile(&s.mapping).unwrap();
        let out = mapping
            .apply(&json!({"id": "cus_1", "name": "Ada King Lovelace", "email": "ada@example.com", "created": 0, "balance": 1250, "address": {"city": "Perth", "postal_code": "6000"}}))
            .unwrap();
        assert_eq!(out["properties"]["firstname"], "Ada");
        assert_eq!(out["properties"]["lastname"], "King Lovelace");
        assert_eq!(out["properties"]["city"], "Perth");
        assert!(s
            .fields
            .iter()
            .all(|f| f.confidence > 0.0 && f.confidence <= 1.0 && !f.reasons.is_empty()));
    }

    #[test]
    fn amounts_and_times_are_converted() {
        let source = shape(json!({"type": "object", "properties": {
            "amount_due": {"type": "integer", "description": "Final amount due, in the smallest currency unit."},
            "created": {"type": "integer", "format": "unix-time"},
            "due_date": {"type": "integer", "format": "unix-time"}
        }}));
        let dest = shape(json!({"type": "object", "properties": {
            "TotalAmt": {"type": "number"},
            "TxnDate": {"type": "string", "description": "yyyy/MM/dd"},
            "DueDate": {"type": "string", "format": "date"}
        }}));
        let s = suggest(&source, &dest).unwrap();
        let out = Mapping::compile(&s.mapping)
            .unwrap()
            .apply(&json!({"amount_due": 1999, "created": 86400, "due_date": 172800}))
            .unwrap();
        assert_eq!(out["TotalAmt"], json!(19.99));
        assert_eq!(out["DueDate"], "1970-01-03");
    }

    #[test]
    fn required_fields_nothing_matched_are_listed() {
        let source = shape(json!({"type": "object", "properties": {"email": {"type": "string"}}}));
        let dest = shape(
            json!({"type": "object", "required": ["email", "CustomerRef", "Line"], "properties": {
                "email": {"type": "string"},
                "CustomerRef": {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}},
                "Line": {"type": "array", "items": {}}
            }}),
        );
        let s = suggest(&source, &dest).unwrap();
        assert_eq!(s.unmatched_required, ["CustomerRef.value", "Line"]);
    }

    #[test]
    fn different_meanings_never_pair() {
        let source = shape(json!({"type": "object", "properties": {"phone": {"type": "string"}}}));
        let dest = shape(json!({"type": "object", "properties": {"email": {"type": "string"}}}));
        assert!(suggest(&source, &dest).unwrap().fields.is_empty());
    }
}
