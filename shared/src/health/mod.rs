//! Connection health: the health checker runs each connection's check request on a schedule,
//! records status and latency on the connection item, moves its circuit breaker, refreshes
//! OAuth tokens ahead of expiry, and alerts only when a state changes.
//!
//! * [`state`]: the pure state machine and circuit breaker ([`apply`]).
//! * [`check`]: one connection's check, with the proactive token refresh.
//! * [`runner`]: every connection, paged from DynamoDB, checked with bounded concurrency
//!   inside the invocation's time budget ([`run_checks`]).
//! * [`alert`]: Slack or an outbound webhook, one message per transition.
//! * [`inbound`]: inbound webhook events per hour, per connection, judged against their
//!   baseline from the webhook log; an anomaly is alerted once per episode.
//! * [`config`]: the health checker's environment.

pub mod alert;
pub mod check;
pub mod config;
pub mod inbound;
pub mod renewal;
pub mod runner;
pub mod state;

use std::sync::Arc;

pub use alert::{Alert, AlertError, Alerter};
pub use config::HealthConfig;
pub use runner::{run_checks, ConnectionResult, RunReport};
pub use state::{apply, CheckOutcome, CircuitState, ConnectionState, HealthPolicy, HealthRecord, Transition};

use crate::aws::AwsClients;
use crate::clock::SharedClock;
use crate::connector::Registry;
use crate::secrets::SecretStore;
use crate::store::connections::ConnectionStore;

/// Why the health checker could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("{0}")]
    Config(String),
}

/// Everything the health checker needs, built once per cold start.
pub struct HealthDeps {
    pub config: HealthConfig,
    pub registry: Arc<Registry>,
    pub connections: ConnectionStore,
    /// Connectors tenants uploaded (a connection may use one).
    pub tenant_connectors: crate::store::tenant_connectors::TenantConnectorStore,
    /// The inbound webhook log, counted per hour for the inbound baselines.
    pub webhook_log: crate::store::webhook_log::WebhookLogStore,
    pub secrets: Arc<SecretStore>,
    /// For check requests (the URL guard applies unless private networks are allowed).
    pub http: reqwest::Client,
    pub alerter: Alerter,
    pub clock: SharedClock,
    /// Emits `connection.state_changed` to webhook subscriptions.
    pub publisher: crate::subscriptions::Publisher,
}

impl HealthDeps {
    /// Builds the dependencies; reads the Slack token from Secrets Manager when Slack alerts
    /// are configured.
    pub async fn new(
        config: HealthConfig,
        aws: &AwsClients,
        registry: Arc<Registry>,
        clock: SharedClock,
    ) -> Result<Self, HealthError> {
        let http = crate::connector::url_guard::http_client(config.check_timeout, config.allow_private_network)
            .map_err(|e| HealthError::Config(format!("cannot build the HTTP client: {e}")))?;
        let secrets = Arc::new(SecretStore::new(
            aws.secrets.clone(),
            std::time::Duration::from_secs(60),
        ));
        let alerter = Alerter::from_config(&config, &secrets, http.clone()).await?;
        Ok(Self {
            connections: ConnectionStore::new(aws.dynamodb.clone(), &config.table_name),
            tenant_connectors: crate::store::tenant_connectors::TenantConnectorStore::new(
                aws.dynamodb.clone(),
                &config.table_name,
            ),
            webhook_log: crate::store::webhook_log::WebhookLogStore::new(aws.dynamodb.clone(), &config.table_name),
            publisher: crate::subscriptions::Publisher::new(
                crate::store::subscriptions::SubscriptionStore::new(aws.dynamodb.clone(), &config.table_name),
                config
                    .sync_queue_url
                    .as_ref()
                    .map(|url| crate::queue::SyncQueue::new(aws.sqs.clone(), url)),
                std::time::Duration::from_secs(60),
            ),
            registry,
            secrets,
            http,
            alerter,
            clock,
            config,
        })
    }
}
