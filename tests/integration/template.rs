//! infra/template.yaml: it lints clean, every function's environment points at resources that
//! exist, and every role grants exactly the actions its function's code uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    serde_yaml::from_str(switchyard::local::resources::TEMPLATE).expect("the template is YAML")
}

fn resources(t: &Value) -> &serde_yaml::Mapping {
    t["Resources"].as_mapping().expect("Resources")
}

/// Every function and the role it runs as.
fn functions(t: &Value) -> Vec<(String, &Value, String)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let role = match &r["Properties"]["Role"] {
                Value::Tagged(tag) if tag.tag == "!GetAtt" => tag
                    .value
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches(".Arn")
                    .to_string(),
                other => panic!("{id:?}: Role must be !GetAtt <its own role>.Arn, got {other:?}"),
            };
            (id.as_str().unwrap().to_string(), r, role)
        })
        .collect()
}

/// What each function's code calls (see the modules named), as IAM actions.
fn used_actions() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let logs = ["logs:CreateLogStream", "logs:PutLogEvents"];
    BTreeMap::from([
        (
            // shared/src/health: a Query of the sched index pages connections (store/connections.rs scan_page), health
            // and inbound baselines are recorded with conditional UpdateItems, a Query of the webhook_log index
            // counts inbound events per hour (health/inbound.rs), credentials for checks and token refresh;
            // connection.state_changed events (shared/src/subscriptions: a gsi1 Query, SendMessage,
            // and BatchWriteItem into the webhook outbox when the queue refuses them); a tenant
            // connector's latest definition for a check (store/tenant_connectors.rs: GetItem).
            "HealthCheckerFunction",
            logs.iter()
                .copied()
                .chain([
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                    "sqs:SendMessage",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                ])
                .collect(),
        ),
        (
            // shared/src/api: keys, rate-limit windows, connections, flows, jobs, dead letters,
            // the audit log and Idempotency-Key claims (GetItem/PutItem/UpdateItem/DeleteItem/
            // Query), runs and replays (SendMessage), connection secrets created and deleted,
            // read by a connection test (which may store a refreshed token) and rotated. A flow
            // and its audit entry go in one TransactWriteItems, whose Puts IAM authorises as
            // PutItem (there is no TransactWriteItems action to grant).
            "ApiFunction",
            logs.iter()
                .copied()
                .chain([
                    "dynamodb:GetItem",
                    // Connections by the page (`get_many`); a person's items in an export.
                    "dynamodb:BatchGetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    // A person's items erased, their pointers with them.
                    "dynamodb:BatchWriteItem",
                    "dynamodb:Query",
                    "sqs:SendMessage",
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                ])
                .collect(),
        ),
        (
            // shared/src/retry/dead_letter_queue.rs: the DLQ event source, retries to the sync
            // queue, parking under DEAD#; dead_letter.parked events (the tenant by GetItem, its
            // subscriptions by a gsi1 Query, shared/src/subscriptions/emit.rs; BatchWriteItem into
            // the webhook outbox when the queue refuses a delivery).
            "RetryHandlerFunction",
            logs.iter()
                .copied()
                .chain([
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                    "sqs:SendMessage",
                    "dynamodb:PutItem",
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:BatchWriteItem",
                ])
                .collect(),
        ),
        (
            // shared/src/receiver: connection GetItem, event PutItem (+ DeleteItem when it
            // cannot be enqueued), SendMessage, the webhook secret; a handshake's claim
            // (UpdateItem) and the secret it sets (PutSecretValue).
            "WebhookReceiverFunction",
            logs.iter()
                .copied()
                .chain([
                    "dynamodb:GetItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                    "sqs:SendMessage",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                ])
                .collect(),
        ),
        (
            // shared/src/sync: store/{connections,flows,jobs,links,events}.rs, the SQS event
            // source mapping, continuations, credentials and rotated tokens (sync/clients.rs);
            // the webhook outbox (store/outbox.rs: kept, read, claimed, removed with DeleteItem).
            "ConnectorSyncFunction",
            logs.iter()
                .copied()
                .chain([
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:DeleteItem",
                    // gsi1 (tenant flows), and shared/src/dispatch.rs: due flows and pending
                    // events from the sparse sched and pending indexes, and the webhook outbox.
                    "dynamodb:Query",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                    "sqs:SendMessage",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                ])
                .collect(),
        ),
    ])
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

#[test]
fn template_passes_cfn_lint_without_errors_or_warnings() {
    let lint = root().join(".venv/bin/cfn-lint");
    assert!(
        lint.exists(),
        "cfn-lint is missing ({}): run `make test` or `scripts/setup-venv.sh`, which install it from requirements-dev.txt",
        lint.display()
    );
    let out = Command::new(&lint)
        .arg(root().join("infra/template.yaml"))
        .output()
        .expect("cfn-lint runs");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "cfn-lint reports:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The resources and parameters an environment value refers to: `!Ref`, `!GetAtt`, and both
/// branches of an `!If` whose condition the template declares. `!Sub` names are not read.
fn env_targets(t: &Value, at: &str, value: &Value) -> Vec<String> {
    match value {
        Value::Tagged(tag) if tag.tag == "!Ref" => tag.value.as_str().map(str::to_string).into_iter().collect(),
        Value::Tagged(tag) if tag.tag == "!GetAtt" => tag
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_string)
            .into_iter()
            .collect(),
        Value::Tagged(tag) if tag.tag == "!Sub" => Vec::new(),
        Value::Tagged(tag) if tag.tag == "!If" => {
            let parts = tag
                .value
                .as_sequence()
                .unwrap_or_else(|| panic!("{at}: !If takes a list"));
            let condition = parts
                .first()
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{at}: !If names no condition"));
            assert!(
                t["Conditions"].get(condition).is_some(),
                "{at}: !If on {condition}, which the template does not declare"
            );
            parts
                .iter()
                .skip(1)
                .flat_map(|branch| env_targets(t, at, branch))
                .collect()
        }
        Value::Tagged(tag) => panic!("{at}: unexpected {}", tag.tag),
        _ => Vec::new(),
    }
}

#[test]
fn function_environments_refer_to_resources_that_exist() {
    let t = template();
    let known: BTreeSet<String> = resources(&t)
        .keys()
        .chain(
            t["Parameters"]
                .as_mapping()
                .map(|m| m.keys().collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let fns = functions(&t);
    assert!(fns.len() >= 2, "the template declares the functions");
    for (id, f, _) in &fns {
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{id} has no environment"));
        let required: &[&str] = match id.as_str() {
            // shared/src/health/config.rs
            "HealthCheckerFunction" => &["TABLE_NAME"],
            // config.rs (ReceiverConfig, SyncConfig), retry/dead_letter_queue.rs (RetryConfig)
            _ => &["TABLE_NAME", "SYNC_QUEUE_URL"],
        };
        for name in required {
            assert!(vars.contains_key(*name), "{id} lacks {name}, which its config requires");
        }
        for (name, value) in vars {
            for target in env_targets(&t, &format!("{id}.{name:?}"), value) {
                assert!(
                    known.contains(&target),
                    "{id}.{name:?} refers to {target}, which the template does not declare"
                );
            }
        }
    }
}

#[test]
fn each_role_grants_exactly_what_its_function_uses_and_nothing_broad() {
    let t = template();
    let expected = used_actions();
    let fns = functions(&t);
    assert_eq!(
        fns.iter().map(|(id, _, _)| id.as_str()).collect::<BTreeSet<_>>(),
        expected.keys().copied().collect::<BTreeSet<_>>(),
        "every function has its expected actions listed in this test"
    );
    for (id, f, role_id) in fns {
        assert!(
            f["Properties"].get("Policies").is_none(),
            "{id}: use its own role, not SAM Policies"
        );
        let role = &resources(&t)[role_id.as_str()];
        assert_eq!(
            role["Type"].as_str(),
            Some("AWS::IAM::Role"),
            "{id}: {role_id} is a role"
        );
        assert!(
            role["Properties"].get("ManagedPolicyArns").is_none(),
            "{id}: no managed policies (they grant on *)"
        );
        let mut granted = BTreeSet::new();
        for policy in as_list(&role["Properties"]["Policies"]) {
            for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
                assert_eq!(statement["Effect"].as_str(), Some("Allow"));
                for action in as_list(&statement["Action"]) {
                    let action = action.as_str().expect("actions are strings");
                    assert!(!action.contains('*'), "{id}: wildcard action {action}");
                    granted.insert(action.to_string());
                }
                for resource in as_list(&statement["Resource"]) {
                    assert_ne!(
                        resource.as_str(),
                        Some("*"),
                        "{id}: a statement grants on every resource"
                    );
                }
            }
        }
        let want: BTreeSet<String> = expected[id.as_str()].iter().map(|a| a.to_string()).collect();
        let extra: Vec<_> = granted.difference(&want).collect();
        let missing: Vec<_> = want.difference(&granted).collect();
        assert!(
            extra.is_empty(),
            "{id} is granted actions its code does not use: {extra:?}"
        );
        assert!(missing.is_empty(), "{id} lacks actions its code uses: {missing:?}");
    }
}

/// A function's `Timeout`, or the template's global one.
fn timeout_secs(t: &Value, function: &Value) -> u64 {
    function["Properties"]["Timeout"]
        .as_u64()
        .or_else(|| t["Globals"]["Function"]["Timeout"].as_u64())
        .expect("every function has a Timeout (its own or the global one)")
}

#[test]
fn every_queue_hides_a_message_for_at_least_six_of_its_consumers_timeouts() {
    // AWS's guidance for SQS event sources: a message must stay invisible while its consumer can
    // still be working on it, with room for retries of the batch; otherwise it is delivered twice.
    let t = template();
    let mut consumers = 0;
    for (id, f, _) in functions(&t) {
        let timeout = timeout_secs(&t, f);
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (name, event) in events {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            let queue = match &event["Properties"]["Queue"] {
                Value::Tagged(tag) if tag.tag == "!GetAtt" => tag
                    .value
                    .as_str()
                    .and_then(|s| s.strip_suffix(".Arn"))
                    .unwrap_or_default()
                    .to_string(),
                other => panic!("{id}.{name:?}: Queue must be !GetAtt <queue>.Arn, got {other:?}"),
            };
            let visibility = resources(&t)
                .get(queue.as_str())
                .and_then(|q| q["Properties"]["VisibilityTimeout"].as_u64())
                .unwrap_or_else(|| panic!("{queue} (consumed by {id}) sets no VisibilityTimeout"));
            assert!(
                visibility >= 6 * timeout,
                "{queue}'s VisibilityTimeout {visibility} s is under six times {id}'s Timeout {timeout} s"
            );
            consumers += 1;
        }
    }
    assert!(consumers >= 2, "connector-sync and retry-handler consume queues");
}

/// `switchyard local up` and every test's set-up create the template's resources in the
/// emulator. A call the emulator fails on the way (moto has answered a pooled connection with
/// "received unexpected message from connection", which the SDK does not retry) is tried again
/// rather than ending the start-up.
#[tokio::test]
async fn creating_the_local_resources_survives_calls_that_fail_on_the_way() {
    use switchyard_tests::faults::Fault;
    let env = switchyard_tests::TestEnv::new().await;
    // Each creating call fails on its first four attempts: more than the SDK's own retries
    // (3 attempts, when it retries this failure at all) absorb.
    for op in [
        "DynamoDB.CreateTable",
        "DynamoDB.UpdateTimeToLive",
        "SQS.CreateQueue",
        "SQS.GetQueueAttributes",
    ] {
        env.faults.fail(op, Fault::Unreachable, 4);
    }
    let ulid = ulid::Ulid::new().to_string().to_lowercase();
    let stage = format!("r{}", &ulid[ulid.len() - 12..]);
    let resources = switchyard::local::resources::parse(switchyard::local::resources::TEMPLATE, &stage)
        .expect("infra/template.yaml parses");
    let created = switchyard::local::resources::create(&env.clients, &resources)
        .await
        .expect("the resources are created despite the failed attempts");
    let injected = env.faults.injected();
    for op in [
        "DynamoDB.CreateTable",
        "DynamoDB.UpdateTimeToLive",
        "SQS.CreateQueue",
        "SQS.GetQueueAttributes",
    ] {
        assert_eq!(
            injected.iter().filter(|i| *i == op).count(),
            4,
            "{op} failed four times and was tried again: {injected:?}"
        );
    }
    let table = created.table("Table").expect("the table was created");
    env.clients
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("the table exists in the emulator");
    for q in ["SyncQueue", "SyncDeadLetterQueue"] {
        let url = created.queue_url(q).expect("the queue was created");
        assert!(url.contains(&stage), "{q}'s URL names the stage: {url}");
    }
}
