//! Structured logs with `tracing`.
//!
//! Functions log JSON (one object per line, as CloudWatch Logs Insights wants it); the CLI logs
//! human-readable text. The level comes from `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`), default `info`.
//! Never log a secret, a token or a full webhook body: log ids, sizes and outcomes.

use tracing_subscriber::{fmt, EnvFilter};

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .map_err(|_| ())
                .and_then(|lvl| EnvFilter::try_new(lvl.to_lowercase()).map_err(|_| ()))
        })
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs for a Lambda function. Safe to call twice (the second call does nothing).
pub fn init_json() {
    let _ = fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time() // CloudWatch stamps each line itself
        .try_init();
}

/// Human-readable logs on stderr, for the CLI and the local runner.
pub fn init_text() {
    let _ = fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
