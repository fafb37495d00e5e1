//! PayPal invoices -> HubSpot deals end to end: every invoice the merchant issues becomes a
//! deal in the sales pipeline (won once paid). The PayPal fake (API and OAuth servers, the API's
//! traffic checked against PayPal's Invoicing spec) is read through connector-sync's job path
//! with a client-credentials token; a second run searches only the invoices created since the
//! checkpointed cursor.

use serde_json::json;
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::paypal::{self, PaypalConfig, CLIENT_ID, CLIENT_SECRET};

use crate::sync::Rig;

#[tokio::test]
async fn paypal_invoices_become_hubspot_deals_and_a_second_run_reads_only_new_invoices() {
    switchyard_tests::log_capture::known_secret(CLIENT_SECRET);
    let rig = Rig::new().await;
    let pp = paypal::start(PaypalConfig {
        invoices: 130,
        ..PaypalConfig::default()
    });
    rig.connect_with_config(
        "conn_paypal",
        "paypal",
        json!({"base_url": pp.api.base_url, "oauth_url": pp.oauth.base_url}),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    let flow = Flow {
        id: "flow_paypal_deals".into(),
        name: "PayPal invoices to HubSpot deals".into(),
        source_connection: "conn_paypal".into(),
        source_stream: "invoices".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "deals.create".into(),
        mapping: r#"{properties: {dealname: "PayPal invoice \(.detail.invoice_number)", pipeline: "default",
                     amount: .amount.value,
                     dealstage: (if .status == "PAID" then "closedwon" else "appointmentscheduled" end)}}"#
            .into(),
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!((job.counts.read, job.counts.written), (130, 130), "{job:?}");
    assert_eq!(rig.hubspot.count(ObjectType::Deals), 130);
    let deal = rig
        .hubspot
        .find(ObjectType::Deals, "dealname", "PayPal invoice 00007")
        .expect("invoice 00007 became a deal");
    assert_eq!(deal.properties.get("amount").map(String::as_str), Some("107.00"));
    let pages = pp
        .api
        .requests
        .all()
        .iter()
        .filter(|r| r.path == "/v2/invoicing/invoices")
        .count();
    assert_eq!(pages, 2, "two numbered pages of 100");

    // Two invoices are issued in PayPal: the next run searches from the cursor and reads them,
    // and the newest invoice of the first run again (it sits at the cursor, inside the 60 s
    // lookback window), which is skipped as unchanged.
    pp.insert_invoice("A-1", "ada@example.com", "250.00");
    pp.insert_invoice("A-2", "grace@example.com", "75.00");
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    assert!(flow.cursor.is_some(), "the first run checkpointed its cursor");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(
        (job.counts.read, job.counts.written, job.counts.unchanged),
        (3, 2, 1),
        "only the new invoices and the lookback window: {job:?}"
    );
    assert!(
        pp.api
            .requests
            .all()
            .iter()
            .any(|r| r.path == "/v2/invoicing/search-invoices"),
        "the incremental run searched by creation date"
    );
    assert_eq!(rig.hubspot.count(ObjectType::Deals), 132);
    assert!(rig
        .hubspot
        .find(ObjectType::Deals, "dealname", "PayPal invoice A-1")
        .is_some());
    assert_eq!(pp.grants(), 1, "one client-credentials token for both runs");
    assert!(pp.api.violations.all().is_empty(), "{:#?}", pp.api.violations.all());
}
