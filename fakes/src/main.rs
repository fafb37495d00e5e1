//! `switchyard-fakes`: serves the fake SaaS APIs on fixed loopback ports for manual runs and the
//! local stack. One log line per request; Ctrl-C stops it.
//!
//! ```text
//! switchyard-fakes --hubspot-port 8401 --slack-port 8402 --webhook-sink-port 8403 --source-port 8404
//! ```

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use switchyard_fakes::{hubspot, paged_source, slack, webhook_sink, RateLimit};
use tracing_subscriber::EnvFilter;

/// Fake HubSpot, Slack, webhook sink and paged source servers, on 127.0.0.1 only.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = Args::parse();
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
