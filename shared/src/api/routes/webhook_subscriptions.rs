//! `/v1/webhook-subscriptions`: outbound webhooks (see [`crate::subscriptions`]). Create (the
//! endpoint through the URL guard, event types from the catalogue, an optional filter, a new
//! `whsec_` secret stored in Secrets Manager and shown once), list, show, update, delete,
//! rotate the secret; the delivery log, resending one delivery, recovering every failed one
//! since a time.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::super::pagination::{PageBody, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, FieldError, Permission, Problem};
use super::Patch;
use crate::queue::{DeliveryRef, SyncMessage};
use crate::secrets::ConnectionSecretValue;
use crate::store::subscriptions::{Delivery, DeliveryAttempt, DeliveryStatus, Subscription};
use crate::subscriptions::{filter, is_event_type, signing, EVENT_TYPES, EVENT_TYPE_DESCRIPTIONS};

/// While a rotated-out secret still signs deliveries beside the new one (24 hours).
pub const ROTATION_OVERLAP_SECS: i64 = 86_400;
/// At most this many deliveries are queued by one `recover`.
pub const RECOVER_MAX: usize = 1_000;

/// A subscription as the API shows it: never the secret (only `create` and `rotate-secret`
/// answer it, once), never the secret's ARN.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    #[schema(value_type = Object)]
    pub filter: serde_json::Map<String, serde_json::Value>,
    pub description: Option<String>,
    /// False after `WEBHOOK_DISABLE_AFTER_SECS` of continuous failure (or when set so).
    pub enabled: bool,
    /// Since when every delivery attempt failed (unix seconds); absent while deliveries work.
    pub failing_since: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    /// Until when deliveries are also signed with the secret the last rotation replaced.
    pub previous_secret_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn view(s: Subscription) -> SubscriptionView {
    SubscriptionView {
        id: s.id,
        url: s.url,
        event_types: s.event_types,
        filter: s.filter,
        description: s.description,
        enabled: s.enabled,
        failing_since: s.failing_since,
        disabled_at: s.disabled_at,
        disabled_reason: s.disabled_reason,
        previous_secret_until: s.previous_secret_until,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

/// `create` and `rotate-secret`: the subscription and its signing secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
struct WithSecret {
    /// `whsec_` + base64: verify deliveries with it (any Standard Webhooks library). Shown
    /// once; only Secrets Manager keeps it.
    secret: String,
    #[serde(flatten)]
    subscription: SubscriptionView,
}

fn with_secret(status: u16, secret: &secrecy::SecretString, s: Subscription) -> ApiResponse {
    let location = format!("/v1/webhook-subscriptions/{}", s.id);
    let view = view(s);
    // An idempotent replay answers the same, without the secret: it is shown once.
    let replay = serde_json::to_string(&view).expect("a subscription view serialises");
    let mut resp = ApiResponse::json(
        status,
        &WithSecret {
            secret: secret.expose_secret().to_string(),
            subscription: view,
        },
    )
    .with_header("cache-control", "no-store");
    if status == 201 {
        resp = resp.with_header("location", location);
    }
    resp.replay_body = Some(replay);
    resp
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("webhook subscription {id} does not exist"))
}

async fn owned(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<Subscription, Problem> {
    match deps.subscriptions.get(id).await? {
        Some(s) if s.tenant == caller.tenant => Ok(s),
        _ => Err(not_found(id)),
    }
}

fn check_url(deps: &ApiDeps, url: &str, errors: &mut Vec<FieldError>) {
    let mut refuse = |detail: String| {
        errors.push(FieldError {
            field: "url".into(),
            detail,
        })
    };
    if url.len() > 2_000 {
        return refuse("at most 2,000 characters".into());
    }
    match reqwest::Url::parse(url) {
        Err(_) => refuse("not an absolute URL".into()),
        // https unless the deployment allows private networks (the local stack, tests).
        Ok(parsed) => {
            if let Err(e) = crate::connector::url_guard::check_static(&parsed, true, deps.config.allow_private_network)
            {
                refuse(format!("refused: {e}"));
            }
        }
    }
}

fn check_event_types(types: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let unknown: Vec<&str> = types.iter().map(String::as_str).filter(|t| !is_event_type(t)).collect();
    if types.is_empty() || !unknown.is_empty() {
        errors.push(FieldError {
            field: "event_types".into(),
            detail: format!(
                "give one or more of {}{}",
                EVENT_TYPES.join(", "),
                if unknown.is_empty() {
                    String::new()
                } else {
                    format!("; unknown: {}", unknown.join(", "))
                }
            ),
        });
    }
    let mut sorted = types.to_vec();
    sorted.sort();
    sorted.dedup();
    sorted
}

fn check_filter(f: &serde_json::Map<String, serde_json::Value>, errors: &mut Vec<FieldError>) {
    if let Err(detail) = filter::validate(f) {
        errors.push(FieldError {
            field: "filter".into(),
            detail,
        });
    }
}

fn check_description(d: &Option<String>, errors: &mut Vec<FieldError>) {
    if d.as_ref().is_some_and(|d| d.len() > 500) {
        errors.push(FieldError {
            field: "description".into(),
            detail: "at most 500 characters".into(),
        });
    }
}

/// One event type a subscription can ask for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypeView {
    /// The name to give in `event_types`, e.g. `record.created`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// What happened when an event of this type is sent.
    pub description: &'static str,
}

/// The event type catalogue, sorted by name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypeList {
    pub items: Vec<EventTypeView>,
}

/// The catalogue of event types (the same for every tenant): what `event_types` may name.
#[utoipa::path(
    get,
    path = "/v1/webhook-subscriptions/event-types",
    tag = "webhook-subscriptions",
    responses(
        (status = 200, description = "Every event type, sorted by name", body = EventTypeList),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn event_types() -> Result<ApiResponse, Problem> {
    let items = EVENT_TYPE_DESCRIPTIONS
        .iter()
        .map(|&(event_type, description)| EventTypeView {
            event_type,
            description,
        })
        .collect();
    Ok(ApiResponse::json(200, &EventTypeList { items }))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-subscriptions",
    operation_id = "list_webhook_subscriptions",
    tag = "webhook-subscriptions",
    params(("limit" = Option<usize>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page of the tenant's subscriptions", body = crate::api::pagination::PageBody<SubscriptionView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn list(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let page = PageRequest::from_request(req)?;
    let (items, more) = deps
        .subscriptions
        .page(&caller.tenant, page.after.as_deref(), page.limit)
        .await?;
    let last = items.last().map(|s| s.id.clone());
    let items = items.into_iter().map(view).collect();
    Ok(ApiResponse::json(200, &PageBody::new(items, more, last.as_deref())))
}

/// `POST /v1/webhook-subscriptions`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewWebhookSubscription)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Default: a new `whsub_<ulid>`.
    #[serde(default)]
    id: Option<String>,
    /// The endpoint: https (http only where the deployment allows private networks), never a
    /// loopback, link-local or private address.
    url: String,
    /// One or more of: connection.state_changed, dead_letter.parked, job.failed,
    /// job.finished, record.created, record.deleted, record.updated.
    event_types: Vec<String>,
    /// Dotted path in the event's `data` -> a value or a list of values (any matches); every
    /// path must match. E.g. `{"flow_id": "flow_a"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    filter: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/webhook-subscriptions",
    operation_id = "create_webhook_subscription",
    tag = "webhook-subscriptions",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created; `secret` is shown this once (Secrets Manager keeps it)", body = WithSecret),
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
    let mut errors = Vec::new();
    let id = body
        .id
        .clone()
        .unwrap_or_else(|| format!("whsub_{}", ulid::Ulid::new().to_string().to_lowercase()));
    if let Err(e) = crate::store::table::validate_id("subscription id", &id) {
        errors.push(FieldError {
            field: "id".into(),
            detail: e.to_string(),
        });
    }
    check_url(deps, &body.url, &mut errors);
    let event_types = check_event_types(&body.event_types, &mut errors);
    check_filter(&body.filter, &mut errors);
    check_description(&body.description, &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    if deps.subscriptions.get(&id).await?.is_some() {
        return Err(Problem::conflict(format!("webhook subscription {id} already exists")));
    }
    let secret = signing::new_secret();
    let value = ConnectionSecretValue {
        webhook_secret: Some(secret.expose_secret().to_string()),
        ..Default::default()
    };
    let name = format!("switchyard/{}/webhook-subscriptions/{id}", caller.tenant);
    let arn = deps.secrets.create(&name, &value).await.map_err(|e| {
        tracing::error!(message = "Could not store a webhook subscription's secret.", subscription_id = %id, error = %e);
        if e.is_retriable() {
            Problem::unavailable()
        } else {
            Problem::internal()
        }
    })?;
    let now = deps.clock.now_unix();
    let sub = Subscription {
        id: id.clone(),
        tenant: caller.tenant.clone(),
        url: body.url,
        event_types,
        filter: body.filter,
        description: body.description,
        secret_arn: arn.clone(),
        previous_secret_until: None,
        enabled: true,
        failing_since: None,
        disabled_at: None,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    if let Err(e) = deps.subscriptions.create(&sub).await {
        // Leave nothing behind.
        if let Err(cleanup) = deps.secrets.delete_now(&arn).await {
            tracing::error!(message = "Could not delete the secret of a subscription that failed to save.", subscription_id = %id, error = %cleanup);
        }
        return Err(match e {
            crate::store::StoreError::AlreadyExists { .. } => {
                Problem::conflict(format!("webhook subscription {id} already exists"))
            }
            other => other.into(),
        });
    }
    Ok(with_secret(201, &secret, sub))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-subscriptions/{id}",
    operation_id = "show_webhook_subscription",
    tag = "webhook-subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription (never its secret)", body = SubscriptionView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn show(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    Ok(ApiResponse::json(200, &view(owned(deps, caller, id).await?)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = WebhookSubscriptionUpdate)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    /// Replaces the filter; `null` removes it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    filter: Patch<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    description: Patch<String>,
    /// `true` re-enables a disabled endpoint (its failing period starts afresh); `false`
    /// pauses deliveries (events meanwhile are logged as failed: `recover` sends them later).
    #[serde(default)]
    enabled: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/v1/webhook-subscriptions/{id}",
    operation_id = "update_webhook_subscription",
    tag = "webhook-subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "Updated", body = SubscriptionView),
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
    let mut sub = owned(deps, caller, id).await?;
    let mut errors = Vec::new();
    if let Some(url) = body.url {
        check_url(deps, &url, &mut errors);
        sub.url = url;
    }
    if let Some(types) = body.event_types {
        sub.event_types = check_event_types(&types, &mut errors);
    }
    match body.filter {
        Patch::Missing => {}
        Patch::Null => sub.filter.clear(),
        Patch::Value(f) => {
            check_filter(&f, &mut errors);
            sub.filter = f;
        }
    }
    match body.description {
        Patch::Missing => {}
        Patch::Null => sub.description = None,
        Patch::Value(d) => sub.description = Some(d),
    }
    check_description(&sub.description, &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let now = deps.clock.now_unix();
    match body.enabled {
        Some(true) if !sub.enabled => {
            sub.enabled = true;
            sub.failing_since = None;
            sub.disabled_at = None;
            sub.disabled_reason = None;
        }
        Some(false) if sub.enabled => {
            sub.enabled = false;
            sub.disabled_at = Some(now);
            sub.disabled_reason = Some("disabled through the API".into());
        }
        _ => {}
    }
    sub.updated_at = now;
    if !deps.subscriptions.replace(&sub).await? {
        return Err(not_found(id));
    }
    Ok(ApiResponse::json(200, &view(sub)))
}

#[utoipa::path(
    delete,
    path = "/v1/webhook-subscriptions/{id}",
    operation_id = "delete_webhook_subscription",
    tag = "webhook-subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 204, description = "Deleted, with its secret; its delivery log expires with its TTL"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn delete(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    let sub = owned(deps, caller, id).await?;
    deps.subscriptions.delete(id).await?;
    if let Err(e) = deps.secrets.delete_now(&sub.secret_arn).await {
        tracing::error!(message = "Deleted a webhook subscription but not its secret.", subscription_id = %id, error = %e);
    }
    Ok(ApiResponse::no_content())
}

#[utoipa::path(
    post,
    path = "/v1/webhook-subscriptions/{id}/rotate-secret",
    operation_id = "rotate_webhook_subscription_secret",
    tag = "webhook-subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "A new secret, shown this once. For 24 hours deliveries carry a signature by each secret (`webhook-signature` lists both), so the endpoint can switch at its own pace", body = WithSecret),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backing service is busy", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn rotate_secret(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    let mut sub = owned(deps, caller, id).await?;
    let failed = |e: crate::secrets::SecretError| {
        tracing::error!(message = "Could not rotate a webhook subscription's secret.", subscription_id = %id, error = %e);
        if e.is_retriable() {
            Problem::unavailable()
        } else {
            Problem::internal()
        }
    };
    let current = deps.secrets.get_value(&sub.secret_arn).await.map_err(failed)?;
    // serde_json's messages can quote the input: the error is replaced, never passed on.
    let mut value: ConnectionSecretValue = serde_json::from_str(&current).map_err(|_| {
        tracing::error!(message = "A subscription's secret is not a JSON object.", subscription_id = %id);
        Problem::internal()
    })?;
    let secret = signing::new_secret();
    value.previous_webhook_secret = value.webhook_secret.take();
    value.webhook_secret = Some(secret.expose_secret().to_string());
    deps.secrets.put_value(&sub.secret_arn, &value).await.map_err(failed)?;
    let now = deps.clock.now_unix();
    sub.previous_secret_until = Some(now + ROTATION_OVERLAP_SECS);
    sub.updated_at = now;
    if !deps.subscriptions.replace(&sub).await? {
        return Err(not_found(id));
    }
    Ok(with_secret(200, &secret, sub))
}

/// One delivery of the log.
#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryView {
    id: String,
    /// The `webhook-id` header: the same on every attempt and resend.
    event_id: String,
    event_type: String,
    status: DeliveryStatus,
    attempts: Vec<DeliveryAttempt>,
    created_at: i64,
    updated_at: i64,
    next_attempt_at: Option<i64>,
    /// With `?include=payload`: the body sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
}

fn delivery_view(d: Delivery, with_payload: bool) -> DeliveryView {
    DeliveryView {
        id: d.delivery_id,
        event_id: d.event_id,
        event_type: d.event_type,
        status: d.status,
        attempts: d.attempts,
        created_at: d.created_at,
        updated_at: d.updated_at,
        next_attempt_at: d.next_attempt_at,
        payload: with_payload.then_some(d.payload),
    }
}

#[utoipa::path(
    get,
    path = "/v1/webhook-subscriptions/{id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "webhook-subscriptions",
    params(
        ("id" = String, Path, description = "Subscription id"),
        ("limit" = Option<usize>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("status" = Option<String>, Query, description = "pending, succeeded or failed"),
        ("since" = Option<i64>, Query, description = "created at or after (unix seconds)"),
        ("include" = Option<String>, Query, description = "payload: add the body sent (editor role or above)")
    ),
    responses(
        (status = 200, description = "A page of the delivery log, newest first, each with its attempts", body = crate::api::pagination::PageBody<DeliveryView>),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not (include=payload needs editor or above)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn deliveries(deps: &ApiDeps, caller: &Caller, id: &str, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let page = PageRequest::from_request(req)?;
    let status = match req.query_param("status").as_deref() {
        None | Some("") => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("succeeded") => Some(DeliveryStatus::Succeeded),
        Some("failed") => Some(DeliveryStatus::Failed),
        Some(_) => return Err(Problem::field("status", "pending, succeeded or failed")),
    };
    let since = match req.query_param("since") {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| Problem::field("since", "unix seconds"))?),
    };
    let payload = match req.query_param("include").as_deref() {
        None | Some("") => false,
        Some("payload") => true,
        Some(_) => return Err(Problem::field("include", "payload, or leave it out")),
    };
    if payload && caller.require(Permission::Write).is_err() {
        return Err(Problem::forbidden(format!(
            "include=payload needs the editor role or above (payloads can hold personal data); this key is {}",
            caller.role.name()
        )));
    }
    owned(deps, caller, id).await?;
    let found = deps
        .subscriptions
        .deliveries(id, since, page.after.as_deref(), status, page.limit)
        .await?;
    let last = found.items.last().map(|d| d.delivery_id.clone());
    let items = found.items.into_iter().map(|d| delivery_view(d, payload)).collect();
    Ok(ApiResponse::json(
        200,
        &PageBody::new(items, found.more, last.as_deref()),
    ))
}

/// Queues `d` again with a fresh retry schedule; the log keeps its earlier attempts.
async fn requeue(deps: &ApiDeps, tenant: &str, mut d: Delivery) -> Result<(), Problem> {
    let now = deps.clock.now_unix();
    let message = SyncMessage::WebhookDelivery(DeliveryRef {
        subscription_id: d.subscription_id.clone(),
        delivery_id: d.delivery_id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        payload: d.payload.clone(),
        attempt: 0,
    });
    d.status = DeliveryStatus::Pending;
    d.next_attempt_at = Some(now);
    d.updated_at = now;
    // The log item keeps its TTL's worth from now.
    deps.subscriptions
        .put_delivery(tenant, &d, now + deps.config.delivery_log_ttl_secs)
        .await?;
    deps.queue.send(&message).await.map_err(|e| {
        tracing::error!(message = "Could not queue a webhook delivery.", delivery_id = %d.delivery_id, error = %e);
        Problem::unavailable()
    })
}

fn refuse_disabled(sub: &Subscription) -> Result<(), Problem> {
    if sub.enabled {
        Ok(())
    } else {
        Err(Problem::conflict(format!(
            "webhook subscription {} is disabled; PATCH it with {{\"enabled\": true}} first",
            sub.id
        )))
    }
}

#[utoipa::path(
    post,
    path = "/v1/webhook-subscriptions/{id}/deliveries/{delivery}/resend",
    operation_id = "resend_webhook_delivery",
    tag = "webhook-subscriptions",
    params(("id" = String, Path, description = "Subscription id"), ("delivery" = String, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again with the same webhook-id and a fresh retry schedule", body = DeliveryView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state (disabled endpoint, or an attempt already pending)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backing service is busy", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn resend(deps: &ApiDeps, caller: &Caller, id: &str, delivery: &str) -> Result<ApiResponse, Problem> {
    let sub = owned(deps, caller, id).await?;
    let d = deps.subscriptions.get_delivery(id, delivery).await?.ok_or_else(|| {
        Problem::not_found(format!(
            "delivery {delivery} of webhook subscription {id} does not exist"
        ))
    })?;
    refuse_disabled(&sub)?;
    if d.status == DeliveryStatus::Pending {
        return Err(Problem::conflict(format!(
            "delivery {delivery} has an attempt pending already"
        )));
    }
    requeue(deps, &sub.tenant, d).await?;
    let d = deps.subscriptions.get_delivery(id, delivery).await?.ok_or_else(|| {
        Problem::not_found(format!(
            "delivery {delivery} of webhook subscription {id} does not exist"
        ))
    })?;
    Ok(ApiResponse::json(202, &delivery_view(d, false)))
}

/// `POST /v1/webhook-subscriptions/{id}/recover`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookRecovery)]
#[serde(deny_unknown_fields)]
struct RecoverBody {
    /// Every failed delivery created at or after this time (unix seconds) is sent again.
    since: i64,
}

/// What `recover` queued.
#[derive(Serialize, utoipa::ToSchema)]
struct Recovered {
    /// Failed deliveries queued again, oldest last.
    queued: usize,
    /// More failed deliveries remain (at most 1,000 are queued per call): call again.
    more: bool,
}

#[utoipa::path(
    post,
    path = "/v1/webhook-subscriptions/{id}/recover",
    operation_id = "recover_webhook_deliveries",
    tag = "webhook-subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    request_body = RecoverBody,
    responses(
        (status = 202, description = "Every failed delivery since `since` queued again (at most 1,000 a call)", body = Recovered),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state (disabled endpoint)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backing service is busy", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn recover(deps: &ApiDeps, caller: &Caller, id: &str, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let body: RecoverBody = req.json()?;
    let sub = owned(deps, caller, id).await?;
    if body.since < 0 || body.since > deps.clock.now_unix() {
        return Err(Problem::field("since", "unix seconds, not in the future"));
    }
    refuse_disabled(&sub)?;
    let mut queued = 0;
    let mut before: Option<String> = None;
    loop {
        let page = deps
            .subscriptions
            .deliveries(
                id,
                Some(body.since),
                before.as_deref(),
                Some(DeliveryStatus::Failed),
                200,
            )
            .await?;
        before = page.items.last().map(|d| d.delivery_id.clone());
        for d in page.items {
            if queued == RECOVER_MAX {
                return Ok(ApiResponse::json(202, &Recovered { queued, more: true }));
            }
            requeue(deps, &sub.tenant, d).await?;
            queued += 1;
        }
        if !page.more {
            return Ok(ApiResponse::json(202, &Recovered { queued, more: false }));
        }
    }
}

// Cursors of the delivery log are delivery ids: keep the helpers' round trip honest.
#[cfg(test)]
mod tests {
    use super::super::super::pagination::{decode, encode};

    #[test]
    fn a_delivery_id_round_trips_through_a_cursor() {
        let id = crate::store::subscriptions::new_delivery_id(1_800_000_000_000);
        assert_eq!(decode(&encode(&id)).as_deref(), Some(id.as_str()));
    }
}
