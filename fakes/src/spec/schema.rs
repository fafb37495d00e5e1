//! Turning OpenAPI schema objects into self-contained JSON Schemas that `jsonschema` compiles
//! offline.
//!
//! A schema taken from a description refers into the whole document (`#/components/schemas/X`,
//! `#/definitions/X`). [`Converter::build`] copies the schema and, transitively, every local
//! `$ref` target it reaches into one `definitions` map of the result, rewriting each `$ref` to
//! point there; a reference outside the document is an error (nothing is fetched). OpenAPI 3.0
//! and Swagger 2.0 dialect is rewritten on the way: `nullable: true` / `x-nullable: true`
//! become a type union (or an `anyOf` with `{"type": "null"}`), Swagger's `type: file` is
//! dropped.

use std::collections::{BTreeMap, VecDeque};

use jsonschema::{Draft, Validator};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

/// Keywords whose value is data, not a schema: copied as they are.
const DATA_KEYWORDS: &[&str] = &[
    "enum", "const", "default", "example", "examples", "required", "type", "format",
];
/// Keywords holding a map from names to schemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
];
/// Keywords dropped: OpenAPI annotations that are not JSON Schema.
const DROPPED: &[&str] = &["discriminator", "xml", "externalDocs", "nullable", "x-nullable"];

/// Builds self-contained schemas from one document.
pub(crate) struct Converter<'a> {
    pub(crate) doc: &'a Value,
    /// OpenAPI 3.0 or Swagger 2.0: rewrite `nullable`.
    pub(crate) legacy: bool,
}

impl Converter<'_> {
    /// `schema` with every local reference it reaches copied into `definitions`.
    pub(crate) fn build(&self, schema: &Value) -> Result<Value, String> {
        let mut definitions = BTreeMap::new();
        let mut queue = VecDeque::new();
        let root = self.convert(schema, &mut definitions, &mut queue)?;
        while let Some(pointer) = queue.pop_front() {
            let target = self.resolve(&pointer)?;
            let converted = self.convert(target, &mut definitions, &mut queue)?;
            definitions.insert(key(&pointer), converted);
        }
        if definitions.is_empty() {
            return Ok(root);
        }
        let definitions: Map<String, Value> = definitions.into_iter().collect();
        Ok(json!({ "allOf": [root], "definitions": definitions }))
    }

    /// The value at a `#/...` reference's pointer.
    pub(crate) fn resolve(&self, pointer: &str) -> Result<&Value, String> {
        self.doc
            .pointer(pointer)
            .ok_or_else(|| format!("the reference #{pointer} points at nothing in the document"))
    }

    fn convert(
        &self,
        node: &Value,
        definitions: &mut BTreeMap<String, Value>,
        queue: &mut VecDeque<String>,
    ) -> Result<Value, String> {
        let Value::Object(object) = node else {
            // `true` / `false` schemas, or arrays under items (Draft 4 tuple form).
            return match node {
                Value::Array(items) => items
                    .iter()
                    .map(|item| self.convert(item, definitions, queue))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                other => Ok(other.clone()),
            };
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let Some(fragment) = reference.strip_prefix('#') else {
                return Err(format!(
                    "the reference {reference} is outside the document and is not fetched"
                ));
            };
            let pointer = percent_decode_str(fragment).decode_utf8_lossy().into_owned();
            let name = key(&pointer);
            if !definitions.contains_key(&name) && !queue.contains(&pointer) {
                // Placeholder so a cycle does not queue the same target twice.
                definitions.insert(name.clone(), Value::Bool(true));
                queue.push_back(pointer);
            }
            let encoded: String =
                percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC).to_string();
            return Ok(json!({ "$ref": format!("#/definitions/{encoded}") }));
        }
        let mut out = Map::new();
        for (name, value) in object {
            if DROPPED.contains(&name.as_str()) {
                continue;
            }
            let converted = if DATA_KEYWORDS.contains(&name.as_str()) || name.starts_with("x-") {
                value.clone()
            } else if SCHEMA_MAPS.contains(&name.as_str()) {
                match value {
                    Value::Object(map) => {
                        let mut converted = Map::new();
                        for (k, v) in map {
                            converted.insert(k.clone(), self.convert(v, definitions, queue)?);
                        }
                        Value::Object(converted)
                    }
                    other => other.clone(),
                }
            } else if value.is_object() || value.is_array() {
                self.convert(value, definitions, queue)?
            } else {
                value.clone()
            };
            out.insert(name.clone(), converted);
        }
        if self.legacy {
            if out.get("type").and_then(Value::as_str) == Some("file") {
                out.remove("type");
            }
            let nullable = [object.get("nullable"), object.get("x-nullable")]
                .into_iter()
                .flatten()
                .any(|v| v == &Value::Bool(true));
            if nullable {
                return Ok(make_nullable(out));
            }
        }
        Ok(Value::Object(out))
    }
}

/// Adds `null` to what a schema accepts.
fn make_nullable(mut schema: Map<String, Value>) -> Value {
    if let Some(Value::Array(values)) = schema.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema.insert("type".into(), json!([t, "null"]));
            Value::Object(schema)
        }
        Some(Value::Array(mut types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            schema.insert("type".into(), Value::Array(types));
            Value::Object(schema)
        }
        _ => json!({ "anyOf": [{ "type": "null" }, Value::Object(schema)] }),
    }
}

/// The `definitions` key of a document pointer: `/components/schemas/X` -> `components.schemas.X`.
fn key(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// Compiles a self-contained schema; format assertions on, no remote references.
pub(crate) fn compile(schema: &Value, draft: Draft) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("the spec's schema does not compile: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_copied_and_nullable_becomes_a_union() {
        let doc = json!({
            "components": {"schemas": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}, "nullable": {"type": "string"}}},
                "B": {"type": "string", "nullable": true, "enum": ["x"]},
            }}
        });
        let converter = Converter {
            doc: &doc,
            legacy: true,
        };
        let schema = converter.build(&json!({"$ref": "#/components/schemas/A"})).unwrap();
        let defs = &schema["definitions"];
        assert_eq!(defs["components.schemas.B"]["type"], json!(["string", "null"]));
        assert_eq!(defs["components.schemas.B"]["enum"], json!(["x", null]));
        // A property named like a keyword stays a property.
        assert_eq!(
            defs["components.schemas.A"]["properties"]["nullable"],
            json!({"type": "string"})
        );
        let validator = compile(&schema, Draft::Draft4).unwrap();
        assert!(validator.is_valid(&json!({"b": null})));
        assert!(validator.is_valid(&json!({"b": "x"})));
        assert!(!validator.is_valid(&json!({"b": "y"})));
    }

    #[test]
    fn remote_references_are_refused() {
        let doc = json!({});
        let converter = Converter {
            doc: &doc,
            legacy: true,
        };
        assert!(converter.build(&json!({"$ref": "https://example.com/x.json"})).is_err());
    }
}
