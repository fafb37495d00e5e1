//! AWS clients, built once per cold start from one shared `aws-config` load.
//!
//! `aws-config` honours `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_DYNAMODB`, ...),
//! so the same binary talks to AWS or to the local emulator. The SDK sets no operation timeout
//! by default; we set one so a stuck call cannot eat a Lambda's whole budget.

use std::time::Duration;

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::{timeout::TimeoutConfig, BehaviorVersion, ConfigLoader, SdkConfig};

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

/// The shared AWS configuration, not yet loaded: the SDK's defaults, our timeouts, and what
/// the functions' small requests do not need (see [`trim_per_call_work`]). Region, credentials
/// and endpoint come from the environment when it is loaded; `cargo bench --workspace --bench
/// aws_calls` loads it beside the SDK's defaults and prints the CPU of each per call.
pub fn config_loader() -> ConfigLoader {
    trim_per_call_work(aws_config::defaults(BehaviorVersion::latest()).timeout_config(default_timeouts()))
}

/// Per-call work the SDK does by default that our calls do not need, each dropped only where it
/// guarantees nothing [`default_timeouts`] does not already:
/// - stalled-stream protection: a throughput monitor (an interceptor, a timer, a sample per
///   poll) around every request and response body. It cuts a body off after its 5 s grace
///   period without progress; our bodies are read within the attempt, and the 3 s attempt
///   timeout ends any attempt before that, so it could never act first.
pub fn trim_per_call_work(loader: ConfigLoader) -> ConfigLoader {
    loader.stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// Loads the shared AWS configuration from the environment (region, credentials, endpoint).
pub async fn load_config() -> SdkConfig {
    config_loader().load().await
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

/// How a failed AWS call should be treated by whoever decides about retrying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFailure {
    /// The service throttled us (DynamoDB `ProvisionedThroughputExceededException`,
    /// `ThrottlingException`, SQS `RequestThrottled`, ...): retry later, more slowly.
    Throttled,
    /// Worth retrying: 5xx, timeouts, connection failures, unreadable responses.
    Transient,
    /// The same request cannot succeed (validation, missing resource, access denied).
    Permanent,
}

impl AwsFailure {
    /// Whether trying the same call again later may succeed without a person acting.
    pub fn is_retriable(self) -> bool {
        !matches!(self, AwsFailure::Permanent)
    }

    pub fn name(self) -> &'static str {
        match self {
            AwsFailure::Throttled => "throttled",
            AwsFailure::Transient => "transient",
            AwsFailure::Permanent => "permanent",
        }
    }
}

/// Classifies a failed SDK call, after the SDK's own retries. Throttling and transient codes
/// are the SDK's own lists (`aws_runtime::retries::classifiers`), so we agree with its retry
/// strategy; any other service error is transient only when its status is 5xx (or 429).
pub fn classify_sdk_error<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsFailure
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
    R: HttpStatus,
{
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ConstructionFailure(_) => AwsFailure::Permanent,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => AwsFailure::Transient,
        SdkError::DispatchFailure(d) if d.is_user() => AwsFailure::Permanent,
        SdkError::DispatchFailure(_) => AwsFailure::Transient,
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or_default();
            // SQS's query-protocol codes carry a prefix (`AWS.SimpleQueueService.RequestThrottled`).
            let short = code.rsplit('.').next().unwrap_or(code);
            let status = ctx.raw().status_code();
            if THROTTLING_ERRORS.contains(&short) || status == 429 {
                AwsFailure::Throttled
            } else if TRANSIENT_ERRORS.contains(&short) || (500..600).contains(&status) {
                AwsFailure::Transient
            } else {
                AwsFailure::Permanent
            }
        }
        _ => AwsFailure::Transient,
    }
}

/// A failed SDK call as text for errors and logs: each error in the chain by its `Display`,
/// joined by `": "`. Never the raw response: the SDK's `DisplayErrorContext` (and `Debug`)
/// print it whole when a response cannot be parsed, body included, and a body may hold an
/// item's attributes, a secret's value or a queue message.
pub fn describe_sdk_error<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    describe_error(err)
}

/// Any error and its sources, each by its `Display`, joined by `": "` (a part already at the
/// end of the text is not repeated).
pub fn describe_error(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// The status code of a raw response, whatever the SDK's response type.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<PutItemError, HttpResponse> {
        let err = PutItemError::generic(ErrorMetadata::builder().code(code).message("m").build());
        let raw = HttpResponse::new(StatusCode::try_from(status).expect("valid status"), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn a_described_error_names_the_failure_and_never_the_response_body() {
        use aws_smithy_runtime_api::client::result::SdkError as E;
        let body = r#"{"Items": [{"secret": {"S": "hunter2-in-the-body"}}]}"#;
        let raw = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body));
        let parse = std::io::Error::other("failed to parse JSON: expected start object or null");
        let err: E<PutItemError, HttpResponse> = E::service_error(PutItemError::unhandled(parse), raw);
        // What the SDK's own formatting prints, which is why it is not used.
        assert!(aws_sdk_dynamodb::error::DisplayErrorContext(&err)
            .to_string()
            .contains("hunter2-in-the-body"));
        let text = describe_sdk_error(&err);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("expected start object or null"), "{text}");

        let with_code = service_error("ConditionalCheckFailedException", 400);
        let text = describe_sdk_error(&with_code);
        assert!(text.contains("ConditionalCheckFailedException"), "{text}");
        let raw = HttpResponse::new(StatusCode::try_from(500).unwrap(), SdkBody::from(body));
        let err: E<PutItemError, HttpResponse> = E::response_error(std::io::Error::other("truncated"), raw);
        let text = describe_sdk_error(&err);
        assert!(!text.contains("hunter2") && text.contains("truncated"), "{text}");
    }

    #[test]
    fn throttling_codes_of_dynamodb_and_sqs_are_throttled() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "AWS.SimpleQueueService.RequestThrottled",
            "RequestThrottled",
        ] {
            assert_eq!(
                classify_sdk_error(&service_error(code, 400)),
                AwsFailure::Throttled,
                "{code}"
            );
        }
        assert_eq!(
            classify_sdk_error(&service_error("Whatever", 429)),
            AwsFailure::Throttled
        );
    }

    #[test]
    fn server_errors_and_timeouts_are_transient() {
        for (code, status) in [
            ("InternalServerError", 500),
            ("ServiceUnavailable", 503),
            ("RequestTimeout", 400),
        ] {
            assert_eq!(
                classify_sdk_error(&service_error(code, status)),
                AwsFailure::Transient,
                "{code}"
            );
        }
        let timeout: SdkError<PutItemError, HttpResponse> = SdkError::timeout_error("slow");
        assert_eq!(classify_sdk_error(&timeout), AwsFailure::Transient);
    }

    #[test]
    fn validation_and_missing_resources_are_permanent() {
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "AWS.SimpleQueueService.NonExistentQueue",
        ] {
            let class = classify_sdk_error(&service_error(code, 400));
            assert_eq!(class, AwsFailure::Permanent, "{code}");
            assert!(!class.is_retriable());
        }
        let construction: SdkError<PutItemError, HttpResponse> = SdkError::construction_failure("bad input");
        assert_eq!(classify_sdk_error(&construction), AwsFailure::Permanent);
    }
}
