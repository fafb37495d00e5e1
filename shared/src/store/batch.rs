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

/// `items` moved into requests of at most `size` (a page's links are not copied per request).
fn in_chunks<T>(items: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(size).collect())
    })
}

/// The items of these keys that exist (in no particular order).
pub(crate) async fn get_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: Vec<Item>,
    consistent: bool,
) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in in_chunks(keys, GET_BATCH) {
        let mut request = Some(HashMap::from([(
            table.to_string(),
            KeysAndAttributes::builder()
                .set_keys(Some(chunk))
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
    for chunk in in_chunks(writes, WRITE_BATCH) {
        let mut request = Some(HashMap::from([(table.to_string(), chunk)]));
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

#[cfg(test)]
mod tests {
    use super::in_chunks;

    #[test]
    fn chunks_keep_every_item_in_order_and_respect_the_limit() {
        let chunks: Vec<Vec<u32>> = in_chunks((0..60).collect(), 25).collect();
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 10]);
        assert_eq!(chunks.concat(), (0..60).collect::<Vec<_>>());
        assert_eq!(in_chunks(Vec::<u32>::new(), 25).count(), 0);
        assert_eq!(in_chunks((0..25).collect(), 25).count(), 1);
    }
}
