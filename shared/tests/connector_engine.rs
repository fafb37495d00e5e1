//! The connector engine against local HTTP fakes (wiremock, loopback only): every auth kind,
//! every pagination style end to end, batch writes with per-record failures, error classes,
//! Retry-After and the pacer. The embedded Stripe, HubSpot, Slack and webhook definitions are
//! exercised with their base URL pointed at the fake.
//!
//! Property tests over definition parsing, templates and pagination stepping are in `props`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::{json, Value};
use switchyard::connector::registry::parse_definition;
use switchyard::connector::{
    ClientSettings, ConnectorClient, ConnectorDefinition, Credentials, ErrorClass, ErrorKind, EventRecord, PageToken,
    Registry, StreamState, TokenUpdate, WriteResult,
};
use wiremock::matchers::{body_string_contains, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// Helpers

fn def(yaml: &str) -> Arc<ConnectorDefinition> {
    Arc::new(parse_definition("test", yaml).unwrap_or_else(|e| panic!("{e}")))
}

fn embedded(id: &str) -> Arc<ConnectorDefinition> {
    Registry::embedded().unwrap().get_shared(id).unwrap()
}

fn settings(server: &MockServer) -> ClientSettings {
    ClientSettings {
        base_url: Some(server.uri()),
        allow_private_network: true,
        request_timeout: Duration::from_secs(5),
        ..ClientSettings::default()
    }
}

fn client(def: Arc<ConnectorDefinition>, settings: ClientSettings, creds: Credentials) -> ConnectorClient {
    ConnectorClient::new(def, settings, creds, reqwest::Client::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads a stream to its end; returns the records, the run's max cursor and the pages read.
async fn read_all(client: &ConnectorClient, stream: &str, start: StreamState) -> (Vec<Value>, Option<String>, u32) {
    let mut state = start;
    let mut records = Vec::new();
    let mut pages = 0;
    loop {
        let page = client.read_page(stream, &state).await.unwrap_or_else(|e| panic!("{e}"));
        pages += 1;
        records.extend(page.records);
        match page.next {
            Some(next) => {
                // The state survives a checkpoint round trip (DynamoDB, SQS continuation).
                let text = serde_json::to_string(&next).unwrap();
                state = serde_json::from_str(&text).unwrap();
            }
            None => return (records, page.max_cursor, pages),
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const ITEMS: &str = r#"
id: test
name: Test
streams:
  items:
    request: {path: /items}
    records: /items
check:
  request: {path: /me}
"#;

async fn items_server(matcher_header: Option<(&'static str, &'static str)>) -> MockServer {
    let server = MockServer::start().await;
    let mut mock = Mock::given(method("GET")).and(path("/items"));
    if let Some((k, v)) = matcher_header {
        mock = mock.and(header(k, v));
    }
    mock.respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}]})))
        .expect(1)
        .mount(&server)
        .await;
    server
}

// ---------------------------------------------------------------------------------------------
// Auth

#[tokio::test]
async fn api_key_in_a_header_is_sent_with_its_prefix() {
    let server = items_server(Some(("x-api-key", "Key k-123"))).await;
    let d = def(&format!(
        "{ITEMS}auth: {{type: api_key, in: header, name: X-Api-Key, prefix: 'Key '}}\n"
    ));
    let c = client(d, settings(&server), Credentials::new().with("api_key", "k-123"));
    let page = c.read_page("items", &StreamState::default()).await.unwrap();
    assert_eq!(page.records, vec![json!({"id": 1})]);
}

#[tokio::test]
async fn api_key_in_the_query_is_sent_but_never_stored_in_next_page_urls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("key", "secret-key"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": 1}],
            // The API echoes the key into its next link.
            "next": "/items?page=2&key=secret-key"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("page", "2"))
        .and(query_param("key", "secret-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 2}], "next": null})))
        .mount(&server)
        .await;
    let d = def(r#"
id: test
name: Test
auth: {type: api_key, in: query, name: key}
streams:
  items:
    request: {path: /items}
    records: /items
    pagination: {type: next_url, pointer: /next}
"#);
    let c = client(d, settings(&server), Credentials::new().with("api_key", "secret-key"));
    let first = c.read_page("items", &StreamState::default()).await.unwrap();
    let next = first.next.unwrap();
    let stored = serde_json::to_string(&next).unwrap();
    assert!(!stored.contains("secret-key"), "{stored}");
    assert!(matches!(&next.page, Some(PageToken::Url(u)) if u.ends_with("/items?page=2")));
    let second = c.read_page("items", &next).await.unwrap();
    assert_eq!(second.records, vec![json!({"id": 2})]);
    assert!(second.next.is_none());
}

#[tokio::test]
async fn bearer_token_is_sent() {
    let server = items_server(Some(("authorization", "Bearer pat-1"))).await;
    let d = def(&format!("{ITEMS}auth: {{type: bearer}}\n"));
    let c = client(d, settings(&server), Credentials::new().with("access_token", "pat-1"));
    c.read_page("items", &StreamState::default()).await.unwrap();
}

#[tokio::test]
async fn basic_auth_sends_a_key_as_user_with_an_empty_password() {
    // base64("sk_test_1:")
    let server = items_server(Some(("authorization", "Basic c2tfdGVzdF8xOg=="))).await;
    let d = def(&format!("{ITEMS}auth: {{type: basic, username: api_key}}\n"));
    let c = client(d, settings(&server), Credentials::new().with("api_key", "sk_test_1"));
    c.read_page("items", &StreamState::default()).await.unwrap();
}

fn oauth_def(server: &MockServer, extra: &str) -> Arc<ConnectorDefinition> {
    def(&format!(
        "{ITEMS}auth:\n  - {{type: oauth2, token_url: '{}/oauth/token', refresh_ahead_secs: 300{extra}}}\n  - {{type: bearer}}\n",
        server.uri()
    ))
}

fn oauth_creds(access: &str, expires_at: i64) -> Credentials {
    Credentials::new()
        .with("client_id", "cid")
        .with("client_secret", "csecret")
        .with("refresh_token", "r1")
        .with("access_token", access)
        .with("expires_at", expires_at.to_string())
}

#[tokio::test]
async fn oauth2_refreshes_ahead_of_expiry_then_reuses_the_fresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=r1"))
        .and(body_string_contains("client_id=cid"))
        .and(body_string_contains("client_secret=csecret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "fresh", "expires_in": 1800, "token_type": "bearer"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(header("authorization", "Bearer fresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(2)
        .mount(&server)
        .await;
    let updates = Arc::new(Mutex::new(Vec::<TokenUpdate>::new()));
    let seen = updates.clone();
    // The stored token expires in 60 s, inside the 300 s refresh window.
    let creds = oauth_creds("stale", now_unix() + 60).on_token_refresh(move |u| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(u);
            Ok(())
        }
    });
    let c = client(oauth_def(&server, ""), settings(&server), creds);
    c.read_page("items", &StreamState::default()).await.unwrap();
    c.read_page("items", &StreamState::default()).await.unwrap();
    let updates = updates.lock().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].access_token.expose_secret(), "fresh");
    assert!(updates[0].refresh_token.is_none(), "the refresh token did not rotate");
    assert!((updates[0].expires_at - now_unix() - 1800).abs() <= 5);
}

#[tokio::test]
async fn oauth2_uses_a_stored_token_that_is_far_from_expiry() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer stored"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(
        oauth_def(&server, ""),
        settings(&server),
        oauth_creds("stored", now_unix() + 3600),
    );
    c.read_page("items", &StreamState::default()).await.unwrap();
}

#[tokio::test]
async fn a_rotated_refresh_token_goes_to_the_callback_and_is_used_next() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .and(body_string_contains("refresh_token=r1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            // expires_in 0: the next request must refresh again, with the rotated token.
            "access_token": "a1", "refresh_token": "r2", "expires_in": 0
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/oauth/token"))
        .and(body_string_contains("refresh_token=r2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "a2", "refresh_token": "r2", "expires_in": 3600
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    let stored = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let seen = stored.clone();
    let creds = oauth_creds("none", 0).on_token_refresh(move |u| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(u.refresh_token.map(|t| t.expose_secret().to_owned()));
            Ok(())
        }
    });
    let c = client(oauth_def(&server, ""), settings(&server), creds);
    c.read_page("items", &StreamState::default()).await.unwrap();
    c.read_page("items", &StreamState::default()).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let items: Vec<_> = requests.iter().filter(|r| r.url.path() == "/items").collect();
    assert_eq!(items[0].headers["authorization"], "Bearer a1");
    assert_eq!(items[1].headers["authorization"], "Bearer a2");
    // Rotated once (r1 -> r2); the second response repeated r2, which is not a rotation.
    assert_eq!(*stored.lock().unwrap(), vec![Some("r2".to_owned()), None]);
}

#[tokio::test]
async fn invalid_grant_needs_reauth_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "refresh token r1 revoked"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(oauth_def(&server, ""), settings(&server), oauth_creds("old", 0));
    for _ in 0..3 {
        let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NeedsReauth);
        assert_eq!(err.class, ErrorClass::ReAuth);
        assert!(!err.is_retriable());
        assert!(err.message.contains("invalid_grant"), "{err}");
        for secret in ["r1", "csecret", "cid", "old"] {
            assert!(!err.message.contains(secret), "{err} leaks {secret}");
        }
    }
}

#[tokio::test]
async fn client_credentials_grant_sends_scopes_with_basic_client_auth() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .and(header("authorization", "Basic Y2lkOmNzZWNyZXQ="))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("scope=read+write"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "cc", "expires_in": "3600"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer cc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let d = oauth_def(
        &server,
        ", grant: client_credentials, client_auth: basic, scopes: [read, write]",
    );
    let creds = Credentials::new()
        .with("client_id", "cid")
        .with("client_secret", "csecret");
    let c = client(d, settings(&server), creds);
    c.read_page("items", &StreamState::default()).await.unwrap();
}

#[tokio::test]
async fn a_401_with_oauth_refreshes_once_and_retries() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "new", "expires_in": 3600})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer revoked"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}]})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(
        oauth_def(&server, ""),
        settings(&server),
        oauth_creds("revoked", now_unix() + 3600),
    );
    let page = c.read_page("items", &StreamState::default()).await.unwrap();
    assert_eq!(page.records.len(), 1);
}

#[tokio::test]
async fn a_failing_token_store_is_reported_and_retried_before_the_token_is_used() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "a1", "refresh_token": "r2", "expires_in": 3600
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let creds = oauth_creds("none", 0).on_token_refresh(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err("Secrets Manager unavailable".into())
            } else {
                Ok(())
            }
        }
    });
    let c = client(oauth_def(&server, ""), settings(&server), creds);
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::TokenStore);
    assert!(err.is_retriable());
    // The next call stores the pending tokens first (no second refresh), then proceeds.
    c.read_page("items", &StreamState::default()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn credentials_never_appear_in_errors_or_debug_output() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "boom"}})))
        .mount(&server)
        .await;
    let d = def(&format!("{ITEMS}auth: {{type: api_key, in: query, name: key}}\n"));
    let s = ClientSettings {
        max_inline_retries: 0,
        ..settings(&server)
    };
    let c = client(d, s, Credentials::new().with("api_key", "topsecret-key"));
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert_eq!(err.status, Some(500));
    let shown = format!("{err} {err:?} {c:?}");
    assert!(!shown.contains("topsecret"), "{shown}");
    assert!(err.message.starts_with("GET /items: HTTP 500"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Pagination, end to end

#[tokio::test]
async fn stripe_customers_page_after_the_last_id_and_incremental_runs_read_the_events_api() {
    let server = MockServer::start().await;
    let customer = |n: u32| json!({"id": format!("cus_{n}"), "object": "customer", "created": 1_700_000_000 + n});
    // A full read: newest first, like Stripe, paged after the last id.
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("created[gte]"))
        .and(query_param_is_missing("starting_after"))
        .and(header("authorization", "Bearer sk_test_123"))
        .and(header("stripe-version", "2024-06-20"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "url": "/v1/customers", "has_more": true,
            "data": [customer(5), customer(4)]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(query_param("starting_after", "cus_4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "url": "/v1/customers", "has_more": false,
            "data": [customer(3)]
        })))
        .expect(1)
        .mount(&server)
        .await;
    // Incremental: the Events API from the checkpoint less the 300 s lookback; each customer an
    // event names (once, whatever its events) is fetched as it is now; other objects are skipped.
    let event = |id: &str, created: u32, object: Value| json!({"id": id, "object": "event", "type": "x.updated", "created": created, "data": {"object": object}});
    Mock::given(method("GET"))
        .and(path("/v1/events"))
        .and(query_param("created[gte]", "1699999700"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "url": "/v1/events", "has_more": false,
            "data": [
                event("evt_3", 1_700_000_300, customer(1)),
                event("evt_2", 1_700_000_200, json!({"id": "in_1", "object": "invoice"})),
                event("evt_1", 1_700_000_100, customer(1)),
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cus_1", "object": "customer", "created": 1_600_000_000, "name": "Now"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(
        embedded("stripe"),
        settings(&server),
        Credentials::new().with("api_key", "sk_test_123"),
    );
    let (records, _, pages) = read_all(&c, "customers", StreamState::full_refresh()).await;
    assert_eq!((pages, records.len()), (2, 3));
    assert_eq!(c.record_id("customers", &records[0]).as_deref(), Some("cus_5"));
    // The checkpoint is 1700000000; the 300 s lookback asks from 1699999700.
    let (records, max_cursor, _) = read_all(&c, "customers", StreamState::incremental(Some("1700000000".into()))).await;
    assert_eq!(
        records,
        [json!({"id": "cus_1", "object": "customer", "created": 1_600_000_000, "name": "Now"})]
    );
    assert_eq!(max_cursor.as_deref(), Some("1700000300"), "the newest event's time");
}

#[tokio::test]
async fn hubspot_lists_follow_paging_next_after_and_incremental_runs_use_search() {
    let server = MockServer::start().await;
    let contact = |id: u32, updated: &str| {
        json!({"id": id.to_string(), "properties": {"email": format!("c{id}@x.io")},
               "createdAt": "2024-01-01T00:00:00Z", "updatedAt": updated, "archived": false})
    };
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [contact(1, "2024-02-01T00:00:00Z")],
            "paging": {"next": {"after": "2", "link": "https://api.hubapi.com/..."}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .and(query_param("after", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [contact(2, "2024-03-01T00:00:00.500Z")]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let search_bodies = Arc::new(Mutex::new(Vec::<Value>::new()));
    let bodies = search_bodies.clone();
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(move |req: &Request| {
            let body: Value = req.body_json().unwrap();
            bodies.lock().unwrap().push(body.clone());
            if body.get("after").is_none() {
                ResponseTemplate::new(200).set_body_json(json!({
                    "total": 2, "results": [contact(3, "2024-03-02T00:00:00Z")],
                    "paging": {"next": {"after": "1"}}
                }))
            } else {
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": 2, "results": [contact(4, "2024-03-03T00:00:00Z")]}))
            }
        })
        .expect(2)
        .mount(&server)
        .await;
    let c = client(
        embedded("hubspot"),
        settings(&server),
        Credentials::new().with("access_token", "pat"),
    );
    let (records, max_cursor, _) = read_all(&c, "contacts", StreamState::full_refresh()).await;
    assert_eq!(records.len(), 2);
    assert_eq!(max_cursor.as_deref(), Some("2024-03-01T00:00:00.500Z"));

    let (records, max_cursor, _) = read_all(&c, "contacts", StreamState::incremental(max_cursor)).await;
    assert_eq!(records.len(), 2);
    assert_eq!(max_cursor.as_deref(), Some("2024-03-03T00:00:00Z"));
    let bodies = search_bodies.lock().unwrap();
    // 2024-03-01T00:00:00.500Z minus the 60 s lookback, in milliseconds, as a string (the
    // search API's filter values are strings).
    assert_eq!(
        bodies[0]["filterGroups"][0]["filters"][0]["value"],
        json!("1709251140500")
    );
    assert_eq!(bodies[0]["limit"], json!(100));
    assert_eq!(bodies[1]["after"], json!("1"));
}

fn style_def(pagination: &str, query: &str) -> Arc<ConnectorDefinition> {
    def(&format!(
        r#"
id: test
name: Test
streams:
  items:
    request: {{path: /items, query: {query}}}
    records: /items
    pagination: {pagination}
"#
    ))
}

/// Serves `total` items `size` at a time, reading the position with `position(req)`.
fn paged(
    total: usize,
    size: usize,
    position: fn(&Request) -> usize,
    extra: fn(usize, usize) -> Value,
) -> impl Fn(&Request) -> ResponseTemplate {
    move |req: &Request| {
        let start = position(req);
        let items: Vec<Value> = (start..(start + size).min(total)).map(|i| json!({"id": i})).collect();
        let mut body = json!({"items": items});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra(start, total)) {
            b.extend(e);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn next_url_pagination_reads_every_page() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(paged(
            25,
            10,
            |r| query(r, "from").map_or(0, |v| v.parse().unwrap()),
            |start, total| {
                let next = start + 10;
                // Relative next URLs, resolved against the request URL.
                json!({"next": if next < total { Value::String(format!("/items?from={next}")) } else { Value::Null }})
            },
        ))
        .expect(3)
        .mount(&server)
        .await;
    let c = client(
        style_def("{type: next_url, pointer: /next}", "{}"),
        settings(&server),
        Credentials::new(),
    );
    let (records, _, pages) = read_all(&c, "items", StreamState::default()).await;
    assert_eq!((records.len(), pages), (25, 3));
}

#[tokio::test]
async fn link_header_pagination_reads_every_page() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(path("/items"))
        .respond_with(move |req: &Request| {
            let page: usize = query(req, "page").map_or(1, |v| v.parse().unwrap());
            let items: Vec<Value> = (0..2).map(|i| json!({"id": page * 10 + i})).collect();
            let mut t = ResponseTemplate::new(200).set_body_json(json!({"items": items}));
            let mut links = vec![format!(r#"<{uri}/items?page=1>; rel="first""#)];
            if page < 3 {
                links.push(format!(r#"<{uri}/items?page={}>; rel="next""#, page + 1));
            }
            t = t.insert_header("link", links.join(", "));
            t
        })
        .expect(3)
        .mount(&server)
        .await;
    let c = client(
        style_def("{type: link_header}", "{}"),
        settings(&server),
        Credentials::new(),
    );
    let (records, _, pages) = read_all(&c, "items", StreamState::default()).await;
    assert_eq!((records.len(), pages), (6, 3));
}

#[tokio::test]
async fn offset_pagination_stops_on_a_short_page() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(paged(
            23,
            10,
            |r| query(r, "offset").unwrap().parse().unwrap(),
            |_, _| json!({}),
        ))
        .expect(3)
        .mount(&server)
        .await;
    let c = client(
        style_def(
            "{type: offset, page_size: 10}",
            "{offset: '{{ page.offset }}', limit: '{{ page.size }}'}",
        ),
        settings(&server),
        Credentials::new(),
    );
    let (records, _, pages) = read_all(&c, "items", StreamState::default()).await;
    assert_eq!((records.len(), pages), (23, 3));
    let ids: Vec<_> = records.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (0..23).collect::<Vec<u64>>());
}

#[tokio::test]
async fn page_number_pagination_stops_at_total_pages() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(paged(
            30,
            10,
            |r| (query(r, "page").unwrap().parse::<usize>().unwrap() - 1) * 10,
            |_, _| json!({"total_pages": 3}),
        ))
        .expect(3)
        .mount(&server)
        .await;
    let c = client(
        style_def(
            "{type: page_number, page_size: 10, total_pages: /total_pages}",
            "{page: '{{ page.number }}', per_page: '{{ page.size }}'}",
        ),
        settings(&server),
        Credentials::new(),
    );
    let (records, _, pages) = read_all(&c, "items", StreamState::default()).await;
    assert_eq!((records.len(), pages), (30, 3));
}

#[tokio::test]
async fn cursor_in_body_pagination_reads_every_page() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(paged(
            15,
            5,
            |r| query(r, "cursor").map_or(0, |v| v.trim_start_matches('c').parse().unwrap()),
            |start, total| json!({"meta": {"next": if start + 5 < total { json!(format!("c{}", start + 5)) } else { Value::Null }}}),
        ))
        .expect(3)
        .mount(&server)
        .await;
    let c = client(
        style_def("{type: cursor, token: /meta/next}", "{cursor: '{{ page.token }}'}"),
        settings(&server),
        Credentials::new(),
    );
    let (records, _, pages) = read_all(&c, "items", StreamState::default()).await;
    assert_eq!((records.len(), pages), (15, 3));
}

#[tokio::test]
async fn a_next_page_request_carries_the_token_to_another_endpoint() {
    // Dropbox-style RPC listing: POST /list {"path"} starts, POST /list/continue {"cursor"}
    // goes on; `has_more` says whether another page follows.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/list"))
        .and(body_string_contains("\"path\":\"/docs\""))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"entries": [{"id": 1}, {"id": 2}], "cursor": "c1", "has_more": true})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/list/continue"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let (entries, more) = match body["cursor"].as_str() {
                Some("c1") => (json!([{"id": 3}, {"id": 4}]), true),
                Some("c2") => (json!([{"id": 5}]), false),
                _ => return ResponseTemplate::new(409).set_body_json(json!({"error_summary": "reset/"})),
            };
            let next = if more { "c2" } else { "c3" };
            ResponseTemplate::new(200).set_body_json(json!({"entries": entries, "cursor": next, "has_more": more}))
        })
        .expect(2)
        .mount(&server)
        .await;
    let c = client(
        def(r#"
id: test
name: Test
streams:
  items:
    request: {method: POST, path: /list, body: {path: /docs, limit: "{{ page.size }}"}}
    next_request: {method: POST, path: /list/continue, body: {cursor: "{{ page.token }}"}}
    records: /entries
    pagination: {type: cursor, token: /cursor, has_more: /has_more, page_size: 2}
"#),
        settings(&server),
        Credentials::new(),
    );
    let (records, _, pages) = read_all(&c, "items", StreamState::default()).await;
    let ids: Vec<i64> = records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!((ids, pages), (vec![1, 2, 3, 4, 5], 3));
}

#[test]
fn a_next_page_request_must_send_the_token_and_needs_cursor_pagination() {
    let stream = |next: &str, pagination: &str| {
        format!(
            "id: test\nname: Test\nstreams:\n  items:\n    request: {{method: POST, path: /list}}\n    next_request: {next}\n    records: /entries\n    pagination: {pagination}\n"
        )
    };
    let err = parse_definition(
        "test.yaml",
        &stream("{method: POST, path: /list/continue}", "{type: cursor, token: /cursor}"),
    )
    .unwrap_err();
    assert_eq!(err.field, "streams.items.next_request", "{err}");
    assert!(err.message.contains("page.token"), "{err}");
    let err = parse_definition(
        "test.yaml",
        &stream(
            "{method: POST, path: /list/continue, body: {cursor: '{{ page.token }}'}}",
            "{type: page_number, page_size: 10}",
        ),
    )
    .unwrap_err();
    assert_eq!(err.field, "streams.items.next_request", "{err}");
    assert!(parse_definition(
        "test.yaml",
        &stream(
            "{method: POST, path: /list/continue, body: {cursor: '{{ page.token }}'}}",
            "{type: cursor, token: /cursor}"
        )
    )
    .is_ok());
}

#[tokio::test]
async fn a_server_repeating_its_cursor_ends_the_stream_with_an_error() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}], "next": "same"})))
        .mount(&server)
        .await;
    let c = client(
        style_def("{type: cursor, token: /next}", "{cursor: '{{ page.token }}'}"),
        settings(&server),
        Credentials::new(),
    );
    let first = c.read_page("items", &StreamState::default()).await.unwrap();
    let err = c.read_page("items", &first.next.unwrap()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Pagination);
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("already seen"), "{err}");
}

#[tokio::test]
async fn the_page_cap_ends_an_endless_stream_with_an_error() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(|req: &Request| {
            let n: u64 = query(req, "cursor").map_or(0, |v| v.parse().unwrap());
            ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": n}], "next": (n + 1).to_string()}))
        })
        .expect(3)
        .mount(&server)
        .await;
    let s = ClientSettings {
        max_pages: 3,
        ..settings(&server)
    };
    let c = client(
        style_def("{type: cursor, token: /next}", "{cursor: '{{ page.token }}'}"),
        s,
        Credentials::new(),
    );
    let mut state = StreamState::default();
    let mut pages = 0;
    let err = loop {
        match c.read_page("items", &state).await {
            Ok(page) => {
                pages += 1;
                state = page.next.expect("the fake never ends");
            }
            Err(e) => break e,
        }
    };
    assert_eq!(pages, 3);
    assert_eq!(err.kind, ErrorKind::Pagination);
    assert!(err.message.contains("page cap of 3"), "{err}");
}

#[tokio::test]
async fn a_request_timeout_ends_the_call_with_a_transient_error() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": []}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let s = ClientSettings {
        request_timeout: Duration::from_millis(200),
        max_inline_retries: 0,
        ..settings(&server)
    };
    let c = client(def(ITEMS), s, Credentials::new());
    let started = Instant::now();
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(err.class, ErrorClass::Transient);
}

#[tokio::test]
async fn a_next_url_on_another_host_is_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": 1}], "next": "http://attacker.example/steal"
        })))
        .mount(&server)
        .await;
    let c = client(
        style_def("{type: next_url, pointer: /next}", "{}"),
        settings(&server),
        Credentials::new(),
    );
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UrlRejected);
}

const DELTA: &str = r#"
id: test
name: Test
streams:
  items:
    request: {path: /items/delta}
    records: /value
    cursor: {field: /@odata.deltaLink, type: delta_link}
    pagination: {type: next_url, pointer: /@odata.nextLink}
"#;

/// A delta endpoint: two pages of a full round (`/items/delta`, then `?$skiptoken=2`) ending
/// with a delta link (`?$deltatoken=d1`); that link answers one change and the next link.
async fn delta_server(link_host: Option<&str>) -> MockServer {
    let server = MockServer::start().await;
    let host = link_host.map_or_else(|| server.uri(), str::to_owned);
    Mock::given(path("/items/delta"))
        .and(query_param_is_missing("$skiptoken"))
        .and(query_param_is_missing("$deltatoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": 1}, {"id": 2}],
            "@odata.nextLink": format!("{}/items/delta?$skiptoken=2", server.uri()),
        })))
        .mount(&server)
        .await;
    Mock::given(path("/items/delta"))
        .and(query_param("$skiptoken", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": 3}],
            "@odata.deltaLink": format!("{host}/items/delta?$deltatoken=d1"),
        })))
        .mount(&server)
        .await;
    Mock::given(path("/items/delta"))
        .and(query_param("$deltatoken", "d1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": 2, "changed": true}],
            "@odata.deltaLink": format!("{host}/items/delta?$deltatoken=d2"),
        })))
        // Read once by the incremental run; never when the links point elsewhere.
        .expect(u64::from(link_host.is_none()))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_delta_stream_keeps_the_last_pages_delta_link_and_the_next_run_starts_there() {
    let server = delta_server(None).await;
    let c = client(def(DELTA), settings(&server), Credentials::new());
    let first = c.read_page("items", &StreamState::full_refresh()).await.unwrap();
    assert_eq!(first.max_cursor, None, "no link before the last page");
    let (records, cursor, pages) = read_all(&c, "items", StreamState::full_refresh()).await;
    assert_eq!((records.len(), pages), (3, 2));
    let link = cursor.expect("the last page's delta link is the cursor");
    assert_eq!(link, format!("{}/items/delta?$deltatoken=d1", server.uri()));
    let (changes, next, pages) = read_all(&c, "items", StreamState::incremental(Some(link))).await;
    assert_eq!(changes, vec![json!({"id": 2, "changed": true})]);
    assert_eq!(pages, 1);
    assert_eq!(
        next.as_deref(),
        Some(format!("{}/items/delta?$deltatoken=d2", server.uri()).as_str())
    );
}

#[tokio::test]
async fn a_delta_link_on_another_origin_is_neither_kept_nor_followed() {
    // Given by the API on the last page: refused, the run fails rather than store it.
    let server = delta_server(Some("http://attacker.example")).await;
    let c = client(def(DELTA), settings(&server), Credentials::new());
    let first = c.read_page("items", &StreamState::full_refresh()).await.unwrap();
    let err = c.read_page("items", &first.next.unwrap()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UrlRejected);
    assert_eq!(err.class, ErrorClass::Permanent);
    // Stored (a checkpoint, a typed `--since`) and pointing elsewhere: never requested.
    let for_port = format!("{}/items/delta?$deltatoken=d1", server.uri()).replace("127.0.0.1", "localhost");
    for link in ["http://attacker.example/items/delta?$deltatoken=d1", for_port.as_str()] {
        let err = c
            .read_page("items", &StreamState::incremental(Some(link.to_owned())))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::UrlRejected, "{link}");
    }
    let received = server.received_requests().await.unwrap();
    assert!(
        received
            .iter()
            .all(|r| r.url.query().is_none_or(|q| !q.contains("deltatoken"))),
        "a refused link was requested"
    );
}

#[test]
fn a_delta_link_cursor_takes_no_lookback() {
    let err = parse_definition(
        "test",
        &DELTA.replace("type: delta_link}", "type: delta_link, lookback_secs: 60}"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("lookback_secs"), "{err}");
}

#[tokio::test]
async fn transient_read_failures_are_retried_inline() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}]})))
        .mount(&server)
        .await;
    let c = client(def(ITEMS), settings(&server), Credentials::new());
    let page = c.read_page("items", &StreamState::default()).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_success_that_is_not_json_is_an_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    let c = client(def(ITEMS), settings(&server), Credentials::new());
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidResponse);
    assert!(!err.message.contains("maintenance"));
}

// ---------------------------------------------------------------------------------------------
// Rate limits

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}]})))
        .mount(&server)
        .await;
    let c = client(def(ITEMS), settings(&server), Credentials::new());
    let started = Instant::now();
    c.read_page("items", &StreamState::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_long_retry_after_is_returned_as_rate_limited_and_pauses_the_connection() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(def(ITEMS), settings(&server), Credentials::new());
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(
        err.class,
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert_eq!(err.error_type(), "Retryable");
}

#[tokio::test]
async fn hubspot_429_without_retry_after_uses_the_definition_delay() {
    let server = MockServer::start().await;
    Mock::given(path("/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c", "policyName": "TEN_SECONDLY_ROLLING"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(
        embedded("hubspot"),
        settings(&server),
        Credentials::new().with("access_token", "pat"),
    );
    let err = c.read_page("contacts", &StreamState::default()).await.unwrap_err();
    assert_eq!(
        err.class,
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(10))
        }
    );
    assert!(err.message.contains("ten_secondly_rolling"), "{err}");
}

#[tokio::test]
async fn the_pacer_keeps_requests_under_the_budget() {
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let seen = arrivals.clone();
    Mock::given(path("/items"))
        .respond_with(move |_: &Request| {
            seen.lock().unwrap().push(Instant::now());
            ResponseTemplate::new(200).set_body_json(json!({"items": []}))
        })
        .mount(&server)
        .await;
    let d = def(&format!(
        "{ITEMS}rate_limit: {{requests: 5, window_ms: 500, margin_ms: 20}}\n"
    ));
    let c = Arc::new(client(d, settings(&server), Credentials::new()));
    let started = Instant::now();
    // Concurrent callers share the pacer.
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.read_page("items", &StreamState::default()).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(arrivals.lock().unwrap().len(), 12);
    // 12 requests at 5 per 520 ms cannot all start before two full windows have passed: the
    // concurrent callers share one pacer (unpaced, they finish in a few milliseconds). Arrival
    // times at the server are not compared window by window: on a loaded machine requests sent
    // on time arrive bunched. The window arithmetic itself is proven on a virtual clock
    // (`connector::ratelimit` tests).
    assert!(elapsed >= Duration::from_millis(1040), "{elapsed:?}");
}

// ---------------------------------------------------------------------------------------------
// Writes

fn hubspot_batch_responder(
    poison: &'static str,
    calls: Arc<Mutex<Vec<usize>>>,
) -> impl Fn(&Request) -> ResponseTemplate {
    move |req: &Request| {
        let body: Value = req.body_json().unwrap();
        let inputs = body["inputs"].as_array().unwrap().clone();
        calls.lock().unwrap().push(inputs.len());
        if inputs.len() > 100 {
            return ResponseTemplate::new(400).set_body_json(json!({"status": "error", "message": "too many inputs"}));
        }
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for input in &inputs {
            let email = input["id"].as_str().unwrap().to_lowercase();
            assert_eq!(input["idProperty"], "email");
            if email == poison {
                errors.push(json!({
                    "status": "error", "category": "VALIDATION_ERROR",
                    "message": format!("Property values were not valid for {email}"),
                    "context": {"ids": [email]}
                }));
            } else {
                results.push(json!({
                    "id": format!("hs-{email}"), "new": true,
                    "objectWriteTraceId": input["objectWriteTraceId"],
                    "properties": {"email": email},
                    "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"
                }));
            }
        }
        // Results in reverse order: matching must not rely on order.
        results.reverse();
        let status = if errors.is_empty() { 200 } else { 207 };
        ResponseTemplate::new(status).set_body_json(json!({
            "status": "COMPLETE", "results": results, "errors": errors, "numErrors": errors.len(),
            "startedAt": "2024-01-01T00:00:00Z", "completedAt": "2024-01-01T00:00:01Z"
        }))
    }
}

#[tokio::test]
async fn hubspot_upserts_go_in_batches_of_100_with_per_record_results() {
    let server = MockServer::start().await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .and(header("authorization", "Bearer pat"))
        .respond_with(hubspot_batch_responder("bad@x.io", calls.clone()))
        .mount(&server)
        .await;
    let c = client(
        embedded("hubspot"),
        settings(&server),
        Credentials::new().with("access_token", "pat"),
    );
    let mut records: Vec<Value> = (0..250)
        .map(|i| json!({"properties": {"email": format!("user{i}@x.io"), "firstname": "U"}}))
        .collect();
    records[120] = json!({"properties": {"email": "BAD@x.io"}});
    records[7] = json!({"properties": {"firstname": "no email"}});
    let results = c.write_batch("contacts.upsert_by_email", &records).await.unwrap();
    assert_eq!(results.len(), 250);
    // The record without an email never left: 249 inputs, 100 + 100 + 49.
    assert_eq!(*calls.lock().unwrap(), vec![100, 100, 49]);
    assert_eq!(
        results[0],
        WriteResult::Ok {
            destination_id: Some("hs-user0@x.io".into())
        }
    );
    assert!(
        matches!(&results[7], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("/properties/email"))
    );
    assert!(
        matches!(&results[120], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("not valid")),
        "{:?}",
        results[120]
    );
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 248);
}

#[tokio::test]
async fn a_batch_refused_as_a_whole_is_split_until_the_poison_record_fails_alone() {
    let server = MockServer::start().await;
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/create"))
        .respond_with(move |req: &Request| {
            let body: Value = req.body_json().unwrap();
            let inputs = body["inputs"].as_array().unwrap();
            seen.lock().unwrap().push(inputs.len());
            if inputs.iter().any(|i| i["properties"]["email"] == "poison@x.io") {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "status": "error", "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid: email poison@x.io"
                }));
            }
            let results: Vec<Value> = inputs
                .iter()
                .map(|i| {
                    json!({"id": format!("id-{}", i["properties"]["email"].as_str().unwrap()),
                                "objectWriteTraceId": i["objectWriteTraceId"]})
                })
                .collect();
            ResponseTemplate::new(201).set_body_json(json!({"status": "COMPLETE", "results": results}))
        })
        .mount(&server)
        .await;
    let c = client(
        embedded("hubspot"),
        settings(&server),
        Credentials::new().with("access_token", "pat"),
    );
    let mut records: Vec<Value> = (0..8)
        .map(|i| json!({"properties": {"email": format!("u{i}@x.io")}}))
        .collect();
    records[5] = json!({"properties": {"email": "poison@x.io"}});
    let results = c.write_batch("contacts.create", &records).await.unwrap();
    for (i, r) in results.iter().enumerate() {
        if i == 5 {
            assert!(
                matches!(r, WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("HTTP 400") && reason.contains("not valid")),
                "{r:?}"
            );
        } else {
            assert_eq!(
                r,
                &WriteResult::Ok {
                    destination_id: Some(format!("id-u{i}@x.io"))
                }
            );
        }
    }
    // 8 fails -> [0..4] ok, [4..8] fails -> [4, 5] fails -> [4] ok, [5] fails; [6, 7] ok:
    // bisection, not one request per record.
    assert_eq!(*sizes.lock().unwrap(), vec![8, 4, 4, 2, 1, 1, 2]);
}

#[tokio::test]
async fn a_retriable_failure_after_the_first_batch_keeps_earlier_results() {
    let server = MockServer::start().await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .respond_with(hubspot_batch_responder("none", calls.clone()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let c = client(
        embedded("hubspot"),
        settings(&server),
        Credentials::new().with("access_token", "pat"),
    );
    let records: Vec<Value> = (0..150)
        .map(|i| json!({"properties": {"email": format!("u{i}@x.io")}}))
        .collect();
    let results = c.write_batch("contacts.upsert_by_email", &records).await.unwrap();
    assert!(results[..100].iter().all(WriteResult::is_ok));
    assert!(results[100..].iter().all(|r| matches!(
        r,
        WriteResult::Failed {
            class: ErrorClass::Transient,
            ..
        }
    )));
    // Writes are not retried inline on a 5xx: the batch may have been applied.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_retriable_failure_of_the_first_batch_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "60"))
        .mount(&server)
        .await;
    let c = client(
        embedded("hubspot"),
        settings(&server),
        Credentials::new().with("access_token", "pat"),
    );
    let records = vec![json!({"properties": {"email": "a@x.io"}})];
    let err = c.write_batch("contacts.upsert_by_email", &records).await.unwrap_err();
    assert_eq!(err.class.retry_after(), Some(Duration::from_secs(60)));
}

#[tokio::test]
async fn slack_ok_false_bodies_are_classified_per_record() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-1"))
        .respond_with(|req: &Request| {
            let body: Value = req.body_json().unwrap();
            assert_eq!(req.headers["content-type"], "application/json; charset=utf-8");
            match body["channel"].as_str().unwrap() {
                "C-missing" => {
                    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "channel_not_found"}))
                }
                _ => ResponseTemplate::new(200).set_body_json(json!({
                    "ok": true, "channel": body["channel"], "ts": "1503435956.000247",
                    "message": {"text": body["text"]}
                })),
            }
        })
        .mount(&server)
        .await;
    let s = ClientSettings {
        rate_limit: Some(switchyard::connector::definition::RateLimitSpec {
            requests: 100,
            window_ms: 1000,
            margin_ms: 0,
            headers: None,
            cost: None,
            operations: Vec::new(),
        }),
        ..settings(&server)
    };
    let c = client(embedded("slack"), s, Credentials::new().with("bot_token", "xoxb-1"));
    let records = vec![
        json!({"channel": "C1", "text": "hello"}),
        json!({"channel": "C-missing", "text": "lost"}),
    ];
    let results = c.write_batch("chat.post_message", &records).await.unwrap();
    assert_eq!(
        results[0],
        WriteResult::Ok {
            destination_id: Some("1503435956.000247".into())
        }
    );
    assert!(
        matches!(&results[1], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("channel_not_found")),
        "{:?}",
        results[1]
    );
}

/// A provider that answers a delete of a record it does not have with a "not found" error:
/// with an error rule whose action is `gone`, the delete is done (the record is deleted either
/// way); the same answer to an update is still a permanent failure, and without the rule a
/// delete of a missing record fails as before.
#[tokio::test]
async fn a_delete_of_a_record_already_gone_counts_as_done_by_a_gone_rule() {
    let server = MockServer::start().await;
    let not_found = ResponseTemplate::new(400)
        .set_body_json(json!({"Fault": {"Error": [{"Message": "Object Not Found", "code": "610"}]}}));
    Mock::given(method("DELETE"))
        .and(path("/things/404"))
        .respond_with(not_found.clone())
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/things/404"))
        .respond_with(not_found)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/things/7"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let yaml = |rules: &str| {
        format!(
            r#"
id: test
name: Test
errors:
  message: /Fault/Error/0/Message
  rules: {rules}
streams:
  things:
    request: {{path: /things}}
    records: /things
writes:
  things.delete:
    kind: delete
    key: /id
    request: {{method: DELETE, path: "/things/{{{{ key }}}}"}}
  things.update:
    kind: update
    key: /id
    request: {{method: PUT, path: "/things/{{{{ key }}}}", body: "{{{{ record }}}}"}}
"#
        )
    };
    let gone = r#"[{status: [400], body: {pointer: /Fault/Error/0/code, equals: "610"}, action: gone}]"#;
    let c = client(def(&yaml(gone)), settings(&server), Credentials::new());
    let results = c
        .write_batch("things.delete", &[json!({"id": "404"}), json!({"id": "7"})])
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![
            WriteResult::Ok { destination_id: None },
            WriteResult::Ok { destination_id: None }
        ],
        "the missing record is deleted either way"
    );
    let results = c
        .write_batch("things.update", &[json!({"id": "404", "name": "x"})])
        .await
        .unwrap();
    assert!(
        matches!(&results[0], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("Object Not Found")),
        "an update of a missing record still fails: {results:?}"
    );
    let without = client(def(&yaml("[]")), settings(&server), Credentials::new());
    let results = without
        .write_batch("things.delete", &[json!({"id": "404"})])
        .await
        .unwrap();
    assert!(
        matches!(&results[0], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("Object Not Found")),
        "without the rule the refusal is a failure: {results:?}"
    );
}

#[tokio::test]
async fn slack_invalid_auth_and_ratelimited_map_to_reauth_and_rate_limited() {
    for (error, expected) in [
        ("invalid_auth", ErrorClass::ReAuth),
        (
            "ratelimited",
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            },
        ),
    ] {
        let server = MockServer::start().await;
        let mut response = ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}));
        if error == "ratelimited" {
            response = response.insert_header("retry-after", "30");
        }
        Mock::given(method("POST")).respond_with(response).mount(&server).await;
        let c = client(
            embedded("slack"),
            settings(&server),
            Credentials::new().with("bot_token", "xoxb-1"),
        );
        let err = c
            .write_batch("chat.post_message", &[json!({"channel": "C1", "text": "x"})])
            .await
            .unwrap_err();
        assert_eq!(err.class, expected, "{error}");
        assert!(err.message.contains(error), "{err}");
    }
}

#[tokio::test]
async fn outbound_webhooks_are_signed_with_standard_webhooks_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/in"))
        .respond_with(ResponseTemplate::new(202).set_body_string("accepted"))
        .expect(1)
        .mount(&server)
        .await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let s = ClientSettings {
        base_url: Some(format!("{}/hooks/in", server.uri())),
        ..settings(&server)
    };
    let c = client(
        embedded("webhook"),
        s,
        Credentials::new().with("signing_secret", secret),
    );
    let record = json!({"type": "customer.updated", "data": {"id": "cus_1", "email": "a@x.io"}});
    let results = c.write_batch("deliver", std::slice::from_ref(&record)).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let requests = server.received_requests().await.unwrap();
    let req = &requests[0];
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, record);
    assert!(req.headers["webhook-id"].to_str().unwrap().starts_with("msg_"));
    assert!(req.headers["webhook-signature"].to_str().unwrap().starts_with("v1,"));
    // The reference implementation accepts the delivery.
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&req.body, &req.headers)
        .expect("a valid Standard Webhooks signature");
}

#[tokio::test]
async fn outbound_webhooks_refuse_plain_http_and_internal_addresses_in_production() {
    let s = ClientSettings {
        base_url: Some("http://hooks.example.com/in".into()),
        ..ClientSettings::default()
    };
    let err = ConnectorClient::new(embedded("webhook"), s, Credentials::new(), reqwest::Client::new()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UrlRejected);
    let s = ClientSettings {
        base_url: Some("https://169.254.169.254/latest/meta-data".into()),
        ..ClientSettings::default()
    };
    let err = ConnectorClient::new(embedded("webhook"), s, Credentials::new(), reqwest::Client::new()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UrlRejected);
    assert!(err.message.contains("link-local"), "{err}");
}

#[tokio::test]
async fn loopback_is_refused_at_request_time_unless_allowed() {
    let server = items_server(None).await;
    let s = ClientSettings {
        allow_private_network: false,
        base_url: Some(server.uri().replace("127.0.0.1", "localhost")),
        ..settings(&server)
    };
    let c = ConnectorClient::new(def(ITEMS), s, Credentials::new(), reqwest::Client::new()).unwrap();
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UrlRejected);
    // The mock's `expect(1)` is not checked here: the request never reached it.
    server.reset().await;
}

#[tokio::test]
async fn the_guarded_http_client_refuses_names_that_resolve_to_loopback() {
    // Even when the pre-request check is skipped (allow_private_network in the settings), a
    // client built by `http_client` resolves through the guard: no DNS-rebinding window.
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(0)
        .mount(&server)
        .await;
    let http = switchyard::connector::url_guard::http_client(Duration::from_secs(2), false).unwrap();
    let s = ClientSettings {
        base_url: Some(server.uri().replace("127.0.0.1", "localhost")),
        max_inline_retries: 0,
        ..settings(&server)
    };
    let c = ConnectorClient::new(def(ITEMS), s, Credentials::new(), http).unwrap();
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network, "{err}");
}

// ---------------------------------------------------------------------------------------------
// Check, fetch, webhooks

#[tokio::test]
async fn check_reports_status_latency_and_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth.test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "team": "T", "user": "U"})))
        .mount(&server)
        .await;
    let c = client(
        embedded("slack"),
        settings(&server),
        Credentials::new().with("bot_token", "xoxb-1"),
    );
    let report = c.check().await.unwrap();
    assert_eq!(report.status, 200);
    assert_eq!(report.auth, "bearer");

    let server = MockServer::start().await;
    Mock::given(path("/v1/customers"))
        .and(query_param("limit", "1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"type": "invalid_request_error", "code": "api_key_invalid", "message": "Invalid API Key provided: sk_test_***"}
        })))
        .mount(&server)
        .await;
    let c = client(
        embedded("stripe"),
        settings(&server),
        Credentials::new().with("api_key", "sk_test_bad"),
    );
    let err = c.check().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth);
    assert!(err.message.contains("api_key_invalid"), "{err}");
    assert!(!err.message.contains("sk_test_bad"));
}

#[tokio::test]
async fn hubspot_events_fetch_the_object_and_deleted_objects_are_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/501"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "501", "properties": {"email": "a@x.io"}, "archived": false
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/404"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"status": "error", "category": "OBJECT_NOT_FOUND"})),
        )
        .mount(&server)
        .await;
    let c = client(
        embedded("hubspot"),
        settings(&server),
        Credentials::new().with("access_token", "pat"),
    );
    let event = json!({"eventId": 100, "subscriptionId": 1, "portalId": 62515, "occurredAt": 1_564_113_600_000i64,
                       "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 501,
                       "propertyName": "email", "propertyValue": "a@x.io", "changeSource": "CRM"});
    assert_eq!(
        c.event_record(&event).unwrap(),
        EventRecord::Fetch {
            stream: "contacts".into(),
            id: "501".into()
        }
    );
    let (stream, record) = c.resolve_event(&event).await.unwrap().unwrap();
    assert_eq!((stream.as_str(), record["id"].as_str()), ("contacts", Some("501")));
    let deleted = json!({"eventId": 101, "subscriptionType": "contact.deletion", "objectId": 404});
    assert_eq!(c.resolve_event(&deleted).await.unwrap(), None);
    let other = json!({"eventId": 102, "subscriptionType": "ticket.creation", "objectId": 1});
    assert_eq!(c.resolve_event(&other).await.unwrap(), None);
}

/// `fetch.id_pattern`: an id from an event that does not match as a whole is refused
/// permanently and never sent; one that matches is fetched. A pattern that is not a regular
/// expression is refused when the definition loads, naming the field.
#[tokio::test]
async fn fetch_id_pattern_refuses_an_id_that_does_not_match_unsent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "42"}]})))
        .mount(&server)
        .await;
    let yaml = |pattern: &str| {
        format!(
            r#"
id: test
name: Test
streams:
  items:
    request: {{path: /items}}
    records: /items
    fetch:
      id_pattern: "{pattern}"
      request:
        method: POST
        path: /query
        body: {{q: "SELECT * FROM item WHERE id = {{{{ id }}}}"}}
      record: /items/0
check:
  request: {{path: /items}}
"#
        )
    };
    let c = client(def(&yaml("[0-9]{1,20}")), settings(&server), Credentials::new());
    let record = c.fetch_record("items", "42").await.unwrap().unwrap();
    assert_eq!(record["id"], "42");
    for forged in ["42 OR 1=1", "0; DROP TABLE item", "", "4a", "123456789012345678901"] {
        let err = c.fetch_record("items", forged).await.unwrap_err();
        assert_eq!(
            (err.class, err.kind),
            (ErrorClass::Permanent, ErrorKind::InvalidInput),
            "{forged:?}"
        );
        assert!(
            !err.message.contains(forged) || forged.is_empty(),
            "the id is not quoted: {err}"
        );
    }
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "only the valid id was sent"
    );

    let err = parse_definition("test", &yaml("[0-9")).unwrap_err().to_string();
    assert!(err.contains("streams.items.fetch.id_pattern"), "{err}");
}

/// GitHub names the event in a header: an `issues` event carries its issue, a `pull_request`
/// event is fetched by number, and other events route nowhere.
#[tokio::test]
async fn github_events_are_routed_by_the_header_type() {
    let c = ConnectorClient::new(
        embedded("github"),
        ClientSettings {
            config: serde_json::Map::from_iter([
                ("owner".to_string(), json!("octo")),
                ("repo".to_string(), json!("hello")),
            ]),
            ..ClientSettings::default()
        },
        Credentials::new().with("token", "ghp_1"),
        reqwest::Client::new(),
    )
    .unwrap();
    let issue = json!({"action": "opened", "issue": {"number": 7, "title": "Bug", "state": "open"}});
    assert_eq!(
        c.event_record_received(&issue, Some("issues")).unwrap(),
        EventRecord::Embedded {
            stream: "issues".into(),
            record: issue["issue"].clone()
        }
    );
    let pr =
        json!({"action": "closed", "number": 12, "pull_request": {"number": 12, "url": "https://api.github.com/x"}});
    assert_eq!(
        c.event_record_received(&pr, Some("pull_request")).unwrap(),
        EventRecord::Fetch {
            stream: "pull_requests".into(),
            id: "12".into()
        }
    );
    assert_eq!(
        c.event_record_received(&pr, Some("push")).unwrap(),
        EventRecord::Unrouted
    );
}

#[tokio::test]
async fn stripe_events_carry_the_object() {
    let c = ConnectorClient::new(
        embedded("stripe"),
        ClientSettings::default(),
        Credentials::new().with("api_key", "sk_test_1"),
        reqwest::Client::new(),
    )
    .unwrap();
    let event = json!({"id": "evt_1", "object": "event", "type": "customer.updated",
                       "data": {"object": {"id": "cus_1", "object": "customer", "email": "a@x.io"}}});
    assert_eq!(
        c.event_record(&event).unwrap(),
        EventRecord::Embedded {
            stream: "customers".into(),
            record: event["data"]["object"].clone()
        }
    );
    let unrouted = json!({"id": "evt_2", "type": "payout.paid", "data": {"object": {"id": "po_1"}}});
    assert_eq!(c.event_record(&unrouted).unwrap(), EventRecord::Unrouted);
}

#[tokio::test]
async fn woocommerce_events_are_routed_by_the_topic_the_receiver_read() {
    let c = ConnectorClient::new(
        embedded("woocommerce"),
        ClientSettings {
            base_url: Some("https://shop.example.com/wp-json/wc/v3".into()),
            ..ClientSettings::default()
        },
        Credentials::new()
            .with("consumer_key", "ck_1")
            .with("consumer_secret", "cs_1"),
        reqwest::Client::new(),
    )
    .unwrap();
    // The body is the resource itself; the topic came in X-WC-Webhook-Topic.
    let customer = json!({"id": 25, "email": "ada@example.com", "date_modified_gmt": "2024-03-01T10:00:00"});
    assert_eq!(
        c.event_record(&customer).unwrap(),
        EventRecord::Unrouted,
        "no type in the body"
    );
    assert_eq!(
        c.event_record_received(&customer, Some("customer.created")).unwrap(),
        EventRecord::Embedded {
            stream: "customers".into(),
            record: customer.clone()
        }
    );
    assert_eq!(
        c.event_record_received(&customer, Some("coupon.created")).unwrap(),
        EventRecord::Unrouted
    );
    // A type in the body, where the definition points, wins over the received one.
    let stripe = ConnectorClient::new(
        embedded("stripe"),
        ClientSettings::default(),
        Credentials::new().with("api_key", "sk_test_1"),
        reqwest::Client::new(),
    )
    .unwrap();
    let event = json!({"id": "evt_1", "type": "payout.paid", "data": {"object": {"id": "po_1"}}});
    assert_eq!(
        stripe.event_record_received(&event, Some("customer.updated")).unwrap(),
        EventRecord::Unrouted
    );
}

#[tokio::test]
async fn header_typed_events_are_routed_by_the_type_the_receiver_read() {
    let c = ConnectorClient::new(
        embedded("shopify"),
        ClientSettings {
            base_url: Some("https://fake-shop.myshopify.com/admin/api/2024-01".into()),
            ..ClientSettings::default()
        },
        Credentials::new().with("access_token", "shpat_1"),
        reqwest::Client::new(),
    )
    .unwrap();
    // Shopify's topic is a header: the body alone routes nowhere.
    let event = json!({"id": 7, "email": "a@x.io", "admin_graphql_api_id": "gid://shopify/Customer/7"});
    assert_eq!(c.event_record(&event).unwrap(), EventRecord::Unrouted);
    assert_eq!(
        c.event_record_received(&event, Some("customers/update")).unwrap(),
        EventRecord::Fetch {
            stream: "customers".into(),
            id: "gid://shopify/Customer/7".into()
        }
    );
    assert_eq!(
        c.event_record_received(&event, Some("app/uninstalled")).unwrap(),
        EventRecord::Unrouted
    );
}

#[tokio::test]
async fn missing_config_and_credentials_are_reported_when_the_client_is_built() {
    let d = def(r#"
id: test
name: Test
config:
  account: {required: true}
auth: {type: bearer}
streams:
  items:
    request: {path: "/{{ config.account }}/items"}
    records: /items
"#);
    let base = ClientSettings {
        base_url: Some("https://api.example.com".into()),
        ..ClientSettings::default()
    };
    let err = ConnectorClient::new(
        d.clone(),
        base.clone(),
        Credentials::new().with("access_token", "t"),
        reqwest::Client::new(),
    )
    .unwrap_err();
    assert!(err.message.contains("`account`"), "{err}");
    let with_account = ClientSettings::from_connection_config(
        json!({"base_url": "https://api.example.com", "account": "acme"})
            .as_object()
            .unwrap(),
    );
    let err = ConnectorClient::new(
        d.clone(),
        with_account.clone(),
        Credentials::new(),
        reqwest::Client::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Credentials);
    assert!(ConnectorClient::new(
        d,
        with_account,
        Credentials::new().with("access_token", "t"),
        reqwest::Client::new()
    )
    .is_ok());
}

// ---------------------------------------------------------------------------------------------
// Property tests

mod props {
    use proptest::prelude::*;
    use serde_json::{json, Value};
    use switchyard::connector::definition::PaginationSpec;
    use switchyard::connector::pagination::{self, PageResponse, StreamState};
    use switchyard::connector::registry::parse_definition;
    use switchyard::connector::template::{Template, Vars};
    use switchyard::connector::{content_hash, Mapping, Registry};

    fn embedded_sources() -> Vec<String> {
        let registry = Registry::embedded().unwrap();
        registry
            .ids()
            .map(|id| Registry::embedded_source(id).unwrap().to_owned())
            .collect()
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z0-9/_.]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn pagination_spec() -> impl Strategy<Value = PaginationSpec> {
        prop_oneof![
            Just(PaginationSpec::None),
            (any::<bool>(), any::<bool>()).prop_map(|(from_last, has_more)| PaginationSpec::Cursor {
                token: (!from_last).then(|| "/next".to_owned()),
                token_from_last_record: from_last.then(|| "/id".to_owned()),
                has_more: has_more.then(|| "/has_more".to_owned()),
                end_of_stream: None,
                page_size: Some(10),
                result_set: false,
            }),
            Just(PaginationSpec::NextUrl {
                pointer: "/next".into()
            }),
            Just(PaginationSpec::LinkHeader { rel: "next".into() }),
            (1u64..20, any::<bool>()).prop_map(|(page_size, total)| PaginationSpec::Offset {
                page_size,
                start: 0,
                total: total.then(|| "/total".to_owned()),
                has_more: None,
            }),
            (1u64..20, any::<bool>()).prop_map(|(page_size, total)| PaginationSpec::PageNumber {
                page_size,
                start: 1,
                total_pages: total.then(|| "/total".to_owned()),
                total_pages_header: None,
                total: None,
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics_the_definition_parser(text in "\\PC{0,400}") {
            let _ = parse_definition("fuzz.yaml", &text);
        }

        #[test]
        fn mutated_embedded_definitions_never_panic(
            which in 0usize..5,
            cut in 0usize..20_000,
            insert in "[a-z:{}\\[\\]\"' \\n/-]{0,12}",
        ) {
            let sources = embedded_sources();
            let source = &sources[which % sources.len()];
            let mut at = cut % (source.len() + 1);
            while !source.is_char_boundary(at) {
                at -= 1;
            }
            let mutated = format!("{}{}{}", &source[..at], insert, &source[at..]);
            let _ = parse_definition("fuzz", &mutated);
            let truncated = &source[..at];
            let _ = parse_definition("fuzz", truncated);
        }

        #[test]
        fn pagination_stepping_never_panics_and_always_terminates(
            spec in pagination_spec(),
            pages in prop::collection::vec((json_value(), 0usize..12, prop::option::of("[a-c]{1,2}")), 1..30),
            max_pages in 1u32..40,
        ) {
            let mut state = StreamState::default();
            let mut steps = 0u32;
            for (body, count, link) in pages.iter().cycle() {
                if pagination::check_before_request(&state, max_pages).is_err() {
                    break;
                }
                let records: Vec<Value> = (0..*count).map(|i| json!({"id": i})).collect();
                let link = link.as_ref().map(|l| format!("<https://x/{l}>; rel=\"next\""));
                let response = PageResponse { body, link_header: link.as_deref(), total_pages_header: None, records: &records };
                match pagination::step(&spec, &state, &response) {
                    Ok(Some(next)) => {
                        prop_assert_eq!(next.pages_read, state.pages_read + 1);
                        state = next;
                    }
                    Ok(None) | Err(_) => break,
                }
                steps += 1;
                prop_assert!(steps <= max_pages, "the page cap must stop the loop");
            }
        }

        #[test]
        fn templates_never_panic(text in "\\PC{0,80}", value in json_value()) {
            if let Ok(t) = Template::parse(&text) {
                let mut vars = Vars::new();
                vars.set("page.token", Some(value.clone()))
                    .root("config", std::borrow::Cow::Owned(value));
                let _ = t.render(&vars, true);
                let _ = t.render(&vars, false);
            }
        }

        #[test]
        fn jq_compilation_and_runs_never_panic(program in "[.ab\\[\\]|(){}:, \"0-9+*/-]{0,24}", input in json_value()) {
            if let Ok(m) = Mapping::compile(&program) {
                let _ = m.apply_all(&input);
            }
        }

        #[test]
        fn content_hash_ignores_key_order(value in json_value()) {
            let reparsed: Value = serde_json::from_str(&value.to_string()).unwrap();
            prop_assert_eq!(content_hash(&value), content_hash(&reparsed));
            if let Value::Object(map) = &value {
                let reversed: serde_json::Map<String, Value> = map.clone().into_iter().rev().collect();
                prop_assert_eq!(content_hash(&value), content_hash(&Value::Object(reversed)));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth2: a token URL from the connection's config, the base URL from the token response

fn regional_def(extra_auth: &str) -> Arc<ConnectorDefinition> {
    def(&format!(
        "{ITEMS}base_url: https://api.unused.example.com\n\
         config:\n  accounts_url: {{default: 'https://accounts.unused.example.com'}}\n\
         auth:\n  type: oauth2\n  token_url: '{{{{ config.accounts_url }}}}/oauth/v2/token'\n  \
         base_url_from: api_domain\n  header_scheme: Zoho-oauthtoken\n{extra_auth}"
    ))
}

fn regional_settings(accounts: &MockServer) -> ClientSettings {
    let mut config = serde_json::Map::new();
    config.insert("accounts_url".into(), json!(accounts.uri()));
    ClientSettings {
        config,
        allow_private_network: true,
        request_timeout: Duration::from_secs(5),
        ..ClientSettings::default()
    }
}

#[tokio::test]
async fn oauth2_base_url_from_the_token_response_takes_every_request_there_and_is_stored() {
    let accounts = MockServer::start().await;
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(body_string_contains("refresh_token=r1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "t1", "api_domain": api.uri(), "token_type": "Bearer", "expires_in": 3600
        })))
        .expect(1)
        .mount(&accounts)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(header("authorization", "Zoho-oauthtoken t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}]})))
        .expect(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(header("authorization", "Zoho-oauthtoken t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"me": 1})))
        .expect(1)
        .mount(&api)
        .await;
    let updates = Arc::new(Mutex::new(Vec::<TokenUpdate>::new()));
    let seen = updates.clone();
    let creds = Credentials::new()
        .with("client_id", "cid")
        .with("client_secret", "csecret")
        .with("refresh_token", "r1")
        .on_token_refresh(move |u| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(u);
                Ok(())
            }
        });
    let c = client(regional_def(""), regional_settings(&accounts), creds);
    c.read_page("items", &StreamState::default()).await.unwrap();
    c.check().await.unwrap();
    let updates = updates.lock().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].values.get("api_domain"),
        Some(&api.uri()),
        "stored beside the tokens"
    );
}

#[tokio::test]
async fn oauth2_a_stored_base_url_is_used_with_a_stored_token() {
    let accounts = MockServer::start().await;
    let api = MockServer::start().await;
    Mock::given(path("/oauth/v2/token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&accounts)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(header("authorization", "Zoho-oauthtoken stored"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&api)
        .await;
    let creds = oauth_creds("stored", now_unix() + 3600).with("api_domain", api.uri());
    let c = client(regional_def(""), regional_settings(&accounts), creds);
    c.read_page("items", &StreamState::default()).await.unwrap();
}

#[tokio::test]
async fn oauth2_a_token_response_without_the_base_url_field_is_an_error_naming_it() {
    let accounts = MockServer::start().await;
    Mock::given(path("/oauth/v2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t1", "expires_in": 3600})))
        .mount(&accounts)
        .await;
    let c = client(regional_def(""), regional_settings(&accounts), oauth_creds("none", 0));
    let e = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert!(e.message.contains("`api_domain`"), "{e}");
    assert!(!e.message.contains("t1"), "no token in errors: {e}");
}

#[tokio::test]
async fn oauth2_a_base_url_from_the_token_response_is_checked_like_a_configured_one() {
    let accounts = MockServer::start().await;
    Mock::given(path("/oauth/v2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "t1", "api_domain": "file:///etc/passwd", "expires_in": 3600
        })))
        .mount(&accounts)
        .await;
    let c = client(regional_def(""), regional_settings(&accounts), oauth_creds("none", 0));
    let e = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UrlRejected, "{e}");
    assert!(e.message.contains("`api_domain`"), "{e}");
}

#[test]
fn a_token_url_placeholder_must_name_declared_config() {
    let err = parse_definition(
        "test",
        &format!("{ITEMS}auth:\n  type: oauth2\n  token_url: '{{{{ config.region }}}}/token'\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("auth[0].token_url") && err.contains("region"), "{err}");
}

#[test]
fn result_failed_needs_results() {
    let err = parse_definition(
        "test",
        &format!(
            "{ITEMS}writes:\n  things.create:\n    kind: create\n    request: {{method: POST, path: /things, body: \"{{{{ records }}}}\"}}\n    \
             response: {{result_failed: {{pointer: /status, equals: error}}}}\n"
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("writes.things.create.response.result_failed"), "{err}");
}

#[tokio::test]
async fn zoho_style_in_place_results_refuse_only_the_failed_records() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v2.1/Leads/upsert"))
        .and(body_string_contains("\"duplicate_check_fields\":[\"Email\"]"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"code": "SUCCESS", "action": "insert", "details": {"id": "9001"}, "message": "record added", "status": "success"},
            {"code": "INVALID_DATA", "details": {"api_name": "Email"}, "message": "invalid data", "status": "error"}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let creds = Credentials::new()
        .with("access_token", "t")
        .with("api_domain", server.uri())
        .with("expires_at", (now_unix() + 3600).to_string())
        .with("client_id", "c")
        .with("client_secret", "s")
        .with("refresh_token", "r");
    let c = client(embedded("zoho-crm"), settings(&server), creds);
    let results = c
        .write_batch(
            "leads.upsert_by_email",
            &[
                json!({"Last_Name": "Lovelace", "Email": "ada@example.com"}),
                json!({"Last_Name": "X", "Email": "nope"}),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0],
        WriteResult::Ok {
            destination_id: Some("9001".into())
        }
    );
    assert!(
        matches!(&results[1], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason == "invalid data"),
        "{results:?}"
    );
}

#[tokio::test]
async fn an_empty_status_ends_the_run_with_no_records_and_the_cursor_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&server)
        .await;
    let d = def(r#"
id: test
name: Test
streams:
  items:
    request: {path: /items, headers: {If-Modified-Since: "{{ since.rfc3339 }}"}}
    records: /items
    cursor: {field: /updated, type: rfc3339}
    empty_statuses: [204, 304]
"#);
    let c = client(d, settings(&server), Credentials::new());
    let mut state = StreamState::incremental(Some("2026-01-01T00:00:00Z".into()));
    state.max_cursor = Some("2026-01-01T00:00:00Z".into());
    let page = c.read_page("items", &state).await.unwrap();
    assert!(page.records.is_empty() && page.next.is_none(), "{page:?}");
    assert_eq!(page.max_cursor.as_deref(), Some("2026-01-01T00:00:00Z"));
}

#[test]
fn empty_statuses_must_be_successes_or_redirections() {
    let err = parse_definition(
        "test",
        "id: test\nname: Test\nstreams:\n  items:\n    request: {path: /items}\n    records: /items\n    empty_statuses: [404]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("streams.items.empty_statuses") && err.contains("404"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// PHP-style form bodies and errors inside 2xx responses (RPC-over-HTTP APIs such as Moodle's
// web services)

const FORM_RPC: &str = r#"
id: test
name: Test
auth: {type: api_key, in: query, name: token}
errors:
  message: /message
  rules:
    - body: {pointer: /errorcode, one_of: [invalidtoken]}
      action: reauth
    - body: {pointer: /errorcode, one_of: [dmlwriteexception]}
      action: retry
    - body: {pointer: /exception}
      action: fail
streams:
  people:
    request:
      method: POST
      path: /rpc
      query: {fn: list}
      body_format: php_form
      body: {criteria: [{key: email, value: "%"}]}
    records: /people
writes:
  people.create:
    kind: create
    key: /username
    batch_size: 10
    request:
      method: POST
      path: /rpc
      query: {fn: create}
      body_format: php_form
      body: {people: "{{ records }}"}
    response: {results: "", result_key: /username, destination_id: /id}
"#;

/// The `people[i][username]` values of a PHP-style form body, in order.
fn form_usernames(body: &[u8]) -> Vec<String> {
    form_urlencoded::parse(body)
        .filter(|(k, _)| k.starts_with("people[") && k.ends_with("][username]"))
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[tokio::test]
async fn php_form_bodies_carry_nested_records_in_bracket_notation_with_digit_booleans() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(query_param("fn", "create"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(|req: &Request| {
            let body = String::from_utf8(req.body.clone()).unwrap();
            assert_eq!(
                body,
                "people%5B0%5D%5Bcreatepassword%5D=1&people%5B0%5D%5Bemail%5D=ada%40example.com\
                 &people%5B0%5D%5Broles%5D%5B0%5D=5&people%5B0%5D%5Busername%5D=ada\
                 &people%5B1%5D%5Bcreatepassword%5D=0&people%5B1%5D%5Bprofile%5D%5Bcity%5D=Perth\
                 &people%5B1%5D%5Busername%5D=grace"
            );
            let results: Vec<Value> = form_usernames(&req.body)
                .iter()
                .enumerate()
                .map(|(i, u)| json!({"id": 40 + i, "username": u}))
                .collect();
            ResponseTemplate::new(200).set_body_json(results)
        })
        .expect(1)
        .mount(&server)
        .await;
    let c = client(
        def(FORM_RPC),
        settings(&server),
        Credentials::new().with("api_key", "t0k"),
    );
    let records = vec![
        json!({"username": "ada", "email": "ada@example.com", "createpassword": true, "roles": [5], "note": null}),
        json!({"username": "grace", "createpassword": false, "profile": {"city": "Perth"}}),
    ];
    let results = c.write_batch("people.create", &records).await.unwrap();
    assert_eq!(
        results,
        vec![
            WriteResult::Ok {
                destination_id: Some("40".into())
            },
            WriteResult::Ok {
                destination_id: Some("41".into())
            },
        ]
    );
}

#[tokio::test]
async fn errors_in_a_200_body_are_classified_like_their_http_equivalents() {
    let server = MockServer::start().await;
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    // Writes: a batch holding `taken` is refused as a whole, with HTTP 200.
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(query_param("fn", "create"))
        .respond_with(move |req: &Request| {
            let names = form_usernames(&req.body);
            seen.lock().unwrap().push(names.len());
            if names.iter().any(|n| n == "taken") {
                return ResponseTemplate::new(200).set_body_json(json!({
                    "exception": "invalid_parameter_exception", "errorcode": "invalidparameter",
                    "message": "Invalid parameter value detected (Username already exists: taken)"
                }));
            }
            let results: Vec<Value> = names.iter().map(|u| json!({"id": 7, "username": u})).collect();
            ResponseTemplate::new(200).set_body_json(results)
        })
        .mount(&server)
        .await;
    // Reads: the token `expired` is refused with HTTP 200; a good one lists people.
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(query_param("fn", "list"))
        .and(query_param("token", "expired"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "exception": "moodle_exception", "errorcode": "invalidtoken", "message": "Invalid token - token not found"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(query_param("fn", "list"))
        .and(query_param("token", "busy"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "exception": "dml_write_exception", "errorcode": "dmlwriteexception", "message": "Error writing to database"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(query_param("fn", "list"))
        .and(query_param("token", "t0k"))
        .and(body_string_contains("criteria%5B0%5D%5Bvalue%5D=%25"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"people": [{"id": 1}, {"id": 2}]})))
        .mount(&server)
        .await;

    let good = client(
        def(FORM_RPC),
        settings(&server),
        Credentials::new().with("api_key", "t0k"),
    );
    let (records, _, _) = read_all(&good, "people", StreamState::full_refresh()).await;
    assert_eq!(records.len(), 2, "a 200 without an exception is a success");

    let expired = client(
        def(FORM_RPC),
        settings(&server),
        Credentials::new().with("api_key", "expired"),
    );
    let err = expired
        .read_page("people", &StreamState::full_refresh())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth, "{err}");
    assert_eq!(err.status, Some(200));
    assert!(err.message.contains("Invalid token"), "{err}");

    let busy = client(
        def(FORM_RPC),
        ClientSettings {
            max_inline_retries: 0,
            ..settings(&server)
        },
        Credentials::new().with("api_key", "busy"),
    );
    let err = busy
        .read_page("people", &StreamState::full_refresh())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");

    let names = ["a", "b", "taken", "d"];
    let records: Vec<Value> = names.iter().map(|n| json!({"username": n})).collect();
    let results = good.write_batch("people.create", &records).await.unwrap();
    for (i, r) in results.iter().enumerate() {
        if i == 2 {
            assert!(
                matches!(r, WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("Username already exists")),
                "{r:?}"
            );
        } else {
            assert!(r.is_ok(), "{i}: {r:?}");
        }
    }
    // 4 refused -> [a, b] ok, [taken, d] refused -> [taken] refused, [d] ok.
    assert_eq!(*sizes.lock().unwrap(), vec![4, 2, 2, 1, 1]);
}

// ---------------------------------------------------------------------------------------------
// Reading the current version before a write; definition-wide query parameters

const VERSIONED: &str = r#"
id: test
name: Test
query: {v: "3"}
streams:
  things:
    request: {path: /things}
    records: /things
    fetch: {request: {path: "/things/{{ id }}"}, record: /thing}
writes:
  things.save:
    kind: create
    key: /id
    read_current: {stream: things}
    request:
      method: POST
      path: /things
      body: {"...": "{{ record }}", version: "{{ current.version }}", sparse: true}
    response: {destination_id: /thing/id}
"#;

#[tokio::test]
async fn a_read_current_write_reads_the_version_first_and_a_create_reads_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/things/7"))
        .and(query_param("v", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"thing": {"id": "7", "version": "4"}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/things/8"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    Mock::given(method("POST"))
        .and(path("/things"))
        .and(query_param("v", "3"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            seen.lock().unwrap().push(body.clone());
            let id = body.get("id").cloned().unwrap_or(json!("new"));
            ResponseTemplate::new(200).set_body_json(json!({"thing": {"id": id}}))
        })
        .expect(2)
        .mount(&server)
        .await;
    let c = client(def(VERSIONED), settings(&server), Credentials::new());
    let results = c
        .write_batch(
            "things.save",
            &[
                // The caller's stale version is replaced by the one just read.
                json!({"id": "7", "name": "seven", "version": "1"}),
                json!({"name": "fresh"}),
                json!({"id": "8", "name": "gone"}),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[..2],
        [
            WriteResult::Ok {
                destination_id: Some("7".into())
            },
            WriteResult::Ok {
                destination_id: Some("new".into())
            }
        ]
    );
    match &results[2] {
        WriteResult::Failed { reason, class } => {
            assert_eq!(*class, ErrorClass::Permanent);
            assert!(reason.contains("no `things` record"), "{reason}");
        }
        other => panic!("an update of an unknown record fails: {other:?}"),
    }
    assert_eq!(
        *bodies.lock().unwrap(),
        vec![
            json!({"id": "7", "name": "seven", "version": "4", "sparse": true}),
            json!({"name": "fresh", "sparse": true}),
        ]
    );
}

#[test]
fn read_current_needs_a_key_batch_size_one_and_a_stream_that_fetches() {
    let bad = |from: &str, to: &str| {
        parse_definition("test", &VERSIONED.replace(from, to))
            .expect_err("refused")
            .to_string()
    };
    assert!(bad("    key: /id\n", "").contains("writes.things.save.key"));
    assert!(bad("    key: /id\n", "    key: /id\n    batch_size: 10\n").contains("use batch_size 1"));
    assert!(bad("read_current: {stream: things}", "read_current: {stream: nothing}").contains("no stream `nothing`"));
    assert!(bad(
        "    fetch: {request: {path: \"/things/{{ id }}\"}, record: /thing}\n",
        ""
    )
    .contains("has no `fetch`"));
    // Without `read_current` there is no `current` to send.
    assert!(bad("    read_current: {stream: things}\n", "").contains("current.version"));
}

#[tokio::test]
async fn jwt_bearer_grant_posts_an_rs256_assertion_signed_with_the_private_key_and_no_secret() {
    let (private, public) = generated_rsa_pem();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "jwt-access", "token_type": "Bearer"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer jwt-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let d = oauth_def(
        &server,
        ", grant: jwt_bearer, client_auth: none, audience: 'https://login.example.com', assertion_lifetime_secs: 120",
    );
    let creds = Credentials::new()
        .with("client_id", "consumer-key")
        .with("private_key", private)
        .with("username", "integration@example.com");
    let c = client(d.clone(), settings(&server), creds);
    c.read_page("items", &StreamState::default()).await.unwrap();

    let token_request = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/oauth/token")
        .expect("the token endpoint was called");
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(&token_request.body).into_owned().collect();
    assert_eq!(
        form.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["assertion", "grant_type"],
        "only the grant and the assertion: no client secret"
    );
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["https://login.example.com"]);
    validation.set_issuer(&["consumer-key"]);
    let claims = jsonwebtoken::decode::<Value>(
        &form["assertion"],
        &jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        &validation,
    )
    .expect("the assertion verifies with the public key")
    .claims;
    assert_eq!(claims["sub"], "integration@example.com");
    let exp = claims["exp"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 100..=now + 121).contains(&exp),
        "exp {exp} is the assertion lifetime ahead of {now}"
    );

    // Without the key the alternative is not usable; a key that is not PEM RSA is a
    // credentials error that does not quote it.
    let bad = Credentials::new()
        .with("client_id", "consumer-key")
        .with("private_key", "not-a-key-but-secret-text")
        .with("username", "integration@example.com");
    let err = client(d, settings(&server), bad)
        .read_page("items", &StreamState::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Credentials, "{err}");
    assert!(!err.message.contains("secret-text"), "{err}");
}

#[test]
fn a_jwt_bearer_grant_without_an_audience_is_refused_naming_the_field() {
    let err = parse_definition(
        "test.yaml",
        &format!("{ITEMS}auth: {{type: oauth2, token_url: 'https://x/t', grant: jwt_bearer, client_auth: none}}\n"),
    )
    .unwrap_err();
    assert_eq!(err.field, "auth[0].audience", "{err}");
}

// ---------------------------------------------------------------------------------------------
// XML bodies, XML responses, SOAP faults and login sessions

/// An XML gateway behind one URL (`POST /gw`), like Sage Intacct's: a login function answers
/// a session id, reads page with a continuation id, and any request with a session the
/// gateway forgot is refused with an authentication failure inside a 200.
const XML_GATEWAY: &str = r#"
id: test
name: Test
errors:
  message: /response/operation/errormessage/error/description2
  rules:
    - body: {pointer: /response/operation/authentication/status, equals: failure}
      action: reauth
auth:
  type: session
  credentials: [user, password]
  login:
    method: POST
    path: /gw
    body_format: xml
    body: "<request><login><user>{{ credentials.user }}</user><password>{{ credentials.password }}</password></login></request>"
  token: {pointer: /response/operation/result/data/sessionid}
  lifetime_secs: 600
streams:
  items:
    request:
      method: POST
      path: /gw
      body_format: xml
      body: "<request><session>{{ session.token }}</session><list><size>2</size></list></request>"
    next_request:
      method: POST
      path: /gw
      body_format: xml
      body: "<request><session>{{ session.token }}</session><more>{{ page.token }}</more></request>"
    records: /response/operation/result/data/item
    primary_key: /ID
    # The result set's id stays the same from page to page.
    pagination: {type: cursor, result_set: true, token: /response/operation/result/data/@resultId, has_more: /response/operation/result/data/@numremaining}
writes:
  items.create:
    kind: create
    request:
      method: POST
      path: /gw
      body_format: xml
      body: "<request><session>{{ session.token }}</session><create><item>{{ record }}</item></create></request>"
    response:
      results: /response/operation/result
      destination_id: /data/item/ID
"#;

fn xml(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/xml; charset=utf-8")
}

/// The gateway's state: logins counted; the sessions it accepts.
#[derive(Default)]
struct Gateway {
    logins: AtomicUsize,
    valid: Mutex<Vec<String>>,
    bodies: Mutex<Vec<String>>,
}

fn gateway_answer(gw: &Gateway, req: &Request) -> ResponseTemplate {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    gw.bodies.lock().unwrap().push(body.clone());
    if body.contains("<login>") {
        if !body.contains("<user>ada</user><password>p&lt;w&amp;d</password>") {
            return xml(
                "<response><operation><authentication><status>failure</status></authentication>\
                        <errormessage><error><description2>Invalid login</description2></error></errormessage>\
                        </operation></response>"
                    .into(),
            );
        }
        let n = gw.logins.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("S{n}");
        gw.valid.lock().unwrap().push(id.clone());
        return xml(format!(
            "<response><operation><result><status>success</status><data><sessionid>{id}</sessionid></data></result></operation></response>"
        ));
    }
    let session = body
        .split("<session>")
        .nth(1)
        .and_then(|s| s.split("</session>").next())
        .unwrap_or_default()
        .to_owned();
    if !gw.valid.lock().unwrap().contains(&session) {
        return xml(
            "<response><operation><authentication><status>failure</status></authentication>\
                    <errormessage><error><description2>Session expired</description2></error></errormessage>\
                    </operation></response>"
                .into(),
        );
    }
    if body.contains("<list>") {
        return xml("<response><operation><result><status>success</status>\
                    <data count=\"2\" numremaining=\"1\" resultId=\"R-1\"><item><ID>1</ID></item><item><ID>2</ID></item></data>\
                    </result></operation></response>"
            .into());
    }
    if body.contains("<more>R-1</more>") {
        return xml("<response><operation><result><status>success</status>\
                    <data count=\"1\" numremaining=\"0\" resultId=\"R-1\"><item><ID>3</ID></item></data>\
                    </result></operation></response>"
            .into());
    }
    if body.contains("<create>") {
        return xml(
            "<response><operation><result><status>success</status><data><item><ID>9</ID></item></data>\
                    </result></operation></response>"
                .into(),
        );
    }
    ResponseTemplate::new(400)
}

async fn gateway_server() -> (MockServer, Arc<Gateway>) {
    let server = MockServer::start().await;
    let gw = Arc::new(Gateway::default());
    let state = gw.clone();
    Mock::given(method("POST"))
        .and(path("/gw"))
        .respond_with(move |req: &Request| gateway_answer(&state, req))
        .mount(&server)
        .await;
    (server, gw)
}

fn gateway_creds() -> Credentials {
    Credentials::new().with("user", "ada").with("password", "p<w&d")
}

#[tokio::test]
async fn a_session_login_feeds_xml_bodies_and_continuation_pages_are_read_as_json() {
    let (server, gw) = gateway_server().await;
    let c = client(def(XML_GATEWAY), settings(&server), gateway_creds());
    let (records, _, pages) = read_all(&c, "items", StreamState::default()).await;
    let ids: Vec<_> = records.iter().map(|r| r["ID"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(pages, 2);
    // One login for the whole run; the credentials went out XML-escaped, the session in the body.
    assert_eq!(gw.logins.load(Ordering::SeqCst), 1);
    let bodies = gw.bodies.lock().unwrap().clone();
    assert!(bodies[1].contains("<session>S1</session><list>"), "{}", bodies[1]);
    assert!(bodies[2].contains("<more>R-1</more>"), "{}", bodies[2]);
}

#[tokio::test]
async fn an_expired_session_logs_in_again_once_and_the_request_is_resent() {
    let (server, gw) = gateway_server().await;
    let c = client(def(XML_GATEWAY), settings(&server), gateway_creds());
    c.read_page("items", &StreamState::default()).await.unwrap();
    // The gateway forgets every session: the next request is refused, then sent again.
    gw.valid.lock().unwrap().clear();
    let page = c.read_page("items", &StreamState::default()).await.unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(gw.logins.load(Ordering::SeqCst), 2);
    let results = c.write_batch("items.create", &[json!({"NAME": "x"})]).await.unwrap();
    assert_eq!(
        results,
        vec![WriteResult::Ok {
            destination_id: Some("9".into())
        }]
    );
    assert_eq!(gw.logins.load(Ordering::SeqCst), 2, "a valid session is kept");
}

#[tokio::test]
async fn a_refused_login_needs_reauth_and_quotes_no_credential() {
    let (server, gw) = gateway_server().await;
    let creds = Credentials::new().with("user", "ada").with("password", "wrong-secret");
    let c = client(def(XML_GATEWAY), settings(&server), creds);
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ReAuth);
    assert_eq!(err.kind, ErrorKind::NeedsReauth);
    assert!(
        err.message.contains("login") && err.message.contains("Invalid login"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("wrong-secret"));
    assert_eq!(gw.logins.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn xml_record_values_are_escaped_and_a_dry_run_shows_no_secret() {
    let (server, gw) = gateway_server().await;
    let c = client(def(XML_GATEWAY), settings(&server), gateway_creds());
    let record = json!({"NAME": "</NAME><ADMIN>1</ADMIN>", "NOTE": "a & b"});
    let plan = c.plan_write("items.create", std::slice::from_ref(&record)).unwrap();
    let shown = plan.requests[0].request.body.clone().unwrap();
    assert_eq!(
        shown,
        json!("<request><session>[REDACTED]</session><create><item><NAME>&lt;/NAME&gt;&lt;ADMIN&gt;1&lt;/ADMIN&gt;</NAME><NOTE>a &amp; b</NOTE></item></create></request>")
    );
    assert_eq!(gw.logins.load(Ordering::SeqCst), 0, "a dry run does not log in");
    c.write_batch("items.create", &[record]).await.unwrap();
    let sent = gw.bodies.lock().unwrap().last().cloned().unwrap();
    assert!(
        sent.contains("<session>S1</session>") && !sent.contains("<ADMIN>"),
        "{sent}"
    );
    // A value XML cannot carry fails that record, unsent.
    let sent_before = gw.bodies.lock().unwrap().len();
    let results = c
        .write_batch("items.create", &[json!({"NAME": "bell\u{7}"})])
        .await
        .unwrap();
    match &results[0] {
        WriteResult::Failed { reason, .. } => assert!(reason.contains("character XML cannot carry"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(gw.bodies.lock().unwrap().len(), sent_before);
}

const SOAP: &str = r#"
id: test
name: Test
errors:
  message: /Envelope/Body/Fault/faultstring
  rules:
    # SOAP 1.1 answers every fault with HTTP 500; a Client fault is the caller's mistake.
    - status: [500]
      body: {pointer: /Envelope/Body/Fault/faultcode, contains: Client}
      action: fail
streams:
  items:
    request:
      method: POST
      path: /soap
      headers: {SOAPAction: '"urn:List"'}
      body_format: xml
      body: '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><List/></soap:Body></soap:Envelope>'
    records: /Envelope/Body/ListResponse/item
"#;

fn soap_fault(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_raw(
        format!(
            "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault>\
             <faultcode>soap:{code}</faultcode><faultstring>{code} says no</faultstring></soap:Fault></soap:Body></soap:Envelope>"
        )
        .into_bytes(),
        "text/xml; charset=utf-8",
    )
}

#[tokio::test]
async fn soap_faults_are_classified_like_their_http_equivalents() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/soap"))
        .and(header("SOAPAction", "\"urn:List\""))
        .respond_with(soap_fault("Client"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/soap"))
        .respond_with(soap_fault("Server"))
        .mount(&server)
        .await;
    let mut s = settings(&server);
    s.max_inline_retries = 0;
    let c = client(def(SOAP), s, Credentials::new());
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("Client says no"), "{}", err.message);
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(
        err.class,
        ErrorClass::Transient,
        "a Server fault is a 5xx: {}",
        err.message
    );
}

#[tokio::test]
async fn an_xml_response_with_a_dtd_is_refused_unread() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(xml(
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>".into(),
        ))
        .mount(&server)
        .await;
    let c = client(def(SOAP), settings(&server), Credentials::new());
    let err = c.read_page("items", &StreamState::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidResponse);
    assert!(!err.message.contains("passwd"), "{}", err.message);
}

#[test]
fn secret_slots_need_the_auth_that_fills_them() {
    parse_definition("test", XML_GATEWAY).unwrap();
    let without = r#"
id: test
name: Test
auth: {type: bearer}
streams:
  items:
    request: {method: POST, path: /gw, body_format: xml, body: "<s>{{ session.token }}</s>"}
    records: /r
"#;
    let err = parse_definition("test", without).unwrap_err().to_string();
    assert!(err.contains("type: session"), "{err}");
    let undeclared = without.replace("session.token", "credentials.other");
    let err = parse_definition("test", &undeclared).unwrap_err().to_string();
    assert!(err.contains("`other`"), "{err}");
    let json_body = without.replace(
        "body_format: xml, body: \"<s>{{ session.token }}</s>\"",
        "body: {s: \"{{ session.token }}\"}",
    );
    let err = parse_definition("test", &json_body).unwrap_err().to_string();
    assert!(err.contains("session.token"), "{err}");
}

/// A fresh 2048-bit RSA key pair as PEM (private PKCS#8, public SPKI), generated at test time
/// so no key is ever committed. Generated once per test binary.
fn generated_rsa_pem() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
        let private = key.to_pkcs8_pem(LineEnding::LF).expect("PEM").to_string();
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).expect("PEM");
        (private, public)
    })
}

#[tokio::test]
async fn app_jwt_grant_exchanges_a_signed_app_jwt_for_an_installation_token_until_it_expires() {
    let (private, public) = generated_rsa_pem();
    let server = MockServer::start().await;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let expires_text = expires.format(&time::format_description::well_known::Rfc3339).unwrap();
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"token": "ghs_installation", "expires_at": expires_text})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer ghs_installation"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(2)
        .mount(&server)
        .await;
    let d = def(&format!(
        "{ITEMS}config: {{installation_id: {{required: true}}}}\nauth:\n  - {{type: bearer}}\n  - {{type: oauth2, grant: app_jwt, \
         token_url: '{}/app/installations/{{{{ config.installation_id }}}}/access_tokens', token_pointer: /token, \
         expires_at_pointer: /expires_at, assertion_lifetime_secs: 540}}\n",
        server.uri()
    ));
    let stored = Arc::new(Mutex::new(Vec::new()));
    let sink = stored.clone();
    let creds = Credentials::new()
        .with("client_id", "12345")
        .with("private_key", private.as_str())
        .on_token_refresh(move |update| {
            sink.lock().unwrap().push(update.expires_at);
            async { Ok(()) }
        });
    let mut s = settings(&server);
    s.config.insert("installation_id".into(), json!("42"));
    let c = client(d.clone(), s.clone(), creds);
    c.read_page("items", &StreamState::default()).await.unwrap();
    // The token is reused until it nears the expiry the response gave (one token request).
    c.read_page("items", &StreamState::default()).await.unwrap();
    assert_eq!(
        *stored.lock().unwrap(),
        vec![expires.unix_timestamp()],
        "the expiry is the response's expires_at"
    );

    let token_request = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path().ends_with("/access_tokens"))
        .expect("the token endpoint was called");
    assert!(token_request.body.is_empty(), "an empty POST: no secret, no form");
    let bearer = token_request.headers["authorization"].to_str().unwrap();
    let jwt = bearer.strip_prefix("Bearer ").expect("the app JWT as a bearer token");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&["12345"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        &validation,
    )
    .expect("the app JWT verifies with the public key")
    .claims;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        (now - 70..=now - 50).contains(&iat),
        "iat {iat} is a minute back from {now}"
    );
    assert!(
        (now + 530..=now + 541).contains(&exp),
        "exp {exp} is the lifetime ahead of {now}"
    );

    // The app alternative needs its id and key; a key that is not PEM RSA is a credentials
    // error that does not quote it.
    let bad = Credentials::new()
        .with("client_id", "12345")
        .with("private_key", "not-a-key-but-secret-text");
    let err = client(d, s, bad)
        .read_page("items", &StreamState::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Credentials, "{err}");
    assert!(!err.message.contains("secret-text"), "{err}");
}

#[tokio::test]
async fn an_oauth_token_header_carries_the_bare_token_instead_of_authorization() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "Atza|t1", "expires_in": 3600})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("x-amz-access-token", "Atza|t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(
        oauth_def(&server, ", token_header: x-amz-access-token"),
        settings(&server),
        oauth_creds("", 0),
    );
    c.read_page("items", &StreamState::default()).await.unwrap();
    let items = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/items")
        .unwrap();
    assert!(
        !items.headers.contains_key("authorization"),
        "the token goes only in its own header"
    );
}

#[test]
fn a_base_url_reads_only_config_keys_limited_to_one_of_values() {
    let regional = format!(
        "{ITEMS}base_url: 'https://api-{{{{ config.region }}}}.example.com'\nconfig: {{region: {{default: na, one_of: [na, eu, fe]}}}}\n"
    );
    let d = def(&regional);
    let build = |config: Value| {
        let settings = ClientSettings {
            config: config.as_object().cloned().unwrap_or_default(),
            ..ClientSettings::default()
        };
        ConnectorClient::new(d.clone(), settings, Credentials::new(), reqwest::Client::new())
    };
    let base = |c: &ConnectorClient| c.configured_base_url().to_string();
    assert_eq!(
        base(&build(json!({})).unwrap()),
        "https://api-na.example.com/",
        "the default region"
    );
    assert_eq!(
        base(&build(json!({"region": "eu"})).unwrap()),
        "https://api-eu.example.com/"
    );
    // A value outside `one_of` cannot move the host.
    let err = build(json!({"region": "evil.example.net/x"})).expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Config, "{err}");
    assert!(err.message.contains("must be one of na, eu, fe"), "{err}");

    // The definition must limit the key, and its default must be one of the values.
    let open = format!(
        "{ITEMS}base_url: 'https://api-{{{{ config.region }}}}.example.com'\nconfig: {{region: {{default: na}}}}\n"
    );
    let err = parse_definition("test", &open).unwrap_err();
    assert!(err.field == "base_url" && err.to_string().contains("one_of"), "{err}");
    let bad_default = format!("{ITEMS}config: {{region: {{default: us, one_of: [na, eu]}}}}\n");
    assert_eq!(
        parse_definition("test", &bad_default).unwrap_err().field,
        "config.region.default"
    );
}

#[test]
fn operation_limits_are_validated_naming_the_field() {
    let with = |op: &str| format!("{ITEMS}rate_limit:\n  operations:\n    - {op}\n");
    def(&with(
        "{name: getOrders, method: GET, path: /orders, rate: 0.0167, burst: 20, rate_header: x-amzn-RateLimit-Limit}",
    ));
    for (op, field) in [
        (
            "{name: a, path: '/orders/(', rate: 1, burst: 1}",
            "rate_limit.operations[0].path",
        ),
        (
            "{name: a, path: /orders, rate: 0, burst: 1}",
            "rate_limit.operations[0].rate",
        ),
        (
            "{name: a, path: /orders, rate: 1, burst: 0}",
            "rate_limit.operations[0].burst",
        ),
        (
            "{name: a, path: /orders, rate: 1, burst: 1, rate_header: 'bad header'}",
            "rate_limit.operations[0].rate_header",
        ),
    ] {
        assert_eq!(parse_definition("test", &with(op)).unwrap_err().field, field, "{op}");
    }
}
