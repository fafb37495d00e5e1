//! API key items: a key's hash (never the key), its tenant, role and tier.
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | API key | `APIKEY#<prefix>` | `APIKEY` | `TENANT#<t>` / `KEY#<prefix>` |
//!
//! Keyed by prefix (not by tenant, as ARCHITECTURE.md sketches) for the same reason as
//! connections: a request carries only the key, so authentication looks up the prefix it
//! shows; listing a tenant's keys uses `gsi1`.
//!
//! The key item also holds the key's request counters, one number attribute per rate-limit
//! window (`rl_<window start>`), so that [`ApiKeyStore::admit`] checks the key and counts the
//! request in one conditional `UpdateItem` (see there). Each count removes the counters of the
//! [`KEPT_STALE_WINDOWS`] windows before the previous one; the current and the previous window
//! stay for `/v1/usage`.
//!
//! A rotated key's overlap end is stored as `overlap_ends_at`, not `expires_at`: `expires_at`
//! is the table's TTL attribute, and DynamoDB would delete the old key's item after the overlap,
//! taking it out of `GET /v1/keys` and `/v1/usage`. Key items have no TTL: a rotated key is kept
//! for the record, as a revoked one is. Items rotated before this change still carry
//! `expires_at`; they read the same, and [`ApiKeyStore::admit`] checks both names, but
//! DynamoDB would delete them: `switchyard keys repair-ttl`
//! ([`super::migrate::repair_rotated_key_ttl`]) moves the value to `overlap_ends_at`, once.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::table::{self, GSI1PK, GSI1SK, PK, SK};
use super::StoreError;

pub const API_KEY_SK: &str = "APIKEY";
const KIND: &str = "API key";
/// A window's request counter on the key item: `rl_<window start>`.
const WINDOW_ATTR_PREFIX: &str = "rl_";
/// The attribute holding a rotated key's overlap end.
pub(crate) const OVERLAP_ENDS_ATTR: &str = "overlap_ends_at";
/// Where keys rotated by earlier releases hold it (also the table's TTL attribute).
const LEGACY_OVERLAP_ENDS_ATTR: &str = "expires_at";
/// How many windows older than the previous one each count removes (a day of hourly windows):
/// a key idle for longer leaves one older counter, removed by the next count's second write.
pub const KEPT_STALE_WINDOWS: i64 = 24;

fn window_attr(start: i64) -> String {
    format!("{WINDOW_ATTR_PREFIX}{start}")
}

/// Requests counted per window start, read from a key item's `rl_<start>` attributes.
pub type RequestCounts = std::collections::BTreeMap<i64, u64>;

fn request_counts(item: &HashMap<String, AttributeValue>) -> RequestCounts {
    item.iter()
        .filter_map(|(name, value)| {
            let start = name.strip_prefix(WINDOW_ATTR_PREFIX)?.parse().ok()?;
            Some((start, value.as_n().ok()?.parse().ok()?))
        })
        .collect()
}

/// What [`ApiKeyStore::admit`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// The key is known, matches, is active and had room: the request is counted. `requests`
    /// is the window's count, this request included.
    Admitted { key: ApiKey, requests: u64 },
    /// The key is good, but its window already holds its tier's limit: not counted.
    Full { key: ApiKey },
    /// No such key, another key's secret, revoked or expired: nothing written.
    Refused,
}

/// One rate-limit check: the window, the time the key's expiry is judged at, and each tier's
/// limit (Free to Enterprise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCheck {
    pub now: i64,
    pub window_start: i64,
    pub window_secs: i64,
    pub limits: [u64; 4],
}

pub fn api_key_pk(prefix: &str) -> String {
    format!("APIKEY#{prefix}")
}

/// `gsi1sk` of a key.
pub fn api_key_index_sk(prefix: &str) -> String {
    format!("KEY#{prefix}")
}

/// What a key may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything except keys.
    Viewer,
    /// A viewer that may also run flows and replay dead letters.
    Runner,
    /// A runner that may also create, change and delete connections and flows.
    Editor,
    /// Everything, including the tenant's API keys.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Runner => "runner",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "runner" => Some(Role::Runner),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A key's request allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 1,000 requests per hour.
    Free,
    /// 10,000 requests per hour.
    Basic,
    /// 100,000 requests per hour.
    Professional,
    /// 1,000,000 requests per hour.
    Enterprise,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Basic => "basic",
            Tier::Professional => "professional",
            Tier::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "free" => Some(Tier::Free),
            "basic" => Some(Tier::Basic),
            "professional" => Some(Tier::Professional),
            "enterprise" => Some(Tier::Enterprise),
            _ => None,
        }
    }

    /// Requests per hour (the deployment may override these, see `api::ApiConfig`).
    pub fn default_hourly_limit(self) -> u64 {
        match self {
            Tier::Free => 1_000,
            Tier::Basic => 10_000,
            Tier::Professional => 100_000,
            Tier::Enterprise => 1_000_000,
        }
    }
}

/// A stored API key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The visible part (`sy_live_<prefix>_...`), unique; the key's id in the API.
    pub prefix: String,
    pub tenant: String,
    /// A name for people.
    pub name: String,
    pub role: Role,
    pub tier: Tier,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    pub created_at: i64,
    /// Who created it: `key:<prefix>` or `cli`.
    pub created_by: String,
    /// Set by a rotation: the key stops working at this time (unix seconds). Stored as
    /// `overlap_ends_at`, never as the table's TTL attribute `expires_at` (see the module).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "overlap_ends_at",
        alias = "expires_at"
    )]
    pub expires_at: Option<i64>,
    /// The key that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

impl ApiKey {
    /// Whether the key authenticates requests at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// Reads and writes API key items.
#[derive(Debug, Clone)]
pub struct ApiKeyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl ApiKeyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a new key; `AlreadyExists` if its prefix is taken.
    pub async fn create(&self, key: &ApiKey) -> Result<(), StoreError> {
        table::validate_id("API key prefix", &key.prefix)?;
        table::validate_id("tenant", &key.tenant)?;
        let item = super::typed_item(
            KIND,
            key,
            &[
                (PK, api_key_pk(&key.prefix)),
                (SK, API_KEY_SK.into()),
                (GSI1PK, table::tenant_pk(&key.tenant)),
                (GSI1SK, api_key_index_sk(&key.prefix)),
            ],
        )?;
        if super::put_if_absent(&self.client, &self.table, item).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists {
                kind: KIND,
                id: key.prefix.clone(),
            })
        }
    }

    /// The key with this prefix, if any.
    pub async fn get(&self, prefix: &str) -> Result<Option<ApiKey>, StoreError> {
        if table::validate_id("API key prefix", prefix).is_err() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(api_key_pk(prefix)))
            .key(SK, AttributeValue::S(API_KEY_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| from_item(item, prefix)).transpose()
    }

    /// The key with this prefix and its windows' request counts, if any.
    pub async fn get_counted(&self, prefix: &str) -> Result<Option<(ApiKey, RequestCounts)>, StoreError> {
        if table::validate_id("API key prefix", prefix).is_err() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(api_key_pk(prefix)))
            .key(SK, AttributeValue::S(API_KEY_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item
            .map(|item| {
                let counts = request_counts(&item);
                from_item(item, prefix).map(|key| (key, counts))
            })
            .transpose()
    }

    /// Authenticates a request and counts it against its key's tier, in one conditional
    /// `UpdateItem` on the key item: it adds one to the window's counter only if the item's
    /// hash is `presented_hash`, the key is neither revoked nor expired at `check.now`, and the
    /// window holds less than the limit of the tier the item names. It returns the item as
    /// written (tenant, role, tier, count); when the condition fails, the item as it was
    /// (DynamoDB's `ReturnValuesOnConditionCheckFailure`), which says whether the key was
    /// refused or its window full. An unknown prefix creates nothing: the condition needs the
    /// hash attribute.
    ///
    /// The write goes to the item revocation and rotation write, and DynamoDB evaluates the
    /// condition on the item's latest state, so a revoked key is refused from the next request
    /// on, by every instance; a rotated key at the end of its overlap.
    pub async fn admit(&self, prefix: &str, presented_hash: &str, check: WindowCheck) -> Result<Admission, StoreError> {
        if table::validate_id("API key prefix", prefix).is_err() {
            return Ok(Admission::Refused);
        }
        let WindowCheck {
            now,
            window_start,
            window_secs,
            limits,
        } = check;
        let window_secs = window_secs.max(1);
        let current = window_attr(window_start);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(api_key_pk(prefix)))
            .key(SK, AttributeValue::S(API_KEY_SK.into()))
            .expression_attribute_names("#h", "hash")
            .expression_attribute_names("#rev", "revoked_at")
            .expression_attribute_names("#exp", OVERLAP_ENDS_ATTR)
            .expression_attribute_names("#legacy_exp", LEGACY_OVERLAP_ENDS_ATTR)
            .expression_attribute_names("#tier", "tier")
            .expression_attribute_names("#cur", &current)
            .expression_attribute_values(":h", AttributeValue::S(presented_hash.into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let mut room = vec!["attribute_not_exists(#cur)".to_string()];
        for (i, tier) in [Tier::Free, Tier::Basic, Tier::Professional, Tier::Enterprise]
            .into_iter()
            .enumerate()
        {
            room.push(format!("(#tier = :t{i} AND #cur < :l{i})"));
            update = update
                .expression_attribute_values(format!(":t{i}"), AttributeValue::S(tier.name().into()))
                .expression_attribute_values(format!(":l{i}"), AttributeValue::N(limits[i].to_string()));
        }
        // The previous window's counter stays (usage shows it); older ones go.
        let mut stale = Vec::with_capacity(KEPT_STALE_WINDOWS as usize);
        for back in 2..2 + KEPT_STALE_WINDOWS {
            let name = format!("#old{back}");
            update = update.expression_attribute_names(&name, window_attr(window_start - back * window_secs));
            stale.push(name);
        }
        let res = update
            .update_expression(format!(
                "SET #cur = if_not_exists(#cur, :zero) + :one REMOVE {}",
                stale.join(", ")
            ))
            .condition_expression(format!(
                "#h = :h AND attribute_not_exists(#rev) AND (attribute_not_exists(#exp) OR #exp > :now) AND (attribute_not_exists(#legacy_exp) OR #legacy_exp > :now) AND ({})",
                room.join(" OR ")
            ))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let item = match res {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => failed.item().cloned(),
                    _ => return Err(StoreError::dynamo("UpdateItem", e)),
                };
                // Refused, or full: the item as the condition saw it says which.
                let Some(old) = old else {
                    return Ok(Admission::Refused);
                };
                let counts = request_counts(&old);
                let key = from_item(old, prefix)?;
                let good = bool::from(key.hash.as_bytes().ct_eq(presented_hash.as_bytes())) && key.is_active(now);
                let full = counts.get(&window_start).copied().unwrap_or(0) >= limits[key.tier as usize];
                return Ok(if good && full {
                    Admission::Full { key }
                } else {
                    Admission::Refused
                });
            }
        };
        let counts = request_counts(&item);
        let leftovers: Vec<i64> = counts
            .keys()
            .copied()
            .filter(|start| *start < window_start - window_secs)
            .collect();
        let requests = counts.get(&window_start).copied().unwrap_or(1);
        let key = from_item(item, prefix)?;
        if !bool::from(key.hash.as_bytes().ct_eq(presented_hash.as_bytes())) || !key.is_active(now) {
            // The condition held, so this cannot happen; checked here too rather than trusted.
            return Ok(Admission::Refused);
        }
        if !leftovers.is_empty() {
            // The key was idle for longer than the windows a count removes: one more write
            // removes the older counters, so the item stays small.
            self.remove_windows(prefix, &leftovers).await?;
        }
        Ok(Admission::Admitted { key, requests })
    }

    async fn remove_windows(&self, prefix: &str, starts: &[i64]) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(api_key_pk(prefix)))
            .key(SK, AttributeValue::S(API_KEY_SK.into()))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        let mut names = Vec::with_capacity(starts.len());
        for (i, start) in starts.iter().enumerate() {
            let name = format!("#w{i}");
            update = update.expression_attribute_names(&name, window_attr(*start));
            names.push(name);
        }
        let res = update
            .update_expression(format!("REMOVE {}", names.join(", ")))
            .send()
            .await;
        super::written(res, "UpdateItem").map(|_| ())
    }

    /// One page of a tenant's keys after `after` (a prefix), in prefix order.
    pub async fn page(&self, tenant: &str, after: Option<&str>, limit: usize) -> Result<Page<ApiKey>, StoreError> {
        let page = self.page_counted(tenant, after, limit).await?;
        Ok(Page {
            items: page.items.into_iter().map(|(key, _)| key).collect(),
            more: page.more,
        })
    }

    /// [`Self::page`] with each key's windows' request counts.
    pub async fn page_counted(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<(ApiKey, RequestCounts)>, StoreError> {
        let (items, more) = super::tenant_page(&self.client, &self.table, tenant, "KEY#", after, limit).await?;
        let items = items
            .into_iter()
            .map(|(key, item)| {
                let counts = request_counts(&item);
                from_item(item, &key).map(|k| (k, counts))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, more })
    }

    /// Revokes a key at `now` (kept for the record). `false`: no such key.
    pub async fn revoke(&self, prefix: &str, now: i64) -> Result<bool, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(api_key_pk(prefix)))
            .key(SK, AttributeValue::S(API_KEY_SK.into()))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :now)")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// Marks `old` as replaced by `new_prefix`, working until `until`. Only a key that is not
    /// revoked and not already rotated is rotated: `false` otherwise.
    pub async fn mark_rotated(&self, old: &str, new_prefix: &str, until: i64) -> Result<bool, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(api_key_pk(old)))
            .key(SK, AttributeValue::S(API_KEY_SK.into()))
            .update_expression("SET #until = :until, rotated_to = :new")
            .condition_expression(
                "attribute_exists(#pk) AND attribute_not_exists(revoked_at) AND attribute_not_exists(rotated_to)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#until", OVERLAP_ENDS_ATTR)
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .expression_attribute_values(":new", AttributeValue::S(new_prefix.into()))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// Deletes a key item (undoes a rotation whose old key could not be marked).
    pub async fn delete(&self, prefix: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(api_key_pk(prefix)))
            .key(SK, AttributeValue::S(API_KEY_SK.into()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }
}

/// One page of a list and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

fn from_item(item: HashMap<String, AttributeValue>, key: &str) -> Result<ApiKey, StoreError> {
    super::from_typed_item(KIND, item, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey {
            prefix: "abcd1234".into(),
            tenant: "t".into(),
            name: "n".into(),
            role: Role::Viewer,
            tier: Tier::Free,
            hash: "00".into(),
            created_at: 0,
            created_by: "cli".into(),
            expires_at: None,
            rotated_to: None,
            revoked_at: None,
        }
    }

    #[test]
    fn roles_are_ordered_by_what_they_may_do() {
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Runner && Role::Runner > Role::Viewer);
        for r in [Role::Viewer, Role::Runner, Role::Editor, Role::Admin] {
            assert_eq!(Role::parse(r.name()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn tiers_carry_the_limits_users_named() {
        let limits: Vec<u64> = [Tier::Free, Tier::Basic, Tier::Professional, Tier::Enterprise]
            .iter()
            .map(|t| t.default_hourly_limit())
            .collect();
        assert_eq!(limits, [1_000, 10_000, 100_000, 1_000_000]);
        assert_eq!(Tier::parse("basic"), Some(Tier::Basic));
        assert_eq!(Tier::parse("gold"), None);
    }

    #[test]
    fn a_key_stops_working_when_revoked_or_its_overlap_ends() {
        let mut k = key();
        assert!(k.is_active(100));
        k.expires_at = Some(200);
        assert!(k.is_active(199));
        assert!(!k.is_active(200));
        k.expires_at = None;
        k.revoked_at = Some(50);
        assert!(!k.is_active(100));
    }

    #[test]
    fn a_rotated_keys_overlap_end_is_not_stored_in_the_tables_ttl_attribute() {
        let mut k = key();
        k.expires_at = Some(200);
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&k).unwrap();
        assert!(
            !item.contains_key(LEGACY_OVERLAP_ENDS_ATTR),
            "expires_at is the table's TTL"
        );
        assert_eq!(item[OVERLAP_ENDS_ATTR], AttributeValue::N("200".into()));
        assert_eq!(from_item(item, "abcd1234").unwrap(), k);
        // An item rotated by an earlier release reads the same.
        let mut old: HashMap<String, AttributeValue> = serde_dynamo::to_item(key()).unwrap();
        old.insert(LEGACY_OVERLAP_ENDS_ATTR.into(), AttributeValue::N("200".into()));
        assert_eq!(from_item(old, "abcd1234").unwrap().expires_at, Some(200));
    }
}
