//! Running the real function binaries outside Lambda: a minimal Lambda Runtime API, the process
//! it serves, and an SQS event source mapping.
//!
//! * [`RuntimeApi`] serves the interface a function's runtime client talks to
//!   (`AWS_LAMBDA_RUNTIME_API=host:port`): `GET /2018-06-01/runtime/invocation/next` hands out
//!   the next queued event with Lambda's headers (request id, deadline, function ARN, trace id);
//!   `POST .../invocation/{id}/response` and `.../{id}/error` complete it, timed from the moment
//!   the event was handed out; `POST .../runtime/init/error` records a failed cold start.
//! * [`FunctionProcess`] starts a binary against its own `RuntimeApi` with Lambda's environment,
//!   sends its output to a log file, invokes it one event at a time (one execution environment)
//!   and reads its footprint (peak RSS, CPU time) from `/proc` before it stops it.
//! * [`SqsEventSource`] plays Lambda's SQS event source mapping: receive a batch, wrap it as an
//!   `SqsEvent`, and delete what the function did not report in `batchItemFailures`.
//!
//! `scripts/cold-init.py` is the same idea reduced to the cold start.

mod event_source;
mod process;

pub use event_source::{QueueDepth, SqsBatch, SqsEventSource};
pub use process::{read_proc, Footprint, FunctionProcess, FunctionSpec, InvocationRecord, ProcSnapshot};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot, watch};

/// Lambda's limit on a synchronous invocation's payload and response.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST .../response` with this body.
    Response(Vec<u8>),
    /// `POST .../error`: the `Lambda-Runtime-Function-Error-Type` header and the body.
    Error { error_type: String, body: Vec<u8> },
}

/// One completed invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// From handing the event out on `GET .../next` to receiving its response or error.
    pub duration: Duration,
}

impl Invocation {
    /// The response body as JSON; an error outcome or a body that is not JSON is an `Err`
    /// that quotes it.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        match &self.outcome {
            Outcome::Response(body) => serde_json::from_slice(body)
                .map_err(|e| format!("the response is not JSON ({e}): {}", String::from_utf8_lossy(body))),
            Outcome::Error { error_type, body } => Err(format!(
                "the function reported an error ({error_type}): {}",
                String::from_utf8_lossy(body)
            )),
        }
    }
}

/// Where the function's cold start is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitState {
    /// No request yet.
    Starting,
    /// The first `GET .../next` arrived at this time: init is done.
    Ready(Instant),
    /// `POST .../runtime/init/error` with this body.
    Failed(String),
}

struct Queued {
    request_id: String,
    body: Bytes,
    done: oneshot::Sender<Invocation>,
}

struct InFlight {
    handed_out: Instant,
    done: oneshot::Sender<Invocation>,
}

struct Shared {
    function_arn: String,
    timeout: Duration,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    init: watch::Sender<InitState>,
}

/// A Runtime API for one function, on a free loopback port. It stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Queued>,
    init: watch::Receiver<InitState>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts serving on `127.0.0.1:0` (on the caller's tokio runtime). `timeout` sets every
    /// event's `Lambda-Runtime-Deadline-Ms` (the time it is handed out plus `timeout`).
    pub async fn start(function_name: &str, timeout: Duration) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (init_tx, init_rx) = watch::channel(InitState::Starting);
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            timeout,
            queue: tokio::sync::Mutex::new(queue_rx),
            in_flight: Mutex::new(HashMap::new()),
            init: init_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("the Runtime API server stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            shared,
            queue: queue_tx,
            init: init_rx,
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The function's cold-start state, updated as it changes.
    pub fn init_state(&self) -> watch::Receiver<InitState> {
        self.init.clone()
    }

    /// Queues `event` for the next `GET .../next`; the receiver completes when the function
    /// answers it.
    pub fn submit(&self, event: Vec<u8>) -> oneshot::Receiver<Invocation> {
        let (done, rx) = oneshot::channel();
        let queued = Queued {
            request_id: request_id(),
            body: Bytes::from(event),
            done,
        };
        // The receiver lives in `shared`, which this struct holds: the send cannot fail.
        let _ = self.queue.send(queued);
        rx
    }

    /// Events handed out and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.lock().expect("in-flight map lock").len()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now_epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// A random UUID (version 4 layout), as Lambda's request ids are.
fn request_id() -> String {
    let r = ulid::Ulid::new().0;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (r >> 96) as u32,
        (r >> 80) as u16,
        (r >> 64) as u16 & 0x0fff,
        ((r >> 48) as u16 & 0x3fff) | 0x8000,
        r as u64 & 0xffff_ffff_ffff
    )
}

/// An X-Ray trace header for an unsampled trace.
fn trace_id() -> String {
    let r = ulid::Ulid::new().0;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("Root=1-{secs:08x}-{:024x};Parent={:016x};Sampled=0", r >> 32, r as u64)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.init.send_if_modified(|state| {
        if *state == InitState::Starting {
            *state = InitState::Ready(Instant::now());
            true
        } else {
            false
        }
    });
    let queued = shared.queue.lock().await.recv().await;
    let Some(queued) = queued else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms = now_epoch_ms() + shared.timeout.as_millis();
    let mut headers = HeaderMap::new();
    let mut header = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    header("lambda-runtime-aws-request-id", queued.request_id.clone());
    header("lambda-runtime-deadline-ms", deadline_ms.to_string());
    header("lambda-runtime-invoked-function-arn", shared.function_arn.clone());
    header("lambda-runtime-trace-id", trace_id());
    header("content-type", "application/json".into());
    shared.in_flight.lock().expect("in-flight map lock").insert(
        queued.request_id,
        InFlight {
            handed_out: Instant::now(),
            done: queued.done,
        },
    );
    (headers, queued.body).into_response()
}

fn complete(shared: &Shared, id: String, outcome: impl FnOnce() -> Outcome) -> StatusCode {
    let Some(in_flight) = shared.in_flight.lock().expect("in-flight map lock").remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let duration = in_flight.handed_out.elapsed();
    let _ = in_flight.done.send(Invocation {
        request_id: id,
        outcome: outcome(),
        duration,
    });
    StatusCode::ACCEPTED
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    complete(&shared, id, || Outcome::Response(body.to_vec()))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    complete(&shared, id, || Outcome::Error {
        error_type: headers
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Unknown")
            .to_string(),
        body: body.to_vec(),
    })
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unknown");
    let text = format!("{error_type}: {}", String::from_utf8_lossy(&body));
    shared.init.send_replace(InitState::Failed(text));
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert_ne!(id, request_id());
    }

    #[tokio::test]
    async fn an_event_is_handed_out_with_lambda_headers_and_its_response_completes_it() {
        let api = RuntimeApi::start("fn-under-test", Duration::from_secs(30))
            .await
            .unwrap();
        let base = format!("http://{}/2018-06-01/runtime", api.address());
        let done = api.submit(br#"{"hello":"world"}"#.to_vec());
        let http = reqwest::Client::new();
        let before_ms = now_epoch_ms();
        let next = http.get(format!("{base}/invocation/next")).send().await.unwrap();
        assert!(matches!(*api.init_state().borrow(), InitState::Ready(_)));
        let id = next.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let deadline: u128 = next.headers()["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(deadline >= before_ms + 30_000 && deadline < before_ms + 31_000);
        assert!(next.headers()["lambda-runtime-invoked-function-arn"]
            .to_str()
            .unwrap()
            .ends_with(":function:fn-under-test"));
        assert!(next.headers().contains_key("lambda-runtime-trace-id"));
        assert_eq!(next.text().await.unwrap(), r#"{"hello":"world"}"#);
        assert_eq!(api.in_flight(), 1);

        let unknown = http
            .post(format!("{base}/invocation/nope/response"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 400);
        let ok = http
            .post(format!("{base}/invocation/{id}/response"))
            .body(r#"{"ok":true}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 202);
        let invocation = done.await.unwrap();
        assert_eq!(invocation.request_id, id);
        assert_eq!(invocation.json().unwrap(), serde_json::json!({"ok": true}));
        assert_eq!(api.in_flight(), 0);
    }

    #[tokio::test]
    async fn function_and_init_errors_are_recorded() {
        let api = RuntimeApi::start("fn-under-test", Duration::from_secs(3))
            .await
            .unwrap();
        let base = format!("http://{}/2018-06-01/runtime", api.address());
        let http = reqwest::Client::new();
        let done = api.submit(b"{}".to_vec());
        let next = http.get(format!("{base}/invocation/next")).send().await.unwrap();
        let id = next.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        http.post(format!("{base}/invocation/{id}/error"))
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.Boom")
            .body(r#"{"errorType":"Boom","errorMessage":"no"}"#)
            .send()
            .await
            .unwrap();
        let invocation = done.await.unwrap();
        assert!(matches!(&invocation.outcome, Outcome::Error { error_type, .. } if error_type == "Runtime.Boom"));
        assert!(invocation.json().unwrap_err().contains("Runtime.Boom"));

        http.post(format!("{base}/init/error"))
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
            .body("missing TABLE_NAME")
            .send()
            .await
            .unwrap();
        assert_eq!(
            *api.init_state().borrow(),
            InitState::Failed("Runtime.InitError: missing TABLE_NAME".into())
        );
    }
}
