//! VETtrak (`shared/connectors/vettrak.yaml`): the VT_API SOAP 1.1 web service with a token
//! from ValidateClient (`type: session`).
//!
//! Against the hand-written fake (`switchyard_fakes::vettrak`), which parses every envelope,
//! checks the `SOAPAction` header against the operation, the namespace and the parameters, and
//! records every departure as a violation. SOAP lists come whole, so each stream is read in one
//! page: the count, the values, a change seen by the next read. The write finds or adds clients
//! (AddClientAfterCheck): a new client, a refused one (no surname), and one matching an existing
//! client, which answers that client's code. Unit results are set through UpdateResult: two
//! set, and three refused (a unit outside the enrolment, a result name that is not a result
//! type, an enrolment that does not exist), each alone. When the token expires the engine logs in again,
//! once; a wrong password is a re-auth error that quotes neither secret.

use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, StreamState};
use switchyard_fakes::vettrak::{self, VettrakConfig, CLIENT_CODE, PASSWORD, STAFF_CODE, USERNAME};

use super::{client, prove_check, prove_write, read_all, WriteCase};

fn config() -> Value {
    json!({"staff_code": STAFF_CODE, "client_code": CLIENT_CODE})
}

#[tokio::test]
async fn vettrak() {
    let fake = vettrak::start(VettrakConfig {
        clients: 120,
        enrolments: 4,
        ..VettrakConfig::default()
    });
    let f = &fake;
    let c = client(
        "vettrak",
        &fake.base_url,
        &[("username", USERNAME), ("password", PASSWORD)],
        config(),
    );

    prove_check(&c).await;

    let full = read_all(&c, "clients", StreamState::full_refresh()).await;
    assert_eq!(full.pages, 1, "SOAP lists come whole");
    assert_eq!(full.records.len(), fake.client_count());
    for record in [&full.records[0], &full.records[60], full.records.last().unwrap()] {
        let code = record["Clie_Code"].as_str().expect("text codes");
        assert_eq!(record, &fake.client(code).unwrap(), "clients: {code}");
    }
    fake.change_email("C000007", "new.address@example.edu.au").unwrap();
    let again = read_all(&c, "clients", StreamState::full_refresh()).await;
    let read = again.records.iter().find(|r| r["Clie_Code"] == "C000007").unwrap();
    assert_eq!(read["Clie_Email"], "new.address@example.edu.au");

    let full = read_all(&c, "enrolments", StreamState::full_refresh()).await;
    assert_eq!(full.records.len(), fake.enrolment_count(CLIENT_CODE));
    for record in &full.records {
        assert_eq!(record, &fake.enrolment(record["ID"].as_str().unwrap()).unwrap());
    }

    let full = read_all(&c, "unit_completions", StreamState::full_refresh()).await;
    assert_eq!(full.records.len(), fake.unit_result_count(CLIENT_CODE));
    assert_eq!(full.records.len(), 12, "three units of four enrolments");
    let id = full.records[5]["Resu_ID"].as_str().unwrap().to_owned();
    fake.record_result(&id, "20", "Competency achieved/pass").unwrap();
    let again = read_all(&c, "unit_completions", StreamState::full_refresh()).await;
    let read = again.records.iter().find(|r| r["Resu_ID"] == id.as_str()).unwrap();
    assert_eq!(read, &fake.unit_result(&id).unwrap(), "the next read sees the result");
    assert_eq!(read["Result_Code"], "20");

    // One login served every call so far.
    assert_eq!(fake.logins(), 1);

    let before = fake.client_count();
    let results = prove_write(
        &c,
        WriteCase {
            operation: "clients.create",
            records: vec![
                json!({"surname": "Lovelace", "given": "Ada", "dob": "2001-12-10T00:00:00", "email": "ada@example.edu.au"}),
                json!({"surname": "", "given": "Nameless", "dob": "2001-12-10T00:00:00", "email": "x@example.edu.au"}),
                // Student3 Learner, born 2003-01-15, is seeded: found, not added.
                json!({"surname": "Learner", "given": "Student3", "dob": "2003-01-15T00:00:00", "email": "student3@example.edu.au"}),
            ],
            refused: &[1],
            verify: Box::new(move |record, code| {
                let held = f.client(code.expect("the Clie_Code")).expect("the client exists");
                assert_eq!(held["Clie_Surname"], record["surname"]);
                assert_eq!(held["Clie_Given"], record["given"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.client_count(), before + 1, "one added, one found, one refused");
    match &results[2] {
        switchyard::connector::WriteResult::Ok { destination_id } => {
            assert_eq!(destination_id.as_deref(), Some("C000003"), "the existing client's code")
        }
        other => panic!("{other:?}"),
    }

    let results = prove_write(
        &c,
        WriteCase {
            operation: "unit_results.update",
            records: vec![
                json!({"enrolled_unit": "7001/BSBCRT411", "enrolment_id": 7001, "unit_code": "BSBCRT411",
                       "result_name": "Competency achieved/pass", "start": "2026-11-20T00:00:00",
                       "finish": "2026-11-23T00:00:00", "percentage": -1}),
                json!({"enrolled_unit": "7001/HLTAID011", "enrolment_id": 7001, "unit_code": "HLTAID011",
                       "result_name": "Competency achieved/pass", "start": "2026-11-20T00:00:00",
                       "finish": "2026-11-23T00:00:00", "percentage": -1}),
                json!({"enrolled_unit": "7002/BSBOPS404", "enrolment_id": 7002, "unit_code": "BSBOPS404",
                       "result_name": "Competency not achieved/fail", "start": "2026-11-02T00:00:00",
                       "finish": "2026-11-24T00:00:00", "percentage": 40}),
                json!({"enrolled_unit": "7002/BSBTWK401", "enrolment_id": 7002, "unit_code": "BSBTWK401",
                       "result_name": "Excellent", "start": "2026-11-20T00:00:00",
                       "finish": "2026-11-23T00:00:00", "percentage": -1}),
                json!({"enrolled_unit": "9999/BSBCRT411", "enrolment_id": 9999, "unit_code": "BSBCRT411",
                       "result_name": "Competency achieved/pass", "start": "2026-11-20T00:00:00",
                       "finish": "2026-11-23T00:00:00", "percentage": -1}),
            ],
            refused: &[1, 3, 4],
            verify: Box::new(move |record, _| {
                let held = f
                    .result_of(
                        &record["enrolment_id"].to_string(),
                        record["unit_code"].as_str().unwrap(),
                    )
                    .expect("the enrolled unit");
                assert_eq!(held["Result_Name"], record["result_name"]);
                assert_eq!(held["Result_Date"], record["finish"]);
            }),
        },
    )
    .await;
    match &results[1] {
        switchyard::connector::WriteResult::Failed { reason, .. } => {
            assert!(reason.contains("HLTAID011 is not in enrolment 7001"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.result_of("7002", "BSBOPS404").unwrap()["Result_Code"], "30");
    assert_eq!(fake.history().len(), 2, "each replaced result kept in the unit history");

    // The token expires: the next call is refused, the engine logs in once more.
    fake.expire_tokens();
    let page = c
        .read_page("enrolments", &StreamState::full_refresh())
        .await
        .unwrap_or_else(|e| panic!("a read after the token expired: {e}"));
    assert_eq!(page.records.len(), 4);
    assert_eq!(fake.logins(), 2);

    let wrong = client(
        "vettrak",
        &fake.base_url,
        &[("username", USERNAME), ("password", "vt-not-the-password-51c")],
        config(),
    );
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert!(!err.message.contains("vt-not-the-password-51c"), "{err}");

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
