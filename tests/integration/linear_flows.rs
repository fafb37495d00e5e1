//! Linear end to end: each new Stripe customer becomes an onboarding issue in Linear (a sync
//! job through connector-sync's code path), and when that issue is updated in Linear, its
//! signed `Issue.update` webhook goes through the receiver, the sync queue and connector-sync's
//! handler, which fetches the issue and posts a status comment on it.

use serde_json::json;
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::linear::{self, Kind, LinearConfig};

use crate::sync::Rig;

/// The webhook's signing secret, as Linear shows it.
const HOOK_SECRET: &str = "lin_wh_fake-signing-secret-2b7e";

#[tokio::test]
async fn stripe_customers_become_linear_issues_and_issue_updates_are_commented() {
    switchyard_tests::log_capture::known_secret(HOOK_SECRET);
    switchyard_tests::log_capture::known_secret(linear::TEST_KEY);
    let rig = Rig::new().await;
    let fake = linear::start(LinearConfig::default());
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("linear")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("Linear sends webhooks")
        .receiver_scheme()
        .unwrap();
    assert_eq!(scheme, Scheme::Linear);
    rig.connect_receiving(
        "conn_linear",
        "linear",
        fake.base_url(),
        json!({"api_key": linear::TEST_KEY}),
        (scheme.clone(), HOOK_SECRET),
    )
    .await;

    // Stripe customers -> Linear onboarding issues.
    let mapping = format!(
        r#"{{teamId: "{}", title: ("Onboard " + .name), description: ("Customer " + .email), priority: 2}}"#,
        linear::TEAM_ID
    );
    let flow = rig
        .flow_from_customers("flow_linear_onboarding", "conn_linear", "issues.create", &mapping)
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("ln{i}@example.com"), &format!("Linear Customer{i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    let issues = fake.objects(Kind::Issues);
    let issue = issues
        .iter()
        .find(|i| i["title"] == "Onboard Linear Customer1")
        .unwrap_or_else(|| panic!("an onboarding issue: {issues:#?}"))
        .clone();
    assert_eq!(issue["description"], "Customer ln1@example.com");
    assert_eq!(issue["team"]["key"], linear::TEAM_KEY);
    assert_eq!(rig.run_flow(&flow, None).await.counts.written, 0, "nothing changed");

    // Linear issue updated -> a status comment on it, from the webhook.
    let comments = Flow {
        id: "flow_linear_status_comment".into(),
        source_connection: "conn_linear".into(),
        source_stream: "issues".into(),
        destination_connection: "conn_linear".into(),
        destination_operation: "comments.create".into(),
        mapping: r#"{issueId: .id, body: ("Now " + .state.name + ": " + .title)}"#.into(),
        event_types: vec!["Issue.update".into()],
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&comments).await.unwrap();
    let id = issue["id"].as_str().unwrap();
    fake.update(
        Kind::Issues,
        id,
        json!({"title": "Onboard Linear Customer1 (kick-off booked)"}),
    )
    .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let body = serde_json::to_vec(&json!({
        "action": "update", "type": "Issue", "createdAt": "2026-01-01T00:00:00.000Z",
        "data": {"id": id, "title": "Onboard Linear Customer1 (kick-off booked)"},
        "updatedFrom": {"title": "Onboard Linear Customer1"},
        "url": issue["url"], "webhookTimestamp": now_ms, "webhookId": "0c8e2a41-0000-4000-8000-000000000001"
    }))
    .unwrap();
    let headers = [
        ("Linear-Delivery", "5f1c9e3a-0000-4000-8000-000000000001"),
        ("Linear-Event", "Issue"),
    ];

    // Signed with the wrong secret: refused, nothing queued.
    assert_eq!(
        rig.deliver_with("conn_linear", &scheme, "lin_wh_wrong", &body, &headers)
            .await,
        401
    );
    assert_eq!(rig.drain_through_handler().await, 0);
    let before = fake.count(Kind::Comments);
    // Delivered twice (a retry): handled once.
    for _ in 0..2 {
        assert_eq!(
            rig.deliver_with("conn_linear", &scheme, HOOK_SECRET, &body, &headers)
                .await,
            200
        );
    }
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    assert_eq!(fake.count(Kind::Comments), before + 1, "one comment posted");
    let comment = fake.objects(Kind::Comments).pop().unwrap();
    assert_eq!(comment["issue"]["id"], id);
    assert_eq!(comment["body"], "Now Todo: Onboard Linear Customer1 (kick-off booked)");
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
