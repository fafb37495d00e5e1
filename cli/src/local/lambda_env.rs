//! What `cargo lambda watch` needs to run the functions against the local stack: the environment
//! file (`--env-file`) and the connections the sample events in `events/` are signed for.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;
use switchyard::admin::{create_connection, NewWebhookSecrets};
use switchyard::clock::{Clock, SystemClock};
use switchyard::secrets::SecretStore;
use switchyard::store::connections::{Connection, ConnectionStore, WebhookSettings};
use switchyard::webhook::Scheme;

use super::demo::ignore_existing;

/// Where `local up` writes the environment file unless told otherwise.
pub const DEFAULT_ENV_FILE: &str = "target/lambda.env";
/// The sample connections' manifest, relative to the repository root.
pub const DEFAULT_SAMPLES: &str = "events/webhook-receiver/connections.json";

/// The environment the four functions read, pointed at the emulator.
pub struct LambdaEnv<'a> {
    pub endpoint: &'a str,
    pub table: &'a str,
    pub sync_queue_url: &'a str,
}

impl LambdaEnv<'_> {
    fn render(&self, path: &Path) -> String {
        format!(
            "# Written by `switchyard local`: the functions' environment against the local emulator.\n\
             # cargo lambda watch --env-file {}\n\
             AWS_ENDPOINT_URL={}\n\
             AWS_REGION=us-east-1\n\
             AWS_ACCESS_KEY_ID=test\n\
             AWS_SECRET_ACCESS_KEY=test\n\
             TABLE_NAME={}\n\
             SYNC_QUEUE_URL={}\n\
             # The local fakes (localstripe, the fake HubSpot) listen on 127.0.0.1.\n\
             ALLOW_PRIVATE_NETWORK=true\n",
            path.display(),
            self.endpoint,
            self.table,
            self.sync_queue_url
        )
    }

    /// Writes the file (creating its directory) and returns its path.
    pub fn write(&self, path: &Path) -> anyhow::Result<PathBuf> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, self.render(path)).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path.to_path_buf())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    tenant: String,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    connections: Vec<SampleConnection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleConnection {
    connection_id: String,
    provider: String,
    scheme: String,
    /// Relative to the manifest.
    webhook_secret_file: PathBuf,
    #[serde(default)]
    tolerance_secs: Option<u64>,
}

/// The sample connections a manifest lists, with their secrets, read before anything is created.
pub struct Samples {
    connections: Vec<(Connection, NewWebhookSecrets)>,
}

/// Reads a samples manifest and the secret files it names.
pub fn load_samples(manifest_path: &Path) -> anyhow::Result<Samples> {
    let text = crate::input_file::read_to_string(manifest_path, "samples manifest", crate::input_file::CONFIG_LIMIT)?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a samples manifest", manifest_path.display()))?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let mut connections = Vec::new();
    for entry in manifest.connections {
        let scheme = Scheme::from_name(&entry.scheme)
            .map_err(|e| anyhow::anyhow!("{}: {}: {e}", manifest_path.display(), entry.connection_id))?;
        let secret_path = dir.join(&entry.webhook_secret_file);
        let secret = crate::input_file::read_to_string(&secret_path, "secret file", crate::input_file::SECRET_LIMIT)?;
        let conn = Connection {
            id: entry.connection_id.clone(),
            tenant: manifest.tenant.clone(),
            provider: entry.provider,
            name: format!("{} (sample events)", entry.connection_id),
            webhook: Some(WebhookSettings {
                scheme,
                tolerance_secs: entry.tolerance_secs,
                handshake_until: None,
            }),
            secret_arn: None,
            config: Default::default(),
            created_at: SystemClock.now_unix(),
        };
        let webhook = NewWebhookSecrets {
            current: SecretString::from(secret.trim_end().to_string()),
            previous: None,
        };
        connections.push((conn, webhook));
    }
    Ok(Samples { connections })
}

/// Registers the sample connections (what already exists is kept) and returns their ids.
pub async fn register_samples(
    connections: &ConnectionStore,
    secrets: &SecretStore,
    samples: Samples,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for (conn, webhook) in samples.connections {
        let id = conn.id.clone();
        ignore_existing(create_connection(connections, secrets, conn, Some(webhook), Default::default()).await)
            .with_context(|| format!("cannot register the sample connection {id}"))?;
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_file_names_every_resource_and_the_emulator() {
        let text = LambdaEnv {
            endpoint: "http://127.0.0.1:5000",
            table: "switchyard-local",
            sync_queue_url: "http://127.0.0.1:5000/123456789012/switchyard-local-sync",
        }
        .render(Path::new(DEFAULT_ENV_FILE));
        for line in [
            "AWS_ENDPOINT_URL=http://127.0.0.1:5000",
            "TABLE_NAME=switchyard-local",
            "SYNC_QUEUE_URL=http://127.0.0.1:5000/123456789012/switchyard-local-sync",
            "# cargo lambda watch --env-file target/lambda.env",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        // Every line is a comment or KEY=VALUE, as dotenv readers expect.
        assert!(text.lines().all(|l| l.starts_with('#') || l.split_once('=').is_some()));
    }

    #[test]
    fn the_committed_samples_manifest_parses_and_its_secret_files_exist() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(DEFAULT_SAMPLES);
        let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(!manifest.connections.is_empty());
        for c in &manifest.connections {
            Scheme::from_name(&c.scheme).unwrap();
            let secret = path.parent().unwrap().join(&c.webhook_secret_file);
            assert!(secret.is_file(), "{} is missing", secret.display());
        }
    }
}
