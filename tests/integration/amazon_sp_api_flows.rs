//! Amazon SP-API orders -> HubSpot deals end to end: every Amazon order becomes a deal in the
//! sales pipeline, won once shipped. The SP-API fake (the Orders API and Login with Amazon on
//! two servers, the API's traffic checked against `ordersV0.json`, each operation's usage plan
//! enforced) is read through connector-sync's job path with one LWA token; the HubSpot fake
//! takes the deals. The second run asks only for orders updated since the checkpointed cursor
//! (`LastUpdatedAfter`), and the orders shipped meanwhile update their deals instead of
//! creating new ones.
//!
//! Buyers are not matched to contacts: the Orders API gives a buyer's name and e-mail
//! (`BuyerInfo`) only with a Restricted Data Token, which the definition does not request.

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::amazon_sp::{self, SpConfig, CLIENT_ID, CLIENT_SECRET, MARKETPLACE_ID, REFRESH_TOKEN};
use switchyard_fakes::hubspot::ObjectType;

use crate::sync::Rig;

#[tokio::test]
async fn amazon_orders_become_hubspot_deals_and_a_second_run_reads_only_updated_orders() {
    for secret in [CLIENT_SECRET, REFRESH_TOKEN] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    let rig = Rig::new().await;
    let sp = amazon_sp::start(SpConfig {
        orders: 120,
        ..SpConfig::default()
    });
    rig.connect_with_config(
        "conn_amazon",
        "amazon-sp-api",
        json!({"base_url": sp.api.base_url, "lwa_url": sp.lwa.base_url, "marketplace_ids": MARKETPLACE_ID}),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}),
    )
    .await;
    let flow = Flow {
        id: "flow_amazon_deals".into(),
        name: "Amazon orders to HubSpot deals".into(),
        source_connection: "conn_amazon".into(),
        source_stream: "orders".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "deals.create".into(),
        mapping: r#"{properties: {dealname: "Amazon order \(.AmazonOrderId)", pipeline: "default",
                     amount: .OrderTotal.Amount,
                     dealstage: (if .OrderStatus == "Shipped" then "closedwon" else "appointmentscheduled" end)}}"#
            .into(),
        mode: SyncMode::Incremental,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    // The first run reads every order (CreatedAfter), two pages through NextToken.
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!((job.counts.read, job.counts.written), (120, 120), "{job:?}");
    assert_eq!(rig.hubspot.count(ObjectType::Deals), 120);
    let first = sp.first_order_id().expect("orders were seeded");
    let deal = rig
        .hubspot
        .find(ObjectType::Deals, "dealname", &format!("Amazon order {first}"))
        .expect("the first order became a deal");
    assert_eq!(deal.get("dealstage"), Some("appointmentscheduled"));
    let order = sp.order_json(&first).unwrap();
    assert_eq!(deal.get("amount"), order["OrderTotal"]["Amount"].as_str());
    let pages = |filter: &str| {
        sp.api
            .requests
            .all()
            .iter()
            .filter(|r| r.path == "/orders/v0/orders" && r.query.as_deref().is_some_and(|q| q.contains(filter)))
            .count()
    };
    assert_eq!(pages("CreatedAfter"), 2, "a full read of 120 is two pages of 100");

    // The seller ships three orders (their LastUpdateDate becomes now).
    let ids = sp.order_ids();
    let shipped = [ids[0].clone(), ids[49].clone(), ids[99].clone()];
    for id in &shipped {
        sp.ship(id).expect("the order exists");
    }
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let cursor = flow.cursor.clone().expect("the first run checkpointed its cursor");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.start_cursor.as_deref(), Some(cursor.as_str()), "from the cursor");
    assert_eq!(
        pages("LastUpdatedAfter"),
        1,
        "the second run asked only for updated orders"
    );
    // Read: the shipped orders, and the newest ones again (inside the three-minute lookback
    // Amazon's two-minute floor needs), found unchanged; written: the shipped ones.
    assert!(job.counts.read < 10, "not a full re-read: {job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    assert_eq!(job.counts.unchanged, job.counts.read - 3, "{job:?}");
    assert_eq!(rig.hubspot.count(ObjectType::Deals), 120, "updated, not created again");
    for id in &shipped {
        let deal = rig
            .hubspot
            .find(ObjectType::Deals, "dealname", &format!("Amazon order {id}"))
            .expect("the shipped order's deal");
        assert_eq!(deal.get("dealstage"), Some("closedwon"), "{id}");
    }
    assert_eq!(sp.grants(), 1, "one LWA access token for both runs");
    assert_eq!(sp.throttled(), 0, "no call went over its operation's usage plan");
    assert!(sp.api.violations.all().is_empty(), "{:#?}", sp.api.violations.all());
}
