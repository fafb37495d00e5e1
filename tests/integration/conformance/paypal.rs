//! PayPal (`shared/connectors/paypal.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::paypal`: API and OAuth servers), whose API
//! traffic is checked against `paypal/invoicing_v2.json` and `paypal/catalogs_products_v1.json`.
//! 250 invoices: a full read is three pages of 100; an incremental read (the invoice search on
//! `creation_date_range`) after five invoices were created returns them and what the lookback
//! re-reads; a fetch by id finds each. 45 products: a full-refresh stream (three pages of 20)
//! and a fetch. Each write sends a batch with a record PayPal refuses (an invoicer who is not the
//! merchant; an unknown invoice id). One token grant serves the whole test.

use serde_json::{json, Value};
use switchyard_fakes::paypal::{self, PaypalConfig, CLIENT_ID, CLIENT_SECRET, MERCHANT_EMAIL};

use super::{client, prove_check, prove_full_refresh_stream, prove_stream, prove_write, StreamCase, WriteCase};

#[tokio::test]
async fn paypal() {
    let fake = paypal::start(PaypalConfig {
        invoices: 250,
        products: 45,
        ..PaypalConfig::default()
    });
    let c = client(
        "paypal",
        &fake.api.base_url,
        &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        json!({"oauth_url": fake.oauth.base_url}),
    );
    let f = &fake;
    prove_stream(
        &c,
        StreamCase {
            stream: "invoices",
            expected: fake.invoice_count(),
            change: Box::new(move |_records: &[Value]| {
                (0..5)
                    .map(|n| f.insert_invoice(&format!("NEW-{n}"), &format!("new{n}@example.com"), "42.00"))
                    .collect()
            }),
            object: Box::new(move |id| f.invoice_json(id)),
            compare: &[
                "/id",
                "/status",
                "/detail/invoice_number",
                "/detail/metadata/create_time",
                "/amount",
            ],
            missing_id: "INV2-NONE-0000-0000-0000",
        },
    )
    .await;
    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "products",
            expected: fake.product_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(15)
                    .map(|r| {
                        let id = r["id"].as_str().expect("string ids").to_owned();
                        f.rename_product(&id, &format!("Renamed {id}"))
                            .expect("the product exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.product_json(id)),
            compare: &["/id", "/name", "/description", "/create_time"],
            missing_id: "PROD-NONE000000",
        },
    )
    .await;
    prove_check(&c).await;

    let holds = |wrapped: bool| {
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the invoice id is returned");
            let held = f.invoice_json(id).unwrap_or_else(|| panic!("invoice {id} was written"));
            let written = if wrapped { &record["invoice"] } else { record };
            assert_eq!(
                held["detail"]["invoice_number"], written["detail"]["invoice_number"],
                "{id}"
            );
            assert_eq!(held["items"], written["items"], "{id}");
            assert_eq!(held["primary_recipients"], written["primary_recipients"], "{id}");
        }) as super::Verify<'_>
    };
    let invoice = |number: &str, invoicer: &str, value: &str| {
        json!({
            "detail": {"invoice_number": number, "currency_code": "USD", "note": "Thank you."},
            "invoicer": {"email_address": invoicer},
            "primary_recipients": [{"billing_info": {"email_address": "ada@example.com"}}],
            "items": [{"name": "Support plan", "quantity": "2", "unit_amount": {"currency_code": "USD", "value": value}}],
        })
    };
    let before = fake.invoice_count();
    prove_write(
        &c,
        WriteCase {
            operation: "invoices.create",
            records: vec![
                invoice("C-1", MERCHANT_EMAIL, "10.00"),
                invoice("C-2", "someone-else@example.com", "10.00"),
                invoice("C-3", MERCHANT_EMAIL, "12.50"),
            ],
            refused: &[1],
            verify: holds(false),
        },
    )
    .await;
    assert_eq!(fake.invoice_count(), before + 2, "two invoices created, one refused");
    assert_eq!(fake.find_invoice("C-3").unwrap()["amount"]["value"], "25.00");

    let existing = fake.find_invoice("C-1").unwrap()["id"].as_str().unwrap().to_owned();
    let other = fake.find_invoice("00001").unwrap()["id"].as_str().unwrap().to_owned();
    prove_write(
        &c,
        WriteCase {
            operation: "invoices.update",
            records: vec![
                json!({"id": existing, "invoice": invoice("C-1", MERCHANT_EMAIL, "11.00")}),
                json!({"id": "INV2-NONE-0000-0000-0000", "invoice": invoice("C-9", MERCHANT_EMAIL, "1.00")}),
                json!({"id": other, "invoice": invoice("00001-R", MERCHANT_EMAIL, "99.00")}),
            ],
            refused: &[1],
            verify: holds(true),
        },
    )
    .await;
    assert_eq!(fake.invoice_json(&existing).unwrap()["amount"]["value"], "22.00");
    assert_eq!(fake.grants(), 1, "one token for every request");

    let violations = fake.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
