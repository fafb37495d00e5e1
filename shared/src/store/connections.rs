//! Connection items: which provider a connection talks to, how its webhooks are signed, and
//! where its credentials live (an ARN: the secret itself is only ever in Secrets Manager).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::table::{self, CONNECTION_SK, GSI1PK, GSI1SK, PK, SK};
use super::StoreError;
use crate::health::HealthRecord;
use crate::webhook::Scheme;

/// Set on a connection whose credentials were refused (kept apart from the health checker's
/// `health`): `{since, reason, message_key}`.
pub const REAUTH_REQUIRED: &str = "reauth_required";

/// A connection to one account at one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Globally unique id; it appears in the webhook URL `/hooks/{id}`.
    pub id: String,
    /// The tenant that owns the connection.
    pub tenant: String,
    /// Connector definition id: `stripe`, `hubspot`, `shopify`, ...
    pub provider: String,
    /// A name for people.
    pub name: String,
    /// How inbound webhooks for this connection are verified; `None` refuses every webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    /// ARN of the Secrets Manager secret holding this connection's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// Non-secret settings (base URL, account id, ...). Stored as JSON text (see
    /// [`config_text`]).
    #[serde(default, with = "config_text")]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A connection's config in its item: one string attribute holding the JSON text, so any JSON
/// object a tenant gives is stored exactly. As a DynamoDB map it would not be: a number
/// DynamoDB cannot hold (over 38 digits, or beyond 1E+125) or nesting deeper than 32 levels
/// is refused, and an emulator has been seen to mangle map keys named like the type tags
/// (`N`, `L`). Items written before hold a map, which is still read.
mod config_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::{Map, Value};

    pub fn serialize<S: Serializer>(config: &Map<String, Value>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::config_attribute_text(config))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Map<String, Value>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Text(String),
            Map(Map<String, Value>),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Text(text) => serde_json::from_str(&text).map_err(serde::de::Error::custom),
            Stored::Map(map) => Ok(map),
        }
    }
}

/// The `config` attribute's text: the object as compact JSON.
fn config_attribute_text(config: &serde_json::Map<String, serde_json::Value>) -> String {
    // A map of JSON values always serialises (its keys are strings).
    serde_json::to_string(config).unwrap_or_else(|_| "{}".to_string())
}

/// Webhook verification settings of a connection, stored flat:
/// `{"scheme": "stripe", "tolerance_secs": 120}` (a generic scheme adds its fields beside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSettings {
    /// The signature scheme.
    #[serde(flatten)]
    pub scheme: Scheme,
    /// Overrides the deployment's tolerance for timestamped schemes, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
    /// Until when (unix seconds) the connection accepts a secret-setting handshake (Asana's
    /// `X-Hook-Secret`). Set when the webhook is about to be created at the provider; the
    /// first handshake in time clears it, so one handshake is ever taken, and none after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_until: Option<i64>,
}

/// Reads and writes connection items.
#[derive(Debug, Clone)]
pub struct ConnectionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

const KIND: &str = "connection";
/// The attribute holding a connection's [`HealthRecord`] (written by the health checker only).
pub const HEALTH: &str = "health";
/// The attribute holding a connection's [`InboundRecord`] (written by the health checker only).
pub const INBOUND: &str = "inbound";

/// A connection's inbound-events baseline: `{version, next_hour, state}` on the connection
/// item, beside its health record, so the health checker's page of connections carries it and
/// a run reads nothing more for a connection whose hour is not over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InboundRecord {
    /// Written versions (0: none yet); a write is conditional on the version it read.
    pub version: u64,
    /// Unix seconds: the start of the first hour not counted yet.
    pub next_hour: i64,
    /// The baseline ([`crate::quality::Metric::InboundEvents`]) and its open episode.
    pub quality: crate::quality::Quality,
}

impl InboundRecord {
    fn to_value(&self) -> Result<AttributeValue, StoreError> {
        let state = serde_json::to_string(&self.quality).map_err(|e| StoreError::Invalid {
            what: "inbound baseline",
            reason: e.to_string(),
        })?;
        Ok(AttributeValue::M(HashMap::from([
            ("version".to_string(), AttributeValue::N(self.version.to_string())),
            ("next_hour".to_string(), AttributeValue::N(self.next_hour.to_string())),
            ("state".to_string(), AttributeValue::S(state)),
        ])))
    }

    fn from_value(value: AttributeValue, key: &str) -> Result<Self, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            kind: "connection inbound baseline",
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let AttributeValue::M(map) = value else {
            return Err(corrupt("not a map"));
        };
        let n = |name: &str| {
            map.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| corrupt(&format!("no number {name}")))
        };
        let state = map
            .get("state")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| corrupt("no state"))?;
        Ok(Self {
            version: u64::try_from(n("version")?).map_err(|_| corrupt("negative version"))?,
            next_hour: n("next_hour")?,
            quality: serde_json::from_str(state).map_err(|e| corrupt(&e.to_string()))?,
        })
    }
}

impl ConnectionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a new connection; fails with `AlreadyExists` if the id is taken (by any tenant).
    pub async fn create(&self, conn: &Connection) -> Result<(), StoreError> {
        table::validate_id("connection id", &conn.id)?;
        table::validate_id("tenant", &conn.tenant)?;
        let item = super::typed_item(
            KIND,
            conn,
            &[
                (PK, table::connection_pk(&conn.id)),
                (SK, CONNECTION_SK.into()),
                (GSI1PK, table::tenant_pk(&conn.tenant)),
                (GSI1SK, table::connection_pk(&conn.id)),
                (table::SCHED_PK, table::SCHED_CONNECTIONS.into()),
                (table::SCHED_SK, conn.id.clone()),
            ],
        )?;
        if super::put_if_absent(&self.client, &self.table, item).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists {
                kind: KIND,
                id: conn.id.clone(),
            })
        }
    }

    /// The connection with this id, if any. An id that cannot exist is answered `None` without a request.
    pub async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        if table::validate_id("connection id", id).is_err() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| from_item(item, id)).transpose()
    }

    /// Several connections by id in one `BatchGetItem` (per 100), keyed by id; ids that are
    /// not well formed or not found are left out.
    pub async fn get_many(&self, ids: &[&str]) -> Result<HashMap<String, Connection>, StoreError> {
        let mut wanted: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| table::validate_id("connection id", id).is_ok())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let keys = wanted
            .iter()
            .map(|id| {
                HashMap::from([
                    (PK.to_string(), AttributeValue::S(table::connection_pk(id))),
                    (SK.to_string(), AttributeValue::S(CONNECTION_SK.into())),
                ])
            })
            .collect();
        let mut out = HashMap::with_capacity(wanted.len());
        for item in super::batch::get_all(&self.client, &self.table, keys, false).await? {
            let pk = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let connection: Connection = from_item(item, &pk)?;
            out.insert(connection.id.clone(), connection);
        }
        Ok(out)
    }

    /// Every connection of a tenant, in id order.
    pub async fn list(&self, tenant: &str) -> Result<Vec<Connection>, StoreError> {
        Ok(self
            .list_with_health(tenant)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    /// Every connection of a tenant with its health record (absent before its first check).
    pub async fn list_with_health(&self, tenant: &str) -> Result<Vec<(Connection, Option<HealthRecord>)>, StoreError> {
        super::tenant_items(&self.client, &self.table, tenant, "CONN#")
            .await?
            .into_iter()
            .map(|(key, item)| from_item_with_health(item, &key))
            .collect()
    }

    /// One page of a tenant's connections after the id `after`, in id order, with their
    /// health records, and whether more follow (one `Query`).
    pub async fn page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<super::api_keys::Page<(Connection, Option<HealthRecord>)>, StoreError> {
        let (items, more) = super::tenant_page(&self.client, &self.table, tenant, "CONN#", after, limit).await?;
        let items = items
            .into_iter()
            .map(|(key, item)| from_item_with_health(item, &key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::api_keys::Page { items, more })
    }

    /// The connection with its health record (one `GetItem`).
    pub async fn get_with_health(&self, id: &str) -> Result<Option<(Connection, Option<HealthRecord>)>, StoreError> {
        if table::validate_id("connection id", id).is_err() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| from_item_with_health(item, id)).transpose()
    }

    /// Sets a connection's name and non-secret config, only if it exists and belongs to
    /// `tenant`: `false` otherwise.
    pub async fn update_details(
        &self,
        tenant: &str,
        id: &str,
        name: &str,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<bool, StoreError> {
        if table::validate_id("connection id", id).is_err() {
            return Ok(false);
        }
        let config = AttributeValue::S(config_attribute_text(config));
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .update_expression("SET #name = :name, #config = :config")
            .condition_expression("attribute_exists(#pk) AND #tenant = :tenant")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#config", "config")
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_values(":name", AttributeValue::S(name.into()))
            .expression_attribute_values(":config", config)
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.into()))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// One page of every tenant's connections (a Query of the sparse `sched` index, which holds
    /// connections and scheduled flows only), with their health records, and the key to
    /// continue from. The health checker pages through them instead of loading them all.
    pub async fn scan_page(
        &self,
        start: Option<HashMap<String, AttributeValue>>,
        limit: i32,
    ) -> Result<ConnectionPage, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(table::SCHED)
            .key_condition_expression("#k = :conn")
            .expression_attribute_names("#k", table::SCHED_PK)
            .expression_attribute_values(":conn", AttributeValue::S(table::SCHED_CONNECTIONS.into()))
            .set_exclusive_start_key(start)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            let key = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let inbound = item
                .get(INBOUND)
                .cloned()
                .map(|v| InboundRecord::from_value(v, &key))
                .transpose()?;
            let (conn, health) = from_item_with_health(item, &key)?;
            items.push((conn, health, inbound));
        }
        Ok(ConnectionPage {
            items,
            next: out.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// One attribute of a connection item (a consistent read of that attribute only); `None`
    /// when the connection or the attribute does not exist.
    async fn attribute(&self, id: &str, name: &str) -> Result<Option<AttributeValue>, StoreError> {
        if table::validate_id("connection id", id).is_err() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .projection_expression("#a")
            .expression_attribute_names("#a", name)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item.and_then(|mut item| item.remove(name)))
    }

    /// The connection's health record (consistent read of that attribute only).
    pub async fn health(&self, id: &str) -> Result<Option<HealthRecord>, StoreError> {
        self.attribute(id, HEALTH)
            .await?
            .map(|v| health_from_value(v, id))
            .transpose()
    }

    /// Stores the connection's health record with one `UpdateItem`, only if the stored one is
    /// still at `record.version - 1` (or absent, for version 1): of two overlapping health
    /// runs, one wins and the other gets `false` (and sends no alert).
    pub async fn put_health(&self, id: &str, record: &HealthRecord) -> Result<bool, StoreError> {
        let value = serde_dynamo::to_attribute_value(record).map_err(|e| StoreError::Invalid {
            what: "health record",
            reason: e.to_string(),
        })?;
        let previous = record.version.saturating_sub(1);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .update_expression("SET #h = :h")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#h", HEALTH)
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":h", value)
            .expression_attribute_values(":prev", AttributeValue::N(previous.to_string()));
        req = if previous == 0 {
            req.condition_expression("attribute_exists(#pk) AND (attribute_not_exists(#h) OR #h.#v = :prev)")
        } else {
            req.condition_expression("attribute_exists(#pk) AND #h.#v = :prev")
        };
        super::written(req.send().await, "UpdateItem")
    }

    /// The connection's inbound-events baseline (consistent read of that attribute only).
    pub async fn inbound(&self, id: &str) -> Result<Option<InboundRecord>, StoreError> {
        self.attribute(id, INBOUND)
            .await?
            .map(|v| InboundRecord::from_value(v, id))
            .transpose()
    }

    /// Stores the connection's inbound baseline with one `UpdateItem`, only if the stored one is
    /// still at `record.version - 1` (or absent, for version 1): of two overlapping health runs,
    /// one counts the hour (and alerts) and the other gets `false`.
    pub async fn put_inbound(&self, id: &str, record: &InboundRecord) -> Result<bool, StoreError> {
        let previous = record.version.saturating_sub(1);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .update_expression("SET #i = :i")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#i", INBOUND)
            .expression_attribute_values(":i", record.to_value()?);
        req = if previous == 0 {
            req.condition_expression("attribute_exists(#pk) AND attribute_not_exists(#i)")
        } else {
            req.condition_expression("attribute_exists(#pk) AND #i.#v = :prev")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":prev", AttributeValue::N(previous.to_string()))
        };
        super::written(req.send().await, "UpdateItem")
    }

    /// Marks a connection as needing re-authorisation (one `UpdateItem`; only if it exists).
    /// Returns false when there is no such connection.
    pub async fn flag_reauth(
        &self,
        connection_id: &str,
        reason: &str,
        message_key: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut flag = HashMap::new();
        flag.insert("since".to_string(), AttributeValue::N(at.to_string()));
        flag.insert(
            "reason".to_string(),
            AttributeValue::S(crate::connector::errors::short_text(reason, 500)),
        );
        flag.insert("message_key".to_string(), AttributeValue::S(message_key.to_string()));
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(connection_id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .update_expression("SET #flag = :flag")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#flag", REAUTH_REQUIRED)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":flag", AttributeValue::M(flag))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// Opens (or re-opens) the connection's window for a set-up handshake: sets
    /// `webhook.handshake_until`, only if the connection exists, belongs to `tenant` and
    /// receives webhooks (`false` otherwise).
    pub async fn expect_handshake(&self, tenant: &str, id: &str, until: i64) -> Result<bool, StoreError> {
        if table::validate_id("connection id", id).is_err() {
            return Ok(false);
        }
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .update_expression("SET #w.#h = :until")
            .condition_expression("attribute_exists(#pk) AND #tenant = :tenant AND attribute_exists(#w)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#w", "webhook")
            .expression_attribute_names("#h", "handshake_until")
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.into()))
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// Takes the connection's expectation of a secret-setting handshake: removes
    /// `webhook.handshake_until` only if it still holds `until`. Returns false when another
    /// handshake took it first (or it was re-armed meanwhile), so one handshake wins.
    pub async fn claim_handshake(&self, connection_id: &str, until: i64) -> Result<bool, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(connection_id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .update_expression("REMOVE #w.#h")
            .condition_expression("#w.#h = :until")
            .expression_attribute_names("#w", "webhook")
            .expression_attribute_names("#h", "handshake_until")
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// The connection's re-authorisation flag, if set: (since, reason).
    pub async fn reauth_flag(&self, connection_id: &str) -> Result<Option<(i64, String)>, StoreError> {
        let Some(AttributeValue::M(flag)) = self.attribute(connection_id, REAUTH_REQUIRED).await? else {
            return Ok(None);
        };
        let since = flag
            .get("since")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let reason = flag
            .get("reason")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        Ok(Some((since, reason)))
    }

    /// Removes a connection item (its secret is the caller's to delete).
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(table::connection_pk(id)))
            .key(SK, AttributeValue::S(CONNECTION_SK.into()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }
}

/// One page of [`ConnectionStore::scan_page`].
#[derive(Debug)]
pub struct ConnectionPage {
    pub items: Vec<(Connection, Option<HealthRecord>, Option<InboundRecord>)>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<HashMap<String, AttributeValue>>,
}

fn health_from_value(value: AttributeValue, key: &str) -> Result<HealthRecord, StoreError> {
    serde_dynamo::from_attribute_value(value).map_err(|e| StoreError::Corrupt {
        kind: "connection health",
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn from_item_with_health(
    mut item: HashMap<String, AttributeValue>,
    key: &str,
) -> Result<(Connection, Option<HealthRecord>), StoreError> {
    let health = item.remove(HEALTH).map(|v| health_from_value(v, key)).transpose()?;
    Ok((from_item(item, key)?, health))
}

fn from_item(mut item: HashMap<String, AttributeValue>, key: &str) -> Result<Connection, StoreError> {
    item.remove(HEALTH);
    item.remove(INBOUND);
    super::from_typed_item(KIND, item, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::GenericHmac;

    fn connection(scheme: Scheme, tolerance_secs: Option<u64>) -> Connection {
        Connection {
            id: "conn_1".into(),
            tenant: "acme".into(),
            provider: "custom".into(),
            name: "Custom".into(),
            webhook: Some(WebhookSettings {
                scheme,
                tolerance_secs,
                handshake_until: None,
            }),
            secret_arn: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:switchyard/acme/conn_1".into()),
            config: serde_json::json!({"base_url": "https://api.example.com", "page_size": 50})
                .as_object()
                .cloned()
                .unwrap(),
            created_at: 1_763_800_000,
        }
    }

    #[test]
    fn connection_round_trips_through_a_dynamodb_item() {
        let mut generic = GenericHmac::new("X-Signature");
        generic.timestamp_header = Some("X-Timestamp".into());
        generic.template = "{timestamp}.{body}".into();
        for conn in [
            connection(Scheme::Stripe, Some(120)),
            connection(Scheme::Generic(generic), None),
        ] {
            let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&conn).unwrap();
            assert_eq!(from_item(item, "k").unwrap(), conn);
        }
    }

    #[test]
    fn config_is_stored_as_json_text_exactly_and_a_map_written_before_is_still_read() {
        let mut conn = connection(Scheme::Stripe, None);
        // What a DynamoDB map could not hold: keys named like its type tags, a number beyond
        // its range, nesting deeper than its 32 levels.
        let mut deep = serde_json::json!("bottom");
        for _ in 0..40 {
            deep = serde_json::json!({ "N": deep });
        }
        conn.config = serde_json::json!({
            "N": 10147212370429194u64, "L": [[{}], null, [1e300, "x"]], "S": {"M": true},
            "deep": deep, "\u{80}": {"N": -514},
        })
        .as_object()
        .cloned()
        .unwrap();
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&conn).unwrap();
        let text = item["config"].as_s().expect("config is one string attribute");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(text).unwrap(),
            serde_json::Value::Object(conn.config.clone())
        );
        assert_eq!(from_item(item.clone(), "k").unwrap(), conn);

        let mut before = item;
        let old = serde_json::json!({"base_url": "https://api.example.com", "page_size": 50});
        before.insert("config".into(), serde_dynamo::to_attribute_value(&old).unwrap());
        assert_eq!(serde_json::Value::Object(from_item(before, "k").unwrap().config), old);
    }

    #[test]
    fn webhook_settings_are_stored_flat() {
        let json = serde_json::to_value(connection(Scheme::Stripe, Some(120))).unwrap();
        assert_eq!(
            json["webhook"],
            serde_json::json!({"scheme": "stripe", "tolerance_secs": 120})
        );
    }
}
