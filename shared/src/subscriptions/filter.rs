//! A subscription's optional filter on payload fields: `{"flow_id": "flow_a", "to": ["down",
//! "unhealthy"]}`. Each key is a dotted path into the event's `data`; its value is a scalar or a
//! list of scalars (any of them matches). Every key must match. Pure.

use serde_json::{Map, Value};

/// At most this many keys.
pub const MAX_KEYS: usize = 10;
/// At most this many values per key.
pub const MAX_VALUES: usize = 50;

/// Why a filter is refused (the API shows it as a field error).
pub fn validate(filter: &Map<String, Value>) -> Result<(), String> {
    if filter.len() > MAX_KEYS {
        return Err(format!("at most {MAX_KEYS} fields"));
    }
    for (path, wanted) in filter {
        let path_ok = !path.is_empty()
            && path.len() <= 200
            && path
                .split('.')
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        if !path_ok {
            return Err(format!(
                "{path:?} is not a dotted path of field names (letters, digits, '_', '-')"
            ));
        }
        let values: &[Value] = match wanted {
            Value::Array(items) if items.is_empty() || items.len() > MAX_VALUES => {
                return Err(format!("{path}: give 1 to {MAX_VALUES} values"))
            }
            Value::Array(items) => items,
            one => std::slice::from_ref(one),
        };
        if values.iter().any(|v| v.is_array() || v.is_object()) {
            return Err(format!("{path}: values are strings, numbers, booleans or null"));
        }
    }
    Ok(())
}

/// Whether `data` passes the filter (an empty filter passes everything).
pub fn matches(filter: &Map<String, Value>, data: &Value) -> bool {
    filter.iter().all(|(path, wanted)| {
        let found = path
            .split('.')
            .try_fold(data, |v, key| v.get(key))
            .unwrap_or(&Value::Null);
        match wanted {
            Value::Array(any) => any.contains(found),
            one => one == found,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_key_must_match_and_a_list_matches_any_of_its_values() {
        let data = json!({"flow_id": "flow_a", "to": "down", "record": {"country": "NZ", "n": 3}});
        assert!(matches(&Map::new(), &data));
        assert!(matches(&f(json!({"flow_id": "flow_a"})), &data));
        assert!(!matches(&f(json!({"flow_id": "flow_b"})), &data));
        assert!(matches(&f(json!({"to": ["down", "unhealthy"]})), &data));
        assert!(matches(&f(json!({"record.country": "NZ", "record.n": 3})), &data));
        assert!(!matches(&f(json!({"record.country": "NZ", "record.n": 4})), &data));
        assert!(!matches(&f(json!({"missing.deep": "x"})), &data));
        assert!(matches(&f(json!({"missing": null})), &data), "a missing field is null");
    }

    #[test]
    fn malformed_filters_are_refused_with_the_reason() {
        assert!(validate(&f(json!({"flow_id": "a", "to": ["down", 1, true, null]}))).is_ok());
        assert!(validate(&f(json!({"": 1}))).unwrap_err().contains("dotted path"));
        assert!(validate(&f(json!({"a..b": 1}))).is_err());
        assert!(validate(&f(json!({"a": []}))).unwrap_err().contains("1 to"));
        assert!(validate(&f(json!({"a": {"b": 1}}))).unwrap_err().contains("values are"));
        assert!(validate(&f(json!({"a": [[1]]}))).is_err());
        let many: Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!(1))).collect();
        assert!(validate(&many).unwrap_err().contains("at most"));
    }
}
