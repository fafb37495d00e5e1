//! Snowflake (`shared/connectors/snowflake.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::snowflake`), whose traffic is checked
//! against Snowflake's own SQL API description (`snowflake/sqlapi.yaml`). The key pair is made
//! for this run; the fake knows only its public half and verifies every request's JWT (issuer
//! with the key's fingerprint, subject, lifetime). 250 rows in partitions of 100: a full read is
//! the statement's answer then partitions 1 and 2 (`result_set` pagination); an incremental read
//! after five rows changed binds UPDATED_AT; a fetch binds the ID. The write lands each record
//! with a parameterised INSERT; one without an id breaks the NOT NULL column and fails alone.
//! Then the same against a fake whose statements answer 202 twice before finishing (the
//! engine polls `statementStatusUrl`), and a key Snowflake does not know (refused: re-auth).

use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, StreamState};
use switchyard_fakes::snowflake::{self, SnowflakeConfig, ACCOUNT, LANDING_TABLE, TABLE, USER};
use switchyard_tests::keys::rsa_key_pair;

use super::{client, prove_check, prove_stream, prove_write, read_all, StreamCase, WriteCase};

fn config() -> Value {
    json!({"account": ACCOUNT, "user": USER, "warehouse": "COMPUTE_WH", "database": "ANALYTICS",
        "schema": "PUBLIC", "role": "SYNC", "table": TABLE, "landing_table": LANDING_TABLE})
}

#[tokio::test]
async fn snowflake() {
    let (key, public) = rsa_key_pair();
    let fake = snowflake::start(SnowflakeConfig {
        rows: 250,
        partition_rows: 100,
        ..SnowflakeConfig::new(public.clone())
    });
    let c = client("snowflake", &fake.base_url, &[("private_key", key.as_str())], config());
    let f = &fake;
    prove_stream(
        &c,
        StreamCase {
            stream: "rows",
            expected: fake.count(TABLE),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(50)
                    .map(|r| {
                        let id = r["ID"].as_str().expect("string ids").to_owned();
                        f.update(&id, "cancelled").expect("the row exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.row(TABLE, id)),
            compare: &["/ID", "/STATUS", "/AMOUNT", "/UPDATED_AT"],
            missing_id: "ORD-99999",
        },
    )
    .await;
    prove_check(&c).await;
    prove_write(
        &c,
        WriteCase {
            operation: "rows.insert",
            records: vec![
                json!({"id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "amount": 1099, "currency": "usd", "paid": true}),
                json!({"amount": 500, "currency": "eur", "note": "no id: the ID column is NOT NULL"}),
                json!({"id": "ch_3MmlLrLkdIwHu7ix0snN0B16", "amount": 250, "metadata": {"order": "A-7"}, "x": "'); DROP TABLE RAW_EVENTS; --"}),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, _| {
                let id = record["id"].as_str().expect("written records have ids");
                let row = f.row(LANDING_TABLE, id).unwrap_or_else(|| panic!("row {id} was inserted"));
                assert_eq!(row["RECORD"], *record, "the whole record is the VARIANT");
            }),
        },
    )
    .await;
    assert_eq!(fake.count(LANDING_TABLE), 2, "the refused record left nothing behind");
    assert_eq!(fake.deferred(), 0);
    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");

    // Statements that are still running answer 202: the engine polls until they finish.
    let slow = snowflake::start(SnowflakeConfig {
        rows: 120,
        partition_rows: 50,
        pending_polls: 2,
        ..SnowflakeConfig::new(public)
    });
    let c = client("snowflake", &slow.base_url, &[("private_key", key.as_str())], config());
    let run = read_all(&c, "rows", StreamState::full_refresh()).await;
    assert_eq!((run.records.len(), run.pages), (120, 3));
    let results = c
        .write_batch("rows.insert", &[json!({"id": "ch_async", "amount": 1})])
        .await
        .expect("the write is polled to its end");
    assert!(
        matches!(results[0], switchyard::connector::WriteResult::Ok { .. }),
        "{results:?}"
    );
    assert!(slow.row(LANDING_TABLE, "ch_async").is_some());
    assert_eq!(
        slow.deferred(),
        2,
        "the read and the write were each answered 202 first"
    );
    let violations = slow.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");

    // A key whose public half is not registered for the user is refused.
    let (other_key, _) = rsa_key_pair();
    let stranger = client(
        "snowflake",
        &fake.base_url,
        &[("private_key", other_key.as_str())],
        config(),
    );
    let err = stranger.check().await.expect_err("an unknown key is refused");
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
}
