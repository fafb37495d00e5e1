//! Salesforce (`shared/connectors/salesforce.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::salesforce`), which follows Salesforce's
//! REST API Developer Guide (no description is published; the fake's header names the pages and
//! what it assumes) and records every request that departs from those shapes as a violation.
//! The connection's `base_url` points nowhere useful: every request reaches the fake only
//! because the fake login server, found through the connection's `login_url`, answers the token
//! grant with the fake org as `instance_url`.
//!
//! 450 records per sObject modified over the past hour: a full read is three SOQL batches of
//! 200 (`nextRecordsUrl`), an incremental read (`SystemModstamp >= ...`) after five records
//! changed returns them and those in the 60 s lookback window, a fetch finds a record (an
//! unknown id answers 404, read as none). Each write sends one sObject Collections request
//! with one record Salesforce refuses. Then: the JWT bearer grant, a 401 `INVALID_SESSION_ID`
//! answered by a new token, and the daily API budget (`Sforce-Limit-Info`,
//! `REQUEST_LIMIT_EXCEEDED`).

use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, ErrorKind, StreamState, WriteResult};
use switchyard_fakes::salesforce::{
    self, SalesforceConfig, SalesforceOrg, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, USERNAME,
};

use switchyard_tests::keys::rsa_key_pair;

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 450;

/// The connection config: the fake login server, and a budget the fake has no reason to pace.
fn config(org: &SalesforceOrg) -> Value {
    json!({"login_url": org.login.base_url, "rate_limit": {"requests": 1000, "window_ms": 1000,
        "headers": {"usage": {"name": "Sforce-Limit-Info", "pattern": "api-usage=(?P<used>\\d+)/(?P<limit>\\d+)"}}}})
}

fn refresh_credentials() -> [(&'static str, &'static str); 3] {
    [
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", REFRESH_TOKEN),
    ]
}

#[tokio::test]
async fn salesforce() {
    // The JWT bearer grant's key pair, made now (never committed): the connector signs with the
    // private key, the fake login server verifies with the public one.
    let (jwt_key, jwt_public_key) = rsa_key_pair();
    let org = salesforce::start(SalesforceConfig {
        records: SEEDED,
        jwt_public_key: Some(jwt_public_key),
        ..SalesforceConfig::default()
    });
    let c = client(
        "salesforce",
        "https://login.salesforce.com",
        &refresh_credentials(),
        config(&org),
    );

    for (stream, object, field) in [
        ("contacts", "Contact", "Phone"),
        ("accounts", "Account", "Website"),
        ("opportunities", "Opportunity", "StageName"),
    ] {
        let pointer = format!("/{field}");
        let org = &org;
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: org.count(object),
                change: Box::new(move |records: &[Value]| {
                    records
                        .iter()
                        .take(5)
                        .map(|r| {
                            let id = r["Id"].as_str().expect("string ids").to_owned();
                            org.update(object, &id, &json!({ field: format!("Changed {id}") }))
                                .expect("the record exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(move |id| org.record(object, id)),
                compare: &["/Id", &pointer, "/SystemModstamp"],
                missing_id: "003Dn0000099999AAA",
            },
        )
        .await;
    }
    prove_check(&c).await;

    // Every written record's fields are what the fake now holds under the returned id.
    let holds = |object: &'static str| {
        let org = &org;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the destination id is returned");
            let held = org
                .record(object, id)
                .unwrap_or_else(|| panic!("{object} {id} was written"));
            for (name, value) in record.as_object().expect("an object") {
                assert_eq!(&held[name], value, "{object} {id}: {name}");
            }
        }) as super::Verify<'_>
    };
    let contact = org.find("Contact", "Email__c", "contact7@example.com").expect("seeded");
    let contact_id = contact["Id"].as_str().unwrap().to_owned();
    for (operation, object, records, created) in [
        (
            "contacts.create",
            "Contact",
            vec![
                json!({"LastName": "Lovelace", "FirstName": "Ada", "Email": "ada@example.com"}),
                json!({"FirstName": "No last name"}),
                json!({"LastName": "Hopper", "Email": "grace@example.com"}),
            ],
            2,
        ),
        (
            "contacts.update",
            "Contact",
            vec![
                json!({"Id": contact_id, "Phone": "+1 555 0100"}),
                json!({"Id": "003Dn0000099999AAA", "Phone": "+1 555 0101"}),
                json!({"Id": contact_id, "Email": "not-an-email"}),
            ],
            0,
        ),
        (
            "contacts.upsert_by_email",
            "Contact",
            vec![
                json!({"Email__c": "new@example.com", "LastName": "Newcomer"}),
                json!({"Email__c": "nolast@example.com", "FirstName": "Nameless"}),
                json!({"Email__c": "CONTACT8@example.com", "Phone": "+1 555 0108"}),
            ],
            1,
        ),
        (
            "accounts.create",
            "Account",
            vec![
                json!({"Name": "Initech", "Website": "https://initech.example.com"}),
                json!({"Website": "https://nameless.example.com"}),
                json!({"Name": "Globex", "Unknown__c": "x"}),
            ],
            1,
        ),
        (
            "accounts.upsert_by_external_id",
            "Account",
            vec![
                json!({"External_Id__c": "ext-new", "Name": "Umbrella"}),
                json!({"External_Id__c": "ext-nameless", "Website": "https://x.example.com"}),
                json!({"External_Id__c": "ext-9", "Industry": "Manufacturing"}),
            ],
            1,
        ),
        (
            "opportunities.create",
            "Opportunity",
            vec![
                json!({"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "Amount": 1200}),
                json!({"Name": "No stage", "CloseDate": "2026-12-31"}),
                json!({"Name": "Upsell", "StageName": "Qualification", "CloseDate": "2027-01-31"}),
            ],
            2,
        ),
    ] {
        // Two refusals where the batch also holds an invalid value or an unknown field.
        let refused: &[usize] = if matches!(operation, "contacts.update" | "accounts.create") {
            &[1, 2]
        } else {
            &[1]
        };
        let before = org.count(object);
        let results = prove_write(
            &c,
            WriteCase {
                operation,
                records,
                refused,
                verify: holds(object),
            },
        )
        .await;
        assert_eq!(org.count(object), before + created, "{operation}: records inserted");
        if operation == "contacts.upsert_by_email" {
            let existing = org.find("Contact", "Email__c", "contact8@example.com").expect("seeded");
            assert_eq!(
                results[2],
                WriteResult::Ok {
                    destination_id: existing["Id"].as_str().map(str::to_owned)
                },
                "{operation}: the external id matched the existing record"
            );
        }
        if let WriteResult::Failed { reason, .. } = &results[1] {
            assert!(
                !reason.contains(CLIENT_SECRET) && !reason.is_empty(),
                "{operation}: {reason}"
            );
        }
    }
    // The refused record's reason is Salesforce's message for it.
    let results = c
        .write_batch("contacts.create", &[json!({"FirstName": "Cher"})])
        .await
        .expect("a batch");
    assert!(
        matches!(&results[0], WriteResult::Failed { reason, .. } if reason.contains("Required fields are missing: [LastName]")),
        "{results:?}"
    );

    // A session that ended: 401 INVALID_SESSION_ID, a new token, the request again.
    let grants_before = org.grants().len();
    org.expire_sessions();
    prove_check(&c).await;
    assert_eq!(org.grants().len(), grants_before + 1, "one new grant after the 401");

    // The daily API budget, at the definition's own pacing: when Sforce-Limit-Info says the
    // org's requests are spent the connection pauses and its next request is deferred (rate
    // limited, unsent) rather than failed; a request refused anyway (403
    // REQUEST_LIMIT_EXCEEDED) is a rate limit too.
    let plain = json!({"login_url": org.login.base_url});
    org.set_api_used(14_999);
    let budget = client(
        "salesforce",
        "https://login.salesforce.com",
        &refresh_credentials(),
        plain.clone(),
    );
    prove_check(&budget).await; // the 15,000th request of the day: `api-usage=15000/15000`
    let deferred = budget.check().await.expect_err("the daily budget is spent");
    assert!(
        matches!(deferred.class, ErrorClass::RateLimited { retry_after: Some(d) } if d.as_secs() >= 3000),
        "deferred until the budget is back: {deferred:?}"
    );
    assert_eq!(
        deferred.kind,
        ErrorKind::QuotaSpent,
        "a day's budget is a quota: {deferred:?}"
    );
    assert_eq!(org.api_used(), 15_000, "nothing was sent past the budget");
    let refused = client(
        "salesforce",
        "https://login.salesforce.com",
        &refresh_credentials(),
        plain,
    )
    .read_page("contacts", &StreamState::full_refresh())
    .await
    .expect_err("the org's requests are spent");
    assert!(
        matches!(refused.class, ErrorClass::RateLimited { .. }) && refused.kind == ErrorKind::QuotaSpent,
        "REQUEST_LIMIT_EXCEEDED is a spent quota: {refused:?}"
    );
    org.set_api_used(0);

    // The JWT bearer flow: a signed assertion instead of a refresh token, no secret sent.
    let jwt = client(
        "salesforce",
        "https://login.salesforce.com",
        &[
            ("client_id", CLIENT_ID),
            ("private_key", jwt_key.as_str()),
            ("username", USERNAME),
        ],
        config(&org),
    );
    prove_check(&jwt).await;
    let page = jwt
        .read_page("accounts", &StreamState::full_refresh())
        .await
        .expect("a page through the JWT grant's token");
    assert_eq!(page.records.len(), 200);
    assert_eq!(
        org.grants().last().map(String::as_str),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    // A key the connected app does not know is refused: re-authorise, nothing retried.
    let stranger = client(
        "salesforce",
        "https://login.salesforce.com",
        &[
            ("client_id", CLIENT_ID),
            ("private_key", jwt_key.as_str()),
            ("username", "someone@else.example.com"),
        ],
        config(&org),
    );
    let err = stranger.check().await.expect_err("an unapproved user is refused");
    assert_eq!(err.class, ErrorClass::ReAuth, "{err:?}");

    for token in org.issued_access_tokens() {
        switchyard_tests::log_capture::known_secret(&token);
    }
    let violations = org.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
