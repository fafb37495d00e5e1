//! The CLI through the management API: when `SWITCHYARD_API_URL` and `SWITCHYARD_API_KEY` are
//! both set, `status`, `flows create|list|run|pause|resume`, `dead-letters list|show|replay` and
//! `connections list` ask `/v1/...` instead of DynamoDB, and act as the key's tenant with the
//! key's role (a viewer key reads, a runner key runs and replays, an editor key pauses and
//! resumes; no AWS credentials are needed). `connections test` and `connectors upload` work
//! only this way. Every such command says on stderr which mode it is in.

use anyhow::{bail, Context};
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::connections::Target;

pub const URL_VAR: &str = "SWITCHYARD_API_URL";
pub const KEY_VAR: &str = "SWITCHYARD_API_KEY";

/// Where a command that can use either gets its data: `--table`/`TABLE_NAME` are needed only in
/// direct mode.
#[derive(Debug, Args)]
pub struct EitherTarget {
    /// DynamoDB table (direct mode; not needed with SWITCHYARD_API_URL and SWITCHYARD_API_KEY).
    #[arg(long, env = "TABLE_NAME", value_name = "TABLE")]
    pub table: Option<String>,
    /// AWS endpoint (the local emulator, e.g. http://127.0.0.1:5000); default: AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// Which way a command reads.
pub enum Mode {
    Api(ApiClient),
    Direct(Target),
}

impl EitherTarget {
    /// The API when both variables are set (and says so on stderr), else DynamoDB directly.
    pub fn mode(self) -> anyhow::Result<Mode> {
        if let Some(api) = ApiClient::from_env()? {
            eprintln!(
                "mode: management API at {} ({URL_VAR} and {KEY_VAR} are set; tenant and role are the key's)",
                api.base
            );
            return Ok(Mode::Api(api));
        }
        let Some(table) = self.table.filter(|t| !t.is_empty()) else {
            bail!(
                "no DynamoDB table: pass --table or set TABLE_NAME (direct mode), or set {URL_VAR} and {KEY_VAR} to use the management API"
            );
        };
        eprintln!(
            "mode: direct DynamoDB access, table {table} (set {URL_VAR} and {KEY_VAR} to use the management API)"
        );
        Ok(Mode::Direct(Target {
            table,
            endpoint_url: self.endpoint_url,
        }))
    }
}

/// A client of the management API with one key.
pub struct ApiClient {
    base: String,
    key: SecretString,
    http: reqwest::Client,
}

impl ApiClient {
    /// `None` unless both variables are set; an error when only one is.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let get = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
        match (get(URL_VAR), get(KEY_VAR)) {
            (None, None) => Ok(None),
            (Some(_), None) => bail!("{URL_VAR} is set but {KEY_VAR} is not: set both to use the API, or neither"),
            (None, Some(_)) => bail!("{KEY_VAR} is set but {URL_VAR} is not: set both to use the API, or neither"),
            (Some(url), Some(key)) => {
                let base = url.trim().trim_end_matches('/').to_string();
                if !(base.starts_with("https://") || base.starts_with("http://")) {
                    bail!("{URL_VAR} must be an http(s) URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com");
                }
                let http = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(30))
                    .build()
                    .context("cannot build the HTTP client")?;
                Ok(Some(Self {
                    base,
                    key: SecretString::from(key.trim().to_string()),
                    http,
                }))
            }
        }
    }

    /// `GET /v1/<path>` as JSON: `Ok(None)` for a 404, an error naming the API's problem
    /// otherwise.
    pub async fn get(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let url = format!("{}/v1/{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(self.key.expose_secret())
            .send()
            .await
            .with_context(|| format!("cannot reach the management API at {}", self.base))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.context("the API's answer was cut off")?;
        if status == 404 {
            return Ok(None);
        }
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("the API answered {status} with something that is not JSON"))?;
        if status >= 400 {
            bail!(refusal(status, "GET", path, &body));
        }
        Ok(Some(body))
    }

    /// `POST /v1/<path>` with a JSON body (an action: run, pause, replay, test): the answer,
    /// `Ok(None)` for a 404, an error naming the API's problem otherwise.
    pub async fn act(&self, path: &str, body: &Value) -> anyhow::Result<Option<Value>> {
        let (status, answer) = self.post(path, "application/json", body.to_string()).await?;
        if status == 404 {
            return Ok(None);
        }
        if status >= 400 {
            bail!(refusal(status, "POST", path, &answer));
        }
        Ok(Some(answer))
    }

    /// `POST /v1/<path>` with a body of `content_type`: the status and the JSON answer (a
    /// problem included: the caller says what it means); an error only when the API cannot be
    /// reached or answers something that is not JSON.
    pub async fn post(&self, path: &str, content_type: &str, body: String) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}/v1/{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(self.key.expose_secret())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach the management API at {}", self.base))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.context("the API's answer was cut off")?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("the API answered {status} with something that is not JSON"))?;
        Ok((status, body))
    }

    /// Every item of a list, following `next_cursor`.
    pub async fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                None => format!("{path}{sep}limit=200"),
                Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
            };
            let page = self
                .get(&page_path)
                .await?
                .with_context(|| format!("the API has no /v1/{path}"))?;
            if let Some(items) = page["items"].as_array() {
                out.extend(items.iter().cloned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(out),
            }
        }
    }
}

/// What a refused request says: the status, the problem's detail, and what to check.
fn refusal(status: u16, method: &str, path: &str, body: &Value) -> String {
    let detail = body["detail"].as_str().unwrap_or("no detail");
    let hint = match status {
        401 => " (check SWITCHYARD_API_KEY: unknown, revoked or expired)",
        403 => " (the key's role may not; ask an admin for a key with more rights)",
        429 => " (over the key's hourly allowance; see Retry-After)",
        _ => "",
    };
    format!("the management API answered {status} for {method} /v1/{path}: {detail}{hint}")
}

/// Prints a refused write: the status, the problem's detail, and each invalid field.
pub fn print_refusal(status: u16, body: &Value) {
    let detail = body["detail"].as_str().unwrap_or("no detail");
    println!("refused ({status}): {detail}");
    for e in body["errors"].as_array().into_iter().flatten() {
        println!(
            "  field `{}`: {}",
            e["field"].as_str().unwrap_or(""),
            e["detail"].as_str().unwrap_or("")
        );
    }
}

/// A path segment, percent-encoded.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
