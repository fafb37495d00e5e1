//! `switchyard local ...`: Switchyard on a laptop: the AWS emulator, the template's resources,
//! a local runner for the functions, and a demo against localstripe and the fake HubSpot.

mod demo;
mod lambda_env;
mod processes;
pub mod runner;
mod shutdown;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use switchyard::aws::AwsClients;
use switchyard::local::resources;

use crate::connections::{clients, Target};
use crate::Outcome;

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Run Switchyard locally: start the AWS emulator (moto) and create the resources
    /// infra/template.yaml declares, serve the HTTP API on 127.0.0.1 as API Gateway would, poll
    /// the sync queue as Lambda would, and (unless --no-demo) seed a demo: localstripe, a fake
    /// HubSpot, a Stripe customers -> HubSpot contacts flow and signed webhooks between them.
    /// Ctrl-C stops everything it started.
    Up(Box<UpArgs>),
    /// Create the tables and queues infra/template.yaml declares in the emulator (idempotent),
    /// and print the environment the functions need (TABLE_NAME=..., SYNC_QUEUE_URL=...).
    Init {
        /// AWS endpoint of the emulator, e.g. http://127.0.0.1:5000.
        #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
        endpoint_url: Option<String>,
        /// Stage the resource names are made for (switchyard-<stage>, switchyard-<stage>-sync, ...).
        #[arg(long, default_value = "local")]
        stage: String,
        /// Also write the functions' environment to this file, for `cargo lambda watch --env-file`.
        #[arg(long, value_name = "PATH")]
        env_file: Option<PathBuf>,
        /// Also register the connections the sample events in events/ are signed for (tenant
        /// `samples`, public test secrets), read from this manifest.
        #[arg(long, value_name = "MANIFEST", num_args = 0..=1, default_missing_value = lambda_env::DEFAULT_SAMPLES)]
        samples: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Port of the HTTP API (webhooks: POST /hooks/{connection_id}).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Port of the AWS emulator.
    #[arg(long, default_value_t = 5000)]
    aws_port: u16,
    /// Port of localstripe (demo).
    #[arg(long, default_value_t = 8420)]
    stripe_port: u16,
    /// Port of the fake HubSpot (demo).
    #[arg(long, default_value_t = 8421)]
    hubspot_port: u16,
    /// Stage the resource names are made for.
    #[arg(long, default_value = "local")]
    stage: String,
    /// Only the emulator and the runner: no localstripe, no fake HubSpot, no demo data.
    #[arg(long)]
    no_demo: bool,
    /// Where to write the functions' environment for `cargo lambda watch --env-file`.
    #[arg(long, value_name = "PATH", default_value = lambda_env::DEFAULT_ENV_FILE)]
    env_file: PathBuf,
    /// Manifest of the connections the sample events in events/ are signed for; they are
    /// registered (tenant `samples`) so `cargo lambda invoke --data-file events/...` works. Skipped
    /// with a note when the file is not there (run from the repository root).
    #[arg(long, value_name = "MANIFEST", default_value = lambda_env::DEFAULT_SAMPLES)]
    samples: PathBuf,
    /// Do not register the sample connections.
    #[arg(long)]
    no_samples: bool,
}

pub fn run(cmd: LocalCommand) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cmd {
            LocalCommand::Up(args) => up(*args).await,
            LocalCommand::Init {
                endpoint_url,
                stage,
                env_file,
                samples,
            } => {
                let target = Target {
                    table: String::new(),
                    endpoint_url,
                };
                init(target, &stage, env_file.as_deref(), samples.as_deref()).await
            }
        }
    })
}

async fn init(target: Target, stage: &str, env_file: Option<&Path>, samples: Option<&Path>) -> Outcome {
    let Some(endpoint) = target.endpoint_url.clone() else {
        anyhow::bail!("`local init` is for the emulator: pass --endpoint-url or set AWS_ENDPOINT_URL");
    };
    // Read before anything is created, so a bad file changes nothing.
    let samples = samples.map(lambda_env::load_samples).transpose()?;
    let clients: AwsClients = clients(&target).await;
    let resources = resources::parse(resources::TEMPLATE, stage)?;
    let created = resources::create(&clients, &resources).await?;
    for (logical, name) in &created.tables {
        eprintln!("table {logical}: {name}");
    }
    for (logical, url) in &created.queue_urls {
        eprintln!("queue {logical}: {url}");
    }
    let table = created.table("Table").context("the template declares no Table")?;
    let queue_url = created
        .queue_url("SyncQueue")
        .context("the template declares no SyncQueue")?;
    if let Some(path) = env_file {
        let env = lambda_env::LambdaEnv {
            endpoint: &endpoint,
            table,
            sync_queue_url: queue_url,
        };
        eprintln!("environment for cargo lambda: {}", env.write(path)?.display());
    }
    if let Some(samples) = samples {
        let ids = register_samples(&clients, table, samples).await?;
        eprintln!("sample connections: {}", ids.join(", "));
    }
    println!("TABLE_NAME={table}");
    println!("SYNC_QUEUE_URL={queue_url}");
    Ok(true)
}

async fn register_samples(
    clients: &AwsClients,
    table: &str,
    samples: lambda_env::Samples,
) -> anyhow::Result<Vec<String>> {
    let connections = switchyard::store::connections::ConnectionStore::new(clients.dynamodb.clone(), table);
    let secrets = switchyard::secrets::SecretStore::new(clients.secrets.clone(), std::time::Duration::ZERO);
    lambda_env::register_samples(&connections, &secrets, samples).await
}

/// How long a stop may take before the signal thread kills the tools and exits.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

async fn up(args: UpArgs) -> Outcome {
    // Ctrl-C (and a TERM from a supervisor) are taken from here on, on a thread of their own, so
    // one that arrives while starting up, or just after the banner, stops everything rather than
    // being lost, and a stop that stalls still ends (see `shutdown`). Stopping drops `run_up`,
    // and with it the tools it started (each `processes::Tool` stops its process group).
    let mut stop = shutdown::listen(STOP_GRACE)?;
    tokio::select! {
        outcome = run_up(args) => outcome,
        signal = stop.requested() => {
            eprintln!("\n==> stopping ({signal})");
            Ok(true)
        }
    }
}

async fn run_up(args: UpArgs) -> Outcome {
    use std::sync::Arc;
    use switchyard::clock::SystemClock;
    use switchyard::config::{ReceiverConfig, SyncConfig};
    use switchyard::receiver::ReceiverDeps;
    use switchyard::sync::SyncDeps;

    processes::ensure_free(args.port, "the HTTP API")?;
    let venv = processes::venv()?;
    // Read before anything starts, so a bad file stops nothing half-way.
    let samples = if args.no_samples || !args.samples.exists() {
        None
    } else {
        Some(lambda_env::load_samples(&args.samples)?)
    };
    let logs = std::env::temp_dir().join(format!("switchyard-local-{}", args.stage));
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;

    eprintln!("==> starting the AWS emulator (moto) on 127.0.0.1:{}", args.aws_port);
    let _moto = processes::start_moto(&venv, args.aws_port, &logs).await?;
    let endpoint = format!("http://127.0.0.1:{}", args.aws_port);
    let target = Target {
        table: String::new(),
        endpoint_url: Some(endpoint.clone()),
    };
    let aws = clients(&target).await;
    let spec = resources::parse(resources::TEMPLATE, &args.stage)?;
    let timeout = |function: &str| {
        spec.function_timeout(function)
            .with_context(|| format!("infra/template.yaml declares no {function} function with a Timeout"))
    };
    let created = resources::create(&aws, &spec).await?;
    let table = created
        .table("Table")
        .context("the template declares no Table")?
        .to_string();
    let queue_url = created
        .queue_url("SyncQueue")
        .context("the template declares no SyncQueue")?
        .to_string();
    eprintln!(
        "==> created from infra/template.yaml: table {table}, queues {}",
        created.queue_urls.keys().cloned().collect::<Vec<_>>().join(", ")
    );

    let env_file = lambda_env::LambdaEnv {
        endpoint: &endpoint,
        table: &table,
        sync_queue_url: &queue_url,
    }
    .write(&args.env_file)?;
    let samples = if args.no_samples {
        None
    } else if let Some(samples) = samples {
        let ids = register_samples(&aws, &table, samples).await?;
        eprintln!(
            "==> registered {} sample connections from {} (tenant samples)",
            ids.len(),
            args.samples.display()
        );
        Some(ids)
    } else {
        eprintln!(
            "==> no {} here: sample connections not registered (run from the repository root)",
            args.samples.display()
        );
        None
    };

    let lookup = |k: &str| match k {
        "TABLE_NAME" => Some(table.clone()),
        "SYNC_QUEUE_URL" => Some(queue_url.clone()),
        "ALLOW_PRIVATE_NETWORK" => Some("true".to_string()),
        _ => std::env::var(k).ok(),
    };
    let receiver = Arc::new(ReceiverDeps::new(
        ReceiverConfig::from_lookup(lookup)?,
        &aws,
        Arc::new(SystemClock),
    ));
    let sync_deps = Arc::new(SyncDeps::new(
        SyncConfig::from_lookup(lookup)?,
        &aws,
        Arc::new(switchyard::connector::Registry::embedded()?),
        Arc::new(SystemClock),
    )?);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let receiver_url = format!("http://127.0.0.1:{}", args.port);

    let mut _localstripe = None;
    let mut _hubspot = None;
    if !args.no_demo {
        eprintln!(
            "==> starting localstripe on 127.0.0.1:{} and the fake HubSpot on 127.0.0.1:{}",
            args.stripe_port, args.hubspot_port
        );
        _localstripe = Some(processes::start_localstripe(&venv, args.stripe_port, &logs).await?);
        processes::ensure_free(args.hubspot_port, "the fake HubSpot")?;
        let hubspot = switchyard_fakes::hubspot::try_start(switchyard_fakes::hubspot::HubspotConfig {
            port: args.hubspot_port,
            schema: switchyard_fakes::hubspot::PropertySchema::default()
                .with_property(switchyard_fakes::hubspot::ObjectType::Contacts, "stripe_customer_id"),
            ..Default::default()
        })
        .context("cannot start the fake HubSpot")?;
        let stripe_url = format!("http://127.0.0.1:{}", args.stripe_port);
        demo::seed(
            &sync_deps,
            &stripe_url,
            &hubspot.base_url,
            &receiver_url,
            switchyard_fakes::hubspot::TEST_TOKEN,
        )
        .await?;
        _hubspot = Some(hubspot);
    }

    let api = Arc::new(switchyard::api::ApiDeps::new(
        switchyard::api::ApiConfig::from_lookup(lookup)?,
        &aws,
        Arc::new(switchyard::connector::Registry::embedded()?),
        Arc::new(SystemClock),
    ));
    // The demo tenant's admin key for the management API, made afresh on every start (only
    // its hash is stored, so an earlier one cannot be shown again).
    let demo_key = if args.no_demo {
        None
    } else {
        let (new, _) = switchyard::admin::create_api_key(
            &api.keys,
            demo::TENANT,
            "local demo",
            switchyard::store::api_keys::Role::Admin,
            switchyard::store::api_keys::Tier::Enterprise,
            "local up",
            switchyard::clock::Clock::now_unix(&SystemClock),
        )
        .await
        .context("cannot create the demo tenant's API key")?;
        Some(secrecy::ExposeSecret::expose_secret(&new.key).to_string())
    };
    let http = tokio::spawn(runner::serve_http(listener, receiver, api));
    let settings = || runner::PollSettings {
        batch_size: 10,
        retry_visibility_secs: 10,
    };
    let poller = tokio::spawn(runner::poll_queue(
        "connector-sync",
        aws.sqs.clone(),
        queue_url.clone(),
        settings(),
        runner::sync_handler(sync_deps.clone(), timeout("connector-sync")?),
    ));
    let retry_deps = Arc::new(switchyard::retry::RetryDeps::new(
        switchyard::retry::RetryConfig::from_lookup(lookup)?,
        &aws,
        Arc::new(SystemClock),
    ));
    let dlq_url = created
        .queue_url("SyncDeadLetterQueue")
        .context("the template declares no SyncDeadLetterQueue")?
        .to_string();
    let dispatcher = Arc::new(switchyard::dispatch::Dispatcher::new(aws.dynamodb.clone(), &table));
    let health = Arc::new(
        switchyard::health::HealthDeps::new(
            switchyard::health::HealthConfig::from_lookup(lookup)?,
            &aws,
            Arc::new(switchyard::connector::Registry::embedded()?),
            Arc::new(SystemClock),
        )
        .await?,
    );
    // Polled by this task rather than spawned: the health run's future is not provably Send.
    let schedules = runner::fire_schedules(sync_deps.clone(), dispatcher, health, timeout("health-checker")?);
    let dlq_poller = tokio::spawn(runner::poll_queue(
        "retry-handler",
        aws.sqs.clone(),
        dlq_url,
        settings(),
        runner::retry_handler(retry_deps),
    ));

    println!();
    println!("Switchyard is running locally. Ctrl-C stops everything.");
    println!("  webhooks       {receiver_url}/hooks/{{connection_id}}");
    println!("  management API {receiver_url}/v1/  (README: \"Management API\")");
    println!("  console        {receiver_url}/console  (log in with an API key)");
    if let Some(key) = &demo_key {
        println!("  admin API key  {key}  (tenant {}; shown once)", demo::TENANT);
    }
    println!("  AWS emulator   {endpoint}  (table {table})");
    println!("  logs of tools  {}", logs.display());
    println!("  in another shell:");
    println!(
        "    export AWS_ENDPOINT_URL={endpoint} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test TABLE_NAME={table} SYNC_QUEUE_URL={queue_url}"
    );
    println!("  one function at a time, rebuilt on change (cargo-lambda is in .venv/bin):");
    println!(
        "    PATH=$PWD/.venv/bin:$PATH cargo lambda watch --env-file {}",
        env_file.display()
    );
    if samples.is_some() {
        println!("    PATH=$PWD/.venv/bin:$PATH cargo lambda invoke webhook-receiver --data-file events/webhook-receiver/stripe.json");
        println!("    (events/README.md has a sample for every function)");
    }
    if !args.no_demo {
        println!();
        println!("Demo: Stripe customers -> HubSpot contacts");
        println!(
            "  1. create a customer in localstripe:\n       curl -s -u {}: http://127.0.0.1:{}/v1/customers -d email=jenny@example.com -d name='Jenny Rosen'",
            demo::STRIPE_API_KEY, args.stripe_port
        );
        println!(
            "  2. watch it arrive in HubSpot (localstripe sends the webhook about a second later):\n       curl -s -H 'Authorization: Bearer {}' http://127.0.0.1:{}/crm/v3/objects/contacts",
            switchyard_fakes::hubspot::TEST_TOKEN, args.hubspot_port
        );
        println!(
            "  3. look at the status screen: switchyard status --tenant {} (one flow: switchyard sync status {})",
            demo::TENANT,
            demo::FLOW
        );
        println!(
            "     (a full sync by hand: switchyard flows run {} --allow-private-network)",
            demo::FLOW
        );
    }
    println!();

    tokio::select! {
        r = http => {
            r.context("the HTTP server task failed")??;
        }
        _ = poller => {}
        _ = dlq_poller => {}
        _ = schedules => {}
    }
    Ok(true)
}
