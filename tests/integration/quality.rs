//! Data-quality anomalies on connector-sync's own path: real sync jobs (localstripe to the fake
//! HubSpot, state in moto) build the flow's baseline; a job far outside it is alerted to the
//! alert webhook once per episode, with a readable summary.

use switchyard::quality::{JobSample, Metric, Quality};
use switchyard::store::flows::SyncMode;
use switchyard::store::jobs::{Job, JobCounts, JobStatus};
use switchyard_fakes::webhook_sink::{self, SinkConfig};

use crate::sync::Rig;

#[tokio::test]
async fn a_sync_that_suddenly_reads_nothing_is_alerted_once_per_episode() {
    let mut rig = Rig::new().await;
    let sink = webhook_sink::start(SinkConfig::default());
    rig.deps.config.alerts.alert_webhook_url = Some(sink.url("/alerts"));
    let mut ids = Vec::new();
    for i in 0..10 {
        let c = rig
            .stripe
            .create_customer(&format!("q{i}@example.com"), &format!("Quality Person{i}"))
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }

    // The baseline: jobs that each read the ten customers. Nothing is alerted while it learns.
    for _ in 0..switchyard::quality::MIN_SAMPLES {
        let job = rig.run_flow(&rig.flow, Some(SyncMode::Full)).await;
        assert_eq!((job.status, job.counts.read), (JobStatus::Succeeded, 10), "{job:?}");
    }
    assert_eq!(sink.len(), 0, "an ordinary history raises nothing");
    let stored = rig.deps.quality.get(&rig.flow.id).await.unwrap();
    assert!(stored.quality.open.is_empty());
    let records = &stored.quality.baselines[&Metric::Records];
    assert_eq!(
        records.parts.values().map(|s| s.n).sum::<u32>(),
        switchyard::quality::MIN_SAMPLES
    );

    // The source empties: the next job reads nothing. One alert, naming what and compared to what.
    for id in &ids {
        rig.stripe.delete_customer(id).await;
    }
    let job = rig.run_flow(&rig.flow, Some(SyncMode::Full)).await;
    assert_eq!(job.counts.read, 0);
    assert_eq!(sink.len(), 1, "alerted when the episode opened");
    let alert = sink.deliveries()[0].json().unwrap();
    assert_eq!(alert["type"], "flow.anomaly");
    assert_eq!(alert["flow_id"], rig.flow.id.as_str());
    assert_eq!(alert["metric"], "records");
    assert_eq!(alert["observed"], 0.0);
    assert_eq!(alert["usual"], 10.0);
    let text = alert["text"].as_str().unwrap();
    assert!(
        text.contains("records: 0 records where about 10 records is usual") && text.contains(&job.job_id),
        "{text}"
    );
    assert!(
        sink.deliveries()[0].header("idempotency-key").is_some(),
        "a retried delivery can be recognised"
    );

    // Still nothing: the same episode, not a second alert.
    rig.run_flow(&rig.flow, Some(SyncMode::Full)).await;
    assert_eq!(sink.len(), 1);
    let open = rig.deps.quality.get(&rig.flow.id).await.unwrap().quality.open;
    assert_eq!(open[&Metric::Records].count, 2, "{open:?}");

    // The customers come back: the episode closes without another alert.
    for i in 0..10 {
        rig.stripe
            .create_customer(&format!("r{i}@example.com"), &format!("Back Again{i}"))
            .await;
    }
    let job = rig.run_flow(&rig.flow, Some(SyncMode::Full)).await;
    assert_eq!(job.counts.read, 10);
    assert_eq!(sink.len(), 1);
    assert!(rig
        .deps
        .quality
        .get(&rig.flow.id)
        .await
        .unwrap()
        .quality
        .open
        .is_empty());
}

/// Two jobs of one flow finishing at the same moment: both observations count (the version
/// condition makes the loser read again), so an episode cannot be opened, or alerted, twice.
#[tokio::test]
async fn concurrent_jobs_of_one_flow_both_count_in_the_baseline() {
    let rig = Rig::new().await;
    let job = |n: u64| Job {
        flow_id: rig.flow.id.clone(),
        job_id: format!("job{n}"),
        status: JobStatus::Succeeded,
        mode: SyncMode::Full,
        trigger: "test".into(),
        counts: JobCounts {
            read: 40 + n,
            ..JobCounts::default()
        },
        started_at: 1_793_600_000,
        updated_at: 1_793_600_030,
        finished_at: Some(1_793_600_030),
        pages: 1,
        expected_records: None,
        start_cursor: None,
        max_cursor: None,
        state: None,
        continuations: 0,
        last_error: None,
        recent_failures: vec![],
        seen: None,
    };
    for round in 0..5u64 {
        let (first, second) = (job(2 * round), job(2 * round + 1));
        let (a, b) = tokio::join!(
            switchyard::sync::observe_job(&rig.deps, &rig.flow, &first),
            switchyard::sync::observe_job(&rig.deps, &rig.flow, &second)
        );
        assert!(a.is_some() && b.is_some(), "both observed");
    }
    let stored = rig.deps.quality.get(&rig.flow.id).await.unwrap();
    assert_eq!(stored.version, 10, "one write per observation");
    let mut expected = Quality::default();
    for n in 0..10 {
        expected.observe(&JobSample {
            at: 1_793_600_030,
            read: 40 + n,
            rejected: 0,
            duration_secs: 30.0,
        });
    }
    // Ten observations weigh the same whatever their order, so the stored statistic is exactly
    // the one the ten samples give: none was lost.
    let stat = |q: &Quality| *q.baselines[&Metric::Records].parts.values().next().unwrap();
    let (got, want) = (stat(&stored.quality), stat(&expected));
    assert_eq!(got.n, 10);
    assert!((got.mean - want.mean).abs() < 1e-9, "{got:?} {want:?}");
}
