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
    /// Upload a definition of your tenant's own through the management API
    /// (SWITCHYARD_API_URL and SWITCHYARD_API_KEY, an editor or admin key): a new connector
    /// (its id starts with `custom-`), or with --new-version the next version of one. Prints
    /// the id and version (exit 0), or every problem with its field (exit 1).
    Upload {
        /// The YAML (or JSON) definition.
        file: PathBuf,
        /// The next version of a connector already uploaded (the file's id names it).
        #[arg(long)]
        new_version: bool,
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
        ConnectorsCommand::Upload { file, new_version } => runtime()?.block_on(upload(&file, new_version)),
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

/// `connectors upload`: checked here first (the same parser the API runs), then sent.
async fn upload(file: &std::path::Path, new_version: bool) -> Outcome {
    let Some(api) = crate::api_mode::ApiClient::from_env()? else {
        anyhow::bail!(
            "uploading needs the management API: set {} and {} (an editor or admin key)",
            crate::api_mode::URL_VAR,
            crate::api_mode::KEY_VAR
        );
    };
    let text = input_file::read_to_string(file, "connector definition", input_file::SOURCE_LIMIT)?;
    let def = match parse_definition(&file.display().to_string(), &text) {
        Ok(def) => def,
        Err(e) => {
            println!("invalid: {e}");
            return Ok(false);
        }
    };
    let path = if new_version {
        format!("connectors/{}/versions", crate::api_mode::segment(&def.id))
    } else {
        "connectors".to_string()
    };
    let (status, body) = api.post(&path, "application/yaml", text).await?;
    if status == 201 {
        println!(
            "uploaded {} version {}",
            body["id"].as_str().unwrap_or(&def.id),
            body["version"].as_u64().unwrap_or(0)
        );
        return Ok(true);
    }
    crate::api_mode::print_refusal(status, &body);
    Ok(false)
}
