//! Notion (`shared/connectors/notion.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::notion`), whose traffic is checked against
//! `notion/openapi.yml` from the specs folder with the corrections in
//! `fakes/src/notion/spec_patches.yaml`. 250 pages in the database: a full read is three
//! database queries of 100 (`start_cursor` in the POST body, left out of the first); an
//! incremental read (a `last_edited_time` filter) after five pages were edited returns them and
//! those in the minute of lookback; a fetch by id finds a page (an unknown id is none). Each
//! write sends a batch with a record Notion refuses (a property the database does not have; a
//! number property given text).

use serde_json::{json, Value};
use switchyard_fakes::notion::{self, NotionConfig, DATABASE, TOKEN, VERSION};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 250;

fn title(text: &str) -> Value {
    json!({"title": [{"type": "text", "text": {"content": text}}]})
}

#[tokio::test]
async fn notion() {
    let fake = notion::start(NotionConfig {
        pages: SEEDED,
        ..NotionConfig::default()
    });
    // The definition paces three requests a second, Notion's average limit; the fake holds
    // it as at most three in any rolling second and counts what it refuses.
    let c = client(
        "notion",
        &fake.base_url,
        &[("token", TOKEN)],
        json!({"database_id": DATABASE}),
    );
    let f = &fake;
    prove_stream(
        &c,
        StreamCase {
            stream: "pages",
            expected: fake.count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(50)
                    .map(|r| {
                        let id = r["id"].as_str().expect("string ids").to_owned();
                        f.touch(&id, &format!("Changed {id}")).expect("the page exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.page_json(id)),
            compare: &[
                "/id",
                "/properties/Name/title/0/plain_text",
                "/properties/Status",
                "/last_edited_time",
            ],
            missing_id: "59833787-2cf9-4fdf-8782-000000000000",
        },
    )
    .await;
    prove_check(&c).await;

    // Every request carried the pinned Notion-Version: the fake answers 400 missing_version
    // to one without it, and no read was answered 400 (only the missing page's fetch, 404).
    let requests = fake.requests.all();
    assert!(requests.len() >= 7, "{} requests", requests.len());
    assert!(
        requests.iter().all(|r| r.status != Some(400)),
        "Notion-Version {VERSION} on every read: {requests:#?}"
    );

    let holds = Box::new(move |record: &Value, id: Option<&str>| {
        let id = id.expect("the page id is returned");
        let page = f.page_json(id).unwrap_or_else(|| panic!("page {id} was written"));
        for (name, value) in record["properties"].as_object().expect("properties") {
            let held = &page["properties"][name];
            match name.as_str() {
                "Name" => assert_eq!(
                    held["title"][0]["plain_text"], value["title"][0]["text"]["content"],
                    "{id}: Name"
                ),
                "Status" => assert_eq!(held["select"]["name"], value["select"]["name"], "{id}: Status"),
                "Email" => assert_eq!(held["email"], value["email"], "{id}: Email"),
                _ => assert_eq!(held["number"].as_f64(), value["number"].as_f64(), "{id}: {name}"),
            }
        }
    }) as super::Verify<'_>;
    let before = fake.count();
    prove_write(
        &c,
        WriteCase {
            operation: "pages.create",
            records: vec![
                json!({"properties": {"Name": title("Call Ada"), "Status": {"select": {"name": "Open"}}, "Email": {"email": "ada@example.com"}}}),
                json!({"properties": {"Name": title("Has a typo"), "Stauts": {"select": {"name": "Open"}}}}),
                json!({"properties": {"Name": title("Scored"), "Score": {"number": 4.5}, "Status": {"select": {"name": "Blocked"}}}}),
            ],
            refused: &[1],
            verify: holds,
        },
    )
    .await;
    assert_eq!(fake.count(), before + 2, "two pages created, one refused");

    let ids: Vec<String> = fake_ids(f, 3);
    let holds = Box::new(move |record: &Value, id: Option<&str>| {
        let id = id.expect("the page id is returned");
        assert_eq!(record["id"].as_str(), Some(id), "updated in place");
        let page = f.page_record(id).unwrap();
        if let Some(status) = record["properties"]["Status"]["select"]["name"].as_str() {
            assert_eq!(page.status, status);
        }
        if let Some(score) = record["properties"]["Score"]["number"].as_f64() {
            assert_eq!(page.score, Some(score));
        }
    }) as super::Verify<'_>;
    prove_write(
        &c,
        WriteCase {
            operation: "pages.update",
            records: vec![
                json!({"id": ids[0], "properties": {"Status": {"select": {"name": "Done"}}}}),
                json!({"id": ids[1], "properties": {"Score": {"number": "high"}}}),
                json!({"id": ids[2], "properties": {"Score": {"number": 9}}}),
            ],
            refused: &[1],
            verify: holds,
        },
    )
    .await;

    assert_eq!(fake.rate_limited_count(), 0, "the pacing kept Notion's limit");
    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

fn fake_ids(fake: &notion::Notion, n: usize) -> Vec<String> {
    // Tasks 2 and up: the stream proof renamed task 1.
    (2..=n + 1)
        .map(|i| fake.find(&format!("Task {i}")).expect("a seeded page").id)
        .collect()
}
