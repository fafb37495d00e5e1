//! PayPal's certificate-signed webhooks through the receiver: moto's DynamoDB, SQS and Secrets
//! Manager, and PayPal's certificate host played over HTTPS on loopback under PayPal's own
//! host name (`switchyard_tests::paypal`: a CA made for the test, which the receiver is built to
//! trust, and a `CONNECT` proxy it is built to use; neither can come from a request).

use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::admin::create_connection;
use switchyard::clock::FixedClock;
use switchyard::config::ReceiverConfig;
use switchyard::receiver::paypal_certs::PaypalCertificates;
use switchyard::receiver::{handle, ReceiverDeps};
use switchyard::secrets::SecretStore;
use switchyard::store::connections::{Connection, ConnectionStore, WebhookSettings};
use switchyard::store::webhook_log::LogQuery;
use switchyard::webhook::Scheme;
use switchyard_tests::paypal::{CertHost, Key, Pki, GOOD, ROGUE, WEBHOOK_ID, WRONG_NAME};
use switchyard_tests::TestEnv;

use crate::receiver::apigw_event;

const CONN: &str = "conn_paypal_hooks";

struct Rig {
    env: TestEnv,
    deps: ReceiverDeps,
    clock: FixedClock,
    pki: Pki,
    host: CertHost,
    now: i64,
}

impl Rig {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let pki = Pki::make();
        let host = CertHost::start(&pki).await;
        // The certificates were made just now, valid for two days.
        let now = switchyard::webhook::VerifyOptions::default().now;
        let clock = FixedClock::at(now);
        let config = ReceiverConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(env.table.clone()),
            "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
            _ => None,
        })
        .expect("test config is complete");
        let mut deps = ReceiverDeps::new(config, &env.clients, Arc::new(clock.clone()));
        deps.paypal_certs = PaypalCertificates::with_overrides(Some(&host.proxy_url), std::slice::from_ref(&pki.root))
            .expect("the test root is a trust anchor");
        let conn = Connection {
            id: CONN.into(),
            tenant: "acme".into(),
            provider: "paypal".into(),
            name: "PayPal".into(),
            webhook: Some(WebhookSettings {
                scheme: Scheme::Paypal,
                tolerance_secs: None,
                handshake_until: None,
            }),
            secret_arn: None,
            config: json!({"webhook_id": WEBHOOK_ID}).as_object().cloned().unwrap(),
            created_at: now,
        };
        create_connection(
            &ConnectionStore::new(env.clients.dynamodb.clone(), &env.table),
            &SecretStore::new(env.clients.secrets.clone(), std::time::Duration::ZERO),
            conn,
            None,
            Default::default(),
        )
        .await
        .expect("a PayPal connection needs no webhook secret");
        Self {
            env,
            deps,
            clock,
            pki,
            host,
            now,
        }
    }

    /// Posts `body` with `headers` (minus any named in `drop`) to the connection.
    async fn post(&self, headers: &[(String, String)], drop: &[&str], body: &[u8]) -> i64 {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(n, _)| !drop.iter().any(|d| d.eq_ignore_ascii_case(n)))
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain([("content-type", "application/json")])
            .collect();
        handle(&self.deps, apigw_event(CONN, &headers, body, false))
            .await
            .status_code
    }

    fn signed(&self, key: Key, webhook_id: &str, cert_url: &str, at: i64, body: &[u8]) -> Vec<(String, String)> {
        let tid = format!("b2384410-f8d2-11e4-8bf3-{:012x}", at);
        self.pki.sign(key, &tid, at, webhook_id, cert_url, body)
    }

    async fn stored_event_ids(&self) -> Vec<String> {
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
            .map(|i| i["event_id"].as_s().unwrap().clone())
            .collect()
    }

    /// The reasons logged for refused deliveries, sorted.
    async fn rejections(&self) -> Vec<String> {
        let page = self
            .deps
            .webhook_log
            .page(
                "acme",
                CONN,
                &LogQuery {
                    since: None,
                    outcome: Some(switchyard::store::webhook_log::Outcome::Rejected),
                    before: None,
                    limit: 100,
                },
            )
            .await
            .expect("the log reads");
        // Refusals in the same second have no order among them: compared as a sorted list.
        let mut reasons: Vec<String> = page.items.into_iter().filter_map(|(_, e)| e.reason).collect();
        reasons.sort();
        reasons
    }
}

fn invoice_paid(event_id: &str, invoice: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id, "event_version": "1.0", "create_time": "2025-11-22T08:26:40.000Z",
        "resource_type": "invoices", "event_type": "INVOICING.INVOICE.PAID",
        "summary": "An invoice is paid, partially paid, or payment is made and is pending.",
        "resource": {"invoice": {"id": invoice, "status": "PAID", "detail": {"currency_code": "USD"}}}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_paypal_delivery_is_verified_with_the_certificate_and_a_warm_receiver_fetches_it_once() {
    let rig = Rig::new().await;
    let good = CertHost::url(GOOD);
    let body = invoice_paid("WH-1AB23456CD789012E-3FG45678HJ901234K", "INV2-26KH-MY9Q-USVG-4WZD");
    let headers = rig.signed(Key::Signer, WEBHOOK_ID, &good, rig.now, &body);
    assert_eq!(rig.post(&headers, &[], &body).await, 200);
    assert_eq!(rig.stored_event_ids().await, ["WH-1AB23456CD789012E-3FG45678HJ901234K"]);
    let queued = rig.env.drain_queue().await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["event_type"], "INVOICING.INVOICE.PAID", "{queued:?}");
    assert_eq!(rig.host.fetches(GOOD), 1);

    // PayPal's retry of the same event: acknowledged, not stored or queued again, no fetch.
    assert_eq!(rig.post(&headers, &[], &body).await, 200);
    // A second event a minute later, signed with the same certificate: served from the cache.
    rig.clock.advance(60);
    let body2 = invoice_paid("WH-9ZZ23456CD789012E-3FG45678HJ901234K", "INV2-AAAA-BBBB-CCCC-DDDD");
    let headers2 = rig.signed(Key::Signer, WEBHOOK_ID, &good, rig.now + 60, &body2);
    assert_eq!(rig.post(&headers2, &[], &body2).await, 200);
    assert_eq!(
        rig.env.drain_queue().await.len(),
        1,
        "the retry is not queued, the new event is"
    );
    assert_eq!(rig.stored_event_ids().await.len(), 2);
    assert_eq!(rig.host.fetches(GOOD), 1, "a warm receiver fetches a certificate once");
    assert!(rig.rejections().await.is_empty());
}

#[tokio::test]
async fn forged_paypal_deliveries_are_refused_with_their_reason_and_leave_nothing() {
    let rig = Rig::new().await;
    let good = CertHost::url(GOOD);
    let body = invoice_paid("WH-FORGED0000000000-000000000000000", "INV2-FORG-ED00-0000-0000");
    let now = rig.now;
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let mut expected = Vec::new();

    // Signature problems: the certificate is fetched (once, then cached), the signature fails.
    let signed = rig.signed(Key::Signer, WEBHOOK_ID, &good, now, &body);
    assert_eq!(rig.post(&signed, &[], &tampered).await, 401, "tampered body");
    expected.push("bad_signature:no_matching_signature");
    let other_hook = rig.signed(Key::Signer, "7YH12345K6789012L", &good, now, &body);
    assert_eq!(rig.post(&other_hook, &[], &body).await, 401, "another webhook's id");
    expected.push("bad_signature:no_matching_signature");
    let stranger = rig.signed(Key::Stranger, WEBHOOK_ID, &good, now, &body);
    assert_eq!(
        rig.post(&stranger, &[], &body).await,
        401,
        "a key the certificate does not carry"
    );
    expected.push("bad_signature:no_matching_signature");
    assert_eq!(rig.host.fetches(GOOD), 1);

    // Header problems and a stale time: refused before any fetch.
    let fetched = rig.host.total_fetches();
    let stale = rig.signed(Key::Signer, WEBHOOK_ID, &good, now - 301, &body);
    assert_eq!(rig.post(&stale, &[], &body).await, 401, "stale");
    expected.push("bad_signature:stale_timestamp");
    for header in [
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
    ] {
        assert_eq!(rig.post(&signed, &[header], &body).await, 401, "without {header}");
        expected.push("bad_signature:missing_header");
    }
    // Cert URLs that are not PayPal's: never fetched (the proxy would see any attempt).
    for url in [
        "https://evil.example/v1/notifications/certs/CERT-1".to_owned(),
        "https://api.sandbox.paypal.com.evil.example/v1/notifications/certs/CERT-1".to_owned(),
        good.replacen("https://", "http://", 1),
        good.replacen("https://", "https://api.sandbox.paypal.com@", 1),
        good.replacen("https://", "https://user:pw@", 1),
        good.replacen("paypal.com/", "paypal.com:8443/", 1),
        "https://127.0.0.1/v1/notifications/certs/CERT-1".to_owned(),
        "https://api.sandbox.paypal.com/v1/oauth2/token".to_owned(),
    ] {
        let headers = rig.signed(Key::Signer, WEBHOOK_ID, &url, now, &body);
        assert_eq!(rig.post(&headers, &[], &body).await, 401, "{url}");
        expected.push("bad_signature:untrusted_cert_url");
    }
    assert_eq!(rig.host.total_fetches(), fetched, "nothing was fetched for them");

    // Certificates that must not be trusted.
    let rogue = rig.signed(Key::Rogue, WEBHOOK_ID, &CertHost::url(ROGUE), now, &body);
    assert_eq!(
        rig.post(&rogue, &[], &body).await,
        401,
        "not chaining to a trusted root"
    );
    expected.push("bad_signature:untrusted_certificate");
    let wrong_name = rig.signed(Key::Stranger, WEBHOOK_ID, &CertHost::url(WRONG_NAME), now, &body);
    assert_eq!(
        rig.post(&wrong_name, &[], &body).await,
        401,
        "not issued for PayPal's signing name"
    );
    expected.push("bad_signature:untrusted_certificate");
    let missing = CertHost::url("/v1/notifications/certs/CERT-gone");
    let gone = rig.signed(Key::Signer, WEBHOOK_ID, &missing, now, &body);
    assert_eq!(rig.post(&gone, &[], &body).await, 401, "404 at the cert URL");
    expected.push("bad_signature:untrusted_certificate");
    // Three days on, the signing certificate has expired: the cached chain is checked again.
    rig.clock.set(now + 3 * 86_400);
    let late = rig.signed(Key::Signer, WEBHOOK_ID, &good, now + 3 * 86_400, &body);
    assert_eq!(rig.post(&late, &[], &body).await, 401, "expired");
    expected.push("bad_signature:untrusted_certificate");
    assert_eq!(rig.host.fetches(GOOD), 1);

    assert!(rig.stored_event_ids().await.is_empty());
    assert!(rig.env.drain_queue().await.is_empty());
    expected.sort();
    assert_eq!(rig.rejections().await, expected);
}

#[tokio::test]
async fn a_paypal_connection_takes_no_secret_and_needs_its_webhook_id() {
    let env = TestEnv::new().await;
    let store = ConnectionStore::new(env.clients.dynamodb.clone(), &env.table);
    let secrets = SecretStore::new(env.clients.secrets.clone(), std::time::Duration::ZERO);
    let conn = |config: Value| Connection {
        id: "conn_pp_admin".into(),
        tenant: "acme".into(),
        provider: "paypal".into(),
        name: "PayPal".into(),
        webhook: Some(WebhookSettings {
            scheme: Scheme::Paypal,
            tolerance_secs: None,
            handshake_until: None,
        }),
        secret_arn: None,
        config: config.as_object().cloned().unwrap(),
        created_at: 0,
    };
    let e = create_connection(&store, &secrets, conn(json!({})), None, Default::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("webhook_id"), "{e}");
    let e = create_connection(
        &store,
        &secrets,
        conn(json!({"webhook_id": WEBHOOK_ID})),
        Some(switchyard::admin::NewWebhookSecrets {
            current: secrecy::SecretString::from("whsec_x".to_string()),
            previous: None,
        }),
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no webhook secret"), "{e}");
    assert!(
        store.get("conn_pp_admin").await.unwrap().is_none(),
        "nothing was stored"
    );
}
