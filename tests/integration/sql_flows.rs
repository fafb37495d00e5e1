//! SQL connectors in flows, end to end through connector-sync's jobs (moto for state, the fake
//! HubSpot, a real PostgreSQL): HubSpot contacts -> a PostgreSQL table (upsert by id), then a
//! row changed in PostgreSQL -> HubSpot (upsert by email), with cursors, record links and job
//! counts as for any connector.

use serde_json::json;
use switchyard::admin::create_connection;
use switchyard::store::connections::Connection;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_tests::databases::TestDb;

use crate::sync::Rig;

async fn connect_database(rig: &Rig, id: &str, db: &TestDb) {
    let conn = Connection {
        id: id.into(),
        tenant: rig.flow.tenant.clone(),
        provider: db.connector.into(),
        name: db.connector.into(),
        webhook: None,
        secret_arn: None,
        config: db.config.as_object().cloned().unwrap_or_default(),
        created_at: 0,
    };
    let credentials = json!({"url": db.url}).as_object().cloned().expect("an object");
    create_connection(&rig.deps.connections, &rig.deps.secrets, conn, None, credentials)
        .await
        .expect("the database connection is created");
}

fn flow(rig: &Rig, id: &str, source: (&str, &str), destination: (&str, &str), mapping: &str) -> Flow {
    Flow {
        id: id.into(),
        source_connection: source.0.into(),
        source_stream: source.1.into(),
        destination_connection: destination.0.into(),
        destination_operation: destination.1.into(),
        mapping: mapping.into(),
        mode: SyncMode::Incremental,
        cursor: None,
        ..rig.flow.clone()
    }
}

#[tokio::test]
async fn hubspot_contacts_reach_a_postgres_table_and_a_changed_row_goes_back_to_hubspot() {
    let rig = Rig::new().await;
    let db = TestDb::postgres().await;
    db.create_contacts().await;
    connect_database(&rig, "conn_pg", &db).await;

    // HubSpot gets three contacts (from Stripe customers, through the rig's own flow).
    for (email, name) in [
        ("ada@example.com", "Ada Lovelace"),
        ("grace@example.com", "Grace Hopper"),
        ("edsger@example.com", "Edsger Dijkstra"),
    ] {
        rig.stripe.create_customer(email, name).await;
    }
    let seeded = rig.run_flow(&rig.flow, None).await;
    assert_eq!(seeded.counts.written, 3, "{seeded:?}");

    // HubSpot contacts -> PostgreSQL, upsert by id.
    let to_db = flow(
        &rig,
        "flow_hubspot_to_pg",
        ("conn_hubspot", "contacts"),
        ("conn_pg", "contacts.upsert"),
        r#"{id: (.id | tonumber), email: .properties.email,
            name: ([.properties.firstname, .properties.lastname] | map(select(. != null and . != "")) | join(" ")),
            updated_at: .updatedAt}"#,
    );
    rig.deps.flows.create(&to_db).await.expect("flow");
    let job = rig.run_flow(&to_db, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(
        (job.counts.read, job.counts.written, job.counts.failed),
        (3, 3, 0),
        "{job:?}"
    );
    let p = &db.prefix;
    assert_eq!(db.count(&format!("SELECT COUNT(*) FROM {p}contacts")).await, 3);
    let hubspot_ada = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .expect("Ada is in HubSpot");
    assert_eq!(
        db.text(&format!("SELECT name FROM {p}contacts WHERE email = 'ada@example.com'"))
            .await
            .as_deref(),
        Some("Ada Lovelace")
    );
    assert_eq!(
        db.text(&format!(
            "SELECT id::text FROM {p}contacts WHERE email = 'ada@example.com'"
        ))
        .await,
        Some(hubspot_ada.id.clone()),
        "the row's id is HubSpot's"
    );
    // Nothing changed in HubSpot: a second run writes nothing.
    let again = rig.run_flow(&to_db, None).await;
    assert_eq!((again.counts.written, again.counts.unchanged), (0, 3), "{again:?}");

    // PostgreSQL contacts -> HubSpot, upsert by email: a first run, then a changed row.
    let to_hubspot = flow(
        &rig,
        "flow_pg_to_hubspot",
        ("conn_pg", "contacts"),
        ("conn_hubspot", "contacts.upsert_by_email"),
        r#"{properties: {email: .email, firstname: (.name | split(" ") | .[0]),
            lastname: (.name | split(" ") | .[1:] | join(" "))}}"#,
    );
    rig.deps.flows.create(&to_hubspot).await.expect("flow");
    let first = rig.run_flow(&to_hubspot, None).await;
    assert_eq!(
        (first.counts.read, first.status),
        (3, JobStatus::Succeeded),
        "{first:?}"
    );
    let cursor = rig
        .deps
        .flows
        .get("flow_pg_to_hubspot")
        .await
        .expect("read")
        .expect("flow")
        .cursor
        .expect("the run left a cursor");
    db.exec(&format!(
        "UPDATE {p}contacts SET name = 'Grace Brewster Hopper', updated_at = now() + interval '1 minute' WHERE email = 'grace@example.com'"
    ))
    .await;
    // Run as the dispatcher does: from the flow as stored, with the first run's cursor.
    let stored = rig
        .deps
        .flows
        .get("flow_pg_to_hubspot")
        .await
        .expect("read")
        .expect("flow");
    let second = rig.run_flow(&stored, None).await;
    assert_eq!(
        second.start_cursor.as_deref(),
        Some(cursor.as_str()),
        "an incremental run"
    );
    assert_eq!(second.status, JobStatus::Succeeded, "{second:?}");
    assert_eq!(second.counts.written, 1, "only the changed row is written: {second:?}");
    let grace = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "grace@example.com")
        .expect("Grace is in HubSpot");
    assert_eq!(grace.get("firstname"), Some("Grace"));
    assert_eq!(grace.get("lastname"), Some("Brewster Hopper"));
    let moved = rig
        .deps
        .flows
        .get("flow_pg_to_hubspot")
        .await
        .expect("read")
        .expect("flow")
        .cursor
        .expect("a cursor");
    assert!(moved > cursor, "the cursor moved past the change: {cursor} -> {moved}");
    db.drop().await;
}
