//! NetSuite as a destination end to end: Stripe customers become NetSuite customers, every
//! request signed with token-based authentication, the new records' ids taken from `Location`.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::netsuite::{self, NetsuiteConfig};

use crate::sync::Rig;

const MAPPING: &str = r#"{
  companyName: (.name // .email),
  email: .email,
  isPerson: false
}"#;

#[tokio::test]
async fn stripe_customers_become_netsuite_customers() {
    let rig = Rig::new().await;
    let ns = netsuite::start(NetsuiteConfig {
        records: 0,
        ..NetsuiteConfig::default()
    });
    for secret in [netsuite::CONSUMER_SECRET, netsuite::TOKEN_SECRET] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    rig.connect_with_config(
        "conn_netsuite",
        "netsuite",
        json!({"base_url": ns.base_url(), "account_id": netsuite::ACCOUNT}),
        json!({
            "consumer_key": netsuite::CONSUMER_KEY,
            "consumer_secret": netsuite::CONSUMER_SECRET,
            "token": netsuite::TOKEN,
            "token_secret": netsuite::TOKEN_SECRET,
        }),
    )
    .await;
    let flow = rig
        .flow_from_customers("flow_netsuite", "conn_netsuite", "customers.create", MAPPING)
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("ns{i}@example.com"), &format!("Ledger Company{i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3);
    let customer = ns
        .find_by_email("ns2@example.com")
        .expect("the Stripe customer is in NetSuite");
    assert_eq!(customer["companyname"], "Ledger Company2");
    assert_eq!(ns.count(), 3);

    let again = rig.run_flow(&flow, None).await;
    assert_eq!((again.counts.written, again.counts.unchanged), (0, 3), "{again:?}");
    assert!(ns.violations().is_empty(), "{:#?}", ns.violations());
}
