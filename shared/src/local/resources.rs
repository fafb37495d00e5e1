//! Reads the DynamoDB tables and SQS queues that `infra/template.yaml` declares and creates them
//! in the emulator (moto). Only what the emulator needs is read: names, keys, indexes, TTL,
//! visibility timeouts and redrive policies.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;

use crate::aws::AwsClients;

/// The template as shipped, embedded so the CLI works from any directory.
pub const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// A problem reading the template.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("infra/template.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("infra/template.yaml: {resource}: {reason}")]
    Resource { resource: String, reason: String },
}

/// A table as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    pub name: String,
    /// (name, type) pairs: `S`, `N` or `B`.
    pub attributes: Vec<(String, String)>,
    /// (attribute, `HASH`/`RANGE`) pairs.
    pub key_schema: Vec<(String, String)>,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
}

/// A global secondary index as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    /// (attribute, `HASH`/`RANGE`) pairs.
    pub keys: Vec<(String, String)>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
    /// The attributes an `INCLUDE` projection adds.
    pub include: Vec<String>,
}

/// A queue as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub name: String,
    pub visibility_timeout: Option<i64>,
    pub retention_secs: Option<i64>,
    /// Dead-letter queue logical id and maxReceiveCount.
    pub redrive: Option<(String, i64)>,
}

/// Every table and queue of the template, and each function's timeout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    /// `Timeout` (its own or the global one) in seconds, by the function's binary name
    /// (`Metadata.BuildProperties.Binary`), so the local runner gives handlers the deadline Lambda
    /// would.
    pub function_timeouts: BTreeMap<String, u64>,
}

impl Resources {
    /// A function's timeout; `None` when the template has no such function.
    pub fn function_timeout(&self, binary: &str) -> Option<std::time::Duration> {
        self.function_timeouts
            .get(binary)
            .map(|s| std::time::Duration::from_secs(*s))
    }
}

/// What was created: physical names and URLs by logical id.
#[derive(Debug, Clone, Default)]
pub struct Created {
    pub tables: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
    pub queue_arns: BTreeMap<String, String>,
}

impl Created {
    pub fn table(&self, logical_id: &str) -> Option<&str> {
        self.tables.get(logical_id).map(String::as_str)
    }
    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.queue_urls.get(logical_id).map(String::as_str)
    }
}

fn err(resource: &str, reason: impl Into<String>) -> TemplateError {
    TemplateError::Resource {
        resource: resource.to_string(),
        reason: reason.into(),
    }
}

/// Resolves a name that is a plain string or `!Sub` with `${Stage}` only.
fn resolve_name(resource: &str, v: &Value, stage: &str) -> Result<String, TemplateError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Tagged(t) if t.tag == "!Sub" => {
            let text = t
                .value
                .as_str()
                .ok_or_else(|| err(resource, "!Sub of a non-string is not supported locally"))?;
            let out = text.replace("${Stage}", stage);
            if out.contains("${") {
                return Err(err(
                    resource,
                    format!("cannot resolve {text:?} locally (only ${{Stage}})"),
                ));
            }
            Ok(out)
        }
        _ => Err(err(resource, "name must be a string or !Sub")),
    }
}

fn pairs(resource: &str, v: Option<&Value>, a: &str, b: &str) -> Result<Vec<(String, String)>, TemplateError> {
    let list = v
        .and_then(Value::as_sequence)
        .ok_or_else(|| err(resource, format!("expected a list of {a}/{b}")))?;
    list.iter()
        .map(|e| {
            let x = e.get(a).and_then(Value::as_str);
            let y = e.get(b).and_then(Value::as_str);
            match (x, y) {
                (Some(x), Some(y)) => Ok((x.to_string(), y.to_string())),
                _ => Err(err(resource, format!("each entry needs {a} and {b}"))),
            }
        })
        .collect()
}

/// Reads the tables and queues of a SAM template, naming them for `stage`.
pub fn parse(template: &str, stage: &str) -> Result<Resources, TemplateError> {
    let doc: Value = serde_yaml::from_str(template).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError::Yaml("no Resources section".into()))?;
    let mut out = Resources::default();
    for (id, res) in resources {
        let id = id.as_str().unwrap_or_default().to_string();
        let props = res.get("Properties");
        match res.get("Type").and_then(Value::as_str) {
            Some("AWS::DynamoDB::Table") => {
                let props = props.ok_or_else(|| err(&id, "no Properties"))?;
                let name = match props.get("TableName") {
                    Some(v) => resolve_name(&id, v, stage)?,
                    None => format!("{id}-{stage}"),
                };
                let indexes = match props.get("GlobalSecondaryIndexes").and_then(Value::as_sequence) {
                    None => vec![],
                    Some(list) => list
                        .iter()
                        .map(|g| {
                            let name = g
                                .get("IndexName")
                                .and_then(Value::as_str)
                                .ok_or_else(|| err(&id, "an index has no IndexName"))?;
                            let projection = g.get("Projection");
                            Ok(IndexSpec {
                                name: name.to_string(),
                                keys: pairs(&id, g.get("KeySchema"), "AttributeName", "KeyType")?,
                                projection: projection
                                    .and_then(|p| p.get("ProjectionType"))
                                    .and_then(Value::as_str)
                                    .unwrap_or("ALL")
                                    .to_string(),
                                include: projection
                                    .and_then(|p| p.get("NonKeyAttributes"))
                                    .and_then(Value::as_sequence)
                                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                                    .unwrap_or_default(),
                            })
                        })
                        .collect::<Result<_, TemplateError>>()?,
                };
                let ttl = props
                    .get("TimeToLiveSpecification")
                    .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
                    .and_then(|t| t.get("AttributeName"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                out.tables.push(TableSpec {
                    attributes: pairs(&id, props.get("AttributeDefinitions"), "AttributeName", "AttributeType")?,
                    key_schema: pairs(&id, props.get("KeySchema"), "AttributeName", "KeyType")?,
                    logical_id: id,
                    name,
                    indexes,
                    ttl_attribute: ttl,
                });
            }
            Some("AWS::Serverless::Function") => {
                let binary = res
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str);
                let timeout = props
                    .and_then(|p| p.get("Timeout"))
                    .or_else(|| {
                        doc.get("Globals")
                            .and_then(|g| g.get("Function"))
                            .and_then(|f| f.get("Timeout"))
                    })
                    .and_then(Value::as_u64);
                if let (Some(binary), Some(timeout)) = (binary, timeout) {
                    out.function_timeouts.insert(binary.to_string(), timeout);
                }
            }
            Some("AWS::SQS::Queue") => {
                let name = match props.and_then(|p| p.get("QueueName")) {
                    Some(v) => resolve_name(&id, v, stage)?,
                    None => format!("{id}-{stage}"),
                };
                let int = |key: &str| props.and_then(|p| p.get(key)).and_then(Value::as_i64);
                let redrive = match props.and_then(|p| p.get("RedrivePolicy")) {
                    None => None,
                    Some(r) => {
                        let target = match r.get("deadLetterTargetArn") {
                            Some(Value::Tagged(t)) if t.tag == "!GetAtt" => t
                                .value
                                .as_str()
                                .and_then(|s| s.strip_suffix(".Arn"))
                                .map(str::to_string),
                            _ => None,
                        }
                        .ok_or_else(|| err(&id, "deadLetterTargetArn must be !GetAtt <Queue>.Arn"))?;
                        let max = r
                            .get("maxReceiveCount")
                            .and_then(Value::as_i64)
                            .ok_or_else(|| err(&id, "RedrivePolicy needs maxReceiveCount"))?;
                        Some((target, max))
                    }
                };
                out.queues.push(QueueSpec {
                    logical_id: id,
                    name,
                    visibility_timeout: int("VisibilityTimeout"),
                    retention_secs: int("MessageRetentionPeriod"),
                    redrive,
                });
            }
            _ => {}
        }
    }
    // Dead-letter queues first, so redrive targets exist when their sources are created.
    let targets: Vec<String> = out
        .queues
        .iter()
        .filter_map(|q| q.redrive.as_ref().map(|r| r.0.clone()))
        .collect();
    out.queues.sort_by_key(|q| !targets.contains(&q.logical_id));
    for q in &out.queues {
        if let Some((target, _)) = &q.redrive {
            if !out.queues.iter().any(|t| &t.logical_id == target) {
                return Err(err(
                    &q.logical_id,
                    format!("redrive target {target} is not a queue of the template"),
                ));
            }
        }
    }
    Ok(out)
}

/// A failure creating a resource in the emulator.
#[derive(Debug, thiserror::Error)]
#[error("creating {resource} failed: {message}")]
pub struct CreateError {
    pub resource: String,
    pub message: String,
}

fn create_err(resource: &str, e: impl std::error::Error + 'static) -> CreateError {
    CreateError {
        resource: resource.to_string(),
        message: crate::aws::describe_error(&e),
    }
}

fn key(name: &str, kind: &str) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(if kind == "RANGE" { KeyType::Range } else { KeyType::Hash })
        .build()
        .expect("key schema element has its fields")
}

/// Attempts per creating call. The emulator sometimes fails a call on a pooled connection
/// (hyper's "received unexpected message from connection", a dispatch failure the SDK does not
/// retry); one such failure must not stop `switchyard local up` or a test's set-up.
const CREATE_ATTEMPTS: u32 = 5;

/// Sends `call` until it succeeds, fails for a reason retrying cannot change, or has been tried
/// [`CREATE_ATTEMPTS`] times (50 ms, then doubling, between tries). Every creating call here is
/// safe to repeat: an existing table answers `ResourceInUseException`, which the caller keeps,
/// and `CreateQueue` with the same attributes returns the existing queue.
async fn with_retries<T, E, R, F, Fut>(mut call: F) -> Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>>,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::aws::HttpStatus + std::fmt::Debug + 'static,
{
    let mut delay = std::time::Duration::from_millis(50);
    for _ in 1..CREATE_ATTEMPTS {
        match call().await {
            Err(e) if crate::aws::classify_sdk_error(&e).is_retriable() => {
                tracing::warn!(error = %crate::aws::describe_error(&e), "creating a local resource failed; trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            done => return done,
        }
    }
    call().await
}

/// Creates every table and queue (existing ones are kept) and returns their names and URLs.
pub async fn create(clients: &AwsClients, resources: &Resources) -> Result<Created, CreateError> {
    let mut created = Created::default();
    for t in &resources.tables {
        let mut req = clients
            .dynamodb
            .create_table()
            .table_name(&t.name)
            .billing_mode(BillingMode::PayPerRequest);
        for (name, ty) in &t.attributes {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(ty.as_str()))
                    .build()
                    .expect("attribute definition has its fields"),
            );
        }
        for (name, kind) in &t.key_schema {
            req = req.key_schema(key(name, kind));
        }
        for index in &t.indexes {
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(index.projection.as_str()))
                .set_non_key_attributes((!index.include.is_empty()).then(|| index.include.clone()))
                .build();
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .projection(projection);
            for (name, kind) in &index.keys {
                gsi = gsi.key_schema(key(name, kind));
            }
            req = req.global_secondary_indexes(gsi.build().expect("index has its fields"));
        }
        match with_retries(|| req.clone().send()).await {
            Ok(_) => {
                if let Some(attr) = &t.ttl_attribute {
                    let ttl = clients
                        .dynamodb
                        .update_time_to_live()
                        .table_name(&t.name)
                        .time_to_live_specification(
                            TimeToLiveSpecification::builder()
                                .attribute_name(attr)
                                .enabled(true)
                                .build()
                                .expect("ttl spec has its fields"),
                        );
                    with_retries(|| ttl.clone().send())
                        .await
                        .map_err(|e| create_err(&t.logical_id, e))?;
                }
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(create_err(&t.logical_id, e)),
        }
        created.tables.insert(t.logical_id.clone(), t.name.clone());
    }
    for q in &resources.queues {
        let mut req = clients.sqs.create_queue().queue_name(&q.name);
        if let Some(v) = q.visibility_timeout {
            req = req.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        if let Some(v) = q.retention_secs {
            req = req.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
        }
        if let Some((target, max)) = &q.redrive {
            let arn = created
                .queue_arns
                .get(target)
                .ok_or_else(|| create_err(&q.logical_id, std::fmt::Error))?;
            let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max.to_string()});
            req = req.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = with_retries(|| req.clone().send())
            .await
            .map_err(|e| create_err(&q.logical_id, e))?
            .queue_url
            .unwrap_or_default();
        let get_arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn);
        let arn = with_retries(|| get_arn.clone().send())
            .await
            .map_err(|e| create_err(&q.logical_id, e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        created.queue_urls.insert(q.logical_id.clone(), url);
        created.queue_arns.insert(q.logical_id.clone(), arn);
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_template_declares_the_table_and_queues_the_code_uses() {
        let res = parse(TEMPLATE, "test").unwrap();
        let table = res.tables.iter().find(|t| t.logical_id == "Table").expect("Table");
        assert_eq!(table.name, "switchyard-test");
        assert_eq!(
            table.key_schema,
            [
                (crate::store::table::PK.to_string(), "HASH".to_string()),
                (crate::store::table::SK.to_string(), "RANGE".to_string())
            ]
        );
        assert_eq!(table.indexes[0].name, crate::store::table::GSI1);
        assert_eq!(table.ttl_attribute.as_deref(), Some(crate::store::table::EXPIRES_AT));
        let sync = res
            .queues
            .iter()
            .find(|q| q.logical_id == "SyncQueue")
            .expect("SyncQueue");
        assert_eq!(sync.redrive.as_ref().map(|r| r.0.as_str()), Some("SyncDeadLetterQueue"));
        let dlq_at = res
            .queues
            .iter()
            .position(|q| q.logical_id == "SyncDeadLetterQueue")
            .unwrap();
        let sync_at = res.queues.iter().position(|q| q.logical_id == "SyncQueue").unwrap();
        assert!(dlq_at < sync_at, "dead-letter queues are created first");
    }

    #[test]
    fn function_timeouts_come_from_the_function_or_the_globals() {
        let t = "Globals:\n  Function:\n    Timeout: 10\nResources:\n  A:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: a\n    Properties:\n      Timeout: 900\n  B:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: b\n";
        let res = parse(t, "x").unwrap();
        assert_eq!(res.function_timeout("a"), Some(std::time::Duration::from_secs(900)));
        assert_eq!(res.function_timeout("b"), Some(std::time::Duration::from_secs(10)));
        assert_eq!(res.function_timeout("c"), None);
        let shipped = parse(TEMPLATE, "test").unwrap();
        for f in ["webhook-receiver", "connector-sync", "retry-handler", "health-checker"] {
            assert!(
                shipped.function_timeout(f).is_some(),
                "{f} has no timeout in the template"
            );
        }
    }

    #[test]
    fn unresolvable_names_are_reported_with_the_resource() {
        let t =
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub ${AWS::StackName}-q\n";
        let e = parse(t, "x").unwrap_err();
        assert!(
            matches!(e, TemplateError::Resource { ref resource, .. } if resource == "Q"),
            "{e}"
        );
    }

    #[test]
    fn redrive_to_a_missing_queue_is_an_error() {
        let t = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt Nope.Arn\n        maxReceiveCount: 3\n";
        assert!(parse(t, "x").unwrap_err().to_string().contains("Nope"));
    }
}
