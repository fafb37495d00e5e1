//! QuickBooks Online (`shared/connectors/quickbooks.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::quickbooks`, following Intuit's
//! Accounting API reference), whose API server's traffic is checked against
//! `quickbooks/openapi.yaml` from the specs folder with the corrections in
//! `fakes/src/quickbooks/spec_patches.yaml`. Tokens come from the fake's OAuth server (the
//! connection's `oauth_url`), whose refresh tokens rotate.
//!
//! 250 customers, invoices, payments and items updated over the past hour: a full read is three
//! pages of 100 through the query endpoint (`startposition`/`maxresults`), an incremental read
//! (the change data capture feed, `cdc?changedSince=...`, one response a run) after five records
//! changed returns them and those in the 60 s lookback window, fetched as they are now, and a
//! fetch (a query by Id) finds a record (an unknown id is none). A deleted customer is a
//! tombstone of the next incremental page (`status: Deleted`), not fetched.
//! Writes: customers in one batch with a new customer, one QuickBooks refuses (a DisplayName
//! another customer has), a sparse update of an existing customer (its SyncToken read first,
//! after a user changed the record so the token the caller last saw is stale) and one without
//! any name; an invoice batch and a payment batch, each with one record naming no customer;
//! customers and invoices through the batch endpoint (30 a request, one item refused in place
//! with its fault, the others written); and `customers.delete` (made inactive; a customer that
//! is not there is done).
//! Every request carries `minorversion`.

use serde_json::{json, Value};

use switchyard::connector::{EventRecord, StreamState, WriteResult};
use switchyard_fakes::quickbooks::{self, QuickBooksConfig, CLIENT_ID, CLIENT_SECRET, REALM_ID, REFRESH_TOKEN};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn quickbooks() {
    let qbo = quickbooks::start(QuickBooksConfig {
        records: SEEDED,
        ..QuickBooksConfig::default()
    });
    let c = client(
        "quickbooks",
        &qbo.api.base_url,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
        // QuickBooks allows 500 requests a minute per company; the fake has no such limit.
        json!({"realm_id": REALM_ID, "oauth_url": qbo.oauth.base_url,
            "rate_limit": {"requests": 1000, "window_ms": 1000}}),
    );

    let fake = &qbo;
    for (stream, entity, field, value) in [
        ("customers", "Customer", "CompanyName", json!("Changed Inc")),
        ("invoices", "Invoice", "PrivateNote", json!("changed")),
        ("payments", "Payment", "PrivateNote", json!("changed")),
        ("items", "Item", "UnitPrice", json!(999)),
    ] {
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: qbo.count(entity),
                change: Box::new(move |records: &[Value]| {
                    records
                        .iter()
                        .take(5)
                        .map(|r| {
                            let id = r["Id"].as_str().expect("string ids").to_owned();
                            let fields: serde_json::Map<String, Value> =
                                [(field.to_owned(), value.clone())].into_iter().collect();
                            fake.update(entity, &id, &Value::Object(fields))
                                .expect("the record exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(move |id| fake.get(entity, id)),
                compare: &["/Id", "/SyncToken", "/MetaData/LastUpdatedTime"],
                missing_id: "999999",
            },
        )
        .await;
    }
    prove_check(&c).await;

    // Change data capture: a customer deleted since the cursor is a tombstone, not fetched,
    // beside the customers changed since then; the feed is one response.
    let newest = qbo
        .find("Customer", "/DisplayName", &format!("Customer {SEEDED}"))
        .expect("the newest seeded customer");
    let cursor = newest["MetaData"]["LastUpdatedTime"]
        .as_str()
        .expect("a time")
        .to_owned();
    let doomed = qbo
        .find("Customer", "/DisplayName", "Customer 11")
        .expect("a seeded customer");
    let doomed_id = doomed["Id"].as_str().expect("an id").to_owned();
    qbo.delete("Customer", &doomed_id).expect("deleted");
    let cdc_before = cdc_requests(&qbo);
    let page = c
        .read_page("customers", &StreamState::incremental(Some(cursor)))
        .await
        .expect("the feed is read");
    assert_eq!(page.deleted, vec![doomed_id.clone()], "the tombstone");
    assert!(page.next.is_none(), "CDC does not page");
    assert!(!page.records.is_empty(), "the customers changed in the lookback window");
    assert!(page.records.iter().all(|r| r["Id"] != doomed_id.as_str()));
    assert_eq!(cdc_requests(&qbo), cdc_before + 1);
    assert!(c.fetch_record("customers", &doomed_id).await.expect("fetch").is_none());

    // An id that is not digits never reaches the query language.
    let refused = c
        .fetch_record("customers", "1' or Id > '0")
        .await
        .expect_err("a quote in an id is refused");
    assert!(refused.message.contains("id_pattern"), "{refused}");

    // A webhook delivery is an array of CloudEvents: each routes by its type's entity and the
    // record is fetched by `intuitentityid`.
    let invoice = qbo.find("Invoice", "/DocNumber", "1012").expect("a seeded invoice");
    let invoice_id = invoice["Id"].as_str().expect("an id").to_owned();
    let event = json!({"specversion": "1.0", "id": format!("a1b2-Invoice-{invoice_id}"),
        "source": "intuit.fake", "type": "qbo.invoice.updated.v1", "datacontenttype": "application/json",
        "time": "2026-11-27T09:00:00Z", "intuitentityid": invoice_id, "intuitaccountid": REALM_ID, "data": {}});
    let routed = c.event_record(&event).expect("the event routes");
    let EventRecord::Fetch { stream, id } = routed else {
        panic!("a QuickBooks event carries only the id: {routed:?}");
    };
    assert_eq!((stream.as_str(), id.as_str()), ("invoices", invoice_id.as_str()));
    let fetched = c.fetch_record(&stream, &id).await.expect("fetch").expect("found");
    assert_eq!(fetched["DocNumber"], "1012");
    let other = json!({"specversion": "1.0", "id": "x", "type": "qbo.vendor.created.v1", "intuitentityid": "5"});
    assert!(matches!(c.event_record(&other), Ok(EventRecord::Unrouted)));

    // Customers: a new one, a duplicate DisplayName, a sparse update of a customer a user has
    // just changed (the caller's SyncToken is stale; the connector reads the current one), and
    // one without any name.
    let existing = qbo
        .find("Customer", "/DisplayName", "Customer 7")
        .expect("a seeded customer");
    let existing_id = existing["Id"].as_str().expect("an id").to_owned();
    let stale = existing["SyncToken"].clone();
    qbo.update("Customer", &existing_id, &json!({"Notes": "edited in QuickBooks"}))
        .expect("the user's edit");
    let before = qbo.count("Customer");
    let results = prove_write(
        &c,
        WriteCase {
            operation: "customers.create_or_update",
            records: vec![
                json!({"DisplayName": "Ada Lovelace", "GivenName": "Ada", "FamilyName": "Lovelace",
                    "PrimaryEmailAddr": {"Address": "ada@example.com"}}),
                json!({"DisplayName": "Customer 3", "PrimaryEmailAddr": {"Address": "imposter@example.com"}}),
                json!({"Id": existing_id, "SyncToken": stale, "FamilyName": "Engines",
                    "PrimaryEmailAddr": {"Address": "analytical@example.com"}}),
                json!({"CompanyName": "Nameless Ltd"}),
            ],
            refused: &[1, 3],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the destination id is returned");
                let held = fake
                    .get("Customer", id)
                    .unwrap_or_else(|| panic!("customer {id} was written"));
                for (name, value) in record.as_object().expect("an object") {
                    if name != "SyncToken" {
                        assert_eq!(&held[name], value, "customer {id}: {name}");
                    }
                }
            }),
        },
    )
    .await;
    assert_eq!(qbo.count("Customer"), before + 1, "one customer created, one updated");
    assert_eq!(
        results[2],
        WriteResult::Ok {
            destination_id: Some(existing_id.clone())
        }
    );
    let updated = qbo.get("Customer", &existing_id).expect("the customer");
    assert_eq!(
        (
            updated["Notes"].as_str(),
            updated["DisplayName"].as_str(),
            updated["SyncToken"].as_str()
        ),
        (Some("edited in QuickBooks"), Some("Customer 7"), Some("2")),
        "a sparse update keeps the fields it does not send, and the SyncToken moves on"
    );
    let refusal = format!("{:?}", results[1]);
    assert!(refusal.contains("already using this name"), "{refusal}");
    assert!(qbo
        .find("Customer", "/PrimaryEmailAddr/Address", "imposter@example.com")
        .is_none());

    // The rule the read protects against: QuickBooks refuses an update with a stale SyncToken
    // (fault 5010), here the token the caller had before the user's edit.
    let token = qbo.issued_access_tokens().pop().expect("a token was issued");
    let refused = reqwest::Client::new()
        .post(format!(
            "{}/v3/company/{REALM_ID}/customer?minorversion=75",
            qbo.api.base_url
        ))
        .bearer_auth(&token)
        .header("accept", "application/json")
        .json(&json!({"Id": existing_id, "SyncToken": stale, "sparse": true, "Notes": "lost update"}))
        .send()
        .await
        .expect("the fake answers");
    assert_eq!(refused.status(), 400);
    let fault: Value = refused.json().await.expect("a fault body");
    assert_eq!(fault["Fault"]["Error"][0]["code"], "5010", "{fault}");
    assert_eq!(
        qbo.get("Customer", &existing_id).expect("the customer")["Notes"],
        "edited in QuickBooks"
    );

    // An update naming an id QuickBooks does not have fails alone, without a request.
    let results = c
        .write_batch("customers.create_or_update", &[json!({"Id": "999999", "Notes": "x"})])
        .await
        .expect("the batch runs");
    assert!(
        matches!(&results[0], WriteResult::Failed { reason, .. } if reason.contains("no `customers` record")),
        "{results:?}"
    );

    // Invoices and payments: one of each names a customer that does not exist.
    let customer = qbo
        .find("Customer", "/DisplayName", "Ada Lovelace")
        .expect("created above");
    let customer_id = customer["Id"].as_str().expect("an id").to_owned();
    let item = qbo.find("Item", "/Name", "Service 4").expect("a seeded item");
    let line = json!([{"Amount": 250.0, "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1, "UnitPrice": 250.0}}]);
    let results = prove_write(
        &c,
        WriteCase {
            operation: "invoices.create_or_update",
            records: vec![
                json!({"CustomerRef": {"value": customer_id}, "Line": line, "PrivateNote": "from Stripe in_1"}),
                json!({"CustomerRef": {"value": "424242"}, "Line": line}),
            ],
            refused: &[1],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the destination id is returned");
                let held = fake
                    .get("Invoice", id)
                    .unwrap_or_else(|| panic!("invoice {id} was written"));
                assert_eq!(held["PrivateNote"], record["PrivateNote"]);
                assert_eq!(held["TotalAmt"], 250.0);
            }),
        },
    )
    .await;
    let WriteResult::Ok {
        destination_id: Some(new_invoice),
    } = &results[0]
    else {
        panic!("{results:?}");
    };
    prove_write(
        &c,
        WriteCase {
            operation: "payments.create",
            records: vec![
                json!({"CustomerRef": {"value": customer_id}, "TotalAmt": 100.0,
                    "Line": [{"Amount": 100.0, "LinkedTxn": [{"TxnId": new_invoice, "TxnType": "Invoice"}]}]}),
                json!({"CustomerRef": {"value": "424242"}, "TotalAmt": 5.0}),
            ],
            refused: &[1],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the destination id is returned");
                let held = fake
                    .get("Payment", id)
                    .unwrap_or_else(|| panic!("payment {id} was written"));
                assert_eq!(held["TotalAmt"], record["TotalAmt"]);
            }),
        },
    )
    .await;
    assert_eq!(
        qbo.get("Invoice", new_invoice).expect("the invoice")["Balance"],
        150.0,
        "the payment was applied to the invoice"
    );

    // The batch endpoint: 30 creates a request; one refused in place (a DisplayName another
    // customer has), the others written.
    let batch_before = batch_requests(&qbo);
    let mut customers: Vec<Value> = (0..31)
        .map(|i| {
            json!({"DisplayName": format!("Batch Person {i}"), "GivenName": "Batch",
            "FamilyName": format!("Person {i}"), "PrimaryEmailAddr": {"Address": format!("batch{i}@example.com")}})
        })
        .collect();
    customers[4] = json!({"DisplayName": "Customer 5"});
    let before = qbo.count("Customer");
    prove_write(
        &c,
        WriteCase {
            operation: "customers.create_batch",
            records: customers,
            refused: &[4],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the destination id is returned");
                let held = fake
                    .get("Customer", id)
                    .unwrap_or_else(|| panic!("customer {id} was written"));
                assert_eq!(held["DisplayName"], record["DisplayName"]);
                assert_eq!(held["PrimaryEmailAddr"], record["PrimaryEmailAddr"]);
            }),
        },
    )
    .await;
    assert_eq!(qbo.count("Customer"), before + 30);
    assert_eq!(
        batch_requests(&qbo),
        batch_before + 2,
        "31 records: a batch of 30 and one of 1"
    );
    prove_write(
        &c,
        WriteCase {
            operation: "invoices.create_batch",
            records: vec![
                json!({"CustomerRef": {"value": customer_id}, "Line": line, "PrivateNote": "batched 1"}),
                json!({"CustomerRef": {"value": "424242"}, "Line": line}),
                json!({"CustomerRef": {"value": customer_id}, "Line": line, "PrivateNote": "batched 2"}),
            ],
            refused: &[1],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the destination id is returned");
                let held = fake
                    .get("Invoice", id)
                    .unwrap_or_else(|| panic!("invoice {id} was written"));
                assert_eq!(held["PrivateNote"], record["PrivateNote"]);
            }),
        },
    )
    .await;

    // Deleting a customer makes it inactive; one that is not there is deleted either way.
    let results = c
        .write_batch(
            "customers.delete",
            &[
                json!({"Id": customer_id}),
                json!({"Id": doomed_id}),
                json!({"Id": "999999"}),
            ],
        )
        .await
        .expect("the deletes run");
    for result in &results {
        assert!(matches!(result, WriteResult::Ok { .. }), "{results:?}");
    }
    assert_eq!(
        qbo.get("Customer", &customer_id).expect("kept, inactive")["Active"],
        false
    );

    // Every request pinned the minor version.
    let requests = qbo.api.requests.all();
    assert!(requests.len() > 20, "{} requests", requests.len());
    for r in &requests {
        assert!(
            r.query.as_deref().is_some_and(|q| q.contains("minorversion=75")),
            "{} {} without minorversion",
            r.method,
            r.path
        );
    }
    // One grant served the whole run; the rotated refresh token is the one now accepted.
    assert_eq!(qbo.grants(), 1);
    assert_ne!(qbo.current_refresh_token(), REFRESH_TOKEN);
    switchyard_tests::log_capture::known_secret(&qbo.current_refresh_token());
    for token in qbo.issued_access_tokens() {
        switchyard_tests::log_capture::known_secret(&token);
    }
    let violations = qbo.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

fn cdc_requests(qbo: &quickbooks::QuickBooksFake) -> usize {
    qbo.api
        .requests
        .all()
        .iter()
        .filter(|r| r.path.ends_with("/cdc"))
        .count()
}

fn batch_requests(qbo: &quickbooks::QuickBooksFake) -> usize {
    qbo.api
        .requests
        .all()
        .iter()
        .filter(|r| r.path.ends_with("/batch"))
        .count()
}
