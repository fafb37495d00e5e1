//! Administrative operations shared by the CLI (and, later, the admin API).

use secrecy::{ExposeSecret, SecretString};

use crate::secrets::{ConnectionSecretValue, SecretError, SecretStore};
use crate::store::connections::{Connection, ConnectionStore};
use crate::store::StoreError;

/// A failure creating a connection.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Invalid(String),
}

/// The secret name a connection's credentials are stored under.
pub fn secret_name(tenant: &str, connection_id: &str) -> String {
    format!("switchyard/{tenant}/{connection_id}")
}

/// Webhook secrets given when creating a connection.
pub struct NewWebhookSecrets {
    pub current: SecretString,
    pub previous: Option<SecretString>,
}

/// Creates a connection: its secret (webhook secrets and connector credentials such as an API
/// key or OAuth tokens) in Secrets Manager first, then the item (holding the ARN) in DynamoDB.
/// If the item cannot be written the secret is deleted again, so a failure leaves nothing behind.
pub async fn create_connection(
    connections: &ConnectionStore,
    secrets: &SecretStore,
    mut conn: Connection,
    webhook: Option<NewWebhookSecrets>,
    credentials: serde_json::Map<String, serde_json::Value>,
) -> Result<Connection, AdminError> {
    crate::store::table::validate_id("connection id", &conn.id)?;
    crate::store::table::validate_id("tenant", &conn.tenant)?;
    let awaits_handshake = conn.webhook.as_ref().is_some_and(|w| w.handshake_until.is_some());
    if let Some(settings) = &conn.webhook {
        if awaits_handshake && !settings.scheme.secret_set_by_handshake() {
            return Err(AdminError::Invalid(format!(
                "the {} scheme has no handshake that sets the webhook secret; give it with --webhook-secret-file",
                settings.scheme.name()
            )));
        }
    }
    if conn.webhook.is_some() && webhook.is_none() && !awaits_handshake {
        return Err(AdminError::Invalid(
            "a webhook scheme needs a webhook secret (--webhook-secret-file), or, for a provider that \
             sends it in a handshake (asana), --await-handshake"
                .into(),
        ));
    }
    if connections.get(&conn.id).await?.is_some() {
        return Err(StoreError::AlreadyExists {
            kind: "connection",
            id: conn.id.clone(),
        }
        .into());
    }
    if credentials
        .keys()
        .any(|k| k == "webhook_secret" || k == "previous_webhook_secret")
    {
        return Err(AdminError::Invalid(
            "give webhook secrets with --webhook-secret-file, not in the credentials".into(),
        ));
    }
    let arn = if webhook.is_none() && credentials.is_empty() && !awaits_handshake {
        None
    } else {
        let value = ConnectionSecretValue {
            webhook_secret: webhook.as_ref().map(|w| w.current.expose_secret().to_string()),
            previous_webhook_secret: webhook
                .as_ref()
                .and_then(|w| w.previous.as_ref())
                .map(|p| p.expose_secret().to_string()),
            other: credentials,
        };
        Some(secrets.create(&secret_name(&conn.tenant, &conn.id), &value).await?)
    };
    conn.secret_arn = arn.clone();
    if let Err(e) = connections.create(&conn).await {
        if let Some(arn) = arn {
            if let Err(cleanup) = secrets.delete_now(&arn).await {
                tracing::error!(message = "Could not delete the secret of a connection that failed to save.", arn = %arn, error = %cleanup);
            }
        }
        return Err(e.into());
    }
    Ok(conn)
}
