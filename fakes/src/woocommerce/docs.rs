//! WooCommerce's REST API v3 documentation pages (`woocommerce/_customers.md`, `_orders.md`,
//! `_products.md` in the specs folder) read as a contract: WooCommerce publishes no OpenAPI
//! description, but each page has a property table per resource (`| `email` | string |
//! ... mandatory |`, `read-only` marked in the description, `Options: `a`, `b` and `c`` for
//! enumerations), an "Available parameters" table per list operation, and a JSON response
//! example per operation. The fake takes its records' shape from the "Retrieve" example and
//! checks every request and response against the tables.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::spec::{specs_dir, Direction, SpecError, Violation};

/// One row of a property or parameter table.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// `string`, `integer`, `date-time`, `boolean`, `object`, `array`...
    pub kind: String,
    pub read_only: bool,
    /// The values `Options:` lists; empty when any value goes.
    pub options: Vec<String>,
}

/// One resource's page.
#[derive(Debug, Clone)]
pub struct ResourceDoc {
    /// The resource's top-level properties.
    pub properties: BTreeMap<String, Field>,
    /// The list operation's query parameters.
    pub list_parameters: BTreeMap<String, Field>,
    /// The "Retrieve" operation's response example.
    pub example: Value,
}

/// Reads `woocommerce/<file>` from the specs folder: `resource` names the property table
/// (`Customer` for "## Customer properties ##"), `list` the list section ("List all
/// customers"), `retrieve` the retrieve section ("Retrieve a customer").
pub fn load(file: &str, resource: &str, list: &str, retrieve: &str) -> Result<ResourceDoc, SpecError> {
    let path = specs_dir().join("woocommerce").join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SpecError::Missing { path }),
        Err(error) => return Err(SpecError::Read { path, error }),
    };
    let unsupported = |reason: String| SpecError::Unsupported {
        path: path.clone(),
        reason,
    };
    let sections = sections(&text);
    let table = |h2: &str, heading: &str| {
        sections
            .iter()
            .find(|s| s.h2 == h2 && s.heading == heading)
            .map(|s| parse_table(&s.lines))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unsupported(format!("no table under `{h2}` / `{heading}`")))
    };
    let properties_heading = format!("{resource} properties");
    let properties = table(&properties_heading, &properties_heading)?;
    let list_parameters = table(list, "Available parameters")?;
    let example = sections
        .iter()
        .filter(|s| s.h2 == retrieve)
        .find_map(|s| first_json_block(&s.lines))
        .ok_or_else(|| unsupported(format!("no JSON response example under `{retrieve}`")))?;
    Ok(ResourceDoc {
        properties,
        list_parameters,
        example,
    })
}

struct Section<'a> {
    /// The enclosing `##` heading.
    h2: String,
    /// This section's own heading (the `##` one for the section that opens it).
    heading: String,
    lines: Vec<&'a str>,
}

fn heading_text(line: &str) -> Option<(usize, String)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if level == 0 {
        return None;
    }
    Some((level, line.trim_matches('#').trim().to_owned()))
}

fn sections(text: &str) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    let mut h2 = String::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code {
            if let Some((level, heading)) = heading_text(line) {
                if level <= 2 {
                    h2 = heading.clone();
                }
                out.push(Section {
                    h2: h2.clone(),
                    heading,
                    lines: Vec::new(),
                });
                continue;
            }
        }
        if let Some(section) = out.last_mut() {
            section.lines.push(line);
        }
    }
    out
}

fn parse_table(lines: &[&str]) -> BTreeMap<String, Field> {
    let mut out = BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | type | description |
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_owned();
        let description = cells[3..].join("|");
        out.insert(
            name,
            Field {
                kind: cells[2].to_owned(),
                read_only: description.contains("read-only"),
                options: options(&description),
            },
        );
    }
    out
}

/// The backticked values after `Options:`, up to the end of that sentence.
fn options(description: &str) -> Vec<String> {
    let Some((_, rest)) = description.split_once("Options:") else {
        return Vec::new();
    };
    let sentence = rest.split(". ").next().unwrap_or(rest);
    let sentence = sentence.split("<i").next().unwrap_or(sentence);
    sentence.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn first_json_block(lines: &[&str]) -> Option<Value> {
    let start = lines.iter().position(|l| l.trim() == "```json")?;
    let end = start + 1 + lines[start + 1..].iter().position(|l| l.trim() == "```")?;
    serde_json::from_str(&lines[start + 1..end].join("\n")).ok()
}

/// Whether `value` is of the documented type. Dates and integers may be null (`date_paid`
/// before payment, a product's `stock_quantity` without stock management, as the examples show).
pub fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "integer" => value.is_i64() || value.is_u64() || value.is_null(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "date-time" => value.is_string() || value.is_null(),
        "boolean" | "bool" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

impl ResourceDoc {
    /// Problems with a list request's query parameters.
    pub fn check_query(&self, operation: &str, path: &str, pairs: &[(String, String)]) -> Vec<Violation> {
        let mut out = Vec::new();
        for (name, value) in pairs {
            let pointer = format!("/query/{name}");
            let violation =
                |message: String| Violation::new(operation, Direction::Request, "GET", path, &pointer, message);
            match self.list_parameters.get(name) {
                None => out.push(violation(format!("`{name}` is not a documented parameter"))),
                Some(field) => {
                    let ok = match field.kind.as_str() {
                        "integer" => value.parse::<i64>().is_ok(),
                        "boolean" | "bool" => matches!(value.as_str(), "true" | "false" | "1" | "0"),
                        _ => true,
                    };
                    if !ok {
                        out.push(violation(format!("`{value}` is not a {}", field.kind)));
                    } else if !field.options.is_empty() && !field.options.contains(value) {
                        out.push(violation(format!("`{value}` is not one of {:?}", field.options)));
                    }
                }
            }
        }
        out
    }

    /// Problems with a write body: unknown, read-only, mistyped or out-of-options fields.
    /// `id` may repeat the id of the URL (WordPress reads the route's id; the same id in the
    /// body changes nothing).
    pub fn check_body(
        &self,
        operation: &str,
        method: &str,
        path: &str,
        body: &Map<String, Value>,
        id: Option<u64>,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        for (name, value) in body {
            if name == "id" && id.is_some() && value.as_u64() == id {
                continue;
            }
            let pointer = format!("/body/{name}");
            let violation =
                |message: String| Violation::new(operation, Direction::Request, method, path, &pointer, message);
            match self.properties.get(name) {
                None => out.push(violation(format!("`{name}` is not a documented property"))),
                Some(field) if field.read_only => out.push(violation(format!("`{name}` is read-only"))),
                Some(field) if !type_matches(&field.kind, value) => {
                    out.push(violation(format!("{value} is not a {}", field.kind)))
                }
                Some(field)
                    if !field.options.is_empty()
                        && !value.as_str().is_some_and(|v| field.options.iter().any(|o| o == v)) =>
                {
                    out.push(violation(format!("{value} is not one of {:?}", field.options)))
                }
                Some(_) => {}
            }
        }
        out
    }

    /// Problems with a resource the fake answers: undocumented or mistyped properties.
    /// `_links` is in every documented example though in no table.
    pub fn check_resource(&self, operation: &str, method: &str, path: &str, resource: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        let Some(map) = resource.as_object() else {
            return vec![Violation::new(
                operation,
                Direction::Response,
                method,
                path,
                "",
                "not an object",
            )];
        };
        for (name, value) in map {
            if name == "_links" {
                continue;
            }
            let pointer = format!("/{name}");
            match self.properties.get(name) {
                None => out.push(Violation::new(
                    operation,
                    Direction::Response,
                    method,
                    path,
                    &pointer,
                    format!("`{name}` is not a documented property"),
                )),
                Some(field) if !type_matches(&field.kind, value) => out.push(Violation::new(
                    operation,
                    Direction::Response,
                    method,
                    path,
                    &pointer,
                    format!("{value} is not a {}", field.kind),
                )),
                Some(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# Things #\n\n## Thing properties ##\n\n| Attribute | Type | Description |\n|---|---|---|\n\
| `id` | integer | Id. <i class=\"label label-info\">read-only</i> |\n| `status` | string | Status. Options: `a`, `b` and `c`. Default is `a`. |\n\
\n## Retrieve a thing ##\n\n```shell\ncurl x\n```\n\n> JSON response example:\n\n```json\n{\"id\": 1, \"status\": \"a\"}\n```\n\
\n## List all things ##\n\n#### Available parameters ####\n\n| Parameter | Type | Description |\n|---|---|---|\n| `page` | integer | Page. |\n";

    #[test]
    fn tables_options_and_examples_are_read_from_the_markdown() {
        let sections = sections(PAGE);
        let props = parse_table(&sections.iter().find(|s| s.heading == "Thing properties").unwrap().lines);
        assert!(props["id"].read_only);
        assert_eq!(props["status"].options, ["a", "b", "c"]);
        let list = sections
            .iter()
            .find(|s| s.h2 == "List all things" && s.heading == "Available parameters")
            .unwrap();
        assert_eq!(parse_table(&list.lines)["page"].kind, "integer");
        let retrieve = sections.iter().find(|s| s.h2 == "Retrieve a thing").unwrap();
        assert_eq!(
            first_json_block(&retrieve.lines),
            Some(serde_json::json!({"id": 1, "status": "a"}))
        );
    }

    #[test]
    fn checks_flag_unknown_read_only_mistyped_and_unlisted_values() {
        let sections = sections(PAGE);
        let doc = ResourceDoc {
            properties: parse_table(&sections.iter().find(|s| s.heading == "Thing properties").unwrap().lines),
            list_parameters: parse_table(
                &sections
                    .iter()
                    .find(|s| s.heading == "Available parameters")
                    .unwrap()
                    .lines,
            ),
            example: Value::Null,
        };
        let q = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            doc.check_query("list", "/things", &pairs).len()
        };
        assert_eq!(q(&[("page", "2")]), 0);
        assert_eq!(q(&[("page", "two")]), 1);
        assert_eq!(q(&[("limit", "2")]), 1);
        let body = |v: Value, id| {
            doc.check_body("put", "PUT", "/things/1", v.as_object().unwrap(), id)
                .len()
        };
        assert_eq!(body(serde_json::json!({"status": "b"}), None), 0);
        assert_eq!(body(serde_json::json!({"status": "z"}), None), 1);
        assert_eq!(body(serde_json::json!({"status": 1}), None), 1);
        assert_eq!(body(serde_json::json!({"colour": "red"}), None), 1);
        assert_eq!(body(serde_json::json!({"id": 1}), None), 1, "read-only");
        assert_eq!(body(serde_json::json!({"id": 1}), Some(1)), 0, "the route's own id");
        let resource = |v: Value| doc.check_resource("get", "GET", "/things/1", &v).len();
        assert_eq!(resource(serde_json::json!({"id": 1, "status": "a", "_links": {}})), 0);
        assert_eq!(resource(serde_json::json!({"id": "1", "extra": true})), 2);
    }
}
