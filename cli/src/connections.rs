//! `switchyard connections ...`

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use switchyard::admin::{self, NewWebhookSecrets};
use switchyard::aws::AwsClients;
use switchyard::clock::{Clock, SystemClock};
use switchyard::secrets::SecretStore;
use switchyard::store::connections::{Connection, ConnectionStore, WebhookSettings};

use crate::webhook::{parse_scheme, read_secret};
use crate::{input_file, Outcome};

/// Where the connections live.
#[derive(Debug, Args)]
pub struct Target {
    /// DynamoDB table.
    #[arg(long, env = "TABLE_NAME", value_name = "TABLE")]
    pub table: String,
    /// AWS endpoint (the local emulator, e.g. http://127.0.0.1:5000); default: AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Create a connection; its webhook secret goes to Secrets Manager, the rest to DynamoDB.
    ///
    /// Prints the connection (with its webhook path /hooks/<id>) as JSON.
    Create(Box<CreateArgs>),
    /// List a tenant's connections (through the management API when SWITCHYARD_API_URL and
    /// SWITCHYARD_API_KEY are set: the key's tenant).
    List {
        #[command(flatten)]
        target: crate::api_mode::EitherTarget,
        /// Tenant whose connections to list.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one connection as JSON (never its secrets).
    Show {
        #[command(flatten)]
        target: Target,
        /// Connection id.
        id: String,
    },
    /// Run a connection's check request now, through the management API
    /// (SWITCHYARD_API_URL and SWITCHYARD_API_KEY, a runner key or above), and print the
    /// result; exit 1 when the check failed.
    Test {
        /// Connection id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    target: Target,
    /// Tenant owning the connection.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Connection id (letters, digits, '_' and '-'); default: a new `conn_<ulid>`.
    #[arg(long)]
    id: Option<String>,
    /// Provider / connector: stripe, hubspot, shopify, ...
    #[arg(long)]
    provider: String,
    /// A name for people; default: the provider.
    #[arg(long)]
    name: Option<String>,
    /// Webhook signature scheme; default: the provider's, when the provider is a known scheme.
    #[arg(long)]
    scheme: Option<String>,
    /// JSON or YAML file describing a generic HMAC scheme (with --scheme generic).
    #[arg(long, value_name = "FILE")]
    generic_config: Option<PathBuf>,
    /// HubSpot signature versions the connection accepts, comma-separated: v3 (the default),
    /// and v2 or v1 only for an app HubSpot still signs that way (they carry no timestamp, so
    /// they have no replay window).
    #[arg(long, value_name = "VERSIONS", value_delimiter = ',')]
    hubspot_signature_versions: Vec<switchyard::webhook::HubspotVersion>,
    /// File holding the webhook signing secret.
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// File holding the previous webhook secret, still accepted during a rotation.
    #[arg(long, value_name = "FILE")]
    previous_webhook_secret_file: Option<PathBuf>,
    /// JSON file of connector credentials stored in the connection's secret, e.g.
    /// {"api_key": "sk_test_..."} or {"client_id": ..., "client_secret": ..., "refresh_token": ...}.
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// For a provider that sends the webhook secret in a handshake (Asana's `X-Hook-Secret`):
    /// accept that handshake for this many minutes, instead of --webhook-secret-file. Create the
    /// webhook at the provider within that time; the first handshake sets the secret, and no
    /// later one is accepted. Microsoft Graph: answer subscription validations for this many
    /// minutes (with --webhook-secret-file, the subscriptions' clientState).
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(1..=1440))]
    await_handshake: Option<u32>,
    /// Tolerance for timestamped signatures, in seconds (default: the deployment's).
    #[arg(long, value_name = "SECS")]
    tolerance: Option<u64>,
    /// Non-secret settings as a JSON object, e.g. '{"base_url":"http://127.0.0.1:8420"}'.
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
}

pub fn run(cmd: ConnectionsCommand) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cmd {
            ConnectionsCommand::Create(args) => create(*args).await,
            ConnectionsCommand::List { target, tenant, json } => list(target, &tenant, json).await,
            ConnectionsCommand::Test { id } => test(&id).await,
            ConnectionsCommand::Show { target, id } => show(target, &id).await,
        }
    })
}

pub async fn clients(target: &Target) -> AwsClients {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(switchyard::aws::default_timeouts());
    if let Some(url) = &target.endpoint_url {
        loader = loader.endpoint_url(url);
        // A local emulator takes any credentials; don't go looking for real ones (or the
        // instance metadata service) for it when none are set.
        let local = ["://127.", "://localhost", "://[::1]"].iter().any(|p| url.contains(p));
        let has_credentials = ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if local && !has_credentials {
            loader = loader.credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "switchyard-local",
            ));
        }
        if local && std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    let mut config = loader.load().await;
    if config.region().is_none() {
        // A local emulator does not care; AWS does, and then says so itself.
        config = config
            .into_builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
    }
    AwsClients::from_config(&config)
}

async fn create(args: CreateArgs) -> Outcome {
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("conn_{}", ulid::Ulid::new().to_string().to_lowercase()));
    let scheme = match (&args.scheme, &args.webhook_secret_file) {
        (Some(name), _) => Some(parse_scheme(
            name,
            args.generic_config.as_deref(),
            &args.hubspot_signature_versions,
        )?),
        (None, Some(_)) => Some(
            match parse_scheme(&args.provider, None, &args.hubspot_signature_versions) {
                Ok(scheme) => scheme,
                // A built-in connector that receives webhooks names its own scheme.
                Err(e) => switchyard::connector::Registry::embedded()
                    .ok()
                    .and_then(|registry| registry.get_shared(&args.provider))
                    .and_then(|def| def.webhooks.as_ref().and_then(|w| w.receiver_scheme().ok()))
                    .ok_or(e)
                    .with_context(|| format!("provider {:?} is not a webhook scheme; pass --scheme", args.provider))?,
            },
        ),
        (None, None) if !args.hubspot_signature_versions.is_empty() => {
            bail!("--hubspot-signature-versions needs --webhook-secret-file")
        }
        (None, None) if args.await_handshake.is_some() => Some(
            parse_scheme(&args.provider, None, &args.hubspot_signature_versions)
                .with_context(|| format!("provider {:?} is not a webhook scheme; pass --scheme", args.provider))?,
        ),
        (None, None) => None,
    };
    let webhook = match &args.webhook_secret_file {
        Some(f) => Some(NewWebhookSecrets {
            current: read_secret(f)?,
            previous: args
                .previous_webhook_secret_file
                .as_deref()
                .map(read_secret)
                .transpose()?,
        }),
        None if args.previous_webhook_secret_file.is_some() => {
            bail!("--previous-webhook-secret-file needs --webhook-secret-file")
        }
        None => None,
    };
    let credentials = match &args.credentials_file {
        None => Default::default(),
        Some(f) => {
            let text = input_file::read_to_string(f, "credentials file", input_file::CONFIG_LIMIT)?;
            // serde_json's messages may quote the input: say where, never what.
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(_) => bail!("{} must hold a JSON object of credentials", f.display()),
                Err(e) => bail!(
                    "{} is not valid JSON (line {}, column {})",
                    f.display(),
                    e.line(),
                    e.column()
                ),
            }
        }
    };
    let config = match &args.config {
        None => Default::default(),
        Some(raw) => match serde_json::from_str::<serde_json::Value>(raw).context("--config is not valid JSON")? {
            serde_json::Value::Object(map) => map,
            _ => bail!("--config must be a JSON object"),
        },
    };
    let conn = Connection {
        id,
        tenant: args.tenant.clone(),
        provider: args.provider.clone(),
        name: args.name.clone().unwrap_or_else(|| args.provider.clone()),
        webhook: scheme.map(|scheme| WebhookSettings {
            scheme,
            tolerance_secs: args.tolerance,
            handshake_until: args
                .await_handshake
                .map(|minutes| SystemClock.now_unix() + i64::from(minutes) * 60),
        }),
        secret_arn: None,
        config,
        created_at: SystemClock.now_unix(),
    };
    let clients = clients(&args.target).await;
    let store = ConnectionStore::new(clients.dynamodb.clone(), &args.target.table);
    let secrets = SecretStore::new(clients.secrets.clone(), std::time::Duration::ZERO);
    let created = admin::create_connection(&store, &secrets, conn, webhook, credentials).await?;
    print_json(&created)?;
    eprintln!("webhook path: /hooks/{}", created.id);
    Ok(true)
}

async fn list(target: crate::api_mode::EitherTarget, tenant: &str, json: bool) -> Outcome {
    // (id, provider, webhook scheme, name) per connection.
    let rows: Vec<[String; 4]> = match target.mode()? {
        crate::api_mode::Mode::Api(api) => {
            if tenant != "default" {
                eprintln!("--tenant {tenant} is ignored: through the API the key's tenant is listed");
            }
            let items = api.all("connections").await?;
            if json {
                print_json(&items)?;
                return Ok(true);
            }
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
            items
                .iter()
                .map(|c| [s(&c["id"]), s(&c["provider"]), s(&c["webhook_scheme"]), s(&c["name"])])
                .collect()
        }
        crate::api_mode::Mode::Direct(target) => {
            let clients = clients(&target).await;
            let conns = ConnectionStore::new(clients.dynamodb, &target.table)
                .list(tenant)
                .await?;
            if json {
                print_json(&conns)?;
                return Ok(true);
            }
            conns
                .into_iter()
                .map(|c| {
                    let scheme = c.webhook.as_ref().map(|w| w.scheme.name()).unwrap_or("-").to_string();
                    [c.id, c.provider, scheme, c.name]
                })
                .collect()
        }
    };
    if rows.is_empty() {
        println!("no connections for tenant {tenant}");
        return Ok(true);
    }
    println!("{:<34} {:<12} {:<18} NAME", "ID", "PROVIDER", "WEBHOOK SCHEME");
    for [id, provider, scheme, name] in rows {
        println!("{id:<34} {provider:<12} {scheme:<18} {name}");
    }
    Ok(true)
}

/// `connections test`: the connection's check request, run now by the management API (with
/// the deployment's network guard and secrets); prints the result as JSON and fails when the
/// check did.
async fn test(id: &str) -> Outcome {
    let Some(api) = crate::api_mode::ApiClient::from_env()? else {
        bail!(
            "connections test runs through the management API: set {} and {} (a runner key or above)",
            crate::api_mode::URL_VAR,
            crate::api_mode::KEY_VAR
        );
    };
    eprintln!("mode: management API (tenant and role are the key's)");
    let path = format!("connections/{}/test", crate::api_mode::segment(id));
    let Some(result) = api.act(&path, &serde_json::json!({})).await? else {
        eprintln!("connection {id} does not exist");
        return Ok(false);
    };
    print_json(&result)?;
    Ok(result["ok"].as_bool().unwrap_or(false))
}

async fn show(target: Target, id: &str) -> Outcome {
    let clients = clients(&target).await;
    let store = ConnectionStore::new(clients.dynamodb, &target.table);
    match store.get(id).await? {
        Some(c) => {
            print_json(&c)?;
            Ok(true)
        }
        None => {
            eprintln!("connection {id} not found in table {}", target.table);
            Ok(false)
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
