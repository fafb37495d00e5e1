//! Zendesk end to end: the help desk's users become HubSpot contacts (a sync job through
//! connector-sync's code path, state in moto, the users read through the cursor-based
//! incremental export), and a user who signs up later reaches HubSpot on Zendesk's signed
//! `zen:event-type:user.created` webhook, through the receiver, the sync queue and
//! connector-sync's handler (the event carries the user's id; the user is fetched).

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::zendesk::{self, ZendeskConfig, TOKEN};

use crate::sync::Rig;

/// The signing secret of the Zendesk webhook.
const HOOK_SECRET: &str = "zd-hook-signing-secret-5f1c";

#[tokio::test]
async fn zendesk_users_become_hubspot_contacts_by_sync_and_by_signed_webhook() {
    for secret in [HOOK_SECRET, TOKEN] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    let rig = Rig::new().await;
    let fake = zendesk::start(ZendeskConfig {
        users: 3,
        ..ZendeskConfig::default()
    });
    let scheme = switchyard::connector::Registry::embedded()
        .unwrap()
        .get_shared("zendesk")
        .unwrap()
        .webhooks
        .as_ref()
        .expect("Zendesk takes webhooks")
        .receiver_scheme()
        .unwrap();
    assert_eq!(scheme, Scheme::Zendesk);
    rig.connect_receiving(
        "conn_zendesk",
        "zendesk",
        &zendesk::api_url(&fake),
        json!({"access_token": TOKEN}),
        (scheme.clone(), HOOK_SECRET),
    )
    .await;
    let flow = Flow {
        id: "flow_zendesk_hubspot".into(),
        name: "Zendesk users to HubSpot contacts".into(),
        source_connection: "conn_zendesk".into(),
        source_stream: "users".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email, firstname: (.name | split(" ") | .[0]),
                                  lastname: (.name | split(" ") | .[1:] | join(" "))}}"#
            .into(),
        mode: SyncMode::Incremental,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    // The agent and the three end users -> HubSpot contacts.
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!((job.counts.read, job.counts.written), (4, 4), "{job:?}");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer2@example.com")
        .expect("the Zendesk user reached HubSpot");
    assert_eq!(contact.get("firstname"), Some("Customer"));
    assert_eq!(contact.get("lastname"), Some("2"));

    // A user signs up; Zendesk delivers user.created, signed with the webhook's secret.
    let ada = fake.add_user("Ada Lovelace", "ada@example.com");
    let body = serde_json::to_vec(&json!({
        "type": "zen:event-type:user.created", "id": "6a2b1c0e-8d4f-4e2a-9b1d-000000000001",
        "account_id": 9_000_001, "subject": format!("zen:user:{}", ada["id"]),
        "time": ada["created_at"], "zendesk_event_version": "2022-11-06",
        "detail": {"id": ada["id"].to_string(), "email": "ada@example.com", "role": "end-user"},
        "event": {},
    }))
    .unwrap();
    assert_eq!(
        rig.deliver_with("conn_zendesk", &scheme, "not-the-secret", &body, &[])
            .await,
        401,
        "signed with another secret"
    );
    assert_eq!(rig.drain_through_handler().await, 0);
    assert_eq!(
        rig.deliver_with("conn_zendesk", &scheme, HOOK_SECRET, &body, &[]).await,
        200
    );
    // Zendesk retries the same event (same id): acknowledged, not queued twice.
    assert_eq!(
        rig.deliver_with("conn_zendesk", &scheme, HOOK_SECRET, &body, &[]).await,
        200
    );
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .expect("the new user reached HubSpot on the webhook");
    assert_eq!(contact.get("lastname"), Some("Lovelace"));
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
