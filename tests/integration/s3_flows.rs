//! The files connector in a flow, end to end through the sync queue and connector-sync's
//! handler (moto for state and S3, the fake HubSpot): new CSV objects in S3 -> HubSpot
//! contacts (upsert by email). A second run reads only the newer object; its malformed row
//! fails alone, with its object and line, and the job ends partial.

use serde_json::json;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::{Job, JobStatus};
use switchyard::sync;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_tests::buckets::{wait_for_the_next_second, TestBucket};

use crate::sync::Rig;

/// Starts a job for `flow` on the sync queue, runs the queue through the handler as Lambda
/// would, and returns the finished job.
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
async fn new_csv_objects_in_s3_become_hubspot_contacts() {
    let rig = Rig::new().await;
    let bucket = TestBucket::new().await;
    let mut config = bucket.config("acme/");
    // Tests do not wait out the default 2 s settle time: the run starts after the objects'
    // second is over.
    config["settle_secs"] = json!(0);
    rig.connect_with_config("conn_s3", "s3", config, TestBucket::secret())
        .await;
    let folder = "acme/incoming/contacts/";
    bucket
        .put(
            &format!("{folder}2026-01-01.csv"),
            b"email,firstname,lastname\nada@example.com,Ada,Lovelace\ngrace@example.com,Grace,Hopper\n",
        )
        .await;
    let flow = Flow {
        id: "flow_s3_to_hubspot".into(),
        source_connection: "conn_s3".into(),
        source_stream: "contacts_csv".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email, firstname: .firstname, lastname: .lastname}}"#.into(),
        mode: SyncMode::Incremental,
        cursor: None,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.expect("flow");
    wait_for_the_next_second().await;

    let first = run_through_queue(&rig, &flow).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{first:?}");
    assert_eq!((first.counts.read, first.counts.written), (2, 2), "{first:?}");
    let ada = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .expect("Ada is in HubSpot");
    assert_eq!(ada.get("lastname"), Some("Lovelace"));

    // A newer object, one row malformed: only it is read; the good row is written.
    bucket
        .put(
            &format!("{folder}2026-01-02.csv"),
            b"email,firstname,lastname\nedsger@example.com,Edsger,Dijkstra\nbroken-row\n",
        )
        .await;
    wait_for_the_next_second().await;
    let stored = rig.deps.flows.get(&flow.id).await.expect("read").expect("flow");
    let cursor = stored.cursor.clone().expect("the first run left a cursor");
    assert!(cursor.ends_with("|acme/incoming/contacts/2026-01-01.csv"), "{cursor}");
    let second = run_through_queue(&rig, &stored).await;
    assert_eq!(
        second.start_cursor.as_deref(),
        Some(cursor.as_str()),
        "an incremental run"
    );
    assert_eq!(second.status, JobStatus::Partial, "{second:?}");
    assert_eq!(
        (second.counts.read, second.counts.written, second.counts.failed),
        (2, 1, 1),
        "{second:?}"
    );
    let failure = &second.recent_failures[0];
    assert_eq!(
        failure.source_id, "acme/incoming/contacts/2026-01-02.csv#3",
        "{failure:?}"
    );
    assert!(
        rig.hubspot
            .find(ObjectType::Contacts, "email", "edsger@example.com")
            .is_some(),
        "Edsger is in HubSpot"
    );
    let moved = rig
        .deps
        .flows
        .get(&flow.id)
        .await
        .expect("read")
        .expect("flow")
        .cursor
        .expect("a cursor");
    assert!(
        moved > cursor,
        "the cursor moved past the new object: {cursor} -> {moved}"
    );
}
