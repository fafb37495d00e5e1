//! BigQuery (`shared/connectors/bigquery.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::bigquery`), whose API traffic is checked
//! against the BigQuery v2 description (`bigquery/openapi.yaml`), beside a fake Google token
//! endpoint. The service account's key pair is made for this run; the token endpoint verifies
//! the assertion (issuer, scope, audience, lifetime) with the public half. 160 rows: a full read
//! is jobs.query then getQueryResults pages of 50 (`pageToken`, `result_set` pagination); an
//! incremental read after changes binds `@since`; a fetch binds `@id`. The write streams a batch
//! with two rows BigQuery refuses (a field the table lacks, a missing REQUIRED id): they fail
//! alone (`insertErrors` by index), the others are inserted.

use serde_json::{json, Value};
use switchyard_fakes::bigquery::{self, BigQueryConfig, CLIENT_EMAIL, DATASET, LANDING_TABLE, PROJECT, TABLE};
use switchyard_tests::keys::rsa_key_pair;

use super::{client, client_of, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

#[tokio::test]
async fn bigquery() {
    let (key, public) = rsa_key_pair();
    let bq = bigquery::start(BigQueryConfig {
        rows: 160,
        ..BigQueryConfig::new(public)
    });
    let table = format!("{DATASET}.{TABLE}");
    let landing = format!("{DATASET}.{LANDING_TABLE}");
    let c = client(
        "bigquery",
        &bq.api_url(),
        &[("client_email", CLIENT_EMAIL), ("private_key", key.as_str())],
        json!({"project_id": PROJECT, "table": table, "dataset": DATASET,
            "landing_table": LANDING_TABLE, "token_uri": bq.token_url()}),
    );
    let api = &bq.api;
    let t = table.clone();
    prove_stream(
        &c,
        StreamCase {
            stream: "rows",
            expected: bq.api.count(&table),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(40)
                    .map(|r| {
                        let id = r["id"].as_str().expect("string ids").to_owned();
                        api.update(&id, "disputed").expect("the row exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| api.row(&t, id)),
            compare: &["/id", "/status", "/amount", "/updated_at"],
            missing_id: "ord_99999",
        },
    )
    .await;
    prove_check(&c).await;
    let l = landing.clone();
    prove_write(
        &c,
        WriteCase {
            operation: "rows.insert",
            records: vec![
                json!({"id": "ch_1", "amount": 1099, "currency": "usd", "status": "succeeded"}),
                json!({"id": "ch_2", "amount": 200, "nickname": "no such column"}),
                json!({"amount": 300, "currency": "eur"}),
                json!({"id": "ch_4", "amount": 5000, "currency": "gbp", "customer": "cus_9", "created": "2026-01-02T03:04:05Z"}),
            ],
            refused: &[1, 2],
            verify: Box::new(move |record: &Value, _| {
                let id = record["id"].as_str().expect("written records have ids");
                let row = api.row(&l, id).unwrap_or_else(|| panic!("row {id} was inserted"));
                assert_eq!(Value::Object(row.as_object().unwrap().clone()), *record);
            }),
        },
    )
    .await;
    assert_eq!(bq.api.count(&landing), 2, "refused rows left nothing behind");
    assert!(
        bq.api.polls() >= 2,
        "every query answered `jobComplete: false` first and was polled: {} polls",
        bq.api.polls()
    );
    let violations = bq.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn bigquery_refuses_a_table_setting_that_could_escape_its_quotes() {
    let registry = switchyard::connector::Registry::embedded().expect("the built-in definitions validate");
    let def = registry.get_shared("bigquery").expect("bigquery is built in");
    let mut config = serde_json::Map::new();
    config.insert("project_id".into(), json!(PROJECT));
    config.insert("table".into(), json!("sales.orders` WHERE 1=1 --"));
    let settings = switchyard::connector::ClientSettings::from_connection_config(&config);
    let http = switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(5), true).unwrap();
    let Err(err) = switchyard::connector::ConnectorClient::new(
        def,
        settings,
        switchyard::connector::Credentials::new()
            .with("client_email", CLIENT_EMAIL)
            .with("private_key", "unused"),
        http,
    ) else {
        panic!("the table setting is refused");
    };
    assert!(err.message.contains("config `table` does not match"), "{err}");
}

/// A query that never completes is polled with a growing wait, within `max_wait_secs`, then
/// fails as transient (to be retried), naming how long it waited.
#[tokio::test]
async fn bigquery_stops_polling_a_query_that_does_not_complete() {
    let (key, public) = rsa_key_pair();
    let bq = bigquery::start(BigQueryConfig {
        rows: 3,
        incomplete_answers: u32::MAX,
        ..BigQueryConfig::new(public)
    });
    let text = switchyard::connector::Registry::embedded_source("bigquery")
        .expect("built in")
        .replace("max_wait_secs: 120", "max_wait_secs: 2");
    let def = switchyard::connector::registry::parse_definition("bigquery.yaml", &text).expect("valid");
    let c = client_of(
        std::sync::Arc::new(def),
        &bq.api_url(),
        &[("client_email", CLIENT_EMAIL), ("private_key", key.as_str())],
        json!({"project_id": PROJECT, "table": format!("{DATASET}.{TABLE}"), "token_uri": bq.token_url()}),
    );
    let e = c.check().await.expect_err("never completes");
    assert_eq!(
        (e.class, e.kind),
        (
            switchyard::connector::ErrorClass::Transient,
            switchyard::connector::ErrorKind::Timeout
        ),
        "{e}"
    );
    assert!(e.message.contains("still running after 2 s"), "{e}");
    // Waits of 0.2, 0.4 and 0.8 s fit in 2 s (fewer when the requests themselves are slow);
    // the next, 1.6 s, would not.
    assert!((1..=3).contains(&bq.api.polls()), "{} polls: {e}", bq.api.polls());
    let violations = bq.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
