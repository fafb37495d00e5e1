//! Stripe customers -> Moodle users end to end: every paying customer gets a Moodle account
//! (a training provider's students pay first, then learn). localstripe as Stripe, the Moodle
//! fake (each call checked against the functions' documented descriptions), moto for state,
//! through connector-sync's job path. One customer's email is already a Moodle user's: Moodle
//! refuses the whole `core_user_create_users` call (HTTP 200, an exception body), the batch is
//! split, and only that customer is recorded as refused.

use serde_json::json;
use switchyard_fakes::moodle::{self, MoodleConfig, TOKEN};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_become_moodle_users_once_and_a_taken_email_is_refused_alone() {
    switchyard_tests::log_capture::known_secret(TOKEN);
    let rig = Rig::new().await;
    let fake = moodle::start(MoodleConfig {
        users: 3,
        ..MoodleConfig::default()
    });
    rig.connect_with_config(
        "conn_moodle",
        "moodle",
        json!({"base_url": fake.base_url}),
        json!({"token": TOKEN}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_moodle",
            "conn_moodle",
            "users.create",
            r#"{username: (.email | ascii_downcase), email: .email, firstname: (.name | split(" ") | .[0]),
                lastname: (.name | split(" ") | .[1:] | join(" ")), idnumber: .id, createpassword: true}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("moodle{i}@example.com"), &format!("Student Number{i}"))
            .await;
    }
    // Already a Moodle user (seeded student2).
    rig.stripe
        .create_customer("student2@example.edu.au", "Existing Student")
        .await;
    let before = fake.user_count();
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 3, "{job:?}");
    assert_eq!(job.counts.failed, 1, "{job:?}");
    assert_eq!(fake.user_count(), before + 3);
    let user = fake
        .find_user("moodle1@example.com")
        .expect("a Moodle user for customer 1");
    assert_eq!(user["firstname"], "Student");
    assert_eq!(user["lastname"], "Number1");
    assert!(user["idnumber"].as_str().unwrap().starts_with("cus_"), "{user}");

    // A second run: nothing changed, nobody is created twice.
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 0, "{job:?}");
    assert_eq!(fake.user_count(), before + 3);
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
