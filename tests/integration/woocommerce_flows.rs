//! WooCommerce end to end: the store's customers become HubSpot contacts (a sync job through
//! connector-sync's code path, state in moto), and a customer who signs up later reaches
//! HubSpot on WooCommerce's signed `customer.created` webhook, through the receiver, the sync
//! queue and connector-sync's handler.

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::woocommerce::{self, Kind, WooConfig, API_ROOT, CONSUMER_KEY, CONSUMER_SECRET};

use crate::sync::Rig;

/// The secret WooCommerce signs deliveries with (the webhook's `secret` in WooCommerce).
const HOOK_SECRET: &str = "wc-hook-secret-3b9d41";

#[tokio::test]
async fn woocommerce_customers_become_hubspot_contacts_by_sync_and_by_signed_webhook() {
    for secret in [HOOK_SECRET, CONSUMER_KEY, CONSUMER_SECRET] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    let rig = Rig::new().await;
    let fake = woocommerce::start(WooConfig {
        records: 3,
        ..WooConfig::default()
    });
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("woocommerce")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("WooCommerce takes webhooks")
        .receiver_scheme()
        .unwrap();
    assert_eq!(scheme, Scheme::Woocommerce);
    rig.connect_receiving(
        "conn_woo",
        "woocommerce",
        &format!("{}{API_ROOT}", fake.base_url()),
        json!({"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}),
        (scheme.clone(), HOOK_SECRET),
    )
    .await;
    let flow = Flow {
        id: "flow_woo_hubspot".into(),
        name: "WooCommerce customers to HubSpot contacts".into(),
        source_connection: "conn_woo".into(),
        source_stream: "customers".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email, firstname: .first_name, lastname: .last_name}}"#.into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    // The store's customers -> HubSpot contacts.
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer2@example.com")
        .expect("the WooCommerce customer reached HubSpot");
    assert_eq!(contact.get("firstname"), Some("Customer"));
    assert_eq!(contact.get("lastname"), Some("Number 2"));
    assert_eq!(rig.run_flow(&flow, None).await.counts.written, 0, "nothing changed");

    // A customer signs up; WooCommerce delivers customer.created, signed with the hook secret.
    let ada = fake.insert_customer("ada@example.com", "Ada", "Lovelace");
    let body = serde_json::to_vec(&ada).unwrap();
    let headers = |delivery: &'static str| {
        [
            ("X-WC-Webhook-Source", "https://shop.example.com/"),
            ("X-WC-Webhook-Topic", "customer.created"),
            ("X-WC-Webhook-Resource", "customer"),
            ("X-WC-Webhook-Event", "created"),
            ("X-WC-Webhook-ID", "12"),
            ("X-WC-Webhook-Delivery-ID", delivery),
        ]
    };

    // Signed with another secret: refused, nothing queued.
    let wrong = rig
        .deliver_with("conn_woo", &scheme, "not-the-secret", &body, &headers("101"))
        .await;
    assert_eq!(wrong, 401);
    assert_eq!(rig.drain_through_handler().await, 0);

    assert_eq!(
        rig.deliver_with("conn_woo", &scheme, HOOK_SECRET, &body, &headers("102"))
            .await,
        200
    );
    // WooCommerce fires the hook again for the same save (a new delivery id, the same
    // resource version): acknowledged, not queued twice.
    assert_eq!(
        rig.deliver_with("conn_woo", &scheme, HOOK_SECRET, &body, &headers("103"))
            .await,
        200
    );
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .expect("the new customer reached HubSpot on the webhook");
    assert_eq!(contact.get("firstname"), Some("Ada"));
    assert_eq!(contact.get("lastname"), Some("Lovelace"));
    assert_eq!(fake.count(Kind::Customers), 4);
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
