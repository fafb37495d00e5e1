//! One health run over 1,000 connections, the way the function runs it, against the local
//! emulator (moto) and four fake HubSpots with mixed behaviour:
//!
//! * fast: answers at once;
//! * slow: every answer held back 800 ms (slow but successful: `degraded`);
//! * flaky: 20% of answers are 500s;
//! * dead: every request hangs past the check timeout.
//!
//! `cargo bench -p health-checker` prints the run's wall time, checks per second and the
//! check-latency percentiles. Under `cargo test` it only says how to run it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::admin::create_connection;
use switchyard::clock::SystemClock;
use switchyard::connector::Registry;
use switchyard::health::{self, HealthConfig, HealthDeps};
use switchyard::store::connections::Connection;
use switchyard_fakes::hubspot::{self, HubspotConfig};
use switchyard_fakes::{FaultConfig, RateLimit, TimeoutMode};
use switchyard_tests::TestEnv;

const CONNECTIONS: usize = 1000;
const CONCURRENCY: &str = "64";
const CHECK_TIMEOUT_SECS: &str = "2";

fn fake(faults: FaultConfig) -> switchyard_fakes::FakeHandle<hubspot::Hubspot> {
    hubspot::start(HubspotConfig {
        rate_limit: RateLimit::new(1_000_000, Duration::from_secs(10)),
        faults,
        ..HubspotConfig::default()
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("health_run: a benchmark; run it with `cargo bench -p health-checker`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let env = TestEnv::new().await;
    let fakes = [
        ("fast", fake(FaultConfig::default())),
        (
            "slow",
            fake(FaultConfig {
                timeout_ratio: 1.0,
                timeout_delay: Duration::from_millis(800),
                timeout_mode: TimeoutMode::Processed,
                ..FaultConfig::default()
            }),
        ),
        (
            "flaky",
            fake(FaultConfig {
                seed: 3,
                server_error_ratio: 0.2,
                ..FaultConfig::default()
            }),
        ),
        (
            "dead",
            fake(FaultConfig {
                timeout_ratio: 1.0,
                timeout_delay: Duration::from_secs(10),
                timeout_mode: TimeoutMode::NotProcessed,
                ..FaultConfig::default()
            }),
        ),
    ];
    let lookup = |k: &str| match k {
        "TABLE_NAME" => Some(env.table.clone()),
        "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
        "HEALTH_CONCURRENCY" => Some(CONCURRENCY.into()),
        "HEALTH_CHECK_TIMEOUT_SECS" => Some(CHECK_TIMEOUT_SECS.into()),
        _ => None,
    };
    let deps = HealthDeps::new(
        HealthConfig::from_lookup(lookup).unwrap(),
        &env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let tenant = format!("bench{}", ulid::Ulid::new().to_string().to_lowercase());
    // One secret shared by all (its creation is not what is measured); 70% fast, 10% each other.
    let template = create_connection(
        &deps.connections,
        &deps.secrets,
        Connection {
            id: "conn_0000".into(),
            tenant: tenant.clone(),
            provider: "hubspot".into(),
            name: "bench".into(),
            webhook: None,
            secret_arn: None,
            config: json!({"base_url": fakes[0].1.base_url}).as_object().cloned().unwrap(),
            created_at: 0,
        },
        None,
        json!({"access_token": hubspot::TEST_TOKEN})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let store = deps.connections.clone();
        let template = template.clone();
        let urls: Vec<String> = fakes.iter().map(|(_, f)| f.base_url.clone()).collect();
        tasks.spawn(async move {
            for i in (1..CONNECTIONS).filter(|i| i % 16 == worker) {
                let which = match i % 10 {
                    7 => 1,
                    8 => 2,
                    9 => 3,
                    _ => 0,
                };
                let conn = Connection {
                    id: format!("conn_{i:04}"),
                    config: json!({"base_url": urls[which]}).as_object().cloned().unwrap(),
                    ..template.clone()
                };
                store.create(&conn).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let started = Instant::now();
    let report = health::run_checks(&deps, Some(started + Duration::from_secs(300)))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let mut latencies: Vec<u64> = deps
        .connections
        .list_with_health(&tenant)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, h)| h.and_then(|h| h.last_latency_ms))
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "health_run: {} connections ({} checked, {} not reached) in {:.2} s = {:.0} checks/s; concurrency {CONCURRENCY}, check timeout {CHECK_TIMEOUT_SECS} s",
        report.connections,
        report.checked,
        report.not_reached,
        elapsed.as_secs_f64(),
        report.checked as f64 / elapsed.as_secs_f64()
    );
    println!(
        "health_run: check latency p50 {} ms, p90 {} ms, p99 {} ms, max {} ms; states {:?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(0),
        report.states
    );
    for (name, f) in &fakes {
        println!("health_run: fake {name}: {} requests", f.requests.len());
    }
}
