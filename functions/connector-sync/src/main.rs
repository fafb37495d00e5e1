//! connector-sync: SQS sync queue -> run flows (inbound events and sync jobs).
//!
//! Wiring only: configuration, AWS clients, the connector registry (every embedded definition
//! validated here, so a broken one fails the cold start, not a sync) and the HTTP client are
//! built once; every batch goes to `switchyard::sync::handle_sqs` with the invocation's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use switchyard::aws::AwsClients;
use switchyard::clock::SystemClock;
use switchyard::config::SyncConfig;
use switchyard::connector::Registry;
use switchyard::sync::{self, SyncDeps};

/// The invocation's deadline (epoch milliseconds) as an `Instant`.
fn deadline(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::logging::init_json();
    let config = SyncConfig::from_env()?;
    let registry = Arc::new(Registry::embedded()?);
    let clients = AwsClients::from_env().await;
    let deps = Arc::new(SyncDeps::new(config, &clients, registry, Arc::new(SystemClock))?);
    tracing::info!(message = "connector-sync ready.");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move {
            let deadline = deadline(event.context.deadline);
            Ok::<_, Error>(sync::handle_sqs(&deps, event.payload, Some(deadline)).await)
        }
    }))
    .await
}
