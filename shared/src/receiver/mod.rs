//! The webhook receiver: verify, dedupe, store, enqueue.
//!
//! `prepare` is the pure hot path (verify the signature, split the payload into events, build
//! the stored items and queue messages); `handle` wraps it with the I/O: the connection lookup
//! and secret (both cached in the warm process), one conditional `PutItem` per event and one SQS
//! send per accepted event.

pub mod paypal_certs;
pub mod request;
mod response;
pub mod webhook_log;

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use futures::{stream, StreamExt};
use tracing::{error, info, warn, Instrument};

use crate::aws::AwsClients;
use crate::cache::TtlCache;
use crate::clock::SharedClock;
use crate::config::ReceiverConfig;
use crate::queue::{InboundEventRef, SyncMessage, SyncQueue};
use crate::secrets::SecretStore;
use crate::store::connections::{Connection, ConnectionStore};
use crate::store::events::{EventStore, PutOutcome, StoredEvent};
use crate::store::webhook_log::WebhookLogStore;
use crate::webhook::{self, Extracted, SigningSecrets, VerifyOptions, WebhookRequest};
pub use request::{downstream_headers, from_apigw, InboundRequest, RequestError};
pub use response::Reply;

/// Everything the receiver needs, built once per cold start.
#[derive(Debug)]
pub struct ReceiverDeps {
    pub config: ReceiverConfig,
    pub connections: ConnectionStore,
    /// Warm-process cache of connection lookups; `None` remembers an unknown id for a short while.
    pub connection_cache: TtlCache<String, Option<Arc<Connection>>>,
    pub secrets: SecretStore,
    pub events: EventStore,
    /// Duplicates and rejections of known connections (see [`webhook_log`]).
    pub webhook_log: WebhookLogStore,
    pub rejection_budget: webhook_log::RejectionBudget,
    pub queue: SyncQueue,
    pub clock: SharedClock,
    /// PayPal's signing certificates (the only fetch a signature needs), cached per URL.
    pub paypal_certs: paypal_certs::PaypalCertificates,
}

impl ReceiverDeps {
    pub fn new(config: ReceiverConfig, clients: &AwsClients, clock: SharedClock) -> Self {
        Self {
            connections: ConnectionStore::new(clients.dynamodb.clone(), &config.table_name),
            connection_cache: TtlCache::new(config.connection_cache_ttl, 4096),
            secrets: SecretStore::new(clients.secrets.clone(), config.secret_cache_ttl),
            events: EventStore::new(clients.dynamodb.clone(), &config.table_name),
            webhook_log: WebhookLogStore::new(clients.dynamodb.clone(), &config.table_name),
            rejection_budget: webhook_log::RejectionBudget::default(),
            queue: SyncQueue::new(clients.sqs.clone(), &config.sync_queue_url),
            clock,
            paypal_certs: paypal_certs::PaypalCertificates::new(),
            config,
        }
    }

    async fn connection(&self, id: &str) -> Result<Option<Arc<Connection>>, crate::store::StoreError> {
        if let Some(hit) = self.connection_cache.get(&id.to_string()) {
            return Ok(hit);
        }
        let found = self.connections.get(id).await?.map(Arc::new);
        self.connection_cache.insert(id.to_string(), found.clone());
        Ok(found)
    }
}

/// The outcome of the pure part of the receiver.
#[derive(Debug)]
pub enum Prepared {
    /// A verified handshake to answer directly (Slack `url_verification`).
    Challenge {
        body: String,
        content_type: &'static str,
        headers: Vec<(&'static str, String)>,
    },
    /// Verified events, ready to store and enqueue.
    Events(Vec<(StoredEvent, SyncMessage)>),
}

/// Why the pure part refused a request.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("signature rejected: {0}")]
    Signature(#[from] webhook::Rejection),
    #[error("payload not understood: {0}")]
    Payload(#[from] webhook::ExtractError),
}

/// Verifies `req` for `conn` and builds the items to store and the messages to send. No I/O.
pub fn prepare(
    config: &ReceiverConfig,
    conn: &Connection,
    scheme: &webhook::Scheme,
    tolerance_secs: u64,
    secrets: &SigningSecrets,
    req: &InboundRequest,
    now: i64,
) -> Result<(Prepared, webhook::Verified), Refusal> {
    let wreq = WebhookRequest {
        method: &req.method,
        url: &req.url,
        headers: &req.headers,
        body: &req.body,
    };
    let verified = webhook::verify(scheme, &wreq, secrets, &VerifyOptions { now, tolerance_secs })?;
    Ok((prepare_verified(config, conn, scheme, req, now)?, verified))
}

/// The part of [`prepare`] after the signature verified (PayPal's is verified by the receiver
/// with the certificate it fetched): split the delivery into events and build the items to
/// store and the messages to send. No I/O.
pub fn prepare_verified(
    config: &ReceiverConfig,
    conn: &Connection,
    scheme: &webhook::Scheme,
    req: &InboundRequest,
    now: i64,
) -> Result<Prepared, Refusal> {
    let wreq = WebhookRequest {
        method: &req.method,
        url: &req.url,
        headers: &req.headers,
        body: &req.body,
    };
    let events = match webhook::extract(scheme, &wreq)? {
        Extracted::Challenge { body, content_type } => {
            return Ok(Prepared::Challenge {
                body,
                content_type,
                headers: Vec::new(),
            })
        }
        Extracted::Events(events) => events,
    };
    let headers = downstream_headers(&req.headers);
    let expires_at = now.saturating_add(config.event_ttl.as_secs() as i64);
    let provider = scheme.name();
    let per_delivery = scheme.ids_per_delivery() && !req.request_id.is_empty();
    let built = events
        .into_iter()
        .map(|ev| {
            let event_id = if per_delivery {
                format!("{}:{}", ev.event_id, req.request_id)
            } else {
                ev.event_id
            };
            // The person the event is about, for GDPR export and erasure: a scan of the body
            // for an address, no parse (the body may be JSON, a form or XML).
            let subject = crate::subjects::subject_of_bytes(&conn.tenant, &ev.raw);
            let stored = StoredEvent {
                subject,
                connection_id: conn.id.clone(),
                tenant: conn.tenant.clone(),
                event_id,
                event_type: ev.event_type,
                provider: provider.to_string(),
                body: ev.raw.into_owned(),
                headers: headers.clone(),
                received_at: now,
                expires_at,
            };
            let msg = SyncMessage::InboundEvent(InboundEventRef {
                connection_id: stored.connection_id.clone(),
                event_id: stored.event_id.clone(),
                event_type: stored.event_type.clone(),
                provider: provider.to_string(),
                received_at: now,
                attempt: 0,
            });
            (stored, msg)
        })
        .collect();
    Ok(Prepared::Events(built))
}

/// How many conditional puts of one batched payload run at once.
const PUT_CONCURRENCY: usize = 16;

/// Handles one API Gateway v2 event. Never fails: every outcome is an HTTP answer.
pub async fn handle(deps: &ReceiverDeps, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    let span = tracing::info_span!(
        "webhook",
        request_id = %request_id,
        connection_id = tracing::field::Empty,
        provider = tracing::field::Empty
    );
    let started = std::time::Instant::now();
    let reply = handle_inner(deps, event).instrument(span).await.into_response();
    crate::metrics::webhook::duration(started.elapsed().as_secs_f64() * 1000.0);
    reply
}

async fn handle_inner(deps: &ReceiverDeps, event: ApiGatewayV2httpRequest) -> Reply {
    let req = match from_apigw(&event, deps.config.max_body_bytes) {
        Ok(r) => r,
        Err(e @ RequestError::TooLarge { .. }) => {
            warn!(message = "Webhook rejected.", outcome = "too_large", reason = %e);
            crate::metrics::webhook::rejected("too_large");
            return Reply::TooLarge;
        }
        Err(e @ RequestError::MethodNotAllowed(_)) => {
            warn!(message = "Webhook rejected.", outcome = "method_not_allowed", reason = %e);
            crate::metrics::webhook::rejected("method_not_allowed");
            return Reply::MethodNotAllowed;
        }
        Err(e) => {
            warn!(message = "Webhook rejected.", outcome = "bad_request", reason = %e);
            crate::metrics::webhook::rejected("bad_request");
            return Reply::BadRequest;
        }
    };
    let span = tracing::Span::current();
    span.record("connection_id", req.connection_id.as_str());

    let conn = match deps.connection(&req.connection_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            warn!(message = "Webhook rejected.", outcome = "unknown_connection");
            crate::metrics::webhook::rejected("unknown_connection");
            return Reply::Unauthorized;
        }
        Err(e) => {
            error!(message = "Connection lookup failed.", outcome = "error", error = %e);
            return Reply::Unavailable {
                throttled: e.is_throttled(),
            };
        }
    };
    span.record("provider", conn.provider.as_str());
    if let Some(settings) = conn.webhook.as_ref().filter(|w| w.scheme == webhook::Scheme::Paypal) {
        return receive_paypal(deps, &conn, settings, &req).await;
    }
    let (Some(settings), Some(arn)) = (conn.webhook.as_ref(), conn.secret_arn.as_deref()) else {
        warn!(message = "Webhook rejected.", outcome = "webhooks_not_configured");
        crate::metrics::webhook::rejected("webhooks_not_configured");
        webhook_log::rejection(deps, &conn, "webhooks_not_configured").await;
        return Reply::Unauthorized;
    };
    let wreq = WebhookRequest {
        method: &req.method,
        url: &req.url,
        headers: &req.headers,
        body: &req.body,
    };
    let mut url_check = None;
    match webhook::handshake(&settings.scheme, &wreq) {
        Some(webhook::Handshake::Verified { body, content_type }) => url_check = Some((body, content_type)),
        Some(handshake) => return answer_handshake(deps, &conn, settings, arn, handshake).await,
        None => {}
    }
    if req.method != "POST" && url_check.is_none() {
        warn!(
            message = "Webhook rejected.",
            outcome = "method_not_allowed",
            reason = "not a verification challenge"
        );
        crate::metrics::webhook::rejected("method_not_allowed");
        webhook_log::rejection(deps, &conn, "method_not_allowed").await;
        return Reply::MethodNotAllowed;
    }
    let secrets = match deps.secrets.webhook_secrets(arn).await {
        Ok(s) => s,
        Err(e @ crate::secrets::SecretError::Aws { failure, .. }) => {
            error!(message = "Reading the webhook secret failed.", outcome = "error", error = %e);
            return Reply::Unavailable {
                throttled: failure == crate::aws::AwsFailure::Throttled,
            };
        }
        Err(e) => {
            error!(message = "The connection's webhook secret is unusable; fix the secret.", outcome = "misconfigured", error = %e);
            webhook_log::rejection(deps, &conn, "webhook_secret_unusable").await;
            return Reply::Unauthorized;
        }
    };

    let now = deps.clock.now_unix();
    let tolerance = settings.tolerance_secs.unwrap_or(deps.config.tolerance_secs);
    if let Some((body, content_type)) = url_check {
        let opts = VerifyOptions {
            now,
            tolerance_secs: tolerance,
        };
        return match webhook::verify(&settings.scheme, &wreq, &secrets, &opts) {
            Ok(_) => {
                info!(message = "Answered a webhook URL check.", outcome = "handshake");
                Reply::Challenge {
                    body,
                    content_type,
                    headers: Vec::new(),
                }
            }
            Err(r) => {
                warn!(message = "Webhook rejected.", outcome = "bad_signature", reason = r.code(), detail = %r);
                crate::metrics::webhook::rejected("bad_signature");
                webhook_log::rejection(deps, &conn, &format!("bad_signature:{}", r.code())).await;
                Reply::Unauthorized
            }
        };
    }
    let prepared =
        prepare(&deps.config, &conn, &settings.scheme, tolerance, &secrets, &req, now).map(|(p, verified)| {
            if verified.secret == webhook::SecretUsed::Previous {
                info!(message = "Webhook signed with the previous secret; finish the rotation at the provider.");
            }
            p
        });
    answer_prepared(deps, &conn, prepared).await
}

/// Answers what [`prepare`] (or [`prepare_verified`]) made of a delivery: a refusal, a
/// challenge, or events to store and enqueue.
async fn answer_prepared(deps: &ReceiverDeps, conn: &Connection, prepared: Result<Prepared, Refusal>) -> Reply {
    let prepared = match prepared {
        Ok(p) => p,
        Err(Refusal::Signature(r)) => return refuse_signature(deps, conn, &r).await,
        Err(Refusal::Payload(e)) => {
            warn!(message = "Webhook rejected.", outcome = "malformed_payload", reason = %e);
            crate::metrics::webhook::rejected("malformed_payload");
            webhook_log::rejection(deps, conn, "malformed_payload").await;
            return Reply::BadRequest;
        }
    };
    let events = match prepared {
        Prepared::Challenge {
            body,
            content_type,
            headers,
        } => {
            info!(message = "Answered a verification challenge.", outcome = "challenge");
            return Reply::Challenge {
                body,
                content_type,
                headers,
            };
        }
        Prepared::Events(events) => events,
    };
    store_and_enqueue(deps, events).await
}

async fn refuse_signature(deps: &ReceiverDeps, conn: &Connection, r: &webhook::Rejection) -> Reply {
    warn!(message = "Webhook rejected.", outcome = "bad_signature", reason = r.code(), detail = %r);
    crate::metrics::webhook::rejected("bad_signature");
    webhook_log::rejection(deps, conn, &format!("bad_signature:{}", r.code())).await;
    Reply::Unauthorized
}

/// A PayPal delivery: no shared secret; the headers and the cert URL are checked before
/// anything is fetched, then the signing certificate (cached per URL) and the signature.
async fn receive_paypal(
    deps: &ReceiverDeps,
    conn: &Connection,
    settings: &crate::store::connections::WebhookSettings,
    req: &InboundRequest,
) -> Reply {
    if req.method != "POST" {
        warn!(
            message = "Webhook rejected.",
            outcome = "method_not_allowed",
            reason = "PayPal posts its events"
        );
        crate::metrics::webhook::rejected("method_not_allowed");
        webhook_log::rejection(deps, conn, "method_not_allowed").await;
        return Reply::MethodNotAllowed;
    }
    let webhook_id = match paypal_certs::webhook_id(&conn.config) {
        Ok(id) => id,
        Err(e) => {
            error!(message = "The PayPal connection's webhook id is unusable; fix its config.", outcome = "misconfigured", error = %e);
            webhook_log::rejection(deps, conn, "webhook_id_unusable").await;
            return Reply::Unauthorized;
        }
    };
    let now = deps.clock.now_unix();
    let opts = VerifyOptions {
        now,
        tolerance_secs: settings.tolerance_secs.unwrap_or(deps.config.tolerance_secs),
    };
    let wreq = WebhookRequest {
        method: &req.method,
        url: &req.url,
        headers: &req.headers,
        body: &req.body,
    };
    let delivery = match webhook::paypal::delivery(&wreq, &opts) {
        Ok(d) => d,
        Err(r) => return refuse_signature(deps, conn, &r).await,
    };
    let chain = match deps.paypal_certs.chain(delivery.cert_url()).await {
        Ok(chain) => chain,
        Err(paypal_certs::FetchError::Refused(r)) => return refuse_signature(deps, conn, &r).await,
        Err(e @ paypal_certs::FetchError::Unavailable(_)) => {
            error!(message = "PayPal's signing certificate could not be fetched; PayPal will retry.", outcome = "error", error = %e);
            return Reply::Unavailable { throttled: false };
        }
    };
    if let Err(r) = webhook::paypal::verify(
        &delivery,
        webhook_id,
        &req.body,
        &chain,
        deps.paypal_certs.anchors(),
        now,
    ) {
        return refuse_signature(deps, conn, &r).await;
    }
    let prepared = prepare_verified(&deps.config, conn, &settings.scheme, req, now);
    answer_prepared(deps, conn, prepared).await
}

/// Answers a provider's set-up handshake ([`webhook::Handshake`]). A secret handed over is
/// taken only while the connection expects one, and only once: the expectation is claimed with
/// a conditional write before the secret is stored.
async fn answer_handshake(
    deps: &ReceiverDeps,
    conn: &Connection,
    settings: &crate::store::connections::WebhookSettings,
    arn: &str,
    handshake: webhook::Handshake<'_>,
) -> Reply {
    // A window opened after the connection was cached (`PATCH /v1/connections/{id}` re-arming
    // it) counts at once: a handshake the cached copy does not expect reads the connection
    // again before it is refused. Handshakes are set-up traffic, so this is rare.
    let fresh;
    let expects_window = matches!(
        handshake,
        webhook::Handshake::SetSecret { .. } | webhook::Handshake::Expected { .. }
    );
    let settings = if expects_window
        && settings
            .handshake_until
            .is_none_or(|until| until < deps.clock.now_unix())
    {
        deps.connection_cache.remove(&conn.id);
        match deps.connection(&conn.id).await {
            Ok(Some(c)) if c.webhook.is_some() => {
                fresh = c;
                fresh.webhook.as_ref().unwrap_or(settings)
            }
            _ => settings,
        }
    } else {
        settings
    };
    let (secret, header) = match handshake {
        webhook::Handshake::Answer { body, content_type } => {
            info!(message = "Answered a webhook set-up ping.", outcome = "handshake");
            return Reply::Challenge {
                body,
                content_type,
                headers: Vec::new(),
            };
        }
        webhook::Handshake::SetSecret { secret, header } => (secret, header),
        // Answered by the caller once the request verifies; never without that.
        webhook::Handshake::Verified { .. } => return Reply::Unauthorized,
        webhook::Handshake::Expected { body, content_type } => {
            let now = deps.clock.now_unix();
            if settings.handshake_until.is_some_and(|until| until >= now) {
                info!(message = "Answered a subscription validation.", outcome = "handshake");
                return Reply::Challenge {
                    body,
                    content_type,
                    headers: Vec::new(),
                };
            }
            warn!(
                message = "Subscription validation refused: the connection is not expecting one.",
                outcome = "unexpected_handshake"
            );
            crate::metrics::webhook::rejected("unexpected_handshake");
            webhook_log::rejection(deps, conn, "unexpected_handshake").await;
            return Reply::Unauthorized;
        }
    };
    let now = deps.clock.now_unix();
    let Some(until) = settings.handshake_until.filter(|until| *until >= now) else {
        warn!(
            message = "Webhook handshake refused: the connection is not expecting one.",
            outcome = "unexpected_handshake"
        );
        crate::metrics::webhook::rejected("unexpected_handshake");
        webhook_log::rejection(deps, conn, "unexpected_handshake").await;
        return Reply::Unauthorized;
    };
    match deps.connections.claim_handshake(&conn.id, until).await {
        Ok(true) => {}
        Ok(false) => {
            warn!(
                message = "Webhook handshake refused: another handshake took it first.",
                outcome = "unexpected_handshake"
            );
            crate::metrics::webhook::rejected("unexpected_handshake");
            webhook_log::rejection(deps, conn, "unexpected_handshake").await;
            deps.connection_cache.remove(&conn.id);
            return Reply::Unauthorized;
        }
        Err(e) => {
            error!(message = "Claiming the webhook handshake failed.", outcome = "error", error = %e);
            return Reply::Unavailable {
                throttled: e.is_throttled(),
            };
        }
    }
    deps.connection_cache.remove(&conn.id);
    let mut fields = serde_json::Map::new();
    fields.insert("webhook_secret".into(), serde_json::Value::String(secret.to_owned()));
    if let Err(e) = deps.secrets.merge_fields(arn, fields).await {
        error!(
            message = "Storing the handshake's webhook secret failed; create the webhook again after re-arming the connection.",
            outcome = "error",
            error = %e
        );
        return Reply::Unavailable { throttled: false };
    }
    info!(
        message = "Webhook handshake answered; its secret is now the connection's webhook secret.",
        outcome = "handshake"
    );
    Reply::Challenge {
        body: String::new(),
        content_type: "text/plain",
        headers: vec![(header, secret.to_owned())],
    }
}

async fn store_and_enqueue(deps: &ReceiverDeps, events: Vec<(StoredEvent, SyncMessage)>) -> Reply {
    let total = events.len();
    let results: Vec<_> = stream::iter(events)
        .map(|(stored, msg)| async move {
            let outcome = deps.events.put_if_new(&stored).await;
            (stored, msg, outcome)
        })
        .buffered(PUT_CONCURRENCY)
        .collect()
        .await;

    let mut fresh = Vec::with_capacity(total);
    let mut duplicate_events = Vec::new();
    let mut store_failed = false;
    let mut throttled = false;
    for (stored, msg, outcome) in results {
        match outcome {
            Ok(PutOutcome::Stored) => fresh.push((stored, msg)),
            Ok(PutOutcome::Duplicate) => duplicate_events.push(stored),
            Err(e) => {
                error!(message = "Storing an event failed.", event_id = %stored.event_id, error = %e);
                store_failed = true;
                throttled |= e.is_throttled();
            }
        }
    }

    let duplicates = duplicate_events.len();
    let msgs: Vec<SyncMessage> = fresh.iter().map(|(_, m)| m.clone()).collect();
    // The duplicates' log items are written while the new events are sent: no added wait.
    let send = async {
        if msgs.is_empty() {
            vec![]
        } else {
            deps.queue.send_all(&msgs).await
        }
    };
    let (unsent, ()) = futures::join!(send, webhook_log::duplicates(deps, &duplicate_events));
    if !unsent.is_empty() {
        // Undo the stores we could not enqueue, so the provider's retry counts as new, not
        // duplicate. What cannot be undone stays pending: the dispatch tick's sweep sends it.
        for i in &unsent {
            let (stored, _) = &fresh[*i];
            if let Err(e) = deps.events.delete(&stored.connection_id, &stored.event_id).await {
                warn!(
                    message = "An event is stored but not enqueued and could not be removed; the pending-event sweep will send it.",
                    event_id = %stored.event_id,
                    error = %e
                );
            }
        }
    }
    if store_failed || !unsent.is_empty() {
        error!(
            message = "Webhook not fully accepted; the provider should retry.",
            outcome = "error",
            events = total,
            enqueued = fresh.len() - unsent.len(),
            duplicates
        );
        return Reply::Unavailable { throttled };
    }
    let accepted = fresh.len();
    let outcome = if accepted == 0 && duplicates > 0 {
        "duplicate"
    } else {
        "accepted"
    };
    crate::metrics::webhook::accepted(accepted, duplicates);
    info!(
        message = "Webhook accepted.",
        outcome,
        events = total,
        accepted,
        duplicates
    );
    Reply::Accepted { accepted, duplicates }
}
