//! Shopify end to end: the shop's customers become HubSpot contacts (a sync job through
//! connector-sync's code path, paged over Shopify's cursor connections), and a customer
//! changed in Shopify reaches HubSpot through a signed `customers/update` webhook, the sync
//! queue and connector-sync's handler (the record fetched by its GraphQL id).

use serde_json::json;
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::shopify::{self, Kind, ShopifyConfig};

use crate::sync::Rig;

/// The app's client secret, which signs Shopify's webhooks.
const HOOK_SECRET: &str = "shopify-app-client-secret-5d1c";

#[tokio::test]
async fn shopify_customers_become_hubspot_contacts_and_webhook_changes_follow() {
    switchyard_tests::log_capture::known_secret(HOOK_SECRET);
    switchyard_tests::log_capture::known_secret(shopify::TEST_TOKEN);
    let rig = Rig::new().await;
    let fake = shopify::start(ShopifyConfig {
        records: 120,
        ..ShopifyConfig::default()
    });
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("shopify")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("Shopify sends webhooks")
        .receiver_scheme()
        .unwrap();
    assert_eq!(scheme, Scheme::Shopify);
    rig.connect_receiving(
        "conn_shopify",
        "shopify",
        &format!("{}{}", fake.base_url(), shopify::API_PATH),
        json!({"access_token": shopify::TEST_TOKEN}),
        (scheme.clone(), HOOK_SECRET),
    )
    .await;

    // Shopify customers -> HubSpot contacts, two pages of 100 and 20.
    let flow = Flow {
        id: "flow_shopify_hubspot".into(),
        source_connection: "conn_shopify".into(),
        source_stream: "customers".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email, firstname: .firstName, lastname: .lastName}}"#.into(),
        event_types: vec!["customers/update".into()],
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 120, "{job:?}");
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 120);
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer77@example.com")
        .expect("the Shopify customer is a HubSpot contact");
    assert_eq!(contact.get("firstname"), Some("Customer"));
    assert_eq!(contact.get("lastname"), Some("77"));
    assert_eq!(rig.run_flow(&flow, None).await.counts.written, 0, "nothing changed");

    // A customer renamed in Shopify; Shopify's webhook names it by its GraphQL id.
    let customer = fake
        .objects(Kind::Customers)
        .into_iter()
        .find(|c| c["email"] == "customer77@example.com")
        .unwrap();
    let gid = customer["id"].as_str().unwrap();
    fake.update(
        Kind::Customers,
        gid,
        json!({"firstName": "Grace", "lastName": "Hopper"}),
    )
    .unwrap();
    let number = gid.rsplit('/').next().unwrap();
    let body = serde_json::to_vec(&json!({
        "id": number.parse::<u64>().unwrap(), "email": "customer77@example.com",
        "first_name": "Grace", "last_name": "Hopper", "admin_graphql_api_id": gid,
        "updated_at": "2026-01-01T00:00:00-05:00"
    }))
    .unwrap();
    let headers = [
        ("X-Shopify-Topic", "customers/update"),
        ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        ("X-Shopify-Shop-Domain", "fake-shop.myshopify.com"),
        ("X-Shopify-API-Version", "2024-01"),
    ];

    // Signed with the wrong secret: refused, nothing queued.
    assert_eq!(
        rig.deliver_with("conn_shopify", &scheme, "not-the-secret", &body, &headers)
            .await,
        401
    );
    assert_eq!(rig.drain_through_handler().await, 0);

    // Delivered twice (Shopify retries): handled once.
    for _ in 0..2 {
        assert_eq!(
            rig.deliver_with("conn_shopify", &scheme, HOOK_SECRET, &body, &headers)
                .await,
            200
        );
    }
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer77@example.com")
        .unwrap();
    assert_eq!(contact.get("firstname"), Some("Grace"));
    assert_eq!(contact.get("lastname"), Some("Hopper"));
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 120, "updated, not added");
    assert_eq!(fake.throttled_count(), 0);
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
