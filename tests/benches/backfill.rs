//! A backfill at scale with crashes: 1,000,000 records from the in-repo paged source, through
//! the connector engine and connector-sync's job loop, to the fake HubSpot, with record links and
//! checkpoints in moto's DynamoDB. The job is killed at random moments, mid-page included (the
//! task is aborted, as a Lambda that dies), and resumed from its checkpoint, as SQS's redelivery
//! would. At the end every record has exactly one record link and one HubSpot contact, and the
//! rework is at most one page per crash (pages re-read; batch upserts beyond the minimum).
//!
//!     cargo bench -p switchyard-tests --bench backfill                      # 1,000,000 records
//!     BACKFILL_RECORDS=200000 cargo bench -p switchyard-tests --bench backfill
//!
//! HubSpot's rate limit is lifted (a connection-level `rate_limit` override) so the run measures
//! the engine and the store, not the provider's pace.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use rand::Rng;
use serde_json::json;
use switchyard::sync::{self, JobOutcome};
use switchyard_fakes::hubspot::{HubspotConfig, ObjectType};
use switchyard_fakes::rate_limit::RateLimit;

/// The fake source's page size in the definition (`limit: 1000`).
const PAGE: usize = 1000;
/// HubSpot's batch upsert size.
const BATCH: usize = 100;

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs bench targets too: keep that run to a smoke-sized one.
    let smoke = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let records: usize = std::env::var("BACKFILL_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 3_000 } else { 1_000_000 });

    let bench = switchyard_tests::sync_bench::start(
        "flow_backfill",
        records,
        HubspotConfig {
            rate_limit: RateLimit::new(1_000_000, Duration::from_secs(1)),
            ..HubspotConfig::default()
        },
        json!({"rate_limit": {"requests": 1_000_000, "window_ms": 1000}}),
    )
    .await;
    let job_ref = bench.start_job().await;
    let (env, deps, flow, source, hub) = (&bench.env, &bench.deps, &bench.flow, &bench.source, &bench.hub);

    // Run, kill at a random moment, resume from the checkpoint; until the job finishes. A kill
    // comes after 1 to 6 more pages were checkpointed, and then part-way into the next page (a
    // random share of the last page's time), so every run makes progress and most kills land
    // mid-page.
    let started = Instant::now();
    let mut crashes = 0usize;
    let pages_done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = loop {
        let target = pages_done.load(Ordering::SeqCst) + rand::rng().random_range(1..=6);
        let task = {
            let deps = deps.clone();
            let job_ref = job_ref.clone();
            let pages_done = pages_done.clone();
            tokio::spawn(async move {
                let progress = move |j: &switchyard::store::jobs::Job| pages_done.store(j.pages, Ordering::SeqCst);
                sync::run_job(&deps, &job_ref, &sync::Unlimited, &progress).await
            })
        };
        let mut last_page = Instant::now();
        let mut page_time = Duration::from_millis(500);
        let mut seen = pages_done.load(Ordering::SeqCst);
        while !task.is_finished() && pages_done.load(Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now_pages = pages_done.load(Ordering::SeqCst);
            if now_pages != seen {
                page_time = last_page.elapsed();
                last_page = Instant::now();
                seen = now_pages;
            }
        }
        if !task.is_finished() {
            let into_page = page_time.mul_f64(rand::rng().random_range(0.05..0.95));
            tokio::time::sleep(into_page).await;
        }
        if task.is_finished() {
            match task.await.expect("the job task runs").expect("the job succeeds") {
                JobOutcome::Finished(job) => break job,
                other => panic!("the job ended as {other:?}"),
            }
        }
        task.abort();
        let _ = task.await;
        crashes += 1;
        if crashes.is_multiple_of(20) {
            let j = deps.jobs.get(&flow.id, &job_ref.job_id).await.unwrap().unwrap();
            let rate = j.counts.read as f64 / started.elapsed().as_secs_f64();
            eprintln!(
                "  {} of {records} records after {:.0} s ({rate:.0} records/s), {crashes} crashes",
                j.counts.read,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let elapsed = started.elapsed();

    let links = env
        .clients
        .dynamodb
        .query()
        .table_name(&env.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :rec)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("FLOW#{}", flow.id)))
        .expression_attribute_values(":rec", AttributeValue::S("REC#".into()))
        .select(Select::Count)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("the links can be counted")
        .iter()
        .map(|p| p.count as usize)
        .sum::<usize>();
    let contacts = hub.count(ObjectType::Contacts);
    let pages_read = source.requests.len();
    let pages_min = records.div_ceil(PAGE);
    let upserts = hub
        .requests
        .count_where(|r| r.method == "POST" && r.path.ends_with("/batch/upsert"));
    let upserts_min = records.div_ceil(BATCH);

    println!();
    println!("backfill: {records} records, fake source -> engine -> fake HubSpot, killed {crashes} times");
    println!(
        "  elapsed:           {:.1} s ({:.0} records/s with the crashes)",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64()
    );
    println!("  record links:      {links} (one per record: {})", links == records);
    println!("  HubSpot contacts:  {contacts}");
    println!(
        "  pages read:        {pages_read} (minimum {pages_min}; {} re-read, {:.2} per crash)",
        pages_read.saturating_sub(pages_min),
        pages_read.saturating_sub(pages_min) as f64 / crashes.max(1) as f64
    );
    println!(
        "  batch upserts:     {upserts} (minimum {upserts_min}; {} extra, {:.2} per crash, a page is {} batches)",
        upserts.saturating_sub(upserts_min),
        upserts.saturating_sub(upserts_min) as f64 / crashes.max(1) as f64,
        PAGE / BATCH
    );
    println!("  job counts:        {:?}", done.counts);
    assert_eq!(links, records, "every record has exactly one record link");
    assert_eq!(contacts, records, "every record is exactly one HubSpot contact");
    assert!(
        pages_read <= pages_min + crashes,
        "resuming re-reads at most the page a crash interrupted"
    );
    assert!(
        upserts <= upserts_min + crashes * (PAGE / BATCH),
        "resuming re-writes at most the page a crash interrupted"
    );
}
