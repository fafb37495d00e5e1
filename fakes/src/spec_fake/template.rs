//! Filling `{name}` placeholders in the profile's JSON templates.

use serde_json::Value;

/// Replaces placeholders in every string of `template`. A string that is exactly `{name}`
/// takes the variable's value with its type; elsewhere a variable is inserted as text.
pub(crate) fn fill(template: &Value, vars: &dyn Fn(&str) -> Option<Value>) -> Value {
    match template {
        Value::String(text) => fill_text(text, vars),
        Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, vars)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), fill(v, vars))).collect()),
        other => other.clone(),
    }
}

fn fill_text(text: &str, vars: &dyn Fn(&str) -> Option<Value>) -> Value {
    if let Some(name) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        if !name.contains(['{', '}']) {
            if let Some(value) = vars(name) {
                return value;
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match vars(name) {
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_placeholders_keep_their_type() {
        let vars = |name: &str| match name {
            "n" => Some(json!(7)),
            "object" => Some(json!({"id": "1"})),
            _ => None,
        };
        let out = fill(
            &json!({"a": "{n}", "b": "user{n}@x", "c": "{object}", "d": "{other}"}),
            &vars,
        );
        assert_eq!(out, json!({"a": 7, "b": "user7@x", "c": {"id": "1"}, "d": "{other}"}));
    }
}
