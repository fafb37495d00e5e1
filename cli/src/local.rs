//! `switchyard local ...`: helpers for running against the local emulator.

use anyhow::Context;
use clap::Subcommand;
use switchyard::aws::AwsClients;

use crate::connections::{clients, Target};
use crate::Outcome;

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Create the table and the sync queue in the emulator (idempotent), and print the
    /// environment the functions need.
    Init {
        #[command(flatten)]
        target: Target,
        /// Name of the sync queue.
        #[arg(long, default_value = "switchyard-sync")]
        queue: String,
    },
}

pub fn run(cmd: LocalCommand) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cmd {
            LocalCommand::Init { target, queue } => init(target, &queue).await,
        }
    })
}

async fn init(target: Target, queue: &str) -> Outcome {
    if target.endpoint_url.is_none() {
        anyhow::bail!("`local init` is for the emulator: pass --endpoint-url or set AWS_ENDPOINT_URL");
    }
    let AwsClients { dynamodb, sqs, .. } = clients(&target).await;
    switchyard::store::table::create_table(&dynamodb, &target.table).await?;
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .context("creating the sync queue")?
        .queue_url
        .context("CreateQueue returned no URL")?;
    println!("TABLE_NAME={}", target.table);
    println!("SYNC_QUEUE_URL={url}");
    Ok(true)
}
