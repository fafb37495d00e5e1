use std::time::Duration;

use serde_json::json;
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType, TEST_TOKEN};
use switchyard_fakes::paged_source::{self, SourceConfig};
use switchyard_fakes::slack::{self, SlackConfig};
use switchyard_fakes::{Fault, FaultConfig, RateLimit, TimeoutMode};

use crate::{client, header};

fn ratios(seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        server_error_ratio: 0.2,
        rate_limit_ratio: 0.1,
        timeout_ratio: 0.05,
        retry_after_secs: 3,
        timeout_delay: Duration::from_millis(1),
        ..FaultConfig::default()
    }
}

#[tokio::test]
async fn seeded_fault_ratios_match_the_configuration_over_2000_requests() {
    let hub = hubspot::start(HubspotConfig {
        rate_limit: RateLimit::new(1_000_000, Duration::from_secs(10)),
        faults: ratios(42),
        ..HubspotConfig::default()
    });
    let client = client();
    let (mut server_errors, mut rate_limited) = (0u64, 0u64);
    for _ in 0..2000 {
        let response = client
            .get(hub.url("/crm/v3/objects/contacts?limit=1"))
            .bearer_auth(TEST_TOKEN)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            500 => server_errors += 1,
            429 => {
                assert_eq!(header(response.headers(), "retry-after"), Some("3"));
                rate_limited += 1;
            }
            200 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    let counts = hub.faults.counts();
    println!("2000 requests, seed 42: {counts:?}");
    assert_eq!(counts.server_errors, server_errors);
    assert_eq!(counts.rate_limited, rate_limited);
    // Binomial(2000, p): within about 3.5 standard deviations of the mean.
    assert!((340..=460).contains(&counts.server_errors), "{counts:?}");
    assert!((155..=245).contains(&counts.rate_limited), "{counts:?}");
    assert!((65..=135).contains(&counts.timeouts), "{counts:?}");
    assert_eq!(
        hub.requests.count_where(|r| r.fault == Some(Fault::Timeout)),
        counts.timeouts as usize
    );
    // Injected 429s are not the fake's own rate limit.
    assert_eq!(hub.rate_limited_count(), 0);
}

#[tokio::test]
async fn the_same_seed_replays_the_same_fault_sequence() {
    async fn statuses(seed: u64) -> Vec<Option<u16>> {
        let source = paged_source::start(SourceConfig {
            faults: ratios(seed),
            ..SourceConfig::default()
        });
        let client = client();
        for _ in 0..200 {
            client.get(source.url("/records?limit=1")).send().await.unwrap();
        }
        source.requests.all().into_iter().map(|r| r.status).collect()
    }
    let first = statuses(7).await;
    assert_eq!(first, statuses(7).await);
    assert_ne!(first, statuses(8).await);
}

#[tokio::test]
async fn fail_next_answers_the_next_requests_with_the_status_then_recovers() {
    let slack = slack::start(SlackConfig {
        rate_limit: RateLimit::new(100, Duration::from_secs(1)),
        ..SlackConfig::default()
    });
    slack.faults.fail_next(2, 503);
    slack.faults.fail_next(1, 429);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = client()
            .post(slack.url("/api/chat.postMessage"))
            .bearer_auth(slack::TEST_TOKEN)
            .json(&json!({"channel": "#general", "text": "x"}))
            .send()
            .await
            .unwrap();
        seen.push((
            response.status().as_u16(),
            header(response.headers(), "retry-after").map(str::to_owned),
        ));
    }
    assert_eq!(
        seen,
        vec![(503, None), (503, None), (429, Some("1".into())), (200, None)]
    );
    assert_eq!(slack.faults.counts().forced, 3);
    assert_eq!(slack.messages().len(), 1);
}

#[tokio::test]
async fn an_injected_timeout_holds_the_response_past_the_client_timeout_but_the_write_lands() {
    let hub = hubspot::start(HubspotConfig {
        faults: FaultConfig {
            timeout_ratio: 1.0,
            timeout_delay: Duration::from_secs(5),
            ..FaultConfig::default()
        },
        ..HubspotConfig::default()
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = impatient
        .post(hub.url("/crm/v3/objects/contacts"))
        .bearer_auth(TEST_TOKEN)
        .json(&json!({"properties": {"email": "late@example.com"}}))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(hub.count(ObjectType::Contacts), 1);
    assert_eq!(hub.faults.counts().timeouts, 1);
    assert_eq!(hub.requests.all()[0].fault, Some(Fault::Timeout));

    hub.faults.disable();
    let response = impatient
        .get(hub.url("/crm/v3/objects/contacts"))
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_not_processed_timeout_answers_504_and_writes_nothing() {
    let hub = hubspot::start(HubspotConfig {
        faults: FaultConfig {
            timeout_ratio: 1.0,
            timeout_delay: Duration::from_millis(50),
            timeout_mode: TimeoutMode::NotProcessed,
            ..FaultConfig::default()
        },
        ..HubspotConfig::default()
    });
    let response = client()
        .post(hub.url("/crm/v3/objects/contacts"))
        .bearer_auth(TEST_TOKEN)
        .json(&json!({"properties": {"email": "never@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert_eq!(hub.count(ObjectType::Contacts), 0);
}

#[tokio::test]
async fn faults_are_off_by_default() {
    let source = paged_source::start(SourceConfig::default());
    for _ in 0..50 {
        client().get(source.url("/records?limit=1")).send().await.unwrap();
    }
    assert_eq!(source.requests.count_status(200), 50);
    assert_eq!(source.faults.counts().total(), 0);
}
