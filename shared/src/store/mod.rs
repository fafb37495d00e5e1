//! DynamoDB state: one table, single-table design (see ARCHITECTURE.md, "State").

pub mod connections;
pub mod dead_letters;
pub mod events;
pub mod flows;
pub mod jobs;
pub mod links;
pub mod table;

use aws_sdk_dynamodb::error::DisplayErrorContext;

/// A failure talking to the table, in the caller's terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB request {operation} failed: {message}")]
    Dynamo { operation: &'static str, message: String },
    #[error("item {key} in the table is not a valid {kind}: {reason}")]
    Corrupt {
        kind: &'static str,
        key: String,
        reason: String,
    },
    #[error("{kind} {id} already exists")]
    AlreadyExists { kind: &'static str, id: String },
    #[error("{kind} {id} was not found")]
    NotFound { kind: &'static str, id: String },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

impl StoreError {
    pub(crate) fn dynamo<E: std::error::Error>(operation: &'static str, err: E) -> Self {
        StoreError::Dynamo {
            operation,
            message: DisplayErrorContext(err).to_string(),
        }
    }
}
