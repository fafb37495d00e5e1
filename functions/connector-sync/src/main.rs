//! connector-sync: SQS sync queue -> run flows (inbound events and sync jobs).
//!
//! Wiring only: configuration, AWS clients, the connector registry (every embedded definition
//! validated here, so a broken one fails the cold start, not a sync) and the HTTP client are
//! built once; every batch goes to `switchyard::sync::handle_sqs` with the invocation's deadline,
//! and every EventBridge dispatch tick to `switchyard::dispatch::Dispatcher::tick`.

use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use switchyard::aws::AwsClients;
use switchyard::clock::SystemClock;
use switchyard::config::SyncConfig;
use switchyard::connector::Registry;
use switchyard::dispatch::{Dispatcher, SyncInvocation};
use switchyard::metrics::Metrics;
use switchyard::sync::{self, SyncDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::logging::init_json();
    let config = SyncConfig::from_env()?;
    let registry = Arc::new(Registry::embedded()?);
    let clients = AwsClients::from_env().await;
    let dispatcher = Arc::new(Dispatcher::new(clients.dynamodb.clone(), &config.table_name));
    let deps = Arc::new(SyncDeps::new(config, &clients, registry, Arc::new(SystemClock))?);
    tracing::info!(message = "connector-sync ready.");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let deps = deps.clone();
        let dispatcher = dispatcher.clone();
        async move {
            let started = Instant::now();
            let deadline = switchyard::clock::invocation_deadline(event.context.deadline);
            let response = match SyncInvocation::from_value(event.payload)? {
                SyncInvocation::Sqs(batch) => {
                    serde_json::to_value(sync::handle_sqs(&deps, batch, Some(deadline)).await)?
                }
                SyncInvocation::DispatchTick => serde_json::to_value(dispatcher.tick(&deps).await?)?,
            };
            Metrics::new("connector-sync")
                .millis("HandlerDuration", started.elapsed().as_secs_f64() * 1000.0)
                .emit();
            Ok::<_, Error>(response)
        }
    }))
    .await
}
