//! `switchyard-fakes`: serves the fake SaaS APIs on fixed loopback ports for manual runs and the
//! local stack. One log line per request; Ctrl-C stops it.
//!
//! ```text
//! switchyard-fakes --hubspot-port 8401 --slack-port 8402 --webhook-sink-port 8403 --source-port 8404
//! ```
//!
//! `serve` runs one spec-driven fake (a provider's spec + its profile in `fakes/profiles/`),
//! printing one line per request and one per spec violation on stderr:
//!
//! ```text
//! switchyard-fakes serve hubspot --port 8421 --records 250 --rate-limit 100/10s
//! switchyard-fakes serve stripe --port 8430 --proxy http://127.0.0.1:8420   # check localstripe's traffic
//! ```

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use switchyard_fakes::spec_fake::{FakeOptions, FakeServer};
use switchyard_fakes::{hubspot, paged_source, slack, webhook_sink, RateLimit};
use tracing_subscriber::EnvFilter;

/// Fake HubSpot, Slack, webhook sink and paged source servers, on 127.0.0.1 only.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Serve the fake HubSpot on this port.
    #[arg(long)]
    hubspot_port: Option<u16>,
    /// Bearer tokens the fake HubSpot accepts (repeatable).
    #[arg(long = "hubspot-token", default_value = hubspot::TEST_TOKEN)]
    hubspot_tokens: Vec<String>,
    /// HubSpot requests allowed per token in each rolling window.
    #[arg(long, default_value_t = 100)]
    hubspot_rate_limit: u32,
    /// Length of HubSpot's rolling window, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    hubspot_window_ms: u64,
    /// Accept writes to properties HubSpot does not define.
    #[arg(long)]
    hubspot_allow_unknown_properties: bool,

    /// Serve the fake Slack on this port.
    #[arg(long)]
    slack_port: Option<u16>,
    /// Bot tokens the fake Slack accepts (repeatable).
    #[arg(long = "slack-token", default_value = slack::TEST_TOKEN)]
    slack_tokens: Vec<String>,

    /// Serve the webhook sink on this port.
    #[arg(long)]
    webhook_sink_port: Option<u16>,
    /// Standard Webhooks secret (`whsec_...`) the sink verifies deliveries with.
    #[arg(long, env = "SWITCHYARD_FAKES_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,

    /// Serve the paged source on this port.
    #[arg(long)]
    source_port: Option<u16>,
    /// Number of records the paged source generates.
    #[arg(long, default_value_t = 1000)]
    source_records: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a spec-driven fake: the provider's spec from the specs folder
    /// (SWITCHYARD_SPECS_DIR, default ../shared/specs) and its profile.
    Serve {
        /// Provider with a profile: hubspot, stripe, sap-s4hana (an OData v2 fake).
        provider: String,
        /// Loopback port (0: a free one, printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Objects seeded in each collection.
        #[arg(long, default_value_t = 25)]
        records: usize,
        /// Seed of the generated objects.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Overrides the profile's rate limit: `REQUESTS/WINDOW` (`100/10s`, `5/500ms`) or `off`.
        #[arg(long)]
        rate_limit: Option<String>,
        /// Check every request and response and forward them to this base URL (e.g. localstripe).
        #[arg(long)]
        proxy: Option<String>,
        /// Send the profile's webhooks here on every write.
        #[arg(long)]
        webhook_url: Option<String>,
        /// Secret the webhooks are signed with.
        #[arg(long, env = "SWITCHYARD_FAKES_WEBHOOK_SECRET")]
        webhook_secret: Option<String>,
        /// Serve requests that break the spec instead of answering them with the provider's
        /// bad-request error (they are recorded either way).
        #[arg(long)]
        serve_violations: bool,
    },
}

/// `100/10s`, `5/500ms`, `off`.
fn parse_rate_limit(text: &str) -> Result<Option<RateLimit>> {
    if text == "off" || text == "none" {
        return Ok(None);
    }
    let usage = || format!("--rate-limit {text:?}: expected REQUESTS/WINDOW such as 100/10s or 5/500ms, or off");
    let (requests, window) = text.split_once('/').with_context(usage)?;
    let requests: u32 = requests.trim().parse().with_context(usage)?;
    let window = window.trim();
    let window = if let Some(ms) = window.strip_suffix("ms") {
        Duration::from_millis(ms.parse().with_context(usage)?)
    } else if let Some(secs) = window.strip_suffix('s') {
        Duration::from_secs_f64(secs.parse().with_context(usage)?)
    } else {
        bail!(usage());
    };
    Ok(Some(RateLimit::new(requests, window)))
}

async fn serve(command: Command) -> Result<()> {
    let Command::Serve {
        provider,
        port,
        records,
        seed,
        rate_limit,
        proxy,
        webhook_url,
        webhook_secret,
        serve_violations,
    } = command;
    if let Ok(profile) = switchyard_fakes::odata::Profile::built_in(&provider) {
        // An OData v2 service fake (EDMX metadata + profile): rate limits, proxying and
        // webhooks are OpenAPI-fake options it does not take.
        let spec = profile.spec.clone();
        let service = profile.service_path.clone();
        let fake = switchyard_fakes::odata::try_start(
            profile,
            switchyard_fakes::odata::ODataConfig {
                port,
                records,
                ..Default::default()
            },
        )
        .with_context(|| format!("could not serve the fake {provider}"))?;
        println!("{provider} {}{service}", fake.base_url());
        eprintln!(
            "{provider}: OData v2 service checked against {spec}; violations at {}/_fake/violations",
            fake.base_url()
        );
        tokio::signal::ctrl_c().await.context("could not wait for Ctrl-C")?;
        return Ok(());
    }
    let override_limit = rate_limit.as_deref().map(parse_rate_limit).transpose()?;
    let mut options = FakeOptions {
        port,
        records,
        seed,
        proxy,
        webhook_url,
        webhook_secret,
        reject_violations: !serve_violations,
        ..FakeOptions::default()
    };
    if let Some(Some(limit)) = override_limit {
        options.rate_limit = Some(limit);
    }
    let fake = FakeServer::start(&provider, options).with_context(|| format!("could not serve the fake {provider}"))?;
    if let Some(None) = override_limit {
        fake.set_rate_limit(None);
    }
    println!("{provider} {}", fake.base_url());
    eprintln!(
        "{provider}: {} checked against {}; violations at {}/_fake/violations",
        fake.profile()
            .collections
            .iter()
            .map(|c| format!("{} ({})", c.name, fake.count(&c.name)))
            .collect::<Vec<_>>()
            .join(", "),
        fake.spec().files.join(", "),
        fake.base_url(),
    );
    tokio::signal::ctrl_c().await.context("could not wait for Ctrl-C")?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")));
    if let Some(command) = args.command {
        // `serve`: one line per request and per violation on stderr; stdout has the URL.
        subscriber
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
        return serve(command).await;
    }
    subscriber.with_ansi(std::io::stdout().is_terminal()).init();
    if args.hubspot_port.is_none()
        && args.slack_port.is_none()
        && args.webhook_sink_port.is_none()
        && args.source_port.is_none()
    {
        bail!(
            "no fake selected: pass at least one of --hubspot-port, --slack-port, --webhook-sink-port, --source-port"
        );
    }
    let in_use = |name: &str, port: u16| format!("could not serve the fake {name} on 127.0.0.1:{port} (port in use?)");

    let _hubspot = match args.hubspot_port {
        Some(port) => {
            let mut schema = hubspot::PropertySchema::default();
            schema.allow_unknown = args.hubspot_allow_unknown_properties;
            let fake = hubspot::try_start(hubspot::HubspotConfig {
                port,
                tokens: args.hubspot_tokens.clone(),
                rate_limit: RateLimit::new(args.hubspot_rate_limit, Duration::from_millis(args.hubspot_window_ms)),
                schema,
                ..hubspot::HubspotConfig::default()
            })
            .with_context(|| in_use("HubSpot", port))?;
            println!("hubspot       {}", fake.base_url);
            Some(fake)
        }
        None => None,
    };
    let _slack = match args.slack_port {
        Some(port) => {
            let fake = slack::try_start(slack::SlackConfig {
                port,
                tokens: args.slack_tokens.clone(),
                ..slack::SlackConfig::default()
            })
            .with_context(|| in_use("Slack", port))?;
            println!("slack         {}", fake.base_url);
            Some(fake)
        }
        None => None,
    };
    let _sink = match args.webhook_sink_port {
        Some(port) => {
            let fake = webhook_sink::try_start(webhook_sink::SinkConfig {
                port,
                secret: args.webhook_secret.clone(),
                ..webhook_sink::SinkConfig::default()
            })
            .with_context(|| in_use("webhook sink", port))?;
            println!("webhook sink  {}", fake.base_url);
            Some(fake)
        }
        None => None,
    };
    let _source = match args.source_port {
        Some(port) => {
            let fake = paged_source::try_start(paged_source::SourceConfig {
                port,
                records: args.source_records,
                ..paged_source::SourceConfig::default()
            })
            .with_context(|| in_use("paged source", port))?;
            println!("paged source  {}/records", fake.base_url);
            Some(fake)
        }
        None => None,
    };

    tokio::signal::ctrl_c().await.context("could not wait for Ctrl-C")?;
    Ok(())
}
