//! A connection's request budget shared by every process: one item, `RATE#<connection>` /
//! `BUDGET`, holding the next free start slot (`next_slot_ms`, unix milliseconds).
//!
//! A lease of `n` slots is one conditional `UpdateItem` that moves `next_slot_ms` from the value
//! this process last saw to `max(seen, now) + n * interval`. When another process moved it
//! first, the failed condition returns the current value (`ReturnValuesOnConditionCheckFailure`),
//! and the next try starts from it: no read is ever needed. The item expires a day after its
//! last use.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use futures::future::BoxFuture;

use super::table::{EXPIRES_AT, PK, SK};
use crate::connector::ratelimit::SharedBudget;

const NEXT: &str = "next_slot_ms";
const BUDGET_SK: &str = "BUDGET";
/// Tries of one lease before giving up (each failed try learned the current value).
const MAX_TRIES: usize = 16;
const KEEP_SECS: u64 = 86_400;

/// The DynamoDB-backed budget of one connection.
#[derive(Debug)]
pub struct DynamoBudget {
    client: aws_sdk_dynamodb::Client,
    table: String,
    connection_id: String,
    /// The `next_slot_ms` this process last saw (0: unknown).
    seen: AtomicU64,
}

impl DynamoBudget {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, connection_id: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            connection_id: connection_id.into(),
            seen: AtomicU64::new(0),
        }
    }

    fn pk(&self) -> String {
        format!("RATE#{}", self.connection_id)
    }

    /// Sets `next_slot_ms` to `new` if it still holds `old` (or, when `old <= now`, anything
    /// not after `now`). `Ok(None)` written; `Ok(Some(current))` someone else moved it.
    async fn move_next(&self, old: u64, new: u64, now: u64) -> Result<Option<u64>, String> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(self.pk()))
            .key(SK, AttributeValue::S(BUDGET_SK.into()))
            .update_expression("SET #n = :new, #exp = :exp")
            .expression_attribute_names("#n", NEXT)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":new", AttributeValue::N(new.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N((now / 1000 + KEEP_SECS).to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        req = if old <= now {
            req.condition_expression("attribute_not_exists(#n) OR #n <= :now")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        } else {
            req.condition_expression("#n = :old")
                .expression_attribute_values(":old", AttributeValue::N(old.to_string()))
        };
        match req.send().await {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => Ok(Some(
                    c.item()
                        .and_then(|i| i.get(NEXT))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(now),
                )),
                _ => Err(super::StoreError::dynamo("UpdateItem", e).to_string()),
            },
        }
    }
}

impl SharedBudget for DynamoBudget {
    fn reserve(&self, n: u32, interval_ms: u64, now_ms: u64) -> BoxFuture<'_, Result<u64, String>> {
        Box::pin(async move {
            let mut old = self.seen.load(Ordering::Relaxed);
            for _ in 0..MAX_TRIES {
                let first = old.max(now_ms);
                let next = first + u64::from(n) * interval_ms;
                match self.move_next(old, next, now_ms).await? {
                    None => {
                        self.seen.store(next, Ordering::Relaxed);
                        return Ok(first);
                    }
                    Some(current) => old = current,
                }
            }
            Err(format!(
                "the rate budget of connection {} stayed contended over {MAX_TRIES} tries",
                self.connection_id
            ))
        })
    }

    fn pause_until(&self, until_ms: u64) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut old = self.seen.load(Ordering::Relaxed);
            let now = until_ms; // any value at or before `until_ms` may be replaced
            for _ in 0..MAX_TRIES {
                if old >= until_ms {
                    return Ok(());
                }
                match self.move_next(old, until_ms, now).await? {
                    None => {
                        self.seen.store(until_ms, Ordering::Relaxed);
                        return Ok(());
                    }
                    Some(current) => old = current,
                }
            }
            Ok(())
        })
    }
}
