use std::sync::Arc;

use crate::aws::AwsClients;
use crate::clock::SharedClock;
use crate::config::SyncConfig;
use crate::connector::Registry;
use crate::queue::SyncQueue;
use crate::retry::RetryPolicy;
use crate::secrets::SecretStore;
use crate::store::connections::ConnectionStore;
use crate::store::dead_letters::DeadLetterStore;
use crate::store::events::EventStore;
use crate::store::flows::FlowStore;
use crate::store::jobs::JobStore;
use crate::store::links::LinkStore;

use super::clients::ClientCache;

/// Everything connector-sync needs, built once per cold start.
pub struct SyncDeps {
    pub config: SyncConfig,
    pub registry: Arc<Registry>,
    pub connections: ConnectionStore,
    pub flows: FlowStore,
    pub jobs: JobStore,
    pub links: LinkStore,
    pub events: EventStore,
    pub secrets: Arc<SecretStore>,
    pub queue: SyncQueue,
    pub clients: ClientCache,
    pub clock: SharedClock,
    /// Where messages that stop retrying are parked.
    pub dead_letters: DeadLetterStore,
    /// The retry schedule (`RETRY_*` variables; tests may replace it).
    pub retry: RetryPolicy,
    /// Conflicts two-way links park for a person.
    pub reviews: crate::store::reviews::ReviewStore,
    /// Each flow's data-quality baselines and open anomaly episodes.
    pub quality: crate::store::quality::QualityStore,
    /// Where anomalies are alerted: built on first use (it may read the Slack token secret).
    pub alerter: tokio::sync::OnceCell<crate::health::alert::Alerter>,
    /// The guarded HTTP client (alerts go through it too).
    pub http: reqwest::Client,
    /// Usage counted during an invocation (events taken, records read and written), written
    /// out once at its end by [`super::handle_sqs`] through `usage_store`.
    pub usage: crate::store::usage::UsageTally,
    pub usage_store: crate::store::usage::UsageStore,
    /// A tenant's flows, for routing inbound events without a query per event.
    pub flow_cache: crate::cache::TtlCache<String, Arc<Vec<crate::store::flows::Flow>>>,
    /// Outbound webhook subscriptions and their delivery log (deliveries run here).
    pub subscriptions: crate::store::subscriptions::SubscriptionStore,
    /// Emits `job.*` and `record.*` events (and `dead_letter.parked` when parking).
    pub publisher: crate::subscriptions::Publisher,
    /// Erasure markers: a queued webhook delivery about an erased person is dropped.
    pub subjects: crate::store::subjects::SubjectStore,
}

impl SyncDeps {
    pub fn new(
        config: SyncConfig,
        aws: &AwsClients,
        registry: Arc<Registry>,
        clock: SharedClock,
    ) -> Result<Self, super::SyncError> {
        let http = crate::connector::url_guard::http_client(config.request_timeout, config.allow_private_network)
            .map_err(|e| super::SyncError::Config(format!("cannot build the HTTP client: {e}")))?;
        let secrets = Arc::new(SecretStore::new(aws.secrets.clone(), config.connection_cache_ttl));
        let retry = RetryPolicy::from_env().map_err(|e| super::SyncError::Config(e.to_string()))?;
        Ok(Self {
            dead_letters: DeadLetterStore::new(aws.dynamodb.clone(), &config.table_name),
            retry,
            registry,
            connections: ConnectionStore::new(aws.dynamodb.clone(), &config.table_name),
            flows: FlowStore::new(aws.dynamodb.clone(), &config.table_name),
            jobs: JobStore::new(aws.dynamodb.clone(), &config.table_name),
            quality: crate::store::quality::QualityStore::new(aws.dynamodb.clone(), &config.table_name),
            reviews: crate::store::reviews::ReviewStore::new(aws.dynamodb.clone(), &config.table_name),
            alerter: tokio::sync::OnceCell::new(),
            http: http.clone(),
            links: LinkStore::new(aws.dynamodb.clone(), &config.table_name),
            events: EventStore::new(aws.dynamodb.clone(), &config.table_name),
            queue: SyncQueue::new(aws.sqs.clone(), &config.sync_queue_url),
            clients: ClientCache::new(
                http,
                config.connection_cache_ttl,
                config.allow_private_network,
                config
                    .shared_rate_budget
                    .then(|| (aws.dynamodb.clone(), config.table_name.clone())),
            )
            .with_tenant_connectors(crate::store::tenant_connectors::TenantConnectorStore::new(
                aws.dynamodb.clone(),
                &config.table_name,
            )),
            flow_cache: crate::cache::TtlCache::new(config.connection_cache_ttl, 1024),
            usage: Default::default(),
            usage_store: crate::store::usage::UsageStore::new(aws.dynamodb.clone(), &config.table_name),
            subscriptions: crate::store::subscriptions::SubscriptionStore::new(
                aws.dynamodb.clone(),
                &config.table_name,
            ),
            publisher: crate::subscriptions::Publisher::new(
                crate::store::subscriptions::SubscriptionStore::new(aws.dynamodb.clone(), &config.table_name),
                // The CLI runs flows without a queue: it publishes nothing.
                (!config.sync_queue_url.is_empty()).then(|| SyncQueue::new(aws.sqs.clone(), &config.sync_queue_url)),
                config.connection_cache_ttl,
            ),
            subjects: crate::store::subjects::SubjectStore::new(aws.dynamodb.clone(), &config.table_name),
            secrets,
            clock,
            config,
        })
    }
}

impl SyncDeps {
    /// The alert targets (`ALERT_*`), built on first use; `None` when none are configured or
    /// they are misconfigured (logged).
    pub async fn alerter(&self) -> Option<&crate::health::alert::Alerter> {
        if self.config.alerts.is_empty() {
            return None;
        }
        let built = self
            .alerter
            .get_or_try_init(|| {
                crate::health::alert::Alerter::from_settings(
                    &self.config.alerts,
                    self.config.allow_private_network,
                    &self.secrets,
                    self.http.clone(),
                )
            })
            .await;
        match built {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(message = "Alerts are misconfigured; the alert is only logged.", error = %e);
                None
            }
        }
    }

    /// What pairing two flows checks against ([`super::link_flows`]).
    pub fn link_context(&self) -> super::LinkContext<'_> {
        super::LinkContext {
            flows: &self.flows,
            connections: &self.connections,
            registry: &self.registry,
            tenant_connectors: self.clients.tenant_connectors(),
        }
    }

    /// A tenant's flows, cached for the connection-cache TTL (a new or changed flow is seen
    /// by inbound events within that time; sync jobs always read their flow afresh).
    pub async fn tenant_flows(&self, tenant: &str) -> Result<Arc<Vec<crate::store::flows::Flow>>, super::SyncError> {
        if let Some(hit) = self.flow_cache.get(&tenant.to_string()) {
            return Ok(hit);
        }
        let flows = Arc::new(self.flows.list(tenant).await?);
        self.flow_cache.insert(tenant.to_string(), flows.clone());
        Ok(flows)
    }
}
