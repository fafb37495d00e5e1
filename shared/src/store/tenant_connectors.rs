//! Connector definitions a tenant uploaded (see [`crate::connector::uploads`]), versioned.
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | head | `TCONN#<tenant>#<id>` | `HEAD` | `TENANT#<t>` / `TCONN#<id>` |
//! | version | `TCONN#<tenant>#<id>` | `V#<version, 10 digits>` | - |
//!
//! - **Tenant-scoped keys.** The tenant is part of the partition key, so a lookup with another
//!   tenant's name finds nothing: tenant B can never read, run or delete tenant A's connector,
//!   even with the same id.
//! - **Versions are immutable.** Each upload is a new version item written with
//!   `attribute_not_exists` (never overwritten); the head holds the latest version's number and
//!   text, so resolving a connector is one `GetItem`. The next number comes from the newest
//!   version item (not the head), so an upload that died between its two writes leaves no gap
//!   that blocks the next one; the head only moves forward (`latest_version < :n`).
//! - **Connections follow the latest version.** A connection names the connector id, and each
//!   new sync job (and each warm client cache refresh) runs the newest version. A new version
//!   that drops a stream or write operation a flow uses is refused at upload (see the API's
//!   `POST /v1/connectors/{id}/versions`), so following never breaks a flow silently.
//! - **Deleting** removes every version, then the head, refused while a connection uses it.
//!   The head goes last, so a delete that dies half way leaves the connector listed and
//!   resolvable with its latest text, and the same `DELETE` again finishes the job; no version
//!   item is ever left without a head that leads to it. (Items left by the earlier order, the
//!   head first, are removed by the next `DELETE` too: [`TenantConnectorStore::delete`] works
//!   from whatever items the partition still holds.)
//! - **Caps.** The API refuses a tenant's connector past `API_MAX_TENANT_CONNECTORS` and a
//!   version past `API_MAX_CONNECTOR_VERSIONS` ([`TenantConnectorStore::count`] and the head's
//!   `latest_version`); two uploads racing at the cap may both pass, by one.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::table::{self, GSI1PK, GSI1SK, PK, SK};
use super::StoreError;
use crate::connector::{ConnectorDefinition, Registry};

const KIND: &str = "tenant connector";
pub const HEAD_SK: &str = "HEAD";
/// `gsi1sk` prefix of a tenant's connectors.
pub const INDEX_PREFIX: &str = "TCONN#";

pub fn connector_pk(tenant: &str, id: &str) -> String {
    format!("TCONN#{tenant}#{id}")
}

fn version_sk(version: u32) -> String {
    format!("V#{version:010}")
}

/// One stored version of a tenant's connector definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorVersion {
    pub tenant: String,
    pub id: String,
    /// 1, 2, ...
    pub version: u32,
    /// The definition as uploaded (YAML or JSON text).
    pub source: String,
    /// SHA-256 of `source`, hex.
    pub sha256: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Who uploaded it (`key:<prefix>` or `sso:<subject>`).
    pub created_by: String,
}

/// A tenant connector: its latest version in full, and when it was first uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantConnector {
    pub tenant: String,
    pub id: String,
    pub latest_version: u32,
    pub source: String,
    pub sha256: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TenantConnector {
    /// The latest version's definition (it was validated when uploaded; stored text that no
    /// longer parses, after an engine change, is a `Corrupt` item naming the field).
    pub fn definition(&self) -> Result<ConnectorDefinition, StoreError> {
        crate::connector::registry::parse_definition(&self.id, &self.source).map_err(|e| StoreError::Corrupt {
            kind: KIND,
            key: connector_pk(&self.tenant, &self.id),
            reason: e.to_string(),
        })
    }
}

/// Reads and writes tenant connectors.
#[derive(Debug, Clone)]
pub struct TenantConnectorStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl TenantConnectorStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The newest version number stored (0 when none).
    async fn newest_version(&self, tenant: &str, id: &str) -> Result<u32, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :v)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(connector_pk(tenant, id)))
            .expression_attribute_values(":v", AttributeValue::S("V#".into()))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .projection_expression("version")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        Ok(out
            .items
            .unwrap_or_default()
            .first()
            .and_then(|i| i.get("version"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Stores `source` as the next version of the tenant's connector `id`. `first`: the
    /// connector must not exist yet (`AlreadyExists` otherwise); else it must (`NotFound`).
    /// A concurrent upload of the same version is `AlreadyExists`.
    pub async fn upload(
        &self,
        tenant: &str,
        id: &str,
        source: &str,
        first: bool,
        by: &str,
        now: i64,
    ) -> Result<TenantConnector, StoreError> {
        table::validate_id("tenant", tenant)?;
        table::validate_id("connector id", id)?;
        let existing = self.get(tenant, id).await?;
        match (&existing, first) {
            (Some(_), true) => {
                return Err(StoreError::AlreadyExists {
                    kind: KIND,
                    id: id.to_string(),
                })
            }
            (None, false) => {
                return Err(StoreError::NotFound {
                    kind: KIND,
                    id: id.to_string(),
                })
            }
            _ => {}
        }
        let version = self
            .newest_version(tenant, id)
            .await?
            .max(existing.as_ref().map_or(0, |h| h.latest_version))
            + 1;
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(source.as_bytes()));
        let item = ConnectorVersion {
            tenant: tenant.to_string(),
            id: id.to_string(),
            version,
            source: source.to_string(),
            sha256: sha256.clone(),
            created_at: now,
            created_by: by.to_string(),
        };
        let version_item = super::typed_item(
            KIND,
            &item,
            &[(PK, connector_pk(tenant, id)), (SK, version_sk(version))],
        )?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(version_item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        if !super::written(res, "PutItem")? {
            return Err(StoreError::AlreadyExists {
                kind: "connector version",
                id: format!("{id} v{version}"),
            });
        }
        let head = TenantConnector {
            tenant: tenant.to_string(),
            id: id.to_string(),
            latest_version: version,
            source: source.to_string(),
            sha256,
            created_at: existing.as_ref().map_or(now, |h| h.created_at),
            updated_at: now,
        };
        let head_item = super::typed_item(
            KIND,
            &head,
            &[
                (PK, connector_pk(tenant, id)),
                (SK, HEAD_SK.into()),
                (GSI1PK, table::tenant_pk(tenant)),
                (GSI1SK, format!("{INDEX_PREFIX}{id}")),
            ],
        )?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(head_item))
            .condition_expression("attribute_not_exists(#pk) OR latest_version < :n")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":n", AttributeValue::N(version.to_string()))
            .send()
            .await;
        if !super::written(res, "PutItem")? {
            // A later version's head is already there: this version stays in the history.
            return Err(StoreError::AlreadyExists {
                kind: "connector version",
                id: format!("{id} v{version}"),
            });
        }
        Ok(head)
    }

    /// The tenant's connector `id` with its latest version; `None` when the tenant has none
    /// of that id (another tenant's is never found).
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<TenantConnector>, StoreError> {
        if table::validate_id("tenant", tenant).is_err() || table::validate_id("connector id", id).is_err() {
            return Ok(None);
        }
        let key = connector_pk(tenant, id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.clone()))
            .key(SK, AttributeValue::S(HEAD_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item
            .map(|item| super::from_typed_item(KIND, item, &key))
            .transpose()
    }

    /// Every connector of the tenant, by id.
    pub async fn list(&self, tenant: &str) -> Result<Vec<TenantConnector>, StoreError> {
        let items = super::tenant_items(&self.client, &self.table, tenant, INDEX_PREFIX).await?;
        let mut out: Vec<TenantConnector> = items
            .into_iter()
            .map(|(key, item)| super::from_typed_item(KIND, item, &key))
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Every version of the tenant's connector, oldest first (empty when it does not exist).
    pub async fn versions(&self, tenant: &str, id: &str) -> Result<Vec<ConnectorVersion>, StoreError> {
        self.items(tenant, id)
            .await?
            .into_iter()
            .filter(|i| {
                i.get(SK)
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|s| s.starts_with("V#"))
            })
            .map(|item| super::from_typed_item(KIND, item, &connector_pk(tenant, id)))
            .collect()
    }

    async fn items(&self, tenant: &str, id: &str) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        if table::validate_id("tenant", tenant).is_err() || table::validate_id("connector id", id).is_err() {
            return Ok(Vec::new());
        }
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(connector_pk(tenant, id)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(|e| StoreError::dynamo("Query", e))?);
        }
        Ok(out)
    }

    /// How many connectors the tenant has (one `Query` of its index, counting only).
    pub async fn count(&self, tenant: &str) -> Result<usize, StoreError> {
        table::validate_id("tenant", tenant)?;
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(table::GSI1)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_names("#sk", GSI1SK)
            .expression_attribute_values(":pk", AttributeValue::S(table::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", AttributeValue::S(INDEX_PREFIX.into()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .into_paginator()
            .send();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            count += usize::try_from(page.map_err(|e| StoreError::dynamo("Query", e))?.count).unwrap_or(0);
        }
        Ok(count)
    }

    /// Deletes every version of the connector, then its head: `false` when nothing of it
    /// was stored. The head goes last, so a delete that dies half way leaves the connector
    /// as it was (listed, resolvable) minus some old versions, and running it again finishes;
    /// version items left without a head (by a delete that removed the head first) are removed
    /// the same way.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let items = self.items(tenant, id).await?;
        if items.is_empty() {
            return Ok(false);
        }
        let mut keys: Vec<String> = items
            .iter()
            .filter_map(|i| i.get(SK).and_then(|v| v.as_s().ok()).cloned())
            .collect();
        // The versions first, the head last (a stable sort keeps the versions in order).
        keys.sort_by_key(|sk| sk == HEAD_SK);
        for sk in keys {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(connector_pk(tenant, id)))
                .key(SK, AttributeValue::S(sk))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        }
        Ok(true)
    }

    /// A connector id for a tenant: built-in first, then the tenant's own (only ids in the
    /// tenant namespace are looked up, so a built-in lookup costs no DynamoDB call).
    pub async fn resolve(
        &self,
        registry: &Registry,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Arc<ConnectorDefinition>>, StoreError> {
        if let Some(def) = registry.get_shared(id) {
            return Ok(Some(def));
        }
        if !crate::connector::uploads::is_tenant_id(id) {
            return Ok(None);
        }
        match self.get(tenant, id).await? {
            Some(head) => Ok(Some(Arc::new(head.definition()?))),
            None => Ok(None),
        }
    }

    /// `registry` with the tenant's own connectors of `connections` added: those of the
    /// tenant's connections whose provider is not built in (another tenant's connection adds
    /// nothing). What a flow's checks run with, so a flow can use an uploaded connector.
    pub async fn registry_for_connections(
        &self,
        registry: &Arc<Registry>,
        tenant: &str,
        connections: &HashMap<String, crate::store::connections::Connection>,
    ) -> Result<Arc<Registry>, StoreError> {
        let mut providers: Vec<&str> = Vec::new();
        for c in connections.values() {
            if c.tenant == tenant && registry.get(&c.provider).is_none() && !providers.contains(&c.provider.as_str()) {
                providers.push(&c.provider);
            }
        }
        if providers.is_empty() {
            return Ok(registry.clone());
        }
        self.registry_for(registry, tenant, providers).await
    }

    /// `registry` with the tenant's own definitions of `ids` added (those that exist): what
    /// code that takes a `&Registry` (flow validation, connection checks) runs with.
    pub async fn registry_for<'a>(
        &self,
        registry: &Arc<Registry>,
        tenant: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Arc<Registry>, StoreError> {
        let mut extra = Vec::new();
        for id in ids {
            if registry.get(id).is_none() {
                if let Some(def) = self.resolve(registry, tenant, id).await? {
                    extra.push(def);
                }
            }
        }
        Ok(if extra.is_empty() {
            registry.clone()
        } else {
            Arc::new(registry.with_definitions(extra))
        })
    }
}
