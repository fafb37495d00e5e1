//! After each finished job: observe it against its flow's data-quality baseline
//! ([`crate::quality`]), log what stands out, and alert each anomaly episode once, when it opens.
//! Quality tracking never fails a job: its own failures are logged and the job stands.

use serde_json::json;
use tracing::{info, warn};

use super::SyncDeps;
use crate::health::alert::Notice;
use crate::quality::{Finding, JobSample, Observed};
use crate::store::flows::Flow;
use crate::store::jobs::Job;

/// Tries of the read-observe-write round when other jobs of the flow write in between.
const MAX_TRIES: usize = 4;

/// Observes `job` (finished) for `flow`; returns what it found (the tests read it).
pub async fn observe_job(deps: &SyncDeps, flow: &Flow, job: &Job) -> Option<Observed> {
    let finished = job.finished_at?;
    let sample = JobSample {
        at: finished,
        read: job.counts.read,
        rejected: job.counts.failed,
        duration_secs: (finished - job.started_at).max(0) as f64,
    };
    let mut observed = None;
    for _ in 0..MAX_TRIES {
        let mut stored = match deps.quality.get(&flow.id).await {
            Ok(s) => s,
            Err(e) => {
                warn!(message = "Reading the flow's data-quality baseline failed; this job is not observed.", flow_id = %flow.id, error = %e);
                return None;
            }
        };
        let out = stored.quality.observe(&sample);
        match deps.quality.put(&flow.id, &stored.quality, stored.version).await {
            Ok(true) => {
                observed = Some(out);
                break;
            }
            Ok(false) => continue,
            Err(e) => {
                warn!(message = "Saving the flow's data-quality baseline failed; this job is not observed.", flow_id = %flow.id, error = %e);
                return None;
            }
        }
    }
    let Some(out) = observed else {
        warn!(message = "The flow's data-quality baseline kept changing under this job; it is not observed.", flow_id = %flow.id);
        return None;
    };
    for metric in &out.closed {
        info!(message = "Data-quality anomaly over.", flow_id = %flow.id, metric = metric.name());
    }
    for finding in &out.findings {
        warn!(
            message = "Data-quality anomaly.",
            flow_id = %flow.id,
            job_id = %job.job_id,
            metric = finding.metric.name(),
            opened = finding.opened,
            summary = %finding.summary
        );
        if finding.opened {
            crate::metrics::quality::anomaly("connector-sync", finding.metric.name());
            alert(deps, flow, job, finding).await;
        }
    }
    Some(out)
}

async fn alert(deps: &SyncDeps, flow: &Flow, job: &Job, finding: &Finding) {
    let Some(alerter) = deps.alerter().await else {
        return;
    };
    let mut text = format!(
        "Flow {} ({}): {} (job {}).",
        flow.name, flow.id, finding.summary, job.job_id
    );
    if let Some(last) = job.recent_failures.last() {
        text.push_str(&format!(" Last record error: {}", last.reason));
    }
    let notice = Notice {
        subject: flow.id.clone(),
        idempotency_key: format!("{}:{}:{}", flow.id, finding.metric.name(), finding.since),
        body: json!({
            "type": "flow.anomaly",
            "flow_id": flow.id,
            "tenant": flow.tenant,
            "name": flow.name,
            "job_id": job.job_id,
            "metric": finding.metric,
            "observed": finding.observed,
            "usual": finding.usual,
            "spread": finding.sd,
            "since": finding.since,
            "last_errors": job.recent_failures.iter().rev().take(3).map(|f| &f.reason).collect::<Vec<_>>(),
            "text": text,
        }),
        text,
    };
    // Delivery failures are logged by the alerter; the episode stays open either way.
    let _ = alerter.send_notice(&notice).await;
}
