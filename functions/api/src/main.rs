//! api: API Gateway HTTP API (payload v2) `/v1/...` -> the management API.
//!
//! Wiring only: configuration, AWS clients and the connector registry are built once per cold
//! start; every request goes to `switchyard::api::handle_apigw`. Like the webhook receiver it
//! takes API Gateway's payload v2 through `lambda_runtime` (the local runner speaks the same
//! payload), rather than `lambda_http`, which would add a second HTTP model for one adapter.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use switchyard::api::{self, ApiConfig, ApiDeps};
use switchyard::aws::AwsClients;
use switchyard::clock::SystemClock;
use switchyard::connector::Registry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard::logging::init_json();
    let config = ApiConfig::from_env()?;
    let clients = AwsClients::from_env().await;
    let registry = Arc::new(Registry::embedded()?);
    let deps = Arc::new(ApiDeps::new(config, &clients, registry, Arc::new(SystemClock)));
    tracing::info!(message = "api ready.");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(api::handle_apigw(&deps, event.payload).await) }
    }))
    .await
}
