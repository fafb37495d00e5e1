//! Moodle (`shared/connectors/moodle.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::moodle`), which checks every call against
//! the documented descriptions of the web service functions it serves (Moodle publishes no
//! OpenAPI description). Moodle's user and course lists are not paged and take no time filter,
//! so `users` and `courses` are full-refresh streams read in one page each (their proof: the
//! count, the values, a change seen by the next full read, a fetch by id and a missing id);
//! `enrolments` (the enrolled users of one course) is paged 100 at a time with `limitfrom`, so
//! its full read is three pages. `grades` (the course's grade report, neither paged nor
//! filtered by time) reads graded activity items only, one record per student and item, and sees
//! a grade changed or added since. Each write sends a batch Moodle refuses in part: it refuses a
//! call as a whole (HTTP 200 with an `exception` body), so the engine splits the batch until the
//! refused record fails alone.

use serde_json::{json, Value};
use switchyard::connector::{ConnectorClient, ErrorClass, StreamState};
use switchyard_fakes::moodle::{self, MoodleConfig, COURSE, STUDENT_ROLE, TOKEN, UNITS};

use super::{client, prove_check, prove_write, read_all, WriteCase};

const USERS: usize = 250;
const COURSES: usize = 12;

fn id(record: &Value) -> u64 {
    record["id"].as_u64().expect("numeric ids")
}

#[tokio::test]
async fn moodle() {
    let fake = moodle::start(MoodleConfig {
        users: USERS,
        courses: COURSES,
        enrolled: 230,
        ..MoodleConfig::default()
    });
    let f = &fake;
    let c = client(
        "moodle",
        &fake.base_url,
        &[("token", TOKEN)],
        json!({"course": COURSE.to_string()}),
    );

    // users: one page, every user with an email (the guest has none).
    let full = read_all(&c, "users", StreamState::full_refresh()).await;
    assert_eq!(full.pages, 1, "Moodle does not page users");
    assert_eq!(full.records.len(), fake.users_with_email(), "users: full read count");
    assert_eq!(full.records.len(), USERS + 1, "the seeded users and the admin");
    for record in [&full.records[0], &full.records[120], full.records.last().unwrap()] {
        assert_eq!(record, &fake.user(id(record)).unwrap(), "users: full read");
    }
    let changed = id(&full.records[17]);
    fake.rename_user(changed, "Renamed").unwrap();
    let again = read_all(&c, "users", StreamState::full_refresh()).await;
    let read = again.records.iter().find(|r| id(r) == changed).unwrap();
    assert_eq!(
        read["firstname"], "Renamed",
        "users: the next full read sees the change"
    );
    let fetched = c.fetch_record("users", &changed.to_string()).await.unwrap().unwrap();
    assert_eq!(fetched, fake.user(changed).unwrap(), "users: fetch by id");
    assert!(c.fetch_record("users", "999999").await.unwrap().is_none());

    // courses: one page, the front page left out.
    let full = read_all(&c, "courses", StreamState::full_refresh()).await;
    assert_eq!(full.pages, 1);
    assert_eq!(
        full.records.len(),
        COURSES,
        "courses: the front page is not a course to sync"
    );
    assert_eq!(fake.course_count(), COURSES + 1);
    let changed = id(&full.records[3]);
    fake.rename_course(changed, "BSB50420 Diploma of Leadership").unwrap();
    let again = read_all(&c, "courses", StreamState::full_refresh()).await;
    let read = again.records.iter().find(|r| id(r) == changed).unwrap();
    assert_eq!(
        read,
        &fake.course(changed).unwrap(),
        "courses: the next full read sees the change"
    );
    let fetched = c.fetch_record("courses", &changed.to_string()).await.unwrap().unwrap();
    assert_eq!(fetched, fake.course(changed).unwrap(), "courses: fetch by id");
    assert!(c.fetch_record("courses", "999999").await.unwrap().is_none());

    // enrolments: 230 enrolled users, 100 a page.
    let full = read_all(&c, "enrolments", StreamState::full_refresh()).await;
    assert_eq!(full.pages, 3, "enrolments: pages of 100");
    assert_eq!(full.records.len(), fake.enrolled_count(COURSE));
    let mut ids: Vec<u64> = full.records.iter().map(id).collect();
    ids.dedup();
    assert_eq!(ids.len(), full.records.len(), "enrolments: a user read twice");
    for record in [&full.records[0], &full.records[150], full.records.last().unwrap()] {
        assert_eq!(
            record,
            &fake.enrolled_user(COURSE, id(record)).unwrap(),
            "enrolments: full read"
        );
    }

    // grades: only graded activity items; the ungraded ones and the course total are left out.
    fake.grade(COURSE, 101, UNITS[0], true).unwrap();
    fake.grade(COURSE, 102, UNITS[1], false).unwrap();
    fake.set_idnumber(101, "7001").unwrap();
    let full = read_all(&c, "grades", StreamState::full_refresh()).await;
    assert_eq!(full.pages, 1, "the grade report is not paged");
    assert_eq!(full.records.len(), 2, "{:#?}", full.records);
    let first = &full.records[0];
    assert_eq!(first["id"], "101:50");
    assert_eq!(
        (&first["userid"], &first["useridnumber"], &first["courseid"]),
        (&json!(101), &json!("7001"), &json!(COURSE))
    );
    assert_eq!(
        (
            &first["idnumber"],
            &first["itemmodule"],
            &first["gradeformatted"],
            &first["graderaw"]
        ),
        (&json!(UNITS[0]), &json!("assign"), &json!("Competent"), &json!(2.0))
    );
    assert!(first["gradedategraded"].as_i64().unwrap() > first["gradedatesubmitted"].as_i64().unwrap());
    assert_eq!(full.records[1]["gradeformatted"], "Not yet competent");
    fake.grade(COURSE, 102, UNITS[1], true).unwrap();
    fake.grade(COURSE, 103, UNITS[2], true).unwrap();
    let again = read_all(&c, "grades", StreamState::full_refresh()).await;
    assert_eq!(again.records.len(), 3);
    let regraded = again.records.iter().find(|r| r["id"] == "102:51").unwrap();
    assert_eq!(
        regraded["gradeformatted"], "Competent",
        "the next read sees the new grade"
    );

    prove_check(&c).await;

    // users.create: the second record's username is taken; the fourth has no valid email.
    let before = fake.user_count();
    let results = prove_write(
        &c,
        WriteCase {
            operation: "users.create",
            records: vec![
                json!({"username": "ada.lovelace", "firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.edu.au", "createpassword": true, "idnumber": "STU-1"}),
                json!({"username": "student3", "firstname": "Again", "lastname": "Taken", "email": "again@example.edu.au", "createpassword": true}),
                json!({"username": "grace.hopper", "firstname": "Grace", "lastname": "Hopper", "email": "grace@example.edu.au", "password": "Str0ng!pass"}),
                json!({"username": "no.email", "firstname": "No", "lastname": "Email", "email": "not-an-email", "createpassword": true}),
            ],
            refused: &[1, 3],
            verify: Box::new(move |record, id| {
                let id: u64 = id.expect("the new user's id").parse().unwrap();
                let held = f.user(id).expect("the user was created");
                for field in ["username", "firstname", "lastname", "email"] {
                    assert_eq!(held[field], record[field], "{field}");
                }
            }),
        },
    )
    .await;
    assert_eq!(fake.user_count(), before + 2, "two users created, two refused");
    let ada: u64 = match &results[0] {
        switchyard::connector::WriteResult::Ok { destination_id } => {
            destination_id.as_deref().unwrap().parse().unwrap()
        }
        other => panic!("{other:?}"),
    };

    // enrolments.create: the second record names a course that does not exist.
    let other_course = COURSE + 1;
    prove_write(
        &c,
        WriteCase {
            operation: "enrolments.create",
            records: vec![
                json!({"roleid": STUDENT_ROLE, "userid": ada, "courseid": COURSE}),
                json!({"roleid": STUDENT_ROLE, "userid": ada, "courseid": 424242}),
                json!({"roleid": STUDENT_ROLE, "userid": ada, "courseid": other_course, "timestart": 1767225600}),
            ],
            refused: &[1],
            verify: Box::new(move |record, _| {
                let course = record["courseid"].as_u64().unwrap();
                assert_eq!(f.role_in(course, ada), Some(STUDENT_ROLE), "enrolled in {course}");
            }),
        },
    )
    .await;

    refused_token(&fake.base_url).await;

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A wrong token: Moodle answers HTTP 200 `invalidtoken`, which means re-authorise.
async fn refused_token(base_url: &str) {
    let c: ConnectorClient = client("moodle", base_url, &[("token", "not-the-token-7f3a9c")], json!({}));
    let err = c.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert!(
        !err.message.contains("not-the-token-7f3a9c"),
        "the token stays out of errors: {err}"
    );
}
