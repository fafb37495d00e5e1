//! The spec-driven fake: spec loading, request and response checks, seeding, pagination,
//! auth, rate limit, proxy mode.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_fakes::spec::{Direction, RequestParts, Spec, SpecError};
use switchyard_fakes::spec_fake::{FakeOptions, FakeServer};
use switchyard_fakes::RateLimit;

use crate::{client, header, parts};

const TOKEN: &str = "pat-na1-fake-hubspot-token";

fn hubspot(records: usize) -> switchyard_fakes::FakeHandle<switchyard_fakes::spec_fake::SpecFake> {
    FakeServer::start(
        "hubspot",
        FakeOptions {
            records,
            ..FakeOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    parts(client().get(url).bearer_auth(TOKEN).send().await.unwrap()).await
}

#[test]
fn a_missing_spec_file_names_its_path() {
    let dir = std::env::temp_dir().join("switchyard-no-specs-here");
    let err = Spec::load_from(&dir, &["hubspot/contacts.yaml".to_owned()])
        .err()
        .expect("a missing file is an error");
    assert!(matches!(err, SpecError::Missing { .. }));
    let message = err.to_string();
    assert!(
        message.contains("switchyard-no-specs-here/hubspot/contacts.yaml") && message.contains("SWITCHYARD_SPECS_DIR"),
        "{message}"
    );
}

#[tokio::test]
async fn seeded_objects_validate_and_a_clean_run_records_no_violations() {
    let hub = hubspot(30);
    assert_eq!(hub.seeded("contacts"), 30);
    assert_eq!(hub.count("deals"), 30);
    let (status, _, body) = get(&hub.url("/crm/v3/objects/contacts?limit=5&archived=false")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 5);
    assert!(body["results"][0]["properties"]["email"]
        .as_str()
        .unwrap()
        .ends_with("@example.com"));
    let (status, _, violations) = get(&hub.url("/_fake/violations")).await;
    assert_eq!(status, 200);
    assert_eq!(violations, json!([]), "{violations:#}");
}

#[tokio::test]
async fn pagination_walks_every_object_over_three_pages() {
    let hub = hubspot(25);
    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut url = hub.url("/crm/v3/objects/companies?limit=10");
    loop {
        let (status, _, body) = get(&url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for object in body["results"].as_array().unwrap() {
            assert!(
                seen.insert(object["id"].as_str().unwrap().to_owned()),
                "no object twice"
            );
        }
        match body["paging"]["next"]["after"].as_str() {
            Some(after) => url = hub.url(&format!("/crm/v3/objects/companies?limit=10&after={after}")),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert!(hub.violations().is_empty(), "{:#?}", hub.violations());
}

#[tokio::test]
async fn a_request_that_breaks_the_spec_is_recorded_and_answered_as_the_provider_would() {
    let hub = hubspot(3);
    let (status, _, body) = get(&hub.url("/crm/v3/objects/contacts?limit=ten")).await;
    assert_eq!(status, 400);
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert!(body["message"].as_str().unwrap().contains("/query/limit"), "{body}");

    let response = client()
        .post(hub.url("/crm/v3/objects/contacts"))
        .bearer_auth(TOKEN)
        .json(&json!({"properties": {"email": 42}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let violations = hub.violations();
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert_eq!(violations[0].operation, "get Page");
    assert_eq!(violations[0].pointer, "/query/limit");
    assert_eq!(violations[0].direction, Direction::Request);
    assert_eq!(violations[1].operation, "create");
    assert_eq!(violations[1].pointer, "/body/properties/email");

    let (_, _, recorded) = get(&hub.url("/_fake/violations")).await;
    assert_eq!(recorded[1]["pointer"], "/body/properties/email");
    let cleared = client().delete(hub.url("/_fake/violations")).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(hub.violations().is_empty());
}

#[tokio::test]
async fn unknown_paths_are_violations_answered_with_the_providers_404() {
    let hub = hubspot(1);
    let (status, _, body) = get(&hub.url("/crm/v3/objects/tickets")).await;
    assert_eq!(status, 404);
    assert_eq!(body["category"], "OBJECT_NOT_FOUND");
    assert_eq!(hub.violations()[0].operation, "-");
}

#[tokio::test]
async fn writes_round_trip_and_touched_objects_come_back_in_a_modified_since_search() {
    let hub = hubspot(5);
    let http = client();
    let created = http
        .post(hub.url("/crm/v3/objects/contacts"))
        .bearer_auth(TOKEN)
        .json(&json!({"properties": {"email": "new@example.com", "firstname": "New"}}))
        .send()
        .await
        .unwrap();
    let (status, _, created) = parts(created).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["properties"]["hs_object_id"], json!(id));

    let updated = http
        .patch(hub.url(&format!("/crm/v3/objects/contacts/{id}")))
        .bearer_auth(TOKEN)
        .json(&json!({"properties": {"lastname": "Person"}}))
        .send()
        .await
        .unwrap();
    let (status, _, updated) = parts(updated).await;
    assert_eq!(status, 200);
    assert_eq!(updated["properties"]["firstname"], "New");
    assert_eq!(updated["properties"]["lastname"], "Person");

    let since = hub.now_ms();
    let touched = hub.touch("contacts", 2);
    assert_eq!(touched.len(), 2);
    let search = http
        .post(hub.url("/crm/v3/objects/contacts/search"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": since.to_string()}]}],
            "sorts": ["lastmodifieddate"],
            "properties": ["email"],
            "limit": 100,
            "after": 0,
        }))
        .send()
        .await
        .unwrap();
    let (status, _, found) = parts(search).await;
    assert_eq!(status, 200, "{found}");
    let ids: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, touched.iter().map(String::as_str).collect::<Vec<_>>());

    let deleted = http
        .delete(hub.url(&format!("/crm/v3/objects/contacts/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, _, _) = get(&hub.url(&format!("/crm/v3/objects/contacts/{id}"))).await;
    assert_eq!(status, 404);
    assert!(hub.violations().is_empty(), "{:#?}", hub.violations());
}

#[tokio::test]
async fn credentials_and_the_rate_limit_are_the_providers() {
    let hub = FakeServer::start(
        "hubspot",
        FakeOptions {
            records: 1,
            rate_limit: Some(RateLimit::new(2, Duration::from_secs(60))),
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let (status, _, body) = parts(client().get(hub.url("/crm/v3/objects/deals")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(body["category"], "INVALID_AUTHENTICATION");

    let (status, headers, _) = get(&hub.url("/crm/v3/objects/deals")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-hubspot-ratelimit-remaining"), Some("1"));
    get(&hub.url("/crm/v3/objects/deals")).await;
    let (status, _, body) = get(&hub.url("/crm/v3/objects/deals")).await;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(hub.rate_limited_count(), 1);

    // An OAuth access token from the token endpoint is accepted too.
    hub.set_rate_limit(None);
    let token = client()
        .post(hub.url("/oauth/v1/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "fake-client-id"),
            ("client_secret", "fake-client-secret"),
            ("refresh_token", "fake-refresh-token"),
        ]))
        .send()
        .await
        .unwrap();
    let (status, _, token) = parts(token).await;
    assert_eq!(status, 200);
    let access = token["access_token"].as_str().unwrap();
    let response = client()
        .get(hub.url("/crm/v3/objects/deals"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(hub.violations().is_empty(), "{:#?}", hub.violations());
}

#[tokio::test]
async fn proxy_mode_checks_traffic_and_passes_it_through() {
    let upstream = hubspot(12);
    let proxy = FakeServer::start(
        "hubspot",
        FakeOptions {
            proxy: Some(upstream.base_url().to_owned()),
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let (status, _, body) = get(&proxy.url("/crm/v3/objects/contacts?limit=5")).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"].as_array().unwrap().len(), 5);
    assert!(proxy.violations().is_empty(), "{:#?}", proxy.violations());

    let (status, _, _) = get(&proxy.url("/crm/v3/objects/contacts?limit=many")).await;
    assert_eq!(status, 400, "the upstream's answer comes back");
    assert_eq!(proxy.violations()[0].pointer, "/query/limit");
}

#[tokio::test]
async fn stripe_form_requests_are_checked_against_stripes_spec() {
    let started = Instant::now();
    let stripe = FakeServer::start(
        "stripe",
        FakeOptions {
            records: 12,
            ..FakeOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("stripe fake (4 MB spec) started in {:?}", started.elapsed());
    let http = client();
    let created = http
        .post(stripe.url("/v1/customers"))
        .basic_auth("sk_test_12345", Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::form(&[
            ("email", "jenny@example.com"),
            ("name", "Jenny Rosen"),
            ("metadata[plan]", "gold"),
        ]))
        .send()
        .await
        .unwrap();
    let (status, _, customer) = parts(created).await;
    assert_eq!(status, 200, "{customer}");
    assert!(customer["id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(customer["metadata"]["plan"], "gold");

    let mut ids = HashSet::new();
    let mut url = stripe.url("/v1/customers?limit=5");
    let mut pages = 0;
    loop {
        let (status, _, page) = parts(
            http.get(&url)
                .basic_auth("sk_test_12345", Some(""))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let data = page["data"].as_array().unwrap();
        ids.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if page["has_more"] != json!(true) {
            break;
        }
        let last = data.last().unwrap()["id"].as_str().unwrap();
        url = stripe.url(&format!("/v1/customers?limit=5&starting_after={last}"));
    }
    assert_eq!((pages, ids.len()), (3, 13));

    let bad = http
        .post(stripe.url("/v1/customers"))
        .basic_auth("sk_test_12345", Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::form(&[("balance", "lots")]))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(bad).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let violations = stripe.violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert_eq!(violations[0].pointer, "/body/balance");
    assert_eq!(violations[0].operation, "PostCustomers");
}

#[test]
fn slacks_swagger_form_fields_are_checked() {
    let spec = Spec::load(&["slack/slack_web_openapi_v2_without_examples.json".to_owned()]).unwrap();
    let request = |body: &'static [u8]| RequestParts {
        method: "POST",
        path: "/api/chat.postMessage",
        headers: vec![("token".into(), "xoxb-1".into())],
        content_type: Some("application/x-www-form-urlencoded"),
        body,
        ..RequestParts::default()
    };
    let checked = spec.check_request(&request(b"channel=C1&text=hi&mrkdwn=false"));
    assert_eq!(checked.matched.unwrap().operation, "chat_postMessage");
    assert!(checked.violations.is_empty(), "{:#?}", checked.violations);
    let checked = spec.check_request(&request(b"text=hi&mrkdwn=maybe"));
    let pointers: Vec<&str> = checked.violations.iter().map(|v| v.pointer.as_str()).collect();
    assert!(
        pointers.contains(&"/body/mrkdwn") && pointers.contains(&"/body"),
        "{pointers:?}"
    );
}

#[tokio::test]
async fn the_hand_written_fakes_can_have_their_traffic_checked_too() {
    use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType};
    use switchyard_fakes::spec::SpecCheck;

    let hub = hubspot::start(HubspotConfig {
        spec_check: Some(SpecCheck::hubspot()),
        ..HubspotConfig::default()
    });
    hub.insert(
        ObjectType::Contacts,
        &[("email", "a@example.com"), ("firstname", "A"), ("lastname", "B")],
    );
    let (status, _, _) = get(&hub.url("/crm/v3/objects/contacts?limit=10")).await;
    assert_eq!(status, 200);
    assert!(hub.violations.is_empty(), "{:#?}", hub.violations.all());

    let (status, _, _) = get(&hub.url("/crm/v3/objects/contacts?limit=ten")).await;
    assert_eq!(status, 400, "the hand fake answers as before");
    let violations = hub.violations.all();
    assert_eq!(violations[0].pointer, "/query/limit", "{violations:#?}");
}

#[tokio::test]
async fn the_connectors_search_body_passes_with_the_profiles_spec_patches() {
    let hub = hubspot(15);
    let body = json!({
        "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["name", "domain", "hs_lastmodifieddate"],
        "limit": 10,
    });
    let (status, _, first) = parts(
        client()
            .post(hub.url("/crm/v3/objects/companies/search"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["total"], 15);
    let mut next = body.clone();
    next["after"] = first["paging"]["next"]["after"].clone();
    let (status, _, second) = parts(
        client()
            .post(hub.url("/crm/v3/objects/companies/search"))
            .bearer_auth(TOKEN)
            .json(&next)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(second["results"].as_array().unwrap().len(), 5);
    assert!(hub.violations().is_empty(), "{:#?}", hub.violations());
}

#[tokio::test]
async fn the_slack_fakes_traffic_follows_slacks_spec() {
    use switchyard_fakes::slack::{self, SlackConfig};
    use switchyard_fakes::spec::SpecCheck;

    let slack = slack::start(SlackConfig {
        spec_check: Some(SpecCheck::slack()),
        ..SlackConfig::default()
    });
    let response = client()
        .post(slack.url("/api/chat.postMessage"))
        .bearer_auth(slack::TEST_TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::form(&[("channel", "C0000000001"), ("text", "hello")]))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    let response = client()
        .post(slack.url("/api/auth.test"))
        .bearer_auth(slack::TEST_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(slack.violations.is_empty(), "{:#?}", slack.violations.all());
}

#[tokio::test]
async fn writes_emit_the_profiles_webhooks_signed_with_the_providers_scheme() {
    use secrecy::SecretString;
    use switchyard::webhook::{sign, Scheme, SignInput};
    use switchyard_fakes::webhook_sink::{self, SinkConfig};

    let sink = webhook_sink::start(SinkConfig::default());
    let target = sink.url("/hooks/hubspot");
    let hub = FakeServer::start(
        "hubspot",
        FakeOptions {
            records: 1,
            webhook_url: Some(target.clone()),
            webhook_secret: Some("fake-app-secret".into()),
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let (status, _, created) = parts(
        client()
            .post(hub.url("/crm/v3/objects/contacts"))
            .bearer_auth(TOKEN)
            .json(&json!({"properties": {"email": "hook@example.com"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = sink.deliveries().pop().expect("one delivery");
    let events = delivery.json().unwrap();
    assert_eq!(events[0]["subscriptionType"], "contact.creation");
    assert_eq!(events[0]["objectId"].to_string(), created["id"].as_str().unwrap());

    let timestamp_ms: i64 = delivery.header("x-hubspot-request-timestamp").unwrap().parse().unwrap();
    let expected = sign(
        &Scheme::Hubspot(Default::default()),
        &SignInput {
            method: "POST",
            url: &target,
            body: &delivery.body,
            secret: &SecretString::from("fake-app-secret".to_owned()),
            now: timestamp_ms / 1000,
            message_id: None,
        },
    )
    .unwrap();
    assert_eq!(delivery.header("x-hubspot-signature-v3"), Some(expected[0].1.as_str()));
    assert_eq!(hub.webhooks_sent(), 1);
}

/// The HubSpot profile with another pagination style, to walk every style over one spec.
fn hubspot_paged(
    style: switchyard_fakes::profile::PageStyle,
) -> switchyard_fakes::FakeHandle<switchyard_fakes::spec_fake::SpecFake> {
    let mut profile = switchyard_fakes::profile::Profile::built_in("hubspot").unwrap();
    profile.list.pagination.style = style;
    profile.list.pagination.total = Some("/total".into());
    FakeServer::start_with(
        profile,
        FakeOptions {
            records: 23,
            ..FakeOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn link_header_page_and_offset_styles_walk_every_object() {
    use switchyard_fakes::profile::PageStyle;

    // Link header: follow rel="next" until there is none.
    let hub = hubspot_paged(PageStyle::LinkHeader);
    let mut url = hub.url("/crm/v3/objects/deals?limit=10");
    let mut ids = HashSet::new();
    let mut pages = 0;
    loop {
        let (status, headers, body) = get(&url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        ids.extend(body["results"].as_array().unwrap().iter().map(|o| o["id"].to_string()));
        match header(&headers, "link") {
            Some(link) => url = link.trim_start_matches('<').split('>').next().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!((pages, ids.len()), (3, 23));

    // Page numbers and offsets: the client counts up to the total.
    for (style, param, steps) in [
        (PageStyle::Page, "page", [1, 2, 3]),
        (PageStyle::Offset, "offset", [0, 10, 20]),
    ] {
        let hub = hubspot_paged(style);
        let mut ids = HashSet::new();
        for step in steps {
            let (status, _, body) = get(&hub.url(&format!("/crm/v3/objects/deals?limit=10&{param}={step}"))).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["total"], 23);
            ids.extend(body["results"].as_array().unwrap().iter().map(|o| o["id"].to_string()));
        }
        assert_eq!(ids.len(), 23, "{style:?}");
        assert!(hub.violations().is_empty(), "{:#?}", hub.violations());
    }
}
