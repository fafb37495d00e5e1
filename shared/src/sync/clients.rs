//! Connector clients per connection, reused by a warm process so each connection's rate-limit
//! pacer keeps its state between messages.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::TtlCache;
use crate::connector::{ClientSettings, ConnectorClient, Credentials, Registry};
use crate::secrets::SecretStore;
use crate::store::connections::{Connection, ConnectionStore};
use crate::store::tenant_connectors::TenantConnectorStore;

use super::SyncError;

pub struct ClientCache {
    http: reqwest::Client,
    allow_private_network: bool,
    /// Where each connection's rate budget is shared between processes (the table); `None`:
    /// every process paces alone.
    shared_budget: Option<(aws_sdk_dynamodb::Client, String)>,
    /// The connection item and its client, together: one lookup per connection per TTL.
    cache: TtlCache<String, (Connection, Arc<ConnectorClient>)>,
    /// Where a tenant's own connector definitions are looked up when a connection names one
    /// that is not built in; `None`: built-in connectors only.
    tenant_connectors: Option<TenantConnectorStore>,
}

impl std::fmt::Debug for ClientCache {
    /// The clients hold credentials: only the settings are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("allow_private_network", &self.allow_private_network)
            .finish_non_exhaustive()
    }
}

impl ClientCache {
    pub fn new(
        http: reqwest::Client,
        ttl: Duration,
        allow_private_network: bool,
        shared_budget: Option<(aws_sdk_dynamodb::Client, String)>,
    ) -> Self {
        Self {
            http,
            allow_private_network,
            shared_budget,
            cache: TtlCache::new(ttl, 1024),
            tenant_connectors: None,
        }
    }

    /// Resolves connectors a tenant uploaded too (built-in first, then the connection's
    /// tenant's own: another tenant's is never found). Clients are cached per connection for
    /// the TTL, so a new version is picked up when the entry expires.
    pub fn with_tenant_connectors(mut self, store: TenantConnectorStore) -> Self {
        self.tenant_connectors = Some(store);
        self
    }

    /// Where tenant connectors are looked up, if they are.
    pub fn tenant_connectors(&self) -> Option<&TenantConnectorStore> {
        self.tenant_connectors.as_ref()
    }

    /// The connection and a client for it.
    pub async fn get(
        &self,
        registry: &Registry,
        connections: &ConnectionStore,
        secrets: &Arc<SecretStore>,
        connection_id: &str,
    ) -> Result<(Connection, Arc<ConnectorClient>), SyncError> {
        if let Some(hit) = self.cached(connection_id) {
            return Ok(hit);
        }
        let conn = connections
            .get(connection_id)
            .await?
            .ok_or_else(|| SyncError::Config(format!("connection {connection_id} does not exist")))?;
        let client = self.for_connection(registry, secrets, &conn).await?;
        Ok((conn, client))
    }

    /// The connection and its client, when a warm process already has them.
    pub fn cached(&self, connection_id: &str) -> Option<(Connection, Arc<ConnectorClient>)> {
        self.cache.get(&connection_id.to_string())
    }

    /// A client for a connection already read (kept for the next lookup): its connector
    /// definition must exist and its secret is read.
    pub async fn for_connection(
        &self,
        registry: &Registry,
        secrets: &Arc<SecretStore>,
        conn: &Connection,
    ) -> Result<Arc<ConnectorClient>, SyncError> {
        let def = match (registry.get_shared(&conn.provider), &self.tenant_connectors) {
            (Some(def), _) => Some(def),
            (None, Some(store)) => store.resolve(registry, &conn.tenant, &conn.provider).await?,
            (None, None) => None,
        };
        let def = def.ok_or_else(|| {
            SyncError::Config(format!(
                "connection {} uses connector {:?}, which is not defined (see `switchyard connectors list`)",
                conn.id, conn.provider
            ))
        })?;
        let credentials = match conn.secret_arn.as_deref() {
            None => Credentials::new(),
            Some(arn) => {
                let value = secrets.get_value(arn).await?;
                let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&value).map_err(|_| {
                    SyncError::Config(format!("the secret of connection {} is not a JSON object", conn.id))
                })?;
                // Rotated tokens are stored under the names the definition reads them from.
                let keys = crate::health::check::oauth_in_use(&def, conn, &map).map(|spec| {
                    (
                        spec.access_token.clone(),
                        spec.expires_at.clone(),
                        spec.refresh_token.clone(),
                    )
                });
                let store = secrets.clone();
                let arn = arn.to_string();
                Credentials::from_map(&map).on_token_refresh(move |update| {
                    let store = store.clone();
                    let arn = arn.clone();
                    let keys = keys.clone();
                    async move {
                        use secrecy::ExposeSecret;
                        let (access_key, expires_key, refresh_key) = keys
                            .unwrap_or_else(|| ("access_token".into(), "expires_at".into(), "refresh_token".into()));
                        let mut fields = serde_json::Map::new();
                        fields.insert(access_key, update.access_token.expose_secret().into());
                        fields.insert(expires_key, update.expires_at.into());
                        if let Some(refresh) = &update.refresh_token {
                            fields.insert(refresh_key, refresh.expose_secret().into());
                        }
                        for (key, value) in &update.values {
                            fields.insert(key.clone(), value.as_str().into());
                        }
                        store.merge_fields(&arn, fields).await.map_err(|e| Box::new(e) as _)
                    }
                })
            }
        };
        let mut settings = ClientSettings::from_connection_config(&conn.config);
        settings.allow_private_network = self.allow_private_network;
        let mut client = ConnectorClient::new(def, settings, credentials, self.http.clone())?;
        if let Some((dynamodb, table)) = &self.shared_budget {
            let budget = crate::store::rate_budget::DynamoBudget::new(dynamodb.clone(), table, &conn.id);
            client = client.with_shared_budget(Arc::new(budget));
        }
        let client = Arc::new(client);
        self.cache.insert(conn.id.clone(), (conn.clone(), client.clone()));
        Ok(client)
    }
}
