use std::time::Duration;

use serde_json::{json, Value};
use switchyard_fakes::hubspot::{self, HubspotConfig, OAuthConfig, ObjectType, PropertySchema, TEST_TOKEN};
use switchyard_fakes::{FakeHandle, RateLimit};

use crate::{client, form, header, parts};

type Hub = FakeHandle<hubspot::Hubspot>;

/// A fake with a limit no test here reaches unless it means to.
fn hub() -> Hub {
    hubspot::start(HubspotConfig {
        rate_limit: RateLimit::new(10_000, Duration::from_secs(10)),
        ..HubspotConfig::default()
    })
}

async fn get(hub: &Hub, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    parts(
        client()
            .get(hub.url(path))
            .bearer_auth(TEST_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post(hub: &Hub, path: &str, body: Value) -> (u16, Value) {
    let (status, _, body) = parts(
        client()
            .post(hub.url(path))
            .bearer_auth(TEST_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (status, body)
}

fn upsert_input(email: &str, firstname: &str) -> Value {
    json!({ "idProperty": "email", "id": email, "properties": { "firstname": firstname } })
}

#[tokio::test]
async fn missing_or_unknown_token_gets_401_with_hubspots_body() {
    let hub = hub();
    for request in [
        client().get(hub.url("/crm/v3/objects/contacts")),
        client()
            .get(hub.url("/crm/v3/objects/contacts"))
            .bearer_auth("not-a-token"),
    ] {
        let (status, headers, body) = parts(request.send().await.unwrap()).await;
        assert_eq!(status, 401);
        assert_eq!(body["status"], "error");
        assert_eq!(body["category"], "INVALID_AUTHENTICATION");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("Authentication credentials not found."));
        assert_eq!(body["correlationId"].as_str().unwrap().len(), 36);
        assert!(header(&headers, "x-hubspot-ratelimit-max").is_none());
    }
}

#[tokio::test]
async fn list_pages_with_after_until_the_last_page() {
    let hub = hub();
    let created: Vec<String> = (0..25)
        .map(|i| {
            hub.insert(ObjectType::Contacts, &[("email", &format!("p{i}@example.com"))])
                .id
        })
        .collect();
    let mut seen = Vec::new();
    let mut path = "/crm/v3/objects/contacts?limit=10&properties=email".to_owned();
    let mut pages = 0;
    loop {
        let (status, _, body) = get(&hub, &path).await;
        assert_eq!(status, 200);
        pages += 1;
        for result in body["results"].as_array().unwrap() {
            assert!(result["properties"]["email"]
                .as_str()
                .unwrap()
                .ends_with("@example.com"));
            assert_eq!(result["archived"], false);
            seen.push(result["id"].as_str().unwrap().to_owned());
        }
        match body["paging"]["next"]["after"].as_str() {
            Some(after) => {
                assert!(body["paging"]["next"]["link"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("after={after}")));
                path = format!("/crm/v3/objects/contacts?limit=10&properties=email&after={after}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn list_limit_above_100_is_a_validation_error() {
    let hub = hub();
    let (status, _, body) = get(&hub, "/crm/v3/objects/contacts?limit=101").await;
    assert_eq!(status, 400);
    assert_eq!(body["category"], "VALIDATION_ERROR");
    let (status, _, _) = get(&hub, "/crm/v3/objects/contacts?limit=100").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn default_properties_are_returned_when_none_are_requested() {
    let hub = hub();
    let contact = hub.insert(ObjectType::Contacts, &[("email", "d@example.com"), ("phone", "123")]);
    let (status, _, body) = get(&hub, &format!("/crm/v3/objects/contacts/{}", contact.id)).await;
    assert_eq!(status, 200);
    let properties = body["properties"].as_object().unwrap();
    let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname"
        ]
    );
    assert_eq!(body["properties"]["firstname"], Value::Null);
    assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn read_by_email_with_id_property() {
    let hub = hub();
    let contact = hub.insert(
        ObjectType::Contacts,
        &[("email", "ann@example.com"), ("firstname", "Ann")],
    );
    let (status, _, body) = get(
        &hub,
        "/crm/v3/objects/contacts/ANN@example.com?idProperty=email&properties=firstname",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], json!(contact.id));
    assert_eq!(body["properties"]["firstname"], "Ann");
    let (status, _, body) = get(&hub, "/crm/v3/objects/contacts/nobody@example.com?idProperty=email").await;
    assert_eq!(status, 404);
    assert_eq!(body["category"], "OBJECT_NOT_FOUND");
}

#[tokio::test]
async fn create_returns_201_and_a_taken_email_is_a_409_conflict() {
    let hub = hub();
    let (status, first) = post(
        &hub,
        "/crm/v3/objects/contacts",
        json!({"properties": {"email": "c@example.com", "firstname": "C"}}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(first["properties"]["firstname"], "C");
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts",
        json!({"properties": {"email": "C@example.com"}}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["category"], "CONFLICT");
    assert_eq!(
        body["message"],
        format!("Contact already exists. Existing ID: {}", first["id"].as_str().unwrap())
    );
    assert_eq!(hub.count(ObjectType::Contacts), 1);
}

#[tokio::test]
async fn patch_updates_properties_and_moves_the_modified_date() {
    let hub = hub();
    let deal = hub.insert(ObjectType::Deals, &[("dealname", "Big"), ("amount", "10")]);
    let response = client()
        .patch(hub.url(&format!("/crm/v3/objects/deals/{}", deal.id)))
        .bearer_auth(TEST_TOKEN)
        .json(&json!({"properties": {"amount": 20, "dealname": ""}}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["properties"]["amount"], "20");
    assert!(body["properties"].get("dealname").is_none());
    let stored = hub.object(ObjectType::Deals, &deal.id).unwrap();
    assert!(stored.updated_at > deal.updated_at);
    assert_eq!(stored.get("amount"), Some("20"));
}

#[tokio::test]
async fn unknown_properties_and_invalid_emails_are_validation_errors() {
    let hub = hub();
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts",
        json!({"properties": {"email": "x@example.com", "stripe_customer_id": "cus_1"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["category"], "VALIDATION_ERROR");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("Property values were not valid: "));
    assert!(message.contains("PROPERTY_DOESNT_EXIST"));

    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts",
        json!({"properties": {"email": "nope"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("INVALID_EMAIL"));
    assert_eq!(hub.count(ObjectType::Contacts), 0);

    let custom = hubspot::start(HubspotConfig {
        schema: PropertySchema::default().with_property(ObjectType::Contacts, "stripe_customer_id"),
        ..HubspotConfig::default()
    });
    let (status, body) = post(
        &custom,
        "/crm/v3/objects/contacts",
        json!({"properties": {"email": "x@example.com", "stripe_customer_id": "cus_1"}}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["properties"]["stripe_customer_id"], "cus_1");
}

#[tokio::test]
async fn batches_of_more_than_100_inputs_are_rejected_with_400_and_write_nothing() {
    let hub = hub();
    let inputs = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| upsert_input(&format!("b{i}@example.com"), "B"))
            .collect()
    };
    for operation in ["create", "update", "read", "upsert"] {
        let (status, body) = post(
            &hub,
            &format!("/crm/v3/objects/contacts/batch/{operation}"),
            json!({ "inputs": inputs(101) }),
        )
        .await;
        assert_eq!(status, 400, "{operation}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["category"], "VALIDATION_ERROR");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("maximum number of inputs supported in a batch request is 100"));
    }
    assert_eq!(hub.count(ObjectType::Contacts), 0);
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/upsert",
        json!({ "inputs": inputs(100) }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["results"].as_array().unwrap().len(), 100);
    assert_eq!(hub.count(ObjectType::Contacts), 100);
}

#[tokio::test]
async fn upsert_by_email_creates_then_updates() {
    let hub = hub();
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/upsert",
        json!({ "inputs": [upsert_input("Up@Example.com", "First")] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "COMPLETE");
    assert!(body["startedAt"].is_string() && body["completedAt"].is_string());
    let created = &body["results"][0];
    assert_eq!(created["new"], true);
    assert_eq!(created["archived"], false);
    assert_eq!(created["properties"]["email"], "up@example.com");
    assert_eq!(created["properties"]["firstname"], "First");
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/upsert",
        json!({ "inputs": [upsert_input("up@example.com", "Second")] }),
    )
    .await;
    assert_eq!(status, 200);
    let updated = &body["results"][0];
    assert_eq!(updated["new"], false);
    assert_eq!(updated["id"], json!(id));
    assert_eq!(updated["properties"]["firstname"], "Second");
    assert_eq!(hub.count(ObjectType::Contacts), 1);
    assert_eq!(
        hub.find(ObjectType::Contacts, "email", "up@example.com")
            .unwrap()
            .get("firstname"),
        Some("Second")
    );
}

#[tokio::test]
async fn upsert_with_an_invalid_email_is_a_207_and_the_valid_inputs_are_written() {
    let hub = hub();
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/upsert",
        json!({ "inputs": [
            upsert_input("good@example.com", "Good"),
            upsert_input("not-an-email", "Bad"),
        ] }),
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(body["status"], "COMPLETE");
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    let error = &body["errors"][0];
    assert_eq!(error["status"], "error");
    assert_eq!(error["category"], "VALIDATION_ERROR");
    assert_eq!(error["id"], "not-an-email");
    assert_eq!(error["context"]["propertyName"], json!(["email"]));
    assert_eq!(error["errors"][0]["code"], "INVALID_EMAIL");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("Property values were not valid"));
    assert_eq!(hub.count(ObjectType::Contacts), 1);
}

#[tokio::test]
async fn batch_create_reports_invalid_inputs_in_a_207_with_their_trace_ids() {
    let hub = hub();
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/create",
        json!({ "inputs": [
            {"properties": {"email": "ok@example.com"}, "objectWriteTraceId": "t1"},
            {"properties": {"email": "nope"}, "objectWriteTraceId": "t2"},
        ] }),
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(body["results"][0]["objectWriteTraceId"], "t1");
    assert_eq!(body["errors"][0]["context"]["objectWriteTraceId"], json!(["t2"]));
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/create",
        json!({ "inputs": [{"properties": {"email": "new@example.com"}}] }),
    )
    .await;
    assert_eq!(status, 201);
    assert!(body.get("errors").is_none());
}

#[tokio::test]
async fn batch_create_with_a_taken_email_fails_whole_with_409() {
    let hub = hub();
    let existing = hub.insert(ObjectType::Contacts, &[("email", "taken@example.com")]);
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/create",
        json!({ "inputs": [
            {"properties": {"email": "fresh@example.com"}},
            {"properties": {"email": "taken@example.com"}},
        ] }),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["message"],
        format!("Contact already exists. Existing ID: {}", existing.id)
    );
    assert_eq!(hub.count(ObjectType::Contacts), 1);
}

#[tokio::test]
async fn batch_update_of_a_missing_id_is_a_207_object_not_found() {
    let hub = hub();
    let company = hub.insert(ObjectType::Companies, &[("name", "Acme")]);
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/companies/batch/update",
        json!({ "inputs": [
            {"id": company.id, "properties": {"name": "Acme Inc"}},
            {"id": "999999", "properties": {"name": "Ghost"}},
        ] }),
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(body["results"][0]["properties"]["name"], "Acme Inc");
    assert_eq!(body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(body["errors"][0]["context"]["ids"], json!(["999999"]));
}

#[tokio::test]
async fn duplicate_ids_in_a_batch_are_rejected() {
    let hub = hub();
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/upsert",
        json!({ "inputs": [upsert_input("d@example.com", "A"), upsert_input("D@example.com", "B")] }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("Duplicate IDs"));
    assert_eq!(hub.count(ObjectType::Contacts), 0);
}

#[tokio::test]
async fn batch_read_returns_found_objects_and_lists_missing_ids_in_one_error() {
    let hub = hub();
    let a = hub.insert(ObjectType::Contacts, &[("email", "a@example.com"), ("lastname", "A")]);
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/read",
        json!({ "properties": ["lastname"], "inputs": [{"id": a.id}, {"id": "404"}, {"id": "405"}] }),
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(body["results"][0]["properties"]["lastname"], "A");
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["errors"][0]["context"]["ids"], json!(["404", "405"]));
    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/batch/read",
        json!({ "idProperty": "email", "inputs": [{"id": "A@example.com"}] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][0]["id"], json!(a.id));
}

#[tokio::test]
async fn search_filters_on_lastmodifieddate_gte_sorted_and_paged_by_after() {
    let hub = hub();
    let contacts: Vec<_> = (0..12)
        .map(|i| hub.insert(ObjectType::Contacts, &[("email", &format!("s{i:02}@example.com"))]))
        .collect();
    let since = contacts[4].updated_at.to_string();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = json!({
            "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": since}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["email", "lastmodifieddate"],
            "limit": 3,
        });
        if let Some(after) = &after {
            request["after"] = json!(after);
        }
        let (status, body) = post(&hub, "/crm/v3/objects/contacts/search", request).await;
        assert_eq!(status, 200);
        assert_eq!(body["total"], 8);
        for result in body["results"].as_array().unwrap() {
            seen.push(result["properties"]["email"].as_str().unwrap().to_owned());
        }
        match body["paging"]["next"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (4..12).map(|i| format!("s{i:02}@example.com")).collect();
    assert_eq!(seen, expected);

    let (status, body) = post(
        &hub,
        "/crm/v3/objects/contacts/search",
        json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "S03@example.com"}]}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 1);
    assert_eq!(body["results"][0]["id"], json!(contacts[3].id));
}

#[tokio::test]
async fn search_limit_above_200_and_unknown_operators_are_validation_errors() {
    let hub = hub();
    let (status, body) = post(&hub, "/crm/v3/objects/contacts/search", json!({"limit": 201})).await;
    assert_eq!((status, body["category"].as_str()), (400, Some("VALIDATION_ERROR")));
    let (status, _) = post(
        &hub,
        "/crm/v3/objects/contacts/search",
        json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &hub,
        "/crm/v3/objects/contacts/search",
        json!({"after": "9950", "limit": 100}),
    )
    .await;
    assert_eq!(status, 400);
}

async fn refresh(hub: &Hub, refresh_token: &str) -> (u16, Value) {
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", "fake-client-id"),
        ("client_secret", "fake-client-secret"),
        ("refresh_token", refresh_token),
    ]);
    let (status, _, body) = parts(
        client()
            .post(hub.url("/oauth/v1/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn token_refresh_issues_a_working_access_token_and_rotates_the_refresh_token_when_configured() {
    let hub = hubspot::start(HubspotConfig {
        tokens: vec![],
        oauth: OAuthConfig {
            rotate_refresh_tokens: true,
            ..OAuthConfig::default()
        },
        ..HubspotConfig::default()
    });
    let (status, body) = refresh(&hub, "fake-refresh-token").await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let rotated = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, "fake-refresh-token");
    assert_eq!(hub.refresh_tokens(), vec![rotated.clone()]);
    assert_eq!(hub.issued_access_tokens(), vec![access.clone()]);

    let response = client()
        .get(hub.url("/crm/v3/objects/contacts"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let (status, body) = refresh(&hub, "fake-refresh-token").await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = refresh(&hub, &rotated).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn token_refresh_without_rotation_returns_the_same_refresh_token() {
    let hub = hub();
    let (status, body) = refresh(&hub, "fake-refresh-token").await;
    assert_eq!(status, 200);
    assert_eq!(body["refresh_token"], "fake-refresh-token");
    let (status, _) = refresh(&hub, "fake-refresh-token").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_refresh_token_is_bad_refresh_token_invalid_grant() {
    let hub = hub();
    let (status, body) = refresh(&hub, "stolen").await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["correlationId"].is_string());
    assert!(hub.issued_access_tokens().is_empty());
}

#[tokio::test]
async fn expired_access_token_gets_401_expired_authentication() {
    let hub = hub();
    let (_, body) = refresh(&hub, "fake-refresh-token").await;
    let access = body["access_token"].as_str().unwrap();
    hub.expire_access_token(access);
    let (status, _, body) = parts(
        client()
            .get(hub.url("/crm/v3/objects/contacts"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION");
}

#[tokio::test]
async fn the_default_limit_is_100_per_rolling_10_seconds_and_every_response_says_so() {
    let hub = hubspot::start(HubspotConfig::default());
    assert_eq!(hub.rate_limit(), hubspot::DEFAULT_RATE_LIMIT);
    let (status, headers, _) = get(&hub, "/crm/v3/objects/contacts").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-hubspot-ratelimit-max"), Some("100"));
    assert_eq!(header(&headers, "x-hubspot-ratelimit-remaining"), Some("99"));
    assert_eq!(
        header(&headers, "x-hubspot-ratelimit-interval-milliseconds"),
        Some("10000")
    );
}

#[tokio::test]
async fn past_100_requests_in_the_window_hubspot_answers_429_with_its_body_and_headers() {
    // A long window, so a slow machine cannot let the first requests roll out of it.
    let hub = hubspot::start(HubspotConfig {
        rate_limit: RateLimit::new(100, Duration::from_secs(600)),
        ..HubspotConfig::default()
    });
    for i in 0..100u32 {
        let (status, headers, _) = get(&hub, "/crm/v3/objects/contacts?limit=1").await;
        assert_eq!(status, 200, "request {i}");
        assert_eq!(
            header(&headers, "x-hubspot-ratelimit-remaining"),
            Some((99 - i).to_string().as_str())
        );
    }
    let (status, headers, body) = get(&hub, "/crm/v3/objects/contacts?limit=1").await;
    assert_eq!(status, 429);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(body["message"], "You have reached your ten_secondly_rolling limit.");
    assert!(body["correlationId"].is_string() && body["requestId"].is_string());
    assert!(
        header(&headers, "retry-after").is_none(),
        "HubSpot sends no Retry-After"
    );
    assert_eq!(header(&headers, "x-hubspot-ratelimit-max"), Some("100"));
    assert_eq!(header(&headers, "x-hubspot-ratelimit-remaining"), Some("0"));
    assert_eq!(
        header(&headers, "x-hubspot-ratelimit-interval-milliseconds"),
        Some("600000")
    );
    assert_eq!(get(&hub, "/crm/v3/objects/contacts").await.0, 429);
    assert_eq!(hub.rate_limited_count(), 2);
    assert_eq!(hub.requests.count_status(429), 2);
}

#[tokio::test]
async fn a_rate_limited_client_recovers_once_the_window_has_rolled() {
    let window = Duration::from_millis(500);
    let hub = hubspot::start(HubspotConfig {
        rate_limit: RateLimit::new(2, window),
        ..HubspotConfig::default()
    });
    assert_eq!(get(&hub, "/crm/v3/objects/contacts").await.0, 200);
    assert_eq!(get(&hub, "/crm/v3/objects/contacts").await.0, 200);
    assert_eq!(get(&hub, "/crm/v3/objects/contacts").await.0, 429);
    tokio::time::sleep(window).await;
    let (status, headers, _) = get(&hub, "/crm/v3/objects/contacts").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-hubspot-ratelimit-remaining"), Some("1"));
    assert_eq!(hub.rate_limited_count(), 1);
}

#[tokio::test]
async fn the_rate_limit_counts_each_token_separately() {
    let hub = hubspot::start(HubspotConfig {
        tokens: vec![TEST_TOKEN.to_owned(), "second-token".to_owned()],
        rate_limit: RateLimit::new(2, Duration::from_secs(60)),
        ..HubspotConfig::default()
    });
    for _ in 0..2 {
        assert_eq!(get(&hub, "/crm/v3/objects/deals").await.0, 200);
    }
    assert_eq!(get(&hub, "/crm/v3/objects/deals").await.0, 429);
    let response = client()
        .get(hub.url("/crm/v3/objects/deals"))
        .bearer_auth("second-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_search_limit_applies_when_configured() {
    let hub = hubspot::start(HubspotConfig {
        search_rate_limit: Some(RateLimit::new(1, Duration::from_secs(60))),
        ..HubspotConfig::default()
    });
    assert_eq!(post(&hub, "/crm/v3/objects/contacts/search", json!({})).await.0, 200);
    let (status, body) = post(&hub, "/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "SECONDLY");
    assert_eq!(get(&hub, "/crm/v3/objects/contacts").await.0, 200);
}
