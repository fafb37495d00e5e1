use serde_json::Value;
use switchyard_fakes::paged_source::{self, SourceConfig};

use crate::{client, parts};

async fn page(base: &str, query: &str) -> (u16, Value) {
    let (status, _, body) = parts(client().get(format!("{base}/records?{query}")).send().await.unwrap()).await;
    (status, body)
}

/// Every record id from `query` on, following `next_cursor`.
async fn read_all(base: &str, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = page(base, &format!("{query}&cursor={cursor}")).await;
        assert_eq!(status, 200);
        ids.extend(
            body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(body["has_more"], true);
                cursor = next.to_owned();
            }
            None => return ids,
        }
    }
}

#[tokio::test]
async fn pages_follow_next_cursor_through_every_record_in_updated_at_order() {
    let source = paged_source::start(SourceConfig {
        records: 250,
        ..SourceConfig::default()
    });
    let ids = read_all(&source.base_url, "limit=100").await;
    let expected: Vec<String> = (1..=250).map(|n| format!("rec_{n:06}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(source.requests.len(), 3);
    let (_, body) = page(&source.base_url, "limit=2").await;
    assert_eq!(body["records"][0]["updated_at"], "2024-01-01T00:00:01.000Z");
    assert_eq!(body["records"][0]["email"], "user000001@example.com");
}

#[tokio::test]
async fn updated_since_returns_only_records_changed_since() {
    let source = paged_source::start(SourceConfig {
        records: 50,
        ..SourceConfig::default()
    });
    let (_, last) = page(&source.base_url, "limit=1000").await;
    let high_water = last["records"][49]["updated_at"].as_str().unwrap().to_owned();
    let touched = source.touch("rec_000007").unwrap();
    assert_eq!(touched.version, 2);
    let added = source.append(2);
    let changed = read_all(&source.base_url, &format!("limit=10&updated_since={high_water}")).await;
    // The record at the high-water mark itself is included (inclusive), then the changes.
    assert_eq!(
        changed,
        vec![
            "rec_000050".to_owned(),
            "rec_000007".to_owned(),
            added[0].id.clone(),
            added[1].id.clone()
        ]
    );
    assert_eq!(source.len(), 52);
}

#[tokio::test]
async fn bad_limits_and_cursors_are_400() {
    let source = paged_source::start(SourceConfig::default());
    assert_eq!(page(&source.base_url, "limit=1001").await.0, 400);
    assert_eq!(page(&source.base_url, "limit=0").await.0, 400);
    let (status, body) = page(&source.base_url, "cursor=garbage").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_cursor");
}

#[tokio::test]
async fn a_configured_token_is_required() {
    let source = paged_source::start(SourceConfig {
        token: Some("source-token".into()),
        ..SourceConfig::default()
    });
    assert_eq!(page(&source.base_url, "").await.0, 401);
    let response = client()
        .get(source.url("/records"))
        .bearer_auth("source-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
