//! Shopify (`shared/connectors/shopify.yaml`), Admin GraphQL.
//!
//! Against the hand-written fake (`switchyard_fakes::shopify`), which checks every query,
//! its variables and every answer against the GraphQL schema it serves (written down from
//! shopify.dev: the specs folder holds only Shopify's REST description, see the fake's
//! header). 250 customers, orders and products spread over the past hour: a full read is
//! three pages of 100 (`pageInfo.endCursor` / `hasNextPage`); an incremental read searches
//! `updated_at:>=` the cursor less its lookback. Writes are one mutation per record; the
//! partly refused batches carry a taken or invalid email, a blank title, or an id that does
//! not exist (`userErrors`).
//!
//! The fake's cost bucket is small (400 points, 200 a second) so that a page of 100 (102
//! points) drains it within a few requests: the pacer must wait on the budget the responses
//! report, and no query may be answered THROTTLED.

use serde_json::{json, Value};
use switchyard_fakes::shopify::{self, Bucket, Kind, ShopifyConfig};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, Verify, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn shopify() {
    let fake = shopify::start(ShopifyConfig {
        records: SEEDED,
        bucket: Bucket {
            maximum: 400.0,
            restore_rate: 200.0,
        },
        ..ShopifyConfig::default()
    });
    let base_url = format!("{}{}", fake.base_url(), shopify::API_PATH);
    let c = client(
        "shopify",
        &base_url,
        &[("access_token", shopify::TEST_TOKEN)],
        json!({}),
    );

    for (stream, kind, field, compare) in [
        (
            "customers",
            Kind::Customers,
            "note",
            &["/id", "/email", "/firstName", "/note", "/updatedAt"][..],
        ),
        (
            "orders",
            Kind::Orders,
            "note",
            &[
                "/id",
                "/name",
                "/email",
                "/updatedAt",
                "/totalPriceSet/shopMoney/amount",
                "/customer/id",
            ][..],
        ),
        (
            "products",
            Kind::Products,
            "title",
            &["/id", "/title", "/status", "/updatedAt"][..],
        ),
    ] {
        let pointer = format!("/{field}");
        let missing_id = match kind {
            Kind::Customers => "gid://shopify/Customer/999999",
            Kind::Orders => "gid://shopify/Order/999999",
            Kind::Products => "gid://shopify/Product/999999",
        };
        let fake = &fake;
        let mut compare = compare.to_vec();
        if !compare.contains(&pointer.as_str()) {
            compare.push(&pointer);
        }
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
                            let id = r["id"].as_str().expect("global ids").to_owned();
                            fake.update(kind, &id, json!({ field: format!("Changed {id}") }))
                                .expect("the object exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(move |id| fake.object(kind, id)),
                compare: &compare,
                missing_id,
            },
        )
        .await;
    }
    prove_check(&c).await;

    let holds = |kind: Kind, check: fn(&Value, &Value)| {
        let fake = &fake;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the global id is returned");
            let object = fake
                .object(kind, id)
                .unwrap_or_else(|| panic!("{kind:?} {id} was written"));
            check(record, &object);
        }) as Verify<'_>
    };
    fn same_fields(record: &Value, object: &Value) {
        for (key, value) in record.as_object().expect("an object") {
            assert_eq!(&object[key], value, "{key}: {object}");
        }
    }

    let before = fake.count(Kind::Customers);
    let taken = fake.objects(Kind::Customers)[0]["email"].clone();
    prove_write(
        &c,
        WriteCase {
            operation: "customers.create",
            records: vec![
                json!({"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "tags": ["vip"]}),
                json!({"email": taken, "firstName": "Copy"}),
                json!({"email": "not-an-email"}),
                json!({"phone": "+442079460000", "note": "phone only"}),
            ],
            refused: &[1, 2],
            verify: holds(Kind::Customers, same_fields),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Customers), before + 2, "two customers created");

    let customer = fake.objects(Kind::Customers)[3]["id"].as_str().unwrap().to_owned();
    prove_write(
        &c,
        WriteCase {
            operation: "customers.update",
            records: vec![
                json!({"id": customer, "note": "Prefers email", "tags": ["b2b"]}),
                json!({"id": "gid://shopify/Customer/999999", "note": "nobody"}),
                json!({"id": customer, "email": taken}),
            ],
            refused: &[1, 2],
            verify: holds(Kind::Customers, same_fields),
        },
    )
    .await;

    let before = fake.count(Kind::Products);
    prove_write(
        &c,
        WriteCase {
            operation: "products.create",
            records: vec![
                json!({"title": "Walnut desk", "vendor": "Woodworks", "status": "DRAFT", "tags": ["furniture"]}),
                json!({"title": "   ", "vendor": "Nobody"}),
            ],
            refused: &[1],
            verify: holds(Kind::Products, same_fields),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Products), before + 1);

    let product = fake.objects(Kind::Products)[1]["id"].as_str().unwrap().to_owned();
    prove_write(
        &c,
        WriteCase {
            operation: "products.update",
            records: vec![
                json!({"id": product, "title": "Oak desk", "status": "ARCHIVED"}),
                json!({"id": "gid://shopify/Product/999999", "title": "Ghost"}),
            ],
            refused: &[1],
            verify: holds(Kind::Products, same_fields),
        },
    )
    .await;

    let stats = c.stats().snapshot();
    assert!(
        stats.rate_limit_waits > 0,
        "the reads drain the small cost bucket, so the pacer must have waited: {stats:?}"
    );
    assert_eq!(
        fake.throttled_count(),
        0,
        "the pacer waits for the cost budget before Shopify would refuse"
    );
    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
