//! Stripe customers -> Canvas LMS users end to end: every paying customer gets a Canvas login
//! (their email) with the Stripe id as SIS id. localstripe as Stripe, the Canvas fake (its
//! throttle on, each request checked against Instructure's documented shapes), moto for state,
//! through connector-sync's job path.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::canvas::{self, CanvasConfig, TOKEN};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_become_canvas_users_once() {
    switchyard_tests::log_capture::known_secret(TOKEN);
    let rig = Rig::new().await;
    let fake = canvas::start(CanvasConfig::default());
    rig.connect_with_config(
        "conn_canvas",
        "canvas",
        json!({"base_url": fake.base_url, "account_id": "self"}),
        json!({"access_token": TOKEN}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_canvas",
            "conn_canvas",
            "users.create",
            r#"{user: {name: .name}, pseudonym: {unique_id: .email, sis_user_id: .id},
                communication_channel: {type: "email", address: .email}}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("canvas{i}@example.com"), &format!("Learner {i}"))
            .await;
    }
    let before = fake.user_count();
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    assert_eq!(fake.user_count(), before + 3);
    let user = fake
        .find_user("canvas2@example.com")
        .expect("a Canvas user for customer 2");
    assert_eq!(user["name"], "Learner 2");
    assert!(user["sis_user_id"].as_str().unwrap().starts_with("cus_"), "{user}");

    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 0, "{job:?}");
    assert_eq!(fake.user_count(), before + 3);
    assert_eq!(fake.throttled(), 0);
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
