//! `POST /crm/v3/objects/{type}/search`: filter groups (OR of ANDs), one sort, offset paging.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{self, HubspotError};
use super::objects::{object_type, parse_body};
use super::schema::{is_date_property, ObjectType};
use super::store::{object_json, CrmObject, Selection};
use super::Hubspot;
use crate::timestamp::parse_ms;

/// Most results one search request returns.
pub const MAX_SEARCH_LIMIT: usize = 200;
/// Search pages end here: `after + limit` may not pass it.
pub const MAX_SEARCH_RESULTS: usize = 10_000;
const MAX_FILTER_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 6;
const MAX_FILTERS: usize = 18;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    #[serde(default)]
    filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    sorts: Vec<Sort>,
    #[serde(default)]
    properties: Vec<String>,
    limit: Option<usize>,
    after: Option<Scalar>,
    query: Option<String>,
}

#[derive(Deserialize)]
struct FilterGroup {
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    value: Option<Scalar>,
    high_value: Option<Scalar>,
    #[serde(default)]
    values: Vec<Scalar>,
}

/// A sort is either a property name or `{"propertyName", "direction"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Sort {
    Name(String),
    Spec {
        #[serde(rename = "propertyName")]
        property_name: String,
        direction: Option<String>,
    },
}

/// Filter values and `after` arrive as strings or numbers.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(text) => text.clone(),
            Scalar::Number(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// Compares two property values: dates as instants, numbers numerically, the rest as
/// case-insensitive text.
fn compare(property: &str, actual: &str, expected: &str) -> Ordering {
    if is_date_property(property) {
        if let (Some(a), Some(b)) = (parse_ms(actual), parse_ms(expected)) {
            return a.cmp(&b);
        }
    }
    if let (Ok(a), Ok(b)) = (actual.parse::<f64>(), expected.parse::<f64>()) {
        return a.partial_cmp(&b).unwrap_or(Ordering::Equal);
    }
    actual.to_lowercase().cmp(&expected.to_lowercase())
}

fn value_of(filter: &Filter) -> Result<String, HubspotError> {
    filter.value.as_ref().map(Scalar::text).ok_or_else(|| {
        errors::validation(format!(
            "Filter on {} with operator {} needs a value",
            filter.property_name, filter.operator
        ))
    })
}

/// Checks a filter's operator and value once, before any object is looked at.
fn check(filter: &Filter) -> Result<(), HubspotError> {
    match filter.operator.as_str() {
        "EQ" | "NEQ" | "LT" | "LTE" | "GT" | "GTE" | "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN" => {
            value_of(filter).map(drop)
        }
        "BETWEEN" => {
            value_of(filter)?;
            filter
                .high_value
                .as_ref()
                .map(drop)
                .ok_or_else(|| errors::validation("BETWEEN needs a highValue"))
        }
        "IN" | "NOT_IN" | "HAS_PROPERTY" | "NOT_HAS_PROPERTY" => Ok(()),
        other => Err(errors::validation(format!("Unsupported filter operator: {other}"))),
    }
}

fn matches(filter: &Filter, object: &CrmObject, object_type: ObjectType) -> bool {
    let name = filter.property_name.as_str();
    let actual = object.property(object_type, name);
    let expected = filter.value.as_ref().map(Scalar::text).unwrap_or_default();
    let ordering = || actual.as_deref().map(|a| compare(name, a, &expected));
    let contains = || {
        let needle = expected.trim_matches('*').to_lowercase();
        actual.as_deref().is_some_and(|a| a.to_lowercase().contains(&needle))
    };
    match filter.operator.as_str() {
        "EQ" => ordering() == Some(Ordering::Equal),
        "NEQ" => ordering() != Some(Ordering::Equal),
        "LT" => ordering() == Some(Ordering::Less),
        "LTE" => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
        "GT" => ordering() == Some(Ordering::Greater),
        "GTE" => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
        "BETWEEN" => {
            let high = filter.high_value.as_ref().map(Scalar::text).unwrap_or_default();
            actual.as_deref().is_some_and(|a| {
                compare(name, a, &expected) != Ordering::Less && compare(name, a, &high) != Ordering::Greater
            })
        }
        "IN" => actual.as_deref().is_some_and(|a| {
            filter
                .values
                .iter()
                .any(|v| compare(name, a, &v.text()) == Ordering::Equal)
        }),
        "NOT_IN" => !actual.as_deref().is_some_and(|a| {
            filter
                .values
                .iter()
                .any(|v| compare(name, a, &v.text()) == Ordering::Equal)
        }),
        "HAS_PROPERTY" => actual.is_some(),
        "NOT_HAS_PROPERTY" => actual.is_none(),
        "CONTAINS_TOKEN" => contains(),
        "NOT_CONTAINS_TOKEN" => !contains(),
        _ => false,
    }
}

/// `POST /crm/v3/objects/{type}/search`.
pub(crate) async fn search(
    State(hub): State<Arc<Hubspot>>,
    Path(segment): Path<String>,
    body: Bytes,
) -> Result<Response, HubspotError> {
    let object_type = object_type(&segment)?;
    let request: SearchBody = parse_body(&body)?;
    let limit = request.limit.unwrap_or(10);
    if limit > MAX_SEARCH_LIMIT {
        return Err(errors::validation(format!(
            "limit must be at most {MAX_SEARCH_LIMIT}, got {limit}"
        )));
    }
    let after = match &request.after {
        None => 0,
        Some(after) => {
            let text = after.text();
            text.parse::<usize>()
                .map_err(|_| errors::validation(format!("Invalid paging cursor after={text}")))?
        }
    };
    if after + limit > MAX_SEARCH_RESULTS {
        return Err(errors::validation(format!(
            "Search results are limited to {MAX_SEARCH_RESULTS}: after + limit may not exceed it"
        )));
    }
    let groups = &request.filter_groups;
    let total_filters: usize = groups.iter().map(|g| g.filters.len()).sum();
    if groups.len() > MAX_FILTER_GROUPS
        || groups.iter().any(|g| g.filters.len() > MAX_FILTERS_PER_GROUP)
        || total_filters > MAX_FILTERS
    {
        return Err(errors::validation(format!(
            "Too many filters: at most {MAX_FILTER_GROUPS} filterGroups of {MAX_FILTERS_PER_GROUP} filters, \
             {MAX_FILTERS} filters in all"
        )));
    }
    for filter in groups.iter().flat_map(|g| &g.filters) {
        check(filter)?;
    }
    let (sort_property, descending) = match request.sorts.first() {
        None => (None, false),
        Some(Sort::Name(name)) => (Some(name.clone()), false),
        Some(Sort::Spec {
            property_name,
            direction,
        }) => (
            Some(property_name.clone()),
            direction
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case("DESCENDING")),
        ),
    };
    let query = request
        .query
        .as_deref()
        .map(str::to_lowercase)
        .filter(|q| !q.is_empty());

    let store = hub.store();
    let mut found: Vec<&CrmObject> = store
        .objects(object_type)
        .filter(|o| !o.archived)
        .filter(|o| {
            groups.is_empty()
                || groups
                    .iter()
                    .any(|g| g.filters.iter().all(|f| matches(f, o, object_type)))
        })
        .filter(|o| {
            query
                .as_deref()
                .is_none_or(|q| o.properties.values().any(|v| v.to_lowercase().contains(q)))
        })
        .collect();
    if let Some(property) = &sort_property {
        found.sort_by(|a, b| {
            let (va, vb) = (a.property(object_type, property), b.property(object_type, property));
            let ordering = match (va, vb) {
                (Some(va), Some(vb)) => {
                    let ordering = compare(property, &va, &vb);
                    if descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                }
                // Objects without the property come last either way.
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            ordering.then(a.numeric_id().cmp(&b.numeric_id()))
        });
    }
    let total = found.len();
    let selection = Selection::from_list(&request.properties);
    let results: Vec<Value> = found
        .iter()
        .skip(after)
        .take(limit)
        .map(|o| object_json(o, object_type, hub.schema(), selection))
        .collect();
    let mut body = json!({ "total": total, "results": results });
    if after + limit < total {
        body["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_compare_as_instants_whatever_their_form() {
        assert_eq!(
            compare("lastmodifieddate", "2024-01-01T00:00:01.000Z", "1704067200000"),
            Ordering::Greater
        );
        assert_eq!(
            compare("lastmodifieddate", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00Z"),
            Ordering::Equal
        );
    }

    #[test]
    fn numbers_compare_numerically_and_text_ignores_case() {
        assert_eq!(compare("amount", "10", "9"), Ordering::Greater);
        assert_eq!(compare("email", "A@example.com", "a@EXAMPLE.com"), Ordering::Equal);
    }
}
