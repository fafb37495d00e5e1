//! The SQL connectors (`kind: sql`) against real servers: PostgreSQL and MariaDB on
//! 127.0.0.1, SQLite on a temporary file. One test per database, all running the same proof
//! ([`prove_sql`]): a full read over at least three keyset chunks with the types mapped, an
//! incremental read after rows changed (the changed rows plus what the lookback re-reads), a
//! fetch by id, an upsert batch the database partly refuses (constraint, unknown column, a
//! duplicate) with the written values read back, SQL injection attempts in values and in
//! identifiers stored as plain values or refused, the check, and a definition naming a missing
//! column failing the check with the column named.
//!
//! There is no spec to check the traffic against: the servers themselves are the reference.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::connector::definition::CursorKind;
use switchyard::connector::registry::parse_definition;
use switchyard::connector::{
    cursor, ClientSettings, ConnectorClient, ConnectorDefinition, Credentials, ErrorClass, Registry, StreamState,
    WriteResult,
};
use switchyard_tests::databases::TestDb;

use super::read_all;

const ROWS: i64 = 1_200;
const LOOKBACK: u64 = 5;

fn bind(db: &TestDb, def: Arc<ConnectorDefinition>) -> ConnectorClient {
    switchyard_tests::log_capture::install();
    let config = match &db.config {
        Value::Object(m) => m.clone(),
        _ => Default::default(),
    };
    let settings = ClientSettings::from_connection_config(&config);
    let credentials = Credentials::new().with("url", db.url.clone());
    let http =
        switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(5), true).expect("HTTP client");
    ConnectorClient::new(def, settings, credentials, http).unwrap_or_else(|e| panic!("{}: binds: {e}", db.connector))
}

fn client(db: &TestDb) -> ConnectorClient {
    let registry = Registry::embedded().expect("built-in definitions");
    bind(db, registry.get_shared(db.connector).expect("built in"))
}

/// Seeds ROWS contacts, `updated_at` a minute apart from 2024-01-01T00:00:00Z.
async fn seed(db: &TestDb) {
    db.create_contacts().await;
    let p = &db.prefix;
    let mut values = Vec::new();
    for i in 1..=ROWS {
        let at =
            switchyard::connector::cursor::from_unix_secs(CursorKind::Rfc3339, 1_704_067_200 + i * 60).expect("a time");
        let active = if db.connector == "postgres" { "true" } else { "1" };
        values.push(format!(
            "({i}, 'user{i}@example.com', 'User {i}', {i}.25, {active}, '{{\"tier\": \"gold\", \"n\": {i}}}', '{}')",
            db.at(&at)
        ));
    }
    db.exec(&format!(
        "INSERT INTO {p}contacts (id, email, name, score, active, profile, updated_at) VALUES {}",
        values.join(", ")
    ))
    .await;
}

fn ok_id(result: &WriteResult) -> Option<String> {
    match result {
        WriteResult::Ok { destination_id } => destination_id.clone(),
        other => panic!("should be written: {other:?}"),
    }
}

fn refused(result: &WriteResult) -> String {
    match result {
        WriteResult::Failed {
            class: ErrorClass::Permanent,
            reason,
        } => reason.clone(),
        other => panic!("should be refused permanently: {other:?}"),
    }
}

/// The proof every SQL database passes.
async fn prove_sql(db: TestDb) {
    let name = db.connector;
    seed(&db).await;
    let c = client(&db);
    let p = db.prefix.clone();

    // The check: connected, every table and column of the definition exists.
    let report = c.check().await.unwrap_or_else(|e| panic!("{name}: check: {e}"));
    assert_eq!(report.status, 200, "{name}: check");

    // Full read: keyset chunks of 500, every row once, types mapped.
    let full = read_all(&c, "contacts", StreamState::full_refresh()).await;
    assert!(full.pages >= 3, "{name}: {} chunks", full.pages);
    assert_eq!(full.records.len() as i64, ROWS, "{name}: full read count");
    let ids: BTreeSet<String> = full
        .records
        .iter()
        .map(|r| c.record_id("contacts", r).expect("an id"))
        .collect();
    assert_eq!(ids.len() as i64, ROWS, "{name}: a row was read twice");
    let first = &full.records[0];
    assert_eq!(first["id"], json!(1), "{name}: {first}");
    assert_eq!(first["email"], json!("user1@example.com"), "{name}: {first}");
    assert_eq!(
        first["score"].as_f64(),
        Some(1.25),
        "{name}: numeric as a number: {first}"
    );
    assert_eq!(first["active"], json!(true), "{name}: boolean: {first}");
    assert_eq!(
        first["profile"],
        json!({"tier": "gold", "n": 1}),
        "{name}: JSON as JSON: {first}"
    );
    assert_eq!(
        first["updated_at"],
        json!("2024-01-01T00:01:00Z"),
        "{name}: RFC 3339: {first}"
    );
    let max = full.max_cursor.clone().expect("a cursor");
    assert_eq!(max, "2024-01-01T20:00:00Z", "{name}: the highest cursor");

    // Incremental, after changing three rows and adding one.
    let later = db.at("2025-06-01T12:00:00Z");
    db.exec(&format!(
        "UPDATE {p}contacts SET name = 'Changed', updated_at = '{later}' WHERE id IN (3, 700, 1100)"
    ))
    .await;
    let active = if name == "postgres" { "false" } else { "0" };
    db.exec(&format!(
        "INSERT INTO {p}contacts (id, email, name, active, updated_at) VALUES (5000, 'new@example.com', 'New', {active}, '{later}')"
    ))
    .await;
    let incremental = read_all(&c, "contacts", StreamState::incremental(Some(max.clone()))).await;
    let got: BTreeSet<String> = incremental
        .records
        .iter()
        .map(|r| c.record_id("contacts", r).expect("an id"))
        .collect();
    let lower = cursor::since_values(CursorKind::Rfc3339, &max, LOOKBACK).expect("a cursor")[0]
        .1
        .as_str()
        .expect("text")
        .to_string();
    let mut expected: BTreeSet<String> = ["3", "700", "1100", "5000"].iter().map(|s| s.to_string()).collect();
    for r in &full.records {
        let at = r["updated_at"].as_str().expect("a time");
        if cursor::compare(CursorKind::Rfc3339, at, &lower) != std::cmp::Ordering::Less {
            expected.insert(c.record_id("contacts", r).expect("an id"));
        }
    }
    assert_eq!(
        got, expected,
        "{name}: incremental from {max} with {LOOKBACK} s lookback"
    );
    assert_eq!(got.len(), incremental.records.len(), "{name}: read twice");
    let changed = incremental
        .records
        .iter()
        .find(|r| r["id"] == json!(700))
        .expect("row 700");
    assert_eq!(changed["name"], json!("Changed"), "{name}");
    assert_eq!(changed["updated_at"], json!("2025-06-01T12:00:00Z"), "{name}");
    assert_eq!(
        incremental.max_cursor.as_deref(),
        Some("2025-06-01T12:00:00Z"),
        "{name}: the cursor moves past the changes"
    );

    // Fetch by id.
    let fetched = c
        .fetch_record("contacts", "700")
        .await
        .unwrap_or_else(|e| panic!("{name}: fetch: {e}"))
        .expect("row 700");
    assert_eq!(fetched, *changed, "{name}: fetch by id");
    assert_eq!(
        c.fetch_record("contacts", "999999").await.expect("fetch"),
        None,
        "{name}"
    );
    assert_eq!(
        c.fetch_record("contacts", "not-a-number").await.expect("fetch"),
        None,
        "{name}"
    );

    // An upsert batch the database partly refuses; the rest is written and read back.
    let injection = "Robert'); DROP TABLE contacts; --";
    let batch = vec![
        json!({"id": 6001, "email": "ada@example.com", "name": "Ada", "score": 12.5, "profile": {"langs": ["en"]}, "updated_at": "2025-07-01T08:30:00Z"}),
        json!({"id": 6002, "email": "no-at-sign", "name": "Refused by CHECK"}),
        json!({"id": 1, "email": "user1@example.com", "name": injection}),
        json!({"id": 6003, "email": "user2@example.com", "name": "Duplicate email"}),
        json!({"id": 6004, "email": "x@example.com", "name\"; DROP TABLE contacts; --": "refused"}),
        json!({"id": 6005, "email": "grace@example.com", "active": false}),
        json!({"email": "nokey@example.com"}),
    ];
    let results = c
        .write_batch("contacts.upsert", &batch)
        .await
        .unwrap_or_else(|e| panic!("{name}: the batch fails as a whole: {e}"));
    assert_eq!(results.len(), batch.len());
    assert_eq!(ok_id(&results[0]).as_deref(), Some("6001"), "{name}");
    assert_eq!(ok_id(&results[2]).as_deref(), Some("1"), "{name}");
    assert_eq!(ok_id(&results[5]).as_deref(), Some("6005"), "{name}");
    let check_reason = refused(&results[1]);
    assert!(
        check_reason.contains("refused by the database"),
        "{name}: {check_reason}"
    );
    let dup = refused(&results[3]);
    assert!(dup.contains("refused by the database"), "{name}: {dup}");
    let bad_column = refused(&results[4]);
    assert!(bad_column.contains("has no column"), "{name}: {bad_column}");
    assert!(refused(&results[6]).contains("key column `id`"), "{name}");

    let ada = c
        .fetch_record("contacts", "6001")
        .await
        .expect("fetch")
        .expect("written");
    assert_eq!(ada["name"], json!("Ada"), "{name}: {ada}");
    assert_eq!(ada["score"].as_f64(), Some(12.5), "{name}: {ada}");
    assert_eq!(ada["profile"], json!({"langs": ["en"]}), "{name}: {ada}");
    assert_eq!(ada["updated_at"], json!("2025-07-01T08:30:00Z"), "{name}: {ada}");
    // The same record again (nothing changes) is still written, not refused.
    let again = c
        .write_batch("contacts.upsert", &batch[..1])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(ok_id(&again[0]).as_deref(), Some("6001"), "{name}: an unchanged upsert");
    let grace = c
        .fetch_record("contacts", "6005")
        .await
        .expect("fetch")
        .expect("written");
    assert_eq!(grace["active"], json!(false), "{name}: {grace}");
    // The injection attempt is a plain value, and the table is still there.
    let one = c.fetch_record("contacts", "1").await.expect("fetch").expect("row 1");
    assert_eq!(one["name"], json!(injection), "{name}: stored as a plain value");
    assert_eq!(one["email"], json!("user1@example.com"));
    assert_eq!(
        db.count(&format!("SELECT COUNT(*) FROM {p}contacts")).await,
        ROWS + 1 + 2,
        "{name}: the seeded rows, the incremental one and the two new ones; nothing refused was kept"
    );
    assert_eq!(
        db.text(&format!("SELECT name FROM {p}contacts WHERE id = 6002")).await,
        None,
        "{name}: a refused row leaves nothing"
    );

    // Insert: a duplicate key is refused alone.
    let results = c
        .write_batch(
            "contacts.insert",
            &[
                json!({"id": 7001, "email": "ins@example.com"}),
                json!({"id": 7001, "email": "ins2@example.com"}),
            ],
        )
        .await
        .expect("the insert batch");
    assert_eq!(ok_id(&results[0]).as_deref(), Some("7001"), "{name}");
    refused(&results[1]);

    // A definition naming a column the table lacks fails the check, naming the column.
    let text = Registry::embedded_source(name)
        .expect("built in")
        .replace("column: updated_at", "column: updatd_at");
    let broken = parse_definition(&format!("{name}.yaml"), &text).expect("still a valid definition");
    let e = bind(&db, Arc::new(broken)).check().await.expect_err("a missing column");
    assert!(
        e.message.contains("no column `updatd_at`") && e.message.contains("stream `contacts`"),
        "{name}: {}",
        e.message
    );
    assert!(!e.message.contains(&db.url), "{name}: the URL is not in errors");

    db.drop().await;
}

#[tokio::test]
async fn postgres() {
    prove_sql(TestDb::postgres().await).await;
}

#[tokio::test]
async fn mysql() {
    prove_sql(TestDb::mysql().await).await;
}

#[tokio::test]
async fn sqlite() {
    prove_sql(TestDb::sqlite().await).await;
}

/// A connection error names neither the URL nor its password.
#[tokio::test]
async fn a_connection_error_never_shows_the_url_or_password() {
    let db = TestDb::postgres().await;
    let password = db
        .url
        .split(':')
        .nth(2)
        .and_then(|s| s.split('@').next())
        .expect("a password")
        .to_string();
    let mut wrong = TestDb::postgres().await;
    wrong.url = wrong.url.replace("/test", "/no_such_database_here");
    let e = client(&wrong).check().await.expect_err("no such database");
    assert!(!e.message.contains(&password), "{}", e.message);
    assert!(!e.message.contains(&wrong.url), "{}", e.message);
    assert!(e.message.contains("connector `postgres`"), "{}", e.message);
    db.drop().await;
    wrong.drop().await;
}
