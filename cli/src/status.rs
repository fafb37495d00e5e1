//! `switchyard status`: one screen with every connection's state, circuit and last check, and
//! every flow's last run, lag and failures, and every open data-quality anomaly (of flows'
//! jobs, and of connections' inbound webhook events per hour). Exit 1 when a connection is down or needs re-auth.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use switchyard::clock::{Clock, SystemClock};
use switchyard::health::{ConnectionState, HealthRecord};
use switchyard::quality::{Episode, Metric};
use switchyard::store::connections::{Connection, ConnectionStore};
use switchyard::store::flows::{Flow, FlowStore};
use switchyard::store::jobs::{Job, JobStatus, JobStore};
use switchyard::store::quality::QualityStore;

use crate::connections::{clients, Target};
use crate::Outcome;

/// How many recent jobs a flow's failure count looks at.
const RECENT_JOBS: i32 = 5;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: crate::api_mode::EitherTarget,
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Print JSON instead of the screen.
    #[arg(long)]
    json: bool,
    /// Unix seconds to compute ages and lags from (default: now).
    #[arg(long, hide = true)]
    now: Option<i64>,
}

/// A flow, its most recent jobs (newest first) and its open data-quality anomalies.
pub struct FlowStatus {
    pub flow: Flow,
    pub jobs: Vec<Job>,
    pub anomalies: BTreeMap<Metric, Episode>,
}

pub fn run(args: StatusArgs) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (tenant, connections, flows, inbound) = match args.target.mode()? {
            crate::api_mode::Mode::Api(api) => through_api(&api).await?,
            crate::api_mode::Mode::Direct(target) => {
                let (connections, flows, inbound) = direct(&target, &args.tenant).await?;
                (args.tenant.clone(), connections, flows, inbound)
            }
        };
        let now = args.now.unwrap_or_else(|| SystemClock.now_unix());
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&to_json(&connections, &flows, &inbound, now))?
            );
        } else {
            print!("{}", render(&tenant, &connections, &flows, &inbound, now));
        }
        let bad = connections.iter().any(|(_, h)| {
            h.as_ref()
                .is_some_and(|h| matches!(h.state, ConnectionState::Down | ConnectionState::NeedsReauth))
        });
        Ok(!bad)
    })
}

type Connections = Vec<(Connection, Option<HealthRecord>)>;
/// Each webhook connection's open inbound-events anomaly, by connection id.
type Inbound = BTreeMap<String, Episode>;

/// The key's tenant, its connections with health, and its flows with their latest jobs and
/// open anomalies, through the management API: `GET /v1/me`, `/v1/connections`, `/v1/flows`
/// and `/v1/flows/{id}` per flow.
async fn through_api(
    api: &crate::api_mode::ApiClient,
) -> anyhow::Result<(String, Connections, Vec<FlowStatus>, Inbound)> {
    let me = api.get("me").await?.context("the API has no /v1/me")?;
    let tenant = me["tenant"].as_str().unwrap_or_default().to_string();
    let mut connections = Vec::new();
    let mut inbound = BTreeMap::new();
    for mut c in api.all("connections").await? {
        let health: Option<HealthRecord> = serde_json::from_value(c["health"].take()).unwrap_or_default();
        c["tenant"] = json!(tenant);
        let conn: Connection =
            serde_json::from_value(c).context("the API answered a connection this CLI does not understand")?;
        // The list leaves out the inbound-events anomaly; one connection shows it.
        if conn.webhook.is_some() {
            if let Some(shown) = api
                .get(&format!("connections/{}", crate::api_mode::segment(&conn.id)))
                .await?
            {
                let a = &shown["inbound_anomaly"];
                if let (Some(since), Some(hours), Some(summary)) =
                    (a["since"].as_i64(), a["hours"].as_u64(), a["summary"].as_str())
                {
                    let episode = Episode {
                        since,
                        count: hours as u32,
                        summary: summary.to_string(),
                    };
                    inbound.insert(conn.id.clone(), episode);
                }
            }
        }
        connections.push((conn, health));
    }
    let mut flows = Vec::new();
    for listed in api.all("flows").await? {
        let id = listed["id"].as_str().unwrap_or_default();
        let Some(mut shown) = api.get(&format!("flows/{}", crate::api_mode::segment(id))).await? else {
            continue; // deleted meanwhile
        };
        let jobs: Vec<Job> = serde_json::from_value(shown["recent_jobs"].take()).unwrap_or_default();
        let anomalies = shown["anomalies"]
            .take()
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let metric: Metric = serde_json::from_value(a["metric"].clone()).ok()?;
                Some((
                    metric,
                    Episode {
                        since: a["since"].as_i64()?,
                        count: a["jobs"].as_u64()? as u32,
                        summary: a["summary"].as_str()?.to_string(),
                    },
                ))
            })
            .collect();
        let flow: Flow =
            serde_json::from_value(listed).context("the API answered a flow this CLI does not understand")?;
        flows.push(FlowStatus { flow, jobs, anomalies });
    }
    Ok((tenant, connections, flows, inbound))
}

/// The tenant's connections and flows, read from DynamoDB.
async fn direct(target: &Target, tenant: &str) -> anyhow::Result<(Connections, Vec<FlowStatus>, Inbound)> {
    let aws = clients(target).await;
    let table = &target.table;
    let store = ConnectionStore::new(aws.dynamodb.clone(), table);
    let connections = store
        .list_with_health(tenant)
        .await
        .context("cannot list connections")?;
    let mut inbound = BTreeMap::new();
    for (c, _) in connections.iter().filter(|(c, _)| c.webhook.is_some()) {
        let record = store
            .inbound(&c.id)
            .await
            .with_context(|| format!("cannot read the inbound baseline of connection {}", c.id))?;
        if let Some(episode) = record.and_then(|mut r| r.quality.open.remove(&Metric::InboundEvents)) {
            inbound.insert(c.id.clone(), episode);
        }
    }
    let jobs = JobStore::new(aws.dynamodb.clone(), table);
    let quality = QualityStore::new(aws.dynamodb.clone(), table);
    let mut flows = Vec::new();
    for flow in FlowStore::new(aws.dynamodb.clone(), table)
        .list(tenant)
        .await
        .context("cannot list flows")?
    {
        let recent = jobs
            .recent(&flow.id, RECENT_JOBS)
            .await
            .with_context(|| format!("cannot read the jobs of flow {}", flow.id))?;
        let anomalies = quality
            .get(&flow.id)
            .await
            .with_context(|| format!("cannot read the data-quality state of flow {}", flow.id))?
            .quality
            .open;
        flows.push(FlowStatus {
            flow,
            jobs: recent,
            anomalies,
        });
    }
    Ok((connections, flows, inbound))
}

fn ago(now: i64, then: Option<i64>) -> String {
    match then {
        None => "never".into(),
        Some(t) => {
            let d = (now - t).max(0);
            match d {
                0..=59 => format!("{d}s ago"),
                60..=3599 => format!("{}m ago", d / 60),
                3600..=86_399 => format!("{}h ago", d / 3600),
                _ => format!("{}d ago", d / 86_400),
            }
        }
    }
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d", s / 86_400),
    }
}

fn short(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max - 1).collect::<String>())
    }
}

/// A flow's lag: how long since its data was last brought up to date (the newest successful
/// job's end; a flow that never succeeded has no lag to show).
fn lag(now: i64, jobs: &[Job]) -> Option<i64> {
    jobs.iter()
        .filter(|j| matches!(j.status, JobStatus::Succeeded | JobStatus::Partial))
        .filter_map(|j| j.finished_at)
        .max()
        .map(|t| (now - t).max(0))
}

fn status_name(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Running => "running",
        JobStatus::Succeeded => "succeeded",
        JobStatus::Partial => "partial",
        JobStatus::Failed => "failed",
    }
}

/// The screen.
pub fn render(
    tenant: &str,
    connections: &[(Connection, Option<HealthRecord>)],
    flows: &[FlowStatus],
    inbound: &BTreeMap<String, Episode>,
    now: i64,
) -> String {
    let mut out = format!("Connections of tenant {tenant}: {}\n", connections.len());
    out.push_str(&format!(
        "  {:<24} {:<10} {:<13} {:<10} {:<10} {:>8}  {}\n",
        "ID", "PROVIDER", "STATE", "CIRCUIT", "CHECKED", "LATENCY", "LAST ERROR"
    ));
    for (c, h) in connections {
        let (state, circuit, checked, latency, error) = match h {
            None => (
                "unchecked".to_string(),
                "-".to_string(),
                "never".to_string(),
                "-".to_string(),
                String::new(),
            ),
            Some(h) => {
                let mut circuit = h.circuit.name().to_string();
                if let Some(until) = h.open_until.filter(|u| *u > now) {
                    circuit = format!("{circuit} {}", duration(until - now));
                }
                let error = match (&h.last_error, h.last_error_at) {
                    (Some(e), Some(at)) if h.state != ConnectionState::Healthy => {
                        format!("{} ({})", short(e, 60), ago(now, Some(at)))
                    }
                    _ => String::new(),
                };
                (
                    h.state.name().to_string(),
                    circuit,
                    ago(now, h.last_check_at),
                    h.last_latency_ms.map_or("-".into(), |ms| format!("{ms} ms")),
                    error,
                )
            }
        };
        out.push_str(&format!(
            "  {:<24} {:<10} {:<13} {:<10} {:<10} {:>8}  {}\n",
            c.id, c.provider, state, circuit, checked, latency, error
        ));
    }
    out.push_str(&format!("\nFlows of tenant {tenant}: {}\n", flows.len()));
    out.push_str(&format!(
        "  {:<24} {:<10} {:<10} {:<8} {:<10} {:<16}  {}\n",
        "ID", "LAST RUN", "STATUS", "LAG", "NEXT RUN", "FAILURES", "LAST ERROR"
    ));
    for f in flows {
        let last = f.jobs.first();
        let next = match (f.flow.enabled, f.flow.schedule_interval_secs, f.flow.next_run_at) {
            (false, _, _) => "disabled".to_string(),
            (true, None, _) => "on demand".to_string(),
            (true, Some(_), None) => "due".to_string(),
            (true, Some(_), Some(t)) if t <= now => format!("due {}", duration(now - t)),
            (true, Some(_), Some(t)) => format!("in {}", duration(t - now)),
        };
        let failed_jobs = f.jobs.iter().filter(|j| j.status == JobStatus::Failed).count();
        let failed_records: u64 = f.jobs.iter().map(|j| j.counts.failed).sum();
        let failures = if f.jobs.is_empty() {
            "-".to_string()
        } else {
            format!("{failed_jobs}/{} jobs, {failed_records} rec", f.jobs.len())
        };
        out.push_str(&format!(
            "  {:<24} {:<10} {:<10} {:<8} {:<10} {:<16}  {}\n",
            f.flow.id,
            ago(now, last.map(|j| j.finished_at.unwrap_or(j.started_at))),
            last.map_or("-", |j| status_name(j.status)),
            lag(now, &f.jobs).map_or("-".into(), duration),
            next,
            failures,
            last.and_then(|j| j.last_error.as_deref())
                .map(|e| short(e, 60))
                .unwrap_or_default()
        ));
    }
    let open: Vec<_> = flows
        .iter()
        .flat_map(|f| f.anomalies.values().map(move |e| (&f.flow.id, e)))
        .collect();
    if !open.is_empty() {
        out.push_str(&format!("\nData-quality anomalies: {}\n", open.len()));
        for (flow, episode) in open {
            out.push_str(&format!(
                "  {:<24} {} ({} job{})\n",
                flow,
                episode.summary,
                episode.count,
                if episode.count == 1 { "" } else { "s" }
            ));
        }
    }
    if !inbound.is_empty() {
        out.push_str(&format!("\nInbound anomalies: {}\n", inbound.len()));
        for (conn, episode) in inbound {
            out.push_str(&format!(
                "  {:<24} {} ({} hour{})\n",
                conn,
                episode.summary,
                episode.count,
                if episode.count == 1 { "" } else { "s" }
            ));
        }
    }
    out
}

fn to_json(
    connections: &[(Connection, Option<HealthRecord>)],
    flows: &[FlowStatus],
    inbound: &BTreeMap<String, Episode>,
    now: i64,
) -> serde_json::Value {
    json!({
        "now": now,
        "connections": connections.iter().map(|(c, h)| json!({
            "id": c.id,
            "provider": c.provider,
            "name": c.name,
            "health": h,
            "inbound_anomaly": inbound.get(&c.id).map(|e| json!({
                "metric": Metric::InboundEvents,
                "since": e.since,
                "hours": e.count,
                "summary": e.summary,
            })),
        })).collect::<Vec<_>>(),
        "flows": flows.iter().map(|f| json!({
            "id": f.flow.id,
            "enabled": f.flow.enabled,
            "schedule_interval_secs": f.flow.schedule_interval_secs,
            "next_run_at": f.flow.next_run_at,
            "lag_secs": lag(now, &f.jobs),
            "anomalies": f.anomalies.iter().map(|(metric, e)| json!({
                "metric": metric,
                "since": e.since,
                "jobs": e.count,
                "summary": e.summary,
            })).collect::<Vec<_>>(),
            "recent_jobs": f.jobs.iter().map(|j| json!({
                "job_id": j.job_id,
                "status": status_name(j.status),
                "started_at": j.started_at,
                "finished_at": j.finished_at,
                "counts": {"read": j.counts.read, "written": j.counts.written, "unchanged": j.counts.unchanged, "failed": j.counts.failed},
                "last_error": j.last_error,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard::health::CircuitState;
    use switchyard::store::flows::SyncMode;
    use switchyard::store::jobs::JobCounts;

    fn conn(id: &str) -> Connection {
        Connection {
            id: id.into(),
            tenant: "acme".into(),
            provider: "hubspot".into(),
            name: id.into(),
            webhook: None,
            secret_arn: None,
            config: Default::default(),
            created_at: 0,
        }
    }

    #[test]
    fn the_screen_shows_states_circuits_lags_and_failures() {
        let now = 10_000;
        let down = HealthRecord {
            state: ConnectionState::Down,
            circuit: CircuitState::Open,
            open_until: Some(now + 240),
            last_check_at: Some(now - 60),
            last_latency_ms: Some(12),
            last_error: Some("GET /crm/v3/objects/contacts failed with HTTP 500".into()),
            last_error_at: Some(now - 60),
            ..HealthRecord::default()
        };
        let flow = Flow {
            id: "flow_1".into(),
            tenant: "acme".into(),
            name: "f".into(),
            source_connection: "conn_a".into(),
            source_stream: "contacts".into(),
            destination_connection: "conn_b".into(),
            destination_operation: "x".into(),
            mapping: ".".into(),
            mode: SyncMode::Full,
            schedule_interval_secs: Some(300),
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: Some(now - 120),
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups: Vec::new(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        };
        let job = |status, finished: i64, failed| Job {
            flow_id: "flow_1".into(),
            job_id: format!("j{finished}"),
            status,
            mode: SyncMode::Full,
            trigger: "schedule".into(),
            counts: JobCounts {
                failed,
                ..JobCounts::default()
            },
            started_at: finished - 10,
            updated_at: finished,
            finished_at: Some(finished),
            pages: 1,
            expected_records: None,
            start_cursor: None,
            max_cursor: None,
            state: None,
            continuations: 0,
            last_error: (status == JobStatus::Failed).then(|| "connection refused".to_string()),
            recent_failures: vec![],
            seen: None,
        };
        let flows = [FlowStatus {
            flow,
            jobs: vec![
                job(JobStatus::Failed, now - 30, 0),
                job(JobStatus::Partial, now - 3600, 2),
            ],
            anomalies: BTreeMap::from([(
                Metric::Records,
                Episode {
                    since: now - 30,
                    count: 2,
                    summary: "records: 0 records where about 120 records is usual here".into(),
                },
            )]),
        }];
        let screen = render(
            "acme",
            &[(conn("conn_a"), Some(down)), (conn("conn_b"), None)],
            &flows,
            &BTreeMap::from([(
                "conn_b".to_string(),
                Episode {
                    since: now - 3_600,
                    count: 1,
                    summary: "inbound_events: 0 events in the hour where about 40 events in the hour is usual here"
                        .into(),
                },
            )]),
            now,
        );
        assert!(
            screen.contains("down") && screen.contains("open 4m") && screen.contains("HTTP 500 (1m ago)"),
            "{screen}"
        );
        assert!(screen.contains("unchecked"), "{screen}");
        assert!(
            screen.contains("failed") && screen.contains("1h00m") && screen.contains("due 2m"),
            "{screen}"
        );
        assert!(
            screen.contains("1/2 jobs, 2 rec") && screen.contains("connection refused"),
            "{screen}"
        );
        assert!(
            screen.contains("Data-quality anomalies: 1")
                && screen.contains("records: 0 records where about 120 records is usual here (2 jobs)"),
            "{screen}"
        );
        assert!(
            screen.contains("Inbound anomalies: 1")
                && screen.contains("conn_b                   inbound_events: 0 events in the hour where about 40")
                && screen.contains("(1 hour)"),
            "{screen}"
        );
        let v = to_json(&[], &flows, &BTreeMap::new(), now);
        assert_eq!(v["flows"][0]["lag_secs"], 3600);
        assert_eq!(v["flows"][0]["anomalies"][0]["metric"], "records");
    }
}
