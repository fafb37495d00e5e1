//! Canvas LMS (`shared/connectors/canvas.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::canvas`), which follows Instructure's API
//! pages (no OpenAPI description is in the specs folder) and records departures from them.
//! Users, courses and enrollments have no modification filter: full-refresh streams, each read
//! in three Link-header pages of 100 and fetched by id. Submissions read incrementally with
//! `submitted_since`. Each write sends a record Canvas refuses (a login in use; an unknown
//! user). The fake's throttle is on, shrunk to a 20-unit bucket leaking 100 units a second with
//! every request costing 2, and the connection's `rate_limit` describes the same bucket: the run
//! must get no `403 Rate Limit Exceeded`. At this test's request rate the leak keeps up with
//! the cost even without pacing, so this does not prove the pacing itself; the unit test
//! `a_header_bucket_waits_until_the_refilled_bucket_holds_the_dearest_cost` does.

use serde_json::{json, Value};
use switchyard_fakes::canvas::{self, CanvasConfig, COURSE, TOKEN};

use super::{client, prove_check, prove_full_refresh_stream, prove_stream, prove_write, StreamCase, WriteCase};

fn id(record: &Value) -> u64 {
    record["id"].as_u64().expect("numeric ids")
}

fn first_ids(records: &[Value], n: usize) -> Vec<u64> {
    records.iter().step_by(40).take(n).map(id).collect()
}

#[tokio::test]
async fn canvas() {
    let fake = canvas::start(CanvasConfig {
        users: 249,
        courses: 250,
        enrolled: 230,
        high_water: 20.0,
        outflow: 100.0,
        request_cost: 2.0,
        ..CanvasConfig::default()
    });
    let c = client(
        "canvas",
        &fake.base_url,
        &[("access_token", TOKEN)],
        json!({
            "account_id": "self",
            "course_id": COURSE.to_string(),
            "rate_limit": {"headers": {"remaining": "X-Rate-Limit-Remaining",
                "bucket": {"cost": "X-Request-Cost", "maximum": 20, "restore_rate": 100}}},
        }),
    );
    let f = &fake;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "users",
            expected: fake.user_count(),
            change: Box::new(move |records: &[Value]| {
                first_ids(records, 3)
                    .into_iter()
                    .map(|id| {
                        f.rename_user(id, &format!("Renamed {id}")).unwrap();
                        id.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.user(id.parse().ok()?)),
            compare: &["/id", "/name", "/login_id", "/sortable_name"],
            missing_id: "999999",
        },
    )
    .await;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "courses",
            expected: fake.course_count(),
            change: Box::new(move |records: &[Value]| {
                first_ids(records, 3)
                    .into_iter()
                    .map(|id| {
                        f.rename_course(id, &format!("Renamed course {id}")).unwrap();
                        id.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.course(id.parse().ok()?)),
            compare: &["/id", "/name", "/course_code", "/workflow_state"],
            missing_id: "999999",
        },
    )
    .await;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "enrollments",
            expected: fake.enrollment_count(COURSE),
            // Enrollments change by being added: a new student in the course.
            change: Box::new(move |_| {
                assert!(
                    f.enrollment_of(COURSE, 1249).is_none(),
                    "student 249 is not enrolled yet"
                );
                vec![id(&f.enroll_as_admin(COURSE, 1249)).to_string()]
            }),
            object: Box::new(move |id| f.enrollment(id.parse().ok()?)),
            compare: &["/id", "/user_id", "/course_id", "/type", "/enrollment_state"],
            missing_id: "999999",
        },
    )
    .await;

    prove_stream(
        &c,
        StreamCase {
            stream: "submissions",
            expected: fake.submission_count(),
            change: Box::new(move |records: &[Value]| {
                first_ids(records, 4)
                    .into_iter()
                    .map(|id| {
                        f.resubmit(id).unwrap();
                        id.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.submission(id.parse().ok()?)),
            compare: &["/id", "/user_id", "/submitted_at", "/attempt"],
            missing_id: "999999",
        },
    )
    .await;

    prove_check(&c).await;

    let before = fake.user_count();
    prove_write(
        &c,
        WriteCase {
            operation: "users.create",
            records: vec![
                json!({"user": {"name": "Ada Lovelace", "sortable_name": "Lovelace, Ada"},
                       "pseudonym": {"unique_id": "ada@example.edu.au", "sis_user_id": "STU-1"},
                       "communication_channel": {"type": "email", "address": "ada@example.edu.au"}}),
                json!({"user": {"name": "Taken Login"}, "pseudonym": {"unique_id": "student3@example.edu.au"}}),
                json!({"user": {"name": "Grace Hopper"}, "pseudonym": {"unique_id": "grace@example.edu.au"}}),
            ],
            refused: &[1],
            verify: Box::new(move |record, id| {
                let held = f
                    .user(id.expect("the new user's id").parse().unwrap())
                    .expect("created");
                assert_eq!(held["name"], record["user"]["name"]);
                assert_eq!(held["login_id"], record["pseudonym"]["unique_id"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.user_count(), before + 2);

    let ada = fake.find_user("ada@example.edu.au").unwrap();
    prove_write(
        &c,
        WriteCase {
            operation: "enrollments.create",
            records: vec![
                json!({"course_id": COURSE + 1, "user_id": ada["id"], "type": "StudentEnrollment"}),
                json!({"course_id": COURSE + 1, "user_id": 999999, "type": "StudentEnrollment"}),
                json!({"course_id": COURSE + 2, "user_id": ada["id"], "type": "StudentEnrollment"}),
            ],
            refused: &[1],
            verify: Box::new(move |record, id| {
                let held = f
                    .enrollment(id.expect("the enrollment id").parse().unwrap())
                    .expect("created");
                assert_eq!(held["course_id"], record["course_id"]);
                assert_eq!(held["user_id"], record["user_id"]);
                assert_eq!(held["enrollment_state"], "active");
            }),
        },
    )
    .await;

    assert_eq!(fake.throttled(), 0, "no request overflowed Canvas's bucket");
    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
