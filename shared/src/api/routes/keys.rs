//! `/v1/keys` (admin): create, list, rotate (a new key; the old one works for an overlap),
//! revoke. A key is shown once, at creation or rotation; the table keeps only its hash.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::super::key_material::NewKey;
use super::super::pagination::{PageBody, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Problem};
use crate::store::api_keys::{ApiKey, Role, Tier};

/// The longest overlap a rotation grants: 7 days.
pub const MAX_OVERLAP_SECS: i64 = 7 * 86_400;
/// The default overlap: 24 hours.
pub const DEFAULT_OVERLAP_SECS: i64 = 86_400;

fn not_found(prefix: &str) -> Problem {
    Problem::not_found(format!("API key {prefix} does not exist"))
}

/// A key as the API lists it: never its hash.
#[derive(Serialize, utoipa::ToSchema)]
struct KeyView {
    prefix: String,
    name: String,
    role: Role,
    tier: Tier,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    rotated_to: Option<String>,
    revoked_at: Option<i64>,
    active: bool,
}

fn view(k: ApiKey, now: i64) -> KeyView {
    KeyView {
        active: k.is_active(now),
        prefix: k.prefix,
        name: k.name,
        role: k.role,
        tier: k.tier,
        created_at: k.created_at,
        created_by: k.created_by,
        expires_at: k.expires_at,
        rotated_to: k.rotated_to,
        revoked_at: k.revoked_at,
    }
}

/// A new key's answer: the key itself, this once.
#[derive(Serialize, utoipa::ToSchema)]
struct CreatedKey {
    /// The whole key: store it now, it is not shown again.
    key: String,
    #[serde(flatten)]
    view: KeyView,
}

fn created(new: &NewKey, k: ApiKey, now: i64) -> ApiResponse {
    let location = format!("/v1/keys/{}", k.prefix);
    let view = view(k, now);
    // An idempotent replay answers the same, without the key: it is shown once, never stored.
    let replay = serde_json::to_string(&view).expect("a key view serialises");
    let mut resp = ApiResponse::json(
        201,
        &CreatedKey {
            key: new.key.expose_secret().to_string(),
            view,
        },
    )
    .with_header("location", location)
    .with_header("cache-control", "no-store");
    resp.replay_body = Some(replay);
    resp
}

async fn owned(deps: &ApiDeps, caller: &Caller, prefix: &str) -> Result<ApiKey, Problem> {
    match deps.keys.get(prefix).await? {
        Some(k) if k.tenant == caller.tenant => Ok(k),
        _ => Err(not_found(prefix)),
    }
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "list_keys",
    tag = "keys",
    params(("limit" = Option<usize>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page of the tenant's keys (never their hashes)", body = crate::api::pagination::PageBody<KeyView>),
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
        .keys
        .page(&caller.tenant, page.after.as_deref(), page.limit)
        .await?;
    let now = deps.clock.now_unix();
    let last = found.items.last().map(|k| k.prefix.clone());
    let items = found.items.into_iter().map(|k| view(k, now)).collect();
    Ok(ApiResponse::json(
        200,
        &PageBody::new(items, found.more, last.as_deref()),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewKey)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: Role,
    /// Default and most: the creating key's tier.
    #[serde(default)]
    tier: Option<Tier>,
}

/// Makes and stores a key (see [`crate::admin::create_api_key`]).
async fn issue(
    deps: &ApiDeps,
    tenant: &str,
    name: &str,
    role: Role,
    tier: Tier,
    created_by: &str,
) -> Result<(NewKey, ApiKey), Problem> {
    Ok(crate::admin::create_api_key(&deps.keys, tenant, name, role, tier, created_by, deps.clock.now_unix()).await?)
}

#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "create_key",
    tag = "keys",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created; the key is in this answer only", body = CreatedKey),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn create(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let body: CreateBody = req.json()?;
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(Problem::field("name", "1 to 200 characters"));
    }
    let tier = body.tier.unwrap_or(caller.tier);
    if tier > caller.tier {
        return Err(Problem::field(
            "tier",
            format!("at most this key's tier, {}", caller.tier.name()),
        ));
    }
    let (new, key) = issue(deps, &caller.tenant, &body.name, body.role, tier, &caller.actor()).await?;
    Ok(created(&new, key, deps.clock.now_unix()))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = KeyRotation)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// How long the old key keeps working, seconds (default 24 h, at most 7 days; 0 ends it now).
    #[serde(default)]
    overlap_secs: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/v1/keys/{prefix}/rotate",
    operation_id = "rotate_key",
    tag = "keys",
    params(("prefix" = String, Path, description = "The key's visible prefix")),
    request_body = Option<RotateBody>,
    responses(
        (status = 201, description = "The new key (shown once); the old one works until its overlap ends", body = CreatedKey),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn rotate(deps: &ApiDeps, caller: &Caller, prefix: &str, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let body: RotateBody = req.json_or_default()?;
    let overlap = body.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
    if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
        return Err(Problem::field(
            "overlap_secs",
            format!("0 to {MAX_OVERLAP_SECS} seconds"),
        ));
    }
    let old = owned(deps, caller, prefix).await?;
    let now = deps.clock.now_unix();
    if !old.is_active(now) || old.rotated_to.is_some() {
        return Err(Problem::conflict(format!(
            "API key {prefix} is revoked or already rotated"
        )));
    }
    let (new, key) = issue(deps, &old.tenant, &old.name, old.role, old.tier, &caller.actor()).await?;
    if !deps.keys.mark_rotated(prefix, &key.prefix, now + overlap).await? {
        // Rotated or revoked meanwhile: undo the new key, so one rotation wins.
        deps.keys.delete(&key.prefix).await?;
        return Err(Problem::conflict(format!(
            "API key {prefix} is revoked or already rotated"
        )));
    }
    Ok(created(&new, key, now))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{prefix}/revoke",
    operation_id = "revoke_key",
    tag = "keys",
    params(("prefix" = String, Path, description = "The key's visible prefix")),
    responses(
        (status = 200, description = "Revoked", body = KeyView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn revoke(deps: &ApiDeps, caller: &Caller, prefix: &str) -> Result<ApiResponse, Problem> {
    owned(deps, caller, prefix).await?;
    let now = deps.clock.now_unix();
    if !deps.keys.revoke(prefix, now).await? {
        return Err(not_found(prefix));
    }
    let key = owned(deps, caller, prefix).await?;
    Ok(ApiResponse::json(200, &view(key, now)))
}
