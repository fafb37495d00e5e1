//! Fixed-window request counters, shared by every Lambda instance: one conditional
//! `UpdateItem ADD` per request on the item of (key, window).
//!
//! | item | pk | sk |
//! |---|---|---|
//! | request window | `RATE#<key prefix>#<window start>` | `RATE` |
//!
//! The condition (`count < limit`) makes the counter stop at the limit, so refused requests
//! do not inflate it; the item expires (TTL) an hour after its window ends.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::table::{EXPIRES_AT, PK, SK};
use super::StoreError;

pub const REQUEST_WINDOW_SK: &str = "RATE";

/// What one count found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowCount {
    /// Counted: the requests made in this window, this one included.
    Counted(u64),
    /// The window already holds `limit` requests: not counted.
    Full,
}

#[derive(Debug, Clone)]
pub struct RequestWindowStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl RequestWindowStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Counts one request of `subject` in the window starting at `window_start` (lasting
    /// `window_secs`), unless the window already holds `limit`.
    pub async fn count(
        &self,
        subject: &str,
        window_start: i64,
        window_secs: i64,
        limit: u64,
    ) -> Result<WindowCount, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(format!("RATE#{subject}#{window_start}")))
            .key(SK, AttributeValue::S(REQUEST_WINDOW_SK.into()))
            .update_expression("ADD #n :one SET #exp = if_not_exists(#exp, :exp)")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "requests")
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N((window_start + 2 * window_secs).to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let n = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("requests"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(limit);
                Ok(WindowCount::Counted(n))
            }
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(WindowCount::Full),
            Err(e) => Err(StoreError::dynamo("UpdateItem", e)),
        }
    }
    /// The requests counted in each (subject, window start): one `BatchGetItem` per 100 (a
    /// missing window counted none). A window stops counting at its limit, so a count never
    /// exceeds it.
    pub async fn counts(
        &self,
        windows: &[(String, i64)],
    ) -> Result<std::collections::HashMap<(String, i64), u64>, StoreError> {
        use std::collections::HashMap;
        let keys = windows
            .iter()
            .map(|(subject, start)| {
                HashMap::from([
                    (PK.to_string(), AttributeValue::S(format!("RATE#{subject}#{start}"))),
                    (SK.to_string(), AttributeValue::S(REQUEST_WINDOW_SK.into())),
                ])
            })
            .collect();
        let mut out = HashMap::with_capacity(windows.len());
        for item in super::batch::get_all(&self.client, &self.table, keys, false).await? {
            let key = item.get(PK).and_then(|v| v.as_s().ok()).and_then(|pk| {
                let (subject, start) = pk.strip_prefix("RATE#")?.rsplit_once('#')?;
                Some((subject.to_string(), start.parse::<i64>().ok()?))
            });
            let n = item
                .get("requests")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if let Some(key) = key {
                out.insert(key, n);
            }
        }
        Ok(out)
    }
}
