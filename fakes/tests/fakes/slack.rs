use std::time::Duration;

use serde_json::{json, Value};
use switchyard_fakes::slack::{self, SlackConfig, TEST_TOKEN};
use switchyard_fakes::RateLimit;

use crate::{client, form, header, parts};

async fn post_json(base: &str, token: Option<&str>, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client().post(format!("{base}/api/chat.postMessage")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    parts(request.send().await.unwrap()).await
}

#[tokio::test]
async fn post_message_answers_ok_with_channel_ts_and_message_and_records_it() {
    let slack = slack::start(SlackConfig::default());
    let (status, _, body) = post_json(
        &slack.base_url,
        Some(TEST_TOKEN),
        json!({"channel": "#general", "text": "Sync finished", "blocks": [{"type": "section"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true);
    assert_eq!(body["channel"], "C0000000001");
    let ts = body["ts"].as_str().unwrap();
    assert_eq!(ts.split('.').nth(1).map(str::len), Some(6));
    assert_eq!(body["message"]["text"], "Sync finished");
    assert_eq!(body["message"]["ts"], ts);
    assert_eq!(body["message"]["type"], "message");
    let messages = slack.messages_in("general");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text.as_deref(), Some("Sync finished"));
    assert_eq!(messages[0].blocks, Some(json!([{"type": "section"}])));
    assert!(!messages[0].args.contains_key("token"));
}

#[tokio::test]
async fn a_form_post_with_the_token_field_works() {
    let slack = slack::start(SlackConfig::default());
    let response = client()
        .post(slack.url("/api/chat.postMessage"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", TEST_TOKEN),
            ("channel", "C0000000002"),
            ("text", "hello"),
            ("thread_ts", "1.000001"),
        ]))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
    assert_eq!(body["message"]["thread_ts"], "1.000001");
    assert_eq!(
        slack.messages_in("C0000000002")[0].thread_ts.as_deref(),
        Some("1.000001")
    );
}

#[tokio::test]
async fn errors_are_http_200_with_ok_false_and_slacks_error_codes() {
    let slack = slack::start(SlackConfig::default());
    let base = &slack.base_url;
    let cases = [
        (None, json!({"channel": "#general", "text": "x"}), "not_authed"),
        (
            Some("xoxb-wrong"),
            json!({"channel": "#general", "text": "x"}),
            "invalid_auth",
        ),
        (
            Some(TEST_TOKEN),
            json!({"channel": "#nowhere", "text": "x"}),
            "channel_not_found",
        ),
        (Some(TEST_TOKEN), json!({"text": "x"}), "channel_not_found"),
        (
            Some(TEST_TOKEN),
            json!({"channel": "#general", "text": "  "}),
            "no_text",
        ),
    ];
    for (token, body, error) in cases {
        let (status, _, answer) = post_json(base, token, body).await;
        assert_eq!(status, 200, "{error}");
        assert_eq!(answer, json!({"ok": false, "error": error}));
    }
    assert!(slack.messages().is_empty());
}

#[tokio::test]
async fn a_second_message_to_a_channel_within_a_second_is_429_with_retry_after() {
    let slack = slack::start(SlackConfig::default());
    let message = |channel: &str| json!({"channel": channel, "text": "x"});
    assert_eq!(
        post_json(&slack.base_url, Some(TEST_TOKEN), message("#general"))
            .await
            .0,
        200
    );
    let (status, headers, body) = post_json(&slack.base_url, Some(TEST_TOKEN), message("#general")).await;
    assert_eq!(status, 429);
    assert_eq!(header(&headers, "retry-after"), Some("1"));
    assert_eq!(body, json!({"ok": false, "error": "ratelimited"}));
    assert_eq!(slack.rate_limited_count(), 1);
    // Another channel has its own budget.
    assert_eq!(
        post_json(&slack.base_url, Some(TEST_TOKEN), message("#alerts")).await.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(
        post_json(&slack.base_url, Some(TEST_TOKEN), message("#general"))
            .await
            .0,
        200
    );
    assert_eq!(slack.messages().len(), 3);
}

#[tokio::test]
async fn the_posting_limit_is_configurable() {
    let slack = slack::start(SlackConfig {
        rate_limit: RateLimit::new(5, Duration::from_secs(60)),
        ..SlackConfig::default()
    });
    for _ in 0..5 {
        let (status, _, _) = post_json(
            &slack.base_url,
            Some(TEST_TOKEN),
            json!({"channel": "#general", "text": "x"}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, headers, _) = post_json(
        &slack.base_url,
        Some(TEST_TOKEN),
        json!({"channel": "#general", "text": "x"}),
    )
    .await;
    assert_eq!(status, 429);
    let retry_after: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((59..=60).contains(&retry_after));
}

#[tokio::test]
async fn auth_test_checks_the_token() {
    let slack = slack::start(SlackConfig::default());
    let (_, _, body) = parts(
        client()
            .post(slack.url("/api/auth.test"))
            .bearer_auth(TEST_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["ok"], true);
    assert_eq!(body["team_id"], "T0FAKETEAM");
    slack.revoke_token(TEST_TOKEN);
    let (_, _, body) = parts(
        client()
            .post(slack.url("/api/auth.test"))
            .bearer_auth(TEST_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["error"], "invalid_auth");
}
