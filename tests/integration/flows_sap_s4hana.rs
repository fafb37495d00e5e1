//! SAP S/4HANA as a destination end to end: Stripe customers become business partners (a
//! customer master kept in the ERP), through the sync job, record links and the OData fake's
//! CSRF check.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::odata::{self, ODataConfig};

use crate::conformance::sap_s4hana::{PASSWORD, SERVICE, USER};
use crate::sync::Rig;

const MAPPING: &str = r#"{
  BusinessPartnerCategory: "1",
  FirstName: ((.name // "") | split(" ") | .[0] // ""),
  LastName: ((.name // "") | split(" ") | .[1:] | join(" ")),
  SearchTerm1: (.email | ascii_upcase)
}"#;

#[tokio::test]
async fn stripe_customers_become_sap_business_partners() {
    let rig = Rig::new().await;
    let sap = odata::start(
        "sap-s4hana",
        ODataConfig {
            records: 0,
            ..ODataConfig::default()
        },
    );
    switchyard_tests::log_capture::known_secret(PASSWORD);
    rig.connect(
        "conn_sap",
        "sap-s4hana",
        &sap.url(SERVICE),
        json!({"username": USER, "password": PASSWORD}),
    )
    .await;
    let flow = rig
        .flow_from_customers("flow_sap", "conn_sap", "business_partners.create", MAPPING)
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("sap{i}@example.com"), &format!("Erp Person{i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3);
    let partners = sap.entities("A_BusinessPartner");
    assert_eq!(partners.len(), 3);
    let ada = partners
        .iter()
        .find(|p| p["SearchTerm1"] == "SAP1@EXAMPLE.COM")
        .expect("the customer sap1@example.com is a business partner");
    assert_eq!(ada["FirstName"], "Erp");
    assert_eq!(ada["LastName"], "Person1");
    assert_eq!(ada["BusinessPartnerFullName"], "Erp Person1");
    assert_eq!(
        sap.fetches_and_refusals(),
        (1, 0),
        "one CSRF token for the job's writes"
    );

    // Nothing changed: nothing is written again.
    let again = rig.run_flow(&flow, None).await;
    assert_eq!((again.counts.written, again.counts.unchanged), (0, 3), "{again:?}");
    assert_eq!(sap.count("A_BusinessPartner"), 3);
    assert!(sap.violations().is_empty(), "{:#?}", sap.violations());
}
