//! `switchyard subjects backfill`: index people's items written before the subject index.

use anyhow::Context;
use clap::Subcommand;

use crate::connections::{clients, Target};
use crate::Outcome;

/// Scan pages per step: each step prints where it got to, so an interrupted run resumes there.
const PAGES_PER_STEP: usize = 10;

#[derive(Debug, Subcommand)]
pub enum SubjectsCommand {
    /// Give stored events, record links, review items and webhook deliveries written before
    /// the subject index existed their index keys, and every indexed item the pointer items of
    /// its further addresses it lacks, so `GET` and `DELETE /v1/subjects/{email}` find them by
    /// any address. Safe to repeat and to run beside the functions (each update only adds
    /// missing keys, each pointer is written only when absent). Prints `next` positions to
    /// stderr as it goes and the totals as JSON.
    Backfill {
        #[command(flatten)]
        target: Target,
        /// Continue from a `next` position an earlier (interrupted) run printed.
        #[arg(long)]
        from: Option<String>,
        /// Stop after this many Scan pages (each at most 1 MB read); default: the whole table.
        #[arg(long)]
        pages: Option<usize>,
    },
}

pub fn run(cmd: SubjectsCommand) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cmd {
            SubjectsCommand::Backfill { target, from, pages } => {
                let aws = clients(&target).await;
                let mut total = switchyard::store::migrate::SubjectBackfillReport::default();
                let mut from = from;
                let mut left = pages.unwrap_or(usize::MAX);
                loop {
                    let step = PAGES_PER_STEP.min(left);
                    let r = switchyard::store::migrate::backfill_subject_index(
                        &aws.dynamodb,
                        &target.table,
                        from.as_deref(),
                        step,
                    )
                    .await
                    .with_context(|| format!("backfilling the subject index of table {}", target.table))?;
                    total.scanned += r.scanned;
                    total.indexed += r.indexed;
                    total.already_indexed += r.already_indexed;
                    total.without_address += r.without_address;
                    total.pointers += r.pointers;
                    left = left.saturating_sub(step);
                    from = r.next;
                    match &from {
                        Some(next) if left > 0 => {
                            eprintln!("scanned {}, indexed {}; next {next}", total.scanned, total.indexed)
                        }
                        _ => break,
                    }
                }
                total.next = from;
                println!("{}", serde_json::to_string_pretty(&total)?);
                Ok(true)
            }
        }
    })
}
