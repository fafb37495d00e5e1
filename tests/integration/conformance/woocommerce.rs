//! WooCommerce (`shared/connectors/woocommerce.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::woocommerce`), whose every request and
//! response is checked against WooCommerce's REST API documentation pages in the specs folder
//! (WooCommerce publishes no OpenAPI description): 250 customers, orders and products spread
//! over the past hour, so a full read is three pages of 100 (`page` / `X-WP-TotalPages`).
//! Orders and products read incrementally with `modified_after`: after five changes, exactly
//! those five plus the records inside the lookback window come back. The customers list has no
//! modification filter, so customers are a full-refresh stream: a change shows in the next full
//! read. Writes are one request per record; the partly refused batches register an email
//! already taken, update an id that does not exist, or give a product another's SKU.

use serde_json::{json, Value};
use switchyard_fakes::woocommerce::{self, Kind, WooConfig, API_ROOT, CONSUMER_KEY, CONSUMER_SECRET};

use super::{client, prove_check, prove_full_refresh_stream, prove_stream, prove_write, StreamCase, Verify, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn woocommerce() {
    let fake = woocommerce::start(WooConfig {
        records: SEEDED,
        ..WooConfig::default()
    });
    let c = client(
        "woocommerce",
        &format!("{}{API_ROOT}", fake.base_url()),
        &[("consumer_key", CONSUMER_KEY), ("consumer_secret", CONSUMER_SECRET)],
        json!({}),
    );

    let changes = |kind: Kind, field: &'static str| {
        let fake = &fake;
        Box::new(move |records: &[Value]| {
            records
                .iter()
                .take(5)
                .map(|r| {
                    let id = r["id"].as_u64().expect("integer ids").to_string();
                    fake.update(kind, &id, json!({ field: format!("Changed {id}") }))
                        .expect("the record exists");
                    id
                })
                .collect::<Vec<_>>()
        })
    };
    let lookup = |kind: Kind| {
        let fake = &fake;
        Box::new(move |id: &str| fake.item(kind, id))
    };

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "customers",
            expected: fake.count(Kind::Customers),
            change: changes(Kind::Customers, "first_name"),
            object: lookup(Kind::Customers),
            compare: &["/id", "/email", "/first_name", "/date_modified_gmt"],
            missing_id: "999999",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "orders",
            expected: fake.count(Kind::Orders),
            change: changes(Kind::Orders, "customer_note"),
            object: lookup(Kind::Orders),
            compare: &["/id", "/status", "/customer_note", "/date_modified_gmt"],
            missing_id: "999999",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "products",
            expected: fake.count(Kind::Products),
            change: changes(Kind::Products, "name"),
            object: lookup(Kind::Products),
            compare: &["/id", "/name", "/sku", "/date_modified_gmt"],
            missing_id: "999999",
        },
    )
    .await;
    prove_check(&c).await;

    // Writes. Every written record's fields are what the fake now holds under its id.
    let holds = |kind: Kind| {
        let fake = &fake;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the destination id is returned");
            let item = fake
                .item(kind, id)
                .unwrap_or_else(|| panic!("{kind:?} {id} was written"));
            for (key, value) in record.as_object().expect("an object") {
                match value {
                    // Addresses are merged field by field.
                    Value::Object(fields) => {
                        for (field, v) in fields {
                            assert_eq!(&item[key][field], v, "{key}.{field}: {item}");
                        }
                    }
                    _ => assert_eq!(&item[key], value, "{key}: {item}"),
                }
            }
        }) as Verify<'_>
    };

    let before = fake.count(Kind::Customers);
    prove_write(
        &c,
        WriteCase {
            operation: "customers.create",
            records: vec![
                json!({"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                       "billing": {"city": "London", "country": "GB"}}),
                json!({"email": "customer1@example.com", "first_name": "Taken"}),
            ],
            refused: &[1],
            verify: holds(Kind::Customers),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Customers), before + 1, "one customer created");

    let customer = fake.items(Kind::Customers)[3]["id"].as_u64().unwrap();
    let order = fake.items(Kind::Orders)[3]["id"].as_u64().unwrap();
    let products = fake.items(Kind::Products);
    let (product, other_sku) = (products[3]["id"].as_u64().unwrap(), products[0]["sku"].clone());
    for (operation, kind, good, refused) in [
        (
            "customers.update",
            Kind::Customers,
            json!({"id": customer, "first_name": "Grace", "billing": {"phone": "+1 555 0100"}}),
            json!({"id": 999_999, "first_name": "Nobody"}),
        ),
        (
            "orders.update",
            Kind::Orders,
            json!({"id": order, "status": "completed"}),
            json!({"id": 999_999, "status": "completed"}),
        ),
        (
            "products.update",
            Kind::Products,
            json!({"id": product, "regular_price": "24.54", "manage_stock": true, "stock_quantity": 12}),
            json!({"id": products[4]["id"], "sku": other_sku}),
        ),
    ] {
        let before = fake.count(kind);
        let results = prove_write(
            &c,
            WriteCase {
                operation,
                records: vec![good.clone(), refused],
                refused: &[1],
                verify: holds(kind),
            },
        )
        .await;
        assert_eq!(fake.count(kind), before, "{operation} creates nothing");
        assert_eq!(
            results[0],
            switchyard::connector::WriteResult::Ok {
                destination_id: Some(good["id"].to_string())
            },
            "{operation}"
        );
    }
    assert_eq!(
        fake.item(Kind::Products, &products[4]["id"].to_string()).unwrap()["sku"],
        products[4]["sku"],
        "the refused SKU was not stored"
    );

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
