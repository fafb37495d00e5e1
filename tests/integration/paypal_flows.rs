//! PayPal invoices -> HubSpot deals end to end: every invoice the merchant issues becomes a
//! deal in the sales pipeline (won once paid). The PayPal fake (API and OAuth servers, the API's
//! traffic checked against PayPal's Invoicing spec) is read through connector-sync's job path
//! with a client-credentials token; a second run searches only the invoices created since the
//! checkpointed cursor. An invoice paid between runs arrives by webhook too: PayPal's
//! `INVOICING.INVOICE.PAID` delivery, signed with a certificate as PayPal signs (a PKI made for
//! the test, its certificate host on loopback under PayPal's host name), goes through the
//! receiver, the sync queue and connector-sync's handler, which fetches the invoice and writes
//! its deal.

use std::sync::Arc;

use serde_json::json;
use switchyard::clock::SystemClock;
use switchyard::config::ReceiverConfig;
use switchyard::receiver::paypal_certs::PaypalCertificates;
use switchyard::receiver::{handle, ReceiverDeps};
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::paypal::{self, PaypalConfig, CLIENT_ID, CLIENT_SECRET};
use switchyard_tests::paypal::{CertHost, Key, Pki, GOOD, WEBHOOK_ID};

use crate::sync::Rig;

#[tokio::test]
async fn paypal_invoices_become_hubspot_deals_and_a_second_run_reads_only_new_invoices() {
    switchyard_tests::log_capture::known_secret(CLIENT_SECRET);
    let rig = Rig::new().await;
    let pp = paypal::start(PaypalConfig {
        invoices: 130,
        ..PaypalConfig::default()
    });
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("paypal")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("PayPal sends webhooks")
        .receiver_scheme()
        .unwrap();
    assert_eq!(scheme, Scheme::Paypal);
    rig.connect_receiving_with_config(
        "conn_paypal",
        "paypal",
        json!({"base_url": pp.api.base_url, "oauth_url": pp.oauth.base_url, "webhook_id": WEBHOOK_ID}),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        (scheme, ""),
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

    // An invoice is paid in PayPal: its webhook, not the next run, brings it.
    let pki = Pki::make();
    let host = CertHost::start(&pki).await;
    let paid = pp.insert_invoice("W-1", "ada@example.com", "480.00");
    let body = serde_json::to_vec(&json!({
        "id": "WH-58D329510W468432D-8HN650336L201105X", "event_version": "1.0",
        "create_time": "2026-01-01T00:00:00.000Z", "resource_type": "invoices", "resource_version": "2.0",
        "event_type": "INVOICING.INVOICE.PAID",
        "summary": "An invoice is paid, partially paid, or payment is made and is pending.",
        "resource": {"invoice": {"id": paid, "status": "PAID"}}
    }))
    .unwrap();
    let config = ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(rig.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(rig.env.queue_url.clone()),
        _ => None,
    })
    .unwrap();
    let mut receiver = ReceiverDeps::new(config, &rig.env.clients, Arc::new(SystemClock));
    receiver.paypal_certs =
        PaypalCertificates::with_overrides(Some(&host.proxy_url), std::slice::from_ref(&pki.root)).unwrap();
    let now = switchyard::webhook::VerifyOptions::default().now;
    let deliver = |key: Key| {
        let headers = pki.sign(
            key,
            "b2384410-f8d2-11e4-8bf3-77339302725b",
            now,
            WEBHOOK_ID,
            &CertHost::url(GOOD),
            &body,
        );
        let mut headers: Vec<(String, String)> = headers;
        headers.push(("content-type".into(), "application/json".into()));
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        crate::receiver::apigw_event("conn_paypal", &pairs, &body, false)
    };
    // Signed with a key PayPal's certificate does not carry: refused, nothing queued.
    assert_eq!(handle(&receiver, deliver(Key::Stranger)).await.status_code, 401);
    assert_eq!(rig.drain_through_handler().await, 0);
    assert_eq!(handle(&receiver, deliver(Key::Signer)).await.status_code, 200);
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    assert_eq!(host.fetches(GOOD), 1);
    assert_eq!(rig.hubspot.count(ObjectType::Deals), 133);
    let deal = rig
        .hubspot
        .find(ObjectType::Deals, "dealname", "PayPal invoice W-1")
        .expect("the paid invoice became a deal by webhook");
    assert_eq!(deal.properties.get("amount").map(String::as_str), Some("480.00"));
    assert!(
        pp.api
            .requests
            .all()
            .iter()
            .any(|r| r.path == format!("/v2/invoicing/invoices/{paid}")),
        "the invoice was fetched by the id the event carries"
    );
    assert!(pp.api.violations.all().is_empty(), "{:#?}", pp.api.violations.all());
}
