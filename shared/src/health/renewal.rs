//! Webhook subscriptions at the provider renewed before they expire (a definition's
//! `webhooks.renewal`: Microsoft Graph's change-notification subscriptions live at most days).
//!
//! After a connection's check succeeds, the health checker lists the provider's subscriptions
//! that deliver to the connection, renews each one expiring within the definition's margin to
//! `now + lifetime_secs`, and records every subscription's expiry on the health record. A
//! refused renewal is kept on the record with its error and alerted once per failing episode
//! (a later successful renewal clears it); the connection's state and circuit are not touched,
//! as the API itself answers.

use std::collections::BTreeMap;

use serde_json::json;

use super::alert::Notice;
use super::state::SubscriptionRenewal;
use crate::connector::definition::RenewalSpec;
use crate::connector::{ConnectorClient, ConnectorError, ProviderSubscription};
use crate::store::connections::Connection;

/// What one renewal pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewals {
    /// Every listed subscription of the connection, as it stands after the pass (those no
    /// longer listed are dropped: the provider deleted or expired them).
    pub subscriptions: BTreeMap<String, SubscriptionRenewal>,
    /// Subscriptions renewed in this pass.
    pub renewed: usize,
    /// Subscriptions whose renewal was refused in this pass, by id.
    pub failed: Vec<String>,
}

/// Whether a subscription expiring at `expires_at` is renewed at `now` (an unreadable expiry is).
pub fn due(expires_at: Option<i64>, now: i64, margin_secs: i64) -> bool {
    expires_at.is_none_or(|at| at - now < margin_secs)
}

/// Lists the connection's subscriptions and renews those due. `prev`: the record's last view.
pub async fn renew_due(
    client: &ConnectorClient,
    spec: &RenewalSpec,
    conn: &Connection,
    prev: &BTreeMap<String, SubscriptionRenewal>,
    now: i64,
) -> Result<Renewals, ConnectorError> {
    let listed: Vec<ProviderSubscription> = client.webhook_subscriptions(&conn.id).await?;
    let mut out = Renewals::default();
    for sub in listed {
        let before = prev.get(&sub.id).cloned().unwrap_or_default();
        let record = if due(sub.expires_at, now, spec.margin_secs) {
            match client
                .renew_webhook_subscription(&sub.id, now + spec.lifetime_secs)
                .await
            {
                Ok(expires_at) => {
                    out.renewed += 1;
                    SubscriptionRenewal {
                        expires_at: Some(expires_at),
                        renewed_at: Some(now),
                        error: None,
                        alerted: false,
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        message = "Renewing a webhook subscription failed.",
                        connection_id = %conn.id,
                        subscription_id = %sub.id,
                        error = %e.message
                    );
                    out.failed.push(sub.id.clone());
                    SubscriptionRenewal {
                        expires_at: sub.expires_at,
                        renewed_at: before.renewed_at,
                        error: Some(e.message.clone()),
                        // Still the same failing episode: its alert went out already.
                        alerted: before.error.is_some() && before.alerted,
                    }
                }
            }
        } else {
            SubscriptionRenewal {
                expires_at: sub.expires_at,
                renewed_at: before.renewed_at,
                error: None,
                alerted: false,
            }
        };
        out.subscriptions.insert(sub.id, record);
    }
    Ok(out)
}

/// The alert for a subscription whose renewal failed.
pub fn notice(conn: &Connection, id: &str, record: &SubscriptionRenewal, now: i64) -> Notice {
    let expiry = record
        .expires_at
        .map_or_else(|| "an unknown time".to_owned(), super::alert::rfc3339);
    let text = format!(
        "Connection {} ({}, {}): webhook subscription {id} could not be renewed; it expires at {expiry} and notifications stop then. Error: {}",
        conn.name,
        conn.id,
        conn.provider,
        record.error.as_deref().unwrap_or("unknown")
    );
    Notice {
        subject: conn.id.clone(),
        idempotency_key: format!("{}:renewal:{id}:{now}", conn.id),
        body: json!({
            "type": "connection.subscription_renewal_failed",
            "connection_id": conn.id,
            "tenant": conn.tenant,
            "provider": conn.provider,
            "name": conn.name,
            "subscription_id": id,
            "expires_at": record.expires_at,
            "error": record.error,
            "text": text,
        }),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_is_due_within_the_margin_or_without_a_readable_expiry() {
        assert!(due(Some(1_000 + 3_599), 1_000, 3_600));
        assert!(!due(Some(1_000 + 3_600), 1_000, 3_600));
        assert!(due(Some(900), 1_000, 3_600), "already past");
        assert!(due(None, 1_000, 3_600));
    }
}
