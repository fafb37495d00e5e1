//! Xero Accounting (`shared/connectors/xero.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::xero`, following Xero's Accounting API
//! docs), whose API server's traffic is checked against `xero/xero_accounting.yaml` from the
//! specs folder with the corrections in `fakes/src/xero/spec_patches.yaml`. Tokens come from
//! the fake identity server (the connection's `identity_url`), whose refresh tokens are single
//! use; every API request must name the organisation in `xero-tenant-id` (the connection's
//! `tenant_id`), or the fake answers 403.
//!
//! 250 contacts, 250 invoices and 250 part payments updated over the past hour: a full read is three pages of
//! 100 (`page`), an incremental read (`If-Modified-Since`) after five records changed returns
//! them and those in the 60 s lookback window, and a fetch finds a record (an unknown id
//! answers 404, read as none). The contacts write sends one batch with a new contact, one Xero
//! refuses (a name another contact has), an update of an existing contact by `ContactID` and
//! one with an invalid email address. The payments write records a payment, one over what its
//! invoice still owes and one against an unknown invoice, and one that settles its invoice.
//!
//! The day's budget (5,000 calls, reported in `X-DayLimit-Remaining`): once it reads 0 the
//! connection sends nothing more and answers a spent quota; Xero's own 429 with
//! `X-Rate-Limit-Problem: day` is a spent quota too.

use serde_json::{json, Value};
use std::time::Duration;

use switchyard::connector::{ErrorClass, ErrorKind, EventRecord, WriteResult};
use switchyard_fakes::xero::{self, XeroConfig, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, TENANT_ID};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn xero() {
    let xero = xero::start(XeroConfig {
        records: SEEDED,
        ..XeroConfig::default()
    });
    let c = client(
        "xero",
        &xero.api_base_url(),
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
        // Xero allows 60 calls a minute per tenant; the fake has no such limit.
        json!({"tenant_id": TENANT_ID, "identity_url": xero.identity.base_url,
            "rate_limit": {"requests": 1000, "window_ms": 1000}}),
    );

    let fake = &xero;
    prove_stream(
        &c,
        StreamCase {
            stream: "contacts",
            expected: xero.contact_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .take(5)
                    .map(|r| {
                        let id = r["ContactID"].as_str().expect("string ids").to_owned();
                        fake.update_contact(&id, &json!({"FirstName": format!("Changed {id}")}))
                            .expect("the contact exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| fake.contact(id)),
            compare: &["/ContactID", "/FirstName", "/UpdatedDateUTC"],
            missing_id: "00000000-0000-4000-8000-000000000000",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "invoices",
            expected: xero.invoice_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .take(5)
                    .map(|r| {
                        let id = r["InvoiceID"].as_str().expect("string ids").to_owned();
                        fake.update_invoice(&id, &json!({"Status": "PAID", "AmountDue": 0.0}))
                            .expect("the invoice exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| fake.invoice(id)),
            compare: &["/InvoiceID", "/Status", "/AmountDue", "/UpdatedDateUTC"],
            missing_id: "00000000-0000-4000-8000-000000000000",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "payments",
            expected: xero.payment_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .take(5)
                    .map(|r| {
                        let id = r["PaymentID"].as_str().expect("string ids").to_owned();
                        fake.update_payment(&id, &json!({"IsReconciled": true}))
                            .expect("the payment exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| fake.payment(id)),
            compare: &["/PaymentID", "/Amount", "/IsReconciled", "/UpdatedDateUTC"],
            missing_id: "00000000-0000-4000-8000-000000000000",
        },
    )
    .await;
    prove_check(&c).await;

    // A webhook event names only the resource: it routes to its stream by the receiver's
    // `<category>.<type>` and the record is fetched.
    let invoice_id = xero.find_invoice_number("INV-0012").expect("a seeded invoice");
    let event = json!({"resourceUrl": format!("https://api.xero.com/api.xro/2.0/Invoices/{invoice_id}"),
        "resourceId": invoice_id, "eventDateUtc": "2026-01-01T00:00:00.000", "eventType": "UPDATE",
        "eventCategory": "INVOICE", "tenantId": TENANT_ID, "tenantType": "ORGANISATION"});
    let routed = c
        .event_record_received(&event, Some("INVOICE.UPDATE"))
        .expect("the event routes");
    let EventRecord::Fetch { stream, id } = routed else {
        panic!("a Xero event carries only the id: {routed:?}");
    };
    assert_eq!((stream.as_str(), id.as_str()), ("invoices", invoice_id.as_str()));
    let fetched = c.fetch_record(&stream, &id).await.expect("fetch").expect("found");
    assert_eq!(fetched["InvoiceNumber"], "INV-0012");
    assert!(matches!(
        c.event_record_received(&event, Some("PAYMENT.CREATE")),
        Ok(EventRecord::Unrouted)
    ));

    // Xero's 429 (the minute limit; `Retry-After` 1 s here) is waited out and retried.
    let before = xero.api.faults.counts();
    xero.api.faults.fail_next(1, 429);
    let fetched = c
        .fetch_record("invoices", &invoice_id)
        .await
        .expect("the fetch is retried after the 429")
        .expect("found");
    assert_eq!(fetched["InvoiceID"], invoice_id.as_str());
    assert_eq!(
        xero.api.faults.counts().forced,
        before.forced + 1,
        "the 429 was answered"
    );

    // One batch: a new contact, a duplicate name, an update by ContactID, a bad email.
    let existing = xero.find_contact("Name", "Contact 7").expect("a seeded contact");
    let existing_id = existing["ContactID"].as_str().expect("an id").to_owned();
    let before = xero.contact_count();
    let results = prove_write(
        &c,
        WriteCase {
            operation: "contacts.create_or_update",
            records: vec![
                json!({"Name": "Ada Lovelace", "FirstName": "Ada", "LastName": "Lovelace", "EmailAddress": "ada@example.com"}),
                json!({"Name": "Contact 3", "EmailAddress": "imposter@example.com"}),
                json!({"ContactID": existing_id, "EmailAddress": "analytical@example.com", "LastName": "Engines"}),
                json!({"Name": "Bad Email", "EmailAddress": "not-an-email"}),
            ],
            refused: &[1, 3],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the destination id is returned");
                let held = fake.contact(id).unwrap_or_else(|| panic!("contact {id} was written"));
                for (name, value) in record.as_object().expect("an object") {
                    assert_eq!(&held[name], value, "contact {id}: {name}");
                }
            }),
        },
    )
    .await;
    assert_eq!(xero.contact_count(), before + 1, "one contact created, one updated");
    assert_eq!(
        results[2],
        WriteResult::Ok {
            destination_id: Some(existing_id.clone())
        },
        "the update kept the contact's id"
    );
    let refusal = format!("{:?}", results[1]);
    assert!(refusal.contains("already assigned to another contact"), "{refusal}");
    assert_eq!(
        xero.find_contact("EmailAddress", "imposter@example.com"),
        None,
        "the refused contact was not written"
    );

    // One grant served the whole run; the rotated refresh token is the one Xero now accepts.
    assert_eq!(xero.grants(), 1);
    assert_ne!(xero.current_refresh_token(), REFRESH_TOKEN);
    switchyard_tests::log_capture::known_secret(&xero.current_refresh_token());
    for token in xero.issued_access_tokens() {
        switchyard_tests::log_capture::known_secret(&token);
    }
    // Payments against invoices: one recorded, one over what the invoice owes, one against an
    // unknown invoice, one that settles its invoice.
    let open = xero.find_invoice_number("INV-0020").expect("a seeded invoice");
    let settle = xero.find_invoice_number("INV-0021").expect("a seeded invoice");
    let owed = xero.invoice(&settle).expect("held")["AmountDue"]
        .as_f64()
        .expect("a number");
    let before = xero.payment_count();
    let payment = |invoice: &str, amount: f64| json!({"Invoice": {"InvoiceID": invoice}, "Account": {"Code": "090"}, "Date": "2026-11-27", "Amount": amount});
    let results = prove_write(
        &c,
        WriteCase {
            operation: "payments.create",
            records: vec![
                payment(&open, 25.0),
                payment(&open, 100_000.0),
                payment("00000000-0000-4000-8000-00000000dead", 5.0),
                payment(&settle, owed),
            ],
            refused: &[1, 2],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the destination id is returned");
                let held = fake.payment(id).unwrap_or_else(|| panic!("payment {id} was recorded"));
                for pointer in ["/Invoice/InvoiceID", "/Account/Code", "/Amount"] {
                    assert_eq!(
                        held.pointer(pointer),
                        record.pointer(pointer),
                        "payment {id}: {pointer}"
                    );
                }
            }),
        },
    )
    .await;
    assert_eq!(xero.payment_count(), before + 2);
    let refusal = format!("{:?}", results[1]);
    assert!(refusal.contains("exceeds the amount outstanding"), "{refusal}");
    assert_eq!(xero.invoice(&settle).expect("held")["Status"], "PAID");
    assert_eq!(xero.invoice(&open).expect("held")["Status"], "AUTHORISED");

    // The day's budget: with two calls left, both go and the header then reads 0. The third
    // request is not sent: the quota is spent, for the hour the engine waits before probing.
    xero.set_day_remaining(Some(2));
    for _ in 0..2 {
        c.fetch_record("invoices", &invoice_id)
            .await
            .expect("within the day's budget");
    }
    assert_eq!(xero.day_remaining(), Some(0));
    let sent = xero.api_requests();
    let spent = c
        .fetch_record("invoices", &invoice_id)
        .await
        .expect_err("the day's budget is spent");
    assert_eq!(spent.kind, ErrorKind::QuotaSpent, "{spent}");
    match spent.quota_wait() {
        Some(wait) => assert!(
            wait > Duration::from_secs(3_500) && wait <= Duration::from_secs(3_600),
            "{wait:?}"
        ),
        None => panic!("a spent quota says how long: {spent:?}"),
    }
    assert_eq!(xero.api_requests(), sent, "nothing more was sent");

    // Xero's own 429 for the day, on a fresh connection that has not seen the header: a spent
    // quota with Xero's Retry-After (capped at the hour), not retried inline.
    let fresh = client(
        "xero",
        &xero.api_base_url(),
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", &xero.current_refresh_token()),
        ],
        json!({"tenant_id": TENANT_ID, "identity_url": xero.identity.base_url,
            "rate_limit": {"requests": 1000, "window_ms": 1000}}),
    );
    let spent = fresh
        .fetch_record("invoices", &invoice_id)
        .await
        .expect_err("the day's budget is spent");
    assert_eq!(
        (spent.kind, spent.status),
        (ErrorKind::QuotaSpent, Some(429)),
        "{spent}"
    );
    match spent.class {
        ErrorClass::RateLimited {
            retry_after: Some(wait),
        } => assert!(wait >= Duration::from_secs(3_500), "{wait:?}"),
        other => panic!("a spent daily limit is rate limited, not {other:?}"),
    }
    xero.set_day_remaining(None);
    switchyard_tests::log_capture::known_secret(&xero.current_refresh_token());
    for token in xero.issued_access_tokens() {
        switchyard_tests::log_capture::known_secret(&token);
    }

    let violations = xero.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
