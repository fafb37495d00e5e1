//! `/v1/flows`: create (checked by [`crate::admin::build_flow_with`], as the CLI checks), list,
//! show, update, pause, resume, and run (a sync job enqueued like the dispatcher's).

use serde::{Deserialize, Serialize};

use super::super::pagination::{PageBody, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Problem};
use super::Patch;
use crate::admin::{build_flow_with, check_mapping_text, FlowDraft, FlowRejection};
use crate::queue::{SyncJobRef, SyncMessage};
use crate::store::flows::{Flow, SyncMode};
use crate::store::jobs::Job;

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("flow {id} does not exist"))
}

fn rejection(e: FlowRejection) -> Problem {
    match e {
        FlowRejection::Field { field, message } => Problem::field(field, message),
        FlowRejection::Store(e) => e.into(),
    }
}

/// The caller's flow, or a 404 (also for another tenant's).
async fn owned(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<Flow, Problem> {
    match deps.flows.get(id).await? {
        Some(f) if f.tenant == caller.tenant => Ok(f),
        _ => Err(not_found(id)),
    }
}

#[utoipa::path(
    get,
    path = "/v1/flows",
    operation_id = "list_flows",
    tag = "flows",
    params(("limit" = Option<usize>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page of the tenant's flows", body = crate::api::pagination::PageBody<Flow>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let page = PageRequest::from_request(req)?;
    let found = deps
        .flows
        .page(&caller.tenant, page.after.as_deref(), page.limit)
        .await?;
    let last = found.items.last().map(|f| f.id.clone());
    Ok(ApiResponse::json(
        200,
        &PageBody::new(found.items, found.more, last.as_deref()),
    ))
}

/// A flow with its latest jobs (counts, timings, last error) and its open data-quality
/// anomalies.
#[derive(Serialize, utoipa::ToSchema)]
struct FlowWithJobs {
    #[serde(flatten)]
    flow: Flow,
    #[schema(value_type = Vec<Object>)]
    recent_jobs: Vec<Job>,
    /// Metrics far outside the flow's baseline right now (an open episode each), alerted once
    /// when each opened; empty when the flow runs as usual.
    anomalies: Vec<Anomaly>,
}

/// One open data-quality episode of a flow.
#[derive(Serialize, utoipa::ToSchema)]
struct Anomaly {
    /// `records` (read per job), `reject_rate` or `duration`.
    metric: &'static str,
    /// Unix seconds of the first anomalous job.
    since: i64,
    /// Anomalous jobs so far in this episode.
    jobs: u32,
    /// What, since when, compared to what (the latest finding).
    summary: String,
}

#[utoipa::path(
    get,
    path = "/v1/flows/{id}",
    operation_id = "show_flow",
    tag = "flows",
    params(
        ("id" = String, Path, description = "Flow id"),
        ("jobs" = Option<u32>, Query, description = "How many of the latest jobs to include, 1 to 50 (default 5): the console charts its records and durations")
    ),
    responses(
        (status = 200, description = "The flow, its latest jobs and its open data-quality anomalies", body = FlowWithJobs),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn show(deps: &ApiDeps, caller: &Caller, id: &str, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let jobs = match req.query_param("jobs") {
        None => 5,
        Some(n) => n
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| Problem::field("jobs", "a whole number from 1 to 50"))?,
    };
    let flow = owned(deps, caller, id).await?;
    let mut recent_jobs = deps.jobs.recent(id, jobs).await?;
    for job in &mut recent_jobs {
        job.seen = None;
    }
    let anomalies = deps
        .quality
        .get(id)
        .await?
        .quality
        .open
        .into_iter()
        .map(|(metric, episode)| Anomaly {
            metric: metric.name(),
            since: episode.since,
            jobs: episode.count,
            summary: episode.summary,
        })
        .collect();
    Ok(ApiResponse::json(
        200,
        &FlowWithJobs {
            flow,
            recent_jobs,
            anomalies,
        },
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewFlow)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// Source connection id.
    source: String,
    stream: String,
    /// Destination connection id.
    destination: String,
    operation: String,
    /// jq program from a source record to a destination record.
    mapping: String,
    /// Records the mapping must map before the flow is saved.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    sample_records: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    mode: SyncMode,
    #[serde(default)]
    schedule_interval_secs: Option<u64>,
    #[serde(default)]
    retry_schedule_secs: Option<Vec<u64>>,
    #[serde(default)]
    event_types: Vec<String>,
    /// Ids earlier flows of the tenant wrote, read by the mapping as `$links.<name>`: the
    /// destination id the named flow's link holds for the source id at `key` in this flow's
    /// record (null until that flow wrote it).
    #[serde(default)]
    lookups: Vec<crate::store::flows::LinkLookup>,
}

#[utoipa::path(
    post,
    path = "/v1/flows",
    operation_id = "create_flow",
    tag = "flows",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created", body = Flow),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn create(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let body: CreateBody = req.json()?;
    let draft = FlowDraft {
        tenant: caller.tenant.clone(),
        id: body.id,
        name: body.name,
        source: body.source,
        stream: body.stream,
        destination: body.destination,
        operation: body.operation,
        mapping: body.mapping,
        samples: body.sample_records,
        mode: body.mode,
        every: body.schedule_interval_secs,
        retry_schedule_secs: body.retry_schedule_secs,
        event_types: body.event_types,
        lookups: body.lookups,
    };
    // Both connections in one read (one BatchGetItem), used twice: for the tenant's own
    // connectors beside the built-in ones, and by the flow's checks (tenant included).
    let found = deps.connections.get_many(&[&draft.source, &draft.destination]).await?;
    let registry = super::connectors::registry_for_connections(deps, &caller.tenant, &found).await?;
    let flow = build_flow_with(&registry, found, &deps.flows, draft, deps.clock.now_unix())
        .await
        .map_err(rejection)?;
    // The audit entry goes in the same transaction as the flow: one call fewer.
    match crate::api::auditing::entry(deps, caller, &super::Route::CreateFlow, 201, flow.id.clone(), false) {
        Some(entry) => deps.flows.create_audited(&flow, &entry).await?,
        None => deps.flows.create(&flow).await?,
    }
    let location = format!("/v1/flows/{}", flow.id);
    Ok(ApiResponse::json(201, &flow)
        .with_header("location", location)
        .audited())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = FlowUpdate)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    mapping: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    sample_records: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    mode: Option<SyncMode>,
    /// `null` removes the schedule.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    schedule_interval_secs: Patch<u64>,
    /// `null`: the deployment's schedule.
    #[serde(default)]
    #[schema(value_type = Option<Vec<u64>>)]
    retry_schedule_secs: Patch<Vec<u64>>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
}

#[utoipa::path(
    patch,
    path = "/v1/flows/{id}",
    operation_id = "update_flow",
    tag = "flows",
    params(("id" = String, Path, description = "Flow id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "Updated", body = Flow),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn update(deps: &ApiDeps, caller: &Caller, id: &str, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let body: UpdateBody = req.json()?;
    let mut flow = owned(deps, caller, id).await?;
    if let Some(name) = body.name {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(Problem::field("name", "1 to 200 characters"));
        }
        flow.name = name;
    }
    if let Some(mapping) = body.mapping {
        check_mapping_text(&mapping, body.sample_records.as_deref()).map_err(rejection)?;
        flow.mapping = mapping;
    } else if body.sample_records.is_some() {
        return Err(Problem::field("sample_records", "only with a new mapping"));
    }
    if let Some(mode) = body.mode {
        flow.mode = mode;
    }
    match body.schedule_interval_secs {
        Patch::Missing => {}
        Patch::Null => {
            flow.schedule_interval_secs = None;
            flow.next_run_at = None;
        }
        Patch::Value(0) => return Err(Problem::field("schedule_interval_secs", "at least 1 second")),
        Patch::Value(every) => {
            flow.schedule_interval_secs = Some(every);
            flow.next_run_at = Some(flow.next_run_at.unwrap_or_else(|| deps.clock.now_unix()));
        }
    }
    match body.retry_schedule_secs {
        Patch::Missing => {}
        Patch::Null => flow.retry_schedule_secs = None,
        Patch::Value(s) if s.is_empty() || s.contains(&0) => {
            return Err(Problem::field(
                "retry_schedule_secs",
                "at least one delay, each at least 1 second",
            ))
        }
        Patch::Value(s) => flow.retry_schedule_secs = Some(s),
    }
    if let Some(types) = body.event_types {
        flow.event_types = types;
    }
    if !deps.flows.update_settings(&flow).await? {
        return Err(not_found(id));
    }
    Ok(ApiResponse::json(200, &flow))
}

#[utoipa::path(
    post,
    path = "/v1/flows/{id}/pause",
    operation_id = "pause_flow",
    tag = "flows",
    params(("id" = String, Path, description = "Flow id")),
    responses(
        (status = 200, description = "Paused", body = Flow),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn pause(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    set_enabled(deps, caller, id, false).await
}

#[utoipa::path(
    post,
    path = "/v1/flows/{id}/resume",
    operation_id = "resume_flow",
    tag = "flows",
    params(("id" = String, Path, description = "Flow id")),
    responses(
        (status = 200, description = "Resumed", body = Flow),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn resume(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    set_enabled(deps, caller, id, true).await
}

/// Pause (`false`) or resume (`true`): a paused flow is not dispatched and not run by events.
async fn set_enabled(deps: &ApiDeps, caller: &Caller, id: &str, enabled: bool) -> Result<ApiResponse, Problem> {
    let mut flow = owned(deps, caller, id).await?;
    flow.enabled = enabled;
    if enabled && flow.schedule_interval_secs.is_some() && flow.next_run_at.is_none() {
        flow.next_run_at = Some(deps.clock.now_unix());
    }
    if !deps.flows.update_settings(&flow).await? {
        return Err(not_found(id));
    }
    Ok(ApiResponse::json(200, &flow))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = FlowRun)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// Default: the flow's own mode.
    #[serde(default)]
    mode: Option<SyncMode>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RunAccepted {
    flow_id: String,
    job_id: String,
    mode: SyncMode,
    status: &'static str,
}

#[utoipa::path(
    post,
    path = "/v1/flows/{id}/run",
    operation_id = "run_flow",
    tag = "flows",
    params(("id" = String, Path, description = "Flow id")),
    request_body = Option<RunBody>,
    responses(
        (status = 202, description = "A sync job is queued", body = RunAccepted),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backing service is busy", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn run(deps: &ApiDeps, caller: &Caller, id: &str, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let body: RunBody = req.json_or_default()?;
    let flow = owned(deps, caller, id).await?;
    if !flow.enabled {
        return Err(Problem::conflict(format!("flow {id} is paused; resume it first")));
    }
    let job = crate::sync::new_job(&flow, "api", body.mode, deps.clock.now_unix());
    deps.jobs.put(&job).await?;
    let message = SyncMessage::SyncJob(SyncJobRef {
        flow_id: flow.id.clone(),
        job_id: job.job_id.clone(),
        attempt: 0,
    });
    if let Err(e) = deps.queue.send(&message).await {
        tracing::error!(message = "Could not enqueue a sync job.", flow = %flow.id, error = %e);
        return Err(Problem::unavailable());
    }
    let location = format!("/v1/flows/{}", flow.id);
    Ok(ApiResponse::json(
        202,
        &RunAccepted {
            flow_id: flow.id,
            job_id: job.job_id,
            mode: job.mode,
            status: "queued",
        },
    )
    .with_header("location", location))
}
