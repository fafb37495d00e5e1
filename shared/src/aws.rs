//! AWS clients, built once per cold start from one shared `aws-config` load.
//!
//! `aws-config` honours `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_DYNAMODB`, ...),
//! so the same binary talks to AWS or to the local emulator. The SDK sets no operation timeout
//! by default; we set one so a stuck call cannot eat a Lambda's whole budget.

use std::time::Duration;

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, SdkConfig};

/// The AWS clients every function shares.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// Timeouts applied to every AWS call.
pub fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(10))
        .build()
}

/// Loads the shared AWS configuration from the environment (region, credentials, endpoint).
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(default_timeouts())
        .load()
        .await
}

impl AwsClients {
    /// Builds every client from one configuration.
    pub fn from_config(config: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }

    /// Loads the environment's configuration and builds the clients.
    pub async fn from_env() -> Self {
        Self::from_config(&load_config().await)
    }
}
