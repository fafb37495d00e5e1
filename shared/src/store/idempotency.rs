//! Idempotency records of the management API's POSTs (`Idempotency-Key`): who claimed a key,
//! for which request, and, once done, the response to replay.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | idempotency record | `IDEM#<tenant>#<API key prefix>#<sha256 of the Idempotency-Key>` | `IDEM` |
//!
//! Scoped per tenant and per API key: two keys may use the same `Idempotency-Key` without
//! meeting. The header's value is hashed into the key, so any printable value is safe there.
//! A request claims its record with one conditional `PutItem` (nothing there, or the record
//! expired, or an in-flight claim whose lock lapsed because its request died); a failed claim
//! reads the record from the same call (`ReturnValuesOnConditionCheckFailure`). The record
//! expires (TTL attribute `expires_at`) 24 hours after the claim.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use sha2::{Digest, Sha256};

use super::table::{self, EXPIRES_AT, PK, SK};
use super::StoreError;

pub const IDEMPOTENCY_SK: &str = "IDEM";
const KIND: &str = "idempotency record";

/// A stored response: enough to answer again exactly as the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Claimed: this request does the work, then [`IdempotencyStore::complete`] or
    /// [`IdempotencyStore::release`].
    Claimed,
    /// The same key was used for a different request (method, path or body).
    Mismatch,
    /// The same request is still running elsewhere.
    InFlight,
    /// The same request finished: its response.
    Done(StoredResponse),
}

/// Where a claim lives: (tenant, API key prefix, Idempotency-Key).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub tenant: &'a str,
    pub api_key: &'a str,
    pub idempotency_key: &'a str,
}

impl Scope<'_> {
    fn pk(&self) -> String {
        let digest = hex::encode(Sha256::digest(self.idempotency_key.as_bytes()));
        format!("IDEM#{}#{}#{digest}", self.tenant, self.api_key)
    }
}

/// The fingerprint of a request: its method, path and body.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

#[derive(Debug, Clone)]
pub struct IdempotencyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl IdempotencyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Claims `scope` for the request with `hash` at `now`: one conditional `PutItem`. The
    /// record lives `ttl_secs`; an in-flight claim can be taken over after `lock_secs` (its
    /// request died without answering).
    pub async fn claim(
        &self,
        scope: Scope<'_>,
        hash: &str,
        now: i64,
        ttl_secs: i64,
        lock_secs: i64,
    ) -> Result<Claim, StoreError> {
        table::validate_id("tenant", scope.tenant)?;
        let mut item = HashMap::new();
        item.insert(PK.to_string(), AttributeValue::S(scope.pk()));
        item.insert(SK.to_string(), AttributeValue::S(IDEMPOTENCY_SK.into()));
        item.insert("request_hash".into(), AttributeValue::S(hash.to_string()));
        item.insert("state".into(), AttributeValue::S("in_flight".into()));
        item.insert("claimed_at".into(), AttributeValue::N(now.to_string()));
        item.insert("locked_until".into(), AttributeValue::N((now + lock_secs).to_string()));
        item.insert(EXPIRES_AT.into(), AttributeValue::N((now + ttl_secs).to_string()));
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR #exp <= :now OR (#state = :in_flight AND #locked <= :now AND #hash = :hash)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#locked", "locked_until")
            .expression_attribute_names("#hash", "request_hash")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":in_flight", AttributeValue::S("in_flight".into()))
            .expression_attribute_values(":hash", AttributeValue::S(hash.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match res {
            Ok(_) => return Ok(Claim::Claimed),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let returned = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                        c.item.clone()
                    }
                    _ => None,
                };
                match returned {
                    Some(item) => item,
                    // Not every emulator returns the item with the failure: read it.
                    None => match self.get(scope).await? {
                        Some(item) => item,
                        // Expired and deleted between the two calls: the caller may try again.
                        None => return Ok(Claim::InFlight),
                    },
                }
            }
            Err(e) => return Err(StoreError::dynamo("PutItem", e)),
        };
        let key = scope.pk();
        let s = |name: &str| old.get(name).and_then(|v| v.as_s().ok()).cloned();
        if s("request_hash").as_deref() != Some(hash) {
            return Ok(Claim::Mismatch);
        }
        if s("state").as_deref() != Some("done") {
            return Ok(Claim::InFlight);
        }
        let corrupt = |reason: &str| StoreError::Corrupt {
            kind: KIND,
            key: key.clone(),
            reason: reason.into(),
        };
        let status = old
            .get("status")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt("no status"))?;
        let headers = match s("headers") {
            Some(text) => serde_json::from_str(&text).map_err(|_| corrupt("headers are not a JSON list of pairs"))?,
            None => Vec::new(),
        };
        Ok(Claim::Done(StoredResponse {
            status,
            headers,
            body: s("body").unwrap_or_default(),
        }))
    }

    async fn get(&self, scope: Scope<'_>) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(scope.pk()))
            .key(SK, AttributeValue::S(IDEMPOTENCY_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item)
    }

    /// Stores the response of a claimed request, for replays until the record expires.
    pub async fn complete(&self, scope: Scope<'_>, response: &StoredResponse) -> Result<(), StoreError> {
        let headers = serde_json::to_string(&response.headers).expect("pairs of strings serialise");
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(scope.pk()))
            .key(SK, AttributeValue::S(IDEMPOTENCY_SK.into()))
            .update_expression("SET #state = :done, #status = :status, #headers = :headers, #body = :body")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#headers", "headers")
            .expression_attribute_names("#body", "body")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .expression_attribute_values(":status", AttributeValue::N(response.status.to_string()))
            .expression_attribute_values(":headers", AttributeValue::S(headers))
            .expression_attribute_values(":body", AttributeValue::S(response.body.clone()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Gives a claim up (the request failed on our side): the client may try again at once.
    pub async fn release(&self, scope: Scope<'_>) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(scope.pk()))
            .key(SK, AttributeValue::S(IDEMPOTENCY_SK.into()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_hashes_differ_by_method_path_and_body() {
        let a = request_hash("POST", "/v1/flows", b"{}");
        assert_eq!(a, request_hash("POST", "/v1/flows", b"{}"));
        assert_ne!(a, request_hash("POST", "/v1/flows", b"{ }"));
        assert_ne!(a, request_hash("POST", "/v1/keys", b"{}"));
        // The separator keeps path and body apart.
        assert_ne!(request_hash("POST", "/v1/a", b"b"), request_hash("POST", "/v1/", b"ab"));
    }

    #[test]
    fn scopes_separate_tenants_and_keys_and_hash_the_header() {
        let s = |t, k, i| {
            Scope {
                tenant: t,
                api_key: k,
                idempotency_key: i,
            }
            .pk()
        };
        assert_ne!(s("a", "k1", "x"), s("b", "k1", "x"));
        assert_ne!(s("a", "k1", "x"), s("a", "k2", "x"));
        assert!(!s("a", "k1", "x#y").contains("x#y"));
    }
}
