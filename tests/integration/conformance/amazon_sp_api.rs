//! Amazon Selling Partner API (`shared/connectors/amazon-sp-api.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::amazon_sp`: the Orders API and Login with
//! Amazon on two servers), whose API traffic is checked against `amazon-sp-api/ordersV0.json`.
//! 250 orders: a full read (CreatedAfter) is three pages of 100 through NextToken; an
//! incremental read (LastUpdatedAfter) after five orders shipped returns them and what the
//! lookback re-reads; a fetch by id finds each. One LWA grant serves the whole test, and every
//! call carries it in `x-amz-access-token`.
//!
//! Pacing: the fake keeps Amazon's token bucket per operation and refuses a request over it
//! with 429. A second fake reports a getOrders rate of 5 a second in `x-amzn-RateLimit-Limit`:
//! 25 calls in a row go as the burst of 20 and then one per 0.2 s, with no 429. (Without the
//! header the 21st call would wait a minute, past the inline wait, and fail as deferred.)

use std::time::Instant;

use serde_json::{json, Value};
use switchyard_fakes::amazon_sp::{self, SpConfig, UsagePlan, CLIENT_ID, CLIENT_SECRET, MARKETPLACE_ID, REFRESH_TOKEN};

use super::{client, prove_check, prove_stream, StreamCase};

fn sp_client(fake: &amazon_sp::SpFake) -> switchyard::connector::ConnectorClient {
    client(
        "amazon-sp-api",
        &fake.api.base_url,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
        json!({"lwa_url": fake.lwa.base_url, "marketplace_ids": MARKETPLACE_ID}),
    )
}

#[tokio::test]
async fn amazon_sp_api() {
    let fake = amazon_sp::start(SpConfig {
        orders: 250,
        ..SpConfig::default()
    });
    let c = sp_client(&fake);
    let f = &fake;
    prove_stream(
        &c,
        StreamCase {
            stream: "orders",
            expected: fake.order_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(50)
                    .map(|r| {
                        let id = r["AmazonOrderId"].as_str().expect("orders have ids");
                        f.ship(id).expect("the order exists");
                        id.to_owned()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.order_json(id)),
            compare: &[
                "/AmazonOrderId",
                "/OrderStatus",
                "/LastUpdateDate",
                "/NumberOfItemsShipped",
                "/OrderTotal",
            ],
            missing_id: "902-0000000-0000000",
        },
    )
    .await;
    prove_check(&c).await;
    assert_eq!(fake.grants(), 1, "one LWA access token serves every call");
    assert_eq!(fake.throttled(), 0, "no call went over its operation's usage plan");
    let violations = fake.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn amazon_sp_api_paces_each_operation_at_the_rate_its_header_reports() {
    let fake = amazon_sp::start(SpConfig {
        orders: 3,
        get_orders: UsagePlan { rate: 5.0, burst: 20 },
        ..SpConfig::default()
    });
    let c = sp_client(&fake);
    let started = Instant::now();
    for n in 0..25 {
        c.check()
            .await
            .unwrap_or_else(|e| panic!("getOrders call {n} fails: {e}"));
    }
    let elapsed = started.elapsed();
    assert_eq!(fake.throttled(), 0, "the pacer kept to the bucket");
    // The fake's bucket lets 25 calls through no sooner than (25 - 20) / 5 = 1 s: the calls
    // past the burst waited for tokens restored at 5 a second.
    assert!(
        elapsed.as_secs_f64() >= 0.9,
        "25 calls in {elapsed:?}: the five past the burst were not paced"
    );
    let paced = c.stats().snapshot().rate_limit_waits;
    assert!(paced >= 1, "the pacer waited before the calls past the burst");
    // getOrder has its own bucket: it is not held back by getOrders' spent one.
    let id = fake.first_order_id().expect("seeded orders");
    c.fetch_record("orders", &id).await.unwrap().expect("the order");
    assert_eq!(
        c.stats().snapshot().rate_limit_waits,
        paced,
        "getOrder waited for getOrders' tokens"
    );
    let violations = fake.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
