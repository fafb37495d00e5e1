//! Lambda's SQS event source mapping, played against the emulator: receive a batch, hand it to
//! the function as an `SqsEvent`, delete what it did not report as failed
//! (`ReportBatchItemFailures`).

use std::collections::HashMap;

use anyhow::Context;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};

/// One batch as Lambda delivers it, with the receipt handles to delete it by.
pub struct SqsBatch {
    pub event: SqsEvent,
    receipts: HashMap<String, String>,
}

impl SqsBatch {
    pub fn len(&self) -> usize {
        self.event.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.event.records.is_empty()
    }

    /// The message bodies, in order.
    pub fn bodies(&self) -> impl Iterator<Item = &str> {
        self.event.records.iter().map(|r| r.body.as_deref().unwrap_or(""))
    }

    /// The event as the function receives it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.event).expect("an SqsEvent serialises")
    }
}

/// Messages on a queue, by state (`ApproximateNumberOf...`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl QueueDepth {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// An SQS queue read like an event source mapping with `ReportBatchItemFailures`.
pub struct SqsEventSource {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    region: String,
    /// Most messages per batch (Lambda's `BatchSize`; SQS hands out at most 10 per receive).
    pub batch_size: i32,
}

impl SqsEventSource {
    pub async fn new(sqs: aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<Self> {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .with_context(|| format!("GetQueueAttributes {queue_url}"))?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .context("the queue has an ARN")?;
        let region = queue_arn.split(':').nth(3).unwrap_or("us-east-1").to_string();
        Ok(Self {
            sqs,
            queue_url: queue_url.to_string(),
            queue_arn,
            region,
            batch_size: 10,
        })
    }

    /// Receives up to `batch_size` messages, waiting up to `wait_secs` for the first.
    pub async fn receive(&self, wait_secs: i32) -> anyhow::Result<SqsBatch> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .context("ReceiveMessage")?;
        let mut event = SqsEvent::default();
        let mut receipts = HashMap::new();
        for m in out.messages.unwrap_or_default() {
            let id = m.message_id.clone().unwrap_or_default();
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.attributes = m
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_string(), v))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(self.queue_arn.clone());
            record.aws_region = Some(self.region.clone());
            receipts.insert(id, m.receipt_handle.unwrap_or_default());
            event.records.push(record);
        }
        Ok(SqsBatch { event, receipts })
    }

    /// Deletes the batch's messages except those in the function's `batchItemFailures`;
    /// returns the failed message ids. A response that is not an `SqsBatchResponse` fails the
    /// whole batch, as it does in Lambda (nothing is deleted).
    pub async fn complete(&self, batch: &SqsBatch, response: &serde_json::Value) -> anyhow::Result<Vec<String>> {
        let parsed: SqsBatchResponse = match serde_json::from_value(response.clone()) {
            Ok(r) => r,
            Err(_) => return Ok(batch.receipts.keys().cloned().collect()),
        };
        let failed: Vec<String> = parsed
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let entries: Vec<DeleteMessageBatchRequestEntry> = batch
            .receipts
            .iter()
            .filter(|(id, _)| !failed.contains(id))
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(receipt)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        for chunk in entries.chunks(10) {
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
                .context("DeleteMessageBatch")?;
            anyhow::ensure!(out.failed.is_empty(), "DeleteMessageBatch failed for {:?}", out.failed);
        }
        Ok(failed)
    }

    /// How many messages the queue holds, by state.
    pub async fn depth(&self) -> anyhow::Result<QueueDepth> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .context("GetQueueAttributes")?;
        let attrs = out.attributes.unwrap_or_default();
        let get = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(QueueDepth {
            visible: get(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }
}
