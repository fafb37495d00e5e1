//! aXcelerate (`shared/connectors/axcelerate.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::axcelerate`), which follows aXcelerate's
//! developer pages (no description is published) and records departures from them. Every
//! request must carry both the `apitoken` and the `wstoken` header (`type: api_keys`). No list
//! filters by modification time: contacts, course instances and enrolments are full-refresh
//! streams, each read in three `offset` pages of 100; contacts and instances are fetched by id.
//! Each write sends a record aXcelerate refuses (412: an invalid email; an unknown contact, a
//! contact enrolled twice), which fails alone. A wrong web service token is a re-auth error
//! that does not quote the token.

use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, WriteResult};
use switchyard_fakes::axcelerate::{self, AxcelerateConfig, API_TOKEN, INSTANCE, WS_TOKEN};

use super::{client, prove_check, prove_full_refresh_stream, prove_write, StreamCase, WriteCase};

fn id(record: &Value, key: &str) -> u64 {
    record[key].as_u64().expect("numeric ids")
}

#[tokio::test]
async fn axcelerate() {
    let fake = axcelerate::start(AxcelerateConfig {
        contacts: 250,
        instances: 250,
        enrolled: 230,
        ..AxcelerateConfig::default()
    });
    let f = &fake;
    // The connection's base URL is the account's `/api` root.
    let c = client(
        "axcelerate",
        &format!("{}/api", fake.base_url),
        &[("api_token", API_TOKEN), ("ws_token", WS_TOKEN)],
        json!({"instance_id": INSTANCE.to_string()}),
    );

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "contacts",
            expected: fake.contact_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(60)
                    .take(3)
                    .map(|r| {
                        let cid = id(r, "CONTACTID");
                        f.rename_contact(cid, &format!("Renamed{cid}")).unwrap();
                        cid.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.contact(id.parse().ok()?)),
            compare: &["/CONTACTID", "/GIVENNAME", "/SURNAME", "/EMAILADDRESS"],
            missing_id: "999999999",
        },
    )
    .await;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "course_instances",
            expected: fake.instance_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(70)
                    .take(3)
                    .map(|r| {
                        let iid = id(r, "INSTANCEID");
                        f.rename_instance(iid, &format!("Renamed workshop {iid}")).unwrap();
                        iid.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.instance(id.parse().ok()?)),
            compare: &["/INSTANCEID", "/NAME", "/CODE", "/STARTDATE", "/PARTICIPANTS"],
            missing_id: "999999999",
        },
    )
    .await;

    // Enrolments change by being added; the stream has no fetch, so its proof is written out:
    // three pages, every enrolment once, and the next read sees a new one.
    let full = super::read_all(&c, "enrolments", switchyard::connector::StreamState::full_refresh()).await;
    assert_eq!(full.pages, 3, "enrolments: pages of 100");
    assert_eq!(full.records.len(), fake.enrolment_count(INSTANCE));
    let mut ids: Vec<u64> = full.records.iter().map(|r| id(r, "LEARNERID")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), full.records.len(), "enrolments: one read twice");
    for record in [&full.records[0], &full.records[150], full.records.last().unwrap()] {
        assert_eq!(record, &fake.enrolment(id(record, "LEARNERID")).unwrap());
    }
    assert!(
        fake.enrolment_of(100_240, INSTANCE).is_none(),
        "contact 240 is not enrolled yet"
    );
    let added = fake.enrol_as_staff(100_240, INSTANCE);
    let again = super::read_all(&c, "enrolments", switchyard::connector::StreamState::full_refresh()).await;
    let read = again
        .records
        .iter()
        .find(|r| r["LEARNERID"] == added["LEARNERID"])
        .expect("the next full read has the new enrolment");
    assert_eq!(read, &added);

    prove_check(&c).await;

    let before = fake.contact_count();
    prove_write(
        &c,
        WriteCase {
            operation: "contacts.create",
            records: vec![
                json!({"givenName": "Ada", "surname": "Lovelace", "emailAddress": "ada@example.edu.au", "USI": "ADA1234567"}),
                json!({"givenName": "Bad", "surname": "Email", "emailAddress": "not-an-email"}),
                json!({"givenName": "Grace", "surname": "Hopper", "emailAddress": "grace@example.edu.au"}),
            ],
            refused: &[1],
            verify: Box::new(move |record, id| {
                let held = f
                    .contact(id.expect("the new contact's id").parse().unwrap())
                    .expect("created");
                assert_eq!(held["GIVENNAME"], record["givenName"]);
                assert_eq!(held["SURNAME"], record["surname"]);
                assert_eq!(held["EMAILADDRESS"], record["emailAddress"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.contact_count(), before + 2);

    let ada = id(&fake.find_contact("ada@example.edu.au").unwrap(), "CONTACTID");
    let results = prove_write(
        &c,
        WriteCase {
            operation: "enrolments.create",
            records: vec![
                json!({"contactID": ada, "instanceID": INSTANCE, "type": "w"}),
                json!({"contactID": 999_999_999u64, "instanceID": INSTANCE, "type": "w"}),
                json!({"contactID": ada, "instanceID": INSTANCE + 1, "type": "w"}),
                // Enrolled by the first record.
                json!({"contactID": ada, "instanceID": INSTANCE, "type": "w"}),
            ],
            refused: &[1, 3],
            verify: Box::new(move |record, id| {
                let held = f
                    .enrolment(id.expect("the LEARNERID").parse().unwrap())
                    .expect("created");
                assert_eq!(held["CONTACTID"], record["contactID"]);
                assert_eq!(held["INSTANCEID"], record["instanceID"]);
            }),
        },
    )
    .await;
    match &results[3] {
        WriteResult::Failed { reason, .. } => assert!(reason.contains("already enrolled"), "{reason}"),
        other => panic!("{other:?}"),
    }

    // A wrong web service token: re-authorise, without quoting either token.
    let wrong = client(
        "axcelerate",
        &format!("{}/api", fake.base_url),
        &[("api_token", API_TOKEN), ("ws_token", "AXWS-not-the-token-3b7")],
        json!({}),
    );
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert!(
        !err.message.contains("AXWS-not-the-token-3b7") && !err.message.contains(API_TOKEN),
        "{err}"
    );

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
