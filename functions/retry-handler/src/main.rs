//! retry-handler: the sync queue's dead-letter queue -> back on the sync queue with the retry
//! schedule's delay and a higher attempt count, or parked in DynamoDB.
//!
//! Wiring only: configuration and AWS clients are built once; every batch goes to
//! `switchyard::retry::handle_dlq`, which reports per-message failures (ReportBatchItemFailures).

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use switchyard::aws::AwsClients;
use switchyard::clock::SystemClock;
use switchyard::retry::{self, RetryConfig, RetryDeps};

// One batch at a time, and every await is I/O: a single-threaded runtime spares each batch the
// wake-ups of parked worker threads (as in webhook-receiver and connector-sync).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard::logging::init_json();
    let config = RetryConfig::from_env()?;
    let clients = AwsClients::from_env().await;
    let deps = Arc::new(RetryDeps::new(config, &clients, Arc::new(SystemClock)));
    tracing::info!(message = "retry-handler ready.");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(retry::handle_dlq(&deps, event.payload).await) }
    }))
    .await
}
