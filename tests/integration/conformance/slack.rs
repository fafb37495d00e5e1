//! Slack (`shared/connectors/slack.yaml`): one write operation (`chat.post_message`), and one
//! stream fed by webhooks only (`interactions`: clicks posted to the app, which no API lists;
//! proven end to end by example flow 6, `hubspot_slack_flows`).
//!
//! Against the hand-written Slack fake (`chat.postMessage` and `auth.test`, per-channel posting
//! limit, Slack's `{"ok": false, "error": ...}` answers), with every request and response
//! checked against Slack's Web API description (`slack/slack_web_openapi_v2_without_examples.json`,
//! `SpecCheck::slack()`). A batch of four messages where Slack refuses two (an unknown
//! channel, a message without text) proves the 200-with-`ok: false` errors are refusals and
//! the others are posted, with the values read back from the fake.

use serde_json::{json, Value};
use switchyard_fakes::slack::{self, SlackConfig};
use switchyard_fakes::spec::SpecCheck;

use super::{client, prove_check, prove_write, WriteCase};

#[tokio::test]
async fn slack() {
    let fake = slack::start(SlackConfig {
        spec_check: Some(SpecCheck::slack()),
        ..SlackConfig::default()
    });
    let base = fake.url("/api");
    let c = client("slack", &base, &[("bot_token", slack::TEST_TOKEN)], json!({}));
    let streams: Vec<_> = c.definition().streams.keys().collect();
    assert_eq!(streams, ["interactions"]);
    assert!(
        c.definition().streams["interactions"].request.is_none(),
        "fed by webhooks only"
    );
    let err = c
        .read_page("interactions", &switchyard::connector::StreamState::full_refresh())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fed by webhooks only"), "{err}");
    prove_check(&c).await;

    let verify = |record: &Value, ts: Option<&str>| {
        let ts = ts.expect("the message's ts is the destination id");
        let message = fake
            .messages()
            .into_iter()
            .find(|m| m.ts == ts)
            .unwrap_or_else(|| panic!("no message {ts} was posted"));
        assert_eq!(message.channel, record["channel"].as_str().expect("a channel"));
        assert_eq!(message.text.as_deref(), record["text"].as_str());
        assert_eq!(message.thread_ts.as_deref(), record["thread_ts"].as_str());
    };
    prove_write(
        &c,
        WriteCase {
            operation: "chat.post_message",
            records: vec![
                json!({"channel": "C0000000001", "text": "Deploy finished"}),
                json!({"channel": "C0000009999", "text": "Nobody reads this"}),
                json!({"channel": "C0000000002", "text": "Disk at 91%", "unfurl_links": false}),
                json!({"channel": "C0000000001"}),
            ],
            refused: &[1, 3],
            verify: Box::new(verify),
        },
    )
    .await;
    assert_eq!(fake.messages().len(), 2, "only the accepted messages are posted");

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
