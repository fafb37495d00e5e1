//! The fake's CRM records: objects by type and id, unique-property indexes, write clock.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::schema::{ObjectType, PropertySchema, PropertyWrite};
use crate::timestamp::{iso_ms, now_ms};

/// A stored CRM record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmObject {
    /// Numeric id as a string, as HubSpot returns it.
    pub id: String,
    /// Property values written by clients (system properties are derived, see
    /// [`property`](Self::property)).
    pub properties: BTreeMap<String, String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub updated_at: i64,
    pub archived: bool,
}

impl CrmObject {
    /// A property's value, including the system properties `hs_object_id`, `createdate` and
    /// `lastmodifieddate` / `hs_lastmodifieddate` (ISO 8601).
    pub fn property(&self, object_type: ObjectType, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(self.id.clone()),
            "createdate" => Some(iso_ms(self.created_at)),
            _ if name == object_type.modified_property() => Some(iso_ms(self.updated_at)),
            _ => self.properties.get(name).cloned(),
        }
    }

    /// Client-written property values by name (no system properties).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    pub(crate) fn numeric_id(&self) -> u64 {
        self.id.parse().unwrap_or(0)
    }
}

/// Which properties a response carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Selection<'a> {
    /// The type's default properties.
    Default,
    /// The requested ones (unset ones as `null`) plus the system ones.
    Requested(&'a [String]),
    /// Everything stored plus the system properties (write responses).
    Everything,
}

impl<'a> Selection<'a> {
    /// `Requested` when the list is not empty, else `Default`.
    pub(crate) fn from_list(list: &'a [String]) -> Self {
        if list.is_empty() {
            Selection::Default
        } else {
            Selection::Requested(list)
        }
    }
}

/// The object in HubSpot's `SimplePublicObject` shape.
pub(crate) fn object_json(
    object: &CrmObject,
    object_type: ObjectType,
    schema: &PropertySchema,
    selection: Selection<'_>,
) -> Value {
    let mut properties = Map::new();
    let system = ["createdate", "hs_object_id", object_type.modified_property()];
    let mut put = |name: &str| {
        let value = object.property(object_type, name).map_or(Value::Null, Value::String);
        properties.insert(name.to_owned(), value);
    };
    match selection {
        Selection::Default => object_type.default_properties().iter().for_each(|name| put(name)),
        Selection::Requested(names) => {
            system.iter().for_each(|name| put(name));
            names
                .iter()
                .filter(|name| schema.exists(object_type, name) || object.properties.contains_key(name.as_str()))
                .for_each(|name| put(name));
        }
        Selection::Everything => {
            system.iter().for_each(|name| put(name));
            object.properties.keys().for_each(|name| put(name));
        }
    }
    let mut out = json!({
        "id": object.id,
        "properties": properties,
        "createdAt": iso_ms(object.created_at),
        "updatedAt": iso_ms(object.updated_at),
        "archived": object.archived,
    });
    if object.archived {
        out["archivedAt"] = Value::String(iso_ms(object.updated_at));
    }
    out
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// A unique property's value belongs to another object.
    Conflict {
        property: String,
        existing: String,
    },
    NotFound,
}

/// All records of the fake portal.
#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: BTreeMap<ObjectType, BTreeMap<u64, CrmObject>>,
    /// (type, unique property) -> lower-cased value -> id, for live (unarchived) objects.
    unique: HashMap<(ObjectType, String), HashMap<String, u64>>,
    next_id: u64,
    last_ms: i64,
    /// Objects created or updated so far (every write through the API or `insert`).
    pub(crate) writes: u64,
    /// Associations, each kept once with its ends in order.
    associations: std::collections::BTreeSet<((ObjectType, u64), (ObjectType, u64))>,
}

impl Store {
    /// A write time that never goes backwards and never repeats, so `lastmodifieddate`
    /// cursors see every write.
    fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }

    pub(crate) fn objects(&self, object_type: ObjectType) -> impl Iterator<Item = &CrmObject> {
        self.objects.get(&object_type).into_iter().flat_map(|m| m.values())
    }

    /// Objects with id `>= from`, in id order.
    pub(crate) fn objects_from(&self, object_type: ObjectType, from: u64) -> impl Iterator<Item = &CrmObject> {
        self.objects
            .get(&object_type)
            .into_iter()
            .flat_map(move |m| m.range(from..).map(|(_, o)| o))
    }

    /// Finds a live object by id (`id_property` `None` or `hs_object_id`) or by a unique
    /// property's value (case-insensitive).
    pub(crate) fn find(&self, object_type: ObjectType, id_property: Option<&str>, value: &str) -> Option<&CrmObject> {
        let id = match id_property {
            None | Some("hs_object_id") => value.parse::<u64>().ok()?,
            Some(property) => *self
                .unique
                .get(&(object_type, property.to_owned()))?
                .get(&value.to_lowercase())?,
        };
        self.objects.get(&object_type)?.get(&id)
    }

    /// The id already holding one of `writes`' unique values, other than `own`.
    pub(crate) fn conflict(
        &self,
        schema: &PropertySchema,
        object_type: ObjectType,
        writes: &[PropertyWrite],
        own: Option<u64>,
    ) -> Option<WriteError> {
        for property in schema.unique_properties(object_type) {
            let Some((_, Some(value))) = writes.iter().find(|(name, _)| name == property) else {
                continue;
            };
            let holder = self
                .unique
                .get(&(object_type, property.to_owned()))
                .and_then(|index| index.get(&value.to_lowercase()));
            if let Some(holder) = holder {
                if Some(*holder) != own {
                    return Some(WriteError::Conflict {
                        property: property.to_owned(),
                        existing: holder.to_string(),
                    });
                }
            }
        }
        None
    }

    pub(crate) fn create(
        &mut self,
        schema: &PropertySchema,
        object_type: ObjectType,
        writes: Vec<PropertyWrite>,
    ) -> Result<CrmObject, WriteError> {
        if let Some(conflict) = self.conflict(schema, object_type, &writes, None) {
            return Err(conflict);
        }
        self.next_id += 1;
        self.writes += 1;
        let id = self.next_id;
        let now = self.tick();
        let mut object = CrmObject {
            id: id.to_string(),
            properties: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            archived: false,
        };
        apply(&mut object, writes);
        self.index(schema, object_type, &object, true);
        self.objects.entry(object_type).or_default().insert(id, object.clone());
        Ok(object)
    }

    pub(crate) fn update(
        &mut self,
        schema: &PropertySchema,
        object_type: ObjectType,
        id: u64,
        writes: Vec<PropertyWrite>,
    ) -> Result<CrmObject, WriteError> {
        if !self.objects.get(&object_type).is_some_and(|m| m.contains_key(&id)) {
            return Err(WriteError::NotFound);
        }
        if let Some(conflict) = self.conflict(schema, object_type, &writes, Some(id)) {
            return Err(conflict);
        }
        self.writes += 1;
        let now = self.tick();
        let mut object = self.objects[&object_type][&id].clone();
        self.index(schema, object_type, &object, false);
        apply(&mut object, writes);
        object.updated_at = now;
        self.index(schema, object_type, &object, true);
        self.objects.entry(object_type).or_default().insert(id, object.clone());
        Ok(object)
    }

    /// Archives (soft-deletes) an object; its unique values become free again.
    pub(crate) fn archive(&mut self, schema: &PropertySchema, object_type: ObjectType, id: u64) -> bool {
        let Some(object) = self.objects.get(&object_type).and_then(|m| m.get(&id)).cloned() else {
            return false;
        };
        if object.archived {
            return false;
        }
        self.index(schema, object_type, &object, false);
        let now = self.tick();
        if let Some(stored) = self.objects.get_mut(&object_type).and_then(|m| m.get_mut(&id)) {
            stored.archived = true;
            stored.updated_at = now;
        }
        true
    }

    /// Associates two records (once: associating them again changes nothing). Counted as a
    /// write.
    pub(crate) fn associate(&mut self, a: (ObjectType, u64), b: (ObjectType, u64)) {
        self.writes += 1;
        self.associations.insert(if a <= b { (a, b) } else { (b, a) });
    }

    /// The ids of the live `to` records associated with `from`, in id order.
    pub(crate) fn associated(&self, from: (ObjectType, u64), to: ObjectType) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .associations
            .iter()
            .filter_map(|(a, b)| match (*a == from, *b == from) {
                (true, _) if b.0 == to => Some(b.1),
                (_, true) if a.0 == to => Some(a.1),
                _ => None,
            })
            .filter(|id| {
                self.objects
                    .get(&to)
                    .and_then(|m| m.get(id))
                    .is_some_and(|o| !o.archived)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn index(&mut self, schema: &PropertySchema, object_type: ObjectType, object: &CrmObject, add: bool) {
        for property in schema.unique_properties(object_type) {
            let Some(value) = object.properties.get(property) else {
                continue;
            };
            let index = self.unique.entry((object_type, property.to_owned())).or_default();
            if add {
                index.insert(value.to_lowercase(), object.numeric_id());
            } else {
                index.remove(&value.to_lowercase());
            }
        }
    }
}

fn apply(object: &mut CrmObject, writes: Vec<PropertyWrite>) {
    for (name, value) in writes {
        match value {
            Some(value) => object.properties.insert(name, value),
            None => object.properties.remove(&name),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, value: &str) -> PropertyWrite {
        (name.to_owned(), Some(value.to_owned()))
    }

    #[test]
    fn unique_emails_conflict_and_free_up_when_archived() {
        let schema = PropertySchema::default();
        let mut store = Store::default();
        let a = store
            .create(&schema, ObjectType::Contacts, vec![write("email", "a@example.com")])
            .unwrap();
        assert_eq!(
            store.create(&schema, ObjectType::Contacts, vec![write("email", "a@example.com")]),
            Err(WriteError::Conflict {
                property: "email".into(),
                existing: a.id.clone()
            })
        );
        assert_eq!(
            store
                .find(ObjectType::Contacts, Some("email"), "A@Example.com")
                .map(|o| o.id.clone()),
            Some(a.id.clone())
        );
        assert!(store.archive(&schema, ObjectType::Contacts, a.numeric_id()));
        assert!(store
            .find(ObjectType::Contacts, Some("email"), "a@example.com")
            .is_none());
        assert!(store
            .create(&schema, ObjectType::Contacts, vec![write("email", "a@example.com")])
            .is_ok());
    }

    #[test]
    fn every_write_moves_the_modified_time_forward() {
        let schema = PropertySchema::default();
        let mut store = Store::default();
        let created = store
            .create(&schema, ObjectType::Deals, vec![write("dealname", "x")])
            .unwrap();
        let updated = store
            .update(
                &schema,
                ObjectType::Deals,
                created.numeric_id(),
                vec![("dealname".into(), None)],
            )
            .unwrap();
        assert!(updated.updated_at > created.updated_at);
        assert_eq!(updated.created_at, created.created_at);
        assert!(updated.get("dealname").is_none());
    }

    #[test]
    fn requested_properties_include_system_ones_and_nulls() {
        let schema = PropertySchema::default();
        let mut store = Store::default();
        let contact = store
            .create(&schema, ObjectType::Contacts, vec![write("email", "a@example.com")])
            .unwrap();
        let requested = vec!["firstname".to_owned(), "nonsense".to_owned()];
        let out = object_json(
            &contact,
            ObjectType::Contacts,
            &schema,
            Selection::Requested(&requested),
        );
        assert_eq!(out["properties"]["firstname"], Value::Null);
        assert_eq!(out["properties"]["hs_object_id"], json!(contact.id));
        assert!(out["properties"].get("nonsense").is_none());
        assert_eq!(out["archived"], json!(false));
    }
}
