//! The admin console in a real browser: Debian's chromium driven by playwright-core
//! (tests/browser/console.test.mjs) against the api function's core served over HTTP, with
//! moto behind it. Needs `scripts/ensure-browser.sh` (make test runs it first).
//!
//! `make screenshots` runs this test with `SWITCHYARD_CONSOLE_SCREENSHOTS=docs/console`, and the
//! browser script saves the main views there.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use switchyard::api::{ApiConfig, ApiDeps, ApiRequest};
use switchyard::clock::{Clock, SystemClock};
use switchyard::connector::Registry;
use switchyard::health::HealthRecord;
use switchyard::queue::{AttemptRecord, Envelope, SyncJobRef, SyncMessage};
use switchyard::store::api_keys::{Role, Tier};
use switchyard::store::dead_letters::{DeadLetter, DeadLetterStatus, DeadLetterStore};
use switchyard::store::flows::ConflictRule;
use switchyard::store::reviews::{ReviewItem, ReviewStore};
use switchyard::store::subscriptions::{new_delivery_id, Delivery, DeliveryAttempt, DeliveryStatus, Subscription};
use switchyard::store::webhook_log::{LogEntry, Outcome, WebhookLogStore};
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType, PropertySchema};
use switchyard_tests::{localstripe, TestEnv};

const FLOW: &str = "stripe-customers-to-hubspot";
const STRIPE: &str = "conn_stripe_demo";
const HUBSPOT: &str = "conn_hubspot_demo";
/// A second HubSpot account, synced both ways with the first: the two-way link whose conflict
/// the console resolves.
const HUBSPOT_EU: &str = "conn_hubspot_eu";
const US_TO_EU: &str = "contacts-us-to-eu";
const EU_TO_US: &str = "contacts-eu-to-us";
const CONFLICT_RECORD: &str = "contact-101";
/// The contact whose conflict the console merges (both HubSpot accounts are fakes).
const MERGE_EMAIL: &str = "grace@example.com";
/// The customer the browser creates in localstripe before it runs the demo flow.
const CUSTOMER_EMAIL: &str = "new-customer@example.com";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

fn chromium() -> PathBuf {
    std::env::var_os("SWITCHYARD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails with what to run when the browser or playwright-core is missing: never a skip.
fn require_browser() {
    let root = workspace_root();
    let playwright = root.join("tests/browser/node_modules/playwright-core/package.json");
    let missing: Vec<String> = [
        (
            chromium().exists(),
            format!("{} (Debian's chromium)", chromium().display()),
        ),
        (
            playwright.exists(),
            "tests/browser/node_modules/playwright-core".to_string(),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    assert!(
        missing.is_empty(),
        "\n\nThe console's browser test needs {}.\nRun `scripts/ensure-browser.sh` (make test does), \
         which installs chromium with apt-get and playwright-core with npm ci.\n",
        missing.join(" and ")
    );
}

/// Serves the api function's core on a loopback port, as the local runner does (the SDK and
/// Schemathesis tests in sdk.rs serve it the same way).
pub(crate) async fn serve(deps: Arc<ApiDeps>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let addr = listener.local_addr().expect("the listener has an address");
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let deps = deps.clone();
        async move {
            let resp = switchyard::api::handle(
                &deps,
                ApiRequest {
                    method: method.as_str().to_string(),
                    path: uri.path().to_string(),
                    query: uri.query().unwrap_or("").to_string(),
                    headers,
                    body: body.to_vec(),
                },
            )
            .await;
            let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut out: Response = (status, resp.body.clone()).into_response();
            for (name, value) in &resp.headers {
                if let (Ok(n), Ok(v)) = (
                    axum::http::HeaderName::try_from(name.as_str()),
                    axum::http::HeaderValue::try_from(value.as_str()),
                ) {
                    out.headers_mut().insert(n, v);
                }
            }
            out
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn call(deps: &ApiDeps, method: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    let resp = switchyard::api::handle(
        deps,
        ApiRequest {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers,
            body: body.to_string().into_bytes(),
        },
    )
    .await;
    (resp.status, serde_json::from_str(&resp.body).unwrap_or(Value::Null))
}

async fn key(deps: &ApiDeps, tenant: &str, role: Role) -> String {
    let (new, _) = switchyard::admin::create_api_key(
        &deps.keys,
        tenant,
        role.name(),
        role,
        Tier::Enterprise,
        "test",
        SystemClock.now_unix(),
    )
    .await
    .expect("the key is stored");
    let key = secrecy::ExposeSecret::expose_secret(&new.key).to_string();
    switchyard_tests::log_capture::known_secret(&key);
    key
}

fn dead_letter(key: &str, flow_id: &str, job_id: &str, error: &str, parked_at: i64) -> DeadLetter {
    DeadLetter {
        key: key.into(),
        kind: "sync_job".into(),
        connection_id: None,
        flow_id: Some(flow_id.into()),
        message: Envelope::new(SyncMessage::SyncJob(SyncJobRef {
            flow_id: flow_id.into(),
            job_id: job_id.into(),
            attempt: 5,
        }))
        .to_body(),
        attempts: 5,
        history: Vec::<AttemptRecord>::new(),
        classification: "transient".into(),
        reason: "exhausted".into(),
        last_error: error.into(),
        parked_at,
        status: DeadLetterStatus::Parked,
        replayed_at: None,
    }
}

/// The console's PKCE pieces (shared/console/pkce.js) against RFC 7636's example, in Node.
#[test]
fn console_pkce_pieces_follow_rfc_7636() {
    let started = Instant::now();
    let out = std::process::Command::new("node")
        .arg("pkce.test.mjs")
        .current_dir(workspace_root().join("tests/browser"))
        .output()
        .expect("node starts (install Node.js 20 or later)");
    assert!(
        out.status.success(),
        "the PKCE checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("console PKCE checks: {:.2} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn browser_console_logs_in_runs_a_flow_replays_a_dead_letter_and_hides_writes_from_a_viewer() {
    require_browser();
    let started = Instant::now();
    let env = TestEnv::new().await;
    // Both HubSpot accounts are fakes (on loopback): a merge writes to both. The US one takes
    // the demo flow's contacts (with their Stripe id); Stripe is a localstripe of this test's
    // own, so "Run now" reads exactly the customers the browser creates.
    let (us, eu) = (
        hubspot::start(HubspotConfig {
            schema: PropertySchema::default().with_property(ObjectType::Contacts, "stripe_customer_id"),
            ..HubspotConfig::default()
        }),
        hubspot::start(HubspotConfig::default()),
    );
    let stripe_server = localstripe::start_isolated();
    let mut config = ApiConfig::new(&env.table, &env.queue_url);
    config.allow_private_network = true;
    let deps = Arc::new(ApiDeps::new(
        config,
        &env.clients,
        Arc::new(Registry::embedded().expect("embedded definitions load")),
        Arc::new(SystemClock),
    ));
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let tenant = format!("console-{}", &run[run.len() - 8..]);
    let admin = key(&deps, &tenant, Role::Admin).await;
    let viewer = key(&deps, &tenant, Role::Viewer).await;

    // The demo's shape: Stripe customers -> HubSpot contacts, both connections healthy.
    for (id, provider, name, base_url, credentials) in [
        (
            STRIPE,
            "stripe",
            "Stripe",
            stripe_server.base_url.as_str(),
            json!({"api_key": localstripe::API_KEY}),
        ),
        (
            HUBSPOT,
            "hubspot",
            "HubSpot",
            us.base_url.as_str(),
            json!({"access_token": hubspot::TEST_TOKEN}),
        ),
        (
            HUBSPOT_EU,
            "hubspot",
            "HubSpot EU",
            eu.base_url.as_str(),
            json!({"access_token": hubspot::TEST_TOKEN}),
        ),
    ] {
        let (status, body) = call(
            &deps,
            "POST",
            "/v1/connections",
            &admin,
            json!({"id": id, "provider": provider, "name": name, "config": {"base_url": base_url}, "credentials": credentials}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let now = SystemClock.now_unix();
        let health = HealthRecord {
            state_since: now - 3600,
            circuit_since: now - 3600,
            last_check_at: Some(now - 42),
            last_latency_ms: Some(87),
            last_success_at: Some(now - 42),
            version: 1,
            ..Default::default()
        };
        assert!(deps
            .connections
            .put_health(id, &health)
            .await
            .expect("health is stored"));
    }
    // Ids as the demo's: the table is this test's own (the tenant is unique because secret
    // names are global in a shared emulator).
    let (stripe, hubspot, flow) = (STRIPE.to_string(), HUBSPOT.to_string(), FLOW.to_string());
    let (status, body) = call(
        &deps,
        "POST",
        "/v1/flows",
        &admin,
        json!({"id": flow, "name": "Stripe customers to HubSpot contacts", "source": stripe, "stream": "customers",
               "destination": hubspot, "operation": "contacts.upsert_by_email",
               "mapping": "{properties: {email: .email, stripe_customer_id: .id}}", "schedule_interval_secs": 300}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The flow's baseline: eight ordinary jobs, then one that read nothing (an open anomaly).
    {
        use switchyard::quality::{JobSample, Quality, MIN_SAMPLES};
        // The same part of the week as the empty job ten minutes ago, in the weeks before.
        let empty_at = SystemClock.now_unix() - 600;
        let mut quality = Quality::default();
        for week in (1..=i64::from(MIN_SAMPLES)).rev() {
            let ordinary = JobSample {
                at: empty_at - week * 7 * 86_400,
                read: 10,
                rejected: 0,
                duration_secs: 30.0,
            };
            assert!(quality.observe(&ordinary).findings.is_empty());
        }
        let empty = JobSample {
            at: empty_at,
            read: 0,
            rejected: 0,
            duration_secs: 30.0,
        };
        assert_eq!(quality.observe(&empty).findings.len(), 1);
        assert!(
            switchyard::store::quality::QualityStore::new(env.clients.dynamodb.clone(), &env.table)
                .put(&flow, &quality, 0)
                .await
                .unwrap()
        );
    }
    // A two-way link between the HubSpot accounts with a conflict parked for a person.
    for (id, source, destination) in [(US_TO_EU, HUBSPOT, HUBSPOT_EU), (EU_TO_US, HUBSPOT_EU, HUBSPOT)] {
        let (status, body) = call(
            &deps,
            "POST",
            "/v1/flows",
            &admin,
            json!({"id": id, "source": source, "stream": "contacts", "destination": destination,
                   "operation": "contacts.upsert_by_email",
                   "mapping": "{properties: {email: .properties.email, firstname: .properties.firstname, lastname: .properties.lastname}}"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    switchyard::sync::link_flows(
        &switchyard::sync::LinkContext {
            flows: &deps.flows,
            connections: &deps.connections,
            registry: &deps.registry,
            tenant_connectors: Some(&deps.tenant_connectors),
        },
        EU_TO_US,
        US_TO_EU,
        ConflictRule::Manual,
    )
    .await
    .expect("the flows pair up");
    let reviews = ReviewStore::new(env.clients.dynamodb.clone(), &env.table);
    let contact =
        |name: &str, id: &str| json!({"id": id, "properties": {"email": "ada@example.com", "firstname": name}});
    assert!(reviews
        .park(
            &ReviewItem {
                first_flow: EU_TO_US.into(),
                second_flow: US_TO_EU.into(),
                record: CONFLICT_RECORD.into(),
                counterpart: "contact-9001".into(),
                first_version: contact("Ada (EU edit)", CONFLICT_RECORD),
                second_version: contact("Ada (US edit)", "contact-9001"),
                base: Some(contact("Ada", "contact-9001")),
                parked_at: SystemClock.now_unix() - 300,
                seen_by: US_TO_EU.into(),
                kind: Default::default(),
                score: None,
                evidence: None,
            },
            None,
        )
        .await
        .expect("parked"));
    // A second conflict, on a contact both fakes hold, for the console's merge: the EU side
    // (A) and the US side (B) both renamed Grace, and the US side also changed her last name.
    let grace = |hub: &switchyard_fakes::FakeHandle<hubspot::Hubspot>, first: &str, last: &str| {
        let c = hub.insert(
            ObjectType::Contacts,
            &[("email", MERGE_EMAIL), ("firstname", first), ("lastname", last)],
        );
        (
            c.id.clone(),
            json!({"id": c.id, "properties": {"email": MERGE_EMAIL, "firstname": first, "lastname": last}}),
        )
    };
    let (eu_id, eu_version) = grace(&eu, "Grace (EU edit)", "Hopper");
    let (us_id, us_version) = grace(&us, "Grace (US edit)", "Hopper-Murray");
    assert!(reviews
        .park(
            &ReviewItem {
                first_flow: EU_TO_US.into(),
                second_flow: US_TO_EU.into(),
                record: eu_id.clone(),
                counterpart: us_id.clone(),
                first_version: eu_version,
                second_version: us_version,
                base: None,
                parked_at: SystemClock.now_unix() - 120,
                seen_by: EU_TO_US.into(),
                kind: Default::default(),
                score: None,
                evidence: None,
            },
            None
        )
        .await
        .expect("parked"));
    // A merge naming a field neither version has, or a flow outside the link, is refused with
    // an RFC 9457 problem naming each field; nothing is written and it stays parked.
    let merge_path = format!("/v1/flows/{EU_TO_US}/conflicts/{eu_id}/resolve");
    let (status, body) = call(
        &deps,
        "POST",
        &merge_path,
        &admin,
        json!({"winner": EU_TO_US, "merge": {"/properties/middlename": US_TO_EU, "/properties/firstname": FLOW}}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["merge./properties/firstname", "merge./properties/middlename"],
        "{body}"
    );
    assert_eq!(body["type"], "/v1/problems/validation", "{body}");
    let (status, body) = call(
        &deps,
        "POST",
        &merge_path,
        &viewer,
        json!({"winner": EU_TO_US, "merge": {"/properties/firstname": US_TO_EU}}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(reviews.get(EU_TO_US, US_TO_EU, &eu_id).await.unwrap().is_some());
    let lastname = |hub: &switchyard_fakes::FakeHandle<hubspot::Hubspot>| {
        let c = hub.find(ObjectType::Contacts, "email", MERGE_EMAIL).unwrap();
        (
            c.get("firstname").map(str::to_owned),
            c.get("lastname").map(str::to_owned),
        )
    };
    assert_eq!(lastname(&us).1.as_deref(), Some("Hopper-Murray"));
    // The API's own refusals around the conflict (the browser resolves it below): a viewer may
    // not resolve, a winner outside the link is an invalid field, an unlinked flow has no queue.
    let resolve = format!("/v1/flows/{US_TO_EU}/conflicts/{CONFLICT_RECORD}/resolve");
    let (status, body) = call(&deps, "POST", &resolve, &viewer, json!({"winner": EU_TO_US})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&deps, "POST", &resolve, &admin, json!({"winner": FLOW})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "winner", "{body}");
    let (status, body) = call(
        &deps,
        "GET",
        &format!("/v1/flows/{FLOW}/conflicts"),
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = call(
        &deps,
        "GET",
        &format!("/v1/flows/{EU_TO_US}/conflicts"),
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let records: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"].as_str().unwrap())
        .collect();
    assert_eq!(records, [eu_id.as_str(), CONFLICT_RECORD], "in record id order: {body}");
    // The US HubSpot account's webhook log over the last hours: three accepted, a duplicate,
    // and a rejection (items as the receiver's log holds them).
    let now = SystemClock.now_unix();
    for (at, outcome, reason, event) in [
        (
            now - 200,
            Outcome::Rejected,
            Some("bad_signature:no_matching_signature"),
            None,
        ),
        (now - 600, Outcome::Accepted, None, Some("evt-3")),
        (now - 660, Outcome::Duplicate, None, Some("evt-3")),
        (now - 5_000, Outcome::Accepted, None, Some("evt-2")),
        (now - 12_000, Outcome::Accepted, None, Some("evt-1")),
    ] {
        let entry = LogEntry {
            connection_id: HUBSPOT.into(),
            at,
            outcome,
            reason: reason.map(str::to_owned),
            event_id: event.map(str::to_owned),
            event_type: event.map(|_| "contact.propertyChange".to_owned()),
            provider: event.map(|_| "hubspot".to_owned()),
        };
        env.clients
            .dynamodb
            .put_item()
            .table_name(&env.table)
            .set_item(Some(WebhookLogStore::item(&tenant, &entry, now + 86_400)))
            .send()
            .await
            .expect("the log entry is written");
    }
    let store = DeadLetterStore::new(env.clients.dynamodb.clone(), &env.table);
    let now = SystemClock.now_unix();
    let to_replay = format!("job:{flow}:job_replay");
    let stays = format!("job:{flow}:job_stays");
    store
        .put(&dead_letter(
            &to_replay,
            &flow,
            "job_replay",
            "HubSpot answered 503 Service Unavailable",
            now - 900,
        ))
        .await
        .expect("parked");
    store
        .put(&dead_letter(
            &stays,
            &flow,
            "job_stays",
            "HubSpot answered 502 Bad Gateway",
            now - 600,
        ))
        .await
        .expect("parked");

    // A webhook subscription the endpoint of which failed until it was disabled, with two
    // failed deliveries (one to resend, one to recover) and one that got through.
    let subscription = "whsub_console";
    deps.subscriptions
        .create(&Subscription {
            id: subscription.into(),
            tenant: tenant.clone(),
            url: "https://hooks.example.com/switchyard".into(),
            // Not `job.finished`: the run the browser starts finishes while the endpoint is
            // disabled, and would log one more failed delivery.
            event_types: vec!["job.failed".into()],
            filter: Default::default(),
            description: Some("Operations alerts".into()),
            secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:unused".into(),
            previous_secret_until: None,
            enabled: false,
            failing_since: Some(now - 3_000),
            disabled_at: Some(now - 1_000),
            disabled_reason: Some("every delivery failed for 5 days".into()),
            created_at: now - 7_200,
            updated_at: now - 1_000,
        })
        .await
        .expect("the subscription is stored");
    let mut deliveries = Vec::new();
    for (ago, status, code) in [
        (2_000, DeliveryStatus::Failed, 500),
        (2_500, DeliveryStatus::Failed, 503),
        (5_000, DeliveryStatus::Succeeded, 204),
    ] {
        let at = now - ago;
        let id = new_delivery_id(u64::try_from(at).unwrap() * 1000);
        let delivery = Delivery {
            delivery_id: id.clone(),
            subscription_id: subscription.into(),
            event_id: format!("evt_{ago}"),
            event_type: "job.failed".into(),
            payload: json!({"type": "job.failed", "timestamp": at, "data": {"flow_id": flow}}).to_string(),
            status,
            attempts: vec![DeliveryAttempt {
                attempt: 0,
                at: at + 1,
                status_code: Some(code),
                error: (code >= 500).then(|| format!("the endpoint answered {code}")),
                duration_ms: 42,
            }],
            created_at: at,
            updated_at: at + 1,
            next_attempt_at: None,
        };
        deps.subscriptions
            .put_delivery(&tenant, &delivery, now + 86_400)
            .await
            .expect("the delivery is logged");
        deliveries.push(id);
    }

    // The catalogue of event types the console's subscription form is built from.
    let (status, body) = call(
        &deps,
        "GET",
        "/v1/webhook-subscriptions/event-types",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let types: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, switchyard::subscriptions::EVENT_TYPES, "{body}");
    assert!(body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["description"].as_str().is_some_and(|d| !d.is_empty())));

    let url = serve(deps.clone()).await;
    // The sync function, as SQS would invoke it: it runs the job "Run now" queued, once the
    // browser has seen that job with nothing read yet (the script creates `gate` then), so the
    // console is seen following its counts up. Every other message (the replays') is kept for
    // the checks below, not run.
    let gate = std::env::temp_dir().join(format!("switchyard-console-gate-{run}"));
    let received = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let worker = {
        let sync = crate::sync::sync_deps(&env);
        let sqs = env.clients.sqs.clone();
        let queue = env.queue_url.clone();
        let received = received.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            loop {
                let msgs = sqs
                    .receive_message()
                    .queue_url(&queue)
                    .max_number_of_messages(10)
                    .wait_time_seconds(0)
                    .send()
                    .await
                    .expect("ReceiveMessage works against the emulator")
                    .messages
                    .unwrap_or_default();
                for m in msgs {
                    let body = m.body().unwrap_or("null").to_string();
                    let value: Value = serde_json::from_str(&body).expect("queue messages are JSON");
                    let envelope: Option<Envelope> = serde_json::from_value(value.clone()).ok();
                    let ran_now = match envelope.map(|e| e.message) {
                        Some(SyncMessage::SyncJob(job)) => sync
                            .jobs
                            .get(&job.flow_id, &job.job_id)
                            .await
                            .expect("jobs are readable")
                            .is_some_and(|j| j.trigger == "api"),
                        _ => false,
                    };
                    if ran_now {
                        while !gate.exists() {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let mut event = SqsEvent::default();
                        let mut record = SqsMessage::default();
                        record.message_id = m.message_id().map(str::to_owned);
                        record.body = Some(body);
                        event.records.push(record);
                        let response = switchyard::sync::handle_sqs(&sync, event, None).await;
                        assert!(response.batch_item_failures.is_empty(), "the run's job ran");
                    }
                    received.lock().unwrap().push(value);
                    sqs.delete_message()
                        .queue_url(&queue)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .expect("DeleteMessage works against the emulator");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let screenshots = std::env::var("SWITCHYARD_CONSOLE_SCREENSHOTS").unwrap_or_default();
    let script = workspace_root().join("tests/browser/console.test.mjs");
    let child = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(workspace_root().join("tests/browser"))
        .env("CONSOLE_URL", format!("{url}/console"))
        .env("ADMIN_KEY", &admin)
        .env("VIEWER_KEY", &viewer)
        .env("FLOW_ID", &flow)
        .env("CONNECTION_IDS", format!("{stripe},{hubspot},{HUBSPOT_EU}"))
        .env("CONFLICT_RECORD", CONFLICT_RECORD)
        .env("CUSTOMER_EMAIL", CUSTOMER_EMAIL)
        .env("MERGE_RECORD", &eu_id)
        .env("REPLAY_KEY", &to_replay)
        .env("PARKED_KEY", &stays)
        .env("SUBSCRIPTION_ID", subscription)
        .env("RESEND_DELIVERY", &deliveries[0])
        .env("CHROMIUM", chromium())
        .env("LOCALSTRIPE_URL", &stripe_server.base_url)
        .env("LOCALSTRIPE_KEY", localstripe::API_KEY)
        .env("RUN_GATE", &gate)
        .env("SCREENSHOT_DIR", &screenshots)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts (install Node.js 20 or later)");
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("the browser script finishes within 90 s")
        .expect("node ran");
    let worker_failed = worker.is_finished();
    worker.abort();
    let _ = std::fs::remove_file(&gate);
    assert!(!worker_failed, "the sync worker stopped early (see its panic above)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "the browser script failed:\n{stdout}\n{stderr}");

    // What the clicks did, seen from the store: the letter replayed alone and the one replayed
    // by "replay all" are replayed and their jobs back on the queue, the flow's run left a
    // job, and the conflict left the queue with the EU side's version winning.
    for key in [&to_replay, &stays] {
        let replayed = store.get(key).await.unwrap().expect("still stored");
        assert_eq!(replayed.status, DeadLetterStatus::Replayed, "{key}");
    }
    // "Run now" ran the flow: the customer the browser created in localstripe is a contact.
    let jobs = deps.jobs.recent(&flow, 10).await.unwrap();
    let ran = jobs.iter().find(|j| j.trigger == "api").expect("the run's job");
    assert_eq!((ran.counts.read, ran.counts.written), (1, 1), "{ran:?}");
    let customer = us
        .find(ObjectType::Contacts, "email", CUSTOMER_EMAIL)
        .expect("the new customer reached HubSpot");
    assert!(customer
        .get("stripe_customer_id")
        .is_some_and(|id| id.starts_with("cus_")));
    let mut sent = received.lock().unwrap().clone();
    sent.extend(env.drain_queue().await);
    assert!(
        sent.len() >= 3,
        "the run and the two replays each sent a message: {sent:?}"
    );
    assert_eq!(
        reviews.get(EU_TO_US, US_TO_EU, CONFLICT_RECORD).await.unwrap(),
        None,
        "the resolved conflict is no longer parked"
    );
    // Taking A (the EU side's source, the first flow) puts the losing direction's link in step
    // with the version parked for its side, so the EU side's next run writes over the US side.
    let links = switchyard::store::links::LinkStore::new(env.clients.dynamodb.clone(), &env.table)
        .get_many(US_TO_EU, &["contact-9001".to_string()])
        .await
        .unwrap();
    let link = links.get("contact-9001").expect("the losing direction's link is set");
    assert_eq!(link.destination_id, CONFLICT_RECORD);
    assert_eq!(
        link.record.as_ref().unwrap()["properties"]["firstname"],
        "Ada (US edit)"
    );
    // The merge the browser chose (B's first name, A's last name) is on both sides now.
    assert_eq!(reviews.get(EU_TO_US, US_TO_EU, &eu_id).await.unwrap(), None);
    for hub in [&eu, &us] {
        assert_eq!(
            lastname(hub),
            (Some("Grace (US edit)".into()), Some("Hopper".into())),
            "both sides hold the merge"
        );
    }
    // The browser re-enabled the endpoint, resent one failed delivery and recovered the other,
    // then disabled it again by hand.
    let sub = deps.subscriptions.get(subscription).await.unwrap().expect("stored");
    assert!(!sub.enabled, "disabled again: {sub:?}");
    for id in &deliveries[..2] {
        let d = deps
            .subscriptions
            .get_delivery(subscription, id)
            .await
            .unwrap()
            .expect("still logged");
        assert_eq!(d.status, DeliveryStatus::Pending, "queued again: {id}");
    }
    // The one the browser created, rotated and deleted is gone; the seeded one is left.
    let left: Vec<String> = deps
        .subscriptions
        .for_tenant(&tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [subscription], "only the seeded subscription is left");
    eprintln!("console browser test: {:.1} s", started.elapsed().as_secs_f64());
}
