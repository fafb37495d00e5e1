//! `/v1/dead-letters`: list, show, replay one (through [`crate::retry::replay::Replayer`]).
//!
//! Dead letters are indexed for all tenants together (the retry handler parks them before it
//! knows a tenant); a dead letter belongs to the tenant of its connection or flow. Listing
//! reads the index and keeps the caller's: fine while dead letters are few, and the first
//! thing to index per tenant when they are not.

use std::collections::HashMap;

use serde::Serialize;

use super::super::pagination::{page_of, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Problem};
use crate::retry::replay::{ReplayError, Replayer};
use crate::store::dead_letters::{DeadLetter, DeadLetterFilter, DeadLetterStatus};

fn not_found(key: &str) -> Problem {
    Problem::not_found(format!("dead letter {key} does not exist"))
}

/// The tenant a dead letter belongs to, remembering lookups in `seen`.
pub(super) async fn tenant_of(
    deps: &ApiDeps,
    dead: &DeadLetter,
    seen: &mut HashMap<String, Option<String>>,
) -> Result<Option<String>, Problem> {
    if let Some(id) = &dead.connection_id {
        let k = format!("c:{id}");
        if !seen.contains_key(&k) {
            let t = deps.connections.get(id).await?.map(|c| c.tenant);
            seen.insert(k.clone(), t);
        }
        if let Some(Some(t)) = seen.get(&k) {
            return Ok(Some(t.clone()));
        }
    }
    if let Some(id) = &dead.flow_id {
        let k = format!("f:{id}");
        if !seen.contains_key(&k) {
            let t = deps.flows.get(id).await?.map(|f| f.tenant);
            seen.insert(k.clone(), t);
        }
        if let Some(Some(t)) = seen.get(&k) {
            return Ok(Some(t.clone()));
        }
    }
    Ok(None)
}

async fn owned(deps: &ApiDeps, caller: &Caller, key: &str) -> Result<DeadLetter, Problem> {
    let dead = deps.dead_letters.get(key).await?.ok_or_else(|| not_found(key))?;
    match tenant_of(deps, &dead, &mut HashMap::new()).await? {
        Some(t) if t == caller.tenant => Ok(dead),
        _ => Err(not_found(key)),
    }
}

/// A dead letter as the API shows it: the parked message body is left out (it can hold a
/// provider's payload); its kind, ids, attempts and errors are there.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    key: String,
    kind: String,
    connection_id: Option<String>,
    flow_id: Option<String>,
    attempts: u32,
    #[schema(value_type = Vec<Object>)]
    history: Vec<crate::queue::AttemptRecord>,
    classification: String,
    reason: String,
    last_error: String,
    parked_at: i64,
    status: DeadLetterStatus,
    replayed_at: Option<i64>,
}

pub(super) fn view(d: DeadLetter) -> DeadLetterView {
    DeadLetterView {
        key: d.key,
        kind: d.kind,
        connection_id: d.connection_id,
        flow_id: d.flow_id,
        attempts: d.attempts,
        history: d.history,
        classification: d.classification,
        reason: d.reason,
        last_error: d.last_error,
        parked_at: d.parked_at,
        status: d.status,
        replayed_at: d.replayed_at,
    }
}

#[utoipa::path(
    get,
    path = "/v1/dead-letters",
    operation_id = "list_dead_letters",
    tag = "dead-letters",
    params(("limit" = Option<usize>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("status" = Option<String>, Query, description = "parked or replayed"), ("since" = Option<i64>, Query, description = "parked at or after (unix seconds)")),
    responses(
        (status = 200, description = "A page of the tenant's dead letters, oldest first", body = crate::api::pagination::PageBody<DeadLetterView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let page = PageRequest::from_request(req)?;
    let statuses = match req.query_param("status").as_deref() {
        None => vec![],
        Some("parked") => vec![DeadLetterStatus::Parked],
        Some("replayed") => vec![DeadLetterStatus::Replayed],
        Some(_) => return Err(Problem::field("status", "parked or replayed")),
    };
    let since = match req.query_param("since") {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| Problem::field("since", "unix seconds"))?),
    };
    let all = deps.dead_letters.list(&DeadLetterFilter { since, statuses }).await?;
    let mut seen = HashMap::new();
    let mut mine = Vec::new();
    for dead in all {
        if tenant_of(deps, &dead, &mut seen).await?.as_deref() == Some(caller.tenant.as_str()) {
            mine.push(view(dead));
        }
    }
    let position = |d: &DeadLetterView| format!("{:012}#{}", d.parked_at.max(0), d.key);
    mine.sort_by_key(position);
    Ok(ApiResponse::json(200, &page_of(mine, &page, position)))
}

#[utoipa::path(
    get,
    path = "/v1/dead-letters/{key}",
    operation_id = "show_dead_letter",
    tag = "dead-letters",
    params(("key" = String, Path, description = "Dead letter key, e.g. job:<flow>:<job> (percent-encode the colons or not)")),
    responses(
        (status = 200, description = "The dead letter (without the parked message body)", body = DeadLetterView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn show(deps: &ApiDeps, caller: &Caller, key: &str) -> Result<ApiResponse, Problem> {
    Ok(ApiResponse::json(200, &view(owned(deps, caller, key).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/dead-letters/{key}/replay",
    operation_id = "replay_dead_letter",
    tag = "dead-letters",
    params(("key" = String, Path, description = "Dead letter key, e.g. job:<flow>:<job> (percent-encode the colons or not)")),
    responses(
        (status = 200, description = "Sent back to the sync queue", body = DeadLetterView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backing service is busy", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn replay(deps: &ApiDeps, caller: &Caller, key: &str) -> Result<ApiResponse, Problem> {
    let dead = owned(deps, caller, key).await?;
    let replayer = Replayer {
        dead_letters: &deps.dead_letters,
        connections: &deps.connections,
        flows: &deps.flows,
        jobs: &deps.jobs,
        queue: &deps.queue,
    };
    // The API records every request it answers itself (crate::api::auditing).
    match replayer.replay_unaudited(&dead, deps.clock.now_unix()).await {
        Ok(_) => {
            let dead = deps.dead_letters.get(key).await?.ok_or_else(|| not_found(key))?;
            Ok(ApiResponse::json(200, &view(dead)))
        }
        Err(e @ (ReplayError::AlreadyReplayed(_) | ReplayError::Unreadable(_))) => {
            Err(Problem::conflict(e.to_string()))
        }
        Err(ReplayError::Store(e)) => Err(e.into()),
        Err(ReplayError::Queue(e)) => {
            tracing::error!(message = "Could not send a replayed dead letter.", key = %key, error = %e);
            Err(Problem::unavailable())
        }
    }
}
