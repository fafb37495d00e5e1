//! ReadyTech JR Plus (`shared/connectors/jr-plus.yaml`): REST with XML bodies and basic auth
//! whose password is the API key.
//!
//! Against the hand-written fake (`switchyard_fakes::jr_plus`), which follows JR Plus's
//! published overview and names what it assumes of the resource pages, and records departures
//! (a body that is not one XML record, an unknown element or parameter). Parties are a
//! full-refresh stream read in three `offset` pages of 100 and fetched by party identifier;
//! enrolments (no fetch) are proven by hand: three pages, every record once, and a new one seen
//! by the next read. Each write sends a record JR Plus refuses with 422 (no surname; an unknown
//! course), which fails alone. A wrong API key is a re-auth error that does not quote it.

use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, StreamState};
use switchyard_fakes::jr_plus::{self, JrPlusConfig, API_KEY, COURSES};

use super::{client, prove_check, prove_full_refresh_stream, prove_write, read_all, StreamCase, WriteCase};

#[tokio::test]
async fn jr_plus() {
    let fake = jr_plus::start(JrPlusConfig {
        parties: 250,
        enrolments: 230,
        ..JrPlusConfig::default()
    });
    let f = &fake;
    let c = client(
        "jr-plus",
        &fake.base_url,
        &[("username", "switchyard"), ("api_key", API_KEY)],
        json!({}),
    );

    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "parties",
            expected: fake.party_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(80)
                    .take(3)
                    .map(|r| {
                        let id = r["party-identifier"].as_str().expect("text ids").to_owned();
                        f.rename_party(&id, &format!("Renamed-{id}")).unwrap();
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.party(id)),
            compare: &["/party-identifier", "/first-name", "/surname", "/email", "/birth-date"],
            missing_id: "P99999",
        },
    )
    .await;

    let full = read_all(&c, "enrolments", StreamState::full_refresh()).await;
    assert_eq!(full.pages, 3, "enrolments: pages of 100");
    assert_eq!(full.records.len(), fake.enrolment_count());
    let mut ids: Vec<&str> = full
        .records
        .iter()
        .map(|r| r["enrolment-identifier"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), full.records.len(), "enrolments: one read twice");
    for record in [&full.records[0], &full.records[150], full.records.last().unwrap()] {
        let id = record["enrolment-identifier"].as_str().unwrap();
        assert_eq!(record, &fake.enrolment(id).unwrap());
    }
    let added = fake.enrol_as_staff("P00240", COURSES[1]);
    let again = read_all(&c, "enrolments", StreamState::full_refresh()).await;
    assert!(again.records.contains(&added), "the next read has the new enrolment");

    prove_check(&c).await;

    let before = fake.party_count();
    prove_write(
        &c,
        WriteCase {
            operation: "parties.create",
            records: vec![
                json!({"party-type": "Person", "first-name": "Ada", "surname": "Lovelace & Byron", "email": "ada@example.edu.au", "birth-date": "2001-12-10"}),
                json!({"party-type": "Person", "first-name": "No", "surname": "", "email": "no.surname@example.edu.au"}),
                json!({"party-type": "Person", "first-name": "Grace", "surname": "Hopper", "email": "grace@example.edu.au"}),
            ],
            refused: &[1],
            verify: Box::new(move |record, id| {
                let held = f.party(id.expect("the party identifier")).expect("created");
                for key in ["first-name", "surname", "email"] {
                    assert_eq!(held[key], record[key], "{key}");
                }
            }),
        },
    )
    .await;
    assert_eq!(fake.party_count(), before + 2);

    let ada = fake.find_party("ada@example.edu.au").unwrap()["party-identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let enrolled = fake.enrolment_count();
    prove_write(
        &c,
        WriteCase {
            operation: "enrolments.create",
            records: vec![
                json!({"party-identifier": ada, "course-number": COURSES[0], "enrolment-status": "Enrolled", "start-date": "2027-02-01"}),
                json!({"party-identifier": ada, "course-number": "NOPE-0000", "enrolment-status": "Enrolled", "start-date": "2027-02-01"}),
                json!({"party-identifier": ada, "course-number": COURSES[2], "enrolment-status": "Enrolled", "start-date": "2027-03-01"}),
            ],
            refused: &[1],
            verify: Box::new(move |record, id| {
                let held = f.enrolment(id.expect("the enrolment identifier")).expect("created");
                assert_eq!(held["party-identifier"], record["party-identifier"]);
                assert_eq!(held["course-number"], record["course-number"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.enrolment_count(), enrolled + 2);

    let wrong = client(
        "jr-plus",
        &fake.base_url,
        &[("username", "switchyard"), ("api_key", "jrp-not-the-key-0d1")],
        json!({}),
    );
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert!(!err.message.contains("jrp-not-the-key-0d1"), "{err}");

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
