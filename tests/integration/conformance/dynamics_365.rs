//! Microsoft Dynamics 365 (`shared/connectors/dynamics-365.yaml`): contacts and accounts through
//! the Dataverse Web API, with a client-credentials token from Microsoft Entra ID whose scope is
//! the connection's environment URL followed by `/.default`.
//!
//! Microsoft publishes no description of the Web API in the specs folder, so the fake
//! (`switchyard_fakes::dynamics`) follows the Dataverse developer guide, named in its header,
//! and records every departure from it (a wrong scope, a missing OData version header, an
//! unknown column, filter or key) as a violation, which must stay empty. 250 contacts and 230
//! accounts: a full read is three pages (`Prefer: odata.maxpagesize=100`, `@odata.nextLink`).
//! Each write has a record Dataverse refuses (a value longer than its column).

use serde_json::{json, Value};
use switchyard::connector::ConnectorClient;
use switchyard_fakes::dynamics::{self, Dynamics, DynamicsConfig, API_PATH, CLIENT_ID, CLIENT_SECRET, TENANT_ID};
use switchyard_fakes::FakeHandle;

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

/// A client for the fake environment (the fake is the environment and the sign-in host).
pub fn connect(fake: &FakeHandle<Dynamics>) -> ConnectorClient {
    client(
        "dynamics-365",
        &format!("{}{API_PATH}", fake.base_url()),
        &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        json!({
            "environment_url": fake.base_url(),
            "tenant_id": TENANT_ID,
            "login_url": fake.base_url(),
            // The definition paces 6,000 requests over 5 minutes; the fake has no such limit.
            "rate_limit": {"requests": 1000, "window_ms": 1000},
        }),
    )
}

fn changer<'a>(fake: &'a FakeHandle<Dynamics>, set: &'a str, id: &'a str, column: &'a str) -> super::Change<'a> {
    Box::new(move |full: &[Value]| {
        let mut ids: Vec<String> = full
            .iter()
            .take(3)
            .map(|r| {
                let row_id = r[id].as_str().expect("string ids").to_owned();
                fake.touch(set, &row_id, json!({ column: format!("Changed {row_id}") }))
                    .expect("the row exists");
                row_id
            })
            .collect();
        let created = fake
            .insert(set, json!({ column: "Created in the app" }))
            .expect("a known table");
        ids.push(created[id].as_str().expect("string ids").to_owned());
        ids
    })
}

#[tokio::test]
async fn dynamics_365() {
    let fake = dynamics::start(DynamicsConfig::default());
    let c = connect(&fake);
    prove_check(&c).await;
    assert_eq!(fake.issued_tokens(), 1, "one token serves every request");

    prove_stream(
        &c,
        StreamCase {
            stream: "contacts",
            expected: fake.count("contacts"),
            change: changer(&fake, "contacts", "contactid", "lastname"),
            object: Box::new(|id| fake.row("contacts", id)),
            compare: &["/contactid", "/lastname", "/emailaddress1", "/modifiedon"],
            missing_id: "00000000-0000-4000-8000-0000000fffff",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "accounts",
            expected: fake.count("accounts"),
            change: changer(&fake, "accounts", "accountid", "name"),
            object: Box::new(|id| fake.row("accounts", id)),
            compare: &["/accountid", "/name", "/accountnumber", "/modifiedon"],
            missing_id: "00000000-0000-4000-8000-0000000fffff",
        },
    )
    .await;

    let too_long = "x".repeat(51);
    prove_write(
        &c,
        WriteCase {
            operation: "contacts.create",
            records: vec![
                json!({"firstname": "Ada", "lastname": "Lovelace", "emailaddress1": "ada@example.com"}),
                json!({"firstname": "Too", "lastname": too_long, "emailaddress1": "long@example.com"}),
                json!({"lastname": "Hopper", "emailaddress1": "grace@example.com"}),
            ],
            refused: &[1],
            verify: Box::new(|record, id| {
                let id = id.expect("the created row's id comes back (return=representation)");
                let row = fake
                    .row("contacts", id)
                    .unwrap_or_else(|| panic!("contact {id} exists"));
                assert_eq!(row["emailaddress1"], record["emailaddress1"]);
                assert_eq!(row["lastname"], record["lastname"]);
            }),
        },
    )
    .await;
    assert!(fake.find("contacts", "emailaddress1", "long@example.com").is_none());

    let existing = fake
        .find("contacts", "emailaddress1", "contact7@example.com")
        .expect("seeded");
    let before = fake.count("contacts");
    prove_write(
        &c,
        WriteCase {
            operation: "contacts.upsert_by_email",
            records: vec![
                json!({"emailaddress1": "contact7@example.com", "lastname": "Updated by key"}),
                json!({"emailaddress1": "new.one@example.com", "firstname": "New", "lastname": "One"}),
                json!({"emailaddress1": "contact8@example.com", "jobtitle": "y".repeat(101)}),
            ],
            refused: &[2],
            verify: Box::new(|record, id| {
                let id = id.expect("the row's id");
                let row = fake.row("contacts", id).expect("the row exists");
                assert_eq!(row["emailaddress1"], record["emailaddress1"]);
                assert_eq!(row["lastname"], record["lastname"]);
            }),
        },
    )
    .await;
    assert_eq!(
        fake.count("contacts"),
        before + 1,
        "one row created, one updated in place"
    );
    assert_eq!(
        fake.find("contacts", "emailaddress1", "contact7@example.com")
            .expect("kept")["contactid"],
        existing["contactid"],
        "the upsert on the alternate key updated the existing row"
    );

    let before = fake.count("accounts");
    prove_write(
        &c,
        WriteCase {
            operation: "accounts.upsert_by_number",
            records: vec![
                json!({"accountnumber": "ACC-00002", "name": "Renamed Account"}),
                json!({"accountnumber": "ACC-99999", "name": "z".repeat(161)}),
                json!({"accountnumber": "ACC-NEW01", "name": "Brand New", "address1_city": "Redmond"}),
            ],
            refused: &[1],
            verify: Box::new(|record, id| {
                let row = fake.row("accounts", id.expect("the row's id")).expect("the row exists");
                assert_eq!(row["accountnumber"], record["accountnumber"]);
                assert_eq!(row["name"], record["name"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.count("accounts"), before + 1);
    assert!(fake.find("accounts", "accountnumber", "ACC-99999").is_none());
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
