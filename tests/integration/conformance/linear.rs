//! Linear (`shared/connectors/linear.yaml`), GraphQL.
//!
//! Against the hand-written fake (`switchyard_fakes::linear`), which checks every query, its
//! variables and every answer against `linear/schema.graphql` from the specs folder (the
//! Linear SDK's schema). 250 issues, each with a comment, spread over the past hour: a full
//! read is three pages of 100 (`pageInfo.endCursor` / `hasNextPage`); an incremental read
//! filters `updatedAt: {gte: ...}`. Writes are one mutation per record; the partly refused
//! batches name a team or issue that does not exist ("Entity not found") or leave a title or
//! body blank ("Argument Validation Error").

use serde_json::{json, Value};
use switchyard_fakes::linear::{self, Kind, LinearConfig};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, Verify, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn linear() {
    let fake = linear::start(LinearConfig {
        records: SEEDED,
        ..LinearConfig::default()
    });
    let c = client("linear", fake.base_url(), &[("api_key", linear::TEST_KEY)], json!({}));

    for (stream, kind, field, compare) in [
        (
            "issues",
            Kind::Issues,
            "title",
            &[
                "/id",
                "/identifier",
                "/title",
                "/priority",
                "/updatedAt",
                "/team/key",
                "/state/name",
            ][..],
        ),
        (
            "comments",
            Kind::Comments,
            "body",
            &[
                "/id",
                "/body",
                "/updatedAt",
                "/issue/id",
                "/issue/identifier",
                "/user/id",
            ][..],
        ),
    ] {
        let fake = &fake;
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: fake.count(kind),
                change: Box::new(move |records: &[Value]| {
                    records
                        .iter()
                        .take(5)
                        .map(|r| {
                            let id = r["id"].as_str().expect("string ids").to_owned();
                            fake.update(kind, &id, json!({ field: format!("Changed {id}") }))
                                .expect("the object exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(move |id| fake.object(kind, id)),
                compare,
                missing_id: "00000000-0000-4000-8000-000000000000",
            },
        )
        .await;
    }
    prove_check(&c).await;

    let holds = |kind: Kind, check: fn(&Value, &Value)| {
        let fake = &fake;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the id is returned");
            let object = fake
                .object(kind, id)
                .unwrap_or_else(|| panic!("{kind:?} {id} was written"));
            check(record, &object);
        }) as Verify<'_>
    };

    let before = fake.count(Kind::Issues);
    prove_write(
        &c,
        WriteCase {
            operation: "issues.create",
            records: vec![
                json!({"teamId": linear::TEAM_ID, "title": "Onboard Acme", "description": "Kick-off call", "priority": 2}),
                json!({"teamId": "00000000-0000-4000-8000-00000000dead", "title": "Nowhere"}),
                json!({"teamId": linear::TEAM_ID, "title": "  "}),
            ],
            refused: &[1, 2],
            verify: holds(Kind::Issues, |record, issue| {
                assert_eq!(issue["title"], record["title"], "{issue}");
                assert_eq!(issue["description"], record["description"], "{issue}");
                assert_eq!(issue["priority"].as_f64(), record["priority"].as_f64(), "{issue}");
                assert_eq!(issue["team"]["id"], record["teamId"], "{issue}");
            }),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Issues), before + 1);

    let issue = fake.objects(Kind::Issues)[2]["id"].as_str().unwrap().to_owned();
    prove_write(
        &c,
        WriteCase {
            operation: "issues.update",
            records: vec![
                json!({"id": issue, "input": {"title": "Renamed", "priority": 1}}),
                json!({"id": "00000000-0000-4000-8000-000000000000", "input": {"title": "Ghost"}}),
                json!({"id": issue, "input": {"title": ""}}),
            ],
            refused: &[1, 2],
            verify: holds(Kind::Issues, |record, issue| {
                assert_eq!(issue["id"], record["id"], "{issue}");
                assert_eq!(issue["title"], record["input"]["title"], "{issue}");
                assert_eq!(
                    issue["priority"].as_f64(),
                    record["input"]["priority"].as_f64(),
                    "{issue}"
                );
            }),
        },
    )
    .await;

    let before = fake.count(Kind::Comments);
    prove_write(
        &c,
        WriteCase {
            operation: "comments.create",
            records: vec![
                json!({"issueId": issue, "body": "Customer confirmed the date."}),
                json!({"issueId": "00000000-0000-4000-8000-000000000000", "body": "Lost"}),
                json!({"issueId": issue, "body": ""}),
            ],
            refused: &[1, 2],
            verify: holds(Kind::Comments, |record, comment| {
                assert_eq!(comment["body"], record["body"], "{comment}");
                assert_eq!(comment["issue"]["id"], record["issueId"], "{comment}");
            }),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Comments), before + 1);

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
