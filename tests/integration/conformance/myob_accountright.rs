//! MYOB AccountRight (`shared/connectors/myob-accountright.yaml`): customers and service
//! invoices of one company file, whose URI is the connection's base URL.
//!
//! MYOB publishes no description of its API, so the fake (`switchyard_fakes::myob`) follows
//! developer.myob.com, named in its header, and records every departure (a missing
//! `x-myobapi-key` or version header, an unknown query option, filter or field, an update
//! without its RowVersion) as a violation, which must stay empty. 250 customers and 250
//! invoices: a full read is three pages (`$top=100`, `NextPageLink`).

use serde_json::{json, Value};
use switchyard_fakes::myob::{self, company_path, MyobConfig, API_KEY, CLIENT_SECRET, REFRESH_TOKEN};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const CUSTOMERS: &str = "Contact/Customer";
const INVOICES: &str = "Sale/Invoice/Service";

#[tokio::test]
async fn myob_accountright() {
    let fake = myob::start(MyobConfig::default());
    let c = client(
        "myob-accountright",
        &format!("{}{}", fake.base_url(), company_path()),
        &[
            ("client_id", API_KEY),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
        json!({
            "api_key": API_KEY,
            "auth_url": fake.base_url(),
            // The definition paces the API key's 8 requests a second; the fake has no limit.
            "rate_limit": {"requests": 1000, "window_ms": 1000},
        }),
    );
    prove_check(&c).await;

    for (stream, resource, field) in [
        ("customers", CUSTOMERS, "CompanyName"),
        ("invoices", INVOICES, "Comment"),
    ] {
        let fake = &fake;
        let pointer = format!("/{field}");
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: fake.count(resource),
                change: Box::new(move |full: &[Value]| {
                    full.iter()
                        .take(3)
                        .map(|r| {
                            let uid = r["UID"].as_str().expect("string UIDs").to_owned();
                            fake.touch(resource, &uid, json!({ field: format!("Changed {uid}") }))
                                .expect("the record exists");
                            uid
                        })
                        .collect()
                }),
                object: Box::new(move |uid| fake.record(resource, uid)),
                compare: &["/UID", &pointer, "/RowVersion", "/LastModified"],
                missing_id: "00000000-0000-4000-8000-000000000000",
            },
        )
        .await;
    }

    prove_write(
        &c,
        WriteCase {
            operation: "customers.create",
            records: vec![
                json!({"IsIndividual": false, "CompanyName": "Clearwater Pty Ltd", "DisplayID": "CUS90001"}),
                json!({"IsIndividual": true, "FirstName": "No", "LastName": ""}),
                json!({"IsIndividual": true, "FirstName": "Grace", "LastName": "Hopper"}),
            ],
            refused: &[1],
            verify: Box::new(|record, uid| {
                let uid = uid.expect("the new UID comes from Location");
                let stored = fake
                    .record(CUSTOMERS, uid)
                    .unwrap_or_else(|| panic!("customer {uid} exists"));
                assert_eq!(stored["CompanyName"], record["CompanyName"]);
                assert_eq!(stored["LastName"], record["LastName"]);
            }),
        },
    )
    .await;

    // An update sends the record as read, changed; the second one's RowVersion is stale.
    let read = |name: &str| {
        fake.find(CUSTOMERS, "CompanyName", &json!(name))
            .unwrap_or_else(|| panic!("{name} is seeded"))
    };
    let mut fresh = read("Customer 10");
    fresh["CompanyName"] = json!("Customer Ten Renamed");
    let mut stale = read("Customer 11");
    let stale_uid = stale["UID"].as_str().expect("a UID").to_owned();
    fake.touch(
        CUSTOMERS,
        &stale_uid,
        json!({"Notes": "changed in AccountRight meanwhile"}),
    );
    stale["CompanyName"] = json!("Lost Update");
    let mut blank = read("Customer 12");
    blank["CompanyName"] = json!("");
    prove_write(
        &c,
        WriteCase {
            operation: "customers.update",
            records: vec![fresh, stale, blank],
            refused: &[1, 2],
            verify: Box::new(|record, _| {
                let stored = fake
                    .record(CUSTOMERS, record["UID"].as_str().expect("a UID"))
                    .expect("the customer exists");
                assert_eq!(stored["CompanyName"], record["CompanyName"]);
                assert_ne!(stored["RowVersion"], record["RowVersion"], "a new RowVersion");
            }),
        },
    )
    .await;
    assert_eq!(
        fake.record(CUSTOMERS, &stale_uid).expect("seeded")["CompanyName"],
        "Customer 11",
        "a stale RowVersion changes nothing"
    );

    let customer = read("Customer 20")["UID"].clone();
    let invoice = |customer: &Value, total: Value| json!({"Date": "2026-11-27T00:00:00", "Customer": {"UID": customer}, "Lines": [{"Description": "Consulting", "Total": total}]});
    let before = fake.count(INVOICES);
    prove_write(
        &c,
        WriteCase {
            operation: "invoices.create",
            records: vec![
                invoice(&customer, json!(1250.0)),
                invoice(&json!("00000000-0000-4000-8000-000000000000"), json!(10.0)),
                invoice(&customer, json!(99.5)),
            ],
            refused: &[1],
            verify: Box::new(|record, uid| {
                let stored = fake.record(INVOICES, uid.expect("the new UID")).expect("created");
                assert_eq!(stored["Customer"]["UID"], record["Customer"]["UID"]);
                assert_eq!(stored["TotalAmount"], record["Lines"][0]["Total"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.count(INVOICES), before + 2);
    assert_eq!(fake.issued_tokens(), 1, "one access token serves the run");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
