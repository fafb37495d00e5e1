//! The email connector in a flow, end to end through the sync queue and connector-sync's
//! handler (moto for state, the fake HubSpot, a real SMTP server on loopback): HubSpot
//! contacts -> a templated welcome email each. A second run sends nothing: the record links
//! know every contact was mailed and nothing changed.

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::{Job, JobStatus};
use switchyard::sync;
use switchyard_tests::mail::MailServer;

use crate::sync::Rig;

async fn run_through_queue(rig: &Rig, flow: &Flow) -> Job {
    let job = sync::start_job(&rig.deps, flow, "schedule", None, true)
        .await
        .expect("the job starts");
    assert!(rig.drain_through_handler().await >= 1, "the job message was handled");
    rig.deps
        .jobs
        .get(&flow.id, &job.job_id)
        .await
        .expect("read")
        .expect("the job is stored")
}

#[tokio::test]
async fn hubspot_contacts_get_a_templated_welcome_email() {
    let rig = Rig::new().await;
    let server = MailServer::start(Some(("switchyard", "s3cret-pass")));
    rig.connect_with_config(
        "conn_smtp",
        "smtp",
        json!({"host": "127.0.0.1", "port": server.port, "security": "plain",
               "from": "Acme Onboarding <hello@acme.test>"}),
        json!({"username": "switchyard", "password": "s3cret-pass"}),
    )
    .await;
    for (email, name) in [
        ("ada@example.com", "Ada Lovelace"),
        ("grace@example.com", "Grace Hopper"),
    ] {
        rig.stripe.create_customer(email, name).await;
    }
    let seeded = rig.run_flow(&rig.flow, None).await;
    assert_eq!(seeded.counts.written, 2, "{seeded:?}");

    let flow = Flow {
        id: "flow_hubspot_to_email".into(),
        source_connection: "conn_hubspot".into(),
        source_stream: "contacts".into(),
        destination_connection: "conn_smtp".into(),
        destination_operation: "message.send".into(),
        mapping: r#"{to: .properties.email,
                     subject: "Welcome, \(.properties.firstname)",
                     text: "Hello \(.properties.firstname) \(.properties.lastname),\nyour account is ready."}"#
            .into(),
        mode: SyncMode::Incremental,
        cursor: None,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.expect("flow");

    let first = run_through_queue(&rig, &flow).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{first:?}");
    assert_eq!((first.counts.read, first.counts.written), (2, 2), "{first:?}");
    let mut received = server.received();
    received.sort_by(|a, b| a.rcpt_tos.cmp(&b.rcpt_tos));
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].rcpt_tos, ["ada@example.com"]);
    assert_eq!(received[0].mail_from, "hello@acme.test");
    assert!(
        received[0].data.contains("Subject: Welcome, Ada"),
        "{}",
        received[0].data
    );
    assert!(
        received[0]
            .data
            .contains("Hello Ada Lovelace,\r\nyour account is ready."),
        "{}",
        received[0].data
    );
    assert_eq!(received[1].rcpt_tos, ["grace@example.com"]);

    let stored = rig.deps.flows.get(&flow.id).await.expect("read").expect("flow");
    let again = run_through_queue(
        &rig,
        &Flow {
            mode: SyncMode::Full,
            ..stored
        },
    )
    .await;
    assert_eq!((again.counts.written, again.counts.unchanged), (0, 2), "{again:?}");
    assert_eq!(server.received().len(), 2, "nobody is mailed twice");
}
