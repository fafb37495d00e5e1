//! Sage Intacct as a destination end to end: Stripe customers become Sage Intacct customers
//! through the XML gateway, after one getAPISession login; each customer is its own create
//! function, and its RECORDNO comes from that function's result.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::sage_intacct::{self, SageIntacctConfig};

use crate::sync::Rig;

const MAPPING: &str = r#"{
  NAME: (.name // .email),
  DISPLAYCONTACT: {PRINTAS: (.name // .email), EMAIL1: .email}
}"#;

#[tokio::test]
async fn stripe_customers_become_sage_intacct_customers() {
    let rig = Rig::new().await;
    let si = sage_intacct::start(SageIntacctConfig {
        records: 0,
        ..SageIntacctConfig::default()
    });
    for secret in [sage_intacct::SENDER_PASSWORD, sage_intacct::USER_PASSWORD] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    rig.connect_with_config(
        "conn_intacct",
        "sage-intacct",
        json!({"base_url": si.base_url(), "company_id": sage_intacct::COMPANY_ID}),
        json!({
            "sender_id": sage_intacct::SENDER_ID,
            "sender_password": sage_intacct::SENDER_PASSWORD,
            "user_id": sage_intacct::USER_ID,
            "user_password": sage_intacct::USER_PASSWORD,
        }),
    )
    .await;
    let flow = rig
        .flow_from_customers("flow_intacct", "conn_intacct", "customers.create", MAPPING)
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("si{i}@example.com"), &format!("Ledger Company{i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3);
    let customer = si
        .find_by_email("si2@example.com")
        .expect("the Stripe customer is in Sage Intacct");
    assert_eq!(customer["NAME"], "Ledger Company2");
    assert_eq!(si.count(), 3);
    assert_eq!(si.logins(), 1, "one session for the whole job");

    let again = rig.run_flow(&flow, None).await;
    assert_eq!((again.counts.written, again.counts.unchanged), (0, 3), "{again:?}");
    assert!(si.violations().is_empty(), "{:#?}", si.violations());
}
