//! Outbound webhook (`shared/connectors/webhook.yaml`): one write operation (`deliver`), no
//! streams and no check request (an arbitrary endpoint has nothing to check against).
//!
//! Standard Webhooks publishes prose, not a machine-readable description
//! (`standard-webhooks/standard-webhooks.md` in the specs folder), so the spec is checked the
//! way that document states it: every delivery carries the `webhook-id`, `webhook-timestamp`
//! and `webhook-signature` headers, the id is stable for the same body, the body is the record
//! as JSON, and the signature verifies with the reference implementation (the
//! `standardwebhooks` crate) as well as with the sink's own verifier. The webhook sink fake
//! refuses one delivery of the batch (400), which must fail alone and permanently.

use serde_json::{json, Value};
use switchyard_fakes::webhook_sink::{self, Refusal, SinkConfig};

use super::{client, prove_write, WriteCase};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn webhook() {
    let sink = webhook_sink::start(SinkConfig {
        secret: Some(SECRET.into()),
        refuse: vec![Refusal {
            pointer: "/type".into(),
            equals: json!("test.unwanted"),
            status: 400,
        }],
        ..SinkConfig::default()
    });
    let endpoint = sink.url("/hooks/conn_1");
    let c = client("webhook", &endpoint, &[("signing_secret", SECRET)], json!({}));
    let def = c.definition();
    assert!(def.streams.is_empty() && def.check.is_none(), "deliveries only");

    let oracle = standardwebhooks::Webhook::new(SECRET).expect("a valid secret");
    let verify = |record: &Value, _id: Option<&str>| {
        let delivery = sink
            .deliveries()
            .into_iter()
            .find(|d| d.json().as_ref() == Some(record))
            .unwrap_or_else(|| panic!("{record} was delivered"));
        assert_eq!(delivery.method, "POST");
        assert_eq!(delivery.path, "/hooks/conn_1");
        assert!(delivery.header("webhook-id").is_some_and(|id| id.starts_with("msg_")));
        assert!(delivery.header("webhook-timestamp").is_some());
        assert!(delivery.is_verified(), "the sink verifies {:?}", delivery.verification);
        let mut headers = http::HeaderMap::new();
        for (name, value) in &delivery.headers {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                http::HeaderValue::from_str(value).expect("a header value"),
            );
        }
        oracle
            .verify(&delivery.body, &headers)
            .expect("the reference implementation verifies the signature");
    };
    let records = vec![
        json!({"type": "contact.synced", "data": {"id": "c_1", "email": "ada@example.com"}}),
        json!({"type": "test.unwanted", "data": {"id": "c_2"}}),
        json!({"type": "contact.synced", "data": {"id": "c_3", "email": "grace@example.com"}}),
    ];
    prove_write(
        &c,
        WriteCase {
            operation: "deliver",
            records: records.clone(),
            refused: &[1],
            verify: Box::new(verify),
        },
    )
    .await;
    assert_eq!(
        sink.len(),
        3,
        "every record is delivered once, the refused one included"
    );

    // The same body keeps its webhook-id, so the receiver can drop a redelivery.
    prove_write(
        &c,
        WriteCase {
            operation: "deliver",
            records: vec![records[0].clone()],
            refused: &[],
            verify: Box::new(|_, _| {}),
        },
    )
    .await;
    let deliveries = sink.deliveries();
    assert_eq!(deliveries[0].header("webhook-id"), deliveries[3].header("webhook-id"));
}
