//! `GET /v1/connectors[/{id}]`: the built-in connector definitions (the same for every tenant).

use serde::Serialize;

use super::super::pagination::{page_of, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Problem};
use crate::connector::ConnectorDefinition;

/// What a connector offers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectorView {
    pub id: String,
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
pub fn list(deps: &ApiDeps, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let page = PageRequest::from_request(req)?;
    let mut ids: Vec<&str> = deps.registry.ids().collect();
    ids.sort_unstable();
    let views: Vec<ConnectorView> = ids
        .into_iter()
        .filter_map(|id| deps.registry.get(id))
        .map(view)
        .collect();
    Ok(ApiResponse::json(200, &page_of(views, &page, |v| v.id.clone())))
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
pub fn show(deps: &ApiDeps, id: &str) -> Result<ApiResponse, Problem> {
    let def = deps
        .registry
        .get(id)
        .ok_or_else(|| Problem::not_found(format!("connector {id} does not exist")))?;
    Ok(ApiResponse::json(200, &view(def)))
}
