//! The demo `switchyard local up` seeds: a Stripe connection to localstripe, a HubSpot connection
//! to the fake HubSpot, a Stripe customers -> HubSpot contacts flow, and localstripe set to send
//! signed webhooks to the local receiver.

use anyhow::Context;
use secrecy::SecretString;
use serde_json::json;
use switchyard::admin::{create_connection, AdminError, NewWebhookSecrets};
use switchyard::clock::{Clock, SystemClock};
use switchyard::store::connections::{Connection, WebhookSettings};
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::StoreError;
use switchyard::sync::SyncDeps;
use switchyard::webhook::Scheme;

pub const TENANT: &str = "demo";
pub const STRIPE_CONNECTION: &str = "conn_stripe_demo";
pub const HUBSPOT_CONNECTION: &str = "conn_hubspot_demo";
pub const FLOW: &str = "stripe-customers-to-hubspot";
/// The demo's webhook secret between localstripe and the receiver (local only).
pub const WEBHOOK_SECRET: &str = "whsec_switchyard_local_demo";
pub const STRIPE_API_KEY: &str = "sk_test_12345";

/// Stripe customer -> HubSpot contact.
pub const MAPPING: &str = r#"((.name // "") | split(" ")) as $name
| { properties: {
    email: .email,
    firstname: ($name[0] // ""),
    lastname: ($name[1:] | join(" ")),
    stripe_customer_id: .id
} }"#;

pub(super) fn ignore_existing(r: Result<Connection, AdminError>) -> anyhow::Result<()> {
    match r {
        Ok(_) | Err(AdminError::Store(StoreError::AlreadyExists { .. })) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Seeds the demo (what already exists is kept) and points localstripe's webhooks at the receiver.
pub async fn seed(
    deps: &SyncDeps,
    stripe_url: &str,
    hubspot_url: &str,
    receiver_url: &str,
    hubspot_token: &str,
) -> anyhow::Result<()> {
    let now = SystemClock.now_unix();
    let stripe = Connection {
        id: STRIPE_CONNECTION.into(),
        tenant: TENANT.into(),
        provider: "stripe".into(),
        name: "Stripe (localstripe)".into(),
        webhook: Some(WebhookSettings {
            scheme: Scheme::Stripe,
            tolerance_secs: None,
            handshake_until: None,
        }),
        secret_arn: None,
        config: json!({"base_url": stripe_url}).as_object().cloned().unwrap_or_default(),
        created_at: now,
    };
    ignore_existing(
        create_connection(
            &deps.connections,
            &deps.secrets,
            stripe,
            Some(NewWebhookSecrets {
                current: SecretString::from(WEBHOOK_SECRET.to_string()),
                previous: None,
            }),
            json!({"api_key": STRIPE_API_KEY})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
        .await,
    )?;
    let hubspot = Connection {
        id: HUBSPOT_CONNECTION.into(),
        tenant: TENANT.into(),
        provider: "hubspot".into(),
        name: "HubSpot (fake)".into(),
        webhook: None,
        secret_arn: None,
        config: json!({"base_url": hubspot_url})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        created_at: now,
    };
    ignore_existing(
        create_connection(
            &deps.connections,
            &deps.secrets,
            hubspot,
            None,
            json!({"access_token": hubspot_token})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
        .await,
    )?;
    let flow = Flow {
        id: FLOW.into(),
        tenant: TENANT.into(),
        name: "Stripe customers to HubSpot contacts".into(),
        source_connection: STRIPE_CONNECTION.into(),
        source_stream: "customers".into(),
        destination_connection: HUBSPOT_CONNECTION.into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: MAPPING.into(),
        mode: SyncMode::Incremental,
        schedule_interval_secs: Some(300),
        event_types: vec![],
        enabled: true,
        created_at: now,
        cursor: None,
        next_run_at: Some(now),
        retry_schedule_secs: None,
        reverse_flow: None,
        on_conflict: Default::default(),
        lookups: Vec::new(),
        match_on_create: None,
        on_delete: Default::default(),
        archive_mapping: None,
    };
    match deps.flows.create(&flow).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let resp = reqwest::Client::new()
        .post(format!("{stripe_url}/_config/webhooks/switchyard-local"))
        .json(&json!({
            "url": format!("{receiver_url}/hooks/{STRIPE_CONNECTION}"),
            "secret": WEBHOOK_SECRET,
            "events": ["customer.created", "customer.updated"],
        }))
        .send()
        .await
        .context("localstripe did not answer the webhook registration")?;
    anyhow::ensure!(
        resp.status().is_success(),
        "localstripe refused the webhook registration: {}",
        resp.status()
    );
    Ok(())
}
