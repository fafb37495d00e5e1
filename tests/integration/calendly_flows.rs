//! Calendly end to end (example flow 4, Calendly invitees -> HubSpot contacts): the invitees
//! of every scheduled event become HubSpot contacts by a sync job (connector-sync's code path,
//! state in moto, the invitees read as a child stream of the events), and someone who books
//! later reaches HubSpot on Calendly's signed `invitee.created` webhook, through the receiver,
//! the sync queue and connector-sync's handler (the delivery carries the invitee: nothing is
//! fetched).

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::calendly::{self, CalendlyConfig, ORGANIZATION, TOKEN, USER};
use switchyard_fakes::hubspot::ObjectType;

use crate::sync::Rig;

/// The webhook subscription's signing key.
const SIGNING_KEY: &str = "calendly-signing-key-9b3e";

#[tokio::test]
async fn calendly_invitees_become_hubspot_contacts_by_sync_and_by_signed_webhook() {
    for secret in [SIGNING_KEY, TOKEN] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    let rig = Rig::new().await;
    // Three events with 2, 3 and 1 invitees.
    let fake = calendly::start(CalendlyConfig {
        events: 3,
        ..CalendlyConfig::default()
    });
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("calendly")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("Calendly takes webhooks")
        .receiver_scheme()
        .unwrap();
    assert_eq!(scheme, Scheme::Calendly);
    rig.connect_receiving_with_config(
        "conn_calendly",
        "calendly",
        json!({"base_url": fake.base_url, "organization": ORGANIZATION}),
        json!({"access_token": TOKEN}),
        (scheme.clone(), SIGNING_KEY),
    )
    .await;
    let flow = Flow {
        id: "flow_calendly_hubspot".into(),
        name: "Calendly invitees to HubSpot contacts".into(),
        source_connection: "conn_calendly".into(),
        source_stream: "invitees".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email, firstname: (.name | split(" ") | .[0]),
                                  lastname: (.name | split(" ") | .[1:] | join(" "))}}"#
            .into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!((job.counts.read, job.counts.written), (6, 6), "{job:?}");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "guest4@example.com")
        .expect("the invitee reached HubSpot");
    assert_eq!(
        (contact.get("firstname"), contact.get("lastname")),
        (Some("Guest"), Some("4"))
    );

    // Someone books the second event; Calendly delivers invitee.created, signed.
    let booked = fake
        .book("EVT0000000000002", "Ada Lovelace", "ada@example.com")
        .expect("the event exists");
    let body = serde_json::to_vec(&json!({
        "event": "invitee.created", "created_at": booked["created_at"], "created_by": USER,
        "payload": booked,
    }))
    .unwrap();
    assert_eq!(
        rig.deliver_with("conn_calendly", &scheme, "not-the-key", &body, &[])
            .await,
        401,
        "signed with another key"
    );
    assert_eq!(rig.drain_through_handler().await, 0);
    assert_eq!(
        rig.deliver_with("conn_calendly", &scheme, SIGNING_KEY, &body, &[])
            .await,
        200
    );
    // Calendly retries the same delivery: acknowledged, not queued twice.
    assert_eq!(
        rig.deliver_with("conn_calendly", &scheme, SIGNING_KEY, &body, &[])
            .await,
        200
    );
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .expect("the new invitee reached HubSpot on the webhook");
    assert_eq!(contact.get("lastname"), Some("Lovelace"));
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
