//! Connection credentials in Secrets Manager.
//!
//! Each connection has one secret whose value is a JSON object. Webhook verification reads
//! `webhook_secret` and, during a rotation, `previous_webhook_secret`; connectors will add their
//! own fields (API keys, OAuth tokens). Values are held as `SecretString` (never printed by
//! `Debug`) and no error message ever contains a secret value.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::cache::TtlCache;
use crate::webhook::SigningSecrets;

/// A failure reading or writing a secret. Never carries the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secrets Manager request {operation} failed ({}): {message}", failure.name())]
    Aws {
        operation: &'static str,
        message: String,
        failure: crate::aws::AwsFailure,
    },
    #[error("secret {arn} was not found")]
    NotFound { arn: String },
    #[error("secret {arn} has no usable value: {reason}")]
    Invalid { arn: String, reason: &'static str },
}

impl SecretError {
    fn aws<E, R>(operation: &'static str, err: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
        R: crate::aws::HttpStatus + std::fmt::Debug + 'static,
    {
        SecretError::Aws {
            operation,
            failure: crate::aws::classify_sdk_error(&err),
            message: crate::aws::describe_sdk_error(&err),
        }
    }

    /// Whether a later attempt may succeed without a person acting.
    pub fn is_retriable(&self) -> bool {
        matches!(self, SecretError::Aws { failure, .. } if failure.is_retriable())
    }
}

/// The JSON document stored as a connection's secret value.
#[derive(Serialize, Deserialize, Default)]
pub struct ConnectionSecretValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_webhook_secret: Option<String>,
    /// Fields that belong to the connector (API keys, OAuth tokens), kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for ConnectionSecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSecretValue")
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "[redacted]"))
            .field(
                "previous_webhook_secret",
                &self.previous_webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("other", &self.other.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses a secret value into webhook signing secrets.
pub fn webhook_secrets_from_value(arn: &str, value: &str) -> Result<SigningSecrets, SecretError> {
    // serde_json's messages can quote the input, so the error is replaced, never passed on.
    let parsed: ConnectionSecretValue = serde_json::from_str(value).map_err(|_| SecretError::Invalid {
        arn: arn.to_string(),
        reason: "the value is not a JSON object of strings",
    })?;
    let current = parsed
        .webhook_secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SecretError::Invalid {
            arn: arn.to_string(),
            reason: "it has no webhook_secret field",
        })?;
    Ok(SigningSecrets {
        current: SecretString::from(current),
        previous: parsed
            .previous_webhook_secret
            .filter(|s| !s.is_empty())
            .map(SecretString::from),
    })
}

/// Reads connection secrets, caching webhook secrets for a warm process.
#[derive(Debug)]
pub struct SecretStore {
    client: aws_sdk_secretsmanager::Client,
    webhook_cache: TtlCache<String, Arc<SigningSecrets>>,
}

impl SecretStore {
    pub fn new(client: aws_sdk_secretsmanager::Client, ttl: Duration) -> Self {
        Self {
            client,
            webhook_cache: TtlCache::new(ttl, 1024),
        }
    }

    /// The raw secret string (not cached).
    pub async fn get_value(&self, arn: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    SecretError::NotFound { arn: arn.to_string() }
                } else {
                    SecretError::aws("GetSecretValue", e)
                }
            })?;
        out.secret_string.ok_or_else(|| SecretError::Invalid {
            arn: arn.to_string(),
            reason: "it has no string value",
        })
    }

    /// The webhook signing secrets of a connection, from the cache when fresh.
    pub async fn webhook_secrets(&self, arn: &str) -> Result<Arc<SigningSecrets>, SecretError> {
        if let Some(hit) = self.webhook_cache.get(&arn.to_string()) {
            return Ok(hit);
        }
        let value = self.get_value(arn).await?;
        let secrets = Arc::new(webhook_secrets_from_value(arn, &value)?);
        self.webhook_cache.insert(arn.to_string(), secrets.clone());
        Ok(secrets)
    }

    /// Forgets a cached secret (after a verification failure, a rotated secret may be waiting).
    pub fn invalidate(&self, arn: &str) {
        self.webhook_cache.remove(&arn.to_string());
    }

    /// Writes `fields` into the secret's JSON object, keeping its other fields: how a rotated
    /// OAuth refresh token is stored the moment it arrives.
    pub async fn merge_fields(
        &self,
        arn: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), SecretError> {
        let current = self.get_value(arn).await?;
        let mut doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&current).map_err(|_| SecretError::Invalid {
                arn: arn.to_string(),
                reason: "the value is not a JSON object",
            })?;
        doc.extend(fields);
        self.client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(serde_json::Value::Object(doc).to_string())
            .send()
            .await
            .map_err(|e| SecretError::aws("PutSecretValue", e))?;
        self.webhook_cache.remove(&arn.to_string());
        Ok(())
    }

    /// Writes a new version of the secret: Secrets Manager makes it `AWSCURRENT` and keeps the
    /// version it replaces as `AWSPREVIOUS`.
    pub async fn put_value(&self, arn: &str, value: &ConnectionSecretValue) -> Result<(), SecretError> {
        let body = serde_json::to_string(value).expect("a map of strings always serialises");
        self.client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(body)
            .send()
            .await
            .map_err(|e| SecretError::aws("PutSecretValue", e))?;
        self.webhook_cache.remove(&arn.to_string());
        Ok(())
    }

    /// Creates a secret and returns its ARN.
    pub async fn create(&self, name: &str, value: &ConnectionSecretValue) -> Result<String, SecretError> {
        let body = serde_json::to_string(value).expect("a map of strings always serialises");
        let out = self
            .client
            .create_secret()
            .name(name)
            .secret_string(body)
            .send()
            .await
            .map_err(|e| SecretError::aws("CreateSecret", e))?;
        out.arn.ok_or_else(|| SecretError::Aws {
            operation: "CreateSecret",
            message: "the response had no ARN".into(),
            failure: crate::aws::AwsFailure::Permanent,
        })
    }

    /// Deletes a secret at once (no recovery window): used to leave nothing behind when creating
    /// a connection fails half-way.
    pub async fn delete_now(&self, arn: &str) -> Result<(), SecretError> {
        self.client
            .delete_secret()
            .secret_id(arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| SecretError::aws("DeleteSecret", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_current_and_previous_webhook_secret() {
        let s = webhook_secrets_from_value(
            "arn",
            r#"{"webhook_secret":"whsec_new","previous_webhook_secret":"whsec_old","api_key":"sk"}"#,
        )
        .unwrap();
        assert_eq!(s.current.expose_secret(), "whsec_new");
        assert_eq!(s.previous.as_ref().unwrap().expose_secret(), "whsec_old");
    }

    #[test]
    fn malformed_secret_value_error_does_not_echo_the_value() {
        let err = webhook_secrets_from_value("arn:x", r#"{"webhook_secret": 12345678, "x": "hunter2"}"#).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("12345678") && !msg.contains("hunter2"), "{msg}");
        let err = webhook_secrets_from_value("arn:x", "hunter2-plain").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn missing_webhook_secret_is_reported() {
        let err = webhook_secrets_from_value("arn:x", r#"{"api_key":"k"}"#).unwrap_err();
        assert!(err.to_string().contains("webhook_secret"));
    }

    #[test]
    fn debug_output_redacts_values() {
        let v = ConnectionSecretValue {
            webhook_secret: Some("whsec_topsecret".into()),
            ..Default::default()
        };
        assert!(!format!("{v:?}").contains("topsecret"));
    }
}
