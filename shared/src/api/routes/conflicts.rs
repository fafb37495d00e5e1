//! `/v1/flows/{id}/conflicts`: the review queue of a two-way link (records both sides changed
//! since they were last in step, parked by the link's `manual` rule), and resolving one by
//! choosing the side that wins, through [`crate::sync::resolve_review`] as the CLI's
//! `flows resolve` does, or by merging given fields of both versions, written to both sides
//! now ([`crate::sync::resolve_merge`], the CLI's `flows resolve --take`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::super::pagination::PageBody;
use super::super::problem::FieldError;
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Problem};
use crate::store::flows::Flow;
use crate::store::reviews::{link_key, ReviewItem};
use crate::sync::LinkError;

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("flow {id} does not exist"))
}

/// The caller's flow and the other half of its link (both of the caller's tenant), or a 404
/// (also for another tenant's flow) or a 409 (not linked).
async fn linked(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<(Flow, Flow), Problem> {
    let flow = match deps.flows.get(id).await? {
        Some(f) if f.tenant == caller.tenant => f,
        _ => return Err(not_found(id)),
    };
    let Some(other_id) = flow.reverse_flow.clone() else {
        return Err(Problem::conflict(format!(
            "flow {id} is not half of a two-way link, so it has no conflicts"
        )));
    };
    match deps.flows.get(&other_id).await? {
        Some(o) if o.tenant == caller.tenant => Ok((flow, o)),
        _ => Err(Problem::conflict(format!(
            "flow {id} is linked to {other_id}, which no longer exists"
        ))),
    }
}

/// A parked conflict: both versions as they were when it was seen, and the base.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConflictView {
    /// The pair's first flow (the smaller id); `first_version` is its source side's record.
    first_flow: String,
    /// The pair's second flow; `second_version` is its source side's record.
    second_flow: String,
    /// The record's id on the first flow's source side (the id to resolve).
    record: String,
    /// Its counterpart's id on the other side.
    counterpart: String,
    #[schema(value_type = Object)]
    first_version: serde_json::Value,
    #[schema(value_type = Object)]
    second_version: serde_json::Value,
    /// The record as last synced, when kept.
    #[schema(value_type = Option<Object>)]
    base: Option<serde_json::Value>,
    /// Unix seconds.
    parked_at: i64,
    /// The flow that saw the conflict.
    seen_by: String,
}

fn view(i: ReviewItem) -> ConflictView {
    ConflictView {
        first_flow: i.first_flow,
        second_flow: i.second_flow,
        record: i.record,
        counterpart: i.counterpart,
        first_version: i.first_version,
        second_version: i.second_version,
        base: i.base,
        parked_at: i.parked_at,
        seen_by: i.seen_by,
    }
}

#[utoipa::path(
    get,
    path = "/v1/flows/{id}/conflicts",
    operation_id = "list_flow_conflicts",
    tag = "flows",
    params(("id" = String, Path, description = "Either flow of a two-way link")),
    responses(
        (status = 200, description = "Every conflict the link parked for review, in record id order (one page)", body = crate::api::pagination::PageBody<ConflictView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    let (flow, other) = linked(deps, caller, id).await?;
    let (first, second) = link_key(&flow.id, &other.id);
    let items = deps.reviews.list(&first, &second).await?;
    // Possible duplicates are under `/reviews`.
    Ok(ApiResponse::json(
        200,
        &PageBody::new(
            items
                .into_iter()
                .filter(|i| i.kind == crate::store::reviews::ReviewKind::Conflict)
                .map(view)
                .collect(),
            false,
            None,
        ),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ConflictResolution)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// The flow whose source version wins (this flow or the other half of its link): that
    /// version is written over the other side by the winner's next run or event. With
    /// `merge`, it gives every field the merge does not name.
    winner: String,
    /// Merge given fields: each field (a JSON Pointer into the version of the flow that gives
    /// it, such as `/properties/firstname`) and that flow. A field must be in that version.
    /// A field from the other flow's version lands where that flow's mapping carries it on
    /// the winner's side (records of different shapes merge too); one the mapping carries
    /// nowhere, or into several fields, is refused (422, naming it). When a field comes from
    /// the other flow's version, the merged record is written to both sides now (each side
    /// must still hold what was parked, or already the merge: a retry after one side's write
    /// failed completes it) and the answer's `merged` is it.
    #[serde(default)]
    merge: BTreeMap<String, String>,
}

/// A resolved conflict: as it was parked, and what both sides now hold after a merge.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResolvedConflict {
    #[serde(flatten)]
    conflict: ConflictView,
    /// The merged record written to both sides (a merge that took a field from the other
    /// version); absent when the winner's version is written at its next run.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    merged: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/v1/flows/{id}/conflicts/{record}/resolve",
    operation_id = "resolve_flow_conflict",
    tag = "flows",
    params(
        ("id" = String, Path, description = "Either flow of a two-way link"),
        ("record" = String, Path, description = "The conflict's record id (`record` in the list)")
    ),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Resolved: the conflict left the queue; the winner's version is written at its next run, or the merge was written to both sides", body = ResolvedConflict),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "A provider failed a merge's write; the conflict stays parked", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    deps: &ApiDeps,
    caller: &Caller,
    id: &str,
    record: &str,
    req: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    let body: ResolveBody = req.json()?;
    let (flow, other) = linked(deps, caller, id).await?;
    if body.winner != flow.id && body.winner != other.id {
        return Err(Problem::field(
            "winner",
            format!("{} or {}, the two flows of the link", flow.id, other.id),
        ));
    }
    let (first, second) = link_key(&flow.id, &other.id);
    let no_review = || Problem::not_found(format!("no conflict of record {record} is parked for flow {id}"));
    let mut take = Vec::new();
    if !body.merge.is_empty() {
        // Every named field is checked against the version it comes from before anything is
        // written: all the wrong ones are named at once.
        let parked = deps.reviews.get(&first, &second, record).await?.ok_or_else(no_review)?;
        let mut errors = Vec::new();
        for (field, from) in &body.merge {
            let version = if *from == parked.first_flow {
                &parked.first_version
            } else if *from == parked.second_flow {
                &parked.second_version
            } else {
                errors.push(FieldError {
                    field: format!("merge.{field}"),
                    detail: format!("{} or {}, the two flows of the link", flow.id, other.id),
                });
                continue;
            };
            if !field.starts_with('/') {
                errors.push(FieldError {
                    field: format!("merge.{field}"),
                    detail: "a field is a JSON Pointer such as /properties/firstname".into(),
                });
            } else if version.pointer(field).is_none() {
                errors.push(FieldError {
                    field: format!("merge.{field}"),
                    detail: format!("there is no such field in {from}'s version"),
                });
            } else if *from != body.winner {
                take.push(field.clone());
            }
        }
        if !errors.is_empty() {
            return Err(Problem::validation(errors));
        }
    }
    let merge_deps = crate::sync::MergeDeps {
        flows: &deps.flows,
        links: &deps.links,
        reviews: &deps.reviews,
        registry: &deps.registry,
        connections: &deps.connections,
        secrets: &deps.secrets,
        clients: &deps.connectors,
    };
    let merging = !take.is_empty();
    let (item, merged) = crate::sync::resolve_merge(&merge_deps, &body.winner, record, &take, deps.clock.now_unix())
        .await
        .map_err(|e| match e {
            LinkError::NoReview { .. } => no_review(),
            LinkError::Store(e) => e.into(),
            LinkError::Field { field, reason } => Problem::field(format!("merge.{field}"), reason),
            LinkError::Write { .. } => Problem::bad_gateway(e.to_string()),
            // The mapping of a flow refused a version, or a side changed since it was
            // parked: nothing was changed.
            other => Problem::conflict(other.to_string()),
        })?;
    Ok(ApiResponse::json(
        200,
        &ResolvedConflict {
            conflict: view(item),
            merged: merging.then_some(merged),
        },
    ))
}
