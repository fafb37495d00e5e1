use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard::webhook::{Rejection, SecretUsed};
use switchyard_fakes::webhook_sink::{self, SinkConfig};

use crate::client;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_c2VjcmV0LWJlZm9yZS1yb3RhdGlvbg==";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Delivers `body` signed with `secret` the Standard Webhooks way.
async fn deliver(url: &str, secret: &str, id: &str, body: &str) -> u16 {
    let timestamp = now();
    let signature = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign(id, timestamp, body.as_bytes())
        .unwrap();
    client()
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_delivery_signed_with_the_secret_is_recorded_with_headers_and_raw_body_as_valid() {
    let sink = webhook_sink::start(SinkConfig {
        secret: Some(SECRET.into()),
        ..SinkConfig::default()
    });
    let body = r#"{"type":"contact.synced","data":{"id":"1"}}"#;
    assert_eq!(deliver(&sink.url("/hooks/a?x=1"), SECRET, "msg_1", body).await, 200);
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.method, "POST");
    assert_eq!(delivery.path, "/hooks/a?x=1");
    assert_eq!(&delivery.body[..], body.as_bytes());
    assert_eq!(delivery.header("Webhook-Id"), Some("msg_1"));
    assert_eq!(delivery.json().unwrap()["type"], "contact.synced");
    assert_eq!(delivery.verification, Some(Ok(SecretUsed::Current)));
    assert_eq!((sink.valid_count(), sink.invalid_count()), (1, 0));
}

#[tokio::test]
async fn tampered_wrongly_signed_or_unsigned_deliveries_are_recorded_as_invalid() {
    let sink = webhook_sink::start(SinkConfig {
        secret: Some(SECRET.into()),
        ..SinkConfig::default()
    });
    deliver(
        &sink.url("/"),
        "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==",
        "msg_2",
        "{}",
    )
    .await;
    client().post(sink.url("/")).body("{}").send().await.unwrap();
    // Same headers, different body: sign one body, send another.
    let timestamp = now();
    let signature = standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .sign("msg_3", timestamp, b"{\"amount\":1}")
        .unwrap();
    client()
        .post(sink.url("/"))
        .header("webhook-id", "msg_3")
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body("{\"amount\":1000}")
        .send()
        .await
        .unwrap();
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 3);
    assert_eq!(deliveries[0].verification, Some(Err(Rejection::NoMatchingSignature)));
    assert!(matches!(
        deliveries[1].verification,
        Some(Err(Rejection::MissingHeader { .. }))
    ));
    assert_eq!(deliveries[2].verification, Some(Err(Rejection::NoMatchingSignature)));
    assert_eq!((sink.valid_count(), sink.invalid_count()), (0, 3));
}

#[tokio::test]
async fn the_previous_secret_verifies_during_a_rotation() {
    let sink = webhook_sink::start(SinkConfig {
        secret: Some(SECRET.into()),
        previous_secret: Some(OLD_SECRET.into()),
        ..SinkConfig::default()
    });
    deliver(&sink.url("/"), OLD_SECRET, "msg_4", "{}").await;
    assert_eq!(sink.deliveries()[0].verification, Some(Ok(SecretUsed::Previous)));
}

#[tokio::test]
async fn without_a_secret_deliveries_are_recorded_unverified() {
    let sink = webhook_sink::start(SinkConfig::default());
    deliver(&sink.url("/"), SECRET, "msg_5", "{}").await;
    assert_eq!(sink.deliveries()[0].verification, None);
    assert_eq!((sink.valid_count(), sink.invalid_count()), (0, 0));
}

#[tokio::test]
async fn wait_for_returns_once_enough_deliveries_arrived_or_at_the_timeout() {
    let sink = webhook_sink::start(SinkConfig::default());
    let url = sink.url("/late");
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..2 {
            client().post(&url).body("{}").send().await.unwrap();
        }
    });
    let started = std::time::Instant::now();
    assert_eq!(sink.wait_for(2, Duration::from_secs(10)).await.len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
    sender.await.unwrap();
    assert_eq!(sink.wait_for(3, Duration::from_millis(100)).await.len(), 2);
}
