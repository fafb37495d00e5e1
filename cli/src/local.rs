//! `switchyard local ...`: helpers for running against the local emulator.

use anyhow::Context;
use clap::Subcommand;
use switchyard::aws::AwsClients;
use switchyard::local::resources;

use crate::connections::{clients, Target};
use crate::Outcome;

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Create the tables and queues infra/template.yaml declares in the emulator (idempotent),
    /// and print the environment the functions need (TABLE_NAME=..., SYNC_QUEUE_URL=...).
    Init {
        /// AWS endpoint of the emulator, e.g. http://127.0.0.1:5000.
        #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
        endpoint_url: Option<String>,
        /// Stage the resource names are made for (switchyard-<stage>, switchyard-<stage>-sync, ...).
        #[arg(long, default_value = "local")]
        stage: String,
    },
}

pub fn run(cmd: LocalCommand) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cmd {
            LocalCommand::Init { endpoint_url, stage } => {
                let target = Target {
                    table: String::new(),
                    endpoint_url,
                };
                init(target, &stage).await
            }
        }
    })
}

async fn init(target: Target, stage: &str) -> Outcome {
    if target.endpoint_url.is_none() {
        anyhow::bail!("`local init` is for the emulator: pass --endpoint-url or set AWS_ENDPOINT_URL");
    }
    let clients: AwsClients = clients(&target).await;
    let resources = resources::parse(resources::TEMPLATE, stage)?;
    let created = resources::create(&clients, &resources).await?;
    for (logical, name) in &created.tables {
        eprintln!("table {logical}: {name}");
    }
    for (logical, url) in &created.queue_urls {
        eprintln!("queue {logical}: {url}");
    }
    println!(
        "TABLE_NAME={}",
        created.table("Table").context("the template declares no Table")?
    );
    println!(
        "SYNC_QUEUE_URL={}",
        created
            .queue_url("SyncQueue")
            .context("the template declares no SyncQueue")?
    );
    Ok(true)
}
