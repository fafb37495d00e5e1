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

/// Stranded sandbox threads (each holds at most the mapping memory and stack bounds) after
/// which the process is replaced.
const RECYCLE_AFTER_STRANDED: usize = 3;
/// Time left for the runtime to post the response before the process exits.
const RECYCLE_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

// One thread: every await is I/O, and the CPU work (jq) runs on the sandbox's own thread. A
// multi-threaded runtime costs each page the wake-ups of parked worker threads and, for each
// mapping call, `block_in_place` handing the worker's core to another thread (see
// `switchyard::sandbox::blocking`); at the 512 MB it is deployed with (0.29 vCPU) no second
// thread could run anyway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard::logging::init_json();
    let config = SyncConfig::from_env()?;
    // Fail the cold start on a bad MAPPING_* setting rather than run with defaults.
    switchyard::sandbox::Limits::from_env()?;
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
            // A mapping that broke a bound leaves a stranded sandbox thread (see
            // switchyard::sandbox); a few are harmless, more are recycled with the process.
            switchyard::sandbox::recycle_when_stranded(RECYCLE_AFTER_STRANDED, RECYCLE_GRACE);
            Ok::<_, Error>(response)
        }
    }))
    .await
}
