//! `switchyard flows ...` and `switchyard sync status`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use switchyard::admin::{build_flow_for_tenant, FlowDraft, FlowRejection};
use switchyard::clock::{Clock, SystemClock};
use switchyard::config::SyncConfig;
use switchyard::connector::Registry;
use switchyard::queue::SyncJobRef;
use switchyard::store::flows::SyncMode;
use switchyard::store::jobs::Job;
use switchyard::sync::{self, JobOutcome, SyncDeps};

use crate::connections::{clients, Target};
use crate::{input_file, Outcome};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Incremental,
    Full,
}

impl From<Mode> for SyncMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Incremental => SyncMode::Incremental,
            Mode::Full => SyncMode::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LinkPolicy {
    #[value(name = "a-wins")]
    A,
    #[value(name = "b-wins")]
    B,
    #[value(name = "newest-wins")]
    Newest,
    /// Park both versions in the review queue for a person.
    #[value(name = "manual")]
    Manual,
    /// Each side owns the fields its direction maps; both directions always write.
    #[value(name = "field-ownership")]
    FieldOwnership,
}

/// Duplicate matching's default thresholds when `flows link` is given only one of them.
const DEFAULT_LINK_THRESHOLD: f64 = 0.9;
const DEFAULT_CREATE_THRESHOLD: f64 = 0.6;

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Create a flow: a source connection's stream, mapped by a jq program, written to a
    /// destination connection's write operation.
    Create(Box<CreateArgs>),
    /// List a tenant's flows.
    List {
        #[command(flatten)]
        target: crate::api_mode::EitherTarget,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a sync job for a flow now, here, printing progress per page (or --enqueue it for
    /// connector-sync). Through the management API the job is always enqueued.
    Run(Box<RunArgs>),
    /// Pause a flow: it is neither dispatched on its schedule nor run by events until resumed.
    Pause {
        #[command(flatten)]
        target: crate::api_mode::EitherTarget,
        /// Flow id.
        id: String,
    },
    /// Resume a paused flow (a scheduled one is due at once).
    Resume {
        #[command(flatten)]
        target: crate::api_mode::EitherTarget,
        /// Flow id.
        id: String,
    },
    /// The conflicts a two-way link parked for review (`--on-conflict manual`), with both
    /// versions and the base.
    Reviews {
        #[command(flatten)]
        target: Target,
        /// Either flow of the link.
        flow: String,
    },
    /// Resolve a parked conflict: the winning flow's source version is written over the other
    /// side by that flow's next run (or event). With --take, merge instead: the winner's
    /// version with the named fields from the other side's, written to both sides now.
    Resolve {
        #[command(flatten)]
        target: Target,
        /// The flow whose source version wins (every field --take does not name).
        winner: String,
        /// A field to take from the other side's version, as a JSON Pointer into that version
        /// as `flows reviews` prints it (`/properties/firstname`); it lands where the other
        /// flow's mapping carries it on the winner's side. Repeat for more.
        #[arg(long, value_name = "POINTER")]
        take: Vec<String>,
        /// Let connectors reach loopback and private addresses (local fakes only; --take writes).
        #[arg(long, env = "ALLOW_PRIVATE_NETWORK")]
        allow_private_network: bool,
        /// The review's record id (as `flows reviews` prints it).
        record: String,
    },
    /// Answer a possible duplicate parked by duplicate matching: `--same` links the two
    /// records both ways (neither side creates a copy); `--different` lets each side create
    /// its record on the other at its next run.
    ResolveDuplicate {
        #[command(flatten)]
        target: Target,
        /// Either flow of the link.
        flow: String,
        /// The review's record id (as `flows reviews` prints it).
        record: String,
        /// The two records are about the same person or thing.
        #[arg(long, conflicts_with = "different", required_unless_present = "different")]
        same: bool,
        /// They are not.
        #[arg(long)]
        different: bool,
    },
    /// Propose a jq mapping from a source stream's records to a destination write's records:
    /// each destination field with its source, a confidence and the reasons, the required
    /// fields nothing matched, and the mapping (ready for `flows create --mapping-file`).
    Suggest(Box<SuggestArgs>),
    /// Pair two flows that run opposite ways between the same two connections as a two-way
    /// link: each then predicts the echo of its writes for the other, so a record written to
    /// one side is not written back.
    Link {
        #[command(flatten)]
        target: Target,
        /// The flow from A to B.
        a_to_b: String,
        /// The flow from B to A.
        b_to_a: String,
        /// A record both sides changed since they were last in step: `a-wins`, `b-wins`,
        /// `newest-wins` (each side's modified time), `manual` (the review queue) or
        /// `field-ownership` (each side owns the fields its direction maps).
        #[arg(long, value_enum, default_value = "newest-wins")]
        on_conflict: LinkPolicy,
        /// Duplicate matching on create: an existing record on the other side scoring at least
        /// this (0 to 1; email 1.0, phone 0.9, name and company up to 0.8) is linked instead of
        /// creating one. Giving either threshold turns matching on (default 0.9).
        #[arg(long, value_name = "SCORE")]
        link_threshold: Option<f64>,
        /// Duplicate matching on create: a best candidate scoring below this is no reason not
        /// to create; between the two thresholds the pair goes to the review queue (default 0.6).
        #[arg(long, value_name = "SCORE")]
        create_threshold: Option<f64>,
        /// A linked record deleted on one side: `ignore` (record it, leave the other side's
        /// record), `propagate` (delete the counterpart through the connector's delete write)
        /// or `archive` (write the archive mappings). The pair is not synced again either way.
        #[arg(long, value_enum, default_value = "ignore")]
        on_delete: DeletePolicy,
        /// With `--on-delete archive`: the jq program turning a record deleted on A into the
        /// update written to its counterpart on B (`{status: "unsubscribed"}`).
        #[arg(long, value_name = "FILE", requires = "reverse_archive_mapping_file")]
        archive_mapping_file: Option<PathBuf>,
        /// With `--on-delete archive`: the same for a record deleted on B, written to A.
        #[arg(long, value_name = "FILE", requires = "archive_mapping_file")]
        reverse_archive_mapping_file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeletePolicy {
    Ignore,
    Propagate,
    Archive,
}

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// DynamoDB table, needed only when a side names a connection.
    #[arg(long, env = "TABLE_NAME", value_name = "TABLE")]
    table: Option<String>,
    /// AWS endpoint (the local emulator); default: AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
    /// The source: `CONNECTOR/STREAM` (`stripe/customers`) or `CONNECTION/STREAM` (the
    /// connection's connector, read from the table).
    #[arg(long)]
    source: String,
    /// The destination: `CONNECTOR/WRITE` (`hubspot/contacts.upsert_by_email`) or
    /// `CONNECTION/WRITE`.
    #[arg(long)]
    destination: String,
    /// Source records (JSON Lines, or one JSON array): their fields and values add to the
    /// schema the definition names, or stand in for it.
    #[arg(long, value_name = "FILE")]
    source_samples: Option<PathBuf>,
    /// Destination records, likewise.
    #[arg(long, value_name = "FILE")]
    destination_samples: Option<PathBuf>,
    /// The folder of the providers' API descriptions the definitions' schemas are read from.
    #[arg(long, env = "SWITCHYARD_SPECS_DIR", value_name = "DIR")]
    specs: Option<PathBuf>,
    /// Print the suggestion as JSON.
    #[arg(long)]
    json: bool,
    /// Write the mapping to this file too.
    #[arg(long, value_name = "FILE")]
    write_mapping: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    target: crate::api_mode::EitherTarget,
    /// The tenant (direct mode; through the API the flow is the key's tenant's).
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Flow id; default a new `flow_<ulid>`.
    #[arg(long)]
    id: Option<String>,
    /// A name for people.
    #[arg(long)]
    name: Option<String>,
    /// Source connection id.
    #[arg(long)]
    source: String,
    /// Source stream (see `switchyard connectors show <connector>`), e.g. customers.
    #[arg(long)]
    stream: String,
    /// Destination connection id.
    #[arg(long)]
    destination: String,
    /// Destination write operation, e.g. contacts.upsert_by_email.
    #[arg(long)]
    operation: String,
    /// The jq mapping from a source record to a destination record.
    #[arg(long, conflicts_with = "mapping_file")]
    mapping: Option<String>,
    /// File holding the jq mapping.
    #[arg(long, value_name = "FILE")]
    mapping_file: Option<PathBuf>,
    /// Source records to try the mapping on before the flow is saved (JSON Lines, or one JSON
    /// array): every one must map. Without it the mapping is tried on made-up records, and
    /// refused only if it breaks a bound (time, memory, nesting, output size).
    #[arg(long, value_name = "FILE")]
    sample_records: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "incremental")]
    mode: Mode,
    /// Run every this many seconds (scheduled dispatch).
    #[arg(long, value_name = "SECS")]
    every: Option<u64>,
    /// This flow's retry schedule for failed sync jobs: seconds after each failed attempt,
    /// comma-separated (e.g. 60,600,3600); default the deployment's (5 s .. 10 h).
    #[arg(long, value_name = "SECS,SECS,...")]
    retry_schedule: Option<String>,
    /// Event types that run the flow in real time (repeatable); default: those the source
    /// connector routes to the stream.
    #[arg(long = "event-type", value_name = "TYPE")]
    event_types: Vec<String>,
    /// An id an earlier flow wrote, read by the mapping as `$links.<NAME>` (repeatable): the
    /// destination id flow FLOW's record link holds for the source id at POINTER in this flow's
    /// record, e.g. `--lookup customer=flow_customers:/studentID`.
    #[arg(long = "lookup", value_name = "NAME=FLOW:POINTER", value_parser = parse_lookup)]
    lookups: Vec<switchyard::store::flows::LinkLookup>,
}

/// `NAME=FLOW:POINTER` (`customer=flow_customers:/studentID`); the shape of each part is
/// checked with the flow, as `POST /v1/flows` checks it.
fn parse_lookup(text: &str) -> Result<switchyard::store::flows::LinkLookup, String> {
    let (name, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: a lookup is NAME=FLOW:POINTER (customer=flow_customers:/studentID)"))?;
    let (flow, key) = rest
        .split_once(':')
        .ok_or_else(|| format!("`{text}`: a lookup is NAME=FLOW:POINTER (customer=flow_customers:/studentID)"))?;
    Ok(switchyard::store::flows::LinkLookup {
        name: name.to_owned(),
        flow: flow.to_owned(),
        key: key.to_owned(),
    })
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    target: crate::api_mode::EitherTarget,
    /// Flow id.
    id: String,
    /// Full refresh instead of the flow's mode.
    #[arg(long)]
    full: bool,
    /// Send the job to connector-sync through the sync queue instead of running it here.
    #[arg(long)]
    enqueue: bool,
    /// The sync queue (needed with --enqueue).
    #[arg(long, env = "SYNC_QUEUE_URL", value_name = "URL")]
    queue_url: Option<String>,
    /// Let connectors reach loopback and private addresses (local fakes only).
    #[arg(long, env = "ALLOW_PRIVATE_NETWORK")]
    allow_private_network: bool,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// A flow's cursor and its latest jobs: status, counts, timings and last error.
    Status {
        #[command(flatten)]
        target: Target,
        /// Flow id.
        flow: String,
        /// How many recent jobs to show.
        #[arg(long, default_value_t = 5)]
        jobs: i32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(cmd: FlowsCommand) -> Outcome {
    runtime()?.block_on(async move {
        match cmd {
            FlowsCommand::Create(args) => create(*args).await,
            FlowsCommand::List { target, tenant, json } => list(target, &tenant, json).await,
            FlowsCommand::Run(args) => run_flow(*args).await,
            FlowsCommand::Pause { target, id } => set_enabled(target, &id, false).await,
            FlowsCommand::Resume { target, id } => set_enabled(target, &id, true).await,
            FlowsCommand::Suggest(args) => suggest(*args).await,
            FlowsCommand::Reviews { target, flow } => {
                let aws = clients(&target).await;
                let flows = switchyard::store::flows::FlowStore::new(aws.dynamodb.clone(), &target.table);
                let found = flows
                    .get(&flow)
                    .await?
                    .with_context(|| format!("flow {flow} does not exist"))?;
                let other = found
                    .reverse_flow
                    .with_context(|| format!("flow {flow} is not half of a two-way link"))?;
                let (first, second) = switchyard::store::reviews::link_key(&flow, &other);
                let items = switchyard::store::reviews::ReviewStore::new(aws.dynamodb, &target.table)
                    .list(&first, &second)
                    .await?;
                println!("{}", serde_json::to_string_pretty(&items)?);
                Ok(true)
            }
            FlowsCommand::ResolveDuplicate {
                target,
                flow,
                record,
                same,
                different: _,
            } => {
                let aws = clients(&target).await;
                let table = &target.table;
                let item = sync::resolve_duplicate(
                    &switchyard::store::flows::FlowStore::new(aws.dynamodb.clone(), table),
                    &switchyard::store::links::LinkStore::new(aws.dynamodb.clone(), table),
                    &switchyard::store::reviews::ReviewStore::new(aws.dynamodb, table),
                    &flow,
                    &record,
                    same,
                    SystemClock.now_unix(),
                )
                .await?;
                if same {
                    println!(
                        "linked {} and {}: neither is copied to the other side",
                        item.record, item.counterpart
                    );
                } else {
                    println!(
                        "{} and {} are different records: each is created on the other side at its flow's next run",
                        item.record, item.counterpart
                    );
                }
                Ok(true)
            }
            FlowsCommand::Resolve {
                target,
                winner,
                record,
                take,
                allow_private_network,
            } => {
                let aws = clients(&target).await;
                let table = &target.table;
                if take.is_empty() {
                    let item = sync::resolve_review(
                        &switchyard::store::flows::FlowStore::new(aws.dynamodb.clone(), table),
                        &switchyard::store::links::LinkStore::new(aws.dynamodb.clone(), table),
                        &switchyard::store::reviews::ReviewStore::new(aws.dynamodb, table),
                        &winner,
                        &record,
                        SystemClock.now_unix(),
                    )
                    .await?;
                    println!(
                        "resolved {} / {}: {winner}'s source version is written over at its next run",
                        item.record, item.counterpart
                    );
                    return Ok(true);
                }
                let deps = SyncDeps::new(
                    local_sync_config(table, allow_private_network),
                    &aws,
                    Arc::new(Registry::embedded()?),
                    Arc::new(SystemClock),
                )?;
                let (item, merged) = sync::resolve_merge(
                    &sync::MergeDeps {
                        flows: &deps.flows,
                        links: &deps.links,
                        reviews: &deps.reviews,
                        registry: &deps.registry,
                        connections: &deps.connections,
                        secrets: &deps.secrets,
                        clients: &deps.clients,
                    },
                    &winner,
                    &record,
                    &take,
                    SystemClock.now_unix(),
                )
                .await?;
                println!(
                    "merged {} / {} ({} from the other side) and wrote it to both sides:\n{}",
                    item.record,
                    item.counterpart,
                    take.join(", "),
                    serde_json::to_string_pretty(&merged)?
                );
                Ok(true)
            }
            FlowsCommand::Link {
                target,
                a_to_b,
                b_to_a,
                on_conflict,
                link_threshold,
                create_threshold,
                on_delete,
                archive_mapping_file,
                reverse_archive_mapping_file,
            } => {
                use switchyard::store::flows::{ConflictRule, DeleteRule};
                let on_delete = match on_delete {
                    DeletePolicy::Ignore => DeleteRule::Ignore,
                    DeletePolicy::Propagate => DeleteRule::Propagate,
                    DeletePolicy::Archive => DeleteRule::Archive,
                };
                let archive = match (archive_mapping_file, reverse_archive_mapping_file) {
                    (Some(a), Some(b)) => Some([
                        std::fs::read_to_string(&a).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", a.display()))?,
                        std::fs::read_to_string(&b).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", b.display()))?,
                    ]),
                    _ => None,
                };
                let aws = clients(&target).await;
                let flows = switchyard::store::flows::FlowStore::new(aws.dynamodb.clone(), &target.table);
                let connections =
                    switchyard::store::connections::ConnectionStore::new(aws.dynamodb.clone(), &target.table);
                let tenant_connectors =
                    switchyard::store::tenant_connectors::TenantConnectorStore::new(aws.dynamodb, &target.table);
                let registry = switchyard::connector::Registry::embedded()?;
                let matching = match (link_threshold, create_threshold) {
                    (None, None) => None,
                    (link, create) => Some(switchyard::store::flows::MatchThresholds {
                        link: link.unwrap_or(DEFAULT_LINK_THRESHOLD),
                        create: create.unwrap_or(DEFAULT_CREATE_THRESHOLD),
                    }),
                };
                let rule = match on_conflict {
                    LinkPolicy::A => ConflictRule::SourceWins,
                    LinkPolicy::B => ConflictRule::DestinationWins,
                    LinkPolicy::Newest => ConflictRule::NewestWins,
                    LinkPolicy::Manual => ConflictRule::Manual,
                    LinkPolicy::FieldOwnership => ConflictRule::FieldOwnership,
                };
                let ctx = sync::LinkContext {
                    flows: &flows,
                    connections: &connections,
                    registry: &registry,
                    tenant_connectors: Some(&tenant_connectors),
                };
                sync::link_flows(
                    &ctx,
                    &a_to_b,
                    &b_to_a,
                    sync::LinkPolicy {
                        rule,
                        matching,
                        on_delete,
                        archive,
                    },
                )
                .await?;
                println!(
                    "linked {a_to_b} and {b_to_a} both ways; on a conflict: {}; on a delete: {}",
                    rule.name(),
                    on_delete.name()
                );
                if let Some(m) = matching {
                    println!(
                        "before creating a record: link an existing one scoring {} or more, review from {}",
                        m.link, m.create
                    );
                }
                Ok(true)
            }
        }
    })
}

/// The sync settings of work the CLI does itself (a run here, a merge's writes).
fn local_sync_config(table: &str, allow_private_network: bool) -> SyncConfig {
    SyncConfig {
        table_name: table.to_string(),
        sync_queue_url: String::new(),
        allow_private_network,
        time_reserve: std::time::Duration::from_secs(30),
        request_timeout: std::time::Duration::from_secs(30),
        connection_cache_ttl: std::time::Duration::from_secs(3600),
        pending_event_sweep: std::time::Duration::from_secs(900),
        shared_rate_budget: true,
        alerts: Default::default(),
        deliveries: Default::default(),
    }
}

pub fn run_sync(cmd: SyncCommand) -> Outcome {
    runtime()?.block_on(async move {
        match cmd {
            SyncCommand::Status {
                target,
                flow,
                jobs,
                json,
            } => status(target, &flow, jobs, json).await,
        }
    })
}

/// The connector a `--source`/`--destination` side names: `CONNECTOR/NAME`, or
/// `CONNECTION/NAME` looked up in the table.
async fn side_connector<'a>(
    registry: &'a Registry,
    args: &SuggestArgs,
    side: &str,
    what: &str,
) -> anyhow::Result<(&'a switchyard::connector::ConnectorDefinition, String)> {
    let Some((owner, name)) = side.split_once('/') else {
        bail!(
            "--{what} {side:?}: give CONNECTOR/{0} or CONNECTION/{0}",
            if what == "source" { "STREAM" } else { "WRITE" }
        );
    };
    if let Some(def) = registry.get(owner) {
        return Ok((def, name.to_string()));
    }
    let Some(table) = &args.table else {
        bail!("--{what}: `{owner}` is not a built-in connector; for a connection give --table (or TABLE_NAME)");
    };
    let target = Target {
        table: table.clone(),
        endpoint_url: args.endpoint_url.clone(),
    };
    let aws = clients(&target).await;
    let connection = switchyard::store::connections::ConnectionStore::new(aws.dynamodb, &target.table)
        .get(owner)
        .await?
        .with_context(|| format!("--{what}: `{owner}` is neither a connector nor a connection"))?;
    let def = registry.get(&connection.provider).with_context(|| {
        format!(
            "connection {owner} uses connector `{}`, which is not built in",
            connection.provider
        )
    })?;
    Ok((def, name.to_string()))
}

async fn suggest(args: SuggestArgs) -> Outcome {
    use switchyard::suggest;
    let registry = Registry::embedded()?;
    let source_samples = match &args.source_samples {
        Some(path) => read_sample_records(path)?,
        None => Vec::new(),
    };
    let destination_samples = match &args.destination_samples {
        Some(path) => read_sample_records(path)?,
        None => Vec::new(),
    };
    let specs = args.specs.as_deref();
    let (src_def, stream) = side_connector(&registry, &args, &args.source, "source").await?;
    let (dst_def, write) = side_connector(&registry, &args, &args.destination, "destination").await?;
    let source = suggest::stream_shape(src_def, &stream, specs, &source_samples)?;
    let destination = suggest::write_shape(dst_def, &write, specs, &destination_samples)?;
    let s = suggest::suggest(&source, &destination)?;
    if let Some(path) = &args.write_mapping {
        std::fs::write(path, format!("{}\n", s.mapping)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(true);
    }
    let rows: Vec<Vec<String>> = s
        .fields
        .iter()
        .map(|f| {
            let source = match &f.source {
                suggest::Source::Field { path, .. } => path.clone(),
                suggest::Source::NamePart { path, part } => format!(
                    "{path} ({})",
                    match part {
                        suggest::NamePart::First => "first word",
                        suggest::NamePart::Rest => "after the first word",
                    }
                ),
            };
            vec![
                f.destination.clone(),
                source,
                format!("{:.2}", f.confidence),
                f.reasons.join("; "),
            ]
        })
        .collect();
    let width = |i: usize, title: &str| rows.iter().map(|r| r[i].len()).max().unwrap_or(0).max(title.len());
    let (w0, w1) = (width(0, "DESTINATION"), width(1, "SOURCE"));
    println!("{:<w0$}  {:<w1$}  {:<10}  WHY", "DESTINATION", "SOURCE", "CONFIDENCE");
    for r in &rows {
        println!("{:<w0$}  {:<w1$}  {:<10}  {}", r[0], r[1], r[2], r[3]);
    }
    if !s.unmatched_required.is_empty() {
        println!("\nrequired, nothing matched: {}", s.unmatched_required.join(", "));
    }
    println!("\nmapping:\n{}", s.mapping);
    Ok(true)
}

/// Sample records for `--sample-records`: JSON Lines, or one JSON array.
fn read_sample_records(path: &std::path::Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text = input_file::read_to_string(path, "sample records file", input_file::BODY_LIMIT)?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text).with_context(|| format!("{}: not a JSON array of records", path.display()));
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("{} line {}: not a JSON record", path.display(), i + 1))
        })
        .collect()
}

async fn create(args: CreateArgs) -> Outcome {
    let mapping = match (&args.mapping, &args.mapping_file) {
        (Some(m), _) => m.clone(),
        (None, Some(f)) => input_file::read_to_string(f, "mapping file", input_file::SOURCE_LIMIT)?,
        (None, None) => bail!("give the jq mapping with --mapping or --mapping-file"),
    };
    let samples = match &args.sample_records {
        None => None,
        Some(path) => Some(read_sample_records(path)?),
    };
    let retry_schedule_secs = match &args.retry_schedule {
        None => None,
        Some(text) => Some(
            switchyard::retry::RetrySchedule::parse_secs(text)
                .map_err(|e| anyhow::anyhow!("--retry-schedule: {e}"))?
                .iter()
                .map(|d| d.as_secs())
                .collect(),
        ),
    };
    let mode = args.target.mode()?;
    let draft = FlowDraft {
        tenant: args.tenant.clone(),
        id: args.id.clone(),
        name: args.name.clone(),
        source: args.source.clone(),
        stream: args.stream.clone(),
        destination: args.destination.clone(),
        operation: args.operation.clone(),
        mapping,
        samples,
        mode: args.mode.into(),
        every: args.every,
        retry_schedule_secs,
        event_types: args.event_types.clone(),
        lookups: args.lookups.clone(),
    };
    let target = match mode {
        crate::api_mode::Mode::Api(api) => return create_through_api(&api, draft).await,
        crate::api_mode::Mode::Direct(target) => target,
    };
    let aws = clients(&target).await;
    let connections = switchyard::store::connections::ConnectionStore::new(aws.dynamodb.clone(), &target.table);
    let tenant_connectors =
        switchyard::store::tenant_connectors::TenantConnectorStore::new(aws.dynamodb.clone(), &target.table);
    let flows = switchyard::store::flows::FlowStore::new(aws.dynamodb, &target.table);
    // The same checks as the management API's `POST /v1/flows`, the tenant's uploaded
    // connectors included.
    let registry = Arc::new(Registry::embedded()?);
    let built = build_flow_for_tenant(
        &registry,
        &tenant_connectors,
        &connections,
        &flows,
        draft,
        SystemClock.now_unix(),
    )
    .await;
    let flow = match built {
        Ok(flow) => flow,
        Err(FlowRejection::Field { message, .. }) => bail!("{message}"),
        Err(FlowRejection::Store(e)) => return Err(e.into()),
    };
    flows.create(&flow).await?;
    println!("{}", serde_json::to_string_pretty(&flow)?);
    Ok(true)
}

/// `flows create` through `POST /v1/flows`: the key's tenant, the API's checks; a refusal is
/// printed with each invalid field.
async fn create_through_api(api: &crate::api_mode::ApiClient, draft: FlowDraft) -> Outcome {
    if draft.tenant != "default" {
        eprintln!(
            "--tenant {} is ignored: through the API the flow is the key's tenant's",
            draft.tenant
        );
    }
    let mut body = serde_json::json!({
        "source": draft.source,
        "stream": draft.stream,
        "destination": draft.destination,
        "operation": draft.operation,
        "mapping": draft.mapping,
        "mode": draft.mode,
        "event_types": draft.event_types,
        "lookups": draft.lookups,
    });
    let optional = [
        ("id", serde_json::to_value(&draft.id)?),
        ("name", serde_json::to_value(&draft.name)?),
        ("sample_records", serde_json::to_value(&draft.samples)?),
        ("schedule_interval_secs", serde_json::to_value(draft.every)?),
        ("retry_schedule_secs", serde_json::to_value(&draft.retry_schedule_secs)?),
    ];
    for (key, value) in optional {
        if !value.is_null() {
            body[key] = value;
        }
    }
    let (status, answer) = api.post("flows", "application/json", body.to_string()).await?;
    if status == 201 {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(true);
    }
    crate::api_mode::print_refusal(status, &answer);
    Ok(false)
}

async fn list(target: crate::api_mode::EitherTarget, tenant: &str, json: bool) -> Outcome {
    let flows: Vec<switchyard::store::flows::Flow> = match target.mode()? {
        crate::api_mode::Mode::Api(api) => {
            if tenant != "default" {
                eprintln!("--tenant {tenant} is ignored: through the API the key's tenant is listed");
            }
            api.all("flows")
                .await?
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<_, _>>()
                .context("the API answered a flow this CLI does not understand")?
        }
        crate::api_mode::Mode::Direct(target) => {
            let aws = clients(&target).await;
            switchyard::store::flows::FlowStore::new(aws.dynamodb, &target.table)
                .list(tenant)
                .await?
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&flows)?);
        return Ok(true);
    }
    if flows.is_empty() {
        println!("no flows for tenant {tenant}");
        return Ok(true);
    }
    println!(
        "{:<32} {:<11} {:<36} {:<36} CURSOR",
        "ID", "MODE", "SOURCE", "DESTINATION"
    );
    for f in flows {
        println!(
            "{:<32} {:<11} {:<36} {:<36} {}",
            f.id,
            format!("{:?}", f.mode).to_lowercase(),
            format!("{}/{}", f.source_connection, f.source_stream),
            format!("{}/{}", f.destination_connection, f.destination_operation),
            f.cursor.as_deref().unwrap_or("-")
        );
    }
    Ok(true)
}

/// `flows pause` (`false`) and `flows resume` (`true`).
async fn set_enabled(target: crate::api_mode::EitherTarget, id: &str, enabled: bool) -> Outcome {
    let verb = if enabled { "resume" } else { "pause" };
    match target.mode()? {
        crate::api_mode::Mode::Api(api) => {
            let path = format!("flows/{}/{verb}", crate::api_mode::segment(id));
            if api.act(&path, &serde_json::json!({})).await?.is_none() {
                eprintln!("flow {id} does not exist");
                return Ok(false);
            }
        }
        crate::api_mode::Mode::Direct(target) => {
            let aws = clients(&target).await;
            let flows = switchyard::store::flows::FlowStore::new(aws.dynamodb, &target.table);
            let Some(mut flow) = flows.get(id).await? else {
                eprintln!("flow {id} does not exist");
                return Ok(false);
            };
            flow.enabled = enabled;
            // As the API does: a resumed scheduled flow is due at once.
            if enabled && flow.schedule_interval_secs.is_some() && flow.next_run_at.is_none() {
                flow.next_run_at = Some(SystemClock.now_unix());
            }
            if !flows.update_settings(&flow).await? {
                eprintln!("flow {id} does not exist");
                return Ok(false);
            }
        }
    }
    println!("{} flow {id}", if enabled { "resumed" } else { "paused" });
    Ok(true)
}

async fn run_flow(args: RunArgs) -> Outcome {
    let target = match args.target.mode()? {
        crate::api_mode::Mode::Api(api) => {
            if args.allow_private_network {
                eprintln!("--allow-private-network is ignored: the job runs with the deployment's settings");
            }
            if !args.enqueue {
                eprintln!("through the management API the job is enqueued for connector-sync, not run here");
            }
            let body = if args.full {
                serde_json::json!({"mode": "full"})
            } else {
                serde_json::json!({})
            };
            let path = format!("flows/{}/run", crate::api_mode::segment(&args.id));
            let Some(job) = api.act(&path, &body).await? else {
                eprintln!("flow {} does not exist", args.id);
                return Ok(false);
            };
            println!(
                "enqueued job {} of flow {}",
                job["job_id"].as_str().unwrap_or("?"),
                args.id
            );
            return Ok(true);
        }
        crate::api_mode::Mode::Direct(target) => target,
    };
    if args.enqueue && args.queue_url.is_none() {
        bail!("--enqueue needs the sync queue: pass --queue-url or set SYNC_QUEUE_URL");
    }
    let aws = clients(&target).await;
    let config = SyncConfig {
        sync_queue_url: args.queue_url.clone().unwrap_or_default(),
        ..local_sync_config(&target.table, args.allow_private_network)
    };
    let deps = SyncDeps::new(config, &aws, Arc::new(Registry::embedded()?), Arc::new(SystemClock))?;
    let flow = deps
        .flows
        .get(&args.id)
        .await?
        .with_context(|| format!("flow {} does not exist", args.id))?;
    let mode = args.full.then_some(SyncMode::Full);
    let job = sync::start_job(&deps, &flow, "manual", mode, args.enqueue).await?;
    if args.enqueue {
        println!("enqueued job {} of flow {}", job.job_id, flow.id);
        return Ok(true);
    }
    eprintln!("job {} of flow {} ({:?})", job.job_id, flow.id, job.mode);
    let job_ref = SyncJobRef {
        flow_id: flow.id.clone(),
        job_id: job.job_id.clone(),
        attempt: 0,
    };
    let started = std::time::Instant::now();
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = |j: &Job| {
        let line = progress_line(j, started.elapsed());
        if bar {
            // One line, redrawn in place; the final line stays.
            eprint!("\r\x1b[2K{line}");
            if j.finished_at.is_some() {
                eprintln!();
            }
        } else {
            eprintln!("{line}");
        }
    };
    match sync::run_job(&deps, &job_ref, &sync::Unlimited, &progress).await {
        Ok(JobOutcome::Finished(job)) => {
            print_job(&job);
            Ok(job.counts.failed == 0)
        }
        Ok(other) => {
            eprintln!("job ended as {other:?}");
            Ok(false)
        }
        Err(e) => bail!("the job failed: {e}"),
    }
}

/// One progress line: pages, records read (of the total, when the source says how many),
/// records/s, the ETA when the total is known, and what became of the records.
fn progress_line(j: &Job, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = j.counts.read as f64 / secs;
    let read = match j.expected_records.filter(|t| *t > 0) {
        Some(total) => {
            let done = j.counts.read.min(total);
            let pct = 100.0 * done as f64 / total as f64;
            let filled = (pct / 5.0).round() as usize;
            let eta = if rate > 0.0 && j.finished_at.is_none() {
                format!(", ETA {}", human_duration((total - done) as f64 / rate))
            } else {
                String::new()
            };
            format!(
                "[{}{}] {pct:>5.1}% {} of {total} records, {rate:.0} records/s{eta}",
                "#".repeat(filled.min(20)),
                ".".repeat(20 - filled.min(20)),
                j.counts.read
            )
        }
        None => format!("{} records, {rate:.0} records/s", j.counts.read),
    };
    format!(
        "  page {:>4}: {read}; written {} unchanged {} failed {}",
        j.pages, j.counts.written, j.counts.unchanged, j.counts.failed
    )
}

/// `42 s`, `3 m 05 s`, `2 h 07 m`.
fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} m {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} m", s / 3600, (s % 3600) / 60),
    }
}

fn print_job(j: &Job) {
    let took = j.finished_at.unwrap_or(j.updated_at) - j.started_at;
    println!(
        "{} {:?} {} pages: read {} written {} unchanged {} failed {} ({} s)",
        j.job_id, j.status, j.pages, j.counts.read, j.counts.written, j.counts.unchanged, j.counts.failed, took
    );
    if let Some(e) = &j.last_error {
        println!("  last error: {e}");
    }
    for f in &j.recent_failures {
        println!("  failed {}: {}", f.source_id, f.reason);
    }
}

async fn status(target: Target, flow_id: &str, jobs: i32, json: bool) -> Outcome {
    let aws = clients(&target).await;
    let Some(flow) = switchyard::store::flows::FlowStore::new(aws.dynamodb.clone(), &target.table)
        .get(flow_id)
        .await?
    else {
        eprintln!("flow {flow_id} does not exist");
        return Ok(false);
    };
    let recent = switchyard::store::jobs::JobStore::new(aws.dynamodb, &target.table)
        .recent(flow_id, jobs.clamp(1, 100))
        .await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"flow": flow, "jobs": recent}))?
        );
        return Ok(true);
    }
    println!("flow {} ({})", flow.id, flow.name);
    println!(
        "  {}/{} -> {}/{}, {:?}, cursor {}",
        flow.source_connection,
        flow.source_stream,
        flow.destination_connection,
        flow.destination_operation,
        flow.mode,
        flow.cursor.as_deref().unwrap_or("(none yet)")
    );
    if recent.is_empty() {
        println!("  no jobs yet: `switchyard flows run {}`", flow.id);
    }
    for j in &recent {
        print_job(j);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn job(read: u64, expected: Option<u64>) -> Job {
        let mut j: Job = serde_json::from_value(serde_json::json!({
            "flow_id": "f", "job_id": "j", "status": "running", "mode": "full", "trigger": "manual",
            "started_at": 0, "updated_at": 0, "pages": 3
        }))
        .unwrap();
        j.counts.read = read;
        j.counts.written = read;
        j.expected_records = expected;
        j
    }

    #[test]
    fn progress_shows_rate_share_and_eta_when_the_source_gives_a_total() {
        let line = progress_line(&job(250_000, Some(1_000_000)), Duration::from_secs(100));
        assert!(
            line.contains("[#####...............]  25.0% 250000 of 1000000 records"),
            "{line}"
        );
        assert!(line.contains("2500 records/s"), "{line}");
        assert!(line.contains("ETA 5 m 00 s"), "{line}");
        let unknown = progress_line(&job(3_000, None), Duration::from_secs(2));
        assert!(
            unknown.contains("3000 records, 1500 records/s") && !unknown.contains("ETA"),
            "{unknown}"
        );
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human_duration(42.4), "42 s");
        assert_eq!(human_duration(185.0), "3 m 05 s");
        assert_eq!(human_duration(7_620.0), "2 h 07 m");
    }
}
