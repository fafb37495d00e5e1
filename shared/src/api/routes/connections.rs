//! `/v1/connections`: create (credentials to Secrets Manager through
//! [`crate::admin::create_connection`], never echoed), list, show, update, delete.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::super::pagination::{PageBody, PageRequest};
use super::super::{ApiDeps, ApiRequest, ApiResponse, Caller, FieldError, Problem};
use super::Patch;
use crate::admin::{self, AdminError, NewWebhookSecrets};
use crate::health::check::{check_connection, CheckDeps};
use crate::health::{CheckOutcome, HealthRecord};
use crate::store::connections::{Connection, WebhookSettings};
use crate::webhook::Scheme;

/// A connection as the API shows it: no secret, no secret ARN.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The webhook signature scheme, when the connection receives webhooks.
    pub webhook_scheme: Option<&'static str>,
    /// Where the provider sends webhooks, on this API's host.
    pub webhook_path: Option<String>,
    /// Until when (unix seconds) the connection expects the provider's set-up handshake
    /// (Asana's `X-Hook-Secret`, Microsoft Graph's subscription validation); absent when it
    /// expects none (or Asana's came and was taken).
    pub webhook_handshake_until: Option<i64>,
    /// Whether credentials are stored (in Secrets Manager).
    pub has_credentials: bool,
    /// Health state and circuit, from the health checker (absent before the first check).
    #[schema(value_type = Option<Object>)]
    pub health: Option<HealthRecord>,
    pub created_at: i64,
}

fn view(c: Connection, health: Option<HealthRecord>) -> ConnectionView {
    ConnectionView {
        webhook_scheme: c.webhook.as_ref().map(|w| w.scheme.name()),
        webhook_path: c.webhook.as_ref().map(|_| format!("/hooks/{}", c.id)),
        webhook_handshake_until: c.webhook.as_ref().and_then(|w| w.handshake_until),
        has_credentials: c.secret_arn.is_some(),
        id: c.id,
        provider: c.provider,
        name: c.name,
        config: c.config,
        health,
        created_at: c.created_at,
    }
}

/// A connection with its open inbound-events anomaly (`GET /v1/connections/{id}`).
#[derive(Serialize, utoipa::ToSchema)]
struct ConnectionDetail {
    #[serde(flatten)]
    connection: ConnectionView,
    /// The webhook stream is far below its usual volume for the hour of the week right now (an
    /// open episode, alerted once when it opened); null when it runs as usual, or the
    /// connection takes no webhooks.
    inbound_anomaly: Option<InboundAnomaly>,
    /// Unix seconds: inbound events are counted and judged up to here (the health checker
    /// counts each hour once it is over); null before the first count.
    inbound_counted_until: Option<i64>,
}

/// An open inbound-events episode of a connection.
#[derive(Serialize, utoipa::ToSchema)]
struct InboundAnomaly {
    /// `inbound_events` (accepted webhook events per hour).
    metric: &'static str,
    /// Unix seconds: the start of the first anomalous hour.
    since: i64,
    /// Anomalous hours so far in this episode.
    hours: u32,
    /// What, since when, compared to what (the latest hour's finding).
    summary: String,
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("connection {id} does not exist"))
}

/// The caller's connection with its health, or a 404 (also for another tenant's).
async fn owned(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<(Connection, Option<HealthRecord>), Problem> {
    match deps.connections.get_with_health(id).await? {
        Some((c, h)) if c.tenant == caller.tenant => Ok((c, h)),
        _ => Err(not_found(id)),
    }
}

#[utoipa::path(
    get,
    path = "/v1/connections",
    operation_id = "list_connections",
    tag = "connections",
    params(("limit" = Option<usize>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page of the tenant's connections", body = crate::api::pagination::PageBody<ConnectionView>),
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
        .connections
        .page(&caller.tenant, page.after.as_deref(), page.limit)
        .await?;
    let last = found.items.last().map(|(c, _)| c.id.clone());
    let items = found.items.into_iter().map(|(c, h)| view(c, h)).collect();
    Ok(ApiResponse::json(
        200,
        &PageBody::new(items, found.more, last.as_deref()),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/connections/{id}",
    operation_id = "show_connection",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The connection, with its health and its open inbound-events anomaly", body = ConnectionDetail),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn show(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    let (c, h) = owned(deps, caller, id).await?;
    let inbound = deps.connections.inbound(id).await?;
    let inbound_counted_until = inbound.as_ref().filter(|i| i.version > 1).map(|i| i.next_hour);
    let inbound_anomaly = inbound.and_then(|mut i| {
        let metric = crate::quality::Metric::InboundEvents;
        i.quality.open.remove(&metric).map(|e| InboundAnomaly {
            metric: metric.name(),
            since: e.since,
            hours: e.count,
            summary: e.summary,
        })
    });
    Ok(ApiResponse::json(
        200,
        &ConnectionDetail {
            connection: view(c, h),
            inbound_anomaly,
            inbound_counted_until,
        },
    ))
}

/// `POST /v1/connections`. No `Debug`: it holds credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewConnection)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Default: a new `conn_<ulid>`.
    #[serde(default)]
    id: Option<String>,
    /// A connector id (`GET /v1/connectors`) or a webhook scheme name.
    provider: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    config: serde_json::Map<String, serde_json::Value>,
    /// Stored in Secrets Manager, never returned.
    #[serde(default)]
    #[schema(value_type = Object)]
    credentials: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    webhook: Option<WebhookBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewConnectionWebhook)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    /// A named signature scheme (`stripe`, `hubspot`, `shopify`, ...). Without it, the
    /// connector's own `webhooks:` section says (a tenant's uploaded connector too), with the
    /// event id and type pointers it names.
    #[serde(default)]
    scheme: Option<String>,
    /// The signing secret; stored in Secrets Manager, never returned. Microsoft Graph: the
    /// subscriptions' `clientState`. Asana sets it in its handshake: leave it out and give
    /// `await_handshake_minutes`. Not given for `paypal`, which signs with its certificate (the
    /// connection's `config.webhook_id` names the webhook).
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    previous_secret: Option<String>,
    #[serde(default)]
    tolerance_secs: Option<u64>,
    /// Expect the provider's set-up handshake for this many minutes (1 to 1440), as the
    /// CLI's `--await-handshake`: Asana's `X-Hook-Secret` (the first one sets the secret) and
    /// Microsoft Graph's subscription validations (answered only in the window). Create the
    /// webhook or subscription at the provider within it. Other schemes have no such handshake.
    #[serde(default)]
    await_handshake_minutes: Option<u32>,
}

/// The longest handshake window, minutes (a day, as the CLI's `--await-handshake`).
const MAX_HANDSHAKE_MINUTES: u32 = 1440;

/// Checks a handshake window for `scheme`; the error is the field's.
fn handshake_window(scheme: &Scheme, minutes: u32, now: i64) -> Result<i64, FieldError> {
    let field = "webhook.await_handshake_minutes".to_owned();
    if !scheme.handshake_expected() {
        return Err(FieldError {
            field,
            detail: format!(
                "the `{}` scheme has no set-up handshake to wait for (Asana and Microsoft Graph have)",
                scheme.name()
            ),
        });
    }
    if !(1..=MAX_HANDSHAKE_MINUTES).contains(&minutes) {
        return Err(FieldError {
            field,
            detail: format!("1 to {MAX_HANDSHAKE_MINUTES} minutes"),
        });
    }
    Ok(now + i64::from(minutes) * 60)
}

#[utoipa::path(
    post,
    path = "/v1/connections",
    operation_id = "create_connection",
    tag = "connections",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created; credentials stored in Secrets Manager, never returned", body = ConnectionView),
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
        .unwrap_or_else(|| format!("conn_{}", ulid::Ulid::new().to_string().to_lowercase()));
    if let Err(e) = crate::store::table::validate_id("connection id", &id) {
        errors.push(FieldError {
            field: "id".into(),
            detail: e.to_string(),
        });
    }
    // Built-in first, then the tenant's own (another tenant's is unknown here).
    let connector = deps
        .tenant_connectors
        .resolve(&deps.registry, &caller.tenant, &body.provider)
        .await?;
    if connector.is_none() && Scheme::from_name(&body.provider).is_err() {
        errors.push(FieldError {
            field: "provider".into(),
            detail: format!(
                "{:?} is neither a connector (GET /v1/connectors) nor a webhook scheme",
                body.provider
            ),
        });
    }
    let mut webhook = None;
    let mut paypal_webhook = None;
    if let Some(w) = body.webhook {
        // The connector's own section, when it names this scheme (or none is named): its
        // event id and type pointers come with it.
        let own = connector
            .as_ref()
            .and_then(|def| def.webhooks.as_ref())
            .filter(|spec| w.scheme.as_ref().is_none_or(|name| *name == spec.scheme));
        let scheme = match (own, &w.scheme) {
            (Some(spec), _) => spec.receiver_scheme(),
            (None, Some(name)) => Scheme::from_name(name),
            (None, None) => {
                errors.push(FieldError {
                    field: "webhook.scheme".into(),
                    detail: format!(
                        "connector {:?} has no `webhooks:` section; name a signature scheme",
                        body.provider
                    ),
                });
                return Err(Problem::validation(errors));
            }
        };
        let secret = w.secret.filter(|s| !s.is_empty());
        match scheme {
            Ok(scheme) if !scheme.uses_secret() => {
                if secret.is_some() || w.previous_secret.is_some() {
                    errors.push(FieldError {
                        field: "webhook.secret".into(),
                        detail: format!(
                            "the {} scheme signs with the provider's certificate: give no secret",
                            scheme.name()
                        ),
                    });
                } else if let Err(detail) = crate::receiver::paypal_certs::webhook_id(&body.config) {
                    errors.push(FieldError {
                        field: "config.webhook_id".into(),
                        detail,
                    });
                } else {
                    paypal_webhook = Some(WebhookSettings {
                        scheme,
                        tolerance_secs: w.tolerance_secs,
                        handshake_until: None,
                    });
                }
            }
            Ok(scheme) => {
                let until = match w.await_handshake_minutes {
                    None => None,
                    Some(minutes) => match handshake_window(&scheme, minutes, deps.clock.now_unix()) {
                        Ok(until) => Some(until),
                        Err(e) => {
                            errors.push(e);
                            None
                        }
                    },
                };
                if secret.is_none() && !(scheme.secret_set_by_handshake() && w.await_handshake_minutes.is_some()) {
                    errors.push(FieldError {
                        field: "webhook.secret".into(),
                        detail: match scheme.secret_set_by_handshake() {
                            true => {
                                "give the secret, or `await_handshake_minutes` for the handshake that sets it".into()
                            }
                            false => "give a non-empty secret".into(),
                        },
                    });
                }
                if secret.is_none() && w.previous_secret.is_some() {
                    errors.push(FieldError {
                        field: "webhook.previous_secret".into(),
                        detail: "a previous secret needs a current one".into(),
                    });
                }
                webhook = Some((
                    WebhookSettings {
                        scheme,
                        tolerance_secs: w.tolerance_secs,
                        handshake_until: until,
                    },
                    secret.map(|current| NewWebhookSecrets {
                        current: SecretString::from(current),
                        previous: w.previous_secret.map(SecretString::from),
                    }),
                ))
            }
            Err(_) => errors.push(FieldError {
                field: "webhook.scheme".into(),
                detail: "not a named webhook signature scheme".into(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let (settings, secrets) = match webhook {
        Some((s, w)) => (Some(s), w),
        None => (paypal_webhook, None),
    };
    let conn = Connection {
        id,
        tenant: caller.tenant.clone(),
        name: body.name.unwrap_or_else(|| body.provider.clone()),
        provider: body.provider,
        webhook: settings,
        secret_arn: None,
        config: body.config,
        created_at: deps.clock.now_unix(),
    };
    match admin::create_connection(&deps.connections, &deps.secrets, conn, secrets, body.credentials).await {
        Ok(created) => {
            let location = format!("/v1/connections/{}", created.id);
            Ok(ApiResponse::json(201, &view(created, None)).with_header("location", location))
        }
        Err(AdminError::Store(e)) => Err(e.into()),
        Err(AdminError::Invalid(detail)) => Err(Problem::field("body", detail)),
        Err(AdminError::Secret(e)) => {
            tracing::error!(message = "Could not store a connection's secret.", error = %e);
            Err(Problem::internal())
        }
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = ConnectionUpdate)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    /// Replaces the whole config; `null` empties it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    config: Patch<serde_json::Map<String, serde_json::Value>>,
    /// Re-opens the webhook's set-up handshake window (to create the webhook or subscription
    /// at the provider again).
    #[serde(default)]
    webhook: Option<WebhookUpdate>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ConnectionWebhookUpdate)]
#[serde(deny_unknown_fields)]
struct WebhookUpdate {
    /// Expect the provider's set-up handshake for this many minutes from now (1 to 1440), as
    /// at creation; Asana's, taken, sets a new secret.
    await_handshake_minutes: u32,
}

#[utoipa::path(
    patch,
    path = "/v1/connections/{id}",
    operation_id = "update_connection",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "Updated", body = ConnectionView),
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
    let (mut c, h) = owned(deps, caller, id).await?;
    if let Some(name) = body.name {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(Problem::field("name", "1 to 200 characters"));
        }
        c.name = name;
    }
    match body.config {
        Patch::Missing => {}
        Patch::Null => c.config.clear(),
        Patch::Value(config) => c.config = config,
    }
    let until = match (&body.webhook, &c.webhook) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Problem::field(
                "webhook",
                "the connection receives no webhooks; create one with a `webhook`",
            ))
        }
        (Some(w), Some(settings)) => Some(
            handshake_window(&settings.scheme, w.await_handshake_minutes, deps.clock.now_unix())
                .map_err(|e| Problem::validation(vec![e]))?,
        ),
    };
    if !deps
        .connections
        .update_details(&caller.tenant, id, &c.name, &c.config)
        .await?
    {
        return Err(not_found(id));
    }
    if let Some(until) = until {
        if !deps.connections.expect_handshake(&caller.tenant, id, until).await? {
            return Err(not_found(id));
        }
        if let Some(settings) = c.webhook.as_mut() {
            settings.handshake_until = Some(until);
        }
    }
    Ok(ApiResponse::json(200, &view(c, h)))
}

#[utoipa::path(
    delete,
    path = "/v1/connections/{id}",
    operation_id = "delete_connection",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 204, description = "Deleted, with its secret"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with the resource's state", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn delete(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    let (c, _) = owned(deps, caller, id).await?;
    let users: Vec<String> = deps
        .flows
        .list(&caller.tenant)
        .await?
        .into_iter()
        .filter(|f| f.source_connection == id || f.destination_connection == id)
        .map(|f| f.id)
        .collect();
    if !users.is_empty() {
        return Err(Problem::conflict(format!(
            "connection {id} is used by flows {}; change or remove them first",
            users.join(", ")
        )));
    }
    deps.connections.delete(id).await?;
    if let Some(arn) = &c.secret_arn {
        if let Err(e) = deps.secrets.delete_now(arn).await {
            tracing::error!(message = "Deleted a connection but not its secret.", connection = %id, error = %e);
        }
    }
    Ok(ApiResponse::no_content())
}

/// What `POST /v1/connections/{id}/test` found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    /// `ok`, `failed`, or `not_checkable` (no check request in the connector's definition, or
    /// no API credentials: a webhook-only connection).
    pub result: &'static str,
    /// Whether the check request succeeded.
    pub ok: bool,
    /// How long the check took, milliseconds (absent when nothing was checked).
    pub latency_ms: Option<u64>,
    /// What went wrong, in words (never a credential).
    pub error: Option<String>,
    /// The provider refused the credentials: they need renewing (`rotate-secret`).
    pub needs_reauth: bool,
    /// An OAuth token was refreshed (and stored) on the way.
    pub token_refreshed: bool,
    /// The connection's state after this result was recorded on its health record, as a health
    /// run records one (`healthy`, `degraded`, `unhealthy`, ...); absent when nothing was
    /// checked, or when a health run wrote the record at the same moment (its result stands).
    pub state: Option<&'static str>,
}

#[utoipa::path(
    post,
    path = "/v1/connections/{id}/test",
    operation_id = "test_connection",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The check request ran now, through the health checker's code; the result is in the body (a failed check is still a 200)", body = TestResult),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such resource in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn test(deps: &ApiDeps, caller: &Caller, id: &str) -> Result<ApiResponse, Problem> {
    let (c, health) = owned(deps, caller, id).await?;
    let check = CheckDeps {
        registry: &deps.registry,
        tenant_connectors: Some(&deps.tenant_connectors),
        secrets: &deps.secrets,
        http: &deps.http,
        check_timeout: deps.config.check_timeout,
        allow_private_network: deps.config.allow_private_network,
        // Defaults of the health checker: a token about to expire is refreshed now too.
        token_refresh_ahead_secs: 900,
        token_max_age_secs: 86_400,
        // A test changes nothing at the provider.
        renew_subscriptions: false,
    };
    let now = deps.clock.now_unix();
    let prev = health.unwrap_or_default();
    let checked = check_connection(check, &c, &prev, now).await;
    let state = match &checked.outcome {
        Some(outcome) => record_test(deps, &c.id, &prev, outcome, checked.token_refreshed, now).await?,
        None => None,
    };
    let result = match checked.outcome {
        None => TestResult {
            result: "not_checkable",
            ok: false,
            latency_ms: None,
            error: None,
            needs_reauth: false,
            token_refreshed: checked.token_refreshed,
            state,
        },
        Some(CheckOutcome::Ok { latency_ms }) => TestResult {
            result: "ok",
            ok: true,
            latency_ms: Some(latency_ms),
            error: None,
            needs_reauth: false,
            token_refreshed: checked.token_refreshed,
            state,
        },
        Some(CheckOutcome::Failed {
            latency_ms,
            error,
            reauth,
        }) => TestResult {
            result: "failed",
            ok: false,
            latency_ms: Some(latency_ms),
            error: Some(error),
            needs_reauth: reauth,
            token_refreshed: checked.token_refreshed,
            state,
        },
    };
    Ok(ApiResponse::json(200, &result))
}

/// Records a test's outcome on the connection's health record exactly as a health run would
/// (state, circuit, latency, the recent window), so the overview, the circuit and the next run
/// all see it. The API sends no alert itself: a state change is stored as the record's pending
/// alert, which the health checker's next run delivers first. Returns the state recorded, or
/// `None` when a health run wrote the record meanwhile (its result stands).
async fn record_test(
    deps: &ApiDeps,
    id: &str,
    prev: &HealthRecord,
    outcome: &CheckOutcome,
    token_refreshed: bool,
    now: i64,
) -> Result<Option<&'static str>, Problem> {
    let (mut next, transition) = crate::health::apply(prev, outcome, now, &deps.config.health_policy);
    if token_refreshed {
        next.token_refreshed_at = Some(now);
    }
    if let Some(mut t) = transition {
        t.circuit_from = prev.circuit;
        tracing::warn!(
            message = "Connection state changed by a test from the API.",
            connection_id = %id,
            from = t.from.name(),
            to = t.to.name()
        );
        next.pending_alert = Some(t);
    }
    let stored = deps.connections.put_health(id, &next).await.map_err(Problem::from)?;
    Ok(stored.then(|| next.state.name()))
}

/// `POST /v1/connections/{id}/rotate-secret`. No `Debug`: it holds credentials.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = SecretRotation)]
#[serde(deny_unknown_fields)]
struct RotateSecretBody {
    /// Replaces every stored API credential (API key, tokens) of the connection.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    credentials: Option<serde_json::Map<String, serde_json::Value>>,
    /// The new webhook signing secret; the current one stays accepted as the previous secret
    /// until the next rotation, so deliveries signed before the provider switched still verify.
    #[serde(default)]
    webhook_secret: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/connections/{id}/rotate-secret",
    operation_id = "rotate_connection_secret",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id")),
    request_body = RotateSecretBody,
    responses(
        (status = 200, description = "A new secret version is AWSCURRENT in Secrets Manager; the replaced one is kept as AWSPREVIOUS. Nothing secret is returned", body = ConnectionView),
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
pub async fn rotate_secret(
    deps: &ApiDeps,
    caller: &Caller,
    id: &str,
    req: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    let body: RotateSecretBody = req.json()?;
    let (c, health) = owned(deps, caller, id).await?;
    let mut errors = Vec::new();
    if body.credentials.is_none() && body.webhook_secret.is_none() {
        errors.push(FieldError {
            field: "body".into(),
            detail: "give credentials, webhook_secret, or both".into(),
        });
    }
    if let Some(creds) = &body.credentials {
        if creds.is_empty()
            || creds
                .keys()
                .any(|k| k == "webhook_secret" || k == "previous_webhook_secret")
        {
            errors.push(FieldError {
                field: "credentials".into(),
                detail:
                    "a non-empty object of the connector's credential fields (webhook secrets go in webhook_secret)"
                        .into(),
            });
        }
    }
    match (&body.webhook_secret, &c.webhook) {
        (Some(s), Some(_)) if s.is_empty() => errors.push(FieldError {
            field: "webhook_secret".into(),
            detail: "must not be empty".into(),
        }),
        (Some(_), None) => errors.push(FieldError {
            field: "webhook_secret".into(),
            detail: "this connection receives no webhooks".into(),
        }),
        (Some(_), Some(w)) if !w.scheme.uses_secret() => errors.push(FieldError {
            field: "webhook_secret".into(),
            detail: format!(
                "the {} scheme signs with the provider's certificate: there is no secret to rotate",
                w.scheme.name()
            ),
        }),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let Some(arn) = c.secret_arn.as_deref() else {
        return Err(Problem::conflict(format!(
            "connection {id} has no stored secret to rotate; delete and create it with credentials"
        )));
    };
    let unreadable = |e: crate::secrets::SecretError| {
        tracing::error!(message = "Could not read a connection's secret to rotate it.", connection_id = %id, error = %e);
        if e.is_retriable() {
            Problem::unavailable()
        } else {
            Problem::internal()
        }
    };
    let current = deps.secrets.get_value(arn).await.map_err(unreadable)?;
    // serde_json's messages can quote the input: the error is replaced, never passed on.
    let mut value: crate::secrets::ConnectionSecretValue = serde_json::from_str(&current).map_err(|_| {
        tracing::error!(message = "A connection's secret is not a JSON object; it cannot be rotated.", connection_id = %id);
        Problem::internal()
    })?;
    if let Some(creds) = body.credentials {
        value.other = creds;
    }
    if let Some(new) = body.webhook_secret {
        value.previous_webhook_secret = value.webhook_secret.take();
        value.webhook_secret = Some(new);
    }
    deps.secrets.put_value(arn, &value).await.map_err(unreadable)?;
    Ok(ApiResponse::json(200, &view(c, health)))
}
