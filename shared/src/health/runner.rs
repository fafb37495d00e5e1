//! A health run: every connection, paged from DynamoDB, checked with bounded concurrency.
//!
//! Pages are fetched as the checks consume them (never all connections at once). At most
//! `concurrency` checks are in flight; each is bounded by the check timeout, so one slow
//! provider holds one slot, not the run. When less than `time_reserve` of the invocation is
//! left, no new check starts: the rest are reported as not reached and are checked by the next
//! tick (their stored state is unchanged meanwhile).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use tracing::{error, info, warn};

use super::alert::Alert;
use super::check::check_connection;
use super::state::{apply, CircuitState, HealthRecord, Transition};
use super::{HealthDeps, HealthError};
use crate::metrics::{Metrics, Unit};
use crate::store::connections::Connection;

const SERVICE: &str = "health-checker";

/// What happened to one connection in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionResult {
    /// Checked and recorded; `transition` when the state changed, `alerted` when an alert went out.
    Checked { transition: bool, alerted: bool },
    /// The circuit is open and its cool-down is running: no request made.
    CoolingDown,
    /// Nothing to check: no connector definition or check request, or a webhook-only
    /// connection without API credentials.
    NoCheck,
    /// Another run recorded a newer result first (overlapping runs); this one was dropped.
    Superseded,
    /// The invocation's time ran short before this connection's turn.
    NotReached,
    /// The result could not be stored.
    Error,
}

/// A run's totals (returned by the function and logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub connections: usize,
    pub checked: usize,
    pub cooling_down: usize,
    pub no_check: usize,
    pub superseded: usize,
    pub not_reached: usize,
    pub errors: usize,
    pub transitions: usize,
    pub alerts_sent: usize,
    pub alerts_failed: usize,
    pub tokens_refreshed: usize,
    /// Webhook subscriptions renewed at their providers (`webhooks.renewal`), and renewals refused.
    pub subscriptions_renewed: usize,
    pub renewals_failed: usize,
    /// Connections per state after the run (those checked or cooling down).
    pub states: BTreeMap<String, usize>,
    /// A page of connections could not be read: the run stopped early.
    pub scan_error: Option<String>,
    /// Hours of inbound events counted and judged, over all connections (`health::inbound`).
    pub inbound_hours: usize,
    /// Inbound anomalies whose episode opened, and of those the alerts delivered.
    pub inbound_anomalies: usize,
    pub inbound_alerts_sent: usize,
}

/// Checks every connection. `deadline`: the invocation's end (`None`: no limit, the CLI).
pub async fn run_checks(deps: &HealthDeps, deadline: Option<Instant>) -> Result<RunReport, HealthError> {
    let started = Instant::now();
    let page_size = deps.config.page_size;
    let pages = stream::try_unfold(Some(None::<HashMap<String, AttributeValue>>), move |start| async move {
        let Some(start) = start else {
            return Ok::<_, HealthError>(None);
        };
        let page = deps.connections.scan_page(start, page_size).await?;
        let next = page.next.map(Some);
        Ok(Some((page.items, next)))
    });
    let mut report = RunReport::default();
    let mut results = std::pin::pin!(pages
        .map_ok(|items| stream::iter(items.into_iter().map(Ok::<_, HealthError>)))
        .try_flatten()
        .map(|item| async move {
            match item {
                Ok((conn, health, inbound)) => {
                    let judged = super::inbound::observe_connection(deps, &conn, inbound, deps.clock.now_unix()).await;
                    Ok((
                        check_one(deps, conn, health.unwrap_or_default(), deadline).await,
                        judged,
                    ))
                }
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(deps.config.concurrency));
    while let Some(result) = results.next().await {
        match result {
            Ok(((result, state, refreshed, (renewed, refused)), judged)) => {
                report.connections += 1;
                report.subscriptions_renewed += renewed;
                report.renewals_failed += refused;
                report.inbound_hours += judged.hours;
                report.inbound_anomalies += judged.opened;
                report.inbound_alerts_sent += judged.alerted;
                if refreshed {
                    report.tokens_refreshed += 1;
                }
                if let Some(state) = state {
                    *report.states.entry(state.to_owned()).or_default() += 1;
                }
                match result {
                    ConnectionResult::Checked { transition, alerted } => {
                        report.checked += 1;
                        if transition {
                            report.transitions += 1;
                            if alerted {
                                report.alerts_sent += 1;
                            } else if deps.alerter.is_configured() {
                                report.alerts_failed += 1;
                            }
                        }
                    }
                    ConnectionResult::CoolingDown => report.cooling_down += 1,
                    ConnectionResult::NoCheck => report.no_check += 1,
                    ConnectionResult::Superseded => report.superseded += 1,
                    ConnectionResult::NotReached => report.not_reached += 1,
                    ConnectionResult::Error => report.errors += 1,
                }
            }
            Err(e) => {
                error!(message = "Reading connections failed; the run stops here.", error = %e);
                report.scan_error = Some(e.to_string());
                break;
            }
        }
    }
    if report.not_reached > 0 {
        warn!(
            message = "Time ran short; some connections were not checked this run.",
            not_reached = report.not_reached
        );
    }
    info!(
        message = "Health run finished.",
        connections = report.connections,
        checked = report.checked,
        transitions = report.transitions,
        alerts_sent = report.alerts_sent,
        not_reached = report.not_reached,
        inbound_hours = report.inbound_hours,
        inbound_anomalies = report.inbound_anomalies,
        elapsed_ms = started.elapsed().as_millis() as u64
    );
    Metrics::new(SERVICE)
        .count("ConnectionsChecked", report.checked as u64)
        .count("StateTransitions", report.transitions as u64)
        .count("AlertsFailed", report.alerts_failed as u64)
        .count("ConnectionsNotReached", report.not_reached as u64)
        .millis("HandlerDuration", started.elapsed().as_secs_f64() * 1000.0)
        .emit();
    Ok(report)
}

/// Checks, records and alerts for one connection: (result, state name, token refreshed,
/// (subscriptions renewed, renewals refused)).
async fn check_one(
    deps: &HealthDeps,
    conn: Connection,
    prev: HealthRecord,
    deadline: Option<Instant>,
) -> (ConnectionResult, Option<&'static str>, bool, (usize, usize)) {
    let now = deps.clock.now_unix();
    let mut prev = prev;
    // An alert that could not be delivered last time goes out first, even while cooling down.
    if let Some(pending) = prev.pending_alert.clone() {
        if deps.alerter.is_configured() && deps.alerter.send(&alert(&conn, pending)).await.is_ok() {
            let cleared = HealthRecord {
                pending_alert: None,
                version: prev.version + 1,
                ..prev.clone()
            };
            if let Ok(true) = deps.connections.put_health(&conn.id, &cleared).await {
                prev = cleared;
            }
        }
    }
    if prev.cooling_down(now) {
        return (ConnectionResult::CoolingDown, Some(prev.state.name()), false, (0, 0));
    }
    if let Some(deadline) = deadline {
        if deadline.saturating_duration_since(Instant::now()) < deps.config.time_reserve {
            return (ConnectionResult::NotReached, None, false, (0, 0));
        }
    }
    // An open circuit whose cool-down is over gets exactly one probe: the run that records
    // `half_open` first makes it; an overlapping run leaves the connection alone.
    let stored_circuit = prev.circuit;
    let prev = if prev.circuit == CircuitState::Open {
        let claim = HealthRecord {
            circuit: CircuitState::HalfOpen,
            circuit_since: now,
            version: prev.version + 1,
            ..prev
        };
        match deps.connections.put_health(&conn.id, &claim).await {
            Ok(true) => claim,
            Ok(false) => return (ConnectionResult::Superseded, None, false, (0, 0)),
            Err(e) => {
                error!(message = "Claiming the half-open probe failed.", connection_id = %conn.id, error = %e);
                return (ConnectionResult::Error, None, false, (0, 0));
            }
        }
    } else {
        prev
    };
    let checked = check_connection(deps.check_deps(), &conn, &prev, now).await;
    let Some(outcome) = checked.outcome else {
        return (ConnectionResult::NoCheck, None, false, (0, 0));
    };
    let (mut next, mut transition) = apply(&prev, &outcome, now, &deps.config.policy);
    if let Some(t) = transition.as_mut() {
        // Alerts describe the change from what was stored before this run (not the probe's claim).
        t.circuit_from = stored_circuit;
    }
    if checked.token_refreshed {
        next.token_refreshed_at = Some(now);
    }
    let mut renewals = (0, 0);
    match checked.renewals {
        Some(Ok(pass)) => {
            renewals = (pass.renewed, pass.failed.len());
            next.subscriptions = pass.subscriptions;
        }
        Some(Err(e)) => {
            warn!(message = "Listing the webhook subscriptions to renew failed.", connection_id = %conn.id, error = %e);
        }
        None => {}
    }
    Metrics::new(SERVICE)
        .dimension("ConnectionId", conn.id.clone())
        .millis("CheckLatency", outcome.latency_ms() as f64)
        .value("ConnectionState", next.state.code(), Unit::None)
        .count("CheckFailed", u64::from(next.last_check_at == next.last_error_at))
        .property("Provider", conn.provider.clone())
        .emit();
    match deps.connections.put_health(&conn.id, &next).await {
        Ok(true) => {}
        Ok(false) => return (ConnectionResult::Superseded, None, checked.token_refreshed, renewals),
        Err(e) => {
            error!(message = "Storing a health result failed.", connection_id = %conn.id, error = %e);
            return (ConnectionResult::Error, None, checked.token_refreshed, renewals);
        }
    }
    alert_renewal_failures(deps, &conn, &mut next, now).await;
    let state = Some(next.state.name());
    let Some(transition) = transition else {
        return (
            ConnectionResult::Checked {
                transition: false,
                alerted: false,
            },
            state,
            checked.token_refreshed,
            renewals,
        );
    };
    warn!(
        message = "Connection state changed.",
        connection_id = %conn.id,
        from = transition.from.name(),
        to = transition.to.name(),
        circuit = transition.circuit_to.name(),
        error = transition.last_error.as_deref().unwrap_or("")
    );
    let alert = alert(&conn, transition);
    crate::subscriptions::emit::connection_state_changed(&deps.publisher, &alert, deps.clock.now_unix()).await;
    let alerted = deps.alerter.is_configured() && deps.alerter.send(&alert).await.is_ok();
    if !alerted && deps.alerter.is_configured() {
        // Kept for the next run; if another run wrote meanwhile, its record stands.
        next.pending_alert = Some(alert.transition);
        next.version += 1;
        if let Err(e) = deps.connections.put_health(&conn.id, &next).await {
            error!(message = "Keeping an undelivered alert failed.", connection_id = %conn.id, error = %e);
        }
    }
    (
        ConnectionResult::Checked {
            transition: true,
            alerted,
        },
        state,
        checked.token_refreshed,
        renewals,
    )
}

fn alert(conn: &Connection, transition: Transition) -> Alert {
    Alert {
        connection_id: conn.id.clone(),
        tenant: conn.tenant.clone(),
        provider: conn.provider.clone(),
        name: conn.name.clone(),
        transition,
    }
}

/// Alerts each subscription whose renewal failed and was not alerted yet in this failing
/// episode, then records which alerts went out (an undelivered one is tried by the next run).
async fn alert_renewal_failures(deps: &HealthDeps, conn: &Connection, next: &mut HealthRecord, now: i64) {
    if !deps.alerter.is_configured() {
        return;
    }
    let pending: Vec<String> = next
        .subscriptions
        .iter()
        .filter(|(_, s)| s.error.is_some() && !s.alerted)
        .map(|(id, _)| id.clone())
        .collect();
    let mut delivered = false;
    for id in pending {
        let Some(record) = next.subscriptions.get_mut(&id) else {
            continue;
        };
        let notice = super::renewal::notice(conn, &id, record, now);
        if deps.alerter.send_notice(&notice).await.is_ok() {
            record.alerted = true;
            delivered = true;
        }
    }
    if delivered {
        next.version += 1;
        match deps.connections.put_health(&conn.id, next).await {
            Ok(true) => {}
            Ok(false) => {
                warn!(message = "A newer health record stands; renewal alerts may repeat.", connection_id = %conn.id)
            }
            Err(e) => error!(message = "Recording renewal alerts failed.", connection_id = %conn.id, error = %e),
        }
    }
}
