//! Fault injection on the real SDK clients: an interceptor that makes chosen operations fail the
//! way AWS fails them, with no side effect at the emulator.
//!
//! - [`Fault::Unreachable`] fails the call before it leaves (a connection error).
//! - [`Fault::Throttled`] answers with the service's throttling error
//!   (`ProvisionedThroughputExceededException` for DynamoDB, `RequestThrottled` for SQS, ...):
//!   the request is turned into a harmless listing on its way out, and its response is replaced
//!   by the throttling error the SDK then parses, classifies and retries as it would in AWS.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// How an injected call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request never reaches the service (a dispatch failure).
    Unreachable,
    /// The service answers with its throttling error.
    Throttled,
}

#[derive(Debug)]
struct Rule {
    /// `Service.Operation`, e.g. `DynamoDB.PutItem`, `SQS.SendMessage`.
    operation: String,
    fault: Fault,
    /// Calls (attempts, counting the SDK's own retries) still to fail.
    remaining: usize,
}

/// The rules every client of a [`crate::TestEnv`] obeys; empty by default.
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    rules: Arc<Mutex<Vec<Rule>>>,
    injected: Arc<Mutex<Vec<String>>>,
}

#[derive(Debug, Clone, Copy)]
struct Injected(Fault, &'static str);

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

impl FaultInjector {
    /// Fails the next `times` attempts of `operation` (`Service.Operation`).
    pub fn fail(&self, operation: &str, fault: Fault, times: usize) {
        self.rules.lock().expect("fault rules").push(Rule {
            operation: operation.to_string(),
            fault,
            remaining: times,
        });
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().expect("fault rules").clear();
    }

    /// The operations failed so far, in order.
    pub fn injected(&self) -> Vec<String> {
        self.injected.lock().expect("injected").clone()
    }

    fn take(&self, operation: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().expect("fault rules");
        let rule = rules.iter_mut().find(|r| r.operation == operation && r.remaining > 0)?;
        rule.remaining -= 1;
        let fault = rule.fault;
        drop(rules);
        self.injected.lock().expect("injected").push(operation.to_string());
        Some(fault)
    }
}

fn operation(cfg: &ConfigBag) -> (String, &'static str) {
    cfg.load::<Metadata>()
        .map(|m| {
            let service: &'static str = match m.service() {
                "DynamoDB" => "DynamoDB",
                "SQS" => "SQS",
                _ => "Secrets Manager",
            };
            (format!("{}.{}", m.service(), m.name()), service)
        })
        .unwrap_or_else(|| ("unknown.unknown".into(), "unknown"))
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (op, service) = operation(cfg);
        match self.take(&op) {
            None => Ok(()),
            Some(Fault::Unreachable) => Err(format!("injected fault: {op} did not reach the service").into()),
            Some(Fault::Throttled) => {
                // A harmless listing goes out instead, so the emulator changes nothing.
                let harmless = match service {
                    "DynamoDB" => "DynamoDB_20120810.ListTables",
                    "SQS" => "AmazonSQS.ListQueues",
                    _ => "secretsmanager.ListSecrets",
                };
                let req = context.request_mut();
                req.headers_mut().insert("x-amz-target", harmless);
                *req.body_mut() = SdkBody::from("{}");
                req.headers_mut().insert("content-length", "2");
                cfg.interceptor_state().store_put(Injected(Fault::Throttled, service));
                Ok(())
            }
        }
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Injected(Fault::Throttled, service)) = cfg.load::<Injected>().copied() else {
            return Ok(());
        };
        let (code, type_prefix) = match service {
            "DynamoDB" => (
                "ProvisionedThroughputExceededException",
                "com.amazonaws.dynamodb.v20120810#",
            ),
            "SQS" => ("RequestThrottled", "com.amazonaws.sqs#"),
            _ => ("ThrottlingException", ""),
        };
        let body = format!(r#"{{"__type":"{type_prefix}{code}","message":"Rate exceeded (injected)"}}"#);
        let mut resp = Response::new(StatusCode::try_from(400).expect("valid status"), SdkBody::from(body));
        resp.headers_mut().insert("content-type", "application/x-amz-json-1.0");
        resp.headers_mut()
            .insert("x-amzn-query-error", format!("AWS.SimpleQueueService.{code};Sender"));
        *context.response_mut() = resp;
        Ok(())
    }
}
