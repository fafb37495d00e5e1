//! Making one delivery attempt (connector-sync, for a [`DeliveryRef`] on the sync queue), and
//! what follows it: the log, the retry, disabling a failing endpoint, the alert.

use std::time::{Duration, Instant};

use serde_json::json;
use tracing::{info, warn};

use crate::health::alert::Notice;
use crate::queue::{DeliveryRef, Envelope, SyncMessage, MAX_DELAY_SECS};
use crate::retry::random_draw;
use crate::store::subscriptions::{Delivery, DeliveryAttempt, DeliveryStatus, Subscription};
use crate::sync::{SyncDeps, SyncError};

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Failed; the next attempt is queued after this many seconds.
    Retrying(u64),
    /// Failed; no more attempts (used up, or the endpoint is disabled).
    Failed,
    /// The subscription no longer exists, a retry's delivery log item is gone (its person was
    /// erased), or a first attempt is about a person erased since it was queued: nothing sent.
    Dropped,
}

/// Whether a person `d`'s payload names was erased since `d` was created (its `dlv_<ulid>`
/// id's time; any erasure the marker remembers when the id is not one). One `BatchGetItem`,
/// and none for a payload that names no one.
async fn erased_since_queued(deps: &SyncDeps, tenant: &str, d: &DeliveryRef) -> Result<bool, SyncError> {
    let subjects = crate::subjects::subjects_of_bytes(tenant, d.payload.as_bytes());
    if subjects.is_empty() {
        return Ok(false);
    }
    let created = d
        .delivery_id
        .strip_prefix("dlv_")
        .and_then(|u| ulid::Ulid::from_string(&u.to_uppercase()).ok())
        .map_or(0, |u| (u.timestamp_ms() / 1000) as i64);
    Ok(deps.subjects.erased_since(&subjects, created).await?)
}

/// One attempt of `d`. `Err` only when the table, the secret or the queue failed (the message
/// is then retried as any sync message is, and the attempt made again).
pub async fn deliver(deps: &SyncDeps, d: &DeliveryRef) -> Result<Outcome, SyncError> {
    let store = &deps.subscriptions;
    let now = deps.clock.now_unix();
    let Some(sub) = store.get(&d.subscription_id).await? else {
        info!(message = "Webhook subscription is gone; delivery dropped.", subscription_id = %d.subscription_id, delivery_id = %d.delivery_id);
        return Ok(Outcome::Dropped);
    };
    let logged = store.get_delivery(&d.subscription_id, &d.delivery_id).await?;
    if logged.is_none() && d.attempt > 0 {
        // A retry is queued only after its log item was written: the item is gone because
        // the person its payload is about was erased (or it expired), and sending the
        // payload again would bring their data back.
        info!(message = "Webhook delivery's log item is gone (erased or expired); retry dropped.", subscription_id = %d.subscription_id, delivery_id = %d.delivery_id, attempt = d.attempt);
        return Ok(Outcome::Dropped);
    }
    if logged.is_none() && d.attempt == 0 && erased_since_queued(deps, &sub.tenant, d).await? {
        // A first attempt queued before its person was erased: there was nothing on the
        // table to erase, and sending it would hand their data on after the erasure.
        info!(message = "Webhook delivery is about a person erased since it was queued; dropped.", subscription_id = %d.subscription_id, delivery_id = %d.delivery_id);
        return Ok(Outcome::Dropped);
    }
    let mut delivery = logged.unwrap_or_else(|| Delivery {
        delivery_id: d.delivery_id.clone(),
        subscription_id: d.subscription_id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        payload: d.payload.clone(),
        status: DeliveryStatus::Pending,
        attempts: Vec::new(),
        created_at: now,
        updated_at: now,
        next_attempt_at: None,
    });
    let expires_at = now + deps.config.deliveries.log_ttl_secs;
    delivery.updated_at = now;
    delivery.next_attempt_at = None;
    if !sub.enabled {
        delivery.status = DeliveryStatus::Failed;
        delivery.attempts.push(DeliveryAttempt {
            attempt: delivery.attempts.len() as u32,
            at: now,
            status_code: None,
            error: Some("not sent: the endpoint is disabled".into()),
            duration_ms: 0,
        });
        store.put_delivery(&sub.tenant, &delivery, expires_at).await?;
        crate::metrics::webhook_delivery("failed");
        return Ok(Outcome::Failed);
    }

    let secrets = deps.secrets.webhook_secrets(&sub.secret_arn).await?;
    let overlap = sub.previous_secret_until.is_some_and(|until| until > now);
    let headers = super::signing::headers(&secrets, overlap, &d.event_id, now, d.payload.as_bytes())
        .map_err(|e| SyncError::Config(format!("webhook subscription {}: {e}", sub.id)))?;
    let started = Instant::now();
    let (status_code, error, retry_after) = post(deps, &sub, headers, &d.payload).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    delivery.attempts.push(DeliveryAttempt {
        // Numbered across resends; `d.attempt` counts within the current retry schedule.
        attempt: delivery.attempts.len() as u32,
        at: now,
        status_code,
        error: error.clone(),
        duration_ms,
    });

    let Some(error) = error else {
        delivery.status = DeliveryStatus::Succeeded;
        store.put_delivery(&sub.tenant, &delivery, expires_at).await?;
        if sub.failing_since.is_some() {
            store.mark_healthy(&sub.id).await?;
        }
        crate::metrics::webhook_delivery("succeeded");
        info!(message = "Webhook delivered.", subscription_id = %sub.id, delivery_id = %d.delivery_id, attempt = d.attempt, status = status_code);
        return Ok(Outcome::Succeeded);
    };

    let failing_since = store.mark_failing(&sub.id, now).await?.unwrap_or(now);
    let disable_after = deps.config.deliveries.disable_after_secs;
    if now - failing_since >= disable_after {
        delivery.status = DeliveryStatus::Failed;
        store.put_delivery(&sub.tenant, &delivery, expires_at).await?;
        let reason = format!("every delivery failed for {} s (last: {error})", now - failing_since);
        if store.disable(&sub.id, now, &reason).await? {
            warn!(message = "Webhook endpoint disabled after failing continuously.", subscription_id = %sub.id, tenant = %sub.tenant, since = failing_since);
            crate::metrics::webhook_delivery("disabled");
            alert(deps, &sub, failing_since, &error, now).await;
        } else {
            crate::metrics::webhook_delivery("failed");
        }
        return Ok(Outcome::Failed);
    }

    let policy = &deps.retry;
    match policy.schedule.delay(d.attempt, retry_after, random_draw()) {
        Some(delay) => {
            let wait = policy.scaled(delay).as_secs();
            delivery.status = DeliveryStatus::Pending;
            delivery.next_attempt_at = Some(now + wait as i64);
            store.put_delivery(&sub.tenant, &delivery, expires_at).await?;
            let mut next = d.clone();
            next.attempt += 1;
            let envelope = Envelope {
                message: SyncMessage::WebhookDelivery(next),
                history: Vec::new(),
                not_before: (wait > MAX_DELAY_SECS).then_some(now + wait as i64),
                deferrals: 0,
            };
            deps.queue.send_delayed(&envelope, wait).await?;
            crate::metrics::webhook_delivery("retried");
            warn!(message = "Webhook delivery failed; retry scheduled.", subscription_id = %sub.id, delivery_id = %d.delivery_id, attempt = d.attempt, delay_secs = wait, error = %error);
            Ok(Outcome::Retrying(wait))
        }
        None => {
            delivery.status = DeliveryStatus::Failed;
            store.put_delivery(&sub.tenant, &delivery, expires_at).await?;
            crate::metrics::webhook_delivery("failed");
            warn!(message = "Webhook delivery failed; attempts used up.", subscription_id = %sub.id, delivery_id = %d.delivery_id, attempts = delivery.attempts.len(), error = %error);
            Ok(Outcome::Failed)
        }
    }
}

/// POSTs the payload: the status (when the endpoint answered), what went wrong (`None` for a
/// 2xx), and a `Retry-After` the endpoint asked for.
async fn post(
    deps: &SyncDeps,
    sub: &Subscription,
    headers: Vec<(String, String)>,
    payload: &str,
) -> (Option<u16>, Option<String>, Option<Duration>) {
    let mut req = deps
        .http
        .post(&sub.url)
        .timeout(deps.config.deliveries.timeout)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "Switchyard-Webhooks/1")
        .body(payload.to_string());
    for (name, value) in headers {
        req = req.header(name, value);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(86_400)));
            // The body is not read: it is the endpoint's, and not ours to keep.
            if status.is_success() {
                (Some(status.as_u16()), None, None)
            } else {
                (
                    Some(status.as_u16()),
                    Some(format!("HTTP {}", status.as_u16())),
                    retry_after,
                )
            }
        }
        Err(e) => (None, Some(transport_error(&e)), None),
    }
}

/// A transport failure in words, without the URL (it may carry a token in its query).
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        // The URL guard's refusal of a private address also surfaces here.
        "could not connect".into()
    } else if e.is_redirect() {
        "too many redirects".into()
    } else {
        "transport error".into()
    }
}

async fn alert(deps: &SyncDeps, sub: &Subscription, since: i64, error: &str, now: i64) {
    let Some(alerter) = deps.alerter().await else {
        return;
    };
    let text = format!(
        "Webhook subscription {} of tenant {} is disabled: every delivery to its endpoint failed since {} (last: {error}). \
         Fix the endpoint, then PATCH it with {{\"enabled\": true}} and POST .../recover.",
        sub.id,
        sub.tenant,
        rfc3339(since)
    );
    let notice = Notice {
        subject: sub.id.clone(),
        idempotency_key: format!("{}:disabled:{now}", sub.id),
        body: json!({
            "type": "webhook_subscription.disabled",
            "subscription_id": sub.id,
            "tenant": sub.tenant,
            "failing_since": since,
            "disabled_at": now,
            "last_error": error,
            "text": text,
        }),
        text,
    };
    // Delivery failures are logged by the alerter; the subscription stays disabled either way.
    let _ = alerter.send_notice(&notice).await;
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}
