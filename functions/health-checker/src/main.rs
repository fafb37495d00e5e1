//! health-checker: EventBridge schedule -> check every connection's health.
//!
//! Wiring only: configuration, AWS clients, the connector registry, the HTTP client and the
//! alert targets (the Slack token is read once here) are built per cold start; each scheduled
//! event runs `switchyard::health::run_checks` within the invocation's deadline.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use switchyard::aws::AwsClients;
use switchyard::clock::SystemClock;
use switchyard::connector::Registry;
use switchyard::health::{self, HealthConfig, HealthDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::logging::init_json();
    let config = HealthConfig::from_env()?;
    let registry = Arc::new(Registry::embedded()?);
    let clients = AwsClients::from_env().await;
    let deps = Arc::new(HealthDeps::new(config, &clients, registry, Arc::new(SystemClock)).await?);
    tracing::info!(message = "health-checker ready.");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            let report = health::run_checks(
                &deps,
                Some(switchyard::clock::invocation_deadline(event.context.deadline)),
            )
            .await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
