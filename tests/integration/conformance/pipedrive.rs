//! Pipedrive (`shared/connectors/pipedrive.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::pipedrive`: Pipedrive's read and write
//! shapes differ, see its header), with every request and response checked against
//! `pipedrive/openapi.yml` from the specs folder: 250 persons, organizations and deals spread
//! over the past hour, so a full read is three pages of 100 (`start` / `next_start` paging).
//! The v1 lists cannot filter on an update time, so an incremental read goes through the
//! Recents feed and fetches each changed item: after five changes it returns exactly those
//! five, with their new values. Writes are one request per record; the partly refused batches
//! name a related item that does not exist (400) or update an id that does not exist (404).
//! The fake's burst limit (20 requests per 2 s, the definition's default) must never answer
//! 429, and the spec check must record no violation.

use serde_json::{json, Value};
use switchyard::connector::WriteResult;
use switchyard_fakes::pipedrive::{self, Kind, PipedriveConfig};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, Verify, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn pipedrive() {
    let fake = pipedrive::start(PipedriveConfig {
        records: SEEDED,
        ..PipedriveConfig::default()
    });
    let base_url = format!("{}/v1", fake.base_url());
    let c = client(
        "pipedrive",
        &base_url,
        &[("api_token", pipedrive::TEST_TOKEN)],
        json!({}),
    );

    for (stream, kind, field) in [
        ("persons", Kind::Persons, "name"),
        ("organizations", Kind::Organizations, "name"),
        ("deals", Kind::Deals, "title"),
    ] {
        let pointer = format!("/{field}");
        let fake = &fake;
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: fake.count(kind),
                // The oldest five change: only the Recents feed can tell.
                change: Box::new(move |records: &[Value]| {
                    records
                        .iter()
                        .take(5)
                        .map(|r| {
                            let id = r["id"].as_u64().expect("integer ids").to_string();
                            fake.update(kind, &id, json!({ field: format!("Changed {id}") }))
                                .expect("the item exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(move |id| fake.item(kind, id)),
                compare: &["/id", &pointer, "/update_time"],
                missing_id: "999999",
            },
        )
        .await;
    }
    prove_check(&c).await;

    // Writes. Every written record's fields are what the fake now holds under its id.
    let holds = |kind: Kind, check: fn(&Value, &Value)| {
        let fake = &fake;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the destination id is returned");
            let item = fake
                .item(kind, id)
                .unwrap_or_else(|| panic!("{kind:?} {id} was written"));
            check(record, &item);
        }) as Verify<'_>
    };
    fn same_name(record: &Value, item: &Value) {
        assert_eq!(item["name"], record["name"], "{item}");
    }
    fn same_title(record: &Value, item: &Value) {
        assert_eq!(item["title"], record["title"], "{item}");
    }

    let before = fake.count(Kind::Persons);
    let results = prove_write(
        &c,
        WriteCase {
            operation: "persons.create",
            records: vec![
                json!({"name": "Ada Lovelace", "email": ["ada@example.com"], "phone": ["+44 20 7946 0000"]}),
                json!({"name": "Nobody", "org_id": 999_999}),
            ],
            refused: &[1],
            verify: holds(Kind::Persons, |record, item| {
                same_name(record, item);
                assert_eq!(item["email"][0]["value"], record["email"][0], "{item}");
                assert_eq!(item["email"][0]["primary"], json!(true), "{item}");
                assert_eq!(item["phone"][0]["value"], record["phone"][0], "{item}");
            }),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Persons), before + 1, "one person created");
    let ada = match &results[0] {
        WriteResult::Ok {
            destination_id: Some(id),
        } => id.clone(),
        other => panic!("Ada was created: {other:?}"),
    };

    let org = fake.items(Kind::Organizations)[0]["id"].to_string();
    let before = fake.count(Kind::Organizations);
    prove_write(
        &c,
        WriteCase {
            operation: "organizations.create",
            records: vec![
                json!({"name": "Initech", "owner_id": 1}),
                json!({"name": "Ghost Ltd", "owner_id": 42}),
            ],
            refused: &[1],
            verify: holds(Kind::Organizations, |record, item| {
                same_name(record, item);
                assert_eq!(item["owner_id"]["value"], record["owner_id"], "{item}");
            }),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Organizations), before + 1);

    let before = fake.count(Kind::Deals);
    prove_write(
        &c,
        WriteCase {
            operation: "deals.create",
            records: vec![
                json!({"title": "Renewal", "value": "1200.5", "currency": "EUR", "person_id": ada.parse::<u64>().unwrap(), "org_id": org.parse::<u64>().unwrap()}),
                json!({"title": "Orphan", "person_id": 999_999}),
            ],
            refused: &[1],
            verify: holds(Kind::Deals, |record, item| {
                same_title(record, item);
                // Written as text (form-encoded), read back as a number; relations as objects.
                assert_eq!(item["value"], json!(1200.5), "{item}");
                assert_eq!(item["person_id"]["value"], record["person_id"], "{item}");
                assert_eq!(item["person_name"], json!("Ada Lovelace"), "{item}");
                assert_eq!(item["org_id"]["value"], record["org_id"], "{item}");
            }),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Deals), before + 1);

    let person = fake.items(Kind::Persons)[1]["id"].as_u64().unwrap();
    let deal = fake.items(Kind::Deals)[1]["id"].as_u64().unwrap();
    for (operation, kind, id, fields) in [
        (
            "persons.update",
            Kind::Persons,
            person,
            json!({"name": "Grace Hopper", "email": ["grace@example.com"]}),
        ),
        (
            "organizations.update",
            Kind::Organizations,
            org.parse().unwrap(),
            json!({"name": "Acme Inc"}),
        ),
        (
            "deals.update",
            Kind::Deals,
            deal,
            json!({"title": "Bigger one", "status": "won"}),
        ),
    ] {
        let before = fake.count(kind);
        let mut good = fields.clone();
        good["id"] = json!(id);
        let mut missing = fields;
        missing["id"] = json!(999_999);
        let results = prove_write(
            &c,
            WriteCase {
                operation,
                records: vec![good.clone(), missing],
                refused: &[1],
                verify: holds(kind, |record, item| {
                    for (key, value) in record.as_object().expect("an object") {
                        match key.as_str() {
                            "email" => assert_eq!(item["email"][0]["value"], value[0], "{item}"),
                            _ => assert_eq!(&item[key], value, "{key}: {item}"),
                        }
                    }
                }),
            },
        )
        .await;
        assert_eq!(fake.count(kind), before, "{operation} creates nothing");
        assert_eq!(
            results[0],
            WriteResult::Ok {
                destination_id: Some(id.to_string())
            },
            "{operation}"
        );
    }

    assert_eq!(
        fake.rate_limited_count(),
        0,
        "our pacing stays under Pipedrive's burst limit"
    );
    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
