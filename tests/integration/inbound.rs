//! Inbound events per hour, per connection: real signed deliveries through the webhook
//! receiver (state in moto), counted from the webhook log by the health checker's runs, judged
//! against the connection's baseline, and alerted to the alert webhook once per episode.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::json;
use switchyard::admin::{create_connection, NewWebhookSecrets};
use switchyard::clock::{Clock, FixedClock};
use switchyard::config::ReceiverConfig;
use switchyard::connector::Registry;
use switchyard::health::{self, Alerter, HealthConfig, HealthDeps};
use switchyard::quality::{hour_part, Metric, Quality};
use switchyard::receiver::{self, ReceiverDeps};
use switchyard::secrets::SecretStore;
use switchyard::store::connections::{Connection, InboundRecord, WebhookSettings};
use switchyard::webhook::Scheme;
use switchyard_fakes::webhook_sink::{self, SinkConfig};
use switchyard_tests::TestEnv;

use crate::receiver::apigw_event;
use crate::signing;

const HOUR: i64 = 3_600;
/// Monday 2026-11-02 00:00 UTC.
const MONDAY: i64 = 1_793_577_600;
/// Tuesday 2026-12-01 00:00 UTC, after four weeks of baseline.
const TUESDAY: i64 = MONDAY + (4 * 7 + 1) * 24 * HOUR;
const SECRET: &str = "whsec_inbound_test";

/// Four weeks of a stream that brings 8 to 12 events an hour on weekdays from 09:00 to 17:00
/// UTC and nothing otherwise: the baseline the connection would have learned by now.
fn learned_baseline() -> Quality {
    let mut q = Quality::default();
    let mut noise = 5u64;
    let mut at = MONDAY;
    while at < TUESDAY {
        noise = noise
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 33;
        let count = match hour_part(at) {
            9..=16 => 8 + noise % 5,
            _ => 0,
        };
        assert!(q.observe_hour(at, count).findings.is_empty());
        at += HOUR;
    }
    q
}

struct Rig {
    _env: TestEnv,
    clock: FixedClock,
    receiver: ReceiverDeps,
    health: HealthDeps,
    seq: u32,
}

impl Rig {
    /// One signed Stripe delivery now; `good: false` signs it with the wrong secret.
    async fn deliver(&mut self, good: bool) -> i64 {
        self.seq += 1;
        let body = serde_json::to_vec(&json!({
            "id": format!("evt_inbound_{}", self.seq),
            "object": "event",
            "type": "customer.updated",
            "data": {"object": {"id": "cus_1", "email": "a@example.com"}}
        }))
        .unwrap();
        let secret = if good { SECRET } else { "whsec_someone_else" };
        let sig = signing::stripe(secret, self.clock.now_unix(), &body);
        let resp = receiver::handle(
            &self.receiver,
            apigw_event("conn_inbound", &[("Stripe-Signature", &sig)], &body, false),
        )
        .await;
        resp.status_code
    }

    /// `good` accepted deliveries and `bad` refused ones spread over the hour starting at
    /// `hour`, then the clock at five past the next hour.
    async fn hour(&mut self, hour: i64, good: u32, bad: u32) {
        let n = good + bad;
        for i in 0..n {
            self.clock.set(hour + 60 + i64::from(i) * (3_000 / i64::from(n.max(1))));
            let status = self.deliver(i < good).await;
            assert_eq!(status, if i < good { 200 } else { 401 });
        }
        self.clock.set(hour + HOUR + 300);
    }

    async fn run(&self) -> health::RunReport {
        health::run_checks(&self.health, None).await.expect("health run")
    }

    async fn inbound(&self) -> InboundRecord {
        self.health
            .connections
            .inbound("conn_inbound")
            .await
            .unwrap()
            .expect("inbound record")
    }
}

#[tokio::test]
async fn a_webhook_stream_gone_silent_in_its_busy_hours_is_alerted_once_per_episode() {
    let env = TestEnv::new().await;
    let clock = FixedClock::at(TUESDAY + 9 * HOUR + 300);
    let lookup = |k: &str| match k {
        "TABLE_NAME" => Some(env.table.clone()),
        "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
        _ => None,
    };
    let receiver = ReceiverDeps::new(
        ReceiverConfig::from_lookup(lookup).unwrap(),
        &env.clients,
        Arc::new(clock.clone()),
    );
    let mut health = HealthDeps::new(
        HealthConfig::from_lookup(lookup).unwrap(),
        &env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let sink = webhook_sink::start(SinkConfig::default());
    health.alerter = Alerter::none(reqwest::Client::new()).with_webhook(&sink.url("/alerts"));
    let conn = Connection {
        id: "conn_inbound".into(),
        tenant: "acme".into(),
        provider: "stripe".into(),
        name: "Stripe events".into(),
        webhook: Some(WebhookSettings {
            scheme: Scheme::Stripe,
            tolerance_secs: None,
            handshake_until: None,
        }),
        secret_arn: None,
        config: Default::default(),
        created_at: TUESDAY,
    };
    create_connection(
        &health.connections,
        &SecretStore::new(env.clients.secrets.clone(), std::time::Duration::ZERO),
        conn,
        Some(NewWebhookSecrets {
            current: SecretString::from(SECRET.to_string()),
            previous: None,
        }),
        Default::default(),
    )
    .await
    .unwrap();
    let mut rig = Rig {
        _env: env,
        clock,
        receiver,
        health,
        seq: 0,
    };

    // The first run sees the connection: its baseline starts at the current hour, nothing
    // before is read. The learned weeks stand in for the four weeks a stream takes to learn.
    assert_eq!(rig.run().await.inbound_hours, 0);
    let started = rig.inbound().await;
    assert_eq!((started.version, started.next_hour), (1, TUESDAY + 9 * HOUR));
    let seeded = InboundRecord {
        version: 2,
        next_hour: started.next_hour,
        quality: learned_baseline(),
    };
    assert!(rig
        .health
        .connections
        .put_inbound("conn_inbound", &seeded)
        .await
        .unwrap());

    // 09:00: an ordinary hour of ten deliveries. The receiver's path leaves the baseline alone.
    rig.hour(TUESDAY + 9 * HOUR, 10, 0).await;
    assert_eq!(
        rig.inbound().await.version,
        2,
        "deliveries write nothing to the baseline"
    );
    let report = rig.run().await;
    assert_eq!((report.inbound_hours, report.inbound_anomalies), (1, 0));
    assert_eq!(sink.len(), 0);
    // A second run within the same hour counts nothing again.
    rig.clock.advance(300);
    assert_eq!(rig.run().await.inbound_hours, 0);

    // 10:00: silence, but for two deliveries refused for their signature. One alert, saying
    // what, since when, compared to what, and why deliveries were refused.
    rig.hour(TUESDAY + 10 * HOUR, 0, 2).await;
    let report = rig.run().await;
    assert_eq!(
        (
            report.inbound_hours,
            report.inbound_anomalies,
            report.inbound_alerts_sent
        ),
        (1, 1, 1)
    );
    assert_eq!(sink.len(), 1);
    let alert = sink.deliveries()[0].json().unwrap();
    assert_eq!(alert["type"], "connection.inbound_anomaly");
    assert_eq!(alert["connection_id"], "conn_inbound");
    assert_eq!(alert["metric"], "inbound_events");
    assert_eq!(alert["observed"], 0.0);
    let usual = alert["usual"].as_f64().unwrap();
    assert!((8.0..=12.0).contains(&usual), "{alert}");
    assert_eq!(alert["since"], TUESDAY + 10 * HOUR);
    assert_eq!(alert["rejected"], 2);
    let text = alert["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "Connection Stripe events (conn_inbound, stripe): inbound_events: 0 events in the hour where about "
        ) && text.contains("since 2026-12-01T10:00:00Z")
            && text.contains("2 deliveries were refused in that hour; last reasons: bad_signature"),
        "{text}"
    );
    assert!(sink.deliveries()[0].header("idempotency-key").is_some());

    // 11:00: still silent. The same episode: no second alert.
    rig.hour(TUESDAY + 11 * HOUR, 0, 0).await;
    let report = rig.run().await;
    assert_eq!((report.inbound_hours, report.inbound_anomalies), (1, 0));
    assert_eq!(sink.len(), 1);
    let open = rig.inbound().await.quality.open;
    assert_eq!(open[&Metric::InboundEvents].count, 2, "{open:?}");
    assert_eq!(open[&Metric::InboundEvents].since, TUESDAY + 10 * HOUR);

    // 12:00: the stream is back; the episode closes without an alert.
    rig.hour(TUESDAY + 12 * HOUR, 9, 0).await;
    let report = rig.run().await;
    assert_eq!((report.inbound_hours, report.inbound_anomalies), (1, 0));
    assert_eq!(sink.len(), 1);
    assert!(rig.inbound().await.quality.open.is_empty());
}
