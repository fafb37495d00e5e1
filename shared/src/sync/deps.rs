use std::sync::Arc;

use crate::aws::AwsClients;
use crate::clock::SharedClock;
use crate::config::SyncConfig;
use crate::connector::Registry;
use crate::queue::SyncQueue;
use crate::secrets::SecretStore;
use crate::store::connections::ConnectionStore;
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
        Ok(Self {
            registry,
            connections: ConnectionStore::new(aws.dynamodb.clone(), &config.table_name),
            flows: FlowStore::new(aws.dynamodb.clone(), &config.table_name),
            jobs: JobStore::new(aws.dynamodb.clone(), &config.table_name),
            links: LinkStore::new(aws.dynamodb.clone(), &config.table_name),
            events: EventStore::new(aws.dynamodb.clone(), &config.table_name),
            queue: SyncQueue::new(aws.sqs.clone(), &config.sync_queue_url),
            clients: ClientCache::new(http, config.connection_cache_ttl, config.allow_private_network),
            secrets,
            clock,
            config,
        })
    }
}
