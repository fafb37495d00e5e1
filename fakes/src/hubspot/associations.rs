//! Associations between CRM records, as HubSpot's CRM v3 object APIs describe them
//! (`specs/hubspot/deals.yaml`, "Associations"):
//!
//! - `PUT /crm/v3/objects/{type}/{id}/associations/{toType}/{toId}/{associationType}` associates
//!   two live records and answers the record with its associations
//!   (`SimplePublicObjectWithAssociations`); either record missing is a 404;
//! - `GET /crm/v3/objects/{type}/{id}/associations/{toType}` lists them
//!   (`AssociatedIdArrayWithForwardPaging`: `{"results": [{"id", "type"}]}`).
//!
//! `associationType` is one of HubSpot's default labels between the fake's types
//! (`deal_to_contact`, `contact_to_deal`, `contact_to_company`, `company_to_contact`,
//! `deal_to_company`, `company_to_deal`, `meeting_event_to_contact`, `note_to_contact` and
//! back) or its numeric id (3, 4, 1, 2, 5, 6, 200, 199, 202, 201: "Associations v4, default
//! association type ids"), and must name the two types of the path (a `contact_to_company`
//! between a deal and a contact is a 400).
//!
//! Records may also be associated as they are created: each input of a create (single or
//! batch) may carry `associations: [{"to": {"id"}, "types": [{"associationCategory":
//! "HUBSPOT_DEFINED", "associationTypeId"}]}]` (the create endpoints of the engagement APIs:
//! meetings, notes), the target of the type's `to` object type.
//! An association is one link seen from both ends: associating a deal with a contact lists the
//! deal under the contact's `deals` too, with the reverse label.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{self, HubspotError};
use super::objects::object_type;
use super::schema::ObjectType;
use super::store::{object_json, Selection};
use super::Hubspot;

/// HubSpot's default association types between the fake's object types: (from, to, label, id).
const TYPES: &[(ObjectType, ObjectType, &str, u32)] = &[
    (ObjectType::Contacts, ObjectType::Companies, "contact_to_company", 1),
    (ObjectType::Companies, ObjectType::Contacts, "company_to_contact", 2),
    (ObjectType::Deals, ObjectType::Contacts, "deal_to_contact", 3),
    (ObjectType::Contacts, ObjectType::Deals, "contact_to_deal", 4),
    (ObjectType::Deals, ObjectType::Companies, "deal_to_company", 5),
    (ObjectType::Companies, ObjectType::Deals, "company_to_deal", 6),
    (
        ObjectType::Meetings,
        ObjectType::Contacts,
        "meeting_event_to_contact",
        200,
    ),
    (
        ObjectType::Contacts,
        ObjectType::Meetings,
        "contact_to_meeting_event",
        199,
    ),
    (ObjectType::Notes, ObjectType::Contacts, "note_to_contact", 202),
    (ObjectType::Contacts, ObjectType::Notes, "contact_to_note", 201),
];

/// One `associations` entry of a create input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssociationInput {
    to: AssociationTarget,
    types: Vec<AssociationSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssociationTarget {
    id: super::objects::IdValue,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AssociationSpec {
    association_category: String,
    association_type_id: u64,
}

/// The records a new `from` record is to be associated with, each checked: a default type from
/// `from` (`HUBSPOT_DEFINED`), a live target. The error is HubSpot's message.
pub(crate) fn targets(
    store: &super::store::Store,
    from: ObjectType,
    inputs: &[AssociationInput],
) -> Result<Vec<(ObjectType, u64)>, String> {
    let mut out = Vec::new();
    for input in inputs {
        let id = input.to.id.text();
        if input.types.is_empty() {
            return Err(format!("association to {id} names no association type"));
        }
        for spec in &input.types {
            let to = TYPES
                .iter()
                .find(|(f, _, _, n)| *f == from && u64::from(*n) == spec.association_type_id)
                .filter(|_| spec.association_category == "HUBSPOT_DEFINED")
                .map(|(_, t, _, _)| *t)
                .ok_or_else(|| {
                    format!(
                        "{} {} is not a valid association type from {from}",
                        spec.association_category, spec.association_type_id
                    )
                })?;
            let target = store
                .find(to, None, &id)
                .filter(|o| !o.archived)
                .map(|o| o.numeric_id())
                .ok_or_else(|| {
                    format!(
                        "{} {id} does not exist, so it cannot be associated",
                        to.title_singular()
                    )
                })?;
            out.push((to, target));
        }
    }
    Ok(out)
}

/// The label of the default type from `from` to `to`.
fn label(from: ObjectType, to: ObjectType) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(f, t, _, _)| *f == from && *t == to)
        .map(|(_, _, l, _)| *l)
}

/// `PUT /crm/v3/objects/{type}/{id}/associations/{toType}/{toId}/{associationType}`.
pub(crate) async fn create(
    State(hub): State<Arc<Hubspot>>,
    Path((segment, id, to_segment, to_id, association_type)): Path<(String, String, String, String, String)>,
) -> Result<Response, HubspotError> {
    let from = object_type(&segment)?;
    let to = object_type(&to_segment)?;
    let known = TYPES
        .iter()
        .find(|(_, _, label, number)| *label == association_type || number.to_string() == association_type);
    match known {
        Some((f, t, _, _)) if *f == from && *t == to => {}
        Some(_) => {
            return Err(errors::validation(format!(
                "association type {association_type} is not between {from} and {to}"
            )))
        }
        None => {
            return Err(errors::validation(format!(
                "unknown association type {association_type}"
            )))
        }
    }
    let mut store = hub.store();
    let live = |t: ObjectType, id: &str| store.find(t, None, id).filter(|o| !o.archived).map(|o| o.numeric_id());
    let (Some(from_id), Some(to_id)) = (live(from, &id), live(to, &to_id)) else {
        return Err(errors::not_found());
    };
    store.associate((from, from_id), (to, to_id));
    let object = store.find(from, None, &id).expect("checked live above").clone();
    // The properties it holds (no unset ones as `null`: the spec types every value a string).
    let mut body = object_json(&object, from, hub.schema(), Selection::Everything);
    let results: Vec<Value> = store
        .associated((from, from_id), to)
        .into_iter()
        .map(|other| json!({"id": other.to_string(), "type": label(from, to)}))
        .collect();
    let mut associations = serde_json::Map::new();
    associations.insert(to.path().to_owned(), json!({ "results": results }));
    body["associations"] = Value::Object(associations);
    Ok(Json(body).into_response())
}

/// `GET /crm/v3/objects/{type}/{id}/associations/{toType}`.
pub(crate) async fn list(
    State(hub): State<Arc<Hubspot>>,
    Path((segment, id, to_segment)): Path<(String, String, String)>,
) -> Result<Response, HubspotError> {
    let from = object_type(&segment)?;
    let to = object_type(&to_segment)?;
    let store = hub.store();
    let from_id = store
        .find(from, None, &id)
        .filter(|o| !o.archived)
        .map(|o| o.numeric_id())
        .ok_or_else(errors::not_found)?;
    let results: Vec<Value> = store
        .associated((from, from_id), to)
        .into_iter()
        .map(|other| json!({"id": other.to_string(), "type": label(from, to)}))
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}
