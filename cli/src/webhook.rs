//! `switchyard webhook ...`

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use secrecy::SecretString;
use switchyard::webhook::{
    self, GenericHmac, Headers, HubspotConfig, HubspotVersion, Scheme, SecretUsed, SigningSecrets, VerifyOptions,
    WebhookRequest,
};

use crate::{input_file, Outcome};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Verify a webhook delivery's signature. Prints `valid` (exit 0) or `invalid: <reason>` (exit 1).
    ///
    /// Give the body exactly as received (raw bytes; re-serialised JSON will not verify) and the
    /// delivery's headers. Example:
    ///
    ///   switchyard webhook verify --scheme stripe --secret-file whsec.txt \
    ///     --header 'Stripe-Signature: t=1700000000,v1=5257a8...' --body-file event.json
    Verify(Box<VerifyArgs>),
    /// Sign a body the way a provider would, and print the headers (one `Name: value` per line).
    ///
    /// For testing your own endpoint or replaying a sample event with a fresh timestamp:
    ///
    ///   switchyard webhook sign --scheme stripe --secret-file whsec.txt --body-file event.json
    Sign(Box<SignArgs>),
    /// List the signature schemes `verify` and `sign` understand.
    Schemes,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Signature scheme (see `switchyard webhook schemes`).
    #[arg(long)]
    scheme: String,
    /// File holding the signing secret (a trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    secret_file: PathBuf,
    /// File holding the body to sign, byte for byte.
    #[arg(long, value_name = "FILE")]
    body_file: PathBuf,
    /// HTTP method (HubSpot v3 signs it).
    #[arg(long, default_value = "POST")]
    method: String,
    /// Full URL the provider would call (HubSpot and Twilio sign it).
    #[arg(long, value_name = "URL", default_value = "")]
    url: String,
    /// Timestamp to sign, Unix seconds; default now.
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,
    /// Standard Webhooks message id (`webhook-id`); default derived from the body.
    #[arg(long, value_name = "ID")]
    message_id: Option<String>,
    /// JSON or YAML file describing a generic HMAC scheme (with --scheme generic).
    #[arg(long, value_name = "FILE")]
    generic_config: Option<PathBuf>,
    /// HubSpot signature versions the receiving connection accepts (default v3); the newest
    /// is signed.
    #[arg(long, value_name = "VERSIONS", value_delimiter = ',')]
    hubspot_signature_versions: Vec<HubspotVersion>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Signature scheme: stripe, standard-webhooks (svix), github, slack, shopify, hubspot,
    /// intuit (quickbooks), xero, calendly, twilio, or generic (with --generic-config).
    #[arg(long)]
    scheme: String,
    /// File holding the signing secret (a trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    secret_file: PathBuf,
    /// File holding the previous secret, accepted during a rotation.
    #[arg(long, value_name = "FILE")]
    previous_secret_file: Option<PathBuf>,
    /// A request header as `Name: value`; repeat for each header.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// File holding the raw request body.
    #[arg(long, value_name = "FILE")]
    body_file: PathBuf,
    /// HTTP method of the delivery (HubSpot v2/v3 sign it).
    #[arg(long, default_value = "POST")]
    method: String,
    /// Full URL the provider called, query included (HubSpot v2/v3 and Twilio sign it).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Check timestamps as of this Unix time instead of now (to re-check an old delivery).
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,
    /// Accepted clock difference for timestamped schemes, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = webhook::DEFAULT_TOLERANCE_SECS)]
    tolerance: u64,
    /// JSON or YAML file describing a generic HMAC scheme (header, algorithm, encoding, prefix, template).
    #[arg(long, value_name = "FILE")]
    generic_config: Option<PathBuf>,
    /// HubSpot signature versions to accept, comma-separated (default v3 only, as a new
    /// connection). v1 and v2 sign no timestamp: allow them only to check such a connection.
    #[arg(long, value_name = "VERSIONS", value_delimiter = ',')]
    hubspot_signature_versions: Vec<HubspotVersion>,
}

pub fn run(cmd: WebhookCommand) -> Outcome {
    match cmd {
        WebhookCommand::Schemes => {
            for name in Scheme::NAMES {
                println!("{name}");
            }
            Ok(true)
        }
        WebhookCommand::Verify(args) => verify(*args),
        WebhookCommand::Sign(args) => sign(*args),
    }
}

/// Reads a secret from a file, dropping one trailing newline.
pub fn read_secret(path: &Path) -> anyhow::Result<SecretString> {
    let raw = input_file::read_to_string(path, "secret file", input_file::SECRET_LIMIT)?;
    let trimmed = raw.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        bail!("secret file {} is empty", path.display());
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// Parses `--scheme` (with `--generic-config` for the generic scheme, and
/// `--hubspot-signature-versions` for HubSpot: empty means the default, v3 only).
pub fn parse_scheme(
    name: &str,
    generic_config: Option<&Path>,
    hubspot_versions: &[HubspotVersion],
) -> anyhow::Result<Scheme> {
    let scheme = parse_scheme_name(name, generic_config)?;
    match scheme {
        Scheme::Hubspot(_) if !hubspot_versions.is_empty() => Ok(Scheme::Hubspot(HubspotConfig::accepting(
            hubspot_versions.iter().copied(),
        ))),
        _ if !hubspot_versions.is_empty() => bail!("--hubspot-signature-versions only goes with the hubspot scheme"),
        scheme => Ok(scheme),
    }
}

fn parse_scheme_name(name: &str, generic_config: Option<&Path>) -> anyhow::Result<Scheme> {
    if name.eq_ignore_ascii_case("generic") {
        let Some(path) = generic_config else {
            bail!(
                "--scheme generic needs --generic-config FILE describing the header, algorithm, encoding and template"
            );
        };
        let text = input_file::read_to_string(path, "generic scheme configuration", input_file::CONFIG_LIMIT)?;
        let cfg: GenericHmac =
            serde_yaml::from_str(&text).with_context(|| format!("{} is not a valid generic scheme", path.display()))?;
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("{} is not a valid generic scheme: {e}", path.display()))?;
        return Ok(Scheme::Generic(cfg));
    }
    if generic_config.is_some() {
        bail!("--generic-config only goes with --scheme generic");
    }
    Scheme::from_name(name).map_err(|e| anyhow::anyhow!("{e} (see `switchyard webhook schemes`)"))
}

fn sign(args: SignArgs) -> Outcome {
    let scheme = parse_scheme(
        &args.scheme,
        args.generic_config.as_deref(),
        &args.hubspot_signature_versions,
    )?;
    let secret = read_secret(&args.secret_file)?;
    let body = input_file::read(&args.body_file, "body file", input_file::BODY_LIMIT)?;
    let input = webhook::SignInput {
        method: &args.method,
        url: &args.url,
        body: &body,
        secret: &secret,
        now: args.now.unwrap_or_else(|| VerifyOptions::default().now),
        message_id: args.message_id.as_deref(),
    };
    for (name, value) in webhook::sign(&scheme, &input)? {
        println!("{name}: {value}");
    }
    Ok(true)
}

fn parse_header(raw: &str) -> anyhow::Result<(String, String)> {
    let Some((name, value)) = raw.split_once(':') else {
        bail!("header {raw:?} is not of the form 'Name: value'");
    };
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        bail!("header {raw:?} has no valid name before ':'");
    }
    Ok((name.to_string(), value.trim().to_string()))
}

fn verify(args: VerifyArgs) -> Outcome {
    let scheme = parse_scheme(
        &args.scheme,
        args.generic_config.as_deref(),
        &args.hubspot_signature_versions,
    )?;
    if matches!(scheme, Scheme::Hubspot(_) | Scheme::Twilio) && args.url.is_none() {
        bail!(
            "scheme {} signs the request URL: pass --url with the full URL the provider called",
            scheme.name()
        );
    }
    let secrets = SigningSecrets {
        current: read_secret(&args.secret_file)?,
        previous: args.previous_secret_file.as_deref().map(read_secret).transpose()?,
    };
    let mut headers = Headers::new();
    for raw in &args.headers {
        let (name, value) = parse_header(raw)?;
        headers.insert(&name, &value);
    }
    let body = input_file::read(&args.body_file, "body file", input_file::BODY_LIMIT)?;
    let defaults = VerifyOptions::default();
    let opts = VerifyOptions {
        now: args.now.unwrap_or(defaults.now),
        tolerance_secs: args.tolerance,
    };
    let req = WebhookRequest {
        method: &args.method,
        url: args.url.as_deref().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    match webhook::verify(&scheme, &req, &secrets, &opts) {
        Ok(v) => {
            println!("valid");
            if v.secret == SecretUsed::Previous {
                eprintln!("note: it matched the previous secret, not the current one");
            }
            Ok(true)
        }
        Err(rejection) => {
            println!("invalid: {rejection}");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_argument_needs_a_colon() {
        assert!(parse_header("Stripe-Signature t=1").is_err());
        assert_eq!(
            parse_header("Stripe-Signature: t=1,v1=a:b").unwrap(),
            ("Stripe-Signature".to_string(), "t=1,v1=a:b".to_string())
        );
    }

    #[test]
    fn generic_scheme_without_config_is_a_usage_error() {
        let err = parse_scheme("generic", None, &[]).unwrap_err().to_string();
        assert!(err.contains("--generic-config"), "{err}");
    }

    #[test]
    fn hubspot_versions_default_to_v3_and_go_only_with_hubspot() {
        assert_eq!(
            parse_scheme("hubspot", None, &[]).unwrap(),
            Scheme::Hubspot(HubspotConfig::default())
        );
        assert_eq!(
            parse_scheme("hubspot", None, &[HubspotVersion::V2, HubspotVersion::V3]).unwrap(),
            Scheme::Hubspot(HubspotConfig::accepting([HubspotVersion::V3, HubspotVersion::V2]))
        );
        let err = parse_scheme("stripe", None, &[HubspotVersion::V1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("hubspot"), "{err}");
    }
}
