//! `switchyard connectors read` and `check`: a stream through the engine, records as JSON
//! lines on stdout, progress on stderr. `read --mapping` runs each page through a flow's jq
//! mapping first, the way a sync job does, to preview what a flow would write.

use std::io::{BufWriter, ErrorKind as IoErrorKind, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use switchyard::connector::cursor::from_user_input;
use switchyard::connector::{ConnectorClient, ConnectorDefinition, ErrorKind, Mapping, StreamState};

use super::session::{self, ConnectionArgs};
use crate::{input_file, Outcome};

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Connector id (see `switchyard connectors list`) or a definition file (my-api.yaml).
    connector: String,
    /// The stream to read (see `switchyard connectors show <connector>`).
    #[arg(long)]
    stream: String,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Read incrementally from this cursor: RFC 3339 or the stream's cursor format. The
    /// stream's lookback window applies, as in a sync job.
    #[arg(long, value_name = "CURSOR")]
    since: Option<String>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Fetch one record by id instead of reading the stream (when the stream can).
    #[arg(long, visible_alias = "fetch", value_name = "ID", conflicts_with_all = ["since", "limit"])]
    id: Option<String>,
    /// Map every record with this jq program (as `flows create --mapping` takes it) and print
    /// what it produces; a record the program refuses is reported on stderr and makes the
    /// exit code 1.
    #[arg(long, value_name = "JQ", conflicts_with_all = ["id", "mapping_file"])]
    mapping: Option<String>,
    /// File holding the jq mapping.
    #[arg(long, value_name = "FILE", conflicts_with = "id")]
    mapping_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Connector id (see `switchyard connectors list`) or a definition file (my-api.yaml).
    connector: String,
    #[command(flatten)]
    connection: ConnectionArgs,
}

fn stream_names(def: &ConnectorDefinition) -> String {
    def.streams.keys().cloned().collect::<Vec<_>>().join(", ")
}

pub async fn read(args: ReadArgs) -> Outcome {
    let def = session::definition(&args.connector)?;
    let Some(spec) = def.streams.get(&args.stream) else {
        bail!(
            "connector {} has no stream {:?}; it has: {}",
            def.id,
            args.stream,
            stream_names(&def)
        );
    };
    let since = match (&args.since, &spec.cursor) {
        (None, _) => None,
        (Some(_), None) => bail!(
            "stream {} of {} has no cursor, so it cannot be read --since",
            args.stream,
            def.id
        ),
        (Some(text), Some(cursor)) => {
            Some(from_user_input(cursor.kind, text).map_err(|e| anyhow::anyhow!("--since {text:?}: {e}"))?)
        }
    };
    if args.id.is_some() && spec.fetch.is_none() {
        bail!(
            "stream {} of {} cannot fetch single records (its definition has no `fetch`)",
            args.stream,
            def.id
        );
    }
    let mapping = match (&args.mapping, &args.mapping_file) {
        (Some(jq), _) => Some(jq.clone()),
        (None, Some(f)) => Some(input_file::read_to_string(f, "mapping file", input_file::SOURCE_LIMIT)?),
        (None, None) => None,
    }
    .map(|jq| Mapping::compile(&jq).map_err(|e| anyhow::anyhow!("--mapping: {e}")))
    .transpose()?;
    let lookback = spec.cursor.as_ref().map_or(0, |c| c.lookback_secs);
    let client = session::client(def.clone(), &args.connection)?;
    if let Some(id) = &args.id {
        return fetch(&client, &args.stream, id).await;
    }
    match &since {
        Some(cursor) if lookback > 0 => eprintln!(
            "reading {}/{} since {cursor} (less its {lookback} s lookback)",
            def.id, args.stream
        ),
        Some(cursor) => eprintln!("reading {}/{} since {cursor}", def.id, args.stream),
        None => eprintln!("reading {}/{} (full refresh)", def.id, args.stream),
    }
    read_stream(&client, &args.stream, since, args.limit, mapping.as_ref()).await
}

async fn fetch(client: &ConnectorClient, stream: &str, id: &str) -> Outcome {
    let started = Instant::now();
    let result = client.fetch_record(stream, id).await;
    let counters = session::counters(&client.stats().snapshot(), started);
    match result {
        Ok(Some(record)) => {
            println!("{}", serde_json::to_string(&record)?);
            eprintln!("fetched {stream} {id}: {counters}");
            Ok(true)
        }
        Ok(None) => {
            eprintln!("no {stream} record {id}: {counters}");
            Ok(false)
        }
        Err(e) => {
            eprintln!("fetching {stream} {id} failed: {e} ({counters})");
            Ok(false)
        }
    }
}

/// What a page prints: its records as read, or what the mapping made of each.
enum Printed {
    Read(Vec<serde_json::Value>),
    Mapped(Vec<Result<serde_json::Value, switchyard::connector::MappingError>>),
}

/// Whether writing to stdout failed because the reader went away (`| head`): not an error.
fn closed(e: &std::io::Error) -> bool {
    e.kind() == IoErrorKind::BrokenPipe
}

async fn read_stream(
    client: &ConnectorClient,
    stream: &str,
    since: Option<String>,
    limit: Option<u64>,
    mapping: Option<&Mapping>,
) -> Outcome {
    let started = Instant::now();
    // A page of records (about 170 KB for the fake source's) goes out in a few writes.
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut state = Some(match since {
        Some(cursor) => StreamState::incremental(Some(cursor)),
        None => StreamState::full_refresh(),
    });
    let (mut pages, mut records, mut refused) = (0u64, 0u64, 0u64);
    let mut max_cursor = None;
    let mut stopped = None;
    while let Some(current) = state.take() {
        let mut page = match client.read_page(stream, &current).await {
            Ok(page) => page,
            Err(e) => {
                let _ = out.flush();
                eprintln!(
                    "page {}: failed after {records} records: {e} ({})",
                    pages + 1,
                    session::counters(&client.stats().snapshot(), started)
                );
                if e.kind == ErrorKind::UrlRejected {
                    eprintln!("  for a local fake pass --allow-private-network");
                }
                return Ok(false);
            }
        };
        pages += 1;
        let on_page = page.records.len();
        // One batch per page, as a sync job maps them. The page's cursor was worked out when it
        // was read, so the records move into the mapping instead of being copied for it.
        let printed = match mapping {
            Some(mapping) => Printed::Mapped(mapping.apply_each(Arc::new(std::mem::take(&mut page.records)))),
            None => Printed::Read(std::mem::take(&mut page.records)),
        };
        for index in 0..on_page {
            if limit.is_some_and(|n| records >= n) {
                stopped = Some("--limit");
                break;
            }
            let record = match &printed {
                Printed::Read(read) => &read[index],
                Printed::Mapped(mapped) => match &mapped[index] {
                    Ok(mapped) => mapped,
                    Err(e) => {
                        refused += 1;
                        let _ = out.flush();
                        eprintln!("page {pages}, record {}: mapping refused it: {e}", index + 1);
                        continue;
                    }
                },
            };
            let written = serde_json::to_writer(&mut out, record)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            match written {
                Ok(()) => records += 1,
                Err(e) if closed(&e) => return Ok(true),
                Err(e) => return Err(e).context("cannot write to stdout"),
            }
        }
        match out.flush() {
            Ok(()) => {}
            Err(e) if closed(&e) => return Ok(true),
            Err(e) => return Err(e).context("cannot write to stdout"),
        }
        max_cursor = page.max_cursor.take();
        eprintln!(
            "page {pages}: {on_page} records ({records} in all), {}",
            session::counters(&client.stats().snapshot(), started)
        );
        if stopped.is_none() && limit.is_some_and(|n| records >= n) && page.next.is_some() {
            stopped = Some("--limit");
        }
        if stopped.is_some() {
            break;
        }
        state = page.next;
    }
    eprintln!(
        "{}: {pages} pages, {records} records{}, {}{}",
        if stopped.is_some() {
            "stopped at --limit"
        } else {
            "done"
        },
        if refused > 0 {
            format!(" ({refused} refused by the mapping)")
        } else {
            String::new()
        },
        session::counters(&client.stats().snapshot(), started),
        max_cursor.map(|c| format!("; highest cursor {c}")).unwrap_or_default()
    );
    Ok(refused == 0)
}

pub async fn check(args: CheckArgs) -> Outcome {
    let def = session::definition(&args.connector)?;
    if !def.has_check() {
        bail!("connector {} has no check request", def.id);
    }
    let client = session::client(def.clone(), &args.connection)?;
    let started = Instant::now();
    match client.check().await {
        Ok(report) => {
            if def.sql.is_some() {
                println!(
                    "ok: connected, every table and column found, in {} ms",
                    report.latency.as_millis()
                );
            } else {
                println!(
                    "ok: HTTP {} in {} ms ({} auth)",
                    report.status,
                    report.latency.as_millis(),
                    report.auth
                );
            }
            Ok(true)
        }
        Err(e) => {
            println!("failed: {e}");
            if e.needs_reauth() {
                eprintln!("the credentials were refused: check the token in the credentials file");
            }
            eprintln!("{}", session::counters(&client.stats().snapshot(), started));
            Ok(false)
        }
    }
}
