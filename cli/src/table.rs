//! `switchyard table backfill-indexes`: one-off maintenance of the DynamoDB table.

use anyhow::Context;
use clap::Subcommand;

use crate::connections::{clients, Target};
use crate::Outcome;

#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Give connections and scheduled flows written by an earlier release the keys of the sparse
    /// `sched` index (the health checker and dispatch read only that index). Run once after
    /// deploying the release that adds the index; safe to repeat. Prints what changed as JSON.
    BackfillIndexes {
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(cmd: TableCommand) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cmd {
            TableCommand::BackfillIndexes { target } => {
                let aws = clients(&target).await;
                let report = switchyard::store::migrate::backfill_sched_index(&aws.dynamodb, &target.table)
                    .await
                    .with_context(|| format!("backfilling the indexes of table {}", target.table))?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(true)
            }
        }
    })
}
