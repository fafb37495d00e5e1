//! Oracle ERP Cloud (`shared/connectors/oracle-erp-cloud.yaml`): Payables invoices, suppliers
//! and receivables customer accounts through the fscmRestApi resources.
//!
//! Oracle publishes no description in the specs folder, so the fake
//! (`switchyard_fakes::oracle_erp`) follows the REST API for Oracle Fusion Cloud Financials,
//! named in its header, and records every departure (an unknown attribute in `fields`,
//! `orderBy` or `q`, a missing framework version, a read-only attribute written) as a violation,
//! which must stay empty. 250 items per resource: a full read is three pages of 100, the last
//! one saying `hasMore: false`.

use serde_json::{json, Value};
use switchyard_fakes::oracle_erp::{self, OracleConfig, PASSWORD, ROOT, USERNAME};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

fn id_text(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("an id: {other}"),
    }
}

#[tokio::test]
async fn oracle_erp_cloud() {
    let fake = oracle_erp::start(OracleConfig::default());
    let c = client(
        "oracle-erp-cloud",
        &format!("{}{ROOT}", fake.base_url()),
        &[("username", USERNAME), ("password", PASSWORD)],
        // The definition paces 10 requests a second; the fake has no such limit.
        json!({"rate_limit": {"requests": 1000, "window_ms": 1000}}),
    );
    prove_check(&c).await;

    for (stream, resource, id, attribute) in [
        ("invoices", "invoices", "InvoiceId", "Description"),
        ("suppliers", "suppliers", "SupplierId", "Supplier"),
        (
            "receivables_customers",
            "receivablesCustomerAccountActivities",
            "CustomerAccountId",
            "CustomerName",
        ),
    ] {
        let fake = &fake;
        let id_pointer = format!("/{id}");
        let attribute_pointer = format!("/{attribute}");
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: fake.count(resource),
                change: Box::new(move |full: &[Value]| {
                    full.iter()
                        .take(3)
                        .map(|r| {
                            let item_id = id_text(&r[id]);
                            fake.touch(resource, &item_id, json!({ attribute: format!("Changed {item_id}") }))
                                .expect("the item exists");
                            item_id
                        })
                        .collect()
                }),
                object: Box::new(move |item_id| fake.item(resource, item_id)),
                compare: &[&id_pointer, &attribute_pointer, "/LastUpdateDate"],
                missing_id: "999999999999999",
            },
        )
        .await;
    }

    // The stream proofs renamed the first suppliers; these writes use others.
    prove_write(
        &c,
        WriteCase {
            operation: "suppliers.create",
            records: vec![
                json!({"Supplier": "Acme Parts", "TaxOrganizationType": "CORPORATION", "BusinessRelationship": "SPEND_AUTHORIZED"}),
                json!({"Supplier": "Supplier 100", "TaxOrganizationType": "CORPORATION", "BusinessRelationship": "SPEND_AUTHORIZED"}),
                json!({"Supplier": "Globex", "TaxOrganizationType": "PARTNERSHIP", "BusinessRelationship": "PROSPECTIVE"}),
            ],
            refused: &[1],
            verify: Box::new(|record, id| {
                let item = fake.item("suppliers", id.expect("the new SupplierId")).expect("created");
                assert_eq!(item["Supplier"], record["Supplier"]);
                assert_eq!(item["BusinessRelationship"], record["BusinessRelationship"]);
            }),
        },
    )
    .await;

    let first = id_text(
        &fake
            .find("suppliers", "Supplier", &json!("Supplier 101"))
            .expect("seeded")["SupplierId"],
    );
    let second = id_text(
        &fake
            .find("suppliers", "Supplier", &json!("Supplier 102"))
            .expect("seeded")["SupplierId"],
    );
    prove_write(
        &c,
        WriteCase {
            operation: "suppliers.update",
            records: vec![
                json!({"SupplierId": first.parse::<u64>().expect("numeric"), "fields": {"Supplier": "Supplier One Renamed"}}),
                json!({"SupplierId": second.parse::<u64>().expect("numeric"), "fields": {"Supplier": "Acme Parts"}}),
                json!({"SupplierId": 999_999_999_999_999u64, "fields": {"Supplier": "Nobody"}}),
            ],
            refused: &[1, 2],
            verify: Box::new(|record, _| {
                let item = fake
                    .item("suppliers", &id_text(&record["SupplierId"]))
                    .expect("the supplier exists");
                assert_eq!(item["Supplier"], record["fields"]["Supplier"]);
            }),
        },
    )
    .await;
    assert_eq!(
        fake.item("suppliers", &second).expect("seeded")["Supplier"],
        "Supplier 102",
        "a refused update changes nothing"
    );

    let invoice = |number: &str, supplier: &str| {
        json!({
            "InvoiceNumber": number, "InvoiceCurrency": "USD", "InvoiceAmount": 1250.5,
            "InvoiceDate": "2026-11-27", "BusinessUnit": "US1 Business Unit",
            "Supplier": supplier, "SupplierSite": "HQ",
        })
    };
    let before = fake.count("invoices");
    prove_write(
        &c,
        WriteCase {
            operation: "invoices.create",
            records: vec![
                invoice("AP-1001", "Acme Parts"),
                invoice("AP-1002", "No Such Supplier"),
                invoice("AP-1003", "Supplier 104"),
            ],
            refused: &[1],
            verify: Box::new(|record, id| {
                let item = fake.item("invoices", id.expect("the new InvoiceId")).expect("created");
                assert_eq!(item["InvoiceNumber"], record["InvoiceNumber"]);
                assert_eq!(item["InvoiceAmount"], record["InvoiceAmount"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.count("invoices"), before + 2);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
