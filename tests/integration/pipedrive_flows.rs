//! Pipedrive end to end: Stripe customers become Pipedrive persons (a sync job), and a person
//! changed in Pipedrive reaches HubSpot through the webhook receiver (basic auth), the sync
//! queue and connector-sync's handler.

use serde_json::json;
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::pipedrive::{self, Kind, PipedriveConfig};

use crate::sync::Rig;

/// The `user:password` Pipedrive sends on each delivery (its webhook's http_auth_user and
/// http_auth_password).
const HOOK_CREDENTIALS: &str = "switchyard:pipedrive-hook-password-7f3a";

#[tokio::test]
async fn stripe_customers_become_pipedrive_persons_and_pipedrive_changes_reach_hubspot() {
    switchyard_tests::log_capture::known_secret(HOOK_CREDENTIALS);
    switchyard_tests::log_capture::known_secret(pipedrive::TEST_TOKEN);
    let rig = Rig::new().await;
    let fake = pipedrive::start(PipedriveConfig::default());
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("pipedrive")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("Pipedrive takes webhooks")
        .receiver_scheme()
        .unwrap();
    assert!(matches!(scheme, Scheme::BasicAuth(_)), "{scheme:?}");
    rig.connect_receiving(
        "conn_pipedrive",
        "pipedrive",
        &format!("{}/v1", fake.base_url()),
        json!({"api_token": pipedrive::TEST_TOKEN}),
        (scheme.clone(), HOOK_CREDENTIALS),
    )
    .await;

    // Stripe customers -> Pipedrive persons.
    let flow = rig
        .flow_from_customers(
            "flow_pipedrive",
            "conn_pipedrive",
            "persons.create",
            r#"{name: .name, email: [.email]}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("pd{i}@example.com"), &format!("Pipe Person{i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3);
    let persons = fake.items(Kind::Persons);
    let ada = persons
        .iter()
        .find(|p| p["email"][0]["value"] == "pd1@example.com")
        .unwrap_or_else(|| panic!("pd1 is a Pipedrive person: {persons:#?}"));
    assert_eq!(ada["name"], "Pipe Person1");
    assert_eq!(rig.run_flow(&flow, None).await.counts.written, 0, "nothing changed");

    // Pipedrive person -> HubSpot contact, on Pipedrive's webhook.
    let back = Flow {
        id: "flow_pipedrive_hubspot".into(),
        source_connection: "conn_pipedrive".into(),
        source_stream: "persons".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email[0].value, firstname: .first_name, lastname: .last_name}}"#.into(),
        event_types: vec!["person".into()],
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&back).await.unwrap();
    let id = ada["id"].to_string();
    fake.update(Kind::Persons, &id, json!({"name": "Ada Lovelace"}))
        .expect("the person exists");
    let body = serde_json::to_vec(&json!({
        "meta": {"id": "5b3e2c1a-0000-4000-8000-000000000001", "action": "change", "entity": "person",
                 "entity_id": id, "change_source": "app", "version": "2.0",
                 "timestamp": "2026-01-01T00:00:00.000Z", "attempt": 1},
        "data": {"id": ada["id"], "name": "Ada Lovelace"},
        "previous": {"name": "Pipe Person1"}
    }))
    .unwrap();

    // Wrong credentials: refused, nothing queued.
    let wrong = rig
        .deliver_with("conn_pipedrive", &scheme, "switchyard:wrong-password", &body, &[])
        .await;
    assert_eq!(wrong, 401);
    assert_eq!(rig.drain_through_handler().await, 0);

    assert_eq!(
        rig.deliver_with("conn_pipedrive", &scheme, HOOK_CREDENTIALS, &body, &[])
            .await,
        200
    );
    // The same delivery again (same meta.id): acknowledged, not queued twice.
    assert_eq!(
        rig.deliver_with("conn_pipedrive", &scheme, HOOK_CREDENTIALS, &body, &[])
            .await,
        200
    );
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "pd1@example.com")
        .expect("the Pipedrive person reached HubSpot");
    assert_eq!(contact.get("firstname"), Some("Ada"));
    assert_eq!(contact.get("lastname"), Some("Lovelace"));
    assert_eq!(fake.rate_limited_count(), 0);
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
