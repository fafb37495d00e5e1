//! Stripe customers -> Asana tasks end to end: every new customer gets an onboarding task in
//! the customer-success project. localstripe as Stripe, the Asana fake (its traffic checked
//! against Asana's spec), moto for state, through connector-sync's job path.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::asana::{self, AsanaConfig, PROJECT, TOKEN, WORKSPACE};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_become_asana_onboarding_tasks_once() {
    switchyard_tests::log_capture::known_secret(TOKEN);
    let rig = Rig::new().await;
    let fake = asana::start(AsanaConfig::default());
    rig.connect_with_config(
        "conn_asana",
        "asana",
        json!({"base_url": asana::api_url(&fake), "workspace": WORKSPACE, "project": PROJECT}),
        json!({"access_token": TOKEN}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_asana",
            "conn_asana",
            "tasks.create",
            &format!(
                r#"{{name: "Onboard \(.name)", notes: "Stripe customer \(.id), \(.email)", projects: ["{PROJECT}"]}}"#
            ),
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("asana{i}@example.com"), &format!("Customer {i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    assert_eq!(fake.task_count(), 3);
    let task = fake
        .find_task("Onboard Customer 1")
        .expect("an onboarding task for customer 1");
    assert_eq!(task["projects"], json!([PROJECT]));
    assert!(
        task["notes"].as_str().unwrap().ends_with("asana1@example.com"),
        "{task}"
    );

    // A second run: the customers are unchanged, no task is created twice.
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 0, "{job:?}");
    assert_eq!(fake.task_count(), 3);
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
