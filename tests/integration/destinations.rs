//! The Slack and outbound-webhook destination connectors end to end, fed by Stripe customers.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::slack::{self, SlackConfig};
use switchyard_fakes::webhook_sink::{self, SinkConfig};
use switchyard_fakes::RateLimit;

use crate::sync::Rig;

#[tokio::test]
async fn new_customers_are_announced_in_slack() {
    let rig = Rig::new().await;
    let slack = slack::start(SlackConfig {
        rate_limit: RateLimit::new(5, std::time::Duration::from_secs(1)),
        ..SlackConfig::default()
    });
    rig.connect(
        "conn_slack",
        "slack",
        &slack.url("/api"),
        json!({"bot_token": slack::TEST_TOKEN}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_slack",
            "conn_slack",
            "chat.post_message",
            r#"{channel: "C0000000001", text: "New Stripe customer: \(.name) <\(.email)>"}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("slack{i}@example.com"), &format!("Slack Person{i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3);
    let texts: Vec<String> = slack
        .messages_in("C0000000001")
        .into_iter()
        .filter_map(|m| m.text)
        .collect();
    assert!(
        texts.contains(&"New Stripe customer: Slack Person1 <slack1@example.com>".to_string()),
        "{texts:?}"
    );
    assert_eq!(slack.rate_limited_count(), 0, "our pacing stays under Slack's limit");

    // A channel that does not exist: Slack answers 200 {"ok":false,"error":"channel_not_found"},
    // which is a permanent failure of that record, not a success.
    let bad = rig
        .flow_from_customers(
            "flow_slack_bad",
            "conn_slack",
            "chat.post_message",
            r#"{channel: "C404", text: .email}"#,
        )
        .await;
    let job = rig.run_flow(&bad, None).await;
    assert_eq!(job.status, JobStatus::Partial);
    assert_eq!(job.counts.failed, 3);
    assert!(
        job.recent_failures[0].reason.contains("channel_not_found"),
        "{:?}",
        job.recent_failures
    );
}

#[tokio::test]
async fn records_are_delivered_to_a_webhook_endpoint_signed_with_standard_webhooks() {
    let rig = Rig::new().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sink = webhook_sink::start(SinkConfig {
        secret: Some(secret.into()),
        ..SinkConfig::default()
    });
    rig.connect(
        "conn_hook",
        "webhook",
        &sink.url("/inbound"),
        json!({"signing_secret": secret}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_hook",
            "conn_hook",
            "deliver",
            r#"{type: "customer.synced", data: {id: .id, email: .email}}"#,
        )
        .await;
    rig.stripe.create_customer("hook1@example.com", "Hook One").await;
    rig.stripe.create_customer("hook2@example.com", "Hook Two").await;
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 2, "{job:?}");
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        sink.valid_count(),
        2,
        "every delivery verifies with the endpoint's secret"
    );
    let emails: Vec<String> = deliveries
        .iter()
        .map(|d| d.json().unwrap()["data"]["email"].as_str().unwrap().to_string())
        .collect();
    assert!(emails.contains(&"hook1@example.com".to_string()));

    // Unchanged records are not delivered again.
    let again = rig.run_flow(&flow, None).await;
    assert_eq!((again.counts.written, again.counts.unchanged), (0, 2));
    assert_eq!(sink.deliveries().len(), 2);
}
