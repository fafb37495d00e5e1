//! Generic REST (`shared/connectors/generic-rest.yaml`), the template to copy for your own API.
//!
//! No provider spec exists for it: the template's own comments are the contract, and the
//! paged source fake serves its records in exactly that shape (`/v1/{workspace}/items` with
//! page numbers and `total_pages`, `{"item": ...}` fetches, `items/batch` upserts by
//! `external_id` with per-item results and errors, `X-Api-Key` auth; see
//! `switchyard_fakes::paged_source`). With no spec there are no violations to record; what
//! the test proves is that the template works end to end as documented.

use serde_json::{json, Value};
use switchyard_fakes::paged_source::{self, SourceConfig};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const API_KEY: &str = "fake-generic-api-key";

#[tokio::test]
async fn generic_rest() {
    let fake = paged_source::start(SourceConfig {
        records: 250,
        api_key: Some(API_KEY.into()),
        ..SourceConfig::default()
    });
    let c = client("generic-rest", fake.base_url(), &[("api_key", API_KEY)], json!({}));
    prove_check(&c).await;
    prove_stream(
        &c,
        StreamCase {
            stream: "items",
            expected: fake.len(),
            change: Box::new(|records: &[Value]| {
                records
                    .iter()
                    .take(4)
                    .map(|r| {
                        let id = r["id"].as_str().expect("string ids");
                        fake.touch(id).expect("the record exists").id
                    })
                    .collect()
            }),
            object: Box::new(|id| fake.record(id).map(|r| r.to_json())),
            compare: &["/id", "/email", "/updated_at", "/version"],
            missing_id: "rec_999999",
        },
    )
    .await;

    let before = fake.len();
    let verify = |record: &Value, id: Option<&str>| {
        let id = id.expect("the item's id is returned");
        let stored = fake.record(id).unwrap_or_else(|| panic!("item {id} was written"));
        assert_eq!(stored.external_id.as_deref(), record["external_id"].as_str());
        assert_eq!(stored.email, record["email"].as_str().expect("an email"));
        assert_eq!(stored.first_name, record["first_name"].as_str().expect("a name"));
    };
    prove_write(
        &c,
        WriteCase {
            operation: "items.upsert",
            records: vec![
                json!({"external_id": "crm-1", "email": "ada@example.com", "first_name": "Ada"}),
                json!({"external_id": "crm-2", "email": "no email here", "first_name": "Nobody"}),
                json!({"external_id": "crm-3", "email": "grace@example.com", "first_name": "Grace"}),
            ],
            refused: &[1],
            verify: Box::new(verify),
        },
    )
    .await;
    assert_eq!(fake.len(), before + 2);
    // The same external id again updates the item it created.
    prove_write(
        &c,
        WriteCase {
            operation: "items.upsert",
            records: vec![json!({"external_id": "crm-1", "email": "ada@example.org", "first_name": "Augusta"})],
            refused: &[],
            verify: Box::new(verify),
        },
    )
    .await;
    assert_eq!(
        fake.len(),
        before + 2,
        "an upsert of a known external id creates nothing"
    );
}
