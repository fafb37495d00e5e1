//! The connector targets: the definition parser and the request template engine.

use std::borrow::Cow;

use reqwest::Url;
use serde_json::Value;

use crate::connector::definition::{ConnectorDefinition, RequestSpec};
use crate::connector::registry::parse_definition;
use crate::connector::request::{same_origin, CompiledRequest};
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
/// literal text is plain (letters, digits, `/`, `-`, `_`), under the base URL's path: a
/// value fills one path segment and cannot climb out of it.
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
    let Ok(prepared) = request.prepare(&base, &vars, &[]) else {
        return;
    };
    assert!(
        same_origin(&base, &prepared.url),
        "the request left its base URL: {}",
        prepared.url
    );
    if plain_literals(&spec.path) {
        let path = prepared.url.path();
        assert!(
            path == "/v1" || path.starts_with("/v1/"),
            "a placeholder value climbed out of the base path: template {:?} gave {path}",
            spec.path
        );
    }
}

/// Whether the text outside the template's placeholders is letters, digits, `/`, `-`, `_`.
fn plain_literals(template: &str) -> bool {
    let mut rest = template;
    let mut literals = String::new();
    while let Some(start) = rest.find("{{") {
        literals.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => return false,
        }
    }
    literals.push_str(rest);
    literals
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-' || b == b'_')
}
