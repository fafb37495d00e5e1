//! Outbound webhook subscriptions end to end against moto: created through the API, events
//! published through the one publisher, delivered by connector-sync's handler from the sync
//! queue to a local endpoint that checks every signature with the receiver's own verifier;
//! failure -> retries -> disabled -> alert; resend and recover; each emitter's real path (a
//! sync job, a deletion event, a health transition); a delivery SQS refused, kept in the outbox
//! and sent by the next dispatch tick.

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use switchyard::api::{ApiConfig, ApiDeps, ApiRequest};
use switchyard::clock::FixedClock;
use switchyard::config::SyncConfig;
use switchyard::connector::Registry;
use switchyard::retry::{RetryPolicy, RetrySchedule};
use switchyard::store::api_keys::{Role, Tier};
use switchyard::store::connections::{Connection, WebhookSettings};
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::subscriptions::{OutboundEvent, Publisher};
use switchyard::sync::SyncDeps;
use switchyard::webhook::{verify, Headers, Scheme, SigningSecrets, VerifyOptions, WebhookRequest};
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType};
use switchyard_fakes::FakeHandle;
use switchyard_tests::faults::Fault;
use switchyard_tests::TestEnv;

const NOW: i64 = 1_800_000_000;

/// What the local endpoint saw: (webhook-id, body, whether the signature verified).
type Seen = Arc<Mutex<Vec<(String, Value, bool)>>>;

/// A local endpoint: verifies each delivery with the receiver's Standard Webhooks verifier
/// against `secret` (set once the API showed it) and answers `status`.
struct Endpoint {
    url: String,
    seen: Seen,
    status: Arc<Mutex<u16>>,
    secret: Arc<Mutex<String>>,
}

async fn endpoint(clock: FixedClock) -> Endpoint {
    let seen: Seen = Default::default();
    let status = Arc::new(Mutex::new(200u16));
    let secret = Arc::new(Mutex::new(String::new()));
    let (s2, st2, sec2, c2) = (seen.clone(), status.clone(), secret.clone(), clock.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (seen, status, secret, clock) = (s2.clone(), st2.clone(), sec2.clone(), c2.clone());
        async move {
            let pairs: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect();
            let h = Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let req = WebhookRequest {
                method: "POST",
                url: "http://localhost/hook",
                headers: &h,
                body: &body,
            };
            let secret = secret.lock().unwrap().clone();
            let ok = verify(
                &Scheme::StandardWebhooks,
                &req,
                &SigningSecrets::new(secret),
                &VerifyOptions::at(switchyard::clock::Clock::now_unix(&clock)),
            )
            .is_ok();
            let id = h.get("webhook-id").unwrap_or_default().to_string();
            seen.lock()
                .unwrap()
                .push((id, serde_json::from_slice(&body).unwrap_or(Value::Null), ok));
            StatusCode::from_u16(*status.lock().unwrap()).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Endpoint {
        url,
        seen,
        status,
        secret,
    }
}

/// The alert target: every JSON body POSTed to it.
async fn alert_target() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Default::default();
    let g2 = got.clone();
    let app = axum::Router::new().fallback(move |body: Bytes| {
        let got = g2.clone();
        async move {
            got.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

struct Rig {
    env: TestEnv,
    api: ApiDeps,
    sync: SyncDeps,
    publisher: Publisher,
    clock: FixedClock,
    tenant: String,
    key: String,
}

impl Rig {
    async fn new(disable_after_secs: u64, alert_url: Option<&str>) -> Self {
        let env = TestEnv::new().await;
        let clock = FixedClock::at(NOW);
        let mut config = ApiConfig::new(&env.table, &env.queue_url);
        config.allow_private_network = true;
        let registry = Arc::new(Registry::embedded().expect("embedded definitions load"));
        let api = ApiDeps::new(config, &env.clients, registry.clone(), Arc::new(clock.clone()));
        let disable = disable_after_secs.to_string();
        let sync_config = SyncConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(env.table.clone()),
            "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
            "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
            "WEBHOOK_TIMEOUT_SECS" => Some("2".into()),
            "WEBHOOK_DISABLE_AFTER_SECS" => Some(disable.clone()),
            "ALERT_WEBHOOK_URL" => alert_url.map(str::to_string),
            _ => None,
        })
        .unwrap();
        let mut sync = SyncDeps::new(sync_config, &env.clients, registry, Arc::new(clock.clone())).unwrap();
        // Five retries, scheduled with no wait (the scale), so the test drives them by hand.
        sync.retry = RetryPolicy {
            schedule: RetrySchedule {
                delays: [30u64; 5].iter().copied().map(std::time::Duration::from_secs).collect(),
                jitter: 0.2,
            },
            delay_scale: 0.0,
        };
        // A publisher without a cache period: each test step sees the subscriptions as stored.
        let publisher = Publisher::new(
            switchyard::store::subscriptions::SubscriptionStore::new(env.clients.dynamodb.clone(), &env.table),
            Some(switchyard::queue::SyncQueue::new(
                env.clients.sqs.clone(),
                &env.queue_url,
            )),
            std::time::Duration::ZERO,
        );
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        let tenant = format!("subs-{}", &ulid[ulid.len() - 8..]);
        let (new, _) = switchyard::admin::create_api_key(
            &api.keys,
            &tenant,
            "bootstrap",
            Role::Admin,
            Tier::Enterprise,
            "cli",
            NOW,
        )
        .await
        .unwrap();
        let key = secrecy::ExposeSecret::expose_secret(&new.key).to_string();
        switchyard_tests::log_capture::known_secret(&key);
        Self {
            env,
            api,
            sync,
            publisher,
            clock,
            tenant,
            key,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {}", self.key).parse().unwrap());
        if body.is_some() {
            headers.insert("content-type", "application/json".parse().unwrap());
        }
        let resp = switchyard::api::handle(
            &self.api,
            ApiRequest {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                headers,
                body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            },
        )
        .await;
        let body = if resp.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&resp.body).unwrap()
        };
        (resp.status, body)
    }

    /// Creates a subscription; returns its id and tells the endpoint the secret.
    async fn subscribe(&self, endpoint: &Endpoint, types: Value, filter: Value) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/v1/webhook-subscriptions",
                Some(json!({"url": endpoint.url, "event_types": types, "filter": filter})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let secret = body["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"), "{body}");
        switchyard_tests::log_capture::known_secret(&secret);
        *endpoint.secret.lock().unwrap() = secret;
        body["id"].as_str().unwrap().to_string()
    }

    /// Hands every message on the sync queue to connector-sync's handler, once.
    async fn deliver_queued(&self) -> usize {
        let bodies = self.env.drain_queue().await;
        let mut event = SqsEvent::default();
        for (i, b) in bodies.iter().enumerate() {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m{i}"));
            m.body = Some(b.to_string());
            event.records.push(m);
        }
        let n = event.records.len();
        let resp = switchyard::sync::handle_sqs(&self.sync, event, None).await;
        assert!(resp.batch_item_failures.is_empty(), "no message failed outright");
        n
    }

    async fn deliveries(&self, id: &str) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &format!("/v1/webhook-subscriptions/{id}/deliveries"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn a_subscriber_gets_signed_deliveries_its_own_verifier_accepts_and_only_what_it_asked_for() {
    let rig = Rig::new(3600, None).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    let id = rig
        .subscribe(&endpoint, json!(["job.finished"]), json!({"flow_id": "flow_a"}))
        .await;
    // The secret is in Secrets Manager only: the stored item holds its ARN, never the value.
    let stored = rig.api.subscriptions.get(&id).await.unwrap().unwrap();
    assert!(stored.secret_arn.starts_with("arn:"), "{stored:?}");
    let (_, shown) = rig.call("GET", &format!("/v1/webhook-subscriptions/{id}"), None).await;
    assert!(
        shown.get("secret").is_none() && !shown.to_string().contains("whsec_"),
        "{shown}"
    );

    let wanted = OutboundEvent::new("job.finished", NOW, json!({"flow_id": "flow_a", "job_id": "j1"}));
    let queued = rig
        .publisher
        .publish(
            &rig.tenant,
            &[
                wanted.clone(),
                OutboundEvent::new("job.finished", NOW, json!({"flow_id": "flow_b"})),
                OutboundEvent::new("job.failed", NOW, json!({"flow_id": "flow_a"})),
            ],
            (NOW * 1000) as u64,
        )
        .await;
    assert_eq!(queued, 1, "only the type and flow it asked for");
    // Another tenant's events never reach it.
    assert_eq!(
        rig.publisher
            .publish("someone-else", std::slice::from_ref(&wanted), (NOW * 1000) as u64)
            .await,
        0
    );
    assert_eq!(rig.deliver_queued().await, 1);

    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (webhook_id, body, verified) = &seen[0];
    assert!(verified, "the receiver's own verifier accepts the signature");
    assert_eq!(webhook_id, &wanted.id);
    assert_eq!(body["type"], "job.finished");
    assert_eq!(body["data"]["job_id"], "j1");

    let log = rig.deliveries(&id).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["event_id"], wanted.id.as_str());
    assert_eq!(log[0]["attempts"][0]["status_code"], 200);
    assert!(log[0].get("payload").is_none(), "bodies only with include=payload");
    let (_, with) = rig
        .call(
            "GET",
            &format!("/v1/webhook-subscriptions/{id}/deliveries?include=payload"),
            None,
        )
        .await;
    assert!(with["items"][0]["payload"].as_str().unwrap().contains("\"j1\""));

    // A rotated secret: the new one verifies at once, the old one during the overlap.
    let old = endpoint.secret.lock().unwrap().clone();
    let (status, rotated) = rig
        .call("POST", &format!("/v1/webhook-subscriptions/{id}/rotate-secret"), None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    switchyard_tests::log_capture::known_secret(&new);
    assert_ne!(new, old);
    // The delivery cache keeps a secret for a minute in a warm process: a fresh one reads it.
    rig.clock.advance(120);
    let sync2 = {
        let mut d = SyncDeps::new(
            rig.sync.config.clone(),
            &rig.env.clients,
            Arc::new(Registry::embedded().unwrap()),
            Arc::new(rig.clock.clone()),
        )
        .unwrap();
        d.retry = rig.sync.retry.clone();
        d
    };
    rig.publisher
        .publish(
            &rig.tenant,
            &[OutboundEvent::new("job.finished", NOW, json!({"flow_id": "flow_a"}))],
            (NOW * 1000) as u64,
        )
        .await;
    let bodies = rig.env.drain_queue().await;
    let mut event = SqsEvent::default();
    for b in bodies {
        let mut m = SqsMessage::default();
        m.message_id = Some("r".into());
        m.body = Some(b.to_string());
        event.records.push(m);
    }
    switchyard::sync::handle_sqs(&sync2, event, None).await;
    let last = endpoint.seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        last.2,
        "the endpoint still holding the old secret verifies during the overlap"
    );
    *endpoint.secret.lock().unwrap() = new;
    let before = endpoint.seen.lock().unwrap().len();
    let log = rig.deliveries(&id).await;
    let (status, _) = rig
        .call(
            "POST",
            &format!(
                "/v1/webhook-subscriptions/{id}/deliveries/{}/resend",
                log[0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 202);
    switchyard::sync::handle_sqs(
        &sync2,
        {
            let mut event = SqsEvent::default();
            for b in rig.env.drain_queue().await {
                let mut m = SqsMessage::default();
                m.message_id = Some("s".into());
                m.body = Some(b.to_string());
                event.records.push(m);
            }
            event
        },
        None,
    )
    .await;
    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), before + 1);
    assert!(seen.last().unwrap().2, "the new secret verifies");
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_then_disabled_with_an_alert_and_recover_sends_what_failed() {
    let (alert_url, alerts) = alert_target().await;
    let rig = Rig::new(60, Some(&alert_url)).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    let id = rig.subscribe(&endpoint, json!(["dead_letter.parked"]), json!({})).await;
    *endpoint.status.lock().unwrap() = 503;
    let event = OutboundEvent::new("dead_letter.parked", NOW, json!({"key": "job:f:j"}));
    assert_eq!(
        rig.publisher
            .publish(&rig.tenant, std::slice::from_ref(&event), (NOW * 1000) as u64)
            .await,
        1
    );
    // Attempt 0 at NOW, 1 at +30 s (retried), 2 at +60 s: failing for 60 s, so disabled.
    for step in 0..3 {
        assert_eq!(rig.deliver_queued().await, 1, "step {step}: the retry was queued");
        let log = rig.deliveries(&id).await;
        assert_eq!(log[0]["attempts"].as_array().unwrap().len(), step + 1, "{log:?}");
        rig.clock.advance(30);
    }
    assert_eq!(
        rig.deliver_queued().await,
        0,
        "no retry after the endpoint was disabled"
    );
    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|(wid, _, ok)| *ok && wid == &event.id),
        "same webhook-id, signed, each time"
    );
    let log = rig.deliveries(&id).await;
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["attempts"][2]["status_code"], 503);
    let (_, sub) = rig.call("GET", &format!("/v1/webhook-subscriptions/{id}"), None).await;
    assert_eq!(sub["enabled"], false, "{sub}");
    assert!(sub["disabled_reason"].as_str().unwrap().contains("HTTP 503"), "{sub}");
    let got = alerts.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one alert: {got:?}");
    assert_eq!(got[0]["type"], "webhook_subscription.disabled");
    assert_eq!(got[0]["subscription_id"], id.as_str());
    assert!(
        !got[0].to_string().contains(&endpoint.url),
        "the alert does not show the URL"
    );

    // While disabled: nothing is routed to it, and resend / recover are refused.
    assert_eq!(
        rig.publisher
            .publish(
                &rig.tenant,
                &[OutboundEvent::new("dead_letter.parked", NOW, json!({}))],
                (NOW * 1000) as u64
            )
            .await,
        0
    );
    let delivery = log[0]["id"].as_str().unwrap().to_string();
    let resend = format!("/v1/webhook-subscriptions/{id}/deliveries/{delivery}/resend");
    assert_eq!(rig.call("POST", &resend, None).await.0, 409);
    let recover = format!("/v1/webhook-subscriptions/{id}/recover");
    assert_eq!(
        rig.call("POST", &recover, Some(json!({"since": NOW - 10}))).await.0,
        409
    );

    // Fixed and re-enabled: recover sends every failed delivery since T, and it arrives.
    *endpoint.status.lock().unwrap() = 204;
    let (status, sub) = rig
        .call(
            "PATCH",
            &format!("/v1/webhook-subscriptions/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (status, &sub["enabled"], &sub["failing_since"]),
        (200, &json!(true), &Value::Null)
    );
    let (status, recovered) = rig.call("POST", &recover, Some(json!({"since": NOW + 3600}))).await;
    assert_eq!(
        (status, &recovered["queued"]),
        (422, &Value::Null),
        "since in the future: {recovered}"
    );
    let (status, recovered) = rig.call("POST", &recover, Some(json!({"since": NOW - 10}))).await;
    assert_eq!((status, recovered["queued"].as_u64()), (202, Some(1)), "{recovered}");
    assert_eq!(rig.deliver_queued().await, 1);
    let log = rig.deliveries(&id).await;
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(
        log[0]["attempts"].as_array().unwrap().len(),
        4,
        "the log keeps the failed attempts"
    );
    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[3].0, event.id, "the same webhook-id after recovery");
    // Nothing failed is left to recover; an unknown delivery is a 404.
    let (_, again) = rig.call("POST", &recover, Some(json!({"since": NOW - 10}))).await;
    assert_eq!(again["queued"], 0);
    let missing = format!("/v1/webhook-subscriptions/{id}/deliveries/dlv_nope/resend");
    assert_eq!(rig.call("POST", &missing, None).await.0, 404);
}

#[tokio::test]
async fn bad_subscriptions_are_refused_field_by_field_and_leave_nothing_behind() {
    let rig = Rig::new(3600, None).await;
    let (status, body) = rig
        .call(
            "POST",
            "/v1/webhook-subscriptions",
            Some(json!({"url": "ftp://example.com/x", "event_types": ["record.created", "record.*"], "filter": {"a": {"b": 1}}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "event_types", "filter"], "{body}");
    assert!(body["errors"][1]["detail"]
        .as_str()
        .unwrap()
        .contains("unknown: record.*"));
    // The metadata address, in production (private networks not allowed): refused.
    let mut strict = ApiConfig::new(&rig.env.table, &rig.env.queue_url);
    strict.allow_private_network = false;
    let strict = ApiDeps::new(
        strict,
        &rig.env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(rig.clock.clone()),
    );
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "http://example.com/hook",
    ] {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {}", rig.key).parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let resp = switchyard::api::handle(
            &strict,
            ApiRequest {
                method: "POST".into(),
                path: "/v1/webhook-subscriptions".into(),
                query: String::new(),
                headers,
                body: json!({"url": url, "event_types": ["job.failed"]})
                    .to_string()
                    .into_bytes(),
            },
        )
        .await;
        assert_eq!(resp.status, 422, "{url}: {}", resp.body);
        assert!(resp.body.contains("\"url\""), "{url}: {}", resp.body);
    }
    let (_, list) = rig.call("GET", "/v1/webhook-subscriptions", None).await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
    let secrets = rig
        .env
        .clients
        .secrets
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list
        .unwrap_or_default();
    assert!(
        !secrets
            .iter()
            .any(|s| s.name().unwrap_or_default().contains(&rig.tenant)),
        "no secret was made for a refused subscription"
    );
}

#[tokio::test]
async fn parking_in_the_retry_handler_emits_dead_letter_parked_to_the_flows_tenant() {
    let rig = Rig::new(3600, None).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    rig.subscribe(&endpoint, json!(["dead_letter.parked"]), json!({"flow_id": "flow_p"}))
        .await;
    let flow = switchyard::store::flows::Flow {
        id: "flow_p".into(),
        tenant: rig.tenant.clone(),
        name: "p".into(),
        source_connection: "conn_s".into(),
        source_stream: "contacts".into(),
        destination_connection: "conn_d".into(),
        destination_operation: "contacts.create".into(),
        mapping: ".".into(),
        mode: switchyard::store::flows::SyncMode::Full,
        schedule_interval_secs: None,
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
    };
    rig.sync.flows.create(&flow).await.unwrap();
    let config = switchyard::retry::RetryConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(rig.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(rig.env.queue_url.clone()),
        _ => None,
    })
    .unwrap();
    let mut retry = switchyard::retry::RetryDeps::new(config, &rig.env.clients, Arc::new(rig.clock.clone()));
    // No retries left: the first message from the dead-letter queue is parked.
    retry.policy.schedule.delays.clear();
    let envelope =
        switchyard::queue::Envelope::new(switchyard::queue::SyncMessage::SyncJob(switchyard::queue::SyncJobRef {
            flow_id: "flow_p".into(),
            job_id: "job_9".into(),
            attempt: 0,
        }));
    let mut event = SqsEvent::default();
    let mut m = SqsMessage::default();
    m.message_id = Some("d1".into());
    m.body = Some(envelope.to_body());
    event.records.push(m);
    let resp = switchyard::retry::handle_dlq(&retry, event).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(
        rig.deliver_queued().await,
        1,
        "one delivery queued by the retry handler"
    );
    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].2, "signed");
    assert_eq!(seen[0].1["type"], "dead_letter.parked");
    assert_eq!(seen[0].1["data"]["key"], "job:flow_p:job_9");
    assert_eq!(seen[0].1["data"]["flow_id"], "flow_p");
}

// ---------------------------------------------------------------- the emitters' real paths

const HUBSPOT_CLIENT_SECRET: &str = "hubspot-app-client-secret";

/// Two fake HubSpot portals, connections to them of the rig's tenant (the source receives
/// HubSpot webhooks), and a contacts flow from one to the other keyed by email.
struct Portals {
    source: FakeHandle<hubspot::Hubspot>,
    destination: FakeHandle<hubspot::Hubspot>,
    flow: Flow,
}

impl Rig {
    async fn connect_hubspot(&self, id: &str, hub: &FakeHandle<hubspot::Hubspot>, webhook: bool) {
        let conn = Connection {
            id: id.into(),
            tenant: self.tenant.clone(),
            provider: "hubspot".into(),
            name: id.into(),
            webhook: webhook.then(|| WebhookSettings {
                scheme: Scheme::Hubspot(Default::default()),
                tolerance_secs: None,
                handshake_until: None,
            }),
            secret_arn: None,
            config: json!({"base_url": hub.base_url}).as_object().cloned().unwrap(),
            created_at: NOW,
        };
        switchyard::admin::create_connection(
            &self.sync.connections,
            &self.sync.secrets,
            conn,
            webhook.then(|| switchyard::admin::NewWebhookSecrets {
                current: secrecy::SecretString::from(HUBSPOT_CLIENT_SECRET.to_string()),
                previous: None,
            }),
            json!({"access_token": hubspot::TEST_TOKEN})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .await
        .expect("connection is created");
    }

    async fn portals(&self) -> Portals {
        let source = hubspot::start(HubspotConfig::default());
        let destination = hubspot::start(HubspotConfig::default());
        // Connection ids are global: the tenant's suffix keeps tests apart.
        let (src, dst) = (format!("conn_src_{}", self.tenant), format!("conn_dst_{}", self.tenant));
        self.connect_hubspot(&src, &source, true).await;
        self.connect_hubspot(&dst, &destination, false).await;
        let flow = Flow {
            id: format!("flow_{}", self.tenant),
            tenant: self.tenant.clone(),
            name: "contacts".into(),
            source_connection: src,
            source_stream: "contacts".into(),
            destination_connection: dst,
            destination_operation: "contacts.upsert_by_email".into(),
            mapping: "{properties: {email: .properties.email, firstname: .properties.firstname}}".into(),
            mode: SyncMode::Full,
            schedule_interval_secs: None,
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
        };
        self.sync.flows.create(&flow).await.unwrap();
        Portals {
            source,
            destination,
            flow,
        }
    }

    /// Starts a job of `flow` and runs it as connector-sync does, to its end.
    async fn run_flow(&self, flow: &Flow) -> Result<switchyard::store::jobs::Job, switchyard::sync::SyncError> {
        let job = switchyard::sync::start_job(&self.sync, flow, "test", None, false)
            .await
            .unwrap();
        let job_ref = switchyard::queue::SyncJobRef {
            flow_id: flow.id.clone(),
            job_id: job.job_id,
            attempt: 0,
        };
        match switchyard::sync::run_job(&self.sync, &job_ref, &switchyard::sync::Unlimited, &|_| {}).await? {
            switchyard::sync::JobOutcome::Finished(job) => Ok(job),
            other => panic!("the job did not finish: {other:?}"),
        }
    }

    /// Delivers a HubSpot v3 webhook for `connection_id` through the receiver, signed as the
    /// portal signs it; the receiver's status code.
    async fn hubspot_webhook(&self, connection_id: &str, body: &Value) -> i64 {
        let config = switchyard::config::ReceiverConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(self.env.table.clone()),
            "SYNC_QUEUE_URL" => Some(self.env.queue_url.clone()),
            _ => None,
        })
        .unwrap();
        let receiver = switchyard::receiver::ReceiverDeps::new(config, &self.env.clients, Arc::new(self.clock.clone()));
        let body = body.to_string();
        let path = format!("/hooks/{connection_id}");
        let signed = switchyard::webhook::sign(
            &Scheme::Hubspot(Default::default()),
            &switchyard::webhook::SignInput {
                method: "POST",
                url: &format!("https://localhost{path}"),
                body: body.as_bytes(),
                secret: &secrecy::SecretString::from(HUBSPOT_CLIENT_SECRET.to_string()),
                now: NOW,
                message_id: None,
            },
        )
        .unwrap();
        let mut headers: serde_json::Map<String, Value> = signed
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
            .collect();
        headers.insert("content-type".into(), json!("application/json"));
        let event: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(json!({
            "version": "2.0", "rawPath": path, "rawQueryString": "",
            "headers": headers,
            "pathParameters": {"connection_id": connection_id},
            "requestContext": {"domainName": "localhost", "requestId": "r1", "timeEpoch": 0,
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"}},
            "body": body, "isBase64Encoded": false
        }))
        .unwrap();
        switchyard::receiver::handle(&receiver, event).await.status_code
    }

    /// Hands the queue to connector-sync until it is empty (an inbound event, then the
    /// deliveries it published); how many messages were handled.
    async fn deliver_all(&self) -> usize {
        let mut n = 0;
        loop {
            let handled = self.deliver_queued().await;
            if handled == 0 {
                return n;
            }
            n += handled;
        }
    }
}

/// The deliveries the endpoint got since `from`, each verified, as (type, data).
fn received(endpoint: &Endpoint, from: usize) -> Vec<(String, Value)> {
    let seen = endpoint.seen.lock().unwrap().clone();
    seen[from..]
        .iter()
        .map(|(id, body, ok)| {
            assert!(ok, "the delivery verifies with the subscription's secret: {body}");
            assert!(id.starts_with("msg_"), "{id}");
            (body["type"].as_str().unwrap().to_string(), body["data"].clone())
        })
        .collect()
}

#[tokio::test]
async fn a_sync_job_emits_record_created_then_record_updated_and_job_finished_then_job_failed() {
    let rig = Rig::new(3600, None).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    let portals = rig.portals().await;
    rig.subscribe(
        &endpoint,
        json!(["record.created", "record.updated", "job.finished", "job.failed"]),
        json!({"flow_id": portals.flow.id}),
    )
    .await;
    let ada = portals.source.insert(
        ObjectType::Contacts,
        &[("email", "ada@example.com"), ("firstname", "Ada")],
    );

    // First run: the contact is new at the destination.
    let job = rig.run_flow(&portals.flow).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(rig.deliver_queued().await, 2, "one record event and one job event");
    let got = received(&endpoint, 0);
    let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["record.created", "job.finished"], "{got:?}");
    let created = &got[0].1;
    let written = portals
        .destination
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .expect("the contact was written");
    assert_eq!(created["flow_id"], portals.flow.id.as_str());
    assert_eq!(created["source_id"], ada.id.as_str());
    assert_eq!(created["destination_id"], written.id.as_str());
    assert_eq!(created["source_connection"], portals.flow.source_connection.as_str());
    assert_eq!(created["record"]["properties"]["firstname"], "Ada");
    let finished = &got[1].1;
    assert_eq!(finished["job_id"], job.job_id.as_str());
    assert_eq!(finished["status"], "succeeded");
    assert_eq!(finished["counts"]["written"], 1, "{finished}");

    // The source contact changes: the same destination record is updated.
    let resp = reqwest::Client::new()
        .patch(format!(
            "{}/crm/v3/objects/contacts/{}",
            portals.source.base_url, ada.id
        ))
        .bearer_auth(hubspot::TEST_TOKEN)
        .json(&json!({"properties": {"firstname": "Augusta Ada"}}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    rig.run_flow(&portals.flow).await.unwrap();
    assert_eq!(rig.deliver_queued().await, 2);
    let got = received(&endpoint, 2);
    let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["record.updated", "job.finished"], "{got:?}");
    assert_eq!(got[0].1["destination_id"], written.id.as_str());
    assert_eq!(got[0].1["record"]["properties"]["firstname"], "Augusta Ada");

    // Nothing changed: no record event, only the job's.
    rig.run_flow(&portals.flow).await.unwrap();
    assert_eq!(rig.deliver_queued().await, 1);
    assert_eq!(received(&endpoint, 4)[0].0, "job.finished");

    // The source refuses the read (a 400 is permanent): the job fails for good.
    portals.source.faults.fail_next(1, 400);
    let err = rig.run_flow(&portals.flow).await.unwrap_err();
    assert!(!err.is_retriable(), "{err}");
    assert_eq!(rig.deliver_queued().await, 1);
    let got = received(&endpoint, 5);
    assert_eq!(got[0].0, "job.failed", "{got:?}");
    assert_eq!(got[0].1["status"], "failed");
    assert_eq!(got[0].1["flow_id"], portals.flow.id.as_str());
    assert!(got[0].1["last_error"].as_str().unwrap().contains("400"), "{}", got[0].1);
}

#[tokio::test]
async fn a_deletion_event_whose_record_is_gone_emits_record_deleted_with_the_destination_id() {
    let rig = Rig::new(3600, None).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    let portals = rig.portals().await;
    rig.subscribe(&endpoint, json!(["record.deleted"]), json!({})).await;
    let ada = portals.source.insert(
        ObjectType::Contacts,
        &[("email", "ada@example.com"), ("firstname", "Ada")],
    );
    rig.run_flow(&portals.flow).await.unwrap();
    let written = portals
        .destination
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .unwrap();
    assert_eq!(rig.deliver_all().await, 0, "no record.created: not subscribed");
    // Created after the run: a record the flow never wrote is not the flow's to report.
    let never_synced = portals.source.insert(
        ObjectType::Contacts,
        &[("email", "bob@example.com"), ("firstname", "Bob")],
    );

    // Both are archived at the source; HubSpot tells the portal's app about each.
    for id in [&ada.id, &never_synced.id] {
        let resp = reqwest::Client::new()
            .delete(format!("{}/crm/v3/objects/contacts/{id}", portals.source.base_url))
            .bearer_auth(hubspot::TEST_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    for (n, id) in [&ada.id, &never_synced.id].into_iter().enumerate() {
        let body = json!([{
            "eventId": 900 + n, "subscriptionId": 1, "portalId": 62515, "occurredAt": NOW * 1000,
            "subscriptionType": "contact.deletion", "attemptNumber": 0,
            "objectId": id.parse::<u64>().unwrap(), "changeSource": "CRM"
        }]);
        assert_eq!(rig.hubspot_webhook(&portals.flow.source_connection, &body).await, 200);
    }
    assert_eq!(rig.deliver_all().await, 3, "two events, one delivery");
    let got = received(&endpoint, 0);
    assert_eq!(got.len(), 1, "{got:?}");
    let (kind, data) = &got[0];
    assert_eq!(kind, "record.deleted");
    assert_eq!(data["flow_id"], portals.flow.id.as_str());
    assert_eq!(data["source_id"], ada.id.as_str());
    assert_eq!(data["destination_id"], written.id.as_str());
    assert_eq!(data["destination_deleted"], false);
    assert!(
        portals
            .destination
            .find(ObjectType::Contacts, "email", "ada@example.com")
            .is_some(),
        "a one-way flow does not propagate deletes: the destination keeps its copy"
    );
}

#[tokio::test]
async fn a_health_transition_emits_connection_state_changed() {
    let rig = Rig::new(3600, None).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    let hub = hubspot::start(HubspotConfig::default());
    let conn_id = format!("conn_health_{}", rig.tenant);
    rig.connect_hubspot(&conn_id, &hub, false).await;
    rig.subscribe(
        &endpoint,
        json!(["connection.state_changed"]),
        json!({"connection_id": conn_id}),
    )
    .await;
    let health = switchyard::health::HealthDeps::new(
        switchyard::health::HealthConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(rig.env.table.clone()),
            "SYNC_QUEUE_URL" => Some(rig.env.queue_url.clone()),
            "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
            "HEALTH_CHECK_TIMEOUT_SECS" => Some("2".into()),
            _ => None,
        })
        .unwrap(),
        &rig.env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(rig.clock.clone()),
    )
    .await
    .unwrap();
    let tick = || async {
        rig.clock.advance(60);
        switchyard::health::run_checks(&health, None).await.unwrap()
    };
    tick().await;
    hub.faults.fail_next(1, 500);
    tick().await;
    assert_eq!(
        rig.deliver_all().await as i64,
        endpoint.seen.lock().unwrap().len() as i64
    );
    let got = received(&endpoint, 0);
    let last = got.last().expect("a state change was delivered");
    assert_eq!(last.0, "connection.state_changed", "{got:?}");
    assert_eq!(last.1["connection_id"], conn_id.as_str());
    assert_eq!(last.1["tenant"], rig.tenant.as_str());
    assert_eq!(
        (&last.1["from"], &last.1["to"]),
        (&json!("healthy"), &json!("degraded")),
        "{}",
        last.1
    );
    assert!(last.1["last_error"].as_str().unwrap().contains("500"), "{}", last.1);
    assert!(last.1.get("type").is_none(), "the envelope carries the type");
}

#[tokio::test]
async fn a_delivery_the_queue_refused_is_kept_and_sent_by_the_next_dispatch_tick_with_its_webhook_id() {
    let rig = Rig::new(3600, None).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    rig.subscribe(&endpoint, json!(["job.failed"]), json!({})).await;
    let dispatcher = switchyard::dispatch::Dispatcher::new(rig.env.clients.dynamodb.clone(), &rig.env.table);
    let event = OutboundEvent::new("job.failed", NOW, json!({"flow_id": "flow_x", "job_id": "j"}));

    // SQS is unreachable for every attempt the SDK makes.
    rig.env.faults.fail("SQS.SendMessage", Fault::Unreachable, 100);
    let kept = rig
        .publisher
        .publish(&rig.tenant, std::slice::from_ref(&event), (NOW * 1000) as u64)
        .await;
    assert_eq!(kept, 1, "kept, not lost");
    assert!(!rig.env.faults.injected().is_empty(), "the send was refused");
    let outbox = rig.api.subscriptions.outbox();
    assert_eq!(outbox.list(10).await.unwrap().len(), 1);

    // The next tick finds SQS still down: the delivery stays, claimed, and is not sent twice.
    let report = dispatcher.tick(&rig.sync).await.unwrap();
    assert_eq!(report.webhook_deliveries_sent, 0);
    let tried = rig.env.faults.injected().len();
    rig.clock.advance(60);
    let report = dispatcher.tick(&rig.sync).await.unwrap();
    assert_eq!(report.webhook_deliveries_sent, 0, "held by the first tick's claim");
    assert_eq!(rig.env.faults.injected().len(), tried, "the second tick did not try");
    rig.env.faults.clear();
    assert_eq!(rig.deliver_queued().await, 0, "nothing reached the queue");

    // Once the claim runs out and SQS answers: sent, removed, delivered under the same id.
    rig.clock.advance(300);
    let report = dispatcher.tick(&rig.sync).await.unwrap();
    assert_eq!(report.webhook_deliveries_sent, 1);
    assert!(outbox.list(10).await.unwrap().is_empty(), "removed once sent");
    assert_eq!(rig.deliver_queued().await, 1);
    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, event.id, "the webhook-id the event was given");
    assert!(seen[0].2, "signed");
    assert_eq!(seen[0].1["data"]["job_id"], "j");
    assert_eq!(
        dispatcher.tick(&rig.sync).await.unwrap().webhook_deliveries_sent,
        0,
        "sent once"
    );
}

#[tokio::test]
async fn a_record_delivery_about_a_person_is_exported_and_erased_by_either_address_and_its_queued_retry_is_dropped() {
    let rig = Rig::new(3600, None).await;
    let endpoint = endpoint(rig.clock.clone()).await;
    let id = rig.subscribe(&endpoint, json!(["record.created"]), json!({})).await;
    let (ada, bob) = (
        format!("ada.{}@example.com", rig.tenant),
        format!("bob.{}@example.org", rig.tenant),
    );
    let path = |email: &str| format!("/v1/subjects/{}", email.replace('@', "%40"));
    // The first attempt fails: the log keeps the payload and the retry waits on the queue.
    *endpoint.status.lock().unwrap() = 503;
    let event = OutboundEvent::new(
        "record.created",
        NOW,
        json!({"flow_id": "flow_p", "source_id": "cus_1", "destination_id": "contact-1",
            "record": {"properties": {"email": ada, "assistant": bob}}}),
    );
    assert_eq!(
        rig.publisher
            .publish(&rig.tenant, std::slice::from_ref(&event), (NOW * 1000) as u64)
            .await,
        1
    );
    assert_eq!(rig.deliver_queued().await, 1);
    let log = rig.deliveries(&id).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "pending", "{log:?}");

    // Exported by either address (bob's through his pointer), with the payload sent.
    for email in [&ada, &bob] {
        let (status, x) = rig.call("GET", &path(email), None).await;
        assert_eq!(status, 200, "{email}: {x}");
        let sent = x["webhook_deliveries"].as_array().unwrap();
        assert_eq!(sent.len(), 1, "{x}");
        assert_eq!(sent[0]["subscription_id"], id.as_str());
        assert_eq!(sent[0]["event_id"], event.id.as_str());
        let payload: Value = serde_json::from_str(sent[0]["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["data"]["record"]["properties"]["email"], ada.as_str());
    }

    // Two more deliveries wait on the queue for their first attempt, so nothing of them is on
    // the table yet: one about bob, one about someone else.
    let carl = format!("carl.{}@example.net", rig.tenant);
    let about = |email: &str| {
        OutboundEvent::new(
            "record.created",
            NOW,
            json!({"flow_id": "flow_p", "source_id": "cus_2", "destination_id": "contact-2",
                "record": {"properties": {"email": email}}}),
        )
    };
    let (about_bob, about_carl) = (about(&bob), about(&carl));
    for event in [&about_bob, &about_carl] {
        let queued = rig
            .publisher
            .publish(&rig.tenant, std::slice::from_ref(event), (NOW * 1000) as u64)
            .await;
        assert_eq!(queued, 1);
    }

    // Erased by the second address; the retry on the queue then finds its log item gone and
    // is dropped, so the payload is neither sent again nor logged again. The first attempt
    // about bob finds his erasure (later than it was queued) and is dropped too; the one about
    // carl is sent.
    let (status, erased) = rig.call("DELETE", &path(&bob), None).await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["erased"]["webhook_deliveries"], 1, "{erased}");
    *endpoint.status.lock().unwrap() = 200;
    rig.clock.advance(30);
    assert_eq!(
        rig.deliver_queued().await,
        3,
        "the retry and both first attempts were on the queue"
    );
    let seen: Vec<String> = endpoint.seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    assert_eq!(
        seen,
        vec![event.id.clone(), about_carl.id.clone()],
        "sent: the first failed attempt, then carl's"
    );
    let log = rig.deliveries(&id).await;
    assert_eq!(log.len(), 1, "only carl's is logged: {log:?}");
    assert_eq!(log[0]["event_id"], about_carl.id.as_str(), "{log:?}");

    // Bob comes back later: a delivery about him created after the erasure is sent.
    let back = about(&bob);
    rig.publisher
        .publish(&rig.tenant, std::slice::from_ref(&back), ((NOW + 31) * 1000) as u64)
        .await;
    assert_eq!(rig.deliver_queued().await, 1);
    assert_eq!(
        endpoint.seen.lock().unwrap().last().unwrap().0,
        back.id,
        "sent after the erasure"
    );
    let (status, erased) = rig.call("DELETE", &path(&bob), None).await;
    assert_eq!(status, 200, "{erased}");
    for email in [&ada, &bob] {
        assert_eq!(rig.call("GET", &path(email), None).await.0, 404, "{email}");
    }
    let mut pages = rig
        .env
        .clients
        .dynamodb
        .scan()
        .table_name(&rig.env.table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = format!("{:?}", item.unwrap()).to_lowercase();
        assert!(!item.contains(&ada) && !item.contains(&bob), "left behind: {item}");
    }
}
