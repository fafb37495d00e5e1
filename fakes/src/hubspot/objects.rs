//! The object endpoints: list, read, create, update, archive and the four batch operations.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::errors::{self, HubspotError, MAX_BATCH_INPUTS};
use super::params::Params;
use super::schema::{self, invalid_properties_message, is_valid_email, ObjectType, PropertyError};
use super::store::{object_json, Selection, WriteError};
use super::Hubspot;
use crate::timestamp::{iso_ms, now_ms};

type Result<T> = std::result::Result<T, HubspotError>;

pub(crate) fn object_type(segment: &str) -> Result<ObjectType> {
    ObjectType::from_path(segment).ok_or_else(|| errors::unknown_object_type(segment))
}

pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| errors::invalid_json(&e))
}

fn write_error(object_type: ObjectType, error: WriteError) -> HubspotError {
    match error {
        WriteError::Conflict { existing, .. } => errors::conflict(object_type, &existing),
        WriteError::NotFound => errors::not_found(),
    }
}

/// Checks an `idProperty` argument: `hs_object_id` or a unique property.
fn id_property(hub: &Hubspot, object_type: ObjectType, name: Option<&str>) -> Result<Option<String>> {
    match name {
        None => Ok(None),
        Some(name) if hub.schema().is_id_property(object_type, name) => Ok(Some(name.to_owned())),
        Some(name) => Err(errors::validation(format!(
            "Property \"{name}\" is not a unique property of {object_type} and cannot be used as idProperty"
        ))),
    }
}

/// `GET /crm/v3/objects/{type}`: a page in id order.
pub(crate) async fn list(
    State(hub): State<Arc<Hubspot>>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let params = Params::parse(query.as_deref());
    let limit = match params.get("limit") {
        None => 10,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=100).contains(limit))
            .ok_or_else(|| errors::validation(format!("limit must be between 1 and 100, got {raw}")))?,
    };
    let after = match params.get("after") {
        None => 0,
        Some(raw) => raw
            .parse::<u64>()
            .map_err(|_| errors::validation(format!("Invalid paging cursor after={raw}")))?,
    };
    let archived = params.flag("archived");
    let properties = params.list("properties");
    let selection = Selection::from_list(&properties);

    let store = hub.store();
    let mut page: Vec<_> = store
        .objects_from(object_type, after)
        .filter(|o| o.archived == archived)
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit).then(|| page.pop().map(|o| o.id.clone())).flatten();
    let results: Vec<Value> = page
        .iter()
        .map(|o| object_json(o, object_type, hub.schema(), selection))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        body["paging"] = json!({
            "next": {
                "after": next,
                "link": format!("{}/crm/v3/objects/{object_type}?after={next}&limit={limit}", hub.base_url()),
            }
        });
    }
    Ok(Json(body).into_response())
}

/// `GET /crm/v3/objects/{type}/{id}`.
pub(crate) async fn read(
    State(hub): State<Arc<Hubspot>>,
    Path((segment, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let params = Params::parse(query.as_deref());
    let id_property = id_property(&hub, object_type, params.get("idProperty"))?;
    let archived = params.flag("archived");
    let properties = params.list("properties");
    let store = hub.store();
    let object = store
        .find(object_type, id_property.as_deref(), &id)
        .filter(|o| o.archived == archived)
        .ok_or_else(errors::not_found)?;
    Ok(Json(object_json(
        object,
        object_type,
        hub.schema(),
        Selection::from_list(&properties),
    ))
    .into_response())
}

#[derive(Deserialize)]
struct PropertiesBody {
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    associations: Vec<super::associations::AssociationInput>,
}

/// `POST /crm/v3/objects/{type}`.
pub(crate) async fn create(
    State(hub): State<Arc<Hubspot>>,
    Path(segment): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let input: PropertiesBody = parse_body(&body)?;
    let writes = schema::validate(hub.schema(), object_type, &input.properties)
        .map_err(|e| errors::validation(invalid_properties_message(&e)))?;
    let mut store = hub.store();
    let targets = super::associations::targets(&store, object_type, &input.associations).map_err(errors::validation)?;
    let object = store
        .create(hub.schema(), object_type, writes)
        .map_err(|e| write_error(object_type, e))?;
    for target in targets {
        store.associate((object_type, object.numeric_id()), target);
    }
    let body = object_json(&object, object_type, hub.schema(), Selection::Everything);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `PATCH /crm/v3/objects/{type}/{id}`.
pub(crate) async fn update(
    State(hub): State<Arc<Hubspot>>,
    Path((segment, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let params = Params::parse(query.as_deref());
    let id_property = id_property(&hub, object_type, params.get("idProperty"))?;
    let input: PropertiesBody = parse_body(&body)?;
    let writes = schema::validate(hub.schema(), object_type, &input.properties)
        .map_err(|e| errors::validation(invalid_properties_message(&e)))?;
    let mut store = hub.store();
    let target = store
        .find(object_type, id_property.as_deref(), &id)
        .filter(|o| !o.archived)
        .map(|o| o.numeric_id())
        .ok_or_else(errors::not_found)?;
    let object = store
        .update(hub.schema(), object_type, target, writes)
        .map_err(|e| write_error(object_type, e))?;
    Ok(Json(object_json(&object, object_type, hub.schema(), Selection::Everything)).into_response())
}

/// `DELETE /crm/v3/objects/{type}/{id}`: archives the object.
pub(crate) async fn archive(
    State(hub): State<Arc<Hubspot>>,
    Path((segment, id)): Path<(String, String)>,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let mut store = hub.store();
    let target = store
        .find(object_type, None, &id)
        .map(|o| o.numeric_id())
        .ok_or_else(errors::not_found)?;
    store.archive(hub.schema(), object_type, target);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Any other path.
pub(crate) async fn no_route(method: Method, uri: Uri) -> HubspotError {
    errors::error(
        StatusCode::NOT_FOUND,
        format!("No route for {method} {}", uri.path()),
        "OBJECT_NOT_FOUND",
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchBody {
    inputs: Vec<BatchInput>,
    #[serde(default)]
    properties: Vec<String>,
    id_property: Option<String>,
    #[serde(default)]
    archived: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInput {
    id: Option<IdValue>,
    #[serde(default)]
    properties: Map<String, Value>,
    /// Records to associate a new record with (creates only).
    #[serde(default)]
    associations: Vec<super::associations::AssociationInput>,
    id_property: Option<String>,
    object_write_trace_id: Option<String>,
}

/// Ids arrive as strings, and sometimes as numbers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum IdValue {
    Text(String),
    Number(u64),
}

impl IdValue {
    pub(crate) fn text(&self) -> String {
        match self {
            IdValue::Text(text) => text.clone(),
            IdValue::Number(n) => n.to_string(),
        }
    }
}

impl BatchInput {
    fn id(&self) -> Option<String> {
        self.id.as_ref().map(IdValue::text)
    }
}

fn parse_batch(body: &[u8]) -> Result<BatchBody> {
    let batch: BatchBody = parse_body(body)?;
    if batch.inputs.len() > MAX_BATCH_INPUTS {
        return Err(errors::batch_too_large());
    }
    Ok(batch)
}

/// Rejects a batch naming the same object twice, as HubSpot does.
fn reject_duplicate_ids<'a>(ids: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = HashSet::new();
    let duplicates: Vec<&str> = ids.filter(|id| !seen.insert(id.to_lowercase())).collect();
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(errors::validation(format!(
            "Duplicate IDs found in batch input: {duplicates:?}. IDs must be unique"
        )))
    }
}

/// One input's failure in a 207 response.
fn input_error(category: &str, message: String, id: Option<&str>, trace: Option<&str>, context: Value) -> Value {
    let mut context = context.as_object().cloned().unwrap_or_default();
    if let Some(trace) = trace {
        context.insert("objectWriteTraceId".into(), json!([trace]));
    }
    // StandardError requires `errors` and `links`; HubSpot sends them empty when it has none.
    let mut error = json!({
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    });
    if let Some(id) = id {
        error["id"] = json!(id);
    }
    error
}

fn property_error(errors: &[PropertyError], id: Option<&str>, trace: Option<&str>) -> Value {
    let names: Vec<&str> = errors.iter().map(|e| e.name.as_str()).collect();
    let mut error = input_error(
        "VALIDATION_ERROR",
        invalid_properties_message(errors),
        id,
        trace,
        json!({ "propertyName": names }),
    );
    error["errors"] = errors
        .iter()
        .map(|e| json!({ "message": e.message, "code": e.code, "in": e.name }))
        .collect();
    error
}

fn not_found_error(object_type: ObjectType, ids: &[String], trace: Option<&str>) -> Value {
    input_error(
        "OBJECT_NOT_FOUND",
        format!(
            "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
            object_type.upper_singular()
        ),
        (ids.len() == 1).then(|| ids[0].as_str()),
        trace,
        json!({ "ids": ids }),
    )
}

fn with_trace(mut value: Value, trace: Option<&str>) -> Value {
    if let Some(trace) = trace {
        value["objectWriteTraceId"] = json!(trace);
    }
    value
}

/// Results and per-input errors of a batch call.
struct BatchOutcome {
    started: i64,
    results: Vec<Value>,
    errors: Vec<Value>,
}

impl BatchOutcome {
    fn new() -> Self {
        Self {
            started: now_ms(),
            results: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// `status` when every input succeeded, else 207 Multi-Status with `numErrors` and `errors`.
    fn respond(self, status: StatusCode) -> Response {
        let mut body = json!({
            "status": "COMPLETE",
            "results": self.results,
            "startedAt": iso_ms(self.started),
            "completedAt": iso_ms(now_ms()),
        });
        if self.errors.is_empty() {
            return (status, Json(body)).into_response();
        }
        body["numErrors"] = json!(self.errors.len());
        body["errors"] = Value::Array(self.errors);
        (StatusCode::MULTI_STATUS, Json(body)).into_response()
    }
}

/// `POST .../batch/create`: invalid inputs are reported in a 207; a taken unique value fails
/// the whole batch with 409 and writes nothing.
pub(crate) async fn batch_create(
    State(hub): State<Arc<Hubspot>>,
    Path(segment): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let batch = parse_batch(&body)?;
    let schema = hub.schema();
    let mut outcome = BatchOutcome::new();
    let mut prepared = Vec::with_capacity(batch.inputs.len());
    let mut store = hub.store();
    for input in &batch.inputs {
        let trace = input.object_write_trace_id.as_deref();
        match schema::validate(schema, object_type, &input.properties) {
            Ok(writes) => match super::associations::targets(&store, object_type, &input.associations) {
                Ok(targets) => prepared.push((writes, targets, trace)),
                Err(message) => outcome
                    .errors
                    .push(input_error("VALIDATION_ERROR", message, None, trace, json!({}))),
            },
            Err(errors) => outcome.errors.push(property_error(&errors, None, trace)),
        }
    }
    let mut seen = HashSet::new();
    for (writes, _, _) in &prepared {
        if let Some(WriteError::Conflict { existing, .. }) = store.conflict(schema, object_type, writes, None) {
            return Err(errors::conflict(object_type, &existing));
        }
        for property in schema.unique_properties(object_type) {
            if let Some((_, Some(value))) = writes.iter().find(|(name, _)| name == property) {
                if !seen.insert((property, value.to_lowercase())) {
                    return Err(errors::validation(format!(
                        "Duplicate values found in batch input for unique property {property}: {value}"
                    )));
                }
            }
        }
    }
    for (writes, targets, trace) in prepared {
        let object = store
            .create(schema, object_type, writes)
            .map_err(|e| write_error(object_type, e))?;
        for target in targets {
            store.associate((object_type, object.numeric_id()), target);
        }
        let result = object_json(&object, object_type, schema, Selection::Everything);
        outcome.results.push(with_trace(result, trace));
    }
    Ok(outcome.respond(StatusCode::CREATED))
}

/// `POST .../batch/update`: by id, or by a unique property with `idProperty`.
pub(crate) async fn batch_update(
    State(hub): State<Arc<Hubspot>>,
    Path(segment): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let batch = parse_batch(&body)?;
    let ids: Vec<String> = batch.inputs.iter().filter_map(BatchInput::id).collect();
    reject_duplicate_ids(ids.iter().map(String::as_str))?;
    let schema = hub.schema();
    let mut outcome = BatchOutcome::new();
    let mut store = hub.store();
    for input in &batch.inputs {
        let trace = input.object_write_trace_id.as_deref();
        let id_property = id_property(
            &hub,
            object_type,
            input.id_property.as_deref().or(batch.id_property.as_deref()),
        )?;
        let Some(id) = input.id() else {
            return Err(errors::validation("Every batch update input needs an id"));
        };
        let target = store
            .find(object_type, id_property.as_deref(), &id)
            .filter(|o| !o.archived)
            .map(|o| o.numeric_id());
        let Some(target) = target else {
            outcome.errors.push(not_found_error(object_type, &[id], trace));
            continue;
        };
        let writes = match schema::validate(schema, object_type, &input.properties) {
            Ok(writes) => writes,
            Err(errors) => {
                outcome.errors.push(property_error(&errors, Some(&id), trace));
                continue;
            }
        };
        match store.update(schema, object_type, target, writes) {
            Ok(object) => {
                let result = object_json(&object, object_type, schema, Selection::Everything);
                outcome.results.push(with_trace(result, trace));
            }
            Err(WriteError::Conflict { existing, .. }) => outcome.errors.push(input_error(
                "CONFLICT",
                format!(
                    "{} already exists. Existing ID: {existing}",
                    object_type.title_singular()
                ),
                Some(&id),
                trace,
                json!({}),
            )),
            Err(WriteError::NotFound) => outcome.errors.push(not_found_error(object_type, &[id], trace)),
        }
    }
    Ok(outcome.respond(StatusCode::OK))
}

/// `POST .../batch/upsert`: each input names an `idProperty` (or the body or query does) and
/// its `id` is that property's value; results say `"new": true` for created objects.
pub(crate) async fn batch_upsert(
    State(hub): State<Arc<Hubspot>>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let batch = parse_batch(&body)?;
    let params = Params::parse(query.as_deref());
    let schema = hub.schema();

    let mut keyed = Vec::with_capacity(batch.inputs.len());
    for input in &batch.inputs {
        let name = input
            .id_property
            .as_deref()
            .or(batch.id_property.as_deref())
            .or(params.get("idProperty"))
            .ok_or_else(|| errors::validation("Every upsert input needs an idProperty"))?;
        let property = id_property(&hub, object_type, Some(name))?.unwrap_or_default();
        let id = input
            .id()
            .ok_or_else(|| errors::validation("Every upsert input needs an id"))?;
        keyed.push((property, id, input));
    }
    reject_duplicate_ids(keyed.iter().map(|(_, id, _)| id.as_str()))?;

    let mut outcome = BatchOutcome::new();
    let mut store = hub.store();
    for (property, id, input) in keyed {
        let trace = input.object_write_trace_id.as_deref();
        let mut writes = match schema::validate(schema, object_type, &input.properties) {
            Ok(writes) => writes,
            Err(errors) => {
                outcome.errors.push(property_error(&errors, Some(&id), trace));
                continue;
            }
        };
        if property == "email" && !is_valid_email(&id) {
            outcome
                .errors
                .push(property_error(&[PropertyError::invalid_email(&id)], Some(&id), trace));
            continue;
        }
        let existing = store
            .find(object_type, Some(&property), &id)
            .filter(|o| !o.archived)
            .map(|o| o.numeric_id());
        let written = match existing {
            Some(target) => store.update(schema, object_type, target, writes).map(|o| (o, false)),
            None if property == "hs_object_id" => {
                outcome.errors.push(not_found_error(object_type, &[id], trace));
                continue;
            }
            None => {
                let value = if property == "email" {
                    id.to_lowercase()
                } else {
                    id.clone()
                };
                writes.retain(|(name, _)| *name != property);
                writes.push((property.clone(), Some(value)));
                store.create(schema, object_type, writes).map(|o| (o, true))
            }
        };
        match written {
            Ok((object, new)) => {
                let mut result = object_json(&object, object_type, schema, Selection::Everything);
                result["new"] = json!(new);
                outcome.results.push(with_trace(result, trace));
            }
            Err(WriteError::Conflict { existing, .. }) => outcome.errors.push(input_error(
                "CONFLICT",
                format!(
                    "{} already exists. Existing ID: {existing}",
                    object_type.title_singular()
                ),
                Some(&id),
                trace,
                json!({}),
            )),
            Err(WriteError::NotFound) => outcome.errors.push(not_found_error(object_type, &[id], trace)),
        }
    }
    Ok(outcome.respond(StatusCode::OK))
}

/// `POST .../batch/read`: ids that do not exist are listed in one `OBJECT_NOT_FOUND` error.
pub(crate) async fn batch_read(
    State(hub): State<Arc<Hubspot>>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let object_type = object_type(&segment)?;
    let batch = parse_batch(&body)?;
    let params = Params::parse(query.as_deref());
    let id_property = id_property(
        &hub,
        object_type,
        batch.id_property.as_deref().or(params.get("idProperty")),
    )?;
    let selection = Selection::from_list(&batch.properties);
    let mut outcome = BatchOutcome::new();
    let mut missing = Vec::new();
    let store = hub.store();
    for input in &batch.inputs {
        let Some(id) = input.id() else {
            return Err(errors::validation("Every batch read input needs an id"));
        };
        match store
            .find(object_type, id_property.as_deref(), &id)
            .filter(|o| o.archived == batch.archived)
        {
            Some(object) => outcome
                .results
                .push(object_json(object, object_type, hub.schema(), selection)),
            None => missing.push(id),
        }
    }
    if !missing.is_empty() {
        outcome.errors.push(not_found_error(object_type, &missing, None));
    }
    Ok(outcome.respond(StatusCode::OK))
}
