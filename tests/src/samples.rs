//! The sample webhook deliveries in `events/webhook-receiver/`: which provider, secret, body,
//! connection and extra headers each has. Shared by the generator (`examples/make_events.rs`)
//! and the test that replays every sample through the receiver.

use std::path::Path;

use anyhow::Context;
use secrecy::SecretString;
use serde_json::{json, Value};
use switchyard::webhook::{self, Scheme, SignInput};

/// The time the committed samples are signed at (2025-11-22T08:26:40Z).
pub const SAMPLE_TIME: i64 = 1_763_800_000;
/// The API Gateway domain the samples pretend to arrive on (HubSpot and Twilio sign the URL).
pub const SAMPLE_DOMAIN: &str = "abc123.execute-api.us-east-1.amazonaws.com";

/// One sample delivery.
pub struct Sample {
    /// File stem in events/webhook-receiver/.
    pub name: &'static str,
    /// Scheme name (`Scheme::from_name`).
    pub scheme: &'static str,
    /// File in events/test-secrets/.
    pub secret: &'static str,
    /// File in events/webhook-receiver/bodies/.
    pub body: &'static str,
    pub connection_id: &'static str,
    pub content_type: &'static str,
    /// Provider headers other than the signature.
    pub headers: &'static [(&'static str, &'static str)],
    /// Event ids the receiver should enqueue (empty for a handshake).
    pub event_ids: &'static [&'static str],
}

const JSON: &str = "application/json";

pub const SAMPLES: &[Sample] = &[
    Sample {
        name: "stripe",
        scheme: "stripe",
        secret: "stripe.txt",
        body: "stripe.json",
        connection_id: "conn_stripe_sample",
        content_type: "application/json; charset=utf-8",
        headers: &[("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")],
        event_ids: &["evt_1QdemoB7WZ01zgkWcustcrt1"],
    },
    Sample {
        name: "standard-webhooks",
        scheme: "standard-webhooks",
        secret: "standard-webhooks.txt",
        body: "standard-webhooks.json",
        connection_id: "conn_svix_sample",
        content_type: JSON,
        headers: &[],
        event_ids: &["msg_2fK1demoStandardWebhooks"],
    },
    Sample {
        name: "github",
        scheme: "github",
        secret: "github.txt",
        body: "github.json",
        connection_id: "conn_github_sample",
        content_type: JSON,
        headers: &[
            ("X-GitHub-Event", "pull_request"),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("X-GitHub-Hook-ID", "292430182"),
        ],
        event_ids: &["72d3162e-cc78-11e3-81ab-4c9367dc0958"],
    },
    Sample {
        name: "slack",
        scheme: "slack",
        secret: "slack.txt",
        body: "slack.json",
        connection_id: "conn_slack_sample",
        content_type: JSON,
        headers: &[],
        event_ids: &["Ev123ABC456"],
    },
    Sample {
        name: "slack-url-verification",
        scheme: "slack",
        secret: "slack.txt",
        body: "slack-url-verification.json",
        connection_id: "conn_slack_sample",
        content_type: JSON,
        headers: &[],
        event_ids: &[],
    },
    Sample {
        name: "shopify",
        scheme: "shopify",
        secret: "shopify.txt",
        body: "shopify.json",
        connection_id: "conn_shopify_sample",
        content_type: JSON,
        headers: &[
            ("X-Shopify-Topic", "orders/create"),
            ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
            ("X-Shopify-Shop-Domain", "example.myshopify.com"),
            ("X-Shopify-API-Version", "2025-10"),
        ],
        event_ids: &["b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"],
    },
    Sample {
        name: "hubspot",
        scheme: "hubspot",
        secret: "hubspot.txt",
        body: "hubspot.json",
        connection_id: "conn_hubspot_sample",
        content_type: JSON,
        headers: &[],
        event_ids: &["1001", "1002"],
    },
    Sample {
        name: "intuit",
        scheme: "intuit",
        secret: "intuit.txt",
        body: "intuit.json",
        connection_id: "conn_quickbooks_sample",
        content_type: JSON,
        headers: &[],
        event_ids: &["8279335863ad2dd8d54872f6bc12bc5ff6e69696d88b3b68be80bd7a2ffb22d7"],
    },
    Sample {
        name: "xero",
        scheme: "xero",
        secret: "xero.txt",
        body: "xero.json",
        connection_id: "conn_xero_sample",
        content_type: JSON,
        headers: &[],
        event_ids: &["6fa55708cf02d2596fab81b3d0d7d419572939abcb9d73ffb1ea2b22c55956e4"],
    },
    Sample {
        name: "calendly",
        scheme: "calendly",
        secret: "calendly.txt",
        body: "calendly.json",
        connection_id: "conn_calendly_sample",
        content_type: JSON,
        headers: &[],
        event_ids: &["f71b2ee3cb666c59024cddf2145a7f659f727db8469fa8403f3ffea4bee44815"],
    },
    Sample {
        name: "twilio",
        scheme: "twilio",
        secret: "twilio.txt",
        body: "twilio.txt",
        connection_id: "conn_twilio_sample",
        content_type: "application/x-www-form-urlencoded",
        headers: &[("I-Twilio-Idempotency-Token", "a1b2c3d4-0000-4000-8000-twiliodemo01")],
        event_ids: &["a1b2c3d4-0000-4000-8000-twiliodemo01"],
    },
];

/// Reads a sample's test secret.
pub fn secret(root: &Path, sample: &Sample) -> anyhow::Result<String> {
    let path = root.join("test-secrets").join(sample.secret);
    let raw = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(raw.trim_end().to_string())
}

/// Builds the signed API Gateway v2 event of a sample at time `now`.
pub fn build_event(root: &Path, sample: &Sample, now: i64) -> anyhow::Result<Value> {
    let body_path = root.join("webhook-receiver/bodies").join(sample.body);
    let body = std::fs::read(&body_path).with_context(|| format!("reading {}", body_path.display()))?;
    let scheme = Scheme::from_name(sample.scheme).map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = format!("/hooks/{}", sample.connection_id);
    let url = format!("https://{SAMPLE_DOMAIN}{path}");
    let secret = SecretString::from(secret(root, sample)?);
    let message_id = (sample.name == "standard-webhooks").then_some("msg_2fK1demoStandardWebhooks");
    let signed = webhook::sign(
        &scheme,
        &SignInput {
            method: "POST",
            url: &url,
            body: &body,
            secret: &secret,
            now,
            message_id,
        },
    )?;
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), json!(sample.content_type));
    headers.insert("host".into(), json!(SAMPLE_DOMAIN));
    headers.insert("x-forwarded-proto".into(), json!("https"));
    for (k, v) in sample
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(signed)
    {
        headers.insert(k.to_ascii_lowercase(), json!(v));
    }
    let text = String::from_utf8(body).context("sample bodies are UTF-8")?;
    Ok(json!({
        "version": "2.0",
        "routeKey": "POST /hooks/{connection_id}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": {"connection_id": sample.connection_id},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": SAMPLE_DOMAIN,
            "domainPrefix": "abc123",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "sample"},
            "requestId": format!("sample-{}", sample.name),
            "routeKey": "POST /hooks/{connection_id}",
            "stage": "$default",
            "time": "22/Nov/2025:08:26:40 +0000",
            "timeEpoch": now * 1000
        },
        "body": text,
        "isBase64Encoded": false
    }))
}

/// The replay window of the sample connections: ten years, so the committed samples (signed at
/// [`SAMPLE_TIME`]) verify when invoked locally.
pub const SAMPLE_TOLERANCE_SECS: u64 = 10 * 365 * 24 * 3600;

/// The provider of a sample's connection: the middle of `conn_<provider>_sample`.
pub fn provider(sample: &Sample) -> &'static str {
    sample
        .connection_id
        .strip_prefix("conn_")
        .and_then(|s| s.strip_suffix("_sample"))
        .unwrap_or(sample.scheme)
}

/// `events/webhook-receiver/connections.json`: the connections the samples are signed for, which
/// `switchyard local up` (and `local init --samples`) register so the samples can be invoked with
/// `cargo lambda invoke`. Secret paths are relative to the manifest. The samples are signed at a
/// fixed time, so these connections (and only these) widen their replay window to ten years.
pub fn connections_manifest() -> Value {
    let mut seen = std::collections::BTreeSet::new();
    let entries: Vec<Value> = SAMPLES
        .iter()
        .filter(|s| seen.insert(s.connection_id))
        .map(|s| {
            json!({
                "connection_id": s.connection_id,
                "provider": provider(s),
                "scheme": s.scheme,
                "webhook_secret_file": format!("../test-secrets/{}", s.secret),
                "tolerance_secs": SAMPLE_TOLERANCE_SECS,
            })
        })
        .collect();
    json!({
        "tenant": "samples",
        "note": "Connections for the samples in this directory, registered by `switchyard local up`. Public test secrets from the providers' SDK test suites and a ten-year replay window: for local samples only, never for a real connection.",
        "connections": entries,
    })
}
