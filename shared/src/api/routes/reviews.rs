//! `/v1/flows/{id}/reviews`: the possible duplicates a two-way link's duplicate matching parked
//! for a person (a new record whose best match on the other side scored between the link's
//! thresholds), and answering one, as the CLI's `flows resolve-duplicate` does
//! ([`crate::sync::resolve_duplicate`]): `link` (the same record: linked both ways, nothing
//! created), `create_new` (two records: each side creates its own on the other at its next
//! run) or `ignore` (taken out of the queue, both records left alone until they change). Conflicts
//! (both sides changed) are under `/conflicts`.

use serde::{Deserialize, Serialize};

use super::super::pagination::PageBody;
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Problem};
use crate::store::flows::Flow;
use crate::store::links::RecordLink;
use crate::store::reviews::{link_key, ReviewItem, ReviewKind};
use crate::sync::LinkError;

/// The caller's flow and the other half of its link (both of the caller's tenant), or a 404
/// (also for another tenant's flow) or a 409 (not linked).
async fn linked(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<(Flow, Flow), Problem> {
    let flow = match deps.flows.get(id).await? {
        Some(f) if f.tenant == caller.tenant => f,
        _ => return Err(Problem::not_found(format!("flow {id} does not exist"))),
    };
    let Some(other_id) = flow.reverse_flow.clone() else {
        return Err(Problem::conflict(format!(
            "flow {id} is not half of a two-way link, so it has no reviews"
        )));
    };
    match deps.flows.get(&other_id).await? {
        Some(o) if o.tenant == caller.tenant => Ok((flow, o)),
        _ => Err(Problem::conflict(format!(
            "flow {id} is linked to {other_id}, which no longer exists"
        ))),
    }
}

/// A possible duplicate: the record one flow was about to create, and the record on the other
/// side it may be.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DuplicateReview {
    /// Always `duplicate`.
    kind: &'static str,
    /// The pair's first flow (the smaller id); `first_version` is its source side's record.
    first_flow: String,
    /// The pair's second flow; `second_version` is its source side's record.
    second_flow: String,
    /// The record's id on the first flow's source side (the id to resolve).
    record: String,
    /// The other record's id, on the second flow's source side.
    counterpart: String,
    #[schema(value_type = Object)]
    first_version: serde_json::Value,
    #[schema(value_type = Object)]
    second_version: serde_json::Value,
    /// How alike the two are, 0 to 1 (email 1.0, phone 0.9, name and company up to 0.8).
    score: Option<f64>,
    /// What the score rests on: `email`, `phone` or `name and company`.
    evidence: Option<String>,
    /// Unix seconds.
    parked_at: i64,
    /// The flow that was about to create its record.
    seen_by: String,
}

fn view(i: ReviewItem) -> DuplicateReview {
    DuplicateReview {
        kind: "duplicate",
        first_flow: i.first_flow,
        second_flow: i.second_flow,
        record: i.record,
        counterpart: i.counterpart,
        first_version: i.first_version,
        second_version: i.second_version,
        score: i.score,
        evidence: i.evidence,
        parked_at: i.parked_at,
        seen_by: i.seen_by,
    }
}

#[utoipa::path(
    get,
    path = "/v1/flows/{id}/reviews",
    tag = "flows",
    params(("id" = String, Path, description = "Either flow of a two-way link")),
    responses(
        (status = 200, description = "Every possible duplicate the link parked for review, in record id order (one page)", body = crate::api::pagination::PageBody<DuplicateReview>),
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
    Ok(ApiResponse::json(
        200,
        &PageBody::new(
            items
                .into_iter()
                .filter(|i| i.kind == ReviewKind::Duplicate)
                .map(view)
                .collect(),
            false,
            None,
        ),
    ))
}

/// What a person answers about a possible duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// The same record: the two are linked both ways and neither side creates a copy.
    Link,
    /// Two different records: each side creates its own on the other at its flow's next run,
    /// without matching again.
    CreateNew,
    /// Neither: the review leaves the queue, nothing is linked or created, and the flow that
    /// was about to create its record leaves it alone until it changes again (then it is
    /// matched anew).
    Ignore,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DuplicateResolution)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// `link`, `create_new` or `ignore`.
    decision: ReviewDecision,
}

/// An answered review: as it was parked, and the decision.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResolvedReview {
    #[serde(flatten)]
    review: DuplicateReview,
    /// `link`, `create_new` or `ignore`.
    decision: &'static str,
}

#[utoipa::path(
    post,
    path = "/v1/flows/{id}/reviews/{record}/resolve",
    tag = "flows",
    params(
        ("id" = String, Path, description = "Either flow of a two-way link"),
        ("record" = String, Path, description = "The review's record id (`record` in the list)")
    ),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Answered: the review left the queue", body = ResolvedReview),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state (a conflict, not a duplicate: see /conflicts)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
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
    let no_review = || {
        Problem::not_found(format!(
            "no possible duplicate of record {record} is parked for flow {id}"
        ))
    };
    let now = deps.clock.now_unix();
    let item = match body.decision {
        ReviewDecision::Link | ReviewDecision::CreateNew => crate::sync::resolve_duplicate(
            &deps.flows,
            &deps.links,
            &deps.reviews,
            &flow.id,
            record,
            body.decision == ReviewDecision::Link,
            now,
        )
        .await
        .map_err(|e| match e {
            LinkError::NoReview { .. } => no_review(),
            LinkError::Store(e) => e.into(),
            other => Problem::conflict(other.to_string()),
        })?,
        ReviewDecision::Ignore => ignore(deps, &flow, &other, record, now).await?.ok_or_else(no_review)?,
    };
    let decision = match body.decision {
        ReviewDecision::Link => "link",
        ReviewDecision::CreateNew => "create_new",
        ReviewDecision::Ignore => "ignore",
    };
    Ok(ApiResponse::json(
        200,
        &ResolvedReview {
            review: view(item),
            decision,
        },
    ))
}

/// Takes a possible duplicate out of the queue without linking or creating: each of the two
/// records gets a link with no counterpart whose hash is that of the version parked, so its
/// flow skips it as unchanged (neither is created on the other side, nor matched and parked
/// again); a later change to one makes its flow write it, as a create, without matching again.
/// `None` when no such duplicate is parked.
async fn ignore(
    deps: &ApiDeps,
    flow: &Flow,
    other: &Flow,
    record: &str,
    now: i64,
) -> Result<Option<ReviewItem>, Problem> {
    let (first, second) = link_key(&flow.id, &other.id);
    let Some(item) = deps.reviews.get(&first, &second, record).await? else {
        return Ok(None);
    };
    if item.kind != ReviewKind::Duplicate {
        return Err(Problem::conflict(LinkError::Conflict(record.to_owned()).to_string()));
    }
    let (first_flow, second_flow) = if flow.id == first { (flow, other) } else { (other, flow) };
    for (f, id, version) in [
        (first_flow, &item.record, &item.first_version),
        (second_flow, &item.counterpart, &item.second_version),
    ] {
        let hash = crate::connector::Mapping::cached(&f.mapping)
            .map_err(|e| e.to_string())
            .and_then(|m| m.apply(version).map_err(|e| e.to_string()))
            .map(|mapped| crate::connector::content_hash(&mapped))
            .map_err(|e| Problem::conflict(format!("flow {}: mapping: {e}", f.id)))?;
        deps.links
            .put_many(
                &f.id,
                &[RecordLink {
                    source_id: id.clone(),
                    destination_id: String::new(),
                    content_hash: hash,
                    updated_at: now,
                    record: None,
                    subject: None,
                    predicted: false,
                    retired: false,
                }],
            )
            .await?;
    }
    deps.reviews.remove(&first, &second, record).await?;
    Ok(Some(item))
}
