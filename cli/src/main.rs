//! `switchyard`: the developer CLI.
//!
//! Exit codes: 0 success (`valid`), 1 the answer is no (`invalid: ...`, not found), 2 the command
//! could not run (bad arguments, unreadable file, AWS error).

mod connections;
mod local;
mod webhook;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Switchyard's developer CLI: check webhook signatures and manage connections.
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
    /// Local development against the emulator.
    #[command(subcommand)]
    Local(local::LocalCommand),
}

/// An outcome the CLI reports: `Ok(true)` exit 0, `Ok(false)` exit 1, `Err` exit 2.
pub type Outcome = anyhow::Result<bool>;

fn main() -> ExitCode {
    switchyard::logging::init_text();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Webhook(cmd) => webhook::run(cmd),
        Command::Connections(cmd) => connections::run(cmd),
        Command::Local(cmd) => local::run(cmd),
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
