//! The two-way soak, longer (issue 12's bench; the driver is `switchyard_tests::two_way_soak`,
//! the default test is `two_way_soak_*` in the integration tests): 1,000 contacts on two fake
//! HubSpot portals linked `newest-wins` with deletes propagated, 10 rounds of 60 random edits
//! and deletes on both sides, carried by signed webhook deliveries (one in five lost) and the
//! scheduled incremental and full runs, with 10% injected faults (5% 500s, 5% 429s).
//!
//!     cargo bench --workspace --bench two_way_soak
//!     SOAK_CONTACTS=2000 SOAK_ROUNDS=20 SOAK_EDITS=100 cargo bench --workspace --bench two_way_soak
//!
//! Prints the soak's counts (writes against the changes that needed them, echo writes,
//! duplicates, conflicts, faults), the time from each round's last edit to both portals
//! holding what the rule dictates, and what echo suppression costs per event: process CPU
//! (engine, SDK clients and the in-process fakes together; moto is another process) and
//! DynamoDB requests to run one delivery of our own change, beside the receiver's part.

use switchyard::store::flows::ConflictRule;
use switchyard_tests::two_way_soak::{Soak, SoakConfig};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs bench targets too: keep that run to a smoke-sized one.
    let smoke = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let config = SoakConfig {
        contacts: env("SOAK_CONTACTS", if smoke { 100 } else { 1_000 }),
        rounds: env("SOAK_ROUNDS", if smoke { 2 } else { 10 }),
        edits: env("SOAK_EDITS", if smoke { 20 } else { 60 }),
        rule: ConflictRule::NewestWins,
        fault_ratio: 0.10,
        lost_ratio: 0.2,
        full_every_round: true,
        seed: 0x5851_f42d_4c95_7f2d,
    };
    let rule = config.rule;
    let started = std::time::Instant::now();
    let report = Soak::start(config).await.run().await;
    let elapsed = started.elapsed();
    assert_eq!((report.echo_writes, report.duplicates), (0, 0), "{report:?}");

    println!();
    println!("{}", report.summary(rule));
    let converge = &report.converge;
    let secs: Vec<f64> = converge.iter().map(|d| d.as_secs_f64()).collect();
    let mean = secs.iter().sum::<f64>() / secs.len().max(1) as f64;
    let max = secs.iter().copied().fold(0.0, f64::max);
    println!(
        "  time to converge after the last edit: last round {:.1} s, mean {mean:.1} s, max {max:.1} s",
        secs.last().copied().unwrap_or_default()
    );
    let per = |n: u64, of: u64| n as f64 / of.max(1) as f64;
    println!(
        "  echo suppression: {} deliveries of our own changes run; per event {:.0} us CPU and {:.2} DynamoDB requests",
        report.echo_events,
        report.echo_cpu.as_secs_f64() * 1e6 / report.echo_events.max(1) as f64,
        per(report.echo_dynamodb, report.echo_events)
    );
    println!(
        "  receiver, per event delivered: {:.2} DynamoDB and {:.2} SQS requests",
        per(report.receiver_dynamodb, report.events_delivered),
        per(report.receiver_sqs, report.events_delivered)
    );
    println!("  whole run: {:.1} s", elapsed.as_secs_f64());
}
