//! Magento 2 / Adobe Commerce (`shared/connectors/magento.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::magento`), with every request and
//! response checked against `magento/magento.cart.openapi.yml` plus the operations it lacks,
//! added from Adobe's REST reference (`fakes/src/magento/spec_patches.yaml`): 300 customers,
//! orders and products spread over the past hour, so a full read is three pages of 100
//! (`searchCriteria[currentPage]`), the last one full. The fake answers a page past the end with the last page
//! again, as Magento does, so the read must stop at `total_count` (300 records read once
//! each). Incremental reads filter `updated_at gteq` the cursor less the lookback: after five
//! changes, exactly those plus the records inside the lookback window come back. The customer
//! writes are refused for an email already used, or an id that does not exist.

use serde_json::{json, Value};
use switchyard_fakes::magento::{self, Kind, MagentoConfig, TEST_TOKEN};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, Verify, WriteCase};

const SEEDED: usize = 300;

#[tokio::test]
async fn magento() {
    let fake = magento::start(MagentoConfig {
        records: SEEDED,
        ..MagentoConfig::default()
    });
    let c = client("magento", fake.base_url(), &[("access_token", TEST_TOKEN)], json!({}));

    for (stream, kind, key, field) in [
        ("customers", Kind::Customers, "id", "firstname"),
        ("orders", Kind::Orders, "entity_id", "status"),
        ("products", Kind::Products, "sku", "name"),
    ] {
        let fake = &fake;
        let pointer = format!("/{field}");
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: fake.count(kind),
                change: Box::new(move |records: &[Value]| {
                    records
                        .iter()
                        .take(5)
                        .map(|r| {
                            let id = match &r[key] {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            fake.update(kind, &id, json!({ field: format!("changed-{id}") }))
                                .expect("the record exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(move |id| fake.item(kind, id)),
                compare: &[&format!("/{key}"), &pointer, "/updated_at"],
                missing_id: "999999",
            },
        )
        .await;
    }
    prove_check(&c).await;

    let holds = || {
        let fake = &fake;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the destination id is returned");
            let item = fake
                .item(Kind::Customers, id)
                .unwrap_or_else(|| panic!("customer {id} was written"));
            for (key, value) in record.as_object().expect("an object") {
                assert_eq!(&item[key], value, "{key}: {item}");
            }
        }) as Verify<'_>
    };
    let before = fake.count(Kind::Customers);
    prove_write(
        &c,
        WriteCase {
            operation: "customers.create",
            records: vec![
                json!({"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "website_id": 1}),
                json!({"email": "customer1@example.com", "firstname": "Taken", "lastname": "Email", "website_id": 1}),
            ],
            refused: &[1],
            verify: holds(),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Customers), before + 1, "one customer created");

    let target = fake.items(Kind::Customers)[7]["id"].as_u64().unwrap();
    let results = prove_write(
        &c,
        WriteCase {
            operation: "customers.update",
            records: vec![
                json!({"id": target, "email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper", "website_id": 1}),
                json!({"id": 999_999, "email": "nobody@example.com", "firstname": "No", "lastname": "Body", "website_id": 1}),
            ],
            refused: &[1],
            verify: holds(),
        },
    )
    .await;
    assert_eq!(
        results[0],
        switchyard::connector::WriteResult::Ok {
            destination_id: Some(target.to_string())
        }
    );
    assert_eq!(fake.count(Kind::Customers), before + 1, "the update creates nothing");

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
