//! `switchyard`: the developer CLI.
//!
//! Exit codes: 0 success (`valid`), 1 the answer is no (`invalid: ...`, not found), 2 the command
//! could not run (bad arguments, unreadable file, AWS error).

mod api_mode;
mod connections;
mod connectors;
mod dead_letters;
mod flows;
mod input_file;
mod keys;
mod local;
mod status;
mod subjects;
mod table;
mod webhook;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Switchyard's developer CLI: check webhook signatures, manage connections and flows, run syncs.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Webhook signatures: verify a delivery a provider says was rejected.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Connections: create, list and show them (writes DynamoDB and Secrets Manager).
    #[command(subcommand)]
    Connections(connections::ConnectionsCommand),
    /// Connector definitions: list, show, validate a file before deploying it.
    #[command(subcommand)]
    Connectors(connectors::ConnectorsCommand),
    /// Flows: create, list, run a sync job.
    #[command(subcommand)]
    Flows(flows::FlowsCommand),
    /// Sync state of a flow: cursor, latest jobs, counts, last error.
    #[command(subcommand)]
    Sync(flows::SyncCommand),
    /// Dead letters: messages that stopped retrying; list, show and replay them.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(dead_letters::DeadLettersCommand),
    /// API keys of the management API: create a tenant's first admin key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Local development against the emulator.
    #[command(subcommand)]
    Local(local::LocalCommand),
    /// One screen: every connection's state, circuit and last check; every flow's last run,
    /// lag and failures (exit 1 when a connection is down or needs re-auth).
    Status(Box<status::StatusArgs>),
    /// Table maintenance: backfill index keys after an upgrade.
    #[command(subcommand)]
    Table(table::TableCommand),
    /// People's data (GDPR / CCPA): index items stored before the subject index existed.
    #[command(subcommand)]
    Subjects(subjects::SubjectsCommand),
}

/// An outcome the CLI reports: `Ok(true)` exit 0, `Ok(false)` exit 1, `Err` exit 2.
pub type Outcome = anyhow::Result<bool>;

fn main() -> ExitCode {
    switchyard::logging::init_text();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Webhook(cmd) => webhook::run(cmd),
        Command::Connections(cmd) => connections::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Local(cmd) => local::run(cmd),
        Command::Connectors(cmd) => connectors::run(cmd),
        Command::Flows(cmd) => flows::run(cmd),
        Command::Sync(cmd) => flows::run_sync(cmd),
        Command::DeadLetters(cmd) => dead_letters::run(cmd),
        Command::Status(args) => status::run(*args),
        Command::Table(cmd) => table::run(cmd),
        Command::Subjects(cmd) => subjects::run(cmd),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
