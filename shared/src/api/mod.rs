//! The management API: `/v1/...` on the same HTTP API as `/hooks/...`, served by the fifth
//! function, `api` (functions/api, a thin wrapper), and by the local runner on the webhook port.
//!
//! Design:
//! - **Transport-free core.** [`handle`] takes an [`ApiRequest`] and returns an [`ApiResponse`];
//!   `ApiRequest::from_apigw` / `ApiResponse::into_apigw` adapt API Gateway's payload v2 (the
//!   function and the local runner both speak it, like the webhook receiver).
//! - **JSON in and out.** Bodies are `application/json` with `deny_unknown_fields`; every error
//!   is an RFC 9457 problem (`application/problem+json`: `type`, `title`, `status`, `detail`,
//!   and `errors` with one entry per invalid field), see [`problem`].
//! - **Auth.** `Authorization: Bearer sy_live_<prefix>_<secret>`: the SHA-256 of the key (the
//!   key itself is never stored, and shown once) must equal the hash on the prefix's item.
//!   Unknown, revoked or expired: 401. The key's role against the route's [`Permission`]: 403.
//!   A resource of another tenant is answered exactly like a missing one: 404. With single
//!   sign-on configured, a bearer JWT is checked by [`oidc`] instead (tenant and role from its
//!   claims).
//! - **Rate limit.** Per key, per fixed hour window, a counter on the key's item (so every
//!   concurrent Lambda instance shares it); over the tier's limit: 429 with `Retry-After` and
//!   `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset`, which every authenticated
//!   answer carries. The key check and the count are one conditional `UpdateItem` (hash
//!   matches, not revoked, not expired, room in the tier's window), which returns the key's
//!   tenant, role and tier: a read is two DynamoDB calls, that one and the route's. Nothing is
//!   cached, so a revocation holds from the next request (see [`auth::admit`]). Signed-in
//!   users (single sign-on) are counted on a window item of their own. A DynamoDB counter rather than API Gateway usage
//!   plans: usage plans need a REST API, and the webhooks are on an HTTP API.
//! - **Pagination.** Lists take `limit` (1..=200, default 50) and an opaque `cursor`, and answer
//!   `{"items": [...], "next_cursor": ...}` (see [`pagination`]). Connections, flows and keys are
//!   one `Query` of the tenant's index per page.
//! - **Reuse.** Connections are created through [`crate::admin::create_connection`] (secrets to
//!   Secrets Manager, never echoed), flows checked by [`crate::admin::build_flow`] (as the CLI
//!   checks them), runs enqueued like the dispatcher's, replays done by
//!   [`crate::retry::replay::Replayer`], connection tests run by the health checker's
//!   [`crate::health::check::check_connection`].
//! - **Idempotency.** `Idempotency-Key` on every POST, 24 hours per tenant and key, see
//!   [`idempotency`].
//! - **Audit.** Every request that changes, runs or touches credentials is recorded with the
//!   key's prefix and role, the action, resource and status, see [`auditing`].
//!
//! Routes (permission in brackets):
//! `GET /v1/connectors`, `GET /v1/connectors/{id}`, `GET /v1/connectors/{id}/versions[/{v}]`
//! [read], `POST /v1/connectors`, `POST /v1/connectors/{id}/versions`,
//! `DELETE /v1/connectors/{id}` [write]: built-in and tenant-uploaded connectors, see
//! [`routes::connectors`];
//! `GET|POST /v1/connections`, `GET|PATCH|DELETE /v1/connections/{id}` [read | write],
//! `POST /v1/connections/{id}/test` [run], `POST /v1/connections/{id}/rotate-secret` [write];
//! `GET /v1/events`, `GET /v1/connections/{id}/events` [read; `?include=body` write]: the
//! inbound webhook log;
//! `GET|POST /v1/flows`, `GET|PATCH /v1/flows/{id}`, `POST /v1/flows/{id}/pause|resume`
//! [read | write], `POST /v1/flows/{id}/run` [run];
//! `GET /v1/flows/{id}/conflicts` [read], `POST /v1/flows/{id}/conflicts/{record}/resolve`
//! [write]: a two-way link's review queue (conflicts);
//! `GET /v1/flows/{id}/reviews` [read], `POST /v1/flows/{id}/reviews/{record}/resolve` [write]:
//! its possible duplicates, answered `link`, `create_new` or `ignore`;
//! `GET /v1/dead-letters`, `GET /v1/dead-letters/{key}` [read], `POST .../{key}/replay` [run];
//! `GET|POST /v1/keys`, `POST /v1/keys/{prefix}/rotate|revoke` [admin];
//! `GET /v1/audit`, `GET /v1/audit/export` [admin];
//! `GET|POST /v1/webhook-subscriptions`, `GET|PATCH|DELETE /v1/webhook-subscriptions/{id}`,
//! `POST .../{id}/rotate-secret` [read | write], `GET .../{id}/deliveries` [read; `?include=payload`
//! write], `POST .../{id}/deliveries/{delivery}/resend`, `POST .../{id}/recover` [run]: outbound
//! webhooks, see [`crate::subscriptions`];
//! `GET /v1/me` [read]: the calling key's tenant, role and permissions;
//! `GET /v1/subjects/{email}` [write], `DELETE /v1/subjects/{email}` [admin]: GDPR / CCPA
//! export and erasure of one person's data, see [`routes::subjects`] and [`crate::subjects`];
//! `GET /v1/usage` [read]: requests per key and tier, events and records per day;
//! `GET /v1/openapi.json` (public): the OpenAPI 3.1 document, see [`openapi`];
//! `GET /console[/{asset}]` (public): the admin console's static assets, and
//! `GET /v1/console-config` (public, a 404 unless single sign-on is set up), see [`console`].

pub mod auditing;
pub mod auth;
pub mod console;
pub mod idempotency;
pub mod key_material;
pub mod oidc;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod request;
pub mod response;
mod routes;

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};

use crate::aws::AwsClients;
use crate::clock::SharedClock;
use crate::connector::Registry;
use crate::queue::SyncQueue;
use crate::secrets::SecretStore;
use crate::store::api_keys::{ApiKeyStore, Tier};
use crate::store::audit::AuditStore;
use crate::store::connections::ConnectionStore;
use crate::store::dead_letters::DeadLetterStore;
use crate::store::events::EventStore;
use crate::store::flows::FlowStore;
use crate::store::idempotency::IdempotencyStore;
use crate::store::jobs::JobStore;
use crate::store::links::LinkStore;
use crate::store::request_windows::RequestWindowStore;
use crate::store::reviews::ReviewStore;
use crate::store::webhook_log::WebhookLogStore;

pub use auth::{Caller, Permission};
pub use problem::{FieldError, Problem};
pub use request::ApiRequest;
pub use response::ApiResponse;

/// Settings of the api function.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Where `POST /v1/flows/{id}/run` and replays send messages (`SYNC_QUEUE_URL`).
    pub sync_queue_url: String,
    /// Requests per window of each tier, Free to Enterprise (`API_TIER_LIMITS`, e.g.
    /// `1000,10000,100000,1000000`, the default).
    pub tier_limits: [u64; 4],
    /// The rate-limit window, seconds (3600).
    pub rate_window_secs: i64,
    /// Largest request body (`API_MAX_BODY_BYTES`, default 256 KiB).
    pub max_body_bytes: usize,
    /// Single sign-on (`OIDC_*`): tokens of this issuer are accepted beside API keys.
    pub oidc: Option<oidc::OidcSettings>,
    /// How long an `Idempotency-Key` is honoured, seconds (24 hours).
    pub idempotency_ttl_secs: i64,
    /// After how long a claimed `Idempotency-Key` whose request never answered (it died) may
    /// be taken over, seconds (60: longer than the function's timeout).
    pub idempotency_lock_secs: i64,
    /// `POST /v1/connections/{id}/test`: the check request's timeout
    /// (`HEALTH_CHECK_TIMEOUT_SECS`, default 10), as the health checker's.
    pub check_timeout: std::time::Duration,
    /// Allow check requests to loopback and private networks (`ALLOW_PRIVATE_NETWORK`,
    /// default false), as the health checker's.
    pub allow_private_network: bool,
    /// How a test's result moves the connection's state and circuit: the health checker's
    /// policy, read from the same variables (`CIRCUIT_*`, `HEALTH_SLOW_MS`, ...).
    pub health_policy: crate::health::state::HealthPolicy,
    /// How long a webhook delivery log item is kept after a resend, seconds
    /// (`WEBHOOK_DELIVERY_TTL_DAYS`, default 30 days, as connector-sync's).
    pub delivery_log_ttl_secs: i64,
    /// The console's "Sign in with SSO" (`OIDC_AUTHORIZATION_URL`, `OIDC_TOKEN_URL`, beside
    /// the OIDC settings), see [`console::SsoSettings`].
    pub console_sso: Option<console::SsoSettings>,
    /// The providers' API descriptions `POST /v1/suggestions` reads record schemas from
    /// (`SWITCHYARD_SPECS_DIR`, as the CLI's `--specs`); without it only inline schemas and
    /// sample records are read.
    pub specs_dir: Option<std::path::PathBuf>,
    /// Most connectors a tenant may upload (`API_MAX_TENANT_CONNECTORS`, default 50).
    pub max_tenant_connectors: usize,
    /// Most versions one tenant connector may have (`API_MAX_CONNECTOR_VERSIONS`, default 100).
    pub max_connector_versions: u32,
}

impl ApiConfig {
    pub fn new(table_name: impl Into<String>, sync_queue_url: impl Into<String>) -> Self {
        Self {
            table_name: table_name.into(),
            sync_queue_url: sync_queue_url.into(),
            tier_limits: [Tier::Free, Tier::Basic, Tier::Professional, Tier::Enterprise]
                .map(Tier::default_hourly_limit),
            rate_window_secs: 3600,
            max_body_bytes: 256 * 1024,
            oidc: None,
            idempotency_ttl_secs: 86_400,
            idempotency_lock_secs: 60,
            check_timeout: std::time::Duration::from_secs(10),
            allow_private_network: false,
            health_policy: crate::health::state::HealthPolicy::default(),
            console_sso: None,
            specs_dir: None,
            delivery_log_ttl_secs: crate::subscriptions::DeliveryConfig::default().log_ttl_secs,
            max_tenant_connectors: 50,
            max_connector_versions: 100,
        }
    }

    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, crate::config::ConfigError> {
        let need = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(crate::config::ConfigError::Missing {
                    name,
                    hint: "the SAM template sets it",
                })
        };
        let mut config = Self::new(need("TABLE_NAME")?, need("SYNC_QUEUE_URL")?);
        if let Some(raw) = lookup("API_TIER_LIMITS").filter(|v| !v.is_empty()) {
            config.tier_limits = parse_tier_limits(&raw).ok_or_else(|| crate::config::ConfigError::Invalid {
                name: "API_TIER_LIMITS",
                value: raw.clone(),
                reason: "must be four positive integers, Free to Enterprise, e.g. 1000,10000,100000,1000000".into(),
            })?;
        }
        if let Some(raw) = lookup("API_MAX_BODY_BYTES").filter(|v| !v.is_empty()) {
            config.max_body_bytes = raw.parse().map_err(|_| crate::config::ConfigError::Invalid {
                name: "API_MAX_BODY_BYTES",
                value: raw.clone(),
                reason: "must be a number of bytes".into(),
            })?;
        }
        config.oidc = oidc::OidcSettings::from_lookup(&lookup)?;
        config.health_policy = crate::health::config::policy_from_lookup(&lookup)?;
        config.console_sso = console::SsoSettings::from_lookup(&lookup, config.oidc.as_ref())?;
        config.delivery_log_ttl_secs = crate::subscriptions::DeliveryConfig::from_lookup(&lookup)?.log_ttl_secs;
        if let Some(raw) = lookup("HEALTH_CHECK_TIMEOUT_SECS").filter(|v| !v.is_empty()) {
            let secs: u64 = raw.parse().map_err(|_| crate::config::ConfigError::Invalid {
                name: "HEALTH_CHECK_TIMEOUT_SECS",
                value: raw.clone(),
                reason: "must be a number of seconds".into(),
            })?;
            config.check_timeout = std::time::Duration::from_secs(secs);
        }
        if let Some(raw) = lookup("API_MAX_TENANT_CONNECTORS").filter(|v| !v.is_empty()) {
            config.max_tenant_connectors = raw.parse().map_err(|_| crate::config::ConfigError::Invalid {
                name: "API_MAX_TENANT_CONNECTORS",
                value: raw.clone(),
                reason: "must be a number of connectors".into(),
            })?;
        }
        if let Some(raw) = lookup("API_MAX_CONNECTOR_VERSIONS").filter(|v| !v.is_empty()) {
            config.max_connector_versions = raw.parse().map_err(|_| crate::config::ConfigError::Invalid {
                name: "API_MAX_CONNECTOR_VERSIONS",
                value: raw.clone(),
                reason: "must be a number of versions".into(),
            })?;
        }
        config.specs_dir = lookup("SWITCHYARD_SPECS_DIR")
            .filter(|v| !v.trim().is_empty())
            .map(std::path::PathBuf::from);
        if let Some(raw) = lookup("ALLOW_PRIVATE_NETWORK").filter(|v| !v.is_empty()) {
            config.allow_private_network = raw.parse().map_err(|_| crate::config::ConfigError::Invalid {
                name: "ALLOW_PRIVATE_NETWORK",
                value: raw.clone(),
                reason: "must be true or false".into(),
            })?;
        }
        Ok(config)
    }

    /// Requests per window of a tier.
    pub fn hourly_limit(&self, tier: Tier) -> u64 {
        self.tier_limits[tier as usize]
    }
}

fn parse_tier_limits(raw: &str) -> Option<[u64; 4]> {
    let values: Vec<u64> = raw
        .split(',')
        .map(|v| v.trim().parse().ok().filter(|n| *n > 0))
        .collect::<Option<_>>()?;
    values.try_into().ok()
}

/// Everything the API needs, built once per cold start.
#[derive(Debug)]
pub struct ApiDeps {
    pub config: ApiConfig,
    pub registry: Arc<Registry>,
    pub keys: ApiKeyStore,
    pub windows: RequestWindowStore,
    pub connections: ConnectionStore,
    /// Connector definitions tenants uploaded (`/v1/connectors`), see
    /// [`crate::store::tenant_connectors`].
    pub tenant_connectors: crate::store::tenant_connectors::TenantConnectorStore,
    pub flows: FlowStore,
    pub jobs: JobStore,
    pub dead_letters: DeadLetterStore,
    /// Two-way links' record links and the conflicts they park for review.
    pub links: LinkStore,
    pub reviews: ReviewStore,
    pub idempotency: IdempotencyStore,
    pub audit: AuditStore,
    /// Flows' data-quality state: open anomalies are shown with the flow.
    pub quality: crate::store::quality::QualityStore,
    /// The inbound webhook log, and stored events' bodies for `?include=body`.
    pub webhook_log: WebhookLogStore,
    pub events: EventStore,
    /// People's items, for GDPR / CCPA export and erasure (`/v1/subjects/{email}`).
    pub subjects: crate::store::subjects::SubjectStore,
    /// Events and records per tenant per day (`/v1/usage`).
    pub usage: crate::store::usage::UsageStore,
    /// Outbound webhook subscriptions and their delivery log.
    pub subscriptions: crate::store::subscriptions::SubscriptionStore,
    pub secrets: Arc<SecretStore>,
    /// For `POST /v1/connections/{id}/test` (the URL guard applies unless private networks
    /// are allowed).
    pub http: reqwest::Client,
    /// Connector clients for a conflict's merge, which writes to both sides (nothing cached).
    pub connectors: crate::sync::ClientCache,
    pub queue: SyncQueue,
    pub clock: SharedClock,
    /// Checks single sign-on tokens, when configured.
    pub oidc: Option<Arc<oidc::OidcVerifier>>,
}

impl ApiDeps {
    pub fn new(config: ApiConfig, clients: &AwsClients, registry: Arc<Registry>, clock: SharedClock) -> Self {
        let table = config.table_name.clone();
        let http = crate::connector::url_guard::http_client(config.check_timeout, config.allow_private_network)
            .expect("the HTTP client builds: rustls and the resolver need no system state");
        Self {
            registry,
            keys: ApiKeyStore::new(clients.dynamodb.clone(), &table),
            windows: RequestWindowStore::new(clients.dynamodb.clone(), &table),
            connections: ConnectionStore::new(clients.dynamodb.clone(), &table),
            tenant_connectors: crate::store::tenant_connectors::TenantConnectorStore::new(
                clients.dynamodb.clone(),
                &table,
            ),
            flows: FlowStore::new(clients.dynamodb.clone(), &table),
            jobs: JobStore::new(clients.dynamodb.clone(), &table),
            dead_letters: DeadLetterStore::new(clients.dynamodb.clone(), &table),
            links: LinkStore::new(clients.dynamodb.clone(), &table),
            reviews: ReviewStore::new(clients.dynamodb.clone(), &table),
            idempotency: IdempotencyStore::new(clients.dynamodb.clone(), &table),
            audit: AuditStore::new(clients.dynamodb.clone(), &table),
            quality: crate::store::quality::QualityStore::new(clients.dynamodb.clone(), &table),
            webhook_log: WebhookLogStore::new(clients.dynamodb.clone(), &table),
            events: EventStore::new(clients.dynamodb.clone(), &table),
            subjects: crate::store::subjects::SubjectStore::new(clients.dynamodb.clone(), &table),
            usage: crate::store::usage::UsageStore::new(clients.dynamodb.clone(), &table),
            subscriptions: crate::store::subscriptions::SubscriptionStore::new(clients.dynamodb.clone(), &table),
            // Nothing cached: the API reads a secret only to test a connection, and rotates them.
            secrets: Arc::new(SecretStore::new(clients.secrets.clone(), std::time::Duration::ZERO)),
            // One client, built once per cold start, for connection checks and the sign-in
            // issuer's key set alike (the URL guard applies to both).
            oidc: config
                .oidc
                .clone()
                .map(|s| Arc::new(oidc::OidcVerifier::new(s, http.clone()))),
            connectors: crate::sync::ClientCache::new(
                http.clone(),
                std::time::Duration::ZERO,
                config.allow_private_network,
                None,
            )
            .with_tenant_connectors(crate::store::tenant_connectors::TenantConnectorStore::new(
                clients.dynamodb.clone(),
                &table,
            )),
            http,
            queue: SyncQueue::new(clients.sqs.clone(), &config.sync_queue_url),
            clock,
            config,
        }
    }
}

/// API Gateway's payload v2 in, payload v2 out.
pub async fn handle_apigw(deps: &ApiDeps, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    match ApiRequest::from_apigw(&event, deps.config.max_body_bytes) {
        Ok(req) => handle(deps, req).await.into_apigw(),
        Err(p) => p.into_response().into_apigw(),
    }
}

/// Answers one request: route, authenticate, count, authorise, run.
pub async fn handle(deps: &ApiDeps, req: ApiRequest) -> ApiResponse {
    if console::is_console_path(&req.path) {
        // The console's static assets: public, not counted; the console itself calls /v1/.
        return console::serve(&req, deps.config.console_sso.as_ref());
    }
    if req.path == console::CONFIG_PATH {
        // What the console's login needs before there is a key: public, not counted.
        return console::config(&req, deps.config.console_sso.as_ref());
    }
    if req.path == "/v1/openapi.json" {
        // The API's description is public: no key, not counted.
        return match req.method.as_str() {
            "GET" => ApiResponse::new(200, "application/json", openapi::document()),
            _ => Problem::method_not_allowed(&["GET"]).into_response(),
        };
    }
    let route = match routes::Route::parse(&req.method, &req.path) {
        Ok(route) => route,
        Err(p) => return p.into_response(),
    };
    let route_name = route.name();
    let (caller, rate) = match auth::admit(deps, &req).await {
        Ok(admitted) => admitted,
        Err(p) => return p.into_response(),
    };
    let (mut resp, replayed) = match caller.require(route.permission()) {
        Ok(()) => idempotency::dispatch(deps, &caller, route.clone(), &req).await,
        Err(p) => (p.into_response(), false),
    };
    auditing::record(deps, &caller, &route, &resp, replayed).await;
    for (name, value) in rate.headers() {
        resp.headers.push((name.to_string(), value));
    }
    tracing::info!(
        message = "API request.",
        method = %req.method,
        route = route_name,
        status = resp.status,
        key = %caller.prefix,
        tenant = %caller.tenant
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_limits_come_from_the_environment_or_the_named_defaults() {
        let env = |extra: Option<&'static str>| {
            move |name: &str| match name {
                "TABLE_NAME" => Some("t".to_string()),
                "SYNC_QUEUE_URL" => Some("q".to_string()),
                "API_TIER_LIMITS" => extra.map(str::to_string),
                _ => None,
            }
        };
        let c = ApiConfig::from_lookup(env(None)).unwrap();
        assert_eq!(c.hourly_limit(Tier::Free), 1_000);
        assert_eq!(c.hourly_limit(Tier::Enterprise), 1_000_000);
        let c = ApiConfig::from_lookup(env(Some("1,2,3,4"))).unwrap();
        assert_eq!(c.hourly_limit(Tier::Professional), 3);
        let e = ApiConfig::from_lookup(env(Some("1,2,3"))).unwrap_err().to_string();
        assert!(e.contains("API_TIER_LIMITS"), "{e}");
        assert!(ApiConfig::from_lookup(|_| None).is_err());
    }
}
