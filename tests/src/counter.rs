//! Counts the AWS requests a client sends, by service and operation, through an SDK interceptor:
//! the real client, the real wire, just counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Request counts keyed by `Service.Operation` (for example `DynamoDB.PutItem`).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, usize>>>);

impl RequestCounter {
    pub fn reset(&self) {
        self.0.lock().expect("counter lock").clear();
    }
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.0.lock().expect("counter lock").clone()
    }
    pub fn count(&self, key: &str) -> usize {
        self.0.lock().expect("counter lock").get(key).copied().unwrap_or(0)
    }
    /// All requests to a service (`DynamoDB`, `SQS`, `Secrets Manager`).
    pub fn service_total(&self, service: &str) -> usize {
        self.0
            .lock()
            .expect("counter lock")
            .iter()
            .filter(|(k, _)| k.split_once('.').map(|(s, _)| s) == Some(service))
            .map(|(_, v)| v)
            .sum()
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown.unknown".into());
        *self.0.lock().expect("counter lock").entry(key).or_default() += 1;
        Ok(())
    }
}
