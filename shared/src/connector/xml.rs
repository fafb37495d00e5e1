//! XML request bodies and XML responses (SOAP 1.1 included), for APIs that speak XML.
//!
//! **Bodies** (`body_format: xml`): the request's `body` is one string template, the XML
//! document. Every placeholder value is XML-escaped, so a record value cannot open or close
//! an element; a value that is an object becomes elements (`{"NAME": "Ada"}` ->
//! `<NAME>Ada</NAME>`; a key `@id` becomes an attribute of the element around it) and an
//! array becomes its items in order. An unset placeholder renders as nothing. A character
//! XML 1.0 cannot carry (a control character) is refused with an error naming the
//! placeholder, never quoting the value.
//!
//! Placeholders under `session.` (the login session's token, see `type: session` auth) and
//! `credentials.` (keys of the connection's secret: a sender password inside every envelope)
//! are *secret slots*: rendering leaves a marker made of two noncharacters that XML cannot
//! contain, and the engine fills the slot, XML-escaped, just before sending (again after a new
//! login). A prepared request, a dry-run plan and a log line therefore never hold a secret,
//! and no record value can forge a slot (its noncharacters are refused).
//!
//! **Responses** whose `Content-Type` names XML (`text/xml`, `application/soap+xml`, ...)
//! are converted to a JSON value so record selectors, pagination, cursors, error rules and
//! write results read them with JSON pointers, like any JSON API:
//! * an element is keyed by its local name (namespace prefixes dropped: `soap:Envelope` ->
//!   `Envelope`);
//! * an element with neither attributes nor child elements is its text (`""` when empty);
//! * otherwise an object: attributes as `@name`, children by name (repeated names become an
//!   array, in order), non-blank text beside children or attributes as `$text`;
//! * the document is `{"<root name>": ...}`.
//!
//! One child where a list is expected stays an object; record selectors and write results
//! read an object as a list of one. Parsing is bounded: documents over the response size
//! limit are refused before parsing, nesting deeper than [`MAX_DEPTH`] is refused, and any
//! DTD is refused (roxmltree's default), so no external or custom entity is ever resolved.

use serde_json::{Map, Value};

use super::template::{Template, TemplateError, VarName, Vars};

/// Deepest element nesting accepted in a response.
pub const MAX_DEPTH: usize = 64;

/// Opens a secret slot in rendered XML (a noncharacter: never valid in XML 1.0).
const SLOT_OPEN: char = '\u{FFFE}';
/// Closes a secret slot.
const SLOT_CLOSE: char = '\u{FFFF}';

/// Roots whose placeholders are secret slots, filled at send time.
pub const SECRET_ROOTS: [&str; 2] = ["session", "credentials"];

/// Why an XML response could not be read. Never quotes the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML does not parse: {0}")]
    Syntax(String),
    #[error("the XML nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
}

/// Converts an XML document to a JSON value (see the module docs for the shape).
pub fn to_json(bytes: &[u8]) -> Result<Value, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::Syntax("the document is not UTF-8".into()))?;
    let text = text.trim_start_matches('\u{feff}');
    // DTDs (and with them every entity declaration) are refused by roxmltree's defaults.
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 1_000_000,
    };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| XmlError::Syntax(e.to_string()))?;
    let root = doc.root_element();
    let mut out = Map::new();
    out.insert(root.tag_name().name().to_owned(), element(root, 1)?);
    Ok(Value::Object(out))
}

fn element(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Value, XmlError> {
    if depth > MAX_DEPTH {
        return Err(XmlError::TooDeep);
    }
    let children: Vec<_> = node.children().filter(|c| c.is_element()).collect();
    let text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    let attributes: Vec<_> = node
        .attributes()
        .filter(|a| a.namespace() != Some("http://www.w3.org/2000/xmlns/"))
        .collect();
    if children.is_empty() && attributes.is_empty() {
        return Ok(Value::String(text));
    }
    let mut map = Map::new();
    for a in attributes {
        map.insert(format!("@{}", a.name()), Value::String(a.value().to_owned()));
    }
    for child in children {
        let name = child.tag_name().name().to_owned();
        let value = element(child, depth + 1)?;
        match map.get_mut(&name) {
            None => {
                map.insert(name, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    if !text.trim().is_empty() {
        map.insert("$text".into(), Value::String(text.trim().to_owned()));
    }
    Ok(Value::Object(map))
}

/// Whether a `Content-Type` value names an XML document.
pub fn is_xml_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "text/xml" || essence == "application/xml" || essence.ends_with("+xml")
}

/// An XML body template, compiled once.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlTemplate {
    template: Template,
}

/// Why a body could not be rendered. Names the placeholder or key, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the value of `{0}` holds a character XML cannot carry (a control character or a noncharacter)")]
    BadCharacter(String),
    #[error("the value of `{0}` has a field named `{1}`, which is not an XML element name")]
    BadName(String, String),
}

impl XmlTemplate {
    /// Parses the body template.
    pub fn compile(text: &str) -> Result<XmlTemplate, TemplateError> {
        let template = Template::parse(text)?;
        // A secret slot is filled with the secret as it is, when the request is sent.
        if let Some(p) = template
            .parts()
            .filter_map(Result::err)
            .find(|p| is_secret(p.name()) && p.has_filters())
        {
            return Err(TemplateError::SecretFiltered(p.name().to_string()));
        }
        Ok(XmlTemplate { template })
    }

    /// Placeholders other than secret slots.
    pub fn vars(&self) -> impl Iterator<Item = &VarName> {
        self.template.vars().filter(|v| !is_secret(v))
    }

    /// The secret slots (`session.token`, `credentials.sender_password`).
    pub fn secret_slots(&self) -> impl Iterator<Item = &VarName> {
        self.template.vars().filter(|v| is_secret(v))
    }

    /// Renders with every value escaped; secret slots become markers [`fill_slots`] replaces.
    pub fn render(&self, vars: &Vars<'_>) -> Result<String, RenderError> {
        let mut out = String::new();
        for part in self.template.parts() {
            match part {
                Ok(text) => out.push_str(text),
                Err(p) if is_secret(p.name()) => {
                    out.push(SLOT_OPEN);
                    out.push_str(p.name().as_str());
                    out.push(SLOT_CLOSE);
                }
                Err(p) => {
                    if let Some(value) = p.value(vars) {
                        write_value(p.name().as_str(), &value, &mut out)?;
                    }
                }
            }
        }
        Ok(out)
    }
}

fn is_secret(name: &VarName) -> bool {
    SECRET_ROOTS.contains(&name.root()) && name.as_str().contains('.')
}

/// Replaces each secret slot in `text` with `lookup(name)`, XML-escaped. A slot `lookup`
/// cannot fill is an error naming it.
pub fn fill_slots(
    text: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> Result<String, super::errors::ConnectorError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(SLOT_OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + SLOT_OPEN.len_utf8()..];
        let end = after.find(SLOT_CLOSE).unwrap_or(after.len());
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| {
            super::errors::ConnectorError::new(
                super::errors::ErrorClass::Permanent,
                super::errors::ErrorKind::Credentials,
                format!("the XML body reads `{{{{ {name} }}}}`, which is not available (a credential the connection lacks, or no session)"),
            )
        })?;
        escape_into(&value, &mut out);
        rest = after.get(end + SLOT_CLOSE.len_utf8()..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// `text` with each secret slot shown as `shown` (dry-run plans).
pub fn redact_slots(text: &str, shown: &str) -> String {
    fill_slots(text, |_| Some(shown.to_owned())).unwrap_or_else(|_| text.to_owned())
}

/// Whether a rendered body still has secret slots to fill.
pub fn has_slots(text: &str) -> bool {
    text.contains(SLOT_OPEN)
}

fn valid_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn write_text(name: &str, text: &str, out: &mut String) -> Result<(), RenderError> {
    if !text.chars().all(valid_char) {
        return Err(RenderError::BadCharacter(name.to_owned()));
    }
    escape_into(text, out);
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn write_value(name: &str, value: &Value, out: &mut String) -> Result<(), RenderError> {
    match value {
        Value::Null => Ok(()),
        Value::String(s) => write_text(name, s, out),
        Value::Number(n) => write_text(name, &n.to_string(), out),
        Value::Bool(b) => write_text(name, &b.to_string(), out),
        Value::Array(items) => items.iter().try_for_each(|item| write_value(name, item, out)),
        Value::Object(map) => {
            for (key, child) in map {
                if key.starts_with('@') {
                    continue;
                }
                if !valid_name(key) {
                    return Err(RenderError::BadName(name.to_owned(), key.clone()));
                }
                // An array under a key repeats the element.
                let items: &[Value] = match child {
                    Value::Array(items) => items,
                    one => std::slice::from_ref(one),
                };
                for item in items {
                    if item.is_null() {
                        continue;
                    }
                    out.push('<');
                    out.push_str(key);
                    if let Value::Object(fields) = item {
                        for (attr, v) in fields.iter().filter(|(k, _)| k.starts_with('@')) {
                            let attr = &attr[1..];
                            if !valid_name(attr) {
                                return Err(RenderError::BadName(name.to_owned(), format!("@{attr}")));
                            }
                            let text = match v {
                                Value::String(s) => s.clone(),
                                Value::Null => continue,
                                other => other.to_string(),
                            };
                            out.push(' ');
                            out.push_str(attr);
                            out.push_str("=\"");
                            write_text(name, &text, out)?;
                            out.push('"');
                        }
                    }
                    out.push('>');
                    write_value(name, item, out)?;
                    out.push_str("</");
                    out.push_str(key);
                    out.push('>');
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::borrow::Cow;

    #[test]
    fn responses_become_json_with_attributes_lists_and_local_names() {
        let xml = br#"<?xml version="1.0"?>
            <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
              <data count="2" numremaining="0"><customer><ID>1</ID><NAME>A &amp; B</NAME></customer>
              <customer><ID>2</ID><NAME/></customer></data></soap:Body></soap:Envelope>"#;
        let v = to_json(xml).unwrap();
        assert_eq!(v.pointer("/Envelope/Body/data/@count"), Some(&json!("2")));
        assert_eq!(v.pointer("/Envelope/Body/data/customer/0/NAME"), Some(&json!("A & B")));
        assert_eq!(v.pointer("/Envelope/Body/data/customer/1/NAME"), Some(&json!("")));
    }

    #[test]
    fn dtds_entities_and_deep_nesting_are_refused() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(matches!(to_json(xxe), Err(XmlError::Syntax(_))));
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert_eq!(to_json(deep.as_bytes()), Err(XmlError::TooDeep));
    }

    #[test]
    fn values_are_escaped_and_objects_become_elements() {
        let t = XmlTemplate::compile("<q>{{ record.name }}</q><c>{{ record }}</c>").unwrap();
        let record =
            json!({"name": "</q><evil/>", "@id": "7", "ADDR": {"@kind": "home", "CITY": "x\"y"}, "TAGS": ["a", "b"]});
        let mut vars = Vars::new();
        vars.root("record", Cow::Owned(record));
        assert_eq!(
            t.render(&vars).unwrap(),
            "<q>&lt;/q&gt;&lt;evil/&gt;</q><c><ADDR kind=\"home\"><CITY>x&quot;y</CITY></ADDR><TAGS>a</TAGS><TAGS>b</TAGS>\
             <name>&lt;/q&gt;&lt;evil/&gt;</name></c>"
        );
    }

    #[test]
    fn control_characters_and_bad_names_are_refused_naming_the_placeholder() {
        let t = XmlTemplate::compile("<q>{{ record }}</q>").unwrap();
        let mut vars = Vars::new();
        vars.root("record", Cow::Owned(json!({"a": "x\u{0}y"})));
        assert_eq!(t.render(&vars), Err(RenderError::BadCharacter("record".into())));
        let mut vars = Vars::new();
        vars.root("record", Cow::Owned(json!({"a b": "x"})));
        assert_eq!(
            t.render(&vars),
            Err(RenderError::BadName("record".into(), "a b".into()))
        );
        // A forged slot in a value is a noncharacter, refused.
        let mut vars = Vars::new();
        vars.root("record", Cow::Owned(json!({"a": "\u{FFFE}credentials.pw\u{FFFF}"})));
        assert!(t.render(&vars).is_err());
    }

    #[test]
    fn secret_slots_are_filled_escaped_at_send_time_only() {
        let t = XmlTemplate::compile("<s>{{ session.token }}</s><p>{{ credentials.pw }}</p>").unwrap();
        // Even when the template's variables hold values under those names, none is rendered.
        let mut vars = Vars::new();
        vars.root("session", Cow::Owned(serde_json::json!({"token": "SECRET-TOKEN"})))
            .root("credentials", Cow::Owned(serde_json::json!({"pw": "SECRET-PW"})));
        let rendered = t.render(&vars).unwrap();
        assert!(!rendered.contains("SECRET"), "{rendered}");
        assert_eq!(
            redact_slots(&rendered, "[REDACTED]"),
            "<s>[REDACTED]</s><p>[REDACTED]</p>"
        );
        let filled = fill_slots(&rendered, |name| Some(format!("<{name}>"))).unwrap();
        assert_eq!(filled, "<s>&lt;session.token&gt;</s><p>&lt;credentials.pw&gt;</p>");
        let err = fill_slots(&rendered, |_| None).unwrap_err();
        assert!(err.message.contains("session.token"), "{}", err.message);
    }

    #[test]
    fn filters_apply_to_values_but_a_secret_slot_takes_none() {
        let t = XmlTemplate::compile("<e>{{ record.email | lower }}</e>").unwrap();
        let mut vars = Vars::new();
        vars.root("record", Cow::Owned(json!({"email": "A&B@X.IO"})));
        assert_eq!(t.render(&vars).unwrap(), "<e>a&amp;b@x.io</e>");
        assert_eq!(
            XmlTemplate::compile("<s>{{ session.token | md5 }}</s>"),
            Err(TemplateError::SecretFiltered("session.token".into()))
        );
    }
}
