//! `switchyard connectors ...`

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
                    def.streams.len(),
                    def.writes.len(),
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
                    def.streams.len(),
                    def.writes.len()
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
