//! Values that validate against a schema: a small deterministic generator for seeding
//! collections and answering operations the fake has no state for.
//!
//! It follows `$ref`s (into the schema's own `definitions`), takes the first non-null branch
//! of `anyOf` / `oneOf`, merges `allOf`, the first `enum` value, and produces strings for the
//! common formats. Objects get their required properties only (a profile's `seed` adds the
//! realistic ones): an optional `archivedAt` on a live object would mislead.

use percent_encoding::percent_decode_str;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Map, Value};

const MAX_DEPTH: usize = 12;

pub(crate) struct Generator<'a> {
    pub(crate) root: &'a Value,
    pub(crate) rng: &'a mut StdRng,
    /// The object's number, for readable unique strings.
    pub(crate) n: usize,
}

impl Generator<'_> {
    pub(crate) fn generate(&mut self, schema: &Value) -> Value {
        self.at(schema, 0, None)
    }

    /// Like [`generate`](Self::generate), with every property `like` has generated too (so
    /// an example object merged on top keeps what the schema requires of its parts).
    pub(crate) fn generate_like(&mut self, schema: &Value, like: &Value) -> Value {
        self.at(schema, 0, Some(like))
    }

    fn at(&mut self, schema: &Value, depth: usize, like: Option<&Value>) -> Value {
        let root = self.root;
        let schema = resolve(root, schema);
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(value) = schema.get("const") {
            return value.clone();
        }
        if let Some(Value::Array(values)) = schema.get("enum") {
            return values
                .iter()
                .find(|v| !v.is_null())
                .or(values.first())
                .cloned()
                .unwrap_or(Value::Null);
        }
        if let Some(Value::Array(branches)) = schema.get("allOf") {
            let mut merged = Map::new();
            let mut other = None;
            for branch in branches {
                match self.at(branch, depth, like) {
                    Value::Object(map) => merged.extend(map),
                    value => other = Some(value),
                }
            }
            return if merged.is_empty() {
                other.unwrap_or(Value::Object(merged))
            } else {
                Value::Object(merged)
            };
        }
        for combinator in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = schema.get(combinator) {
                let branch = branches
                    .iter()
                    .find(|b| !is_null_schema(resolve(self.root, b)))
                    .or(branches.first());
                if let Some(branch) = branch {
                    return self.at(branch, depth, like);
                }
            }
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null")
                .to_owned(),
            _ if schema.get("properties").is_some() => "object".into(),
            _ => return Value::String("x".into()),
        };
        match kind.as_str() {
            "object" => self.object(schema, depth, like),
            "array" => {
                let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
                let items = schema.get("items").cloned().unwrap_or(Value::Bool(true));
                Value::Array((0..min).map(|_| self.at(&items, depth + 1, None)).collect())
            }
            "string" => self.string(schema),
            "integer" => {
                let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(0);
                let max = schema.get("maximum").and_then(Value::as_i64).unwrap_or(min + 1000);
                json!(self.rng.random_range(min..=max.max(min)))
            }
            "number" => {
                let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
                json!(min + f64::from(self.rng.random_range(0..1000u32)))
            }
            "boolean" => Value::Bool(false),
            _ => Value::Null,
        }
    }

    fn object(&mut self, schema: &Value, depth: usize, like: Option<&Value>) -> Value {
        let mut out = Map::new();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, property) in properties {
                let like_child = like.and_then(|l| l.get(name)).filter(|v| !v.is_null());
                if required.contains(&name.as_str()) || like_child.is_some() {
                    let value = self.at(property, depth + 1, like_child);
                    out.insert(name.clone(), value);
                }
            }
        }
        Value::Object(out)
    }

    fn string(&mut self, schema: &Value) -> Value {
        let n = self.n;
        let text = match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => {
                let secs = 1_700_000_000 + self.rng.random_range(0..10_000_000i64);
                time::OffsetDateTime::from_unix_timestamp(secs)
                    .ok()
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                    .unwrap_or_else(|| "2024-01-01T00:00:00Z".into())
            }
            Some("date") => "2024-01-01".into(),
            Some("email") => format!("user{n}@example.com"),
            Some("uri" | "url") => format!("https://example.com/{n}"),
            Some("uuid") => format!(
                "00000000-0000-4000-8000-{:012x}",
                self.rng.random_range(0..0xffff_ffff_ffffu64)
            ),
            Some("ipv4") => "192.0.2.1".into(),
            Some("hostname") => "example.com".into(),
            _ => {
                let max = schema.get("maxLength").and_then(Value::as_u64).unwrap_or(64) as usize;
                let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
                let mut text = format!("value{n}");
                while text.len() < min {
                    text.push('x');
                }
                text.truncate(max.max(min));
                text
            }
        };
        Value::String(text)
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type") == Some(&json!("null")) || schema.get("enum") == Some(&json!([""]))
}

/// Follows `#/definitions/...` references inside a self-contained schema.
pub(crate) fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let pointer = percent_decode_str(reference.trim_start_matches('#'))
            .decode_utf8_lossy()
            .into_owned();
        match root.pointer(&pointer) {
            Some(target) => schema = target,
            None => return schema,
        }
    }
    schema
}
