//! Mailchimp end to end (the Mailchimp -> HubSpot half of example flow 1): audience members
//! become HubSpot contacts by a sync job (connector-sync's code path, state in moto, members
//! read incrementally on `last_changed`), and a profile change reaches HubSpot on Mailchimp's
//! form-encoded, unsigned audience webhook: authenticated by the secret last segment of its
//! URL, through the receiver, the sync queue and connector-sync's handler, which reads the form
//! (`webhooks.body: form`) and fetches the member by the email it names.

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::mailchimp::{self, subscriber_hash, MailchimpConfig, API_KEY, LIST_ID};

use crate::sync::Rig;

/// The secret last segment of the webhook's URL.
const PATH_SECRET: &str = "mc-path-secret-0c7d41e9b2";

#[tokio::test]
async fn mailchimp_members_become_hubspot_contacts_by_sync_and_by_form_webhook() {
    for secret in [PATH_SECRET, API_KEY] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    let rig = Rig::new().await;
    let fake = mailchimp::start(MailchimpConfig {
        members: 3,
        ..MailchimpConfig::default()
    });
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("mailchimp")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("Mailchimp takes webhooks")
        .receiver_scheme()
        .unwrap();
    assert_eq!(scheme, Scheme::Mailchimp);
    rig.connect_receiving_with_config(
        "conn_mailchimp",
        "mailchimp",
        json!({"base_url": mailchimp::api_url(&fake), "list_id": LIST_ID}),
        json!({"username": "switchyard", "api_key": API_KEY}),
        (scheme, PATH_SECRET),
    )
    .await;
    let flow = Flow {
        id: "flow_mailchimp_hubspot".into(),
        name: "Mailchimp members to HubSpot contacts".into(),
        source_connection: "conn_mailchimp".into(),
        source_stream: "members".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email_address, firstname: .merge_fields.FNAME,
                                  lastname: .merge_fields.LNAME}}"#
            .into(),
        mode: SyncMode::Incremental,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!((job.counts.read, job.counts.written), (3, 3), "{job:?}");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "member2@example.com")
        .expect("the member reached HubSpot");
    assert_eq!(contact.get("firstname"), Some("Member2"));

    // The member's name changes in Mailchimp, which posts a `profile` webhook.
    fake.rename_member(&subscriber_hash("member2@example.com"), "Grace")
        .expect("the member exists");
    let body = b"type=profile&fired_at=2026-11-27+10%3A31%3A21&data%5Bid%5D=8a25ff1d98&data%5Blist_id%5D=a6b5da1054&data%5Bemail%5D=member2%40example.com&data%5Bemail_type%5D=html&data%5Bmerges%5D%5BEMAIL%5D=member2%40example.com&data%5Bmerges%5D%5BFNAME%5D=Grace&data%5Bmerges%5D%5BLNAME%5D=Seeded";
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        rig.deliver_to_secret_path("conn_mailchimp", "not-the-secret", form, body)
            .await,
        401,
        "a wrong path secret"
    );
    assert_eq!(rig.drain_through_handler().await, 0);
    assert_eq!(
        rig.deliver_to_secret_path("conn_mailchimp", PATH_SECRET, form, body)
            .await,
        200
    );
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "member2@example.com")
        .expect("the contact is still there");
    assert_eq!(
        contact.get("firstname"),
        Some("Grace"),
        "the webhook's change reached HubSpot"
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

const ACTIVITY_TO_NOTES: &str = include_str!("../../examples/mailchimp-activity-hubspot/activity-to-notes.jq");

/// Example flow 5 (`examples/mailchimp-activity-hubspot/`): each campaign recipient's opens and
/// clicks become a note on their HubSpot contact's timeline (the contact found through the
/// members flow's record links), the activity flow's job going from the dispatch tick through
/// the sync queue to connector-sync's handler; a later click updates the same note.
#[tokio::test]
async fn mailchimp_email_activity_is_logged_as_notes_on_the_contacts_timeline() {
    switchyard_tests::log_capture::known_secret(API_KEY);
    let rig = Rig::new().await;
    // Two members, two sent campaigns, both members opened both.
    let fake = mailchimp::start(MailchimpConfig {
        members: 2,
        campaigns: 2,
        recipients: 2,
        ..MailchimpConfig::default()
    });
    rig.connect_with_config(
        "conn_mailchimp",
        "mailchimp",
        json!({"base_url": mailchimp::api_url(&fake), "list_id": LIST_ID}),
        json!({"username": "switchyard", "api_key": API_KEY}),
    )
    .await;
    let members = Flow {
        id: "flow_mailchimp_hubspot".into(),
        name: "Mailchimp members to HubSpot contacts".into(),
        source_connection: "conn_mailchimp".into(),
        source_stream: "members".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: "{properties: {email: .email_address}}".into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&members).await.unwrap();
    let activity = Flow {
        id: "flow_mailchimp_activity".into(),
        name: "Mailchimp email activity to HubSpot notes".into(),
        source_stream: "email_activity".into(),
        destination_operation: "notes.create".into(),
        mapping: ACTIVITY_TO_NOTES.into(),
        mode: SyncMode::Incremental,
        schedule_interval_secs: Some(3600),
        next_run_at: Some(0),
        lookups: vec![switchyard::store::flows::LinkLookup {
            name: "contact".into(),
            flow: members.id.clone(),
            key: "/email_id".into(),
        }],
        ..members.clone()
    };
    rig.deps.flows.create(&activity).await.unwrap();
    let job = rig.run_flow(&members, None).await;
    assert_eq!(job.counts.written, 2, "{:?}", job.counts);

    // The scheduled run: dispatched, queued, handled.
    let dispatcher = switchyard::dispatch::Dispatcher::new(rig.env.clients.dynamodb.clone(), &rig.env.table);
    let report = dispatcher.tick(&rig.deps).await.unwrap();
    assert_eq!(report.due, 1, "{report:?}");
    assert_eq!(rig.drain_through_handler().await, 1, "one sync job handled");
    let notes = rig.hubspot.objects(ObjectType::Notes);
    assert_eq!(notes.len(), 4, "one per campaign and recipient: {notes:#?}");
    for email in ["member1@example.com", "member2@example.com"] {
        let contact = rig.hubspot.find(ObjectType::Contacts, "email", email).unwrap();
        let theirs = rig
            .hubspot
            .associations(ObjectType::Contacts, &contact.id, ObjectType::Notes);
        assert_eq!(theirs.len(), 2, "{email}: a note per campaign");
        for id in theirs {
            let note = rig.hubspot.object(ObjectType::Notes, &id).unwrap();
            let body = note.get("hs_note_body").unwrap();
            assert!(body.contains("opened 1 time, no clicks"), "{body}");
        }
    }

    // Member 1 clicks a link of the first campaign: the next run updates that note only.
    let key = format!("cmp0000001:{}", subscriber_hash("member1@example.com"));
    fake.click(&key, "https://example.com/pricing").unwrap();
    let writes = rig.hubspot.writes();
    let job = rig.run_flow(&activity, None).await;
    assert_eq!((job.counts.written, job.counts.failed), (1, 0), "{:?}", job.counts);
    assert_eq!(rig.hubspot.writes(), writes + 1);
    assert_eq!(rig.hubspot.count(ObjectType::Notes), 4, "the same note, updated");
    let clicked: Vec<_> = rig
        .hubspot
        .objects(ObjectType::Notes)
        .into_iter()
        .filter(|n| {
            n.get("hs_note_body")
                .is_some_and(|b| b.contains("clicked https://example.com/pricing"))
        })
        .collect();
    assert_eq!(clicked.len(), 1, "{clicked:#?}");
    assert!(clicked[0]
        .get("hs_note_body")
        .unwrap()
        .starts_with("Mailchimp campaign cmp0000001: opened 1 time"));
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
