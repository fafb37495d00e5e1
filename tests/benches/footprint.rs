//! Footprint of the four function binaries, for sizing their Lambda MemorySize and Timeout.
//!
//! Builds the release binaries (`cargo build --release -p webhook-receiver -p connector-sync
//! -p retry-handler -p health-checker`), then runs each one as Lambda would: its own process,
//! Lambda's environment, one event at a time through a local Runtime API
//! (`switchyard_tests::runtime_api`), against moto, localstripe and the in-repo fakes. SQS-fed
//! functions are driven like an event source mapping (batches of up to 10 received from the
//! emulator's queue, deleted unless reported in `batchItemFailures`). Per scenario it prints
//! peak RSS (`VmHWM`, read just before the process is killed), CPU time (`utime + stime`) and
//! invocation durations (event handed out on `GET /next` to its `POST /response`), and it checks
//! the outcomes so that a broken run fails instead of printing figures.
//!
//!     cargo bench -p switchyard-tests --bench footprint
//!     FOOTPRINT_SCENARIOS=webhook,retry cargo bench -p switchyard-tests --bench footprint
//!
//! Sizes (defaults in parentheses): FOOTPRINT_WEBHOOK_EVENTS (2000), FOOTPRINT_WEBHOOK_LARGE_EVERY
//! (50: every 50th body is ~250 KB, the others ~10 KB), FOOTPRINT_SYNC_CUSTOMERS (5000),
//! FOOTPRINT_INBOUND_EVENTS (500), FOOTPRINT_DLQ_MESSAGES (1000), FOOTPRINT_HEALTH_CONNECTIONS
//! (1000). Scenarios: webhook, sync, inbound, retry, health (FOOTPRINT_SCENARIOS, default all).
//!
//! Profiles: `FOOTPRINT_CARGO_PROFILE=profiling` builds the binaries with the `profiling` cargo
//! profile (release with symbols), and `FOOTPRINT_PERF=1` attaches `perf record` to the webhook
//! and sync functions after their cold start, so the profile holds warm invocations only; the
//! run prints where each `perf.data` went. `FOOTPRINT_CARGO_FEATURES` is passed to that build as
//! `--features` (`switchyard/system-allocator` measures glibc's malloc in place of mimalloc).
//! `FOOTPRINT_BIN_DIR` runs the four binaries already built in that directory instead of
//! building them, so two builds (one copied aside) can be run alternately, A B A B.
//!
//! Under `cargo test` (no `--bench`) it builds the debug binaries (a no-op when they are fresh)
//! and runs every scenario with a handful of events, to prove the harness works; those figures
//! mean nothing. Memory and timeout come from infra/template.yaml.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use switchyard::admin::{create_connection, NewWebhookSecrets};
use switchyard::clock::{Clock, SystemClock};
use switchyard::config::{ReceiverConfig, SyncConfig};
use switchyard::connector::{ErrorClass, Registry};
use switchyard::receiver::{self, ReceiverDeps};
use switchyard::retry::{decide, Decision, RetryPolicy};
use switchyard::secrets::SecretStore;
use switchyard::store::connections::{Connection, ConnectionStore, WebhookSettings};
use switchyard::store::dead_letters::{DeadLetterFilter, DeadLetterStore};
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::sync::{self, SyncDeps};
use switchyard::webhook::{self, Scheme, SignInput};
use switchyard_fakes::hubspot::{self, Hubspot, HubspotConfig, ObjectType, PropertySchema};
use switchyard_fakes::{FakeHandle, FaultConfig, RateLimit, TimeoutMode};
use switchyard_tests::localstripe::{self, LocalStripe, API_KEY};
use switchyard_tests::runtime_api::{Footprint, FunctionProcess, FunctionSpec, SqsEventSource};
use switchyard_tests::TestEnv;

const FUNCTIONS: [&str; 4] = ["webhook-receiver", "connector-sync", "retry-handler", "health-checker"];

/// MemorySize (MB, passed as AWS_LAMBDA_FUNCTION_MEMORY_SIZE) and Timeout (s, the deadline of
/// every event) of a function, read from infra/template.yaml so the bench runs what deploys.
fn lambda_settings(function: &str) -> (u32, u64) {
    let template: serde_yaml::Value =
        serde_yaml::from_str(switchyard::local::resources::TEMPLATE).expect("the template is YAML");
    let resources = template["Resources"].as_mapping().expect("the template has Resources");
    let props = resources
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function))
        .map(|r| &r["Properties"])
        .unwrap_or_else(|| panic!("infra/template.yaml has no {function} function"));
    let setting = |key: &str| {
        props[key]
            .as_u64()
            .or_else(|| template["Globals"]["Function"][key].as_u64())
            .unwrap_or_else(|| panic!("{function} has no {key} in infra/template.yaml"))
    };
    (setting("MemorySize") as u32, setting("Timeout"))
}

/// Stripe customer -> HubSpot contact: the demo flow's mapping (cli/src/local/demo.rs).
const MAPPING: &str = r#"((.name // "") | split(" ")) as $name
| { properties: {
    email: .email,
    firstname: ($name[0] // ""),
    lastname: ($name[1:] | join(" ")),
    stripe_customer_id: .id
} }"#;

/// The webhook body limit (WEBHOOK_MAX_BODY_BYTES' default).
const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long an SQS-fed scenario may go without receiving a message while its queue still
/// holds some, before it is declared stuck.
const STALL_LIMIT: Duration = Duration::from_secs(120);

struct Sizes {
    webhook_events: usize,
    webhook_large_every: usize,
    sync_customers: usize,
    inbound_events: usize,
    dlq_messages: usize,
    health_connections: usize,
}

impl Sizes {
    fn from_env(smoke: bool) -> Self {
        let size = |name: &str, full: usize, small: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().replace('_', "").parse().ok())
                .unwrap_or(if smoke { small } else { full })
        };
        Self {
            webhook_events: size("FOOTPRINT_WEBHOOK_EVENTS", 2000, 6),
            webhook_large_every: size("FOOTPRINT_WEBHOOK_LARGE_EVERY", 50, 3),
            sync_customers: size("FOOTPRINT_SYNC_CUSTOMERS", 5000, 30),
            inbound_events: size("FOOTPRINT_INBOUND_EVENTS", 500, 5),
            dlq_messages: size("FOOTPRINT_DLQ_MESSAGES", 1000, 12),
            // Fewer than 10 leaves out the connections that hang past the check timeout.
            health_connections: size("FOOTPRINT_HEALTH_CONNECTIONS", 1000, 9),
        }
    }
}

/// One scenario's result.
struct Row {
    function: &'static str,
    scenario: String,
    footprint: Footprint,
    /// Bad outcomes that were not function errors: a non-200, a batch item failure.
    failures: usize,
    /// First event handed out (sync job: enqueued) to the last answer, event-source polling included.
    wall: Duration,
    notes: Vec<String>,
    problems: Vec<String>,
}

impl Row {
    fn errors(&self) -> usize {
        self.footprint.function_errors() + self.failures
    }
}

fn main() {
    // `cargo test --benches` runs bench targets too: keep that run to a smoke-sized one.
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let sizes = Sizes::from_env(smoke);
    let selected: Vec<String> = std::env::var("FOOTPRINT_SCENARIOS")
        .unwrap_or_else(|_| "webhook,sync,inbound,retry,health".into())
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for s in &selected {
        assert!(
            ["webhook", "sync", "inbound", "retry", "health"].contains(&s.as_str()),
            "FOOTPRINT_SCENARIOS: unknown scenario {s:?} (webhook, sync, inbound, retry, health)"
        );
    }

    let started = Instant::now();
    let binaries = build_functions(!smoke);
    let log_dir = binaries["webhook-receiver"]
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"))
        .join("footprint")
        .join(ulid::Ulid::new().to_string().to_lowercase());
    println!();
    println!(
        "footprint: {} binaries; function output goes to {}/",
        if smoke {
            "DEBUG (smoke run under `cargo test`: the figures mean nothing)".to_string()
        } else if let Some(dir) = bin_dir() {
            format!("prebuilt ({})", dir.display())
        } else {
            let profile = std::env::var("FOOTPRINT_CARGO_PROFILE").unwrap_or_else(|_| "release".into());
            match cargo_features() {
                Some(features) => format!("{profile} (features {features})"),
                None => profile,
            }
        },
        log_dir.display()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds");
    let results = rt.block_on(async {
        start_aws_endpoint().await;
        let mut results: Vec<(&str, anyhow::Result<Row>)> = Vec::new();
        for name in &selected {
            let bin = |f: &str| binaries[f].clone();
            let result = match name.as_str() {
                "webhook" => webhook_scenario(&bin("webhook-receiver"), &sizes, &log_dir).await,
                "sync" => sync_job_scenario(&bin("connector-sync"), &sizes, &log_dir).await,
                "inbound" => inbound_scenario(&bin("connector-sync"), &sizes, &log_dir).await,
                "retry" => retry_scenario(&bin("retry-handler"), &sizes, &log_dir).await,
                "health" => health_scenario(&bin("health-checker"), &sizes, &log_dir).await,
                _ => unreachable!("scenario names are checked above"),
            };
            if let Err(e) = &result {
                eprintln!("footprint: scenario {name} failed: {e:#}");
            }
            results.push((name.as_str(), result));
        }
        results
    });
    let wall = started.elapsed();

    let rows: Vec<&Row> = results.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
    print_table(&rows);
    println!(
        "footprint: whole run {:.1} s (build, emulator and fake set-up included)",
        wall.as_secs_f64(),
    );
    let mut failed = Vec::new();
    for (name, result) in &results {
        match result {
            Err(e) => failed.push(format!("{name}: {e:#}")),
            Ok(row) => {
                for p in &row.problems {
                    failed.push(format!("{}: {p}", row.scenario));
                }
            }
        }
    }
    if !failed.is_empty() {
        eprintln!("\nfootprint: the run is NOT valid:");
        for f in &failed {
            eprintln!("  - {f}");
        }
        panic!(
            "footprint: {} problem(s); the figures above are not to be quoted",
            failed.len()
        );
    }
}

/// `FOOTPRINT_CARGO_FEATURES`: features for the measured build (not the smoke run's).
fn cargo_features() -> Option<String> {
    std::env::var("FOOTPRINT_CARGO_FEATURES")
        .ok()
        .filter(|f| !f.trim().is_empty())
}

/// `FOOTPRINT_BIN_DIR`: a directory holding the four function binaries to measure as they are
/// (not the smoke run's).
fn bin_dir() -> Option<PathBuf> {
    std::env::var_os("FOOTPRINT_BIN_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Builds the four function binaries (release, or debug for the smoke run) and returns their
/// paths; for a measured run with `FOOTPRINT_BIN_DIR`, the binaries in that directory.
fn build_functions(release: bool) -> HashMap<String, PathBuf> {
    if let Some(dir) = bin_dir().filter(|_| release) {
        return FUNCTIONS
            .iter()
            .map(|f| {
                let path = dir.join(f);
                assert!(
                    path.is_file(),
                    "FOOTPRINT_BIN_DIR: no {f} binary at {} (copy the four from a build's target/<profile>/)",
                    path.display()
                );
                (f.to_string(), path)
            })
            .collect();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf();
    let profile = if release {
        std::env::var("FOOTPRINT_CARGO_PROFILE").unwrap_or_else(|_| "release".into())
    } else {
        "dev".into()
    };
    // `--workspace` with `--bin`s, never `-p`: a package selection resolves another feature set
    // and compiles the dependency tree again; and no `cargo test` variables (see
    // `switchyard_tests::cargo`).
    let mut command = switchyard_tests::cargo::command();
    command.args(["build", "--profile", &profile, "--workspace"]);
    let features = cargo_features().filter(|_| release);
    if let Some(features) = &features {
        command.args(["--features", features]);
    }
    for f in FUNCTIONS {
        command.args(["--bin", f]);
    }
    command
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(&workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!(
        "footprint: building the function binaries: cargo build --profile {profile} --workspace{} --bin {}",
        features.map(|f| format!(" --features {f}")).unwrap_or_default(),
        FUNCTIONS.join(" --bin ")
    );
    let output = command.output().unwrap_or_else(|e| panic!("could not run cargo: {e}"));
    assert!(
        output.status.success(),
        "building the function binaries failed ({}); see cargo's messages above",
        output.status
    );
    let mut found = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_bin = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "bin"));
        if msg["reason"] == "compiler-artifact" && is_bin {
            if let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str()) {
                if FUNCTIONS.contains(&name) {
                    found.insert(name.to_string(), PathBuf::from(exe));
                }
            }
        }
    }
    for f in FUNCTIONS {
        let path = found
            .get(f)
            .unwrap_or_else(|| panic!("cargo build reported no binary for {f}"));
        assert!(
            path.is_file(),
            "the {f} binary is missing at {}: run `cargo build --profile {profile} --workspace --bin {f}`",
            path.display(),
        );
    }
    found
}

// ---------------------------------------------------------------------------------- shared

/// `perf record` attached to a running function (FOOTPRINT_PERF=1), from after its cold start.
struct Perf {
    child: std::process::Child,
    output: PathBuf,
}

impl Perf {
    async fn attach(function: &FunctionProcess, log_dir: &Path, scenario: &str) -> Option<Self> {
        if std::env::var("FOOTPRINT_PERF").map_or(true, |v| v.is_empty() || v == "0") {
            return None;
        }
        let output = log_dir.join(format!("{scenario}.perf.data"));
        let child = Command::new("perf")
            .args(["record", "-q", "-F", "1999", "--call-graph", "dwarf,16384", "-p"])
            .arg(function.pid().to_string())
            .arg("-o")
            .arg(&output)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("FOOTPRINT_PERF is set but `perf` could not start ({e}): install it with `apt-get install linux-perf`")
            });
        // perf needs a moment to attach before the first event.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Some(Self { child, output })
    }

    fn finish(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        println!(
            "footprint: profile in {0} (perf report -i {0} --no-children)",
            self.output.display()
        );
    }
}

fn unique(prefix: &str) -> String {
    let u = ulid::Ulid::new().to_string().to_lowercase();
    format!("{prefix}{}", &u[u.len() - 10..])
}

/// The environment every function gets: the emulator, stand-in credentials, the table and queue.
/// The AWS endpoint the functions call: the keep-alive proxy in front of moto (see
/// `switchyard_tests::keepalive`), unless FOOTPRINT_KEEPALIVE=0 asks for moto itself.
static AWS_ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn start_aws_endpoint() {
    let moto = switchyard_tests::emulator().endpoint.clone();
    let endpoint = if std::env::var("FOOTPRINT_KEEPALIVE").is_ok_and(|v| v == "0") {
        println!("footprint: functions call moto directly (a new connection for every AWS call)");
        moto
    } else {
        let proxy = switchyard_tests::keepalive::start(&moto)
            .await
            .expect("the keep-alive proxy starts");
        println!(
            "footprint: functions call AWS through a keep-alive proxy in front of moto, reusing connections as they would with AWS (FOOTPRINT_KEEPALIVE=0: moto directly)"
        );
        proxy.endpoint
    };
    let _ = AWS_ENDPOINT.set(endpoint);
}

fn aws_env(env: &TestEnv) -> Vec<(String, String)> {
    let endpoint = AWS_ENDPOINT.get().expect("start_aws_endpoint ran first").clone();
    [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("TABLE_NAME", env.table.as_str()),
        ("SYNC_QUEUE_URL", env.queue_url.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn spec(function: &str, binary: &Path, scenario: &str, log_dir: &Path, env: Vec<(String, String)>) -> FunctionSpec {
    let (memory_mb, timeout_secs) = lambda_settings(function);
    FunctionSpec {
        name: format!("switchyard-footprint-{function}"),
        binary: binary.to_path_buf(),
        memory_mb,
        timeout: Duration::from_secs(timeout_secs),
        env,
        log_path: log_dir.join(format!("{scenario}.log")),
    }
}

fn connection(tenant: &str, id: &str, provider: &str, base_url: &str, webhook: bool) -> Connection {
    Connection {
        id: id.into(),
        tenant: tenant.into(),
        provider: provider.into(),
        name: format!("{provider} (footprint)"),
        webhook: webhook.then_some(WebhookSettings {
            scheme: Scheme::Stripe,
            tolerance_secs: None,
            handshake_until: None,
        }),
        secret_arn: None,
        config: json!({"base_url": base_url}).as_object().cloned().unwrap_or_default(),
        created_at: SystemClock.now_unix(),
    }
}

/// A Stripe `customer.updated` event of about `target` bytes: a customer object whose metadata
/// (Stripe allows 50 keys of up to 500 characters) fills it up.
fn customer_event(n: usize, now: i64, target: usize) -> Vec<u8> {
    let first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"][n % 8];
    let mut event = json!({
        "id": format!("evt_1Fp{n:09}Cust"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "type": "customer.updated",
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": format!("req_Fp{n:09}"), "idempotency_key": format!("ik-{n:09}")},
        "data": {
            "object": {
                "id": format!("cus_Fp{n:09}"),
                "object": "customer",
                "address": {"city": "Lisbon", "country": "PT", "line1": format!("Rua Augusta {n}"), "line2": null, "postal_code": "1100-053", "state": null},
                "balance": 0,
                "created": now - 86_400,
                "currency": "eur",
                "default_source": null,
                "delinquent": false,
                "description": format!("Footprint customer number {n}"),
                "discount": null,
                "email": format!("customer{n:07}@footprint.example.com"),
                "invoice_prefix": format!("FP{:06X}", n),
                "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
                "livemode": false,
                "metadata": {},
                "name": format!("{first} Customer{n}"),
                "next_invoice_sequence": 1,
                "phone": "+351210000000",
                "preferred_locales": ["en", "pt"],
                "shipping": null,
                "tax_exempt": "none",
                "test_clock": null
            },
            "previous_attributes": {"description": "Footprint customer", "metadata": {}}
        }
    });
    let mut k = 0;
    while serde_json::to_vec(&event).map(|v| v.len()).unwrap_or(0) < target && k < 50 {
        let value: String = format!("crm-segment:{k:02}/customer:{n}/notes:")
            .chars()
            .chain(
                "Prefers annual invoicing; contact billing before renewals; EU VAT registered. "
                    .chars()
                    .cycle(),
            )
            .take(400)
            .collect();
        event["data"]["object"]["metadata"][format!("field_{k:02}")] = Value::String(value);
        k += 1;
    }
    serde_json::to_vec(&event).expect("the event serialises")
}

/// A Stripe `invoice.finalized` event of about `target` bytes: an invoice with many line items,
/// the kind of payload that comes close to the body limit.
fn invoice_event(n: usize, now: i64, target: usize) -> Vec<u8> {
    let invoice = format!("in_Fp{n:09}");
    let line = |k: usize| {
        json!({
            "id": format!("il_Fp{n:09}L{k:05}"),
            "object": "line_item",
            "amount": 1999,
            "amount_excluding_tax": 1999,
            "currency": "eur",
            "description": format!("1 x Seat {k} - Team plan (at EUR 19.99 / month)"),
            "discount_amounts": [],
            "discountable": true,
            "discounts": [],
            "invoice": invoice,
            "livemode": false,
            "metadata": {"seat": k.to_string()},
            "period": {"end": now + 30 * 86_400, "start": now},
            "price": {
                "id": "price_1FpTeamPlanMonthly",
                "object": "price",
                "active": true,
                "billing_scheme": "per_unit",
                "created": now - 365 * 86_400,
                "currency": "eur",
                "livemode": false,
                "product": "prod_FpTeamPlan",
                "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
                "tax_behavior": "exclusive",
                "type": "recurring",
                "unit_amount": 1999
            },
            "proration": false,
            "quantity": 1,
            "subscription": format!("sub_Fp{n:09}"),
            "type": "subscription"
        })
    };
    let one_line = serde_json::to_vec(&line(0)).map(|v| v.len() + 1).unwrap_or(1000);
    let mut event = json!({
        "id": format!("evt_1Fp{n:09}Invc"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "type": "invoice.finalized",
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "data": {"object": {
            "id": invoice,
            "object": "invoice",
            "customer": format!("cus_Fp{n:09}"),
            "currency": "eur",
            "status": "open",
            "collection_method": "charge_automatically",
            "lines": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{invoice}/lines")}
        }}
    });
    let base = serde_json::to_vec(&event).map(|v| v.len()).unwrap_or(0);
    let count = target.saturating_sub(base) / one_line;
    let lines: Vec<Value> = (0..count).map(line).collect();
    let total = 1999 * count;
    event["data"]["object"]["lines"]["data"] = Value::Array(lines);
    event["data"]["object"]["amount_due"] = json!(total);
    event["data"]["object"]["total"] = json!(total);
    serde_json::to_vec(&event).expect("the event serialises")
}

/// The API Gateway HTTP API (payload 2.0) event of a Stripe delivery to `/hooks/{connection_id}`,
/// signed at `now` with `secret`.
fn apigw_event(connection_id: &str, secret: &str, body: &[u8], now: i64, n: usize) -> Value {
    let domain = "abc123.execute-api.us-east-1.amazonaws.com";
    let path = format!("/hooks/{connection_id}");
    let signed = webhook::sign(
        &Scheme::Stripe,
        &SignInput {
            method: "POST",
            url: &format!("https://{domain}{path}"),
            body,
            secret: &SecretString::from(secret.to_string()),
            now,
            message_id: None,
        },
    )
    .expect("a Stripe signature can be made");
    let mut headers = Map::new();
    headers.insert("content-type".into(), json!("application/json; charset=utf-8"));
    headers.insert("content-length".into(), json!(body.len().to_string()));
    headers.insert("host".into(), json!(domain));
    headers.insert(
        "user-agent".into(),
        json!("Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
    );
    headers.insert("x-forwarded-proto".into(), json!("https"));
    for (k, v) in signed {
        headers.insert(k.to_ascii_lowercase(), json!(v));
    }
    json!({
        "version": "2.0",
        "routeKey": "POST /hooks/{connection_id}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": {"connection_id": connection_id},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": domain,
            "domainPrefix": "abc123",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "54.187.174.169", "userAgent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
            "requestId": format!("footprint-{n}"),
            "routeKey": "POST /hooks/{connection_id}",
            "stage": "$default",
            "time": "22/Nov/2026:08:26:40 +0000",
            "timeEpoch": now * 1000
        },
        "body": String::from_utf8(body.to_vec()).expect("the bodies are UTF-8 JSON"),
        "isBase64Encoded": false
    })
}

/// What driving a function from a queue did.
#[derive(Default)]
struct Drained {
    /// When the last invocation was answered.
    last_answer: Option<Instant>,
    messages: usize,
    /// Messages reported in batchItemFailures (left on the queue, invisible until its
    /// visibility timeout).
    failed_items: usize,
    /// Batches the function answered with an error (left on the queue).
    failed_batches: usize,
    problems: Vec<String>,
}

/// Drains the queue into the function (see [`drain_queue`]) and stops it: what happened, the
/// function's footprint, and the time from `started` to the last answer.
async fn drain_and_stop(
    mut function: FunctionProcess,
    source: &SqsEventSource,
    started: Instant,
) -> anyhow::Result<(Drained, Footprint, Duration)> {
    let drained = drain_queue(&mut function, source).await?;
    let wall = drained.last_answer.unwrap_or(started).duration_since(started);
    Ok((drained, function.stop().await?, wall))
}

/// Plays Lambda's event source mapping until the queue is empty: receive up to 10 messages,
/// invoke, delete what the function did not report as failed. Messages the function sends
/// back (continuations, retries, delayed ones) are handled too.
async fn drain_queue(function: &mut FunctionProcess, source: &SqsEventSource) -> anyhow::Result<Drained> {
    let mut out = Drained::default();
    let mut left_behind = 0u64;
    let mut last_message = Instant::now();
    // The emulator counts each state at a slightly different moment: a message whose delay ends
    // in between is in none. Empty twice, one receive apart, is empty.
    let mut empty_checks = 0;
    loop {
        let batch = source.receive(1).await?;
        if batch.is_empty() {
            let depth = source.depth().await?;
            if depth.visible + depth.delayed == 0 && depth.in_flight <= left_behind {
                empty_checks += 1;
                if empty_checks >= 2 {
                    return Ok(out);
                }
            } else {
                empty_checks = 0;
            }
            if last_message.elapsed() > STALL_LIMIT {
                bail!(
                    "stuck: no message for {} s while the queue holds {depth:?}",
                    STALL_LIMIT.as_secs()
                );
            }
            continue;
        }
        last_message = Instant::now();
        empty_checks = 0;
        out.messages += batch.len();
        let invocation = function.invoke(&batch.to_json()).await?;
        out.last_answer = Some(Instant::now());
        match invocation.json() {
            Ok(response) => {
                let failed = source.complete(&batch, &response).await?;
                if !failed.is_empty() {
                    out.failed_items += failed.len();
                    left_behind += failed.len() as u64;
                    if out.problems.len() < 5 {
                        out.problems
                            .push(format!("{} message(s) reported as batch item failures", failed.len()));
                    }
                }
            }
            Err(e) => {
                out.failed_batches += 1;
                left_behind += batch.len() as u64;
                if out.problems.len() < 5 {
                    out.problems.push(e);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------- webhook-receiver

async fn webhook_scenario(binary: &Path, sizes: &Sizes, log_dir: &Path) -> anyhow::Result<Row> {
    let n = sizes.webhook_events;
    let env = TestEnv::new().await;
    let tenant = unique("fp");
    let connections = ConnectionStore::new(env.clients.dynamodb.clone(), &env.table);
    let secrets = SecretStore::new(env.clients.secrets.clone(), Duration::ZERO);
    // A few connections, as a warm receiver serves several; each has its own secret.
    let mut hooks = Vec::new();
    for i in 0..5 {
        let id = format!("conn_stripe_{i}");
        let secret = format!("whsec_{}", unique("footprint"));
        create_connection(
            &connections,
            &secrets,
            connection(&tenant, &id, "stripe", "https://api.stripe.com", true),
            Some(NewWebhookSecrets {
                current: SecretString::from(secret.clone()),
                previous: None,
            }),
            Map::new(),
        )
        .await
        .context("creating a Stripe connection")?;
        hooks.push((id, secret));
    }
    let mut fenv = aws_env(&env);
    fenv.push(("WEBHOOK_TOLERANCE_SECS".into(), "300".into()));
    let mut function =
        FunctionProcess::start(spec("webhook-receiver", binary, "webhook-receiver", log_dir, fenv)).await?;
    let perf = Perf::attach(&function, log_dir, "webhook-receiver").await;

    let large_every = sizes.webhook_large_every;
    let (mut large, mut small_bytes, mut large_bytes) = (0usize, 0usize, 0usize);
    let mut failures = 0;
    let mut problems = Vec::new();
    let started = Instant::now();
    for i in 0..n {
        let now = SystemClock.now_unix();
        let is_large = large_every > 0 && i % large_every == large_every - 1;
        let body = if is_large {
            invoice_event(i, now, 250_000)
        } else {
            customer_event(i, now, 10_000)
        };
        ensure!(body.len() <= MAX_BODY_BYTES, "a generated body is over the limit");
        if is_large {
            large += 1;
            large_bytes += body.len();
        } else {
            small_bytes += body.len();
        }
        let (id, secret) = &hooks[i % hooks.len()];
        let invocation = function.invoke(&apigw_event(id, secret, &body, now, i)).await?;
        let accepted = invocation.json().and_then(|r| {
            let status = r["statusCode"].as_i64().unwrap_or(0);
            let reply: Value = serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            if status == 200 && reply["accepted"] == 1 {
                Ok(())
            } else {
                Err(format!("event {i}: {status} {}", r["body"]))
            }
        });
        if let Err(e) = accepted {
            failures += 1;
            if problems.len() < 5 {
                problems.push(e);
            }
        }
    }
    let wall = started.elapsed();
    if let Some(perf) = perf {
        perf.finish();
    }
    let footprint = function.stop().await?;

    // Every accepted event is one message on the sync queue.
    let depth = SqsEventSource::new(env.clients.sqs.clone(), &env.queue_url)
        .await?
        .depth()
        .await?;
    if depth.total() != n as u64 {
        problems.push(format!("{n} events sent, {} messages on the sync queue", depth.total()));
    }
    if failures > 0 {
        problems.push(format!("{failures} of {n} events were not answered 200 accepted"));
    }
    let small = n - large;
    Ok(Row {
        function: "webhook-receiver",
        scenario: "webhook-receiver".into(),
        footprint,
        failures,
        wall,
        notes: vec![format!(
            "{n} API Gateway v2 events (POST /hooks/{{id}}, 5 Stripe connections, signed at send time): {small} of ~{} KB, {large} of ~{} KB; all answered 200 and enqueued",
            small_bytes / small.max(1) / 1000,
            large_bytes / large.max(1) / 1000
        )],
        problems,
    })
}

// ---------------------------------------------------------------------------- connector-sync

/// A Stripe connection (to localstripe), a fake HubSpot and the demo flow between them, in an
/// environment of its own.
struct SyncRig {
    env: TestEnv,
    deps: SyncDeps,
    hubspot: FakeHandle<Hubspot>,
    flow: Flow,
    webhook_secret: String,
}

impl SyncRig {
    async fn new(stripe_url: &str) -> anyhow::Result<Self> {
        let env = TestEnv::new().await;
        let hubspot = hubspot::start(HubspotConfig {
            schema: PropertySchema::default().with_property(ObjectType::Contacts, "stripe_customer_id"),
            ..HubspotConfig::default()
        });
        let config = SyncConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(env.table.clone()),
            "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
            "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
            _ => None,
        })?;
        let deps = SyncDeps::new(
            config,
            &env.clients,
            Arc::new(Registry::embedded()?),
            Arc::new(SystemClock),
        )?;
        let tenant = unique("fp");
        let webhook_secret = format!("whsec_{}", unique("footprint"));
        create_connection(
            &deps.connections,
            &deps.secrets,
            connection(&tenant, "conn_stripe", "stripe", stripe_url, true),
            Some(NewWebhookSecrets {
                current: SecretString::from(webhook_secret.clone()),
                previous: None,
            }),
            json!({"api_key": API_KEY}).as_object().cloned().unwrap_or_default(),
        )
        .await?;
        create_connection(
            &deps.connections,
            &deps.secrets,
            connection(&tenant, "conn_hubspot", "hubspot", &hubspot.base_url, false),
            None,
            json!({"access_token": hubspot::TEST_TOKEN})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
        .await?;
        let flow = Flow {
            id: "stripe-customers-to-hubspot".into(),
            tenant,
            name: "Stripe customers to HubSpot contacts".into(),
            source_connection: "conn_stripe".into(),
            source_stream: "customers".into(),
            destination_connection: "conn_hubspot".into(),
            destination_operation: "contacts.upsert_by_email".into(),
            mapping: MAPPING.into(),
            mode: SyncMode::Incremental,
            schedule_interval_secs: Some(300),
            event_types: vec![],
            enabled: true,
            created_at: SystemClock.now_unix(),
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups: Vec::new(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        };
        deps.flows.create(&flow).await?;
        Ok(Self {
            env,
            deps,
            hubspot,
            flow,
            webhook_secret,
        })
    }

    /// connector-sync, started against this rig.
    async fn start_function(&self, binary: &Path, scenario: &str, log_dir: &Path) -> anyhow::Result<FunctionProcess> {
        FunctionProcess::start(spec("connector-sync", binary, scenario, log_dir, self.function_env())).await
    }

    /// What went wrong in a drained run that should have made `expected` HubSpot contacts and
    /// parked nothing.
    async fn problems(&self, drained: &Drained, expected: usize, what: &str) -> anyhow::Result<Vec<String>> {
        let mut problems = drained.problems.clone();
        let contacts = self.hubspot.count(ObjectType::Contacts);
        if contacts != expected {
            problems.push(format!("{expected} {what}, {contacts} HubSpot contacts"));
        }
        let parked = self.parked().await?;
        if parked > 0 {
            problems.push(format!("{parked} message(s) parked as dead letters"));
        }
        Ok(problems)
    }

    fn function_env(&self) -> Vec<(String, String)> {
        let mut env = aws_env(&self.env);
        env.push(("ALLOW_PRIVATE_NETWORK".into(), "true".into()));
        // As infra/template.yaml sets it.
        env.push(("SYNC_TIME_RESERVE_SECS".into(), "60".into()));
        env
    }

    async fn parked(&self) -> anyhow::Result<usize> {
        Ok(DeadLetterStore::new(self.env.clients.dynamodb.clone(), &self.env.table)
            .list(&DeadLetterFilter::default())
            .await?
            .len())
    }
}

/// Creates `n` customers in localstripe, eight at a time.
async fn seed_customers(stripe: &Arc<LocalStripe>, n: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let stripe = stripe.clone();
        tasks.spawn(async move {
            for i in (worker..n).step_by(8) {
                let first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"][i % 8];
                stripe
                    .create_customer(
                        &format!("customer{i:07}@footprint.example.com"),
                        &format!("{first} Customer{i}"),
                    )
                    .await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a seeding task panicked")?;
    }
    eprintln!(
        "footprint: {n} customers created in localstripe in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn sync_job_scenario(binary: &Path, sizes: &Sizes, log_dir: &Path) -> anyhow::Result<Row> {
    let n = sizes.sync_customers;
    // A localstripe of our own: the job syncs every customer it holds.
    let stripe = Arc::new(localstripe::start_isolated());
    seed_customers(&stripe, n).await?;
    let rig = SyncRig::new(&stripe.base_url).await?;
    let source = SqsEventSource::new(rig.env.clients.sqs.clone(), &rig.env.queue_url).await?;
    let function = rig.start_function(binary, "connector-sync-job", log_dir).await?;
    let perf = Perf::attach(&function, log_dir, "connector-sync-job").await;

    // What the dispatcher does for a due flow: a job item and its message on the sync queue.
    let started = Instant::now();
    let job = sync::start_job(&rig.deps, &rig.flow, "footprint", Some(SyncMode::Full), true).await?;
    let (drained, footprint, wall) = drain_and_stop(function, &source, started).await?;
    if let Some(perf) = perf {
        perf.finish();
    }

    let mut problems = rig.problems(&drained, n, "customers").await?;
    let done = rig
        .deps
        .jobs
        .get(&rig.flow.id, &job.job_id)
        .await?
        .context("the job item exists")?;
    if done.status != JobStatus::Succeeded {
        problems.push(format!("job ended {:?}: {:?}", done.status, done.last_error));
    }
    if (done.counts.read, done.counts.written, done.counts.failed) != (n as u64, n as u64, 0) {
        problems.push(format!("{n} customers, job counts {:?}", done.counts));
    }
    let upserts = rig
        .hubspot
        .requests
        .count_where(|r| r.method == "POST" && r.path.ends_with("/batch/upsert"));
    Ok(Row {
        function: "connector-sync",
        scenario: "connector-sync job".into(),
        footprint,
        failures: drained.failed_items + drained.failed_batches,
        wall,
        notes: vec![format!(
            "full sync of {n} Stripe customers (localstripe) -> HubSpot contacts (fake, 100 req / 10 s): {} message(s), {} page(s), {} continuation(s), {upserts} batch upserts, {} HubSpot 429s; job {:.1} s",
            drained.messages,
            done.pages,
            done.continuations,
            rig.hubspot.rate_limited_count(),
            wall.as_secs_f64()
        )],
        problems,
    })
}

async fn inbound_scenario(binary: &Path, sizes: &Sizes, log_dir: &Path) -> anyhow::Result<Row> {
    let n = sizes.inbound_events;
    // The events carry their customer: the source is never called, but the connection needs a URL.
    let rig = SyncRig::new("http://127.0.0.1:9").await?;
    // Accept the events through the receiver (in-process: set-up, not measured); it stores
    // each one and puts its message on the sync queue.
    let receiver = ReceiverDeps::new(
        ReceiverConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(rig.env.table.clone()),
            "SYNC_QUEUE_URL" => Some(rig.env.queue_url.clone()),
            _ => None,
        })?,
        &rig.env.clients,
        Arc::new(SystemClock),
    );
    for i in 0..n {
        let now = SystemClock.now_unix();
        let body = customer_event(i, now, 10_000);
        let event = apigw_event("conn_stripe", &rig.webhook_secret, &body, now, i);
        let response = receiver::handle(&receiver, serde_json::from_value(event)?).await;
        ensure!(
            response.status_code == 200,
            "the receiver refused set-up event {i}: {response:?}"
        );
    }
    let source = SqsEventSource::new(rig.env.clients.sqs.clone(), &rig.env.queue_url).await?;
    let function = rig.start_function(binary, "connector-sync-inbound", log_dir).await?;
    let (drained, footprint, wall) = drain_and_stop(function, &source, Instant::now()).await?;
    let problems = rig.problems(&drained, n, "inbound events").await?;
    Ok(Row {
        function: "connector-sync",
        scenario: "connector-sync events".into(),
        footprint,
        failures: drained.failed_items + drained.failed_batches,
        wall,
        notes: vec![format!(
            "{n} inbound-event messages (~10 KB Stripe customer.updated events stored by the receiver) in batches of up to 10 -> one HubSpot upsert each (paced at 100 req / 10 s): {} message(s) handled, {} HubSpot 429s",
            drained.messages,
            rig.hubspot.rate_limited_count()
        )],
        problems,
    })
}

// ---------------------------------------------------------------------------- retry-handler

/// A dead-lettered sync message that has failed `attempt + 1` times, as the DLQ holds it.
fn dead_letter_body(i: usize, attempt: u32, now: i64) -> String {
    let history: Vec<Value> = (0..attempt)
        .map(|a| {
            json!({
                "attempt": a,
                "at": now - 3600 + i64::from(a) * 60,
                "class": "transient",
                "error": "POST /crm/v3/objects/contacts/batch/upsert: HTTP 503",
                "delay_secs": 5
            })
        })
        .collect();
    let mut body = if i % 4 == 3 {
        json!({"kind": "sync_job", "flow_id": format!("flow_{}", i % 17), "job_id": format!("01JFOOTPRINT{i:014}")})
    } else {
        json!({
            "kind": "inbound_event",
            "connection_id": "conn_stripe",
            "event_id": format!("evt_1Fp{i:09}Dead"),
            "event_type": "customer.updated",
            "provider": "stripe",
            "received_at": now - 3600
        })
    };
    body["attempt"] = json!(attempt);
    if !history.is_empty() {
        body["history"] = Value::Array(history);
    }
    body.to_string()
}

async fn retry_scenario(binary: &Path, sizes: &Sizes, log_dir: &Path) -> anyhow::Result<Row> {
    let n = sizes.dlq_messages;
    let env = TestEnv::new().await;
    let now = SystemClock.now_unix();
    // Attempts 0..=7 in turn: the default schedule retries the first seven, parks the eighth.
    let policy = RetryPolicy::default();
    let mut expected_retries = 0;
    let mut entries = Vec::new();
    for i in 0..n {
        let attempt = (i % 8) as u32;
        if matches!(
            decide(&policy, ErrorClass::Transient, attempt, 0.5),
            Decision::Retry { .. }
        ) {
            expected_retries += 1;
        }
        entries.push(
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{}", i % 10))
                .message_body(dead_letter_body(i, attempt, now))
                .build()?,
        );
    }
    for chunk in entries.chunks(10) {
        let out = env
            .clients
            .sqs
            .send_message_batch()
            .queue_url(&env.dlq_url)
            .set_entries(Some(chunk.to_vec()))
            .send()
            .await?;
        ensure!(
            out.failed.is_empty(),
            "SendMessageBatch to the DLQ failed: {:?}",
            out.failed
        );
    }
    let expected_parked = n - expected_retries;
    let dlq = SqsEventSource::new(env.clients.sqs.clone(), &env.dlq_url).await?;
    // Retries are sent without delay (the schedule is still computed, then scaled by 0) so that
    // every one of them can be counted on the sync queue: the emulator's count of delayed
    // messages misses those whose delay ends while it counts.
    let mut fenv = aws_env(&env);
    fenv.push(("RETRY_DELAY_SCALE".into(), "0".into()));
    let function = FunctionProcess::start(spec("retry-handler", binary, "retry-handler", log_dir, fenv)).await?;
    let (drained, footprint, wall) = drain_and_stop(function, &dlq, Instant::now()).await?;

    let mut problems = drained.problems.clone();
    let requeued = SqsEventSource::new(env.clients.sqs.clone(), &env.queue_url)
        .await?
        .depth()
        .await?
        .total() as usize;
    if requeued != expected_retries {
        problems.push(format!(
            "{expected_retries} retries expected on the sync queue, {requeued} found"
        ));
    }
    let parked = DeadLetterStore::new(env.clients.dynamodb.clone(), &env.table)
        .list(&DeadLetterFilter::default())
        .await?
        .len();
    if parked != expected_parked {
        problems.push(format!("{expected_parked} messages should be parked, {parked} are"));
    }
    Ok(Row {
        function: "retry-handler",
        scenario: "retry-handler".into(),
        footprint,
        failures: drained.failed_items + drained.failed_batches,
        wall,
        notes: vec![format!(
            "{n} dead-letter messages (attempts 0-7, inbound events and sync jobs) in batches of up to 10: {requeued} back on the sync queue (RETRY_DELAY_SCALE=0, to count them), {parked} parked"
        )],
        problems,
    })
}

// ---------------------------------------------------------------------------- health-checker

fn health_fake(faults: FaultConfig) -> FakeHandle<Hubspot> {
    hubspot::start(HubspotConfig {
        rate_limit: RateLimit::new(1_000_000, Duration::from_secs(10)),
        faults,
        ..HubspotConfig::default()
    })
}

async fn health_scenario(binary: &Path, sizes: &Sizes, log_dir: &Path) -> anyhow::Result<Row> {
    let n = sizes.health_connections;
    let env = TestEnv::new().await;
    // 70% answer at once, 10% slowly (800 ms: degraded), 10% with 20% 500s, 10% not at all
    // (past the deployed 10 s check timeout): the mix of functions/health-checker/benches/health_run.rs.
    let fakes = [
        ("fast", health_fake(FaultConfig::default())),
        (
            "slow",
            health_fake(FaultConfig {
                timeout_ratio: 1.0,
                timeout_delay: Duration::from_millis(800),
                timeout_mode: TimeoutMode::Processed,
                ..FaultConfig::default()
            }),
        ),
        (
            "flaky",
            health_fake(FaultConfig {
                seed: 3,
                server_error_ratio: 0.2,
                ..FaultConfig::default()
            }),
        ),
        (
            "dead",
            health_fake(FaultConfig {
                timeout_ratio: 1.0,
                timeout_delay: Duration::from_secs(30),
                timeout_mode: TimeoutMode::NotProcessed,
                ..FaultConfig::default()
            }),
        ),
    ];
    let which = |i: usize| match i % 10 {
        7 => 1,
        8 => 2,
        9 => 3,
        _ => 0,
    };
    let tenant = unique("fp");
    let store = ConnectionStore::new(env.clients.dynamodb.clone(), &env.table);
    // One secret shared by all (creating 1,000 secrets is not what is measured).
    let template = create_connection(
        &store,
        &SecretStore::new(env.clients.secrets.clone(), Duration::ZERO),
        connection(&tenant, "conn_0000", "hubspot", &fakes[0].1.base_url, false),
        None,
        json!({"access_token": hubspot::TEST_TOKEN})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
    .await?;
    let urls: Vec<String> = fakes.iter().map(|(_, f)| f.base_url.clone()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let store = store.clone();
        let template = template.clone();
        let urls = urls.clone();
        tasks.spawn(async move {
            for i in (1..n).filter(|i| i % 16 == worker) {
                let conn = Connection {
                    id: format!("conn_{i:04}"),
                    config: json!({"base_url": urls[which(i)]})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    ..template.clone()
                };
                store.create(&conn).await?;
            }
            Ok::<_, switchyard::store::StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let mut mix = BTreeMap::new();
    for i in 0..n {
        *mix.entry(fakes[which(i)].0).or_insert(0usize) += 1;
    }

    let mut fenv = aws_env(&env);
    fenv.retain(|(k, _)| k != "SYNC_QUEUE_URL");
    fenv.push(("ALLOW_PRIVATE_NETWORK".into(), "true".into()));
    let mut function = FunctionProcess::start(spec("health-checker", binary, "health-checker", log_dir, fenv)).await?;
    let event = json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-22T04:05:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchyard-footprint-health-check"],
        "detail": {}
    });
    let started = Instant::now();
    let invocation = function.invoke(&event).await?;
    let wall = started.elapsed();
    let footprint = function.stop().await?;

    let mut problems = Vec::new();
    let mut failures = 0;
    let report = match invocation.json() {
        Ok(r) => r,
        Err(e) => {
            failures += 1;
            problems.push(e);
            Value::Null
        }
    };
    if report["connections"] != json!(n) || report["checked"] != json!(n) || report["not_reached"] != json!(0) {
        problems.push(format!("{n} connections, report {report}"));
    }
    if !report["scan_error"].is_null() {
        problems.push(format!("scan error: {}", report["scan_error"]));
    }
    let requests: Vec<String> = fakes
        .iter()
        .map(|(name, f)| format!("{name} {}", f.requests.len()))
        .collect();
    Ok(Row {
        function: "health-checker",
        scenario: "health-checker".into(),
        footprint,
        failures,
        wall,
        notes: vec![format!(
            "one scheduled run over {n} HubSpot connections ({}; slow = 800 ms, flaky = 20% 500s, dead = no answer within the check timeout; deployed defaults: concurrency 32, check timeout 10 s): states after the run {}, {} run errors; requests {}",
            mix.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "),
            report["states"],
            report["errors"],
            requests.join(", ")
        )],
        problems,
    })
}

// ---------------------------------------------------------------------------- the table

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn print_table(rows: &[&Row]) {
    println!();
    for row in rows {
        println!("{}:", row.scenario);
        for note in &row.notes {
            println!("  {note}");
        }
        let (memory, timeout) = lambda_settings(row.function);
        println!(
            "  binary run as {} (AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory}, deadline = hand-out + {timeout} s); log: {}",
            row.footprint.name,
            row.footprint.log_path.display()
        );
    }
    println!();
    let header = [
        "scenario",
        "invocations",
        "errors",
        "init ms",
        "RSS init MiB",
        "RSS peak MiB",
        "CPU init ms",
        "CPU total ms",
        "CPU/inv ms",
        "p50 ms",
        "p99 ms",
        "max ms",
        "wall s",
        "outcome",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let f = &row.footprint;
        lines.push(vec![
            row.scenario.clone(),
            f.invocations.len().to_string(),
            row.errors().to_string(),
            ms(f.init_wall),
            mib(f.at_init.rss_kib),
            mib(f.at_end.peak_rss_kib),
            f.at_init.cpu.as_millis().to_string(),
            f.at_end.cpu.as_millis().to_string(),
            format!("{:.2}", f.cpu_per_invocation().as_secs_f64() * 1000.0),
            ms(f.percentile(0.50)),
            ms(f.percentile(0.99)),
            ms(f.percentile(1.0)),
            format!("{:.1}", row.wall.as_secs_f64()),
            if row.problems.is_empty() {
                "checked".to_string()
            } else {
                format!("FAILED ({})", row.problems.len())
            },
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 0 {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        println!("{}", cells.join("  "));
        if i == 0 {
            println!(
                "{}",
                widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  ")
            );
        }
    }
    println!();
    println!(
        "RSS: VmRSS at the first GET /next (init done) and VmHWM just before the process was killed. \
         CPU: utime+stime of all threads, 10 ms resolution; CPU/inv = (total - init) / invocations. \
         Durations: event handed out on GET /next to its POST /response (or /error). \
         wall: first event handed out (sync: job enqueued) to the last answer, event-source polling of the emulator included."
    );
}
