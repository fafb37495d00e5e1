//! The two-way soak (issue 12's proof; the driver is `switchyard_tests::two_way_soak`): 1,000
//! contacts on two HubSpot portals, rounds of random edits and deletes on both sides (some
//! contacts edited on both sides in one round), carried by signed webhook deliveries through
//! the receiver and the queue (one in five lost) and by the scheduled incremental and full
//! runs, while each portal answers one request in ten with a fault (5% 500s, 5% 429s).
//! `scripts/test.sh` runs these in their own process (filter `two_way_soak_`); `--nocapture`
//! prints the counts. The longer run with its timings is `cargo bench --workspace --bench
//! two_way_soak`.

use switchyard::store::flows::ConflictRule;
use switchyard_tests::two_way_soak::{Soak, SoakConfig};

fn config(rule: ConflictRule, rounds: usize, seed: u64) -> SoakConfig {
    SoakConfig {
        contacts: 1_000,
        rounds,
        edits: 60,
        rule,
        fault_ratio: 0.10,
        lost_ratio: 0.2,
        full_every_round: false,
        seed,
    }
}

/// `newest-wins`: after every round both portals hold exactly what the rule dictates (a
/// contact edited on both sides holds, whole, the version of the side edited last; a contact
/// deleted on either side is gone from both), nothing is held twice, and the portals' write
/// counts equal the changes that needed propagating: zero echo writes, though every write and
/// delete of ours came back as a webhook delivery and was read again by the scheduled runs.
#[tokio::test]
async fn two_way_soak_with_webhooks_deletes_and_faults_converges_with_no_echo_and_no_duplicate() {
    let rule = ConflictRule::NewestWins;
    let soak = Soak::start(config(rule, 3, 0x9e37_79b9_7f4a_7c15)).await;
    let report = soak.run().await;
    println!("{}", report.summary(rule));
    assert_eq!((report.echo_writes, report.duplicates), (0, 0));
    assert_eq!(report.writes, report.expected_writes);
    assert_eq!(report.deletes, report.expected_deletes);
    // What the soak is made of happened: both-sided edits settled by the rule, deletes
    // propagated, echoes dropped, deliveries lost and faults injected on both kinds.
    assert!(report.conflicts_yielded > 0, "{report:?}");
    assert!(report.expected_deletes > 0 && report.echoes_dropped > 0, "{report:?}");
    assert!(report.events_lost > 0 && report.events_delivered > 0, "{report:?}");
    assert!(report.injected_500s > 0 && report.injected_429s > 0, "{report:?}");
}

/// `manual`: every contact edited on both sides in a round is parked in the review queue, once,
/// with A's version, B's version and the base they diverged from, and neither side is written
/// for it (each portal keeps its own edit); everything else converges as under any rule, with
/// no echo and no duplicate.
#[tokio::test]
async fn two_way_soak_under_manual_parks_every_conflict_and_writes_nothing_for_it() {
    let rule = ConflictRule::Manual;
    let mut soak = Soak::start(config(rule, 2, 0x2545_f491_4f6c_dd1d)).await;
    for round in 0..soak.report.rounds {
        soak.round(round).await;
    }
    let parked = soak.check_reviews().await;
    let report = soak.finish();
    println!("{}", report.summary(rule));
    assert!(parked > 0, "some contacts were edited on both sides: {report:?}");
    assert_eq!((report.echo_writes, report.duplicates), (0, 0));
    assert_eq!(report.writes, report.expected_writes);
    assert_eq!(report.deletes, report.expected_deletes);
    assert!(report.injected_500s > 0 && report.injected_429s > 0, "{report:?}");
}
