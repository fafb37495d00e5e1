//! Magento end to end: the shop's customers become HubSpot contacts through connector-sync's
//! code path (state in moto), first in full, then incrementally: a customer changed in Magento
//! afterwards is the only one the next run writes.

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::magento::{self, Kind, MagentoConfig, TEST_TOKEN};

use crate::sync::Rig;

#[tokio::test]
async fn magento_customers_become_hubspot_contacts_and_changes_follow_incrementally() {
    switchyard_tests::log_capture::known_secret(TEST_TOKEN);
    let rig = Rig::new().await;
    let fake = magento::start(MagentoConfig {
        records: 10,
        ..MagentoConfig::default()
    });
    rig.connect(
        "conn_magento",
        "magento",
        fake.base_url(),
        json!({"access_token": TEST_TOKEN}),
    )
    .await;
    let flow = Flow {
        id: "flow_magento_hubspot".into(),
        name: "Magento customers to HubSpot contacts".into(),
        source_connection: "conn_magento".into(),
        source_stream: "customers".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email, firstname: .firstname, lastname: .lastname}}"#.into(),
        mode: SyncMode::Incremental,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 10, "{job:?}");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer3@example.com")
        .expect("the Magento customer reached HubSpot");
    assert_eq!(contact.get("lastname"), Some("Number 3"));

    // An admin renames one customer; the next incremental run writes only that one.
    let id = fake.items(Kind::Customers)[1]["id"].to_string();
    fake.update(
        Kind::Customers,
        &id,
        json!({"firstname": "Grace", "lastname": "Hopper"}),
    )
    .expect("the customer exists");
    let stored = rig.deps.flows.get(&flow.id).await.unwrap().unwrap();
    let cursor = stored.cursor.clone().expect("the first run checkpointed a cursor");
    let job = rig.run_flow(&stored, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.start_cursor.as_deref(), Some(cursor.as_str()), "from the cursor");
    // Read: the changed customer, plus the five newest (seeded 13 s apart, so inside the
    // definition's 60 s lookback); written: only the changed one.
    assert_eq!(
        (job.counts.read, job.counts.written, job.counts.unchanged),
        (6, 1, 5),
        "not a full re-read of the ten: {job:?}"
    );
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer2@example.com")
        .expect("the contact exists");
    assert_eq!(contact.get("firstname"), Some("Grace"));
    assert_eq!(contact.get("lastname"), Some("Hopper"));
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
