//! webhook-receiver: API Gateway HTTP API (payload v2) -> verify, dedupe, store, enqueue.
//!
//! Wiring only: configuration, AWS clients and caches are built once per cold start; every event
//! goes to `switchyard::receiver::handle`.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use switchyard::aws::AwsClients;
use switchyard::clock::SystemClock;
use switchyard::config::ReceiverConfig;
use switchyard::receiver::{self, ReceiverDeps};

// One event at a time, and every await is I/O: a single-threaded runtime spares each event the
// wake-ups of parked worker threads (a third of the receiver's CPU in the footprint profile).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard::logging::init_json();
    let config = ReceiverConfig::from_env()?;
    let clients = AwsClients::from_env().await;
    let deps = Arc::new(ReceiverDeps::new(config, &clients, Arc::new(SystemClock)));
    tracing::info!(message = "webhook-receiver ready.");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(receiver::handle(&deps, event.payload).await) }
    }))
    .await
}
