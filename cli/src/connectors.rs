//! `switchyard connectors ...`: the built-in definitions, and the connector author's loop
//! (`validate`, `read`, `check`, `write --dry-run`) against a fake or the real API.

mod read;
mod session;
mod write;

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use switchyard::connector::registry::parse_definition;
use switchyard::connector::Registry;

use crate::{input_file, Outcome};

#[derive(Debug, Subcommand)]
pub enum ConnectorsCommand {
    /// List the connector definitions built into this version.
    List,
    /// Print a built-in definition's YAML.
    Show {
        /// Connector id (see `switchyard connectors list`).
        id: String,
    },
    /// Check a definition file before deploying it: prints `valid` (exit 0) or every problem
    /// with the file and field it is in (exit 1).
    Validate {
        /// The YAML definition.
        file: PathBuf,
    },
    /// Read a stream through the engine: records as JSON lines on stdout, per-page progress
    /// (records, requests, rate-limit waits) on stderr. Exit 1 when a request fails.
    Read(Box<read::ReadArgs>),
    /// Run the connector's check request: `ok: ...` (exit 0) or `failed: ...` (exit 1).
    Check(Box<read::CheckArgs>),
    /// Write records from a JSON Lines file: one result line per record (ok with the
    /// destination's id, or refused with its reason); exit 1 when any record is not written.
    /// With --dry-run, print the requests instead, credentials redacted, and send nothing.
    Write(Box<write::WriteArgs>),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(cmd: ConnectorsCommand) -> Outcome {
    match cmd {
        ConnectorsCommand::List => {
            let registry = Registry::embedded().context("the built-in connector definitions do not validate")?;
            println!("{:<14} {:<22} {:<8} {:<7} WEBHOOKS", "ID", "NAME", "STREAMS", "WRITES");
            for id in registry.ids() {
                let def = registry.get(id).expect("ids come from the registry");
                println!(
                    "{:<14} {:<22} {:<8} {:<7} {}",
                    def.id,
                    def.name,
                    def.stream_names().len(),
                    def.write_names().len(),
                    def.webhooks.as_ref().map(|w| w.scheme.as_str()).unwrap_or("-")
                );
            }
            Ok(true)
        }
        ConnectorsCommand::Show { id } => match Registry::embedded_source(&id) {
            Some(text) => {
                print!("{text}");
                Ok(true)
            }
            None => {
                eprintln!("no built-in connector {id:?}; `switchyard connectors list` shows them");
                Ok(false)
            }
        },
        ConnectorsCommand::Read(args) => runtime()?.block_on(read::read(*args)),
        ConnectorsCommand::Check(args) => runtime()?.block_on(read::check(*args)),
        ConnectorsCommand::Write(args) => runtime()?.block_on(write::write(*args)),
        ConnectorsCommand::Validate { file } => match parse_definition(
            &file.display().to_string(),
            &input_file::read_to_string(&file, "connector definition", input_file::SOURCE_LIMIT)?,
        ) {
            Ok(def) => {
                println!("valid");
                eprintln!(
                    "{}: connector {} ({} streams, {} write operations)",
                    file.display(),
                    def.id,
                    def.stream_names().len(),
                    def.write_names().len()
                );
                Ok(true)
            }
            Err(e) => {
                println!("invalid: {e}");
                Ok(false)
            }
        },
    }
}
