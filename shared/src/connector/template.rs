//! `{{ name }}` placeholders in request templates: parsing, and rendering against [`Vars`].
//!
//! A name is dotted segments (`config.base_url`, `page.token`, `record.properties.email`).
//! A placeholder whose value is unset (or JSON `null`) makes its query parameter, header or
//! body field disappear; in a path it is an error. In a JSON body a string that is exactly one
//! placeholder keeps the value's JSON type; `{{ name | string }}` makes it a JSON string (an
//! API that takes a number as text: `"value": "{{ since.unix_millis | string }}"`).
//!
//! Text filters follow the name, applied left to right, and make the value text: `lower`,
//! `upper`, `trim`, `md5` (the lowercase hex MD5 digest of the text, for APIs that key a
//! record by a hash: Mailchimp's member id is `{{ record.email | trim | lower | md5 }}`) and
//! `last_segment` (a resource URI's last path segment: Calendly's ids are URIs) and
//! `odata_string` (single quotes doubled, for a value inside an OData string literal such as
//! an alternate key `contacts(emailaddress1='{{ key | odata_string }}')`). An
//! unset value stays unset through any filter. Nothing here performs I/O.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

/// Characters left alone in a path segment (RFC 3986 unreserved).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A dotted placeholder name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarName(String);

impl VarName {
    /// The whole name (`page.token`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first segment (`page`).
    pub fn root(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A text filter: `{{ name | lower | md5 }}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `string`: the value as text, unchanged.
    String,
    /// `lower`: Unicode lowercase.
    Lower,
    /// `upper`: Unicode uppercase.
    Upper,
    /// `trim`: leading and trailing whitespace removed.
    Trim,
    /// `md5`: the lowercase hex MD5 digest of the text's UTF-8 bytes.
    Md5,
    /// `last_segment`: the text after the last `/` (query and fragment dropped, a trailing `/`
    /// ignored), for APIs whose ids are resource URIs (Calendly's
    /// `https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2` is `GBGBDCAADAEDCRZ2`); text
    /// without a `/` is kept.
    LastSegment,
    /// `odata_string`: every `'` doubled, as the inside of an OData string literal needs (a
    /// key predicate or a `$filter` value): `o'brien` is `o''brien`.
    OdataString,
}

impl Filter {
    fn from_name(name: &str) -> Option<Filter> {
        Some(match name {
            "string" => Filter::String,
            "lower" => Filter::Lower,
            "upper" => Filter::Upper,
            "trim" => Filter::Trim,
            "md5" => Filter::Md5,
            "last_segment" => Filter::LastSegment,
            "odata_string" => Filter::OdataString,
            _ => return None,
        })
    }

    fn apply(self, text: String) -> String {
        match self {
            Filter::String => text,
            Filter::Lower => text.to_lowercase(),
            Filter::Upper => text.to_uppercase(),
            Filter::Trim => text.trim().to_owned(),
            Filter::Md5 => {
                use md5::{Digest, Md5};
                hex::encode(Md5::digest(text.as_bytes()))
            }
            Filter::LastSegment => {
                let path = text.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
                path.rsplit('/').next().unwrap_or_default().to_owned()
            }
            Filter::OdataString => text.replace('\'', "''"),
        }
    }
}

/// A placeholder: its name and the text filters after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Placeholder {
    name: VarName,
    filters: Vec<Filter>,
}

impl Placeholder {
    /// The value's name.
    pub fn name(&self) -> &VarName {
        &self.name
    }

    /// Whether filters follow the name (the value is then text).
    pub fn has_filters(&self) -> bool {
        !self.filters.is_empty()
    }

    /// The value, filtered: as it is without filters, else text; `None` when unset or null.
    pub fn value<'v>(&self, vars: &'v Vars<'_>) -> Option<Cow<'v, Value>> {
        if self.filters.is_empty() {
            return vars.get(&self.name).filter(|v| !v.is_null());
        }
        self.text(vars).map(|t| Cow::Owned(Value::String(t)))
    }

    /// The value as text, filtered; `None` when unset or null.
    pub fn text(&self, vars: &Vars<'_>) -> Option<String> {
        let text = vars.text(&self.name)?;
        Some(self.filters.iter().fold(text, |t, f| f.apply(t)))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(Placeholder),
}

/// A parsed string template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A template that does not parse. Names the offending text, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` at byte {0} is never closed with `}}}}`")]
    Unclosed(usize),
    #[error("empty placeholder at byte {0}")]
    Empty(usize),
    #[error("placeholder `{0}` is not a dotted name of letters, digits, `_` and `-`")]
    BadName(String),
    #[error("placeholder `{0}`: `{1}` is not a filter (filters: string, lower, upper, trim, md5, last_segment, odata_string)")]
    UnknownFilter(String, String),
    #[error("with `body_format: xml` the body is one string, the XML document's template")]
    XmlBodyNotText,
    #[error("with `body_format: base64` the body is one string, the placeholder of the file's base64 text")]
    Base64BodyNotText,
    #[error("placeholder `{0}` is a secret slot, which takes no filters")]
    SecretFiltered(String),
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(TemplateError::Unclosed(offset + start))?;
            let inner = after[..end].trim();
            let mut pieces = inner.split('|').map(str::trim);
            let name = pieces.next().unwrap_or_default();
            if name.is_empty() {
                return Err(TemplateError::Empty(offset + start));
            }
            let valid = name.split('.').all(|segment| {
                !segment.is_empty()
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
            if !valid {
                return Err(TemplateError::BadName(name.to_owned()));
            }
            let filters = pieces
                .map(|f| {
                    Filter::from_name(f).ok_or_else(|| TemplateError::UnknownFilter(name.to_owned(), f.to_owned()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            parts.push(Part::Var(Placeholder {
                name: VarName(name.to_owned()),
                filters,
            }));
            let consumed = start + 2 + end + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The placeholder names used, in order.
    pub fn vars(&self) -> impl Iterator<Item = &VarName> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(&v.name),
            Part::Lit(_) => None,
        })
    }

    /// The name, when the template is exactly one placeholder (`"{{ records }}"`).
    pub fn single_var(&self) -> Option<&VarName> {
        match self.parts.as_slice() {
            [Part::Var(v)] if !v.has_filters() => Some(&v.name),
            _ => None,
        }
    }

    /// Renders to text; `None` when a placeholder is unset. `encode_path` percent-encodes
    /// each value as one path segment.
    pub fn render(&self, vars: &Vars<'_>, encode_path: bool) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(text) => out.push_str(text),
                Part::Var(p) => {
                    let value = p.text(vars)?;
                    if encode_path {
                        out.extend(utf8_percent_encode(&value, PATH_SEGMENT));
                    } else {
                        out.push_str(&value);
                    }
                }
            }
        }
        Some(out)
    }

    /// Renders a URL path: each value percent-encoded as one path segment. A value of `.`
    /// or `..` cannot be one (URL parsers resolve it, `%2E` included, and the request would
    /// climb to another endpoint: `DELETE /customers/..` is `DELETE /`), so it is refused
    /// with [`PathError::DotSegment`] naming the placeholder.
    pub fn render_path(&self, vars: &Vars<'_>) -> Result<String, PathError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(text) => out.push_str(text),
                Part::Var(p) => {
                    let value = p.text(vars).ok_or_else(|| PathError::Unset(p.name.clone()))?;
                    if value == "." || value == ".." {
                        return Err(PathError::DotSegment(p.name.clone()));
                    }
                    out.extend(utf8_percent_encode(&value, PATH_SEGMENT));
                }
            }
        }
        Ok(out)
    }

    /// The template's pieces in order: literal text as `Ok`, placeholders as `Err` (for
    /// renderers with their own escaping, such as XML bodies).
    pub fn parts(&self) -> impl Iterator<Item = Result<&str, &Placeholder>> {
        self.parts.iter().map(|p| match p {
            Part::Lit(text) => Ok(text.as_str()),
            Part::Var(v) => Err(v),
        })
    }

    /// Whether the template has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.vars().next().is_none()
    }
}

/// Why a path template does not render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The placeholder's value is unset (or null).
    Unset(VarName),
    /// The placeholder's value is `.` or `..`, which a URL path cannot carry as a segment.
    DotSegment(VarName),
}

/// The object key whose value, rendered to an object, is spread into the enclosing object
/// (the object's other keys win): `{"attributes": {"type": "Contact"}, "...": "{{ record }}"}`
/// sends the record's fields beside `attributes`, as Salesforce's sObject Collections want.
/// Quote it in YAML (`"...": "{{ record }}"`), where a bare `...` ends the document. A value
/// that renders to anything but an object adds nothing.
pub const SPREAD: &str = "...";

/// A JSON body template, compiled once.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// A value without placeholders.
    Lit(Value),
    /// A string template; a single placeholder keeps the value's JSON type.
    Str(Template),
    Arr(Vec<JsonTemplate>),
    Obj(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Compiles a JSON value whose strings may hold placeholders. The error names the JSON
    /// pointer of the bad string.
    pub fn compile(value: &Value) -> Result<JsonTemplate, (String, TemplateError)> {
        fn go(value: &Value, at: &mut String) -> Result<JsonTemplate, (String, TemplateError)> {
            Ok(match value {
                Value::String(s) => {
                    let t = Template::parse(s).map_err(|e| (at.clone(), e))?;
                    if t.is_literal() {
                        JsonTemplate::Lit(value.clone())
                    } else {
                        JsonTemplate::Str(t)
                    }
                }
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let len = at.len();
                        at.push_str(&format!("/{i}"));
                        out.push(go(item, at)?);
                        at.truncate(len);
                    }
                    JsonTemplate::Arr(out)
                }
                Value::Object(map) => {
                    let mut out = Vec::with_capacity(map.len());
                    for (k, v) in map {
                        let len = at.len();
                        at.push('/');
                        at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                        out.push((k.clone(), go(v, at)?));
                        at.truncate(len);
                    }
                    JsonTemplate::Obj(out)
                }
                other => JsonTemplate::Lit(other.clone()),
            })
        }
        go(value, &mut String::new())
    }

    /// Every placeholder name used.
    pub fn vars(&self) -> Vec<&VarName> {
        let mut out = Vec::new();
        fn go<'a>(t: &'a JsonTemplate, out: &mut Vec<&'a VarName>) {
            match t {
                JsonTemplate::Lit(_) => {}
                JsonTemplate::Str(s) => out.extend(s.vars()),
                JsonTemplate::Arr(items) => items.iter().for_each(|i| go(i, out)),
                JsonTemplate::Obj(fields) => fields.iter().for_each(|(_, v)| go(v, out)),
            }
        }
        go(self, &mut out);
        out
    }

    /// Renders; `None` when the whole value is unset. Unset object fields and array items
    /// are dropped. An object's `...` key spreads the object its value renders to into the
    /// object (`{"...": "{{ record }}", "sparse": true}`: the record's fields and `sparse`);
    /// the object's other keys win over spread fields of the same name (an unset one leaves
    /// the field out), and a spread value that is unset or not an object adds nothing.
    pub fn render(&self, vars: &Vars<'_>) -> Option<Value> {
        match self {
            JsonTemplate::Lit(v) => Some(v.clone()),
            JsonTemplate::Str(t) => match t.single_var() {
                Some(name) => vars.get(name).filter(|v| !v.is_null()).map(Cow::into_owned),
                None => t.render(vars, false).map(Value::String),
            },
            JsonTemplate::Arr(items) => Some(Value::Array(items.iter().filter_map(|i| i.render(vars)).collect())),
            JsonTemplate::Obj(fields) => {
                let mut map = Map::new();
                for (_, v) in fields.iter().filter(|(k, _)| k == SPREAD) {
                    if let Some(Value::Object(spread)) = v.render(vars) {
                        map.extend(spread);
                    }
                }
                for (k, v) in fields.iter().filter(|(k, _)| k != SPREAD) {
                    match v.render(vars) {
                        Some(rendered) => {
                            map.insert(k.clone(), rendered);
                        }
                        // An unset field is left out, also when a spread object has it.
                        None => {
                            map.remove(k);
                        }
                    }
                }
                Some(Value::Object(map))
            }
        }
    }
}

/// Values placeholders resolve to: dotted names set directly (`page.token`, `since`) and
/// roots walked into (`config`, `record`).
#[derive(Debug, Default, Clone)]
pub struct Vars<'a> {
    exact: BTreeMap<&'static str, Value>,
    roots: BTreeMap<&'static str, Cow<'a, Value>>,
}

impl<'a> Vars<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a name exactly (`page.token`). `None` leaves it unset.
    pub fn set(&mut self, name: &'static str, value: Option<Value>) -> &mut Self {
        if let Some(v) = value {
            self.exact.insert(name, v);
        }
        self
    }

    /// Sets a root walked by dotted names (`config` -> `config.account_id`).
    pub fn root(&mut self, name: &'static str, value: Cow<'a, Value>) -> &mut Self {
        self.roots.insert(name, value);
        self
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &VarName) -> Option<Cow<'_, Value>> {
        if let Some(v) = self.exact.get(name.as_str()) {
            return Some(Cow::Borrowed(v));
        }
        let mut segments = name.as_str().split('.');
        let mut current: &Value = self.roots.get(segments.next()?)?.as_ref();
        for segment in segments {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(Cow::Borrowed(current))
    }

    /// The value of `name` as text: strings as they are, numbers and booleans printed,
    /// arrays and objects as compact JSON; `None` when unset or null.
    pub fn text(&self, name: &VarName) -> Option<String> {
        match self.get(name)?.as_ref() {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars<'static> {
        let mut v = Vars::new();
        v.set("page.token", Some(json!("cus_9")))
            .set("page.size", Some(json!(100)))
            .set("id", Some(json!("a/b c")))
            .root(
                "config",
                Cow::Owned(json!({"account": "acme", "flag": true, "none": null})),
            )
            .root(
                "record",
                Cow::Owned(json!({"email": "x@y.z", "tags": ["a", "b"], "n": 3})),
            );
        v
    }

    #[test]
    fn a_path_value_of_dot_or_dot_dot_is_refused_not_resolved() {
        // Found with the request_template fuzz target's check that a value stays in its
        // segment: `..` percent-encodes to itself and the URL parser climbs a segment.
        let t = Template::parse("/customers/{{ record.id }}").unwrap();
        for id in [".", ".."] {
            let mut v = Vars::new();
            v.root("record", Cow::Owned(json!({ "id": id })));
            assert_eq!(
                t.render_path(&v),
                Err(PathError::DotSegment(VarName("record.id".into())))
            );
        }
        let mut v = Vars::new();
        v.root("record", Cow::Owned(json!({"id": "...", "other": ".."})));
        assert_eq!(t.render_path(&v).unwrap(), "/customers/...");
        assert_eq!(
            t.render_path(&Vars::new()),
            Err(PathError::Unset(VarName("record.id".into())))
        );
        // Literal dots are the definition's own: left alone.
        let t = Template::parse("/v1/../{{ config.account }}/.").unwrap();
        assert_eq!(t.render_path(&vars()).unwrap(), "/v1/../acme/.");
    }

    #[test]
    fn parses_literals_and_placeholders_with_or_without_spaces() {
        let t = Template::parse("/v1/{{config.account}}/items/{{ id }}").unwrap();
        assert_eq!(
            t.vars().map(VarName::as_str).collect::<Vec<_>>(),
            ["config.account", "id"]
        );
        assert_eq!(t.render(&vars(), true).unwrap(), "/v1/acme/items/a%2Fb%20c");
        assert!(Template::parse("plain").unwrap().is_literal());
    }

    #[test]
    fn rejects_unclosed_empty_and_malformed_placeholders() {
        assert_eq!(Template::parse("a {{ b").unwrap_err(), TemplateError::Unclosed(2));
        assert_eq!(Template::parse("{{ }}").unwrap_err(), TemplateError::Empty(0));
        assert!(matches!(Template::parse("{{ a..b }}"), Err(TemplateError::BadName(_))));
        assert!(matches!(Template::parse("{{ a b }}"), Err(TemplateError::BadName(_))));
    }

    #[test]
    fn unset_or_null_values_render_to_none() {
        let v = vars();
        assert_eq!(Template::parse("{{ since }}").unwrap().render(&v, false), None);
        assert_eq!(Template::parse("x{{ config.none }}").unwrap().render(&v, false), None);
        assert_eq!(
            Template::parse("{{ config.flag }}").unwrap().render(&v, false).unwrap(),
            "true"
        );
        assert_eq!(
            Template::parse("{{ page.size }}").unwrap().render(&v, false).unwrap(),
            "100"
        );
    }

    #[test]
    fn the_string_filter_renders_a_single_placeholder_as_text() {
        let t = JsonTemplate::compile(&json!({"n": "{{ page.size | string }}", "m": "{{page.size|string}}"})).unwrap();
        assert_eq!(t.render(&vars()).unwrap(), json!({"n": "100", "m": "100"}));
        let t = JsonTemplate::compile(&json!({"n": "{{ page.missing | string }}"})).unwrap();
        assert_eq!(t.render(&vars()).unwrap(), json!({}));
        assert_eq!(
            Template::parse("{{ page.size | reverse }}"),
            Err(TemplateError::UnknownFilter("page.size".into(), "reverse".into()))
        );
    }

    #[test]
    fn text_filters_chain_left_to_right_and_make_the_value_text() {
        let mut v = Vars::new();
        v.root(
            "record",
            Cow::Owned(json!({"email": "  Urist.McVankab@FreddieMacGuffin.com ", "n": 7})),
        );
        // Mailchimp's subscriber hash: MD5 of the trimmed, lower-cased address.
        let t = Template::parse("/members/{{ record.email | trim | lower | md5 }}").unwrap();
        assert_eq!(t.render_path(&v).unwrap(), "/members/e5d24cb4b8d71200e58e19e25e077661");
        assert_eq!(
            Template::parse("{{ record.email|trim|upper }}")
                .unwrap()
                .render(&v, false)
                .unwrap(),
            "URIST.MCVANKAB@FREDDIEMACGUFFIN.COM"
        );
        // Order matters: md5 then upper is an upper-case digest.
        let a = Template::parse("{{ record.email | md5 | upper }}")
            .unwrap()
            .render(&v, false)
            .unwrap();
        assert_eq!(a, a.to_uppercase());
        assert_ne!(a, a.to_lowercase());
        // A filtered single placeholder is text in a JSON body; an unset one is left out.
        let t =
            JsonTemplate::compile(&json!({"n": "{{ record.n | md5 }}", "gone": "{{ record.none | lower }}"})).unwrap();
        assert_eq!(t.render(&v).unwrap(), json!({"n": "8f14e45fceea167a5a36dedd4bea2543"}));
        assert_eq!(
            Template::parse("{{ record.email | lower | sha1 }}"),
            Err(TemplateError::UnknownFilter("record.email".into(), "sha1".into()))
        );
        let mut v = Vars::new();
        v.root(
            "record",
            Cow::Owned(json!({"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2", "bare": "AAA", "dir": "https://x/a/b/?q=1"})),
        );
        let t = Template::parse(
            "/e/{{ record.uri | last_segment }}/{{ record.bare | last_segment }}/{{ record.dir | last_segment }}",
        )
        .unwrap();
        assert_eq!(t.render_path(&v).unwrap(), "/e/GBGBDCAADAEDCRZ2/AAA/b");
        // A value inside an OData string literal: quotes doubled, then percent-encoded in a path.
        let mut v = Vars::new();
        v.root("record", Cow::Owned(json!({"key": "o'brien@x.io"})));
        let t = Template::parse("/contacts(emailaddress1='{{ record.key | odata_string }}')").unwrap();
        assert_eq!(
            t.render_path(&v).unwrap(),
            "/contacts(emailaddress1='o%27%27brien%40x.io')"
        );
        assert_eq!(
            Template::parse("{{ record.email | }}"),
            Err(TemplateError::UnknownFilter("record.email".into(), "".into()))
        );
    }

    #[test]
    fn json_templates_keep_types_for_single_placeholders_and_drop_unset_fields() {
        let body = json!({
            "email": "{{ record.email }}",
            "greeting": "hi {{ record.email }}",
            "count": "{{ record.n }}",
            "tags": "{{ record.tags }}",
            "after": "{{ page.after }}",
            "list": ["{{ record.n }}", "{{ missing }}", 7],
            "literal": {"a": 1}
        });
        let t = JsonTemplate::compile(&body).unwrap();
        assert_eq!(
            t.render(&vars()).unwrap(),
            json!({
                "email": "x@y.z",
                "greeting": "hi x@y.z",
                "count": 3,
                "tags": ["a", "b"],
                "list": [3, 7],
                "literal": {"a": 1}
            })
        );
        let names: Vec<_> = t.vars().into_iter().map(VarName::as_str).collect();
        assert!(names.contains(&"page.after") && names.contains(&"missing"));
    }

    #[test]
    fn a_spread_key_merges_an_object_and_the_templates_own_keys_win() {
        let t = JsonTemplate::compile(
            &json!({"...": "{{ record }}", "SyncToken": "{{ current.SyncToken }}", "sparse": true}),
        )
        .unwrap();
        let record = json!({"Id": "7", "DisplayName": "Ada", "SyncToken": "0", "sparse": false});
        let mut vars = Vars::new();
        vars.root("record", Cow::Borrowed(&record))
            .root("current", Cow::Owned(json!({"SyncToken": "3"})));
        assert_eq!(
            t.render(&vars).unwrap(),
            json!({"Id": "7", "DisplayName": "Ada", "SyncToken": "3", "sparse": true})
        );
        // Without `current` the template's unset SyncToken leaves the record's out too.
        let mut vars = Vars::new();
        vars.root("record", Cow::Borrowed(&record));
        assert_eq!(
            t.render(&vars).unwrap(),
            json!({"Id": "7", "DisplayName": "Ada", "sparse": true})
        );
        // A spread of something that is not an object adds nothing.
        let mut vars = Vars::new();
        vars.root("record", Cow::Owned(json!("text")));
        assert_eq!(t.render(&vars).unwrap(), json!({"sparse": true}));
    }

    #[test]
    fn a_spread_key_merges_an_object_and_the_enclosing_fields_win() {
        let t = JsonTemplate::compile(&json!({
            "attributes": {"type": "Contact"},
            "email": "fixed@example.com",
            "...": "{{ record }}"
        }))
        .unwrap();
        assert_eq!(
            t.render(&vars()).unwrap(),
            json!({"attributes": {"type": "Contact"}, "email": "fixed@example.com", "n": 3, "tags": ["a", "b"]})
        );
        // A spread of a non-object (or of nothing) adds nothing.
        let t = JsonTemplate::compile(&json!({"a": 1, "...": "{{ record.tags }}"})).unwrap();
        assert_eq!(t.render(&vars()).unwrap(), json!({"a": 1}));
        let t = JsonTemplate::compile(&json!({"a": 1, "...": "{{ missing }}"})).unwrap();
        assert_eq!(t.render(&vars()).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn json_template_errors_name_the_pointer_of_the_bad_string() {
        let (at, _) = JsonTemplate::compile(&json!({"inputs": [{"id": "{{ key"}]})).unwrap_err();
        assert_eq!(at, "/inputs/0/id");
    }

    #[test]
    fn dotted_names_walk_arrays_by_index() {
        let t = Template::parse("{{ record.tags.1 }}").unwrap();
        assert_eq!(t.render(&vars(), false).unwrap(), "b");
    }
}
