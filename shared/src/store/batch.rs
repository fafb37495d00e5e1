//! `BatchGetItem` and `BatchWriteItem` at DynamoDB's limits (100 keys, 25 writes a request),
//! sending unprocessed keys and items again with a growing pause until done or given up.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, WriteRequest};

use super::StoreError;

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limits per BatchGetItem and BatchWriteItem.
const GET_BATCH: usize = 100;
const WRITE_BATCH: usize = 25;
const MAX_UNPROCESSED_ROUNDS: u32 = 8;

fn backoff(round: u32) -> Duration {
    Duration::from_millis(25u64 << round.min(6))
}

fn given_up(operation: &'static str) -> StoreError {
    StoreError::Dynamo {
        operation,
        message: "keys or items stayed unprocessed after repeated retries".into(),
        failure: crate::aws::AwsFailure::Throttled,
    }
}

/// The items of these keys that exist (in no particular order).
pub(crate) async fn get_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: Vec<Item>,
    consistent: bool,
) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(GET_BATCH) {
        let mut request = Some(HashMap::from([(
            table.to_string(),
            KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(consistent)
                .build()
                .expect("keys are set"),
        )]));
        let mut round = 0;
        while let Some(items) = request.take().filter(|r| !r.is_empty()) {
            if round >= MAX_UNPROCESSED_ROUNDS {
                return Err(given_up("BatchGetItem"));
            }
            if round > 0 {
                tokio::time::sleep(backoff(round)).await;
            }
            let resp = client
                .batch_get_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchGetItem", e))?;
            out.extend(resp.responses.unwrap_or_default().remove(table).unwrap_or_default());
            request = resp.unprocessed_keys;
            round += 1;
        }
    }
    Ok(out)
}

/// Sends every put or delete.
pub(crate) async fn write_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    writes: Vec<WriteRequest>,
) -> Result<(), StoreError> {
    for chunk in writes.chunks(WRITE_BATCH) {
        let mut request = Some(HashMap::from([(table.to_string(), chunk.to_vec())]));
        let mut round = 0;
        while let Some(items) = request.take().filter(|r| !r.is_empty()) {
            if round >= MAX_UNPROCESSED_ROUNDS {
                return Err(given_up("BatchWriteItem"));
            }
            if round > 0 {
                tokio::time::sleep(backoff(round)).await;
            }
            let resp = client
                .batch_write_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchWriteItem", e))?;
            request = resp.unprocessed_items;
            round += 1;
        }
    }
    Ok(())
}
