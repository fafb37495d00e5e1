//! D2L Brightspace (`shared/connectors/d2l-brightspace.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::d2l`), which follows D2L's Valence
//! reference pages (no OpenAPI description is in the specs folder) and records departures from
//! them, among them a route version the site does not serve. Tokens come from the fake's token
//! service (the connection's `auth_url`), whose refresh tokens are single use. No list filters
//! by modification time: users (a `PagedResultSet` followed by its bookmark) are a full-refresh
//! stream fetched by id; an org unit's enrolled users (bookmarks too) and its final grades (an
//! `ObjectListPage` followed by its `Next` URL) have no fetch by the same shape, so their proof
//! is written out: three pages, every record once and equal to the fake's, and a change seen by
//! the next read. Each write sends a record D2L refuses (a user name in use; an unknown user).

use serde_json::{json, Value};
use switchyard::connector::{ConnectorClient, StreamState};
use switchyard_fakes::d2l::{self, D2lConfig, CLIENT_ID, CLIENT_SECRET, LEARNER_ROLE, ORG_UNIT, REFRESH_TOKEN};

use super::{client, prove_check, prove_full_refresh_stream, prove_write, read_all, StreamCase, WriteCase};

fn user_id(record: &Value) -> u64 {
    record["User"]["Identifier"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("string identifiers of numbers")
}

/// Three pages, every record once, three of them equal to the fake's.
async fn prove_listed(c: &ConnectorClient, stream: &str, expected: usize, object: impl Fn(u64) -> Option<Value>) {
    let full = read_all(c, stream, StreamState::full_refresh()).await;
    assert_eq!(full.pages, 3, "{stream}: pages of 100");
    assert_eq!(full.records.len(), expected, "{stream}: record count");
    let mut ids: Vec<u64> = full.records.iter().map(user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), expected, "{stream}: a record read twice");
    for record in [&full.records[0], &full.records[150], full.records.last().unwrap()] {
        assert_eq!(Some(record), object(user_id(record)).as_ref(), "{stream}");
    }
}

#[tokio::test]
async fn d2l_brightspace() {
    let fake = d2l::start(D2lConfig {
        users: 260,
        enrolled: 230,
        ..D2lConfig::default()
    });
    let f = &fake;
    let c = client(
        "d2l-brightspace",
        &fake.base_url,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
        json!({"org_unit_id": ORG_UNIT.to_string(), "auth_url": fake.base_url}),
    );

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "users",
            expected: fake.user_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(70)
                    .take(3)
                    .map(|r| {
                        let id = r["UserId"].as_u64().expect("numeric UserId");
                        f.rename_user(id, &format!("Renamed{id}")).unwrap();
                        id.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.user(id.parse().ok()?)),
            compare: &[
                "/UserId",
                "/FirstName",
                "/LastName",
                "/UserName",
                "/ExternalEmail",
                "/OrgDefinedId",
            ],
            missing_id: "999999",
        },
    )
    .await;

    prove_listed(&c, "enrollments", fake.enrolled_count(ORG_UNIT), |u| {
        f.enrolled_user(ORG_UNIT, u)
    })
    .await;
    f.enroll_as_admin(ORG_UNIT, 355, LEARNER_ROLE);
    let again = read_all(&c, "enrollments", StreamState::full_refresh()).await;
    let read = again
        .records
        .iter()
        .find(|r| user_id(r) == 355)
        .expect("the new enrolment is read");
    assert_eq!(Some(read), f.enrolled_user(ORG_UNIT, 355).as_ref());

    prove_listed(&c, "grades", fake.graded_count(ORG_UNIT), |u| {
        f.final_grade(ORG_UNIT, u)
    })
    .await;
    f.grade(ORG_UNIT, 117, 98.0);
    let again = read_all(&c, "grades", StreamState::full_refresh()).await;
    let read = again.records.iter().find(|r| user_id(r) == 117).unwrap();
    assert_eq!(
        read["GradeValue"]["PointsNumerator"], 98.0,
        "the next read sees the new grade"
    );

    prove_check(&c).await;

    let before = fake.user_count();
    let block = |first: &str, username: &str| {
        json!({"OrgDefinedId": format!("STU-{username}"), "FirstName": first, "MiddleName": null,
            "LastName": "Learner", "ExternalEmail": format!("{username}@example.edu.au"),
            "UserName": username, "RoleId": LEARNER_ROLE, "IsActive": true, "SendCreationEmail": false})
    };
    prove_write(
        &c,
        WriteCase {
            operation: "users.create",
            records: vec![
                block("Ada", "ada.lovelace"),
                block("Taken", "student3"),
                block("Grace", "grace.hopper"),
            ],
            refused: &[1],
            verify: Box::new(move |record, id| {
                let held = f.user(id.expect("the new UserId").parse().unwrap()).expect("created");
                for key in ["FirstName", "LastName", "UserName", "ExternalEmail", "OrgDefinedId"] {
                    assert_eq!(held[key], record[key], "{key}");
                }
            }),
        },
    )
    .await;
    assert_eq!(fake.user_count(), before + 2);

    let ada = fake.find_user("ada.lovelace").unwrap()["UserId"].as_u64().unwrap();
    prove_write(
        &c,
        WriteCase {
            operation: "enrollments.create",
            records: vec![
                json!({"OrgUnitId": ORG_UNIT, "UserId": ada, "RoleId": LEARNER_ROLE}),
                json!({"OrgUnitId": ORG_UNIT, "UserId": 999_999, "RoleId": LEARNER_ROLE}),
                json!({"OrgUnitId": ORG_UNIT + 1, "UserId": ada, "RoleId": LEARNER_ROLE}),
            ],
            refused: &[1],
            verify: Box::new(move |record, _| {
                let ou = record["OrgUnitId"].as_u64().unwrap();
                assert_eq!(f.role_in(ou, ada), Some(LEARNER_ROLE), "enrolled in {ou}");
            }),
        },
    )
    .await;

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
