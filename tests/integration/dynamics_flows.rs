//! Dynamics 365 as a destination end to end (CRM contact sync): Stripe customers become
//! Dataverse contacts, upserted on the alternate key `emailaddress1`, with a client-credentials
//! token whose scope is filled from the connection's environment URL.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::dynamics::{self, DynamicsConfig, API_PATH, CLIENT_ID, CLIENT_SECRET, TENANT_ID};

use crate::sync::Rig;

const MAPPING: &str = r#"{
  emailaddress1: .email,
  lastname: (.name // .email)
}"#;

#[tokio::test]
async fn stripe_customers_become_dynamics_contacts() {
    let rig = Rig::new().await;
    let env = dynamics::start(DynamicsConfig {
        contacts: 1,
        accounts: 0,
        ..DynamicsConfig::default()
    });
    switchyard_tests::log_capture::known_secret(CLIENT_SECRET);
    rig.connect_with_config(
        "conn_dynamics",
        "dynamics-365",
        json!({
            "base_url": format!("{}{API_PATH}", env.base_url()),
            "environment_url": env.base_url(),
            "tenant_id": TENANT_ID,
            "login_url": env.base_url(),
            // The definition paces 6,000 requests over 5 minutes; the fake has no such limit.
            "rate_limit": {"requests": 1000, "window_ms": 1000},
        }),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    let flow = rig
        .flow_from_customers("flow_dynamics", "conn_dynamics", "contacts.upsert_by_email", MAPPING)
        .await;
    // One customer already is a contact (the seeded one's email): it is updated, not doubled.
    rig.stripe
        .create_customer("contact1@example.com", "Existing Contact")
        .await;
    for i in 0..2 {
        rig.stripe
            .create_customer(&format!("crm{i}@example.com"), &format!("Stripe Customer{i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3);
    assert_eq!(env.count("contacts"), 3, "two created, one updated in place");
    let existing = env
        .find("contacts", "emailaddress1", "contact1@example.com")
        .expect("the seeded contact");
    assert_eq!(existing["lastname"], "Existing Contact");
    let created = env
        .find("contacts", "emailaddress1", "crm1@example.com")
        .expect("the Stripe customer is a Dataverse contact");
    assert_eq!(created["lastname"], "Stripe Customer1");

    let again = rig.run_flow(&flow, None).await;
    assert_eq!((again.counts.written, again.counts.unchanged), (0, 3), "{again:?}");
    assert!(env.violations().is_empty(), "{:#?}", env.violations());
}
