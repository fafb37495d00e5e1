//! CloudAssess (`shared/connectors/cloudassess.yaml`).
//!
//! CloudAssess publishes no API reference: the definition and the hand-written fake
//! (`switchyard_fakes::cloudassess`) share one assumed contract, stated in both. This test holds
//! the definition to it: learners and approved unit outcomes are full-refresh streams read in
//! three pages of 100 (`page`/`per_page`, `meta.total_pages`) and fetched by id; pending
//! outcomes are not read; each write sends a record the fake refuses with 422, which fails
//! alone; a wrong API key is a re-auth error that does not quote it.

use serde_json::{json, Value};
use switchyard::connector::ErrorClass;
use switchyard_fakes::cloudassess::{self, CloudAssessConfig, API_KEY, QUALIFICATION};

use super::{client, prove_check, prove_full_refresh_stream, prove_write, StreamCase, WriteCase};

fn id(record: &Value) -> u64 {
    record["id"].as_u64().expect("numeric ids")
}

#[tokio::test]
async fn cloudassess() {
    let fake = cloudassess::start(CloudAssessConfig {
        learners: 250,
        approved: 240,
        pending: 12,
        ..CloudAssessConfig::default()
    });
    let f = &fake;
    let base = format!("{}/api/v1", fake.base_url);
    let c = client("cloudassess", &base, &[("api_key", API_KEY)], json!({}));

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "learners",
            expected: fake.learner_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(60)
                    .take(3)
                    .map(|r| {
                        f.rename_learner(id(r), &format!("Renamed{}", id(r))).unwrap();
                        id(r).to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.learner(id.parse().ok()?)),
            compare: &["/id", "/first_name", "/last_name", "/email", "/external_id"],
            missing_id: "999999999",
        },
    )
    .await;

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "unit_outcomes",
            // Approved only: the pending marks are not read.
            expected: fake.outcome_count("approved"),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(70)
                    .take(3)
                    .map(|r| {
                        f.set_result(id(r), "recognition_of_prior_learning").unwrap();
                        id(r).to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.outcome(id.parse().ok()?)),
            compare: &[
                "/id",
                "/learner_external_id",
                "/enrolment_external_id",
                "/unit_code",
                "/result",
                "/status",
            ],
            missing_id: "999999999",
        },
    )
    .await;
    assert_eq!(fake.outcome_count("pending"), 12);

    prove_check(&c).await;

    let before = fake.learner_count();
    prove_write(
        &c,
        WriteCase {
            operation: "learners.create",
            records: vec![
                json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.edu.au", "external_id": "100901"}),
                json!({"first_name": "Bad", "last_name": "Email", "email": "not-an-email"}),
                json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.edu.au", "external_id": "100902"}),
                // Taken by a seeded learner.
                json!({"first_name": "Again", "last_name": "Learner", "email": "student1@example.edu.au"}),
            ],
            refused: &[1, 3],
            verify: Box::new(move |record, id| {
                let held = f.learner(id.expect("the learner's id").parse().unwrap()).expect("created");
                for field in ["first_name", "last_name", "email", "external_id"] {
                    assert_eq!(held[field], record[field]);
                }
            }),
        },
    )
    .await;
    assert_eq!(fake.learner_count(), before + 2);

    let ada = id(&fake.find_learner("ada@example.edu.au").unwrap());
    prove_write(
        &c,
        WriteCase {
            operation: "enrolments.create",
            records: vec![
                json!({"learner_id": ada, "qualification_code": QUALIFICATION, "external_id": "7901"}),
                json!({"learner_id": ada, "qualification_code": "BSB50420", "external_id": "7902"}),
                json!({"learner_id": 999_999_999u64, "qualification_code": QUALIFICATION}),
                // Enrolled by the first record.
                json!({"learner_id": ada, "qualification_code": QUALIFICATION}),
            ],
            refused: &[1, 2, 3],
            verify: Box::new(move |record, id| {
                let held = f
                    .enrolment(id.expect("the enrolment's id").parse().unwrap())
                    .expect("created");
                assert_eq!(held["learner_id"], record["learner_id"]);
                assert_eq!(held["qualification_code"], record["qualification_code"]);
                assert_eq!(held["external_id"], record["external_id"]);
            }),
        },
    )
    .await;

    let wrong = client(
        "cloudassess",
        &base,
        &[("api_key", "ca_live_not-the-key-77")],
        json!({}),
    );
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert!(!err.message.contains("ca_live_not-the-key-77"), "{err}");

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
