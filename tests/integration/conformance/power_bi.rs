//! Power BI (`shared/connectors/power-bi.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::power_bi`), whose API traffic is checked
//! against Microsoft's Power BI description (`power-bi/swagger.json`), beside a fake Entra ID
//! token endpoint (client credentials). Rows pushed in one batch with a row the table refuses
//! (an unknown column): Power BI refuses the whole request, the engine halves the batch until
//! that row fails alone, the others are pushed. A refresh of a dataset the workspace lacks is
//! refused; the others start.

use serde_json::{json, Value};
use switchyard_fakes::power_bi::{
    self, PowerBiConfig, CLIENT_ID, CLIENT_SECRET, GROUP, PUSH_DATASET, REPORT_DATASET, TABLE, TENANT,
};

use super::{client, prove_check, prove_write, WriteCase};

#[tokio::test]
async fn power_bi() {
    let pbi = power_bi::start(PowerBiConfig::default());
    let c = client(
        "power-bi",
        &pbi.api.base_url,
        &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        json!({"tenant_id": TENANT, "authority": pbi.login.base_url, "group_id": GROUP,
            "dataset_id": PUSH_DATASET, "table": TABLE}),
    );
    prove_check(&c).await;
    let api = &pbi.api;
    prove_write(
        &c,
        WriteCase {
            operation: "rows.push",
            records: vec![
                json!({"id": "ch_1", "amount": 1099, "currency": "usd", "paid": true, "created": "2026-01-02T03:04:05Z"}),
                json!({"id": "ch_2", "amount": 200, "nickname": "no such column"}),
                json!({"id": "ch_3", "amount": 300, "currency": "eur", "paid": false}),
                json!({"id": "ch_4", "amount": 5000, "currency": "gbp"}),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, _| {
                let rows = api.rows();
                assert_eq!(rows.iter().filter(|r| *r == record).count(), 1, "{record} pushed once");
            }),
        },
    )
    .await;
    assert_eq!(pbi.api.rows().len(), 3);
    prove_write(
        &c,
        WriteCase {
            operation: "datasets.refresh",
            records: vec![
                json!({"dataset_id": REPORT_DATASET}),
                json!({"dataset_id": "00000000-0000-4000-8000-000000000000"}),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, _| {
                assert_eq!(api.refreshes(record["dataset_id"].as_str().unwrap()), 1);
            }),
        },
    )
    .await;
    let violations = pbi.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
