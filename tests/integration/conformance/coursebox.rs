//! Coursebox (`shared/connectors/coursebox.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::coursebox`), which follows Coursebox's
//! "API Guide for Enterprise Clients" where it goes (the login and its token, `X-Access-Token`,
//! createAccount, a user by id, updateMainAttributes) and says what it assumes (LoopBack 3
//! lists with `filter`, courses, enrolments). Users, courses and enrolments are full-refresh
//! streams read in three pages of 100 and fetched by id; each write sends a record the fake
//! refuses (422, or 404 for an unknown user), which fails alone; an expired session is renewed
//! by one new login; a wrong password is a re-auth error that does not quote it.

use serde_json::{json, Value};
use switchyard::connector::ErrorClass;
use switchyard_fakes::coursebox::{self, CourseboxConfig, ADMIN_EMAIL, ADMIN_PASSWORD};

use super::{client, prove_check, prove_full_refresh_stream, prove_write, StreamCase, WriteCase};

fn id(record: &Value) -> u64 {
    record["id"].as_u64().expect("numeric ids")
}

#[tokio::test]
async fn coursebox() {
    let fake = coursebox::start(CourseboxConfig {
        users: 250,
        courses: 230,
        enrolled: 240,
        ..CourseboxConfig::default()
    });
    let f = &fake;
    let c = client(
        "coursebox",
        &fake.base_url,
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        json!({}),
    );

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "users",
            expected: fake.user_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(60)
                    .take(3)
                    .map(|r| {
                        f.rename_user(id(r), &format!("Renamed{}", id(r))).unwrap();
                        id(r).to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.user(id.parse().ok()?)),
            compare: &["/id", "/firstName", "/lastName", "/fullName", "/email"],
            missing_id: "999999999",
        },
    )
    .await;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "courses",
            expected: fake.course_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(70)
                    .take(3)
                    .map(|r| {
                        f.retitle_course(id(r), &format!("Retitled {}", id(r))).unwrap();
                        id(r).to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.course(id.parse().ok()?)),
            compare: &["/id", "/title", "/code"],
            missing_id: "999999999",
        },
    )
    .await;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "enrollments",
            expected: fake.enrollment_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(80)
                    .take(3)
                    .map(|r| {
                        f.set_progress(id(r), 100, Some(87)).unwrap();
                        id(r).to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.enrollment(id.parse().ok()?)),
            compare: &["/id", "/userId", "/courseId", "/progress", "/completed", "/score"],
            missing_id: "999999999",
        },
    )
    .await;

    prove_check(&c).await;
    assert_eq!(fake.logins(), 1, "one session served every read");

    let before = fake.user_count();
    prove_write(
        &c,
        WriteCase {
            operation: "users.create",
            records: vec![
                json!({"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.edu.au", "password": "first-login-7c1f"}),
                json!({"firstName": "Bad", "lastName": "Email", "email": "not-an-email", "password": "first-login-7c1f"}),
                json!({"firstName": "Grace", "lastName": "Hopper", "email": "grace@example.edu.au", "password": "first-login-2b9e"}),
                // Taken by a seeded user.
                json!({"firstName": "Again", "lastName": "Learner", "email": "student1@example.edu.au", "password": "first-login-0000"}),
            ],
            refused: &[1, 3],
            verify: Box::new(move |record, id| {
                let held = f.user(id.expect("the new user's id").parse().unwrap()).expect("created");
                for field in ["firstName", "lastName", "email"] {
                    assert_eq!(held[field], record[field]);
                }
                assert_eq!(held["_password"], record["password"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.user_count(), before + 2);

    // The session expires: one new login, then the update goes through.
    fake.expire_sessions();
    let ada = id(&fake.find_user("ada@example.edu.au").unwrap());
    prove_write(
        &c,
        WriteCase {
            operation: "users.update",
            records: vec![
                json!({"id": ada, "lastName": "King", "contactNumber": "0400 000 001"}),
                json!({"id": 999_999_999u64, "lastName": "Nobody"}),
                json!({"id": ada, "email": "not-an-email"}),
            ],
            refused: &[1, 2],
            verify: Box::new(move |record, _| {
                let held = f.user(record["id"].as_u64().unwrap()).unwrap();
                assert_eq!(held["lastName"], record["lastName"]);
                assert_eq!(held["contactNumber"], record["contactNumber"]);
                assert_eq!(held["fullName"], "Ada King");
            }),
        },
    )
    .await;
    assert_eq!(fake.logins(), 2, "one new login after the session expired");

    let courses = fake.course_ids();
    prove_write(
        &c,
        WriteCase {
            operation: "enrollments.create",
            records: vec![
                json!({"userId": ada, "courseId": courses[0]}),
                json!({"userId": ada, "courseId": 999_999_999u64}),
                json!({"userId": ada, "courseId": courses[1]}),
                // Enrolled by the first record.
                json!({"userId": ada, "courseId": courses[0]}),
            ],
            refused: &[1, 3],
            verify: Box::new(move |record, id| {
                let held = f
                    .enrollment(id.expect("the enrolment's id").parse().unwrap())
                    .expect("created");
                assert_eq!(held["userId"], record["userId"]);
                assert_eq!(held["courseId"], record["courseId"]);
                assert_eq!(held["progress"], 0);
            }),
        },
    )
    .await;

    let wrong = client(
        "coursebox",
        &fake.base_url,
        &[("email", ADMIN_EMAIL), ("password", "not-the-password-55")],
        json!({}),
    );
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert!(!err.message.contains("not-the-password-55"), "{err}");

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
