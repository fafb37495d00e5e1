//! Example flow 4 end to end (`examples/stripe-warehouses/`): Stripe charges -> a BigQuery table
//! (`tabledata.insertAll`) and a Snowflake table (SQL API `INSERT ... SELECT ?, PARSE_JSON(?)`
//! with bindings), with the example's two mappings. localstripe as Stripe (one of its own: the
//! flows read every charge), the BigQuery fake beside its Google token endpoint and the
//! Snowflake fake (both verify JWTs signed with a key pair made for this run, and check every
//! request against the provider's spec), moto for state, through connector-sync's job path.

use serde_json::{json, Value};
use switchyard::store::flows::SyncMode;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::bigquery::{self, BigQueryConfig, CLIENT_EMAIL, DATASET, PROJECT};
use switchyard_fakes::snowflake::{self, SnowflakeConfig, ACCOUNT, USER};
use switchyard_tests::keys::rsa_key_pair;
use switchyard_tests::localstripe::{self, API_KEY};

use crate::sync::StateRig;

const TO_BIGQUERY: &str = include_str!("../../examples/stripe-warehouses/charges-to-bigquery.jq");
const TO_SNOWFLAKE: &str = include_str!("../../examples/stripe-warehouses/charges-to-snowflake.jq");

/// The row the BigQuery mapping makes of a charge, from the charge itself.
fn bigquery_row(charge: &Value) -> Value {
    let created = charge["created"].as_i64().expect("a charge has a created time");
    json!({"id": charge["id"], "amount": charge["amount"], "currency": charge["currency"],
        "status": "succeeded", "customer": charge["customer"], "description": charge["description"],
        "created": switchyard_fakes::shopify::iso(created * 1000)})
}

#[tokio::test]
async fn stripe_charges_land_in_bigquery_and_snowflake_once() {
    let (key, public) = rsa_key_pair();
    let bq = bigquery::start(BigQueryConfig {
        rows: 0,
        ..BigQueryConfig::new(public.clone())
    });
    let sf = snowflake::start(SnowflakeConfig {
        rows: 0,
        ..SnowflakeConfig::new(public)
    });
    let stripe = localstripe::start_isolated();
    let rig = StateRig::new().await;
    rig.connect_with_config(
        "conn_stripe",
        "stripe",
        json!({"base_url": stripe.base_url}),
        json!({"api_key": API_KEY}),
    )
    .await;
    rig.connect_with_config(
        "conn_bigquery",
        "bigquery",
        json!({"base_url": bq.api_url(), "project_id": PROJECT, "dataset": DATASET,
            "landing_table": bigquery::LANDING_TABLE, "token_uri": bq.token_url()}),
        json!({"client_email": CLIENT_EMAIL, "private_key": key}),
    )
    .await;
    rig.connect_with_config(
        "conn_snowflake",
        "snowflake",
        json!({"base_url": sf.base_url, "account": ACCOUNT, "user": USER, "warehouse": "COMPUTE_WH",
            "database": "ANALYTICS", "schema": "PUBLIC", "role": "SYNC",
            "landing_table": snowflake::LANDING_TABLE}),
        json!({"private_key": key}),
    )
    .await;
    for (id, destination, mapping) in [
        ("flow_charges_bigquery", "conn_bigquery", TO_BIGQUERY),
        ("flow_charges_snowflake", "conn_snowflake", TO_SNOWFLAKE),
    ] {
        rig.flow(
            id,
            ("conn_stripe", "charges"),
            (destination, "rows.insert"),
            // localstripe keeps no charge events, which Stripe's incremental reads follow
            // (`changes`): full runs, where the content hashes keep what was written.
            SyncMode::Full,
            mapping,
        )
        .await;
    }

    let customer = stripe.create_customer("ledger@example.com", "Ledger Buyer").await;
    let customer = customer["id"].as_str().expect("a customer id");
    let mut charges = Vec::new();
    for (amount, currency, description) in [
        (1099, "usd", "Order 1001"),
        (250, "eur", "Order 1002"),
        (5000, "gbp", "O'Brien'); DROP TABLE RAW_EVENTS; --"),
    ] {
        charges.push(stripe.create_charge(customer, amount, currency, description).await);
    }

    let bq_landing = format!("{DATASET}.{}", bigquery::LANDING_TABLE);
    for flow in ["flow_charges_bigquery", "flow_charges_snowflake"] {
        let job = rig.run_flow(flow).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{flow}: {job:?}");
        assert_eq!(job.counts.written, 3, "{flow}: {job:?}");
    }
    assert_eq!(bq.api.count(&bq_landing), 3);
    assert_eq!(sf.count(snowflake::LANDING_TABLE), 3);
    for charge in &charges {
        let id = charge["id"].as_str().expect("a charge id");
        assert_eq!(charge["status"], "succeeded", "{charge}");
        let row = bq
            .api
            .row(&bq_landing, id)
            .unwrap_or_else(|| panic!("charge {id} is in BigQuery"));
        assert_eq!(row, bigquery_row(charge), "the BigQuery row of {id}");
        let row = sf
            .row(snowflake::LANDING_TABLE, id)
            .unwrap_or_else(|| panic!("charge {id} is in Snowflake"));
        assert_eq!(row["ID"], id);
        let record = &row["RECORD"];
        assert_eq!(
            (
                &record["amount"],
                &record["currency"],
                &record["customer"],
                &record["paid"]
            ),
            (
                &charge["amount"],
                &charge["currency"],
                &charge["customer"],
                &json!(true)
            ),
            "the VARIANT of {id}: {record}"
        );
        assert_eq!(record["description"], charge["description"], "a value stays a value");
        assert_eq!(record["created"], bigquery_row(charge)["created"]);
    }

    // One more charge: the next runs write it alone; the others, read again, are unchanged
    // and not sent twice.
    let late = stripe.create_charge(customer, 4200, "usd", "Order 1004").await;
    for flow in ["flow_charges_bigquery", "flow_charges_snowflake"] {
        let job = rig.run_flow(flow).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{flow}: {job:?}");
        assert_eq!((job.counts.written, job.counts.unchanged), (1, 3), "{flow}: {job:?}");
    }
    assert_eq!(bq.api.count(&bq_landing), 4);
    assert_eq!(sf.count(snowflake::LANDING_TABLE), 4);
    let id = late["id"].as_str().expect("a charge id");
    assert_eq!(bq.api.row(&bq_landing, id), Some(bigquery_row(&late)));
    assert!(
        sf.row(snowflake::LANDING_TABLE, id).is_some(),
        "charge {id} is in Snowflake"
    );

    let violations = [bq.api.violations.all(), sf.violations.all()].concat();
    assert!(violations.is_empty(), "{violations:#?}");
}
