//! Calendly end to end (example flow 4, `examples/calendly-hubspot/`: Calendly invitees ->
//! HubSpot contacts, plus a meeting on the contact's timeline): the invitees of every scheduled
//! event become HubSpot contacts by a sync job (connector-sync's code path, state in moto, the
//! invitees read as a child stream of the events), and someone who books later reaches HubSpot
//! on Calendly's signed `invitee.created` webhook, through the receiver, the sync queue and
//! connector-sync's handler (the delivery carries the invitee: nothing is fetched), as a
//! contact with the booked meeting associated; the cancellation updates that meeting.

use serde_json::json;
use switchyard::store::flows::{Flow, LinkLookup, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::calendly::{self, CalendlyConfig, ORGANIZATION, TOKEN, USER};
use switchyard_fakes::hubspot::ObjectType;

use crate::sync::Rig;

/// The webhook subscription's signing key.
const SIGNING_KEY: &str = "calendly-signing-key-9b3e";
const INVITEES_TO_CONTACTS: &str = include_str!("../../examples/calendly-hubspot/invitees-to-contacts.jq");
const INVITEE_MEETINGS: &str = include_str!("../../examples/calendly-hubspot/invitee-meetings.jq");

#[tokio::test]
async fn calendly_invitees_become_hubspot_contacts_by_sync_and_by_signed_webhook_with_their_meetings() {
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
        mapping: INVITEES_TO_CONTACTS.into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    };
    // Created first, to show the chain runs in lookup order all the same.
    let meetings = Flow {
        id: "flow_calendly_meetings".into(),
        name: "Calendly bookings to HubSpot meetings".into(),
        destination_operation: "meetings.create".into(),
        mapping: INVITEE_MEETINGS.into(),
        lookups: vec![LinkLookup {
            name: "contact".into(),
            flow: flow.id.clone(),
            key: "/uri".into(),
        }],
        ..flow.clone()
    };
    rig.deps.flows.create(&meetings).await.unwrap();
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
    let uri = booked["uri"].as_str().unwrap();
    let delivery = fake.invitee_webhook("invitee.created", uri).unwrap();
    assert_eq!(delivery["created_by"], USER);
    let body = serde_json::to_vec(&delivery).unwrap();
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
    // ... with the booked meeting on her timeline.
    let meetings_logged = rig.hubspot.objects(ObjectType::Meetings);
    assert_eq!(meetings_logged.len(), 1, "{meetings_logged:#?}");
    let meeting = &meetings_logged[0];
    let event = fake.event_json("EVT0000000000002").unwrap();
    assert_eq!(meeting.get("hs_meeting_title"), event["name"].as_str());
    assert_eq!(meeting.get("hs_meeting_start_time"), event["start_time"].as_str());
    assert_eq!(meeting.get("hs_meeting_end_time"), event["end_time"].as_str());
    assert_eq!(meeting.get("hs_meeting_outcome"), Some("SCHEDULED"));
    assert_eq!(
        rig.hubspot
            .associations(ObjectType::Contacts, &contact.id, ObjectType::Meetings),
        std::slice::from_ref(&meeting.id)
    );

    // Ada cancels: the same meeting is marked cancelled, nothing new is logged.
    fake.cancel_invitee(uri).unwrap();
    let body = serde_json::to_vec(&fake.invitee_webhook("invitee.canceled", uri).unwrap()).unwrap();
    assert_eq!(
        rig.deliver_with("conn_calendly", &scheme, SIGNING_KEY, &body, &[])
            .await,
        200
    );
    assert_eq!(rig.drain_through_handler().await, 1);
    let meetings_logged = rig.hubspot.objects(ObjectType::Meetings);
    assert_eq!(meetings_logged.len(), 1);
    assert_eq!(meetings_logged[0].get("hs_meeting_outcome"), Some("CANCELED"));
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
