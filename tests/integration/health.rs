//! Health checker, circuit breakers, alerts, token refresh and scheduled dispatch: moto for
//! state, the fake HubSpot as the checked provider, the fake Slack and the webhook sink for
//! alerts. Time is a fixed clock the tests move.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use secrecy::SecretString;
use serde_json::{json, Value};
use switchyard::admin::create_connection;
use switchyard::clock::{Clock, FixedClock};
use switchyard::config::SyncConfig;
use switchyard::connector::Registry;
use switchyard::dispatch::Dispatcher;
use switchyard::health::{self, Alerter, CircuitState, ConnectionState, HealthConfig, HealthDeps};
use switchyard::queue::{SyncJobRef, SyncMessage};
use switchyard::store::connections::Connection;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::sync::{self, SyncDeps};
use switchyard_fakes::hubspot::{self, HubspotConfig, OAuthConfig};
use switchyard_fakes::slack::{self, SlackConfig};
use switchyard_fakes::{webhook_sink, FakeHandle, FaultConfig, RateLimit, TimeoutMode};
use switchyard_tests::TestEnv;

/// 2026-11-22T00:00:00Z: the fixed clock's start where real time does not matter.
const T0: i64 = 1_795_305_600;

fn real_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Rig {
    env: TestEnv,
    tenant: String,
    clock: FixedClock,
    health: HealthDeps,
    sync: SyncDeps,
    hubspot: FakeHandle<hubspot::Hubspot>,
}

impl Rig {
    async fn new(start: i64, hub: HubspotConfig, extra: &[(&str, &str)]) -> Self {
        let env = TestEnv::new().await;
        let tenant = format!("health{}", ulid::Ulid::new().to_string().to_lowercase());
        let clock = FixedClock::at(start);
        let hubspot = hubspot::start(hub);
        let registry = Arc::new(Registry::embedded().unwrap());
        let lookup = |k: &str| -> Option<String> {
            extra
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
                .or(match k {
                    "TABLE_NAME" => Some(env.table.clone()),
                    "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
                    "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
                    "HEALTH_CHECK_TIMEOUT_SECS" => Some("2".into()),
                    "HEALTH_TIME_RESERVE_SECS" => Some("1".into()),
                    _ => None,
                })
        };
        let health = HealthDeps::new(
            HealthConfig::from_lookup(lookup).unwrap(),
            &env.clients,
            registry.clone(),
            Arc::new(clock.clone()),
        )
        .await
        .expect("health deps build");
        let sync = SyncDeps::new(
            SyncConfig::from_lookup(lookup).unwrap(),
            &env.clients,
            registry,
            Arc::new(clock.clone()),
        )
        .expect("sync deps build");
        Self {
            env,
            tenant,
            clock,
            health,
            sync,
            hubspot,
        }
    }

    async fn connect(&self, id: &str, credentials: Value) -> Connection {
        let conn = Connection {
            id: id.into(),
            tenant: self.tenant.clone(),
            provider: "hubspot".into(),
            name: format!("HubSpot {id}"),
            webhook: None,
            secret_arn: None,
            config: json!({"base_url": self.hubspot.base_url}).as_object().cloned().unwrap(),
            created_at: self.clock.now_unix(),
        };
        create_connection(
            &self.sync.connections,
            &self.sync.secrets,
            conn,
            None,
            credentials.as_object().cloned().unwrap(),
        )
        .await
        .expect("connection is created")
    }

    async fn bearer(&self, id: &str) -> Connection {
        self.connect(id, json!({"access_token": hubspot::TEST_TOKEN})).await
    }

    /// One health run, one minute after the last.
    async fn tick(&self) -> health::RunReport {
        self.clock.advance(60);
        health::run_checks(&self.health, None).await.expect("health run")
    }

    async fn record(&self, id: &str) -> health::HealthRecord {
        self.health
            .connections
            .health(id)
            .await
            .unwrap()
            .expect("a health record")
    }

    fn checks(&self) -> usize {
        self.hubspot.requests.matching("GET", "/crm/v3/objects/contacts").len()
    }

    fn flow(&self, id: &str, source: &str, destination: &str) -> Flow {
        Flow {
            id: id.into(),
            tenant: self.tenant.clone(),
            name: id.into(),
            source_connection: source.into(),
            source_stream: "contacts".into(),
            destination_connection: destination.into(),
            destination_operation: "contacts.upsert_by_email".into(),
            mapping: "{properties: {email: .properties.email}}".into(),
            mode: SyncMode::Full,
            schedule_interval_secs: Some(300),
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups: Vec::new(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        }
    }
}

fn slack_fake() -> FakeHandle<slack::Slack> {
    let slack = slack::start(SlackConfig::default());
    slack.set_rate_limit(RateLimit::new(1000, Duration::from_secs(1)));
    slack
}

fn alert_to_slack(slack: &FakeHandle<slack::Slack>) -> Alerter {
    Alerter::none(reqwest::Client::new()).with_slack(
        &format!("{}/api", slack.base_url),
        "#alerts",
        SecretString::from(slack::TEST_TOKEN.to_string()),
    )
}

#[tokio::test]
async fn states_follow_checks_and_flapping_alerts_once_per_transition() {
    let mut rig = Rig::new(T0, HubspotConfig::default(), &[("CIRCUIT_COOL_DOWN_SECS", "300")]).await;
    let slack = slack_fake();
    rig.health.alerter = alert_to_slack(&slack);
    rig.bearer("conn_flappy").await;
    let texts = || {
        slack
            .messages()
            .into_iter()
            .map(|m| m.text.unwrap_or_default())
            .collect::<Vec<_>>()
    };

    // Good, bad, good, bad, good, bad: degraded at the first failure, then no alert per flap,
    // until half of the minimum window has failed and the circuit opens.
    let mut states = vec![];
    for fail in [false, true, false, true, false, true] {
        if fail {
            rig.hubspot.faults.fail_next(1, 500);
        }
        let report = rig.tick().await;
        assert_eq!(report.checked, 1);
        states.push(rig.record("conn_flappy").await.state);
    }
    use ConnectionState::*;
    assert_eq!(states, vec![Healthy, Degraded, Degraded, Degraded, Degraded, Down]);
    let rec = rig.record("conn_flappy").await;
    assert_eq!(rec.circuit, CircuitState::Open);
    assert!(rec.last_error.as_deref().unwrap_or("").contains("500"), "{rec:?}");
    assert_eq!(texts().len(), 2, "{:?}", texts());
    assert!(texts()[0].contains("is now DEGRADED (was healthy"), "{:?}", texts());
    assert!(texts()[1].contains("is now DOWN (was degraded") && texts()[1].contains("circuit open"));

    // While the cool-down runs, no request and no alert.
    let before = rig.checks();
    for _ in 0..4 {
        let report = rig.tick().await;
        assert_eq!((report.cooling_down, report.checked), (1, 0));
    }
    assert_eq!(rig.checks(), before);
    assert_eq!(texts().len(), 2);

    // After it: one probe closes the circuit (degraded until it proves itself), then healthy.
    rig.tick().await;
    let rec = rig.record("conn_flappy").await;
    assert_eq!((rec.circuit, rec.state), (CircuitState::Closed, Degraded));
    assert_eq!(rig.checks(), before + 1);
    rig.tick().await;
    rig.tick().await;
    assert_eq!(rig.record("conn_flappy").await.state, Healthy);
    // Steady state: more ticks, no more alerts.
    rig.tick().await;
    rig.tick().await;
    let texts = texts();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[2].contains("is now DEGRADED (was down") && texts[2].contains("circuit closed (was open)"));
    assert!(texts[3].contains("is now HEALTHY"));
    assert!(slack.messages().iter().all(|m| m.channel == "C0000000002"));
}

#[tokio::test]
async fn alerts_go_to_the_webhook_once_even_when_two_runs_overlap() {
    let mut rig = Rig::new(T0, HubspotConfig::default(), &[("CIRCUIT_FAILURE_THRESHOLD", "1")]).await;
    let sink = webhook_sink::start(webhook_sink::SinkConfig::default());
    rig.health.alerter = Alerter::none(reqwest::Client::new()).with_webhook(&sink.url("/alerts"));
    rig.bearer("conn_a").await;
    rig.tick().await;
    // Every check now answers 504 after 1.2 s (inside the rig's 2 s check timeout), so both
    // runs below read the same stored state before either writes (half a second was once not
    // enough under a loaded `make test`).
    rig.hubspot.faults.configure(FaultConfig {
        timeout_ratio: 1.0,
        timeout_delay: Duration::from_millis(1200),
        timeout_mode: TimeoutMode::NotProcessed,
        ..FaultConfig::default()
    });
    rig.clock.advance(60);
    // Two runs at the same moment: both check, one records the transition and alerts.
    let (a, b) = tokio::join!(
        health::run_checks(&rig.health, None),
        health::run_checks(&rig.health, None)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.checked + b.checked, 1, "{a:?} {b:?}");
    assert_eq!(a.superseded + b.superseded, 1);
    assert_eq!(sink.len(), 1);
    let body = sink.deliveries()[0].json().unwrap();
    assert_eq!(body["type"], "connection.state_changed");
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str()),
        (Some("healthy"), Some("down"))
    );
    assert_eq!(body["connection_id"], "conn_a");
    assert!(body["last_error"].as_str().unwrap().contains("504"), "{body}");
    rig.hubspot.faults.disable();
}

#[tokio::test]
async fn an_alert_that_could_not_be_delivered_is_sent_by_the_next_run_once() {
    let mut rig = Rig::new(T0, HubspotConfig::default(), &[("CIRCUIT_FAILURE_THRESHOLD", "1")]).await;
    let sink = webhook_sink::start(webhook_sink::SinkConfig::default());
    rig.health.alerter = Alerter::none(reqwest::Client::new()).with_webhook(&sink.url("/alerts"));
    rig.bearer("conn_b").await;
    // A webhook-only connection (no connector definition, no API credentials) is left alone.
    let webhook_only = Connection {
        id: "conn_hooks".into(),
        tenant: rig.tenant.clone(),
        // No built-in connector for Twilio: nothing to check.
        provider: "twilio".into(),
        name: "Twilio webhooks".into(),
        webhook: None,
        secret_arn: None,
        config: Default::default(),
        created_at: T0,
    };
    rig.sync.connections.create(&webhook_only).await.unwrap();
    let report = rig.tick().await;
    assert_eq!((report.checked, report.no_check, report.transitions), (1, 1, 0));
    assert_eq!(rig.health.connections.health("conn_hooks").await.unwrap(), None);
    // The check fails (the connection goes down) and so does every delivery attempt.
    rig.hubspot.faults.fail_next(1, 500);
    sink.faults.fail_next(3, 500);
    let report = rig.tick().await;
    assert_eq!(
        (report.transitions, report.alerts_sent, report.alerts_failed),
        (1, 0, 1)
    );
    assert_eq!(sink.len(), 0);
    let rec = rig.record("conn_b").await;
    assert_eq!(rec.pending_alert.as_ref().map(|t| t.to), Some(ConnectionState::Down));
    // The next run (the circuit is cooling down: no check) delivers it, once.
    let report = rig.tick().await;
    assert_eq!(report.cooling_down, 1);
    assert_eq!(sink.len(), 1);
    assert_eq!(sink.deliveries()[0].json().unwrap()["to"], "down");
    assert_eq!(rig.record("conn_b").await.pending_alert, None);
    rig.tick().await;
    assert_eq!(sink.len(), 1);
}

#[tokio::test]
async fn an_open_circuit_defers_syncs_until_a_half_open_probe_closes_it() {
    let rig = Rig::new(T0, HubspotConfig::default(), &[("CIRCUIT_COOL_DOWN_SECS", "600")]).await;
    rig.bearer("conn_src").await;
    rig.bearer("conn_dst").await;
    let flow = rig.flow("flow_deferred", "conn_src", "conn_dst");
    rig.sync.flows.create(&flow).await.unwrap();
    rig.tick().await;

    // Three failed checks open the circuit.
    rig.hubspot.faults.fail_next(6, 500);
    for _ in 0..3 {
        rig.tick().await;
    }
    let rec = rig.record("conn_src").await;
    assert_eq!((rec.state, rec.circuit), (ConnectionState::Down, CircuitState::Open));
    rig.hubspot.faults.disable();

    // A job arrives: it is put back on the queue for after the cool-down, not run, not failed,
    // and its attempt count stays.
    let job = sync::start_job(&rig.sync, &flow, "test", None, true).await.unwrap();
    let bodies = rig.env.drain_queue().await;
    assert_eq!(bodies.len(), 1);
    let event = sqs_event(&bodies);
    let reads = rig.hubspot.requests.len();
    let resp = sync::handle_sqs(&rig.sync, event.clone(), None).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(rig.hubspot.requests.len(), reads, "no request to the provider");
    let stored = rig.sync.jobs.get(&flow.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.last_error.as_deref()),
        (JobStatus::Running, None)
    );
    assert_eq!(
        delayed_messages(&rig.env).await,
        1,
        "the job waits on the queue, delayed"
    );
    assert!(dlq_is_empty(&rig.env).await);
    let (conn, until) = sync::open_circuit(&rig.sync, &job_ref(&flow, &job.job_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((conn.as_str(), until), ("conn_src", rec.open_until.unwrap()));

    // The scheduled dispatch skips the flow too, and leaves it due.
    let dispatcher = Dispatcher::new(rig.env.clients.dynamodb.clone(), &rig.env.table);
    let report = dispatcher.tick(&rig.sync).await.unwrap();
    assert_eq!(
        report.skipped_open_circuit,
        vec![("flow_deferred".to_string(), "conn_src".to_string())]
    );
    assert!(report.dispatched.is_empty());

    // Cool-down over: the probe half-opens the circuit and its success closes it.
    rig.clock.advance(600);
    let report = rig.tick().await;
    assert_eq!(report.transitions, 2, "both connections' circuits close: {report:?}");
    assert_eq!(rig.record("conn_src").await.circuit, CircuitState::Closed);
    // The deferred message comes back (same body) and now runs.
    let resp = sync::handle_sqs(&rig.sync, event, None).await;
    assert!(resp.batch_item_failures.is_empty());
    let stored = rig.sync.jobs.get(&flow.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Succeeded);
    let report = dispatcher.tick(&rig.sync).await.unwrap();
    assert_eq!(report.dispatched, vec!["flow_deferred".to_string()]);
}

fn job_ref(flow: &Flow, job_id: &str) -> SyncJobRef {
    SyncJobRef {
        flow_id: flow.id.clone(),
        job_id: job_id.into(),
        attempt: 0,
    }
}

fn sqs_event(bodies: &[Value]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, b) in bodies.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(b.to_string());
        event.records.push(m);
    }
    event
}

async fn delayed_messages(env: &TestEnv) -> u64 {
    let attrs = env
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&env.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    attrs
        .attributes
        .unwrap_or_default()
        .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn dlq_is_empty(env: &TestEnv) -> bool {
    let out = env
        .clients
        .sqs
        .receive_message()
        .queue_url(&env.dlq_url)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    out.messages.unwrap_or_default().is_empty()
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry_and_a_rotated_refresh_token_is_stored() {
    let hub = HubspotConfig {
        oauth: OAuthConfig {
            refresh_tokens: vec!["refresh-1".into()],
            rotate_refresh_tokens: true,
            ..OAuthConfig::default()
        },
        ..HubspotConfig::default()
    };
    // The engine reads token expiry from the real clock: the fixed one starts at real time.
    let mut rig = Rig::new(real_now(), hub, &[]).await;
    // HubSpot's definition with its token endpoint at the fake.
    let yaml = Registry::embedded_source("hubspot").unwrap().replace(
        "https://api.hubapi.com/oauth/v1/token",
        &format!("{}/oauth/v1/token", rig.hubspot.base_url),
    );
    rig.health.registry = Arc::new(Registry::from_sources([("hubspot.yaml", yaml.as_str())]).unwrap());
    let now = rig.clock.now_unix();
    let conn = rig
        .connect(
            "conn_oauth",
            json!({
                "client_id": "fake-client-id",
                "client_secret": "fake-client-secret",
                "refresh_token": "refresh-1",
                "access_token": "issued-earlier",
                "expires_at": now + 600,
            }),
        )
        .await;
    let arn = conn.secret_arn.clone().unwrap();

    // Expires in 10 minutes: refreshed now, the rotated refresh token stored at once.
    let report = health::run_checks(&rig.health, None).await.unwrap();
    assert_eq!((report.checked, report.tokens_refreshed), (1, 1));
    let secret: Value = serde_json::from_str(&rig.sync.secrets.get_value(&arn).await.unwrap()).unwrap();
    let accepted = rig.hubspot.refresh_tokens();
    assert_eq!(accepted.len(), 1);
    assert_ne!(accepted[0], "refresh-1", "the fake rotated it");
    assert_eq!(secret["refresh_token"], accepted[0].as_str());
    let issued = rig.hubspot.issued_access_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(secret["access_token"], issued[0].as_str());
    assert!(secret["expires_at"].as_i64().unwrap() > now + 900);
    assert_eq!(secret["client_secret"], "fake-client-secret", "other fields kept");
    let rec = rig.record("conn_oauth").await;
    assert_eq!(
        (rec.state, rec.token_refreshed_at),
        (ConnectionState::Healthy, Some(now))
    );

    // Five minutes later the stored token is fresh: no refresh, the check uses it.
    rig.clock.advance(300);
    let report = health::run_checks(&rig.health, None).await.unwrap();
    assert_eq!((report.checked, report.tokens_refreshed), (1, 0));
    assert_eq!(rig.hubspot.issued_access_tokens().len(), 1);
    assert_eq!(rig.record("conn_oauth").await.state, ConnectionState::Healthy);

    // A refresh token the provider no longer knows: needs re-auth, with the circuit open.
    let mut doc = serde_json::Map::new();
    doc.insert("expires_at".into(), json!(0));
    doc.insert("refresh_token".into(), json!("revoked-refresh-token"));
    rig.sync.secrets.merge_fields(&arn, doc).await.unwrap();
    rig.clock.advance(300);
    let report = health::run_checks(&rig.health, None).await.unwrap();
    assert_eq!(report.transitions, 1);
    let rec = rig.record("conn_oauth").await;
    assert_eq!(
        (rec.state, rec.circuit),
        (ConnectionState::NeedsReauth, CircuitState::Open)
    );
}

#[tokio::test]
async fn overlapping_dispatch_ticks_never_dispatch_a_flow_twice() {
    let rig = Rig::new(T0, HubspotConfig::default(), &[]).await;
    let flows: Vec<Flow> = (0..23)
        .map(|i| rig.flow(&format!("flow_{i:02}"), "conn_x", "conn_y"))
        .collect();
    for f in &flows {
        rig.sync.flows.create(f).await.unwrap();
    }
    // A flow without a schedule and a disabled one are never dispatched.
    let mut manual = rig.flow("flow_manual", "conn_x", "conn_y");
    manual.schedule_interval_secs = None;
    rig.sync.flows.create(&manual).await.unwrap();
    let mut off = rig.flow("flow_off", "conn_x", "conn_y");
    off.enabled = false;
    rig.sync.flows.create(&off).await.unwrap();

    // The ticks' claims go to moto one at a time: moto applies a conditional write without a
    // lock, so two racing on one item can both succeed, which DynamoDB never allows (this test
    // once saw a flow claimed twice that way on a loaded machine).
    let serial = switchyard_tests::keepalive::start_serialized(&switchyard_tests::emulator().endpoint)
        .await
        .expect("the serialising proxy starts");
    let claims = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&switchyard_tests::sdk_config().await)
            .endpoint_url(&serial.endpoint)
            .build(),
    );
    let dispatcher = Dispatcher::new(claims, &rig.env.table);
    for round in 0..2 {
        let (a, b, c) = tokio::join!(
            dispatcher.tick(&rig.sync),
            dispatcher.tick(&rig.sync),
            dispatcher.tick(&rig.sync)
        );
        let reports = [a.unwrap(), b.unwrap(), c.unwrap()];
        let dispatched: Vec<&String> = reports.iter().flat_map(|r| &r.dispatched).collect();
        let unique: HashSet<&String> = dispatched.iter().copied().collect();
        assert_eq!(dispatched.len(), 23, "round {round}: {reports:?}");
        assert_eq!(unique.len(), 23);
        let messages = rig.env.drain_queue().await;
        assert_eq!(messages.len(), 23);
        let mut flow_ids: Vec<String> = messages
            .iter()
            .map(|m| match serde_json::from_value::<SyncMessage>(m.clone()).unwrap() {
                SyncMessage::SyncJob(j) => j.flow_id,
                other => panic!("not a sync job: {other:?}"),
            })
            .collect();
        flow_ids.sort();
        flow_ids.dedup();
        assert_eq!(flow_ids.len(), 23);
        // Not due again until the interval has passed.
        let again = dispatcher.tick(&rig.sync).await.unwrap();
        assert_eq!(again.due, 0);
        rig.clock.advance(300);
    }
    let stored = rig.sync.flows.get("flow_00").await.unwrap().unwrap();
    assert_eq!(stored.next_run_at, Some(T0 + 600));
}

/// The suite's run: 250 connections, every one checked in one invocation under faults.
#[tokio::test]
async fn two_hundred_fifty_connections_are_checked_within_the_time_budget() {
    connections_checked_within_the_time_budget(250).await;
}

/// The full proof: a thousand connections. Each is a stored item and a check against the
/// emulator, so on two shared cores it is a long proof and lives with the benchmarks:
/// `make bench` runs it and prints the time.
#[tokio::test]
#[ignore = "long proof: `make bench` runs it"]
async fn a_thousand_connections_are_checked_within_the_time_budget() {
    connections_checked_within_the_time_budget(1000).await;
}

async fn connections_checked_within_the_time_budget(n: usize) {
    let hub = HubspotConfig {
        rate_limit: RateLimit::new(1_000_000, Duration::from_secs(10)),
        faults: FaultConfig {
            seed: 11,
            server_error_ratio: 0.05,
            timeout_ratio: 0.03,
            timeout_delay: Duration::from_secs(4),
            timeout_mode: TimeoutMode::NotProcessed,
            ..FaultConfig::default()
        },
        ..HubspotConfig::default()
    };
    let rig = Rig::new(
        T0,
        hub,
        &[
            ("HEALTH_CONCURRENCY", "64"),
            ("HEALTH_CHECK_TIMEOUT_SECS", "1"),
            ("HEALTH_TIME_RESERVE_SECS", "5"),
            ("HEALTH_PAGE_SIZE", "100"),
        ],
    )
    .await;
    let first = rig.bearer("conn_0000").await;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let store = rig.sync.connections.clone();
        let first = first.clone();
        tasks.spawn(async move {
            for i in (1..n).filter(|i| i % 16 == worker) {
                let conn = Connection {
                    id: format!("conn_{i:04}"),
                    ..first.clone()
                };
                store.create(&conn).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("creating connections");
    }

    // The function's budget: its 5-minute timeout.
    let budget = Duration::from_secs(300);
    let started = Instant::now();
    let report = health::run_checks(&rig.health, Some(started + budget)).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.connections, n, "{report:?}");
    assert_eq!(report.checked, n, "{report:?}");
    assert_eq!((report.not_reached, report.errors, report.superseded), (0, 0, 0));
    assert!(
        report.states.get("degraded").copied().unwrap_or(0) > 0,
        "some checks failed: {report:?}"
    );
    eprintln!(
        "health: {n} connections checked in {:.1} s with concurrency 64 (timeouts {}, 5xx {}); states {:?}",
        elapsed.as_secs_f64(),
        rig.hubspot.faults.counts().timeouts,
        rig.hubspot.faults.counts().server_errors,
        report.states
    );
    rig.hubspot.faults.disable();
}

#[tokio::test]
async fn graph_subscriptions_near_expiry_are_renewed_and_a_refused_renewal_alerts_once() {
    use switchyard_fakes::microsoft_graph::{self, GraphConfig, CLIENT_ID, CLIENT_SECRET, TENANT_ID, USER};
    // Graph's expiries are real time: the fixed clock starts there.
    let mut rig = Rig::new(real_now(), HubspotConfig::default(), &[]).await;
    let sink = webhook_sink::start(webhook_sink::SinkConfig::default());
    rig.health.alerter = Alerter::none(reqwest::Client::new()).with_webhook(&sink.url("/alerts"));
    let graph = microsoft_graph::start(GraphConfig {
        messages: 0,
        events: 0,
        contacts: 0,
        ..GraphConfig::default()
    });
    let conn = Connection {
        id: "conn_graph".into(),
        tenant: rig.tenant.clone(),
        provider: "microsoft-graph".into(),
        name: "Outlook".into(),
        webhook: None,
        secret_arn: None,
        config: json!({
            "base_url": format!("{}/v1.0", graph.base_url),
            "login_url": graph.base_url,
            "tenant_id": TENANT_ID,
            "user": USER,
        })
        .as_object()
        .cloned()
        .unwrap(),
        created_at: rig.clock.now_unix(),
    };
    create_connection(
        &rig.sync.connections,
        &rig.sync.secrets,
        conn,
        None,
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .await
    .expect("connection is created");
    let ours = "https://hooks.example.com/hooks/conn_graph";
    let resource = format!("users/{USER}/mailFolders('inbox')/messages");
    let hour = 3600;
    let near = graph.insert_subscription(&resource, "created", ours, "state", 2 * hour);
    let far = graph.insert_subscription(&resource, "created", ours, "state", 6 * 24 * hour);
    let refused = graph.insert_subscription(&resource, "updated", ours, "state", 3 * hour);
    graph.refuse_renewals(&refused, true);
    // Another connection's subscription, as near its end: not this connection's to renew.
    let other = graph.insert_subscription(
        &resource,
        "created",
        "https://hooks.example.com/hooks/conn_other",
        "state",
        2 * hour,
    );
    let expiry = |id: &str| graph.subscription_expiry(id).expect("the subscription is live");
    let (far_before, other_before) = (expiry(&far), expiry(&other));
    let patches = || graph.requests.all().iter().filter(|r| r.method == "PATCH").count();

    let now = rig.clock.now_unix();
    let report = health::run_checks(&rig.health, None).await.unwrap();
    assert_eq!((report.checked, report.transitions), (1, 0), "{report:?}");
    assert_eq!((report.subscriptions_renewed, report.renewals_failed), (1, 1));
    // The near one now lives the definition's 70 hours; the others are as they were.
    assert!((expiry(&near) - (now + 252_000)).abs() <= 5, "{}", expiry(&near) - now);
    assert_eq!((expiry(&far), expiry(&other)), (far_before, other_before));
    assert_eq!(patches(), 2, "the near and the refused one");
    let rec = rig.record("conn_graph").await;
    assert_eq!(
        rec.state,
        ConnectionState::Healthy,
        "the API answers: not a health failure"
    );
    assert_eq!(
        rec.subscriptions.keys().cloned().collect::<HashSet<_>>(),
        HashSet::from([near.clone(), far.clone(), refused.clone()])
    );
    assert_eq!(rec.subscriptions[&near].expires_at, Some(expiry(&near)));
    assert_eq!(rec.subscriptions[&near].renewed_at, Some(now));
    assert_eq!(rec.subscriptions[&far].renewed_at, None);
    let failed = &rec.subscriptions[&refused];
    assert!(
        failed.error.as_deref().unwrap().contains("Access is denied"),
        "{failed:?}"
    );
    assert!(failed.alerted);
    assert_eq!(sink.len(), 1);
    let body = sink.deliveries()[0].json().unwrap();
    assert_eq!(body["type"], "connection.subscription_renewal_failed");
    assert_eq!(
        (body["connection_id"].as_str(), body["subscription_id"].as_str()),
        (Some("conn_graph"), Some(refused.as_str()))
    );
    assert!(
        body["text"].as_str().unwrap().contains("could not be renewed"),
        "{body}"
    );

    // A minute later: the renewed one is left alone; the refused one is tried again and
    // still refused, without a second alert.
    let report = rig.tick().await;
    assert_eq!((report.subscriptions_renewed, report.renewals_failed), (0, 1));
    assert_eq!(patches(), 3);
    assert_eq!(sink.len(), 1, "one alert per failing episode");

    // Graph accepts it again: renewed, the error cleared.
    graph.refuse_renewals(&refused, false);
    let report = rig.tick().await;
    assert_eq!((report.subscriptions_renewed, report.renewals_failed), (1, 0));
    let rec = rig.record("conn_graph").await;
    assert_eq!(rec.subscriptions[&refused].error, None);
    assert!(!rec.subscriptions[&refused].alerted);
    assert!(expiry(&refused) > now + 200_000);
    assert_eq!(sink.len(), 1);
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}
