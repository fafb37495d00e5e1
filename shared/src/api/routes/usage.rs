//! `GET /v1/usage`: requests per API key and tier (the rate limiter's window counters, this
//! window and the one before), and events and records per day ([`crate::store::usage`]).
//! Every role may read it; an admin sees every key of the tenant, any other role only the key
//! it calls with. Reads: the tenant's keys (admin; each key item holds its windows' counters),
//! a signed-in user's window items (one `BatchGetItem`), and one `Query` of the tenant's days.

use serde::Serialize;

use super::super::auth::window;
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, Permission, Problem};
use crate::store::api_keys::{ApiKey, RequestCounts, Role, Tier};
use crate::store::usage::{day_of, DayCounts};

/// Days shown when `days` is not given, and the most that may be asked for.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 400;

/// One key's requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyUsage {
    /// The key's visible prefix (or a signed-in user's id).
    pub prefix: String,
    pub name: String,
    pub role: Role,
    pub tier: Tier,
    /// Requests allowed per window for the tier.
    pub limit: u64,
    /// Requests counted in the current window (refused ones are not counted).
    pub requests: u64,
    /// Requests counted in the window before.
    pub previous_window_requests: u64,
    /// Revoked or expired keys are listed while their windows are kept.
    pub active: bool,
}

/// One day's events and records.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayUsage {
    /// UTC, `yyyy-mm-dd`.
    pub day: String,
    #[serde(flatten)]
    pub counts: DayCounts,
}

/// The tenant's usage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    /// The rate-limit window: its length and the current one's start (unix seconds).
    pub window_secs: i64,
    pub window_start: i64,
    pub requests: Vec<KeyUsage>,
    /// Days with any event or record, oldest first.
    pub days: Vec<DayUsage>,
}

#[utoipa::path(
    get,
    path = "/v1/usage",
    operation_id = "show_usage",
    tag = "usage",
    params(("days" = Option<i64>, Query, description = "How many days back, today included: 1 to 400, default 30")),
    responses(
        (status = 200, description = "Requests per key and tier, and events and records per day", body = UsageView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn show(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let days = match req.query_param("days") {
        None => DEFAULT_DAYS,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_DAYS).contains(n))
            .ok_or_else(|| Problem::field("days", format!("an integer from 1 to {MAX_DAYS}")))?,
    };
    let now = deps.clock.now_unix();
    let window_secs = deps.config.rate_window_secs.max(1);
    let (start, _) = window(now, window_secs);

    // Whose requests: an admin sees every key of the tenant, anyone else their own. A key's
    // counters are on its item; a signed-in user's on a window item of their own.
    let row = |k: ApiKey, counts: &RequestCounts| KeyUsage {
        active: k.is_active(now),
        limit: deps.config.hourly_limit(k.tier),
        requests: counts.get(&start).copied().unwrap_or(0),
        previous_window_requests: counts.get(&(start - window_secs)).copied().unwrap_or(0),
        prefix: k.prefix,
        name: k.name,
        role: k.role,
        tier: k.tier,
    };
    let mut rows: Vec<KeyUsage> = Vec::new();
    if caller.require(Permission::Admin).is_ok() {
        let mut after: Option<String> = None;
        loop {
            let page = deps.keys.page_counted(&caller.tenant, after.as_deref(), 200).await?;
            after = page.items.last().map(|(k, _)| k.prefix.clone());
            rows.extend(page.items.into_iter().map(|(k, counts)| row(k, &counts)));
            if !page.more {
                break;
            }
        }
    }
    if !rows.iter().any(|r| r.prefix == caller.prefix) {
        // The caller itself: a key of another role, or a signed-in user (no key record).
        match deps.keys.get_counted(&caller.prefix).await? {
            Some((k, counts)) if k.tenant == caller.tenant => rows.push(row(k, &counts)),
            _ => {
                let windows = [
                    (caller.prefix.clone(), start),
                    (caller.prefix.clone(), start - window_secs),
                ];
                let counted = deps.windows.counts(&windows).await?;
                rows.push(KeyUsage {
                    prefix: caller.prefix.clone(),
                    name: "single sign-on".to_string(),
                    role: caller.role,
                    tier: caller.tier,
                    limit: deps.config.hourly_limit(caller.tier),
                    requests: counted.get(&windows[0]).copied().unwrap_or(0),
                    previous_window_requests: counted.get(&windows[1]).copied().unwrap_or(0),
                    active: true,
                });
            }
        }
    }

    let from = day_of(now - (days - 1) * 86_400);
    let to = day_of(now);
    let days = deps
        .usage
        .days(&caller.tenant, &from, &to)
        .await?
        .into_iter()
        .map(|(day, counts)| DayUsage { day, counts })
        .collect();
    Ok(ApiResponse::json(
        200,
        &UsageView {
            window_secs,
            window_start: start,
            requests: rows,
            days,
        },
    ))
}
