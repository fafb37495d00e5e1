//! The connection a `connectors read / check / write` run uses, built from flags instead of a
//! stored connection: a definition (built in, or a file being written), credentials from a
//! file, non-secret config, and a base URL pointing at a fake or the real API.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{Map, Value};
use switchyard::connector::{
    url_guard, validate_file, ClientSettings, ConnectorClient, ConnectorDefinition, Credentials, ErrorKind, Registry,
    StatsSnapshot,
};

/// Largest credentials file read.
const MAX_CREDENTIALS_BYTES: u64 = 64 * 1024;

/// How to reach the API, as `connections create` takes it, plus the base URL.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// The API's base URL (a local fake's, say); overrides the definition's and --config's.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// JSON file of credentials, as `connections create --credentials-file` takes it, e.g.
    /// {"access_token": "..."} or {"client_id": ..., "client_secret": ..., "refresh_token": ...}.
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,
    /// Non-secret connection config as a JSON object, as `connections create --config` takes it.
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// Let the connector reach loopback and private addresses (local fakes).
    #[arg(long, env = "ALLOW_PRIVATE_NETWORK")]
    pub allow_private_network: bool,
    /// Longest wait for one response.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

/// A definition by id, or from a YAML file when `connector` names one (`my-api.yaml`): the
/// connector author's file before it is built in.
pub fn definition(connector: &str) -> anyhow::Result<Arc<ConnectorDefinition>> {
    let looks_like_file = connector.ends_with(".yaml") || connector.ends_with(".yml") || connector.contains('/');
    if looks_like_file {
        return validate_file(Path::new(connector))
            .map(Arc::new)
            .map_err(|e| anyhow::anyhow!("the definition is not valid: {e}"));
    }
    let registry = Registry::embedded().context("the built-in connector definitions do not validate")?;
    match registry.get_shared(connector) {
        Some(def) => Ok(def),
        None => bail!(
            "unknown connector {connector:?}; built in: {} (or give a definition file, my-api.yaml)",
            registry.ids().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Reads a file a person named, capped at `max_bytes`: a regular file or `-` for stdin.
/// Every input file of these commands goes through here.
pub fn read_input_file(path: &Path, what: &'static str, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
    if path != Path::new("-") {
        return Ok(crate::input_file::read(path, what, max_bytes)?);
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} from stdin"))?;
    if bytes.len() as u64 > max_bytes {
        bail!("cannot read {what} from stdin: larger than {max_bytes} bytes");
    }
    Ok(bytes)
}

/// The credentials file as [`Credentials`]; never quotes its content.
fn credentials(path: Option<&Path>) -> anyhow::Result<Credentials> {
    let Some(path) = path else {
        return Ok(Credentials::new());
    };
    let bytes = read_input_file(path, "credentials file", MAX_CREDENTIALS_BYTES)?;
    // serde_json's messages may quote the input: say where, never what.
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(Credentials::from_map(&map)),
        Ok(_) => bail!(
            "credentials file {} must hold a JSON object of credentials",
            path.display()
        ),
        Err(e) => bail!(
            "credentials file {} is not valid JSON (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ),
    }
}

fn config(raw: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    match raw {
        None => Ok(Map::new()),
        Some(raw) => match serde_json::from_str::<Value>(raw).context("--config is not valid JSON")? {
            Value::Object(map) => Ok(map),
            _ => bail!("--config must be a JSON object"),
        },
    }
}

/// The engine's client for `def`, with the CLI's patience: rate limits are waited out (up to
/// a minute each) instead of handed back, since a person is watching.
pub fn client(def: Arc<ConnectorDefinition>, args: &ConnectionArgs) -> anyhow::Result<ConnectorClient> {
    let credentials = credentials(args.credentials_file.as_deref())?;
    let mut settings = ClientSettings::from_connection_config(&config(args.config.as_deref())?);
    if let Some(url) = &args.base_url {
        settings.base_url = Some(url.clone());
    }
    settings.allow_private_network = args.allow_private_network;
    settings.request_timeout = Duration::from_secs(args.timeout.max(1));
    settings.max_inline_retries = 3;
    settings.max_inline_wait = Duration::from_secs(60);
    let http = url_guard::http_client(settings.request_timeout, args.allow_private_network)
        .context("cannot build the HTTP client")?;
    let id = def.id.clone();
    ConnectorClient::new(def, settings, credentials, http).map_err(|e| {
        let hint = match e.kind {
            ErrorKind::UrlRejected if !args.allow_private_network => "; for a local fake pass --allow-private-network",
            ErrorKind::Credentials if args.credentials_file.is_none() => "; pass --credentials-file",
            _ => "",
        };
        anyhow::anyhow!("cannot use connector {id}: {e}{hint}")
    })
}

/// One line of counters for stderr: requests, retries, rate-limit waits, elapsed.
pub fn counters(stats: &StatsSnapshot, started: Instant) -> String {
    format!(
        "{} requests, {} retries, {} rate-limit waits ({:.1} s), {:.1} s",
        stats.requests,
        stats.retries,
        stats.rate_limit_waits,
        stats.rate_limit_wait.as_secs_f64(),
        started.elapsed().as_secs_f64()
    )
}
