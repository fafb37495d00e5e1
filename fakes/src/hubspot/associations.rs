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
//! `deal_to_company`, `company_to_deal`) or its numeric id (3, 4, 1, 2, 5, 6), and must name
//! the two types of the path (a `contact_to_company` between a deal and a contact is a 400).
//! An association is one link seen from both ends: associating a deal with a contact lists the
//! deal under the contact's `deals` too, with the reverse label.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
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
];

/// The label of the default type from `from` to `to`.
fn label(from: ObjectType, to: ObjectType) -> Option<&'static str> {
    TYPES.iter().find(|(f, t, _, _)| *f == from && *t == to).map(|(_, _, l, _)| *l)
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
        None => return Err(errors::validation(format!("unknown association type {association_type}"))),
    }
    let mut store = hub.store();
    let live = |t: ObjectType, id: &str| store.find(t, None, id).filter(|o| !o.archived).map(|o| o.numeric_id());
    let (Some(from_id), Some(to_id)) = (live(from, &id), live(to, &to_id)) else {
        return Err(errors::not_found());
    };
    store.associate((from, from_id), (to, to_id));
    let object = store.find(from, None, &id).expect("checked live above").clone();
    let mut body = object_json(&object, from, hub.schema(), Selection::Default);
    let results: Vec<Value> = store
        .associated((from, from_id), to)
        .into_iter()
        .map(|other| json!({"id": other.to_string(), "type": label(from, to)}))
        .collect();
    body["associations"] = json!({ to.path(): {"results": results} });
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
