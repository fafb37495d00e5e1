//! `switchyard dead-letters list|show|replay`: messages that stopped retrying.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use switchyard::clock::{Clock, SystemClock};
use switchyard::queue::SyncQueue;
use switchyard::retry::replay::Replayer;
use switchyard::store::connections::ConnectionStore;
use switchyard::store::dead_letters::{DeadLetter, DeadLetterFilter, DeadLetterStatus, DeadLetterStore};
use switchyard::store::flows::FlowStore;
use switchyard::store::jobs::JobStore;

use crate::api_mode::{segment, ApiClient, EitherTarget, Mode};
use crate::connections::clients;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct Selection {
    /// Only dead letters of this flow (its sync jobs, and the events of its source connection).
    #[arg(long, value_name = "FLOW")]
    flow: Option<String>,
    /// Only those parked at or after this time: unix seconds or RFC 3339 (2026-11-22T04:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// List parked messages, oldest first: key, reason, attempts, when, last error.
    List {
        #[command(flatten)]
        target: EitherTarget,
        #[command(flatten)]
        selection: Selection,
        /// Include dead letters already replayed.
        #[arg(long)]
        include_replayed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter: its message and every attempt's time, class and error (JSON).
    Show {
        #[command(flatten)]
        target: EitherTarget,
        /// The dead letter's key, e.g. evt:conn_stripe:evt_123 or job:flow_1:01J...
        key: String,
    },
    /// Send dead letters back to the sync queue with a fresh attempt count (audited).
    Replay(Box<ReplayArgs>),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    target: EitherTarget,
    /// The dead letter to replay; or --all with --flow / --since.
    #[arg(conflicts_with = "all", required_unless_present = "all")]
    key: Option<String>,
    /// Replay every parked dead letter the selection matches.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    selection: Selection,
    /// The sync queue (direct mode).
    #[arg(long, env = "SYNC_QUEUE_URL", value_name = "URL")]
    queue_url: Option<String>,
    /// Who replays, for the audit log; default $USER (through the API the key is audited).
    #[arg(long, env = "USER", default_value = "unknown")]
    actor: String,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(cmd: DeadLettersCommand) -> Outcome {
    runtime()?.block_on(async move {
        match cmd {
            DeadLettersCommand::List {
                target,
                selection,
                include_replayed,
                json,
            } => list(target, selection, include_replayed, json).await,
            DeadLettersCommand::Show { target, key } => show(target, &key).await,
            DeadLettersCommand::Replay(args) => replay(*args).await,
        }
    })
}

/// Unix seconds from `1763784000` or `2026-11-22T04:00:00Z`.
fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(secs) = text.trim().parse::<i64>() {
        return Ok(secs);
    }
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("--since {text:?} is neither unix seconds nor an RFC 3339 time"))?;
    Ok(t.unix_timestamp())
}

async fn select(
    store: &DeadLetterStore,
    flows: &FlowStore,
    selection: &Selection,
    statuses: Vec<DeadLetterStatus>,
) -> anyhow::Result<Vec<DeadLetter>> {
    let since = selection.since.as_deref().map(parse_time).transpose()?;
    let mut out = store.list(&DeadLetterFilter { since, statuses }).await?;
    if let Some(flow_id) = &selection.flow {
        let flow = flows
            .get(flow_id)
            .await?
            .with_context(|| format!("flow {flow_id} does not exist"))?;
        out.retain(|d| {
            d.flow_id.as_deref() == Some(flow_id.as_str())
                || d.connection_id.as_deref() == Some(flow.source_connection.as_str())
        });
    }
    Ok(out)
}

async fn list(target: EitherTarget, selection: Selection, include_replayed: bool, json: bool) -> Outcome {
    let target = match target.mode()? {
        Mode::Api(api) => return list_through_api(&api, selection, include_replayed, json).await,
        Mode::Direct(target) => target,
    };
    let aws = clients(&target).await;
    let store = DeadLetterStore::new(aws.dynamodb.clone(), &target.table);
    let flows = FlowStore::new(aws.dynamodb.clone(), &target.table);
    let statuses = if include_replayed {
        vec![]
    } else {
        vec![DeadLetterStatus::Parked]
    };
    let dead = select(&store, &flows, &selection, statuses).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&dead)?);
        return Ok(true);
    }
    print_table(&dead);
    Ok(true)
}

fn print_table(dead: &[DeadLetter]) {
    if dead.is_empty() {
        println!("no dead letters");
        return;
    }
    println!(
        "{:<48} {:<10} {:<9} {:>8} {:>12} LAST ERROR",
        "KEY", "REASON", "STATUS", "ATTEMPTS", "PARKED AT"
    );
    for d in dead {
        let error: String = d.last_error.chars().take(80).collect();
        let status = match d.status {
            DeadLetterStatus::Parked => "parked",
            DeadLetterStatus::Replayed => "replayed",
        };
        println!(
            "{:<48} {:<10} {:<9} {:>8} {:>12} {}",
            d.key, d.reason, status, d.attempts, d.parked_at, error
        );
    }
}

/// `list` through the management API (the tenant is the key's). The API leaves the parked
/// message out.
async fn list_through_api(api: &ApiClient, selection: Selection, include_replayed: bool, json: bool) -> Outcome {
    let mut query = Vec::new();
    if !include_replayed {
        query.push("status=parked".to_string());
    }
    if let Some(since) = selection.since.as_deref() {
        query.push(format!("since={}", parse_time(since)?));
    }
    let path = if query.is_empty() {
        "dead-letters".to_string()
    } else {
        format!("dead-letters?{}", query.join("&"))
    };
    let mut items = api.all(&path).await?;
    if let Some(flow_id) = &selection.flow {
        let flow = api
            .get(&format!("flows/{}", segment(flow_id)))
            .await?
            .with_context(|| format!("flow {flow_id} does not exist"))?;
        let source = flow["source_connection"].as_str().unwrap_or_default().to_string();
        items.retain(|d| {
            d["flow_id"].as_str() == Some(flow_id.as_str()) || d["connection_id"].as_str() == Some(&source)
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(true);
    }
    let dead = items
        .into_iter()
        .map(|mut d| {
            d["message"] = serde_json::Value::String(String::new());
            serde_json::from_value::<DeadLetter>(d)
        })
        .collect::<Result<Vec<_>, _>>()
        .context("the API answered a dead letter this CLI does not understand")?;
    print_table(&dead);
    Ok(true)
}

async fn show(target: EitherTarget, key: &str) -> Outcome {
    let target = match target.mode()? {
        Mode::Api(api) => {
            let Some(dead) = api.get(&format!("dead-letters/{}", segment(key))).await? else {
                eprintln!("no dead letter {key} (see `switchyard dead-letters list`)");
                return Ok(false);
            };
            println!("{}", serde_json::to_string_pretty(&dead)?);
            return Ok(true);
        }
        Mode::Direct(target) => target,
    };
    let aws = clients(&target).await;
    let store = DeadLetterStore::new(aws.dynamodb.clone(), &target.table);
    let Some(dead) = store.get(key).await? else {
        eprintln!("no dead letter {key} (see `switchyard dead-letters list`)");
        return Ok(false);
    };
    let mut value = serde_json::to_value(&dead)?;
    // Show the message as JSON, not as a string of JSON.
    if let Ok(message) = serde_json::from_str::<serde_json::Value>(&dead.message) {
        value["message"] = message;
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(true)
}

async fn replay(args: ReplayArgs) -> Outcome {
    let target = match args.target.mode()? {
        Mode::Api(api) => return replay_through_api(&api, args.key, args.all, args.selection).await,
        Mode::Direct(target) => target,
    };
    let Some(queue_url) = args.queue_url.as_deref().filter(|q| !q.is_empty()) else {
        bail!("replay needs the sync queue: pass --queue-url or set SYNC_QUEUE_URL (or use the management API)");
    };
    let aws = clients(&target).await;
    let store = DeadLetterStore::new(aws.dynamodb.clone(), &target.table);
    let flows = FlowStore::new(aws.dynamodb.clone(), &target.table);
    let connections = ConnectionStore::new(aws.dynamodb.clone(), &target.table);
    let jobs = JobStore::new(aws.dynamodb.clone(), &target.table);
    let queue = SyncQueue::new(aws.sqs.clone(), queue_url);
    let targets = match &args.key {
        Some(key) => match store.get(key).await? {
            Some(d) => vec![d],
            None => {
                eprintln!("no dead letter {key} (see `switchyard dead-letters list`)");
                return Ok(false);
            }
        },
        None if args.all => select(&store, &flows, &args.selection, vec![DeadLetterStatus::Parked]).await?,
        None => bail!("name a dead letter, or give --all (with --flow / --since to narrow it)"),
    };
    let replayer = Replayer {
        dead_letters: &store,
        connections: &connections,
        flows: &flows,
        jobs: &jobs,
        queue: &queue,
    };
    let actor = format!("cli:{}", args.actor);
    let mut failed = 0;
    for dead in &targets {
        match replayer.replay(dead, &actor, SystemClock.now_unix()).await {
            Ok(_) => println!("replayed {}", dead.key),
            Err(e) => {
                failed += 1;
                eprintln!("not replayed {}: {e}", dead.key);
            }
        }
    }
    println!("{} replayed, {failed} not", targets.len() - failed);
    Ok(failed == 0)
}

/// `replay` through the management API: one dead letter, or every parked one the selection
/// matches (listed as `list` does), each with `POST /v1/dead-letters/{key}/replay` (a runner
/// key; audited as the key).
async fn replay_through_api(api: &ApiClient, key: Option<String>, all: bool, selection: Selection) -> Outcome {
    let keys: Vec<String> = match key {
        Some(key) => vec![key],
        None if all => {
            let mut query = vec!["status=parked".to_string()];
            if let Some(since) = selection.since.as_deref() {
                query.push(format!("since={}", parse_time(since)?));
            }
            let mut items = api.all(&format!("dead-letters?{}", query.join("&"))).await?;
            if let Some(flow_id) = &selection.flow {
                let flow = api
                    .get(&format!("flows/{}", segment(flow_id)))
                    .await?
                    .with_context(|| format!("flow {flow_id} does not exist"))?;
                let source = flow["source_connection"].as_str().unwrap_or_default().to_string();
                items.retain(|d| {
                    d["flow_id"].as_str() == Some(flow_id.as_str()) || d["connection_id"].as_str() == Some(&source)
                });
            }
            items
                .iter()
                .filter_map(|d| d["key"].as_str().map(str::to_string))
                .collect()
        }
        None => bail!("name a dead letter, or give --all (with --flow / --since to narrow it)"),
    };
    let mut failed = 0;
    for key in &keys {
        match api
            .act(&format!("dead-letters/{}/replay", segment(key)), &serde_json::json!({}))
            .await
        {
            Ok(Some(_)) => println!("replayed {key}"),
            Ok(None) => {
                failed += 1;
                eprintln!("not replayed {key}: no such dead letter (see `switchyard dead-letters list`)");
            }
            Err(e) => {
                failed += 1;
                eprintln!("not replayed {key}: {e}");
            }
        }
    }
    println!("{} replayed, {failed} not", keys.len() - failed);
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_unix_seconds_or_rfc3339() {
        assert_eq!(parse_time("1763784000").unwrap(), 1_763_784_000);
        assert_eq!(parse_time("2025-11-22T04:00:00Z").unwrap(), 1_763_784_000);
        assert!(parse_time("yesterday").is_err());
    }
}
