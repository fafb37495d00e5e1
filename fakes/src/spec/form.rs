//! Form and query strings as JSON: bracket notation (`a[b][0]=x`, `tags[]=y`) into nested
//! objects and arrays, then strings coerced to the types the schema asks for.
//!
//! Stripe's requests are form-encoded with brackets; Slack's take plain form fields; query
//! strings everywhere are strings. Validating them against a JSON Schema needs both steps.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// Parses `a=1&b[c]=2&d[]=3&d[]=4&e=5&e=6` into
/// `{"a":"1","b":{"c":"2"},"d":["3","4"],"e":["5","6"]}`. Objects whose keys are all
/// consecutive numbers from 0 become arrays.
pub fn parse(input: &str) -> Value {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(input.as_bytes()) {
        let path = split_key(&key);
        insert(&mut root, &path, Value::String(value.into_owned()));
    }
    arrays(Value::Object(root))
}

/// `a[b][]` -> `["a", "b", ""]`.
fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    let mut parts = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            break;
        };
        parts.push(stripped[..close].to_owned());
        rest = &stripped[close + 1..];
    }
    parts
}

fn insert(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let (head, tail) = (&path[0], &path[1..]);
    if tail.is_empty() {
        match map.get_mut(head) {
            // A repeated key collects its values.
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                map.insert(head.clone(), value);
            }
        }
        return;
    }
    if tail[0].is_empty() {
        // `key[]=v`: append.
        let entry = map.entry(head.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if !entry.is_array() {
            let first = entry.take();
            *entry = Value::Array(vec![first]);
        }
        if let Value::Array(items) = entry {
            if tail.len() == 1 {
                items.push(value);
            } else {
                let mut child = Map::new();
                insert(&mut child, &tail[1..], value);
                items.push(Value::Object(child));
            }
        }
        return;
    }
    let entry = map.entry(head.clone()).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(child) = entry {
        insert(child, tail, value);
    }
}

/// Turns `{"0": a, "1": b}` into `[a, b]`, recursively.
fn arrays(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let numbered = !map.is_empty() && (0..map.len()).all(|i| map.contains_key(&i.to_string()));
            if numbered {
                let mut map = map;
                let items = (0..map.len())
                    .map(|i| arrays(map.remove(&i.to_string()).unwrap_or(Value::Null)))
                    .collect();
                Value::Array(items)
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(arrays).collect()),
        other => other,
    }
}

/// Percent-decodes a path segment.
pub fn decode_segment(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Converts strings in `value` to the types `schema` asks for: integers, numbers, booleans,
/// arrays from one value or comma-separated lists. `root` is the schema document its `$ref`s
/// point into (`#/definitions/...`).
pub fn coerce(value: Value, schema: &Value, root: &Value) -> Value {
    coerce_at(value, schema, root, 0)
}

fn coerce_at(value: Value, schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > 32 {
        return value;
    }
    let schema = deref(schema, root);
    for combinator in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(combinator) {
            for branch in branches {
                let coerced = coerce_at(value.clone(), branch, root, depth + 1);
                if coerced != value {
                    return coerced;
                }
            }
        }
    }
    let types = types(schema);
    match value {
        Value::String(text) => {
            if types.iter().any(|t| t == "string") || types.is_empty() {
                return Value::String(text);
            }
            for t in &types {
                match t.as_str() {
                    "integer" => {
                        if let Ok(n) = text.parse::<i64>() {
                            return Value::from(n);
                        }
                    }
                    "number" => {
                        if let Some(n) = text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                            return Value::Number(n);
                        }
                    }
                    "boolean" => match text.as_str() {
                        "true" => return Value::Bool(true),
                        "false" => return Value::Bool(false),
                        _ => {}
                    },
                    "array" => {
                        let items = schema.get("items").unwrap_or(&Value::Bool(true));
                        return Value::Array(
                            text.split(',')
                                .map(|part| coerce_at(Value::String(part.to_owned()), items, root, depth + 1))
                                .collect(),
                        );
                    }
                    "null" if text.is_empty() => return Value::Null,
                    _ => {}
                }
            }
            Value::String(text)
        }
        Value::Array(items) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Bool(true));
            Value::Array(
                items
                    .into_iter()
                    .map(|item| coerce_at(item, item_schema, root, depth + 1))
                    .collect(),
            )
        }
        Value::Object(map) => {
            let properties = schema.get("properties");
            let additional = schema.get("additionalProperties");
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let child = properties.and_then(|p| p.get(&k)).or(additional);
                        let v = match child {
                            Some(child) => coerce_at(v, child, root, depth + 1),
                            None => v,
                        };
                        (k, v)
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

/// Follows `#/definitions/...` references inside a self-contained schema.
fn deref<'a>(mut schema: &'a Value, root: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let pointer = percent_decode_str(reference.trim_start_matches('#'))
            .decode_utf8_lossy()
            .into_owned();
        let Some(target) = root.pointer(&pointer) else {
            return schema;
        };
        schema = target;
    }
    schema
}

fn types(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn brackets_become_nested_objects_and_arrays() {
        let parsed = parse("email=a%40b.c&metadata[k]=v&expand[]=x&expand[]=y&items[0][price]=p&items[1][price]=q");
        assert_eq!(
            parsed,
            json!({
                "email": "a@b.c",
                "metadata": {"k": "v"},
                "expand": ["x", "y"],
                "items": [{"price": "p"}, {"price": "q"}],
            })
        );
    }

    #[test]
    fn strings_are_coerced_to_the_schema_types() {
        let schema = json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer"},
                "archived": {"type": "boolean"},
                "properties": {"type": "array", "items": {"type": "string"}},
                "amount": {"$ref": "#/definitions/n"},
                "name": {"type": "string"},
            },
            "definitions": {"n": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": [""]}]}},
        });
        let value = json!({"limit": "5", "archived": "false", "properties": "a,b", "amount": "12", "name": "7"});
        assert_eq!(
            coerce(value, &schema, &schema),
            json!({"limit": 5, "archived": false, "properties": ["a", "b"], "amount": 12, "name": "7"})
        );
    }
}
