//! A webhook receiver that records every request (headers and raw body) and, given the
//! endpoint's secret, verifies Standard Webhooks signatures with Switchyard's own verifier.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use switchyard::webhook::{
    self, Headers, Rejection, Scheme, SecretUsed, SigningSecrets, VerifyOptions, WebhookRequest,
};
use tokio::sync::Notify;

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};

/// How the sink behaves.
#[derive(Debug, Clone, Default)]
pub struct SinkConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// The endpoint's Standard Webhooks secret (`whsec_...`); without one, deliveries are
    /// recorded but not verified.
    pub secret: Option<String>,
    /// The previous secret during a rotation.
    pub previous_secret: Option<String>,
    /// Deliveries this endpoint refuses (recorded all the same), as a receiver refuses an
    /// event it does not take: the first rule whose pointer matches answers its status.
    pub refuse: Vec<Refusal>,
    pub faults: FaultConfig,
}

/// A delivery the sink refuses: when the JSON body's value at `pointer` equals `equals`, the
/// sink answers `status` (say 400, or 410 Gone) with `{"error": "refused"}`.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub pointer: String,
    pub equals: Value,
    pub status: u16,
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub method: String,
    /// Path and query as requested.
    pub path: String,
    /// Header names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body bytes.
    pub body: Bytes,
    pub received_at: SystemTime,
    /// `None` without a configured secret; otherwise which secret matched, or why it was
    /// rejected.
    pub verification: Option<Result<SecretUsed, Rejection>>,
}

impl Delivery {
    /// A header's first value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Verified with the configured secret.
    pub fn is_verified(&self) -> bool {
        matches!(self.verification, Some(Ok(_)))
    }
}

/// The sink's state.
pub struct WebhookSink {
    base_url: OnceLock<String>,
    secrets: Mutex<Option<SigningSecrets>>,
    deliveries: Mutex<Vec<Delivery>>,
    refuse: Vec<Refusal>,
    arrived: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn secrets(current: Option<String>, previous: Option<String>) -> Option<SigningSecrets> {
    let current = current?;
    Some(match previous {
        Some(previous) => SigningSecrets::new(current).with_previous(previous),
        None => SigningSecrets::new(current),
    })
}

/// Starts a sink on a free loopback port (or `config.port`); it accepts any method and path
/// and answers 200 unless a fault or a [`Refusal`] says otherwise.
///
/// # Panics
/// When the loopback port cannot be bound.
pub fn start(config: SinkConfig) -> FakeHandle<WebhookSink> {
    server::expect_started("webhook-sink", try_start(config))
}

/// Starts a sink, reporting a bind failure.
pub fn try_start(config: SinkConfig) -> io::Result<FakeHandle<WebhookSink>> {
    let state = Arc::new(WebhookSink {
        base_url: OnceLock::new(),
        secrets: Mutex::new(secrets(config.secret, config.previous_secret)),
        deliveries: Mutex::new(Vec::new()),
        refuse: config.refuse,
        arrived: Notify::new(),
    });
    let spec = Spec {
        name: "webhook-sink",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations: Default::default(),
        respond: |status| status.into_response(),
    };
    server::spawn(spec, move |base_url| {
        let _ = state.base_url.set(base_url.to_owned());
        Router::new().fallback(receive).with_state(state)
    })
}

impl WebhookSink {
    /// Every request received, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).clone()
    }

    pub fn len(&self) -> usize {
        lock(&self.deliveries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deliveries whose signature verified.
    pub fn valid_count(&self) -> usize {
        lock(&self.deliveries).iter().filter(|d| d.is_verified()).count()
    }

    /// Deliveries whose signature was checked and rejected.
    pub fn invalid_count(&self) -> usize {
        lock(&self.deliveries)
            .iter()
            .filter(|d| matches!(d.verification, Some(Err(_))))
            .count()
    }

    /// Changes the secrets used for deliveries from now on.
    pub fn set_secret(&self, current: &str, previous: Option<&str>) {
        *lock(&self.secrets) = secrets(Some(current.to_owned()), previous.map(str::to_owned));
    }

    /// Waits until at least `n` deliveries arrived or `timeout` passed, and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            if self.len() >= n {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, arrived).await.is_err() {
                break;
            }
        }
        self.deliveries()
    }
}

async fn receive(
    State(sink): State<Arc<WebhookSink>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let verification = lock(&sink.secrets).as_ref().map(|secrets| {
        let headers = Headers::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let url = format!("{}{path}", sink.base_url.get().map_or("", String::as_str));
        let request = WebhookRequest {
            method: method.as_str(),
            url: &url,
            headers: &headers,
            body: &body,
        };
        webhook::verify(&Scheme::StandardWebhooks, &request, secrets, &VerifyOptions::default()).map(|v| v.secret)
    });
    let refused = serde_json::from_slice::<Value>(&body).ok().and_then(|json| {
        sink.refuse
            .iter()
            .find(|r| json.pointer(&r.pointer) == Some(&r.equals))
            .map(|r| StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST))
    });
    lock(&sink.deliveries).push(Delivery {
        method: method.to_string(),
        path,
        headers: pairs,
        body,
        received_at: SystemTime::now(),
        verification,
    });
    sink.arrived.notify_waiters();
    match refused {
        Some(status) => (status, axum::Json(serde_json::json!({ "error": "refused" }))).into_response(),
        None => StatusCode::OK.into_response(),
    }
}
