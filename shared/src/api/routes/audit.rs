//! `/v1/audit` (admin): the tenant's audit log, newest first, and its export as JSON Lines.
//! Entries are written by [`crate::api::auditing`] (every API request that changes, runs or
//! touches credentials) and by the CLI and functions (replays).

use serde::Serialize;

use super::super::pagination::{self, PageBody, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Problem};
use crate::store::audit::{is_position, AuditEntry, AuditQuery};

/// Most lines one export answers; the `next-cursor` header continues it.
pub const EXPORT_LIMIT: usize = 5_000;

/// An audit entry as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    /// Unix seconds.
    pub at: i64,
    /// `key:<prefix>` for an API key, `cli:<user>` for the CLI, or a function's name.
    pub actor: String,
    /// The actor's role, when the actor is an API key.
    pub role: Option<String>,
    /// `connection.create`, `connection.update`, `connection.delete`, `connection.test`,
    /// `connection.rotate_secret`, `flow.create`, `flow.update`, `flow.pause`, `flow.resume`,
    /// `flow.run`, `conflict.resolve`, `dead_letter.replay`, `key.create`, `key.rotate`, `key.revoke`.
    pub action: String,
    /// The resource's id (connection, flow, dead letter key, key prefix); empty when none.
    pub target: String,
    /// The route's template, when the action came through the API.
    pub route: Option<String>,
    /// The API's answer.
    pub status: Option<u16>,
    /// Words about it (an idempotent replay, a dead letter's last error); never a secret.
    pub detail: Option<String>,
}

fn view(e: AuditEntry) -> AuditEntryView {
    AuditEntryView {
        at: e.at,
        actor: e.actor,
        role: e.role,
        action: e.action,
        target: e.target,
        route: e.route,
        status: e.status,
        detail: Some(e.detail).filter(|d| !d.is_empty()),
    }
}

fn filters(req: &ApiRequest) -> Result<(Option<i64>, Option<String>), Problem> {
    let since = match req.query_param("since") {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Problem::field("since", "unix seconds"))?,
        ),
    };
    let action = match req.query_param("action") {
        None => None,
        Some(a)
            if !a.is_empty()
                && a.len() <= 64
                && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_') =>
        {
            Some(a)
        }
        Some(_) => return Err(Problem::field("action", "an action name such as connection.create")),
    };
    Ok((since, action))
}

fn position(after: Option<String>) -> Result<Option<String>, Problem> {
    match after {
        Some(p) if !is_position(&p) => Err(Problem::field(
            "cursor",
            "not a cursor this API gave out; start again without it",
        )),
        other => Ok(other),
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "list_audit_entries",
    tag = "audit",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("since" = Option<i64>, Query, description = "Only entries at or after this time (unix seconds)"),
        ("action" = Option<String>, Query, description = "Only this action, e.g. connection.create")
    ),
    responses(
        (status = 200, description = "A page of the tenant's audit log, newest first", body = crate::api::pagination::PageBody<AuditEntryView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let page = PageRequest::from_request(req)?;
    let (since, action) = filters(req)?;
    let found = deps
        .audit
        .page(
            &caller.tenant,
            &AuditQuery {
                since,
                action,
                after: position(page.after)?,
                newest_first: true,
                limit: page.limit,
            },
        )
        .await?;
    let last = found.items.last().map(|(p, _)| p.clone());
    let items = found.items.into_iter().map(|(_, e)| view(e)).collect();
    Ok(ApiResponse::json(
        200,
        &PageBody::new(items, found.more, last.as_deref()),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/audit/export",
    operation_id = "export_audit_entries",
    tag = "audit",
    params(
        ("cursor" = Option<String>, Query, description = "The next-cursor header of the previous export"),
        ("since" = Option<i64>, Query, description = "Only entries at or after this time (unix seconds)"),
        ("action" = Option<String>, Query, description = "Only this action, e.g. connection.create")
    ),
    responses(
        (status = 200, description = "JSON Lines, one AuditEntryView per line, oldest first, at most 5,000 lines; when more follow, the next-cursor header continues", content_type = "application/x-ndjson", body = String,
            headers(("next-cursor" = String, description = "Present when more entries follow: pass it as cursor"))),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn export(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let (since, action) = filters(req)?;
    let after = match req.query_param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            pagination::decode(&c)
                .ok_or_else(|| Problem::field("cursor", "not a cursor this API gave out; start again without it"))?,
        ),
    };
    let found = deps
        .audit
        .page(
            &caller.tenant,
            &AuditQuery {
                since,
                action,
                after: position(after)?,
                newest_first: false,
                limit: EXPORT_LIMIT,
            },
        )
        .await?;
    let mut body = String::new();
    let last = found.items.last().map(|(p, _)| p.clone());
    for (_, e) in found.items {
        body.push_str(&serde_json::to_string(&view(e)).expect("an audit entry serialises"));
        body.push('\n');
    }
    let mut resp = ApiResponse::new(200, "application/x-ndjson", body);
    if let (true, Some(last)) = (found.more, last) {
        resp = resp.with_header("next-cursor", pagination::encode(&last));
    }
    Ok(resp)
}
