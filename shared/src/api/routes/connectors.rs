//! `/v1/connectors`: the built-in connector definitions (the same for every tenant) and the
//! tenant's own uploaded ones (see [`crate::connector::uploads`] and
//! [`crate::store::tenant_connectors`]).
//!
//! - `GET /v1/connectors`, `GET /v1/connectors/{id}` [read]: built-in first, then the tenant's
//!   own, each marked by `origin` (`built_in` / `tenant`) and, for the tenant's, its `version`.
//! - `POST /v1/connectors` [write]: upload a definition (YAML or JSON body); its id starts with
//!   `custom-`, so it never shadows a built-in id. 422 with one `errors` entry per field path.
//! - `POST /v1/connectors/{id}/versions` [write]: a new version (immutable; connections follow
//!   the latest). Refused with 409 naming the flows when it drops a stream or write a flow uses.
//! - `GET /v1/connectors/{id}/versions` [read], `GET /v1/connectors/{id}/versions/{version}`
//!   [read]: the history, and one version's text.
//! - `DELETE /v1/connectors/{id}` [write]: refused with 409 naming the flows and connections
//!   while any use it. Versions go first, the head last, so a retry finishes a delete that
//!   died half way.
//! - Caps: at most `API_MAX_TENANT_CONNECTORS` connectors a tenant and
//!   `API_MAX_CONNECTOR_VERSIONS` versions a connector; past them, 409 `limit-reached`.
//!
//! Another tenant's connector is a 404 on every route, and unknown to connection and flow
//! creation.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::super::auth::Caller;
use super::super::pagination::{page_of, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, FieldError, Problem};
use crate::connector::{ConnectorDefinition, Registry};
use crate::store::connections::Connection;
use crate::store::tenant_connectors::{ConnectorVersion, TenantConnector};

/// What a connector offers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectorView {
    pub id: String,
    /// `built_in` (shipped with Switchyard, the same for every tenant) or `tenant` (uploaded
    /// by this tenant, usable only by its flows).
    pub origin: Origin,
    /// The latest version of a tenant connector (connections follow it); absent for built-ins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// When the latest version was uploaded (Unix seconds); absent for built-ins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    pub name: String,
    pub description: String,
    /// `crm`, `accounting`, `erp`, `payments`, `e-commerce`, `collaboration`, `messaging`,
    /// `education`, `data` or `other`.
    pub category: crate::connector::definition::Category,
    /// `http`, `sql`, `s3` or `smtp`.
    pub kind: crate::connector::definition::ConnectorKind,
    pub streams: Vec<String>,
    pub writes: Vec<String>,
    /// Auth kinds a connection may use: `api_key`, `bearer`, `basic`, `oauth2`, ...
    pub auth_kinds: Vec<&'static str>,
    /// Each auth alternative with the credential names a connection must give for it (in
    /// `credentials`), in the definition's order of preference.
    pub auth_options: Vec<AuthOptionView>,
    /// The webhook signature scheme inbound events are checked with, if it receives webhooks.
    pub webhook_scheme: Option<&'static str>,
    /// Non-secret settings a connection gives in `config`, with whether each is required.
    pub config: Vec<ConfigFieldView>,
}

/// Where a connector comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    BuiltIn,
    Tenant,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthOptionView {
    pub kind: &'static str,
    pub credentials: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigFieldView {
    pub name: String,
    pub required: bool,
    pub description: String,
}

fn view(def: &ConnectorDefinition) -> ConnectorView {
    ConnectorView {
        id: def.id.clone(),
        origin: Origin::BuiltIn,
        version: None,
        updated_at: None,
        name: def.name.clone(),
        description: def.description.clone(),
        category: def.category,
        kind: def.kind,
        streams: def.stream_names(),
        writes: def.write_names(),
        auth_kinds: def.auth.iter().map(|a| a.kind()).collect(),
        auth_options: def
            .auth
            .iter()
            .map(|a| AuthOptionView {
                kind: a.kind(),
                credentials: a.required_credentials().into_iter().map(str::to_string).collect(),
            })
            .collect(),
        webhook_scheme: def
            .webhooks
            .as_ref()
            .and_then(|w| w.receiver_scheme().ok())
            .map(|s| s.name()),
        config: def
            .config
            .iter()
            .map(|(name, field)| ConfigFieldView {
                name: name.clone(),
                required: field.required,
                description: field.description.clone(),
            })
            .collect(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/connectors",
    operation_id = "list_connectors",
    tag = "connectors",
    params(("limit" = Option<usize>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page of connectors", body = crate::api::pagination::PageBody<ConnectorView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let page = PageRequest::from_request(req)?;
    let mut ids: Vec<&str> = deps.registry.ids().collect();
    ids.sort_unstable();
    let mut views: Vec<ConnectorView> = ids
        .into_iter()
        .filter_map(|id| deps.registry.get(id))
        .map(view)
        .collect();
    for head in deps.tenant_connectors.list(&caller.tenant).await? {
        match head.definition() {
            Ok(def) => views.push(tenant_view(&def, &head)),
            // Stored when it validated; an engine change since may refuse it: shown by id on
            // its own route, with the reason, and left out of the catalogue.
            Err(e) => {
                tracing::warn!(message = "A tenant connector no longer validates.", connector = %head.id, error = %e)
            }
        }
    }
    views.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(ApiResponse::json(200, &page_of(views, &page, |v| v.id.clone())))
}

fn tenant_view(def: &ConnectorDefinition, head: &TenantConnector) -> ConnectorView {
    ConnectorView {
        origin: Origin::Tenant,
        version: Some(head.latest_version),
        updated_at: Some(head.updated_at),
        ..view(def)
    }
}

/// The tenant's own connector `id`, parsed; 404 when the tenant has none of that id.
async fn owned(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<(TenantConnector, ConnectorDefinition), Problem> {
    let head = deps
        .tenant_connectors
        .get(&caller.tenant, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let def = head.definition().map_err(|e| {
        Problem::conflict(format!(
            "connector {id} v{} no longer validates ({e}); upload a new version",
            head.latest_version
        ))
    })?;
    Ok((head, def))
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("connector {id} does not exist"))
}

#[utoipa::path(
    get,
    path = "/v1/connectors/{id}",
    operation_id = "show_connector",
    tag = "connectors",
    params(("id" = String, Path, description = "Connector id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn show(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    if let Some(def) = deps.registry.get(id) {
        return Ok(ApiResponse::json(200, &view(def)));
    }
    let (head, def) = owned(deps, caller, id).await?;
    Ok(ApiResponse::json(200, &tenant_view(&def, &head)))
}

/// A definition from the body: YAML (`application/yaml`, `application/x-yaml`, `text/yaml`),
/// JSON (`application/json`), or either without a content type.
fn definition_from(deps: &ApiDeps, req: &ApiRequest) -> Result<(ConnectorDefinition, String), Problem> {
    if let Some(ct) = req.header("content-type") {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let yaml = matches!(
            essence.as_str(),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml"
        );
        if !(yaml || essence == "application/json" || essence.ends_with("+json")) {
            let mut p = Problem::unsupported_media_type();
            p.detail = "send the definition as application/yaml or application/json".into();
            return Err(p);
        }
    }
    let def =
        crate::connector::uploads::validate_upload(&req.body, deps.config.allow_private_network).map_err(|errors| {
            Problem::validation(
                errors
                    .into_iter()
                    .map(|e| FieldError {
                        field: if e.field.is_empty() {
                            "definition".into()
                        } else {
                            e.field
                        },
                        detail: e.message,
                    })
                    .collect(),
            )
        })?;
    // Validated as UTF-8 above.
    let text = String::from_utf8_lossy(&req.body).into_owned();
    Ok((def, text))
}

/// The tenant's connections using connector `id`, and its flows over them.
async fn users(
    deps: &ApiDeps,
    tenant: &str,
    id: &str,
) -> Result<(Vec<String>, Vec<crate::store::flows::Flow>), Problem> {
    let connections: Vec<String> = deps
        .connections
        .list(tenant)
        .await?
        .into_iter()
        .filter(|c| c.provider == id)
        .map(|c| c.id)
        .collect();
    if connections.is_empty() {
        return Ok((connections, Vec::new()));
    }
    let flows = deps
        .flows
        .list(tenant)
        .await?
        .into_iter()
        .filter(|f| connections.contains(&f.source_connection) || connections.contains(&f.destination_connection))
        .collect();
    Ok((connections, flows))
}

/// A new version or a first upload, stored; 201 with the connector.
async fn store(
    deps: &ApiDeps,
    caller: &Caller,
    def: &ConnectorDefinition,
    text: &str,
    first: bool,
) -> Result<ApiResponse, Problem> {
    let head = deps
        .tenant_connectors
        .upload(
            &caller.tenant,
            &def.id,
            text,
            first,
            &caller.actor(),
            deps.clock.now_unix(),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::AlreadyExists { .. } if first => Problem::conflict(format!(
                "connector {} already exists; upload a new version with POST /v1/connectors/{}/versions",
                def.id, def.id
            )),
            crate::store::StoreError::AlreadyExists { .. } => Problem::conflict(format!(
                "another version of {} was uploaded at the same time; retry",
                def.id
            )),
            e => e.into(),
        })?;
    Ok(ApiResponse::json(201, &tenant_view(def, &head)).with_header("location", format!("/v1/connectors/{}", def.id)))
}

#[utoipa::path(
    post,
    path = "/v1/connectors",
    tag = "connectors",
    request_body(
        description = "A connector definition, in the model of `shared/connectors/*.yaml` (see `generic-rest.yaml`); its `id` starts with `custom-`. At most 128 KiB.",
        content((String = "application/yaml"), (Object = "application/json"))
    ),
    responses(
        (status = 201, description = "Uploaded as version 1", body = ConnectorView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The tenant already has a connector of this id, or has as many connectors as it may (limit-reached)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Neither YAML nor JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid definition (errors: one per field path)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn upload(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let (def, text) = definition_from(deps, req)?;
    let cap = deps.config.max_tenant_connectors;
    if deps.tenant_connectors.get(&caller.tenant, &def.id).await?.is_none()
        && deps.tenant_connectors.count(&caller.tenant).await? >= cap
    {
        return Err(Problem::limit_reached(format!(
            "this tenant has {cap} connectors, the most it may have; delete one (DELETE /v1/connectors/{{id}}) before uploading another"
        )));
    }
    store(deps, caller, &def, &text, true).await
}

#[utoipa::path(
    post,
    path = "/v1/connectors/{id}/versions",
    tag = "connectors",
    params(("id" = String, Path, description = "Tenant connector id")),
    request_body(
        description = "The connector's next definition; its `id` is the path's.",
        content((String = "application/yaml"), (Object = "application/json"))
    ),
    responses(
        (status = 201, description = "Stored as the next version; connections follow it", body = ConnectorView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It drops a stream or write operation a flow uses (the flows are named), or the connector has as many versions as it may (limit-reached)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Neither YAML nor JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid definition (errors: one per field path)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn upload_version(
    deps: &ApiDeps,
    caller: &Caller,
    id: &str,
    req: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    // Unknown (or another tenant's) before anything about the body.
    let head = deps
        .tenant_connectors
        .get(&caller.tenant, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let cap = deps.config.max_connector_versions;
    if head.latest_version >= cap {
        return Err(Problem::limit_reached(format!(
            "connector {id} has {cap} versions, the most a connector may have; upload it under a new id, or delete it and upload it again"
        )));
    }
    let (def, text) = definition_from(deps, req)?;
    if def.id != id {
        return Err(Problem::field(
            "id",
            format!("must be {id}, the connector this version is of"),
        ));
    }
    let (connections, flows) = users(deps, &caller.tenant, id).await?;
    let (streams, writes) = (def.stream_names(), def.write_names());
    // Only the sides that run on this connector (a flow may read one and write another).
    let broken: Vec<&str> = flows
        .iter()
        .filter(|f| {
            (connections.contains(&f.source_connection) && !streams.contains(&f.source_stream))
                || (connections.contains(&f.destination_connection) && !writes.contains(&f.destination_operation))
        })
        .map(|f| f.id.as_str())
        .collect();
    if !broken.is_empty() {
        return Err(Problem::conflict(format!(
            "this version drops a stream or write operation these flows use: {}; change or delete them first",
            broken.join(", ")
        )));
    }
    store(deps, caller, &def, &text, false).await
}

#[utoipa::path(
    get,
    path = "/v1/connectors/{id}/versions",
    tag = "connectors",
    params(("id" = String, Path, description = "Tenant connector id")),
    responses(
        (status = 200, description = "Every version, oldest first (without their text)", body = [VersionView]),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn versions(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    let versions = deps.tenant_connectors.versions(&caller.tenant, id).await?;
    if versions.is_empty() {
        return Err(not_found(id));
    }
    let views: Vec<VersionView> = versions.into_iter().map(|v| VersionView::of(v, false)).collect();
    Ok(ApiResponse::json(200, &serde_json::json!({ "items": views })))
}

#[utoipa::path(
    get,
    path = "/v1/connectors/{id}/versions/{version}",
    tag = "connectors",
    params(("id" = String, Path, description = "Tenant connector id"), ("version" = u32, Path, description = "1, 2, ...")),
    responses(
        (status = 200, description = "The version, with the definition as uploaded", body = VersionView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn show_version(deps: &ApiDeps, caller: &Caller, id: &str, version: &str) -> Result<ApiResponse, Problem> {
    let wanted: u32 = version
        .parse()
        .map_err(|_| Problem::not_found(format!("connector {id} has no version {version}")))?;
    let found = deps
        .tenant_connectors
        .versions(&caller.tenant, id)
        .await?
        .into_iter()
        .find(|v| v.version == wanted)
        .ok_or_else(|| Problem::not_found(format!("connector {id} has no version {version}")))?;
    Ok(ApiResponse::json(200, &VersionView::of(found, true)))
}

#[utoipa::path(
    delete,
    path = "/v1/connectors/{id}",
    tag = "connectors",
    params(("id" = String, Path, description = "Tenant connector id")),
    responses(
        (status = 204, description = "Deleted with every version"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Built in, or flows or connections use it (they are named)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn delete(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    if deps.registry.get(id).is_some() {
        return Err(Problem::conflict(format!(
            "connector {id} is built in; only a tenant's own can be deleted"
        )));
    }
    if deps.tenant_connectors.get(&caller.tenant, id).await?.is_none() {
        // No head: nothing resolves it. Version items a delete that died half way (in the
        // order of earlier releases, the head first) left behind are removed now.
        return if deps.tenant_connectors.delete(&caller.tenant, id).await? {
            Ok(ApiResponse::no_content())
        } else {
            Err(not_found(id))
        };
    }
    let (connections, flows) = users(deps, &caller.tenant, id).await?;
    if !flows.is_empty() {
        let names: Vec<&str> = flows.iter().map(|f| f.id.as_str()).collect();
        return Err(Problem::conflict(format!(
            "connector {id} is used by flows {}; delete them first",
            names.join(", ")
        )));
    }
    if !connections.is_empty() {
        return Err(Problem::conflict(format!(
            "connector {id} is used by connections {}; delete them first",
            connections.join(", ")
        )));
    }
    if !deps.tenant_connectors.delete(&caller.tenant, id).await? {
        return Err(not_found(id));
    }
    Ok(ApiResponse::no_content())
}

/// One version of a tenant connector.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    pub id: String,
    pub version: u32,
    /// SHA-256 of the definition's text, hex.
    pub sha256: String,
    /// Unix seconds.
    pub created_at: i64,
    /// `key:<prefix>` or `user:<...>`.
    pub created_by: String,
    /// The definition as uploaded (on `GET .../versions/{version}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

impl VersionView {
    fn of(v: ConnectorVersion, with_text: bool) -> Self {
        Self {
            id: v.id,
            version: v.version,
            sha256: v.sha256,
            created_at: v.created_at,
            created_by: v.created_by,
            definition: with_text.then_some(v.source),
        }
    }
}

/// `registry` with the tenant's own connectors that the `connections` (as read, by id) use:
/// another tenant's connections, and unknown ones, add nothing (flow validation reports them).
/// The caller reads the connections once and hands the same map on to the flow's checks.
pub(crate) async fn registry_for_connections(
    deps: &ApiDeps,
    tenant: &str,
    connections: &HashMap<String, Connection>,
) -> Result<Arc<Registry>, Problem> {
    Ok(deps
        .tenant_connectors
        .registry_for_connections(&deps.registry, tenant, connections)
        .await?)
}
