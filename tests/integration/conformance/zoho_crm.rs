//! Zoho CRM (`shared/connectors/zoho-crm.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::zoho_crm`, following Zoho's CRM API v2.1
//! docs), whose API server's traffic is checked against `zoho-crm/openapi.yaml` from the specs
//! folder with the corrections in `fakes/src/zoho_crm/spec_patches.yaml`. The connection's
//! `base_url` points nowhere useful (Zoho's US domain): every request reaches the fake only
//! because the fake accounts server, found through the connection's `accounts_url`, answers
//! the token grant with the fake API server as `api_domain`.
//!
//! 250 records per module modified over the past hour: a full read is three pages of 100
//! (`page_token`), an incremental read (`If-Modified-Since`) after five records changed
//! returns them and those in the 60 s lookback window, a fetch finds a record (and an unknown
//! id answers 204, read as none), and an incremental read with nothing modified since gets 304
//! Not Modified, an empty last page. Each upsert writes a batch with one record Zoho refuses, one
//! new record and one matched on its duplicate check field.

use serde_json::{json, Value};
use switchyard_fakes::zoho_crm::{self, ZohoConfig, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn zoho_crm() {
    let zoho = zoho_crm::start(ZohoConfig {
        records: SEEDED,
        ..ZohoConfig::default()
    });
    let c = client(
        "zoho-crm",
        "https://www.zohoapis.com",
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
        // The definition paces the Standard edition's daily credits (one request every 1.7 s);
        // the fake has no such limit, so this connection allows more, as a larger plan would.
        json!({"accounts_url": zoho.accounts.base_url, "rate_limit": {"requests": 1000, "window_ms": 1000}}),
    );

    for (stream, module, field) in [
        ("leads", "Leads", "Company"),
        ("contacts", "Contacts", "First_Name"),
        ("accounts", "Accounts", "Website"),
        ("deals", "Deals", "Stage"),
    ] {
        let pointer = format!("/{field}");
        let zoho = &zoho;
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: zoho.count(module),
                change: Box::new(move |records: &[Value]| {
                    records
                        .iter()
                        .take(5)
                        .map(|r| {
                            let id = r["id"].as_str().expect("string ids").to_owned();
                            zoho.update(module, &id, &json!({ field: format!("Changed {id}") }))
                                .expect("the record exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(move |id| zoho.record(module, id)),
                compare: &["/id", &pointer, "/Modified_Time"],
                missing_id: "4150868000999999999",
            },
        )
        .await;
    }
    prove_check(&c).await;
    // Nothing modified since: Zoho answers 304 without a body, an empty last page.
    let none = super::read_all(
        &c,
        "leads",
        switchyard::connector::StreamState::incremental(Some("2099-01-01T00:00:00+00:00".into())),
    )
    .await;
    assert_eq!(
        (none.records.len(), none.pages),
        (0, 1),
        "304 Not Modified is an empty page"
    );

    // Every written record's fields are what the fake now holds under the returned id.
    let holds = |module: &'static str| {
        let zoho = &zoho;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the destination id is returned");
            let held = zoho
                .record(module, id)
                .unwrap_or_else(|| panic!("{module} {id} was written"));
            for (name, value) in record.as_object().expect("an object") {
                assert_eq!(&held[name], value, "{module} {id}: {name}");
            }
        }) as super::Verify<'_>
    };
    for (operation, module, new, refused, matched, key) in [
        (
            "leads.upsert_by_email",
            "Leads",
            json!({"Last_Name": "Lovelace", "First_Name": "Ada", "Email": "ada@example.com"}),
            json!({"Last_Name": "Nobody", "Email": "not-an-email"}),
            json!({"Email": "LEAD7@example.com", "Company": "Analytical Engines"}),
            ("Email", "lead7@example.com"),
        ),
        (
            "contacts.upsert_by_email",
            "Contacts",
            json!({"Last_Name": "Hopper", "Email": "grace@example.com"}),
            json!({"First_Name": "No last name", "Email": "nolast@example.com"}),
            json!({"Email": "contact8@example.com", "Phone": "+1 555 0100"}),
            ("Email", "contact8@example.com"),
        ),
        (
            "accounts.upsert_by_name",
            "Accounts",
            json!({"Account_Name": "Initech", "Website": "https://initech.example.com"}),
            json!({"Website": "https://nameless.example.com"}),
            json!({"Account_Name": "Account 9", "Industry": "Manufacturing"}),
            ("Account_Name", "Account 9"),
        ),
        (
            "deals.upsert_by_name",
            "Deals",
            json!({"Deal_Name": "Renewal", "Stage": "Qualification", "Amount": 1200}),
            json!({"Deal_Name": "No stage"}),
            json!({"Deal_Name": "Deal 10", "Stage": "Closed Won"}),
            ("Deal_Name", "Deal 10"),
        ),
    ] {
        let before = zoho.count(module);
        let existing = zoho.find(module, key.0, key.1).expect("a seeded record");
        let results = prove_write(
            &c,
            WriteCase {
                operation,
                records: vec![new, refused, matched],
                refused: &[1],
                verify: holds(module),
            },
        )
        .await;
        assert_eq!(zoho.count(module), before + 1, "{operation}: one inserted, one updated");
        assert_eq!(
            results[2],
            switchyard::connector::WriteResult::Ok {
                destination_id: existing["id"].as_str().map(str::to_owned)
            },
            "{operation}: the duplicate check field matched the existing record"
        );
    }

    for token in zoho.issued_access_tokens() {
        switchyard_tests::log_capture::known_secret(&token);
    }
    let violations = zoho.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
