//! eSkilled (`shared/connectors/eskilled.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::eskilled`), which follows eSkilled's "Using
//! The SMS API (2.1)" where it goes (login, bearer token, students) and says what it assumes
//! (list paging, enrolments, unit results, payments). Students and enrolments are full-refresh
//! streams read in three pages of 100 and fetched by id. Each write sends a record eSkilled
//! refuses, which it answers HTTP 200 `{"success": false}`: that record alone fails. An expired
//! session is renewed by one new login; a wrong API token is a re-auth error that quotes no
//! credential.

use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, WriteResult};
use switchyard_fakes::eskilled::{self, EskilledConfig, FEE, LMS_TOKEN, SUB_DOMAIN, USERNAME};

use super::{client, prove_check, prove_full_refresh_stream, prove_write, StreamCase, WriteCase};

fn id(record: &Value, key: &str) -> u64 {
    record[key].as_u64().expect("numeric ids")
}

#[tokio::test]
async fn eskilled() {
    let fake = eskilled::start(EskilledConfig {
        students: 250,
        enrolled: 230,
        ..EskilledConfig::default()
    });
    let f = &fake;
    let base = format!("{}/api", fake.base_url);
    let c = client(
        "eskilled",
        &base,
        &[("username", USERNAME), ("lms_token", LMS_TOKEN)],
        json!({"sub_domain": SUB_DOMAIN}),
    );

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "students",
            expected: fake.student_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(60)
                    .take(3)
                    .map(|r| {
                        let sid = id(r, "studentID");
                        f.rename_student(sid, &format!("Renamed{sid}")).unwrap();
                        sid.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.student(id.parse().ok()?)),
            compare: &["/studentID", "/studentName", "/studentSurname", "/studentEmail"],
            missing_id: "999999999",
        },
    )
    .await;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "enrolments",
            expected: fake.enrolment_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(70)
                    .take(3)
                    .map(|r| {
                        let eid = id(r, "enrolmentID");
                        f.set_enrolment_status(eid, "Withdrawn").unwrap();
                        eid.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.enrolment(id.parse().ok()?)),
            compare: &["/enrolmentID", "/studentID", "/courseCode", "/status", "/paid"],
            missing_id: "999999999",
        },
    )
    .await;

    prove_check(&c).await;
    assert_eq!(fake.logins(), 1, "one session served every read");

    let before = fake.student_count();
    prove_write(
        &c,
        WriteCase {
            operation: "students.create",
            records: vec![
                json!({"studentName": "Ada", "studentSurname": "Lovelace", "studentEmail": "ada@example.edu.au", "studentDOB": "10-12-1995"}),
                json!({"studentName": "Bad", "studentSurname": "Email", "studentEmail": "not-an-email"}),
                json!({"studentName": "Grace", "studentSurname": "Hopper", "studentEmail": "grace@example.edu.au"}),
                // Taken by a seeded student.
                json!({"studentName": "Again", "studentSurname": "Learner", "studentEmail": "student1@example.edu.au"}),
            ],
            refused: &[1, 3],
            verify: Box::new(move |record, id| {
                let held = f
                    .student(id.expect("the newId").parse().unwrap())
                    .expect("created");
                for field in ["studentName", "studentSurname", "studentEmail"] {
                    assert_eq!(held[field], record[field]);
                }
            }),
        },
    )
    .await;
    assert_eq!(fake.student_count(), before + 2);

    // The session expires: the next request is refused once, the engine logs in again.
    fake.expire_sessions();
    let results = prove_write(
        &c,
        WriteCase {
            operation: "unit_results.create",
            records: vec![
                json!({"enrolmentID": 7001, "unitCode": "HLTAID011", "outcomeCode": "20", "dateAchieved": "05-12-2026"}),
                json!({"enrolmentID": 7001, "unitCode": "BSBWHS211", "outcomeCode": "20", "dateAchieved": "05-12-2026"}),
                json!({"enrolmentID": 7002, "unitCode": "HLTAID009", "outcomeCode": "30", "dateAchieved": "05-12-2026"}),
                json!({"enrolmentID": 999_999, "unitCode": "HLTAID009", "outcomeCode": "20", "dateAchieved": "05-12-2026"}),
            ],
            refused: &[1, 3],
            verify: Box::new(move |record, id| {
                let held = f.result(id.expect("the newId").parse().unwrap()).expect("recorded");
                assert_eq!(held["enrolmentID"], record["enrolmentID"]);
                assert_eq!(held["unitCode"], record["unitCode"]);
                assert_eq!(held["outcomeCode"], record["outcomeCode"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.logins(), 2, "one new login after the session expired");
    match &results[1] {
        WriteResult::Failed { reason, .. } => assert!(reason.contains("not part of"), "{reason}"),
        other => panic!("{other:?}"),
    }

    prove_write(
        &c,
        WriteCase {
            operation: "payments.create",
            records: vec![
                json!({"enrolmentID": 7003, "amount": FEE, "paymentDate": "05-12-2026", "reference": "INV-0001"}),
                // More than is owed.
                json!({"enrolmentID": 7004, "amount": FEE + 1.0, "paymentDate": "05-12-2026", "reference": "INV-0002"}),
                json!({"enrolmentID": 7005, "amount": 100.0, "paymentDate": "05-12-2026", "reference": "INV-0003"}),
            ],
            refused: &[1],
            verify: Box::new(move |record, id| {
                let held = f.payment(id.expect("the newId").parse().unwrap()).expect("recorded");
                assert_eq!(held["enrolmentID"], record["enrolmentID"]);
                assert_eq!(held["reference"], record["reference"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.enrolment(7003).unwrap()["paid"], true, "paid in full");
    assert_eq!(fake.enrolment(7005).unwrap()["paid"], false, "part paid");
    assert_eq!(
        fake.enrolment(7004).unwrap()["amountPaid"],
        0.0,
        "refused payment not recorded"
    );

    // A wrong API token: the login is refused, a re-auth error quoting no credential.
    let wrong = client(
        "eskilled",
        &base,
        &[("username", USERNAME), ("lms_token", "esk-lms-not-the-token-41")],
        json!({"sub_domain": SUB_DOMAIN}),
    );
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert!(
        !err.message.contains("esk-lms-not-the-token-41") && !err.message.contains(LMS_TOKEN),
        "{err}"
    );

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
