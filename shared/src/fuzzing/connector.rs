//! The connector targets: the definition parser and the request template engine.

use std::borrow::Cow;

use reqwest::Url;
use serde_json::Value;

use crate::connector::definition::{ConnectorDefinition, RequestSpec};
use crate::connector::registry::parse_definition;
use crate::connector::request::{join, same_origin, CompiledRequest};
use crate::connector::template::{JsonTemplate, Template, Vars};

/// Parses an arbitrary connector definition (YAML, of which JSON is a subset). One that
/// loads must come back unchanged through its own serialisation (JSON out, JSON in): the
/// typed definition and its defaults agree, so a field that is written one way and defaulted
/// another (a missing section read differently from an empty one) shows up here.
///
/// The JSON is read back with serde_json, not with [`parse_definition`]: the YAML parser
/// refuses implicit keys longer than 1024 characters (YAML 1.1), which a long key in JSON's
/// escaped form exceeds, so JSON is not quite a subset of what it reads.
pub fn connector_definition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(def) = parse_definition("fuzz", text) else {
        return;
    };
    let json = serde_json::to_string(&def).expect("a loaded definition serialises to JSON");
    match serde_json::from_str::<ConnectorDefinition>(&json) {
        Ok(again) => assert_eq!(again, def, "a definition changed on its way through JSON: {json}"),
        Err(error) => panic!("a loaded definition does not read back from its own JSON: {error}; JSON: {json}"),
    }
}

/// The base URL request templates are rendered on.
const BASE: &str = "https://api.example.com/v1";

/// Renders templates against arbitrary values. The first line is a JSON object of values
/// (`config`, `record`, `page`, `since`); the rest is a string template, and also a request
/// template (YAML). A rendered request must stay on its base URL, and, when the path's
/// literal text is plain (letters, digits, `/`, `-`, `_`), under the base URL's path with
/// each value in its own segment: a value cannot climb out of it (`..`).
pub fn request_template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (values, template) = text.split_once('\n').unwrap_or(("{}", text));
    let values: Value = serde_json::from_str(values).unwrap_or(Value::Null);
    let field = |name: &str| values.get(name).cloned();
    let mut vars = Vars::new();
    vars.set("page.token", values.get("page").and_then(|p| p.get("token")).cloned())
        .set("since", field("since"))
        .root("config", Cow::Owned(field("config").unwrap_or(Value::Null)))
        .root("record", Cow::Owned(field("record").unwrap_or(Value::Null)));

    // The string template engine on the whole text.
    if let Ok(parsed) = Template::parse(template) {
        let _ = parsed.render(&vars, false);
        let _ = parsed.render(&vars, true);
        let _ = (parsed.single_var(), parsed.vars().count());
    }
    // A JSON body template, when the text is JSON.
    if let Ok(body) = serde_json::from_str::<Value>(template) {
        if let Ok(compiled) = JsonTemplate::compile(&body) {
            let _ = compiled.render(&vars);
        }
    }
    // A whole request template.
    let Ok(spec) = serde_yaml::from_str::<RequestSpec>(template) else {
        return;
    };
    let Ok(request) = CompiledRequest::compile(&spec) else {
        return;
    };
    let _ = request.vars();
    let base = Url::parse(BASE).expect("the base URL parses");
    let Ok(prepared) = request.prepare(&base, &vars, &crate::connector::request::RequestDefaults::default()) else {
        return;
    };
    assert!(
        same_origin(&base, &prepared.url),
        "the request left its base URL: {}",
        prepared.url
    );
    if let Some(shape) = plain_shape(&spec.path) {
        // The same template with every value `x`: a value fills exactly one segment, so the
        // rendered path has as many segments as this one.
        let expected = join(&base, &shape).expect("a plain path joins");
        let path = prepared.url.path();
        assert!(
            (path == "/v1" || path.starts_with("/v1/"))
                && path.split('/').count() == expected.path().split('/').count(),
            "a placeholder value left its path segment: template {:?} gave {path}",
            spec.path
        );
    }
}

/// The template with each placeholder replaced by `x`, when the text outside the
/// placeholders is plain (letters, digits, `/`, `-`, `_`).
fn plain_shape(template: &str) -> Option<String> {
    let mut rest = template;
    let mut shape = String::new();
    while let Some(start) = rest.find("{{") {
        shape.push_str(&rest[..start]);
        shape.push('x');
        let end = rest[start..].find("}}")?;
        rest = &rest[start + end + 2..];
    }
    shape.push_str(rest);
    shape
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-' || b == b'_')
        .then_some(shape)
}
