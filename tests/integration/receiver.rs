//! The webhook receiver end to end: real SDK clients, moto's DynamoDB, SQS and Secrets Manager.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{json, Value};
use switchyard::admin::{create_connection, NewWebhookSecrets};
use switchyard::clock::FixedClock;
use switchyard::config::ReceiverConfig;
use switchyard::receiver::{handle, ReceiverDeps};
use switchyard::secrets::SecretStore;
use switchyard::store::connections::{Connection, ConnectionStore, WebhookSettings};
use switchyard::store::events::EventStore;
use switchyard::webhook::Scheme;
use switchyard_tests::TestEnv;

use crate::signing;

const NOW: i64 = 1_763_800_000;
const STRIPE_SECRET: &str = "whsec_test_secret";

struct Rig {
    env: TestEnv,
    deps: ReceiverDeps,
    clock: FixedClock,
}

impl Rig {
    async fn new() -> Self {
        Self::with_queue(None).await
    }

    async fn with_queue(queue_override: Option<&str>) -> Self {
        let env = TestEnv::new().await;
        let clock = FixedClock::at(NOW);
        let config = ReceiverConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(env.table.clone()),
            "SYNC_QUEUE_URL" => Some(
                queue_override
                    .map(str::to_string)
                    .unwrap_or_else(|| env.queue_url.clone()),
            ),
            _ => None,
        })
        .expect("test config is complete");
        let deps = ReceiverDeps::new(config, &env.clients, Arc::new(clock.clone()));
        Self { env, deps, clock }
    }

    async fn connection(&self, id: &str, provider: &str, scheme: Scheme, secret: &str, previous: Option<&str>) {
        let conn = Connection {
            id: id.into(),
            tenant: "acme".into(),
            provider: provider.into(),
            name: format!("{provider} test"),
            webhook: Some(WebhookSettings {
                scheme,
                tolerance_secs: None,
                handshake_until: None,
            }),
            secret_arn: None,
            config: Default::default(),
            created_at: NOW,
        };
        create_connection(
            &ConnectionStore::new(self.env.clients.dynamodb.clone(), &self.env.table),
            &SecretStore::new(self.env.clients.secrets.clone(), std::time::Duration::ZERO),
            conn,
            Some(NewWebhookSecrets {
                current: SecretString::from(secret.to_string()),
                previous: previous.map(|p| SecretString::from(p.to_string())),
            }),
            Default::default(),
        )
        .await
        .expect("connection is created");
        self.env.counter.reset();
    }

    async fn post(&self, connection_id: &str, headers: &[(&str, &str)], body: &[u8]) -> (i64, Value) {
        let ev = apigw_event(connection_id, headers, body, false);
        self.send(ev).await
    }

    async fn send(&self, ev: ApiGatewayV2httpRequest) -> (i64, Value) {
        let resp = handle(&self.deps, ev).await;
        let body = match resp.body {
            Some(Body::Text(t)) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
            other => panic!("unexpected body {other:?}"),
        };
        (resp.status_code, body)
    }

    /// Every inbound-event item in the table.
    async fn stored_events(&self) -> Vec<Value> {
        let out = self
            .env
            .clients
            .dynamodb
            .scan()
            .table_name(&self.env.table)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", aws_sdk_dynamodb::types::AttributeValue::S("EVT#".into()))
            .send()
            .await
            .expect("scan works");
        out.items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                json!({
                    "pk": i["pk"].as_s().unwrap(),
                    "event_id": i["event_id"].as_s().unwrap(),
                    "event_type": i["event_type"].as_s().unwrap(),
                })
            })
            .collect()
    }
}

pub(crate) fn apigw_event(
    connection_id: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    base64: bool,
) -> ApiGatewayV2httpRequest {
    let hdrs: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.to_string())))
        .collect();
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("test bodies are UTF-8 unless sent as base64")
    };
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "POST /hooks/{connection_id}",
        "rawPath": format!("/hooks/{connection_id}"),
        "rawQueryString": "",
        "headers": hdrs,
        "pathParameters": {"connection_id": connection_id},
        "requestContext": {
            "domainName": "hooks.example.com",
            "requestId": "test-request",
            "http": {"method": "POST", "path": format!("/hooks/{connection_id}"), "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "test"},
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": base64
    }))
    .expect("valid API Gateway v2 event")
}

fn stripe_event(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1", "email": "a@example.com"}}}))
        .unwrap()
}

#[tokio::test]
async fn accepted_stripe_event_is_stored_and_enqueued() {
    let rig = Rig::new().await;
    rig.connection("conn_stripe", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_1");
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let (status, resp) = rig.post("conn_stripe", &[("Stripe-Signature", &sig)], &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["accepted"], 1);

    let stored = EventStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table)
        .get("conn_stripe", "evt_1")
        .await
        .unwrap()
        .expect("event is stored");
    assert_eq!(stored.body, body, "the raw body is stored byte for byte");
    assert_eq!(stored.event_type, "customer.created");
    assert_eq!(stored.received_at, NOW);
    assert!(
        !stored.headers.contains_key("stripe-signature"),
        "signatures are not stored"
    );

    let msgs = rig.env.drain_queue().await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["kind"], "inbound_event");
    assert_eq!(msgs[0]["connection_id"], "conn_stripe");
    assert_eq!(msgs[0]["event_id"], "evt_1");
}

#[tokio::test]
async fn warm_path_costs_exactly_one_dynamodb_write_and_one_sqs_send() {
    let rig = Rig::new().await;
    rig.connection("conn_warm", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    // Cold: the connection and secret are looked up and cached.
    let body = stripe_event("evt_cold");
    let (status, _) = rig
        .post(
            "conn_warm",
            &[("Stripe-Signature", &signing::stripe(STRIPE_SECRET, NOW, &body))],
            &body,
        )
        .await;
    assert_eq!(status, 200);
    rig.env.counter.reset();

    let body = stripe_event("evt_warm");
    let (status, _) = rig
        .post(
            "conn_warm",
            &[("Stripe-Signature", &signing::stripe(STRIPE_SECRET, NOW, &body))],
            &body,
        )
        .await;
    assert_eq!(status, 200);
    let counts = rig.env.counter.snapshot();
    let total: usize = counts.values().sum();
    assert_eq!(total, 2, "warm path sends exactly two AWS requests, got {counts:?}");
    assert_eq!(rig.env.counter.service_total("DynamoDB"), 1, "{counts:?}");
    assert_eq!(rig.env.counter.count("DynamoDB.PutItem"), 1, "{counts:?}");
    assert_eq!(rig.env.counter.count("SQS.SendMessage"), 1, "{counts:?}");
}

#[tokio::test]
async fn duplicate_delivery_is_acknowledged_and_not_enqueued() {
    let rig = Rig::new().await;
    rig.connection("conn_dup", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_dup");
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let (first, _) = rig.post("conn_dup", &[("Stripe-Signature", &sig)], &body).await;
    rig.clock.advance(30);
    let sig2 = signing::stripe(STRIPE_SECRET, NOW + 30, &body);
    let (second, resp) = rig.post("conn_dup", &[("Stripe-Signature", &sig2)], &body).await;
    assert_eq!((first, second), (200, 200));
    assert_eq!(resp["duplicates"], 1);
    assert_eq!(resp["accepted"], 0);
    assert_eq!(
        rig.env.drain_queue().await.len(),
        1,
        "only the first delivery is enqueued"
    );
    assert_eq!(rig.stored_events().await.len(), 1);
}

#[tokio::test]
async fn tampered_body_is_rejected_with_401_and_leaves_nothing() {
    let rig = Rig::new().await;
    rig.connection("conn_bad", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_bad");
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, resp) = rig.post("conn_bad", &[("Stripe-Signature", &sig)], &tampered).await;
    assert_eq!(status, 401);
    assert_eq!(resp, json!({"error": "unauthorized"}), "the response does not say why");
    assert!(rig.stored_events().await.is_empty());
    assert!(rig.env.drain_queue().await.is_empty());
}

#[tokio::test]
async fn missing_signature_and_stale_timestamp_are_rejected() {
    let rig = Rig::new().await;
    rig.connection("conn_stale", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_stale");
    let (missing, _) = rig.post("conn_stale", &[], &body).await;
    let stale = signing::stripe(STRIPE_SECRET, NOW - 301, &body);
    let (old, _) = rig.post("conn_stale", &[("Stripe-Signature", &stale)], &body).await;
    let future = signing::stripe(STRIPE_SECRET, NOW + 301, &body);
    let (ahead, _) = rig.post("conn_stale", &[("Stripe-Signature", &future)], &body).await;
    assert_eq!((missing, old, ahead), (401, 401, 401));
    assert!(rig.stored_events().await.is_empty());
    assert!(rig.env.drain_queue().await.is_empty());
}

#[tokio::test]
async fn unknown_connection_is_answered_like_a_bad_signature() {
    let rig = Rig::new().await;
    rig.connection("conn_known", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_x");
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let unknown = rig.post("conn_nobody", &[("Stripe-Signature", &sig)], &body).await;
    let bad_sig = rig
        .post("conn_known", &[("Stripe-Signature", "t=1,v1=00")], &body)
        .await;
    let invalid_id = rig.post("..%2F..", &[("Stripe-Signature", &sig)], &body).await;
    assert_eq!(unknown, bad_sig, "no way to tell which ids exist");
    assert_eq!(invalid_id, bad_sig);
    assert!(rig.stored_events().await.is_empty());
}

#[tokio::test]
async fn oversized_body_is_413_and_leaves_nothing() {
    let rig = Rig::new().await;
    rig.connection("conn_big", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let filler = "x".repeat(256 * 1024);
    let body = serde_json::to_vec(&json!({"id": "evt_big", "type": "t", "filler": filler})).unwrap();
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let (status, _) = rig.post("conn_big", &[("Stripe-Signature", &sig)], &body).await;
    assert_eq!(status, 413);
    let (status64, _) = rig
        .send(apigw_event("conn_big", &[("Stripe-Signature", &sig)], &body, true))
        .await;
    assert_eq!(status64, 413);
    assert!(rig.env.counter.snapshot().is_empty(), "refused before any AWS request");
    assert!(rig.stored_events().await.is_empty());
    assert!(rig.env.drain_queue().await.is_empty());
}

#[tokio::test]
async fn base64_encoded_body_is_verified_over_the_decoded_bytes() {
    let rig = Rig::new().await;
    rig.connection("conn_b64", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_b64");
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let (status, _) = rig
        .send(apigw_event("conn_b64", &[("Stripe-Signature", &sig)], &body, true))
        .await;
    assert_eq!(status, 200);
    assert_eq!(rig.env.drain_queue().await.len(), 1);
}

#[tokio::test]
async fn signed_but_malformed_payload_is_400_and_leaves_nothing() {
    let rig = Rig::new().await;
    rig.connection("conn_malformed", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = b"{not json".to_vec();
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let (status, _) = rig.post("conn_malformed", &[("Stripe-Signature", &sig)], &body).await;
    assert_eq!(status, 400);
    assert!(rig.stored_events().await.is_empty());
    assert!(rig.env.drain_queue().await.is_empty());
}

#[tokio::test]
async fn signed_body_with_invalid_utf8_or_deep_nesting_is_400_and_leaves_nothing() {
    let rig = Rig::new().await;
    rig.connection("conn_unreadable", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    // Stripe's `id` and `type` are fine; the rest is what a later stage could not read.
    let mut bad_utf8 = br#"{"id":"evt_utf8","type":"customer.created","data":{"object":{"name":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    bad_utf8.extend_from_slice(br#""}}}"#);
    let mut deep = br#"{"id":"evt_deep","type":"customer.created","data":"#.to_vec();
    deep.extend("[".repeat(10_000).bytes());
    deep.extend("]".repeat(10_000).bytes());
    deep.push(b'}');
    for body in [bad_utf8, deep] {
        let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
        // Base64, as API Gateway passes a body that is not UTF-8.
        let (status, _) = rig
            .send(apigw_event(
                "conn_unreadable",
                &[("Stripe-Signature", &sig)],
                &body,
                true,
            ))
            .await;
        assert_eq!(status, 400);
    }
    assert!(rig.stored_events().await.is_empty());
    assert!(rig.env.drain_queue().await.is_empty());
}

#[tokio::test]
async fn hubspot_connection_refuses_a_stale_v3_delivery_replayed_as_v1() {
    let rig = Rig::new().await;
    let secret = "hubspot-client-secret";
    rig.connection(
        "conn_hs_v3",
        "hubspot",
        Scheme::Hubspot(Default::default()),
        secret,
        None,
    )
    .await;
    let body = br#"[{"eventId":7,"subscriptionType":"contact.creation","objectId":1}]"#;
    let url = "https://hooks.example.com/hooks/conn_hs_v3";
    let stale_ms = (NOW - 3600) * 1000;
    let v3 = signing::hubspot_v3(secret, "POST", url, body, stale_ms);
    let v1 = signing::hubspot_v1(secret, body);
    let stale_ts = stale_ms.to_string();
    let (status, _) = rig
        .post(
            "conn_hs_v3",
            &[
                ("X-HubSpot-Signature-v3", v3.as_str()),
                ("X-HubSpot-Request-Timestamp", stale_ts.as_str()),
                ("X-HubSpot-Signature", v1.as_str()),
            ],
            body,
        )
        .await;
    assert_eq!(status, 401, "stale under v3");
    let (stripped, _) = rig
        .post("conn_hs_v3", &[("X-HubSpot-Signature", v1.as_str())], body)
        .await;
    assert_eq!(stripped, 401, "the same delivery without its v3 headers");
    assert!(rig.stored_events().await.is_empty());
    assert!(rig.env.drain_queue().await.is_empty());

    // A connection that allows v1 explicitly takes it.
    use switchyard::webhook::{HubspotConfig, HubspotVersion};
    let legacy = Scheme::Hubspot(HubspotConfig::accepting([HubspotVersion::V3, HubspotVersion::V1]));
    rig.connection("conn_hs_v1", "hubspot", legacy, secret, None).await;
    let (status, resp) = rig
        .post("conn_hs_v1", &[("X-HubSpot-Signature", v1.as_str())], body)
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["accepted"], 1);
}

#[tokio::test]
async fn previous_secret_is_accepted_during_rotation() {
    let rig = Rig::new().await;
    rig.connection("conn_rot", "stripe", Scheme::Stripe, "whsec_new", Some("whsec_old"))
        .await;
    let body = stripe_event("evt_rot");
    let (status, _) = rig
        .post(
            "conn_rot",
            &[("Stripe-Signature", &signing::stripe("whsec_old", NOW, &body))],
            &body,
        )
        .await;
    assert_eq!(status, 200);
    let body = stripe_event("evt_rot_2");
    let (status, _) = rig
        .post(
            "conn_rot",
            &[("Stripe-Signature", &signing::stripe("whsec_other", NOW, &body))],
            &body,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn hubspot_batch_is_split_into_one_event_per_element() {
    let rig = Rig::new().await;
    let secret = "hubspot-client-secret";
    rig.connection("conn_hs", "hubspot", Scheme::Hubspot(Default::default()), secret, None)
        .await;
    let body = br#"[{"eventId":101,"subscriptionType":"contact.creation","objectId":1,"occurredAt":1763800000000},{"eventId":102,"subscriptionType":"contact.propertyChange","objectId":2,"propertyName":"email","propertyValue":"b@example.com"},{"eventId":103,"subscriptionType":"deal.creation","objectId":3}]"#;
    let ts_ms = (NOW * 1000).to_string();
    let url = "https://hooks.example.com/hooks/conn_hs";
    let sig = signing::hubspot_v3(secret, "POST", url, body, NOW * 1000);
    let headers = [
        ("X-HubSpot-Signature-v3", sig.as_str()),
        ("X-HubSpot-Request-Timestamp", ts_ms.as_str()),
    ];
    let (status, resp) = rig.post("conn_hs", &headers, body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["accepted"], 3);
    let mut ids: Vec<String> = rig
        .env
        .drain_queue()
        .await
        .iter()
        .map(|m| m["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["101", "102", "103"]);
    let second = EventStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table)
        .get("conn_hs", "102")
        .await
        .unwrap()
        .expect("element stored");
    let element: Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(
        element["propertyValue"], "b@example.com",
        "each element keeps its own bytes"
    );
    assert_eq!(second.event_type, "contact.propertyChange");

    // HubSpot redelivers the same batch: nothing new is enqueued.
    let (status, resp) = rig.post("conn_hs", &headers, body).await;
    assert_eq!((status, resp["duplicates"].as_u64()), (200, Some(3)));
    assert!(rig.env.drain_queue().await.is_empty());
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_the_challenge() {
    let rig = Rig::new().await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    rig.connection("conn_slack", "slack", Scheme::Slack, secret, None).await;
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ts = NOW.to_string();
    let sig = signing::slack(secret, NOW, body);
    let (status, resp) = rig
        .post(
            "conn_slack",
            &[("X-Slack-Signature", &sig), ("X-Slack-Request-Timestamp", &ts)],
            body,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        resp,
        Value::String("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into())
    );
    assert!(rig.stored_events().await.is_empty(), "a handshake is not an event");
    // An unsigned challenge is refused like anything else.
    let (status, _) = rig
        .post("conn_slack", &[("X-Slack-Request-Timestamp", &ts)], body)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn github_delivery_id_is_the_event_id() {
    let rig = Rig::new().await;
    rig.connection("conn_gh", "github", Scheme::Github, "mysecret", None)
        .await;
    let body = br#"{"action":"opened","number":1}"#;
    let sig = signing::github("mysecret", body);
    let headers = [
        ("X-Hub-Signature-256", sig.as_str()),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-GitHub-Event", "pull_request"),
    ];
    let (status, _) = rig.post("conn_gh", &headers, body).await;
    assert_eq!(status, 200);
    let msgs = rig.env.drain_queue().await;
    assert_eq!(msgs[0]["event_id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(msgs[0]["event_type"], "pull_request");
}

#[tokio::test]
async fn event_that_cannot_be_enqueued_is_removed_and_answered_503() {
    let missing_queue = format!("{}/123456789012/no-such-queue", switchyard_tests::emulator().endpoint);
    let rig = Rig::with_queue(Some(&missing_queue)).await;
    rig.connection("conn_noq", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_noq");
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    let (status, _) = rig.post("conn_noq", &[("Stripe-Signature", &sig)], &body).await;
    assert_eq!(status, 503, "the provider must retry");
    assert!(
        rig.stored_events().await.is_empty(),
        "the stored event is removed so the retry is not taken for a duplicate"
    );
}

#[tokio::test]
async fn a_throttled_store_answers_503_with_retry_after_and_keeps_nothing() {
    use switchyard_tests::faults::Fault;
    let rig = Rig::new().await;
    rig.connection("conn_throttle", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_throttled");
    let headers = [("Stripe-Signature", signing::stripe(STRIPE_SECRET, NOW, &body))];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // DynamoDB throttles every attempt the SDK makes (its standard retry mode makes three).
    rig.env.faults.fail("DynamoDB.PutItem", Fault::Throttled, 3);
    let resp = handle(&rig.deps, apigw_event("conn_throttle", &headers, &body, false)).await;
    assert_eq!(
        resp.status_code, 503,
        "throttling is ours to retry, the provider's to resend"
    );
    assert_eq!(
        resp.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("10"),
        "a throttled receiver asks the provider to come back later"
    );
    assert_eq!(
        rig.env.faults.injected(),
        vec!["DynamoDB.PutItem"; 3],
        "the SDK itself retried the throttling error before giving up"
    );
    assert!(rig.stored_events().await.is_empty(), "nothing stored");
    assert!(rig.env.drain_queue().await.is_empty(), "nothing enqueued");

    // The provider's retry, once the throttling is over, is accepted as new.
    let (status, resp) = rig.post("conn_throttle", &headers, &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["accepted"], 1);
    assert_eq!(rig.env.drain_queue().await.len(), 1);
}

#[tokio::test]
async fn a_failed_send_answers_503_with_a_short_retry_after_and_removes_the_event() {
    use switchyard_tests::faults::Fault;
    let rig = Rig::new().await;
    rig.connection("conn_nosend", "stripe", Scheme::Stripe, STRIPE_SECRET, None)
        .await;
    let body = stripe_event("evt_unsent");
    let sig = signing::stripe(STRIPE_SECRET, NOW, &body);
    rig.env.faults.fail("SQS.SendMessage", Fault::Unreachable, 3);
    let resp = handle(
        &rig.deps,
        apigw_event("conn_nosend", &[("Stripe-Signature", &sig)], &body, false),
    )
    .await;
    assert_eq!(resp.status_code, 503);
    assert_eq!(resp.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert!(
        rig.stored_events().await.is_empty(),
        "the compensating delete removed the event, so the provider's retry is new"
    );
}

/// Creates an Asana connection with no webhook secret, expecting the secret's handshake until
/// `until`; returns its secret's ARN.
async fn asana_awaiting_handshake(rig: &Rig, id: &str, until: i64) -> String {
    let conn = Connection {
        id: id.into(),
        tenant: "acme".into(),
        provider: "asana".into(),
        name: "asana test".into(),
        webhook: Some(WebhookSettings {
            scheme: Scheme::Asana,
            tolerance_secs: None,
            handshake_until: Some(until),
        }),
        secret_arn: None,
        config: Default::default(),
        created_at: NOW,
    };
    let created = create_connection(
        &ConnectionStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table),
        &SecretStore::new(rig.env.clients.secrets.clone(), std::time::Duration::ZERO),
        conn,
        None,
        Default::default(),
    )
    .await
    .expect("an Asana connection may wait for its handshake instead of a secret");
    created
        .secret_arn
        .expect("a secret is created to receive the handshake's")
}

async fn stored_webhook_secret(rig: &Rig, arn: &str) -> Option<String> {
    let store = SecretStore::new(rig.env.clients.secrets.clone(), std::time::Duration::ZERO);
    let doc: Value = serde_json::from_str(&store.get_value(arn).await.expect("the secret exists")).unwrap();
    doc["webhook_secret"].as_str().map(str::to_owned)
}

fn asana_signature(secret: &str, body: &[u8]) -> String {
    let input = switchyard::webhook::SignInput {
        method: "POST",
        url: "https://hooks.example.com/hooks/conn_asana",
        body,
        secret: &SecretString::from(secret.to_string()),
        now: NOW,
        message_id: None,
    };
    switchyard::webhook::sign(&Scheme::Asana, &input).unwrap()[0].1.clone()
}

#[tokio::test]
async fn asana_handshake_sets_the_secret_once_and_signed_events_then_verify() {
    let rig = Rig::new().await;
    let arn = asana_awaiting_handshake(&rig, "conn_asana", NOW + 600).await;
    assert_eq!(stored_webhook_secret(&rig, &arn).await, None);

    let secret = "b537207f20cbfa02357cf448134da559";
    let resp = handle(
        &rig.deps,
        apigw_event("conn_asana", &[("X-Hook-Secret", secret)], b"", false),
    )
    .await;
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        resp.headers.get("x-hook-secret").and_then(|v| v.to_str().ok()),
        Some(secret),
        "the handshake's answer echoes the secret"
    );
    assert_eq!(stored_webhook_secret(&rig, &arn).await.as_deref(), Some(secret));
    assert!(rig.stored_events().await.is_empty(), "a handshake is not an event");

    // A second handshake (an attacker who learnt the URL, say) is refused and changes nothing.
    let (status, _) = rig
        .post("conn_asana", &[("X-Hook-Secret", "attacker-chosen-secret-value")], b"")
        .await;
    assert_eq!(status, 401);
    assert_eq!(stored_webhook_secret(&rig, &arn).await.as_deref(), Some(secret));

    // Deliveries signed with the handshake's secret are accepted, one event per Asana event.
    let body = br#"{"events":[{"user":{"gid":"1","resource_type":"user"},"created_at":"2024-03-01T10:00:00.123Z","action":"changed","resource":{"gid":"1200","resource_type":"task"}},{"user":{"gid":"1","resource_type":"user"},"created_at":"2024-03-01T10:00:01.456Z","action":"added","resource":{"gid":"1201","resource_type":"story"}}]}"#;
    let sig = asana_signature(secret, body);
    let (status, resp) = rig.post("conn_asana", &[("X-Hook-Signature", &sig)], body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["accepted"], 2);
    let mut types: Vec<String> = rig
        .stored_events()
        .await
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["story.added", "task.changed"]);
    // ...and one signed with another secret is not.
    let forged = asana_signature("attacker-chosen-secret-value", body);
    let (status, _) = rig.post("conn_asana", &[("X-Hook-Signature", &forged)], body).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn asana_handshake_is_refused_when_the_connection_expects_none_or_its_window_passed() {
    let rig = Rig::new().await;
    // Expired: the window closed a second ago.
    let arn = asana_awaiting_handshake(&rig, "conn_asana_late", NOW - 1).await;
    let (status, _) = rig
        .post(
            "conn_asana_late",
            &[("X-Hook-Secret", "b537207f20cbfa02357cf448134da559")],
            b"",
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(stored_webhook_secret(&rig, &arn).await, None, "nothing was stored");

    // An Asana connection created with its secret expects no handshake at all.
    rig.connection("conn_asana_set", "asana", Scheme::Asana, "the-configured-secret", None)
        .await;
    let (status, _) = rig
        .post(
            "conn_asana_set",
            &[("X-Hook-Secret", "attacker-chosen-secret-value")],
            b"",
        )
        .await;
    assert_eq!(status, 401);
    assert!(rig.stored_events().await.is_empty());
}

#[tokio::test]
async fn woocommerce_ping_is_answered_without_an_event_and_deliveries_are_verified() {
    let rig = Rig::new().await;
    let secret = "wc-webhook-secret-value";
    rig.connection("conn_wc", "woocommerce", Scheme::Woocommerce, secret, None)
        .await;
    let (status, _) = rig
        .post(
            "conn_wc",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"webhook_id=15",
        )
        .await;
    assert_eq!(status, 200, "WooCommerce keeps the webhook only if its ping gets a 2xx");
    assert!(rig.stored_events().await.is_empty(), "a ping is not an event");

    let body = br#"{"id":727,"status":"processing","date_modified_gmt":"2024-03-01T10:00:00"}"#;
    let input = switchyard::webhook::SignInput {
        method: "POST",
        url: "",
        body,
        secret: &SecretString::from(secret.to_string()),
        now: NOW,
        message_id: None,
    };
    let sig = switchyard::webhook::sign(&Scheme::Woocommerce, &input).unwrap()[0]
        .1
        .clone();
    let headers = |delivery: &'static str| {
        [
            ("X-WC-Webhook-Signature", sig.clone()),
            ("X-WC-Webhook-Topic", "order.updated".to_owned()),
            ("X-WC-Webhook-Delivery-ID", delivery.to_owned()),
        ]
    };
    let first = headers("d1");
    let first: Vec<(&str, &str)> = first.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, resp) = rig.post("conn_wc", &first, body).await;
    assert_eq!((status, resp["accepted"].clone()), (200, json!(1)));
    // WooCommerce fires the update hook again for the same save: the same version, one event.
    let second = headers("d2");
    let second: Vec<(&str, &str)> = second.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, resp) = rig.post("conn_wc", &second, body).await;
    assert_eq!((status, resp["duplicates"].clone()), (200, json!(1)));
    assert_eq!(rig.stored_events().await.len(), 1);
    // Unsigned, it is refused.
    let (status, _) = rig.post("conn_wc", &first[1..], body).await;
    assert_eq!(status, 401);
}

/// An API Gateway event with a method, query string and request id of the test's choosing.
pub(crate) fn apigw_request(
    method: &str,
    connection_id: &str,
    query: &str,
    request_id: &str,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let mut ev = apigw_event(connection_id, &[], body, false);
    ev.raw_query_string = Some(query.to_owned());
    ev.request_context.request_id = Some(request_id.to_owned());
    ev.request_context.http.method = method.parse().expect("an HTTP method");
    ev
}

pub(crate) fn text_body(resp: &aws_lambda_events::apigw::ApiGatewayV2httpResponse) -> String {
    match &resp.body {
        Some(Body::Text(t)) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn dropbox_challenge_is_echoed_for_a_dropbox_connection_only_and_other_gets_are_405() {
    let rig = Rig::new().await;
    rig.connection("conn_dbx", "dropbox", Scheme::Dropbox, "dropbox-app-secret", None)
        .await;
    rig.connection("conn_gh2", "github", Scheme::Github, "github-secret-value", None)
        .await;
    let resp = handle(
        &rig.deps,
        apigw_request("GET", "conn_dbx", "challenge=Y2hhbGxlbmdl", "r1", b""),
    )
    .await;
    assert_eq!(resp.status_code, 200);
    assert_eq!(text_body(&resp), "Y2hhbGxlbmdl");
    assert_eq!(
        resp.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let resp = handle(
        &rig.deps,
        apigw_request("GET", "conn_gh2", "challenge=Y2hhbGxlbmdl", "r2", b""),
    )
    .await;
    assert_eq!(resp.status_code, 405, "a GitHub connection has no challenge to answer");
    let resp = handle(&rig.deps, apigw_request("GET", "conn_dbx", "", "r3", b"")).await;
    assert_eq!(resp.status_code, 405, "a GET without a challenge is not a delivery");
    let resp = handle(
        &rig.deps,
        apigw_request("GET", "conn_unknown", "challenge=x", "r4", b""),
    )
    .await;
    assert_eq!(resp.status_code, 401, "an unknown connection answers nothing");
    assert!(rig.stored_events().await.is_empty());
}

#[tokio::test]
async fn dropbox_notifications_for_the_same_account_twice_are_two_events() {
    let rig = Rig::new().await;
    let secret = "dropbox-app-secret";
    rig.connection("conn_dbx_notify", "dropbox", Scheme::Dropbox, secret, None)
        .await;
    let body =
        br#"{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},"delta":{"users":[12345678]}}"#;
    let input = switchyard::webhook::SignInput {
        method: "POST",
        url: "",
        body,
        secret: &SecretString::from(secret.to_string()),
        now: NOW,
        message_id: None,
    };
    let (name, sig) = switchyard::webhook::sign(&Scheme::Dropbox, &input).unwrap().remove(0);
    for request in ["first-change", "second-change"] {
        let mut ev = apigw_event("conn_dbx_notify", &[(name.as_str(), sig.as_str())], body, false);
        ev.request_context.request_id = Some(request.to_owned());
        let resp = handle(&rig.deps, ev).await;
        assert_eq!(resp.status_code, 200, "{}", text_body(&resp));
    }
    let events = rig.stored_events().await;
    assert_eq!(
        events.len(),
        2,
        "two changes, two notifications, two events: {events:?}"
    );
    assert!(events.iter().all(|e| e["event_type"] == "list_folder.changed"));
    let (status, _) = rig.post("conn_dbx_notify", &[(name.as_str(), "00")], body).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn graph_validation_is_echoed_only_when_expected_and_notifications_need_the_client_state() {
    let rig = Rig::new().await;
    let state = "graph-client-state-7f3a9c";
    rig.connection("conn_graph", "microsoft-graph", Scheme::MicrosoftGraph, state, None)
        .await;
    let validation = |id: &str| {
        apigw_request(
            "POST",
            id,
            "validationToken=Validation%3a+Testing+client+application",
            "v1",
            b"",
        )
    };
    // Not expecting a subscription: a stranger's validation is refused.
    let resp = handle(&rig.deps, validation("conn_graph")).await;
    assert_eq!(resp.status_code, 401);

    // Expecting one (`--await-handshake`): echoed, as often as subscriptions are created.
    let expecting = Connection {
        id: "conn_graph_new".into(),
        tenant: "acme".into(),
        provider: "microsoft-graph".into(),
        name: "graph test".into(),
        webhook: Some(WebhookSettings {
            scheme: Scheme::MicrosoftGraph,
            tolerance_secs: None,
            handshake_until: Some(NOW + 600),
        }),
        secret_arn: None,
        config: Default::default(),
        created_at: NOW,
    };
    create_connection(
        &ConnectionStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table),
        &SecretStore::new(rig.env.clients.secrets.clone(), std::time::Duration::ZERO),
        expecting,
        Some(NewWebhookSecrets {
            current: SecretString::from(state.to_string()),
            previous: None,
        }),
        Default::default(),
    )
    .await
    .expect("a Graph connection may expect a subscription's validation");
    for _ in 0..2 {
        let resp = handle(&rig.deps, validation("conn_graph_new")).await;
        assert_eq!(resp.status_code, 200);
        assert_eq!(text_body(&resp), "Validation: Testing client application");
    }
    assert!(rig.stored_events().await.is_empty(), "a validation is not an event");

    let body = format!(
        r##"{{"value":[{{"subscriptionId":"7f105c7d","clientState":"{state}","changeType":"updated","resource":"Users/u1/Messages/m1","resourceData":{{"@odata.type":"#Microsoft.Graph.Message","id":"m1"}}}}]}}"##
    );
    let resp = handle(
        &rig.deps,
        apigw_request("POST", "conn_graph", "", "n1", body.as_bytes()),
    )
    .await;
    assert_eq!(resp.status_code, 200, "{}", text_body(&resp));
    let events = rig.stored_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "message.updated");

    let forged = body.replace(state, "a-guessed-client-state");
    let resp = handle(
        &rig.deps,
        apigw_request("POST", "conn_graph", "", "n2", forged.as_bytes()),
    )
    .await;
    assert_eq!(resp.status_code, 401);
    assert_eq!(rig.stored_events().await.len(), 1);
}

#[tokio::test]
async fn mailchimp_is_verified_by_its_path_secret_and_its_url_check_answered() {
    let rig = Rig::new().await;
    let secret = "mc-path-secret-4f9a2c";
    rig.connection("conn_mc", "mailchimp", Scheme::Mailchimp, secret, None)
        .await;
    let with_path = |method: &str, path_secret: &str, body: &[u8]| {
        let mut ev = apigw_request(method, "conn_mc", "", "r", body);
        let path = format!("/hooks/conn_mc/{path_secret}");
        ev.raw_path = Some(path.clone());
        ev.request_context.http.path = Some(path);
        ev.path_parameters.insert("secret".into(), path_secret.into());
        ev
    };
    // Mailchimp's URL check: a GET with the right path secret gets a 200, and stores nothing.
    let resp = handle(&rig.deps, with_path("GET", secret, b"")).await;
    assert_eq!(resp.status_code, 200);
    let resp = handle(&rig.deps, with_path("GET", "guess", b"")).await;
    assert_eq!(resp.status_code, 401);
    assert!(rig.stored_events().await.is_empty());

    let body = b"type=subscribe&fired_at=2009-03-26+21%3A35%3A57&data%5Bid%5D=8a25ff1d98&data%5Blist_id%5D=a6b5da1054&data%5Bemail%5D=api%40mailchimp.com";
    let resp = handle(&rig.deps, with_path("POST", secret, body)).await;
    assert_eq!(resp.status_code, 200, "{}", text_body(&resp));
    let events = rig.stored_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "subscribe");
    // Without the path secret, or with a wrong one, nothing is accepted.
    let resp = handle(&rig.deps, with_path("POST", "guess", body)).await;
    assert_eq!(resp.status_code, 401);
    let (status, _) = rig.post("conn_mc", &[], body).await;
    assert_eq!(status, 401);
    assert_eq!(rig.stored_events().await.len(), 1);
}
