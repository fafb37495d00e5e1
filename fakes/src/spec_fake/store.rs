//! The fake's objects: per collection, in creation order, with ids, timestamps and mirrored
//! fields kept by the profile's rules.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value};

use crate::profile::{Collection, Mirror, TimeFormat};
use crate::timestamp::{iso_ms, now_ms};

/// One stored object.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) seq: u64,
    pub(crate) id: String,
    pub(crate) value: Value,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
}

/// One collection's objects.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    pub(crate) by_seq: BTreeMap<u64, Stored>,
    by_id: HashMap<String, u64>,
    next_seq: u64,
    next_numeric: u64,
    pub(crate) seeded: usize,
}

impl Objects {
    pub(crate) fn get(&self, id: &str) -> Option<&Stored> {
        self.by_id.get(id).and_then(|seq| self.by_seq.get(seq))
    }

    pub(crate) fn len(&self) -> usize {
        self.by_seq.len()
    }

    fn new_id(&mut self, prefix: Option<&str>, rng: &mut StdRng) -> String {
        match prefix {
            None => {
                self.next_numeric += 1;
                (1000 + self.next_numeric).to_string()
            }
            Some(prefix) => {
                const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                let tail: String = (0..14)
                    .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                    .collect();
                format!("{prefix}{tail}")
            }
        }
    }

    /// Stores a new object, giving it an id and its timestamps.
    pub(crate) fn insert(
        &mut self,
        collection: &Collection,
        format: TimeFormat,
        mut value: Value,
        at_ms: i64,
        rng: &mut StdRng,
    ) -> Stored {
        let id = self.new_id(collection.id_prefix.as_deref(), rng);
        stamp(collection, format, &mut value, &id, at_ms, at_ms);
        let seq = self.next_seq;
        self.next_seq += 1;
        let stored = Stored {
            seq,
            id: id.clone(),
            value,
            created_ms: at_ms,
            updated_ms: at_ms,
        };
        self.by_id.insert(id, seq);
        self.by_seq.insert(seq, stored.clone());
        stored
    }

    /// Deep-merges `patch` into an object and moves its modified time.
    pub(crate) fn update(
        &mut self,
        collection: &Collection,
        format: TimeFormat,
        id: &str,
        patch: &Value,
        at_ms: i64,
    ) -> Option<Stored> {
        let seq = *self.by_id.get(id)?;
        let stored = self.by_seq.get_mut(&seq)?;
        merge(&mut stored.value, patch);
        stored.updated_ms = at_ms;
        stamp(collection, format, &mut stored.value, id, stored.created_ms, at_ms);
        Some(stored.clone())
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Stored> {
        let seq = self.by_id.remove(id)?;
        self.by_seq.remove(&seq)
    }
}

/// Writes the id, timestamps and mirrors into an object.
fn stamp(collection: &Collection, format: TimeFormat, value: &mut Value, id: &str, created: i64, updated: i64) {
    set(value, &collection.id_field, Value::String(id.to_owned()));
    if let Some(field) = &collection.created_field {
        set(value, field, time_value(format, created));
    }
    if let Some(field) = &collection.updated_field {
        set(value, field, time_value(format, updated));
    }
    for (pointer, mirror) in &collection.mirrors {
        // Mirrors are text fields (HubSpot's property values are strings).
        let text = match mirror {
            Mirror::Id => id.to_owned(),
            Mirror::Created => iso_or_text(format, created),
            Mirror::Updated => iso_or_text(format, updated),
        };
        set(value, pointer, Value::String(text));
    }
}

fn iso_or_text(format: TimeFormat, ms: i64) -> String {
    match time_value(format, ms) {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// A timestamp in the profile's format.
pub(crate) fn time_value(format: TimeFormat, ms: i64) -> Value {
    match format {
        TimeFormat::Rfc3339 => Value::String(iso_ms(ms)),
        TimeFormat::Unix => Value::from(ms.div_euclid(1000)),
        TimeFormat::UnixMs => Value::from(ms),
    }
}

/// Sets the value at a JSON pointer, creating objects on the way.
pub(crate) fn set(target: &mut Value, pointer: &str, value: Value) {
    if pointer.is_empty() {
        *target = value;
        return;
    }
    let mut current = target;
    let tokens: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        let Value::Object(map) = current else {
            return;
        };
        if i == tokens.len() - 1 {
            map.insert(token.clone(), value);
            return;
        }
        current = map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Deep merge: objects merge key by key, anything else replaces.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (k, v) in patch {
                match target.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A write clock: every write is later than the one before, even within a millisecond.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    last_ms: i64,
}

impl Clock {
    pub(crate) fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_creates_the_path_and_merge_is_deep() {
        let mut value = json!({"properties": {"a": "1"}});
        set(&mut value, "/properties/b", json!("2"));
        set(&mut value, "/x/y", json!(3));
        merge(&mut value, &json!({"properties": {"a": "9"}}));
        assert_eq!(value, json!({"properties": {"a": "9", "b": "2"}, "x": {"y": 3}}));
    }
}
