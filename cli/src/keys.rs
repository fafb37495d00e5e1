//! `switchyard keys create`: the first admin key of a tenant, written straight to the table
//! (every later key can be made through the API, `POST /v1/keys`). `switchyard keys
//! repair-ttl`: the one-off repair of keys rotated by earlier releases.

use anyhow::{bail, Context};
use clap::Subcommand;
use secrecy::ExposeSecret;
use switchyard::clock::{Clock, SystemClock};
use switchyard::store::api_keys::{ApiKeyStore, Role, Tier};

use crate::connections::{clients, Target};
use crate::Outcome;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it once (only its SHA-256 hash is stored).
    ///
    /// The key goes to stdout, alone on its line, so `KEY=$(switchyard keys create ...)` works;
    /// its prefix and role go to stderr.
    Create {
        #[command(flatten)]
        target: Target,
        /// Tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// admin, editor, runner or viewer.
        #[arg(long, default_value = "admin")]
        role: String,
        /// free, basic, professional or enterprise (1,000 to 1,000,000 requests per hour).
        #[arg(long, default_value = "free")]
        tier: String,
        /// A name for people.
        #[arg(long, default_value = "bootstrap")]
        name: String,
    },
    /// Keep keys rotated by earlier releases from being deleted by DynamoDB: those hold their
    /// overlap end in the table's TTL attribute `expires_at`, which this moves to
    /// `overlap_ends_at` (where rotations keep it now). Run once after upgrading; safe to
    /// repeat and to run beside the functions. One filtered Scan; prints the counts as JSON.
    RepairTtl {
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(cmd: KeysCommand) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cmd {
            KeysCommand::Create {
                target,
                tenant,
                role,
                tier,
                name,
            } => {
                let Some(role) = Role::parse(&role) else {
                    bail!("--role must be admin, editor, runner or viewer, not {role:?}");
                };
                let Some(tier) = Tier::parse(&tier) else {
                    bail!("--tier must be free, basic, professional or enterprise, not {tier:?}");
                };
                let aws = clients(&target).await;
                let store = ApiKeyStore::new(aws.dynamodb, &target.table);
                let (new, key) = switchyard::admin::create_api_key(
                    &store,
                    &tenant,
                    &name,
                    role,
                    tier,
                    "cli",
                    SystemClock.now_unix(),
                )
                .await
                .with_context(|| format!("storing the key in table {}", target.table))?;
                println!("{}", new.key.expose_secret());
                eprintln!(
                    "created {} key {} for tenant {} ({} tier); it is shown only this once",
                    key.role.name(),
                    key.prefix,
                    key.tenant,
                    key.tier.name()
                );
                Ok(true)
            }
            KeysCommand::RepairTtl { target } => {
                let aws = clients(&target).await;
                let report = switchyard::store::migrate::repair_rotated_key_ttl(&aws.dynamodb, &target.table)
                    .await
                    .with_context(|| format!("repairing rotated API keys in table {}", target.table))?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(true)
            }
        }
    })
}
