//! `GET /v1/events` and `GET /v1/connections/{id}/events`: the inbound webhook log
//! ([`crate::store::webhook_log`]), newest first: every delivery of a known connection,
//! accepted, duplicate, or rejected with a reason code. Bodies only with `?include=body`, and
//! only for editor and admin keys (a body can hold a person's data); only accepted events have
//! one, while they are kept (`EVENT_TTL_DAYS`). A rejected request's content is never kept.
//!
//! The tenant-wide list reads each of the tenant's connections' logs and merges them (one
//! `Query` per connection, concurrently): fine for tens of connections, and the first thing
//! to index per tenant when tenants hold hundreds.

use base64::Engine as _;
use futures::{stream, StreamExt};
use serde::Serialize;

use super::super::pagination::{PageBody, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Permission, Problem};
use crate::store::webhook_log::{is_position, LogEntry, LogQuery, Outcome};

/// Stored events read at once for `?include=body`.
const BODY_READS: usize = 16;

/// One delivery as the log shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventLogView {
    pub connection_id: String,
    /// When the receiver answered it (unix seconds).
    pub at: i64,
    pub outcome: Outcome,
    /// Why it was rejected: `bad_signature:<code>` (`missing_header`, `no_matching_signature`,
    /// `stale_timestamp`, ...), `malformed_payload`, `method_not_allowed`,
    /// `webhooks_not_configured`, `webhook_secret_unusable` or `unexpected_handshake`.
    pub reason: Option<String>,
    /// The provider's event id (accepted and duplicate deliveries).
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// The signature scheme that verified it.
    pub provider: Option<String>,
    /// With `?include=body`: the stored event's body, when it is UTF-8 and still kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// With `?include=body`: the stored event's body in base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

pub(super) fn view(e: LogEntry) -> EventLogView {
    EventLogView {
        connection_id: e.connection_id,
        at: e.at,
        outcome: e.outcome,
        reason: e.reason,
        event_id: e.event_id,
        event_type: e.event_type,
        provider: e.provider,
        body: None,
        body_base64: None,
    }
}

/// The filters and page both routes take, and whether bodies are asked for.
fn query(caller: &Caller, req: &ApiRequest) -> Result<(LogQuery, bool), Problem> {
    let page = PageRequest::from_request(req)?;
    let before = match page.after {
        Some(p) if !is_position(&p) => {
            return Err(Problem::field(
                "cursor",
                "not a cursor this API gave out; start again without it",
            ))
        }
        other => other,
    };
    let since = match req.query_param("since") {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Problem::field("since", "unix seconds"))?,
        ),
    };
    let outcome = match req.query_param("outcome") {
        None => None,
        Some(o) => {
            Some(Outcome::parse(&o).ok_or_else(|| Problem::field("outcome", "accepted, duplicate or rejected"))?)
        }
    };
    let bodies = match req.query_param("include").as_deref() {
        None | Some("") => false,
        Some("body") => true,
        Some(_) => return Err(Problem::field("include", "body, or leave it out")),
    };
    if bodies && caller.require(Permission::Write).is_err() {
        return Err(Problem::forbidden(format!(
            "include=body needs the editor role or above (bodies can hold personal data); this key is {}",
            caller.role.name()
        )));
    }
    Ok((
        LogQuery {
            since,
            outcome,
            before,
            limit: page.limit,
        },
        bodies,
    ))
}

async fn answer(
    deps: &ApiDeps,
    caller: &Caller,
    connection_ids: &[String],
    q: LogQuery,
    bodies: bool,
) -> Result<ApiResponse, Problem> {
    let found = deps.webhook_log.page_across(&caller.tenant, connection_ids, &q).await?;
    let last = found.items.last().map(|(p, _)| p.clone());
    let mut items: Vec<EventLogView> = found.items.into_iter().map(|(_, e)| view(e)).collect();
    if bodies {
        // Collected first: the future must be Send, and a borrowing iterator held across the
        // reads would not be for every lifetime (the api function's router needs it).
        let reads: Vec<(usize, String, String)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match (&v.outcome, &v.event_id) {
                (Outcome::Accepted, Some(event_id)) => Some((i, v.connection_id.clone(), event_id.clone())),
                _ => None,
            })
            .collect();
        let read: Vec<_> = stream::iter(reads)
            .map(|(i, conn, event_id)| async move { (i, deps.events.get(&conn, &event_id).await) })
            .buffer_unordered(BODY_READS)
            .collect()
            .await;
        for (i, stored) in read {
            // Only the caller's own: the event item must name the tenant the log was read for.
            if let Some(ev) = stored?.filter(|ev| ev.tenant == caller.tenant) {
                match String::from_utf8(ev.body) {
                    Ok(text) => items[i].body = Some(text),
                    Err(e) => {
                        items[i].body_base64 = Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes()))
                    }
                }
            }
        }
    }
    Ok(ApiResponse::json(
        200,
        &PageBody::new(items, found.more, last.as_deref()),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "list_events",
    tag = "events",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("since" = Option<i64>, Query, description = "Only deliveries at or after this time (unix seconds)"),
        ("outcome" = Option<String>, Query, description = "accepted, duplicate or rejected"),
        ("include" = Option<String>, Query, description = "body: add accepted events' bodies (editor role or above)")
    ),
    responses(
        (status = 200, description = "A page of the tenant's inbound webhook log, newest first", body = crate::api::pagination::PageBody<EventLogView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not (include=body needs editor or above)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let (q, bodies) = query(caller, req)?;
    let ids: Vec<String> = deps
        .connections
        .list(&caller.tenant)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    answer(deps, caller, &ids, q, bodies).await
}

#[utoipa::path(
    get,
    path = "/v1/connections/{id}/events",
    operation_id = "list_connection_events",
    tag = "events",
    params(
        ("id" = String, Path, description = "Connection id"),
        ("limit" = Option<usize>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("since" = Option<i64>, Query, description = "Only deliveries at or after this time (unix seconds)"),
        ("outcome" = Option<String>, Query, description = "accepted, duplicate or rejected"),
        ("include" = Option<String>, Query, description = "body: add accepted events' bodies (editor role or above)")
    ),
    responses(
        (status = 200, description = "A page of the connection's inbound webhook log, newest first", body = crate::api::pagination::PageBody<EventLogView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not (include=body needs editor or above)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list_for_connection(
    deps: &ApiDeps,
    caller: &Caller,
    id: &str,
    req: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    match deps.connections.get(id).await? {
        Some(c) if c.tenant == caller.tenant => {}
        _ => return Err(Problem::not_found(format!("connection {id} does not exist"))),
    }
    let (q, bodies) = query(caller, req)?;
    answer(deps, caller, &[id.to_string()], q, bodies).await
}
