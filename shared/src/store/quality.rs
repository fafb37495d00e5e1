//! A flow's data-quality state ([`crate::quality::Quality`]): one item beside the flow,
//! `FLOW#<flow>` / `QUALITY`, holding the baselines and open episodes as JSON and a version.
//!
//! Each finished job reads it, observes, and writes it back on condition that the version is
//! still the one it read: two jobs of one flow finishing together cannot lose each other's
//! observation, and an episode is opened (and alerted) by exactly one of them.

use aws_sdk_dynamodb::types::AttributeValue;

use super::flows::flow_pk;
use super::table::{PK, SK};
use super::StoreError;
use crate::quality::Quality;

const QUALITY_SK: &str = "QUALITY";
const STATE: &str = "state";
const VERSION: &str = "version";

/// The stored state and the version it was read at (0: none yet).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Versioned {
    pub quality: Quality,
    pub version: u64,
}

#[derive(Debug, Clone)]
pub struct QualityStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl QualityStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn get(&self, flow_id: &str) -> Result<Versioned, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(flow_pk(flow_id)))
            .key(SK, AttributeValue::S(QUALITY_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(Versioned::default());
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            kind: "quality",
            key: flow_id.to_string(),
            reason,
        };
        let version = match item.get(VERSION) {
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| corrupt(format!("version {n:?}")))?,
            _ => return Err(corrupt("no version".into())),
        };
        let quality = match item.get(STATE) {
            Some(AttributeValue::S(s)) => serde_json::from_str(s).map_err(|e| corrupt(e.to_string()))?,
            _ => return Err(corrupt("no state".into())),
        };
        Ok(Versioned { quality, version })
    }

    /// Writes `quality` if the stored version is still `read_at`; `false` when another job
    /// wrote first (read again and observe again).
    pub async fn put(&self, flow_id: &str, quality: &Quality, read_at: u64) -> Result<bool, StoreError> {
        let state = serde_json::to_string(quality).map_err(|e| StoreError::Invalid {
            what: "quality",
            reason: e.to_string(),
        })?;
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(flow_pk(flow_id)))
            .item(SK, AttributeValue::S(QUALITY_SK.into()))
            .item(STATE, AttributeValue::S(state))
            .item(VERSION, AttributeValue::N((read_at + 1).to_string()))
            .expression_attribute_names("#v", VERSION);
        let req = if read_at == 0 {
            req.condition_expression("attribute_not_exists(#v)")
        } else {
            req.condition_expression("#v = :v")
                .expression_attribute_values(":v", AttributeValue::N(read_at.to_string()))
        };
        super::written(req.send().await, "PutItem")
    }
}
