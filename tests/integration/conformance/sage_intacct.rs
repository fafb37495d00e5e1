//! Sage Intacct (`shared/connectors/sage-intacct.yaml`): customers through the XML Web Services
//! gateway, with a login session (getAPISession), readByQuery/readMore paging and per-function
//! results.
//!
//! Sage publishes no machine-readable API description, so the fake
//! (`switchyard_fakes::sage_intacct`) follows developer.intacct.com, named in its header: it parses
//! every request document, checks the control block, the sender credentials and the session,
//! serves the documented functions, and records every departure from the documented contract as
//! a violation, which must stay empty. 250 customers: a full read is a readByQuery and two
//! readMore pages of 100.

use serde_json::{json, Value};
use switchyard::connector::StreamState;
use switchyard_fakes::sage_intacct::{self, SageIntacctConfig};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

/// The connection's credentials and config for the fake company.
pub fn connection() -> (Vec<(&'static str, &'static str)>, Value) {
    (
        vec![
            ("sender_id", sage_intacct::SENDER_ID),
            ("sender_password", sage_intacct::SENDER_PASSWORD),
            ("user_id", sage_intacct::USER_ID),
            ("user_password", sage_intacct::USER_PASSWORD),
        ],
        // The fake has no rate limit; the definition's cautious 2 a second would only slow the
        // test (pacing is proven in the engine tests).
        json!({"company_id": sage_intacct::COMPANY_ID, "rate_limit": {"requests": 50, "window_ms": 1000}}),
    )
}

#[tokio::test]
async fn sage_intacct() {
    let fake = sage_intacct::start(SageIntacctConfig::default());
    let (credentials, config) = connection();
    let c = client("sage-intacct", fake.base_url(), &credentials, config);
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
                        let id = r["RECORDNO"].as_str().expect("text ids").to_owned();
                        fake.touch(&id, &[("NAME", &format!("Changed {id}"))])
                            .expect("the customer exists");
                        id
                    })
                    .collect();
                let created = fake.insert("New Customer", "new@example.com");
                ids.push(created["RECORDNO"].as_str().expect("text ids").to_owned());
                ids
            }),
            object: Box::new(|id| fake.customer(id)),
            compare: &[
                "/RECORDNO",
                "/CUSTOMERID",
                "/NAME",
                "/DISPLAYCONTACT.EMAIL1",
                "/WHENMODIFIED",
            ],
            missing_id: "99999999",
        },
    )
    .await;
    // One login served the check and every read: the session was kept.
    assert_eq!(fake.logins(), 1);

    let verify_created = |record: &Value, id: Option<&str>| {
        let id = id.expect("the new customer's RECORDNO comes from its function's result");
        let stored = fake.customer(id).unwrap_or_else(|| panic!("customer {id} was created"));
        assert_eq!(stored["NAME"], record["NAME"], "name of {id}");
        assert_eq!(stored["DISPLAYCONTACT.EMAIL1"], record["DISPLAYCONTACT"]["EMAIL1"]);
    };
    prove_write(
        &c,
        WriteCase {
            operation: "customers.create",
            records: vec![
                json!({"NAME": "Ada Ltd <&>", "DISPLAYCONTACT": {"PRINTAS": "Ada Ltd", "EMAIL1": "ada@example.com"}}),
                json!({"NAME": "Bad Email Inc", "DISPLAYCONTACT": {"PRINTAS": "Bad", "EMAIL1": "not-an-email"}}),
                json!({"CUSTOMERID": "C-GRACE", "NAME": "Grace Hopper", "DISPLAYCONTACT": {"PRINTAS": "Grace", "EMAIL1": "grace@example.com"}}),
                json!({"CUSTOMERID": "C-00001", "NAME": "Duplicate id", "DISPLAYCONTACT": {"PRINTAS": "Dup", "EMAIL1": "dup@example.com"}}),
            ],
            refused: &[1, 3],
            verify: Box::new(verify_created),
        },
    )
    .await;

    // Updates by CUSTOMERID, each answered on its own: a new email, an unknown customer, an
    // emptied name (refused), a new name.
    let before = fake.count();
    prove_write(
        &c,
        WriteCase {
            operation: "customers.update",
            records: vec![
                json!({"CUSTOMERID": "C-GRACE", "DISPLAYCONTACT": {"EMAIL1": "amazing.grace@example.com"}}),
                json!({"CUSTOMERID": "C-NOBODY", "NAME": "Nobody"}),
                json!({"CUSTOMERID": "C-00002", "NAME": " "}),
                json!({"CUSTOMERID": "C-00003", "NAME": "Renamed <&> Ltd"}),
            ],
            refused: &[1, 2],
            verify: Box::new(|record: &Value, id: Option<&str>| {
                let id = id.expect("the customer's RECORDNO comes from its function's result");
                let stored = fake.customer(id).unwrap_or_else(|| panic!("customer {id} exists"));
                assert_eq!(
                    stored["CUSTOMERID"], record["CUSTOMERID"],
                    "the customer named was changed"
                );
                if let Some(name) = record.get("NAME") {
                    assert_eq!(&stored["NAME"], name, "name of {id}");
                }
                if let Some(email) = record.pointer("/DISPLAYCONTACT/EMAIL1") {
                    assert_eq!(&stored["DISPLAYCONTACT.EMAIL1"], email, "email of {id}");
                }
            }),
        },
    )
    .await;
    assert_eq!(fake.count(), before, "updates create nothing");

    // The session times out: the next request is refused, the engine logs in once more and
    // sends it again.
    fake.expire_sessions();
    let page = c
        .read_page("customers", &StreamState::full_refresh())
        .await
        .unwrap_or_else(|e| panic!("a read after the session expired: {e}"));
    assert_eq!(page.records.len(), 100);
    assert_eq!(fake.logins(), 2);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
