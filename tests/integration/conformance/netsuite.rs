//! Oracle NetSuite (`shared/connectors/netsuite.yaml`): customers through SuiteQL and the REST
//! record API, signed with token-based authentication (OAuth 1.0a, HMAC-SHA256).
//!
//! NetSuite publishes no machine-readable API description, so the fake
//! (`switchyard_fakes::netsuite`) follows Oracle's REST web services documentation, named in its
//! header: it verifies every request's OAuth signature with its own implementation of RFC 5849's
//! base string (realm = the account id, nonces used once), runs the SuiteQL statements it
//! documents, and records every departure from the documented contract as a violation, which
//! must stay empty. 2,500 customers: a full read is three SuiteQL pages of 1,000.

use serde_json::{json, Value};
use switchyard_fakes::netsuite::{self, NetsuiteConfig};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

/// The connection's credentials and config for the fake account.
pub fn connection() -> (Vec<(&'static str, &'static str)>, Value) {
    (
        vec![
            ("consumer_key", netsuite::CONSUMER_KEY),
            ("consumer_secret", netsuite::CONSUMER_SECRET),
            ("token", netsuite::TOKEN),
            ("token_secret", netsuite::TOKEN_SECRET),
        ],
        json!({"account_id": netsuite::ACCOUNT}),
    )
}

#[tokio::test]
async fn netsuite() {
    let fake = netsuite::start(NetsuiteConfig::default());
    let (credentials, config) = connection();
    let c = client("netsuite", fake.base_url(), &credentials, config);
    prove_check(&c).await;
    prove_stream(
        &c,
        StreamCase {
            stream: "customers",
            expected: fake.count(),
            change: Box::new(|full: &[Value]| {
                let mut ids: Vec<String> = full
                    .iter()
                    .take(2)
                    .map(|r| {
                        let id = r["id"].as_str().expect("string ids").to_owned();
                        fake.touch(&id, json!({"lastname": format!("Changed {id}")}))
                            .expect("the customer exists");
                        id
                    })
                    .collect();
                let created =
                    fake.insert(json!({"companyname": "New Company", "email": "new@example.com", "isperson": false}));
                ids.push(created["id"].as_str().expect("string ids").to_owned());
                ids
            }),
            object: Box::new(|id| fake.customer(id)),
            compare: &["/id", "/email", "/lastname", "/isperson", "/lastmodified"],
            missing_id: "99999999",
        },
    )
    .await;

    let verify_created = |record: &Value, id: Option<&str>| {
        let id = id.expect("the new customer's id comes from the Location header");
        let stored = fake.customer(id).unwrap_or_else(|| panic!("customer {id} was created"));
        assert_eq!(stored["email"], record["email"], "email of {id}");
        assert_eq!(stored["isperson"], if record["isPerson"] == true { "T" } else { "F" });
    };
    prove_write(
        &c,
        WriteCase {
            operation: "customers.create",
            records: vec![
                json!({"companyName": "Ada Ltd", "email": "ada@example.com", "isPerson": false}),
                json!({"companyName": "Bad Email Inc", "email": "not-an-email", "isPerson": false}),
                json!({"firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com", "isPerson": true}),
            ],
            refused: &[1],
            verify: Box::new(verify_created),
        },
    )
    .await;

    let first = fake.customer("1").expect("seeded");
    prove_write(
        &c,
        WriteCase {
            operation: "customers.update",
            records: vec![
                json!({"id": "1", "fields": {"email": "first@example.org", "lastName": "Renamed"}}),
                json!({"id": "2", "fields": {"email": "no at sign"}}),
                json!({"id": "99999999", "fields": {"email": "nobody@example.com"}}),
            ],
            refused: &[1, 2],
            verify: Box::new(|record, _| {
                let id = record["id"].as_str().expect("an id");
                let stored = fake.customer(id).expect("the customer exists");
                assert_eq!(stored["email"], record["fields"]["email"]);
                assert_eq!(stored["lastname"], record["fields"]["lastName"]);
            }),
        },
    )
    .await;
    assert_ne!(fake.customer("1"), Some(first), "the update changed customer 1");
    assert_eq!(fake.customer("2").expect("seeded")["email"], "customer2@example.com");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
