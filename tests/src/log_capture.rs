//! Every log line a test process writes, kept for the secrets scan (`tests/secrets_in_logs.rs`,
//! the last step of `make test`), beside every secret value the process stored.
//!
//! [`install`] makes the process's tracing subscriber the functions' own JSON format, at
//! `info` for dependencies and `debug` for our crates, writing to
//! `target/switchyard-test-logs/<pid>.log`. [`SecretRecorder`] sits on the test clients'
//! Secrets Manager client and writes every string value of every secret document created or
//! updated (webhook secrets, API keys, OAuth client secrets, access and refresh tokens, rotated
//! ones included) to `<pid>.secrets`, hex-encoded. Test secrets only: nothing real is ever here.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// Where test processes leave their logs and secrets.
pub fn dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_TEST_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/switchyard-test-logs"))
}

struct Files {
    log: Mutex<File>,
    secrets: Mutex<File>,
}

static FILES: OnceLock<Option<Files>> = OnceLock::new();

fn files() -> Option<&'static Files> {
    FILES
        .get_or_init(|| {
            let dir = dir();
            std::fs::create_dir_all(&dir).ok()?;
            let open = |ext: &str| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{}.{ext}", std::process::id())))
                    .ok()
            };
            Some(Files {
                log: Mutex::new(open("log")?),
                secrets: Mutex::new(open("secrets")?),
            })
        })
        .as_ref()
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = files() {
            f.log.lock().unwrap_or_else(|p| p.into_inner()).write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber, once per process (later calls do nothing).
pub fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new(
            "info,switchyard=debug,switchyard_fakes=debug,connector_sync=debug,webhook_receiver=debug",
        );
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .without_time()
            .with_writer(|| LogWriter)
            .try_init();
    });
}

/// Records a secret value the logs must never show.
pub fn known_secret(value: &str) {
    if let Some(f) = files() {
        let mut out = f.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{}", hex::encode(value));
    }
}

/// Every string leaf of a secret document worth scanning for (8 characters or more: names of
/// kinds such as `bearer` are not secrets).
fn record_document(text: &str) {
    fn walk(v: &Value) {
        match v {
            Value::String(s) if s.len() >= 8 => known_secret(s),
            Value::Array(items) => items.iter().for_each(walk),
            Value::Object(map) => map.values().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(doc) => walk(&doc),
        Err(_) if text.len() >= 8 => known_secret(text),
        Err(_) => {}
    }
}

/// Records the secret values a Secrets Manager client stores (`CreateSecret`,
/// `PutSecretValue`, `UpdateSecret`).
#[derive(Debug, Clone, Default)]
pub struct SecretRecorder;

impl Intercept for SecretRecorder {
    fn name(&self) -> &'static str {
        "SecretRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let writes = cfg
            .load::<Metadata>()
            .is_some_and(|m| matches!(m.name(), "CreateSecret" | "PutSecretValue" | "UpdateSecret"));
        if writes {
            let body = context.request().body().bytes().unwrap_or_default();
            if let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) {
                if let Some(Value::String(secret)) = req.get("SecretString") {
                    record_document(secret);
                }
            }
        }
        Ok(())
    }
}
