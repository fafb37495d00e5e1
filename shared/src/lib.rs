//! Switchyard's shared library: everything the Lambda functions have in common.
//!
//! Function crates are thin: they build [`aws::AwsClients`] and a typed config once per cold
//! start and hand each event to a handler here (for the webhook receiver, [`receiver::handle`]).

pub mod admin;
pub mod api;
pub mod aws;
pub mod cache;
pub mod clock;
pub mod config;
pub mod connector;
pub mod dispatch;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod json;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod quality;
pub mod queue;
pub mod receiver;
pub mod retry;
pub mod sandbox;
pub mod secrets;
pub mod store;
pub mod subjects;
pub mod subscriptions;
pub mod suggest;
pub mod sync;
pub mod webhook;
