//! End-to-end sync throughput: 20,000 records from the in-repo paged source, through the
//! connector engine and connector-sync's job loop, to the fake HubSpot (100 requests per
//! 10 s, batch upsert of 100), with record links and checkpoints in moto's DynamoDB.
//!
//!     cargo bench -p switchyard-tests --bench sync_throughput            # 20,000 records
//!     SYNC_BENCH_RECORDS=50000 cargo bench -p switchyard-tests --bench sync_throughput
//!
//! Prints records/s, HubSpot requests/s against its allowed rate, and the 429 count.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::sync::{self, JobOutcome};
use switchyard_fakes::hubspot::{HubspotConfig, ObjectType, DEFAULT_RATE_LIMIT};

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs bench targets too: keep that run to a smoke-sized one.
    let smoke = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let records: usize = std::env::var("SYNC_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 300 } else { 20_000 });

    let bench = switchyard_tests::sync_bench::start("flow_bench", records, HubspotConfig::default(), json!({})).await;
    let job_ref = bench.start_job().await;
    let (deps, hub) = (&bench.deps, &bench.hub);

    let started = Instant::now();
    let cpu_started = cpu_time();
    let outcome = sync::run_job(deps, &job_ref, &sync::Unlimited, &|j| {
        if j.pages % 5 == 0 {
            eprintln!(
                "  {} records written after {:.1} s",
                j.counts.written,
                started.elapsed().as_secs_f64()
            );
        }
    })
    .await
    .expect("the bench sync succeeds");
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_started);
    let JobOutcome::Finished(done) = outcome else {
        panic!("the bench job did not finish: {outcome:?}")
    };

    let writes = hub
        .requests
        .count_where(|r| r.method == "POST" && r.path.ends_with("/batch/upsert"));
    let throttled = hub.rate_limited_count();
    let limit = DEFAULT_RATE_LIMIT;
    let allowed_per_sec = limit.limit as f64 / limit.window.as_secs_f64();
    // In a rolling window, the most requests the limit allows within `elapsed` is one window's
    // budget plus one more for each full window that passed.
    let allowed = limit.limit as f64 * ((elapsed.as_secs_f64() / limit.window.as_secs_f64()).floor() + 1.0);
    let utilisation = writes as f64 / allowed;
    assert_eq!(done.counts.written as usize, records, "every record written");
    assert_eq!(hub.count(ObjectType::Contacts), records, "no duplicates");

    println!();
    println!("sync throughput: {records} records, fake source -> engine -> fake HubSpot (100 req / 10 s)");
    println!("  elapsed:            {:.2} s", elapsed.as_secs_f64());
    println!("  records/s:          {:.0}", records as f64 / elapsed.as_secs_f64());
    println!(
        "  HubSpot requests:   {writes} batch upserts, {:.2} req/s (allowed {allowed_per_sec:.0} req/s after a burst of {})",
        writes as f64 / elapsed.as_secs_f64(),
        limit.limit
    );
    println!(
        "  rate-limit use:     {:.0}% ({writes} of the {allowed:.0} requests the limit allows in that time)",
        utilisation * 100.0
    );
    println!("  429s from HubSpot:  {throttled}");
    println!(
        "  process CPU:        {:.2} s ({:.1} us per record: engine, SDK clients and the in-process fakes together)",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / records as f64
    );
}

/// CPU time used by this process so far (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
