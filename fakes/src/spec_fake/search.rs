//! Extension `filter_groups_search`: `POST {collection}/search` with HubSpot-style filter
//! groups (OR of ANDs over `/properties/<name>`), one sort, `limit` and an offset `after`;
//! answers `{total, results, paging.next.after}`.

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::handler::Reply;
use super::SpecFake;
use crate::profile::Collection;
use crate::timestamp::parse_ms;

/// Most results one search returns.
const MAX_LIMIT: usize = 200;

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Dates as instants, numbers numerically, text case-insensitively.
fn compare(actual: &str, expected: &str) -> Ordering {
    let looks_like_date = |s: &str| s.contains('T') || (s.len() >= 12 && s.bytes().all(|b| b.is_ascii_digit()));
    if looks_like_date(actual) || looks_like_date(expected) {
        if let (Some(a), Some(b)) = (parse_ms(actual), parse_ms(expected)) {
            return a.cmp(&b);
        }
    }
    if let (Ok(a), Ok(b)) = (actual.parse::<f64>(), expected.parse::<f64>()) {
        return a.partial_cmp(&b).unwrap_or(Ordering::Equal);
    }
    actual.to_lowercase().cmp(&expected.to_lowercase())
}

fn property(object: &Value, name: &str) -> Option<String> {
    object.get("properties").and_then(|p| p.get(name)).and_then(text)
}

fn matches(object: &Value, filter: &Value) -> bool {
    let name = filter.get("propertyName").and_then(Value::as_str).unwrap_or_default();
    let operator = filter.get("operator").and_then(Value::as_str).unwrap_or_default();
    let actual = property(object, name);
    let value = filter.get("value").and_then(text).unwrap_or_default();
    let ordering = || actual.as_deref().map(|a| compare(a, &value));
    match operator {
        "EQ" => ordering() == Some(Ordering::Equal),
        "NEQ" => ordering() != Some(Ordering::Equal),
        "LT" => ordering() == Some(Ordering::Less),
        "LTE" => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
        "GT" => ordering() == Some(Ordering::Greater),
        "GTE" => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
        "HAS_PROPERTY" => actual.is_some(),
        "NOT_HAS_PROPERTY" => actual.is_none(),
        "CONTAINS_TOKEN" => actual.is_some_and(|a| a.to_lowercase().contains(&value.to_lowercase())),
        _ => false,
    }
}

pub(crate) fn search(fake: &SpecFake, c: &Collection, body: &Value) -> Reply {
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
    if limit > MAX_LIMIT {
        return fake.error(
            &fake.profile.errors.bad_request,
            &format!("limit must be at most {MAX_LIMIT}, got {limit}"),
        );
    }
    let after: usize = body
        .get("after")
        .and_then(text)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let groups: Vec<&Value> = body
        .get("filterGroups")
        .and_then(Value::as_array)
        .map(|g| g.iter().collect())
        .unwrap_or_default();
    let mut found: Vec<Value> = fake
        .objects(&c.name)
        .into_iter()
        .filter(|o| {
            groups.is_empty()
                || groups.iter().any(|g| {
                    g.get("filters")
                        .and_then(Value::as_array)
                        .is_none_or(|filters| filters.iter().all(|f| matches(o, f)))
                })
        })
        .collect();
    if let Some(sort) = body.get("sorts").and_then(Value::as_array).and_then(|s| s.first()) {
        let (name, descending) = match sort {
            Value::String(name) => (name.trim_start_matches('-').to_owned(), name.starts_with('-')),
            other => (
                other
                    .get("propertyName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                other.get("direction").and_then(Value::as_str) == Some("DESCENDING"),
            ),
        };
        found.sort_by(|a, b| {
            let order = match (property(a, &name), property(b, &name)) {
                (Some(a), Some(b)) => compare(&a, &b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            };
            if descending {
                order.reverse()
            } else {
                order
            }
        });
    }
    let total = found.len();
    let results: Vec<Value> = found.into_iter().skip(after).take(limit).collect();
    let mut out = json!({ "total": total, "results": results });
    if after + limit < total {
        out["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    Reply::json(200, out)
}
